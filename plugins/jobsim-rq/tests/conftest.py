"""Fixtures for jobsim-rq's tests: a queue whose connection is never opened, and (live) a real Redis and worker."""

from __future__ import annotations

import contextlib
import importlib.util

import pytest

from jobsim.pytest_plugin import redis_url_fixture
from jobsim.testing import socket_connects, stop_process

if importlib.util.find_spec("rq") is None or importlib.util.find_spec("jobsim_rq") is None:
    # run from the repository root without the plugin installed: nothing here can run
    collect_ignore_glob = ["test_*.py", "rq_live_*.py", "rq_log.py"]

START = "2025-03-01T00:00:00Z"


@pytest.fixture(autouse=True)
def _clear_log():
    """The job functions' log (``rq_log.LOG``) starts empty in every test."""
    from rq_log import LOG

    LOG.clear()


@pytest.fixture
def queue():
    """An RQ queue on a Redis port nothing listens on: in a simulation nothing may reach it."""
    import redis
    from rq import Queue

    return Queue("default", connection=redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))


@pytest.fixture
def connects():
    """Every address a socket tries to connect to during the test: ``connects == []`` is "no connection attempt"."""
    with socket_connects() as tried:
        yield tried


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "live: talks to a real backend server on loopback (skipped when it is not running)"
    )


redis_url = redis_url_fixture("live RQ tests")


class WorkerProcess:
    def __init__(self, proc, lines):
        self.proc = proc
        self.lines = lines

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check(self):
        if self.proc.poll() is not None:
            pytest.fail("the RQ worker exited early:\n" + "".join(self.lines[-40:]))


@pytest.fixture
def rq_worker(redis_url):
    """``SimpleWorker([queue]).work(with_scheduler=True)`` in a subprocess against ``redis_url``; stopped by pid."""
    yield from _worker(redis_url)


@pytest.fixture
def rq_forking_worker(redis_url):
    """RQ's default ``Worker`` (a work horse process per job, which ``stop-job`` kills), as ``rq_worker``."""
    yield from _worker(redis_url, "fork")


@pytest.fixture
def rq_two_workers(redis_url):
    """Two of RQ's forking ``Worker`` on the same queue, each in its own session (so a test can kill one
    with its scheduler process: ``os.killpg(worker.pid, SIGKILL)``); both idle in ``BLPOP`` when yielded."""
    import time

    import redis
    from rq import Worker

    _flush(redis_url)
    with contextlib.ExitStack() as stack:
        workers = [stack.enter_context(_started(redis_url, ("fork",), wait_for_scheduler=i == 0)) for i in range(2)]
        client = redis.Redis.from_url(redis_url)
        deadline = time.monotonic() + 30
        try:
            while not _all_idle(Worker.all(connection=client), 2):
                for worker in workers:
                    worker.check()
                if time.monotonic() > deadline:
                    pytest.fail("two RQ workers did not both wait for jobs in 30 s")
                time.sleep(0.05)
        finally:
            client.close()
        yield workers


def _all_idle(workers, count: int) -> bool:
    return len(workers) == count and all(w.get_state() == "idle" for w in workers)


@pytest.fixture
def live_rq():
    """``(flush, started)``: this file's helpers for a test that starts and stops its own worker (a test module
    cannot import them: ``from conftest import`` finds whichever plugin's conftest.py pytest loaded last)."""
    return _flush, _started


def _flush(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()


def _worker(redis_url, *extra):
    _flush(redis_url)
    with _started(redis_url, extra, wait_for_scheduler=True) as worker:
        yield worker


def _kill_session(sid: int) -> None:
    """SIGKILL, by pid, every process left in session ``sid``: RQ's work horse calls ``os.setpgrp()``
    (``Worker.fork_work_horse``), so SIGKILL to the worker's process group misses it, and a horse still running
    a job at teardown went on (logging into the next test's Redis after its flush) holding the worker's stdout
    (the reader below then waited 10 s and left the pipe open). It keeps the worker's session."""
    import os
    import signal

    try:
        entries = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:  # no /proc: the process group was all that could be reached
        return
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()  # state, ppid, pgrp, session, ...
        except OSError:  # it ended meanwhile
            continue
        if int(fields[3]) == sid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry), signal.SIGKILL)


@contextlib.contextmanager
def _started(redis_url, extra, *, wait_for_scheduler: bool):
    """``rq_live_worker.py`` in its own session; with ``wait_for_scheduler``, until its scheduler runs (else
    until it says it listens). Killed with its session (its scheduler process, a work horse) by pid, then reaped."""
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time
    from pathlib import Path

    here = Path(__file__).parent
    path = os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, JOBSIM_LIVE_REDIS=redis_url, PYTHONPATH=path)
    proc = subprocess.Popen(
        [sys.executable, str(here / "rq_live_worker.py"), redis_url, "jobsim-live", *extra],
        cwd=here, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    ready = threading.Event()
    sign = ("Scheduler for", " started") if wait_for_scheduler else ("Listening on", "")

    def pump():
        for line in proc.stdout:
            lines.append(line)
            if sign[0] in line and sign[1] in line:
                ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    worker = WorkerProcess(proc, lines)
    try:
        deadline = time.monotonic() + 30
        while not ready.wait(0.1):
            worker.check()
            if time.monotonic() > deadline:
                pytest.fail(f"the RQ worker did not log {sign[0]!r} in 30 s:\n" + "".join(lines[-40:]))
        yield worker
    finally:
        # SIGKILL to its whole session (the worker, its scheduler, a horse) at once: a warm shutdown waits up to
        # the scheduler's 1 s poll (measured: 0.9-2.7 s of teardown per test); the next worker flushes Redis
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and its scheduler: nothing forks a horse after this
        _kill_session(proc.pid)  # a horse, in a process group of its own
        stop_process(proc, timeout=15)  # reaps it
        reader.join(timeout=10)
        if not reader.is_alive():
            proc.stdout.close()
