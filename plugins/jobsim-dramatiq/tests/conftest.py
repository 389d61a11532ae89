"""Fixtures for jobsim-dramatiq's tests: a stub broker per test, and (live) a real Redis and Dramatiq worker."""

from __future__ import annotations

import importlib.util

import pytest

from jobsim.pytest_plugin import redis_url_fixture

if importlib.util.find_spec("dramatiq") is None or importlib.util.find_spec("jobsim_dramatiq") is None:
    # run from the repository root without the plugin installed: nothing here can run
    collect_ignore_glob = ["test_*.py", "dramatiq_live_*.py"]

START = "2025-03-01T00:00:00Z"


@pytest.fixture
def broker():
    """A fresh ``StubBroker`` with Dramatiq's default middleware, the global broker for the test."""
    import dramatiq
    import dramatiq.broker
    from dramatiq.brokers.stub import StubBroker

    saved = dramatiq.broker.global_broker
    stub = StubBroker()
    dramatiq.set_broker(stub)
    yield stub
    dramatiq.broker.global_broker = saved


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "live: talks to a real backend server on loopback (skipped when it is not running)"
    )


redis_url = redis_url_fixture("live Dramatiq tests")


def live_worker(redis_url):
    """``dramatiq_live_worker.py`` (a real ``dramatiq.Worker``, 2 threads) against ``redis_url``, as a context
    manager yielding its ``jobsim.testing.WorkerProcess``; stopped by pid on exit."""
    import os
    import sys
    from pathlib import Path

    from jobsim.testing import worker_process

    here = Path(__file__).parent
    env = dict(os.environ, JOBSIM_LIVE_REDIS=redis_url, PYTHONPATH=os.pathsep.join([str(here), os.environ.get(
        "PYTHONPATH", "")]))  # fmt: skip
    return worker_process([sys.executable, str(here / "dramatiq_live_worker.py")], ready="worker ready", env=env,
                          cwd=str(here))  # fmt: skip


@pytest.fixture
def start_live_worker(redis_url):
    """Start another live worker on ``redis_url`` (``with start_live_worker() as worker: ...``): a restart."""
    return lambda: live_worker(redis_url)


@pytest.fixture
def dramatiq_worker(redis_url):
    """A live worker (``live_worker``) on an emptied Redis database."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    with live_worker(redis_url) as worker:
        yield worker
