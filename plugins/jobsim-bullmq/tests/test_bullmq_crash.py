"""sim.crash_worker(function=<queue>): a BullMQ worker process killed mid-job. Its lock expires lockDuration (30 s)
after it was taken or last renewed; a live worker's stalled check (every stalledInterval, 30 s, from its start) marks
the job, and the next one moves it back to wait (moveStalledJobsToWait-9.lua:123-179)."""

from __future__ import annotations

import asyncio

import pytest
from bullmq import QueueEvents
from bullmq_support import NOWHERE, START, run

import jobsim
from jobsim.errors import InvalidArgument, WorkerCrashed
from jobsim.strategies import Downtime, Duplicate

SECOND = 1_000_000_000
BODY_DONE = []


async def minute(job, token):
    await asyncio.sleep(60)
    BODY_DONE.append((job.id, job.attemptsMade))
    return job.data


@pytest.fixture(autouse=True)
def _clear():
    BODY_DONE.clear()


def attempts(sim, queue="q"):
    return [((a.start_ns - sim.start_ns) / SECOND, (a.end_ns - sim.start_ns) / SECOND, type(a.error).__name__)
            for r in sim.runs(queue) for a in r.attempts]  # fmt: skip


def test_a_killed_worker_leaves_its_job_to_the_stalled_check_of_the_restarted_one(worker_for, queue):
    stalled = []
    worker = worker_for(minute)
    worker.on("stalled", lambda job_id, *rest: stalled.append(job_id))
    with jobsim.Simulation(worker, start=START) as sim:
        events = QueueEvents("q", {"connection": NOWHERE})
        got = []
        for name in ("stalled", "waiting", "active", "completed"):
            events.on(name, lambda args, entry_id, name=name: got.append((name, entry_id.split("-")[0])))
        run(queue.add("x", {"n": 1}))
        sim.crash_worker(at="2025-03-01T00:00:20Z", function="q")
        sim.run_until_idle()
        assert len(sim.bullmq.workers) == 1 and sim.bullmq.workers[0] is not worker
    # fetched at 0 (lock until 30; renewed at 15 until 45); killed at 20, the new worker's checks at 50 (marks it)
    # and 80 (lock gone since 45: back to wait, fetched again at once)
    assert attempts(sim) == [(0.0, 20.0, "WorkerCrashed"), (80.0, 140.0, "NoneType")]
    assert BODY_DONE == [("1", 0)]  # the killed body never finished; stc counts stalls, not attempts
    assert stalled == ["1"]  # the restarted worker's 'stalled' event, with the listeners the process registered
    t0 = 1740787200000
    assert [(n, (int(t) - t0) / 1000) for n, t in got] == [
        ("waiting", 0), ("active", 0), ("waiting", 80), ("stalled", 80), ("active", 80), ("completed", 140)]
    (r,) = sim.runs("q")
    assert r.status == "completed" and isinstance(r.attempts[0].error, WorkerCrashed)
    assert "the worker of queue 'q' is killed (running 1); a new worker starts at 2025-03-01 00:00:20.000" in (
        sim.timeline())


def test_past_max_stalled_count_the_job_fails_when_fetched_again(worker_for, queue):
    with jobsim.Simulation(worker_for(minute, maxStalledCount=0), start=START) as sim:
        run(queue.add("x", {}))
        sim.crash_worker(at="2025-03-01T00:00:05Z", function="q")
        sim.run_until_idle()
        assert sim.bullmq.job("1").failedReason == "job stalled more than allowable limit"
    # lock until 30; checks of the new worker at 35 (mark) and 65 (stc 1 > 0: defa, failed when fetched at 65)
    assert attempts(sim) == [(0.0, 5.0, "WorkerCrashed"), (65.0, 65.0, "UnrecoverableError")]
    assert sim.runs("q")[0].status == "failed" and BODY_DONE == []


