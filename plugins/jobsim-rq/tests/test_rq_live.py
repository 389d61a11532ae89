"""Live conformance: RQ jobs on a real worker and Redis vs the simulation's prediction.

Fourteen scenarios: a job that always fails with ``Retry(max=3, interval=[1, 2])`` and a
failure callback; a job that *returns* ``Retry(max=2, interval=[1, 2])`` (the other
interval rule); a job that sleeps past ``job_timeout=1`` with ``Retry(max=1, interval=1)``;
an ``async def`` job awaiting ``asyncio.sleep``, once within its time and once past
``job_timeout=1``; jobs whose Redis key expires (``ttl`` while waiting behind a busy
job or for a retry, ``result_ttl=0``); a job stopped with ``send_stop_job_command`` on
RQ's forking ``Worker``; two forking workers sharing one queue; a work horse killed
with ``SIGKILL`` (twice: retried, then failed); a whole worker killed with its horse (the
job is abandoned in the ``StartedJobRegistry``); a job with ``Repeat(times=2, interval=[1, 2])``; and
the registries, results and ``job.requeue()`` of a job failing once, its dependent and a job that
returns; and the ``meta`` a retried job saves, as the enqueuer's ``Job`` sees it.

Run with the rest of the suite (marker ``live``); skipped, with the reason, when
``redis-server`` is not installed. The worker is RQ's ``SimpleWorker`` with its
scheduler (``work(with_scheduler=True)``) in a subprocess; Redis is started on a free
loopback port and stopped by pid (``conftest.py``).

Checked against the simulation's prediction: the same sequence of attempts and
failure callbacks (the callback runs after *every* failed attempt, retried or not),
the same ``retries_left`` seen by each, the same final status; and the retry interval
RQ chose each time. Real delays are noisy by design: the scheduler scores a job in
whole seconds (``rq/registry.py:650``) and polls once a second (``rq/scheduler.py:62``),
so a real gap between attempts is within ``TOLERANCE`` of the predicted one. The
interval is checked more sharply: while the job waits, the test reads its score in the
``ScheduledJobRegistry``; with ``t`` the instant the failure callback ran (RQ reads its
clock for the score just after), the predicted interval ``I`` must satisfy
``score - SLACK <= t + I < score + 1`` (see ``check_intervals``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterator

import pytest
import rq_live_jobs
from rq import Queue, Retry
from rq.callbacks import Callback
from rq.job import Job, JobStatus

import jobsim

SECOND = 1_000_000_000

pytestmark = pytest.mark.live

LATE = 1.0  # seconds a real worker's callback may come after the instant a timer set (measured 0.59 s on CI's
# 2 cores beside its other stages: a SIGALRM on time, then the work horse's handling and on_failure's Redis write)
TOLERANCE = 1.75  # seconds per gap: up to 1 s earlier (whole-second scores), 1 s later (the 1 s poll), plus load
SLACK = 0.5  # seconds, at most, between the reference instant and RQ reading its clock for the score (load included)


def enqueue(queue: Queue) -> Job:
    return queue.enqueue(rq_live_jobs.always_fails, "a", retry=Retry(max=3, interval=[1, 2]),
                         on_failure=Callback(rq_live_jobs.on_failure))  # fmt: skip


def enqueue_returning(queue: Queue) -> Job:
    return queue.enqueue(rq_live_jobs.asks_for_retry, "b")


def enqueue_timeout(queue: Queue) -> Job:
    return queue.enqueue(rq_live_jobs.sleeps, "c", 3, job_timeout=1, retry=Retry(max=1, interval=1),
                         on_failure=Callback(rq_live_jobs.on_failure))  # fmt: skip


def enqueue_async_timeout(queue: Queue) -> Job:
    return queue.enqueue(rq_live_jobs.async_sleeps, "d", 3, job_timeout=1, retry=Retry(max=1, interval=1),
                         on_failure=Callback(rq_live_jobs.on_failure))  # fmt: skip


def enqueue_async(queue: Queue) -> Job:
    return queue.enqueue(rq_live_jobs.async_sleeps, "e", 1.5)


def predicted(scenario: Callable[[Queue], Job] = enqueue) -> tuple[list[dict], Job]:
    import redis

    rq_live_jobs.LOCAL.clear()
    queue = Queue(rq_live_jobs.LIVE_QUEUE, connection=redis.Redis(host="127.0.0.1", port=1))
    with jobsim.Simulation(queue, start="2025-03-01T00:00:00Z") as sim:
        job = scenario(queue)
        sim.run_until_idle()
    return list(rq_live_jobs.LOCAL), job


def observed(redis_url: str, worker, scenario: Callable[[Queue], Job] = enqueue) -> tuple[list[dict], Job, dict]:
    """The real run's log and final job, and each score the job had in the ScheduledJobRegistry."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        queue = Queue(rq_live_jobs.LIVE_QUEUE, connection=client)
        job = scenario(queue)
        key = queue.scheduled_job_registry.key
        scores: dict[float, int] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            worker.check()
            score = client.zscore(key, job.id)
            if score is not None:
                scores.setdefault(score, len(scores))
            if job.get_status() in (JobStatus.FAILED, JobStatus.FINISHED):
                break
            time.sleep(0.005)
        time.sleep(0.3)  # nothing more should arrive
        log = [json.loads(raw) for raw in client.lrange(rq_live_jobs.LOG_KEY, 0, -1)]
        job.refresh()
        return log, job, scores
    finally:
        client.close()


