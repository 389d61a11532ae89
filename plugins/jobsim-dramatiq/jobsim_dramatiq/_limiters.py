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
    """One ``StubBackend``'s keys as of each virtual instant: ``key -> [(at, seq, value, expires), ...]``.

    A key's first use in the simulation takes what the backend's ``db`` held (its expiry on ``time.monotonic``,
    which ``monotonic_origin_ns`` turns into a virtual instant). Each write also goes to ``db`` when it is the
    key's latest, so the backend holds the latest state once the simulation is over."""

    def __init__(self, backend: Any, now_ns: Callable[[], int], monotonic_origin_ns: int) -> None:
        self.backend = backend
        self.now_ns = now_ns
        self.origin = monotonic_origin_ns  # time.monotonic_ns() - virtual ns, as ``_patches._Time`` reads it
        self.history: dict[str, list[tuple[int, int, Any, int]]] = {}
        self.seq = 0

    def writes(self, key: str) -> list[tuple[int, int, Any, int]]:
        writes = self.history.get(key)
        if writes is None:
            writes = self.history[key] = []
            value, expiration = self.backend.db.get(key, (None, None))
            if expiration:
                writes.append((_BEFORE, 0, value, int(expiration * SECOND) - self.origin))
        return writes

    def get(self, key: str, default: Any) -> Any:
        writes = self.writes(key)
        now = self.now_ns()
        index = bisect.bisect_right(writes, (now, self.seq + 1)) - 1
        if index < 0:
            return default
        _, _, value, expires = writes[index]
        return value if now < expires else default

    def put(self, key: str, value: Any, ttl: int) -> bool:
        writes = self.writes(key)
        now = self.now_ns()
        self.seq += 1
        expires = now + int(ttl * MS)
        bisect.insort(writes, (now, self.seq, value, expires))
        if writes[-1][1] == self.seq:
            self.backend.db[key] = (value, (self.origin + expires) / SECOND)
        return True
