"""Real work async job code waits for (an executor job, a thread, a DNS lookup, a subprocess) holds virtual time:
the loop waits for it in real time instead of jumping to its next timer, where ``wait_for(..., 5)`` timed out at
once. And a coroutine nothing can ever wake fails at once, saying what it awaits, not after 30 s of real time
blamed on I/O (``jobsim._aio.VirtualLoop._hopeless``)."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any

import pytest

import jobsim
from jobsim import _aio

START = "2025-03-01T00:00:00Z"
T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)


def _run(handler: Any) -> tuple[jobsim.Run, float]:
    """Run ``handler`` as an async function's only attempt: its run, and the real seconds it took."""
    app = jobsim.App("t")
    app.function("f", on="go", retries=0)(handler)
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        began = time.perf_counter()
        sim.run_until_idle()
        return sim.runs("f")[0], time.perf_counter() - began


def _work(seconds: float = 0.1) -> str:
    time.sleep(seconds)  # another thread: real time
    return "rows"


def test_wait_for_around_run_in_executor_to_thread_and_getaddrinfo_waits_for_the_work() -> None:
    out: dict[str, Any] = {}

    async def f(ctx: Any) -> None:
        loop = asyncio.get_running_loop()
        out["executor"] = await asyncio.wait_for(loop.run_in_executor(None, _work), timeout=5)
        out["thread"] = await asyncio.wait_for(asyncio.to_thread(_work), timeout=5)
        found = await asyncio.wait_for(loop.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM), timeout=2)
        out["dns"] = bool(found)
        out["elapsed"] = (datetime.now(timezone.utc) - T0).total_seconds()  # virtual time stood still meanwhile

    run, _ = _run(f)
    assert run.status == "completed", [a.error for a in run.attempts]
    assert out == {"executor": "rows", "thread": "rows", "dns": True, "elapsed": 0.0}


def test_asyncio_run_in_sync_job_code_waits_for_its_thread_too() -> None:
    out: dict[str, Any] = {}

    def f(ctx: Any) -> None:
        async def main() -> str:
            return await asyncio.wait_for(asyncio.to_thread(_work), timeout=5)

        out["r"] = asyncio.run(main())

    run, _ = _run(f)
    assert run.status == "completed" and out == {"r": "rows"}, [a.error for a in run.attempts]


def test_a_heartbeat_does_not_run_virtual_time_ahead_while_a_thread_works_and_timers_due_now_still_fire() -> None:
    out: dict[str, Any] = {}
    gate = threading.Event()

    def work() -> str:  # finishes only once a timer due now (call_later(0)) has fired on the loop meanwhile
        return "done" if gate.wait(10) else "the loop's due timer never fired"

    async def f(ctx: Any) -> None:
        beats = 0

        async def heartbeat() -> None:
            nonlocal beats
            while True:
                await asyncio.sleep(10)
                beats += 1

        beat = asyncio.create_task(heartbeat())
        asyncio.get_running_loop().call_later(0, gate.set)
        out["r"] = await asyncio.to_thread(work)
        beat.cancel()
        out["beats"], out["elapsed"] = beats, (datetime.now(timezone.utc) - T0).total_seconds()

    run, real = _run(f)
    assert run.status == "completed", [a.error for a in run.attempts]
    assert out == {"r": "done", "beats": 0, "elapsed": 0.0} and real < 10


@pytest.mark.skipif(sys.platform == "win32", reason="subprocesses need the Unix selector loop")
def test_wait_for_a_subprocess_waits_until_it_has_exited() -> None:
    out: dict[str, Any] = {}

    async def f(ctx: Any) -> None:
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(0.2)")
        out["code"] = await asyncio.wait_for(process.wait(), 5)
        out["elapsed"] = (datetime.now(timezone.utc) - T0).total_seconds()

    run, _ = _run(f)
    assert run.status == "completed" and out == {"code": 0, "elapsed": 0.0}, [a.error for a in run.attempts]


_HOPELESS = """
import asyncio, threading, time, jobsim
assert threading.active_count() == 1, threading.enumerate()
app = jobsim.App("t")

@app.function("f", on="go", retries=0)
async def f(ctx):
    await asyncio.Event().wait()

with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
    sim.send("go")
    began = time.perf_counter()
    sim.run_until_idle()
    print(time.perf_counter() - began)
    print(type(sim.runs("f")[0].attempts[0].error).__name__, sim.runs("f")[0].attempts[0].error)
"""


def test_an_await_nothing_can_ever_wake_fails_at_once_naming_what_it_awaits() -> None:
    # in a process of one thread: a pytest-xdist worker has execnet's too, which keeps the 30 s wait (below)
    import subprocess

    done = subprocess.run([sys.executable, "-c", _HOPELESS], capture_output=True, text=True, timeout=60, check=True)
    real, error = done.stdout.splitlines()[:2]
    assert float(real) < _aio.REAL_IO_WAIT / 3  # well under the real-time limit
    assert error.startswith("JobsimError async job code waits for something nothing will ever set ("), error
    assert "awaits Event.wait at locks.py:" in error and "I/O for" not in error


def test_a_thread_alive_before_the_attempt_may_still_answer_its_futures() -> None:
    """A library's worker thread made before the attempt (aiosqlite's connection thread, opened by a fixture)
    resolves the job's futures with ``call_soon_threadsafe``: the loop waits for it, not failing at once."""
    import queue

    requests: queue.Queue[Any] = queue.Queue()

    def worker() -> None:
        while (item := requests.get()) is not None:
            future, value = item
            time.sleep(0.2)
            future.get_loop().call_soon_threadsafe(future.set_result, value)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()

    async def f(ctx: Any) -> str:
        future = asyncio.get_running_loop().create_future()
        requests.put((future, "row"))
        return await future

    try:
        run, _ = _run(f)
    finally:
        requests.put(None)
        thread.join(5)
    assert (run.status, run.output) == ("completed", "row"), [a.error for a in run.attempts]


def test_a_thread_the_job_started_may_still_wake_the_loop() -> None:
    """A thread alive that was not before the attempt may call ``call_soon_threadsafe``: the loop waits for it."""
    out: dict[str, Any] = {}

    async def f(ctx: Any) -> None:
        loop, done = asyncio.get_running_loop(), asyncio.Event()

        def later() -> None:
            time.sleep(0.1)
            loop.call_soon_threadsafe(done.set)

        threading.Thread(target=later).start()
        await done.wait()
        out["woken"] = True

    run, _ = _run(f)
    assert run.status == "completed" and out == {"woken": True}, [a.error for a in run.attempts]


def test_the_real_time_limit_still_holds_and_names_what_was_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_aio, "REAL_IO_WAIT", 0.2)
    release = threading.Event()

    async def slow_work(ctx: Any) -> None:
        await asyncio.wait_for(asyncio.to_thread(release.wait, 5), timeout=60)

    async def silent_thread(ctx: Any) -> None:
        threading.Thread(target=release.wait, args=(5,)).start()  # alive, so it might wake the loop: the limit
        await asyncio.Event().wait()

    try:
        work, _ = _run(slow_work)
        thread, _ = _run(silent_thread)
    finally:
        release.set()
    assert work.status == "failed" and str(work.attempts[0].error).startswith(
        "async job code waited 0 s of real time for Event.wait() in a thread (run_in_executor, asyncio.to_thread"
    )
    assert thread.status == "failed" and "for I/O or a thread it started" in str(thread.attempts[0].error)
