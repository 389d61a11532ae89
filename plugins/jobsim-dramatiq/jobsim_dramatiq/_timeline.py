"""Timeline lines for the records jobsim-dramatiq adds to the trace."""

from __future__ import annotations

import datetime as dt
from typing import Any

from jobsim._time import to_datetime


def _at(ns: int, tz: dt.tzinfo) -> str:
    return to_datetime(ns, tz).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _name(d: dict[str, Any], names: dict[str, str]) -> str:
    return names.get(d.get("run") or "", d.get("function") or "?")


def _enqueue(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    if d.get("eta") is None:
        return f"dramatiq  {_name(d, names)} sent to queue {d['queue']!r}"
    return (
        f"dramatiq  {_name(d, names)} sent to queue {d['queue']!r} with delay={d['delay']} ms, due {_at(d['eta'], tz)}"
    )


def _unconsumed(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return f"dramatiq  {_name(d, names)} waits on queue {d['queue']!r}: no running simulated worker consumes it"


def _dead_letter(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    until = f", kept until {_at(d['expires'], tz)}" if d.get("expires") is not None else ""
    return f"dramatiq  {_name(d, names)} dead-lettered on {d['queue']}.XQ{until}"


def _expired(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return f"dramatiq  dead letter of {_name(d, names)} dropped from {d['queue']}.XQ (dead message ttl)"


def _worker(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    what = d.get("what")
    if what == "stop":
        return f"dramatiq  {d['worker']} stopping: takes no new message ({d.get('running', 0)} running)"
    if what == "stopped":
        return f"dramatiq  {d['worker']} stopped: {d.get('requeued', 0)} fetched message(s) given back to the broker"
    return f"dramatiq  {d['worker']} started"


def _crash(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    what = "crashed" if d.get("what") == "crash" else "exited (Worker.stop's timeout ran out)"
    line = f"dramatiq  {d['worker']} {what} with {d.get('unacked', 0)} unacknowledged message(s)"
    if d.get("restart"):
        line += f"; {d['restart']} replaces it"
    if d.get("expires") is not None:
        if d.get("chance", 1) <= 0:
            return line + "; no maintenance ever requeues them (maintenance_chance=0)"
        line += f"; its heartbeat expires {_at(d['expires'], tz)}, then Redis maintenance requeues them"
    return line


def _redeliver(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    how = d.get("how", "")
    if how.startswith("Redis maintenance"):
        by = how[len("Redis maintenance ") :].split(" requeued")[0]
        how = f"Redis maintenance {by}"
    else:
        how = "RabbitMQ (connection closed, redelivered)"
    return f"dramatiq  {_name(d, names)} requeued by {how}, from dead {d['worker']}, on queue {d['queue']!r}"


def _actor_not_found(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return (f"dramatiq  no actor {d['actor']!r} on the broker (ActorNotFound): a callback naming it is dropped, a "
            "message for it dead-lettered, as Dramatiq does; a worker knows it only if a module it imports declares it")


def _result_not_stored(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return (f"dramatiq  {_name(d, names)}'s result was not stored: {d['error']} (the results backend's encoder; "
            "Dramatiq logs it, and get_result raises ResultMissing)")


KINDS = {
    "dramatiq.actor_not_found": _actor_not_found, "dramatiq.result_not_stored": _result_not_stored,
    "dramatiq.crash": _crash, "dramatiq.redeliver": _redeliver,
    "dramatiq.enqueue": _enqueue, "dramatiq.unconsumed": _unconsumed, "dramatiq.dead_letter": _dead_letter,
    "dramatiq.dead_letter.expired": _expired, "dramatiq.worker": _worker,
}  # fmt: skip
