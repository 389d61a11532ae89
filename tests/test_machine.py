"""jobsim.strategies.machine: Hypothesis state machines over a simulation, from plain functions."""

from __future__ import annotations

import types

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

import jobsim
from jobsim import invariants
from jobsim import strategies as js

START = "2025-03-01T00:00:00Z"
# too_slow is a wall-clock check: on a loaded 2-core CI machine it fails a correct machine
PINNED = settings(database=None, derandomize=True, deadline=None, max_examples=50, stateful_step_count=10,
                  phases=[Phase.generate, Phase.shrink], suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


def reproduction(notes: list[str]) -> str:
    """The jobsim note among Hypothesis's (which may add a ``@reproduce_failure`` blob after it)."""
    return next(note for note in notes if note.startswith("# jobsim reproduction"))


def make_world() -> types.SimpleNamespace:
    """A fresh app and the rows its function writes."""
    world = types.SimpleNamespace(app=jobsim.App("ticks"), rows=[])

    @world.app.function("count", on="tick/sent", retries=jobsim.Retries(attempts=2, backoff="constant", min="5s"))
    def count(ctx):
        ctx.step.run("write", lambda: world.rows.append(ctx.event.data["n"]))

    return world


def one_row_per_tick(sim, world):
    written = [r for r in sim.runs("count") if "write" in r.steps and r.steps["write"].status == "completed"]
    assert len(world.rows) == len(written), (world.rows, written)


def every_tick_written(sim, world):
    """Every tick got a run that finished (failed only after its two attempts) and retries kept the policy."""
    invariants.every_event_handled(sim, "count", statuses=("completed", "failed"))
    invariants.retries_respect_policy(sim)


TICKS = {"tick/sent": st.fixed_dictionaries({"n": st.integers(0, 9)})}


def test_a_machine_explores_sends_advances_and_faults_and_checks_at_the_end():
    seen: list[str] = []

    def note_rule(sim, world, draw):
        seen.append(draw(st.sampled_from(["a", "b"])))

    machine = js.machine(make_world, targets="app", events=TICKS, faults=js.faults(functions={"count": ["write"]}),
                         invariants=[one_row_per_tick], at_end=[every_tick_written], rules={"note": note_rule},
                         start=START, name="TickMachine", settings=PINNED)  # fmt: skip
    assert machine.__name__ == "TickMachine"
    machine.TestCase().runTest()
    assert set(seen) <= {"a", "b"} and seen


SCRIPT = """\
# jobsim reproduction · seed 0 · profile inngest — paste into a test:
world = make_world()
with jobsim.Simulation(world.app, start='2025-03-01T00:00:00.000Z', seed=0) as sim:
    sim.send('tick/sent', {'n': 0})
    sim.send('tick/sent', {'n': 0})
    sim.send('tick/sent', {'n': 0})"""


def test_a_failing_program_prints_the_plain_jobsim_test_that_replays_it():
    def at_most_two_runs(sim, world):
        assert len(sim.runs("count")) < 3, "three runs"

    machine = js.machine(make_world, targets="app", events=TICKS, invariants=[at_most_two_runs], start=START,
                         settings=PINNED)  # fmt: skip
    with pytest.raises(AssertionError, match="three runs") as caught:
        machine.TestCase().runTest()
    assert reproduction(caught.value.__notes__) == SCRIPT
    assert "state.send_event(event=('tick/sent', {'n': 0}))" in "\n".join(caught.value.__notes__)


def test_a_lambda_setup_is_printed_as_its_own_source_called():
    """``js.machine(lambda: ...)`` printed ``world = send()``, which named nothing the test had (user trial Q)."""

    def at_most_two_runs(sim, world):
        assert len(sim.runs("count")) < 3, "three runs"

    machine = js.machine(lambda: make_world(), targets="app", events=TICKS, invariants=[at_most_two_runs],
                         start=START, settings=PINNED)  # fmt: skip
    with pytest.raises(AssertionError, match="three runs") as caught:
        machine.TestCase().runTest()
    assert reproduction(caught.value.__notes__) == SCRIPT.replace("world = make_world()",
                                                                  "world = (lambda: make_world())()")


def test_end_checks_run_after_everything_settled_and_the_simulation_is_closed():
    worlds = []

    def setup():
        world = make_world()
        worlds.append(world)
        return world

    def never_written(sim, world):
        assert not world.rows, f"written: {world.rows}"

    machine = js.machine(setup, targets="app", events=TICKS, at_end=[never_written], start=START, then="1m",
                         settings=PINNED)  # fmt: skip
    with pytest.raises(AssertionError, match="written") as caught:
        machine.TestCase().runTest()
    last = reproduction(caught.value.__notes__).splitlines()[-2:]
    assert last == ["    sim.send('tick/sent', {'n': 0})", "    sim.advance('1m')"]
    assert all(world.app._simulation is None for world in worlds)  # every example's simulation was closed


def test_a_send_hook_and_on_start_receive_the_world():
    calls = []

    def storefront(sim, world, event):
        calls.append(("send", event.name))
        sim.send(event)

    def connect(sim, world):
        calls.append(("start", world.app.id))

    machine = js.machine(make_world, targets=lambda world: world.app, events=TICKS, send=storefront,
                         on_start=connect, at_end=[every_tick_written], start=START, settings=PINNED)  # fmt: skip
    machine.TestCase().runTest()
    assert ("start", "ticks") in calls and ("send", "tick/sent") in calls


def test_a_world_that_is_the_app_itself_needs_no_targets_and_gets_faker_payloads():
    payloads = []

    def app_only():
        app = jobsim.App("signups")

        @app.function("welcome", on="user/created")
        def welcome(ctx):
            payloads.append(dict(ctx.event.data))

        return app

    def all_handled(sim, app):
        invariants.every_event_handled(sim)

    machine = js.machine(app_only, events=["user/created"], at_end=[all_handled], start=START, settings=PINNED)
    machine.TestCase().runTest()
    assert payloads and all(set(p) == {"id", "userId", "email", "name"} for p in payloads)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"setup": 3}, "setup=3 is not valid: a function of no arguments"),
        ({"name": "not a name"}, "name='not a name' is not valid: a class name"),
        ({"targets": 3}, "targets=3 is not valid: None (the world is the target), an attribute name"),
        ({"rules": {"bad name": print}}, "a mapping of rule name (an identifier) to fn(sim, world, draw)"),
        ({"invariants": [3]}, "invariants=[3] is not valid: callables taking (sim, world); 3 is not callable"),
        ({"send": "sim.send"}, "send='sim.send' is not valid: a function (sim, world, event)"),
        ({"then": "soon"}, "then='soon' is not valid"),
        ({"advance": "1h"}, "advance='1h' is not valid: a Hypothesis strategy"),
        ({"events": {}}, "events={} is not valid: at least one event name"),
        # these raised TypeError when the machine was built, or at the first rule it ran
        ({"invariants": None}, "invariants=None is not valid: a list of callables taking (sim, world)"),
        ({"rules": 3}, "rules=3 is not valid: a mapping of rule name (an identifier) to fn(sim, world, draw)"),
        ({"rules": {"poke": lambda sim: None}}, "is not valid: fn(sim, world, draw) (too many positional"),
        ({"setup": lambda world: world}, "is not valid: a function of no arguments returning a fresh world"),
    ],
)
def test_machine_checks_its_arguments(kwargs, message):
    arguments = {"setup": make_world, "events": TICKS, **kwargs}
    with pytest.raises(js.InvalidArgument) as caught:
        js.machine(arguments.pop("setup"), **arguments)
    assert message in str(caught.value)


def test_an_overlapping_downtime_is_skipped_not_an_error():
    """Two drawn downtimes over the same window: the second is a no-op step (sim.downtime() refuses it)."""
    from jobsim.strategies import Downtime

    machine = js.machine(make_world, targets="app", events=TICKS, start=START, settings=PINNED)
    state = machine()
    state._open(seed=0, start=START)
    js_fault = Downtime(start="0s", end="1ms")
    state._fault_rule(js_fault)
    state._fault_rule(js_fault)  # raised InvalidArgument ("overlaps the downtime already set") before
    assert state._downtimes == [(state.sim.start_ns, state.sim.start_ns + 1_000_000)]
    state.teardown()
