"""More of Huey's API in virtual time: map, groups and chords, error callbacks, hooks, result store
variants, rate limits, a polled SQLite storage, and the trace."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from huey import RedisExpireHuey, RedisHuey, SqliteHuey
from huey.exceptions import RateLimitExceeded
from huey_support import START, T0_NS, secs

import jobsim
from jobsim._time import SECOND
from jobsim._trace import Trace
from jobsim.errors import InvalidArgument


def test_map_groups_and_chords(redis_huey):
    h = redis_huey

    @h.task()
    def square(n):
        time.sleep(1)
        return n * n

    @h.task()
    def total(values):
        return sum(values)

    from huey.api import group

    with jobsim.Simulation(h.create_consumer(workers=3), start=START) as sim:
        mapped = square.map([1, 2, 3])
        chorded = h.enqueue(group([square.s(4), square.s(5)]).then(total))
        sim.run_until_idle()
        assert mapped.get() == [1, 4, 9] and chorded.get() == 41
        assert [secs(run.attempts[0].start_ns) for run in sim.runs(square)] == [0, 0, 0, 1, 1]
        assert secs(sim.runs(total)[0].attempts[0].start_ns) == 2  # when the last member ended


def test_error_callbacks_hooks_and_startup(redis_huey):
    h = redis_huey
    seen = []

    @h.on_startup()
    def boot():
        seen.append(("startup", secs(time.time_ns())))

    @h.post_execute()
    def after(task, value, exc):
        seen.append(("post", task.name, secs(time.time_ns()), type(exc).__name__ if exc else value))

    @h.task()
    def report_failure(exc):
        seen.append(("on_error", type(exc).__name__))

    @h.task()
    def breaks():
        time.sleep(3)
        raise KeyError("x")

    with jobsim.Simulation(h.create_consumer(workers=2), start=START) as sim:
        h.enqueue(breaks.s().error(report_failure))
        sim.run_until_idle()
    assert seen == [("startup", 0), ("startup", 0), ("post", "breaks", 3, "KeyError"),
                    ("on_error", "KeyError"), ("post", "report_failure", 3, None)]  # fmt: skip


def test_store_none_and_an_expiring_result_store():
    h = RedisExpireHuey("expire", host="127.0.0.1", port=1, expire_time=60, store_none=True)

    @h.task()
    def nothing():
        return None

    @h.task()
    def something():
        return 5

    with jobsim.Simulation(h, start=START) as sim:
        none, five = nothing(), something()
        sim.run_until_idle()
        assert none.is_ready()  # store_none: None is stored
        assert five.get() == 5 and five.get(preserve=True) == 5
        assert h.get(five.id, peek=True) is not None  # read without removing (storage.py:692-696)
        sim.advance("61s")
        five.reset()
        assert five.get() is None and h.result_count() == 0  # expired after expire_time, in virtual time


def test_a_rate_limit_retries_in_its_next_window(redis_huey):
    h = redis_huey
    limit = h.rate_limit("api", 2, 10)
    calls = []

    @h.task(retries=1)
    @limit
    def call_api(n):
        calls.append((n, secs(time.time_ns())))

    with jobsim.Simulation(h, start=START) as sim:
        for n in range(3):
            call_api(n)
        sim.run_until_idle()
        # the third call hits the limit at 0 s: RateLimitExceeded(delay=10 s to the window's end): eta 10 s (+1 us),
        # moved at the 11 s tick
        assert calls == [(0, 0), (1, 0), (2, 11)]
        third = sim.runs(call_api)[2]
        assert isinstance(third.attempts[0].error, RateLimitExceeded) and third.status == "completed"


def test_a_sqlite_huey_is_polled_and_its_file_is_not_touched(tmp_path):
    path = tmp_path / "huey.db"
    h = SqliteHuey("sqlite", filename=str(path))
    before = path.stat().st_mtime_ns if path.exists() else None

    @h.task()
    def work():
        return "done"

    with jobsim.Simulation(h, start=START) as sim:
        sim.advance("3s")
        result = work()
        sim.run_until_idle()
        assert result.get() == "done"
        started = sim.runs(work)[0].attempts[0].start_ns
        assert started > T0_NS + 3 * SECOND  # taken at the idle worker's next poll, not at once
    assert (path.stat().st_mtime_ns if path.exists() else None) == before


def test_the_trace_is_saved_and_read_back_with_hueys_records(redis_huey, tmp_path):
    h = redis_huey

    @h.task(retries=1, retry_delay=1)
    def flaky():
        raise ValueError("no")

    with jobsim.Simulation(h, start=START) as sim:
        flaky()
        sim.run_until_idle()
        sim.trace.save(tmp_path / "trace.jsonl")
        loaded = Trace.load(tmp_path / "trace.jsonl")
        kinds = [record.kind for record in loaded]
        assert kinds == [record.kind for record in sim.trace]
        assert "huey.signal" in kinds and "retry" in kinds and "huey.consumer" in kinds
        assert "flaky#1 put on the schedule" in sim.timeline()


def test_a_task_registered_during_the_simulation_gets_its_function(redis_huey):
    h = redis_huey
    with jobsim.Simulation(h, start=START) as sim:
        @h.task()
        def late():
            return 1

        late()
        sim.run_until_idle()
        assert sim.runs(late)[0].status == "completed"


@pytest.mark.parametrize("blocking", [True, False])
def test_idle_blocking_workers_take_tasks_in_the_order_they_went_idle(blocking):
    h = RedisHuey("order", host="127.0.0.1", port=1, blocking=blocking)
    order = []

    @h.task()
    def work(name, seconds):
        order.append((name, secs(time.time_ns())))
        time.sleep(seconds)

    with jobsim.Simulation(h.create_consumer(workers=2), start=START) as sim:
        work("a", 5)
        work("b", 2)
        sim.advance("10s")
        work("c", 1)
        sim.run_until_idle()
        if blocking:  # Worker-2 went idle at 2 s, Worker-1 at 5 s: BRPOP serves Worker-2 first
            assert order == [("a", 0), ("b", 0), ("c", 10)]
            run = sim.runs(work)[2]
            executing = [r.data for r in sim.trace.of("huey.signal")
                         if r.data["run"] == run.id and r.data["signal"] == "executing"]  # fmt: skip
            assert executing[0]["worker"] == "order/consumer/Worker-2"
        else:  # polled: whichever worker polls first after 10 s
            assert order[2][0] == "c" and 10 < order[2][1] <= 20


def test_the_huey_profile_gives_plain_functions_hueys_defaults(redis_huey):
    app = jobsim.App("plain")

    @app.function("sync", on="shop/sync")
    def sync(ctx):
        raise ConnectionError("down")

    with jobsim.Simulation(app, profile="huey", start=START) as sim:
        sim.send("shop/sync", {})
        sim.run_until_idle()
        run = sim.runs("sync")[0]
        assert run.status == "failed" and len(run.attempts) == 1  # no retry unless retries= (api.py:171-172)
    with jobsim.Simulation(redis_huey, start=START) as sim:
        assert sim.profile.name == "huey"  # a Huey target's default profile


def test_a_failure_of_huey_s_own_code_after_the_body_ends_the_run_as_the_consumer_drops_the_task(redis_huey):
    # Worker.loop logs "Unhandled error during execution" and goes on (consumer.py:131-135): the run was left
    # "running" for ever
    import threading

    @redis_huey.task()
    def open_lock():
        time.sleep(2)
        return threading.Lock()  # put_result cannot pickle it

    @redis_huey.task(retries=2, retry_delay="5")  # _requeue_task: timedelta(seconds="5") raises
    def flaky():
        raise ConnectionError("down")

    @redis_huey.task()
    def after(value):
        return value

    with jobsim.Simulation(redis_huey, start=START) as sim:
        locked = redis_huey.enqueue(open_lock.s().then(after))
        flaky()
        sim.run_until_idle()
        (run,) = sim.runs(open_lock)
        assert (run.status, type(run.error), secs(run.end_ns)) == ("failed", TypeError, 2.0)
        assert "cannot pickle" in str(run.error) and sim.runs(after) == []  # no result, no next task
        assert locked.get() == [None, None]
        (run,) = sim.runs(flaky)
        assert (run.status, type(run.error), len(run.attempts)) == ("failed", TypeError, 1)  # no retry


@pytest.mark.parametrize("ttl", [5, dt.timedelta(seconds=5, milliseconds=900)])
def test_a_lock_ttl_expires_in_virtual_time_on_redis_in_whole_seconds(redis_huey, ttl):
    """``put_if_empty(ttl=)`` on Redis is ``HSETNX`` + ``HEXPIRE`` (``storage.py:629-637``): whole seconds, a timedelta
    as ``int(total_seconds())`` (redis-py). A timedelta raised a bare TypeError from float()."""
    h = redis_huey
    took = []

    @h.task()
    def grab(n):
        took.append((n, h.lock_task("report", ttl=ttl).acquire() is not False))  # held, never released

    @h.task()
    def probe():
        took.append(("probe", h.is_locked("report")))

    with jobsim.Simulation(h, start=START) as sim:
        grab(1)
        probe.schedule(delay=4)
        probe.schedule(delay=6)
        sim.run_until_idle()
    assert took == [(1, True), ("probe", True), ("probe", False)]


def test_a_lock_ttl_that_is_not_whole_seconds_is_refused_on_redis_and_ignored_in_memory(redis_huey):
    """Huey hands ``ttl`` to ``HEXPIRE`` as is: a float fails there *after* ``HSETNX`` took the lock (held for good).
    ``MemoryStorage`` ignores ``ttl`` (``storage.py:235-253``)."""
    from huey import MemoryHuey

    with jobsim.Simulation(redis_huey, start=START):
        with pytest.raises(InvalidArgument, match=r"ttl=...\)=1.5 is not valid: whole seconds"):
            redis_huey.lock_task("x", ttl=1.5).acquire()
        assert not redis_huey.is_locked("x")
    memory = MemoryHuey("locks")
    with jobsim.Simulation(memory, start=START) as sim:
        memory.lock_task("x", ttl=1.5).acquire()
        sim.advance("1m")
        assert memory.is_locked("x")
