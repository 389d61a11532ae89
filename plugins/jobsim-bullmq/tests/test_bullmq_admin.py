"""job.promote (promote-9.lua), job.retry (reprocessJob-9.lua), job.remove (removeJob-2.lua) and queue.drain
(drain-5.lua) on the simulated queue."""

from __future__ import annotations

import asyncio

import pytest
from bullmq import QueueEvents
from bullmq_support import NOWHERE, START, run

import jobsim
from jobsim.errors import UnsupportedFeature

SECOND = 1_000_000_000
T0_MS = 1740787200000


async def quick(job, token):
    if job.data.get("fail") and job.attemptsMade < job.data["fail"]:
        raise ValueError("broke")
    await asyncio.sleep(1)
    return job.name


def starts(sim, queue="q"):
    return [(r.id, (a.start_ns - sim.start_ns) / SECOND) for r in sim.runs(queue) for a in r.attempts]


def events(names):
    got = []
    listener = QueueEvents("q", {"connection": NOWHERE})
    for name in names:
        listener.on(name, lambda args, entry_id, name=name: got.append((name, args)))
    return got


def test_promote_moves_a_delayed_job_to_wait_now(worker_for, queue):
    with jobsim.Simulation(worker_for(quick), start=START) as sim:
        got = events(["waiting"])
        job = run(queue.add("later", {}, {"delay": 60_000}))
        sim.advance("5s")
        run(job.promote())
        assert job.delay == 0 and sim.bullmq.state("1") in ("waiting", "active")
        with pytest.raises(TypeError, match=r"Job 1 is not in the delayed state. promote"):
            run(job.promote())
        sim.run_until_idle()
    assert starts(sim) == [("1", 5.0)]
    assert got == [("waiting", {"jobId": "1", "prev": "delayed"})]


def test_retry_puts_a_failed_job_back_to_wait(worker_for, queue):
    with jobsim.Simulation(worker_for(quick), start=START) as sim:
        got = events(["waiting"])
        run(queue.add("x", {"fail": 1}))
        sim.advance("10s")
        job = run(queue.getJob("1"))
        assert job.failedReason == "broke" and job.attemptsMade == 1
        with pytest.raises(TypeError, match=r"Job 1 is not in the completed state. reprocessJob"):
            run(job.retry("completed"))
        run(job.retry("failed"))
        sim.advance("10s")
        again = run(queue.getJob("1"))
        assert again.returnvalue == "x" and again.failedReason is None and again.attemptsMade == 2
        run(again.retry("completed", {"resetAttemptsMade": True}))  # attemptsMade 0: the processor fails again
        sim.run_until_idle()
        assert run(queue.getJob("1")).attemptsMade == 1
    (r,) = sim.runs("q")
    assert r.status == "failed" and starts(sim) == [("1", 0.0), ("1", 10.0), ("1", 20.0)]
    assert got[-2:] == [("waiting", {"jobId": "1", "prev": "failed"}), ("waiting", {"jobId": "1", "prev": "completed"})]
    assert "q#1 retried from failed (job.retry)" in sim.timeline()


def test_remove_deletes_a_job_unless_it_is_locked(worker_for, queue):
    with jobsim.Simulation(worker_for(quick), start=START) as sim:
        got = events(["removed"])
        active = run(queue.add("a", {}, {"deduplication": {"id": "a"}}))
        waiting = run(queue.add("b", {}))
        sim.advance("0.5s")
        with pytest.raises(Exception, match="Job 1 could not be removed because it is locked by another worker"):
            run(active.remove())
        run(waiting.remove())
        assert run(queue.getJobState("2")) == "unknown"
        sim.advance("1s")
        run(active.remove())  # completed: its lock is gone
        sim.run_until_idle()
    assert [r.status for r in sim.runs("q")] == ["completed", "cancelled"]
    assert got == [("removed", {"jobId": "2", "prev": "wait"}), ("removed", {"jobId": "1", "prev": "completed"})]
    assert starts(sim) == [("1", 0.0)]


@pytest.mark.filterwarnings("ignore::jobsim.PendingWorkWarning")  # closes with jobs it added unrun, on purpose
def test_removing_a_deduplication_holder_frees_its_id(worker_for, queue):
    with jobsim.Simulation(worker_for(quick), start=START):
        job = run(queue.add("a", {}, {"delay": 5000, "deduplication": {"id": "d"}}))
        run(job.remove())
        assert run(queue.getDeduplicationJobId("d")) is None
        assert run(queue.add("a", {}, {"deduplication": {"id": "d"}})).id == "2"


