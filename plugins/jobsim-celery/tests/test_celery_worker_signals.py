"""The signals a worker and beat send as they start and stop: sent when a simulation starts and closes."""

from __future__ import annotations

import datetime as dt

from celery import signals
from jobsim_celery import CeleryTarget

import jobsim

START = "2025-03-01T00:00:00Z"
NAMES = ("celeryd_init", "worker_init", "celeryd_after_setup", "worker_before_create_process", "worker_process_init",
         "worker_ready", "beat_init", "worker_process_shutdown", "worker_shutdown")  # fmt: skip


def listen(seen):
    """Connect a recorder to each signal; returns the disconnecting function."""
    receivers = []
    for name in NAMES:
        def receiver(sender=None, name=name, **kwargs):
            seen.append((name, sender if isinstance(sender, str) else (repr(sender), sender.hostname)))

        getattr(signals, name).connect(receiver, weak=False)
        receivers.append((name, receiver))

    def disconnect():
        for name, receiver in receivers:
            getattr(signals, name).disconnect(receiver)

    return disconnect


def test_a_worker_process_s_setup_runs_before_its_tasks_as_on_a_worker(app):
    """A resource made in ``worker_process_init`` (a database engine, a client) is there for the tasks: jobsim
    sent no worker signal, so such a task failed in the simulation and worked in production."""
    pool = {}

    def connect(**kwargs):
        pool["db"] = "connected"

    signals.worker_process_init.connect(connect, weak=False)

    @app.task(name="query")
    def query():
        return pool["db"]

    try:
        with jobsim.Simulation(app, start=START) as sim:
            result = query.delay()
            sim.run_until_idle()
            assert result.get() == "connected"
    finally:
        signals.worker_process_init.disconnect(connect)


def test_start_and_stop_signals_come_in_a_real_worker_s_order_naming_the_worker(app):
    app.conf.beat_schedule = {"tick": {"task": "tick", "schedule": dt.timedelta(hours=1)}}

    @app.task(name="tick")
    def tick():
        return None

    seen = []
    disconnect = listen(seen)
    try:
        with jobsim.Simulation(CeleryTarget(app, hostname="w1@box"), start=START) as sim:
            assert [name for name, _ in seen] == list(NAMES[:7])
            sim.advance("1h")
        worker = ("<simulated celery worker w1@box>", "w1@box")
        assert seen == [
            ("celeryd_init", "w1@box"), ("worker_init", worker), ("celeryd_after_setup", "w1@box"),
            ("worker_before_create_process", ("<simulated celery pool w1@box>", "w1@box")),
            ("worker_process_init", "w1@box"), ("worker_ready", ("<simulated celery consumer w1@box>", "w1@box")),
            ("beat_init", ("<simulated celery beat w1@box>", "w1@box")), ("worker_process_shutdown", "w1@box"),
            ("worker_shutdown", worker),
        ]  # fmt: skip
        seen.clear()
        with jobsim.Simulation(CeleryTarget(app, beat=False), start=START):
            pass
        assert "beat_init" not in [name for name, _ in seen] and len(seen) == 8
    finally:
        disconnect()
