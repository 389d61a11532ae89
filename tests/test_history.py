"""Applying a drawn history in one call, and the regular test it prints."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import jobsim
from jobsim import strategies as js
from jobsim._selection import FunctionNotSimulated
from jobsim.strategies import EventStream, Fail, FailurePattern, History, Send

START = "2025-03-01T00:00:00Z"
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)


def reproduction(notes: list[str]) -> str:
    """The jobsim note among Hypothesis's (which may add a ``@reproduce_failure`` blob after it)."""
    return next(note for note in notes if note.startswith("# jobsim reproduction"))


def shop_app() -> jobsim.App:
    app = jobsim.App("history")

    @app.function("charge", on="order/placed",
                  retries=jobsim.Retries(attempts=3, backoff="exponential", min="1s"))  # fmt: skip
    def charge(ctx):
        ctx.step.run("authorize", lambda: "auth")
        ctx.step.run("capture", lambda: ctx.event.data["orderId"])
        return {"charged": ctx.event.data["orderId"]}

    return app


HISTORY = History(
    faults=(
        Fail(function="charge", step="capture", times=2),
        Fail(function="charge", step="capture", error=jobsim.NonRetriableError("card declined")),
    ),
    events=(
        Send(after="10s", name="order/placed", data={"orderId": "o1"}),
        Send(after="1m30s", name="order/placed", data={"orderId": "o2"}),
        Send(after=0, name="order/placed", data={"orderId": "o3"}, id="fixed-id"),
    ),
)

UNNAMED = (
    "  # app stands for what the test's Simulation() runs, which no name of the test holds: write that here, or "
    "name it with apply(..., targets=...)"
)
"""The header's comment when the test has no name for what its simulation runs (``Simulation(shop_app())``)."""

CODE = """\
# jobsim reproduction · seed 7 · profile inngest — paste into a test:
with jobsim.Simulation(app, start='2025-03-01T00:00:00.000Z', seed=7) as sim:UNNAMED
    sim.fail('charge', step='capture', times=2)
    sim.fail('charge', step='capture', error=jobsim.NonRetriableError('card declined'))
    sim.advance('10s')
    sim.send('order/placed', {'orderId': 'o1'})
    sim.advance('1m30s')
    sim.send('order/placed', {'orderId': 'o2'})
    sim.send(jobsim.Event('order/placed', {'orderId': 'o3'}, id='fixed-id'))
    sim.run_until_idle()""".replace("UNNAMED", UNNAMED, 1)


def test_apply_plays_faults_then_each_event_at_its_offset_then_runs_until_idle():
    with jobsim.Simulation(shop_app(), start=START, seed=7) as sim:
        code = HISTORY.apply(sim)
        runs = sim.runs("charge")

    assert code == CODE
    assert [(r.event.data["orderId"], r.started_at, r.status) for r in runs] == [
        ("o1", T0 + dt.timedelta(seconds=10), "failed"),
        ("o2", T0 + dt.timedelta(seconds=100), "completed"),
        ("o3", T0 + dt.timedelta(seconds=100), "completed"),
    ]
    first = runs[0]
    capture = [(a.number, a.started_at, type(a.error).__name__) for a in first.attempts if a.step == "capture"]
    assert capture == [
        (0, T0 + dt.timedelta(seconds=10), "InjectedFault"),
        (1, T0 + dt.timedelta(seconds=11), "InjectedFault"),
        (2, T0 + dt.timedelta(seconds=13), "NonRetriableError"),
    ]
    assert str(first.error) == "card declined"
    assert [e.id for e in sim.events if e.name == "order/placed"][-1] == "fixed-id"


def test_the_printed_code_replays_the_same_story_byte_for_byte():
    with jobsim.Simulation(shop_app(), start=START, seed=7) as sim:
        HISTORY.apply(sim)
        applied = list(sim.trace)
    app = shop_app()
    body = CODE.split("\n", 1)[1]
    namespace = {"jobsim": jobsim, "app": app}
    exec(compile(body, "<reproduction>", "exec"), namespace)
    assert list(namespace["sim"].trace) == applied


