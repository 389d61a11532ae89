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

import functools
import inspect
from typing import Any

from jobsim.errors import JobsimError

_LEFT_ALONE = frozenset({"close", "disconnect"})
_QUEUE_NAMES = ("setGlobalConcurrency", "getGlobalConcurrency", "removeGlobalConcurrency", "setGlobalRateLimit",
                "getGlobalRateLimit", "removeGlobalRateLimit", "rateLimit", "removeRateLimitKey",
                "getJobs")  # fmt: skip
_guarded: list[Any] = []  # running simulations with no BullMQ worker
_saved: dict[tuple[Any, str], Any] = {}


def guard(sim: Any) -> None:
    from bullmq.backends.redis_backend import RedisBackend
    from bullmq.queue import Queue

    if not _saved:
        for name in dir(RedisBackend):
            original = inspect.getattr_static(RedisBackend, name)
            if name.startswith("_") or name in _LEFT_ALONE or not inspect.iscoroutinefunction(original):
                continue
            _wrap(RedisBackend, name, original, _backend_queue)
        for name in _QUEUE_NAMES:
            _wrap(Queue, name, Queue.__dict__[name], _queue_queue)
    _guarded.append(sim)


def unguard(sim: Any) -> None:
    if sim in _guarded:
        _guarded.remove(sim)
    if _guarded or not _saved:
        return
    for (owner, name), original in _saved.items():
        if getattr(owner.__dict__.get(name), "_jobsim_guard", False):  # else something else patched it since
            setattr(owner, name, original)
    _saved.clear()


def _wrap(owner: Any, name: str, original: Any, queue_of: Any) -> None:
    _saved[(owner, name)] = original

    @functools.wraps(original)
    async def refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _guarded:
            return await original(self, *args, **kwargs)
        name_, where = queue_of(self)
        if name == "addFlow" and args and args[0]:  # a FlowProducer's backend is "__default__": the flow's root's
            name_ = str(getattr(getattr(args[0][0].get("job"), "queue", None), "name", name_))
        raise JobsimError(
            f"BullMQ queue {name_!r} is not part of this simulation: bullmq would send {name} to its real Redis "
            f"({where}). This simulation runs no BullMQ worker: pass the worker(s), built with "
            "{'autorun': False}, e.g. jobsim.Simulation(worker) or jobsim.Simulation(worker, other_target); while "
            "a simulation runs a BullMQ worker, every Queue, Job and FlowProducer talks to its simulated Redis"
        )  # fmt: skip

    refuse._jobsim_guard = True  # type: ignore[attr-defined]
    setattr(owner, name, refuse)


def _backend_queue(backend: Any) -> tuple[str, str]:
    return str(getattr(backend, "name", "?")), _where(getattr(backend, "connection", None))


def _queue_queue(queue: Any) -> tuple[str, str]:
    return _backend_queue(getattr(queue, "backend", None))


def _where(connection: Any) -> str:
    """host:port/db of bullmq's ``RedisConnection`` (its redis-py client's pool), without connecting."""
    client = getattr(connection, "conn", None)
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {}) or {}
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
