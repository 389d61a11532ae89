"""How the live scenarios record what a ``QueueEvents`` emits, the same way on a real Redis and in the simulation."""

from __future__ import annotations

import math
from typing import Any

SKEW = 5  # ms


def record_events(events: Any, names: tuple[str, ...], into: list[Any]) -> None:
    """Append ``[name, payload]`` to ``into`` for each event of ``names`` that ``events`` emits (``["drained"]`` has
    no payload); a ``delayed`` event's due time becomes its distance from the stream entry, in 0.1 s, rounded up.

    Up: the due time is the adding client's timestamp plus the delay (``getDelayedScore`` in bullmq's
    ``addDelayedJob`` script) and the entry's id the server's clock as the script runs, a little later (at once in
    the simulation): a delay of whole tenths of a second reads as itself while that lag is under 0.1 s (less
    ``SKEW``), which rounding to the nearest allowed only to 0.05 s (a loaded machine went past it). ``SKEW``: the
    client's millisecond may be one past the server's (the entry's id truncates)."""
    for name in names:

        def record(*args: Any, name: str = name) -> None:
            if name == "drained":
                into.append([name])
                return
            payload = dict(args[0])
            if name == "delayed":
                payload["delay"] = math.ceil((int(payload["delay"]) - int(args[1].split("-")[0]) - SKEW) / 100)
            into.append([name, payload])

        events.on(name, record)
