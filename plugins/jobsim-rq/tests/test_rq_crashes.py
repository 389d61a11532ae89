"""Worker crashes as RQ 3.0.0 handles them: a killed work horse, and a lost worker whose job is abandoned.

A horse killed by a signal: ``monitor_work_horse`` fails (or retries) the job at once, without the
failure callback (``rq/worker/worker_classes.py:131-151``). A lost worker: its job stays ``started``
until its ``StartedJobRegistry`` entry (scored ``now + min(timeout, 30) + 60`` at the start and at each
30 s heartbeat) has expired and a live worker's maintenance run (at start, then the first check more
than 600 s after the last: job ends, and 405 s ``BLPOP`` timeouts when idle) cleans it: failure
callback with ``AbandonedJobError``, then a retry or ``failed`` (``rq/registry.py:268-337``).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from jobsim_rq import Worker
from jobsim_rq._crash import entry_score
from jobsim_rq._pool import Settings, SimWorker
from rq import Queue, Retry, get_current_job
from rq.callbacks import Callback
from rq.exceptions import AbandonedJobError
from rq.job import Dependency, JobStatus
from rq_log import LOG, SECOND, START, T0

import jobsim
from jobsim.errors import InvalidArgument, UnsupportedFeature, WorkerCrashed


def at(seconds: float) -> str:
    return (dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=seconds)).isoformat()


def work(label: str, seconds: float) -> str:
    job = get_current_job()
    assert job is not None
    LOG.append((label, "start", time.time() - T0, job.worker_name, job.retries_left))
    try:
        time.sleep(seconds)
        LOG.append((label, "woke", time.time() - T0))
    finally:
        LOG.append((label, "finally", time.time() - T0))
    return label


def note(label: str) -> None:
    LOG.append((label, time.time() - T0))


def on_failure(job: Any, connection: Any, typ: type, value: BaseException, tb: Any) -> None:
    LOG.append(("on_failure", time.time() - T0, typ.__name__, job.retries_left, tb is None))


def slow_on_failure(job: Any, connection: Any, typ: type, value: BaseException, tb: Any) -> None:
    LOG.append(("on_failure", time.time() - T0, typ.__name__))
    time.sleep(5)


def starts(run: jobsim.Run) -> list[float]:
    return [(a.start_ns - T0 * SECOND) / SECOND for a in run.attempts]


# -- a killed work horse ---------------------------------------------------------------------------------
def test_a_killed_horse_is_retried_at_once_without_the_failure_callback(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(work, "h", 60, retry=Retry(max=2, interval=[10]), on_failure=Callback(on_failure))
        after = queue.enqueue(work, "after", 1)
        sim.rq.crash_worker(at=at(20), kind="horse")
        sim.run_until_idle()
        # killed at 20 s (a finally block still runs in the simulation); the worker is free at once and the
        # retry (Job.retry: interval 10 s, RQ's enqueue-time rule) is due at 30 s
        assert LOG == [("h", "start", 0, "jobsim-rq", 2), ("h", "finally", 20),
                       ("after", "start", 20, "jobsim-rq", None), ("after", "woke", 21), ("after", "finally", 21),
                       ("h", "start", 30, "jobsim-rq", 1), ("h", "woke", 90), ("h", "finally", 90)]  # fmt: skip
        assert job.get_status() == JobStatus.FINISHED and after.get_status() == JobStatus.FINISHED
        [run] = sim.runs(work)[:1]
        assert starts(run) == [0, 30] and run.attempts[0].end_ns == (T0 + 20) * SECOND
        error = run.attempts[0].error
        assert type(error) is WorkerCrashed
        assert str(error) == "Work-horse terminated unexpectedly; waitpid returned 9 (signal 9); "
        [retry] = [r.data for r in sim.trace.records if r.kind == "retry"]
        assert retry["delay"] == 10 * SECOND and retry["retries_left"] == 1
        killed = f"rq        work horse of worker 'jobsim-rq' killed (SIGKILL) running {__name__}.work#1"
        assert killed in sim.timeline()


def test_a_killed_horse_without_retries_fails_the_job_and_releases_its_dependents(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(work, "h", 60, failure_ttl=100)
        queue.enqueue(note, "lenient", depends_on=Dependency(jobs=[job], allow_failure=True))
        strict = queue.enqueue(note, "strict", depends_on=job)
        sim.rq.crash_worker(at=at(20), function=work, kind="horse")
        sim.run_until_idle()
        assert LOG == [("h", "start", 0, "jobsim-rq", None), ("h", "finally", 20), ("lenient", 20)]
        assert job.get_status() == JobStatus.FAILED and strict.get_status() == JobStatus.DEFERRED
        assert sim.runs(work)[0].status == "failed" and sim.runs(work)[0].end_ns == (T0 + 20) * SECOND
        sim.advance_to(at(120))  # failure_ttl counts from the failure at 20 s
        with pytest.raises(Exception, match="failure_ttl=100"):
            job.get_status()


# -- a lost worker: the job is abandoned --------------------------------------------------------------------
def test_a_lost_worker_leaves_its_job_started_until_a_maintenance_run_finds_it(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(work, "w", 100, retry=Retry(max=1, interval=30), on_failure=Callback(on_failure))
        sim.crash_worker(at=at(45))  # jobsim's fault API: the whole worker dies, a supervisor starts another
        sim.advance("500s")
        # one heartbeat at 30 s scored the entry 30 + min(180 - 30, 30) + 60 = 120 s; nothing has cleaned it
        assert job.get_status() == JobStatus.STARTED and sim.runs(work)[0].status == "running"
        assert sim.rq.workers == ["jobsim-rq-r1"]
        sim.run_until_idle()
        # the new worker started at 45 s: first maintenance then (too early), BLPOP timeouts at 450 s (405 s
        # since: not past 600) and 855 s (810 s: past it): it takes the scheduler lock its dead predecessor
        # held (lapsed at 106 s), runs the failure callback with AbandonedJobError and retries the job (30 s)
        assert LOG == [("w", "start", 0, "jobsim-rq", 1), ("w", "finally", 45),
                       ("on_failure", 855, "AbandonedJobError", 1, True),
                       ("w", "start", 885, "jobsim-rq-r1", 0), ("w", "woke", 985), ("w", "finally", 985)]  # fmt: skip
        assert job.get_status() == JobStatus.FINISHED
        run = sim.runs(work)[0]
        assert starts(run) == [0, 885] and type(run.attempts[0].error) is WorkerCrashed
        text = sim.timeline()
        for line in (
            f"00:00:45.000 UTC  rq        worker 'jobsim-rq' died with its work horse and scheduler running "
            f"{__name__}.work#1 (it stays started until a maintenance run finds it abandoned); a new worker "
            "'jobsim-rq-r1' takes its place",
            "00:00:45.000 UTC  rq        worker 'jobsim-rq-r1' started (in place of 'jobsim-rq'), reading 'default'",
            "00:01:46.000 UTC  rq        scheduler lock of queue 'default' lapsed (its worker died)",
            "00:14:15.000 UTC  rq        worker 'jobsim-rq-r1' took the scheduler lock of queue 'default'",
            f"00:14:15.000 UTC  rq        {__name__}.work#1 abandoned (worker 'jobsim-rq' died): its "
            "StartedJobRegistry entry expired at 2025-03-01 00:02:00; worker 'jobsim-rq-r1' found it at maintenance "
            "(AbandonedJobError)",
            f"00:14:15.000 UTC  retry     {__name__}.work#1 attempt 1 at 00:14:45 (+30s)",
        ):  # fmt: skip
            assert line in text, line


def test_an_abandoned_job_without_retries_fails_in_the_worker_that_cleans_it(queue):
    with jobsim.Simulation(Worker(queue, count=2), start=START) as sim:
        job = queue.enqueue(work, "w", 50, on_failure=Callback(slow_on_failure))
        lenient = queue.enqueue(note, "lenient", depends_on=Dependency(jobs=[job], allow_failure=True))
        strict = queue.enqueue(note, "strict", depends_on=job)
        sim.rq.crash_worker(at=at(10), function=work, restart=None)
        sim.run_until_idle()
        # entry 0 + 90 s; the other worker, idle since the start, cleans at 810 s; the failure callback
        # spends 5 s of that worker's time before the job fails and its lenient dependent is queued
        assert LOG == [("w", "start", 0, "jobsim-rq-1", None), ("w", "finally", 10),
                       ("on_failure", 810, "AbandonedJobError"), ("lenient", 815)]  # fmt: skip
        assert job.get_status() == JobStatus.FAILED and strict.get_status() == JobStatus.DEFERRED
        assert lenient.worker_name == "jobsim-rq-2" and sim.rq.workers == ["jobsim-rq-2"]
        run = sim.runs(work)[0]
        assert run.status == "failed" and run.end_ns == (T0 + 815) * SECOND
        assert type(run.error) is AbandonedJobError
        assert str(run.error) == "Moved to FailedJobRegistry, due to AbandonedJobError, at 2025-03-01 00:13:35+00:00"
        assert "no worker replaces it" in sim.timeline()


def test_a_busy_worker_cleans_after_the_first_job_that_ends_past_the_interval(queue):
    with jobsim.Simulation(Worker(queue, count=2), start=START) as sim:
        lost = queue.enqueue(work, "lost", 300, job_timeout=-1, retry=Retry(max=1))
        for i in range(10):
            queue.enqueue(work, f"j{i}", 100)
        sim.rq.crash_worker(at=at(45), worker="jobsim-rq-1", restart=None)
        sim.run_until_idle()
        # timeout -1: heartbeats use job_monitoring_interval + 60 = 90 s; the one at 30 s scored 120 s. The
        # other worker checks after each job: 700 s is the first end more than 600 s after its start. The
        # retry (interval 0) goes to the back of the queue, behind j7, j8, j9
        [abandon] = [r for r in sim.trace.records if r.kind == "rq.abandon"]
        assert abandon.at == (T0 + 700) * SECOND and abandon.data["expired"] == (T0 + 120) * SECOND
        assert starts(sim.runs(work)[0]) == [0, 1000]
        assert lost.get_status() == JobStatus.FINISHED and lost.worker_name == "jobsim-rq-2"


@pytest.mark.parametrize(
    ("timeout", "start", "died", "interval", "expected"),
    [
        (180, 0, 10, 30, 90),  # set at the start: min(180, 30) + 60
        (180, 0, 30, 30, 90),  # the heartbeat at 30 s would come just as it dies: not counted
        (180, 0, 45, 30, 120),  # heartbeat at 30 s: 30 + 30 + 60
        (100, 0, 95, 30, 159),  # heartbeat at 90 s: int(min(100 - 90.00x, 30)) = 9
        (20, 0, 10, 30, 80),  # a short job_timeout: min(20, 30) + 60
        (-1, 0, 95, 30, 180),  # no timeout: 30 + 60 at each heartbeat (the last at 90 s)
        (180, 0.7, 10, 30, 90),  # whole seconds (current_timestamp)
        (180, 0, 25, 10, 90),  # --job-monitoring-interval 10: heartbeat at 20 s, 20 + 10 + 60
    ],
)
def test_the_started_registry_score_of_a_dead_workers_job(timeout, start, died, interval, expected):
    worker = SimWorker("w", ["default"], 0, 0, Settings(job_monitoring_interval=interval))
    assert entry_score(worker, timeout, int(start * SECOND), died * SECOND) == expected * SECOND


# -- the scheduler of a dead worker --------------------------------------------------------------------------
def test_scheduled_jobs_wait_for_a_surviving_workers_maintenance_to_take_the_scheduler(queue):
    with jobsim.Simulation(Worker(queue, count=2), start=START) as sim:
        job = queue.enqueue_in(dt.timedelta(seconds=20), note, "due at 20 s")
        sim.rq.crash_worker(at=at(10), worker="jobsim-rq-1", restart=None)  # it held the lock: it was given first
        sim.advance_to(at(809))
        assert job.get_status() == JobStatus.SCHEDULED and LOG == []
        sim.run_until_idle()
        # jobsim-rq-2 never got the lock, so it runs no scheduler: its maintenance at 810 s takes it
        assert LOG == [("due at 20 s", 810)] and job.worker_name == "jobsim-rq-2"
        assert "kill" not in sim.timeline() and "died with its work horse and scheduler while idle" in sim.timeline()


def test_a_running_scheduler_takes_a_lapsed_lock_within_120_s():
    a, b, c = (Queue(n, connection=queue_connection()) for n in "abc")
    with jobsim.Simulation([Worker([a, b]), Worker([c, b])], start=START) as sim:
        on_b = b.enqueue_in(dt.timedelta(seconds=30), note, "b")
        on_a = a.enqueue_in(dt.timedelta(seconds=30), note, "a")
        sim.rq.crash_worker(at=at(10), worker="jobsim-rq-1", restart=None)
        sim.run_until_idle()
        # jobsim-rq-2's scheduler (it holds c's lock) retries the locks it lacks every 120 s: b's lapsed at 71 s
        assert LOG == [("b", 120)] and on_b.worker_name == "jobsim-rq-2"
        assert on_a.get_status() == JobStatus.SCHEDULED  # no live worker reads a: no scheduler will take it


def queue_connection() -> Any:
    import redis

    return redis.Redis(host="127.0.0.1", port=1)


def test_no_worker_runs_anything_until_the_replacement_starts(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        scheduled = queue.enqueue_in(dt.timedelta(seconds=50), note, "scheduled")
        sim.rq.crash_worker(at=at(10), worker="jobsim-rq", restart="2m")
        sim.advance("20s")
        queued = queue.enqueue(note, "queued")
        sim.run_until_idle()
        # the new worker starts at 130 s, after the lock lapsed (71 s): it takes the lock as it starts, and
        # its scheduler queues the job due at 50 s behind the one waiting since 20 s
        assert LOG == [("queued", 130), ("scheduled", 130)]
        assert scheduled.worker_name == queued.worker_name == "jobsim-rq-r1"


# -- which attempt a crash hits ------------------------------------------------------------------------------
def test_a_crash_planned_before_a_job_starts_kills_it_before_its_code_runs(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(work, "busy", 10)
        job = queue.enqueue(note, "target", retry=Retry(max=1))
        sim.rq.crash_worker(function=note, kind="horse", at=at(5))  # no note in flight at 5 s: the next to start
        sim.run_until_idle()
        assert LOG == [("busy", "start", 0, "jobsim-rq", None), ("busy", "woke", 10), ("busy", "finally", 10),
                       ("target", 10)]  # fmt: skip
        # target's first attempt (at 10 s) died before its code ran; its retry (interval 0) ran at once
        run = sim.runs(note)[0]
        assert starts(run) == [10, 10] and type(run.attempts[0].error) is WorkerCrashed
        assert job.get_status() == JobStatus.FINISHED


def test_a_crash_after_an_attempt_hits_the_next_one(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(fails_after, 10, retry=Retry(max=1, interval=100))
        sim.rq.crash_worker(at=at(50), function=fails_after, kind="horse")
        sim.run_until_idle()
        assert LOG == [("fails_after", 0)]  # the retry at 110 s died before its code ran
        assert job.get_status() == JobStatus.FAILED
        assert [str(a.error) for a in sim.runs(fails_after)[0].attempts] == [
            "after 10", "Work-horse terminated unexpectedly; waitpid returned 9 (signal 9); "]  # fmt: skip


def fails_after(seconds: int) -> None:
    LOG.append(("fails_after", time.time() - T0))
    time.sleep(seconds)
    raise ValueError(f"after {seconds}")


def test_killing_an_idle_workers_horse_does_nothing(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        sim.rq.crash_worker(at=at(5), worker="jobsim-rq", kind="horse")
        queue.enqueue_in(dt.timedelta(seconds=10), note, "later")
        sim.run_until_idle()
        assert LOG == [("later", 10)]
        assert "kill of worker 'jobsim-rq''s work horse ignored: it is not running a job" in sim.timeline()


def test_crashes_that_cannot_be_applied_are_refused(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(work, "x", 60)
        sim.advance("10s")
        with pytest.raises(UnsupportedFeature, match=r"running since 2025-03-01T00:00:00.000Z until "
                           r"2025-03-01T00:01:00.000Z .* Plan the crash before the job starts"):  # fmt: skip
            sim.crash_worker(function=work)
        with pytest.raises(InvalidArgument, match=r"at='2025-03-01T00:00:05\+00:00' is in the past"):
            sim.rq.crash_worker(at=at(5))
        with pytest.raises(InvalidArgument, match=r"kind='process' is not valid: 'worker' .* or 'horse'"):
            sim.rq.crash_worker(at=at(100), kind="process")
        with pytest.raises(InvalidArgument, match=r"worker='w9' is not valid: the name of a live simulated RQ "
                           r"worker: 'jobsim-rq'"):  # fmt: skip
            sim.rq.crash_worker(at=at(100), worker="w9")
        with pytest.raises(InvalidArgument, match=r"function"):
            sim.rq.crash_worker(at=at(100), function=note)  # never enqueued: not an RQ function of this simulation
        with pytest.raises(InvalidArgument, match=r"restart"):
            sim.rq.crash_worker(at=at(100), restart="soon")
        sim.crash_worker(at=at(60))  # at the job's end: fine, it hits the next job (or none)


def test_the_same_seed_gives_the_same_trace_with_crashes(queue):
    def story(seed: int) -> list[tuple]:
        with jobsim.Simulation(Worker(queue, count=2), start=START, seed=seed) as sim:
            queue.enqueue(work, "a", 100, retry=Retry(max=1, interval=5), on_failure=Callback(on_failure))
            queue.enqueue(work, "b", 10)
            queue.enqueue_in(dt.timedelta(seconds=30), work, "c", 1)
            sim.crash_worker(at=at(20))
            sim.rq.crash_worker(at=at(2), function=work, kind="horse")
            sim.run_until_idle()
            return [(r.kind, r.at, sorted(r.data.items())) for r in sim.trace.records]

    assert story(1) == story(1) != story(2)


def test_a_retry_queued_during_a_maintenance_run_goes_to_a_worker_blocked_in_blpop():
    """web cleans at 835 s (BLPOP timeouts at 430 and 835 s after its last job ended at 25 s) and requeues the
    job from inside that run, so it is not waiting in BLPOP then; batch-r1 is (since its timeout at 435 s)."""
    high, default = (Queue(n, connection=queue_connection()) for n in ("high", "default"))
    with jobsim.Simulation([Worker([high, default], name="web"), Worker(default, name="batch")], start=START) as sim:
        report = default.enqueue(work, "report", 60, retry=Retry(max=1), on_failure=Callback(on_failure))
        default.enqueue(work, "thumbs", 20)
        high.enqueue(work, "invoice", 5)
        sim.crash_worker(at=at(30), function=work)  # hits report, in flight on batch at 30 s
        sim.run_until_idle()
        assert [e[:4] for e in LOG if e[1] == "start"] == [
            ("invoice", "start", 0, "web"), ("report", "start", 0, "batch"), ("thumbs", "start", 5, "web"),
            ("report", "start", 835, "batch-r1")]  # fmt: skip
        assert ("on_failure", 835, "AbandonedJobError", 1, True) in LOG
        assert report.get_status() == JobStatus.FINISHED and sim.rq.workers == ["web", "batch-r1"]
        [abandon] = [r.data for r in sim.trace.records if r.kind == "rq.abandon"]
        assert (abandon["worker"], abandon["died"], abandon["expired"]) == ("web", "batch", (T0 + 90) * SECOND)


def test_a_worker_dying_later_in_its_job_runs_its_scheduler_until_then(queue):
    """The crash at 45 s is known when the job's body is simulated (at 0 s); until 45 s the worker lives:
    its scheduler queues the job due at 20 s, which the new worker takes as it starts."""
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(work, "long", 100)
        due = queue.enqueue_in(dt.timedelta(seconds=20), note, "due at 20 s")
        sim.crash_worker(at=at(45))
        sim.advance("30s")
        assert sim.rq.workers == ["jobsim-rq"] and due.get_status() == JobStatus.QUEUED
        sim.run_until_idle()
        assert ("due at 20 s", 45) in LOG and due.worker_name == "jobsim-rq-r1"


def test_crashes_planned_for_the_same_instant_and_worker_are_one_crash(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(work, "x", 10)
        sim.rq.crash_worker(at=at(1), worker="jobsim-rq", kind="horse")  # planned first: says which kind
        sim.crash_worker(at=at(1))
        sim.rq.crash_worker(at=at(1), worker="jobsim-rq")
        sim.run_until_idle()
        assert sim.rq.workers == ["jobsim-rq"] and [r.data["how"] for r in sim.trace.records
                                                    if r.kind == "rq.crash"] == ["horse"]  # fmt: skip


def test_a_crash_of_a_function_no_job_used_lists_20_job_functions_and_counts_the_rest(queue):
    """The RQ job functions are listed through ``listed_ids``: 20, then how many more."""
    import inspect
    import operator

    names = sorted(n for n in dir(operator) if not n.startswith("_") and inspect.isbuiltin(getattr(operator, n)))[:22]
    shop = jobsim.App("shop")
    shop.function("greet", on="shop/greet")(lambda ctx: None)
    with jobsim.Simulation(queue, shop, start=START) as sim:
        for name in names:
            queue.enqueue_at(dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc), getattr(operator, name))
        with pytest.raises(InvalidArgument) as info:
            sim.rq.crash_worker(function="greet")
    listed = ", ".join(repr(f"_operator.{name}") for name in names[:20])
    assert str(info.value) == ("function='greet' is not valid: an RQ job function enqueued in this simulation: "
                               f"{listed}, ... and 2 more")
