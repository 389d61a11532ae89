"""Timeline lines for the records jobsim-apscheduler adds to the trace."""

from __future__ import annotations

import datetime as dt
from typing import Any

from jobsim._time import to_datetime
from jobsim._timeline import repeated_zone


def _at(ns: int, tz: dt.tzinfo) -> str:
    """A run time, local; with its zone when the clocks show it twice (the two 01:30 run times of a
    fall-back night)."""
    moment = to_datetime(ns, tz)
    return moment.strftime("%Y-%m-%d %H:%M:%S") + repeated_zone(moment)


def _name(d: dict[str, Any], names: dict[str, str]) -> str:
    return names.get(d.get("run") or "", d.get("function") or "?")


def _missed(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return (f"aps       {_name(d, names)} missed its run time {_at(d['run_time'], tz)}: {d['late']:g} s late, "
            f"misfire_grace_time={d['grace']} s (EVENT_JOB_MISSED)")  # fmt: skip


def _max_instances(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return (f"aps       {_name(d, names)} skipped its run time {_at(d['run_time'], tz)}: max_instances={d['max']} "
            "still running (EVENT_JOB_MAX_INSTANCES)")  # fmt: skip


def _no_executor(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    jobs = " or ".join(map(repr, d.get("jobs") or ["?"]))
    return (f"aps       job {jobs} is due on executor {d['alias']!r}, which does not exist (executors: "
            f"{', '.join(map(repr, d['known']))}): APScheduler logs it and removes the job")  # fmt: skip


def _busy_wait(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return (f"aps       scheduler spins at full CPU until {_at(d['until'], tz)}: its next run time ({d['clock_next']}) "
            f"is not later on {d['zone']}'s clock than now ({d['clock_now']}), and APScheduler {d['version']} waits "
            "the clock difference, 0 s (3.11.3 subtracts instants: agronholm/apscheduler#1114)")  # fmt: skip


KINDS = {"apscheduler.missed": _missed, "apscheduler.max_instances": _max_instances,
         "apscheduler.no_executor": _no_executor, "apscheduler.busy_wait": _busy_wait}  # fmt: skip
