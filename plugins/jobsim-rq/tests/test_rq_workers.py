"""Several RQ workers (``jobsim_rq.Worker``): each one job at a time in its own queue order, concurrently.

Idle workers wait in ``BLPOP``; Redis serves the client blocked longest first, so the next job goes to
the worker idle longest, and workers idle since the same instant in the order they were given.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
import redis
from jobsim_rq import Worker
from rq import Queue, Retry, get_current_job
from rq.callbacks import Callback
from rq.job import JobStatus
from rq_log import LOG, SECOND, START, T0

import jobsim
from jobsim.errors import InvalidArgument, UnsupportedFeature


def busy(label: str, seconds: float) -> str:
    job = get_current_job()
    assert job is not None
    LOG.append((label, time.time() - T0, job.worker_name))
    time.sleep(seconds)
    return label


def on_stopped(job: Any, connection: Any) -> None:
    LOG.append(("on_stopped", job.args[0], time.time() - T0))


def named(name: str) -> Queue:
    return Queue(name, connection=redis.Redis(host="127.0.0.1", port=1))


def starts(sim: jobsim.Simulation) -> list[tuple[str, float, float, str | None]]:
    """(label, start, end, worker) of every attempt, in start order."""
    rows = [(r.event.data["args"], (a.start_ns - T0 * SECOND) / SECOND, (a.end_ns - T0 * SECOND) / SECOND,
             sim.rq.job(r.id).worker_name) for r in sim.runs() for a in r.attempts]  # fmt: skip
    return sorted(rows, key=lambda row: (row[1], row[0]))


def test_two_workers_run_two_jobs_at_once(queue):
    with jobsim.Simulation(Worker(queue, count=2), start=START) as sim:
        for label, seconds in (("a", 10), ("b", 5), ("c", 5), ("d", 5)):
            queue.enqueue(busy, label, seconds)
        sim.advance("1s")
        assert [r.status for r in sim.runs(busy)] == ["running", "running", "queued", "queued"]
        sim.run_until_idle()
        # b ends at 5 and its worker takes c; a and c end at 10, both workers idle since 10: the first given wins
        assert LOG == [("a", 0, "jobsim-rq-1"), ("b", 0, "jobsim-rq-2"), ("c", 5, "jobsim-rq-2"),
                       ("d", 10, "jobsim-rq-1")]  # fmt: skip
        assert sim.now_ns() == (T0 + 15) * SECOND  # 25 s of work in 15 s
        assert [(r.attempts[0].end_ns - T0 * SECOND) // SECOND for r in sim.runs(busy)] == [10, 5, 10, 15]


def test_the_worker_idle_longest_takes_the_next_job(queue):
    """BLPOP serves the client blocked longest: after its job, the first worker waits behind the second."""
    with jobsim.Simulation(Worker(queue, count=2), start=START) as sim:
        queue.enqueue(busy, "first", 3)  # worker 1 (both idle since the start)
        sim.advance("10s")
        queue.enqueue(busy, "second", 0)  # worker 2 idle since 0, worker 1 only since 3
        sim.advance("10s")
        queue.enqueue(busy, "third", 0)  # worker 1 idle since 3, worker 2 since 10
        sim.run_until_idle()
    assert LOG == [("first", 0, "jobsim-rq-1"), ("second", 10, "jobsim-rq-2"), ("third", 20, "jobsim-rq-1")]


def test_each_worker_reads_its_own_queues_in_its_own_order():
    high, default, low = named("high"), named("default"), named("low")
    workers = [Worker([high, default]), Worker([default, low], name="bulk"), Worker("low", name="night")]
    with jobsim.Simulation(workers, start=START) as sim:
        default.enqueue(busy, "d1", 10)
        default.enqueue(busy, "d2", 10)
        low.enqueue(busy, "l1", 10)
        high.enqueue(busy, "h1", 10)  # enqueued last, at the same instant: jobsim-rq-1 reads high first
        high.enqueue(busy, "h2", 10)
        sim.run_until_idle()
        assert sim.rq.workers == ["jobsim-rq-1", "bulk", "night"]
    assert LOG == [("h1", 0, "jobsim-rq-1"), ("d1", 0, "bulk"), ("l1", 0, "night"),
                   ("h2", 10, "jobsim-rq-1"), ("d2", 10, "bulk")]  # fmt: skip


def test_a_job_waits_for_a_worker_that_reads_its_queue():
    fast, slow = named("fast"), named("slow")
    with jobsim.Simulation([Worker(fast), Worker(slow)], start=START) as sim:
        slow.enqueue(busy, "s1", 30)
        slow.enqueue(busy, "s2", 30)  # the fast worker is idle but does not read "slow"
        fast.enqueue_in(dt.timedelta(seconds=40), busy, "f1", 1)
        sim.run_until_idle()
    assert LOG == [("s1", 0, "jobsim-rq-2"), ("s2", 30, "jobsim-rq-2"), ("f1", 40, "jobsim-rq-1")]


def test_a_job_enqueued_by_a_running_job_starts_at_once_on_an_idle_worker(queue):
    with jobsim.Simulation(Worker(queue, count=2), start=START) as sim:
        queue.enqueue(spawner, 60)
        sim.run_until_idle()
        assert LOG == [("spawner", 0, "jobsim-rq-1"), ("child", 7, "jobsim-rq-2")]
        assert sim.now_ns() == (T0 + 60) * SECOND


def spawner(seconds: int) -> None:
    LOG.append(("spawner", time.time() - T0, get_current_job().worker_name))  # type: ignore[union-attr]
    time.sleep(7)
    named("default").enqueue(busy, "child", 0)
    time.sleep(seconds - 7)


def test_the_trace_and_timeline_say_which_worker_ran_each_job(queue):
    with jobsim.Simulation(Worker(queue, name="io", count=2), start=START) as sim:
        a = queue.enqueue(busy, "a", 1)
        b = queue.enqueue(busy, "b", 1)
        sim.run_until_idle()
        attempts = [r.data for r in sim.trace.records if r.kind == "attempt"]
        assert [(d["run"], d["worker"]) for d in attempts] == [(a.id, "io-1"), (b.id, "io-2")]
        text = sim.timeline()
        assert f"rq        {__name__}.busy#1 taken by worker 'io-1' from queue 'default'" in text
        assert f"rq        {__name__}.busy#2 taken by worker 'io-2' from queue 'default'" in text
        assert a.worker_name == "io-1" and b.worker_name == "io-2"  # RQ's own field


def test_one_worker_given_as_queues_records_no_worker_names(queue):
    """``Simulation(queue)`` keeps its one-worker trace: no ``rq.dequeue`` records, no ``worker`` field."""
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(busy, "x", 1)
        sim.run_until_idle()
        assert job.worker_name == "jobsim-rq" and sim.rq.workers == ["jobsim-rq"]
        assert not [r for r in sim.trace.records if r.kind == "rq.dequeue"]
        assert all("worker" not in r.data for r in sim.trace.records if r.kind == "attempt")


def test_retries_go_to_whichever_worker_is_free(queue):
    with jobsim.Simulation(Worker(queue, count=2), start=START) as sim:
        queue.enqueue(busy, "long", 100)
        job = queue.enqueue(fails_once, retry=Retry(max=1, interval=5))
        sim.run_until_idle()
        assert job.get_status() == JobStatus.FINISHED
    assert LOG == [("long", 0, "jobsim-rq-1"), ("fails_once", 0, "jobsim-rq-2"), ("fails_once", 5, "jobsim-rq-2")]


def fails_once() -> str:
    job = get_current_job()
    assert job is not None
    LOG.append(("fails_once", time.time() - T0, job.worker_name))
    if job.retries_left:
        raise ValueError("first time")
    return "ok"


def test_a_planned_stop_kills_the_job_on_its_worker_only(queue):
    with jobsim.Simulation(Worker(queue, count=2), start=START) as sim:
        other = queue.enqueue(busy, "other", 10)
        target = queue.enqueue(busy, "target", 10, on_stopped=Callback(on_stopped))
        queue.enqueue(busy, "next", 1)
        sim.rq.stop(target, at="2025-03-01T00:00:04Z")
        sim.run_until_idle()
        assert LOG == [("other", 0, "jobsim-rq-1"), ("target", 0, "jobsim-rq-2"), ("on_stopped", "target", 4),
                       ("next", 4, "jobsim-rq-2")]  # fmt: skip
        assert target.get_status() == JobStatus.STOPPED and other.get_status() == JobStatus.FINISHED


def test_a_stop_sent_by_a_job_for_one_running_on_another_worker_is_refused(queue):
    """The target's body already ran to its end when it started: jobsim cannot stop it part-way."""
    with jobsim.Simulation(Worker(queue, count=2), start=START) as sim:
        target = queue.enqueue(busy, "target", 10)
        sim.advance("1s")
        queue.enqueue(stops, target.id)
        with pytest.raises(UnsupportedFeature, match=r"running since .* sim\.rq\.stop\(job, at="):
            sim.run_until_idle()


