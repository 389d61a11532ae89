"""Timeline lines for the records jobsim-arq adds to the trace."""

from __future__ import annotations

import datetime as dt
from typing import Any

from jobsim._time import to_datetime


def _at(ns: int, tz: dt.tzinfo) -> str:
    return to_datetime(ns, tz).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _enqueued(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str | None:
    if not d.get("deferred"):
        return None
    name = names.get(d.get("run") or "", d.get("function") or "?")
    return f"arq       {name} deferred on {d['queue']!r} until {_at(d['due'], tz)}"


def _duplicate(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return (f"arq       enqueue_job({d['name']!r}, _job_id={d['job_id']!r}) returned None: a job or result with "
            "that id exists")  # fmt: skip


KINDS = {"arq.enqueued": _enqueued, "arq.duplicate": _duplicate}
