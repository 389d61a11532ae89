"""Job code waiting with no timeout on a threading primitive nothing in the simulation sets: refused, never a hang.

Each test that could hang if the guard failed runs its driving call on a thread of its own and joins it with a
timeout, so a regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import jobsim
from jobsim import _threadwaits
from jobsim.errors import InvalidArgument, UnsupportedFeature

ORIGINAL_WAIT = threading.Condition.wait


def _outcome(drive: Callable[[], Any], limit: float = 20.0) -> Any:
    """What ``drive()`` returned or raised, run on a thread of its own: a hang fails the test after ``limit`` s."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(("returned", drive()))
        except BaseException as error:  # handed to the test
            box.append(("raised", error))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    assert box, f"the driving call did not end in {limit} s: job code's wait hung the test"
    return box[0]


@pytest.fixture
def alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """No other Python thread, as in a plain pytest run (pytest-xdist's worker has one of its own)."""
    monkeypatch.setattr(threading, "active_count", lambda: 1)


@contextlib.contextmanager
def _sim_waiting(wait: Callable[[], Any], *, is_async: bool = False) -> Iterator[jobsim.Simulation]:
    """A simulation whose function ``waiter`` returns ``wait()``, its event sent."""
    app = jobsim.App("waits")
    if is_async:

        @app.function("waiter", on="go")
        async def waiter_async(ctx: Any) -> Any:
            return wait()

    else:

        @app.function("waiter", on="go")
        def waiter(ctx: Any) -> Any:
            return wait()

    with jobsim.Simulation(app) as sim:
        sim.send("go")
        yield sim


@pytest.mark.parametrize(("make", "called"), [
    (lambda: threading.Event().wait, "threading.Event.wait()"),
    (lambda: queue.Queue().get, "queue.Queue.get()"),
    (lambda: threading.Semaphore(0).acquire, "threading.Semaphore.acquire()"),
    (lambda: concurrent.futures.Future().result, "concurrent.futures.Future.result()"),
    (lambda: queue.LifoQueue().get, "queue.LifoQueue.get()"),
    (lambda: (lambda: concurrent.futures.wait([concurrent.futures.Future()])), "concurrent.futures.wait()"),
])  # fmt: skip
@pytest.mark.parametrize("is_async", [False, True])
def test_a_wait_nothing_can_end_is_refused_at_once_naming_the_call_and_the_function(make, called, is_async, alone):
    with _sim_waiting(make(), is_async=is_async) as sim:
        start = time.perf_counter()
        how, error = _outcome(sim.run_until_idle)
        assert time.perf_counter() - start < 5  # at once: no real-time wait first
    assert how == "raised" and type(error) is UnsupportedFeature
    said = str(error)
    assert said.startswith(f"job code of function 'waiter' waits with no timeout in {called}, and no other thread ")
    assert "runs to its end before another job's starts" in said
    assert "give the wait a timeout (one that times out" in said
    assert threading.Condition.wait is ORIGINAL_WAIT


def test_a_condition_waited_on_directly_is_named_as_such(alone):
    condition = threading.Condition()

    def wait() -> None:
        with condition:
            condition.wait()

    with _sim_waiting(wait) as sim:
        how, error = _outcome(sim.run_until_idle)
    assert how == "raised" and "waits with no timeout in threading.Condition.wait()," in str(error)


def _caught(wait: Callable[[], Any]) -> Callable[[], Any]:
    def catching() -> Any:
        try:
            return wait()
        except Exception:  # job code's own broad handler: the refusal must not be lost in it
            return "gave up"

    return catching


def _reraised(wait: Callable[[], Any]) -> Callable[[], Any]:
    def reraising() -> Any:
        try:
            return wait()
        except Exception as error:
            raise RuntimeError("queue read failed") from error

    return reraising


@pytest.mark.parametrize("handle", [_caught, _reraised])
@pytest.mark.parametrize("is_async", [False, True])
def test_the_refusal_is_raised_by_the_driving_call_though_job_code_catches_it(handle, is_async, alone):
    with _sim_waiting(handle(queue.Queue().get), is_async=is_async) as sim:
        how, error = _outcome(sim.run_until_idle)
        assert how == "raised" and type(error) is UnsupportedFeature, error
        assert "waits with no timeout in queue.Queue.get()" in str(error)
        [run] = sim.runs()
        assert run.status == "running" and run.attempts == [] and run.output is None  # stopped where it was