def test_a_crash_with_no_job_in_flight_kills_the_worker_as_its_next_job_starts(worker_for, queue):
    """jobsim's crash contract: else the first attempt that starts at or after `at` dies before its code runs."""
    with jobsim.Simulation(worker_for(minute), start=START) as sim:
        sim.crash_worker(function="q")  # now: the worker is idle
        sim.advance("10s")
        run(queue.add("x", {}))
        sim.run_until_idle()
    # fetched at 10 (lock until 40), killed as its processor was called; the new worker started at 10 checks at 40
    # (marks) and 70 (moves it back)
    assert attempts(sim) == [(10.0, 10.0, "WorkerCrashed"), (70.0, 130.0, "NoneType")]
    assert BODY_DONE == [("1", 0)]


def test_without_a_restart_the_job_stays_active(worker_for, queue):
    with jobsim.Simulation(worker_for(minute), start=START) as sim:
        run(queue.add("x", {}))
        run(queue.add("y", {}))
        sim.bullmq.crash_worker(at="2025-03-01T00:00:01Z", queue="q", restart=None)
        sim.advance("10m")
        assert sim.bullmq.state("1") == "active" and sim.bullmq.state("2") == "waiting"
        assert sim.bullmq.workers == [] and sim.bullmq.job("1").attemptsStarted == 1
    assert attempts(sim) == [(0.0, 1.0, "WorkerCrashed")]
    assert "no worker is restarted" in sim.timeline()


def test_a_later_restart_and_concurrency(worker_for, queue):
    with jobsim.Simulation(worker_for(minute, concurrency=2), start=START) as sim:
        run(queue.add("x", {}))
        run(queue.add("y", {}))
        sim.bullmq.crash_worker(at="2025-03-01T00:00:16Z", queue=queue, restart="1m")
        sim.run_until_idle()
    # both locks renewed at 15 (until 45); the new worker starts at 76, checks at 106 (marks) and 136 (moves both)
    assert attempts(sim) == [(0.0, 16.0, "WorkerCrashed"), (136.0, 196.0, "NoneType"),
                             (0.0, 16.0, "WorkerCrashed"), (136.0, 196.0, "NoneType")]  # fmt: skip


def test_bad_crash_arguments_are_refused(worker_for, queue):
    with jobsim.Simulation(worker_for(minute), start=START) as sim:
        with pytest.raises(InvalidArgument, match=r"queue='nope' is not valid: the name of a queue a simulated BullMQ"):
            sim.bullmq.crash_worker(queue="nope")
        with pytest.raises(InvalidArgument, match="restart"):
            sim.bullmq.crash_worker(queue="q", restart="soon")
        sim.advance("1s")
        with pytest.raises(InvalidArgument, match="in the past"):
            sim.bullmq.crash_worker(at=START, queue="q")


@pytest.mark.parametrize(("call", "meant"), [
    (lambda sim: sim.bullmq.crash_worker(queue="q", restrat="1m"), "restart"),
    (lambda sim: sim.bullmq.job("1", queu="q"), "queue"),
    (lambda sim: sim.bullmq.state(jobid="1"), "job_id"),
    (lambda sim: sim.bullmq.logs("1", queeu="q"), "queue"),
    (lambda sim: sim.bullmq.counts(qeue="q"), "queue"),
])
def test_a_misspelt_keyword_names_the_one_meant(worker_for, call, meant):
    with jobsim.Simulation(worker_for(minute), start=START) as sim, pytest.raises(InvalidArgument) as info:
        call(sim)
    assert f"(did you mean {meant}=?)" in str(info.value) and "; accepted: " in str(info.value)



