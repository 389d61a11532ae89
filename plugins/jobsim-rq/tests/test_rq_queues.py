"""Queues, the scheduler, statuses, the worker's order, ids, and what is refused."""

from __future__ import annotations

import datetime as dt
import re
import sys
import time
from typing import Any

import pytest
import redis
from rq import Queue, RateLimit, Retry, get_current_job
from rq.job import JobStatus

import jobsim
from jobsim.errors import InvalidArgument, JobsimError, UnsupportedFeature

START = "2025-03-01T00:00:00Z"
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
SECOND = 1_000_000_000
seen: list[Any] = []


@pytest.fixture(autouse=True)
def _clear():
    seen.clear()


def note(label: str) -> str:
    job = get_current_job()
    assert job is not None
    seen.append((label, dt.datetime.now(dt.timezone.utc) - T0, job.get_status(), job.origin))
    return label.upper()


def busy(label: str, seconds: int) -> None:
    seen.append((label, dt.datetime.now(dt.timezone.utc) - T0))
    time.sleep(seconds)


def spawner(queue_name: str) -> None:
    Queue(queue_name, connection=redis.Redis(port=1)).enqueue_in(dt.timedelta(minutes=5), note, "child")


def fails() -> None:
    raise ValueError("no")


def other_queue(name: str) -> Queue:
    return Queue(name, connection=redis.Redis(host="127.0.0.1", port=1))


