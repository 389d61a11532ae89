"""A job's Redis key expiring, as in RQ 3.0.0: ``ttl`` while it waits, ``result_ttl``/``failure_ttl`` after it ends.

RQ sets ``EXPIRE job.key ttl`` each time it saves a waiting job (``job.cleanup(ttl=job.ttl)``,
``rq/queue.py:1397-1409, 1234, 706-710``), the worker ``PERSIST``s the key as it starts the job
(``rq/worker/base.py:1390``) and expires it again when the job ends (``result_ttl``,
``rq/worker/base.py:1522-1542``; ``failure_ttl``, ``rq/registry.py:477-500``). A job whose key is
gone is skipped by the worker and the scheduler and raises on reads.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from rq import Retry
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Dependency, JobStatus
from rq_log import LOG, SECOND, START, T0

import jobsim


def note(label: str) -> str:
    LOG.append((label, time.time() - T0))
    return f"{label} done"


def slow(label: str, seconds: float) -> str:
    LOG.append((label, time.time() - T0))
    time.sleep(seconds)
    return f"{label} slept"


def fails(label: str) -> None:
    LOG.append((label, time.time() - T0))
    raise ValueError(f"{label} failed")


def at(sim: jobsim.Simulation) -> float:
    return sim.now_ns() / SECOND - T0


def assert_gone(sim: jobsim.Simulation, job: Any, why: str) -> None:
    with pytest.raises(InvalidJobOperation, match=f"Failed to retrieve status for job: {job.id} .*{why}"):
        job.get_status()
    with pytest.raises(NoSuchJobError, match=f"No such job: rq:job:{job.id} .*{why}"):
        sim.rq.job(job.id)


def test_a_job_not_started_within_its_ttl_is_dropped(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(slow, "busy", 60)
        waiting = queue.enqueue(note, "late", ttl=30)
        after = queue.enqueue(note, "after")
        sim.advance("29s")
        assert waiting.get_status() == JobStatus.QUEUED and sim.rq.job(waiting.id) is waiting
        sim.advance("1s")
        assert_gone(sim, waiting, "ttl=30")
        assert waiting.get_status(refresh=False) == JobStatus.QUEUED  # the Job held keeps its last state
        [run] = sim.runs(note)[:1]
        assert run.status == "lost" and run.end_ns == (T0 + 30) * SECOND and run.attempts == []
        sim.run_until_idle()
        assert LOG == [("busy", 0), ("after", 60)]  # the worker skips the dropped job
        assert after.get_status() == JobStatus.FINISHED
        text = sim.timeline()
        assert f"{__name__}.note#1 expired on queue 'default' (queued): not started within ttl=30 s" in text
        assert f"run       {__name__}.note#1 lost" in text


def test_a_job_started_at_the_instant_its_ttl_ends_runs(queue):
    """Redis keeps a key until its expiry instant has passed; a job started within the ttl is persisted."""
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(slow, "busy", 30)
        job = queue.enqueue(slow, "on time", 100, ttl="30s")  # RQ's parse_timeout reads "30s" as 30
        sim.run_until_idle()
        assert LOG == [("busy", 0), ("on time", 30)]
        assert job.get_status() == JobStatus.FINISHED and job.return_value() == "on time slept"
        assert at(sim) == 130  # the ttl no longer applies once it started; run_until_idle waits for no expiry


def test_the_ttl_restarts_at_each_enqueue_so_a_long_retry_interval_drops_the_job(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        short = queue.enqueue(fails, "short", ttl=10, retry=Retry(max=2, interval=5))
        long = queue.enqueue(fails, "long", ttl=10, retry=Retry(max=2, interval=60))
        sim.run_until_idle()
        # short: retried at 5 and 10 (each re-enqueue re-arms its 10 s); long: its key expired at 10,
        # 50 s before the scheduler would have queued its retry
        assert sorted(LOG, key=lambda e: e[1]) == [("short", 0), ("long", 0), ("short", 5), ("short", 10)]
        assert short.get_status() == JobStatus.FAILED
        assert_gone(sim, long, "ttl=10")
        runs = {r.id: r for r in sim.runs(fails)}
        assert runs[long.id].status == "lost" and len(runs[long.id].attempts) == 1
        assert at(sim) == 10  # nothing left waits for 60 s


def test_a_scheduled_job_and_a_deferred_job_expire_too(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        scheduled = queue.enqueue_in(dt.timedelta(seconds=60), note, "scheduled", ttl=30)
        parent = queue.enqueue(slow, "parent", 45)
        deferred = queue.enqueue(note, "deferred", depends_on=parent, ttl=40)
        kept = queue.enqueue(note, "kept", depends_on=Dependency(jobs=[parent]), ttl=50)
        sim.run_until_idle()
        assert LOG == [("parent", 0), ("kept", 45)]
        assert_gone(sim, scheduled, "ttl=30")
        assert_gone(sim, deferred, "ttl=40")
        assert deferred.get_status(refresh=False) == JobStatus.DEFERRED
        assert kept.get_status() == JobStatus.FINISHED
        lost = sorted((r.end_ns // SECOND - T0) for r in sim.runs(note) if r.status == "lost")
        assert lost == [30, 40]


def test_result_ttl_expires_a_finished_job(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        default = queue.enqueue(note, "default")
        short = queue.enqueue(slow, "short", 10, result_ttl=60)
        kept = queue.enqueue(note, "kept", result_ttl=-1)
        sim.run_until_idle()
        assert at(sim) == 10
        assert short.return_value() == "short slept"  # read once: RQ caches the Result on the Job
        sim.advance("59s")
        assert short.get_status() == JobStatus.FINISHED
        sim.advance("1s")  # 60 s after it finished at 10
        assert_gone(sim, short, "result_ttl=60")
        assert short.return_value() == "short slept" and short.return_value(refresh=True) is None
        sim.advance_to("2025-03-01T00:08:19Z")
        assert default.get_status() == JobStatus.FINISHED
        sim.advance("1s")  # RQ's default result_ttl, 500 s (rq/defaults.py:57)
        assert_gone(sim, default, "result_ttl=500")
        assert default.return_value() is None  # never read before it expired
        sim.advance("3650d")
        assert kept.get_status() == JobStatus.FINISHED and kept.return_value() == "kept done"
        assert [r.status for r in sim.runs(note)] == ["completed", "completed"]  # the runs stay as they ended
        assert f"{__name__}.slow#1 expired: result_ttl=60 s after it finished" in sim.timeline()


def test_result_ttl_zero_deletes_the_job_when_it_ends(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(slow, "zero", 10, result_ttl=0)
        sim.advance("5s")
        assert job.get_status() == JobStatus.STARTED  # still running
        sim.advance("5s")
        assert_gone(sim, job, "result_ttl=0")
        assert job.get_status(refresh=False) == JobStatus.FINISHED and job.return_value() is None
        assert sim.runs(slow)[0].status == "completed"
        assert f"{__name__}.slow#1 deleted at once (result_ttl=0)" in sim.timeline()


def test_failure_ttl_expires_a_failed_job(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        default = queue.enqueue(fails, "default")
        zero = queue.enqueue(fails, "zero", failure_ttl=0)
        hour = queue.enqueue(fails, "hour", failure_ttl="1h", retry=Retry(max=1, interval=30))
        sim.run_until_idle()
        assert_gone(sim, zero, "failure_ttl=0")
        assert hour.get_status() == JobStatus.FAILED and at(sim) == 30
        sim.advance("1h")  # counted from its final failure at 30 s, not from the first one
        assert_gone(sim, hour, "failure_ttl=3600")
        sim.advance_to(dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc) - dt.timedelta(seconds=1))
        assert default.get_status() == JobStatus.FAILED
        sim.advance("1s")  # RQ's default failure_ttl, a year (rq/defaults.py:64)
        assert_gone(sim, default, "failure_ttl=31536000")
        assert [r.status for r in sim.runs(fails)] == ["failed"] * 3


def test_a_dependency_whose_key_expired_counts_as_met(queue):
    """``fetch_dependencies`` drops jobs it cannot fetch (rq/job.py:860-863)."""
    with jobsim.Simulation(queue, start=START) as sim:
        parent = queue.enqueue(fails, "parent", failure_ttl=5)
        sim.advance("10s")
        child = queue.enqueue(note, "child", depends_on=parent)
        sim.run_until_idle()
        assert LOG == [("parent", 0), ("child", 10)] and child.get_status() == JobStatus.FINISHED


def test_bad_ttls_are_rqs_own_checks(queue):
    with jobsim.Simulation(queue, start=START):
        with pytest.raises(jobsim.InvalidArgument, match="Job ttl must be greater than 0"):
            queue.enqueue(note, "x", ttl=0)
        with pytest.raises(jobsim.InvalidArgument, match="Job ttl must be greater than 0"):
            queue.enqueue(note, "x", ttl=-1)


def test_reusing_the_id_of_a_gone_job_is_refused_naming_why(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(note, "first", job_id="daily", result_ttl=0)
        sim.run_until_idle()
        with pytest.raises(jobsim.InvalidArgument, match="RQ would take it: the first job's key is gone"):
            queue.enqueue(note, "second", job_id="daily")
