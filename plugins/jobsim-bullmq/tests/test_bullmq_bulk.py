"""queue.clean (cleanJobsInSet-3.lua), queue.obliterate (obliterate-2.lua), queue.retryJobs / promoteJobs
(moveJobsToWait-8.lua), job.changePriority (changePriority-7.lua) and queue.getCountsPerPriority
(getCountsPerPriority-2.lua) on the simulated queue."""

from __future__ import annotations

import asyncio
import time

import pytest
from bullmq import FlowProducer, Queue, QueueEvents
from bullmq_support import NOWHERE, START, run

import jobsim
from jobsim.errors import InvalidArgument

SECOND = 1_000_000_000
T0_MS = 1740787200000


async def one_second(job, token):
    await asyncio.sleep(1)
    if job.data.get("fail") and job.attemptsMade < job.data["fail"]:
        raise ValueError("broke")
    return job.name


def listen(names=("waiting", "cleaned", "removed", "paused", "resumed")):
    got = []
    listener = QueueEvents("q", {"connection": NOWHERE})
    for name in names:
        listener.on(name, lambda args, entry_id, name=name: got.append((name, args)))
    return got


def starts(sim, queue="q"):
    return sorted(((a.start_ns - sim.start_ns) / SECOND, r.event.data["name"]) for r in sim.runs(queue)
                  for a in r.attempts)  # fmt: skip


# -- clean ----------------------------------------------------------------------------------------------------------
def test_clean_completed_removes_the_jobs_finished_before_now_minus_grace_oldest_first(worker_for, queue):
    with jobsim.Simulation(worker_for(one_second), start=START) as sim:
        got = listen(("cleaned", "removed"))
        for name in "abcd":
            run(queue.add(name, {}))
        sim.advance("10s")  # finished at 1, 2, 3 and 4 s
        assert run(queue.clean(7500, 0, "completed")) == ["1", "2"]  # finishedOn <= 10 s - 7.5 s
        assert run(queue.clean(0, 1, "completed")) == ["3"]  # the limit: the oldest one
        assert run(queue.clean(0, 0, "failed")) == []
        assert [run(queue.getJobState(i)) for i in "1234"] == ["unknown", "unknown", "unknown", "completed"]
    assert got == [("cleaned", {"count": "2"}), ("cleaned", {"count": "1"}), ("cleaned", {"count": "0"})]
    assert [r.status for r in sim.runs("q")] == ["completed"] * 4  # a finished run stays finished
    assert "q#1 removed from queue 'q' (queue.clean())" in sim.timeline()


def test_clean_wait_reads_only_the_oldest_limit_jobs_and_keeps_those_within_the_grace(worker_for, queue):
    """``cleanList``: with a limit, ``LRANGE wait -limit -1`` (the oldest), read left to right; the grace compares
    each job's ``timestamp`` (it never ran) with now - grace."""
    with jobsim.Simulation(worker_for(one_second), start=START) as sim:
        run(queue.pause())
        for name in "abcd":  # added at 0, 1, 2 and 3 s; wait is [4, 3, 2, 1] (LPUSH)
            run(queue.add(name, {}))
            sim.advance("1s")
        assert run(queue.clean(2500, 3, "wait")) == ["2", "1"]  # reads [3, 2, 1]: 3 (added at 2 s) is too recent
        assert run(queue.clean(1500, 0, "wait")) == ["3"]  # added at 2 s <= 4 s - 1.5 s; 4 (3 s) is kept
        run(queue.resume())
        sim.run_until_idle()
    assert starts(sim) == [(4.0, "d")]
    assert [r.status for r in sim.runs("q")] == ["cancelled", "cancelled", "cancelled", "completed"]