def test_the_same_history_and_seed_give_the_same_trace():
    traces = []
    for _ in range(2):
        with jobsim.Simulation(shop_app(), start=START, seed=11) as sim:
            js.apply(sim, HISTORY)
            traces.append(list(sim.trace))
    assert traces[0] == traces[1]


@pytest.mark.filterwarnings("ignore::jobsim.PendingWorkWarning")  # then=None: stops after the last send
def test_apply_takes_any_mix_of_pieces_and_merges_streams_by_time():
    a = EventStream((Send(after="1m", name="order/placed", data={"orderId": "a1"}),
                     Send(after="2m", name="order/placed", data={"orderId": "a2"})))  # fmt: skip
    b = EventStream((Send(after="2m", name="order/placed", data={"orderId": "b1"}),))
    with jobsim.Simulation(shop_app(), start=START, seed=7) as sim:
        code = js.apply(sim, [a, FailurePattern((Fail(function="charge"),))], b, then=None)
        assert sim.now == T0 + dt.timedelta(minutes=3)
        assert [e.data["orderId"] for e in sim.events] == ["a1", "b1", "a2"]
    assert code.splitlines()[2:] == [
        "    sim.fail('charge')",
        "    sim.advance('1m')",
        "    sim.send('order/placed', {'orderId': 'a1'})",
        "    sim.advance('1m')",
        "    sim.send('order/placed', {'orderId': 'b1'})",
        "    sim.advance('1m')",
        "    sim.send('order/placed', {'orderId': 'a2'})",
    ]


def test_then_a_duration_advances_past_the_last_event():
    with jobsim.Simulation(shop_app(), start=START, seed=7) as sim:
        code = js.apply(sim, Send(after="5s", name="order/placed", data={"orderId": "o1"}), then="1h")
        assert sim.now == T0 + dt.timedelta(hours=1, seconds=5)
    assert code.endswith("    sim.advance('1h')")


def test_a_send_hook_replaces_sim_send_and_is_printed_by_name():
    written = []

    class Storefront:
        def send(self, sim, event):
            written.append((sim.now, event.data["orderId"]))
            sim.send(event)

    with jobsim.Simulation(shop_app(), start=START, seed=7, tz="America/New_York", max_chain=500) as sim:
        code = js.apply(sim, Send(after="1s", name="order/placed", data={"orderId": "o1"}), send=Storefront().send,
                        targets="shop.app")  # fmt: skip
    assert written == [(T0 + dt.timedelta(seconds=1), "o1")]
    assert code.splitlines()[1:] == [
        "with jobsim.Simulation(shop.app, start='2025-03-01T00:00:00.000Z', seed=7, tz='America/New_York', "
        "max_chain=500) as sim:",
        "    sim.advance('1s')",
        "    storefront.send(sim, jobsim.Event('order/placed', {'orderId': 'o1'}))",
        "    sim.run_until_idle()",
    ]


@pytest.mark.filterwarnings("ignore::jobsim.PendingWorkWarning")  # then=None: stops after the last send
def test_a_history_applied_after_the_test_moved_the_clock_says_so():
    with jobsim.Simulation(shop_app(), start=START, seed=7) as sim:
        sim.advance("1h")
        code = js.apply(sim, Send(after=0, name="order/placed", data={"orderId": "o1"}), then=None)
    assert code.splitlines()[2] == (
        "    sim.advance_to('2025-03-01T01:00:00.000Z')  # where the test had driven the simulation"
    )


def test_apply_refuses_a_simulation_that_is_not_running():
    sim = jobsim.Simulation(shop_app(), start=START)
    with pytest.raises(jobsim.JobsimError, match=r"apply\(\) needs a running simulation: use `with sim:`"):
        HISTORY.apply(sim)


def test_apply_to_a_closed_simulation_says_it_is_closed_not_to_start_it():
    # it said "use `with sim:` (or sim.start()) first", and either then raised "this simulation is closed"
    with jobsim.Simulation(shop_app(), start=START) as sim:
        pass
    with pytest.raises(jobsim.JobsimError, match=r"^apply\(\) needs a running simulation: this one is closed \(its "
                                                 r"`with` block ended\); apply the history inside the block, or to a "
                                                 r"new Simulation$"):
        HISTORY.apply(sim)