def shape(log: list[dict]) -> list[tuple]:
    return [tuple(sorted((k, v) for k, v in e.items() if k not in ("t", "status"))) for e in log]


def check_intervals(scores: dict[float, int], after: list[float], predicted: list[int]) -> None:
    """Each score RQ wrote is ``floor(t' + I)`` with ``t'`` at most ``SLACK`` after ``t`` (from ``after``):
    the predicted interval ``I`` must satisfy ``score - SLACK <= t + I < score + 1``. One second more or
    less fails it unless ``t + I`` falls within ``SLACK`` of a whole second."""
    assert scores, "the job was never seen waiting in the ScheduledJobRegistry"
    for score, nth in scores.items():
        t, interval = after[nth], predicted[nth]
        assert score - SLACK <= t + interval < score + 1, (nth, score, t, interval, scores, after)


def test_the_simulation_predicts_rqs_retry_intervals():
    log, job = predicted()
    t0 = log[0]["t"]
    attempts = [round(e["t"] - t0, 3) for e in log if e["kind"] == "attempt"]
    # enqueue-time Retry: index = max(len(intervals) - retries_left, 0): 1 (first repeats), 1, 2
    assert attempts == [0, 1, 2, 4]
    assert [(e["kind"], e["retries_left"], e.get("error")) for e in log] == [
        ("attempt", 3, None), ("on_failure", 3, "ValueError: a failed"),
        ("attempt", 2, None), ("on_failure", 2, "ValueError: a failed"),
        ("attempt", 1, None), ("on_failure", 1, "ValueError: a failed"),
        ("attempt", 0, None), ("on_failure", 0, "ValueError: a failed"),
    ]  # fmt: skip
    assert job.get_status(refresh=False) == JobStatus.FAILED and job.retries_left == 0


def test_the_real_worker_does_what_the_simulation_predicts(redis_url, rq_worker):
    expected, sim_job = predicted()
    real, real_job, scores = observed(redis_url, rq_worker)
    print("observed", real, scores)
    assert shape(real) == shape(expected)
    assert [e["status"] for e in real if e["kind"] == "attempt"] == ["started"] * 4
    assert real_job.get_status() == sim_job.get_status(refresh=False) == JobStatus.FAILED
    assert real_job.retries_left == sim_job.retries_left == 0

    def gaps(log: list[dict]) -> list[float]:
        starts = [e["t"] for e in log if e["kind"] == "attempt"]
        return [b - a for a, b in itertools.pairwise(starts)]

    sim_gaps = gaps(expected)
    assert sim_gaps == [1, 1, 2]
    for real_gap, sim_gap in zip(gaps(real), sim_gaps, strict=True):
        assert abs(real_gap - sim_gap) <= TOLERANCE, (gaps(real), sim_gaps)

    # the interval RQ chose after each retried failure, read from the score it wrote
    check_intervals(scores, [e["t"] for e in real if e["kind"] == "on_failure"], [round(g) for g in sim_gaps])


def test_a_returned_retry_repeats_the_last_interval_on_the_real_worker_too(redis_url, rq_worker):
    expected, sim_job = predicted(enqueue_returning)
    starts = [e["t"] - expected[0]["t"] for e in expected]
    assert starts == [0, 1, 3]  # Retry.get_interval: 1, then the last interval, 2
    assert [e["number_of_retries"] for e in expected] == [None, 1, 2]
    real, real_job, scores = observed(redis_url, rq_worker, enqueue_returning)
    print("observed", real, scores)
    assert shape(real) == shape(expected)
    assert real_job.get_status() == sim_job.get_status(refresh=False) == JobStatus.FAILED
    real_starts = [e["t"] - real[0]["t"] for e in real]
    assert all(abs(r - p) <= 2 * TOLERANCE for r, p in zip(real_starts, starts, strict=True)), real_starts
    check_intervals(scores, [e["t"] for e in real], [1, 2])


def enqueue_repeat(queue: Queue) -> Job:
    from rq import Repeat

    return queue.enqueue(rq_live_jobs.returns, "r", repeat=Repeat(times=2, interval=[1, 2]))


