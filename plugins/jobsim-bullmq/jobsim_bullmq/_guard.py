"""While a simulation that runs no BullMQ worker is running, bullmq's Redis calls say so instead of reaching Redis.

A test that forgot ``jobsim.Simulation(worker)`` (it simulates a ``jobsim.App``, or
another backend) would otherwise send ``queue.add(...)`` to the queue's real Redis:
redis-py's connection errors after its retries, or, with a developer's local Redis
running, a job that a real worker may run while the simulation sees nothing. Every
coroutine method of ``RedisBackend`` (what ``Queue``, ``Job``, ``JobScheduler`` and
``FlowProducer`` call) and the ``Queue`` methods that use the raw client are wrapped
while such a simulation runs (``close``/``disconnect`` are left alone: they send
nothing). A wrapper left in place by an unusual closing order calls bullmq's own
method once no guarded simulation runs; a simulation with BullMQ workers started
inside a guarded one replaces these methods with its own (``_patches``) and puts the
wrappers back when it closes.
"""

from __future__ import annotations

import inspect
from typing import Any

from jobsim.errors import JobsimError
from jobsim.hooks import ClassGuard

_LEFT_ALONE = frozenset({"close", "disconnect"})
_QUEUE_NAMES = ("setGlobalConcurrency", "getGlobalConcurrency", "removeGlobalConcurrency", "setGlobalRateLimit",
                "getGlobalRateLimit", "removeGlobalRateLimit", "rateLimit", "removeRateLimitKey",
                "getJobs")  # fmt: skip


def _install(guard: ClassGuard) -> None:
    from bullmq.backends.redis_backend import RedisBackend
    from bullmq.queue import Queue

    for name in dir(RedisBackend):
        original = inspect.getattr_static(RedisBackend, name)
        if not name.startswith("_") and name not in _LEFT_ALONE and inspect.iscoroutinefunction(original):
            guard.wrap(RedisBackend, name, _refusal)
    for name in _QUEUE_NAMES:
        guard.wrap(Queue, name, _refusal)


GUARD = ClassGuard(_install)  # running simulations with no BullMQ worker


def _refusal(owner: Any, name: str, *args: Any, **kwargs: Any) -> JobsimError:
    queue, where = _backend_queue(getattr(owner, "backend", owner))  # a Queue, or its RedisBackend
    if name == "addFlow" and args and args[0]:  # a FlowProducer's backend is "__default__": the flow's root's
        queue = str(getattr(getattr(args[0][0].get("job"), "queue", None), "name", queue))
    return JobsimError(
        f"BullMQ queue {queue!r} is not part of this simulation: bullmq would send {name} to its real Redis "
        f"({where}). This simulation runs no BullMQ worker: pass the worker(s), built with "
        "{'autorun': False}, e.g. jobsim.Simulation(worker) or jobsim.Simulation(worker, other_target); while "
        "a simulation runs a BullMQ worker, every Queue, Job and FlowProducer talks to its simulated Redis"
    )  # fmt: skip


def _backend_queue(backend: Any) -> tuple[str, str]:
    return str(getattr(backend, "name", "?")), _where(getattr(backend, "connection", None))


def _where(connection: Any) -> str:
    """host:port/db of bullmq's ``RedisConnection`` (its redis-py client's pool), without connecting."""
    client = getattr(connection, "conn", None)
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {}) or {}
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
