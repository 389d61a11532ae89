"""An app a simulation ran refuses to send after the simulation closed (its real broker would get the task), until
``jobsim_celery.release``; a new simulation of the same app still runs."""

from __future__ import annotations

import pytest

import jobsim
from jobsim.errors import InvalidArgument, JobsimError
from jobsim.testing import socket_connects

START = "2025-03-01T00:00:00Z"


def test_delay_after_the_close_is_refused_naming_the_simulation(app):
    @app.task(name="shop.charge")
    def charge(order):
        return order

    with jobsim.Simulation(app, start=START) as sim:
        charge.delay(1)
        sim.run_until_idle()
    line = test_delay_after_the_close_is_refused_naming_the_simulation.__code__.co_firstlineno + 5
    message = (r"^Celery app 'tests' was run by a simulation that has closed \(<Simulation .* closed>, started at "
               rf".*test_celery_after_close\.py:{line} in test_delay_after_the_close_is_refused_naming_the_"
               r"simulation\): sending task 'shop\.charge' would reach its real broker \(redis://127\.0\.0\.1:1/0\)\. "
               r"Send it inside the `with` block; to use this app with its real broker after the simulation, call "
               r"jobsim_celery\.release\(app\) first$")  # fmt: skip
    with socket_connects() as tried:
        with pytest.raises(JobsimError, match=message):
            charge.delay(2)
        with pytest.raises(JobsimError, match=r"sending task 'shop\.refund'"):
            app.send_task("shop.refund", (1,))
    assert tried == []


def test_a_new_simulation_of_the_app_runs_and_release_gives_it_back(app):
    import jobsim_celery

    @app.task(name="shop.charge")
    def charge(order):
        return order * 2

    for n in range(2):
        with jobsim.Simulation(app, start=START) as sim:
            result = charge.delay(n)
            sim.run_until_idle()
            assert result.get() == n * 2
    assert "send_task" in vars(app)
    jobsim_celery.release(app)
    assert "send_task" not in vars(app)
    jobsim_celery.release(app)  # twice: nothing left to release
    with pytest.raises(InvalidArgument, match="a Celery app"):
        jobsim_celery.release(charge)