@pytest.mark.parametrize(
    ("pieces", "kwargs", "message"),
    [
        (("order/placed",), {}, "pieces='order/placed' is not valid: a History, EventStream, FailurePattern, fault"),
        ((HISTORY,), {"then": "later"}, "then='later' is not valid: expected a duration"),
    ],
)
def test_apply_checks_its_arguments_before_anything_runs(pieces, kwargs, message):
    with jobsim.Simulation(shop_app(), start=START) as sim:
        with pytest.raises(jobsim.InvalidArgument, match=re.escape(message)):
            js.apply(sim, *pieces, **kwargs)
        assert sim.runs() == [] and sim.events == []


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Send(after="-1s", name="a/b"), "after='-1s' is not valid"),
        (lambda: Send(after=0, name="", data={}), "name='' is not valid: an event name is a non-empty string"),
        (lambda: Send(after=0, name="a/b", data=[1]), "data=[1] is not valid: event data is a mapping"),
        (lambda: Fail(function=""), "function='' is not valid: a function id"),
        (lambda: Fail(function="f", times=0), "times=0 is not valid: an int >= 1"),
        (lambda: Fail(function="f", error="boom"), "error='boom' is not valid: an exception instance or class"),
        (lambda: js.Downtime(start="1m", end="1m"), "end='1m' is not valid: a time after start='1m'"),
        (lambda: js.Crash(at="soon"), "at='soon' is not valid"),
        (lambda: js.Duplicate(times=0), "times=0 is not valid: an int >= 1"),
    ],
)
def test_values_check_their_fields(build, message):
    with pytest.raises(jobsim.InvalidArgument, match=re.escape(message)):
        build()


def test_the_reproduction_keeps_the_simulations_function_selection():
    """It left ``functions=`` out: pasted, the reproduction also ran the functions the test had left out."""
    app = shop_app()

    @app.function("audit", on="order/placed")
    def audit(ctx):
        raise RuntimeError("audit is not part of this test")

    with jobsim.Simulation(app, start=START, exclude_functions=[audit]) as sim:
        code = js.apply(sim, EventStream.at([(0, "order/placed", {"orderId": "o1"})]))
    header = code.splitlines()[1]
    assert header == ("with jobsim.Simulation(app, start='2025-03-01T00:00:00.000Z', seed=0, "
                      "exclude_functions=['audit']) as sim:")  # fmt: skip
    replayed: dict[str, object] = {"jobsim": jobsim, "app": app}
    exec(code, replayed)
    assert [run.function_id for run in replayed["sim"].runs()] == ["charge"]  # type: ignore[attr-defined]
    with jobsim.Simulation(app, start=START, functions=["charge"]) as sim:
        assert "seed=0, functions=['charge']) as sim:" in js.apply(sim, EventStream())


def test_the_reproduction_keeps_one_shared_random_stream():
    """A simulation drawing every number from one stream is reproduced so: by default each function has its own,
    and the pasted reproduction would retry at other instants."""
    with jobsim.Simulation(shop_app(), start=START, random_streams="shared") as sim:
        header = js.apply(sim, EventStream()).splitlines()[1]
    assert header == ("with jobsim.Simulation(app, start='2025-03-01T00:00:00.000Z', seed=0, "
                      "random_streams='shared') as sim:" + UNNAMED)  # fmt: skip
    with jobsim.Simulation(shop_app(), start=START) as sim:
        assert "random_streams" not in js.apply(sim, EventStream())


def test_the_reproduction_keeps_max_chain():
    """A chain stops after ``max_chain`` links: pasted without it, the reproduction ran 10,000 links instead."""
    app = jobsim.App("history-chain")

    @app.function("again", on="tick/again")
    def again(ctx):
        app.send("tick/again", {})

    with jobsim.Simulation(app, start=START, max_chain=5) as sim:
        code = js.apply(sim, EventStream(), then=None)
    assert code.splitlines()[1] == ("with jobsim.Simulation(app, start='2025-03-01T00:00:00.000Z', seed=0, "
                                    "max_chain=5) as sim:")  # fmt: skip
    pasted = code.replace("    pass", "    sim.send('tick/again')\n    sim.run_until_idle()")
    with pytest.raises(jobsim.BudgetExceeded, match="a chain of 5 items"):
        exec(pasted, {"jobsim": jobsim, "app": app})
    with jobsim.Simulation(app, start=START) as sim:
        assert "max_chain" not in js.apply(sim, EventStream())