def test_repeat_on_the_real_worker(redis_url, rq_worker):
    """``Repeat(times=2, interval=[1, 2])``: three runs, 1 then 2 s apart (``rq/repeat.py:82-126``), each
    saving a ``SUCCESSFUL`` result."""
    import redis
    from rq.results import Result

    expected, sim_job = predicted(enqueue_repeat)
    starts = [e["t"] - expected[0]["t"] for e in expected]
    assert starts == [0, 1, 3]
    real, real_job, scores = observed(redis_url, rq_worker, enqueue_repeat)
    print("observed", real, scores)
    assert shape(real) == shape(expected)
    assert real_job.get_status() == sim_job.get_status(refresh=False) == JobStatus.FINISHED
    assert real_job.repeats_left == sim_job.repeats_left == 0
    real_starts = [e["t"] - real[0]["t"] for e in real]
    assert all(abs(r - p) <= 2 * TOLERANCE for r, p in zip(real_starts, starts, strict=True)), real_starts
    check_intervals(scores, [e["t"] for e in real], [1, 2])
    client = redis.Redis.from_url(redis_url)
    try:
        results = Job.fetch(real_job.id, connection=client).results()
    finally:
        client.close()
    # the simulation's three SUCCESSFUL results: test_rq_registries.py (its Result objects need the simulation)
    assert [r.type for r in results] == [Result.Type.SUCCESSFUL] * 3


def test_job_timeout_on_the_real_worker(redis_url, rq_worker):
    expected, sim_job = predicted(enqueue_timeout)
    error = "JobTimeoutException: Task exceeded maximum timeout value (1 seconds)"
    assert [(e["kind"], e["retries_left"], e.get("error")) for e in expected] == [
        ("attempt", 1, None), ("on_failure", 1, error), ("attempt", 0, None), ("on_failure", 0, error)]  # fmt: skip
    assert [e["t"] - expected[0]["t"] for e in expected] == [0, 1, 2, 3]
    real, real_job, _ = observed(redis_url, rq_worker, enqueue_timeout)
    print("observed", real)
    assert shape(real) == shape(expected)  # no "woke": the death penalty stopped both sleeps
    assert real_job.get_status() == sim_job.get_status(refresh=False) == JobStatus.FAILED
    for attempt, callback in zip(real[::2], real[1::2], strict=True):
        assert -0.05 <= callback["t"] - attempt["t"] - 1 <= LATE, real  # the alarm fires after job_timeout


def test_an_async_job_sleeps_as_on_the_real_worker(redis_url, rq_worker):
    expected, sim_job = predicted(enqueue_async)
    assert [(e["kind"], e["t"] - expected[0]["t"]) for e in expected] == [("attempt", 0), ("woke", 1.5),
                                                                          ("finally", 1.5)]  # fmt: skip
    real, real_job, _ = observed(redis_url, rq_worker, enqueue_async)
    print("observed", real)
    assert shape(real) == shape(expected)
    assert real_job.get_status(refresh=False) == sim_job.get_status(refresh=False) == JobStatus.FINISHED
    assert -0.05 <= real[1]["t"] - real[0]["t"] - 1.5 <= LATE, real  # asyncio.run slept 1.5 s, the simulation none


def test_job_timeout_inside_an_async_job_on_the_real_worker(redis_url, rq_worker):
    """SIGALRM interrupts the loop's select; asyncio.run's clean-up then cancels the job's task, whose
    finally runs; the JobTimeoutException reaches the failure callback and the job is retried."""
    expected, sim_job = predicted(enqueue_async_timeout)
    error = "JobTimeoutException: Task exceeded maximum timeout value (1 seconds)"
    assert [(e["kind"], e.get("retries_left"), e.get("error"), e["t"] - expected[0]["t"]) for e in expected] == [
        ("attempt", 1, None, 0), ("finally", None, None, 1), ("on_failure", 1, error, 1),
        ("attempt", 0, None, 2), ("finally", None, None, 3), ("on_failure", 0, error, 3)]  # fmt: skip
    real, real_job, _ = observed(redis_url, rq_worker, enqueue_async_timeout)
    print("observed", real)
    assert shape(real) == shape(expected)  # no "woke": the alarm stopped both awaits
    assert real_job.get_status(refresh=False) == sim_job.get_status(refresh=False) == JobStatus.FAILED
    for attempt, end in zip(real[::3], real[1::3], strict=True):
        assert -0.05 <= end["t"] - attempt["t"] - 1 <= LATE, real  # the alarm fires after job_timeout


def enqueue_expiring(queue: Queue) -> list[Job]:
    """A failing job with ttl=1 whose retry waits 3 s (the retry's own cleanup(ttl) expires it 1 s later,
    before the scheduler gets to it); a job busy for 2 s; behind it one with ttl=1 (its key expires before
    the worker is free) and one with result_ttl=0 (deleted as it finishes)."""
    return [queue.enqueue(rq_live_jobs.always_fails, "retried", ttl=1, retry=Retry(max=2, interval=3),
                          on_failure=Callback(rq_live_jobs.on_failure)),
            queue.enqueue(rq_live_jobs.sleeps, "busy", 2),
            queue.enqueue(rq_live_jobs.sleeps, "late", 0, ttl=1),
            queue.enqueue(rq_live_jobs.sleeps, "quick", 0, result_ttl=0)]  # fmt: skip


