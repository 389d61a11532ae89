"""Retries, RetryTask, CancelExecution, locks and timeouts: Huey's own ``execute`` decides, in virtual time."""

from __future__ import annotations

import datetime as dt
import math
import time

import pytest
from huey import RedisHuey, crontab
from huey.exceptions import CancelExecution, RetryTask, TaskException, TaskLockedException, TaskTimeout
from huey_support import START, T0, T0_NS, secs
from hypothesis import given, settings
from hypothesis import strategies as st

import jobsim
from jobsim._time import SECOND


def starts(run):
    return [secs(a.start_ns) for a in run.attempts]


def test_retry_delay_and_backoff_wait_for_the_schedulers_next_tick(redis_huey):
    h = redis_huey

    @h.task(retries=3, retry_delay=2, retry_backoff=2)
    def sync():
        time.sleep(0.5)
        raise ConnectionError("upstream down")

    with jobsim.Simulation(h, start=START) as sim:
        result = sync()
        sim.run_until_idle()
        run = sim.runs(sync)[0]
        # fails at 0.5 -> eta 2.5 -> the 1-second scheduler moves it at 3 s; fails at 3.5 -> eta 7.5 -> 8;
        # fails at 8.5 -> eta 16.5 -> 17 (retry_delay *= retry_backoff after each, api.py:578-582)
        assert starts(run) == [0, 3, 8, 17]
        assert run.status == "failed" and secs(run.end_ns) == 17.5
        assert isinstance(run.error, ConnectionError)
        with pytest.raises(TaskException, match="upstream down"):
            result.get()
        retries = [r.data for r in sim.trace.of("retry")]
        assert [(round(secs(d["at"]), 3), d["retries"]) for d in retries] == [(2.5, 2), (7.5, 1), (16.5, 0)]


def test_retries_without_a_delay_go_straight_back_to_the_queue(redis_huey):
    h = redis_huey
    calls = []

    @h.task(retries=2)
    def flaky():
        calls.append(secs(time.time_ns()))
        time.sleep(1)
        if len(calls) < 3:
            raise ValueError("not yet")
        return "ok"

    with jobsim.Simulation(h, start=START) as sim:
        result = flaky()
        sim.run_until_idle()
        assert calls == [0, 1, 2]
        assert result.get() == "ok" and sim.runs(flaky)[0].status == "completed"


@settings(max_examples=40, deadline=None)
@given(retries=st.integers(0, 4), delay=st.integers(0, 5), backoff=st.sampled_from([0, 1, 1.5, 2, 3]),
       body=st.sampled_from([0, 0.25, 0.5, 1, 2]), interval=st.sampled_from([1, 2, 5]))
def test_retry_schedules_follow_hueys_rule(retries, delay, backoff, body, interval):
    """Attempt k+1 starts at the first scheduler tick (``interval`` s apart from the start) after
    ``end_k + retry_delay * backoff**k`` -- strictly after: an eta a worker computes is a hair past the
    instant (``HueyWorld.hop``) -- or at once when there is no delay."""
    h = RedisHuey("prop", host="127.0.0.1", port=1)

    @h.task(retries=retries, retry_delay=delay, retry_backoff=backoff)
    def fails():
        time.sleep(body)
        raise ValueError("no")

    expected, at, wait = [], 0.0, float(delay)
    for _ in range(retries + 1):
        expected.append(at)
        end = at + body
        at = (math.floor((end + wait) / interval) + 1) * interval if wait else end
        if backoff:
            wait *= backoff
    with jobsim.Simulation(h.create_consumer(scheduler_interval=interval), start=START) as sim:
        fails()
        sim.run_until_idle()
        run = sim.runs(fails)[0]
        assert starts(run) == expected
        assert run.status == "failed" and len(run.attempts) == retries + 1


def test_retry_task_sets_its_own_delay_or_eta_and_does_not_use_up_retries(redis_huey):
    h = redis_huey
    calls = []

    @h.task()
    def poll_payment():
        calls.append(secs(time.time_ns()))
        if len(calls) == 1:
            raise RetryTask(delay=30)
        if len(calls) == 2:
            raise RetryTask(eta=T0 + dt.timedelta(minutes=5))  # aware: converted to naive UTC (utils.py:99-104)
        return "paid"

    with jobsim.Simulation(h, start=START) as sim:
        result = poll_payment()
        sim.run_until_idle()
        assert calls == [0, 31, 300]  # eta 30 s + 1 us: the 31 s tick; an explicit eta is kept as it is
        assert result.get() == "paid"
        assert sim.runs(poll_payment)[0].status == "completed"