def test_clean_delayed_and_prioritized_keep_a_job_schedulers_job(worker_for, queue):
    with jobsim.Simulation(worker_for(one_second), start=START) as sim:
        run(queue.pause())
        run(queue.add("later", {}, {"delay": 60_000, "deduplication": {"id": "nightly"}}))
        run(queue.add("urgent", {}, {"priority": 1}))
        run(queue.upsertJobScheduler("tick", {"every": 60_000, "startDate": T0_MS + 30_000}, "tick"))
        sim.advance("5s")
        assert run(queue.clean(10_000, 0, "delayed")) == []  # added 5 s ago: within the grace
        assert run(queue.getDeduplicationJobId("nightly")) == "1"
        assert run(queue.clean(0, 0, "delayed")) == ["1"]  # the scheduler's job stays
        assert run(queue.getDeduplicationJobId("nightly")) is None  # freed with its holder
        assert run(queue.clean(0, 0, "prioritized")) == ["2"]
        assert sim.bullmq.counts("q")["delayed"] == 1


def test_clean_active_removes_only_a_job_whose_lock_is_gone(worker_for, queue):
    with jobsim.Simulation(worker_for(one_second), start=START) as sim:
        run(queue.add("a", {}))
        sim.bullmq.crash_worker("2025-03-01T00:00:00.5Z", "q", restart=None)  # the job stays active, locked
        sim.advance("10s")
        assert run(queue.clean(0, 0, "active")) == []  # its lock lasts 30 s (lockDuration) from 0 s
        sim.advance("21s")
        assert run(queue.clean(0, 0, "active")) == ["1"]
        assert sim.bullmq.counts("q")["active"] == 0
    (r,) = sim.runs("q")
    assert r.status == "cancelled"


@pytest.mark.filterwarnings("ignore::jobsim.PendingWorkWarning")  # closes with jobs it added unrun, on purpose
def test_cleaning_the_last_pending_child_deletes_its_parent_in_the_same_queue(worker_for, queue):
    """``removeParentDependencyKey`` with ``hard``: a parent of the same queue waiting for that child is deleted; one
    of another queue goes to the tail of its wait list, with no event."""
    flow = {"name": "parent", "queueName": "q", "children": [{"name": "c1", "queueName": "q"},
                                                              {"name": "c2", "queueName": "q"}]}  # fmt: skip
    other = {"name": "boss", "queueName": "other", "children": [{"name": "c3", "queueName": "q"}]}
    with jobsim.Simulation(worker_for(one_second), start=START) as sim:
        sim.leave_unread("other")  # no worker reads it, on purpose (no UnreadQueueWarning)
        run(queue.pause())
        tree = run(FlowProducer({"connection": NOWHERE}).add(flow))
        boss = run(FlowProducer({"connection": NOWHERE}).add(other))
        children = [*(c["job"].id for c in tree["children"]), boss["children"][0]["job"].id]
        assert sorted(run(queue.clean(0, 0, "wait"))) == sorted(children)
        assert run(queue.getJobState(tree["job"].id)) == "unknown"
        assert run(Queue("other", {"connection": NOWHERE}).getJobState(boss["job"].id)) == "waiting"
        assert sim.bullmq.counts("q")["waiting-children"] == 0
    assert {r.event.data["name"]: r.status for r in sim.runs("q")}["parent"] == "cancelled"


def test_clean_refuses_what_bullmq_would_silently_ignore(worker_for, queue):
    with jobsim.Simulation(worker_for(one_second), start=START):
        with pytest.raises(InvalidArgument, match=r"queue.clean\(type\)='waiting' .*does not map 'waiting' to 'wait'"):
            run(queue.clean(0, 0, "waiting"))
        with pytest.raises(InvalidArgument, match=r"queue.clean\(grace\)=-1 is not valid: an int of milliseconds"):
            run(queue.clean(-1, 0, "completed"))
        with pytest.raises(InvalidArgument, match=r"queue.clean\(limit\)=1.5 is not valid"):
            run(queue.clean(0, 1.5, "completed"))


