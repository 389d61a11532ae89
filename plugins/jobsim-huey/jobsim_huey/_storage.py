"""The storage a simulated Huey uses instead of its own: queue, schedule, results, locks and counters in memory.

While the simulation runs, ``huey.storage`` is a ``SimStorage`` that answers as the storage it replaces
would (huey 3.5.4, ``storage.py``) -- so no Redis, SQLite file or Postgres server is touched -- and
tells the simulation when the queue or the schedule changes, so simulated workers and the scheduler
wake at the right virtual instants:

* queue order: highest ``priority`` first, then FIFO (``MemoryStorage``, ``storage.py:345-360``;
  ``PriorityRedisStorage``, ``storage.py:749-778``; SQL storages ``order by priority desc, id``).
  ``RedisStorage`` has no priorities (``priority = False``) and raises ``NotImplementedError`` for a
  task with one (``storage.py:525-528``), as here;
* ``blocking``: a Redis or Postgres storage's ``dequeue`` blocks until a task arrives (``BRPOP``,
  ``storage.py:531-539``), so an idle worker takes a task the instant it is enqueued; Memory and SQLite
  storages are polled (``Worker.sleep``, ``consumer.py:143-148``);
* the schedule is read by eta (``read_schedule(ts)``: every task with ``eta <= ts``, ``storage.py:376-387``);
* results: ``pop_data`` removes (``storage.py:407-408``) except on the ``*ExpireStorage`` classes, where it
  peeks and results expire after ``expire_time`` seconds (``storage.py:659-700``), in virtual time;
* ``put_if_empty(ttl=)`` (locks): the Redis storages expire the key after ``ttl`` seconds; ``MemoryStorage``
  ignores ``ttl``; the SQL storages raise ``NotImplementedError`` (``storage.py:235-253``).

Every call a task body makes (a lock taken or released, a result read, a task enqueued) happens at
the body's virtual instant: the worker waits for the simulation to reach it first (``HueyWorld.sync``).

What the real storage held before the simulation stays there, untouched; a ``MemoryStorage`` that
holds queued or scheduled tasks is refused at the start instead of being silently left behind.
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import TYPE_CHECKING, Any

from jobsim._time import SECOND
from jobsim.errors import InvalidArgument, UnsupportedFeature

if TYPE_CHECKING:
    from ._world import HueyWorld

README = "plugins/jobsim-huey/README.md"


class Kind:
    """How a storage class behaves, as far as the simulation needs to know."""

    __slots__ = ("expire", "name", "priority", "ttl")

    def __init__(self, name: str, *, priority: bool, ttl: str, expire: bool = False) -> None:
        self.name = name
        self.priority = priority
        self.ttl = ttl  # "honour" | "ignore" | "refuse"
        self.expire = expire


# most derived first: the first class a storage is an instance of decides
_KINDS = (
    ("PriorityRedisExpireStorage", Kind("redis", priority=True, ttl="honour", expire=True)),
    ("PriorityRedisStorage", Kind("redis", priority=True, ttl="honour")),
    ("RedisExpireStorage", Kind("redis", priority=False, ttl="honour", expire=True)),
    ("RedisStorage", Kind("redis", priority=False, ttl="honour")),
    ("SqliteStorage", Kind("sqlite", priority=True, ttl="refuse")),  # CySqliteStorage is a subclass
    ("PostgresStorage", Kind("postgres", priority=True, ttl="refuse")),
    ("MemoryStorage", Kind("memory", priority=True, ttl="ignore")),
)


def kind_of(storage: Any) -> Kind:
    """The ``Kind`` of ``storage``; a storage whose behaviour jobsim does not know is refused by name."""
    import huey.storage

    for name, kind in _KINDS:
        if isinstance(storage, getattr(huey.storage, name)):
            return kind
    raise UnsupportedFeature(
        f"jobsim-huey simulates Huey's Memory, Redis (plain, Priority, Expire), SQLite and Postgres storages; this "
        f"Huey uses a {type(storage).__qualname__}, whose queue and result semantics it does not know "
        "(BlackHoleStorage drops every task, FileStorage orders by file name). Build the Huey under test as a "
        f"MemoryHuey, RedisHuey or SqliteHuey with the same tasks; see {README}",
        system="huey", feature=type(storage).__qualname__,
    )  # fmt: skip


def check_memory_empty(storage: Any, name: str) -> None:
    """A ``MemoryStorage`` that already holds tasks: enqueued before the simulation, they would never run."""
    import huey.storage

    if isinstance(storage, huey.storage.MemoryStorage) and (storage.queue_size() or storage.schedule_size()):
        from jobsim.errors import InvalidArgument

        raise InvalidArgument(
            f"Huey {name!r} already holds {storage.queue_size()} queued and {storage.schedule_size()} scheduled "
            "task(s), enqueued before the simulation started; the simulation does not take them over. Enqueue them "
            "inside the `with jobsim.Simulation(...)` block, or call huey.flush() first"
        )


class SimStorage:
    """``huey.storage`` while the simulation runs (duck-typed as huey's ``BaseStorage``, ``storage.py:40-309``)."""

    def __init__(self, world: HueyWorld, real: Any, kind: Kind, utc: bool = True) -> None:
        self.world = world
        self.utc = utc  # its Huey's: whether the schedule's naive times are UTC or local wall times
        self.real = real
        self.kind = kind
        self.name = real.name
        self.blocking = bool(getattr(real, "blocking", False))
        self.priority = kind.priority
        self.expire_time = getattr(real, "_expire_time", None) if kind.expire else None
        self._seq = itertools.count()
        self.flushing: str | None = None  # "flush_all" while huey.flush() runs (the runs it loses say so)
        self._queue: list[tuple[float, int, bytes]] = []
        self._schedule: list[tuple[Any, int, bytes, Any]] = []  # (key, seq, message, eta): see _key
        self._data: dict[str, tuple[Any, int | None]] = {}  # key -> (value, expires at ns or None)
        self._counters: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        # a storage-specific method (a Redis connection, SQL) would reach the real storage: refused by name
        if name.startswith("__"):
            raise AttributeError(name)
        raise UnsupportedFeature(
            f"huey.storage.{name} is not simulated: while the simulation runs, huey.storage is jobsim-huey's "
            f"in-memory stand-in for the {type(self.real).__name__}, which answers Huey's storage API "
            "(enqueue, dequeue, schedule, results, locks, counters) only",
            system="huey", feature=f"storage.{name}",
        )  # fmt: skip

    def close(self) -> None:
        """Nothing to close: the real storage is not touched."""

    # -- queue ------------------------------------------------------------------------------------
    def enqueue(self, data: bytes, priority: Any = None) -> None:
        self.world.sync()
        if priority and not self.priority:
            raise NotImplementedError("Task priorities are not supported by this storage.")
        rank = 0.0 if priority is None else -float(priority)
        heapq.heappush(self._queue, (rank, next(self._seq), data))
        self.world.queued(self)

    def dequeue(self) -> bytes | None:
        self.world.sync()
        if not self._queue:
            return None
        data = heapq.heappop(self._queue)[2]
        if not self._queue:
            self.world.drained(self)
        return data

    def queue_size(self) -> int:
        self.world.sync()
        return len(self._queue)

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        self.world.sync()
        items = [data for _r, _s, data in sorted(self._queue)]
        return items[:limit] if limit else items

    def flush_queue(self) -> None:
        self.world.sync()
        gone = [data for _r, _s, data in sorted(self._queue)]
        self._queue.clear()
        self.world.drained(self)
        self.world.flushed(self, gone, "flush_queue")

    # -- schedule ---------------------------------------------------------------------------------
    def _key(self, ts: Any) -> Any:
        """How the storage orders and compares the schedule's times. ``MemoryStorage`` compares the naive
        datetimes themselves (``storage.py:372-386``); Redis scores them with ``time.mktime`` (``convert_ts``,
        ``storage.py:522-523``) and the SQL storages store ``ts.timestamp()`` (``storage.py:968-978``): epoch
        seconds, a local wall time read at the offset before a change (a spring-forward gap time, 02:00:30,
        is 03:00:30 of the new offset) -- so local times (``utc=False``) compare differently there.

        ``.timestamp()`` reads a repeated hour's wall time by its ``fold`` (``datetime.now()`` sets ``fold=1`` in
        the second reading); ``mktime`` has no fold, and glibc reads such a time at the offset it last used -- on a
        consumer, whose scheduler calls it every second, the earlier offset through both readings. So Redis reads
        01:30:01 of the second reading as the first one's, an hour early, and a retry due at 01:31 there is not
        due before the wall clock shows 01:31 again (checked against huey's RedisStorage on a redis-server)."""
        if self.kind.name == "memory" or self.utc:
            return ts
        if self.kind.name == "redis":
            ts = ts.replace(fold=0)
        return self.world.eta_ns(ts, False)

    def add_to_schedule(self, data: bytes, ts: Any) -> None:
        self.world.sync()
        heapq.heappush(self._schedule, (self._key(ts), next(self._seq), data, ts))
        self.world.schedule_changed(self)

    def read_schedule(self, ts: Any) -> list[bytes]:
        self.world.sync()
        found = []
        key = self._key(ts)
        while self._schedule and self._schedule[0][0] <= key:
            found.append(heapq.heappop(self._schedule)[2])
        if found:
            self.world.schedule_changed(self)
        return found

    def schedule_size(self) -> int:
        self.world.sync()
        return len(self._schedule)

    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        self.world.sync()
        items = [data for _k, _s, data, _t in sorted(self._schedule)]
        return items[:limit] if limit else items

    def flush_schedule(self) -> None:
        self.world.sync()
        gone = [data for _k, _s, data, _t in sorted(self._schedule)]
        self._schedule.clear()
        self.world.schedule_changed(self)
        self.world.flushed(self, gone, "flush_schedule")

    def next_eta(self) -> Any:
        return self._schedule[0][3] if self._schedule else None

    def next_due_ns(self, after: int) -> int | None:
        """The first instant at or after ``after`` at which the earliest scheduled task is due, as this storage
        compares (``_key``); ``None`` with an empty schedule."""
        if not self._schedule:
            return None
        eta = self._schedule[0][3]
        if self.utc:
            return max(after, self.world.eta_ns(eta, True))
        if self.kind.name != "memory":
            key: int = self._schedule[0][0]  # epoch ns (_key)
            at = max(after, key)
            while (read := self._key(self.world.clock.wall(at))) < key:  # Redis in a repeated hour's second reading
                at += key - read  # it reads the wall time an hour early: due that much later (once or twice)
            return at
        return self.world.clock.first_local_at(eta, after)  # naive wall times: the wall clock's own order

    def peek_schedule(self) -> bytes | None:
        """The message with the earliest eta, left in the schedule."""
        return self._schedule[0][2] if self._schedule else None

    # -- key/value: results, revocations, locks ------------------------------------------------------------
    def _live(self, key: str) -> tuple[Any, int | None] | None:
        entry = self._data.get(key)
        if entry is not None and entry[1] is not None and entry[1] <= self.world.sim.now_ns():
            del self._data[key]
            return None
        return entry

    def put_data(self, key: str, value: Any, is_result: bool = False) -> None:
        self.world.sync()
        expires = None
        if is_result and self.expire_time is not None:
            expires = self.world.sim.now_ns() + math.ceil(self.expire_time * SECOND)
        self._data[key] = (value, expires)

    def peek_data(self, key: str) -> Any:
        self.world.sync()
        from huey.constants import EmptyData

        entry = self._live(key)
        return EmptyData if entry is None else entry[0]

    def peek_many(self, keys: list[str]) -> dict[str, Any]:
        self.world.sync()
        found = {}
        for key in keys:
            entry = self._live(key)
            if entry is not None:
                found[key] = entry[0]
        return found

    def pop_data(self, key: str) -> Any:
        self.world.sync()
        from huey.constants import EmptyData

        entry = self._live(key)
        if entry is None:
            return EmptyData
        if not self.kind.expire:  # the Expire storages read without removing (storage.py:692-696)
            del self._data[key]
        return entry[0]

    def delete_data(self, key: str) -> bool:
        self.world.sync()
        return self._live(key) is not None and self._data.pop(key, None) is not None

    def has_data_for_key(self, key: str) -> bool:
        self.world.sync()
        return self._live(key) is not None

    def put_if_empty(self, key: str, value: Any, ttl: Any = None) -> bool:
        self.world.sync()
        if ttl is not None and self.kind.ttl == "refuse":
            raise NotImplementedError(f"{type(self.real).__name__} does not support a ttl for put_if_empty")
        if self._live(key) is not None:
            return False
        expires = None
        if ttl is not None and self.kind.ttl == "honour":
            expires = self.world.sim.now_ns() + self._hexpire_seconds(ttl) * SECOND
        self._data[key] = (value, expires)
        return True

    def _hexpire_seconds(self, ttl: Any) -> int:
        """``RedisStorage.put_if_empty(ttl=)`` (``storage.py:629-637``): ``HSETNX`` then ``HEXPIRE`` -- which needs a
        redis-py with ``hexpire`` (else Huey raises ``NotImplementedError``, as here) and a Redis 7.4+ server (assumed:
        on an older one Huey raises it too), and takes whole seconds: redis-py turns a timedelta into
        ``int(total_seconds())``, and sends a float as is, which Redis refuses *after* ``HSETNX`` took the lock
        (held for good, no ttl): refused here instead."""
        import datetime as dt

        if not hasattr(getattr(self.real, "conn", None), "hexpire"):
            raise NotImplementedError("ttl requires hash-field TTL support (redis 7.4+ or valkey 9+).")
        if isinstance(ttl, dt.timedelta):
            return int(ttl.total_seconds())
        if isinstance(ttl, bool) or not isinstance(ttl, int):
            raise InvalidArgument.build("lock_task(..., ttl=...)", ttl,
                                        "whole seconds (an int, or a timedelta): Huey passes it to Redis's HEXPIRE, "
                                        "which fails on anything else after the lock is taken, leaving it held "
                                        "with no ttl")  # fmt: skip
        return ttl

    def wait_result(self, key: str, timeout: Any = None, backoff: float = 1.15, max_delay: float = 1.0) -> bool:
        """``Result.get(blocking=True)``: from the test, the simulation runs while the test waits as Huey's waits
        (``HueyWorld.wait_result``)."""
        return self.world.wait_result(self, key, timeout, backoff, max_delay)

    # -- counters -------------------------------------------------------------------------------
    def incr(self, key: str, amount: int = 1) -> int:
        self.world.sync()
        self._counters[key] = self._counters.get(key, 0) + amount
        return self._counters[key]

    def delete_counter(self, key: str) -> None:
        self.world.sync()
        self._counters.pop(key, None)

    def result_store_size(self) -> int:
        return len(self.result_items())

    def result_items(self) -> dict[str, Any]:
        self.world.sync()
        return {key: entry[0] for key in list(self._data) if (entry := self._live(key)) is not None}

    def flush_results(self) -> None:
        self.world.sync()
        self._data.clear()

    def flush_counters(self) -> None:
        self.world.sync()
        self._counters.clear()

    def flush_all(self) -> None:
        self.flushing = "flush_all"
        try:
            self.flush_results()
            self.flush_queue()
            self.flush_schedule()
            self.flush_counters()
        finally:
            self.flushing = None
