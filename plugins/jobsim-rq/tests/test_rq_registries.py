"""Queue lists, registries and result streams of RQ 3.0.0, read at the virtual instant.

``queue.count``/``get_job_ids`` read the queue's Redis list (``rq/queue.py:407-457``); the six
registries are sorted sets scored in whole UTC seconds (``rq/registry.py``), whose ``count`` and
``get_job_ids`` drop finished/failed entries scored ``0..now`` first; results are a Redis stream,
newest first (``rq/results.py:162-172``). Every instant below is exact.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from rq import Repeat, Retry
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Dependency, Job, JobStatus
from rq.registry import (
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from rq.results import Result
from rq_log import LOG, SECOND, START, T0

import jobsim

UTC = dt.timezone.utc


def at(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(T0 + seconds, UTC)


def double(x: int) -> int:
    return 2 * x


def nap(seconds: int) -> int:
    time.sleep(seconds)
    return seconds


def flaky(label: str) -> str:
    """Fails the first time it runs for ``label``, succeeds after."""
    LOG.append(label)
    if LOG.count(label) == 1:
        raise ValueError(f"{label}: first try fails")
    return f"{label} ok"


def broken() -> None:
    raise ValueError("broken")


def again(label: str) -> Retry | str:
    LOG.append(label)
    return Retry(max=2, interval=[5, 10])


def now_s(sim: jobsim.Simulation) -> float:
    return sim.now_ns() / SECOND - T0


def test_queue_reads_follow_the_list_at_each_instant(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        a = queue.enqueue(nap, 10)
        b = queue.enqueue(double, 1)
        c = queue.enqueue(double, 2, at_front=True)
        # nothing has run yet at 00:00:00: the workers take jobs once the test lets virtual time pass
        assert queue.count == len(queue) == 3 and not queue.is_empty()
        assert queue.job_ids == [c.id, a.id, b.id] and queue.jobs == [c, a, b] and queue.jobs[1] is a
        assert queue.get_job_ids(1, 1) == [a.id] and queue.get_job_ids(1) == [a.id, b.id]
        assert queue.get_job_ids(0, 0) == [] and queue.get_job_ids(-1) == [b.id]
        assert queue.fetch_job(b.id) is b and queue.fetch_job("no-such-id") is None
        assert b.get_position() == 2 and queue.get_job_position(c.id) == 0
        sim.advance("1s")  # c ran at 0 s, a runs from 0 s to 10 s, b waits
        assert queue.job_ids == [b.id] and queue.count == 1
        assert queue.started_job_registry.get_job_ids() == [a.id] and a in queue.started_job_registry
        assert queue.finished_job_registry.get_job_ids() == [c.id] and b not in queue.finished_job_registry
        sim.advance("9s")
        assert queue.is_empty() and queue.started_job_registry.count == 0
        finished = queue.finished_job_registry
        assert finished.get_job_ids() == [c.id, *sorted([a.id, b.id])]  # scores 500, 510, 510: ties by id
        assert finished.get_expiration_time(c) == at(500) and finished.get_expiration_time(b) == at(510)
        assert finished.get_job_ids(0, 0, desc=True) == [sorted([a.id, b.id])[1]]
        sim.advance("489s")
        assert len(finished) == 3
        sim.advance("1s")  # 00:08:20: c's entry (score 500) is cleaned as its key expires
        assert finished.get_job_ids() == sorted([a.id, b.id]) and c not in finished
        with pytest.raises(NoSuchJobError):
            Job.fetch(c.id, connection=queue.connection)


def test_a_failed_job_is_in_the_failed_registry_and_requeue_runs_it_again(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(flaky, "sync", failure_ttl=300)
        other = queue.enqueue(double, 4)
        sim.advance("5s")
        registry = queue.failed_job_registry
        assert registry == FailedJobRegistry(queue=queue) and registry.get_job_ids() == [job.id]
        assert job in registry and other not in registry and registry.get_expiration_time(job) == at(300)
        [failure] = job.results()
        assert failure.type == Result.Type.FAILED and failure.created_at == at(0) and failure.id == f"{T0 * 1000}-0"
        assert failure.exc_string.startswith("Traceback") and failure.exc_string.rstrip().endswith(
            "ValueError: sync: first try fails")
        assert failure.return_value is None and failure.worker_name == "jobsim-rq"
        assert job.latest_result() == failure
        with pytest.raises(InvalidJobOperation, match=f"RQ job {other.id} is not in the FailedJobRegistry"):
            registry.requeue(other)
        sim.advance("55s")
        assert job.requeue() is job and job.get_status() == JobStatus.QUEUED and job not in registry
        assert queue.job_ids == [job.id] and job.started_at is None and sim.runs(flaky)[0].status == "queued"
        with pytest.raises(InvalidJobOperation):
            registry.requeue(job.id)  # not in it any more
        sim.run_until_idle()
        assert job.get_status() == JobStatus.FINISHED and job.return_value() == "sync ok"
        assert [(r.type, r.created_at) for r in job.results()] == [
            (Result.Type.SUCCESSFUL, at(60)), (Result.Type.FAILED, at(0))]
        assert job.latest_result().return_value == "sync ok" and Result.count(job) == 2
        [run] = sim.runs(flaky)
        assert run.status == "completed" and [a.started_at for a in run.attempts] == [at(0), at(60)]
        assert "requeued from the failed registry of queue 'default'" in sim.timeline()


def test_requeue_by_id_from_a_registry_built_by_name_and_at_the_front(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(broken)
        sim.advance("1s")
        queue.enqueue(nap, 30)
        waiting = queue.enqueue(double, 1)
        sim.advance("1s")  # blocker runs from 1 s to 31 s; waiting is queued
        registry = FailedJobRegistry("default", connection=queue.connection)
        assert registry.get_expiration_time(job) == at(365 * 24 * 3600)  # failure_ttl: a year unless set
        assert registry.requeue(job.id, at_front=True) is job
        assert queue.job_ids == [job.id, waiting.id]
        sim.run_until_idle()
        assert [a.started_at for a in sim.runs(broken)[0].attempts] == [at(0), at(31)]
        assert registry.get_job_ids() == [job.id] and registry.get_expiration_time(job) == at(31 + 365 * 24 * 3600)
        assert [r.created_at for r in job.results()] == [at(31), at(0)]
        with pytest.raises(NoSuchJobError, match="No such job: rq:job:nope"):
            registry.requeue("nope")
        with pytest.raises(InvalidJobOperation):
            StartedJobRegistry(queue=queue).requeue(job)  # its members are job_id:execution_id: ZREM finds nothing


def test_scheduled_deferred_and_canceled_registries(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        later = queue.enqueue_in(dt.timedelta(seconds=90, milliseconds=700), double, 1)
        parent = queue.enqueue(nap, 30)
        child = queue.enqueue(double, 3, depends_on=parent)
        dropped = queue.enqueue(double, 5, depends_on=Dependency(jobs=[parent]))
        scheduled = queue.scheduled_job_registry
        assert scheduled == ScheduledJobRegistry(queue=queue) and scheduled.get_job_ids() == [later.id]
        assert scheduled.get_scheduled_time(later) == at(90) and scheduled.get_expiration_time(later) == at(90)
        deferred = queue.deferred_job_registry
        assert deferred == DeferredJobRegistry(queue=queue) and deferred.get_job_ids() == sorted([child.id, dropped.id])
        assert dropped.cancel() == {}
        canceled = queue.canceled_job_registry
        assert canceled == CanceledJobRegistry(queue=queue) and canceled.get_job_ids() == [dropped.id]
        assert deferred.get_job_ids() == [child.id] and canceled.get_expiration_time(dropped) == at(0)
        sim.advance("30s")  # parent finishes: child leaves the deferred registry for the queue, and runs
        assert deferred.count == 0 and child.get_status() == JobStatus.FINISHED
        assert FinishedJobRegistry(queue=queue).get_job_ids() == sorted([parent.id, child.id])
        sim.advance("59s")
        assert scheduled.count == 1 and scheduled.get_expired_job_ids() == []
        sim.advance("1s")
        assert scheduled.count == 0 and later.get_status() == JobStatus.FINISHED
        with pytest.raises(NoSuchJobError, match=f"RQ job {later.id} is not in the ScheduledJobRegistry"):
            scheduled.get_scheduled_time(later.id)
        assert canceled.requeue(dropped) is dropped and canceled.count == 0  # BaseRegistry.requeue: it runs
        sim.run_until_idle()
        assert dropped.return_value() == 10 and sim.runs(double)[2].status == "completed"


def test_started_registry_scores_follow_the_heartbeats(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(nap, 100)
        sim.advance("10s")
        started = queue.started_job_registry
        # prepare_execution: floor(start) + min(timeout 180, job_monitoring_interval 30) + 60
        assert started.get_expired_job_ids(T0 + 89) == [] and started.get_expired_job_ids(T0 + 90) == [job.id]
        with pytest.raises(jobsim.UnsupportedFeature, match=r"members are 'job_id:execution_id'.*raises TypeError"):
            started.get_expiration_time(job)  # RQ 3.0 looks the bare id up: TypeError on a real Redis
        [(job_id, execution_id)] = started.get_job_and_execution_ids()
        assert job_id == job.id and len(execution_id) == 32
        sim.advance("35s")  # one heartbeat at 30 s: 30 + 30 + 60
        assert started.get_expired_job_ids(T0 + 119) == [] and started.get_expired_job_ids(T0 + 120) == [job.id]
        assert started.get_expired_job_ids() == []
        started.cleanup()  # nothing has expired: nothing to do
        sim.run_until_idle()
        assert started.count == 0 and job.latest_result().execution_id == execution_id
        assert job.latest_result().execution_started_at == at(0) and job.latest_result().execution_ended_at == at(100)


def test_results_of_retries_returned_retries_and_ttls(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        retried = queue.enqueue(broken, retry=Retry(max=2, interval=10))
        returned = queue.enqueue(again, "poll")
        short = queue.enqueue(double, 7, result_ttl=100)
        none = queue.enqueue(double, 8, result_ttl=0)
        sim.advance("14s")
        assert retried.results() == [] and retried.latest_result() is None  # a retried failure saves no Result
        assert [r.type for r in returned.results()] == [Result.Type.RETRIED, Result.Type.RETRIED]
        assert isinstance(returned.latest_result().return_value, Retry) and returned.latest_result().created_at == at(5)
        assert short.latest_result().return_value == 14 and none.results() == [] and none.return_value() is None
        sim.run_until_idle()
        assert [r.created_at for r in retried.results()] == [at(20)] and retried in retried.failed_job_registry
        assert [r.type for r in returned.results()] == [
            Result.Type.MAX_RETRIES_EXCEEDED, Result.Type.RETRIED, Result.Type.RETRIED]
        assert [r.created_at for r in returned.results()] == [at(15), at(5), at(0)]
        assert returned.latest_result().exc_string is None and returned in queue.failed_job_registry
        sim.advance(f"{99 - now_s(sim)}s")
        assert short.latest_result() is not None and short in queue.finished_job_registry
        sim.advance("1s")  # result_ttl=100: the stream, the registry entry and the key all go at 100 s
        assert short.latest_result() is None and short not in queue.finished_job_registry
        with pytest.raises(NoSuchJobError, match="expired the job's key"):
            short.refresh()


def test_latest_result_with_a_timeout_returns_at_once_or_is_refused(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(nap, 5)
        with pytest.raises(jobsim.UnsupportedFeature, match=r"latest_result\(timeout=3\).*advance the simulation"):
            job.latest_result(timeout=3)
        with pytest.raises(jobsim.InvalidArgument, match="timeout"):
            job.latest_result(timeout=-1)
        sim.advance("4s")
        assert job.latest_result() is None  # it ends at 5 s: not visible before
        sim.advance("1s")
        assert job.latest_result(timeout=3).return_value == 5


def test_delete_removes_a_job_its_results_and_optionally_its_dependents(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        running = queue.enqueue(nap, 60)
        queued = queue.enqueue(double, 1)
        parent = queue.enqueue(double, 2, depends_on=running)
        queue.enqueue(double, 3, depends_on=parent)
        sim.advance("1s")
        with pytest.raises(jobsim.UnsupportedFeature, match=r"job\.delete\(\) of RQ job .* while it runs"):
            running.delete()
        queued.delete()
        assert queue.job_ids == [] and sim.runs(double)[0].status == "cancelled"
        with pytest.raises(InvalidJobOperation, match=r"deleted the job's key at 2025-03-01T00:00:01.*job\.delete\(\)"):
            queued.get_status()
        assert not Job.exists(queued.id, connection=queue.connection) and Job.exists(running.id, queue.connection)
        parent.delete(delete_dependents=True)
        assert queue.deferred_job_registry.count == 0
        assert [r.status for r in sim.runs(double)] == ["cancelled", "cancelled", "cancelled"]
        sim.run_until_idle()
        assert running.get_status() == JobStatus.FINISHED and running in queue.finished_job_registry
        running.delete()
        assert running not in queue.finished_job_registry and running.latest_result() is None
        with pytest.raises(NoSuchJobError):
            running.refresh()
        assert "deleted (queued) by job.delete()" in sim.timeline()


def test_registry_remove_and_queue_empty(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        failed = queue.enqueue(broken)
        sim.advance("1s")
        kept = queue.enqueue(broken)
        sim.advance("1s")
        registry = queue.failed_job_registry
        assert registry.remove(kept) == 1 and registry.get_job_ids() == [failed.id] and kept.get_status() == "failed"
        assert registry.remove(failed.id, delete_job=True) == 1 and registry.count == 0
        with pytest.raises(NoSuchJobError):
            failed.refresh()
        blocker = queue.enqueue(nap, 10)
        a, b = queue.enqueue(double, 1), queue.enqueue(double, 2)
        sim.advance("1s")
        assert queue.remove(a) == 1 and queue.job_ids == [b.id] and a.get_status() == JobStatus.QUEUED
        assert queue.empty() == 1 and queue.count == 0
        with pytest.raises(InvalidJobOperation, match=r"queue\.empty\(\)"):
            b.get_status()
        sim.run_until_idle()
        assert blocker.get_status() == JobStatus.FINISHED and [r.status for r in sim.runs(double)] == [
            "queued", "cancelled"]  # a left the list without being deleted: no worker will see it


def test_bad_arguments_and_writes_are_named(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(double, 1)
        sim.advance("1s")
        registry = queue.finished_job_registry
        with pytest.raises(jobsim.InvalidArgument, match="offset"):
            queue.get_job_ids("1")
        with pytest.raises(jobsim.InvalidArgument, match="end"):
            registry.get_job_ids(0, 1.5)
        with pytest.raises(jobsim.InvalidArgument, match=f"RQ job {job.id} is not in the FailedJobRegistry"):
            queue.failed_job_registry.get_expiration_time(job)
        with pytest.raises(jobsim.InvalidArgument, match="job_or_id"):
            queue.failed_job_registry.requeue(42)
        with pytest.raises(jobsim.InvalidArgument, match="remove_from_queue"):
            job.delete(remove_from_queue="no")
        with pytest.raises(jobsim.UnsupportedFeature, match=r"FinishedJobRegistry\.add\(\) writes RQ's sorted set"):
            registry.add(job, 10)
        with pytest.raises(jobsim.UnsupportedFeature, match=r"ScheduledJobRegistry\.schedule\(\)"):
            queue.scheduled_job_registry.schedule(job, dt.datetime.now(UTC))
        with pytest.raises(NoSuchJobError, match="no job with this id was enqueued in this simulation"):
            Job.fetch("unknown", connection=queue.connection)
        assert Job.fetch_many([job.id, "unknown"], connection=queue.connection) == [job, None]


def test_stopped_dead_horse_and_abandoned_jobs_leave_rqs_own_failure_texts():
    """``handle_job_failure`` saves the worker's text for a stopped job and a dead horse
    (``rq/worker/worker_classes.py:139-166``); ``record_job_failure`` saves an abandoned job's with no
    worker name (``rq/job_lifecycle.py:34-41``, ``rq/registry.py:315-318``)."""
    import redis
    from jobsim_rq import Worker
    from rq import Queue

    queue = Queue("default", connection=redis.Redis(host="127.0.0.1", port=1))
    workers = [Worker(queue, name="a"), Worker(queue, name="b")]
    with jobsim.Simulation(workers, start=START) as sim:
        stopped = queue.enqueue(nap, 60)
        horse = queue.enqueue(nap, 61)
        lost = queue.enqueue(nap, 62)
        sim.rq.stop(stopped, at="2025-03-01T00:00:10Z")
        sim.rq.crash_worker(at="2025-03-01T00:00:20Z", worker="b", kind="horse")
        sim.rq.crash_worker(at="2025-03-01T00:00:30Z", worker="a")  # a runs lost from 10 s: it is abandoned
        sim.advance("31s")
        assert stopped.latest_result().exc_string == "Job stopped by user, work-horse terminated."
        assert stopped.latest_result().worker_name == "a" and stopped.latest_result().created_at == at(10)
        assert horse.latest_result().exc_string == ("Work-horse terminated unexpectedly; waitpid returned 9 "
                                                    "(signal 9); ")  # fmt: skip
        assert queue.failed_job_registry.get_job_ids() == sorted([stopped.id, horse.id])
        assert queue.started_job_registry.get_job_ids() == [lost.id] and lost.latest_result() is None
        started = queue.started_job_registry  # lost's entry: 10 + 90, no heartbeat before the crash at 30
        assert started.get_expired_job_ids(T0 + 99) == [] and started.get_expired_job_ids(T0 + 100) == [lost.id]
        sim.run_until_idle()
        result = lost.latest_result()
        assert result.type == Result.Type.FAILED and result.worker_name == ""
        assert result.exc_string.startswith("Moved to FailedJobRegistry, due to AbandonedJobError, at ")
        assert lost in queue.failed_job_registry and lost not in queue.started_job_registry


def test_repeat_runs_a_successful_job_again_on_rqs_intervals(queue):
    """``Repeat(times, interval)`` (``rq/repeat.py``): after each *success* with repeats left, the next interval
    (the last one repeats) schedules the job again; each success saves a result and a finished entry, and the
    first one frees the dependents. A failure does not repeat."""
    from rq import Repeat

    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(nap, 5, repeat=Repeat(times=3, interval=[60, 120]))
        child = queue.enqueue(double, 1, depends_on=job)
        now_once = queue.enqueue(double, 2, repeat=Repeat(times=1))  # interval 0: queued again at once, at the back
        sim.advance("6s")
        assert job.get_status() == JobStatus.SCHEDULED and job.repeats_left == 2
        assert job in queue.finished_job_registry and job in queue.scheduled_job_registry
        assert queue.scheduled_job_registry.get_scheduled_time(job) == at(65)  # ended at 5 s + 60
        assert child.get_status() == JobStatus.FINISHED  # freed by the first success
        sim.run_until_idle()
        [run] = sim.runs(nap)
        assert [a.started_at for a in run.attempts] == [at(0), at(65), at(190), at(315)]  # 60, then 120, 120
        assert run.status == "completed" and job.get_status() == JobStatus.FINISHED and job.repeats_left == 0
        assert [r.created_at for r in job.results()] == [at(320), at(195), at(70), at(5)]
        assert len(sim.runs(double)[1].attempts) == 2 and now_once.return_value() == 4
        assert "repeats (Repeat): scheduled again for 2025-03-01 00:01:05, 2 repeat(s) left after it" in sim.timeline()
        with pytest.raises(jobsim.InvalidArgument, match=r"Repeat\(times=0, interval=0\) is refused by RQ"):
            Repeat(times=0)
        with pytest.raises(jobsim.InvalidArgument, match=r"Repeat\(interval=\.\.\.\)"):
            Repeat(times=1, interval="5")


def test_a_failed_run_does_not_repeat(queue):
    from rq import Repeat

    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(broken, repeat=Repeat(times=2, interval=10))
        sim.run_until_idle()
        assert job.get_status() == JobStatus.FAILED and job.repeats_left == 2 and len(sim.runs(broken)[0].attempts) == 1


def results_of_a_run(queue, seed: int) -> list[tuple]:
    with jobsim.Simulation(queue, start=START, seed=seed) as sim:
        jobs = [queue.enqueue(nap, 3), queue.enqueue(broken), queue.enqueue(again, "x")]
        sim.run_until_idle()
        return [(r.job_id, r.id, r.execution_id, r.type.name, r.created_at) for job in jobs for r in job.results()]


def test_result_and_execution_ids_follow_the_seed(queue):
    first, same = results_of_a_run(queue, 7), results_of_a_run(queue, 7)
    LOG.clear()
    other = results_of_a_run(queue, 8)
    assert first == same and len(first) == 5
    assert {r[2] for r in first}.isdisjoint({r[2] for r in other})  # other seed: other execution ids
    assert [r[1:2] + r[3:] for r in first] == [r[1:2] + r[3:] for r in other]  # same stream ids, types, times


def test_a_job_requeued_from_the_scheduled_registry_runs_now_and_once(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue_in(dt.timedelta(minutes=10), broken, retry=Retry(max=1, interval=600))
        sim.advance("1m")
        assert queue.scheduled_job_registry.requeue(job) is job and job not in queue.scheduled_job_registry
        sim.run_until_idle()  # runs at 60 s, fails, retried 600 s later: the 10-minute schedule is gone
        assert [a.started_at for a in sim.runs(broken)[0].attempts] == [at(60), at(660)]


def test_delete_without_leaving_the_list_and_entries_that_never_expire(queue):
    """``job.delete(remove_from_queue=False)`` leaves the id in the list: ``queue.count`` counts it until
    ``queue.jobs`` (``fetch_job``) finds the key missing and removes it (``rq/queue.py:359-378``). Negative
    ttls: ``result_ttl=-1`` scores ``+inf`` (``BaseRegistry.add``), ``failure_ttl=-1`` scores ``-1``
    (``FailedJobRegistry.add`` keeps it), which RQ's ``get_expiration_time`` turns into 1969-12-31 23:59:59."""
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(nap, 10)
        waiting = queue.enqueue(double, 1)
        sim.advance("1s")
        waiting.delete(remove_from_queue=False)
        assert queue.count == 1 and queue.jobs == [] and queue.count == 0
        kept = queue.enqueue(double, 2, result_ttl=-1)
        failed = queue.enqueue(broken, failure_ttl=-1)
        sim.advance("1000d")
        assert kept in queue.finished_job_registry and failed in queue.failed_job_registry
        assert queue.failed_job_registry.get_expiration_time(failed) == dt.datetime(1969, 12, 31, 23, 59, 59,
                                                                                    tzinfo=UTC)  # fmt: skip
        with pytest.raises(OverflowError):  # datetime.fromtimestamp(inf), as in RQ
            queue.finished_job_registry.get_expiration_time(kept)
        assert kept.latest_result().return_value == 4 and failed.get_status() == JobStatus.FAILED


