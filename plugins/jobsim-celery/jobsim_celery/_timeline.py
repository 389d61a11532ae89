"""Timeline lines for the records jobsim-celery adds to the trace."""

from __future__ import annotations

import datetime as dt
from typing import Any

from jobsim._time import to_datetime


def _at(ns: int | None, tz: dt.tzinfo) -> str:
    return "" if ns is None else to_datetime(ns, tz).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _name(d: dict[str, Any], names: dict[str, str]) -> str:
    return names.get(d.get("run") or "", d.get("task") or "?")


def _send(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str | None:
    if d.get("retries"):
        return None  # the retry line says it
    eta = f", eta {_at(d['eta'], tz)}" if d.get("eta") is not None else ""
    expires = f", expires {_at(d['expires'], tz)}" if d.get("expires") is not None else ""
    return f"celery    {_name(d, names)} sent to queue {d['queue']!r}{eta}{expires}"


def _revoked(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    if d["reason"] == "terminated":
        return f"celery    {_name(d, names)} terminated: its pool process was killed with {d.get('signal')} (REVOKED)"
    line = f"celery    {_name(d, names)} {d['reason']}: discarded by the worker (REVOKED)"
    if d["reason"] == "expired" and d.get("expires") is not None:  # the instant of expires counts (``_expiry``)
        line += f", its expires {_at(d['expires'], tz)} reached"
    return line


def _revoke(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    how = f" terminate={d['signal']}" if d.get("terminate") else ""
    return f"celery    revoke {d.get('task') or ''}[{d['id']}]{how}"


def _crash(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    what = "worker process" if d["how"] == "process" else "worker"
    during = f" while running {_name(d, names)}" if d.get("id") else ""
    return f"crash     the {what} died{during}"


def _redeliver(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    if d.get("why") == "visibility_timeout":  # a held ETA message the broker restored (``_visibility``)
        return (f"celery    {_name(d, names)} held unacknowledged past the broker's visibility_timeout: "
                "delivered again, one more copy that runs at its ETA too (a broker_transport_options "
                "visibility_timeout above the countdown avoids it)")
    if d.get("why") == "requeue":  # rejected with requeue=True on SQS (``_crashes.redeliver``)
        return (f"celery    {_name(d, names)} rejected with requeue=True: SQS shows it again at {_at(d['due'], tz)} "
                "(kombu hides it for the transport's wait_time_seconds)")
    return f"celery    {_name(d, names)} unacknowledged: the broker delivers it again at {_at(d['due'], tz)}"


def _deduplicated(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return (f"celery    {_name(d, names)} delivered again after it succeeded: not run "
            "(worker_deduplicate_successful_tasks)")


def _beat(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return f"beat      entry {d['entry']!r} sends {d['task']}"


def _unregistered(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return f"celery    received unregistered task {d['task']!r}: message discarded"


KINDS = {
    "celery.send": _send, "celery.revoked": _revoked, "celery.revoke": _revoke, "celery.crash": _crash,
    "celery.redeliver": _redeliver, "celery.beat": _beat, "celery.unregistered": _unregistered,
    "celery.deduplicated": _deduplicated,
}  # fmt: skip
