"""Timeline lines for the records jobsim-arq adds to the trace."""

from __future__ import annotations

import datetime as dt
import difflib
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


def _unread(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    read = list(d.get("read") or [])
    close = difflib.get_close_matches(d["queue"], read, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    workers = f"the workers read {', '.join(map(repr, read))}" if read else "the simulation has no worker"
    return (f"arq       queue {d['queue']!r} has no simulated worker ({workers}{hint}): its jobs stay queued, "
            "as in Redis with no worker on it")  # fmt: skip


def _unknown(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    known = list(d.get("known") or [])
    close = difflib.get_close_matches(d["name"], known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (f"arq       no simulated worker of queue {d['queue']!r} has a function {d['name']!r}{hint}: arq fails "
            f"its jobs with \"function {d['name']!r} not found\"; add it to the worker's functions (it has "
            f"{', '.join(map(repr, known))})")  # fmt: skip


KINDS = {"arq.enqueued": _enqueued, "arq.duplicate": _duplicate, "arq.unread": _unread, "arq.unknown": _unknown}
