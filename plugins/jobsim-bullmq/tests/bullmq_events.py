"""How the live scenarios record what a ``QueueEvents`` emits, the same way on a real Redis and in the simulation."""

from __future__ import annotations

from typing import Any


def record_events(events: Any, names: tuple[str, ...], into: list[Any]) -> None:
    """Append ``[name, payload]`` to ``into`` for each event of ``names`` that ``events`` emits (``["drained"]`` has
    no payload); a ``delayed`` event's due time becomes its distance from the stream entry, in 0.1 s."""
    for name in names:

        def record(*args: Any, name: str = name) -> None:
            if name == "drained":
                into.append([name])
                return
            payload = dict(args[0])
            if name == "delayed":
                payload["delay"] = round((int(payload["delay"]) - int(args[1].split("-")[0])) / 100)
            into.append([name, payload])

        events.on(name, record)
