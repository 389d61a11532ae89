"""Events between inngest-py's shape and jobsim's.

inngest-py 0.5's ``inngest.Event`` has ``name``, ``data``, ``id`` and ``ts``; an empty
``id`` and a ``ts`` of 0 mean "let the server fill it in" (``client.py :
_build_send_request`` drops the id and stamps the time), which jobsim's bus does.
"""

from __future__ import annotations

import traceback
from typing import Any

import inngest

import jobsim
from jobsim._events import canonical, fresh

FAILED = "inngest/function.failed"


def to_inngest(event: jobsim.Event, engine: Any = None) -> inngest.Event:
    """A bus event as inngest-py hands it to a handler: its data as sent, afresh at every request
    (nested lists and dicts too), as the executor sends each request the stored event, through JCS
    under the inngest profile (``jobsim._events.canonical``: sorted keys, an integral float an int)."""
    data = fresh(event.data)
    if event.name == FAILED and engine is not None:
        _as_inngest_sends_it(data, engine)
    if engine is not None and engine.jcs:
        data = canonical(data)
    return inngest.Event.model_construct(name=event.name, data=data, id=event.id or "", ts=event.ts or 0)


def _as_inngest_sends_it(data: Any, engine: Any) -> None:
    """``inngest/function.failed`` as the server builds it for an inngest-py function
    (``executor.go : functionFinishedData``): the run's input ``events`` besides its ``event``,
    and the ``error`` inngest-py reported (``comm_lib/models.py : ErrorData``; the server keeps
    its ``name``, ``message`` and ``stack``: ``state.UserError``). jobsim's bus event is the same
    for every Inngest SDK and has no ``stack`` nor ``events``."""
    if not isinstance(data, dict):
        return
    runs = engine.runs.get(data.get("function_id"), ())
    failed = next((r for r in reversed(runs) if r.id == data.get("run_id")), None)
    if failed is None:
        return
    data.setdefault("events", [e.to_dict() for e in failed.events])
    error = data.get("error")
    if isinstance(error, dict) and "stack" not in error and isinstance(failed.error, BaseException):
        error["stack"] = "".join(traceback.format_exception(failed.error))


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
