"""Timeline lines for the records jobsim-huey adds to the trace.

Huey's signals are all in the trace (``huey.signal``); the timeline shows the ones that say something
the run, attempt and retry lines do not (a task put on the schedule, moved to the queue, revoked,
expired, locked out, ...).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from jobsim._time import to_datetime


def _at(ns: int, tz: dt.tzinfo) -> str:
    return to_datetime(ns, tz).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _name(d: dict[str, Any], names: dict[str, str]) -> str:
    return names.get(d.get("run") or "", d.get("function") or "?")


_SAID = {
    "revoked": "was revoked: not executed",
    "expired": "expired before a worker took it: not executed",
    "locked": "could not take its lock (TaskLockedException)",
    "canceled": "was cancelled (CancelExecution)",
    "rate-limited": "hit its rate limit",
    "timeout": "timed out (TaskTimeout)",
    "interrupted": "was interrupted",
}


def _signal(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str | None:
    signal, name = d.get("signal"), _name(d, names)
    by = f" ({d['worker']})" if d.get("worker") else ""
    if signal == "scheduled":
        return f"huey      {name} put on the schedule, eta {_at(d['eta'], tz)}{by}"
    if signal == "enqueued" and d.get("from") == "schedule":
        return f"huey      {name} moved from the schedule to the queue (eta {_at(d['eta'], tz)})"
    if signal in _SAID:
        return f"huey      {name} {_SAID[signal]}{by}"
    return None  # enqueued, executing, complete, error, retrying: the run, attempt and retry lines say it


def _consumer(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    periodic = "periodic tasks checked every 60 s" if d.get("periodic") else "no periodic tasks"
    clock = "UTC" if d.get("utc") else "local time"
    started = "started"
    if d.get("restart"):
        flushed = d.get("flushed") or []
        started = "started again (a new process" + (f"; locks flushed: {', '.join(flushed)}" if flushed else "") + ")"
    return (f"huey      {d['consumer']} {started}: {d['workers']} {d['worker_type']} worker(s), {periodic} "
            f"({clock})")


def _stop(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    running = d.get("running") or 0
    if d.get("graceful"):
        wait = "" if d.get("timeout") is None else f", at most {d['timeout']} s"
        then = f"waits for {running} running task(s){wait}" if running else "no task running"
        return f"huey      {d['consumer']} stopping gracefully ({d['signal']}): {then}"
    then = f"{running} running task(s) interrupted" if running else "no task running"
    return f"huey      {d['consumer']} stopping at once ({d['signal']}): {then}"


def _stopped(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return f"huey      {d['consumer']} stopped: no scheduler, no worker until it is started again"


KINDS = {"huey.signal": _signal, "huey.consumer": _consumer, "huey.stop": _stop, "huey.stopped": _stopped}
