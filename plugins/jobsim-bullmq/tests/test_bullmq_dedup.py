"""opts["deduplication"] as bullmq 3.4.4's deduplicateJob (addStandardJob-9.lua:93-306, moveToFinished-14.lua:501-516,
823-868, 947-953) decides: simple, throttle, extend, replace (debounce) and keepLastIfActive."""

from __future__ import annotations

import asyncio

from bullmq import QueueEvents
from bullmq_support import NOWHERE, START, run

import jobsim

SECOND = 1_000_000_000


def starts(sim, queue="q"):
    """(job id, data, seconds after START) of every attempt, in trace order."""
    data = {r.id: r.event.data["data"] for r in sim.runs(queue)}
    return [(rec.data["run"], data[rec.data["run"]], (rec.at - sim.start_ns) / SECOND)
            for rec in sim.trace.records if rec.kind == "attempt"]  # fmt: skip


def listen(names=("deduplicated", "removed")):
    events = QueueEvents("q", {"connection": NOWHERE})
    got = []
    for name in names:
        events.on(name, lambda args, entry_id, name=name: got.append((name, args, entry_id)))
    return got


async def takes_2s(job, token):
    await asyncio.sleep(2)
    return job.data


def test_simple_mode_ignores_duplicates_until_the_job_completes(worker_for, queue):
    """No ttl: SET NX without expiry (:220); the key stays through a retry and goes when the job completes (:947)."""
    async def flaky(job, token):
        await asyncio.sleep(2)
        if job.data["n"] == 1 and job.attemptsMade == 0:
            raise ValueError("first attempt fails")
        return job.data

    with jobsim.Simulation(worker_for(flaky), start=START) as sim:
        got = listen()
        opts = {"deduplication": {"id": "report"}, "attempts": 2, "backoff": 1000}
        first = run(queue.add("r", {"n": 1}, opts))
        assert run(queue.add("r", {"n": 2}, opts)).id == "1"
        sim.advance("2.5s")  # failed at 2 s, retried at 3 s: the key is still held
        assert run(queue.add("r", {"n": 3}, opts)).id == "1"
        assert run(queue.getDeduplicationJobId("report")) == "1"
        sim.advance("3s")  # completes at 5 s
        assert run(queue.getDeduplicationJobId("report")) is None
        fourth = run(queue.add("r", {"n": 4}, opts))
        sim.run_until_idle()
    assert (first.id, fourth.id) == ("1", "4")  # the id counter moved for every add (INCR before deduplicating)
    assert starts(sim) == [("1", {"n": 1}, 0.0), ("1", {"n": 1}, 3.0), ("4", {"n": 4}, 5.5)]
    assert [(name, args, entry_id) for name, args, entry_id in got] == [
        ("deduplicated", {"jobId": "1", "deduplicationId": "report", "deduplicatedJobId": "2"}, "1740787200000-2"),
        ("deduplicated", {"jobId": "1", "deduplicationId": "report", "deduplicatedJobId": "3"}, "1740787202500-0"),
    ]
    assert "job '2' deduplicated in favour of '1' (deduplication id 'report'" in sim.timeline()


def test_throttle_mode_keeps_the_key_for_its_ttl_whatever_the_job_does(worker_for, queue):
    """ttl: SET NX PX ttl (:216); finalization deletes only keys without expiry (moveToFinished-14.lua:509-514)."""
    with jobsim.Simulation(worker_for(takes_2s), start=START) as sim:
        opts = {"deduplication": {"id": "t", "ttl": 5000}}
        ids = [run(queue.add("t", {"n": 0}, opts)).id]
        sim.advance("4.999s")  # completed at 2 s; the key lives until 5 s
        ids.append(run(queue.add("t", {"n": 1}, opts)).id)
        assert run(queue.getDeduplicationJobId("t")) == "1"
        sim.advance("1ms")
        assert run(queue.getDeduplicationJobId("t")) is None
        ids.append(run(queue.add("t", {"n": 2}, opts)).id)
        sim.run_until_idle()
    assert ids == ["1", "1", "3"]
    assert starts(sim) == [("1", {"n": 0}, 0.0), ("3", {"n": 2}, 5.0)]


