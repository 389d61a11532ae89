"""Mistakes made inside job code are named where the test author reads them: the run's error, or the driving call.

A misspelt keyword of an exception job code raises (``RetryAfterError(aftr="30s")``) was Python's bare
``TypeError``, retried like a flaky call, so a ``NonRetriableError`` meant to stop retries was retried; a
sleep of 31,000 years in job code ended in a ``BudgetExceeded`` about "a loop waiting for something".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import pytest

import jobsim
from jobsim import InvalidArgument, NonRetriableError
from jobsim.errors import MisbuiltError

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
     "accepted: message, system, feature, function"),
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


# -- a sleep in job code longer than the test drives ---------------------------------------------
def _sleeper(seconds: float, *, is_async: bool) -> jobsim.App:
    app = jobsim.App("shop")
    if is_async:
        async def nap(ctx: Any) -> str:
            await asyncio.sleep(seconds)
            return "woke"
    else:
        def nap(ctx: Any) -> str:
            time.sleep(seconds)
            return "woke"
    app.function("nap", on="go", retries=0)(nap)
    return app


@pytest.mark.parametrize("is_async", [False, True], ids=["time.sleep", "asyncio.sleep"])
def test_a_sleep_past_run_until_idles_horizon_is_named_with_its_length_and_the_fix(is_async: bool) -> None:
    # asyncio.sleep(1e9) was 11,574 spends of a day (asyncio waits a day at most), and either ended in a
    # BudgetExceeded naming only "nap: next at 2056-09-09": nothing said job code was asleep
    # without Inngest's 2 h cap on a request, which fails this one at +2 h (test_request_timeout.py)
    uncapped = jobsim.profile("inngest", request_timeout=None)
    with jobsim.Simulation(_sleeper(1e9, is_async=is_async), start=START, profile=uncapped) as sim:
        sim.send("go")
        with pytest.raises(jobsim.BudgetExceeded) as info:
            sim.run_until_idle(max_time="30d")
        run = sim.runs("nap")[0]
        assert str(info.value).endswith(
            "\nJob code slept past 2025-01-31T00:00:00.000Z in one call (time.sleep, asyncio.sleep, jobsim.delayed): "
            "its attempt goes on at least until the sleep ends:\n"
            f"  function 'nap' (run {run.id}): 11574d1h46m40s from 2025-01-01T00:00:00.000Z to "
            "2056-09-09T01:46:40.000Z\n"
            "To wait for it, raise the horizon (run_until_idle(max_time='11574d1h46m40s') or more) or sim.advance(...) "
            "past it; else check the sleep's length: time.sleep and asyncio.sleep take seconds (not milliseconds), "
            "and a long wait belongs in a step, ctx.step.sleep(...) or ctx.step.wait_for_event(...), which frees the "
            "worker"
        )
        sim.run_until_idle(max_time="11574d1h46m40s")  # the fix the message gives works
        assert (sim.runs("nap")[0].status, sim.runs("nap")[0].output) == ("completed", "woke")


def test_a_sleep_within_the_horizon_or_before_it_is_not_named() -> None:
    app = _sleeper(3600, is_async=False)

    @app.function("later", on="go")
    def later(ctx: Any) -> None:
        ctx.step.sleep("wait", "60d")

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        with pytest.raises(jobsim.BudgetExceeded) as info:
            sim.run_until_idle(max_time="30d")
    assert "slept" not in str(info.value) and "later: next at 2025-03-02" in str(info.value)


@pytest.mark.parametrize("is_async", [False, True], ids=["time.sleep", "asyncio.sleep"])
def test_a_sleep_past_the_last_datetime_fails_its_attempt_naming_the_function_and_the_fix(is_async: bool) -> None:
    # asyncio.sleep(1e12) spent a day 250,000 times, then failed with "a loop waiting for something that never
    # comes? Bound the loop": there was no loop
    with jobsim.Simulation(_sleeper(1e12, is_async=is_async), start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
        run = sim.runs("nap")[0]
    assert isinstance(run.error, InvalidArgument)
    assert str(run.error) == (
        "job code tried to spend 11574074d1h46m40s of virtual time from 2025-01-01T00:00:00.000Z (time.sleep, "
        "jobsim.delayed, asyncio.sleep): it must end by 9999-12-31T23:59:59.999Z, the last instant a datetime can "
        f"show (function 'nap', run {run.id}); check the sleep's length: time.sleep and asyncio.sleep take seconds "
        "(not milliseconds), and a long wait belongs in a step, ctx.step.sleep(...) or ctx.step.wait_for_event(...), "
        "which frees the worker"
    )


def test_asyncio_sleeps_longer_than_a_day_still_wake_in_order() -> None:
    app = jobsim.App("shop")
    woke: list[tuple[str, float]] = []

    async def nap(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        woke.append((name, time.time()))

    @app.function("naps", on="go")
    async def naps(ctx: Any) -> None:
        await asyncio.gather(nap("three days", 3 * 86400), nap("two days", 2 * 86400), nap("half a day", 43200))

    # without Inngest's 2 h cap on a request, which would fail this one at +2 h and retry it
    with jobsim.Simulation(app, start=START, profile=jobsim.profile("inngest", request_timeout=None)) as sim:
        sim.send("go")
        sim.run_until_idle()
        start = sim.start_ns / 1e9
    assert [(name, at - start) for name, at in woke] == [("half a day", 43200), ("two days", 172800),
                                                          ("three days", 259200)]


class _LibError(Exception):
    """A library's exception that takes a keyword (as httpx's ``request=``)."""

    def __init__(self, message: str, *, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class _Stop(NonRetriableError, _LibError):
    """Job code's own error: not retried, and still the library's error it wraps."""


class _Mine(jobsim.JobsimError, _LibError):
    pass


@pytest.mark.parametrize("cls", [_Stop, _Mine])
def test_a_keyword_another_base_class_takes_still_reaches_it(cls: type[Exception]) -> None:
    # NonRetriableError and JobsimError had no __init__: the next class in the MRO took code=3
    error = cls("declined", code=3)
    assert (str(error), error.code) == ("declined", 3)  # type: ignore[attr-defined]


def test_asyncio_sleep_forever_is_the_error_a_sleep_past_9999_is() -> None:
    # asyncio.sleep(math.inf) is a common 'wait forever'; the selector's jump to its timer made it a bare
    # OverflowError ("cannot convert float infinity to integer")
    app = jobsim.App("shop")

    @app.function("forever", on="go", retries=0)
    async def forever(ctx: Any) -> None:
        await asyncio.sleep(float("inf"))

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
        error = sim.runs("forever")[0].error
    assert isinstance(error, InvalidArgument) and "function 'forever'" in str(error)
    assert "tried to wait forever (asyncio.sleep(math.inf), or as long)" in str(error)


def test_a_step_error_pickles_and_copies() -> None:
    # StepError(step_id, error) kept only its message in args: unpickling or copying it raised TypeError
    import copy
    import pickle

    from jobsim.errors import StepError

    error = StepError("charge", ValueError("card declined"))
    for again in (pickle.loads(pickle.dumps(error)), copy.copy(error), copy.deepcopy(error)):
        assert (type(again), str(again), again.step_id) == (StepError, str(error), "charge")
        assert (type(again.error), str(again.error)) == (ValueError, "card declined")


# -- a value a ctx.step method cannot take -------------------------------------------------------
BAD_STEP_CALLS = [
    (lambda ctx: ctx.step.run("", lambda: 1), "step_id='' is not valid: a step id is a non-empty string"),
    (lambda ctx: ctx.step.run("charge", 5), "fn=5 is not valid: step 'charge' needs a callable to run"),
    (lambda ctx: ctx.step.sleep("nap", "soon"), "duration='soon' is not valid: expected a duration"),
    (lambda ctx: ctx.step.sleep_until("nap", "tomorrow"), "when='tomorrow' is not valid: expected an aware datetime"),
    (lambda ctx: ctx.step.wait_for_event("paid", event="order/paid", timeout="1h", match="orderId"),
     "match='orderId' is not valid: expected a dotted path into the event"),
    (lambda ctx: ctx.step.wait_for_event("paid", event="order/paid", timeout="1h", if_exp="event.data.x =="),
     "if_exp='event.data.x ==' is not valid: expected a CEL-like expression"),
    (lambda ctx: ctx.step.send_event("notify", {"nam": "order/confirmed"}),
     "event={'nam': 'order/confirmed'} is not valid: unknown keys ['nam']"),
    (lambda ctx: ctx.step.invoke("charge", function="f", data=[1]), "data=[1] is not valid: the invoked function's"),
    (lambda ctx: ctx.step.parallel([lambda: ctx.step.run("a", lambda: 1)], mode="fast"),
     "mode='fast' is not valid: 'wait' (continue when every step ended) or 'race'"),
    (lambda ctx: ctx.step.parallel([lambda: ctx.step.run(7, lambda: 1)]), "step_id=7 is not valid"),
]


@pytest.mark.parametrize(("call", "message"), BAD_STEP_CALLS)
@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize("profile", ["inngest", "bullmq"])
def test_a_value_a_step_cannot_take_fails_the_run_at_once_without_retries(
        call: Any, message: str, is_async: bool, profile: str) -> None:  # fmt: skip
    # retried, it failed the same way five times over minutes of backoff (a typo in a match path, a duration
    # written "soon"): a StepMisuse, as a step call Python cannot bind, and as the same message as before
    if profile == "bullmq" and any(word in message for word in ("duration=", "when=", "match=", "if_exp=", "data=[")):
        pytest.skip("BullMQ has no sleep, wait or invoke steps: refused as UnsupportedFeature")
    app = jobsim.App("shop")
    if is_async:
        async def handler(ctx: Any) -> Any:
            value = call(ctx)
            return await value if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future) else value
    else:
        handler = call
    app.function("f", on="go", retries=jobsim.Retries(attempts=4, backoff="constant", min="1m"))(handler)
    with jobsim.Simulation(app, start=START, profile=profile) as sim:
        sim.send("go")
        sim.run_until_idle()
    [run] = sim.runs("f")
    assert (run.status, type(run.error), len(run.attempts)) == ("failed", jobsim.StepMisuse, 1)
    assert str(run.error).startswith(message) and isinstance(run.error, InvalidArgument)
    assert run.finished_at == run.started_at  # not four attempts over three minutes


def test_an_invalid_argument_job_code_raises_itself_is_still_retried() -> None:
    # only a value given to a ctx.step method is a misuse: jobsim's other calls in job code, in the body or in a
    # step's code, may depend on data a retry sees anew, and are retried as any error
    app = jobsim.App("shop")
    retries = jobsim.Retries(attempts=2, backoff="constant", min="1m")
    app.function("body", on="go", retries=retries)(lambda ctx: jobsim.Retries(attempts=0))
    app.function("step", on="go", retries=retries)(lambda ctx: ctx.step.run("make", lambda: jobsim.Event("")))

    @app.function("parallel", on="go", retries=retries)
    def parallel(ctx: Any) -> Any:
        return ctx.step.parallel([lambda: jobsim.Event("")])

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    for fn in ("body", "step", "parallel"):
        [run] = sim.runs(fn)
        assert type(run.error) is InvalidArgument, fn
        assert [a.error is not None for a in run.attempts][:2] == [True, True], fn  # retried a minute later


@pytest.mark.parametrize("when", [
    lambda: dt.datetime.now() + dt.timedelta(hours=1),  # job code's clock: naive UTC wall time
    lambda: (dt.datetime.now() + dt.timedelta(hours=1)).isoformat(),
])
def test_a_sleep_until_without_an_offset_says_job_code_s_clock_is_utc_and_how_to_write_it(when: Any) -> None:
    app = jobsim.App("shop")
    app.function("remind", on="go")(lambda ctx: ctx.step.sleep_until("later", when()))
    with jobsim.Simulation(app, start=START, tz="America/New_York") as sim:
        sim.send("go")
        sim.run_until_idle()
    [run] = sim.runs("remind")
    assert type(run.error) is jobsim.StepMisuse and len(run.attempts) == 1
    assert str(run.error).endswith(
        "; this one has no offset, and job code's times are read in no zone: its clock is UTC, so datetime.now() "
        "there is UTC wall time without a zone; give an aware time, datetime.now(timezone.utc) + "
        "timedelta(hours=1), or one ending in 'Z' or an offset")


def test_a_retry_after_datetime_without_an_offset_says_job_code_s_clock_is_utc() -> None:
    # raise RetryAfterError(datetime.now() + timedelta(minutes=5)): job code's now() is naive UTC
    app = jobsim.App("shop")

    @app.function("charge", on="go", retries=1)
    def charge(ctx: Any) -> None:
        if ctx.attempt == 0:
            raise jobsim.RetryAfterError(dt.datetime.now() + dt.timedelta(minutes=5))

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    [run] = sim.runs("charge")
    first = run.attempts[0]
    assert type(first.error) is MisbuiltError  # a mistake in the code: the run fails at once, not retried
    assert (run.status, len(run.attempts)) == ("failed", 1)
    assert str(first.error) == (
        "after=datetime.datetime(2025, 1, 1, 0, 5) is not valid: expected an aware datetime, an ISO 8601 string with "
        "an offset or 'Z' (e.g. '2025-03-01T09:00:00-05:00'), or seconds since the epoch; this one has no offset, "
        "and job code's times are read in no zone: its clock is UTC, so datetime.now() there is UTC wall time "
        "without a zone; give an aware time, datetime.now(timezone.utc) + timedelta(hours=1), or one ending in 'Z' "
        "or an offset")


def test_a_sleep_until_with_an_offset_still_sleeps() -> None:
    app = jobsim.App("shop")
    app.function("remind", on="go")(lambda ctx: ctx.step.sleep_until(
        "later", dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)))
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    [run] = sim.runs("remind")
    assert run.status == "completed" and (run.finished_at - run.started_at) == dt.timedelta(hours=1)


def test_an_invoke_of_a_function_a_dynamic_backend_has_not_declared_yet_is_still_retried() -> None:
    # jobsim-rq declares a job function when user code first enqueues it, so an invoke naming one not yet
    # declared may find it on a later attempt: ``_steps._invoked`` re-raises that InvalidArgument to be retried,
    # and the ctx.step misuse check must not turn it into a StepMisuse (it did: raised inside ctx.step.invoke)
    from jobsim import _plugins
    from jobsim.hooks import Adapted, hookimpl

    class Dynamic:
        pass

    class DynamicPlugin:
        @hookimpl
        def jobsim_adapt(self, sim: Any, target: Any) -> Any:
            return Adapted(backend="dynamic", functions=[], own_worker=True, dynamic=True) if isinstance(
                target, Dynamic) else None

    plugin = DynamicPlugin()
    _plugins.register(plugin, name="dynamic-invoke-test")
    try:
        app = jobsim.App("shop")
        app.function("caller", on="go", retries=jobsim.Retries(attempts=2, backoff="constant", min="1m"))(
            lambda ctx: ctx.step.invoke("later", function="later"))
        with jobsim.Simulation(app, Dynamic(), start=START) as sim:
            sim.send("go")
            sim.run_until_idle()
    finally:
        _plugins.unregister(plugin)
    [run] = sim.runs("caller")
    assert type(run.error) is InvalidArgument and "later" in str(run.error)
    assert len(run.attempts) == 2  # retried a minute later, as the declared function may exist by then


def test_a_step_misused_by_an_installed_helper_library_is_not_retried_either(tmp_path, monkeypatch):
    """A handler calls its team's helper package, installed in site-packages, which calls
    ``ctx.step.sleep("nap", "soon")``: the same value fails every attempt whoever passed it, so it is a
    ``StepMisuse`` as when the handler calls the step itself (the caller is any frame outside jobsim)."""
    import importlib
    import sys
    import traceback

    from jobsim import StepMisuse, _joberrors

    package = tmp_path / "site-packages" / "acme_steps"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("def nap(ctx, **kwargs):\n    return ctx.step.sleep('nap', **kwargs)\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site-packages"))
    monkeypatch.setattr(_joberrors, "_LIBRARIES", [str(tmp_path), *_joberrors._LIBRARIES])
    helper = importlib.import_module("acme_steps")
    monkeypatch.delitem(sys.modules, "acme_steps")
    app = jobsim.App("shop")

    @app.function("bad-value", on="go", retries=3)
    def bad_value(ctx: Any) -> None:
        helper.nap(ctx, duration="soon")

    @app.function("bad-keyword", on="go", retries=3)
    def bad_keyword(ctx: Any) -> None:
        helper.nap(ctx, duraton="1h")

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go", {})
        sim.run_until_idle()
    for fn_id, said in [("bad-value", "duration='soon' is not valid"), ("bad-keyword", "got an unknown keyword")]:
        (run,) = sim.runs(fn_id)
        assert (run.status, len(run.attempts), type(run.error)) == ("failed", 1, StepMisuse), fn_id
        assert said in str(run.error)
    frames = [frame for frame, _ in traceback.walk_tb(sim.runs("bad-value")[0].error.__traceback__)]
    assert "acme_steps" in {_joberrors._library(frame) for frame in frames}  # it went through the helper's frame
