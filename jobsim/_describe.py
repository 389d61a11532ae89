"""How the invariants' messages show an effect: one line for an email, an event, a run or an HTTP call,
with its virtual time (``describe``; ``jobsim.invariants`` re-exports it)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ._email import Email, addressees
from ._events import Event
from ._records import Run
from ._safe import shown
from ._time import iso


def describe(item: Any) -> str:
    """One line per effect, with its virtual time where it has one."""
    if isinstance(item, Email):
        return f"email {addressees(item.to, item.cc, item.bcc)} {item.subject!r} at {_stamp(item.sent_at)}"
    if isinstance(item, Event):
        stamp = "" if item.ts is None else f" at {iso(item.ts * 1_000_000)}"
        return f"event {item.name} id={item.id!r}{stamp} {_short(dict(item.data))}"
    if isinstance(item, Run):
        end = "" if item.end_ns is None else f", ended {iso(item.end_ns)}"
        return f"run {item.function_id} {item.id} {item.status} (started {iso(item.start_ns)}{end})"
    at = getattr(item, "at", None)
    request = getattr(item, "request", None)
    if request is not None and isinstance(at, dt.datetime):
        return f"http {request.method} {request.url} at {_stamp(at)}"
    return _short(item)


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _short(value: Any, limit: int = 120) -> str:
    text = shown(value)  # a row whose repr raises or recurses still gets its line
    return text if len(text) <= limit else text[: limit - 1] + "…"
