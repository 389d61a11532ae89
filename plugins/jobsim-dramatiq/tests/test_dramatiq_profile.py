"""The ``dramatiq`` profile, messages already waiting on a stub broker, unknown actors, traces on disk."""

from __future__ import annotations

import logging

import dramatiq
import pytest
from dramatiq_support import START, WEEK_MS, backoffs, gaps, ms, starts, stream

import jobsim
from jobsim import traces

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _quiet():
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


def test_plain_jobsim_functions_retry_as_on_dramatiq_under_its_profile():
    app = jobsim.App("shop")

    @app.function("charge", on="order/paid")
    def charge(ctx):
        raise ConnectionError("gateway down")

    with jobsim.Simulation(app, start=START, seed=12, profile="dramatiq") as sim:
        sim.send("order/paid", {"id": 1})
        sim.run_until_idle(max_time="60d")
        run = sim.runs("charge")[0]
        assert len(run.attempts) == 21 and run.status == "failed"
        assert gaps(starts(run)) == backoffs(stream(12, "charge"), 15_000, WEEK_MS, 20)


def test_a_simulation_of_dramatiq_targets_uses_the_dramatiq_profile(broker):
    with jobsim.Simulation(broker) as sim:
        assert sim.profile.name == "dramatiq"


def test_messages_a_stub_broker_holds_before_the_simulation_are_its_own(broker):
    @dramatiq.actor
    def early(n):
        return n

    early.send(1)  # on the real StubBroker, before the simulation, on the real clock
    early.send_with_options(args=(2,), delay=60_000)
    with jobsim.Simulation(broker, start=START) as sim:
        sim.run_until_idle()
        runs = sim.runs(early)
        assert [(r.output, r.status) for r in runs] == [(1, "completed"), (2, "completed")]
        # the real clock's now is the simulation's start: the delayed one is due 60 s after it was sent, less the
        # real time from the send to the start (30 s of room for it: 1 s was short on loaded CI cores)
        assert starts(runs[0]) == [0] and 30_000 < starts(runs[1])[0] <= 60_000
        assert "run       early#1 started by before the simulation" in sim.timeline()
    assert all(queue.empty() for queue in broker.queues.values())


def test_a_message_for_an_unknown_actor_is_dead_lettered(broker):
    from dramatiq.errors import ActorNotFound
    from dramatiq.message import Message

    broker.declare_queue("default")
    with jobsim.Simulation(broker, start=START) as sim:
        broker.enqueue(Message(queue_name="default", actor_name="gone", args=(), kwargs={}, options={}))
        sim.run_until_idle()
        run = sim.runs("gone")[0]  # worker.py:386-398: ActorNotFound, straight to the dead letters
        assert (run.status, run.attempts, type(run.error)) == ("failed", [], ActorNotFound)
        assert [ms(d.at) for d in sim.dramatiq.dead_letters] == [0]


def test_a_dramatiq_simulation_saves_and_reads_back_its_trace(broker, tmp_path):
    @dramatiq.actor(max_retries=1, min_backoff=100)
    def job(n):
        raise ValueError(n)

    with jobsim.Simulation(broker, start=START, seed=3) as sim:
        job.send_with_options(args=(1,), delay=500)
        sim.run_until_idle()
        path = tmp_path / "run.jobsim.jsonl"
        sim.trace.save(path)
        kinds = [r.kind for r in traces.load(path)]
    for kind in ("run.start", "dramatiq.enqueue", "attempt", "retry", "dramatiq.dead_letter", "run.end"):
        assert kind in kinds


def test_actors_are_targets_and_name_their_runs(broker):
    @dramatiq.actor
    def charge(n):
        return n

    @dramatiq.actor
    def refund(n):
        return -n

    with jobsim.Simulation(charge, refund, start=START) as sim:  # one broker, taken once
        charge.send(1)
        refund.send(2)
        sim.run_until_idle()
        assert [r.output for r in sim.runs(charge)] == [1] and [r.output for r in sim.runs("refund")] == [-2]
        assert sim.dramatiq.workers[0].threads == 8


def test_the_jobsim_fixture_simulates_a_broker_from_jobsim_app(pytester, monkeypatch):
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    pytester.makeconftest('''
import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

broker = StubBroker()
dramatiq.set_broker(broker)


@dramatiq.actor(max_retries=1, min_backoff=60_000, max_backoff=60_000)
def sync(n):
    raise ConnectionError("down")


@pytest.fixture
def jobsim_app():
    return broker
''')
    pytester.makepyfile('''
from conftest import sync


def test_sync_retries_within_a_minute(jobsim):
    sync.send(1)
    jobsim.run_until_idle()
    run = jobsim.runs(sync)[0]
    assert run.status == "failed" and 30 <= (run.attempts[1].started_at - run.attempts[0].started_at).seconds < 60
''')
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(root), str(root / "plugins" / "jobsim-dramatiq")]))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    assert result.parseoutcomes().get("passed") == 1, result.stdout.str()


def test_faults_drawn_for_the_dramatiq_profile_are_those_the_simulation_can_inject():
    """``js.faults(functions=[...], profile="dramatiq")`` drew downtimes and duplicate deliveries, which a simulation
    of Dramatiq actors refuses (``UnsupportedFeature``): a property over "any fault" failed on the refusal, not on
    the app (the trial32 user trial's). The profile declares what jobsim-dramatiq simulates."""
    from hypothesis import given, settings

    from jobsim import strategies as js

    drawn = set()

    @settings(max_examples=80, database=None, deadline=None)
    @given(js.faults(functions=["charge"], profile="dramatiq"))
    def collect(fault):
        drawn.add(type(fault).__name__)

    collect()
    assert drawn == {"Fail", "Crash"}
    with pytest.raises(jobsim.InvalidArgument, match=r"profile 'dramatiq' cannot suffer 'downtime'; it supports "
                                                     r"'fail', 'crash'"):
        js.faults(functions=["charge"], profile="dramatiq", kinds=["downtime"])
