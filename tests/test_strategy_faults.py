"""Fault values: ``Fail`` on today's ``sim.fail``; ``Crash``, ``Downtime`` and ``Duplicate`` on the
profiles' ``sim.crash_worker``, ``sim.downtime`` and ``sim.duplicate_delivery``.

The last three methods arrive with the system profiles. Until then they are tested
against a stand-in that records calls, and the tests against a real ``Simulation``
are skipped; they switch on by themselves once ``Simulation`` has the methods.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from unittest import mock

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import jobsim
from jobsim import strategies as js
from jobsim._faults import FAULT_KINDS, METHODS, available_kinds, downtimes_disjoint
from jobsim.strategies import Crash, Downtime, Duplicate, Fail, History, Send

START = "2025-03-01T00:00:00Z"
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)


def needs(method: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not hasattr(jobsim.Simulation, method),
                              reason=f"needs sim.{method} from the profiles branch")  # fmt: skip


def make_app() -> jobsim.App:
    app = jobsim.App("faults")

    @app.function("charge", on="order/placed", retries=jobsim.Retries(attempts=4, backoff="constant", min="10s"))
    def charge(ctx):
        return ctx.step.run("capture", lambda: ctx.event.data["orderId"])

    @app.function("tick", cron="*/5 * * * *")
    def tick(ctx):
        return ctx.step.run("beat", lambda: "ok")

    return app


class StandIn:
    """A running simulation with the profiles' three fault methods, recording each call."""

    def __init__(self, sim: jobsim.Simulation) -> None:
        self.sim = sim
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sim, name)

    def crash_worker(self, at: Any = None, function: Any = None) -> None:
        self.calls.append(("crash_worker", {"at": at, "function": function}))

    def downtime(self, start: Any, end: Any) -> None:
        self.calls.append(("downtime", {"start": start, "end": end}))

    def duplicate_delivery(self, function: Any = None, at: Any = None, times: int = 1) -> None:
        self.calls.append(("duplicate_delivery", {"function": function, "at": at, "times": times}))


# -- Fail: fully on today's sim.fail ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fail(function="charge"), "sim.fail('charge')"),
        (Fail(function="charge", step="capture", times=3), "sim.fail('charge', step='capture', times=3)"),
        (Fail(function="charge", error=TimeoutError), "sim.fail('charge', error=TimeoutError)"),
        (Fail(function="charge", error=jobsim.RetryAfterError("2m")),
         "sim.fail('charge', error=jobsim.RetryAfterError('2m'))"),
        (Fail(function="charge", error=KeyError("sku")), "sim.fail('charge', error=KeyError('sku'))"),
    ],
)
def test_fail_prints_the_sim_fail_call_it_makes(fault, code):
    assert fault.code(0) == code
    namespace = {"Fail": Fail, "jobsim": jobsim, "TimeoutError": TimeoutError, "KeyError": KeyError}
    assert eval(repr(fault), namespace) == fault


def test_fail_with_retry_after_sets_the_next_delay_and_consumes_an_attempt():
    with jobsim.Simulation(make_app(), start=START) as sim:
        js.apply(sim, Fail(function="charge", step="capture", times=2, error=jobsim.RetryAfterError("90s")),
                 Send(after=0, name="order/placed", data={"orderId": "o1"}))  # fmt: skip
        run = sim.runs("charge")[0]
    assert [(a.number, a.started_at) for a in run.attempts if a.step == "capture"] == [
        (0, T0), (1, T0 + dt.timedelta(seconds=90)), (2, T0 + dt.timedelta(seconds=180)),
    ]  # fmt: skip
    assert run.status == "completed"


def test_fail_on_the_function_body_fails_the_request_before_any_step():
    with jobsim.Simulation(make_app(), start=START) as sim:
        js.apply(sim, Fail(function="charge", times=4), Send(after=0, name="order/placed", data={"orderId": "o1"}))
        run = sim.runs("charge")[0]
    assert [(a.number, a.step, a.started_at) for a in run.attempts] == [
        (n, None, T0 + dt.timedelta(seconds=10 * n)) for n in range(4)
    ]
    assert (run.status, type(run.error).__name__) == ("failed", "InjectedFault")


