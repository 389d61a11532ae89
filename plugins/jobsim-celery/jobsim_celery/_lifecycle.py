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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celery import signals

from jobsim.errors import InvalidArgument

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


def started(rt: AppRuntime, beat: bool) -> frozenset[str]:
    """The worker (and beat, if it runs) started: every start-up signal, in a real worker's order. Returns the
    queues the worker consumes (``queues``)."""
    app, hostname = rt.app, rt.hostname
    worker = SimulatedWorker(app, hostname, "worker")
    signals.celeryd_init.send(sender=hostname, instance=worker, conf=app.conf, options={})
    signals.worker_init.send(sender=worker)
    consumed = queues(rt, lambda: signals.celeryd_after_setup.send(sender=hostname, instance=worker, conf=app.conf))
    signals.worker_before_create_process.send(sender=SimulatedWorker(app, hostname, "pool"))
    signals.worker_process_init.send(sender=hostname)
    signals.worker_ready.send(sender=SimulatedWorker(app, hostname, "consumer"))
    if beat:
        signals.beat_init.send(sender=SimulatedWorker(app, hostname, "beat"))
    return consumed


def queues(rt: AppRuntime, after_setup: Callable[[], Any]) -> frozenset[str]:
    """The queues a worker process consumes, as it builds them: ``app.amqp.queues`` made afresh from
    ``task_queues`` -- only ``task_default_queue`` ("celery") when none are declared (``AMQP.Queues``,
    ``app/amqp.py:317-345``), whatever queues routes send to (``task_create_missing_queues`` declares those
    in the sending process, never in ``Queues._default_consume_from``, ``app/amqp.py:117, 138-141``) -- narrowed
    by ``-Q`` (``CeleryTarget(queues=...)``: ``Queues.select``) and widened by ``worker_direct``
    (``WorkController.setup_queues``, ``worker/worker.py:235-249``) and by ``celeryd_after_setup`` handlers'
    ``select_add`` (sent after, ``apps/worker.py: on_start``). The test process's own ``app.amqp.queues`` is
    left as it was: it is the producer's."""
    from celery.utils.nodenames import worker_direct

    app = rt.app
    amqp = app.amqp
    own = amqp.__dict__.get("queues")  # kombu's cached_property keeps it in the instance dict
    fresh = amqp.__dict__["queues"] = amqp.Queues(app.conf.task_queues)
    try:
        if rt.queues is not None:
            try:
                fresh.select(sorted(rt.queues))
            except KeyError as exc:  # a real worker stops with ImproperlyConfigured (worker/worker.py:239-242)
                raise InvalidArgument(
                    f"CeleryTarget(queues={sorted(rt.queues)!r}): queue {exc} is not in app.conf.task_queues "
                    f"({sorted(fresh)}) and task_create_missing_queues is False, so `celery worker -Q` would not "
                    "start: declare it in task_queues or read a declared queue"
                ) from None
        if app.conf.worker_direct:
            fresh.select_add(worker_direct(rt.hostname))
        rt.consumed = frozenset(fresh.consume_from)  # for a task a celeryd_after_setup handler sends
        after_setup()
        return frozenset(fresh.consume_from)
    finally:
        if own is None:
            amqp.__dict__.pop("queues", None)
        else:
            amqp.__dict__["queues"] = own


def stopping(rt: AppRuntime) -> None:
    """The simulation closes: the pool process, then the worker, shut down."""
    signals.worker_process_shutdown.send(sender=rt.hostname, pid=os.getpid(), exitcode=0)
    signals.worker_shutdown.send(sender=SimulatedWorker(rt.app, rt.hostname, "worker"))
