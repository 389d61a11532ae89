"""Fixtures for jobsim-apscheduler's tests."""

from __future__ import annotations

import importlib.util
import warnings

import pytest

if importlib.util.find_spec("apscheduler") is None or importlib.util.find_spec("jobsim_apscheduler") is None:
    # run from the repository root without the plugin installed: nothing here can run
    collect_ignore_glob = ["test_*.py"]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "live: talks to a real backend server on loopback (skipped when it is not running)"
    )


@pytest.fixture
def scheduler():
    """A BackgroundScheduler in UTC, never started by the test: the simulation starts it in virtual time."""
    from apscheduler.schedulers.background import BackgroundScheduler

    return BackgroundScheduler(timezone="UTC")


@pytest.fixture
def aio():
    """An AsyncIOScheduler in UTC with no event loop (``start()`` would take the running one): the simulation
    runs it on jobsim's loop in virtual time."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    return AsyncIOScheduler(timezone="UTC")


@pytest.fixture
def quiet():
    """``jobsim.PendingWorkWarning`` (and ``UnreadQueueWarning``, its subclass) fail the test: it must not warn."""
    import jobsim

    with warnings.catch_warnings():
        warnings.simplefilter("error", jobsim.PendingWorkWarning)
        yield
