"""The run times APScheduler's own scheduler loop gives a trigger, to compare the simulation's runs with."""

from __future__ import annotations

import datetime as dt
from typing import Any

ZONES = ("America/New_York", "Europe/London", "Australia/Sydney", "Asia/Kolkata")


def schedulers_own(trigger: Any, start: dt.datetime, end: dt.datetime, coalesce: bool) -> list[dt.datetime]:
    """The run times a scheduler on time gives ``trigger``: ``Job._get_run_times(now)`` at each wakeup
    (``job.py:141-155``), the last of them when coalescing, then ``get_next_fire_time(run_times[-1], now)``
    (``schedulers/base.py:1191-1219``). Compared in UTC, as ``_get_run_times`` does: within one zone Python
    compares wall times and ignores ``fold``, so the EST 01:30 would be "not after" the EDT one."""
    utc = dt.timezone.utc
    out, due = [], trigger.get_next_fire_time(None, start)
    while due is not None and due <= end:
        now, run_times, fire = due, [], due
        while fire is not None and fire.astimezone(utc) <= now.astimezone(utc):
            run_times.append(fire)
            fire = trigger.get_next_fire_time(fire, now)
        out += run_times[-1:] if coalesce else run_times
        due = trigger.get_next_fire_time(run_times[-1], now)
    return out


def assert_runs_are_schedulers_own(sim: Any, scheduler: Any, start: dt.datetime, end: dt.datetime) -> None:
    """Every job's runs in ``sim`` start at the instants, and carry the run times, of ``schedulers_own``."""
    for job in scheduler.get_jobs():
        own = schedulers_own(job.trigger, start, end, job.coalesce)
        runs = sim.runs(job.id)
        assert [r.started_at for r in runs] == [t.astimezone(dt.timezone.utc) for t in own], job.id
        assert [r.event.data["run_time"] for r in runs] == [t.isoformat() for t in own], job.id