def test_enqueue_in_and_enqueue_at_run_on_the_virtual_clock(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        later = queue.enqueue_in(dt.timedelta(minutes=90), note, "in")
        at = queue.enqueue_at(T0 + dt.timedelta(days=2), note, "at")
        assert later.get_status() == at.get_status() == JobStatus.SCHEDULED
        sim.advance("89m")
        assert seen == [] and later.get_status() == JobStatus.SCHEDULED
        sim.advance("1m")
        assert seen == [("in", dt.timedelta(minutes=90), JobStatus.STARTED, "default")]
        assert later.get_status() == JobStatus.FINISHED and later.return_value() == "IN"
        sim.run_until_idle()
        assert seen[-1][:2] == ("at", dt.timedelta(days=2))
        assert later.enqueued_at == T0 + dt.timedelta(minutes=90)  # set by the scheduler when it queues the job


def test_scheduled_times_are_whole_seconds(queue):
    """The ScheduledJobRegistry scores in whole seconds: calendar.timegm(utctimetuple()) (rq/registry.py:650)."""
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue_at(T0 + dt.timedelta(seconds=1, milliseconds=700), note, "fraction")
        sim.run_until_idle()
    assert seen[0][1] == dt.timedelta(seconds=1)


def test_jobs_due_in_the_same_second_are_queued_by_score_then_id(queue):
    """The scheduler takes due jobs with ZRANGEBYSCORE (rq/scheduler.py:244): by score, equal scores by job id --
    not in the order they were scheduled (checked on a real scheduler by test_rq_live_scheduler.py)."""
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(busy, "busy", 10)  # the worker is busy until 10 s: the due jobs wait in the queue
        for label, at in (("c", 5.9), ("a", 5.0), ("b", 5.5), ("late", 6.0)):
            queue.enqueue_at(T0 + dt.timedelta(seconds=at), note, label, job_id=f"id-{label}")
        sim.advance("5s")
        assert queue.job_ids == ["id-a", "id-b", "id-c"]
        sim.advance("1s")
        # due at once: the one scored 0 s (in the past) goes before the one scored 6 s, whatever their ids
        queue.enqueue_at(T0 + dt.timedelta(seconds=6), note, "now", job_id="id-0-now")
        queue.enqueue_at(T0, note, "past", job_id="id-z-past")
        sim.advance("1ms")
        assert queue.job_ids == ["id-a", "id-b", "id-c", "id-late", "id-z-past", "id-0-now"]
        sim.run_until_idle()
    assert [label for label, *_ in seen[1:]] == ["a", "b", "c", "late", "past", "now"]


def test_a_naive_enqueue_at_is_machine_local_time(queue, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        with jobsim.Simulation(queue, start=START) as sim:
            queue.enqueue_at(dt.datetime(2025, 3, 1, 2, 0), note, "naive")  # 02:00 EST = 07:00 UTC
            sim.run_until_idle()
    finally:
        monkeypatch.undo()
        time.tzset()
    assert seen[0][1] == dt.timedelta(hours=7)


def test_statuses_through_a_retried_job(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(fails, retry=Retry(max=1, interval=60))
        assert job.get_status() == JobStatus.QUEUED
        assert sim.runs(fails)[0].status == "queued"
        sim.advance("1s")
        assert job.get_status() == JobStatus.SCHEDULED  # waiting for its retry (Job.retry, rq/job.py:1790)
        assert sim.runs(fails)[0].status == "retrying"
        sim.advance("1m")
        assert job.get_status() == JobStatus.FAILED
        assert sim.runs(fails)[0].status == "failed"


def test_one_worker_reads_its_queues_in_order_and_one_job_at_a_time():
    high, low = other_queue("high"), other_queue("low")
    with jobsim.Simulation([high, low], start=START) as sim:
        low.enqueue(busy, "low-1", 10)
        low.enqueue(busy, "low-2", 10)
        high.enqueue(busy, "high-1", 10)  # enqueued last, at the same instant: the worker reads "high" first
        sim.run_until_idle()
    assert seen == [("high-1", dt.timedelta(0)), ("low-1", dt.timedelta(seconds=10)),
                    ("low-2", dt.timedelta(seconds=20))]  # fmt: skip


def test_a_queue_no_worker_reads_keeps_its_jobs_queued(queue):
    elsewhere = other_queue("elsewhere")
    with (
        pytest.warns(jobsim.UnreadQueueWarning, match=r"1 job\(s\) \(1 of function '.*note'\) wait on queue "
            r"'elsewhere', which no simulated worker reads \(the workers read 'default'\)"),
        jobsim.Simulation(queue, start=START) as sim,
    ):
        job = elsewhere.enqueue(note, "never")
        sim.run_until_idle()
        assert job.get_status() == JobStatus.QUEUED and seen == []
        assert "no simulated worker reads it" in sim.timeline()
        assert sim.rq.unconsumed == [job]


def test_a_job_scheduled_on_a_queue_no_worker_reads_stays_scheduled(queue):
    """A worker's scheduler takes the locks of its own queues only (``RQScheduler.acquire_locks``,
    rq/scheduler.py:126-152): no worker reads 'elsewhere', so no scheduler ever moves its due jobs."""
    elsewhere = other_queue("elsewhere")
    with jobsim.Simulation(queue, start=START) as sim:
        job = elsewhere.enqueue_in(dt.timedelta(minutes=5), note, "later")
        sim.leave_unread(elsewhere)  # unread on purpose (no UnreadQueueWarning)
        sim.advance("1h")
        assert job.get_status() == JobStatus.SCHEDULED and elsewhere.count == 0
        assert elsewhere.scheduled_job_registry.get_job_ids() == [job.id]
        assert "no simulated worker reads it, so no scheduler: stays scheduled" in sim.timeline()


def test_runs_attempts_trace_and_timeline(queue):
    with jobsim.Simulation(queue, start=START, seed=7) as sim:
        job = queue.enqueue(fails, retry=Retry(max=2, interval=[5, 20]))
        sim.run_until_idle()
        [run] = sim.runs(fails)
        assert sim.runs(f"{__name__}.fails") == [run]  # the jobsim id is RQ's func_name
        assert run.id == job.id
        assert [(a.start_ns - run.start_ns) // SECOND for a in run.attempts] == [0, 5, 25]  # 5, then 20
        kinds = [r.kind for r in sim.trace.records if r.data.get("run") == job.id]
        assert kinds == ["run.start", "rq.enqueue", "attempt", "rq.schedule", "retry", "rq.enqueue", "attempt",
                         "rq.schedule", "retry", "rq.enqueue", "attempt", "run.end"]  # fmt: skip
        text = sim.timeline()
        assert f"{__name__}.fails#1 started by enqueue" in text
        assert "scheduled on queue 'default' for 2025-03-01 00:00:05" in text
        assert f"{__name__}.fails#1 failed: ValueError: no" in text


def test_job_ids_follow_the_seed(queue):
    def ids(seed: int) -> list[str]:
        with jobsim.Simulation(queue, start=START, seed=seed) as sim:
            jobs = [queue.enqueue(note, "a"), queue.enqueue_in(dt.timedelta(seconds=1), note, "b")]
            sim.run_until_idle()
        return [j.id for j in jobs]

    assert ids(1) == ids(1) != ids(2)
    with jobsim.Simulation(queue, start=START) as sim:
        assert queue.enqueue(note, "mine", job_id="my-id").id == "my-id"
        assert sim.rq.job("my-id").id == "my-id"
        with pytest.raises(InvalidArgument, match="enqueued twice"):
            queue.enqueue(note, "again", job_id="my-id")
        sim.advance(0)  # the first runs (a job left unrun warns: PendingWorkWarning)


def test_a_job_enqueued_by_a_job_is_its_child(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(spawner, "default")
        sim.run_until_idle()
        assert seen == [("child", dt.timedelta(minutes=5), JobStatus.STARTED, "default")]
        assert f"{__name__}.note#1 started by {__name__}.spawner#1" in sim.timeline()


def test_refused_options_name_themselves(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(note, "a")
        with pytest.raises(UnsupportedFeature, match=r"uses rate_limit=, which jobsim-rq does not"):
            queue.enqueue(note, "b", rate_limit=RateLimit(key="k", concurrency=1))
        with pytest.raises(UnsupportedFeature, match=r"unique=True"):
            queue.enqueue(note, "b", job_id="u", unique=True)
        synchronous = Queue("default", connection=queue.connection, is_async=False)  # another object, same name
        with pytest.raises(UnsupportedFeature, match=r"is_async=False, which jobsim-rq does not simulate: build the "
                                                     r"queue with is_async=True \(the default\)"):  # fmt: skip
            synchronous.enqueue(note, "c")
        sim.run_until_idle()
        assert len(sim.runs(note)) == 1


def test_bad_values_are_rqs_own_checks_as_invalid_argument(queue):
    with jobsim.Simulation(queue, start=START):
        with pytest.raises(InvalidArgument, match=r"Retry\(max=0, interval=0\) is refused by RQ: max: please enter"):
            Retry(max=0)
        with pytest.raises(InvalidArgument, match=r"negative numbers are not allowed"):
            Retry(max=2, interval=[1, -1])
        with pytest.raises(InvalidArgument, match=r"Retry\(max=...\)='3' is not valid"):
            Retry(max="3")  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match=r"RQ refused the job 'note' on queue 'default': 0 timeout"):
            queue.enqueue(note, "a", job_timeout=0)
        with pytest.raises(InvalidArgument, match=r"time_delta=60 is not valid: a datetime.timedelta"):
            queue.enqueue_in(60, note, "a")
        with pytest.raises(ValueError):  # still a ValueError, for code that catches RQ's
            Retry(max=-1)
    with pytest.raises(ValueError, match="max: please enter a value greater than 0"):
        Retry(max=0)  # outside the simulation, RQ's own class is untouched


@pytest.mark.parametrize(("option", "value"), [
    ("job_timeout", float("nan")),  # RQ's parse_timeout: an empty AssertionError
    ("job_timeout", float("inf")),  # OverflowError: cannot convert float infinity to integer
    ("job_timeout", "abc"),  # TimeoutFormatError, not a ValueError
    ("result_ttl", float("nan")),
    ("ttl", "5x"),
    ("failure_ttl", float("-inf")),
])  # fmt: skip
def test_a_timeout_or_ttl_rq_cannot_read_is_named(queue, option, value):
    """Named as the caller wrote it: enqueue's job_timeout reaches create_job as timeout, which no caller types."""
    with jobsim.Simulation(queue, start=START) as sim:
        with pytest.raises(InvalidArgument, match=rf"^RQ refused the job 'note' on queue 'default': "
                                                  rf"{option}={re.escape(repr(value))} is not valid: an int of "
                                                  rf"seconds"):  # fmt: skip
            queue.enqueue(note, "a", **{option: value})
        assert sim.runs() == []


@pytest.mark.parametrize("option", ["job_timeout", "result_ttl", "ttl", "failure_ttl"])
def test_a_timedelta_for_a_timeout_or_ttl_is_named_with_what_to_write(queue, option):
    """``job_timeout=timedelta(minutes=1)``, the natural way to write a duration in Python: RQ's parse_timeout calls
    ``int()`` on it, and the enqueue raised a bare ``TypeError: int() argument must be ... not 'datetime.timedelta'``
    naming no option (the trial32 user trial's)."""
    with jobsim.Simulation(queue, start=START) as sim:
        with pytest.raises(InvalidArgument) as info:
            queue.enqueue(note, "a", **{option: dt.timedelta(minutes=1)})
        assert str(info.value) == (
            f"RQ refused the job 'note' on queue 'default': {option}=datetime.timedelta(seconds=60) is not valid: an "
            "int of seconds, a string of digits with an optional unit d/h/m/s ('1h', '23m'), or None; RQ reads no "
            "timedelta: write 60 (its seconds) or '1m'")
        assert sim.runs() == []


@pytest.mark.parametrize("options", [
    {"job_timeout": "1h"}, {"job_timeout": -1}, {"job_timeout": 2.5}, {"result_ttl": -1}, {"failure_ttl": "1d"},
    {"ttl": "10m"}, {"result_ttl": 0},
])  # fmt: skip
def test_timeouts_and_ttls_rq_reads_are_not_refused(queue, options):
    """parse_timeout reads '1h', -1 (no limit / keep for ever) and floats: the checks must let them through."""
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(note, "a", **options)
        sim.run_until_idle()
        assert job.get_status(refresh=False) == JobStatus.FINISHED and [s[0] for s in seen] == ["a"]


def test_a_retry_that_is_not_a_retry_and_an_enqueue_many_item_that_is_not_prepared_data_are_named(queue):
    """Were AttributeErrors ('int' object has no attribute 'max' from RQ's create_job, 'job_id' from jobsim-rq's
    enqueue_many)."""
    with jobsim.Simulation(queue, start=START) as sim:
        with pytest.raises(InvalidArgument, match=r"^RQ refused the job 'note' on queue 'default': retry=3 is not "
                                                  r"valid: an rq\.Retry\(max=\.\.\., interval=\.\.\.\), or None"):
            queue.enqueue(note, "a", retry=3)
        with pytest.raises(InvalidArgument, match=r"^Queue\.enqueue_many\(\) on RQ queue 'default': job_datas\[1\]="
                                                  r"\(<function note .*\) is not valid: what Queue\.prepare_data"):
            queue.enqueue_many([Queue.prepare_data(note, ("a",)), (note, ("b",))])
        assert sim.runs() == []


def test_an_enqueue_in_past_year_9999_is_named(queue):
    """RQ's now() + time_delta: a bare OverflowError('date value out of range') from rq/queue.py."""
    with jobsim.Simulation(queue, start=START) as sim:
        with pytest.raises(InvalidArgument, match=r"^time_delta=datetime\.timedelta\(days=999999999\) is not valid: "
                                                  r"a datetime\.timedelta that, added to now, stays within year 9999"):
            queue.enqueue_in(dt.timedelta(days=999_999_999), note, "a")
        assert sim.runs() == []


def test_a_synchronous_queue_is_refused():
    sync = Queue("sync", is_async=False, connection=redis.Redis(port=1))
    with pytest.raises(UnsupportedFeature, match="is_async=False"):
        jobsim.Simulation(sync)


def test_the_same_queue_twice_is_refused(queue):
    with pytest.raises(InvalidArgument, match="RQ queue 'default' is passed to this Simulation twice"):
        jobsim.Simulation([queue, queue])
    other = Queue("default", connection=queue.connection)  # another object, the same Redis list
    with pytest.raises(InvalidArgument, match="RQ queue 'default' is passed to this Simulation twice"):
        jobsim.Simulation([queue, other])


def test_one_rq_simulation_at_a_time(queue):
    with jobsim.Simulation(queue, start=START), pytest.raises(JobsimError, match="another simulation with RQ"):
        jobsim.Simulation(other_queue("x"), start=START).start()
    with jobsim.Simulation(queue, start=START) as sim:  # the first one closed: a new one may start
        queue.enqueue(note, "ok")
        sim.run_until_idle()
    assert seen[0][0] == "ok"


def test_nothing_is_patched_after_the_simulation(queue):
    originals = (Queue.enqueue_job, Queue.schedule_job, Queue._enqueue_job, Queue.create_job, Retry.__init__)
    with jobsim.Simulation(queue, start=START):
        assert Queue.enqueue_job is not originals[0]
    assert (Queue.enqueue_job, Queue.schedule_job, Queue._enqueue_job, Queue.create_job, Retry.__init__) == originals
    import rq.queue
    import rq.utils

    assert rq.queue.now is rq.utils.now


def test_sim_runs_names_a_function_not_yet_enqueued(queue):
    with jobsim.Simulation(queue, start=START) as sim, pytest.raises(InvalidArgument, match="function_id"):
        sim.runs(note)


def keeps_progress(steps: int) -> int:
    job = get_current_job()
    assert job is not None
    for step in range(steps):
        job.meta["progress"] = step + 1
        job.save_meta()  # the job's hash: the test's Job reads it with get_meta()
        time.sleep(1)
    return steps


def test_meta_is_finished_and_at_front(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(note, "back")
        queue.enqueue(note, "front", at_front=True)
        job = queue.enqueue(keeps_progress, 3, meta={"owner": "ops"})
        assert not job.is_finished and job.is_queued
        sim.advance("1s")  # the two notes at 0 s, then keeps_progress from 0 s to 3 s
        assert job.is_started and job.return_value() is None and sim.runs(keeps_progress)[0].status == "running"
        sim.advance("2s")
        assert job.is_finished and sim.runs(keeps_progress)[0].status == "completed"
        sim.run_until_idle()
        assert job.is_finished and job.return_value() == 3 and job.get_meta()["progress"] == 3
    assert [entry[0] for entry in seen] == ["front", "back"]


def counts_in_meta() -> None:
    """Saves its execution count in ``meta``, sets a key it does not save, saves again 2 s later; fails once."""
    job = get_current_job()
    assert job is not None
    seen.append(dict(job.meta))
    job.meta["saved"] = job.meta.get("saved", 0) + 1
    job.save_meta()
    job.meta["unsaved"] = True
    time.sleep(2)
    job.meta["late"] = job.meta["saved"]
    job.save_meta()
    if job.meta["saved"] == 1:
        raise ValueError("first execution")


def test_the_tests_job_reads_meta_as_job_code_saved_it(queue):
    # the worker runs its own Job, fetched from Redis: the one the test holds sees what job code saved (HSET meta)
    # only through get_meta()/refresh()/Job.fetch, at the instant it was saved (rq/job.py:450-463, 1076-1085, 1200)
    from rq.job import Job

    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(counts_in_meta, meta={"owner": "ops"}, retry=Retry(max=1, interval=10))
        sim.advance("1s")
        assert job.meta == job.get_meta(refresh=False) == {"owner": "ops"}
        assert job.get_meta() == job.meta == {"owner": "ops", "saved": 1}  # saved at 0 s; not yet the one at 2 s
        job.meta["mine"] = True  # never saved: the worker's Job does not see it
        sim.advance("2s")
        assert job.meta == {"owner": "ops", "saved": 1, "mine": True}
        job.refresh()  # Job.retry saved the whole Job at 2 s: the key job code never saved too (rq/queue.py:1408)
        assert job.meta == {"owner": "ops", "saved": 1, "unsaved": True, "late": 1}
        sim.run_until_idle()
        assert job.is_finished and job.meta == {"owner": "ops", "saved": 1, "unsaved": True, "late": 1}
        final = {"owner": "ops", "saved": 2, "unsaved": True, "late": 2}
        assert Job.fetch(job.id, connection=queue.connection).meta == final  # the success saved no meta
        assert job.get_meta() == final
    assert seen == [{"owner": "ops"}, {"owner": "ops", "saved": 1, "unsaved": True, "late": 1}]


class Mailer:
    def __init__(self, sender: str) -> None:
        self.sender = sender

    def send(self, to: str) -> str:
        seen.append((self.sender, to))
        return f"{self.sender}->{to}"


def exits() -> None:
    raise SystemExit(3)


def enqueues_a_refused_job() -> None:
    Queue("default", connection=redis.Redis(port=1)).enqueue(note, "x", rate_limit=RateLimit(key="k", concurrency=1))


def test_sim_fail_fails_the_next_attempts_of_a_job_function(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(note, "flaky", retry=Retry(max=2, interval=7))
        sim.fail(note, times=2, error=ConnectionError("injected"))
        sim.run_until_idle()
        [run] = sim.runs(note)
        assert [type(a.error) for a in run.attempts] == [ConnectionError, ConnectionError, type(None)]
        assert [(a.start_ns - run.start_ns) // SECOND for a in run.attempts] == [0, 7, 14]
        assert job.get_status() == JobStatus.FINISHED and [entry[0] for entry in seen] == ["flaky"]


def test_functions_by_path_and_bound_methods(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        by_path = queue.enqueue(f"{__name__}.note", "by-path")
        method = queue.enqueue(Mailer("shop").send, "ann")
        sim.run_until_idle()
        assert by_path.return_value() == "BY-PATH" and sim.runs(note)[0].id == by_path.id
        assert method.return_value() == "shop->ann"
        assert [r.function.id for r in sim.runs()] == [f"{__name__}.note", "send"]  # RQ's func_name


def test_an_unimportable_function_fails_as_on_a_worker(queue):
    def local() -> None: ...

    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(local)
        sim.run_until_idle()
        assert job.get_status() == JobStatus.FAILED
        [run] = sim.runs()
        assert run.function.id.endswith("<locals>.local") and run.error is not None
        assert sim.runs(local) == [run]  # the function itself finds its runs, though RQ cannot import it
        assert str(run.error) == "Invalid attribute name: local"  # RQ's import_attribute, as on a worker


def test_system_exit_in_a_job_is_a_failure_and_jobsim_errors_reach_the_test(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(exits)
        sim.run_until_idle()
        assert job.get_status() == JobStatus.FAILED and isinstance(sim.runs(exits)[0].error, SystemExit)
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(enqueues_a_refused_job)
        with pytest.raises(UnsupportedFeature, match=r"rate_limit="):
            sim.run_until_idle()


def test_downtime_is_refused_for_rq_jobs(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(note, "x")
        # crashes are simulated (test_rq_crashes.py); a downtime of "the system" is not an RQ notion
        with pytest.raises(UnsupportedFeature, match=r"^sim.downtime\(\) is not simulated for rq functions \(their "
                           r"worker is the plugin's own\); sim.crash_worker\(...\) is, if the rq plugin simulates "
                           r"crashes \(see its README\)$"):
            sim.downtime("2025-03-01T01:00:00Z", "2025-03-01T02:00:00Z")
        sim.advance(0)  # the job runs (a job left unrun warns: PendingWorkWarning)


def test_a_duplicate_delivery_of_an_rq_job_function_is_refused_not_ignored(queue):
    """``sim.duplicate_delivery(note)`` was accepted and did nothing: RQ job functions are declared as they are
    enqueued (``Adapted.functions`` is empty), so the check for a plugin's own worker never found them, and a test
    of a duplicate passed without one (the trial32 user trial's, through ``js.faults``). Refused, as for Dramatiq
    actors."""
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(note, "x")
        sim.advance(0)
        with pytest.raises(UnsupportedFeature, match=r"^sim.duplicate_delivery\(\) is not simulated for rq functions "
                           r"\(their worker is the plugin's own\); sim.crash_worker\(...\) is"):
            sim.duplicate_delivery(note)


def test_enqueue_many_follows_rqs_order_of_queued_deferred_and_released_jobs(queue):
    """``Queue.enqueue_many`` (``rq/queue.py:889-986``; it was refused): jobs without dependencies are queued first,
    in order; every job with dependencies is saved deferred before any is checked, so "c", listed before the "b" it
    depends on, waits for it; ``at_front`` of a deferred job applies only if it is met at once."""
    from rq.job import JobStatus

    with jobsim.Simulation(queue, start=START) as sim:
        first = queue.enqueue(note, "first")
        jobs = queue.enqueue_many([
            Queue.prepare_data(note, ("c",), depends_on="id-b", job_id="id-c"),
            Queue.prepare_data(note, ("a",), job_id="id-a"),
            Queue.prepare_data(note, ("b",), depends_on="id-a", job_id="id-b"),
            Queue.prepare_data(note, ("d",), depends_on=first, job_id="id-d", at_front=True),
            Queue.prepare_data(note, ("e",), job_id="id-e", at_front=True),
        ])  # fmt: skip
        assert [job.id for job in jobs] == ["id-a", "id-e", "id-c", "id-b", "id-d"]  # RQ's return order
        assert [job.get_status() for job in jobs] == [JobStatus.QUEUED] * 2 + [JobStatus.DEFERRED] * 3
        assert queue.job_ids == ["id-e", first.id, "id-a"]
        sim.run_until_idle()
        assert [entry[0] for entry in seen] == ["e", "first", "a", "d", "b", "c"]
        with pytest.raises(ValueError, match=r"^Job ID 'x' appears more than once in enqueue_many\(\)$"):
            queue.enqueue_many([Queue.prepare_data(note, job_id="x"), Queue.prepare_data(note, job_id="x")])
        with pytest.raises(UnsupportedFeature, match=r"^Queue\.enqueue_many\(pipeline=\.\.\.\) .* Redis pipelines"):
            queue.enqueue_many([Queue.prepare_data(note, ("a",))], pipeline=queue.connection.pipeline())
        assert len(sim.runs(note)) == 6


def test_a_simulation_without_queues_does_not_import_rq():
    """Installing jobsim-rq costs nothing to other simulations: its entry point loads, RQ (~60 ms) does not."""
    import os
    import pathlib
    import subprocess
    import sys

    import jobsim_rq

    script = (
        "import sys, jobsim\n"
        "app = jobsim.App('plain')\n"
        "@app.function('f', on='x')\n"
        "def f(ctx):\n"
        "    return 1\n"
        "with jobsim.Simulation(app) as sim:\n"
        "    sim.send('x'); sim.run_until_idle()\n"
        "assert 'jobsim_rq.plugin' in sys.modules, 'the plugin was not loaded'\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rq', 'redis')))\n"
    )
    paths = [pathlib.Path(jobsim.__file__).parent.parent, pathlib.Path(jobsim_rq.__file__).parent.parent]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, paths)))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def enqueues_later(seconds: int) -> None:
    time.sleep(7)
    Queue("default", connection=redis.Redis(port=1)).enqueue(note, "enqueued at 7 s by a job")
    time.sleep(seconds - 7)


def test_jobs_queue_in_the_order_of_their_virtual_instants(queue):
    """A running job's body is simulated in one go, before the scheduler's timer at 5 s; the job it enqueues
    at 7 s still lines up after the one the scheduler queued at 5 s (RQ's list holds them in that order)."""
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(enqueues_later, 10)
        queue.enqueue_in(dt.timedelta(seconds=5), note, "scheduled for 5 s")
        sim.run_until_idle()
    ten = dt.timedelta(seconds=10)
    assert [(label, at) for label, at, *_ in seen] == [("scheduled for 5 s", ten), ("enqueued at 7 s by a job", ten)]


def test_naming_a_job_function_before_it_was_ever_enqueued_says_why_it_is_unknown(queue):
    """RQ job functions are only known to the simulation once a queue enqueued them: arming
    ``sim.fail(note)`` first was refused with "one of the simulated function ids: " and an
    empty list, which names neither the problem nor the way out."""
    with jobsim.Simulation(queue, start=START) as sim:
        for call in (lambda: sim.fail(note, times=2), lambda: sim.runs(note), lambda: sim.crash_worker(function=note)):
            with pytest.raises(InvalidArgument, match=r"is not valid: no function is known yet: rq functions are "
                               r"only known once user code has used them \(enqueued or added a job of it, say\); "
                               r"do that first, then name it"):
                call()
        queue.enqueue(note, "now known")
        sim.fail(note)  # accepted now
        sim.run_until_idle()
        assert [type(run.attempts[0].error) for run in sim.runs(note)] == [jobsim.errors.InjectedFault]


def test_an_rq_job_or_a_real_rq_worker_as_the_target_is_refused_naming_what_to_pass(queue):
    """A ``Job`` (what ``enqueue`` returns) or RQ's own ``Worker`` got the generic "a jobsim.App or a
    target a backend plugin adapts", with every plugin's install line."""
    from rq import Worker as RQWorker

    job = queue.create_job(note, args=("x",))
    with pytest.raises(InvalidArgument, match=r"is not valid: an RQ job; jobsim-rq runs queues: pass the queue it "
                       r"is enqueued on, jobsim.Simulation\(queue\)"):
        jobsim.Simulation(job)
    with pytest.raises(InvalidArgument, match=r"is not valid: RQ's own Worker, which would work in real time "
                       r"against Redis; pass jobsim_rq.Worker\(\[queue, \.\.\.\], count=\.\.\.\) instead"):
        jobsim.Simulation(object.__new__(RQWorker))  # RQWorker(...) itself talks to Redis, which is not running


def test_the_queues_redis_connection_as_the_target_is_refused_naming_what_to_pass(queue):
    """It got the generic message, led by the connection's repr (hundreds of characters of pool options)."""
    for target in (queue.connection, queue.connection.connection_pool):
        with pytest.raises(InvalidArgument, match=r"^targets=(Redis|ConnectionPool)\(\.\.\.\) is not valid: a Redis "
                           r"connection; jobsim-rq runs RQ queues .*: pass the queues built on it, "
                           r"jobsim.Simulation\(queue\)") as excinfo:
            jobsim.Simulation(target)
        assert len(str(excinfo.value)) < 300


def test_a_simulation_without_the_queue_refuses_enqueues_instead_of_using_redis(queue, connects):
    """The test forgot to pass the queue: ``enqueue`` went to the queue's real Redis (a local one would take it)."""
    names = ("enqueue_call", "enqueue_at", "enqueue_many", "enqueue_job", "schedule_job")
    originals = {name: Queue.__dict__[name] for name in names}
    app = jobsim.App("shop")

    @app.function(id="checkout", on="order/placed")
    def checkout(ctx):
        return queue.enqueue(note, "receipt").id

    message = (r"^RQ queue 'default' is not part of this simulation: Queue\.enqueue_(call|at) would write to its "
               r"real Redis \(127\.0\.0\.1:1/0\)\. This simulation runs no RQ queue: pass the queue, e\.g\. "
               r"jobsim\.Simulation\(queue\)")  # fmt: skip
    with jobsim.Simulation(app, start=START) as sim:
        with pytest.raises(JobsimError, match=message):
            queue.enqueue(note, "x")
        with pytest.raises(JobsimError, match=message):
            queue.enqueue_in(dt.timedelta(minutes=5), note, "x")
        assert connects == []  # no connection attempt
        sim.send("order/placed", {})
        sim.run_until_idle()
        assert re.match(message, str(sim.runs("checkout")[0].error))  # the function's own failure
    assert {name: Queue.__dict__[name] for name in names} == originals
    with jobsim.Simulation(queue, app, start=START) as sim:  # passed: both run
        sim.send("order/placed", {})
        sim.run_until_idle()
        assert [r.status for r in sim.runs(note)] == ["completed"]
    assert {name: Queue.__dict__[name] for name in names} == originals



def test_a_simulation_without_the_queue_refuses_emptying_or_deleting_it_in_redis(queue):
    """Only the enqueues were guarded: ``queue.empty()`` (a common clean-up at a test's start) and ``queue.delete()``
    ran against the queue's real Redis, where a developer's local one would lose its jobs."""
    originals = {name: Queue.__dict__[name] for name in ("empty", "delete")}
    app = jobsim.App("shop")

    @app.function(id="checkout", on="order/placed")
    def checkout(ctx):
        return None

    message = (r"^RQ queue 'default' is not part of this simulation: Queue\.{} would write to its real Redis "
               r"\(127\.0\.0\.1:1/0\)\. This simulation runs no RQ queue")  # fmt: skip
    with jobsim.Simulation(app, start=START):
        with pytest.raises(JobsimError, match=message.format("empty")):
            queue.empty()
        with pytest.raises(JobsimError, match=message.format("delete")):
            queue.delete(delete_jobs=True)
    assert {name: Queue.__dict__[name] for name in originals} == originals
    with jobsim.Simulation(queue, start=START) as sim:  # passed: the simulation's own
        queue.enqueue_in(dt.timedelta(minutes=5), note, "x")
        assert queue.empty() == 0 and sim.runs(note)[0].status == "queued"

SEEN: list[Any] = []


def keep(value: Any) -> None:
    SEEN.append(value)


def test_the_job_runs_on_its_arguments_as_the_serializer_saved_them_at_enqueue(queue):
    """``Job.save`` writes ``serializer.dumps((func_name, instance, args, kwargs))`` and the worker runs the job it
    fetched back: it saw the enqueuer's own objects, changed after the enqueue, and JSON's int keys unchanged."""
    from rq.serializers import JSONSerializer

    as_json = Queue("json", connection=queue.connection, serializer=JSONSerializer)
    SEEN.clear()
    with jobsim.Simulation(queue, as_json, start=START) as sim:
        order = {"items": ["book"]}
        job = queue.enqueue(keep, order)
        order["items"].append("added after the enqueue")
        as_json.enqueue(keep, {1: ("a", "b")})
        sim.run_until_idle()
        assert SEEN == [{"items": ["book"]}, {"1": ["a", "b"]}]
        assert job.args[0] is order  # the test's Job keeps its own objects, as the enqueuer's does
        with pytest.raises(TypeError, match="Object of type datetime is not JSON serializable"):
            as_json.enqueue(keep, dt.datetime(2025, 3, 1))  # raised by Job.save, at the call, as in RQ
        sim.run_until_idle()
        assert len(sim.runs(keep)) == 2


def test_reading_a_job_after_its_simulation_closed_says_so(queue, connects):
    """RQ reads ``get_status()``/``return_value()`` from Redis: after the ``with`` block that was a
    ``redis.ConnectionError`` after redis-py's retries (or a real Redis that never had the job)."""
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(note, "x")
        sim.run_until_idle()
        assert job.get_status() == JobStatus.FINISHED
    message = (rf"^RQ job {job.id} belongs to a simulation that has closed, and RQ would read it from Redis "
               r"\(connection\.\w+\): read it inside the `with` block, .*get_status\(refresh=False\)")
    for read in (job.get_status, job.return_value, job.latest_result, job.refresh):
        with pytest.raises(JobsimError, match=message):
            read()
    assert connects == []  # no connection attempt (nor redis-py's retries)
    assert job.get_status(refresh=False) == JobStatus.FINISHED and job.args == ("x",)


def test_a_simulation_with_the_queue_inside_one_without_runs_its_jobs(queue):
    """The guard of the outer simulation (no RQ queue) must not refuse the inner one's enqueues."""
    outer_app = jobsim.App("outer")

    @outer_app.function(id="noop", on="x")
    def noop(ctx):
        return None

    with jobsim.Simulation(outer_app, start=START), jobsim.Simulation(queue, start=START) as inner:
        queue.enqueue(note, "inner")
        inner.run_until_idle()
        assert [r.status for r in inner.runs(note)] == ["completed"]


def test_a_job_function_named_without_its_module_is_told_the_id_meant(queue):
    """RQ names a job's function ``module.qualname`` (``job.func_name``). ``sim.runs("note")`` after the job ran
    said "rq functions are only known once user code has used them ...; do that first", which it had done: the
    error now names the id meant, and says nothing about enqueueing first."""
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(note, "x")
        sim.run_until_idle()
        for call in (lambda: sim.runs("note"), lambda: sim.fail("note")):
            with pytest.raises(InvalidArgument) as info:
                call()
            assert str(info.value) == ("function_id='note' is not valid: did you mean 'test_rq_queues.note'? (rq names "
                                       "a function by its module and name); the simulated function ids: "
                                       "'test_rq_queues.note'")


def test_a_second_rq_simulation_names_where_the_running_one_was_started(queue):
    """A module-scoped fixture's simulation still holds RQ: the refusal says where it was started, as the core's
    does for an App (it once said only "another simulation ... is running")."""
    with jobsim.Simulation(queue, start=START):
        started = _started_here()
        with pytest.raises(JobsimError) as caught:
            jobsim.Simulation(other_queue("x"), start=START).start()
    message = str(caught.value)
    assert message.startswith("another simulation with RQ queues is running in this process (<Simulation at ")
    assert f"running>, {started}); close it before starting this one" in message


def _started_here(back: int = 1) -> str:
    """``started at FILE:LINE in FUNCTION`` of the caller's line ``back`` lines up (where it started a simulation)."""
    frame = sys._getframe(1)
    return f"started at {frame.f_code.co_filename}:{frame.f_lineno - back} in {frame.f_code.co_name}"