def key_states(sim_or_client, jobs: list[Job]) -> dict[str, bool]:
    """Which of ``jobs`` RQ still has: Redis ``EXISTS`` on the real side, ``sim.rq.job`` in the simulation."""
    from rq.exceptions import NoSuchJobError

    states = {}
    for job in jobs:
        label = job.args[0]
        if isinstance(sim_or_client, jobsim.Simulation):
            try:
                states[label] = sim_or_client.rq.job(job.id) is job
            except NoSuchJobError:
                states[label] = False
        else:
            states[label] = bool(sim_or_client.exists(job.key))
    return states


def test_expired_keys_on_the_real_worker(redis_url, rq_worker):
    import redis

    rq_live_jobs.LOCAL.clear()
    queue = Queue(rq_live_jobs.LIVE_QUEUE, connection=redis.Redis(host="127.0.0.1", port=1))
    with jobsim.Simulation(queue, start="2025-03-01T00:00:00Z") as sim:
        jobs = enqueue_expiring(queue)
        sim.advance("6s")
        expected_keys = key_states(sim, jobs)
    expected = list(rq_live_jobs.LOCAL)
    assert expected_keys == {"retried": False, "busy": True, "late": False, "quick": False}
    # "retried" runs once (its callback sees retries_left 2), then its key expires; "late" never runs
    assert [(e["kind"], e["label"], e.get("retries_left"), e["t"] - expected[0]["t"]) for e in expected] == [
        ("attempt", "retried", 2, 0), ("on_failure", "retried", 2, 0), ("attempt", "busy", None, 0),
        ("woke", "busy", None, 2), ("attempt", "quick", None, 2), ("woke", "quick", None, 2)]  # fmt: skip
    assert [r.status for r in sorted(sim.runs(), key=lambda r: r.start_ns)].count("lost") == 2

    client = redis.Redis.from_url(redis_url)
    try:
        real_queue = Queue(rq_live_jobs.LIVE_QUEUE, connection=client)
        real_jobs = enqueue_expiring(real_queue)
        key, retried = real_queue.scheduled_job_registry.key, real_jobs[0].id
        wait_for("the retry's score", lambda: client.zscore(key, retried) is not None, [rq_worker])
        # the scheduler, polling once a second, reaches the score 3 s later, finds the key gone and drops the id
        # (rq/scheduler.py:256-270): the retry can no longer run. Polled rather than a fixed 7 s window.
        wait_for("the scheduler to drop the expired retry", lambda: client.zscore(key, retried) is None, [rq_worker])
        wait_for("the other jobs", lambda: key_states(client, real_jobs) == expected_keys
                 and len(client.lrange(rq_live_jobs.LOG_KEY, 0, -1)) >= len(expected), [rq_worker])  # fmt: skip
        time.sleep(0.3)  # nothing more should arrive
        real = [json.loads(raw) for raw in client.lrange(rq_live_jobs.LOG_KEY, 0, -1)]
        print("observed", real)
        assert shape(real) == shape(expected)
        assert key_states(client, real_jobs) == expected_keys
    finally:
        client.close()


def enqueue_stoppable(queue: Queue) -> Job:
    return queue.enqueue(rq_live_jobs.pid_sleeps, "stop", 3, retry=Retry(max=2, interval=1),
                         on_stopped=Callback(rq_live_jobs.on_stopped),
                         on_failure=Callback(rq_live_jobs.on_failure))  # fmt: skip


def test_a_stopped_job_on_the_real_forking_worker(redis_url, rq_forking_worker):
    """``send_stop_job_command`` 1 s into a 3 s job: the horse is killed, ``on_stopped`` runs (the job
    still ``started`` for it), the job is ``stopped`` with no retry and no failure callback, in the failed
    registry."""
    import redis
    from rq.command import send_stop_job_command

    rq_live_jobs.LOCAL.clear()
    queue = Queue(rq_live_jobs.LIVE_QUEUE, connection=redis.Redis(host="127.0.0.1", port=1))
    with jobsim.Simulation(queue, start="2025-03-01T00:00:00Z") as sim:
        sim_job = enqueue_stoppable(queue)
        sim.rq.stop(sim_job, at="2025-03-01T00:00:01Z")
        sim.run_until_idle()
    expected = list(rq_live_jobs.LOCAL)
    assert [(e["kind"], e["t"] - expected[0]["t"], e.get("status")) for e in expected] == [
        ("attempt", 0, None), ("on_stopped", 1, "started")]  # fmt: skip
    assert sim_job.get_status(refresh=False) == JobStatus.STOPPED and sim_job.retries_left == 2

    client = redis.Redis.from_url(redis_url)
    try:
        job = enqueue_stoppable(Queue(rq_live_jobs.LIVE_QUEUE, connection=client))
        deadline = time.monotonic() + 30
        while not client.llen(rq_live_jobs.LOG_KEY):  # the horse started the job
            rq_forking_worker.check()
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.01)
        started = json.loads(client.lindex(rq_live_jobs.LOG_KEY, 0))["t"]
        time.sleep(max(0.0, started + 1 - time.time()))
        send_stop_job_command(client, job.id)
        # Nothing more may come: no "woke" once the horse is gone (polled: the worker reaps it), and no retry
        # once the job is stopped with nothing scheduled or queued (was a fixed 4 s wait, past sleep and interval)
        horse = json.loads(client.lindex(rq_live_jobs.LOG_KEY, 0))["pid"]
        wait_for("the horse to be killed and reaped", lambda: not pid_exists(horse), [rq_forking_worker])
        wait_for("the job to be stopped", lambda: job.get_status() == JobStatus.STOPPED, [rq_forking_worker])
        wait_for("on_stopped", lambda: client.llen(rq_live_jobs.LOG_KEY) >= 2, [rq_forking_worker])
        real_queue = Queue(rq_live_jobs.LIVE_QUEUE, connection=client)
        assert not real_queue.scheduled_job_registry.count and not real_queue.count
        time.sleep(0.3)
        real = [json.loads(raw) for raw in client.lrange(rq_live_jobs.LOG_KEY, 0, -1)]
        print("observed", real)
        assert clean(real) == clean(expected)
        assert real[1]["status"] == "started" and abs(real[1]["t"] - real[0]["t"] - 1) <= 0.5, real
        job.refresh()
        assert job.get_status() == JobStatus.STOPPED and job.retries_left == 2
        assert job.id in Queue(rq_live_jobs.LIVE_QUEUE, connection=client).failed_job_registry.get_job_ids()
    finally:
        client.close()


