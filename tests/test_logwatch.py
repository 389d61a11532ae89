"""``jobsim.hooks.LogWatch``: a backend's logger that keeps the jobsim errors the backend catches and logs."""

from __future__ import annotations

import logging

import pytest

import jobsim
from jobsim.hooks import LogWatch


@pytest.fixture
def watched(caplog: pytest.LogCaptureFixture) -> tuple[LogWatch, list[BaseException]]:
    kept: list[BaseException] = []
    caplog.set_level(logging.DEBUG, logger="backend")
    return LogWatch(logging.getLogger("backend"), kept.append), kept


def test_the_exception_being_logged_is_kept_when_it_must_stop_the_test(watched, caplog) -> None:
    log, kept = watched
    refused = jobsim.UnsupportedFeature("refused", system="acme", feature="x")
    try:
        raise refused
    except Exception:
        log.exception("Error notifying listener")
    assert kept == [refused]
    assert [r.getMessage() for r in caplog.records] == ["Error notifying listener"]  # logged as before


def test_a_listeners_own_error_and_records_without_exc_info_are_only_logged(watched, caplog) -> None:
    log, kept = watched
    try:
        raise ValueError("metrics backend down")
    except ValueError:
        log.exception("Error notifying listener")
        log.critical("Unexpected failure in %s", "after_enqueue", exc_info=True)
    try:
        raise jobsim.JobsimError("refused")
    except jobsim.JobsimError:
        log.warning("a warning without exc_info")  # not the error being logged
        log.info("an info line")
    assert kept == []
    assert len(caplog.records) == 4


def test_exc_info_given_as_an_exception_or_a_tuple_or_at_a_level(watched, caplog) -> None:
    log, kept = watched
    first, second, third = jobsim.JobsimError("a"), jobsim.BudgetExceeded("b"), jobsim.JobsimError("c")
    log.error("failed", exc_info=first)
    log.log(logging.CRITICAL, "failed", exc_info=(type(second), second, None))
    try:
        raise third
    except jobsim.JobsimError:
        log.critical("Unexpected failure in %s", "before_process_message", exc_info=True)
    assert kept == [first, second, third]
    assert log.name == "backend" and log.isEnabledFor(logging.DEBUG)  # everything else is the logger's own


def test_the_check_comes_before_the_loggers_level(caplog) -> None:
    kept: list[BaseException] = []
    caplog.set_level(logging.CRITICAL + 1, logger="quiet")
    log = LogWatch(logging.getLogger("quiet"), kept.append)
    error = jobsim.JobsimError("refused")
    try:
        raise error
    except jobsim.JobsimError:
        log.exception("Signal handler raised")
    assert kept == [error] and caplog.records == []
