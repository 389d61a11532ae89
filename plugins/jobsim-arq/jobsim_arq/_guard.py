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

from typing import Any

from jobsim.errors import JobsimError
from jobsim.hooks import ClassGuard


def _install(guard: ClassGuard) -> None:
    from arq.connections import ArqRedis

    for name in ("execute_command", "pipeline"):  # execute_command is inherited from redis-py's Redis
        guard.wrap(ArqRedis, name, _refusal)


GUARD = ClassGuard(_install)  # running simulations with no arq worker


def _refusal(pool: Any, name: str, *args: Any, **kwargs: Any) -> JobsimError:
    what = f"the command {args[0]}" if name == "execute_command" and args else "a pipeline"
    return JobsimError(
        f"an arq Redis pool is not part of this simulation: arq would send {what} to its real Redis "
        f"({_where(pool)}). This simulation runs no arq worker: pass the worker settings, e.g. "
        "jobsim.Simulation(WorkerSettings) or jobsim.Simulation(WorkerSettings, other_target); while a simulation "
        "runs an arq worker, every ArqRedis (arq.create_pool's, ctx['redis']) answers from its simulated Redis"
    )  # fmt: skip


def _where(pool: Any) -> str:
    kwargs = getattr(getattr(pool, "connection_pool", None), "connection_kwargs", {}) or {}
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
