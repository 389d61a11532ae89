"""While a simulation that runs no RQ queue is running, RQ's enqueue calls say so instead of reaching Redis.

A test that forgot ``jobsim.Simulation(queue)`` (it simulates a ``jobsim.App``, or
another backend) would otherwise enqueue into the queue's real Redis: a
``redis.ConnectionError`` after redis-py's retries, or, with a developer's local Redis
running, a job that a real worker may run while the simulation sees nothing. The
calls every enqueue goes through (``Queue.enqueue_call``, ``enqueue_at``,
``enqueue_many``, ``enqueue_job``, ``schedule_job``), and ``Queue.empty``/``delete``,
which would delete its jobs there, are wrapped while such a simulation runs; a
wrapper left in place by an unusual closing order calls RQ's own method once no
guarded simulation runs, or while a simulation with RQ queues runs too
(one started inside the other: its own patches, ``_patches``, take these calls).
"""

from __future__ import annotations

from typing import Any

from jobsim.errors import JobsimError
from jobsim.hooks import ClassGuard

_NAMES = ("enqueue_call", "enqueue_at", "enqueue_many", "enqueue_job", "schedule_job", "empty", "delete")


def _install(guard: ClassGuard) -> None:
    from rq.queue import Queue

    for name in _NAMES:
        guard.wrap(Queue, name, _refusal, passes=_rq_simulation_runs)


GUARD = ClassGuard(_install)  # running simulations with no RQ queue


def _rq_simulation_runs(_: Any) -> bool:
    from . import _patches

    return _patches.current() is not None  # one started inside the other: its patches take these calls


def _refusal(queue: Any, name: str, *args: Any, **kwargs: Any) -> JobsimError:
    return JobsimError(
        f"RQ queue {queue.name!r} is not part of this simulation: Queue.{name} would write to its real Redis "
        f"({_where(queue.connection)}). This simulation runs no RQ queue: pass the queue, e.g. "
        f"jobsim.Simulation(queue) or jobsim.Simulation(queue, other_target)"
    )


def _where(connection: Any) -> str:
    kwargs = getattr(getattr(connection, "connection_pool", None), "connection_kwargs", {}) or {}
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
