"""While a simulation that runs no RQ queue is running, RQ's enqueue calls say so instead of reaching Redis.

A test that forgot ``jobsim.Simulation(queue)`` (it simulates a ``jobsim.App``, or
another backend) would otherwise enqueue into the queue's real Redis: a
``redis.ConnectionError`` after redis-py's retries, or, with a developer's local Redis
running, a job that a real worker may run while the simulation sees nothing. The
calls every enqueue goes through (``Queue.enqueue_call``, ``enqueue_at``,
``enqueue_many``, ``enqueue_job``, ``schedule_job``) are wrapped while such a
simulation runs; a wrapper left in place by an unusual closing order calls RQ's own
method once no guarded simulation runs, or while a simulation with RQ queues runs too
(one started inside the other: its own patches, ``_patches``, take these calls).
"""

from __future__ import annotations

import functools
from typing import Any

from jobsim.errors import JobsimError

_NAMES = ("enqueue_call", "enqueue_at", "enqueue_many", "enqueue_job", "schedule_job")
_guarded: list[Any] = []  # running simulations with no RQ queue
_saved: dict[str, Any] = {}


def guard(sim: Any) -> None:
    from rq.queue import Queue

    if not _saved:
        for name in _NAMES:
            original = _saved[name] = Queue.__dict__[name]
            setattr(Queue, name, _refusing(name, original))
    _guarded.append(sim)


def unguard(sim: Any) -> None:
    if sim in _guarded:
        _guarded.remove(sim)
    if _guarded or not _saved:
        return
    from rq.queue import Queue

    for name, original in _saved.items():
        if getattr(Queue.__dict__.get(name), "_jobsim_guard", False):  # else something else patched it since
            setattr(Queue, name, original)
    _saved.clear()


def _refusing(name: str, original: Any) -> Any:
    @functools.wraps(original)
    def refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
        from . import _patches

        if not _guarded or _patches.current() is not None:  # none runs, or a simulation with RQ queues does too
            return original(self, *args, **kwargs)
        raise JobsimError(
            f"RQ queue {self.name!r} is not part of this simulation: Queue.{name} would write to its real Redis "
            f"({_where(self.connection)}). This simulation runs no RQ queue: pass the queue, e.g. "
            f"jobsim.Simulation(queue) or jobsim.Simulation(queue, other_target)"
        )

    refuse._jobsim_guard = True  # type: ignore[attr-defined]
    return refuse


def _where(connection: Any) -> str:
    kwargs = getattr(getattr(connection, "connection_pool", None), "connection_kwargs", {}) or {}
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