def test_cancel_execution_ends_the_run_unless_it_asks_for_a_retry(redis_huey):
    h = redis_huey

    @h.task(retries=3)
    def stop_here():
        raise CancelExecution(retry=False)

    @h.task(retries=2)
    def plain(tries=[]):  # noqa: B006 - counts calls
        tries.append(1)
        raise CancelExecution()  # retry=None: retried while retries are left (api.py:486)

    @h.task()
    def again_once(tries=[]):  # noqa: B006 - counts calls
        tries.append(1)
        if len(tries) == 1:
            raise CancelExecution(retry=True)  # retries = max(retries, 1) (api.py:486-488)
        return len(tries)

    with jobsim.Simulation(h, start=START) as sim:
        stopped, again = stop_here(), again_once()
        plain()
        sim.run_until_idle()
        run = sim.runs(stop_here)[0]
        assert run.status == "cancelled" and len(run.attempts) == 1  # retry=False: retries=0 (api.py:490)
        assert sim.runs(plain)[0].status == "cancelled" and len(sim.runs(plain)[0].attempts) == 3
        assert sim.runs(again_once)[0].status == "completed" and again.get() == 2
        with pytest.raises(TaskException):
            stopped.get()


def test_a_pre_execute_hook_cancels_before_the_body_runs(redis_huey):
    h = redis_huey

    @h.pre_execute()
    def maintenance(task):
        if task.name == "charge":
            raise CancelExecution("maintenance window")

    @h.task()
    def charge():
        return "charged"

    with jobsim.Simulation(h, start=START) as sim:
        charge()
        sim.run_until_idle()
        run = sim.runs(charge)[0]
        assert run.status == "cancelled" and run.attempts == []


def test_a_task_lock_held_by_one_worker_fails_the_other_until_its_retries_run_out(redis_huey):
    h = redis_huey

    @h.task(retries=1, retry_delay=5)
    @h.lock_task("nightly-report")
    def report(n):
        time.sleep(10)
        return n

    with jobsim.Simulation(h.create_consumer(workers=2), start=START) as sim:
        first, _second = report(1), report(2)
        sim.run_until_idle()
        held, locked = sim.runs(report)
        assert held.status == "completed" and first.get() == 1
        assert starts(locked) == [0, 6]  # locked at 0, retried at the first tick after 5 s: still locked (until 10)
        assert locked.status == "failed" and isinstance(locked.error, TaskLockedException)
        assert secs(locked.end_ns) == 6
        assert not h.is_locked("nightly-report")  # released when the first ended
        assert "could not take its lock" in sim.timeline()


def test_a_thread_workers_timeout_is_a_deadline_the_task_checks(redis_huey):
    h = redis_huey
    seen = []

    @h.task(timeout=5, context=True)
    def crunch(task):
        time.sleep(3)
        seen.append(task.time_remaining)
        time.sleep(3)  # thread workers are not interrupted (Environment.timeout is a no-op)
        seen.append(task.is_timed_out)
        task.check_timeout()

    with jobsim.Simulation(h, start=START) as sim:
        crunch()
        sim.run_until_idle()
        run = sim.runs(crunch)[0]
        assert seen == [pytest.approx(2.0), True]
        assert run.status == "failed" and isinstance(run.error, TaskTimeout) and secs(run.end_ns) == 6


def test_a_process_workers_timeout_interrupts_the_task_at_its_deadline(redis_huey):
    h = redis_huey
    reached = []

    @h.task(timeout=5)
    def crunch():
        time.sleep(100)
        reached.append(True)

    with jobsim.Simulation(h.create_consumer(worker_type="process"), start=START) as sim:
        crunch()
        sim.run_until_idle()
        run = sim.runs(crunch)[0]
        assert reached == []
        assert run.status == "failed" and str(run.error) == "timeout (5s)" and secs(run.end_ns) == 5
        assert "crunch#1 timed out (TaskTimeout)" in sim.timeline()
        assert sim.now_ns() == T0_NS + 5 * SECOND


def test_retries_none_is_no_retry_as_in_huey(redis_huey):
    """``@huey.task(retries=None)``: Huey 3.5 keeps None (``Task.__init__``: ``retries if retries is not None else
    default_retries``) and never retries it (``final = not task.retries``, ``api.py:523``): one attempt, and the
    error result's ``retries`` is None (measured on huey 3.5.4). jobsim-huey refused it as not a whole number."""
    h = redis_huey
    calls = []

    @h.task(retries=None)
    def flaky():
        calls.append(1)
        raise ConnectionError("down")

    @h.periodic_task(crontab(minute="*"), retries=None)
    def tick():
        calls.append(2)
        raise ConnectionError("down")

    with jobsim.Simulation(h, start=START) as sim:
        result = flaky()
        sim.run_until_idle()
        with pytest.raises(TaskException) as failed:
            result.get()
        assert failed.value.metadata["retries"] is None and calls.count(1) == 1
        assert [(r.status, len(r.attempts)) for r in sim.runs(flaky)] == [("failed", 1)]
        sim.advance("2m")
        ticks = sim.runs(tick)
        assert len(ticks) >= 2 and {(r.status, len(r.attempts)) for r in ticks} == {("failed", 1)}
        assert calls.count(2) == len(ticks)


