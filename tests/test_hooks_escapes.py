"""``jobsim.hooks.escapes``: which exceptions leave a backend plugin's worker instead of failing the job."""

from __future__ import annotations

import httpx

import jobsim
from jobsim.errors import BudgetExceeded, InvalidArgument
from jobsim.hooks import escapes


def test_jobsims_own_errors_and_interrupts_escape():
    assert escapes(InvalidArgument("x")) and escapes(BudgetExceeded("x")) and escapes(KeyboardInterrupt())
    assert not escapes(ValueError("x")) and not escapes(SystemExit(1)) and not escapes(None)


def test_an_unmatched_request_is_the_jobs_network_failure_not_an_escape():
    error = jobsim.UnmatchedRequest(httpx.Request("POST", "https://api.example.com/x"))
    assert isinstance(error, jobsim.JobsimError) and not escapes(error)
