"""``time_limit`` / ``soft_time_limit`` as the default prefork pool enforces them, in virtual time.

billiard's timeout handler (``celery/concurrency/asynpool.py: on_timeout_set``,
``billiard/pool.py: on_soft_timeout/on_hard_timeout``): at the soft limit the pool
process gets ``SIGUSR1`` and ``SoftTimeLimitExceeded`` is raised wherever the body is
(it may catch it and go on); at the hard limit the process is killed, the result is
``TimeLimitExceeded(limit)``, ``Request.on_failure`` and then ``Request.on_timeout``
store FAILURE and each send ``task_failure`` (checked on a real worker by
``test_celery_live_time_limit.py``). Before these were simulated, a task sleeping past
its ``time_limit`` completed with SUCCESS.
"""

from __future__ import annotations

import datetime as dt
import time

from celery import signals
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

import jobsim

START = "2025-03-01T00:00:00Z"
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)


def secs(when: dt.datetime) -> float:
    return (when - T0).total_seconds()


def test_soft_limit_interrupts_the_body_and_the_hard_limit_kills_it(app):
    steps: list[tuple[str, float]] = []
    failures: list[str] = []

    @app.task(name="export", soft_time_limit=3, time_limit=5)
    def export() -> str:
        try:
            time.sleep(10)
        except SoftTimeLimitExceeded:
            steps.append(("soft", time.time() - T0.timestamp()))
            time.sleep(1)
            steps.append(("cleaned", time.time() - T0.timestamp()))
            time.sleep(5)
            steps.append(("never", time.time() - T0.timestamp()))
        return "done"

    def on_failure(sender=None, exception=None, **_):
        if getattr(sender, "name", None) == "export" and sender.app is app:
            failures.append(repr(exception))

    signals.task_failure.connect(on_failure, weak=False)
    try:
        with jobsim.Simulation(app, start=START) as sim:
            result = export.delay()
            sim.run_until_idle()
            run = sim.runs(export)[0]
            assert steps == [("soft", 3.0), ("cleaned", 4.0)]
            assert result.state == "FAILURE" and isinstance(result.result, TimeLimitExceeded)
            assert str(result.result) == "TimeLimitExceeded(5,)"
            assert (run.status, secs(run.finished_at)) == ("failed", 5.0)
            assert isinstance(run.error, TimeLimitExceeded)
            assert failures == ["TimeLimitExceeded(5)", "TimeLimitExceeded(5)"]
    finally:
        signals.task_failure.disconnect(on_failure)


def test_a_body_within_its_limits_is_untouched_and_limits_come_from_apply_async_and_config(app):
    app.conf.task_time_limit = 30

    @app.task(name="work")
    def work(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    with jobsim.Simulation(app, start=START) as sim:
        quick = work.delay(29)
        slow = work.delay(31)  # task_time_limit=30
        tight = work.apply_async((2,), time_limit=1.5)
        sim.run_until_idle()
        assert quick.get() == 29
        assert repr(slow.result) == "TimeLimitExceeded(30)" and repr(tight.result) == "TimeLimitExceeded(1.5)"
        assert [(r.status, secs(r.finished_at)) for r in sim.runs(work)] == [
            ("completed", 29.0), ("failed", 30.0), ("failed", 1.5)]


def test_soft_limit_with_autoretry_and_hard_limit_with_acks_late(app):
    @app.task(name="poll", bind=True, soft_time_limit=2, autoretry_for=(SoftTimeLimitExceeded,), max_retries=1,
              default_retry_delay=10)
    def poll(self) -> None:
        time.sleep(3)

    @app.task(name="late", acks_late=True, time_limit=2)
    def late() -> None:
        time.sleep(3)

    with jobsim.Simulation(app, start=START) as sim:
        polled = poll.delay()
        killed = late.delay()
        sim.run_until_idle()
        run = sim.runs(poll)[0]
        assert [(secs(a.started_at), secs(a.finished_at)) for a in run.attempts] == [(0.0, 2.0), (12.0, 14.0)]
        assert polled.state == "FAILURE" and isinstance(polled.result, SoftTimeLimitExceeded)
        # acks_on_timeout defaults to True: the message is acknowledged, never redelivered
        assert killed.state == "FAILURE" and len(sim.runs(late)[0].attempts) == 1
        assert sim.now == dt.datetime(2025, 3, 1, 0, 0, 14, tzinfo=dt.timezone.utc)


def test_acks_on_timeout_false_requeues_a_killed_acks_late_task(app):
    @app.task(name="stuck", acks_late=True, acks_on_timeout=False, time_limit=2)
    def stuck() -> None:
        time.sleep(3)

    with jobsim.Simulation(app, start=START) as sim:
        stuck.delay()
        sim.advance("5s")  # reject(requeue=True): the broker hands it out again at once, and again
        run = sim.runs(stuck)[0]
        assert [(secs(a.started_at), secs(a.finished_at), repr(a.error)) for a in run.attempts] == [
            (0.0, 2.0, "TimeLimitExceeded(2)"), (2.0, 4.0, "TimeLimitExceeded(2)"), (4.0, 6.0, "TimeLimitExceeded(2)")]
