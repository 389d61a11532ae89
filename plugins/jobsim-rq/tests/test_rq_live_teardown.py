"""The live worker fixtures' teardown leaves no process behind: RQ's work horse, in a process group of its own."""

from __future__ import annotations

import json
import os
import time

import pytest
import rq_live_jobs
from rq import Queue

pytestmark = pytest.mark.live


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not: it waits for its parent to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_running_work_horse_does_not_outlive_its_worker(redis_url, live_rq):
    """RQ's horse calls ``os.setpgrp()`` (``Worker.fork_work_horse``): SIGKILL to the worker's process group
    missed it, and a horse still running a job at teardown (a test that failed part-way) went on, logging into
    the next test's Redis after its flush, and held the worker's stdout open (the fixture's reader then waited 10 s
    and left the pipe unclosed). The horse keeps the worker's session, which the teardown now kills whole."""
    import redis

    _flush, _started = live_rq
    _flush(redis_url)
    client = redis.Redis.from_url(redis_url)
    try:
        with _started(redis_url, ("fork",), wait_for_scheduler=False) as worker:
            Queue(rq_live_jobs.LIVE_QUEUE, connection=client).enqueue(rq_live_jobs.pid_sleeps, "orphan", 20)
            deadline = time.monotonic() + 30
            while not client.llen(rq_live_jobs.LOG_KEY):
                worker.check()
                assert time.monotonic() < deadline, "the job never started"
                time.sleep(0.01)
            horse = json.loads(client.lindex(rq_live_jobs.LOG_KEY, 0))["pid"]
            assert horse != worker.pid and os.getpgid(horse) == horse  # its own group, as RQ makes it
            left = time.monotonic()
        # the horse held the worker's stdout: the fixture's reader waited 10 s for EOF, then left the pipe open
        assert time.monotonic() - left < 5
        deadline = time.monotonic() + 5
        while _alive(horse) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _alive(horse), f"the work horse {horse} outlived its worker's teardown"
    finally:
        _flush(redis_url)
        client.close()