def test_a_fault_for_a_function_the_simulation_left_out_says_to_narrow_the_strategy():
    """``failure_patterns(app)`` with ``simulations(app, functions=[...])`` drew faults for left-out functions: the
    error only said to add the function to ``functions=``, not that the pattern's places could be narrowed."""
    app = shop_app()
    app.function("audit", on="order/placed")(lambda ctx: None)
    with jobsim.Simulation(app, start=START, functions=["charge"]) as sim:
        with pytest.raises(FunctionNotSimulated) as caught:
            js.apply(sim, Fail(function="audit"), EventStream.at([(0, "order/placed", {"orderId": "o1"})]))
        assert sim.events == []  # faults are armed first: nothing was sent
    assert str(caught.value).startswith("function_id='audit': function 'audit' is not simulated")
    assert str(caught.value).endswith(
        "; or, if Fail(function='audit') was drawn, give failure_patterns()/faults() only the functions the "
        "simulation runs (a dict or list of them, not the App)")


# -- inside Hypothesis: the reproduction is noted ------------------------------------------------------------
def test_a_failing_property_prints_the_seed_and_the_history_as_a_test():
    orders = js.event_streams({"order/placed": st.fixed_dictionaries({"orderId": st.just("o1")})},
                              gaps=js.durations(0, "1m"))  # fmt: skip
    failures = js.failure_patterns({"charge": ["authorize", "capture"]}, errors=[jobsim.NonRetriableError("declined")])

    @settings(database=None, derandomize=True, max_examples=100, phases=[Phase.generate, Phase.shrink])
    @given(sim=js.simulations(shop_app, start=START), history=js.histories(events=orders, failures=failures))
    def every_order_is_charged(sim, history):
        with sim:
            history.apply(sim)
            assert all(run.status == "completed" for run in sim.runs("charge"))

    with pytest.raises(AssertionError) as caught:
        every_order_is_charged()
    notes = caught.value.__notes__
    # the factory, called as the falsifying example calls it: `app` was no name of the test's (a NameError when
    # pasted), and a module-level app would have carried state from the search into the pasted test
    assert reproduction(notes) == """\
# jobsim reproduction · seed 0 · profile inngest — paste into a test:
with jobsim.Simulation(shop_app(), start='2025-03-01T00:00:00.000Z', seed=0) as sim:
    sim.fail('charge', step='authorize', error=jobsim.NonRetriableError('declined'))
    sim.send('order/placed', {'orderId': 'o1'})
    sim.run_until_idle()"""
    printed = notes[0].replace("\n", "").replace("    ", "")
    assert "sim=jobsim.Simulation(shop_app(), start='2025-03-01T00:00:00Z', seed=0)," in printed


def test_outside_hypothesis_nothing_is_noted():
    with jobsim.Simulation(shop_app(), start=START) as sim:
        assert js.apply(sim, HISTORY).startswith("# jobsim reproduction · seed 0")


def search() -> list[tuple[str, list[object]]]:
    """The traces of a derandomized search, in the order it ran them, each after its drawn seed, start and history."""
    stories: list[tuple[str, list[object]]] = []
    orders = js.event_streams({"order/placed": st.fixed_dictionaries({"orderId": st.sampled_from("abc")})})
    failures = js.failure_patterns({"charge": ["authorize", "capture", None]})

    @settings(database=None, derandomize=True, max_examples=25, phases=[Phase.generate])
    @given(sim=js.simulations(shop_app), history=js.histories(events=orders, failures=failures))
    def tell(sim, history):
        key = f"{sim.seed} {sim.now} {history!r}"
        with sim:
            history.apply(sim)
            stories.append((key, list(sim.trace)))

    tell()
    return stories