def test_fail_on_an_unknown_function_names_the_simulated_ones():
    expected = r"function_id='refund' is not valid: one of the simulated function ids: 'charge', 'tick'"
    with jobsim.Simulation(make_app(), start=START) as sim, pytest.raises(jobsim.InvalidArgument, match=expected):
        Fail(function="refund").apply(sim)


# -- Crash, Downtime, Duplicate: calls with absolute instants ------------------------------------------------
@pytest.mark.parametrize(
    ("fault", "call", "code"),
    [
        (Crash(), ("crash_worker", {"at": None, "function": None}), "sim.crash_worker()"),
        (Crash(at="90s", function="charge"),
         ("crash_worker", {"at": "2025-03-01T00:01:30.000Z", "function": "charge"}),
         "sim.crash_worker(at='2025-03-01T00:01:30.000Z', function='charge')"),
        (Downtime(start="1h", end=dt.timedelta(hours=3)),
         ("downtime", {"start": "2025-03-01T01:00:00.000Z", "end": "2025-03-01T03:00:00.000Z"}),
         "sim.downtime('2025-03-01T01:00:00.000Z', '2025-03-01T03:00:00.000Z')"),
        (Duplicate(), ("duplicate_delivery", {"function": None, "at": None, "times": 1}), "sim.duplicate_delivery()"),
        (Duplicate(function="tick", at="5m", times=2),
         ("duplicate_delivery", {"function": "tick", "at": "2025-03-01T00:05:00.000Z", "times": 2}),
         "sim.duplicate_delivery(function='tick', at='2025-03-01T00:05:00.000Z', times=2)"),
    ],
)  # fmt: skip
def test_timed_faults_call_their_method_with_instants_from_the_origin(fault, call, code):
    with jobsim.Simulation(make_app(), start=START) as sim:
        stand_in = StandIn(sim)
        fault.apply(stand_in)
        assert stand_in.calls == [call]
        assert fault.code(sim.kernel.now) == code


def test_offsets_count_from_when_the_history_is_applied():
    with jobsim.Simulation(make_app(), start=START) as sim:
        sim.advance("1d")
        stand_in = StandIn(sim)
        code = js.apply(stand_in, History(faults=(Crash(at="1m"), Downtime(start=0, end="30s"))), then=None)
    assert stand_in.calls == [
        ("crash_worker", {"at": "2025-03-02T00:01:00.000Z", "function": None}),
        ("downtime", {"start": "2025-03-02T00:00:00.000Z", "end": "2025-03-02T00:00:30.000Z"}),
    ]
    assert code.splitlines()[2:] == [
        "    sim.advance_to('2025-03-02T00:00:00.000Z')  # where the test had driven the simulation",
        "    sim.crash_worker(at='2025-03-02T00:01:00.000Z')",
        "    sim.downtime('2025-03-02T00:00:00.000Z', '2025-03-02T00:00:30.000Z')",
    ]


class Bare:
    """A simulation from before the profiles: a clock, and none of the three methods."""

    class kernel:
        now = 0


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Crash(at="1s"), "Crash(at='1s') needs sim.crash_worker(), which this simulation does not have; "
                         "upgrade jobsim, or leave 'crash' out of faults(kinds=...)"),
        (Downtime(start=0, end="1h"), "Downtime(start='0s', end='1h') needs sim.downtime(), which this simulation"),
        (Duplicate(times=2), "Duplicate(times=2) needs sim.duplicate_delivery(), which this simulation"),
    ],
)  # fmt: skip
def test_a_simulation_without_the_method_raises_a_clear_jobsim_error(fault, message):
    with pytest.raises(jobsim.JobsimError) as caught:
        fault.apply(Bare())
    assert str(caught.value).startswith(message)


def test_default_fault_kinds_are_what_this_simulation_can_inject():
    assert available_kinds() == tuple(k for k in FAULT_KINDS if hasattr(jobsim.Simulation, METHODS[k]))
    assert "fail" in available_kinds()