# -- several workers, and workers that die -------------------------------------------------------------------
def clean(log: list[dict]) -> list[tuple]:
    """A log entry without what differs between runs: instants, process ids, worker names."""
    return [tuple(sorted((k, v) for k, v in e.items() if k not in ("t", "status", "pid", "ppid", "worker")))
            for e in log]  # fmt: skip


def read_log(client) -> list[dict]:
    return [json.loads(raw) for raw in client.lrange(rq_live_jobs.LOG_KEY, 0, -1)]


def wait_for(what: str, check: Callable[[], bool], workers, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        for worker in workers:
            worker.check()
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.01)


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def sim_queue() -> Queue:
    import redis

    rq_live_jobs.LOCAL.clear()
    return Queue(rq_live_jobs.LIVE_QUEUE, connection=redis.Redis(host="127.0.0.1", port=1))


def enqueue_four(queue: Queue) -> list[Job]:
    return [queue.enqueue(rq_live_jobs.pid_sleeps, label, seconds)
            for label, seconds in (("A", 2), ("B", 1), ("C", 1.5), ("D", 0.5))]  # fmt: skip


def test_two_real_workers_share_a_queue_as_the_simulation_predicts(redis_url, rq_two_workers):
    """Two forking workers on one queue, four jobs of 2, 1, 1.5 and 0.5 s enqueued together: each worker takes
    one at once; B's worker takes C when B ends (1 s), A's worker takes D when A ends (2 s)."""
    import redis
    from jobsim_rq import Worker

    queue = sim_queue()
    with jobsim.Simulation(Worker(queue, count=2), start="2025-03-01T00:00:00Z") as sim:
        enqueue_four(queue)
        sim.run_until_idle()
    expected = list(rq_live_jobs.LOCAL)
    t0 = expected[0]["t"]
    predicted = {e["label"]: (e["t"] - t0, e["worker"]) for e in expected if e["kind"] == "attempt"}
    assert predicted == {"A": (0, "jobsim-rq-1"), "B": (0, "jobsim-rq-2"), "C": (1, "jobsim-rq-2"),
                         "D": (2, "jobsim-rq-1")}  # fmt: skip

    client = redis.Redis.from_url(redis_url)
    try:
        jobs = enqueue_four(Queue(rq_live_jobs.LIVE_QUEUE, connection=client))
        wait_for("the four jobs", lambda: all(j.get_status() == JobStatus.FINISHED for j in jobs), rq_two_workers)
        real = read_log(client)
    finally:
        client.close()
    print("observed", real)
    assert sorted(clean(real)) == sorted(clean(expected))
    starts = {e["label"]: e for e in real if e["kind"] == "attempt"}
    ends = {e["label"]: e["t"] for e in real if e["kind"] == "woke"}
    first = min(e["t"] for e in starts.values())
    for label, (at, name) in predicted.items():
        # each start measured from what the simulation says it waits for: the first start, or the end of the job
        # before it on that worker -- not from the first start, where the delays of a fork, a sleep's overshoot and
        # the worker's loop add up along the chain (load 14: D came 0.42 s after its slot, 0.29 s after A ended)
        before = [b for b, (b_at, b_name) in predicted.items() if b_name == name and b_at < at]
        since = ends[max(before, key=lambda b: predicted[b][0])] if before else first
        assert 0 <= starts[label]["t"] - since <= 0.5, (label, real)  # a fork costs milliseconds; 0.5 s is for load
    worker = {label: e["ppid"] for label, e in starts.items()}  # the worker process that forked the horse
    assert worker["A"] == worker["D"] != worker["B"] == worker["C"], real