# -- obliterate -----------------------------------------------------------------------------------------------------
def test_obliterate_refuses_with_an_active_job_and_with_force_deletes_every_job_and_key(worker_for, queue):
    errors = []
    worker = worker_for(one_second)
    worker.on("error", lambda error, *args: errors.append(str(error)))
    with jobsim.Simulation(worker, start=START) as sim:
        got = listen(("paused", "resumed", "removed", "cleaned", "added"))
        for name in "abc":
            run(queue.add(name, {}))
        run(queue.add("later", {}, {"delay": 60_000, "deduplication": {"id": "d"}}))
        run(queue.upsertJobScheduler("tick", {"every": 60_000, "startDate": T0_MS + 30_000}, "tick"))
        run(queue.setGlobalConcurrency(3))
        sim.advance("1.5s")  # a done, b active
        with pytest.raises(Exception, match=r"^Cannot obliterate queue with active jobs$"):
            run(queue.obliterate())
        assert run(queue.isPaused()) is True  # queue.obliterate pauses first
        run(queue.obliterate(force=True))
        assert sim.bullmq.counts("q") == dict.fromkeys(
            ("active", "completed", "delayed", "failed", "prioritized", "waiting", "waiting-children"), 0)
        assert run(queue.isPaused()) is False  # meta is deleted
        assert run(queue.getJobSchedulers()) == [] and run(queue.getGlobalConcurrency()) is None
        assert run(queue.getDeduplicationJobId("d")) is None
        assert run(queue.add("again", {})).id == "1"  # the id counter is gone too
        sim.advance("5s")
    # b's processor ran on: its end finds job 2 gone (bullmq's worker reports it as an error)
    assert errors == ["Missing key for job 2. moveToFinished"]
    assert [(r.event.data["name"], r.status) for r in sim.runs("q")] == [
        ("a", "completed"), ("b", "cancelled"), ("c", "cancelled"), ("later", "cancelled"), ("tick", "cancelled"),
        ("again", "completed")]  # fmt: skip
    assert starts(sim) == [(0.0, "a"), (1.0, "b"), (2.0, "again")]
    added = [("added", {"jobId": i, "name": n}) for i, n in (("1", "a"), ("2", "b"), ("3", "c"), ("4", "later"))]
    # the "added" of the new job 1 is not heard: the new stream's first ids (1.5 s, -0 and -1) are not above the
    # id the QueueEvents read last (the second "paused", 1.5 s -1), as with XREAD on a real Redis
    assert got == [*added, ("added", {"jobId": f"repeat:tick:{T0_MS + 30_000}", "name": "tick"}), ("paused", {}),
                   ("paused", {})]  # fmt: skip
    assert "queue 'q' obliterated: its jobs and keys deleted" in sim.timeline()


def test_obliterate_leaves_a_parent_waiting_for_children_of_another_queue(worker_for, queue):
    """obliterate-2.lua never reads waiting-children: such a parent stays."""
    flow = {"name": "parent", "queueName": "q", "children": [{"name": "c", "queueName": "other"}]}
    with jobsim.Simulation(worker_for(one_second), start=START) as sim:
        sim.leave_unread("other")  # no worker reads it, on purpose (no UnreadQueueWarning)
        tree = run(FlowProducer({"connection": NOWHERE}).add(flow))
        run(queue.obliterate())
        assert run(queue.getJobState(tree["job"].id)) == "waiting-children"
        assert sim.bullmq.counts("q")["waiting-children"] == 1


def test_obliterate_takes_force_as_a_bool(worker_for, queue):
    with jobsim.Simulation(worker_for(one_second), start=START), pytest.raises(
            InvalidArgument, match=r"queue.obliterate\(force\)=\{'force': False\} is not valid"):  # fmt: skip
        run(queue.obliterate({"force": False}))