def test_drain_removes_waiting_and_prioritized_jobs_and_with_delayed_the_delayed_ones(worker_for, queue):
    with jobsim.Simulation(worker_for(quick), start=START) as sim:
        run(queue.pause())
        for name, opts in (("w", {}), ("p", {"priority": 3}), ("d", {"delay": 1000})):
            run(queue.add(name, {}, opts))
        run(queue.upsertJobScheduler("tick", {"every": 60_000, "startDate": T0_MS + 30_000}, "tick"))
        run(queue.drain())
        counts = sim.bullmq.counts("q")
        assert (counts["waiting"], counts["prioritized"], counts["delayed"]) == (0, 0, 2)
        run(queue.drain(True))
        assert sim.bullmq.counts("q")["delayed"] == 1  # the scheduler's job stays
        run(queue.resume())
        sim.advance("1m")
    assert [(r.event.data["name"], r.status) for r in sim.runs("q")] == [
        ("w", "cancelled"), ("p", "cancelled"), ("d", "cancelled"), ("tick", "completed"), ("tick", "delayed")]
    assert starts(sim)[0][1] == 30.0
    assert "removed from queue 'q' (queue.drain())" in sim.timeline()


@pytest.mark.filterwarnings("ignore::jobsim.PendingWorkWarning")  # closes with jobs it added unrun, on purpose
def test_drain_with_a_scheduler_job_waiting_ahead_is_refused(worker_for, queue):
    with jobsim.Simulation(worker_for(quick), start=START):
        run(queue.pause())
        run(queue.add("w", {}))
        run(queue.upsertJobScheduler("tick", {"every": 60_000}, "tick"))  # waits at the head, ahead of "w"
        with pytest.raises(UnsupportedFeature, match=r"LTRIM wait n -1"):
            run(queue.drain())


def test_removing_a_flow_child_releases_its_parent_and_removing_a_parent_takes_its_children(worker_for, queue):
    """removeParentDependencyKey: the parent with no dependency left goes to the tail of wait (_moveParentToWait)."""
    from bullmq import FlowProducer

    async def processor(job, token):
        if job.name == "parent":
            return sorted((await job.getChildrenValues()).values())
        await asyncio.sleep(job.data["s"])
        return job.name

    flow = {"name": "parent", "queueName": "q", "children": [
        {"name": "a", "queueName": "q", "data": {"s": 1}}, {"name": "b", "queueName": "q", "data": {"s": 5}}]}
    with jobsim.Simulation(worker_for(processor), start=START) as sim:
        tree = run(FlowProducer({"connection": NOWHERE}).add(flow))
        sim.advance("2s")  # a done at 1 s; b running until 6 s
        b = next(c["job"] for c in tree["children"] if c["job"].name == "b")
        with pytest.raises(Exception, match="locked"):
            run(tree["job"].remove())  # a pending child (b) holds a lock
        sim.advance("5s")  # 7 s: the first flow is done
        flow["children"][1]["opts"] = {"delay": 60_000}
        other = run(FlowProducer({"connection": NOWHERE}).add(flow))
        sim.advance("2s")  # a done at 8 s; b delayed: the parent still waits for it
        assert run(other["job"].getState()) == "waiting-children"
        run(next(c["job"] for c in other["children"] if c["job"].name == "b").remove())  # its last dependency
        assert run(other["job"].getState()) == "waiting"
        sim.run_until_idle()
        assert run(other["job"].getState()) == "completed"
        run(tree["job"].remove())  # completed, with its completed children
        assert {run(queue.getJobState(j.id)) for j in (tree["job"], b)} == {"unknown"}
    parents = [r for r in sim.runs("q") if r.event.data["name"] == "parent"]
    assert [((r.attempts[0].start_ns - sim.start_ns) / SECOND, r.output) for r in parents] == [
        (6.0, ["a", "b"]), (9.0, ["a"])]


REMOVE_FLOW = """
import asyncio, sys
from bullmq import FlowProducer, Queue, Worker
import jobsim
NOWHERE = "redis://127.0.0.1:1/0"
async def quick(job, token):
    await asyncio.sleep(1)
with jobsim.Simulation(Worker("q", quick, {"autorun": False, "connection": NOWHERE}), start="2025-03-01T00:00:00Z",
                       seed=3) as sim:
    children = [{"name": f"c{i}", "queueName": "q", "data": {}, "opts": {"delay": 5000}} for i in range(8)]
    tree = asyncio.run(FlowProducer({"connection": NOWHERE}).add({"name": "p", "queueName": "q", "data": {},
                                                                   "children": children}))
    sim.advance("1s")
    asyncio.run(tree["job"].remove({"removeChildren": True}))
print([r.data["run"] for r in sim.trace if r.kind == "bullmq.removed"])
"""


def test_remove_with_children_takes_the_pending_children_in_one_order_whatever_the_hash_seed():
    """``removeJobChildren`` reads the pending children with ``SMEMBERS`` (unspecified order); the simulation takes
    them by key, so the same seed gives the same ``removed`` order in any process (it followed ``PYTHONHASHSEED``)."""
    import os
    import subprocess
    import sys

    outputs = set()
    for hash_seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": os.pathsep.join(sys.path)}
        done = subprocess.run([sys.executable, "-c", REMOVE_FLOW], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        outputs.add(done.stdout.strip().splitlines()[-1])
    assert len(outputs) == 1, outputs  # one order, whatever the hash seed
    (removed,) = outputs
    import ast

    ids = ast.literal_eval(removed)  # the list the child process printed
    assert len(ids) == 9 and ids[:8] == sorted(ids[:8])  # the children by key, then the parent