def enqueue_killable(queue: Queue) -> Job:
    return queue.enqueue(rq_live_jobs.pid_sleeps, "k", 3, retry=Retry(max=1, interval=1),
                         on_failure=Callback(rq_live_jobs.on_failure))  # fmt: skip


def test_a_killed_work_horse_on_the_real_worker(redis_url, rq_forking_worker):
    """SIGKILL to the horse 0.5 s into each attempt: the worker retries the job (interval 1 s) with no failure
    callback, then fails it with RQ's 'Work-horse terminated unexpectedly' text, as the simulation says."""
    import os
    import signal

    import redis
    from jobsim_rq._crash import HORSE_DEATH

    queue = sim_queue()
    with jobsim.Simulation(queue, start="2025-03-01T00:00:00Z") as sim:
        sim_job = enqueue_killable(queue)
        sim.rq.crash_worker(at="2025-03-01T00:00:00.500Z", kind="horse")
        sim.rq.crash_worker(at="2025-03-01T00:00:01.500Z", kind="horse")
        sim.run_until_idle()
        errors = [str(a.error) for a in sim.runs(rq_live_jobs.pid_sleeps)[0].attempts]
    expected = list(rq_live_jobs.LOCAL)
    # the retry's score is floor(0.5 + 1) = 1 s; no failure callback, no "woke"
    assert [(e["kind"], e["retries_left"], e["t"] - expected[0]["t"]) for e in expected] == [
        ("attempt", 1, 0), ("attempt", 0, 1)]  # fmt: skip
    assert errors == [HORSE_DEATH, HORSE_DEATH] and sim_job.get_status(refresh=False) == JobStatus.FAILED

    client = redis.Redis.from_url(redis_url)
    try:
        real_queue = Queue(rq_live_jobs.LIVE_QUEUE, connection=client)
        job = enqueue_killable(real_queue)
        key = real_queue.scheduled_job_registry.key
        scores: dict[float, int] = {}
        kills = []
        for n in (1, 2):
            wait_for(f"attempt {n}", lambda n=n: client.llen(rq_live_jobs.LOG_KEY) >= n, [rq_forking_worker])
            attempt = json.loads(client.lindex(rq_live_jobs.LOG_KEY, n - 1))
            time.sleep(max(0.0, attempt["t"] + 0.5 - time.time()))
            os.kill(attempt["pid"], signal.SIGKILL)
            kills.append(time.time())
            if n == 1:  # the worker reaps the horse and schedules the retry at once: the score it wrote
                wait_for("the retry's score", lambda: client.zscore(key, job.id) is not None, [rq_forking_worker])
                scores[client.zscore(key, job.id)] = 0
        wait_for("the job to fail", lambda: job.get_status() == JobStatus.FAILED, [rq_forking_worker])
        time.sleep(0.3)  # nothing more may come
        real = read_log(client)
        print("observed", real, scores, kills)
        assert clean(real) == clean(expected)
        job.refresh()
        assert job.retries_left == 0 and job.id in real_queue.failed_job_registry.get_job_ids()
        assert job.latest_result().exc_string == HORSE_DEATH
        check_intervals(scores, kills[:1], [1])
        assert abs(real[1]["t"] - kills[0] - 1) <= TOLERANCE, (real, kills)
    finally:
        client.close()