def test_the_timeline_says_where_the_refused_run_stopped(alone):
    with _sim_waiting(threading.Event().wait) as sim:
        how, _ = _outcome(sim.run_until_idle)
        assert how == "raised"
        timeline = sim.timeline()
    assert "not run yet" not in timeline
    [line] = [line for line in timeline.splitlines() if "refused" in line]
    assert line.startswith("2025-01-01 00:00:00.000 UTC  refused   waiter#1 attempt 0, stopped here: "
                           "UnsupportedFeature: job code of function 'waiter' waits with no timeout in "
                           "threading.Event.wait(), and no other thread exists")
    assert line.endswith("…")  # the first 160 characters of the error, as an attempt's line


def test_with_another_thread_the_wait_ends_when_it_sets_the_event():
    event = threading.Event()
    setter = threading.Timer(0.05, event.set)
    with _sim_waiting(lambda: event.wait()) as sim:
        setter.start()
        how, _ = _outcome(sim.run_until_idle)
    assert how == "returned"
    [run] = sim.runs("waiter")
    assert (run.status, run.output) == ("completed", True)


def test_with_another_thread_that_never_ends_it_the_wait_is_refused_after_the_real_wait(monkeypatch):
    monkeypatch.setenv("JOBSIM_REAL_WAIT", "0.2")
    idle = threading.Event()
    other = threading.Thread(target=idle.wait, daemon=True)  # a thread outside job code, waiting itself
    other.start()
    try:
        with _sim_waiting(lambda: threading.Event().wait()) as sim:
            start = time.perf_counter()
            how, error = _outcome(sim.run_until_idle)
            waited = time.perf_counter() - start
        assert how == "raised" and type(error) is UnsupportedFeature
        assert "nothing ended it in 0.2 s of real time: if a thread of the job's own (a pool's worker) is still at " \
               "work, let it have longer (JOBSIM_REAL_WAIT=60, or inf for no limit)" in str(error)
        assert 0.2 <= waited < 10
        assert other.is_alive()  # the other thread's own wait, outside job code, was not touched
    finally:
        idle.set()
        other.join(5)
    assert not other.is_alive()


def test_starting_a_thread_and_a_pool_in_job_code_still_works():
    """``Thread.start()`` waits with no timeout for its new thread, and ``Future.result()`` for a pool's worker:
    both are ended by the other thread."""

    def work() -> int:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            return sum(pool.map(lambda n: n * n, range(5)))

    with _sim_waiting(work) as sim:
        how, _ = _outcome(sim.run_until_idle)
    assert how == "returned" and sim.runs("waiter")[0].output == 30


@pytest.mark.parametrize("others", [False, True])
def test_a_timed_wait_that_times_out_spends_its_timeout_in_virtual_time_too(others, monkeypatch):
    if not others:
        monkeypatch.setattr(threading, "active_count", lambda: 1)

    def wait() -> list[Any]:
        before = time.time_ns()
        return [threading.Event().wait(0.05), time.time_ns() - before]

    with _sim_waiting(wait) as sim:
        start = time.perf_counter()
        how, _ = _outcome(sim.run_until_idle)
        assert time.perf_counter() - start >= 0.05  # a thread could have set it: waited in real time too
    assert how == "returned" and sim.runs("waiter")[0].output == [False, 50_000_000]


def test_a_polling_loop_of_timed_waits_reaches_its_deadline_on_job_codes_clock(alone):
    """``while time.monotonic() < deadline: stop.wait(...)`` spent real time and none virtual: it never ended
    (read in ns here, so the count of turns is exact)."""
    stop, jobs = threading.Event(), queue.Queue()

    def poll() -> list[int]:
        turns, deadline = [0, 0], time.monotonic_ns() + 300_000_000  # in ns: 0.3 s added to a float may round
        while time.monotonic_ns() < deadline:
            if stop.wait(0.05):
                break
            turns[0] += 1
        deadline = time.time() + 0.2
        while time.time() < deadline:
            try:
                jobs.get(timeout=0.05)  # queue's own loop counts 0.05 s on the real clock
            except queue.Empty:
                turns[1] += 1
        return turns

    with _sim_waiting(poll) as sim:
        how, _ = _outcome(sim.run_until_idle)
    assert how == "returned"
    events, gets = sim.runs("waiter")[0].output
    assert events == 6  # 0.05 s of virtual time each
    assert gets in (4, 5)  # each a little under 0.05 s: queue's deadline is read a moment after it is set