def test_a_drawn_example_replays_to_the_same_trace():
    """Every random choice is a draw, so running the same search twice tells the same stories, in the same order.
    (Hypothesis 6.100 draws some examples more than once: 25 stories, fewer different ones.)"""
    first, second = search(), search()
    assert first == second and len(first) == 25 and len(dict(first)) > 1


# -- typos that made a property pass vacuously -----------------------------------------------------
def test_one_typo_is_a_certain_typo_and_a_digit_is_another_name():
    from jobsim._checks import one_typo

    assert one_typo("chrage", ["capture", "charge"]) == "charge"  # swapped neighbours
    assert one_typo("order/plcaed", ["order/placed"]) == "order/placed"
    assert one_typo("Order.Placed", ["order/placed"]) == "order/placed"  # case and separators
    assert one_typo("autorize", ["authorize"]) == "authorize"  # one left out
    assert one_typo("send-3", ["send-1", "send-2"]) is None  # a loop's other step
    assert one_typo("v2/order", ["v1/order"]) is None
    assert one_typo("order/paid", ["order/placed"]) is None  # another event
    assert one_typo("cart/completed", ["cart/abandoned"]) is None
    assert one_typo("abd", ["abc"]) is None  # too short to tell
    assert one_typo("Pay", ["pay"]) == one_typo("pay_", ["pay"]) == "pay"  # case or separators: at any length


def typo_property(failures=None, events=("order/placed",)):
    @settings(max_examples=30, deadline=None, database=None, phases=[Phase.generate])
    @given(sim=js.simulations(shop_app, start=START),
           history=js.histories(events=js.event_streams({name: st.just({"orderId": "o1"}) for name in events},
                                                        min_size=1, max_size=2),
                                failures=failures))  # fmt: skip
    def every_order_is_charged(sim, history):
        with sim:
            history.apply(sim)
            assert all(run.status == "completed" for run in sim.runs("charge"))

    return every_order_is_charged


def test_a_drawn_failure_on_a_misspelt_step_fails_the_property_naming_the_step_meant():
    # the failures never fired, every run completed and the property passed without its failure path
    with pytest.raises(jobsim.InvalidArgument, match=r"sim.fail\('charge', step='captrue'\) never fired: no step of "
                       r"that id ran, but 'capture' did \(a typo\?\)"):  # fmt: skip
        typo_property(failures=js.failure_patterns({"charge": ["captrue"]}))()
    # a step unlike any that ran is the search's business (a branch this history did not reach): no error
    typo_property(failures=js.failure_patterns({"charge": ["refund"]}))()


def test_a_drawn_event_name_one_typo_from_a_trigger_fails_the_property():
    with pytest.raises(jobsim.InvalidArgument, match=r"events='order/plcaed' is not valid: .*did you mean "
                       r"'order/placed'\?\): no function triggers on 'order/plcaed'"):  # fmt: skip
        typo_property(events=["order/plcaed"])()
    typo_property(events=["order/placed", "order/shipped"])()  # an event the app ignores is let through


def test_an_event_a_run_waited_for_or_a_hook_sends_is_no_typo():
    app = jobsim.App("waits")

    @app.function("remind", on="cart/abandoned")
    def remind(ctx):
        return ctx.step.wait_for_event("paid", event="cart/paidd", timeout="1h")  # the app's own name

    with jobsim.Simulation(app, start=START) as sim:
        js.apply(sim, EventStream((Send(after="0s", name="cart/abandoned", data={}),
                                   Send(after="1m", name="cart/paidd", data={}))))  # fmt: skip
    with jobsim.Simulation(shop_app(), start=START) as sim:  # the hook maps names: not checked
        code = js.apply(sim, Send(after="0s", name="order/plcaed", data={"orderId": "o1"}),
                        send=lambda sim, event: sim.send("order/placed", dict(event.data)))
        assert [run.status for run in sim.runs("charge")] == ["completed"]
    # a lambda hook is printed as its source, called (it printed send(sim, ...), a name the test did not have)
    # (older Hypothesis keeps the source's own quotes, newer ones write its repr's)
    assert re.search(r"\(lambda sim, event: sim\.send\((['\"])order/placed\1, dict\(event\.data\)\)\)"
                     r"\(sim, jobsim\.Event\(", code)
