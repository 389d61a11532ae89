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
  hour (Lord Howe) robfig's own steps are followed instead (``_cronrobfig``).

``"wall"`` (node-cron 4, ``src/time/matcher-walker.ts``, ``src/time/localized-time.ts``):
  matching wall times in order, each once, at the instant node-cron resolves it to
  (``_cronnode.node_cron_instant``): a time in the gap is skipped, a repeated time fires once,
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

import datetime as dt
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Literal

from cronsim import CronSim

from ._cronnode import dom_day, node_cron_fields, node_cron_instant
from ._cronrobfig import robfig_next
from ._cronsyntax import expand, expected, validate
from ._crontz import naive_ns, naive_wall, next_transition, part_hour_change, utc_offset, wall_at
from ._time import DAY, SECOND, instant_ns, to_datetime, zone, zone_name
from .errors import CalendarOverflow, InvalidArgument

Rule = Literal["isc", "shift", "instant", "wall"]
Midnight = Literal["", "skip_gap", "second"]


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
    then has ``*`` there): day numbers, ``L``, ``LW``, ``nW``, ``L-n`` (``_cronnode.dom_day``)."""
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
    def parse(cls, expr: str, tz: str | dt.tzinfo | None = None, *, seconds: bool = False,
              descriptors: bool = True, specials: bool = True) -> CronSchedule:
        """Parse ``expr``; ``seconds=True`` also accepts six fields with a leading seconds field.
        ``descriptors=False``: the caller's system refuses ``@daily`` & co. (its dialect says why, when it binds
        the schedule), so no error here lists them as what to write. ``specials=False``: likewise ``L``, ``W``,
        ``#`` and day-of-week 7 (robfig/cron's): a field's hint names plain values only."""
        if not isinstance(expr, str) or not expr.strip():
            raise InvalidArgument.build("cron", expr, expected(seconds, descriptors))
        text = expr.strip()
        prefix_zone = None
        head, _, rest = text.partition(" ")
        if head.startswith(("TZ=", "CRON_TZ=")):
            prefix_zone = zone(head.split("=", 1)[1], argument=f"cron {expr!r} time zone")
            text = rest.strip()
        elif "=" in head:  # `tz=Europe/Paris 0 9 * * *` was "second field 'tz=Europe/Paris' is not valid"
            # `tz=` first: every profile takes it, while only Inngest's robfig/cron reads a prefix (BullMQ,
            # node-cron, Trigger.dev, Celery refuse `TZ=`: the advice alone sent their users to a second error)
            raise InvalidArgument(
                f"cron={expr!r} is not valid: {head!r} is no cron field, nor a time-zone prefix: give the zone as "
                f"tz={head.partition('=')[2]!r} and cron={rest.strip()!r} (every profile takes tz=), or, on Inngest, "
                f"write the prefix robfig/cron reads, only as 'TZ=' or 'CRON_TZ=', in capitals: "
                f"'TZ={head.partition('=')[2]} {rest.strip()}'")
        if prefix_zone is not None and tz is not None and zone(tz) != prefix_zone:
            raise InvalidArgument(f"cron={expr!r} names its own time zone and tz={tz!r} names another; give one")
        fields = expand(expr, text, descriptors)
        try:
            validate(expr, fields, seconds, descriptors, specials)
        except InvalidArgument:
            node = node_cron_fields(fields.split())
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
        """The first fire time strictly after ``ns`` (epoch ns); ``CalendarOverflow`` when the search for it, or
        ``ns``'s wall time in the schedule's zone, leaves the years 1 to 9999 a datetime can show."""
        try:
            return self._next_after(ns)
        except OverflowError as error:  # cronsim's own ``date value out of range``, deep in its search
            from ._time import iso

            raise CalendarOverflow(
                f"cron {self.expr!r}: its next tick after {iso(ns)} falls outside the years 1 to 9999 that a "
                f"datetime can show ({error}); start the simulation further from those years") from None

    def _next_after(self, ns: int) -> int:
        if self.rule == "isc" and not self.dom_and and not self.dom_days:
            return self._isc(ns)
        if self.rule == "shift":
            return self._shift(ns)
        if self.tz is _UTC:  # no DST: every rule agrees
            return naive_ns(self._next_wall(naive_wall(ns, _UTC)))
        if self.rule == "instant":
            fire = self._instant(ns)
            return robfig_next(self.fields, self.tz, ns) if part_hour_change(self.tz, ns - DAY, fire) else fire
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
        for wall in self._walls(naive_wall(ns, self.tz)):
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
            ns = self._repeat_end(ns) - 1  # the pass's last ns
        fire = self._shift_gap(ns, self._isc(ns))
        if self.midnight == "second":
            fire = self._second_midnight(ns, fire)
        repeats = _repeats(self.fields)
        if repeats == "skip" and not to_datetime(ns, self.tz).fold:  # asked from inside the second pass: it goes on
            if to_datetime(fire, self.tz).fold:  # in the repeated hour, the second time round
                return self._shift(self._repeat_end(fire) - SECOND)
        elif repeats == "fill" and (to_datetime(ns, self.tz).fold
                                    or utc_offset(self.tz, ns) > utc_offset(self.tz, fire)):
            fire = min(fire, self._instant(ns))  # cronsim ran the repeated hour once: every matching instant
        return fire

    def _repeat_end(self, at: int) -> int:
        """The end of the repeated hour whose second pass ``at`` is in: the instant the wall clock is back at the
        time it went back from (the change of offset in the day before ``at``, plus the hour it repeats)."""
        change = next_transition(self.tz, at - DAY, at, utc_offset(self.tz, at - DAY))
        assert change is not None
        return change + utc_offset(self.tz, change - SECOND) - utc_offset(self.tz, change)

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
        return second if utc_offset(self.tz, midnight - SECOND) > utc_offset(self.tz, midnight) else fire

    def _shift_gap(self, ns: int, fire: int) -> int:
        start = ns - DAY  # gaps are shorter than a day, so only one that began after this can matter
        offset = utc_offset(self.tz, start)
        while (change := next_transition(self.tz, start, fire, offset)) is not None:
            after = utc_offset(self.tz, change)
            if after > offset and change > ns:  # asked from the gap's end or later: no shifted times
                return self._around_gap(ns, fire, change, offset, after)
            start, offset = change, after
        return fire

    def _around_gap(self, ns: int, fire: int, change: int, before: int, after: int) -> int:
        """The next fire when the gap of wall times ``[change+before, change+after)`` may hold it."""
        gap_start, gap_end = change + before, change + after  # naive wall ns
        regular = fire
        if fire == change and next(self._walls(wall_at(gap_end - SECOND))) != wall_at(gap_end):
            regular = self._isc(change)  # cronsim moved a gap time to the gap's end: not a real fire
        if self.midnight == "skip_gap" and gap_start % DAY == 0:
            return regular
        wall = naive_ns(next(self._walls(wall_at(max(gap_start - SECOND, ns + before)))))
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
            if day.month in months and dom_day(self.dom_days, day):
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
            offset = utc_offset(self.tz, start)
            wall = naive_wall(start, self.tz)
            if inclusive:
                wall -= _ONE_US
            candidate = naive_ns(self._next_wall(wall)) - offset
            change = next_transition(self.tz, start, candidate, offset)
            if change is None:
                return candidate
            start, inclusive = change, True  # no match before the change: look again from it

    def _wall_first(self, ns: int) -> int:
        """node-cron: matching wall times in order, each at the instant ``node_cron_instant`` gives it; one
        that instant does not read back as (a time in a gap) counts only if the instant's own wall time
        matches, and one at or before ``ns`` is passed over (``src/time/matcher-walker.ts : firstTimeOnDay``)."""
        for wall in self._walls(naive_wall(ns, self.tz)):
            at = node_cron_instant(self.tz, wall)
            if at <= ns:
                continue
            real = naive_wall(at, self.tz)
            if real == wall or next(self._walls(real - _ONE_US)) == real:
                return at
        raise StopIteration  # pragma: no cover - _walls is endless for a validated schedule


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
