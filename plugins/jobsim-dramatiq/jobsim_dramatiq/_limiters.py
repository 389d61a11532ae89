"""Server rate-limiter backends (Redis, Memcached) in virtual time, for Dramatiq's rate limiters in actor code.

While the simulation runs, each ``RedisBackend``/``MemcachedBackend`` rate-limiter object answers from its own
``VersionedStub`` (``_patches._in_memory_limiter``): Dramatiq's in-memory ``StubBackend``
(``rate_limits/backends/stub.py:27-95``), whose ``add``/``incr``/``decr``/``incr_and_sum`` are the same
read-modify-write rules the Redis scripts apply, with its two storage primitives made time-aware.

Why versioned: an actor's body runs in one go when it starts (``_worker``), so a mutex taken at 0 s and released
after a ``time.sleep(2)`` is released, in the store, before a second message starting at 0 s runs. Each write
is therefore kept at the virtual instant it happens (the running actor's own clock), and a read at instant ``t``
sees the last write at or before ``t``: the second message sees the mutex held, as on a real worker.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, Any

from jobsim._time import MS

if TYPE_CHECKING:
    from ._world import DramatiqWorld


def versioned_stub(world: DramatiqWorld) -> Any:
    from dramatiq.rate_limits.backends import StubBackend

    class VersionedStub(StubBackend):  # type: ignore[misc]
        """``StubBackend`` whose ``_get``/``_put`` (``stub.py:83-91``) keep each key's writes by virtual instant."""

        def __init__(self) -> None:
            super().__init__()
            self.history: dict[str, list[tuple[int, int, Any, int]]] = {}  # key -> (at, seq, value, expires)
            self.seq = 0

        def _get(self, key: str, *, default: Any = None) -> Any:
            writes = self.history.get(key)
            if not writes:
                return default
            now = world.sim.now_ns()
            index = bisect.bisect_right(writes, (now, self.seq + 1)) - 1
            if index < 0:
                return default
            _, _, value, expires = writes[index]
            return value if now < expires else default

        def _put(self, key: str, value: Any, ttl: int) -> bool:
            now = world.sim.now_ns()
            self.seq += 1
            bisect.insort(self.history.setdefault(key, []), (now, self.seq, value, now + int(ttl * MS)))
            return True

    return VersionedStub()