def test_a_lost_real_worker_leaves_its_job_abandoned(redis_url, rq_two_workers, monkeypatch):
    """SIGKILL to a worker (its session: the worker and its scheduler) and its horse 0.5 s into a job: the
    job stays ``started``; its ``StartedJobRegistry`` entry has the score the simulation predicts (start +
    90 s). A maintenance run would find it only after that and 600 s of maintenance interval, so the test
    runs what that run runs, ``StartedJobRegistry.cleanup``, at the score: failure callback with
    ``AbandonedJobError``, retry, and the surviving worker runs the job again."""
    import math
    import os
    import signal

    import redis
    from jobsim_rq import Worker
    from rq.registry import StartedJobRegistry

    queue = sim_queue()
    with jobsim.Simulation(Worker(queue, count=2), start="2025-03-01T00:00:00Z") as sim:
        enqueue_lost = lambda q: q.enqueue(rq_live_jobs.pid_sleeps, "lost", 1.5, retry=Retry(max=1),  # noqa: E731
                                           on_failure=Callback(rq_live_jobs.on_failure))  # fmt: skip
        enqueue_lost(queue)
        sim.crash_worker(at="2025-03-01T00:00:00.500Z")
        sim.run_until_idle()
        [abandon] = [r for r in sim.trace.records if r.kind == "rq.abandon"]
    expected = list(rq_live_jobs.LOCAL)
    t0 = expected[0]["t"]
    ttl = abandon.data["expired"] / SECOND - t0
    assert ttl == 90  # min(job_timeout 180, job_monitoring_interval 30) + 60
    assert [(e["kind"], e.get("retries_left"), e.get("error"), e["t"] - t0) for e in expected] == [
        ("attempt", 1, None, 0), ("on_failure", 1, "AbandonedJobError: ", 810), ("attempt", 0, None, 810),
        ("woke", None, None, 811.5)]  # fmt: skip

    client = redis.Redis.from_url(redis_url)
    try:
        real_queue = Queue(rq_live_jobs.LIVE_QUEUE, connection=client)
        job = enqueue_lost(real_queue)
        wait_for("the attempt", lambda: client.llen(rq_live_jobs.LOG_KEY) >= 1, rq_two_workers)
        attempt = json.loads(client.lindex(rq_live_jobs.LOG_KEY, 0))
        [victim] = [w for w in rq_two_workers if w.pid == attempt["ppid"]]
        [survivor] = [w for w in rq_two_workers if w is not victim]
        time.sleep(max(0.0, attempt["t"] + 0.5 - time.time()))
        os.killpg(victim.pid, signal.SIGKILL)
        os.kill(attempt["pid"], signal.SIGKILL)
        time.sleep(1)
        assert job.get_status() == JobStatus.STARTED and client.llen(rq_live_jobs.LOG_KEY) == 1  # nobody handled it
        registry = StartedJobRegistry(queue=real_queue)
        [(entry, score)] = client.zrange(registry.key, 0, -1, withscores=True)
        assert entry.decode().startswith(f"{job.id}:")
        # scored as the worker created the execution, just before it forked the horse that logged the attempt
        assert score - ttl in (math.floor(attempt["t"]) - 1, math.floor(attempt["t"])), (score, attempt)
        monkeypatch.setenv("JOBSIM_LIVE_REDIS", redis_url)  # the failure callback runs here, in this process
        registry.cleanup(timestamp=score)
        wait_for("the retry to finish", lambda: job.get_status() == JobStatus.FINISHED, [survivor])
        real = read_log(client)
        print("observed", real)
        assert clean(real) == clean(expected)
        assert real[2]["ppid"] == survivor.pid and not client.zcard(registry.key)
    finally:
        client.close()


# -- registries, results and requeue ------------------------------------------------------------------
def registry_view(queue: Queue, jobs: dict[str, Job]) -> dict:
    """What a test of RQ code reads besides statuses: each registry's members (by label, as sets: real
    scores tie differently), the failed entry's expiry against the job's end, and each job's results."""
    from rq.results import Result

    label = {job.id: name for name, job in jobs.items()}
    for job in jobs.values():
        job.refresh()  # the real Job objects are the test's stale copies; a simulated one is the job itself
    view: dict = {"count": queue.count, "queued": [label[i] for i in queue.job_ids]}
    for kind in ("started", "finished", "failed", "deferred", "scheduled", "canceled"):
        view[kind] = sorted(label[i] for i in getattr(queue, f"{kind}_job_registry").get_job_ids())
    for name, job in jobs.items():
        results = job.results()
        view[name] = [(r.type.name, r.return_value, (r.exc_string or "").strip().splitlines()[-1:]) for r in results]
        latest = job.latest_result()
        assert latest == (results[0] if results else None)
        if latest is not None:  # created as the job ended (the worker's clock vs Redis's: within a second)
            assert abs((latest.created_at - job.ended_at.replace(tzinfo=dt.timezone.utc)).total_seconds()) < 1
            assert isinstance(latest.worker_name, str) and latest.worker_name
            assert latest.type != Result.Type.SUCCESSFUL or latest.return_value == f"{name} ok"
    failed = queue.failed_job_registry
    for name, job in jobs.items():
        if job in failed:  # scored floor(end) + failure_ttl (rq/registry.py:477-500)
            ended = job.ended_at.replace(tzinfo=dt.timezone.utc)
            left = (failed.get_expiration_time(job) - ended).total_seconds()
            assert 299 < left <= 300, (name, left)
            view[f"{name} failure_ttl"] = 300
    return view


def registries_scenario(queue: Queue, settle: Callable[[], None],
                        hold: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
                        ) -> list[dict]:  # fmt: skip
    """A job failing once (``failure_ttl=300``) with a dependent, a job that returns: the registries and
    results when all ended, then after ``job.requeue()`` of the failed one (which now succeeds and frees its
    dependent). ``hold()`` is around the requeue and what the test reads right after it (``stopped``)."""
    jobs = {"flaky": queue.enqueue(rq_live_jobs.fails_once, "flaky", failure_ttl=300)}
    jobs["done"] = queue.enqueue(rq_live_jobs.returns, "done", result_ttl=100)
    jobs["child"] = queue.enqueue(rq_live_jobs.returns, "child", depends_on=jobs["flaky"])
    settle()
    views = [registry_view(queue, jobs)]
    with hold():
        assert jobs["flaky"].requeue() is jobs["flaky"]
        views.append({"requeued": jobs["flaky"].get_status(),
                      "in failed": jobs["flaky"] in queue.failed_job_registry})  # fmt: skip
    settle()
    views.append(registry_view(queue, jobs))
    later = queue.enqueue_in(dt.timedelta(minutes=10), rq_live_jobs.returns, "later")
    scheduled = queue.scheduled_job_registry
    # scored floor(created_at + 600): 599-600 s after created_at on the real worker, exactly 600 in the simulation
    views.append({"scheduled in": later in scheduled, "at": math.ceil((scheduled.get_scheduled_time(later)
                  - later.created_at.replace(tzinfo=dt.timezone.utc)).total_seconds())})  # fmt: skip
    later.cancel()
    jobs["done"].delete()
    done = jobs["done"]
    views.append({"scheduled": scheduled.get_job_ids() == [],
                  "canceled": queue.canceled_job_registry.get_job_ids() == [later.id], "status": later.get_status(),
                  "done exists": Job.exists(done.id, queue.connection),
                  "done finished": done in queue.finished_job_registry})  # fmt: skip
    return views


