"""Triggers whose fire times never move forward: refused where they are given (``add_job``, ``modify_job``,
``reschedule_job``, or a job in the scheduler when the simulation is built).

``Job._get_run_times`` collects every fire time up to now, each one the trigger's next after the last: a step
that is not forward loops there for ever (a real scheduler's thread spins; the simulation would hang in
``advance``), or walks back to the year 1 and ends in a bare ``OverflowError``.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from jobsim.errors import InvalidArgument

_FIX = "Give the {kind} trigger a positive interval (weeks/days/hours/minutes/seconds)"


def check_trigger(job_id: str, trigger: Any) -> None:
    """``trigger`` of job ``job_id``, and each trigger an ``AndTrigger``/``OrTrigger`` combines, at any depth."""
    from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    for inner in getattr(trigger, "triggers", ()):
        check_trigger(job_id, inner)
    if isinstance(trigger, IntervalTrigger) and trigger.interval_length < 0:
        # get_next_fire_time adds the interval to the previous fire time: each next one is earlier
        raise InvalidArgument(
            f"APScheduler job {job_id!r} has an interval trigger of {trigger.interval_length:g} s: each next fire "
            "time would be earlier than the last, and APScheduler's Job._get_run_times would loop for ever. "
            + _FIX.format(kind="interval")
        )
    if isinstance(trigger, CalendarIntervalTrigger):
        years, months, weeks, days = trigger.years, trigger.months, trigger.weeks, trigger.days
        least = least_step(12 * years + months, 7 * weeks + days)
        if least <= 0:
            raise InvalidArgument(
                f"APScheduler job {job_id!r} has a calendar interval trigger of years={years}, months={months}, "
                f"weeks={weeks}, days={days}: from some date it moves {least} day(s), so each next fire date would "
                "not be later than the last, and APScheduler's Job._get_run_times would loop for ever or back to the "
                "year 1. Give it a step forward from every date (years/months/weeks/days)"
            )


def least_step(months: int, days: int) -> int:
    """The fewest days a ``CalendarIntervalTrigger`` step of ``months`` (its years too) then ``days`` (its weeks
    too) moves on from any date."""
    return _least_months(months) + days


@functools.lru_cache(maxsize=64)
def _least_months(months: int) -> int:
    """The fewest days ``months`` move on from any date: ``get_next_fire_time`` adds them keeping the day of the
    month, again while that day does not exist in the month reached (31 April). Months have 28 to 31 days, and the
    Gregorian calendar repeats every 400 years (4800 months): the months from 2000 to 2800 hold every case."""
    starts = _month_starts()
    cycles, rest = divmod(abs(months), _CYCLE_MONTHS)
    if months >= 0:  # a month skipped only makes the step longer: the shortest run of ``rest`` months
        return cycles * _CYCLE_DAYS + min(starts[i + rest] - starts[i] for i in range(_CYCLE_MONTHS))
    longest = 0  # back: a day the month reached lacks goes back ``months`` more
    for i in range(_CYCLE_MONTHS, 2 * _CYCLE_MONTHS):
        for day in (28, 29, 30, 31):  # days 1 to 28 exist in every month: they step as the 28th does
            if day > starts[i + 1] - starts[i]:
                break
            j, back = i, 0
            while True:
                j, back = j - rest, back + cycles * _CYCLE_DAYS
                if j < 0:  # the same month a cycle later
                    j, back = j + _CYCLE_MONTHS, back + _CYCLE_DAYS
                if starts[j + 1] - starts[j] >= day:
                    break
            longest = max(longest, back + starts[i] - starts[j])
    return -longest


_CYCLE_MONTHS, _CYCLE_DAYS = 4800, 146_097  # 400 Gregorian years


@functools.cache
def _month_starts() -> list[int]:
    """The day number of the 1st of each month from January 2000, over two 400-year cycles."""
    return [dt.date(2000 + i // 12, i % 12 + 1, 1).toordinal() for i in range(2 * _CYCLE_MONTHS + 1)]
