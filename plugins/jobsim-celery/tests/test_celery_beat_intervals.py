"""Beat intervals Celery's beat cannot pace: 0 or less (a flood of sends at one instant), or no timedelta."""

from __future__ import annotations

import datetime as dt

import pytest
from celery.schedules import schedule

import jobsim


@pytest.fixture
def tick(app):
    @app.task(name="tick")
    def tick():
        return None

    return tick


@pytest.mark.parametrize("every", [0, 0.0, -5, dt.timedelta(0), dt.timedelta(seconds=-1), schedule(0)])
def test_an_interval_of_zero_or_less_is_refused_instead_of_hanging(app, tick, every):
    """``schedule.is_due`` answers ``(True, 0)`` at each check and ``Scheduler.tick`` returns 0: beat sends the
    entry back to back. The simulation ticked it every microsecond: ``advance("10s")`` never came back."""
    app.conf.beat_schedule = {"poll": {"task": "tick", "schedule": every}}
    with pytest.raises(jobsim.InvalidArgument, match=r"^beat_schedule\['poll'\]\['schedule'\]=.* is not valid: "
                       r"a positive interval: with 0 or less Celery's beat .* back to back"):  # fmt: skip
        jobsim.Simulation(app).start()


@pytest.mark.parametrize("every", [float("nan"), float("inf"), 1e300])
def test_an_interval_no_timedelta_holds_is_named(app, tick, every):
    """Celery's ``maybe_schedule`` raised a bare ``ValueError``/``OverflowError`` from ``timedelta``."""
    app.conf.beat_schedule = {"poll": {"task": "tick", "schedule": every}}
    with pytest.raises(jobsim.InvalidArgument, match=r"^beat_schedule\['poll'\]\['schedule'\]=.* is not valid: "
                       r"a finite number of seconds that a timedelta holds"):  # fmt: skip
        jobsim.Simulation(app).start()


def test_a_short_positive_interval_still_fires(app, tick):
    app.conf.beat_schedule = {"poll": {"task": "tick", "schedule": 0.5}}
    with jobsim.Simulation(app, start="2026-03-28T12:00:00Z") as sim:
        sim.advance("10s")
    assert len(sim.runs("tick")) == 20


def test_a_positive_interval_under_a_microsecond_is_refused_saying_why(app, tick):
    """``timedelta(seconds=1e-07)`` is 0 (a timedelta keeps whole microseconds): Celery's beat floods as with 0,
    and "a positive interval" alone read as nonsense for a positive number."""
    app.conf.beat_schedule = {"poll": {"task": "tick", "schedule": 1e-07}}
    with pytest.raises(jobsim.InvalidArgument, match=r"=1e-07 is not valid: a positive interval.* \(1e-07 s is 0 "
                       r"in a timedelta, which keeps whole microseconds"):  # fmt: skip
        jobsim.Simulation(app).start()
