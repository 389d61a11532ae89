"""A queue's event stream (``bull:<queue>:events``) and the ``QueueEvents`` listening to it.

bullmq's Lua scripts ``XADD`` every change of a job's state to the queue's stream
(``added``, ``waiting``, ``delayed``, ``active``, ``progress``, ``completed``, ``failed``,
``retries-exhausted``, ``stalled``, ``deduplicated``, ``drained``...); a ``QueueEvents``
reads it with a blocking ``XREAD`` and re-emits each entry with its own
``_dispatch_entry`` (``queue_events.py``): the payload is the entry's fields as strings,
``progress.data`` and ``completed.returnvalue`` JSON-decoded, and a second emit on
``"<event>:<jobId>"``. Here the store appends each entry where its script would
(``Store.xadd``, citing the ``XADD`` line), with Redis's ``<ms>-<seq>`` id at the virtual
instant, and every ``QueueEvents`` running in the simulation gets it at once -- through
bullmq's own ``_dispatch_entry`` -- as a blocked ``XREAD`` would, with no latency.

A ``QueueEvents`` runs in the simulation when it is built while the simulation runs
(with ``autorun``, the default: no task is scheduled, it is registered instead) or when its
``run()`` is awaited then; ``close()`` stops it. ``lastEventId`` other than ``"$"`` replays the
retained entries after that id first. The stream keeps the last 10,000 entries (``MAXLEN ~
10000``: Redis trims approximately, by whole nodes, so it may keep a few more).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

from jobsim._kernel import URGENT
from jobsim.hooks import escapes

if TYPE_CHECKING:
    from ._store import QueueState
    from ._world import BullMQWorld

MAX_EVENTS = 10_000
"""``getOrSetMaxEvents`` (``addStandardJob-9.lua:310-317``): ``opts.maxLenEvents`` defaults to 10000."""


class Stream:
    """One queue's stream: the retained entries and the last id given."""

    __slots__ = ("entries", "last")

    def __init__(self) -> None:
        self.entries: deque[tuple[str, dict[str, str]]] = deque(maxlen=MAX_EVENTS)
        self.last = (0, -1)

    def next_id(self, now_ms: int) -> str:
        """``XADD ... *``: ``<ms>-<seq>``, the sequence counting entries within one millisecond."""
        ms, seq = self.last
        self.last = (now_ms, 0) if now_ms > ms else (ms, seq + 1)
        return f"{self.last[0]}-{self.last[1]}"


def field_text(value: Any) -> str:
    """What a stream field reads back as with ``decode_responses``: Lua numbers print as integers when they
    are; redis-py encodes ints with ``str`` and floats with ``repr``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        from redis.exceptions import DataError

        raise DataError(f"Invalid input of type: '{type(value).__name__}'. Convert to a bytes, string, int or float "
                        "first.")  # fmt: skip
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value) if isinstance(value, int) else repr(value)


def _after(entry_id: str, last: str) -> bool:
    def key(text: str) -> tuple[int, int]:
        ms, _, seq = text.partition("-")
        return int(ms), int(seq or 0)

    return key(entry_id) > key(last)


class Listeners:
    """The ``QueueEvents`` running in one simulation, and delivery to them."""

    def __init__(self, world: BullMQWorld) -> None:
        self.world = world
        self.running: list[Any] = []
        self.waits: dict[int, asyncio.Future[None]] = {}  # id(QueueEvents) -> what its run() awaits
        self.seen: dict[int, str] = {}  # id(QueueEvents) -> the last entry id it read (its next XREAD's id)

    def xadd(self, q: QueueState, fields: dict[str, str]) -> str:
        entry_id = q.stream.next_id(self.world.now_ms())
        q.stream.entries.append((entry_id, fields))
        if self.running:
            for listener in list(self.running):
                if listener.qualifiedName == q.qualified:
                    self._deliver(listener, entry_id, fields)
        return entry_id

    def start(self, listener: Any) -> None:
        """The listener reads from now (``lastEventId`` ``"$"``) or replays what follows its ``lastEventId``."""
        if any(x is listener for x in self.running):
            return
        self.running.append(listener)
        last = listener.opts.get("lastEventId") or "$"
        if last != "$":
            q = self.world.store.queues.get(listener.qualifiedName)
            for entry_id, fields in list(q.stream.entries) if q is not None else []:
                if _after(entry_id, last) and any(x is listener for x in self.running):
                    self._deliver(listener, entry_id, fields)

    def stop(self, listener: Any, error: BaseException | None = None) -> None:
        self.running = [x for x in self.running if x is not listener]
        self.seen.pop(id(listener), None)
        wait = self.waits.pop(id(listener), None)
        if wait is not None and not wait.done():
            if error is None:
                wait.set_result(None)
            else:
                wait.set_exception(error)
        elif error is not None:
            listener.emit("error", error)  # QueueEvents._autorun: the consumer's error becomes an 'error' event

    def _deliver(self, listener: Any, entry_id: str, fields: dict[str, str]) -> None:
        """bullmq's ``_dispatch_entry``; a listener that raises ends that consumer (its ``run()`` raises), as the
        exception would leave the real ``_consume_events`` loop. ``XREAD`` returns the entries after the last id
        the consumer read: once ``queue.obliterate()`` deleted the stream, the new stream's first entries may have
        ids at or below it (the same millisecond) and the consumer never gets them."""
        last = self.seen.get(id(listener))
        if last is not None and not _after(entry_id, last):
            return
        self.seen[id(listener)] = entry_id
        try:
            listener._dispatch_entry(entry_id, dict(fields))
        except Exception as error:
            listener.running = False
            self.stop(listener, error)
            if escapes(error):
                self._escaped(error)

    def _escaped(self, error: BaseException) -> None:
        """A jobsim error a listener raised (a refused call, ``sim.advance`` from it): besides ending that consumer,
        it stops the test, as a processor's does -- raised by the pump when the workers' loop delivered it, else by
        a timer due at once (the entry came from the test's own call: the next driving call raises it). Before, a
        consumer started with ``autorun`` made it an ``error`` event, which nothing may listen to."""
        world = self.world
        if world.escaped is None:
            world.escaped = error
        loop = world.loop
        if loop is not None and loop.pumping:
            loop.stop()  # no further step: the pump re-raises it
            return

        def raise_it() -> None:
            escaped, world.escaped = world.escaped, None
            if escaped is not None:
                raise escaped

        world.sim.kernel.schedule(world.sim.kernel.now, raise_it, priority=URGENT,
                                  owner="bullmq: a jobsim error a QueueEvents listener raised")  # fmt: skip

    def close_all(self) -> None:
        for listener in list(self.running):
            listener.running = False
            self.stop(listener)
