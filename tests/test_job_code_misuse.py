"""Mistakes made inside job code are named where the test author reads them: the run's error, or the driving call.

A misspelt keyword of an exception job code raises (``RetryAfterError(aftr="30s")``) was Python's bare
``TypeError``, retried like a flaky call, so a ``NonRetriableError`` meant to stop retries was retried; a
sleep of 31,000 years in job code ended in a ``BudgetExceeded`` about "a loop waiting for something".
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import jobsim
from jobsim import InvalidArgument, NonRetriableError

START = "2025-01-01T00:00:00Z"

# -- a misspelt keyword of an exception class ----------------------------------------------------
BUILT = [
    (lambda: jobsim.RetryAfterError(aftr="30s"),
     "RetryAfterError() got an unknown keyword argument aftr='30s' (did you mean after=?); accepted: after, message"),
    (lambda: jobsim.RetryAfterError("30s", mesage="slow down"),
     "RetryAfterError() got an unknown keyword argument mesage='slow down' (did you mean message=?); "
     "accepted: after, message"),
    (lambda: jobsim.NonRetriableError(message="card declined"),
     "NonRetriableError() got an unknown keyword argument message='card declined'; it takes no keyword arguments: "
     "give the message as its one argument, NonRetriableError('...')"),
    (lambda: jobsim.NonRetriableError("card declined", cause=KeyError("k")),
     "NonRetriableError() got an unknown keyword argument cause=KeyError('k'); it takes no keyword arguments: "
     "give the message as its one argument, NonRetriableError('...'); Python chains the error that caused it: "
     "raise NonRetriableError('...') from error"),
    (lambda: jobsim.InjectedFault(message="boom"),
     "InjectedFault() got an unknown keyword argument message='boom'; it takes no keyword arguments: give the "
     "message as its one argument, InjectedFault('...')"),
    (lambda: jobsim.WorkerCrashed(msg="oom"),
     "WorkerCrashed() got an unknown keyword argument msg='oom'; it takes no keyword arguments: give the message "
     "as its one argument, WorkerCrashed('...')"),
    (lambda: jobsim.StepError("charge", eror=KeyError("k")),
     "StepError() got an unknown keyword argument eror=KeyError('k') (did you mean error=?); accepted: step_id, error"),
    (lambda: jobsim.UnsupportedFeature("no batches", sytem="BullMQ"),
     "UnsupportedFeature() got an unknown keyword argument sytem='BullMQ' (did you mean system=?); "
     "accepted: message, system, feature"),
    (lambda: jobsim.errors.TraceError("bad line", lin=3),
     "TraceError() got an unknown keyword argument lin=3 (did you mean line=?); accepted: message, path, line"),
]  # fmt: skip


@pytest.mark.parametrize("build, message", BUILT, ids=[m.split("(")[0] for _, m in BUILT])
def test_an_exception_built_with_a_misspelt_keyword_names_the_one_meant(build: Any, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        build()
    assert str(info.value) == message
    assert isinstance(info.value, NonRetriableError)
    assert info.value.__context__ is None or info.value.__suppress_context__  # no bare TypeError shown under it


def test_exceptions_built_right_keep_their_fields_and_copies() -> None:
    import copy
    import pickle

    error = jobsim.RetryAfterError(after="30s", message="slow down")
    assert (error.after, str(error)) == ("30s", "slow down")
    assert pickle.loads(pickle.dumps(error)).after == copy.copy(error).after == "30s"
    assert jobsim.UnsupportedFeature("m", system="BullMQ", feature="batch").feature == "batch"
    assert str(jobsim.NonRetriableError("card declined")) == "card declined"
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'after'"):
        jobsim.RetryAfterError()  # a missing argument is Python's own clear message, and no keyword was misspelt


def test_a_misspelt_keyword_raised_in_job_code_fails_the_run_at_once_naming_it() -> None:
    # the TypeError was retried (4 attempts here), and NonRetriableError(message=...) was retried too
    app = jobsim.App("shop")

    @app.function("charge", on="order/placed", retries=3)
    def charge(ctx: Any) -> None:
        raise jobsim.NonRetriableError(message="card declined")

    @app.function("poll", on="order/placed", retries=3)
    async def poll(ctx: Any) -> None:
        raise jobsim.RetryAfterError(aftr="30s")

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/placed")
        sim.run_until_idle()
        for run, meant in zip(sim.runs(), ("NonRetriableError() got an unknown keyword argument message=",
                                           "RetryAfterError() got an unknown keyword argument aftr="), strict=True):
            assert run.status == "failed" and len(run.attempts) == 1
            assert isinstance(run.error, InvalidArgument) and str(run.error).startswith(meant)
