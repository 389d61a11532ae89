"""Triggers whose fire times never move forward: refused where they are given (``add_job``, ``modify_job``,
``reschedule_job``, or a job in the scheduler when the simulation is built).

``Job._get_run_times`` collects every fire time up to now, each one the trigger's next after the last: a step
that is not forward loops there for ever (a real scheduler's thread spins; the simulation would hang in
``advance``), or walks back to the year 1 and ends in a bare ``OverflowError``.
"""

from __future__ import annotations

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
        if years * 365 + months * 28 + weeks * 7 + days <= 0:  # the shortest year and month a step can meet
            raise InvalidArgument(
                f"APScheduler job {job_id!r} has a calendar interval trigger of years={years}, months={months}, "
                f"weeks={weeks}, days={days}: each next fire date would not be later than the last (a month is 28 "
                "days at the least, a year 365), and APScheduler's Job._get_run_times would loop for ever or back "
                "to the year 1. Give it a step forward (years/months/weeks/days)"
            )
