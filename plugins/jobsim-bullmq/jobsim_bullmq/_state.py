"""A simulated queue's keys (``QueueState``) and a job's hash (``JobHash``): what ``_store`` and its parts
(``_adding``, ``_flows``, ``_schedulers``) read and write; lists and sorted sets as ``_store`` describes."""

from __future__ import annotations

import dataclasses
import json
from collections import deque
from typing import Any

from ._events import Stream

SCORE = 0x1000
"""Delayed scores are ``timestamp * 0x1000 + n`` (``addDelayedJob-6.lua:84-103``: up to 4096 jobs per ms keep FIFO)."""
PRIORITY = 0x100000000
"""Prioritized scores are ``priority * 2^32 + counter`` (``getPriorityScore``, ``moveToActive-11.lua:161-164``)."""


@dataclasses.dataclass(eq=False)
class JobHash:
    """The job's Redis hash (``bull:<queue>:<id>``) and the keys hanging off it."""

    id: str
    fields: dict[str, Any]
    opts: dict[str, Any]
    lock: str | None = None
    lock_until: int = 0  # ms
    logs: list[str] = dataclasses.field(default_factory=list)
    dependencies: set[str] = dataclasses.field(default_factory=set)  # child job keys still pending
    processed: dict[str, str] = dataclasses.field(default_factory=dict)  # child job key -> its JSON return value
    unsuccessful: dict[str, int] = dataclasses.field(default_factory=dict)
    failed_children: dict[str, str] = dataclasses.field(default_factory=dict)

    def raw(self) -> dict[str, str]:
        """``HGETALL`` with ``decode_responses=True``: every field a string (what ``Job.fromJSON`` reads)."""
        out = {k: v if isinstance(v, str) else json.dumps(v) for k, v in self.fields.items() if v is not None}
        out["opts"] = json.dumps(self.opts, separators=(",", ":"))
        return out

    def int(self, name: str) -> int:
        return int(self.fields.get(name) or 0)


@dataclasses.dataclass(eq=False)
class QueueState:
    """One queue's keys (``bull:<name>:*``)."""

    qualified: str  # "bull:emails"
    name: str
    jobs: dict[str, JobHash] = dataclasses.field(default_factory=dict)
    wait: deque[str] = dataclasses.field(default_factory=deque)
    active: deque[str] = dataclasses.field(default_factory=deque)
    prioritized: dict[str, int] = dataclasses.field(default_factory=dict)
    delayed: dict[str, int] = dataclasses.field(default_factory=dict)
    completed: dict[str, int] = dataclasses.field(default_factory=dict)
    failed: dict[str, int] = dataclasses.field(default_factory=dict)
    waiting_children: dict[str, int] = dataclasses.field(default_factory=dict)
    marker: dict[str, float] = dataclasses.field(default_factory=dict)
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    limiter: tuple[int, int | None] = (0, None)  # count, expiry (ms) or None for none
    stalled: set[str] = dataclasses.field(default_factory=set)
    stalled_check_until: int = 0
    repeat: dict[str, int] = dataclasses.field(default_factory=dict)  # scheduler id -> next millis
    schedulers: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    counter: int = 0  # the ``id`` key
    pc: int = 0  # the ``pc`` priority counter
    waiters: deque[Any] = dataclasses.field(default_factory=deque)  # BZPOPMIN clients blocked on ``marker``
    dedup: dict[str, tuple[str, int | None]] = dataclasses.field(default_factory=dict)  # de:<id> -> holder, PX (ms)
    dedup_next: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # dn:<id> (keepLastIfActive)
    stream: Stream = dataclasses.field(default_factory=Stream)  # the ``events`` stream

    def key(self, job_id: str) -> str:
        return f"{self.qualified}:{job_id}"

    def paused_or_maxed(self) -> bool:
        """``isQueuePausedOrMaxed`` (``addJobScheduler-11.lua:158-169``): paused, or at the global concurrency."""
        if self.meta.get("paused"):
            return True
        limit = self.meta.get("concurrency")
        return limit is not None and len(self.active) >= int(limit)


def ordered(zset: dict[str, Any]) -> list[str]:
    """A sorted set's members by (score, member), as ``ZRANGE`` returns them."""
    return [member for member, _ in sorted(zset.items(), key=lambda item: (item[1], item[0]))]
