"""An app a simulation ran refuses to send after the simulation closed (its real broker would get the task), and to
open broker connections or send remote control, until ``jobsim_celery.release``; a new simulation of the same app
still runs."""

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
    assert {"send_task", "_connection", "_acquire_connection"} <= set(vars(app))
    assert {"broadcast", "purge"} <= set(vars(app.control))
    jobsim_celery.release(app)
    assert not {"send_task", "_connection", "_acquire_connection"} & set(vars(app))
    assert not {"broadcast", "purge"} & set(vars(app.control))
    jobsim_celery.release(app)  # twice: nothing left to release
    with pytest.raises(InvalidArgument, match="a Celery app"):
        jobsim_celery.release(charge)


def _charged_in_a_simulation(app):
    """``shop.charge`` (order * 2), sent once in a simulation of ``app`` that has closed since."""

    @app.task(name="shop.charge")
    def charge(order):
        return order * 2

    with jobsim.Simulation(app, start=START) as sim:
        charge.delay(1)
        sim.run_until_idle()
    return charge


CONNECTING = r"connecting to its broker \(app\.connection\(\), .*\)"


@pytest.mark.parametrize(("call", "what"), [
    (lambda app: app.connection_for_write().ensure_connection(max_retries=1), CONNECTING),
    (lambda app: app.connection().ensure_connection(max_retries=1), CONNECTING),
    (lambda app: app.control.inspect(timeout=0.1).ping(), r"remote control \(app\.control\)"),
    (lambda app: app.control.purge(), r"remote control \(app\.control\)"),
])  # fmt: skip
def test_connections_and_remote_control_after_the_close_are_refused_too(app, call, what):
    # refused while the simulation ran (_patches), they reached the real broker once it had closed
    _charged_in_a_simulation(app)
    refused = (rf"^Celery app 'tests' was run by a simulation that has closed .*: {what} would reach its real broker "
               r"\(redis://127\.0\.0\.1:1/0\)\. Do it inside the `with` block; .*jobsim_celery\.release\(app\) first$")
    with socket_connects() as tried, pytest.raises(JobsimError, match=refused):
        call(app)
    assert tried == []


def test_an_eager_app_still_runs_after_the_close_and_a_released_pool_connects_again(app):
    # an eager delay() acquires a producer from app.pool, whose connection is made but never connects
    import jobsim_celery

    charge = _charged_in_a_simulation(app)
    app.conf.task_always_eager = True
    with socket_connects() as tried:
        assert charge.delay(4).get() == 8
    assert tried == []
    jobsim_celery.release(app)
    with app.connection_for_write() as conn, pytest.raises(Exception) as info:
        conn.ensure_connection(max_retries=1)  # released: kombu's own attempt, to the closed port
    assert not isinstance(info.value, JobsimError)
