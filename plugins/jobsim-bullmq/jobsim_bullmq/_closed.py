"""Queues a simulation has run refuse bullmq's Redis calls after it closes, until ``release``.

While a simulation with BullMQ workers runs, every ``RedisBackend`` method goes to the simulated Redis, and the
backend it was called on (a ``Queue``'s, a ``Worker``'s; a ``Job`` shares its queue's) is noted (``noted``).
When the simulation closes, bullmq's own methods are back, and the same ``queue.add(...)`` -- a helper called
after the ``with`` block -- would write into the queue's real Redis (a developer's local one, where a worker may
run it) or, with none, retry its connection for ever. So each noted backend gets, on the instance, a refusal
for every method that talks to Redis (``close``/``disconnect`` aside): a ``JobsimError`` naming the simulation
that closed and where it was started. The ``Queue`` methods that skip the backend for its raw client or scripts
(``getJobs``, ``rateLimit``, ``setGlobalConcurrency`` and the rest of ``_guard._QUEUE_NAMES``) are checked on the
class from the first close on (``_check_queues``): on a queue whose backend holds refusals they refuse the same
way, on any other they are bullmq's. ``release(queue)`` takes them away for real use; a new simulation takes
them away while it runs (its class-level methods serve the backend) and puts its own back when it closes.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from typing import Any

from jobsim.errors import InvalidArgument, JobsimError
from jobsim.hooks import HeldBy

_NOTED: weakref.WeakSet[Any] = weakref.WeakSet()
"""Backends a running simulation served (their methods called while it ran)."""
_CLOSED: weakref.WeakSet[Any] = weakref.WeakSet()
"""Backends holding a closed simulation's refusals."""
_HOLDERS: weakref.WeakKeyDictionary[Any, HeldBy] = weakref.WeakKeyDictionary()
"""The closed simulation each of ``_CLOSED`` names in its refusals."""
_LEFT_ALONE = frozenset({"close", "disconnect"})


def noted(command: Any) -> Any:
    """A replacement ``RedisBackend`` (or ``Queue``) method that notes the backend it serves (a ``Queue``'s is its
    ``backend``); a coroutine function stays one."""
    if inspect.iscoroutinefunction(command):

        @functools.wraps(command)
        async def noted_coroutine(self: Any, *args: Any, **kwargs: Any) -> Any:
            _NOTED.add(getattr(self, "backend", self))
            return await command(self, *args, **kwargs)

        return noted_coroutine

    @functools.wraps(command)
    def noted_method(self: Any, *args: Any, **kwargs: Any) -> Any:
        _NOTED.add(getattr(self, "backend", self))
        return command(self, *args, **kwargs)

    return noted_method


def reopen() -> None:
    """A simulation starts: the backends a closed one refused are served by its methods (on the class)."""
    for backend in list(_CLOSED):
        _unrefuse(backend)


def close(sim: Any) -> None:
    """``sim`` closed: every backend it served refuses bullmq's Redis calls, saying so."""
    from bullmq.backends.redis_backend import RedisBackend

    holder = HeldBy(sim)
    for backend in list(_NOTED):
        for name in _redis_methods(RedisBackend):
            backend.__dict__[name] = _refusal(backend, name, holder)
        _HOLDERS[backend] = holder
        _CLOSED.add(backend)
    _NOTED.clear()
    _check_queues()


def _check_queues() -> None:
    """``Queue``'s raw-client methods, on the class, made to refuse on a queue whose backend a closed simulation
    ran (a new simulation's own replace them while it runs, and put these back)."""
    from bullmq.queue import Queue

    from ._guard import _QUEUE_NAMES

    for name in _QUEUE_NAMES:
        current = inspect.getattr_static(Queue, name)
        if not getattr(current, "_jobsim_closed_check", False):
            setattr(Queue, name, _queue_checked(current, name))


def _queue_checked(original: Any, name: str) -> Any:
    @functools.wraps(original)
    async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        backend = getattr(self, "backend", None)
        holder = _HOLDERS.get(backend) if backend is not None and backend in _CLOSED else None
        if holder is not None:
            raise _closed_error(backend, name, holder)
        return await original(self, *args, **kwargs)

    method._jobsim_closed_check = True  # type: ignore[attr-defined]
    return method


def release(obj: Any) -> None:
    """Let a ``Queue`` (or ``Worker``, ``Job``, ``FlowProducer``) a closed simulation ran reach its real Redis."""
    backend = getattr(obj, "backend", obj)
    if not hasattr(backend, "__dict__") or not hasattr(backend, "addJob"):
        raise InvalidArgument.build("obj", obj, "a bullmq Queue, Worker, Job or FlowProducer (or its backend)")
    _unrefuse(backend)


def _unrefuse(backend: Any) -> None:
    for name, value in list(vars(backend).items()):
        if getattr(value, "_jobsim_closed", False):
            del backend.__dict__[name]
    _CLOSED.discard(backend)
    _HOLDERS.pop(backend, None)


def _redis_methods(cls: type) -> list[str]:
    return [name for name in dir(cls) if not name.startswith("_") and name not in _LEFT_ALONE
            and inspect.iscoroutinefunction(inspect.getattr_static(cls, name))]  # fmt: skip


def _refusal(backend: Any, name: str, holder: HeldBy) -> Any:
    async def refused(*args: Any, **kwargs: Any) -> Any:
        raise _closed_error(backend, name, holder)

    refused._jobsim_closed = True  # type: ignore[attr-defined]
    return refused


def _closed_error(backend: Any, name: str, holder: HeldBy) -> JobsimError:
    from ._guard import _backend_queue

    queue, where = _backend_queue(backend)
    return JobsimError(
        f"BullMQ queue {queue!r} was run by a simulation that has closed ({holder}): bullmq would send {name} "
        f"to its real Redis ({where}). Call it inside the `with` block, or build the queue anew; to use this "
        "queue with its real Redis after the simulation, call jobsim_bullmq.release(queue) first"
    )  # fmt: skip
