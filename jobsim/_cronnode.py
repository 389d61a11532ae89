"""node-cron 4's own readings: the cron text only it accepts (full names, reversed ranges, ``nW`` and ``L-n``
days), the days those match, and the instant it gives a wall time."""

from __future__ import annotations

import calendar
import datetime as dt
import re

from cronsim import CronSim, CronSimError

from ._crontz import naive_ns, naive_wall, utc_offset

_NODE_FIELDS = (("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12),
                ("day-of-week", 0, 6))  # fmt: skip
_NODE_NAMES = {
    "month": ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
              "november", "december"),
    "day-of-week": ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"),
}  # fmt: skip
_NODE_RANGE = re.compile(r"(\d+)-(\d+)(?:/(\d+))?")
_NODE_DOM_DAY = re.compile(r"(?:(\d{1,2}|L)W|L-(\d{1,2})|L)", re.IGNORECASE)


def node_cron_fields(parts: list[str]) -> tuple[str, tuple[str, ...], str] | None:
    """node-cron 4.6's reading of what cronsim refuses: ``(fields, dom_days, what)``, or None if node-cron
    refuses it too (the caller then gives cronsim's error).

    Its ``pattern/conversion`` replaces full and short month and day names, in any case, by numbers
    (``month-names-conversion.ts``, ``week-day-names-conversion.ts``), and ``range-conversion.ts`` wraps a
    reversed range ``a-b[/n]`` round the field (day-of-week ``6-1``: 6, 0, 1; hour ``22-2``: 22, 23, 0, 1,
    2). Its day-of-month also takes ``nW`` (the weekday nearest day n, within the month), ``L-n`` (n days
    before the last) and ``LW`` in a list, never in a range or step (``pattern-validation.ts``,
    ``time/day-of-month.ts``); ``fields`` then has ``*`` there and ``dom_days`` the items.
    """
    if len(parts) not in (5, 6):
        return None
    out: list[str] = []
    dom_days: tuple[str, ...] = ()
    whats: list[str] = []
    for (name, low, high), part in zip(_NODE_FIELDS[-len(parts):], parts, strict=True):
        part = _names_as_numbers(name, part, whats)
        items = _unwrapped(name, part, low, high, whats)
        if name == "day-of-month" and any(_NODE_DOM_DAY.fullmatch(i) and i.upper() not in ("L", "LW") for i in items):
            days = _node_dom_days(items)
            if days is None:
                return None
            dom_days = days
            whats.append(f"day-of-month {part!r} uses 'nW' (the weekday nearest day n) or 'L-n' (n days before the "
                         "last day), which only node-cron reads; name the days, or use 'L' or 'LW'")  # fmt: skip
            items = ["*"]
        out.append(",".join(items))
    if not whats:
        return None
    fields = " ".join(out)
    try:
        next(CronSim(fields, dt.datetime(2000, 1, 1)))
    except (CronSimError, StopIteration):
        return None
    return fields, dom_days, whats[0]


def _names_as_numbers(name: str, part: str, whats: list[str]) -> str:
    """A month or day-of-week field with its names, full or short, in any case, as numbers
    (``month-names-conversion.ts``, ``week-day-names-conversion.ts``); a full name is added to ``whats``."""
    words = _NODE_NAMES.get(name)
    if words is None:
        return part

    def number(match: re.Match[str]) -> str:
        word = match.group().lower()
        index = next((i for i, full in enumerate(words) if word in (full, full[:3])), None)
        if index is None:
            return match.group()
        if len(word) > 3:
            whats.append(f"{name} {part!r} uses the full name {match.group()!r}, which only node-cron reads; "
                         f"write {words[index][:3].upper()!r}")  # fmt: skip
        return str(index + (name == "month"))

    return re.sub(r"[A-Za-z]{3,}", number, part)