# -- against the real methods, once the profiles are merged ------------------------------------------------
def spy(method: str) -> Any:
    return mock.patch.object(jobsim.Simulation, method, autospec=True, side_effect=getattr(jobsim.Simulation, method))


@needs("crash_worker")
def test_crash_reaches_the_real_crash_worker_with_a_signature_it_accepts():
    with jobsim.Simulation(make_app(), start=START) as sim, spy("crash_worker") as crash_worker:
        js.apply(sim, Crash(at="30s", function="charge"), Send(after=0, name="order/placed", data={"orderId": "o1"}))
    crash_worker.assert_called_once_with(sim, at="2025-03-01T00:00:30.000Z", function="charge")


@needs("downtime")
def test_downtime_reaches_the_real_downtime_with_a_signature_it_accepts():
    with jobsim.Simulation(make_app(), start=START) as sim, spy("downtime") as downtime:
        js.apply(sim, Downtime(start="10m", end="40m"), then="1h")
    downtime.assert_called_once_with(sim, "2025-03-01T00:10:00.000Z", "2025-03-01T00:40:00.000Z")


@needs("duplicate_delivery")
def test_duplicate_reaches_the_real_duplicate_delivery_with_a_signature_it_accepts():
    with jobsim.Simulation(make_app(), start=START) as sim, spy("duplicate_delivery") as duplicate:
        js.apply(sim, Duplicate(function="tick", at="5m", times=2), then="1h")
    duplicate.assert_called_once_with(sim, function="tick", at="2025-03-01T00:05:00.000Z", times=2)


@needs("crash_worker")
@needs("downtime")
@needs("duplicate_delivery")
@settings(max_examples=40, deadline=None)
@given(faults=st.lists(js.faults(functions=["charge", "tick"], kinds=FAULT_KINDS, within="1h"), max_size=4)
       .filter(downtimes_disjoint),
       events=js.event_streams({"order/placed": st.fixed_dictionaries({"orderId": st.sampled_from(["o1", "o2"])})},
                               max_size=3, gaps=js.durations(0, "20m")))  # fmt: skip
def test_every_drawn_fault_applies_to_a_real_simulation(faults, events):
    with jobsim.Simulation(make_app(), start=START) as sim:
        js.apply(sim, faults, events, then="2h")
        last_event = dt.timedelta(microseconds=sum(send.after_ns for send in events) // 1000)
        assert sim.now == T0 + last_event + dt.timedelta(hours=2)


def test_faults_within_is_bounded_so_every_drawn_time_is_a_date():
    with pytest.raises(js.InvalidArgument, match=r"within=.* is not valid: a duration of at most 36500d"):
        js.faults(functions=["charge"], within=10**30)


def test_a_missing_where_or_functions_is_named_with_what_to_give():
    # a bare TypeError ("missing 1 required keyword-only argument") before
    with pytest.raises(js.InvalidArgument, match=r"^js.faults\(\) needs functions=: the functions faults strike, as "
                       r"failure_patterns' where: a mapping of function id"):  # fmt: skip
        js.faults()
    with pytest.raises(js.InvalidArgument, match=r"^js.failure_patterns\(\) needs where=: a mapping"):
        js.failure_patterns()


def test_function_objects_stand_for_their_ids_as_sim_fail_takes_them():
    app = make_app()
    charge = app.functions["charge"]
    assert repr(js.faults(functions=[charge], kinds=["fail"])) == "faults(functions=['charge'], kinds=['fail'])"
    assert repr(js.failure_patterns({charge: ["capture"]})) == "failure_patterns({'charge': ['capture']})"
    pattern = find(js.failure_patterns([(charge, "capture")]), lambda pattern: len(pattern) > 0)
    assert [(f.function, f.step) for f in pattern] == [("charge", "capture")]
    with pytest.raises(js.InvalidArgument, match=r"is a backend's own object: give its function id"):
        js.failure_patterns([object()])
