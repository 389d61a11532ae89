"""Fixtures for jobsim-huey's tests: a fresh Huey per test, quiet logs, and (live) a real Redis and consumer."""

from __future__ import annotations

import importlib.util
import logging

import pytest

from jobsim.pytest_plugin import redis_url_fixture

if importlib.util.find_spec("huey") is None or importlib.util.find_spec("jobsim_huey") is None:
    # run from the repository root without the plugin installed: nothing here can run
    collect_ignore_glob = ["test_*.py", "huey_live_*.py"]


@pytest.fixture(autouse=True)
def _quiet():
    logging.disable(logging.CRITICAL)  # Huey logs every failure with its traceback, as a consumer does
    yield
    logging.disable(logging.NOTSET)


@pytest.fixture
def memory_huey():
    """A ``MemoryHuey``: a polled storage (workers sleep 0.1 s, x1.15 per empty poll, up to 10 s)."""
    from huey import MemoryHuey

    return MemoryHuey("test-memory")


@pytest.fixture
def redis_huey():
    """A ``RedisHuey`` on a port nothing listens on: the simulation never connects (a blocking storage)."""
    from huey import RedisHuey

    return RedisHuey("test-redis", host="127.0.0.1", port=1)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "live: talks to a real backend server on loopback (skipped when it is not running)"
    )


redis_url = redis_url_fixture("live Huey tests")
