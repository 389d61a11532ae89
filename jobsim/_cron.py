"""Cron schedules: parsing, validation and next-fire computation across DST.

The parser is cronsim (measured against croniter and APScheduler in
``reference/virtual_time.md`` §0.6). A ``CronSchedule`` is dialect-neutral when
``app.function`` parses it; a profile then *binds* it (``_dialects.py``), which
checks the system's syntax and picks how wall-clock times map to instants across
a DST change — the ``rule``:

``"isc"`` (Debian/ISC cron, cronsim; the default for a plugin's profile):
  a wall time that does not exist (02:30 on 2025-03-09 in New York) fires once,
  at the first instant after the gap (03:00 EDT); a wall time that happens twice
  (01:30 on 2025-11-02) fires once, at its first occurrence — for schedules whose
  minute and hour fields both name fixed values. Debian's "wildcard" jobs, whose minute
  or hour field starts with ``*`` (``0 * * * *``, ``*/20 1 * * *``), run in both 01:xx hours.

``"shift"`` (cron-parser 5.10, pinned by BullMQ 6 and resolved by Agenda's ``^5``;
``src/CronExpression.ts`` evaluates the skipped hour's minutes in the hour after the
gap — tests ``CronExpression.test.ts`` "should handle DST gap (02:30 does not exist)",
``CronExpressionParser.test.ts`` "*/20 3" in Athens):
  as ``"isc"``, except that a wall time in a spring-forward gap fires shifted by the
  gap, as if the clock had not moved: 02:30 on 2025-03-09 in New York fires at 03:30
  EDT. Only a search that starts before the gap's end shifts: BullMQ and Agenda parse the
  expression again from each run, so ``*/20 2 * * *`` fires at 03:00 EDT and then the next
  day (cron-parser's own iterator goes on to 03:20 and 03:40), and a search from 03:00 EDT
  or later finds 02:30 the next day (measured with cron-parser 5.10.6 and 4.9.0,
  ``tests/data/cron_dst_golden.json``). A shifted time that coincides with a real one fires
  once. The repeated hour of a fall-back runs again only
  when the hour field holds all 24 hours (``0 * * * *``, ``0 0-23 * * *``): ``*/20 1 * * *``
  fires at 01:00, 01:20 and 01:40 EDT only (``_repeats``: ``src/CronDate.ts:583-585``,
  ``src/CronExpression.ts:451-455``, test ``CronExpressionParser.test.ts:1442`` "*/20 3").
  Clocks that change at midnight (Santiago, Havana) split cron-parser 4 from 5: ``midnight``.

``"instant"`` (Go's robfig/cron v3, Inngest — ``spec.go : Next`` walks absolute
time and matches wall fields; ``spec_test.go`` "2am nightly job (skipped)",
"1am nightly job (runs twice)"):
  a fire is any instant whose local wall time matches. A wall time that does not
  exist never fires; one that happens twice fires twice. Across a change by part of an
  hour (Lord Howe) robfig's own steps are followed instead (``_robfig``).

``"wall"`` (node-cron 4, ``src/time/matcher-walker.ts``, ``src/time/localized-time.ts``):
  matching wall times in order, each once, at the instant node-cron resolves it to
  (``_node_cron_instant``): a time in the gap is skipped, a repeated time fires once,
  and a wildcard hour does not fire again in the repeated hour. Which occurrence of a
  repeated time fires depends on the zone: the first (daylight time) in New York
  (``src/time/dst.test.ts`` "fires on the first occurrence"), the second (standard
  time) in London, Berlin or Athens, where the hour before it then does not fire either.

``TZ=Zone `` / ``CRON_TZ=Zone `` prefixes (robfig/Inngest) and ``tz=`` select the
zone; without either the schedule runs in UTC (Inngest Cloud's ``time.Local``).
A schedule fires strictly after the instant it is asked about, like every real
scheduler computing ``Next(now)``. Six fields mean a leading seconds field
(cron-parser, node-cron); the profile decides whether its system accepts it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Literal

from cronsim import CronSim, CronSimError

from ._checks import closest_keyword
from ._time import DAY, HOUR, MINUTE, SECOND, US, instant_ns, to_datetime, zone, zone_name
from .errors import InvalidArgument

Rule = Literal["isc", "shift", "instant", "wall"]
Midnight = Literal["", "skip_gap", "second"]

DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def _unknown_descriptor(expr: str, text: str) -> str:
    """What is wrong with ``@every 5m`` or ``@weekdays``, and what to write instead."""
    head, _, interval = text.partition(" ")
    if head.lower() == "@every":
        return (f"cron expression {expr!r}: @every is robfig's interval form, not a cron schedule (Inngest's "
                "registration refuses it; cron-parser and the others have none): give every="
                f"{interval.strip() or '5m'!r} where the profile has intervals (bullmq), or the 5 fields of a cron "
                "such as '*/5 * * * *'")  # fmt: skip
    guess = closest_keyword(head, DESCRIPTORS)
    known = ", ".join(DESCRIPTORS)
    return (f"cron expression {expr!r}: {head!r} is not a descriptor" + (f" (did you mean {guess!r}?)" if guess else "")
            + f"; the descriptors are {known}, or write the 5 fields 'minute hour day-of-month month day-of-week'")


_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31, 'L' (the last day) or 'LW' (its last weekday; no other 'W')"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-7 or SUN-SAT, 'FRI#2' (the 2nd Friday), '5L' (the last Friday)"),
)
_SECONDS = ("second", "0-59")
_HELP = "expected 5 fields 'minute hour day-of-month month day-of-week' or one of " + ", ".join(DESCRIPTORS)
_HELP6 = "expected 5 fields 'minute hour day-of-month month day-of-week' (6 with a leading seconds field)"
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)
_UTC = dt.timezone.utc
_ONE_US = dt.timedelta(microseconds=1)
_SEARCH_YEARS = 400
"""A DOM-AND-DOW schedule that has not fired in this many years never will (the Gregorian cycle)."""


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A validated cron expression bound to a time zone (and, once bound, to a dialect's rule)."""

    expr: str
    """The expression as written by the user (with any ``TZ=`` prefix)."""
    fields: str = field(repr=False)
    """The five (or six, seconds first) fields after descriptor expansion."""
    tz: dt.tzinfo = field(repr=False)
    rule: Rule = field(default="isc", repr=False)
    """How wall times map to instants across DST (see the module docstring)."""
    dom_and: bool = field(default=False, repr=False)
    """Day-of-month AND day-of-week even when both are restricted (node-cron); else Vixie's OR."""
    node_cron: str = field(default="", repr=False)
    """The first construct only node-cron reads (a full name, a reversed range, ``L-3``, ``15W``), with how
    to write it for the others; "" when the expression is common cron. ``fields`` holds node-cron's reading."""
    midnight: Midnight = field(default="", repr=False)
    """``"shift"`` rule, where the clocks change at midnight (Santiago, Havana): ``"skip_gap"``, cron-parser 4,
    skips a gap that starts at midnight instead of shifting it (``30 0 * * *`` next runs the day after);
    ``"second"``, cron-parser 5, runs a repeated midnight hour's times at their second occurrence when the
    search starts the day before (Havana, 2025-11-02: ``0 0 * * *`` at 00:00 CST, not CDT); "": neither."""
    dom_days: tuple[str, ...] = field(default=(), repr=False)
    """node-cron's day-of-month items when they include ``nW`` or ``L-n``, which cronsim lacks (``fields``
    then has ``*`` there): day numbers, ``L``, ``LW``, ``nW``, ``L-n`` (``_dom_day``)."""
    _last: list[tuple[dt.datetime, Iterator[dt.datetime]]] = field(
        default_factory=list, init=False, repr=False, compare=False, hash=False)  # fmt: skip
    """The last wall time ``_next_wall`` gave and the cronsim iterator that gave it: a recurring schedule
    asks for the wall time after the one it fired at, which that iterator yields next, instead of parsing
    the expression again (a third of a simulated year of cron ticks went to building ``CronSim``)."""

    def zone_fields(self) -> dict[str, str]:
        """``{"tz": "America/New_York"}`` for a tick's trace record, ``{}`` in UTC: a timeline in another zone
        (``jobsim run``'s UTC, say) names the zone of a ``0 9 * * *`` it shows firing at 14:00."""
        name = zone_name(self.tz)
        return {} if name == "UTC" else {"tz": name}

    @classmethod
    def parse(cls, expr: str, tz: str | dt.tzinfo | None = None, *, seconds: bool = False) -> CronSchedule:
        """Parse ``expr``; ``seconds=True`` also accepts six fields with a leading seconds field."""
        if not isinstance(expr, str) or not expr.strip():
            raise InvalidArgument.build("cron", expr, _HELP6 if seconds else _HELP)
        text = expr.strip()
        prefix_zone = None
        head, _, rest = text.partition(" ")
        if head.startswith(("TZ=", "CRON_TZ=")):
            prefix_zone = zone(head.split("=", 1)[1], argument=f"cron {expr!r} time zone")
            text = rest.strip()
        if prefix_zone is not None and tz is not None and zone(tz) != prefix_zone:
            raise InvalidArgument(f"cron={expr!r} names its own time zone and tz={tz!r} names another; give one")
        if text.startswith("@") and text.lower() not in DESCRIPTORS:
            raise InvalidArgument(_unknown_descriptor(expr, text))
        fields = _one_value_ranges(_question_marks(DESCRIPTORS.get(text.lower(), text)))
        try:
            _validate(expr, fields, seconds)
        except InvalidArgument:
            node = _node_cron(fields.split())
            if node is None:
                raise
            fields, dom_days, what = node
            return cls(expr=expr, fields=fields, tz=prefix_zone or zone(tz), node_cron=what, dom_days=dom_days)
        return cls(expr=expr, fields=fields, tz=prefix_zone or zone(tz))

    @property
    def body(self) -> str:
        """The expression without its ``TZ=`` prefix, as written."""
        head, _, rest = self.expr.strip().partition(" ")
        return rest.strip() if head.startswith(("TZ=", "CRON_TZ=")) else self.expr.strip()

    @property
    def has_seconds(self) -> bool:
        return len(self.fields.split()) == 6

    def bound(self, rule: Rule, *, dom_and: bool = False, midnight: Midnight = "") -> CronSchedule:
        """This schedule under another dialect's rule."""
        return replace(self, rule=rule, dom_and=dom_and, midnight=midnight)

    def next_after(self, ns: int) -> int:
        """The first fire time strictly after ``ns`` (epoch ns)."""
        if self.rule == "isc" and not self.dom_and and not self.dom_days:
            return self._isc(ns)
        if self.rule == "shift":
            return self._shift(ns)
        if self.tz is _UTC:  # no DST: every rule agrees
            return _naive_ns(self._next_wall(_naive(ns, _UTC)))
        if self.rule == "instant":
            fire = self._instant(ns)
            return self._robfig(ns) if _part_hour_change(self.tz, ns - DAY, fire) else fire
        return self._wall_first(ns)  # "wall"; no dialect pairs "isc" with DOM AND DOW

    def fires_between(self, start: int, end: int) -> list[int]:
        """Every fire time in ``(start, end]``."""
        out, t = [], self.next_after(start)
        while t <= end:
            out.append(t)
            t = self.next_after(t)
        return out

    # -- the rules ---------------------------------------------------------------------------
    def _isc(self, ns: int) -> int:
        # to_datetime truncates to the microsecond below ns; CronSim is strictly after it, and a tick, a whole
        # second, that is after the truncated instant is after ns too (none lies between them). Asked from the
        # second pass of a repeated hour (fold=1), CronSim compares wall times and may yield a time of the first
        # pass, before ns (01:30 EDT asked at 01:00 EST), or loop on it: ``_after_fold`` answers then.
        fire = instant_ns(next(CronSim(self.fields, to_datetime(ns, self.tz))))
        return fire if fire > ns else self._after_fold(ns)

    def _after_fold(self, ns: int) -> int:
        """The first instant after ``ns`` at which a matching wall time occurs, either time round: what
        cron-parser gives when asked from inside a repeated hour (``30 1 * * *`` asked at 01:00 EST on
        2025-11-02 in New York: 01:30 EST)."""
        for wall in self._walls(_naive(ns, self.tz)):
            for fold in (0, 1):
                local = wall.replace(tzinfo=self.tz, fold=fold)
                at = instant_ns(local)
                if at > ns and to_datetime(at, self.tz).replace(tzinfo=None) == wall:
                    return at
        raise StopIteration  # pragma: no cover - _walls is endless for a validated schedule

    def _shift(self, ns: int) -> int:
        """cron-parser: ISC, except near a spring-forward gap whose shifted times may still come after ``ns``,
        and in a fall-back's repeated hour, which its own hour field decides (``_repeats``).

        A search that *starts* in the repeated hour's second pass (a BullMQ worker or an Agenda
        job that computes its next run at 01:30 EST) is the exception: cron-parser marks the hour
        ``dstEnd`` only when one of its steps lands on it (``CronDate.applyDateOperation``: the
        same wall hour, at :00:00), so the rest of that pass fires (``*/20 1 * * *`` at 01:40 EST,
        ``45 1 * * *`` at 01:45 EST) and the search goes on normally from its end."""
        if self.tz is _UTC:
            return self._isc(ns)
        if to_datetime(ns, self.tz).fold:
            again = self._instant(ns)
            if to_datetime(again, self.tz).fold:
                return again
            change = _next_transition(self.tz, ns - DAY, ns, _offset(self.tz, ns - DAY))
            assert change is not None
            ns = change + _offset(self.tz, change - SECOND) - _offset(self.tz, change) - 1  # the pass's last ns
        fire = self._shift_gap(ns, self._isc(ns))
        if self.midnight == "second":
            fire = self._second_midnight(ns, fire)
        repeats = _repeats(self.fields)
        if repeats == "skip" and not to_datetime(ns, self.tz).fold:  # asked from inside the second pass: it goes on
            if to_datetime(fire, self.tz).fold:  # in the repeated hour, the second time round
                change = _next_transition(self.tz, fire - DAY, fire, _offset(self.tz, fire - DAY))
                assert change is not None
                return self._shift(change + _offset(self.tz, change - SECOND) - _offset(self.tz, change) - SECOND)
        elif repeats == "fill" and (to_datetime(ns, self.tz).fold or _offset(self.tz, ns) > _offset(self.tz, fire)):
            fire = min(fire, self._instant(ns))  # cronsim ran the repeated hour once: every matching instant
        return fire

    def _second_midnight(self, ns: int, fire: int) -> int:
        """cron-parser 5 steps into a new day at its midnight, which is the second occurrence when the clocks went
        back at 01:00 to 00:00 (Havana): a fire in that repeated hour's first pass moves to its second when
        the search started the day before, unless the hour field holds all 24 hours (both passes run)."""
        local = to_datetime(fire, self.tz)
        if local.fold or local.hour != 0 or to_datetime(ns, self.tz).date() >= local.date():
            return fire
        second = instant_ns(local.replace(fold=1))
        if second == fire or len(CronSim(self.fields, dt.datetime(2000, 1, 1)).hours) == 24:
            return fire
        midnight = instant_ns(local.replace(hour=0, minute=0, second=0, microsecond=0, fold=1))
        return second if _offset(self.tz, midnight - SECOND) > _offset(self.tz, midnight) else fire

    def _shift_gap(self, ns: int, fire: int) -> int:
        start = ns - DAY  # gaps are shorter than a day, so only one that began after this can matter
        offset = _offset(self.tz, start)
        while (change := _next_transition(self.tz, start, fire, offset)) is not None:
            after = _offset(self.tz, change)
            if after > offset and change > ns:  # asked from the gap's end or later: no shifted times
                return self._around_gap(ns, fire, change, offset, after)
            start, offset = change, after
        return fire

    def _around_gap(self, ns: int, fire: int, change: int, before: int, after: int) -> int:
        """The next fire when the gap of wall times ``[change+before, change+after)`` may hold it."""
        gap_start, gap_end = change + before, change + after  # naive wall ns
        regular = fire
        if fire == change and next(self._walls(_wall(gap_end - SECOND))) != _wall(gap_end):
            regular = self._isc(change)  # cronsim moved a gap time to the gap's end: not a real fire
        if self.midnight == "skip_gap" and gap_start % DAY == 0:
            return regular
        wall = _naive_ns(next(self._walls(_wall(max(gap_start - SECOND, ns + before)))))
        return min(regular, wall - before) if wall < gap_end else regular

    def _next_wall(self, after: dt.datetime) -> dt.datetime:
        """The first matching naive wall time strictly after the naive ``after``."""
        last = self._last
        walls = last[0][1] if last and last[0][0] == after else self._walls(after)
        wall = next(walls)
        last[:] = [(wall, walls)]
        return wall

    def _walls(self, after: dt.datetime) -> Iterator[dt.datetime]:
        """Matching naive wall times strictly after the naive ``after``, in order."""
        if self.dom_days:
            return self._dom_day_walls(after)
        parts = self.fields.split()
        dom, dow = parts[-3], parts[-1]
        if not self.dom_and or dom.startswith("*") or dow.startswith("*"):
            return CronSim(self.fields, after)
        only_dom = " ".join([*parts[:-1], "*"])
        only_dow = " ".join([*parts[:-3], "*", parts[-2], dow])
        return _both(CronSim(only_dom, after), CronSim(only_dow, after), after.year + _SEARCH_YEARS)

    def _dom_day_walls(self, after: dt.datetime) -> Iterator[dt.datetime]:
        """``_walls`` for node-cron's ``nW``/``L-n`` days: cronsim walks the other fields (``*`` in the
        day-of-month, so a day-of-week ANDs), a day at a time, on the days ``dom_days`` names."""
        months = CronSim(self.fields, after).months
        day, start, last_year = after.date(), after, after.year + _SEARCH_YEARS
        while day.year <= last_year:
            if day.month in months and _dom_day(self.dom_days, day):
                for wall in CronSim(self.fields, start):
                    if wall.date() != day:
                        break
                    yield wall
            day += dt.timedelta(days=1)
            start = dt.datetime.combine(day, dt.time()) - _ONE_US

    def _instant(self, ns: int) -> int:
        """robfig: the first instant after ``ns`` whose wall time matches, one offset segment at a time."""
        start, inclusive = ns, False
        while True:
            offset = _offset(self.tz, start)
            wall = _naive(start, self.tz)
            if inclusive:
                wall -= _ONE_US
            candidate = _naive_ns(self._next_wall(wall)) - offset
            change = _next_transition(self.tz, start, candidate, offset)
            if change is None:
                return candidate
            start, inclusive = change, True  # no match before the change: look again from it

    def _robfig(self, ns: int) -> int:
        """robfig/cron v3's ``SpecSchedule.Next`` step by step, for a search that crosses a change of offset by
        part of an hour (Lord Howe's 30 minutes), where matching wall times instant by instant is not what it does.

        It matches month, day, hour, minute and second in turn, moving months and days by calendar (Go's
        ``AddDate``, ``Date``: ``_go_date``), hours and minutes by absolute time (``t.Add(time.Hour)``), and starts
        over from the month after a field wraps to 0. Hours added across a 30-minute change land on the half
        hour, so in the first matching hour after it the minutes before :30 are passed over: ``0 3 * * *`` in
        ``Australia/Lord_Howe`` does not run on 2025-04-06 or 2025-10-05 (it reaches 03:30, and its minute
        steps go on to 04:00), while ``30 3 * * *`` runs at 03:30."""
        sim = CronSim(self.fields, dt.datetime(2000, 1, 1))
        t, added = (ns // SECOND + 1) * SECOND, False
        last_year = _naive(t, self.tz).year + 5
        while True:  # robfig's WRAP
            local = _naive(t, self.tz)
            if local.year > last_year:
                raise StopIteration
            while local.month not in sim.months:
                if not added:
                    added, t = True, _go_date(self.tz, local.year, local.month, 1)
                    local = _naive(t, self.tz)
                month = local.year * 12 + local.month  # AddDate(0, 1, 0): Date(y, m+1, d, h, m, s)
                t = _go_date(self.tz, month // 12, month % 12 + 1, local.day, local.hour, local.minute, local.second)
                local = _naive(t, self.tz)
                if local.month == 1:
                    break
            else:
                while not sim.match_day(local.date()):
                    if not added:
                        added, t = True, _go_date(self.tz, local.year, local.month, local.day)
                        local = _naive(t, self.tz)
                    t = _go_date(self.tz, local.year, local.month, local.day + 1, local.hour, local.minute,
                                 local.second)  # fmt: skip
                    hour = _naive(t, self.tz).hour  # a midnight the clocks skipped or repeated: back to 0
                    t += (24 - hour) * HOUR if hour > 12 else -hour * HOUR
                    local = _naive(t, self.tz)
                    if local.day == 1:
                        break
                else:
                    while local.hour not in sim.hours:
                        if not added:
                            added, t = True, _go_date(self.tz, local.year, local.month, local.day, local.hour)
                        t += HOUR
                        local = _naive(t, self.tz)
                        if local.hour == 0:
                            break
                    else:
                        while local.minute not in sim.minutes:
                            if not added:
                                added, t = True, t - t % MINUTE
                            t += MINUTE
                            local = _naive(t, self.tz)
                            if local.minute == 0:
                                break
                        else:
                            if local.second == 0:
                                return t
                            added, t = True, t - t % MINUTE + MINUTE  # the seconds run on to the next minute

    def _wall_first(self, ns: int) -> int:
        """node-cron: matching wall times in order, each at the instant ``_node_cron_instant`` gives it; one
        that instant does not read back as (a time in a gap) counts only if the instant's own wall time
        matches, and one at or before ``ns`` is passed over (``src/time/matcher-walker.ts : firstTimeOnDay``)."""
        for wall in self._walls(_naive(ns, self.tz)):
            at = _node_cron_instant(self.tz, wall)
            if at <= ns:
                continue
            real = _naive(at, self.tz)
            if real == wall or next(self._walls(real - _ONE_US)) == real:
                return at
        raise StopIteration  # pragma: no cover - _walls is endless for a validated schedule


def _node_cron_instant(tz: dt.tzinfo, wall: dt.datetime) -> int:
    """The instant node-cron 4 gives a wall time (``src/time/localized-time.ts : localTimeToTimestamp``).

    It reads the wall time as UTC, subtracts the offset in force at that instant, and keeps the result
    if the offset there is the same; else it tries the other offset, and takes the first of the two
    that reads back as the wall time, or the later of them when neither does (a time in a gap). So a
    repeated wall time resolves to whichever occurrence that guess lands on: the first (daylight time)
    west of Greenwich, where the wall time read as UTC still falls before the change (New York's 01:30
    on 2025-11-02 is 05:30 UTC, EDT), and the second (standard time) where it falls after it (London's
    01:30 on 2025-10-26 is 01:30 UTC, GMT; Berlin's 02:30 is 01:30 UTC, CET).
    """
    guess = _naive_ns(wall)
    first = _offset(tz, guess)
    one = guess - first
    second = _offset(tz, one)
    if second == first:
        return one
    other = guess - second
    for candidate in (one, other):
        if _naive(candidate, tz) == wall:
            return candidate
    return max(one, other)


def _go_date(tz: dt.tzinfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """Go's ``time.Date`` in ``tz`` (epoch ns), the day overflowing into the next month as Go's does: it reads
    the wall time as UTC, subtracts the offset in force there, and if the result falls in a period with
    another offset subtracts that one instead (a time in a gap lands after it, a repeated one on either)."""
    wall = dt.datetime(year, month, 1) + dt.timedelta(days=day - 1, hours=hour, minutes=minute, seconds=second)
    guess = _naive_ns(wall)
    first = _offset(tz, guess)
    second_offset = _offset(tz, guess - first)
    return guess - (first if second_offset == first else second_offset)


def _part_hour_change(tz: dt.tzinfo, start: int, end: int) -> bool:
    """Whether the UTC offset changes by part of an hour in ``(start, end]`` (Lord Howe's 30 minutes)."""
    if tz is _UTC:
        return False
    offset = _offset(tz, start)
    while (change := _next_transition(tz, start, end, offset)) is not None:
        after = _offset(tz, change)
        if (after - offset) % HOUR:
            return True
        start, offset = change, after
    return False


@functools.lru_cache(maxsize=256)
def _repeats(fields: str) -> Literal["skip", "fill"] | None:
    """How cron-parser's ``"shift"`` rule differs from cronsim's ISC in a fall-back's repeated hour.

    cron-parser 5.10 runs it again only when the hour field holds all 24 hours: stepping into
    it marks the hour ``dstEnd`` unless ``hoursLength === 24`` (``src/CronDate.ts:583-585``),
    and ``#matchHour`` then steps over that hour (``src/CronExpression.ts:451-455``); its test
    ``tests/CronExpressionParser.test.ts:1442`` ("*/20 3" in Athens) fires 03:00, 03:20, 03:40 once.
    cronsim (ISC) instead runs it again when the minute *or* hour field starts with ``*``.
    ``"skip"``: cronsim's fires in the repeated hour's second pass are dropped; ``"fill"``: the
    hours are all there but cronsim ran the hour once (``0 0-23 * * *``); None: they agree.
    """
    parts = fields.split()
    full = len(CronSim(fields, dt.datetime(2000, 1, 1)).hours) == 24
    isc_twice = len(parts) == 6 or parts[0].startswith("*") or parts[1].startswith("*")
    if full:
        return None if isc_twice else "fill"
    return "skip" if isc_twice else None


def _both(a: Iterator[dt.datetime], b: Iterator[dt.datetime], last_year: int) -> Iterator[dt.datetime]:
    """The wall times two ordered streams share (DOM AND DOW)."""
    x, y = next(a), next(b)
    while True:
        if x == y:
            yield x
            x, y = next(a), next(b)
        elif x < y:
            x = next(a)
        else:
            y = next(b)
        if min(x, y).year > last_year:
            return


def _naive(ns: int, tz: dt.tzinfo) -> dt.datetime:
    return to_datetime(ns, tz).replace(tzinfo=None)


def _wall(naive_ns: int) -> dt.datetime:
    return _NAIVE_EPOCH + dt.timedelta(microseconds=naive_ns // 1_000)


def _naive_ns(wall: dt.datetime) -> int:
    delta = wall - _NAIVE_EPOCH
    return (delta.days * 86_400 + delta.seconds) * SECOND + delta.microseconds * US


def _offset(tz: dt.tzinfo, ns: int) -> int:
    offset = to_datetime(ns, tz).utcoffset()
    assert offset is not None
    return (offset.days * 86_400 + offset.seconds) * SECOND + offset.microseconds * US


def _next_transition(tz: dt.tzinfo, start: int, end: int, offset: int) -> int | None:
    """The first whole second in ``(start, end]`` whose UTC offset is not ``offset``, or None.

    Probes once a day, then bisects: real zones never change offset twice within a day.
    """
    day = 86_400 * SECOND
    low = start
    while low < end:
        high = min(low + day, end)
        if _offset(tz, high) != offset:
            lo_s, hi_s = low // SECOND, -(-high // SECOND)
            while hi_s - lo_s > 1:
                mid = (lo_s + hi_s) // 2
                if _offset(tz, mid * SECOND) != offset:
                    hi_s = mid
                else:
                    lo_s = mid
            return hi_s * SECOND
        low = high
    return None


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


_NODE_FIELDS = (("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12),
                ("day-of-week", 0, 6))  # fmt: skip
_NODE_NAMES = {
    "month": ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
              "november", "december"),
    "day-of-week": ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"),
}  # fmt: skip
_NODE_RANGE = re.compile(r"(\d+)-(\d+)(?:/(\d+))?")
_NODE_DOM_DAY = re.compile(r"(?:(\d{1,2}|L)W|L-(\d{1,2})|L)", re.IGNORECASE)


def _node_cron(parts: list[str]) -> tuple[str, tuple[str, ...], str] | None:
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
        words = _NODE_NAMES.get(name)
        if words is not None:
            def number(match: re.Match[str], words: tuple[str, ...] = words, part: str = part,
                       name: str = name) -> str:
                word = match.group().lower()
                index = next((i for i, full in enumerate(words) if word in (full, full[:3])), None)
                if index is None:
                    return match.group()
                if len(word) > 3:
                    whats.append(f"{name} {part!r} uses the full name {match.group()!r}, which only node-cron reads; "
                                 f"write {words[index][:3].upper()!r}")  # fmt: skip
                return str(index + (name == "month"))
            part = re.sub(r"[A-Za-z]{3,}", number, part)
        items: list[str] = []
        for item in part.split(","):
            wrapped = _node_range(item, low, high)
            if wrapped is not None:
                whats.append(f"{name} {item!r} is a reversed range, which node-cron wraps round the field and the "
                             f"others refuse; write the list {','.join(map(str, wrapped))!r}")  # fmt: skip
                items.extend(map(str, wrapped))
            else:
                items.append(item)
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
    """node-cron's day-of-month items as ``_dom_day`` reads them, or None where its validation refuses one."""
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


def _dom_day(days: tuple[str, ...], date: dt.date) -> bool:
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


def _validate(expr: str, fields: str, seconds: bool) -> None:
    parts = fields.split()
    if len(parts) != 5 and not (seconds and len(parts) == 6):
        raise InvalidArgument(
            f"cron expression {expr!r}: has {len(parts)} field(s); {_HELP6 if seconds else _HELP}"
            + (" (seconds are not supported)" if len(parts) == 6 else "")
        )
    try:
        next(CronSim(fields, dt.datetime(2000, 1, 1)))
    except CronSimError as exc:
        raise InvalidArgument(_explain(expr, parts, str(exc))) from None
    except StopIteration:
        raise InvalidArgument(f"cron expression {expr!r} never fires (no such date in 50 years)") from None


def _explain(expr: str, parts: list[str], message: str) -> str:
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
            return (
                f"cron expression {expr!r}: {name} field {parts[index]!r} is not valid; "
                f"accepted: {accepted}, '*', lists 'a,b', ranges 'a-b' and steps '*/n'"
            )
    return f"cron expression {expr!r}: {message}; {_HELP}"


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
