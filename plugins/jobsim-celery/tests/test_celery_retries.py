"""Retries are Celery's own: ``self.retry`` and ``autoretry_for`` compute the countdown, jobsim only keeps time.

Formula (``celery/utils/time.py: get_exponential_backoff_interval``, called by
``celery/app/autoretry.py``): ``countdown = min(retry_backoff_max, factor * 2**retries)``,
then with ``retry_jitter`` (default True) ``random.randrange(countdown + 1)`` — drawn,
in a simulation, from the retried task's own stream of the seed (``sim.rng_for``).
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from celery.exceptions import MaxRetriesExceededError
from celery.utils.time import get_exponential_backoff_interval

import jobsim

START = "2025-03-01T00:00:00Z"
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)


def offsets(run):
    return [(a.started_at - T0).total_seconds() for a in run.attempts]


def run_flaky(app, seed, with_noise=False, **options):
    @app.task(name="flaky", bind=True, shared=False, **options)
    def flaky(self):
        raise OSError(f"down {self.request.retries}")

    @app.task(name="noisy", bind=True, shared=False, **options)
    def noisy(self):
        raise OSError(f"also down {self.request.retries}")

    with jobsim.Simulation(app, start=START, seed=seed) as sim:
        if with_noise:  # another task retrying with jitter at the same instants
            noisy.delay()
        flaky.delay()
        sim.run_until_idle()
        assert len(sim.runs("noisy")) == with_noise
        return sim.runs("flaky")[0]


def test_backoff_with_full_jitter_is_celerys_formula_on_the_seeded_generator(app):
    run = run_flaky(app, 7, autoretry_for=(OSError,), retry_backoff=3, retry_backoff_max=20, max_retries=5)
    rng, t, expected = random.Random("jobsim:7:flaky"), 0, [0.0]  # the task's own stream of seed 7 (rng_for)
    rng.getrandbits(128)  # its task id, drawn by delay() (a retry keeps it)
    for retries in range(5):
        t += rng.randrange(min(20, 3 * 2**retries) + 1)
        expected.append(float(t))
    assert offsets(run) == expected == [0, 3, 4, 15, 16, 21]  # draws 3, 1, 11, 1, 5 from U{0..3, 6, 12, 20, 20}
    assert [a.number for a in run.attempts] == [0, 1, 2, 3, 4, 5]
    assert run.status == "failed" and isinstance(run.error, OSError) and str(run.error) == "down 5"


def test_another_task_retrying_with_jitter_moves_none_of_this_tasks_draws(app):
    options = {"autoretry_for": (OSError,), "retry_backoff": 3, "retry_backoff_max": 20, "max_retries": 5}
    alone = offsets(run_flaky(app, 7, **options))
    app2 = type(app)("again", broker="redis://127.0.0.1:1/0", set_as_current=False)
    assert offsets(run_flaky(app2, 7, with_noise=True, **options)) == alone == [0, 3, 4, 15, 16, 21]


def test_the_same_seed_gives_the_same_history_and_another_seed_another(app):
    options = {"autoretry_for": (OSError,), "retry_backoff": 2, "max_retries": 6}
    first = offsets(run_flaky(app, 11, **options))
    app2 = type(app)("again", broker="redis://127.0.0.1:1/0", set_as_current=False)
    again = offsets(run_flaky(app2, 11, **options))
    app3 = type(app)("other", broker="redis://127.0.0.1:1/0", set_as_current=False)
    other = offsets(run_flaky(app3, 12, **options))
    assert first == again and first != other


def test_backoff_without_jitter_doubles_up_to_the_cap(app):
    run = run_flaky(app, 0, autoretry_for=(OSError,), retry_backoff=True, retry_jitter=False,
                    retry_backoff_max=5, max_retries=4)  # fmt: skip
    assert offsets(run) == [0, 1, 3, 7, 12]  # delays 1, 2, 4, then min(5, 8)
    assert [get_exponential_backoff_interval(1, n, 5) for n in range(4)] == [1, 2, 4, 5]


def test_autoretry_without_backoff_waits_default_retry_delay(app):
    run = run_flaky(app, 0, autoretry_for=(OSError,), max_retries=2)
    assert offsets(run) == [0, 180, 360]  # Task.default_retry_delay = 3 * 60


def test_retry_kwargs_countdown_and_max_retries(app):
    run = run_flaky(app, 0, autoretry_for=(OSError,), retry_kwargs={"countdown": 5, "max_retries": 1})
    assert offsets(run) == [0, 5]


def test_dont_autoretry_for_fails_at_once(app):
    run = run_flaky(app, 0, autoretry_for=(Exception,), dont_autoretry_for=(OSError,))
    assert offsets(run) == [0] and run.status == "failed"


def test_an_exception_without_autoretry_is_not_retried(app):
    run = run_flaky(app, 0)
    assert offsets(run) == [0] and run.status == "failed"


def test_self_retry_with_countdown_and_exc(app):
    @app.task(name="charge", bind=True, max_retries=2)
    def charge(self, amount):
        try:
            raise ConnectionError("gateway timeout")
        except ConnectionError as exc:
            raise self.retry(countdown=10 * (self.request.retries + 1), exc=exc) from exc

    with jobsim.Simulation(app, start=START) as sim:
        result = charge.delay(42)
        sim.run_until_idle()
        run = sim.runs("charge")[0]
        assert offsets(run) == [0, 10, 30]
        assert run.status == "failed" and isinstance(run.error, ConnectionError)
        assert result.state == "FAILURE"
        assert "retry     charge#1 attempt 2 at 00:00:30 (+20s)" in sim.timeline()


def test_self_retry_without_exc_ends_in_max_retries_exceeded(app):
    @app.task(name="poll", bind=True, max_retries=1, default_retry_delay=30)
    def poll(self):
        raise self.retry()

    with jobsim.Simulation(app, start=START) as sim:
        poll.delay()
        sim.run_until_idle()
        run = sim.runs("poll")[0]
        assert offsets(run) == [0, 30]
        assert isinstance(run.error, MaxRetriesExceededError)


def test_max_retries_none_retries_until_it_succeeds(app):
    @app.task(name="eventually", bind=True, autoretry_for=(OSError,), max_retries=None, default_retry_delay=1)
    def eventually(self):
        if self.request.retries < 25:
            raise OSError("not yet")
        return self.request.retries

    with jobsim.Simulation(app, start=START) as sim:
        eventually.delay()
        sim.run_until_idle()
        run = sim.runs("eventually")[0]
        assert run.status == "completed" and run.output == 25 and len(run.attempts) == 26
        assert offsets(run)[-1] == 25


def test_retry_with_new_arguments_and_eta(app):
    calls = []
    app.conf.broker_transport_options = {"visibility_timeout": 86400}  # no second copy of the 2 h ETA (Redis)

    @app.task(name="step", bind=True)
    def step(self, n):
        calls.append((n, self.request.retries))
        if n < 3:
            raise self.retry(args=(n + 1,), eta=T0 + dt.timedelta(hours=n + 1))
        return n

    with jobsim.Simulation(app, start=START) as sim:
        step.delay(1)
        sim.run_until_idle()
        assert calls == [(1, 0), (2, 1), (3, 2)]
        assert offsets(sim.runs("step")[0]) == [0, 7200, 10800]
        assert sim.runs("step")[0].output == 3


@pytest.mark.parametrize("max_retries", [0, 3])
def test_on_retry_and_on_failure_handlers_run(app, max_retries):
    seen = []

    class Base(app.Task):
        def on_retry(self, exc, task_id, args, kwargs, einfo):
            seen.append(("retry", str(exc)))

        def on_failure(self, exc, task_id, args, kwargs, einfo):
            seen.append(("failure", str(exc)))

    @app.task(name="h", base=Base, autoretry_for=(ValueError,), max_retries=max_retries, default_retry_delay=1)
    def h():
        raise ValueError("bad")

    with jobsim.Simulation(app, start=START) as sim:
        h.delay()
        sim.run_until_idle()
    assert seen == [("retry", "bad")] * max_retries + [("failure", "bad")]