def _unwrapped(name: str, part: str, low: int, high: int, whats: list[str]) -> list[str]:
    """A field's items, each reversed range ``a-b[/n]`` replaced by the values node-cron wraps it into
    (``range-conversion.ts``) and added to ``whats``."""
    items: list[str] = []
    for item in part.split(","):
        wrapped = _node_range(item, low, high)
        if wrapped is None:
            items.append(item)
            continue
        whats.append(f"{name} {item!r} is a reversed range, which node-cron wraps round the field and the "
                     f"others refuse; write the list {','.join(map(str, wrapped))!r}")  # fmt: skip
        items.extend(map(str, wrapped))
    return items


def _node_range(item: str, low: int, high: int) -> list[int] | None:
    """The values of node-cron's reversed range ``a-b[/n]`` (``range-conversion.ts : expandRange``), else None."""
    match = _NODE_RANGE.fullmatch(item)
    if match is None:
        return None
    first, last, step = int(match[1]), int(match[2]), int(match[3] or 1)
    if first <= last or step < 1 or not (low <= first <= high + 1 and low <= last <= high):
        return None
    size = high - low + 1
    return [v - size if v > high else v for v in range(first, first + (last - first) % size + 1, step)]


def _node_dom_days(items: list[str]) -> tuple[str, ...] | None:
    """node-cron's day-of-month items as ``dom_day`` reads them, or None where its validation refuses one."""
    days: list[str] = []
    for item in items:
        token = _NODE_DOM_DAY.fullmatch(item)
        if token is not None:
            n = token[1] if token[1] not in (None, "L", "l") else token[2]
            if n is not None and not (1 <= int(n) <= (31 if token[1] else 30)):
                return None
            days.append(item.upper())
            continue
        if item.startswith("*"):
            item = "1-31" + item[1:]
        match = _NODE_RANGE.fullmatch(item)
        if match is not None and int(match[1]) <= int(match[2]) and int(match[3] or 1) >= 1:
            values = range(int(match[1]), int(match[2]) + 1, int(match[3] or 1))
        elif item.isdigit():
            values = range(int(item), int(item) + 1)
        else:
            return None
        if not all(1 <= v <= 31 for v in values):
            return None
        days.extend(map(str, values))
    return tuple(days)


def dom_day(days: tuple[str, ...], date: dt.date) -> bool:
    """Whether node-cron's day-of-month items match ``date`` (``time/day-of-month.ts : matchesDayOfMonth``):
    ``L`` the last day, ``nW``/``LW`` the weekday nearest day n (or the last) without leaving the month (a
    Saturday the 1st moves to Monday the 3rd, a Sunday the last to Friday), ``L-n`` n days before the last."""
    last = calendar.monthrange(date.year, date.month)[1]
    for item in days:
        if item.isdigit():
            target = int(item)
        elif item == "L":
            target = last
        elif item.startswith("L-"):
            target = last - int(item[2:])
        else:  # nW, LW
            target = last if item == "LW" else int(item[:-1])
            if target > last:
                continue
            weekday = dt.date(date.year, date.month, target).weekday()  # Monday 0
            if weekday == 5:
                target = target + 2 if target == 1 else target - 1
            elif weekday == 6:
                target = target - 2 if target == last else target + 1
        if target == date.day:
            return True
    return False


def node_cron_instant(tz: dt.tzinfo, wall: dt.datetime) -> int:
    """The instant node-cron 4 gives a wall time (``src/time/localized-time.ts : localTimeToTimestamp``).

    It reads the wall time as UTC, subtracts the offset in force at that instant, and keeps the result
    if the offset there is the same; else it tries the other offset, and takes the first of the two
    that reads back as the wall time, or the later of them when neither does (a time in a gap). So a
    repeated wall time resolves to whichever occurrence that guess lands on: the first (daylight time)
    west of Greenwich, where the wall time read as UTC still falls before the change (New York's 01:30
    on 2025-11-02 is 05:30 UTC, EDT), and the second (standard time) where it falls after it (London's
    01:30 on 2025-10-26 is 01:30 UTC, GMT; Berlin's 02:30 is 01:30 UTC, CET).
    """
    guess = naive_ns(wall)
    first = utc_offset(tz, guess)
    one = guess - first
    second = utc_offset(tz, one)
    if second == first:
        return one
    other = guess - second
    for candidate in (one, other):
        if naive_wall(candidate, tz) == wall:
            return candidate
    return max(one, other)