def stops(job_id: str) -> None:
    from rq.command import send_stop_job_command

    send_stop_job_command(named("default").connection, job_id)


def test_the_same_seed_gives_the_same_trace_with_workers(queue):
    def story(seed: int) -> list[tuple]:
        with jobsim.Simulation([Worker(queue, count=2), Worker(named("low"))], start=START, seed=seed) as sim:
            for i in range(4):
                queue.enqueue(busy, f"j{i}", i)
            named("low").enqueue_in(dt.timedelta(seconds=3), busy, "late", 2)
            sim.run_until_idle()
            return [(r.kind, r.at, sorted(r.data.items())) for r in sim.trace.records]

    assert story(3) == story(3) != story(4)


def test_worker_names_and_counts():
    default, low = named("default"), named("low")
    with jobsim.Simulation([Worker(default, count=2), Worker(low, name="io", count=2), Worker(low, name="cron"),
                            Worker([low, default])], start=START) as sim:  # fmt: skip
        assert sim.rq.workers == ["jobsim-rq-1", "jobsim-rq-2", "io-1", "io-2", "cron", "jobsim-rq-3"]
    assert repr(Worker([low, "default"], name="io", count=2, worker_ttl=60)) == (
        "Worker(['low', 'default'], name='io', count=2, worker_ttl=60)")  # fmt: skip


