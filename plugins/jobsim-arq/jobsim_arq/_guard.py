"""While a simulation that runs no arq worker is running, ``ArqRedis`` commands say so instead of reaching Redis.

A test that forgot ``jobsim.Simulation(WorkerSettings)`` (it simulates a ``jobsim.App``,
or another backend) would otherwise have ``arq.create_pool(...)`` connect to the real
Redis of its ``RedisSettings`` -- redis-py's connection errors after arq's
``conn_retries`` (5 retries a second apart), or, with a developer's local Redis
running, an ``enqueue_job`` that a real worker may run while the simulation sees
nothing. ``ArqRedis.execute_command`` and ``ArqRedis.pipeline`` (every command of a
pool: ``create_pool``'s ``PING``, ``enqueue_job``, ``Job.status()``/``result()``) are
wrapped while such a simulation runs; a wrapper left in place by an unusual closing
order calls arq's own method once no guarded simulation runs, and a simulation with
arq workers started inside a guarded one replaces them with its own (``_patches``).
"""

from __future__ import annotations

import functools
from typing import Any

from jobsim.errors import JobsimError

_NAMES = ("execute_command", "pipeline")
_guarded: list[Any] = []  # running simulations with no arq worker
_saved: dict[str, Any] = {}  # name -> ArqRedis's own attribute, or _MISSING when inherited from redis-py's Redis
_MISSING = object()


def guard(sim: Any) -> None:
    from arq.connections import ArqRedis

    if not _saved:
        for name in _NAMES:
            _saved[name] = ArqRedis.__dict__.get(name, _MISSING)
            setattr(ArqRedis, name, _refusing(name, getattr(ArqRedis, name)))
    _guarded.append(sim)


def unguard(sim: Any) -> None:
    if sim in _guarded:
        _guarded.remove(sim)
    if _guarded or not _saved:
        return
    from arq.connections import ArqRedis

    for name, own in _saved.items():
        if getattr(ArqRedis.__dict__.get(name), "_jobsim_guard", False):  # else something else patched it since
            if own is _MISSING:
                delattr(ArqRedis, name)
            else:
                setattr(ArqRedis, name, own)
    _saved.clear()


def _refusing(name: str, original: Any) -> Any:
    @functools.wraps(original)
    def refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _guarded:
            return original(self, *args, **kwargs)
        what = f"the command {args[0]}" if name == "execute_command" and args else "a pipeline"
        raise JobsimError(
            f"an arq Redis pool is not part of this simulation: arq would send {what} to its real Redis "
            f"({_where(self)}). This simulation runs no arq worker: pass the worker settings, e.g. "
            "jobsim.Simulation(WorkerSettings) or jobsim.Simulation(WorkerSettings, other_target); while a simulation "
            "runs an arq worker, every ArqRedis (arq.create_pool's, ctx['redis']) answers from its simulated Redis"
        )  # fmt: skip

    refuse._jobsim_guard = True  # type: ignore[attr-defined]
    return refuse


def _where(pool: Any) -> str:
    kwargs = getattr(getattr(pool, "connection_pool", None), "connection_kwargs", {}) or {}
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