@pytest.mark.parametrize(("raised", "message"), [
    (RetryTask(delay=5), "unsupported operand type(s) for +=: 'NoneType' and 'int'"),
    (CancelExecution(retry=True), "'>' not supported between instances of 'int' and 'NoneType'"),
])  # fmt: skip
def test_a_retry_with_retries_none_is_hueys_own_type_error_and_the_task_is_lost(redis_huey, raised, message):
    """``RetryTask`` adds 1 to ``task.retries`` (``api.py:481``), ``CancelExecution(retry=True)`` takes
    ``max(task.retries, 1)`` (``api.py:487``): with None, a TypeError inside Huey's ``_execute``, which the
    consumer's worker logs ("Unhandled error during execution of task") and drops, as the real consumer does:
    no result, no retry."""
    h = redis_huey

    @h.task(retries=None)
    def again():
        raise raised

    with jobsim.Simulation(h, start=START) as sim:
        result = again()
        sim.run_until_idle()
        assert result.get() is None  # nothing stored
        assert [(r.status, len(r.attempts), str(r.error)) for r in sim.runs(again)] == [("failed", 1, message)]


@pytest.mark.parametrize("periodic", [False, True])
@pytest.mark.parametrize(("storage", "retried_at"), [("redis", "07:00:31"), ("memory", "07:00:01")])
def test_a_local_time_retry_due_in_the_spring_forward_gap_is_due_as_its_storage_compares(storage, retried_at,
                                                                                         periodic):
    """utc=False, New York, 2025-03-09: failing at 01:59:30 EST with retry_delay=60 gives eta 02:00:30, a wall
    time that never shows. Redis scores it with time.mktime (``storage.py:522-523``): 07:00:30Z, due at the
    07:00:31 tick. MemoryStorage compares naive datetimes (``storage.py:376-386``): due once the wall clock reads
    03:00:00 (07:00:00Z), moved at that tick, taken at the worker's next poll. The simulation compared naive
    times for every storage and planned ticks from the mktime instant, so the answer hung on whether a periodic
    check happened to run in between: Redis 07:00:00 with one, Memory 07:00:39 without."""
    from huey import MemoryHuey, RedisHuey

    huey = MemoryHuey("gap", utc=False) if storage == "memory" else RedisHuey("gap", port=1, utc=False)
    calls = []

    @huey.task(retries=1, retry_delay=60)
    def once():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("down")

    consumer = huey.create_consumer(periodic=periodic)
    with jobsim.Simulation(consumer, start="2025-03-09T06:59:00Z", tz="America/New_York") as sim:
        sim.advance("30s")
        once()
        sim.run_until_idle()
        (run,) = sim.runs(once)
        assert run.status == "completed"
        assert run.attempts[1].started_at.strftime("%H:%M:%S") == retried_at


@pytest.mark.parametrize(("storage", "retried_at", "put_back"),
                         [("redis", "06:31:01", False), ("memory", "06:31:12", False), ("sqlite", "06:31:07", True)])
def test_a_local_time_retry_in_the_second_reading_of_a_repeated_hour_is_read_as_its_storage_reads_it(
        storage, retried_at, put_back, tmp_path):
    """utc=False, New York, 2025-11-02: failing at 01:30 EST (the second 01:30) with retry_delay=60 gives eta
    01:31 (fold=0). The SQL storages compare ``.timestamp()``s, which read ``datetime.now()``'s fold=1: due at
    once, and each second Huey's ``ready_to_run`` (naive times) puts it back in the schedule (SIGNAL_SCHEDULED)
    until the wall clock shows 01:31. Redis's ``mktime`` has no fold (glibc reads the repeated hour at the offset
    it last used, the earlier one): not due until 01:31 either, and never put back -- as huey's RedisStorage on
    a redis-server answers. The simulation read Redis like SQL: 60 SIGNAL_SCHEDULED a real consumer never sends."""
    from huey import MemoryHuey, RedisHuey, SqliteHuey
    from huey.signals import SIGNAL_SCHEDULED

    huey = {"redis": lambda: RedisHuey("fold", port=1, utc=False), "memory": lambda: MemoryHuey("fold", utc=False),
            "sqlite": lambda: SqliteHuey("fold", filename=str(tmp_path / "h.db"), utc=False)}[storage]()
    calls, signals = [], []

    @huey.task(retries=1, retry_delay=60)
    def once():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("down")

    @huey.signal(SIGNAL_SCHEDULED)
    def on_scheduled(signal, task, *args):
        signals.append(task.id)

    with jobsim.Simulation(huey.create_consumer(periodic=False), start="2025-11-02T06:29:00Z",
                           tz="America/New_York") as sim:
        sim.advance("60s")
        once()
        sim.run_until_idle()
        (run,) = sim.runs(once)
        assert run.status == "completed"
        assert run.attempts[1].started_at.strftime("%H:%M:%S") == retried_at
        assert (len(signals) > 1) == put_back  # the retry's own SIGNAL_SCHEDULED, and each one putting it back
