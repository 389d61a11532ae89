"""Cron text: descriptors (``@daily``), the field syntax every dialect shares, and the errors that say
what is wrong with an expression and what to write instead. ``CronSchedule.parse`` (``_cron.py``) reads
an expression with these; a dialect then checks its system's own syntax (``_dialects.py``)."""

from __future__ import annotations

import datetime as dt
import re

from cronsim import CronSim, CronSimError

from ._checks import closest_keyword
from .errors import InvalidArgument

DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def _unknown_descriptor(expr: str, text: str, descriptors: bool) -> str:
    """What is wrong with ``@every 5m`` or ``@weekdays``, and what to write instead (``descriptors``: the
    system takes ``@daily`` & co., so they are listed)."""
    head, _, interval = text.partition(" ")
    if head.lower() == "@every":
        return (f"cron expression {expr!r}: @every is robfig's interval form, not a cron schedule (Inngest's "
                "registration refuses it; cron-parser and the others have none): give every="
                f"{interval.strip() or '5m'!r} where the profile has intervals (bullmq), or the 5 fields of a cron "
                "such as '*/5 * * * *'")  # fmt: skip
    if not descriptors:
        return f"cron expression {expr!r}: {head!r} is not a cron schedule; write the {_FIVE}"
    guess = closest_keyword(head, DESCRIPTORS)
    known = ", ".join(DESCRIPTORS)
    return (f"cron expression {expr!r}: {head!r} is not a descriptor" + (f" (did you mean {guess!r}?)" if guess else "")
            + f"; the descriptors are {known}, or write the {_FIVE}")


_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31, 'L' (the last day) or 'LW' (its last weekday; no other 'W')"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-7 or SUN-SAT, 'FRI#2' (the 2nd Friday), '5L' (the last Friday)"),
)
_PLAIN = {"day-of-month": "1-31", "day-of-week": "0-6 or SUN-SAT"}
"""What a field takes in a dialect without ``L``, ``W``, ``#`` and day-of-week 7 (robfig/cron: Inngest)."""
_EXTRAS = {"day-of-month": "'L' (the last day) or 'LW' (its last weekday; no other 'W')",
           "day-of-week": "7 for Sunday, 'FRI#2' (the 2nd Friday) and '5L' (the last Friday)"}
"""What other profiles' parsers take in a day field beyond robfig/cron's (``_PLAIN``). A function's cron is read
before its profile is known, so a day field's message lists both: Inngest's first, the default profile's (it
listed 'L' first, then said 'L' was not Inngest's; following it to 'L' was refused at the simulation's start)."""
_SECONDS = ("second", "0-59")
_FIVE = "5 fields 'minute hour day-of-month month day-of-week'"
_HELP5 = f"expected {_FIVE}"
_HELP = f"{_HELP5} or one of " + ", ".join(DESCRIPTORS)
_HELP6 = f"{_HELP5} (6 with a leading seconds field where the system's cron takes one: not Inngest's)"


def expected(seconds: bool, descriptors: bool = True) -> str:
    """What a cron expression should look like, for an error message (``seconds``: six fields allowed;
    ``descriptors``: ``@daily`` & co. too, listed only where the system takes them)."""
    return _HELP6 if seconds else _HELP if descriptors else _HELP5


def expand(expr: str, text: str, descriptors: bool = True) -> str:
    """The fields of ``text`` (``expr`` without its ``TZ=`` prefix): a descriptor expanded, ``?`` as ``*`` and
    one-value ranges as their value, as cronsim reads them; an unknown descriptor is refused."""
    if text.startswith("@") and text.lower() not in DESCRIPTORS:
        raise InvalidArgument(_unknown_descriptor(expr, text, descriptors))
    return _one_value_ranges(_question_marks(DESCRIPTORS.get(text.lower(), text)))