# -- retryJobs / promoteJobs ----------------------------------------------------------------------------------------
def test_retry_jobs_moves_the_failed_jobs_finished_by_the_timestamp_in_batches_of_count(worker_for, queue):
    with jobsim.Simulation(worker_for(one_second), start=START) as sim:
        got = listen(("waiting",))
        for name in "abc":
            run(queue.add(name, {"fail": 1}))
        sim.advance("10s")  # failed at 1, 2 and 3 s
        run(queue.retryJobs({"count": 1, "timestamp": T0_MS + 2000}))
        assert sim.bullmq.counts("q")["failed"] == 1
        job = run(queue.getJob("1"))
        assert job.failedReason is None and job.finishedOn == 0 and job.attemptsMade == 1  # attempts kept
        sim.run_until_idle()
        run(queue.retryJobs({"state": "completed"}))  # every completed job (count 1000, now)
        sim.run_until_idle()
    assert got[3:] == [("waiting", {"jobId": "1", "prev": "failed"}), ("waiting", {"jobId": "2", "prev": "failed"}),
                       ("waiting", {"jobId": "1", "prev": "completed"}),
                       ("waiting", {"jobId": "2", "prev": "completed"})]  # fmt: skip
    assert starts(sim) == [(0.0, "a"), (1.0, "b"), (2.0, "c"), (10.0, "a"), (11.0, "b"), (12.0, "a"), (13.0, "b")]
    assert [r.status for r in sim.runs("q")] == ["completed", "completed", "failed"]
    assert "q#1 retried from failed (queue.retryJobs): back to wait on queue 'q'" in sim.timeline()


def test_retry_jobs_puts_a_prioritized_job_in_the_wait_list(worker_for, queue):
    """moveJobsToWait-8.lua: "Does not support jobs with priorities" -- LPUSH to wait, whatever the priority."""
    with jobsim.Simulation(worker_for(one_second), start=START) as sim:
        run(queue.add("p", {}, {"priority": 5}))
        sim.advance("2s")
        run(queue.pause())
        run(queue.add("q1", {}, {"priority": 1}))
        run(queue.retryJobs({"state": "completed"}))
        assert run(queue.getCountsPerPriority([0, 1, 5])) == {"0": 1, "1": 1, "5": 0}
        run(queue.resume())
        sim.run_until_idle()
    assert starts(sim) == [(0.0, "p"), (2.0, "p"), (3.0, "q1")]  # the wait list before prioritized jobs


def test_retry_jobs_of_a_flow_child_makes_it_pending_for_its_parent_again(worker_for, queue):
    async def processor(job, token):
        if job.name == "parent":
            return sorted((await job.getChildrenValues()).values())
        return f"{job.name}@{int(time.time())}"  # bullmq's clock is the simulation's

    flow = {"name": "parent", "queueName": "q", "children": [{"name": "c", "queueName": "q"}]}
    with jobsim.Simulation(worker_for(processor), start=START) as sim:
        tree = run(FlowProducer({"connection": NOWHERE}).add(flow))
        sim.run_until_idle()
        sim.advance("5s")
        parent = tree["job"]
        assert run(parent.getChildrenValues()) == {f"bull:q:{tree['children'][0]['job'].id}": "c@1740787200"}
        run(queue.pause())
        run(queue.retryJobs({"state": "completed", "timestamp": T0_MS}))  # the child finished at 0; so did parent
        assert run(parent.getChildrenValues()) == {}
        assert run(queue.getJobState(parent.id)) == "waiting"  # both were finished at T0: both retried
        run(queue.resume())
        sim.run_until_idle()
        assert run(parent.getChildrenValues()) == {f"bull:q:{tree['children'][0]['job'].id}": "c@1740787205"}


def test_promote_jobs_moves_every_delayed_job_to_wait_in_due_order(worker_for, queue):
    with jobsim.Simulation(worker_for(one_second), start=START) as sim:
        got = listen(("waiting",))
        for name, delay in (("five", 5000), ("three", 3000), ("four", 4000)):
            run(queue.add(name, {}, {"delay": delay, "priority": 2}))
        run(queue.promoteJobs({"count": 2}))  # batches of 2 until one comes back short
        assert sim.bullmq.counts("q")["waiting"] == 3  # the priority is ignored: all in the wait list
        sim.run_until_idle()
    assert [a for _, a in got] == [{"jobId": i, "prev": "delayed"} for i in ("2", "3", "1")]
    assert starts(sim) == [(0.0, "three"), (1.0, "four"), (2.0, "five")]
    assert "q#2 promoted from delayed (queue.promoteJobs): back to wait on queue 'q'" in sim.timeline()


