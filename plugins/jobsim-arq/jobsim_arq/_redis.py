"""The Redis an arq worker talks to during a simulation: an in-memory keyspace on the virtual clock.

arq keeps everything in Redis with a handful of commands (arq 0.28.0): a job is a string key
``arq:job:<id>`` written with ``PSETEX`` and a member of the queue's sorted set scored by the
millisecond it is due (``connections.py:156-177``); the worker reads due ids with
``ZRANGEBYSCORE ... LIMIT`` (``worker.py:390-393``), claims one with ``WATCH``/``MULTI``/``PSETEX`` on
``arq:in-progress:<id>`` (``worker.py:451-476``), counts tries with ``INCR``/``EXPIRE`` on
``arq:retry:<id>`` (``worker.py:480-488``) and finishes with ``SET ... PX``, ``ZREM``, ``ZINCRBY``,
``DEL`` (``worker.py:682-727``). ``Job.status()/result()/info()`` read the same keys (``jobs.py:85-169``).

Here those commands are answered from dicts, at the instant the simulation is at: a key whose
``PX``/``EX`` time has passed is gone (Redis: expired when ``now > when``, ``db.c keyIsExpired``),
``WATCH`` fails an ``EXEC`` if a watched key was written since (``WatchError``), and ``SET``/``PSETEX``
with a non-positive expiry fail as Redis fails them (``invalid expire time``). Answers are what
redis-py hands arq after its response callbacks (a ``ZSCORE`` is a float, ``SET`` is ``True``/``None``),
so the same code works with redis-py 4.2 to 8. A command arq does not use is refused by name
(``UnsupportedFeature``), never answered wrongly.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

from jobsim._checks import keywords_checked
from jobsim.errors import UnsupportedFeature, _init_or_name_keyword

ZSet = dict[bytes, float]
MS = 1_000_000


def _b(value: Any) -> bytes:
    """A key, member or value as redis-py's encoder writes it (str as UTF-8, numbers as their repr)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        raise TypeError(f"Invalid input of type: 'bool' ({value!r}); convert to a bytes, string, int or float first")
    if isinstance(value, (int, float)):
        return repr(value).encode()
    raise TypeError(f"Invalid input of type: {type(value).__name__!r}; convert to a bytes, string, int or float first")


def _bound(value: Any) -> tuple[float, bool]:
    """A ZRANGEBYSCORE bound: ``-inf``, ``+inf``, ``(5`` (exclusive) or a number."""
    text = _b(value).decode().lower()
    exclusive = text.startswith("(")
    text = text.lstrip("(")
    return (float("inf") if text in ("+inf", "inf") else float(text)), exclusive