def test_cancel_and_delete_of_a_job_whose_key_is_gone_raise_as_rq_does(queue):
    """RQ 3.0 reads the stored status first (``is_canceled``, ``_remove_from_registries`` -> ``_fetch_status``),
    so ``cancel()``/``delete()`` of a deleted or expired job raise ``InvalidJobOperation`` (checked against a
    real Redis) -- and nothing lands in the canceled registry."""
    with jobsim.Simulation(queue, start=START) as sim:
        deleted = queue.enqueue(double, 1)
        deleted.delete()
        for call in (deleted.cancel, deleted.delete):
            with pytest.raises(InvalidJobOperation, match=f"Failed to retrieve status for job: {deleted.id}"):
                call()
        blocker = queue.enqueue(nap, 100)
        expired = queue.enqueue(double, 2, ttl=10)
        sim.advance("20s")  # the blocker runs; the queued job's key expired at 10 s
        with pytest.raises(InvalidJobOperation, match="expired the job's key"):
            expired.cancel()
        with pytest.raises(InvalidJobOperation, match="Failed to retrieve status"):
            queue.finished_job_registry.remove(expired, delete_job=True)
        canceled = queue.canceled_job_registry
        assert canceled.get_job_ids() == [] and canceled.count == 0 and expired not in canceled
        assert queue.job_ids == [expired.id]  # its id stays listed until a worker pops and skips it
        sim.run_until_idle()
        assert blocker.get_status() == JobStatus.FINISHED and queue.count == 0


