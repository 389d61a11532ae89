"""Cron schedules: parsing, validation and next-fire computation across DST.

The parser is cronsim, chosen after measuring it against croniter and APScheduler
(``reference/virtual_time.md`` §0.6): it is the one that follows Debian/ISC cron
across DST transitions, which is what Go's robfig/cron (Inngest) does too:

* a wall time that does not exist (spring forward, e.g. 02:30 on 2025-03-09 in
  New York) fires once, at the first instant after the gap (03:00 EDT) — for
  schedules with a fixed hour; schedules with a wildcard hour simply have no 02:xx;
* a wall time that happens twice (fall back, e.g. 01:30 on 2025-11-02) fires once,
  at the first occurrence (01:30 EDT) — for fixed-hour schedules; ``0 * * * *``
  fires at both 01:00s, since each is a distinct hour.

``TZ=Zone `` / ``CRON_TZ=Zone `` prefixes (robfig/Inngest) and ``tz=`` select the
zone; without either the schedule runs in UTC (Inngest Cloud's ``time.Local``).
A schedule fires strictly after the instant it is asked about, like every real
scheduler computing ``Next(now)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cronsim import CronSim, CronSimError

from ._time import US, instant_ns, to_datetime, zone
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
_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-7 or SUN-SAT"),
)
_HELP = "expected 5 fields 'minute hour day-of-month month day-of-week' or one of " + ", ".join(
    DESCRIPTORS
)


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A validated cron expression bound to a time zone."""

    expr: str
    """The expression as written by the user (with any ``TZ=`` prefix)."""
    fields: str = field(repr=False)
    """The five fields after descriptor expansion."""
    tz: dt.tzinfo = field(repr=False)

    @classmethod
    def parse(cls, expr: str, tz: str | dt.tzinfo | None = None) -> CronSchedule:
        if not isinstance(expr, str) or not expr.strip():
            raise InvalidArgument.build("cron", expr, _HELP)
        text = expr.strip()
        prefix_zone = None
        head, _, rest = text.partition(" ")
        if head.startswith(("TZ=", "CRON_TZ=")):
            prefix_zone = zone(head.split("=", 1)[1], argument=f"cron {expr!r} time zone")
            text = rest.strip()
        if prefix_zone is not None and tz is not None and zone(tz) != prefix_zone:
            raise InvalidArgument(
                f"cron={expr!r} names its own time zone and tz={tz!r} names another; give one"
            )
        fields = DESCRIPTORS.get(text.lower(), text)
        _validate(expr, fields)
        return cls(expr=expr, fields=fields, tz=prefix_zone or zone(tz))

    def next_after(self, ns: int) -> int:
        """The first fire time strictly after ``ns`` (epoch ns)."""
        local = to_datetime(ns, self.tz)
        if ns % US:  # to_datetime truncated; CronSim is strictly-after at whole microseconds
            local += dt.timedelta(microseconds=1)
        fire = next(CronSim(self.fields, local))
        return instant_ns(fire)

    def fires_between(self, start: int, end: int) -> list[int]:
        """Every fire time in ``(start, end]``."""
        out, t = [], self.next_after(start)
        while t <= end:
            out.append(t)
            t = self.next_after(t)
        return out


def _validate(expr: str, fields: str) -> None:
    parts = fields.split()
    if len(parts) != 5:
        raise InvalidArgument(
            f"cron expression {expr!r}: has {len(parts)} field(s); {_HELP}"
            + (" (seconds are not supported)" if len(parts) == 6 else "")
        )
    try:
        next(CronSim(fields, dt.datetime(2000, 1, 1)))
    except CronSimError as exc:
        raise InvalidArgument(_explain(expr, parts, str(exc))) from None
    except StopIteration:  # pragma: no cover - cronsim never ends an iteration
        pass


def _explain(expr: str, parts: list[str], message: str) -> str:
    for index, (name, accepted) in enumerate(_FIELDS):
        if name in message.lower():
            return (
                f"cron expression {expr!r}: {name} field {parts[index]!r} is not valid; "
                f"accepted: {accepted}, '*', lists 'a,b', ranges 'a-b' and steps '*/n'"
            )
    return f"cron expression {expr!r}: {message}; {_HELP}"