def test_retry_and_promote_refuse_bad_options(worker_for, queue):
    with jobsim.Simulation(worker_for(one_second), start=START):
        with pytest.raises(InvalidArgument, match=r"queue.retryJobs\(\{'state'\}\)='delayed' is not valid: 'failed'"):
            run(queue.retryJobs({"state": "delayed"}))
        with pytest.raises(InvalidArgument, match=r"queue.retryJobs\(\{'count'\}\)=-1 is not valid: an int >= 1"):
            run(queue.retryJobs({"count": -1}))
        with pytest.raises(InvalidArgument, match=r"queue.retryJobs\(\{'timestamp'\}\)='now' is not valid"):
            run(queue.retryJobs({"timestamp": "now"}))
        with pytest.raises(InvalidArgument, match=r"queue.promoteJobs\(\{'count'\}\)=2.0 is not valid"):
            run(queue.promoteJobs({"count": 2.0}))


# -- changePriority / getCountsPerPriority ----------------------------------------------------------------------------
def test_change_priority_requeues_a_waiting_job_with_its_new_priority(worker_for, queue):
    with jobsim.Simulation(worker_for(one_second), start=START) as sim:
        got = listen(("waiting", "added", "removed"))
        run(queue.pause())
        a = run(queue.add("a", {}))
        b = run(queue.add("b", {}, {"priority": 5}))
        c = run(queue.add("c", {}, {"priority": 5}))
        run(queue.add("d", {}, {"priority": 2}))
        e = run(queue.add("e", {}, {"priority": 4}))
        seen = len(got)
        run(c.changePriority({"priority": 1}))  # behind nothing: the only priority-1 job
        run(b.changePriority({"priority": 2, "lifo": True}))  # score 2 * 2^32: ahead of d
        run(a.changePriority({"priority": 3}))  # out of the wait list
        run(e.changePriority({"priority": 0, "lifo": True}))  # to the wait list, next (RPUSH)
        assert c.priority == 1 and len(got) == seen  # no event
        assert run(queue.getCountsPerPriority([0, 1, 2, 3, 4, 5])) == {"0": 1, "1": 1, "2": 2, "3": 1, "4": 0,
                                                                       "5": 0}  # fmt: skip
        run(queue.resume())
        sim.run_until_idle()
    assert [n for _, n in starts(sim)] == ["e", "c", "b", "d", "a"]
    assert "q#2 priority changed to 2 (lifo): re-queued on queue 'q'" in sim.timeline()


def test_change_priority_of_a_delayed_job_applies_when_it_is_promoted_and_a_missing_job_is_bullmqs_error(
        worker_for, queue):  # fmt: skip
    with jobsim.Simulation(worker_for(one_second), start=START) as sim:
        later = run(queue.add("later", {}, {"delay": 5000}))
        run(queue.add("low", {}, {"delay": 5000, "priority": 9}))
        run(later.changePriority({"priority": 3}))
        assert run(queue.getJobState(later.id)) == "delayed"
        sim.run_until_idle()
        run(later.remove())
        with pytest.raises(TypeError, match=r"^Missing key for job 1. changePriority$"):
            run(later.changePriority({"priority": 1}))
        with pytest.raises(InvalidArgument, match=r"job.changePriority\(\{'priority'\}\)=-1 is not valid: an int "
                                                  r"from 0 \(no priority\) to 2097152"):  # fmt: skip
            run(later.changePriority({"priority": -1}))
        with pytest.raises(InvalidArgument, match=r"job.changePriority\(\{'lifo'\}\)='yes' is not valid"):
            run(later.changePriority({"priority": 1, "lifo": "yes"}))
        with pytest.raises(InvalidArgument, match=r"queue.getCountsPerPriority\(priorities\)='1' is not valid"):
            run(queue.getCountsPerPriority(["1"]))
    assert starts(sim) == [(5.0, "later"), (6.0, "low")]


