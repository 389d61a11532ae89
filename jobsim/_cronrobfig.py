"""robfig/cron v3's ``SpecSchedule.Next`` (Inngest's cron) step by step, where matching wall times instant
by instant is not what it does: a search that crosses a change of offset by part of an hour."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection

from cronsim import CronSim

from ._crontz import naive_ns, naive_wall, utc_offset
from ._time import HOUR, MINUTE, SECOND


def robfig_next(fields: str, tz: dt.tzinfo, ns: int) -> int:
    """robfig/cron v3's ``SpecSchedule.Next`` step by step, for a search that crosses a change of offset by
    part of an hour (Lord Howe's 30 minutes), where matching wall times instant by instant is not what it does.

    It matches month, day, hour, minute and second in turn, moving months and days by calendar (Go's
    ``AddDate``, ``Date``: ``_go_date``), hours and minutes by absolute time (``t.Add(time.Hour)``), and starts
    over from the month after a field wraps to 0. Hours added across a 30-minute change land on the half
    hour, so in the first matching hour after it the minutes before :30 are passed over: ``0 3 * * *`` in
    ``Australia/Lord_Howe`` does not run on 2025-04-06 or 2025-10-05 (it reaches 03:30, and its minute
    steps go on to 04:00), while ``30 3 * * *`` runs at 03:30."""
    sim = CronSim(fields, dt.datetime(2000, 1, 1))
    t, added = (ns // SECOND + 1) * SECOND, False
    last_year = naive_wall(t, tz).year + 5
    while True:  # robfig's WRAP: a field that wraps to 0 starts over from the month
        if naive_wall(t, tz).year > last_year:
            raise StopIteration
        for step in (_month, _day, _hour, _minute):
            t, added, wrapped = step(sim, tz, t, added)
            if wrapped:
                break
        else:
            if naive_wall(t, tz).second == 0:
                return t
            added, t = True, t - t % MINUTE + MINUTE  # the seconds run on to the next minute


Step = tuple[int, bool, bool]
"""A field's step: the instant reached, whether robfig's ``added`` is set (the lower fields were zeroed), and
whether the field wrapped to its first value (the search starts over from the month)."""


def _month(sim: CronSim, tz: dt.tzinfo, t: int, added: bool) -> Step:
    """Month by month by calendar (Go's ``AddDate(0, 1, 0)``) to one the schedule names."""
    local = naive_wall(t, tz)
    while local.month not in sim.months:
        if not added:
            added, t = True, _go_date(tz, local.year, local.month, 1)
            local = naive_wall(t, tz)
        month = local.year * 12 + local.month  # AddDate(0, 1, 0): Date(y, m+1, d, h, m, s)
        t = _go_date(tz, month // 12, month % 12 + 1, local.day, local.hour, local.minute, local.second)
        local = naive_wall(t, tz)
        if local.month == 1:
            return t, added, True
    return t, added, False


def _day(sim: CronSim, tz: dt.tzinfo, t: int, added: bool) -> Step:
    """Day by day by calendar (``AddDate(0, 0, 1)``) to one the schedule matches, back to the hour 0."""
    local = naive_wall(t, tz)
    while not sim.match_day(local.date()):
        if not added:
            added, t = True, _go_date(tz, local.year, local.month, local.day)
            local = naive_wall(t, tz)
        t = _go_date(tz, local.year, local.month, local.day + 1, local.hour, local.minute, local.second)
        hour = naive_wall(t, tz).hour  # a midnight the clocks skipped or repeated: back to 0
        t += (24 - hour) * HOUR if hour > 12 else -hour * HOUR
        local = naive_wall(t, tz)
        if local.day == 1:
            return t, added, True
    return t, added, False


def _hour(sim: CronSim, tz: dt.tzinfo, t: int, added: bool) -> Step:
    """Hour by hour of absolute time (``t.Add(time.Hour)``) to one the schedule names."""
    def start(t: int, local: dt.datetime) -> int:
        return _go_date(tz, local.year, local.month, local.day, local.hour)

    return _by_unit(tz, t, added, HOUR, lambda local: local.hour, sim.hours, start)


def _minute(sim: CronSim, tz: dt.tzinfo, t: int, added: bool) -> Step:
    """Minute by minute of absolute time to one the schedule names."""
    return _by_unit(tz, t, added, MINUTE, lambda local: local.minute, sim.minutes, lambda t, local: t - t % MINUTE)


def _by_unit(tz: dt.tzinfo, t: int, added: bool, unit: int, field: Callable[[dt.datetime], int],
             values: Collection[int], start: Callable[[int, dt.datetime], int]) -> Step:
    """``unit`` by ``unit`` of absolute time until the wall time's ``field`` is one of ``values``; the first
    step starts from ``start``, the instant with the lower fields zeroed, unless robfig's ``added`` is set."""
    local = naive_wall(t, tz)
    while field(local) not in values:
        if not added:
            added, t = True, start(t, local)
        t += unit
        local = naive_wall(t, tz)
        if field(local) == 0:
            return t, added, True
    return t, added, False


def _go_date(tz: dt.tzinfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """Go's ``time.Date`` in ``tz`` (epoch ns), the day overflowing into the next month as Go's does: it reads
    the wall time as UTC, subtracts the offset in force there, and if the result falls in a period with
    another offset subtracts that one instead (a time in a gap lands after it, a repeated one on either)."""
    wall = dt.datetime(year, month, 1) + dt.timedelta(days=day - 1, hours=hour, minutes=minute, seconds=second)
    guess = naive_ns(wall)
    first = utc_offset(tz, guess)
    second_offset = utc_offset(tz, guess - first)
    return guess - (first if second_offset == first else second_offset)
