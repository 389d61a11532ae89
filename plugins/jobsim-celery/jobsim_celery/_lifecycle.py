"""The signals a worker (and beat) sends as it starts and stops, sent when a simulation starts and closes.

Code that prepares a worker process connects to them — a database engine created in
``worker_process_init``, queues added in ``celeryd_after_setup``, instrumentation in
``worker_init`` — and the tasks depend on it. A real ``celery worker`` sends, in this
order (Celery 5.7): ``celeryd_init`` (``apps/worker.py: on_before_init``),
``worker_init`` (``worker/worker.py: setup_instance``), ``celeryd_after_setup``
(``apps/worker.py: on_start``), ``worker_before_create_process`` in the worker before
it forks a pool process (``concurrency/asynpool.py``), ``worker_process_init`` in each pool process
(``concurrency/prefork.py: process_initializer``; the solo pool sends it too) and
``worker_ready`` (``apps/worker.py: on_consumer_ready``); ``beat_init`` as beat starts
(``beat.py: Service.start``); ``worker_process_shutdown`` and ``worker_shutdown`` as
they stop. The simulated worker is one process, so each is sent once per simulation.

Their ``sender`` is the worker's node name where Celery sends that, else a stand-in
for the worker (``WorkController``), its consumer or beat's ``Service`` with the
attributes handlers read: ``app`` and ``hostname``. As in Celery, a handler that raises
is logged by the signal (``celery.utils.dispatch``) and the others still run.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from celery import signals

if TYPE_CHECKING:
    from ._world import AppRuntime


class SimulatedWorker:
    """The ``sender`` of ``worker_init``, ``worker_before_create_process``, ``worker_ready``, ``worker_shutdown``
    and ``beat_init``."""

    def __init__(self, app: Any, hostname: str, role: str) -> None:
        self.app = app
        self.hostname = hostname
        self.role = role
        self.controller = self  # a consumer's ``controller`` is its worker

    def __repr__(self) -> str:
        return f"<simulated celery {self.role} {self.hostname}>"


def started(rt: AppRuntime, beat: bool) -> None:
    """The worker (and beat, if it runs) started: every start-up signal, in a real worker's order."""
    app, hostname = rt.app, rt.hostname
    worker = SimulatedWorker(app, hostname, "worker")
    signals.celeryd_init.send(sender=hostname, instance=worker, conf=app.conf, options={})
    signals.worker_init.send(sender=worker)
    signals.celeryd_after_setup.send(sender=hostname, instance=worker, conf=app.conf)
    signals.worker_before_create_process.send(sender=SimulatedWorker(app, hostname, "pool"))
    signals.worker_process_init.send(sender=hostname)
    signals.worker_ready.send(sender=SimulatedWorker(app, hostname, "consumer"))
    if beat:
        signals.beat_init.send(sender=SimulatedWorker(app, hostname, "beat"))


def stopping(rt: AppRuntime) -> None:
    """The simulation closes: the pool process, then the worker, shut down."""
    signals.worker_process_shutdown.send(sender=rt.hostname, pid=os.getpid(), exitcode=0)
    signals.worker_shutdown.send(sender=SimulatedWorker(rt.app, rt.hostname, "worker"))
