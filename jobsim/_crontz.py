"""Zone arithmetic for the cron rules, in epoch ns: naive wall times, UTC offsets, the next change of offset."""

from __future__ import annotations

import datetime as dt

from ._time import HOUR, SECOND, US, to_datetime

_NAIVE_EPOCH = dt.datetime(1970, 1, 1)
_UTC = dt.timezone.utc


def naive_wall(ns: int, tz: dt.tzinfo) -> dt.datetime:
    return to_datetime(ns, tz).replace(tzinfo=None)


def wall_at(naive_ns: int) -> dt.datetime:
    return _NAIVE_EPOCH + dt.timedelta(microseconds=naive_ns // 1_000)


def naive_ns(wall: dt.datetime) -> int:
    delta = wall - _NAIVE_EPOCH
    return (delta.days * 86_400 + delta.seconds) * SECOND + delta.microseconds * US


def utc_offset(tz: dt.tzinfo, ns: int) -> int:
    offset = to_datetime(ns, tz).utcoffset()
    assert offset is not None
    return (offset.days * 86_400 + offset.seconds) * SECOND + offset.microseconds * US


def next_transition(tz: dt.tzinfo, start: int, end: int, offset: int) -> int | None:
    """The first whole second in ``(start, end]`` whose UTC offset is not ``offset``, or None.

    Probes once a day, then bisects: real zones never change offset twice within a day.
    """
    day = 86_400 * SECOND
    low = start
    while low < end:
        high = min(low + day, end)
        if utc_offset(tz, high) != offset:
            lo_s, hi_s = low // SECOND, -(-high // SECOND)
            while hi_s - lo_s > 1:
                mid = (lo_s + hi_s) // 2
                if utc_offset(tz, mid * SECOND) != offset:
                    hi_s = mid
                else:
                    lo_s = mid
            return hi_s * SECOND
        low = high
    return None


def part_hour_change(tz: dt.tzinfo, start: int, end: int) -> bool:
    """Whether the UTC offset changes by part of an hour in ``(start, end]`` (Lord Howe's 30 minutes)."""
    if tz is _UTC:
        return False
    offset = utc_offset(tz, start)
    while (change := next_transition(tz, start, end, offset)) is not None:
        after = utc_offset(tz, change)
        if (after - offset) % HOUR:
            return True
        start, offset = change, after
    return False
