"""Timeline lines for the records jobsim-apscheduler adds to the trace."""

from __future__ import annotations

import datetime as dt
from typing import Any

from jobsim._time import to_datetime


def _at(ns: int, tz: dt.tzinfo) -> str:
    return to_datetime(ns, tz).strftime("%Y-%m-%d %H:%M:%S")


def _name(d: dict[str, Any], names: dict[str, str]) -> str:
    return names.get(d.get("run") or "", d.get("function") or "?")


def _missed(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return (f"aps       {_name(d, names)} missed its run time {_at(d['run_time'], tz)}: {d['late']:g} s late, "
            f"misfire_grace_time={d['grace']} s (EVENT_JOB_MISSED)")  # fmt: skip


def _max_instances(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return (f"aps       {_name(d, names)} skipped its run time {_at(d['run_time'], tz)}: max_instances={d['max']} "
            "still running (EVENT_JOB_MAX_INSTANCES)")  # fmt: skip


KINDS = {"apscheduler.missed": _missed, "apscheduler.max_instances": _max_instances}
