"""Fixtures for jobsim-bullmq's tests: workers and queues whose connections are never opened, and (live) a
real Redis started and stopped by pid."""

from __future__ import annotations

import importlib.util

import pytest
from bullmq_support import NOWHERE

from jobsim.pytest_plugin import redis_url_fixture
from jobsim.testing import socket_connects

if importlib.util.find_spec("bullmq") is None or importlib.util.find_spec("jobsim_bullmq") is None:
    # run from the repository root without the plugin installed: nothing here can run
    collect_ignore_glob = ["test_*.py", "bullmq_*.py"]



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


@pytest.fixture
def connects():
    """Every address a socket tries to connect to during the test: ``connects == []`` is "no connection attempt"."""
    with socket_connects() as tried:
        yield tried


redis_url = redis_url_fixture("live BullMQ tests")