def test_cancel_of_a_job_waiting_for_its_retry_ends_its_run(queue):
    """A job scheduled for its ``Retry``'s next attempt is canceled out of the scheduled registry; its run ends
    ``cancelled`` at that instant (it stayed ``retrying`` for ever), and the scheduler never queues it."""
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(broken, retry=Retry(max=1, interval=60))
        sim.advance("10s")
        assert job.get_status() == JobStatus.SCHEDULED and sim.runs()[0].status == "retrying"
        assert job.cancel() == {}
        assert queue.scheduled_job_registry.get_job_ids() == []
        assert queue.canceled_job_registry.get_job_ids() == [job.id]
        sim.run_until_idle()
        (run,) = sim.runs()
        assert run.status == "cancelled" and (run.end_ns - sim.start_ns) / SECOND == 10
        assert len(run.attempts) == 1 and job.get_status() == JobStatus.CANCELED and queue.count == 0


def test_a_finished_job_requeued_keeps_its_result_ttl_expiry(queue):
    """``registry.requeue`` runs ``_enqueue_job``, whose ``job.cleanup(ttl=None)`` leaves the ``EXPIRE`` of the
    job's ``result_ttl`` in place (checked on a real Redis: ``TTL`` 99 before and after the requeue); if the job
    waits past it, the key is gone and the worker skips it. The timeline says so (not "after it failed")."""
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(double, 1, result_ttl=100)
        sim.advance("50s")
        blocker = queue.enqueue(nap, 150)
        sim.advance("1s")
        queue.finished_job_registry.requeue(job)
        assert queue.job_ids == [job.id] and job.get_status() == JobStatus.QUEUED
        sim.advance("48s")
        assert Job.exists(job.id)
        sim.advance("1s")  # 100 s after it finished at 0 s
        assert not Job.exists(job.id) and queue.count == 1
        sim.run_until_idle()
        run = next(r for r in sim.runs() if r.id == job.id)
        assert run.status == "lost" and (run.end_ns - sim.start_ns) / SECOND == 100
        assert blocker.get_status() == JobStatus.FINISHED and queue.count == 0
    assert ("expired on queue 'default' (queued): result_ttl=100 s after it finished, before it ran again; RQ drops it"
            in sim.timeline())  # fmt: skip


