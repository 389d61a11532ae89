"""Rate-limiter backends in virtual time, for Dramatiq's rate limiters and barriers.

While the simulation runs, each ``RedisBackend``/``MemcachedBackend`` rate-limiter object answers from its own
Dramatiq in-memory ``StubBackend`` (``_patches._in_memory_limiter``, ``rate_limits/backends/stub.py:27-95``),
whose ``add``/``incr``/``decr``/``incr_and_sum`` are the same read-modify-write rules the Redis scripts apply;
and every ``StubBackend`` -- those stand-ins, the one a test suite builds itself, the one ``GroupCallbacks`` gets
in place of a server's -- has its two storage primitives, ``_get``/``_put`` (``stub.py:83-91``), made
time-aware by ``Versions``.

Why versioned: an actor's body runs in one go when it starts (``_worker``), so a mutex taken at 0 s and released
after a ``time.sleep(2)`` is released, in the store, before a second message starting at 0 s runs. Each write
is therefore kept at the virtual instant it happens (the running actor's own clock), and a read at instant ``t``
sees the last write at or before ``t``: the second message sees the mutex held, as on a real worker.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

from jobsim._time import MS, SECOND

_BEFORE = -(1 << 63)  # the instant of what a backend held before the simulation: before any write in it


class Versions:
    """One ``StubBackend``'s keys as of each virtual instant: ``key -> [(at, seq, op, amount, bound, expires)]``.

    ``add``, ``incr`` and ``decr`` are kept as the conditional operations they are (``stub.py:35-57``), and a
    key's value at ``t`` is every operation at or before ``t`` applied in instant order, each with its own check
    (and a value whose ttl has passed read as absent, ``stub.py:83-87``): a release an actor plans at 10 s counts
    down whatever holders arrived before then, not the count its body read at its start. ``_put`` (what
    ``incr_and_sum`` writes) is a plain ``set``.

    A key's first use in the simulation takes what the backend's ``db`` held (its expiry on ``time.monotonic``,
    which ``monotonic_origin_ns`` turns into a virtual instant). After each write ``db`` holds the key's latest
    state, so the backend holds it once the simulation is over."""

    def __init__(self, backend: Any, now_ns: Callable[[], int], monotonic_origin_ns: int) -> None:
        self.backend = backend
        self.now_ns = now_ns
        self.origin = monotonic_origin_ns  # time.monotonic_ns() - virtual ns, as ``_patches._Time`` reads it
        self.history: dict[str, list[tuple[int, int, str, Any, Any, int]]] = {}
        self.folded: dict[str, list[tuple[Any, int]]] = {}  # key -> (value, expires) after each of its writes
        self.readers: dict[str, set[str]] = {}  # key -> the keys whose window acquires summed it
        self.seq = 0

    def writes(self, key: str) -> list[tuple[int, int, str, Any, Any, int]]:
        writes = self.history.get(key)
        if writes is None:
            writes = self.history[key] = []
            value, expiration = self.backend.db.get(key, (None, None))
            if expiration:
                writes.append((_BEFORE, 0, "set", value, None, int(expiration * SECOND) - self.origin))
        return writes

    def state(self, key: str, at: int | None = None) -> tuple[Any, int]:
        """The key's ``(value, expires)`` as of ``at`` (default: after its last write; ``(None, 0)`` when none)."""
        writes = self.writes(key)
        return self.folded_to(key, len(writes) if at is None else bisect.bisect_right(writes, (at, self.seq + 1)))

    def folded_to(self, key: str, end: int) -> tuple[Any, int]:
        """The key's ``(value, expires)`` after its first ``end`` writes.

        The states after each write are kept (``folded``) and recomputed only from a write inserted before
        later ones, so a limiter used by thousands of messages is not refolded from its first write each time.
        An ``incr_and_sum`` reads the other keys of its window as of its own instant and place among the writes
        (``(when, seq)``): each of those reads an earlier place, so the recursion ends."""
        writes = self.writes(key)
        folded = self.folded.setdefault(key, [])
        value, expires = folded[-1] if folded else (None, 0)
        for when, seq, op, amount, bound, until in writes[len(folded):end]:
            current = value if when < expires else None
            if op == "set" or (op == "add" and current is None):
                value, expires = amount, until
            elif op in ("incr", "decr"):
                counted = (current or 0) + (amount if op == "incr" else -amount)
                if counted <= bound if op == "incr" else counted >= bound:
                    value, expires = counted, until
            elif op == "sum":
                maximum, keys = bound
                counted = (current or 0) + amount
                if counted <= maximum and amount + self.total(key, current, keys, when, seq) <= maximum:
                    value, expires = counted, until
            folded.append((value, expires))
        return folded[end - 1] if end else (None, 0)

    def total(self, key: str, current: Any, keys: tuple[str, ...], when: int, seq: int) -> int:
        """``sum(self._get(k, default=0) for k in keys())`` (``stub.py:64-66``) at the place ``(when, seq)``: ``key``
        itself is ``current``, every other key what its writes before that place leave, unexpired."""
        counted = 0
        for other in keys:
            if other == key:
                counted += current or 0
                continue
            value, expires = self.folded_to(other, bisect.bisect_left(self.writes(other), (when, seq)))
            if when < expires and value is not None:
                counted += value
        return counted

    def get(self, key: str, default: Any) -> Any:
        now = self.now_ns()
        value, expires = self.state(key, now)
        return value if now < expires and value is not None else default

    def put(self, key: str, value: Any, ttl: int) -> bool:
        return self.record(key, "set", value, None, ttl)

    def apply(self, key: str, op: str, amount: Any, bound: Any, ttl: int) -> bool:
        """``StubBackend.add``/``incr``/``decr``: checked against the value now, kept if it passes."""
        current = self.get(key, None)
        if op == "add":
            passes = current is None
        else:
            counted = (current or 0) + (amount if op == "incr" else -amount)
            passes = counted <= bound if op == "incr" else counted >= bound
        return passes and self.record(key, op, amount, bound, ttl)

    def incr_and_sum(self, key: str, keys: Callable[[], list[str]], amount: int, maximum: int, ttl: int) -> bool:
        """``StubBackend.incr_and_sum`` (``stub.py:59-71``, ``WindowRateLimiter``'s acquire): ``add(key, 0)``, then
        ``key + amount`` kept if neither it nor ``amount`` plus the sum of ``keys()`` (the window's buckets, read
        on the virtual clock) passes ``maximum``. Kept as that conditional operation, with the bucket names it
        summed, so an acquire an actor makes after a ``time.sleep`` counts the acquires of messages that ran
        later but reached the window earlier, as the Redis ``WATCH``/``MGET`` transaction does. A refused acquire
        is kept too: an acquire inserted before it later can refuse one it summed, and then it passes."""
        self.apply(key, "add", 0, None, ttl)
        now = self.now_ns()
        current = self.get(key, None)
        names = tuple(keys())
        passes = (current or 0) + amount <= maximum and amount + self.total(key, current, names, now,
                                                                          self.seq + 1) <= maximum  # fmt: skip
        for other in names:
            if other != key:
                self.writes(other)  # its state before the simulation, if any, is taken now
                self.readers.setdefault(other, set()).add(key)
        self.record(key, "sum", amount, (maximum, names), ttl)
        return passes

    def record(self, key: str, op: str, amount: Any, bound: Any, ttl: int) -> bool:
        now = self.now_ns()
        self.seq += 1
        writes = self.writes(key)
        index = bisect.bisect_right(writes, (now, self.seq))
        writes.insert(index, (now, self.seq, op, amount, bound, now + int(ttl * MS)))
        del self.folded.setdefault(key, [])[index:]  # the states after it are folded again when read
        changed: set[str] = set()
        self.unfold_readers(key, (now, self.seq), changed)
        for other in (key, *changed):
            self.mirror(other)
        return True

    def unfold_readers(self, key: str, place: tuple[int, int], changed: set[str]) -> None:
        """A write at ``place`` changes the sums of every window acquire after it that read ``key``: their keys'
        states from there on are dropped (and so are their readers'), into ``changed``. None is folded again
        before all are dropped: a refold meanwhile could read another reader's stale state."""
        for reader in self.readers.get(key, ()):
            if reader in changed:
                continue
            changed.add(reader)
            index = bisect.bisect_left(self.writes(reader), place)
            del self.folded.setdefault(reader, [])[index:]
            self.unfold_readers(reader, place, changed)

    def mirror(self, key: str) -> None:
        """``db`` holds the key's latest state, so the backend holds it once the simulation is over."""
        value, expires = self.state(key, None)
        self.backend.db[key] = (value, (self.origin + expires) / SECOND)