def settler(queue: Queue, worker) -> Callable[[], None]:
    """Waits until nothing is queued, started or waiting for the scheduler on the real worker."""

    def settle() -> None:
        deadline = time.monotonic() + 30
        time.sleep(0.2)
        while time.monotonic() < deadline:
            worker.check()
            if not (queue.count or queue.started_job_registry.count or queue.scheduled_job_registry.count):
                time.sleep(0.3)
                return
            time.sleep(0.02)
        pytest.fail("the real worker did not settle in 30 s")

    return settle


@contextlib.contextmanager
def stopped(pid: int) -> Iterator[None]:
    """The real worker stopped (``SIGSTOP``) while the test reads what ``requeue()`` wrote. Its worker waits in
    ``BLPOP``, so Redis hands it the requeued job at once; under load (four busy loops on two cores) it had marked
    the job ``started`` before the test read the status in 1 run of 4. Stopped, it cannot: the test reads the
    state ``requeue()`` left, as the simulation (not advanced in between) does."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_registries_results_and_requeue_on_the_real_worker(redis_url, rq_worker):
    import redis

    rq_live_jobs.LOCAL.clear()
    sim_queue = Queue(rq_live_jobs.LIVE_QUEUE, connection=redis.Redis(host="127.0.0.1", port=1))
    with jobsim.Simulation(sim_queue, start="2025-03-01T00:00:00Z") as sim:
        expected = registries_scenario(sim_queue, sim.run_until_idle)

    client = redis.Redis.from_url(redis_url)
    try:
        queue = Queue(rq_live_jobs.LIVE_QUEUE, connection=client)
        actual = registries_scenario(queue, settler(queue, rq_worker), lambda: stopped(rq_worker.proc.pid))
    finally:
        client.close()
    assert actual == expected
    assert expected[0]["failed"] == ["flaky"] and expected[0]["deferred"] == ["child"]
    assert expected[0]["flaky"] == [("FAILED", None, ["ValueError: flaky failed once"])]
    assert expected[2]["flaky"] == [("SUCCESSFUL", "flaky ok", []), ("FAILED", None, ["ValueError: flaky failed once"])]
    assert expected[2]["finished"] == ["child", "done", "flaky"] and expected[2]["failed"] == []
    assert expected[3] == {"scheduled in": True, "at": 600}
    assert expected[4] == {"scheduled": True, "canceled": True, "status": JobStatus.CANCELED, "done exists": False,
                           "done finished": False}  # fmt: skip


def meta_scenario(queue: Queue, settle: Callable[[], None], log: Callable[[], list[dict]]) -> dict:
    """A job that saves a count in ``meta``, sets a key it does not save and fails once (retried at once): what
    each execution starts with and what the enqueuer's ``Job`` sees before and after ``get_meta()``."""
    rq_live_jobs.LOCAL.clear()
    job = queue.enqueue(rq_live_jobs.saves_meta, "meta", meta={"owner": "ops"}, retry=Retry(max=1))
    settle()
    held = dict(job.meta)
    return {"held": held, "stored": job.get_meta(), "status": job.get_status(),
            "attempts": [e["meta"] for e in log() if e["kind"] == "attempt"]}


def test_job_meta_on_the_real_worker(redis_url, rq_worker):
    import redis

    sim_queue = Queue(rq_live_jobs.LIVE_QUEUE, connection=redis.Redis(host="127.0.0.1", port=1))
    with jobsim.Simulation(sim_queue, start="2025-03-01T00:00:00Z") as sim:
        expected = meta_scenario(sim_queue, sim.run_until_idle, lambda: rq_live_jobs.LOCAL)
    client = redis.Redis.from_url(redis_url)
    try:
        queue = Queue(rq_live_jobs.LIVE_QUEUE, connection=client)
        actual = meta_scenario(queue, settler(queue, rq_worker), lambda: read_log(client))
    finally:
        client.close()
    assert actual == expected
    # the enqueuer's Job keeps its own meta; the retry's Job.save wrote the key job code never saved
    assert expected == {"held": {"owner": "ops"}, "status": JobStatus.FINISHED,
                        "stored": {"owner": "ops", "saved": 2, "unsaved": 1},
                        "attempts": [{"owner": "ops"}, {"owner": "ops", "saved": 1, "unsaved": 1}]}  # fmt: skip
