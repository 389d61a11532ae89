"""``queue.getJobs(types, start, end, asc)`` as ``getJobs-1.lua`` answers it on Redis 7, errors included.

The script reads ``<prefix><type>`` for each type: ``LRANGE`` for ``wait``/``paused``/``active``, else ``ZRANGE``
(``ZREVRANGE`` newest first). A type naming a key of another kind -- ``meta`` (a hash), ``id`` (a string), ``events``
(a stream), a job id (its hash) -- fails the whole call with Redis's ``WRONGTYPE``, which redis-py raises as
``ResponseError``; a key that does not exist is an empty range. ``start``/``end`` go through Lua's ``tonumber``:
``'5'``, ``' 5 '``, ``'0x5'`` and ``5.0`` are 5, ``'nan'`` and ``'inf'`` what C's ``strtod`` makes of them (a NaN
range reads nothing: the script's ``needed`` is NaN); what it cannot read fails the first comparison ("attempt to
compare nil with number"), and a number that is not whole (``1.5``) or is ``-0`` fails the range command ("value
is not an integer or out of range"). redis-py refuses ``None`` and ``bool`` before sending (``DataError``).
Each error is the one redis-py raises on a real server, with the script's SHA1 and line (measured with
bullmq-python 3.4.4 and Redis 7.0: ``tests/test_bullmq_live.py``).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from . import _dedup
from ._events import field_text
from ._schedulers import lua_number
from ._state import QueueState

LISTS = ("wait", "paused", "active")
"""The types the script reads with ``LRANGE``: their keys are lists or do not exist."""

_LINES = {
    "compare asc": "if asc and isListType(stateType) and rangeStart >= 0",
    "compare": "if rangeStart < 0 or rangeEnd < 0",
    "arithmetic": "modifiedRangeEnd = -(sliceEnd + 1)",
    "list asc": 'rcall("LRANGE", stateKey, modifiedRangeEnd',
    "list": 'rcall("LRANGE", stateKey, sliceStart',
    "zset asc": 'rcall("ZRANGE", stateKey',
    "zset": 'rcall("ZREVRANGE", stateKey',
}


@cache
def _script() -> tuple[str, dict[str, int]]:
    """The installed ``getJobs-1.lua``'s SHA1 (what redis-py's ``EVALSHA`` names) and the lines of ``_LINES``."""
    text = resources.files("bullmq").joinpath("commands/getJobs-1.lua").read_bytes()
    lines = text.decode().splitlines()
    found = {what: next((n for n, line in enumerate(lines, 1) if code in line), 0) for what, code in _LINES.items()}
    return hashlib.sha1(text).hexdigest(), found  # Redis names scripts by SHA1


def script_error(message: str, where: str) -> Exception:
    """The ``ResponseError`` redis-py raises for an error at ``_LINES[where]`` of the script."""
    from redis.exceptions import ResponseError

    sha, lines = _script()
    line = lines[where]
    return ResponseError(f"{message} script: {sha}, on @user_script:{line}.")


def unreadable(lo: float | None, hi: float | None, asc: bool, first: str) -> Exception:
    """The error of a ``start`` or ``end`` Lua's ``tonumber`` cannot read (``None``), where the script meets it for
    its first type: a comparison (``a >= 0`` is Lua's ``0 <= a``), or, after a negative start, the range command.
    A NaN start is neither ``>= 0`` nor ``< 0`` (Lua compares as C does), so the end is compared."""
    ascending_list = asc and first in LISTS
    if ascending_list and (lo is None or lo >= 0):  # rangeStart >= 0 and rangeEnd >= 0
        return _lua_error("attempt to compare number with nil", "compare asc")
    if lo is None or not lo < 0:  # rangeStart < 0 or rangeEnd < 0
        return _lua_error("attempt to compare nil with number", "compare")
    if ascending_list:
        return _lua_error("attempt to perform arithmetic on local 'sliceEnd' (a nil value)", "arithmetic")
    return script_error("Lua redis lib command arguments must be strings or integers", _range_line(first, asc))


def _range_line(kind: str, asc: bool) -> str:
    """Which of ``_LINES``' range commands reads ``kind``."""
    return ("list" if kind in LISTS else "zset") + (" asc" if asc else "")


def _lua_error(message: str, where: str) -> Exception:
    return script_error(f"user_script:{_script()[1][where]}: {message}", where)


def job_ids(
    q: QueueState, kinds: list[str], start: Any, end: Any, asc: bool, now: int, ids_of: Callable[[str], list[str]]
) -> list[list[str]]:
    """Per type (as the script names it: ``wait`` for ``waiting``), the ids of its ``start..end`` range (``ids_of``:
    the type's ids in the order asked); the first error the script meets, raised as redis-py raises it."""
    if not kinds:
        return []
    field_text(start), field_text(end)  # redis-py's DataError for None, a bool, a list...
    lo, hi = tonumber(start), tonumber(end)  # tonumber(ARGV[1]), tonumber(ARGV[2])
    if lo is None or hi is None:
        raise unreadable(lo, hi, asc, kinds[0])
    bounded = not (lo < 0 or hi < 0)  # NaN included: no comparison of it is true
    out: list[Any] = []
    for kind in kinds:
        listed = kind in LISTS
        ids = ids_of(kind)
        if bounded and (not hi - lo + 1 > 0 or (listed and asc and lo >= len(ids))):
            out.append([])  # collectJobs reads nothing: no entry is needed (or NaN), or the window is past the list
            continue
        where = _range_line(kind, asc)
        # the range command's start and end as sent: -0 (no integer to Redis) only where the script passes a start
        # or end as it is, not an ascending list's -(n + 1) nor a bounded end, cursor + needed - 1 (x + 0.0: -0 is 0)
        negated = listed and asc
        first, last = whole(lo + 0.0 if negated else lo), whole(hi + 0.0 if bounded or negated else hi)
        if first is None or last is None:
            raise script_error("value is not an integer or out of range", where)
        if not listed and wrong_type(q, kind, now):
            raise script_error("WRONGTYPE Operation against a key holding the wrong kind of value", where)
        out.append(lrange(ids, first, last))
    return out


def lrange(items: list[Any], start: int, end: int) -> list[Any]:
    """Redis's inclusive ``start..end`` with negative indexes from the end."""
    n = len(items)
    start = max(start + n, 0) if start < 0 else start
    end = end + n if end < 0 else min(end, n - 1)
    return items[start : end + 1] if start <= end else []


def tonumber(value: Any) -> float | None:
    """Lua's ``tonumber`` of ``value`` as redis-py sends it: ``lua_number``, and the NaN and infinities C's
    ``strtod`` reads too (``nan``, ``nan(...)``, ``inf``, ``infinity``, any case, signed, blanks around)."""
    number = lua_number(value)
    if number is not None or not isinstance(value, str):
        return number
    special = _STRTOD_SPECIAL.fullmatch(value.strip(" \t\n\v\f\r"))
    if special is None:
        return None
    return math.nan if special["nan"] else -math.inf if value.strip().startswith("-") else math.inf


_STRTOD_SPECIAL = re.compile(r"[+-]?(?:inf(?:inity)?|(?P<nan>nan)(?:\([0-9a-z_]*\))?)", re.IGNORECASE)


def whole(number: float) -> int | None:
    """A Lua number as Redis reads it in a command: Redis 7 writes it with ``%.17g`` and takes a whole number that
    way (``string2ll``: ``1e+17``, ``nan``, ``-0`` are none)."""
    text = f"{number:.17g}"
    return int(text) if re.fullmatch(r"0|-?[1-9]\d*", text) and -(2**63) <= int(text) < 2**63 else None


def wrong_type(q: QueueState, key: str, now: int) -> bool:
    """Whether ``<prefix><key>`` holds something other than a sorted set (``ZRANGE`` answers ``WRONGTYPE``)."""
    job_id, _, part = key.rpartition(":") if key.endswith(_JOB_KEYS) else (key, "", "")
    rec = q.jobs.get(job_id)
    if rec is not None:  # the job's hash, or a key hanging off it
        return {"": True, "logs": bool(rec.logs), "lock": rec.lock is not None and rec.lock_until > now,
                "dependencies": bool(rec.dependencies), "processed": bool(rec.processed),
                "failed": bool(rec.failed_children)}[part]  # fmt: skip
    kind, _, rest = key.partition(":")
    if kind == "de" and rest:
        return _dedup.get(q, rest, now) is not None  # a string
    if kind in ("dn", "repeat") and rest:
        return rest in (q.dedup_next if kind == "dn" else q.schedulers)  # hashes
    emitted = q.stream.last != (0, -1)  # the stream exists, and so does meta: every script that emits an event
    # first sets meta's opts.maxLenEvents (getOrSetMaxEvents)
    others = {"meta": bool(q.meta) or emitted, "events": emitted, "id": q.counter > 0, "pc": q.pc > 0,
              "stalled": bool(q.stalled), "stalled-check": q.stalled_check_until > now,
              "limiter": q.limiter[0] > 0 and (q.limiter[1] is None or q.limiter[1] > now)}  # fmt: skip
    return others.get(key, False)


_JOB_KEYS = (":logs", ":lock", ":dependencies", ":processed", ":failed")