def test_the_refusal_says_another_thread_existed_though_it_ended_during_the_wait(monkeypatch):
    """The threads were counted again after the wait: one that ended meanwhile made the refusal say that no other
    thread existed, after waiting for it."""
    monkeypatch.setenv("JOBSIM_REAL_WAIT", "0.2")
    counts = iter([2])  # another thread at the wait's start, none after
    monkeypatch.setattr(threading, "active_count", lambda: next(counts, 1))
    with _sim_waiting(lambda: threading.Event().wait()) as sim:
        how, error = _outcome(sim.run_until_idle)
    assert how == "raised" and "nothing ended it in 0.2 s of real time" in str(error)


@pytest.mark.parametrize(("given", "limit"), [("0.2", 0.2), ("10s", 10.0), ("2min", 120.0), ("inf", float("inf"))])
def test_the_real_wait_takes_seconds_a_duration_or_inf(given, limit, monkeypatch):
    monkeypatch.setenv("JOBSIM_REAL_WAIT", given)
    assert _threadwaits.real_wait() == limit


def test_with_no_limit_a_wait_another_thread_ends_late_still_ends(monkeypatch):
    monkeypatch.setenv("JOBSIM_REAL_WAIT", "inf")
    event = threading.Event()
    setter = threading.Timer(0.2, event.set)
    with _sim_waiting(lambda: event.wait()) as sim:
        setter.start()
        how, _ = _outcome(sim.run_until_idle)
    assert how == "returned" and sim.runs("waiter")[0].output is True


def test_the_tests_own_waits_between_driving_calls_are_untouched(alone):
    with _sim_waiting(lambda: 1) as sim:
        sim.run_until_idle()
        assert threading.Condition.wait is ORIGINAL_WAIT
        assert threading.Event().wait(0.01) is False


def test_a_bad_real_wait_is_refused_before_the_driving_call_does_anything(monkeypatch):
    monkeypatch.setenv("JOBSIM_REAL_WAIT", "soon")
    with _sim_waiting(lambda: 1) as sim:
        with pytest.raises(InvalidArgument, match=r"JOBSIM_REAL_WAIT='soon'.*seconds \(10\), a duration \('10s', "
                                                  r"'2min'\), or inf for no limit; more than 0 \(unset: 10\)"):
            sim.run_until_idle()
        assert threading.Condition.wait is ORIGINAL_WAIT and [run.status for run in sim.runs("waiter")] == ["queued"]
        assert [record.kind for record in sim.trace if record.kind == "advance"] == []
        monkeypatch.setenv("JOBSIM_REAL_WAIT", "0")
        with pytest.raises(InvalidArgument, match="JOBSIM_REAL_WAIT='0'"):
            sim.run_until_idle()
        monkeypatch.delenv("JOBSIM_REAL_WAIT")
        sim.run_until_idle()
        assert sim.runs("waiter")[0].output == 1


def test_two_simulations_driving_on_two_threads_share_one_wrapper_and_put_the_original_back():
    started, release = threading.Barrier(2), threading.Event()
    seen: list[Any] = []

    def first_job() -> None:
        seen.append(threading.Condition.wait)
        started.wait(5)
        release.wait(5)

    def second_job() -> None:
        seen.append(threading.Condition.wait)
        started.wait(5)
        release.set()

    with _sim_waiting(first_job) as one, _sim_waiting(second_job) as two:
        threads = [threading.Thread(target=sim.run_until_idle) for sim in (one, two)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert len(seen) == 2 and seen[0] is seen[1] is _threadwaits._wait
    assert threading.Condition.wait is ORIGINAL_WAIT and _threadwaits._driving == []


def test_the_executor_threads_an_async_job_used_are_gone_when_its_simulation_closes():
    """``asyncio.to_thread`` in job code left the loop's idle worker behind for a moment after the close: the next
    simulation's refusal then waited ``JOBSIM_REAL_WAIT`` for it, and said no other thread existed."""
    app = jobsim.App("threads")

    @app.function("offload", on="go")
    async def offload(ctx: Any) -> int:
        return await asyncio.to_thread(sum, range(10))

    before = set(threading.enumerate())
    with jobsim.Simulation(app) as sim:
        sim.send("go")
        sim.run_until_idle()
        assert sim.runs("offload")[0].output == 45
        assert set(threading.enumerate()) - before  # the loop's worker, idle
    assert set(threading.enumerate()) - before == set()