def _question_marks(fields: str) -> str:
    """``?`` means "any" in the day fields for robfig, cron-parser and node-cron; cronsim spells it ``*``."""
    parts = fields.split()
    if "?" not in fields or len(parts) not in (5, 6):
        return fields
    for index in (len(parts) - 3, len(parts) - 1):
        if parts[index] == "?":
            parts[index] = "*"
    return " ".join(parts)


_ONE_VALUE_RANGE = re.compile(r"(?<![^\s,])(\d+)-\1/0*[1-9]\d*(?![^\s,])")


def _one_value_ranges(fields: str) -> str:
    """``7-7/4`` is the one value 7 for cron-parser 4/5, node-cron 4.6 and robfig (a range from 7 to 7, stepped);
    cronsim reads it as ``7/4`` (7, 11, 15, ...), so it is spelled ``7`` for cronsim."""
    return _ONE_VALUE_RANGE.sub(r"\1", fields)


def validate(expr: str, fields: str, seconds: bool, descriptors: bool = True, specials: bool = True) -> None:
    parts = fields.split()
    if len(parts) != 5 and not (seconds and len(parts) == 6):
        raise InvalidArgument(
            f"cron expression {expr!r}: has {len(parts)} field(s); {expected(seconds, descriptors)}"
            + (" (seconds are not supported)" if len(parts) == 6 else "")
        )
    try:
        next(CronSim(fields, dt.datetime(2000, 1, 1)))
    except CronSimError as exc:
        raise InvalidArgument(_explain(expr, parts, str(exc), descriptors, specials)) from None
    except StopIteration:
        raise InvalidArgument(f"cron expression {expr!r} never fires (no such date in 50 years)") from None


def _explain(expr: str, parts: list[str], message: str, descriptors: bool = True, specials: bool = True) -> str:
    if message == "Bad day-of-month" and _days_in_range(parts[-3]) and parts[-1].startswith("*"):
        # a day-of-week field starting with '*' adds no day, as in every cron: the schedule never fires
        return (f"cron expression {expr!r}: day-of-month {parts[-3]!r} never falls in month {parts[-2]!r}, so it "
                "never fires; use a day that month has (or name days of the week in the last field)")  # fmt: skip
    if message == "Bad day-of-month" and _days_in_range(parts[-3]):
        # cronsim before 2.8 (the newest for Python 3.10) refuses a day of the month that the
        # month field never has ("30 2"), even when a day-of-week would still fire; 2.8 runs it
        return (f"cron expression {expr!r}: day-of-month {parts[-3]!r} never falls in month {parts[-2]!r}, and "
                f"cronsim {_cronsim_version()} refuses such a schedule even with a day-of-week; use days every "
                "month has, or Python 3.11+ (cronsim 2.8 fires on the day-of-week)")  # fmt: skip
    names = (_SECONDS, *_FIELDS) if len(parts) == 6 else _FIELDS
    for index, (name, accepted) in enumerate(names):
        if name in message.lower():
            said = (f"cron expression {expr!r}: {name} field {parts[index]!r} is not valid; "
                    f"accepted: {_PLAIN.get(name, accepted)}, '*', lists 'a,b', ranges 'a-b' and steps '*/n'")
            if specials and name in _PLAIN:
                said += (f" on Inngest, the default profile (robfig/cron); other profiles' parsers also take "
                         f"{_EXTRAS[name]} (`jobsim profiles NAME` says what each system's cron takes)")
            return said
    return f"cron expression {expr!r}: {message}; {expected(False, descriptors)}"


def _days_in_range(field: str) -> bool:
    """Every number of a day-of-month field is 1-31 (so only the month can make it impossible)."""
    numbers = field.replace(",", " ").replace("-", " ").replace("/", " ").replace("*", " ").split()
    return bool(numbers) and all(n.isdigit() and 1 <= int(n) <= 31 for n in numbers)


def _cronsim_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cronsim")
    except PackageNotFoundError:  # pragma: no cover - a dependency
        return "(unknown version)"