def test_debounce_replace_and_extend_runs_only_the_last_add(worker_for, queue):
    """delay + ttl + extend + replace: each add removes the still-delayed holder (removeDelayedJob, :245-256) and
    takes the key with a fresh ttl; the last one runs its delay after it was added."""
    with jobsim.Simulation(worker_for(takes_2s), start=START) as sim:
        got = listen()
        opts = {"delay": 5000, "deduplication": {"id": "d", "ttl": 5000, "extend": True, "replace": True}}
        for n in range(3):
            run(queue.add("save", {"n": n}, opts))
            sim.advance("2s")
        sim.run_until_idle()
    assert starts(sim) == [("3", {"n": 2}, 9.0)]  # added at 4 s, delayed 5 s
    assert [r.status for r in sim.runs("q")] == ["cancelled", "cancelled", "completed"]
    assert [(name, args) for name, args, _ in got] == [
        ("removed", {"jobId": "1", "prev": "delayed"}),
        ("deduplicated", {"jobId": "2", "deduplicationId": "d", "deduplicatedJobId": "1"}),
        ("removed", {"jobId": "2", "prev": "delayed"}),
        ("deduplicated", {"jobId": "3", "deduplicationId": "d", "deduplicatedJobId": "2"}),
    ]
    assert [e for _, _, e in got][::2] == ["1740787202000-0", "1740787204000-0"]


def test_extend_without_replace_keeps_the_first_job_and_restarts_the_window(worker_for, queue):
    """ttl + extend: a duplicate sets the key again with PX ttl (:196-203); the first job keeps its place."""
    with jobsim.Simulation(worker_for(takes_2s), start=START) as sim:
        opts = {"delay": 1000, "deduplication": {"id": "e", "ttl": 4000, "extend": True}}
        ids = [run(queue.add("x", {"n": 0}, opts)).id]
        sim.advance("3s")
        ids.append(run(queue.add("x", {"n": 1}, opts)).id)  # the key now lives until 7 s
        sim.advance("3.5s")
        ids.append(run(queue.add("x", {"n": 2}, opts)).id)  # 6.5 s: still held, extended until 10.5 s
        sim.advance("4s")
        ids.append(run(queue.add("x", {"n": 3}, opts)).id)  # 10.5 s: expired
        sim.run_until_idle()
    assert ids == ["1", "1", "1", "4"]
    assert starts(sim) == [("1", {"n": 0}, 1.0), ("4", {"n": 3}, 11.5)]


def test_replace_keeps_a_holder_that_is_no_longer_delayed(worker_for, queue):
    """replace with the holder active: not removed, its id comes back, no event (:283-290)."""
    with jobsim.Simulation(worker_for(takes_2s), start=START) as sim:
        got = listen()
        opts = {"deduplication": {"id": "r", "replace": True}}
        run(queue.add("x", {"n": 0}, opts))
        sim.advance("1s")
        assert sim.bullmq.state("1") == "active"
        assert run(queue.add("x", {"n": 1}, opts)).id == "1"
        sim.run_until_idle()
    assert starts(sim) == [("1", {"n": 0}, 0.0)]
    assert got == []


def test_keep_last_if_active_adds_the_last_duplicate_when_the_job_finishes(worker_for, queue):
    """keepLastIfActive: while the holder is active the last add is kept in dn:<id> (:135-177) and added, with the id
    it was given, when the holder finishes (requeueDeduplicatedJob, moveToFinished-14.lua:823-868)."""
    with jobsim.Simulation(worker_for(takes_2s), start=START) as sim:
        got = listen()
        opts = {"deduplication": {"id": "k", "keepLastIfActive": True}}
        run(queue.add("x", {"n": 0}, opts))
        assert run(queue.add("x", {"n": 1}, opts)).id == "1"  # waiting, not active: simply ignored
        sim.advance("0.5s")
        assert run(queue.add("x", {"n": 2}, opts)).id == "1"  # active: kept
        assert run(queue.add("x", {"n": 3}, opts)).id == "1"  # the last one wins
        sim.run_until_idle()
        assert run(queue.getDeduplicationJobId("k")) is None
    assert starts(sim) == [("1", {"n": 0}, 0.0), ("4", {"n": 3}, 2.0)]
    assert [args["deduplicatedJobId"] for _, args, _ in got] == ["2", "3", "4"]
    assert "deduplication 'k' (the add kept while its job was active)" in sim.timeline()
