"""Fixtures for jobsim-bullmq's tests: workers and queues whose connections are never opened, and (live) a
real Redis started and stopped by pid."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

if importlib.util.find_spec("bullmq") is None or importlib.util.find_spec("jobsim_bullmq") is None:
    # run from the repository root without the plugin installed: nothing here can run
    collect_ignore_glob = ["test_*.py", "bullmq_*.py"]

START = "2025-03-01T00:00:00Z"
T0 = 1740787200  # START as a Unix timestamp
NOWHERE = "redis://127.0.0.1:1/0"  # a port nothing listens on: in a simulation nothing may reach it


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "live: talks to a real backend server on loopback (skipped when it is not running)"
    )


@pytest.fixture
def worker_for():
    """``worker_for(processor, **opts)``: an unstarted bullmq Worker on queue ``q``."""
    from bullmq import Worker

    def make(processor, queue="q", **opts):
        return Worker(queue, processor, {"autorun": False, "connection": NOWHERE, **opts})

    return make


@pytest.fixture
def queue():
    from bullmq import Queue

    return Queue("q", {"connection": NOWHERE})


def run(coroutine):
    """Run producer code (``queue.add``...) from a sync test: it completes at once in a simulation."""
    return asyncio.run(coroutine)


@pytest.fixture(scope="session")
def redis_url():
    """A throwaway ``redis-server`` on 127.0.0.1 and a free port, stopped by pid afterwards."""
    from jobsim.testing import ServerUnavailable, redis_server

    try:
        with redis_server() as url:
            yield url
    except ServerUnavailable as exc:
        pytest.skip(f"live BullMQ tests need Debian's redis-server: {exc}")