class ResponseError(Exception):
    """Stand-in raised only when redis-py is missing (never in practice: arq imports it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _init_or_name_keyword(self, super().__init__, args, kwargs)  # a keyword is named, not a bare TypeError


def _response_error(message: str) -> Exception:
    try:
        from redis.exceptions import ResponseError as RedisResponseError
    except ImportError:  # pragma: no cover
        return ResponseError(message)
    return RedisResponseError(message)


class Store:
    """The keyspace: strings and sorted sets, their expiry instants (ms) and a write counter per key (WATCH)."""

    def __init__(self, now_ms: Callable[[], int], on_write: Callable[[bytes], None]) -> None:
        self.now_ms = now_ms
        self.on_write = on_write
        self.data: dict[bytes, bytes | ZSet] = {}
        self.expires: dict[bytes, int] = {}
        self.lapsed: dict[bytes, int] = {}  # key -> the instant it expired at, once dropped for that (unread jobs)
        self.versions: dict[bytes, int] = {}
        self.ranks: dict[bytes, int] = {}  # key + b"\0" + member -> when its score was last set (equal scores)
        self._rank = 0
        self.commands = 0

    # -- keys --------------------------------------------------------------------------------------
    def _live(self, key: bytes) -> bytes | ZSet | None:
        when = self.expires.get(key)
        if when is not None and self.now_ms() > when:
            self._drop(key)
            self.lapsed[key] = when
        return self.data.get(key)

    def _drop(self, key: bytes) -> bool:
        self.expires.pop(key, None)
        if self.data.pop(key, None) is None:
            return False
        self._touch(key)
        return True

    def _touch(self, key: bytes) -> None:
        self.versions[key] = self.versions.get(key, 0) + 1
        self.on_write(key)

    def version(self, key: bytes) -> int:
        self._live(key)
        return self.versions.get(key, 0)

    def _string(self, key: bytes) -> bytes | None:
        value = self._live(key)
        if isinstance(value, dict):
            raise _response_error("WRONGTYPE Operation against a key holding the wrong kind of value")
        return value

    def _zset(self, key: bytes, create: bool = False) -> ZSet | None:
        value = self._live(key)
        if value is None:
            if not create:
                return None
            value = self.data[key] = {}
        if not isinstance(value, dict):
            raise _response_error("WRONGTYPE Operation against a key holding the wrong kind of value")
        return value

    def _put(self, key: bytes, value: bytes, px: int | None, keep_ttl: bool = False) -> None:
        self.data[key] = value
        if px is not None:
            self.expires[key] = self.now_ms() + px
        elif not keep_ttl:
            self.expires.pop(key, None)
        self._touch(key)

    def expiry_ms(self, key: bytes) -> int | None:
        """When ``key`` expires or expired (ms), looked at without dropping it: None for a key with no expiry, -1 for
        one that is not there and did not expire (never set, or deleted)."""
        if key in self.data:
            return self.expires.get(key)
        return self.lapsed.get(key, -1)

    @keywords_checked("sim.arq.store.ttl_ms()")
    def ttl_ms(self, key: bytes) -> int | None:
        """Milliseconds until ``key`` expires, None without expiry (for tests and the timeline)."""
        if self._live(key) is None:
            return None
        when = self.expires.get(key)
        return None if when is None else when - self.now_ms()

    # -- commands ----------------------------------------------------------------------------------
    def run(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        """Run one command (``args[0]`` is its name, as redis-py passes it to ``execute_command``)."""
        self.commands += 1
        name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
        handler = getattr(self, "c_" + name.upper().replace(" ", "_"), None)
        if handler is None:
            raise UnsupportedFeature(
                f"the Redis command {name.upper()} is not simulated by jobsim-arq (its Redis answers the commands "
                "arq itself sends: strings with expiry, sorted sets, keys); see plugins/jobsim-arq/README.md",
                system="arq", feature=f"redis {name.upper()}",
            )  # fmt: skip
        return handler(*args[1:], **options)

    def c_PING(self, *args: Any, **_: Any) -> bool:
        return True

    def c_INFO(self, *args: Any, **_: Any) -> dict[str, Any]:
        return {"redis_version": "jobsim", "used_memory_human": "0B", "connected_clients": 1}

    def c_DBSIZE(self, **_: Any) -> int:
        return sum(1 for key in list(self.data) if self._live(key) is not None)

    def c_FLUSHDB(self, *args: Any, **_: Any) -> bool:
        for key in list(self.data):
            self._drop(key)
        return True

    c_FLUSHALL = c_FLUSHDB

    def c_GET(self, key: Any, **_: Any) -> bytes | None:
        return self._string(_b(key))

    def c_MGET(self, *keys: Any, **_: Any) -> list[bytes | None]:
        return [self._string(_b(key)) for key in keys]

    def c_SET(self, key: Any, value: Any, *flags: Any, **options: Any) -> Any:
        k, v = _b(key), _b(value)
        words = [f.decode().upper() if isinstance(f, bytes) else str(f).upper() for f in flags]
        px: int | None = None
        nx = xx = keep = False
        i = 0
        while i < len(words):
            word = words[i]
            if word in ("EX", "PX"):
                px = self._expiry_ms(words[i + 1], "set", 1000 if word == "EX" else 1)
                i += 1
            elif word in ("EXAT", "PXAT"):
                at = int(words[i + 1]) * (1000 if word == "EXAT" else 1)
                px = at - self.now_ms()
                i += 1
            elif word == "NX":
                nx = True
            elif word == "XX":
                xx = True
            elif word == "KEEPTTL":
                keep = True
            elif word == "GET":
                pass
            else:
                raise _response_error("syntax error")
            i += 1
        old = self._string(k)
        if (nx and old is not None) or (xx and old is None):
            return old if options.get("get") else None
        self._put(k, v, px, keep)
        return old if options.get("get") else True

    def c_PSETEX(self, key: Any, ms: Any, value: Any, **_: Any) -> bool:
        amount = int(ms.total_seconds() * 1000) if hasattr(ms, "total_seconds") else ms
        self._put(_b(key), _b(value), self._expiry_ms(amount, "psetex", 1))
        return True

    def c_SETEX(self, key: Any, seconds: Any, value: Any, **_: Any) -> bool:
        amount = int(seconds.total_seconds()) if hasattr(seconds, "total_seconds") else seconds
        self._put(_b(key), _b(value), self._expiry_ms(amount, "setex", 1000))
        return True

    def _expiry_ms(self, raw: Any, command: str, unit: int) -> int:
        """An expiry argument as Redis reads it (``getExpireMillisecondsOrReply``, ``t_string.c``): a 64-bit integer
        as redis-py writes it (``repr`` of a float, ``1.5`` or ``2.0``, is not one), above 0, whose instant
        ``now + ms`` does not overflow -- arq's ``_defer_by=1e20`` fails the enqueue there."""
        text = raw.decode() if isinstance(raw, bytes) else repr(raw) if isinstance(raw, float) else str(raw)
        try:
            amount = int(text) if text.lstrip("-").isdigit() else None
        except ValueError:  # pragma: no cover - isdigit() keeps int() from failing
            amount = None
        if amount is None or not -(2**63) <= amount < 2**63:
            raise _response_error("value is not an integer or out of range")
        if amount <= 0 or amount > (2**63 - 1) // unit or amount * unit > 2**63 - 1 - self.now_ms():
            raise _response_error(f"invalid expire time in '{command}' command")
        return amount * unit

    def c_INCRBY(self, key: Any, amount: Any = 1, **_: Any) -> int:
        k = _b(key)
        old = self._string(k)
        try:
            value = int(old or b"0") + int(amount)
        except ValueError:
            raise _response_error("value is not an integer or out of range") from None
        self._put(k, str(value).encode(), None, keep_ttl=True)
        return value

    def c_INCR(self, key: Any, **_: Any) -> int:
        return self.c_INCRBY(key, 1)

    def _expire(self, key: Any, ms: int) -> bool:
        k = _b(key)
        if self._live(k) is None:
            return False
        if ms <= 0:
            return self._drop(k)
        self.expires[k] = self.now_ms() + ms
        self._touch(k)
        return True

    def c_EXPIRE(self, key: Any, seconds: Any, *flags: Any, **_: Any) -> bool:
        return self._expire(key, int(seconds.total_seconds() if hasattr(seconds, "total_seconds") else seconds) * 1000)

    def c_PEXPIRE(self, key: Any, ms: Any, *flags: Any, **_: Any) -> bool:
        return self._expire(key, int(ms.total_seconds() * 1000) if hasattr(ms, "total_seconds") else int(ms))

    def c_PTTL(self, key: Any, **_: Any) -> int:
        k = _b(key)
        if self._live(k) is None:
            return -2
        ttl = self.ttl_ms(k)
        return -1 if ttl is None else ttl

    def c_TTL(self, key: Any, **_: Any) -> int:
        ms = self.c_PTTL(key)
        return ms if ms < 0 else (ms + 500) // 1000

    def c_DEL(self, *keys: Any, **_: Any) -> int:
        return sum(1 for key in keys if self._live(_b(key)) is not None and self._drop(_b(key)))

    c_UNLINK = c_DEL

    def c_EXISTS(self, *keys: Any, **_: Any) -> int:
        return sum(1 for key in keys if self._live(_b(key)) is not None)

    def c_KEYS(self, pattern: Any, **_: Any) -> list[bytes]:
        text = _b(pattern)
        return [key for key in list(self.data) if self._live(key) is not None and fnmatch.fnmatchcase(key, text)]

    def c_TYPE(self, key: Any, **_: Any) -> bytes:
        value = self._live(_b(key))
        return b"none" if value is None else b"zset" if isinstance(value, dict) else b"string"

    # -- sorted sets -------------------------------------------------------------------------------
    def c_ZADD(self, key: Any, *args: Any, **options: Any) -> Any:
        words: list[str] = []
        rest = list(args)
        while rest and isinstance(rest[0], (str, bytes)) and _b(rest[0]).upper() in (b"NX", b"XX", b"GT", b"LT",
                                                                                       b"CH", b"INCR"):  # fmt: skip
            words.append(_b(rest.pop(0)).decode().upper())
        pairs = [(float(rest[i]), _b(rest[i + 1])) for i in range(0, len(rest), 2)]
        k = _b(key)
        zset = self._zset(k, create=True)
        assert zset is not None
        changed = added = 0
        last: float | None = None
        for score, member in pairs:
            old = zset.get(member)
            if ("NX" in words and old is not None) or ("XX" in words and old is None):
                continue
            new = (old or 0.0) + score if "INCR" in words else score
            if old is not None and (("GT" in words and new <= old) or ("LT" in words and new >= old)):
                continue
            last = new
            if old is None:
                added += 1
            if old != new:
                changed += 1
                zset[member] = new
                self._ranked(k, member)
        if not zset:
            del self.data[k]
        if changed:
            self._touch(k)
        if "INCR" in words:
            return last
        return changed if "CH" in words else added

    def c_ZREM(self, key: Any, *members: Any, **_: Any) -> int:
        k = _b(key)
        zset = self._zset(k)
        if zset is None:
            return 0
        gone = 0
        for m in members:
            if zset.pop(_b(m), None) is not None:
                gone += 1
                self.ranks.pop(k + b"\0" + _b(m), None)
        if not zset:
            del self.data[k]
        if gone:
            self._touch(k)
        return gone

    def c_ZSCORE(self, key: Any, member: Any, **_: Any) -> float | None:
        zset = self._zset(_b(key))
        return None if zset is None else zset.get(_b(member))

    def c_ZCARD(self, key: Any, **_: Any) -> int:
        zset = self._zset(_b(key))
        return 0 if zset is None else len(zset)

    def c_ZINCRBY(self, key: Any, amount: Any, member: Any, **_: Any) -> float:
        k, m = _b(key), _b(member)
        zset = self._zset(k, create=True)
        assert zset is not None
        zset[m] = zset.get(m, 0.0) + float(amount)
        self._ranked(k, m)
        self._touch(k)
        return zset[m]

    def _ranked(self, key: bytes, member: bytes) -> None:
        self._rank += 1
        self.ranks[key + b"\0" + member] = self._rank

    def unrank(self, key: Any, member: Any) -> None:
        """``member``'s score is an instant chosen on purpose (``_defer_until``, a cron job's ``next_run``): among
        equal scores it is ordered by its bytes, as Redis orders them, before those ranked by insertion."""
        self.ranks.pop(_b(key) + b"\0" + _b(member), None)

    def _ordered(self, key: Any) -> list[tuple[bytes, float]]:
        """Members by score; equal scores in the order their scores were set.

        Redis orders equal scores by member bytes. Here equal scores are the rule, not the exception: jobs
        enqueued one after another at one virtual instant all score that millisecond, where a real client's
        successive ``enqueue_job`` calls are a round trip apart and score increasing milliseconds, so a real
        worker takes them in the order they were enqueued. Keeping the order scores were set gives that
        order (the live conformance test compares it). A score chosen on purpose -- ``_defer_until``, a cron
        job's ``next_run`` -- is shared on a real Redis too: those members (``unrank``) keep Redis's order, by
        their bytes (two cron jobs due at one instant start in the order of their job ids)."""
        k = _b(key)
        zset = self._zset(k)
        if zset is None:
            return []
        ranks = self.ranks
        return sorted(zset.items(), key=lambda item: (item[1], ranks.get(k + b"\0" + item[0], 0), item[0]))

    def _by_score(self, key: Any, low: Any, high: Any) -> list[tuple[bytes, float]]:
        lo, lo_x = _bound(low)
        hi, hi_x = _bound(high)
        return [(m, s) for m, s in self._ordered(key)
                if (s > lo if lo_x else s >= lo) and (s < hi if hi_x else s <= hi)]  # fmt: skip

    @staticmethod
    def _reply(items: list[tuple[bytes, float]], options: dict[str, Any]) -> list[Any]:
        if options.get("withscores"):
            cast = options.get("score_cast_func", float)
            return [(m, cast(s)) for m, s in items]
        return [m for m, _ in items]

    @staticmethod
    def _limit(items: list[tuple[bytes, float]], words: list[Any]) -> list[tuple[bytes, float]]:
        upper = [_b(w).upper() if isinstance(w, (str, bytes)) else w for w in words]
        if b"LIMIT" in upper:
            i = upper.index(b"LIMIT")
            offset, count = int(words[i + 1]), int(words[i + 2])
            return items[offset:] if count < 0 else items[offset:offset + count]
        return items

    def c_ZRANGEBYSCORE(self, key: Any, low: Any, high: Any, *words: Any, **options: Any) -> list[Any]:
        return self._reply(self._limit(self._by_score(key, low, high), list(words)), options)

    def c_ZRANGE(self, key: Any, start: Any, end: Any, *words: Any, **options: Any) -> list[Any]:
        upper = [_b(w).upper() for w in words if isinstance(w, (str, bytes))]
        if b"BYSCORE" in upper:
            items = self._by_score(key, start, end)
        else:
            items = self._ordered(key)
            n = len(items)
            first, last = int(start), int(end)
            first, last = (first + n if first < 0 else first), (last + n if last < 0 else last)
            items = items[max(first, 0):last + 1]
        if b"REV" in upper:
            items.reverse()
        return self._reply(self._limit(items, list(words)), options)

    def c_ZREMRANGEBYSCORE(self, key: Any, low: Any, high: Any, **_: Any) -> int:
        doomed = self._by_score(key, low, high)
        return self.c_ZREM(key, *(m for m, _ in doomed)) if doomed else 0
