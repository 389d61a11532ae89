"""Fixtures for jobsim-arq's tests: settings whose Redis is never reached, and (live) a real Redis."""

from __future__ import annotations

import importlib.util

import pytest

from jobsim.pytest_plugin import redis_url_fixture
from jobsim.testing import socket_connects

if importlib.util.find_spec("arq") is None or importlib.util.find_spec("jobsim_arq") is None:
    # run from the repository root without the plugin installed: nothing here can run
    collect_ignore_glob = ["test_*.py", "arq_*.py"]

def pytest_configure(config):
    config.addinivalue_line(
        "markers", "live: talks to a real backend server on loopback (skipped when it is not running)"
    )


@pytest.fixture(autouse=True)
def _clear_log():
    """The job functions' log (``arq_jobs.LOG``) starts empty in every test."""
    from arq_jobs import LOG

    LOG.clear()


@pytest.fixture
def connects():
    """Every address a socket tries to connect to during the test: ``connects == []`` is "no connection attempt"."""
    with socket_connects() as tried:
        yield tried


redis_url = redis_url_fixture("live arq tests")
