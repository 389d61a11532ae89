"""Fixtures for jobsim-rq's tests: a queue whose connection is never opened, and (live) a real Redis and worker."""

from __future__ import annotations

import importlib.util

import pytest

from jobsim.pytest_plugin import redis_url_fixture
from jobsim.testing import stop_process

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


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "live: talks to a real backend server on loopback (skipped when it is not running)"
    )


redis_url = redis_url_fixture("live RQ tests")


class WorkerProcess:
    def __init__(self, proc, lines):
        self.proc = proc
        self.lines = lines

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


def _worker(redis_url, *extra):
    import os
    import subprocess
    import sys
    import threading
    import time
    from pathlib import Path

    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    here = Path(__file__).parent
    path = os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, JOBSIM_LIVE_REDIS=redis_url, PYTHONPATH=path)
    proc = subprocess.Popen(
        [sys.executable, str(here / "rq_live_worker.py"), redis_url, "jobsim-live", *extra],
        cwd=here, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    ready = threading.Event()

    def pump():
        for line in proc.stdout:
            lines.append(line)
            if "Scheduler for" in line and " started" in line:
                ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    worker = WorkerProcess(proc, lines)
    try:
        deadline = time.monotonic() + 30
        while not ready.wait(0.1):
            worker.check()
            if time.monotonic() > deadline:
                pytest.fail("the RQ worker's scheduler did not start in 30 s:\n" + "".join(lines[-40:]))
        yield worker
    finally:
        stop_process(proc, timeout=15)
        reader.join(timeout=10)
        if not reader.is_alive():
            proc.stdout.close()
