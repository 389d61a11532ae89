"""User-trial findings (ux37): mistakes that surfaced as Python's bare errors, or without the name meant.

A misspelt ``ctx.step`` method (``sleepUntil``, Inngest JS's spelling) was a bare ``AttributeError`` retried
through the whole backoff; a flow-control object without its required argument was Python's "missing 1
required positional argument"; ``sim.send(dat=...)``, ``batchEvents=`` and ``Debounce(maxWait=...)`` named
no keyword meant; ``Event(ts=datetime)``, ``sleep_until`` of epoch milliseconds and a zone a typo away said
what was wrong, not how to write it right.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

import jobsim
from jobsim import InvalidArgument, StepMisuse

START = "2025-03-03T09:00:00Z"
METHODS = "ctx.step has: run, sleep, sleep_until, wait_for_event, send_event, invoke, parallel, race"
CASED = " Step methods are snake_case here, as in inngest-py"


def _failed_run(handler: Callable[..., Any]) -> Any:
    app = jobsim.App("shop")
    app.function("job", on="shop/go", retries=3)(handler)
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("shop/go")
        sim.run_until_idle()
        (run,) = sim.runs()
    assert run.status == "failed"
    assert len(run.attempts) == 1  # not retried: every attempt would fail the same way
    return run.error


# -- 1. a ctx.step method that does not exist ------------------------------------------------------
UNKNOWN_METHODS = [
    ("sleepUntil", f"(did you mean ctx.step.sleep_until?{CASED})"),
    ("waitForEvent", f"(did you mean ctx.step.wait_for_event?{CASED})"),
    ("sendEvent", f"(did you mean ctx.step.send_event?{CASED})"),
    ("sleep_util", "(did you mean ctx.step.sleep_until?)"),
    ("run_step", "(did you mean ctx.step.run?)"),
    ("invoke_by_id", "(did you mean ctx.step.invoke?)"),
]


@pytest.mark.parametrize(("name", "hint"), UNKNOWN_METHODS)
def test_a_misspelt_step_method_fails_the_run_at_once_naming_the_one_meant(name: str, hint: str) -> None:
    def handler(ctx: Any) -> None:
        getattr(ctx.step, name)("wait", "2025-03-04T09:00:00Z")

    error = _failed_run(handler)
    assert isinstance(error, StepMisuse) and isinstance(error, AttributeError)
    assert str(error) == f"ctx.step has no method {name!r} {hint}; {METHODS}"


def test_an_async_handler_s_misspelt_step_method_is_named_too() -> None:
    async def handler(ctx: Any) -> None:
        await ctx.step.waitForEvent("approval", event="shop/approved", timeout="1d")

    error = _failed_run(handler)
    assert str(error) == f"ctx.step has no method 'waitForEvent' (did you mean ctx.step.wait_for_event?{CASED}); " \
                         f"{METHODS}"


def test_a_step_method_nothing_resembles_lists_the_methods() -> None:
    error = _failed_run(lambda ctx: ctx.step.frobnicate("x"))
    assert str(error) == f"ctx.step has no method 'frobnicate'; {METHODS}"


def test_hasattr_getattr_and_private_names_of_ctx_step_behave_as_on_any_object() -> None:
    seen: dict[str, Any] = {}

    def handler(ctx: Any) -> str:
        step = ctx.step
        seen["hasattr"] = hasattr(step, "sleepUntil"), hasattr(step, "sleep_until")
        seen["default"] = getattr(step, "waitForEvent", None), getattr(step, "made", "unset")
        for name in ("_private", "__deepcopy__", "made"):  # made: a slot of Execution not set in a sync handler
            with pytest.raises(AttributeError) as info:
                getattr(step, name)
            assert type(info.value) is AttributeError  # Python's own, whose words vary ('jobsim._steps.Step' on 3.13)
            assert f"Step' object has no attribute {name!r}" in str(info.value)
        seen["copy"] = type(copy.copy(step)).__name__
        return "ok"

    app = jobsim.App("shop")
    app.function("job", on="shop/go")(handler)
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("shop/go")
        sim.run_until_idle()
        assert sim.runs()[0].output == "ok"
    assert seen == {"hasattr": (False, True), "default": (None, "unset"), "copy": "Step"}


# -- 2. a flow-control object without a required argument -----------------------------------------
MISSING = [
    (lambda: jobsim.Concurrency(key="event.data.accountId"),
     "Concurrency() needs limit=: how many steps may run at once, e.g. Concurrency(limit=5, "
     "key='event.data.accountId')"),
    (lambda: jobsim.Throttle(period="1m"),
     "Throttle() needs limit=: how many runs may start per period, e.g. Throttle(limit=5, period='1m')"),
    (lambda: jobsim.Throttle(limit=5),
     "Throttle() needs period=: the window the limit counts over (1s to 7d, whole seconds), e.g. "
     "Throttle(limit=5, period='1m')"),
    (lambda: jobsim.RateLimit(limit=5),
     "RateLimit() needs period=: the window the limit counts over (1s to 24h, whole seconds), e.g. "
     "RateLimit(limit=5, period='1h')"),
    (lambda: jobsim.Debounce(),
     "Debounce() needs period=: how long things must stay quiet before the run (1s to 7d), e.g. "
     "Debounce(period='5m', key='event.data.userId')"),
    (lambda: jobsim.Batch(timeout="5s"),
     "Batch() needs max_size=: the most events one run gets (at least 2), e.g. Batch(max_size=100, "
     "timeout='5s')"),
    (lambda: jobsim.Cancel(match="data.orderId"),
     "Cancel() needs event=: the name of the event that cancels the run, e.g. Cancel(event='order/cancelled', "
     "match='data.orderId')"),
    (lambda: jobsim.Retries(),
     "Retries() needs attempts=: how many attempts in all, the first included, e.g. Retries(attempts=5) (the "
     "profile's backoff) or Retries(attempts=5, backoff='exponential', min='1s', max='1m')"),
]


@pytest.mark.parametrize(("build", "message"), MISSING)
def test_a_required_argument_left_out_is_named_with_an_example(build: Callable[[], Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        build()
    assert str(info.value) == message
    assert isinstance(info.value, TypeError)  # an `except TypeError` around it still catches it


def test_two_required_arguments_left_out_are_both_named() -> None:
    with pytest.raises(InvalidArgument, match=r"^Throttle\(\) needs limit=: .*; period=: "):
        jobsim.Throttle()


def test_too_many_positional_arguments_keep_python_s_message() -> None:
    with pytest.raises(TypeError, match=r"^Throttle\.__init__\(\) takes from 3 to 5 positional arguments but 7 were"):
        jobsim.Throttle(1, "1m", None, None, 1, 2)  # too many: Python's message says so


# -- 3. an unknown keyword, with the one meant ------------------------------------------------------
def _send_error(keyword: str) -> str:
    app = jobsim.App("shop")
    app.function("job", on="shop/go")(lambda ctx: None)
    with jobsim.Simulation(app, start=START) as sim, pytest.raises(InvalidArgument) as info:
        sim.send("shop/go", **{keyword: {"orderId": "o1"}})
    return str(info.value)


@pytest.mark.parametrize("keyword", ["dat", "dta", "payload"])
def test_sim_send_s_misspelt_data_is_named(keyword: str) -> None:
    assert _send_error(keyword) == (f"sim.send() got an unknown keyword argument {keyword}={{'orderId': 'o1'}} "
                                    "(did you mean data=?); accepted: data, delay, id, user, ts, v")


@pytest.mark.parametrize("keyword", ["batchEvents", "batch_events"])
def test_inngest_s_batch_events_option_is_named_batch(keyword: str) -> None:
    app = jobsim.App("shop")
    with pytest.raises(InvalidArgument, match=rf"^app\.function\('job'\) got an unknown option {keyword}=\.\.\. "
                                              r"\(did you mean batch=\?\); accepted: "):
        app.function("job", on="shop/go", **{keyword: {"maxSize": 10, "timeout": "5s"}})


@pytest.mark.parametrize("keyword", ["maxWait", "max_wait"])
def test_debounce_s_max_wait_is_its_timeout(keyword: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        jobsim.Debounce(period="5s", **{keyword: "1m"})
    assert str(info.value) == (f"Debounce() got an unknown keyword argument {keyword}='1m' (did you mean "
                               "timeout=?); accepted: period, key, timeout, mode")


# -- 4. how to write it right ---------------------------------------------------------------------
def test_an_event_ts_given_as_a_datetime_says_how_to_convert_it() -> None:
    with pytest.raises(InvalidArgument) as info:
        jobsim.Event("shop/go", ts=dt.datetime(2025, 3, 3, 9, tzinfo=dt.timezone.utc))
    assert str(info.value) == (
        "ts=datetime.datetime(2025, 3, 3, 9, 0, tzinfo=datetime.timezone.utc) is not valid: milliseconds since "
        "the epoch, as an int (years 1 to 9999); from a datetime dt: ts=int(dt.timestamp() * 1000), dt aware "
        "(timestamp() reads a naive one in the machine's zone)"
    )


def test_sleep_until_of_epoch_milliseconds_says_to_divide_by_1000() -> None:
    error = _failed_run(lambda ctx: ctx.step.sleep_until("later", 1_741_500_000_000))
    assert isinstance(error, StepMisuse)
    assert str(error) == (
        "when=1741500000000 is not valid: a number is seconds since the epoch, and this one looks like milliseconds "
        "(2025-03-09T06:00:00.000Z; as seconds it is past the year 5000): divide it by 1000 (when=1741500000), or "
        "give an aware datetime such as datetime.fromtimestamp(ms / 1000, timezone.utc)"
    )


def test_sleep_until_of_epoch_seconds_still_sleeps() -> None:
    app = jobsim.App("shop")

    @app.function("job", on="shop/go")
    def job(ctx: Any) -> str:
        ctx.step.sleep_until("later", 1_741_078_800)  # 2025-03-04T09:00:00Z
        return "woke"

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("shop/go")
        sim.run_until_idle()
        assert sim.runs()[0].output == "woke"


@pytest.mark.parametrize(("zone", "meant"), [("Europe/Pariss", "Europe/Paris"), ("America/New_Yrok",
                                                                                   "America/New_York")])
def test_a_cron_zone_a_typo_away_names_the_zone_meant(zone: str, meant: str) -> None:
    app = jobsim.App("shop")
    with pytest.raises(InvalidArgument) as info:
        app.function("daily", cron=f"TZ={zone} 0 9 * * *")(lambda ctx: None)
    assert str(info.value) == (f"cron 'TZ={zone} 0 9 * * *' time zone={zone!r} is not valid: no such IANA time zone "
                               f"(did you mean {meant!r}?); expected e.g. 'America/New_York' or 'UTC'")


def test_a_zone_like_no_other_gets_no_guess() -> None:
    with pytest.raises(InvalidArgument, match=r"no such IANA time zone; expected"):
        jobsim.App("shop").function("daily", cron="0 9 * * *", tz="Mars/Olympus_Mons")(lambda ctx: None)


def test_public_modules_are_reached_from_jobsim_without_their_own_import():
    """``jobsim.invariants.retries_respect_policy`` (as the README writes it) was an AttributeError after
    ``import jobsim``; reached, each is imported then, so ``import jobsim`` itself still loads no Hypothesis."""
    import subprocess
    import sys

    code = ("import sys, jobsim; assert 'hypothesis' not in sys.modules; "
            "print(jobsim.invariants.Violation.__name__, jobsim.strategies.__name__, jobsim.traces.Trace.__name__, "
            "jobsim.hooks.held_by.__name__, jobsim.testing.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["Violation", "jobsim.strategies", "Trace", "held_by", "jobsim.testing"]
    with pytest.raises(AttributeError, match="has no attribute 'invariant'"):
        jobsim.invariant  # noqa: B018