# -- drain / job.retry of flow children (no longer refused) ---------------------------------------------------------
def test_drain_removes_flow_children_and_deletes_their_parent_of_the_same_queue(worker_for, queue):
    children = [{"name": "c1", "queueName": "q"}, {"name": "c2", "queueName": "q", "opts": {"priority": 2}}]
    flow = {"name": "parent", "queueName": "q", "children": children}
    with jobsim.Simulation(worker_for(one_second), start=START) as sim:
        run(queue.pause())
        tree = run(FlowProducer({"connection": NOWHERE}).add(flow))
        run(queue.drain())
        assert run(queue.getJobState(tree["job"].id)) == "unknown"
        assert sim.bullmq.counts("q") == dict.fromkeys(
            ("active", "completed", "delayed", "failed", "prioritized", "waiting", "waiting-children"), 0)
    assert {r.status for r in sim.runs("q")} == {"cancelled"}


def test_job_retry_of_a_flow_child_makes_it_pending_for_its_parent_again(worker_for, queue):
    async def processor(job, token):
        if job.name == "parent":
            return sorted((await job.getChildrenValues()).values())
        if job.attemptsMade == 0:
            raise ValueError("child broke")
        return "fixed"

    flow = {"name": "parent", "queueName": "q", "children": [
        {"name": "c", "queueName": "q", "opts": {"failParentOnFailure": False, "ignoreDependencyOnFailure": True}}]}
    with jobsim.Simulation(worker_for(processor), start=START) as sim:
        tree = run(FlowProducer({"connection": NOWHERE}).add(flow))
        sim.run_until_idle()  # c fails (ignored: the parent runs without it)
        parent, child = tree["job"], tree["children"][0]["job"]
        assert run(queue.getJobState(parent.id)) == "completed"
        held = sim.bullmq.store.queues["bull:q"].jobs[parent.id]  # bullmq-python has no getFailedChildrenValues
        assert (held.failed_children, held.dependencies) == ({f"bull:q:{child.id}": "child broke"}, set())
        run(child.retry("failed"))
        assert (held.failed_children, held.dependencies) == ({}, {f"bull:q:{child.id}"})
        sim.run_until_idle()
        assert run(queue.getJobState(child.id)) == "completed"
        assert run(parent.getChildrenValues()) == {f"bull:q:{child.id}": "fixed"}
        assert run(queue.getJobState(parent.id)) == "completed"  # it does not run again
    assert {r.event.data["name"]: len(r.attempts) for r in sim.runs("q")} == {"parent": 1, "c": 2}


# -- trimEvents -----------------------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::jobsim.PendingWorkWarning")  # closes with jobs it added unrun, on purpose
def test_trim_events_to_zero_empties_the_stream_and_a_longer_length_keeps_it(worker_for, queue):
    """XTRIM MAXLEN ~: whole stream nodes only, so the exact cases are 0 (all) and >= the length (none)."""
    from jobsim.errors import UnsupportedFeature

    with jobsim.Simulation(worker_for(one_second), start=START) as sim:
        for name in "abc":
            run(queue.pause())  # no worker takes them: 3 x (paused, added, waiting) = 9 entries
            run(queue.add(name, {}))
        assert run(queue.trimEvents(9)) == 0
        with pytest.raises(UnsupportedFeature, match=r"trimEvents\(4\) of queue 'q' \(a stream of 9 entries\)"):
            run(queue.trimEvents(4))
        with pytest.raises(InvalidArgument, match=r"queue.trimEvents\(maxLength\)=-1 is not valid"):
            run(queue.trimEvents(-1))
        assert run(queue.trimEvents(0)) == 9
        got = []
        replay = QueueEvents("q", {"connection": NOWHERE, "lastEventId": "0", "autorun": False})
        replay.on("added", lambda args, entry_id: got.append((args["jobId"], entry_id)))
        replay.on("paused", lambda args, entry_id: got.append(("paused", entry_id)))
        sim.bullmq.listeners.start(replay)  # what its run() does: the 9 entries are gone, nothing is replayed
        run(queue.add("d", {}))
    assert got == [("4", f"{T0_MS}-9")]  # the ids go on from the stream's last one
