"""Fixtures for jobsim-celery's tests: a fresh Celery app per test, never the process-wide current app."""

from __future__ import annotations

import contextlib
import importlib.util

import pytest

from jobsim.testing import stop_process

if importlib.util.find_spec("celery") is None or importlib.util.find_spec("jobsim_celery") is None:
    # run from the repository root without the plugin installed: nothing here can run
    collect_ignore_glob = ["test_*.py", "celery_live_app.py"]
else:
    import celery
    import celery.app.builtins  # (Celery's own finalizers, registered as it is imported: not a leak)

START = "2025-03-01T00:00:00Z"


@pytest.fixture
def app():
    """A Celery app configured like a Redis deployment; nothing connects to the broker in a simulation."""
    app = celery.Celery("tests", broker="redis://127.0.0.1:1/0", backend="redis://127.0.0.1:1/1", set_as_current=False)
    app.conf.update(timezone="UTC", enable_utc=True)
    task = app.task

    def unshared_task(*args, **options):
        """``@app.task`` registers shared tasks into every later app; tests keep theirs to themselves."""
        options.setdefault("shared", False)
        return task(*args, **options)

    app.task = unshared_task
    yield app


@pytest.fixture(autouse=True)
def _no_shared_task_leaks():
    """A shared task (``@shared_task``, or ``@app.task`` on an app not made by the fixture above) joins every app
    finalized later in the process: the app of whichever test ran next on that xdist worker then listed it (a
    task-name check failed in another file, in some orders only). The test that leaves one fails here instead,
    and the others get the process's finalizers back."""
    if importlib.util.find_spec("celery") is None:
        yield
        return
    from celery import _state

    before = set(_state._on_app_finalizers)
    yield
    leaked = set(_state._on_app_finalizers) - before
    if leaked:
        _state._on_app_finalizers.difference_update(leaked)
        pytest.fail(f"the test left {len(leaked)} shared task(s) registered for every later Celery app: pass "
                    "shared=False to @app.task, or restore celery._state._on_app_finalizers in a finally block")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "live: talks to a real backend server on loopback (skipped when it is not running)"
    )


@pytest.fixture(scope="session")
def redis_url():
    """A throwaway ``redis-server`` on 127.0.0.1 and a free port, stopped by pid afterwards."""
    from jobsim.testing import ServerUnavailable, redis_server

    pytest.importorskip("redis", reason="live Celery tests need the redis client: pip install 'celery[redis]'")
    try:
        with redis_server() as url:
            yield url
    except ServerUnavailable as exc:
        pytest.skip(f"live Celery tests need Debian's redis-server: {exc}")


class WorkerProcess:
    def __init__(self, proc, lines):
        self.proc = proc
        self.lines = lines

    def check(self):
        if self.proc.poll() is not None:
            pytest.fail("the Celery worker exited early:\n" + "".join(self.lines[-40:]))


@pytest.fixture
def celery_worker(redis_url):
    """``celery -A celery_live_app worker --pool=solo`` against ``redis_url``; stopped by pid afterwards."""
    yield from _worker(redis_url, "solo")


@pytest.fixture
def celery_prefork_worker(redis_url):
    """The same with ``--pool=prefork --concurrency=1``: a pool process that ``revoke(terminate=True)`` can kill."""
    yield from _worker(redis_url, "prefork")


@pytest.fixture
def celery_threads_worker(redis_url):
    """``--pool=threads --concurrency=2``: two tasks run side by side, as in a simulation without a pool limit."""
    yield from _worker(redis_url, "threads", concurrency=2)


@pytest.fixture
def celery_vt_worker(redis_url):
    """A solo worker whose Redis transport restores unacknowledged messages after 4 s, scanning every second
    (``celery_live_app.VT_TRANSPORT``): the visibility timeout of ``test_celery_live_visibility.py`` in seconds."""
    import json

    from celery_live_app import VT_TRANSPORT

    yield from _worker(redis_url, "solo", env={"JOBSIM_LIVE_TRANSPORT": json.dumps(VT_TRANSPORT)})


def _worker(redis_url, pool, concurrency=1, env=None):
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time
    from pathlib import Path

    import redis

    redis.Redis.from_url(redis_url).flushdb()
    here = Path(__file__).parent
    path = os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, JOBSIM_LIVE_REDIS=redis_url, PYTHONPATH=path, **(env or {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_live_app", "worker", f"--pool={pool}",
         f"--concurrency={concurrency}", "--loglevel=INFO", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "-n", f"jobsim-live-{os.getpid()}@%h"],
        cwd=here, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    ready = threading.Event()

    def pump():
        for line in proc.stdout:
            lines.append(line)
            if " ready." in line:
                ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    worker = WorkerProcess(proc, lines)
    try:
        deadline = time.monotonic() + 30
        while not ready.wait(0.1):
            worker.check()
            if time.monotonic() > deadline:
                pytest.fail("the Celery worker did not become ready in 30 s:\n" + "".join(lines[-40:]))
        yield worker
    finally:
        # SIGKILL to its session (the worker and its pool processes) by pid, then reaped: a warm shutdown took
        # 0.9-2.9 s per test; the next worker fixture flushes Redis
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        stop_process(proc, timeout=15)
        # the pipe's reader ends at EOF once the worker is gone; its file is closed here, or it is
        # left to the garbage collector, which warns "unclosed file <_io.TextIOWrapper name=N>"
        # during whichever later test happens to trigger a collection
        reader.join(timeout=10)
        if not reader.is_alive():
            proc.stdout.close()
