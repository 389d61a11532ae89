"""A worker that dies mid-task, and what the broker does with its messages (``sim.celery.crash_worker``).

* ``acks_late=False`` (Celery's default): the message was acknowledged when the task
  started, so it is gone — the task never finishes.
* ``acks_late=True``: unacknowledged, so the broker delivers it again — on Redis once
  ``visibility_timeout`` has passed since the worker fetched it (kombu's
  ``restore_visible`` sweep: at worker start, then every 10 x 10 s), on RabbitMQ at once.
  The redelivered message keeps ``retries`` and has ``delivery_info['redelivered']``.
* ``kind="process"``: only the pool process dies; the worker survives and Celery's
  ``Request.on_failure(WorkerLostError)`` decides (``reject_on_worker_lost``,
  ``retry_on_worker_lost``, or FAILURE).
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from celery.exceptions import WorkerLostError

import jobsim
from jobsim import traces

START = "2025-03-01T00:00:00Z"
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)


def offsets(run):
    return [(a.started_at - T0).total_seconds() for a in run.attempts]


@pytest.fixture
def charge(app):
    sent = []

    @app.task(name="charge", bind=True, acks_late=True)
    def charge(self, order):
        sent.append((order, self.request.retries, self.request.delivery_info["redelivered"]))
        return f"charged {order}"

    charge.sent = sent
    return charge


def test_acks_late_on_redis_is_redelivered_after_the_visibility_timeout(app, charge):
    with jobsim.Simulation(app, start=START) as sim:
        sim.celery.crash_worker(function="charge")
        result = charge.delay("o1")
        sim.run_until_idle()
        run = sim.runs("charge")[0]
        # fetched at 0; sweeps at 0, 100, ... 3600 s; restored when strictly older than 3600 s: at 3700 s
        assert offsets(run) == [0, 3700]
        assert isinstance(run.attempts[0].error, WorkerLostError)
        assert run.status == "completed" and result.get() == "charged o1"
        assert charge.sent == [("o1", 0, False), ("o1", 0, True)]  # twice: at-least-once
        assert "crash     the worker died while running charge#1" in sim.timeline()


def test_visibility_timeout_and_sweep_period_come_from_the_transport_options(app, charge):
    app.conf.broker_transport_options = {"visibility_timeout": 45, "unacked_restore_interval": 2,
                                         "unacked_restore_throttle": 5}  # fmt: skip
    with jobsim.Simulation(app, start=START) as sim:
        sim.celery.crash_worker(function="charge")
        charge.apply_async(("o1",), countdown=20)  # fetched at 0, held for its ETA
        sim.run_until_idle()
        assert offsets(sim.runs("charge")[0]) == [20, 50]  # sweeps at 20, 30, 40, 50: first with age > 45 s


def test_rabbitmq_requeues_at_once(app, charge):
    app.conf.broker_url = "amqp://guest@127.0.0.1//"
    with jobsim.Simulation(app, start=START) as sim:
        sim.celery.crash_worker(function="charge")
        charge.delay("o1")
        sim.run_until_idle()
        assert offsets(sim.runs("charge")[0]) == [0, 0]


def test_early_ack_loses_the_task(app):
    @app.task(name="email")
    def email():
        return "sent"

    with jobsim.Simulation(app, start=START) as sim:
        sim.celery.crash_worker(function=email)
        result = email.delay()
        sim.run_until_idle()
        run = sim.runs("email")[0]
        assert len(run.attempts) == 1 and run.status == "failed"
        assert "acknowledged when the task started (acks_late=False)" in str(run.error)
        assert result.state == "PENDING"  # as in Celery: nobody ever reports it


def test_a_crash_at_a_time_returns_every_unacknowledged_message(app, charge):
    app.conf.broker_transport_options = {"visibility_timeout": 300}
    with jobsim.Simulation(app, start=START) as sim:
        charge.apply_async(("early",), countdown=60)
        charge.apply_async(("late",), countdown=600)
        sim.celery.crash_worker(at="2025-03-01T00:02:00Z")  # nothing runs then; both are held for their ETA
        sim.run_until_idle()
        assert [offsets(r) for r in sim.runs("charge")] == [[60], [600]]
        assert [r.status for r in sim.runs("charge")] == ["completed", "completed"]

    with jobsim.Simulation(app, start=START) as sim:
        charge.apply_async(("held",), countdown=600)
        sim.celery.crash_worker(at="2025-03-01T00:02:00Z")
        sim.run_until_idle()
        # fetched at 0 and unacknowledged: restored by the sweep at 120 + 200 s, before its ETA at 600 s
        assert offsets(sim.runs("charge")[0]) == [600]
        assert "unacknowledged: the broker delivers it again at 2025-03-01 00:05:20.000" in sim.timeline()


def test_a_crash_while_a_long_task_sleeps(app):
    @app.task(name="export", acks_late=True)
    def export():
        time.sleep(600)
        return "done"

    app.conf.broker_url = "amqp://"
    with jobsim.Simulation(app, start=START) as sim:
        sim.celery.crash_worker(at="2025-03-01T00:05:00Z")
        export.delay()
        sim.run_until_idle()
        run = sim.runs("export")[0]
        assert [(a.started_at, a.finished_at) for a in run.attempts] == [
            (T0, T0 + dt.timedelta(minutes=5)), (T0 + dt.timedelta(minutes=5), T0 + dt.timedelta(minutes=15))]
        assert run.status == "completed"


def test_process_crash_with_reject_on_worker_lost_requeues(app):
    @app.task(name="resize", acks_late=True, reject_on_worker_lost=True)
    def resize():
        return "ok"

    with jobsim.Simulation(app, start=START) as sim:
        sim.celery.crash_worker(function="resize", kind="process")
        resize.delay()
        sim.run_until_idle()
        assert offsets(sim.runs("resize")[0]) == [0, 0] and sim.runs("resize")[0].status == "completed"


def test_process_crash_with_retry_on_worker_lost_retries_after_default_delay(app):
    @app.task(name="resize", acks_late=True, retry_on_worker_lost=True, default_retry_delay=30)
    def resize():
        return "ok"

    with jobsim.Simulation(app, start=START) as sim:
        sim.celery.crash_worker(function="resize", kind="process")
        resize.delay()
        sim.run_until_idle()
        run = sim.runs("resize")[0]
        assert offsets(run) == [0, 30] and [a.number for a in run.attempts] == [0, 1]


def test_process_crash_without_those_options_fails_the_task(app):
    @app.task(name="resize", acks_late=True)
    def resize():
        return "ok"

    with jobsim.Simulation(app, start=START) as sim:
        sim.celery.crash_worker(function="resize", kind="process")
        result = resize.delay()
        sim.run_until_idle()
        assert sim.runs("resize")[0].status == "failed" and result.state == "FAILURE"
        assert isinstance(sim.runs("resize")[0].error, WorkerLostError)


def test_bad_crash_arguments_are_named(app, charge):
    with jobsim.Simulation(app, start=START) as sim:
        accepted = r"function='nope' is not valid: a task of the simulated app\(s\): 'charge'"
        with pytest.raises(jobsim.InvalidArgument, match=accepted):
            sim.celery.crash_worker(function="nope")
        with pytest.raises(jobsim.InvalidArgument, match=r"kind='host' is not valid"):
            sim.celery.crash_worker(kind="host")
        sim.advance("1h")
        with pytest.raises(jobsim.InvalidArgument, match=r"is in the past"):
            sim.celery.crash_worker(at="2025-03-01T00:00:00Z")


def test_the_core_crash_worker_reaches_the_celery_worker(app, charge):
    """``sim.crash_worker`` (the profiles' fault API) is answered by the plugin's hook."""
    with jobsim.Simulation(app, start=START) as sim:
        sim.crash_worker(function="charge")
        charge.delay("o1")
        sim.run_until_idle()
        assert offsets(sim.runs("charge")[0]) == [0, 3700]
        assert charge.sent == [("o1", 0, False), ("o1", 0, True)]

    with jobsim.Simulation(app, start=START) as sim:
        charge.apply_async(("held",), countdown=600)
        sim.crash_worker(at="2025-03-01T00:02:00Z")  # any function: the Celery worker dies too
        sim.run_until_idle()
        # unacknowledged since its fetch at 0: restored by the first sweep with age > 3600 s (the default)
        assert "unacknowledged: the broker delivers it again at 2025-03-01 01:00:20.000" in sim.timeline()


def test_faults_the_celery_worker_does_not_simulate_are_refused(app, charge):
    with jobsim.Simulation(app, start=START) as sim:
        with pytest.raises(jobsim.errors.UnsupportedFeature, match=r"sim.downtime\(\) is not simulated for celery"):
            sim.downtime("2025-03-01T01:00:00Z", "2025-03-01T02:00:00Z")
        with pytest.raises(jobsim.errors.UnsupportedFeature, match=r"duplicate_delivery\(\).*crash_worker"):
            sim.duplicate_delivery("charge")


@pytest.mark.parametrize("plan", ["sim.celery", "sim"])
def test_a_planned_crash_kills_every_task_running_across_it_and_returns_every_unacked_message(app, plan):
    """``kill -9`` of a worker with two pool processes: both running tasks die at the crash instant,
    and the two messages it had reserved for later (fetched, not started, so unacknowledged) go
    back to Redis too. Before the fix only the first body found the crash: the second ran on to
    its end past the worker's death, and the reserved two ran at 10 s on a worker that was dead."""
    app.conf.update(task_acks_late=True, worker_concurrency=2)

    @app.task(name="render")
    def render(page):
        time.sleep(10)
        return page

    with jobsim.Simulation(app, start=START) as sim:
        results = [render.delay(page) for page in range(4)]
        (sim.celery.crash_worker if plan == "sim.celery" else sim.crash_worker)(at="2025-03-01T00:00:05Z")
        sim.run_until_idle()
        runs = sim.runs("render")
        # fetched at 0 s: the restarted worker's sweeps at 5, 105, ... restore them at 3605 s (age > 3600 s);
        # two pool processes again, so pages 2 and 3 wait for 0 and 1
        assert [offsets(run) for run in runs] == [[0, 3605], [0, 3605], [3615], [3615]]
        assert [(a.finished_at - T0).total_seconds() for a in runs[1].attempts] == [5, 3615]
        assert all(isinstance(run.attempts[0].error, WorkerLostError) for run in runs[:2])
        assert [r.get() for r in results] == [0, 1, 2, 3]


def test_a_planned_crash_with_early_acks_loses_the_running_tasks_but_not_the_reserved_ones(app):
    app.conf.update(worker_concurrency=2)

    @app.task(name="render")
    def render(page):
        time.sleep(10)
        return page

    with jobsim.Simulation(app, start=START) as sim:
        results = [render.delay(page) for page in range(4)]
        sim.celery.crash_worker(at="2025-03-01T00:00:05Z")
        sim.run_until_idle()
        runs = sim.runs("render")
        assert [run.status for run in runs] == ["failed", "failed", "completed", "completed"]
        assert [run.finished_at for run in runs[:2]] == [T0 + dt.timedelta(seconds=5)] * 2
        assert [offsets(run) for run in runs[2:]] == [[3605], [3605]]  # acked only as they start
        assert [r.state for r in results] == ["PENDING", "PENDING", "SUCCESS", "SUCCESS"]


def two_ten_second_tasks(app):
    """``charge`` and ``render``, 10 s each, on a worker of two processes that acks late."""
    app.conf.update(task_acks_late=True, worker_concurrency=2)

    @app.task(name="charge")
    def charge():
        time.sleep(10)

    @app.task(name="render")
    def render():
        time.sleep(10)

    return charge, render


def test_a_crash_found_by_a_task_kills_the_other_tasks_running_across_it_too(app):
    """``crash_worker(function="charge", at=5 s)``: charge's body finds the crash at 5 s. The task that
    started after it, also running at 5 s on the same worker, ran on to its end (the plan was spent);
    now the crash becomes one at 5 s for the whole worker, as a planned instant is."""
    charge, render = two_ten_second_tasks(app)

    with jobsim.Simulation(app, start=START) as sim:
        sim.celery.crash_worker(function="charge", at="2025-03-01T00:00:05Z")
        charge.delay()
        render.delay()
        sim.run_until_idle()
        assert [offsets(run) for run in sim.runs("charge") + sim.runs("render")] == [[0, 3605], [0, 3605]]
        assert isinstance(sim.runs("render")[0].attempts[0].error, WorkerLostError)


def test_a_crash_found_after_another_task_ran_across_it_is_refused_not_ignored(app):
    charge, render = two_ten_second_tasks(app)

    with jobsim.Simulation(app, start=START) as sim:
        sim.celery.crash_worker(function="charge", at="2025-03-01T00:00:05Z")
        render.delay()  # its body runs first, to 10 s, before charge's finds the crash at 5 s
        charge.delay()
        with pytest.raises(jobsim.UnsupportedFeature, match=r"function='charge' comes at 2025-03-01T00:00:05\.000Z, "
                           r"but render .* ran across that instant.*crash_worker\(at='2025-03-01T00:00:05\.000Z'\) "
                           r"without function="):
            sim.run_until_idle()


def test_a_trace_with_a_redelivery_saves_and_reads_back(app, charge, tmp_path):
    """The ``celery.redeliver`` record named its instant ``at``, the field every trace line has itself:
    ``sim.trace.save`` (and ``--jobsim-trace-dir``) refused any simulation where a crash returned a message."""
    app.conf.broker_url = "amqp://guest@127.0.0.1//"
    with jobsim.Simulation(app, start=START) as sim:
        sim.celery.crash_worker(function="charge")
        charge.delay("o1")
        sim.run_until_idle()
    path = sim.trace.save(tmp_path / "crash.jobsim.jsonl")
    (redelivered,) = [r for r in traces.iter_records(path) if r.kind == "celery.redeliver"]
    assert redelivered.data["due"] == sim.runs("charge")[0].attempts[1].start_ns
    assert "the broker delivers it again at 2025-03-01 00:00:00.000" in sim.timeline()
