"""Durations and instants, converted once at the edge into integer nanoseconds (UTC).

Inside jobsim every time is an ``int`` of nanoseconds since the Unix epoch and every
duration an ``int`` of nanoseconds; ``datetime`` appears only where users read or
write times. Standard library only.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
from typing import Any
from zoneinfo import TZPATH, ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .errors import InvalidArgument, retry_after_header

NS = 1
US = 1_000
MS = 1_000_000
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY

Duration = str | int | float | dt.timedelta
Instant = str | int | float | dt.datetime | dt.date

_UNITS = {
    "ns": NS,
    "us": US,
    "µs": US,
    "ms": MS,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
    "d": DAY,
    "w": WEEK,
    "y": 365 * DAY + 6 * HOUR,  # vercel/ms's year: 365.25 days
}
# The long names of vercel/ms (what Inngest's TypeScript SDK parses "2 days" with), lower case:
# a duration written for step.sleep in TypeScript reads the same here.
_UNITS.update({
    **dict.fromkeys(("milliseconds", "millisecond", "msecs", "msec"), MS),
    **dict.fromkeys(("seconds", "second", "secs", "sec"), SECOND),
    **dict.fromkeys(("minutes", "minute", "mins", "min"), MINUTE),
    **dict.fromkeys(("hours", "hour", "hrs", "hr"), HOUR),
    **dict.fromkeys(("days", "day"), DAY),
    **dict.fromkeys(("weeks", "week"), WEEK),
    **dict.fromkeys(("years", "year", "yrs", "yr"), _UNITS["y"]),
})  # fmt: skip
_PART = re.compile(r"(\d+(?:\.\d+)?)(" + "|".join(sorted(map(re.escape, _UNITS), key=len, reverse=True)) + ")")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_DURATION_HELP = (
    "expected a duration such as '500ms', '30s', '5m', '1h30m', '7d', '2 weeks', a timedelta, "
    "or a number of seconds, not negative"
)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_LAST = dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.timezone.utc) - EPOCH
_FIRST_SECONDS = -62_135_596_800  # 0001-01-01, in seconds since the epoch
MAX_NS = (_LAST.days * 86_400 + _LAST.seconds) * SECOND + _LAST.microseconds * US
"""The last instant a ``datetime`` can show (9999-12-31): virtual time never goes past it."""


def duration_ns(value: Duration, name: str = "duration", *, allow_zero: bool = True) -> int:
    """Parse a user-supplied duration into nanoseconds, or raise ``InvalidArgument``."""
    ns = _parse_duration(value, name)
    if ns < 0 or (ns == 0 and not allow_zero):
        accepted = _DURATION_HELP if allow_zero else _DURATION_HELP + " and greater than zero"
        if ns < 0:
            accepted += f"; a length of time is never negative: {_unsigned(value, -ns)}, if that length was meant"
        raise InvalidArgument.build(name, value, accepted)
    return ns


def _unsigned(value: Duration, ns: int) -> str:
    """``value`` (negative, ``ns`` long) written without its sign, as the user wrote it where possible."""
    if isinstance(value, str):
        return repr(_cut(value.strip().removeprefix("-").strip()))
    if isinstance(value, (int, float)):
        return repr(-value)
    return repr(format_duration(ns))


_PARSED: dict[str, int] = {}  # duration strings already parsed: job code repeats the same few


def _parse_duration(value: Duration, name: str) -> int:
    if type(value) is str:
        cached = _PARSED.get(value)
        if cached is not None:
            return cached
    if isinstance(value, bool):
        raise InvalidArgument.build(name, value, _DURATION_HELP)
    if isinstance(value, dt.timedelta):
        return (value.days * 86_400 + value.seconds) * SECOND + value.microseconds * US
    if isinstance(value, int):
        return value * SECOND
    if isinstance(value, float):
        seconds = value * SECOND  # inf for nan-free values too large to be a duration (1e300)
        if seconds - seconds != 0.0:  # nan, inf, or a product that overflowed to inf
            raise InvalidArgument.build(name, value, _DURATION_HELP)
        return round(seconds)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        sign = 1
        if text.startswith("-"):
            sign, text = -1, text[1:]
        pos, total = 0, 0
        # part after part, each where the last ended: a scan for the next one tried every start in a run of digits
        # with no unit after it, each to the run's end (a 8,000-digit string took 10 s to refuse)
        while (match := _PART.match(text, pos)) is not None:
            part = float(match.group(1)) * _UNITS[match.group(2)]
            if part - part != 0.0:  # so many digits that the float is inf: no duration is that long
                raise InvalidArgument.build(name, value, _DURATION_HELP)
            total += round(part)
            pos = match.end()
        if text and pos == len(text):
            if len(_PARSED) < 4096:
                _PARSED[value] = sign * total
            return sign * total
        if sign > 0 and _NUMBER.fullmatch(text):  # '90': seconds here, 90 ms to vercel/ms; say which, not guess
            shown = _cut(text)
            raise InvalidArgument.build(name, value, f"{_DURATION_HELP}; a number in a string is ambiguous (Inngest's "
                                        f"TypeScript SDK reads '90' as 90 ms): give the number itself for seconds "
                                        f"({shown}) or a unit ('{shown}s', '{shown}ms')")  # fmt: skip
        why = _why_not_a_duration(value, text)
        if why:
            raise InvalidArgument.build(name, value, f"{_DURATION_HELP}; {why}")
    raise InvalidArgument.build(name, value, _DURATION_HELP)


def _cut(text: str) -> str:
    """``text``, or its two ends when long: ``build()`` shows the value once, cut short; a hint repeats only a piece."""
    return text if len(text) <= 40 else f"{text[:18]}...{text[-18:]}"


def _why_not_a_duration(value: str, text: str) -> str:
    """What a duration string that does not parse was most likely meant as, or ``""``."""
    lower = value.lower()
    if lower != value:
        try:
            _parse_duration(lower, "duration")
        except InvalidArgument:
            pass
        else:
            return f"units are lower case, as vercel/ms reads them: {_cut(lower.strip())!r}"
    if re.fullmatch(r"P(\d+[YMWD])*(T(\d+(\.\d+)?[HMS])+)?", text.upper()) and len(text) > 1:
        return "an ISO 8601 duration is not read: write its parts with units, e.g. 'PT1H30M' as '1h30m'"
    if re.fullmatch(r"\d+(:\d{1,2}){1,2}(\.\d+)?", text):
        return "a clock reading is not read as a duration: write it with units, e.g. '00:05:00' as '5m'"
    if re.fullmatch(r"(\d+(\.\d+)?)(mo|mos|month|months)", text.lower()):
        return "a month has no fixed length, so it is not a unit: give days, e.g. '30d'"
    if "," in text and re.search(r"\d,\d", text):  # a decimal comma, as many locales write it: '1,5h'
        try:
            _parse_duration(value.replace(",", "."), "duration")
        except InvalidArgument:
            pass
        else:
            return f"a decimal is written with a point, not a comma: {_cut(value.replace(',', '.').strip())!r}"
    signed = _signed_parts(value.strip().replace(" ", ""))
    if signed is not None:
        return signed
    if re.fullmatch(r"(\d+(\.\d+)?[a-zµ]+)+\d+(\.\d+)?", text):
        return f"every number needs its unit: {_cut(text)!r} ends in a bare number ('{_cut(text)}m'?)"
    for word in re.findall(r"[a-zµ]+", text.lower()):
        if word not in _UNITS:
            close = difflib.get_close_matches(word, [u for u in _UNITS if len(u) > 2], n=1, cutoff=0.75)
            if close:
                return f"{word!r} is not a unit (did you mean {close[0]!r}?)"
    return ""


def _signed_parts(text: str) -> str | None:
    """The fix for a duration written with ``+`` or ``-`` between or before its parts (``'+5m'``, ``'1h+30m'``,
    ``'1d-2h'``): the total, written as one duration; ``None`` when ``text`` is not such a sum."""
    pieces = re.split(r"([+-])", text)
    if len(pieces) < 3 or not all(piece and _PART.sub("", piece) == "" for piece in pieces[2::2]):
        return None
    if pieces[0] and _PART.sub("", pieces[0]) != "":
        return None
    total, sign = 0, 1
    for piece in pieces:
        if piece in "+-":
            sign = -1 if piece == "-" else 1
            continue
        total += sign * sum(round(float(n) * _UNITS[u]) for n, u in _PART.findall(piece))
    if "-" not in pieces:
        shown = "".join(pieces[2::2]) if not pieces[0] else "".join(pieces[0::2])
        return f"parts are written side by side, with no '+': {_cut(shown)!r}"
    if not pieces[0] and pieces[1] == "-" and len(pieces) == 3:
        return None  # '-5m': negative, which duration_ns says
    if total <= 0:
        return f"a duration does not subtract, and {_cut(text)!r} would come to {format_duration(total)}, not a length"
    return f"a duration does not subtract: write the total, {format_duration(total)!r}"


def format_duration(ns: int) -> str:
    """``5_400 * SECOND`` -> ``'1h30m'``; the inverse of :func:`duration_ns` for display."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    parts = []
    for unit, size in (("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", SECOND), ("ms", MS)):
        count, ns = divmod(ns, size)
        if count:
            parts.append(f"{count}{unit}")
    if ns:
        parts.append(f"{ns}ns")
    return sign + "".join(parts)


