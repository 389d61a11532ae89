"""``revoke(terminate=True)`` of a task whose body is running in virtual time.

Celery 5.7, prefork pool (``worker/control.py: _revoke``, ``worker/request.py:
Request.terminate`` / ``_announce_revoked`` / ``on_failure``): the worker kills the
pool process running the task with the signal (SIGTERM by default), stores REVOKED
with ``TaskRevokedError('terminated')``, acknowledges the message — so it is never
redelivered, whatever ``acks_late`` / ``reject_on_worker_lost`` say — and sends
``task_revoked(terminated=True, signum=15, expired=False)``. No ``task_postrun``,
``task_failure``, retry or errback follows: the process is gone.

A body runs to its end in one go in jobsim, so the kill must be known when the body
starts: a revoke sent from another task's body (at that body's virtual instant), a task
revoking itself, or ``sim.celery.revoke(..., at=...)`` planned by the test. A revoke
that comes after the body already ran past its instant is refused (``UnsupportedFeature``).
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from celery import signals
from celery.exceptions import TaskRevokedError

import jobsim
from jobsim.errors import InvalidArgument, UnsupportedFeature

START = "2025-03-01T00:00:00Z"
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def secs(when: dt.datetime) -> float:
    return (when - T0).total_seconds()


class Seen(list):
    sim = None


@pytest.fixture
def seen():
    """Every task_revoked / task_postrun / task_failure sent while the test runs, with the virtual instant."""
    got = Seen()

    def revoked(sender=None, request=None, terminated=None, signum=None, expired=None, **kw):
        got.append(("revoked", request.id, terminated, signum, expired, secs(got.sim.now)))

    def postrun(sender=None, task_id=None, state=None, **kw):
        got.append(("postrun", task_id, state))

    def failure(sender=None, task_id=None, exception=None, **kw):
        got.append(("failure", task_id, repr(exception)))

    signals.task_revoked.connect(revoked, weak=False)
    signals.task_postrun.connect(postrun, weak=False)
    signals.task_failure.connect(failure, weak=False)
    yield got
    signals.task_revoked.disconnect(revoked)
    signals.task_postrun.disconnect(postrun)
    signals.task_failure.disconnect(failure)


@pytest.fixture
def export(app):
    """A 30 s job in three steps; ``export.done`` lists the steps that ran."""
    done: list[str] = []

    @app.task(name="export", acks_late=True, reject_on_worker_lost=True, retry_on_worker_lost=True, max_retries=3)
    def export():
        done.append("fetch")
        time.sleep(3)
        done.append("render")
        time.sleep(27)
        done.append("upload")
        return "exported"

    export.done = done
    return export


def test_a_task_revoked_with_terminate_from_another_task_stops_at_that_instant(app, export, seen):
    @app.task(name="watchdog")
    def watchdog(task_id):
        time.sleep(10)
        app.AsyncResult(task_id).revoke(terminate=True)

    with jobsim.Simulation(app, start=START) as sim:
        seen.sim = sim
        result = export.apply_async(countdown=5)
        watchdog.delay(result.id)
        sim.advance("9s")
        assert result.state == "PENDING"  # running: nothing stored yet
        sim.run_until_idle()

        assert export.done == ["fetch", "render"]  # killed during the 27 s sleep, at 10 s
        assert result.state == "REVOKED"
        assert isinstance(result.result, TaskRevokedError) and str(result.result) == "terminated"
        run = sim.runs("export")[0]
        assert run.status == "cancelled" and run.finished_at == at(10)
        assert isinstance(run.error, TaskRevokedError) and str(run.error) == "terminated"
        assert [(secs(a.started_at), secs(a.finished_at)) for a in run.attempts] == [(5, 10)]
        # acked by _announce_revoked: no redelivery, no retry, in spite of acks_late and *_on_worker_lost
        assert [r.kind for r in sim.trace if r.kind.startswith("celery.re")] == ["celery.revoke", "celery.revoked"]
        assert ("revoked", result.id, True, 15, False, 10.0) in seen
        assert not [s for s in seen if s[0] in ("postrun", "failure") and s[1] == result.id]
        timeline = sim.timeline()
        assert f"revoke export[{result.id}] terminate=SIGTERM" in timeline
        assert "export#1 terminated: its pool process was killed with SIGTERM (REVOKED)" in timeline


def test_planned_revoke_kills_at_its_instant_and_frees_the_pool_slot(app, export, seen):
    from jobsim_celery import CeleryTarget

    @app.task(name="next_job")
    def next_job():
        return "ran"

    with jobsim.Simulation(CeleryTarget(app, concurrency=1), start=START) as sim:
        seen.sim = sim
        result = export.delay()
        waiting = next_job.delay()
        sim.celery.revoke(result, at=at(12), terminate=True, signal="KILL")
        sim.run_until_idle()
        assert export.done == ["fetch", "render"]
        assert result.state == "REVOKED" and sim.runs("export")[0].finished_at == at(12)
        assert ("revoked", result.id, True, 9, False, 12.0) in seen
        assert sim.runs("next_job")[0].attempts[0].started_at == at(12)  # the one pool process is free at 12 s
        assert waiting.get() == "ran"


def test_a_task_that_revokes_itself_stops_when_it_next_spends_time(app, seen):
    steps = []

    @app.task(name="selfish", bind=True)
    def selfish(self):
        time.sleep(5)
        steps.append("before")
        self.app.control.revoke(self.request.id, terminate=True, signal="SIGTERM")
        steps.append("same instant")
        time.sleep(5)
        steps.append("after")

    with jobsim.Simulation(app, start=START) as sim:
        seen.sim = sim
        result = selfish.delay()
        sim.run_until_idle()
        assert steps == ["before", "same instant"]
        assert result.state == "REVOKED" and sim.runs("selfish")[0].finished_at == at(5)
        assert ("revoked", result.id, True, 15, False, 5.0) in seen


def test_a_body_that_ends_before_the_revoke_arrives_completes(app, export):
    @app.task(name="late_watchdog")
    def late_watchdog(task_id):
        time.sleep(31)
        app.AsyncResult(task_id).revoke(terminate=True)

    with jobsim.Simulation(app, start=START) as sim:
        result = export.delay()
        late_watchdog.apply_async((result.id,), countdown=0)
        sim.run_until_idle()
        assert export.done == ["fetch", "render", "upload"]
        assert result.get() == "exported" and result.state == "SUCCESS"  # a result is not overwritten


def test_terminate_before_the_task_starts_is_a_plain_revoke(app, export, seen):
    with jobsim.Simulation(app, start=START) as sim:
        seen.sim = sim
        result = export.apply_async(countdown=60)
        sim.advance("10s")
        result.revoke(terminate=True)
        assert result.state == "REVOKED"  # Celery 5.7's _revoke marks a PENDING task at once
        sim.run_until_idle()
        assert export.done == [] and sim.runs("export")[0].attempts == []
        assert ("revoked", result.id, False, None, False, 60.0) in seen  # discarded when its ETA came


def test_a_revoke_after_the_body_already_ran_past_it_is_refused(app, export):
    with jobsim.Simulation(app, start=START) as sim:
        result = export.delay()
        sim.advance("10s")  # the body ran from 0 to 30 s when it started
        with pytest.raises(UnsupportedFeature, match=r"running since 2025-03-01T00:00:00.*sim\.celery\.revoke"):
            result.revoke(terminate=True)
        with pytest.raises(UnsupportedFeature):
            sim.celery.revoke(result, terminate=True)
        sim.celery.revoke(result, at=at(31), terminate=True)  # after its end: nothing to kill
        sim.run_until_idle()
        assert result.get() == "exported"


def test_a_task_that_revokes_one_already_run_stops_the_simulation(app, export):
    @app.task(name="watchdog")
    def watchdog(task_id):
        time.sleep(10)
        app.AsyncResult(task_id).revoke(terminate=True)

    with jobsim.Simulation(app, start=START) as sim:
        result = export.delay()
        watchdog.apply_async((result.id,), countdown=1)  # starts after export's body ran (0..30 s)
        with pytest.raises(UnsupportedFeature, match="has been running since"):
            sim.run_until_idle()


@pytest.mark.parametrize(
    ("signal", "error", "match"),
    [
        ("SIGUSR1", UnsupportedFeature, "SoftTimeLimitExceeded"),
        ("INT", UnsupportedFeature, "ignores SIGINT"),
        ("SIGCHLD", UnsupportedFeature, "does not end a pool process"),
        ("term", InvalidArgument, "uppercase signal name"),
        ("SIGBOGUS", InvalidArgument, "signal='SIGBOGUS'"),
        (1.5, InvalidArgument, "signal=1.5"),
    ],
)
def test_signals_a_pool_process_does_not_die_of_are_refused(app, export, signal, error, match):
    with jobsim.Simulation(app, start=START) as sim:
        result = export.apply_async(countdown=5)
        with pytest.raises(error, match=match):
            result.revoke(terminate=True, signal=signal)
        with pytest.raises(error, match=match):
            sim.celery.revoke(result, at=at(10), terminate=True, signal=signal)


def test_planned_revoke_arguments_are_checked(app, export):
    with jobsim.Simulation(app, start=START) as sim:
        sim.advance("10s")
        with pytest.raises(InvalidArgument, match="in the past"):
            sim.celery.revoke("some-id", at=at(5), terminate=True)
        with pytest.raises(InvalidArgument, match="terminate"):
            sim.celery.revoke("some-id", at=at(15), terminate="yes")
        with pytest.raises(InvalidArgument, match="task_id"):
            sim.celery.revoke(42, at=at(15))


def test_terminate_between_retries_revokes_the_waiting_retry(app, seen):
    calls = []

    @app.task(name="poll", bind=True, max_retries=5)
    def poll(self):
        calls.append(self.request.retries)
        raise self.retry(countdown=60)

    with jobsim.Simulation(app, start=START) as sim:
        seen.sim = sim
        result = poll.delay()
        sim.advance("30s")
        assert result.state == "RETRY"
        result.revoke(terminate=True)  # nothing runs: the retry message waits for its ETA
        assert result.state == "REVOKED"
        sim.run_until_idle()
        assert calls == [0]
        run = sim.runs("poll")[0]
        assert run.status == "cancelled" and run.finished_at == at(60)  # discarded when its ETA came
        assert ("revoked", result.id, False, None, False, 60.0) in seen
