"""A message rejected with ``requeue=True`` (``Reject(requeue=True)`` raised by the task, ``reject_on_worker_lost``)
comes back as its broker gives it back (kombu 5.7):

* Redis: ``QoS.reject`` -> ``restore_by_tag``: pushed back on its queue at once, ``redelivered`` set;
* RabbitMQ: ``basic.reject(requeue=True)``: at once, ``redelivered`` set by the broker;
* SQS: ``virtual.QoS.reject`` -> ``Channel._restore`` -> ``_put`` sees the ``redelivered`` mark and calls
  ``change_message_visibility(VisibilityTimeout=wait_time_seconds)`` (default 10): the stored body is received
  again that long after the reject, without the flag.
"""

from __future__ import annotations

import datetime as dt

import pytest
from celery.exceptions import Reject

import jobsim

START = "2025-03-01T00:00:00Z"
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)


def elapsed():
    """Seconds since START on the wall clock a task body reads (virtual)."""
    return (dt.datetime.now(dt.timezone.utc) - T0).total_seconds()


@pytest.fixture
def sync(app):
    """Rejects its first delivery with requeue=True, then runs."""
    seen = []

    @app.task(name="sync", bind=True, acks_late=True)
    def sync(self):
        seen.append((elapsed(), self.request.delivery_info["redelivered"]))
        if len(seen) == 1:
            raise Reject("busy", requeue=True)
        return "synced"

    sync.seen = seen
    return sync


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "amqp://guest@127.0.0.1//"])
def test_redis_and_rabbitmq_deliver_it_again_at_once_flagged(app, sync, url):
    app.conf.broker_url = url
    with jobsim.Simulation(app, start=START) as sim:
        result = sync.delay()
        sim.run_until_idle()
        assert sync.seen == [(0, False), (0, True)]
        assert result.get() == "synced"
        assert not [r for r in sim.trace.records if r.kind == "celery.redeliver"]


def test_sqs_shows_it_again_after_wait_time_seconds_unflagged(app, sync):
    app.conf.broker_url = "sqs://"
    with jobsim.Simulation(app, start=START) as sim:
        result = sync.delay()
        sim.run_until_idle()
        assert sync.seen == [(0, False), (10, False)]  # kombu's default wait_time_seconds
        assert result.get() == "synced"
        (record,) = [r for r in sim.trace.records if r.kind == "celery.redeliver"]
        assert record.data["why"] == "requeue" and (record.data["due"] - record.at) == 10 * 10**9
        assert ("sync#1 rejected with requeue=True: SQS shows it again at 2025-03-01 00:00:10.000 (kombu hides it "
                "for the transport's wait_time_seconds)") in sim.timeline()  # fmt: skip


@pytest.mark.parametrize("wait", [0, 3, 20])
def test_sqs_wait_time_seconds_comes_from_the_transport_options(app, sync, wait):
    app.conf.broker_url = "sqs://"
    app.conf.broker_transport_options = {"wait_time_seconds": wait}
    with jobsim.Simulation(app, start=START) as sim:
        sync.delay()
        sim.run_until_idle()
    assert sync.seen == [(0, False), (wait, False)]


def test_sqs_reject_on_worker_lost_takes_the_same_path(app):
    app.conf.broker_url = "sqs://"
    seen = []

    @app.task(name="resize", bind=True, acks_late=True, reject_on_worker_lost=True)
    def resize(self):
        seen.append((elapsed(), self.request.delivery_info["redelivered"]))
        return "ok"

    with jobsim.Simulation(app, start=START) as sim:
        sim.celery.crash_worker(function="resize", kind="process")
        resize.delay()
        sim.run_until_idle()
        assert seen == [(0, False), (10, False)] and sim.runs("resize")[0].status == "completed"


@pytest.mark.parametrize("wait", [21, -1, 2.5, "10", True])
def test_a_wait_time_seconds_sqs_refuses_is_refused_by_name(app, wait):
    app.conf.broker_url = "sqs://"
    app.conf.broker_transport_options = {"wait_time_seconds": wait}
    with pytest.raises(jobsim.InvalidArgument, match=r"broker_transport_options\['wait_time_seconds'\].*an int from "
                       r"0 to 20 \(default 10\)\. kombu 5\.7 passes it on unchecked, so a real worker fails only at "
                       r"the AWS call: .*SQS refuses unless it is an integer from 0 to 20 \(the worker's first poll "
                       r"fails\).*boto3 refuses unless it is an int"):  # fmt: skip
        jobsim.Simulation(app, start=START)


def test_a_task_that_requeues_every_delivery_on_sqs_stops_at_the_attempt_budget(app, monkeypatch):
    # each SQS requeue waits wait_time_seconds, so virtual time moves and max_chain never trips: without the
    # attempt budget run_until_idle ground on for 366 simulated days (~3 million deliveries, tens of minutes)
    import jobsim_celery

    monkeypatch.setattr(jobsim_celery, "MAX_ATTEMPTS_PER_RUN", 50)
    app.conf.broker_url = "sqs://"

    @app.task(name="busy", bind=True, acks_late=True)
    def busy(self):
        raise Reject("busy", requeue=True)

    with jobsim.Simulation(app, start=START) as sim:
        busy.delay()
        with pytest.raises(jobsim.BudgetExceeded, match=r"task 'busy' .* after 50 attempts, the last at "
                           r"2025-03-01T00:08:10\.000Z.*Reject\(requeue=True\) on every delivery.*"
                           r"jobsim_celery\.MAX_ATTEMPTS_PER_RUN \(now 50\)"):  # fmt: skip
            sim.run_until_idle(max_time="1d")
