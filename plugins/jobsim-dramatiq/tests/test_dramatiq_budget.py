"""An actor that retries forever stops the simulation with a clear budget error, never a hang."""

from __future__ import annotations

import logging

import dramatiq
import jobsim_dramatiq
import pytest

import jobsim


@pytest.fixture(autouse=True)
def _quiet():
    logging.disable(logging.CRITICAL)  # Dramatiq logs every failure with its traceback, as a worker does
    yield
    logging.disable(logging.NOTSET)


@pytest.mark.parametrize("max_retries", [None, 10**9])
def test_retrying_forever_stops_at_the_attempt_budget(broker, monkeypatch, max_retries):
    monkeypatch.setattr(jobsim_dramatiq, "MAX_ATTEMPTS_PER_RUN", 50)

    @dramatiq.actor(max_retries=max_retries, min_backoff=1000, max_backoff=1000)
    def poll():
        raise ConnectionError("not yet")

    with jobsim.Simulation(broker, start="2025-03-01T00:00:00Z", seed=1) as sim:
        poll.send()
        with pytest.raises(jobsim.BudgetExceeded) as info:
            sim.run_until_idle()
        said = str(info.value)
        assert said.startswith("actor 'poll' (id ") and "retry after 50 attempts, the last at 2025-03-01T00:" in said
        assert "; an actor that retries forever (max_retries=None, or a huge max_retries) never lets" in said
        assert " a actor " not in said
        assert "raise jobsim_dramatiq.MAX_ATTEMPTS_PER_RUN (now 50)" in said
        assert len(sim.runs("poll")[0].attempts) == 50


def test_a_run_that_ends_within_the_budget_is_not_stopped(broker, monkeypatch):
    monkeypatch.setattr(jobsim_dramatiq, "MAX_ATTEMPTS_PER_RUN", 3)

    @dramatiq.actor(max_retries=2, min_backoff=1000, max_backoff=1000)
    def poll():
        raise ConnectionError("not yet")

    with jobsim.Simulation(broker, start="2025-03-01T00:00:00Z", seed=1) as sim:
        poll.send()
        sim.run_until_idle()
        (run,) = sim.runs("poll")
        assert run.status == "failed" and len(run.attempts) == 3


def test_the_budget_is_10_000_attempts():
    assert jobsim_dramatiq.MAX_ATTEMPTS_PER_RUN == 10_000


def test_run_until_idle_past_max_time_names_the_delayed_actor(broker):
    """A delayed message (or a retry) waiting past ``max_time`` is named by its actor, as an RQ job is by its
    function; the list said only ``dramatiq default.DQ``, leaving the test to guess which message it was."""

    @dramatiq.actor(broker=broker)
    def remind(order):
        return order

    with jobsim.Simulation(broker, start="2025-03-01T00:00:00Z") as sim:
        remind.send_with_options(args=("o-1",), delay=2 * 3_600_000)
        with pytest.raises(jobsim.BudgetExceeded) as info:
            sim.run_until_idle(max_time="1h")
        assert "  remind (dramatiq message delayed on default.DQ): next at 2025-03-01T02:00:00.000Z" in str(info.value)
        sim.run_until_idle()
        assert [run.status for run in sim.runs(remind)] == ["completed"]


def test_an_actor_named_with_its_module_is_told_the_id_meant(broker):
    """A Dramatiq run is named by its actor's name, without the module RQ and Celery put in front: the error for
    ``sim.runs("jobs.remind")`` said "dramatiq functions are only known once user code has used them ...; do that
    first", though the actor had run. It names the id meant now."""

    @dramatiq.actor(broker=broker)
    def remind(order):
        return order

    with jobsim.Simulation(broker, start="2025-03-01T00:00:00Z") as sim:
        remind.send("o-1")
        sim.run_until_idle()
        with pytest.raises(jobsim.InvalidArgument) as info:
            sim.runs("jobs.remind")
        assert str(info.value) == ("function_id='jobs.remind' is not valid: did you mean 'remind'? (dramatiq names a "
                                   "function by its actor's name); the simulated function ids: 'remind'")
