"""QueueEvents in the simulation: each entry the scripts XADD, at its virtual instant, through bullmq-python's own
QueueEvents._dispatch_entry (payloads are the stream's string fields, progress/returnvalue JSON-decoded)."""

from __future__ import annotations

import asyncio

import pytest
from bullmq import QueueEvents, QueueEventsProducer
from bullmq_support import NOWHERE, START, run

import jobsim

EVENTS = ("added", "waiting", "delayed", "active", "progress", "completed", "failed", "retries-exhausted", "drained",
          "stalled", "removed", "duplicated", "paused", "resumed")  # fmt: skip


def listen(events, names=EVENTS):
    got = []
    for name in names:
        events.on(name, lambda *args, name=name: got.append((name, *args)))
    return got


async def work(job, token):
    if job.data.get("fail"):
        await asyncio.sleep(1)
        raise ValueError(f"broke on attempt {job.attemptsMade + 1}")
    await job.updateProgress({"pct": 50})
    await asyncio.sleep(2)
    return {"ok": job.name}


def test_a_job_lifecycle_and_a_retried_failure_as_queue_events_sees_them(worker_for, queue):
    with jobsim.Simulation(worker_for(work), start=START) as sim:
        events = QueueEvents("q", {"connection": NOWHERE})  # autorun (the default): it listens from now
        got = listen(events)
        mine = []
        events.on("completed:1", lambda args, entry_id: mine.append(entry_id))
        run(queue.add("a", {}))
        run(queue.add("b", {"fail": True}, {"delay": 500, "attempts": 2, "backoff": 1000}))
        run(queue.add("a", {}, {"jobId": "1"}))
        sim.run_until_idle()
    assert got == [
        ("added", {"jobId": "1", "name": "a"}, "1740787200000-0"),
        ("waiting", {"jobId": "1"}, "1740787200000-1"),
        ("added", {"jobId": "2", "name": "b"}, "1740787200000-2"),
        ("delayed", {"jobId": "2", "delay": "1740787200500"}, "1740787200000-3"),
        ("duplicated", {"jobId": "1"}, "1740787200000-4"),
        ("active", {"jobId": "1", "prev": "waiting"}, "1740787200000-5"),
        ("progress", {"jobId": "1", "data": {"pct": 50}}, "1740787200000-6"),
        ("completed", {"jobId": "1", "returnvalue": {"ok": "a"}, "prev": "active"}, "1740787202000-0"),
        ("drained", "1740787202000-1"),  # wait, active and prioritized empty: a delayed job does not count
        # the worker (concurrency 1) fetches next once job 1 is done; moveToActive promotes job 2, due at 0.5 s
        ("waiting", {"jobId": "2", "prev": "delayed"}, "1740787202000-2"),
        ("active", {"jobId": "2", "prev": "waiting"}, "1740787202000-3"),
        ("delayed", {"jobId": "2", "delay": "1740787204000"}, "1740787203000-0"),  # the backoff: moveToDelayed
        ("waiting", {"jobId": "2", "prev": "delayed"}, "1740787204000-0"),
        ("active", {"jobId": "2", "prev": "waiting"}, "1740787204000-1"),
        ("failed", {"jobId": "2", "failedReason": "broke on attempt 2", "prev": "active"}, "1740787205000-0"),
        ("retries-exhausted", {"jobId": "2", "attemptsMade": "2"}, "1740787205000-1"),
        ("drained", "1740787205000-2"),
    ]
    assert mine == ["1740787202000-0"]  # the per-job channel "<event>:<jobId>"


@pytest.mark.filterwarnings("ignore::jobsim.PendingWorkWarning")  # closes with jobs it added unrun, on purpose
def test_run_listens_until_close_and_last_event_id_replays_the_stream(worker_for, queue):
    async def scenario(sim):
        await queue.add("a", {})
        await queue.pause()
        late = QueueEvents("q", {"connection": NOWHERE, "autorun": False, "lastEventId": "0"})
        got = listen(late)
        task = asyncio.ensure_future(late.run())
        await asyncio.sleep(0)
        assert late.running and [g[0] for g in got] == ["added", "waiting", "paused"]
        await queue.resume()
        await late.close()
        await task  # run() returns once closed
        await queue.add("b", {})
        return got

    with jobsim.Simulation(worker_for(work), start=START) as sim:
        got = run(scenario(sim))
    assert [g[0] for g in got] == ["added", "waiting", "paused", "resumed"]


@pytest.mark.filterwarnings("ignore::jobsim.PendingWorkWarning")  # closes with jobs it added unrun, on purpose
def test_a_listener_that_raises_stops_its_consumer_with_an_error_event(worker_for, queue):
    errors = []

    def boom(args, entry_id):
        raise RuntimeError("listener broke")

    with jobsim.Simulation(worker_for(work), start=START):
        events = QueueEvents("q", {"connection": NOWHERE})
        events.on("waiting", boom)
        events.on("error", errors.append)
        got = listen(events, ("added",))
        run(queue.add("a", {}))  # the add itself is not disturbed
        run(queue.add("b", {}))
        assert run(queue.getJobCounts("waiting")) == {"waiting": 2}
    assert [str(e) for e in errors] == ["listener broke"]
    assert [g[1]["jobId"] for g in got] == ["1"]  # the consumer stopped at the first 'waiting'


def test_a_producer_publishes_custom_events(worker_for):
    with jobsim.Simulation(worker_for(work), start=START) as sim:
        events = QueueEvents("q", {"connection": NOWHERE})
        got = listen(events, ("report-ready",))
        producer = QueueEventsProducer("q", {"connection": NOWHERE})
        sim.advance("1.5s")
        run(producer.publishEvent({"eventName": "report-ready", "url": "s3://r/1", "pages": 3}))
        with pytest.raises(ValueError, match="requires an 'eventName'"):
            run(producer.publishEvent({"url": "x"}))
    assert got == [("report-ready", {"url": "s3://r/1", "pages": "3"}, "1740787201500-0")]
