"""Routing by exchange and routing key: the broker delivers to the queue bound to them, as kombu's exchanges do."""

from __future__ import annotations

import re

import pytest
from jobsim_celery import CeleryTarget
from kombu import Exchange, Queue

import jobsim

START = "2025-03-01T00:00:00Z"


def media_app(app, kind, *bindings):
    media = Exchange("media", type=kind)
    app.conf.task_queues = [Queue("celery"), *(Queue(name, media, routing_key=key) for name, key in bindings)]

    @app.task(name="encode", bind=True)
    def encode(self):
        return self.request.delivery_info["routing_key"]

    return encode


def test_a_route_by_exchange_and_routing_key_reaches_the_bound_queue(app):
    """``task_routes`` giving ``exchange``/``routing_key`` (Celery's "Routing Tasks" guide): the message went to
    the default queue, so a worker reading only the bound queue never ran it, where a real one does."""
    encode = media_app(app, "direct", ("videos", "media.video"), ("images", "media.image"))
    app.conf.task_routes = {"encode": {"exchange": "media", "routing_key": "media.video"}}
    with jobsim.Simulation(CeleryTarget(app, queues=["videos"]), start=START) as sim:
        result = encode.delay()
        image = encode.apply_async(exchange="media", routing_key="media.image")
        sim.leave_unread("images")  # unread on purpose (no UnreadQueueWarning)
        sim.run_until_idle()
        assert result.get() == "media.video"
        assert image.state == "PENDING" and [held.queue for held in sim.celery.unconsumed] == ["images"]


def test_a_topic_exchange_matches_its_binding_patterns(app):
    encode = media_app(app, "topic", ("videos", "media.video.#"), ("hd", "*.hd"))
    with jobsim.Simulation(CeleryTarget(app, queues=["videos"]), start=START) as sim:
        result = encode.apply_async(exchange="media", routing_key="media.video.4k")
        sim.run_until_idle()
        assert result.get() == "media.video.4k"


def test_a_routing_key_no_queue_is_bound_to_is_refused_as_an_undelivered_message(app):
    encode = media_app(app, "direct", ("videos", "media.video"))
    with jobsim.Simulation(app, start=START), pytest.raises(jobsim.InvalidArgument, match=re.escape(
            "task 'encode' was sent to exchange 'media' with routing key 'media.audio', and no queue of the app is "
            "bound to them (app.conf.task_queues: ['celery', 'videos']): the broker would deliver it to no queue a "
            "worker reads (RabbitMQ drops it, kombu's Redis transport parks it in 'ae.undeliver')")):
        encode.apply_async(exchange="media", routing_key="media.audio")


def test_a_message_the_broker_would_copy_to_several_queues_is_refused(app):
    encode = media_app(app, "fanout", ("videos", ""), ("archive", ""))
    with jobsim.Simulation(app, start=START), pytest.raises(jobsim.UnsupportedFeature, match=re.escape(
            "which the broker copies to 2 queues (['archive', 'videos']): a worker on each would run the task")):
        encode.apply_async(exchange="media", routing_key="any")


def test_the_routing_guide_s_topic_setup_delivers_by_routing_key(app):
    """Celery's "Routing Tasks" guide: a default topic exchange, queues bound by pattern, routes giving a key."""
    app.conf.update(
        task_default_queue="default", task_default_exchange="tasks", task_default_exchange_type="topic",
        task_default_routing_key="task.default",
        task_queues=[Queue("default", routing_key="task.#"), Queue("feed_tasks", routing_key="feed.#")],
        task_routes={"import_feed": {"queue": "feed_tasks", "routing_key": "feed.import"}},
    )  # fmt: skip

    @app.task(name="import_feed", bind=True)
    def import_feed(self):
        return self.request.delivery_info

    @app.task(name="housekeeping", bind=True)
    def housekeeping(self):
        return self.request.delivery_info

    with jobsim.Simulation(CeleryTarget(app, queues=["feed_tasks"]), start=START) as sim:
        feed, other = import_feed.delay(), housekeeping.delay()
        sim.leave_unread("default")  # unread on purpose (no UnreadQueueWarning)
        sim.run_until_idle()
        assert feed.get()["exchange"] == "tasks" and feed.get()["routing_key"] == "feed.import"
        assert other.state == "PENDING" and [held.queue for held in sim.celery.unconsumed] == ["default"]


def test_a_worker_without_queues_reads_what_celery_worker_without_q_reads(app):
    """``celery worker`` with no ``-Q`` consumes ``app.amqp.queues`` as the worker process builds it: the declared
    ``task_queues``, else ``task_default_queue`` alone; a queue a route names is declared by the sender
    (``task_create_missing_queues``) but not consumed (``Queues._default_consume_from``, celery/app/amqp.py)."""
    app.conf.task_routes = {"report": {"queue": "reports"}}

    @app.task(name="report")
    def report():
        return 1

    @app.task(name="ping")
    def ping():
        return 2

    with jobsim.Simulation(app, start=START) as sim:
        routed, default = report.delay(), ping.delay()
        sim.leave_unread("reports")
        sim.run_until_idle()
        assert routed.state == "PENDING" and default.get() == 2
        assert [held.queue for held in sim.celery.unconsumed] == ["reports"]
    app.conf.task_queues = [Queue("celery"), Queue("reports")]
    with jobsim.Simulation(app, start=START) as sim:
        routed = report.delay()
        sim.run_until_idle()
        assert routed.get() == 1 and sim.celery.unconsumed == []


def test_queues_added_at_worker_start_and_the_direct_queue_are_read(app):
    """``worker_direct`` adds ``<node>.dq2`` (worker/worker.py: setup_queues); a ``celeryd_after_setup`` handler's
    ``select_add`` adds its queue, even with ``-Q``; the test process's own ``app.amqp.queues`` is not touched."""
    from celery import signals
    from celery.utils.nodenames import worker_direct

    app.conf.worker_direct = True

    @app.task(name="job")
    def job():
        return 3

    def add_queue(sender, instance, **kwargs):
        instance.app.amqp.queues.select_add("hipri")

    signals.celeryd_after_setup.connect(add_queue)
    try:
        own = app.amqp.queues
        with jobsim.Simulation(CeleryTarget(app, queues=["celery"], hostname="w1@box"), start=START) as sim:
            results = [job.apply_async(queue=q) for q in ("hipri", worker_direct("w1@box").name, "other")]
            sim.leave_unread("other")
            sim.run_until_idle()
            assert [r.state for r in results] == ["SUCCESS", "SUCCESS", "PENDING"]
        assert app.amqp.queues is own and "hipri" not in own.consume_from
    finally:
        signals.celeryd_after_setup.disconnect(add_queue)


def test_a_q_queue_the_app_cannot_create_is_refused_as_the_worker_refuses_to_start(app):
    app.conf.update(task_create_missing_queues=False, task_queues=[Queue("celery")])
    refused = re.escape("CeleryTarget(queues=['videos']): queue 'videos' is not in app.conf.task_queues (['celery']) "
                        "and task_create_missing_queues is False, so `celery worker -Q` would not start")
    with pytest.raises(jobsim.InvalidArgument, match=refused), jobsim.Simulation(
            CeleryTarget(app, queues=["videos"]), start=START):  # fmt: skip
        pass
    with jobsim.Simulation(app, start=START) as sim:  # nothing of the refused one is left behind
        assert sim.celery.unconsumed == []