def test_bad_workers_are_refused_naming_what_to_fix(queue):
    with pytest.raises(InvalidArgument, match=r"Worker\(count=...\)=0 is not valid: an int >= 1"):
        Worker(queue, count=0)
    with pytest.raises(InvalidArgument, match=r"Worker\(maintenance_interval=...\)='10m' is not valid: an int >= 1"):
        Worker(queue, maintenance_interval="10m")
    with pytest.raises(InvalidArgument, match=r"Worker\(queues=...\)=\[\] is not valid"):
        Worker([])
    with pytest.raises(InvalidArgument, match=r"Worker\(queues=...\)=42 is not valid: an rq.Queue or a queue name"):
        Worker([queue, 42])
    with pytest.raises(InvalidArgument, match=r"names queue 'default' twice"):
        Worker([queue, "default"])
    with pytest.raises(InvalidArgument, match=r"two simulated RQ workers are named 'io'"):
        jobsim.Simulation([Worker(queue, name="io"), Worker(named("low"), name="io")])
    with pytest.raises(InvalidArgument, match=r"got both RQ queues and jobsim_rq.Worker targets"):
        jobsim.Simulation([queue, Worker(named("low"))])
    with pytest.raises(InvalidArgument, match=r"got both RQ queues and jobsim_rq.Worker targets"):
        jobsim.Simulation([Worker(named("low")), queue])
    sync = Queue("sync", is_async=False, connection=redis.Redis(port=1))
    with pytest.raises(UnsupportedFeature, match="is_async=False"):
        jobsim.Simulation(Worker(sync))


def test_a_worker_may_name_its_queues(queue):
    with jobsim.Simulation(Worker(["high", "default"]), start=START) as sim:
        queue.enqueue(busy, "by name", 0)
        sim.run_until_idle()
    assert LOG == [("by name", 0, "jobsim-rq-1")]


def test_a_retry_queued_at_the_end_of_a_long_body_is_not_lost_behind_an_earlier_wake():
    """The retry of a job timing out at 180 s is known when its body is simulated (at 0 s); the worker
    looking for work at 60 s (another queue's job) must not forget to look again at 180 s."""
    a, c = named("a"), named("c")
    with jobsim.Simulation([Worker(a), Worker(c)], start=START) as sim:
        job = c.enqueue(busy, "slow", 300, job_timeout=180, retry=Retry(max=1))
        a.enqueue_in(dt.timedelta(seconds=60), busy, "other", 1)
        sim.run_until_idle()
        assert [(label, t) for label, t, _ in LOG] == [("slow", 0), ("other", 60), ("slow", 180)]
        assert job.get_status() == JobStatus.FAILED and sim.now_ns() == (T0 + 360) * SECOND
