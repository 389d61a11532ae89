"""Events between inngest-py's shape and jobsim's.

inngest-py 0.5's ``inngest.Event`` has ``name``, ``data``, ``id`` and ``ts``; an empty
``id`` and a ``ts`` of 0 mean "let the server fill it in" (``client.py :
_build_send_request`` drops the id and stamps the time), which jobsim's bus does.
"""

from __future__ import annotations

from typing import Any

import inngest

import jobsim
from jobsim._events import canonical, fresh


def to_inngest(event: jobsim.Event, engine: Any = None) -> inngest.Event:
    """A bus event as inngest-py hands it to a handler: its data as sent, afresh at every request
    (nested lists and dicts too), as the executor sends each request the stored event, through JCS
    under the inngest profile (``jobsim._events.canonical``: sorted keys, an integral float an int)."""
    data = fresh(event.data)
    if engine is not None and engine.jcs:
        data = canonical(data)
    return inngest.Event.model_construct(name=event.name, data=data, id=event.id or "", ts=event.ts or 0)


def from_inngest(event: Any, argument: str = "events") -> jobsim.Event:
    if not isinstance(event, inngest.Event):
        raise jobsim.InvalidArgument.build(
            argument, event, "inngest.Event(name=..., data={...}) or a list of them, as inngest-py accepts"
        )
    encoded = event.to_dict()  # as client.py : _build_send_request encodes it: pydantic's JSON mode
    if isinstance(encoded, Exception):
        raise jobsim.InvalidArgument.build(
            argument, event, f"inngest-py sends events as JSON (pydantic's JSON mode), which fails: {encoded}"
        )
    data: Any = encoded.get("data") or {}
    return jobsim.Event(event.name, data, id=event.id or None, ts=event.ts or None)


def events_from_inngest(events: Any, argument: str = "events") -> list[jobsim.Event]:
    items = events if isinstance(events, list) else [events]
    return [from_inngest(item, argument) for item in items]
