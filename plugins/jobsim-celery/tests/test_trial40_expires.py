"""``expires`` that has come by the time the worker looks: the task never runs.

Celery 5.7 (``app/amqp.py: as_task_v2`` stamps ``expires`` as send instant + seconds, to the microsecond;
``worker/strategy.py`` on receipt and ``worker/request.py: execute_using_pool`` at the ETA call
``Request.revoked`` -> ``maybe_expire``: ``now > expires``). A real worker's ``now`` always comes after the
instant the message was stamped with, so ``expires=0``, an ``expires`` datetime of the send instant, or
``expires`` equal to the ETA are past when it looks: the task is REVOKED and ``task_revoked`` fires with
``expired=True``. In virtual time the worker looks at that very instant, so the instant itself must count.
"""

from __future__ import annotations

import datetime as dt

import pytest
from celery import signals
from celery.exceptions import TaskRevokedError

import jobsim

START = "2025-03-01T00:00:00Z"
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)


def secs(when: dt.datetime) -> float:
    return (when - T0).total_seconds()


class Seen(list):
    sim = None


@pytest.fixture
def seen():
    """task_revoked (expired, terminated, the virtual instant) and task_prerun, while the test runs."""
    got = Seen()

    def revoked(sender=None, request=None, terminated=None, signum=None, expired=None, **kw):
        got.append(("revoked", request.id, expired, terminated, secs(got.sim.now)))

    def prerun(sender=None, task_id=None, **kw):
        got.append(("prerun", task_id, secs(got.sim.now)))

    signals.task_revoked.connect(revoked, weak=False)
    signals.task_prerun.connect(prerun, weak=False)
    try:
        yield got
    finally:
        signals.task_revoked.disconnect(revoked)
        signals.task_prerun.disconnect(prerun)


@pytest.fixture
def flash(app):
    ran = []

    @app.task(name="flash")
    def flash(tag):
        ran.append(tag)
        return tag

    flash.ran = ran
    return flash


YESTERDAY = T0 - dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("expires", "stamped"),
    [(0, T0), (0.0, T0), (-0.0000001, T0), (0.0000004, T0), (T0, T0), (dt.datetime(2025, 3, 1), T0),
     (YESTERDAY, YESTERDAY), (-5, T0 - dt.timedelta(seconds=5))],
    ids=["zero", "zero-float", "under-a-microsecond-ago", "under-half-a-microsecond", "now", "now-naive-utc",
         "yesterday", "negative"],
)  # fmt: skip
def test_an_expires_reached_when_sent_revokes_the_task_on_receipt(app, flash, seen, expires, stamped):
    with jobsim.Simulation(app, start=START) as sim:
        seen.sim = sim
        result = flash.apply_async(("x",), expires=expires)
        sim.run_until_idle()
        assert flash.ran == [] and result.state == "REVOKED"
        assert seen == [("revoked", result.id, True, False, 0.0)]
        run = sim.runs("flash")[0]
        assert run.status == "cancelled" and run.attempts == []
        assert isinstance(run.error, TaskRevokedError) and str(run.error) == "expired"
        (record,) = [r for r in sim.trace.records if r.kind == "celery.revoked"]
        assert record.data["reason"] == "expired" and record.data["expires"] == round(stamped.timestamp()) * 10**9
        shown = stamped.strftime("%Y-%m-%d %H:%M:%S.000")
        assert f"flash#1 expired: discarded by the worker (REVOKED), its expires {shown} reached" in sim.timeline()


def test_an_expires_a_microsecond_ahead_still_runs(app, flash, seen):
    with jobsim.Simulation(app, start=START) as sim:
        seen.sim = sim
        result = flash.apply_async(("x",), expires=0.000001)
        sim.run_until_idle()
        assert result.get() == "x" and seen == [("prerun", result.id, 0.0)]
        assert "flash#1 sent to queue 'celery', expires 2025-03-01 00:00:00.000" in sim.timeline()


def test_an_expires_at_or_before_the_eta_revokes_the_task_at_the_eta(app, flash, seen):
    """Received in time (no revoke on receipt), then discarded when the ETA comes: ``execute_using_pool``."""
    with jobsim.Simulation(app, start=START) as sim:
        seen.sim = sim
        before = flash.apply_async(("before",), countdown=60, expires=30)
        same = flash.apply_async(("same",), countdown=60, expires=60)
        minute = T0 + dt.timedelta(minutes=1)
        same_dt = flash.apply_async(("same-dt",), eta=minute, expires=minute)
        after = flash.apply_async(("after",), countdown=60, expires=60.000001)
        sim.advance("59s")
        assert seen == [] and [r.state for r in (before, same, same_dt)] == ["PENDING"] * 3
        sim.run_until_idle()
        assert flash.ran == ["after"] and after.get() == "after"
        assert seen == [("revoked", r.id, True, False, 60.0) for r in (before, same, same_dt)] + [
            ("prerun", after.id, 60.0)
        ]
        assert [r.finished_at for r in sim.runs("flash")] == [T0 + dt.timedelta(minutes=1)] * 4
        timeline = sim.timeline()
        sent = "flash#2 sent to queue 'celery', eta 2025-03-01 00:01:00.000, expires 2025-03-01 00:01:00.000"
        assert sent in timeline
        assert "flash#2 expired: discarded by the worker (REVOKED), its expires 2025-03-01 00:01:00.000 reached" in (
            timeline
        )


def test_a_retry_due_when_the_task_expires_is_revoked(app, seen):
    """``self.retry`` resends the message with the request's ``expires`` (an ISO string, unchanged): a retry whose
    countdown reaches it is discarded at its ETA, as a real worker would."""
    tries = []

    @app.task(bind=True, name="flaky", max_retries=5)
    def flaky(self):
        tries.append(self.request.retries)
        raise self.retry(countdown=10)

    with jobsim.Simulation(app, start=START) as sim:
        seen.sim = sim
        result = flaky.apply_async(expires=20)
        sim.run_until_idle()
        assert tries == [0, 1] and result.state == "REVOKED"
        assert seen[-1] == ("revoked", result.id, True, False, 20.0)