def test_cancel_with_enqueue_dependents_keeps_the_dependents_it_does_not_move(queue):
    """``move_dependents_to_ready`` only ``SREM``s the dependents it moves (``rq/queue.py:1604-1609``): one still
    waiting for another job stays in the canceled job's dependents set, so once that job is requeued from the
    canceled registry and finishes, it frees the dependent (checked with a real Redis and worker)."""
    with jobsim.Simulation(queue, start=START) as sim:
        blocker = queue.enqueue(nap, 10)
        parent = queue.enqueue(double, 1)
        other = queue.enqueue(double, 2)
        child = queue.enqueue(double, 3, depends_on=[parent, other])
        sim.advance("1s")
        assert parent.cancel(enqueue_dependents=True) == {}  # other has not finished: child stays deferred
        assert queue.deferred_job_registry.get_job_ids() == [child.id]
        queue.canceled_job_registry.requeue(parent)
        assert queue.job_ids == [other.id, parent.id]
        sim.run_until_idle()
        assert [j.get_status() for j in (blocker, other, parent, child)] == [JobStatus.FINISHED] * 4
        assert (sim.runs(double)[2].attempts[0].start_ns - sim.start_ns) / SECOND == 10


def test_requeue_of_a_canceled_job_whose_key_expired_saves_it_again(queue):
    """A canceled job keeps its ``ttl`` expiry and its canceled entry (no cleanup); ``registry.requeue(job)`` of
    the ``Job`` itself ZREMs the entry and ``_enqueue_job`` saves the hash again (checked on a real Redis: the
    key is back with its ``ttl``, and a worker runs it). Its run, ``lost`` at the expiry, is queued again."""
    with jobsim.Simulation(queue, start=START) as sim:
        blocker = queue.enqueue(nap, 20)
        job = queue.enqueue(double, 4, ttl=10)
        sim.advance("1s")
        job.cancel()
        sim.advance("20s")  # the key expired at 10 s; the blocker ended at 20 s
        assert not Job.exists(job.id) and queue.canceled_job_registry.get_job_ids() == [job.id]
        assert queue.canceled_job_registry.requeue(job) is job
        assert Job.exists(job.id) and queue.job_ids == [job.id] and job.get_status() == JobStatus.QUEUED
        sim.run_until_idle()
        assert job.get_status() == JobStatus.FINISHED and job.return_value() == 8
        run = sim.runs(double)[0]
        assert run.status == "completed" and (run.attempts[0].start_ns - sim.start_ns) / SECOND == 21
        assert blocker.get_status() == JobStatus.FINISHED


def test_requeue_of_a_repeat_that_is_running_is_refused(queue):
    """A ``Repeat`` job's repeat runs while its first success is still in the finished registry; requeueing it
    then would queue it a second time while it runs (two executions at once, two ends of one run): refused by
    name, and nothing changes -- the entry stays and the repeat ends as planned."""
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(nap, 10, repeat=Repeat(times=1, interval=0))
        sim.advance("15s")  # the repeat runs from 10 s to 20 s
        finished = queue.finished_job_registry
        assert job.get_status() == JobStatus.STARTED and job in finished
        with pytest.raises(jobsim.UnsupportedFeature, match="while it runs"):
            finished.requeue(job)
        assert job in finished and queue.job_ids == []
        sim.run_until_idle()
        (run,) = sim.runs()
        assert run.status == "completed" and (run.end_ns - sim.start_ns) / SECOND == 20 and len(run.attempts) == 2
        assert finished.requeue(job) is job  # once it has ended
        sim.run_until_idle()
        assert len(run.attempts) == 3 and job.get_status() == JobStatus.FINISHED