def _ids_of_b(worker_for, with_a):
    """The restarted worker of queue 'b' and b's flow job ids, with or without queue 'a' drawing first."""
    from bullmq import FlowProducer

    with jobsim.Simulation([worker_for(minute, "a"), worker_for(minute, "b")], start=START, seed=5) as sim:
        flows = FlowProducer({"connection": NOWHERE})
        if with_a:  # another queue's flow and crash, before b's
            run(flows.add({"name": "pa", "queueName": "a", "data": {}, "children": [
                {"name": "ca", "queueName": "a", "data": {}}]}))
            sim.crash_worker(at="2025-03-01T00:00:10Z", function="a")
        tree = run(flows.add({"name": "pb", "queueName": "b", "data": {}, "children": [
            {"name": "cb", "queueName": "b", "data": {}}]}))
        sim.crash_worker(at="2025-03-01T00:00:20Z", function="b")
        sim.run_until_idle()
        restarted = next(w.id for w in sim.bullmq.workers if w.name == "b")
    assert [type(a.error).__name__ for r in sim.runs("b") for a in r.attempts].count("WorkerCrashed") == 1  # killed
    return restarted, tree["job"].id, [c["job"].id for c in tree["children"]]


def test_another_queue_drawing_first_renames_none_of_this_queues_workers_or_flow_jobs(worker_for):
    # the restarted worker's id came from a generator numbered by restarts across queues, a flow's job ids from
    # one generator of the plugin: a's crash and flow renamed b's worker and jobs
    alone = _ids_of_b(worker_for, False)
    assert _ids_of_b(worker_for, True) == alone
    assert len({alone[0], alone[1], *alone[2]}) == 3


def test_crash_worker_without_a_function_is_refused_when_only_bullmq_jobs_could_be_hit(worker_for, queue):
    """Without function= the crash is for jobsim's engine functions (README): with none it was armed for nothing."""
    worker = worker_for(minute)
    with jobsim.Simulation(worker, start=START) as sim:
        run(queue.add("x", {"n": 1}))
        with pytest.raises(jobsim.UnsupportedFeature) as info:
            sim.crash_worker(at="2025-03-01T00:00:20Z")
        assert str(info.value).startswith("sim.crash_worker() without function= kills an attempt of a function "
                                          "jobsim's engine runs, and this simulation has none")
        assert str(info.value).endswith("; jobsim-bullmq kills a queue's worker mid-job instead: "
                                        "sim.crash_worker(at=..., function=<the queue's name>), and starts a new one "
                                        "(plugins/jobsim-bullmq/README.md, 'A worker process killed mid-job')")
        with pytest.raises(jobsim.UnsupportedFeature) as info:
            sim.downtime("2025-03-01T00:00:10Z", "2025-03-01T00:00:30Z")
        assert str(info.value).startswith("sim.downtime() is not simulated for bullmq functions (their worker is the "
                                          "plugin's own); jobsim-bullmq kills a queue's worker mid-job instead: ")
        sim.crash_worker(at="2025-03-01T00:00:20Z", function="q")  # the queue's worker: taken
        sim.run_until_idle()
    assert attempts(sim)[0] == (0.0, 20.0, "WorkerCrashed")


@pytest.mark.parametrize("fault", [Downtime(start="10s", end="30s"), Duplicate(at="10s")])
def test_a_drawn_fault_value_the_worker_refuses_says_which_kinds_to_draw(worker_for, fault):
    """``js.faults(profile="bullmq")`` draws downtime and duplicates (jobsim's engine suffers them under BullMQ's
    profile); applied to a simulation of bullmq-python workers, the refusal says which kinds to draw instead."""
    worker = worker_for(minute)
    with jobsim.Simulation(worker, start=START) as sim:
        with pytest.raises(jobsim.UnsupportedFeature) as info:
            fault.apply(sim)
        assert info.value.system == "bullmq"
        assert "(their worker is the plugin's own); jobsim-bullmq kills a queue's worker" in str(info.value)
        engine = ", or name a function= that jobsim's engine runs" if fault.kind == "duplicate" else ""
        assert str(info.value).endswith(
            f"'A worker process killed mid-job'){engine}. This {fault!r} is a fault value: if "
            "jobsim.strategies.faults(...) drew it, draw only what this "
            "simulation accepts, e.g. faults(..., kinds=('fail', 'crash')); jobsim.testing.accepted_fault_kinds("
            "simulate, function) lists them"
        )