_INSTANT_HELP = (
    "expected an aware datetime, an ISO 8601 string with an offset or 'Z' "
    "(e.g. '2025-03-01T09:00:00-05:00'), or seconds since the epoch"
)


_FRACTION = re.compile(r"\d{2}:\d{2}:\d{2}([.,])(\d+)")
"""An ISO time's fraction of a second: read apart, so ``.5`` and nanoseconds parse on every Python."""
_UTC_SUFFIX = re.compile(r"[zZ]$")


def _wall_time(naive: dt.datetime, tz: dt.tzinfo, name: str, given: Any) -> dt.datetime:
    """A naive wall time read in ``tz``, refused when the zone's clocks skip it (spring forward) or show it
    twice (fall back): guessing one reading would move the instant by the shift, silently.

    Read through ``astimezone`` (each zone's ``fromutc``), which every ``tzinfo`` does right, and not through
    ``replace(tzinfo=tz)``: a pytz zone attached that way keeps its first offset (New York's local mean time,
    -04:56, so 09:00 was 13:56Z), and a dateutil zone gives a skipped time one offset, as if it existed. The
    readings are the UTC instants, under each offset the zone has within a day of it, that the zone shows as
    ``naive``: none is a gap, two a fold."""
    utc = dt.timezone.utc
    as_utc = naive.replace(tzinfo=utc)
    offsets: list[dt.timedelta] = []
    for probe in (-DAY, 0, DAY):
        try:
            offset = (as_utc + dt.timedelta(microseconds=probe // US)).astimezone(tz).utcoffset()
        except OverflowError:  # within a day of the year 1 or 9999
            continue
        if offset is not None and offset not in offsets:
            offsets.append(offset)
    readings = []
    for offset in sorted(offsets, reverse=True):  # the larger offset is the earlier instant
        try:
            moment = (as_utc - offset).astimezone(tz)
        except OverflowError:
            continue
        if moment.replace(tzinfo=None) == naive:  # naive datetimes compare without their fold
            readings.append(moment)
    if len(readings) == 1:
        return readings[0]
    zone = zone_name(tz)
    if not readings:  # the clocks never show it: a gap
        before, after = (offsets[0], offsets[-1]) if len(offsets) > 1 else (offsets[0], offsets[0])
        shown = (as_utc - before).astimezone(tz)
        raise InvalidArgument(
            f"{name}={given!r} does not exist in {zone}: the clocks skip it that day, going from "
            f"{_offset(before)} to {_offset(after)}; give the instant with its offset, e.g. {shown.isoformat()!r}"
        )
    first, second = readings[0], readings[-1]
    raise InvalidArgument(
        f"{name}={given!r} happens twice in {zone} (the clocks go back that day): give the "
        f"instant with its offset, {first.isoformat()!r} for the first or {second.isoformat()!r} for the second"
    )


def _offset(offset: dt.timedelta) -> str:
    minutes = offset // dt.timedelta(minutes=1)
    return f"UTC{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def instant_ns(value: Instant, name: str = "time", *, tz: dt.tzinfo | None = None) -> int:
    """Parse a user-supplied instant into epoch nanoseconds.

    Naive datetimes and offset-less strings are read in ``tz`` when one is given
    (the simulation's display zone); otherwise they are rejected, because guessing
    the machine's local zone would make tests depend on where they run.
    """
    given = value  # messages name what the caller wrote, not what a string was parsed into
    if isinstance(value, bool):
        raise InvalidArgument.build(name, value, _INSTANT_HELP)
    if isinstance(value, (int, float)):
        if not _FIRST_SECONDS <= value <= MAX_NS // SECOND:  # also refuses nan: no comparison holds
            raise InvalidArgument.build(name, value, _INSTANT_HELP + " (between the years 1 and 9999)")
        return round(value * SECOND) if isinstance(value, float) else value * SECOND
    fraction_ns = 0
    if isinstance(value, str):
        text = _UTC_SUFFIX.sub("+00:00", value.strip())  # RFC 3339 §5.6: "Z" or "z"
        fraction = _FRACTION.search(text)
        if fraction is not None:  # to the nanosecond, and on 3.10 (fromisoformat takes only 3 or 6 digits there)
            fraction_ns = int(fraction.group(2)[:9].ljust(9, "0"))
            text = text[: fraction.start(2) - 1] + text[fraction.end(2) :]
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise InvalidArgument.build(name, value, _INSTANT_HELP) from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            if tz is None:
                raise InvalidArgument.build(name, given, _INSTANT_HELP)
            value = _wall_time(value, tz, name, given)
        elif type(value.tzinfo).__module__.startswith("pytz"):
            _check_localized(value, name, given)
        delta = value - EPOCH
        ns = (delta.days * 86_400 + delta.seconds) * SECOND + delta.microseconds * US + fraction_ns
        if not _FIRST_SECONDS * SECOND <= ns <= MAX_NS:  # 0001-01-01 at +05:00 is still year 0 in UTC
            raise InvalidArgument.build(name, given, _INSTANT_HELP + " (between the years 1 and 9999, in UTC)")
        return ns
    raise InvalidArgument.build(name, value, _INSTANT_HELP)


def _check_localized(value: dt.datetime, name: str, given: Any) -> None:
    """Refuse a pytz zone attached as ``tzinfo=`` (or with ``replace``): pytz reads it as the zone's local mean time
    (New York's -04:56), not the offset its clocks had (``localize()`` picks that), so the instant is minutes off,
    silently. Only the object given is looked at (pytz is not imported); a date really in local mean time passes."""
    tz: Any = value.tzinfo
    localize = getattr(tz, "localize", None)
    if getattr(tz, "_tzname", None) != "LMT" or not callable(localize):
        return
    try:
        meant = localize(value.replace(tzinfo=None)).utcoffset()
    except Exception:  # pytz's AmbiguousTimeError/NonExistentTimeError are for is_dst=None only: anything else
        return
    offset = value.utcoffset()
    if meant is None or offset is None or meant == offset:
        return
    zone = getattr(tz, "zone", "Zone/Name")
    raise InvalidArgument.build(
        name, given, f"an aware time whose pytz zone was attached with tzinfo= (or replace()): pytz reads it as "
        f"{zone}'s local mean time, {_offset(offset)}, not the {_offset(meant)} its clocks showed then, so "
        f"the instant is off by {format_duration(abs(round((meant - offset).total_seconds())) * SECOND)}; build it "
        f"with pytz.timezone({zone!r}).localize(datetime(...)), or use zoneinfo.ZoneInfo({zone!r}) as tzinfo="
    )


def to_datetime(ns: int, tz: dt.tzinfo | None = None) -> dt.datetime:
    """Epoch nanoseconds -> aware datetime (UTC unless ``tz``), truncated to microseconds."""
    moment = EPOCH + dt.timedelta(microseconds=ns // US)
    return moment if tz is None else moment.astimezone(tz)


def zone(name: str | dt.tzinfo | None, argument: str = "tz") -> dt.tzinfo:
    """An IANA zone name (or a tzinfo) -> tzinfo; ``None`` means UTC."""
    if name is None:
        return dt.timezone.utc
    if isinstance(name, dt.tzinfo):
        return _standard_zone(name)
    if not isinstance(name, str) or not name:
        raise InvalidArgument.build(argument, name, "expected an IANA time zone such as 'America/New_York'")
    if name.upper() == "UTC":
        return dt.timezone.utc
    fixed = _FIXED.fullmatch(name)
    if fixed is not None and int(fixed[2]) < 24 and int(fixed[3]) < 60:  # what zone_name writes for a fixed offset
        offset = dt.timedelta(hours=int(fixed[2]), minutes=int(fixed[3]))
        return dt.timezone(-offset if fixed[1] == "-" else offset)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        if not available_timezones():  # a slim image with neither the system's zoneinfo nor the tzdata package
            raise InvalidArgument.build(argument, name, "this Python finds no time zone database at all (no system "
                                        "zoneinfo, no tzdata package): pip install tzdata") from None  # fmt: skip
        raise InvalidArgument.build(
            argument, name, f"no such IANA time zone{_zone_hint(name)}; expected e.g. 'America/New_York' or 'UTC'"
        ) from None


_FIXED = re.compile(r"UTC([+-])(\d\d):(\d\d)")


def _standard_zone(tz: dt.tzinfo) -> dt.tzinfo:
    """A pytz or dateutil zone as the standard library's (``ZoneInfo`` of its IANA name, ``timezone`` of a fixed
    offset), when it has one: ``zone_name`` then writes a name ``zone`` reads back (dateutil's zones have none, only
    a file path) and times are shown as ``ZoneInfo`` shows them. Any other ``tzinfo`` is kept: naive times are
    read in it through ``astimezone`` (``_wall_time``), right for every implementation. Neither library is
    imported: only the object given is looked at."""
    module = type(tz).__module__.partition(".")[0]
    if module not in ("pytz", "dateutil"):
        return tz
    kind = type(tz).__name__
    if kind in ("UTC", "tzutc"):
        return dt.timezone.utc
    if kind in ("_FixedOffset", "tzoffset"):
        offset = tz.utcoffset(None)
        return dt.timezone(offset) if offset else dt.timezone.utc
    key = getattr(tz, "zone", None) if module == "pytz" else getattr(tz, "_filename", None)  # dateutil's tzfile
    if not isinstance(key, str):
        return tz  # dateutil's tzlocal, tzstr, tzrange: no IANA name
    for root in TZPATH:  # dateutil's gettz names the system's file: /usr/share/zoneinfo/America/New_York
        folder = os.path.join(root, "")
        if key.startswith(folder):
            key = key.removeprefix(folder)
            break
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # a file elsewhere, or pytz's own database only
        return tz
_OFFSET = re.compile(r"(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d\d))?", re.IGNORECASE)


def _zone_hint(name: str) -> str:
    """`` (did you mean 'America/New_York'?)`` for a zone spelt in the wrong case (which a case-insensitive
    file system finds, and Linux does not), the spelling of a fixed offset ``zone`` reads, or the zones a typo
    away (``Europe/Pariss``); else ``""``."""
    folded = {key.lower(): key for key in sorted(available_timezones())}
    key = folded.get(name.strip().lower())
    if key is not None:
        return f" (did you mean {key!r}? zone names are case-sensitive)"
    if name.strip().upper() in ("Z", "ZULU"):
        return " (did you mean 'UTC'?)"
    offset = _OFFSET.fullmatch(name.strip())
    if offset is not None and int(offset[2]) < 24 and int(offset[3] or 0) < 60:
        return f" (a fixed offset is written 'UTC{offset[1]}{int(offset[2]):02d}:{offset[3] or '00'}')"
    close = [folded[key] for key in difflib.get_close_matches(name.strip().lower(), folded, n=3, cutoff=0.85)]
    return f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""


def zone_name(tz: dt.tzinfo) -> str:
    """The name ``zone`` reads back: an IANA key, ``"UTC"``, or ``"UTC+05:30"`` for a fixed offset (its ``str`` may
    be a name of its own, ``timezone(timedelta(hours=-3), "BRT")``, that no reader knows)."""
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)  # zoneinfo; pytz
    if isinstance(key, str):
        return key
    if isinstance(tz, dt.timezone):
        offset = tz.utcoffset(None)
        minutes, sign = abs(offset) // dt.timedelta(minutes=1), "-" if offset < dt.timedelta(0) else "+"
        return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}" if minutes else "UTC"
    return str(tz)


def iso(ns: int, tz: dt.tzinfo | None = None) -> str:
    """Epoch nanoseconds -> ISO 8601 with millisecond precision ('Z' for UTC)."""
    text = to_datetime(ns, tz).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def job_instant_ns(value: Any, name: str) -> int:
    """An instant job code gives (``sleep_until``'s, ``RetryAfterError``'s): read in no zone, so one without an
    offset is refused saying why, as job code's clock is UTC and ``datetime.now()`` there is a naive UTC time."""
    try:
        return instant_ns(value, name)
    except InvalidArgument as exc:
        try:
            parsed = dt.datetime.fromisoformat(value.strip()) if isinstance(value, str) else value
        except ValueError:
            parsed = None
        if not isinstance(parsed, dt.datetime) or parsed.utcoffset() is not None:
            raise
        raise InvalidArgument(f"{exc}; this one has no offset, and job code's times are read in no zone: its "
                              "clock is UTC, so datetime.now() there is UTC wall time without a zone; give an "
                              "aware time, datetime.now(timezone.utc) + timedelta(hours=1), or one ending in 'Z' "
                              "or an offset") from None


def resolve_retry_after(after: Any, now: int) -> int:
    """``RetryAfterError.after`` -> delay in ns from ``now``."""
    after = retry_after_header(after)
    if isinstance(after, dt.datetime):
        return job_instant_ns(after, "after") - now
    return duration_ns(after, "after")
