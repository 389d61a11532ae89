"""Timeline lines for the records jobsim-rq adds to the trace."""

from __future__ import annotations

import datetime as dt
from typing import Any

from jobsim._time import to_datetime


def _at(ns: int, tz: dt.tzinfo) -> str:
    return to_datetime(ns, tz).strftime("%Y-%m-%d %H:%M:%S")


def _name(d: dict[str, Any], names: dict[str, str]) -> str:
    return names.get(d.get("run") or "", d.get("function") or "?")


def _enqueue(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    where = "front of" if d.get("at_front") else ""
    unread = "" if d.get("listened", True) else " (no simulated worker reads it: stays queued)"
    return f"rq        {_name(d, names)} enqueued on {where + ' ' if where else ''}queue {d['queue']!r}{unread}"


def _schedule(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return f"rq        {_name(d, names)} scheduled on queue {d['queue']!r} for {_at(d['at'], tz)}"


def _defer(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    waiting = ", ".join(names.get(i, i) for i in d["waiting_for"])
    return f"rq        {_name(d, names)} deferred on queue {d['queue']!r} until {waiting} finishes"


def _expire(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    why, ttl, name = d.get("why"), d.get("ttl"), _name(d, names)
    if why == "ttl":
        return (f"rq        {name} expired on queue {d['queue']!r} ({d.get('status')}): not started within "
                f"ttl={ttl} s of being queued; RQ drops it")  # fmt: skip
    if ttl == 0:
        return f"rq        {name} deleted at once ({why}=0)"
    ended = {"finished": "finished", "stopped": "was stopped"}.get(str(d.get("status")), "failed")
    return f"rq        {name} expired: {why}={ttl} s after it {ended}"


def _stop(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    if d.get("outcome") == "killed":
        return f"rq        {_name(d, names)} stopped: stop-job killed its work horse"
    return f"rq        stop-job for {_name(d, names)} ignored: the worker is not running it"


KINDS = {"rq.enqueue": _enqueue, "rq.schedule": _schedule, "rq.defer": _defer, "rq.expire": _expire, "rq.stop": _stop}
