"""The ``jobsim`` entry point of jobsim-arq: claims arq worker settings and workers.

arq is imported only when a target could be arq's: ``arq`` is already in ``sys.modules``, or the
target is a class or dict with ``functions``/``cron_jobs`` (settings need not import arq: ``class
WorkerSettings: functions = [send_email]`` is all ``arq worker`` needs). So installing the plugin
costs nothing to simulations of other targets.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jobsim.hooks import Adapted, RecordRenderer, Unread, guard_hooks, hookimpl

if TYPE_CHECKING:
    from jobsim import Profile, Simulation


def _may_be_settings(target: Any) -> bool:
    """A class or dict with ``functions``/``cron_jobs``: settings ``arq worker`` runs need not import arq themselves
    (``class WorkerSettings: functions = [send_email]``), so arq is imported to look closer (when installed)."""
    import importlib.util

    if isinstance(target, dict):
        has = "functions" in target or "cron_jobs" in target
    elif isinstance(target, type) or isinstance(getattr(type(target), "functions", None), (list, tuple)):
        has = hasattr(target, "functions") or hasattr(target, "cron_jobs")
    else:
        return False
    return has and importlib.util.find_spec("arq") is not None


def _is_arq_target(target: Any) -> bool:
    """A ``Worker``, or a settings class/dict with ``functions`` or ``cron_jobs`` (``worker.py:887-890``)."""
    from arq.worker import Worker

    if isinstance(target, Worker):
        return True
    if isinstance(target, dict):
        found = {k: target[k] for k in ("functions", "cron_jobs") if k in target}
    elif isinstance(target, type):
        found = {k: getattr(target, k) for k in ("functions", "cron_jobs") if hasattr(target, k)}
    else:
        return False
    if found and _has_arq_redis_settings(target):  # `redis_settings = RedisSettings(...)`: arq's, whatever it lists
        return True
    return bool(found) and all(_arq_items(v) for v in found.values())


def _has_arq_redis_settings(target: Any) -> bool:
    from arq.connections import RedisSettings

    value = target.get("redis_settings") if isinstance(target, dict) else getattr(target, "redis_settings", None)
    return isinstance(value, RedisSettings)


def _arq_items(items: Any) -> bool:
    """A list arq could run: coroutine functions, ``func(...)``/``cron(...)`` results or import strings."""
    import inspect

    from arq.cron import CronJob
    from arq.worker import Function

    if not isinstance(items, (list, tuple)):
        return False
    # one arq-like item is enough: a plain `def` beside `async def`s is a mistake in arq settings, which
    # `_check_settings` names (arq's own 'is not a coroutine function'), not another kind of target
    return all(isinstance(i, (Function, CronJob, str)) or inspect.iscoroutinefunction(i) for i in items) or any(
        isinstance(i, (Function, CronJob)) or inspect.iscoroutinefunction(i) for i in items)


@hookimpl
def jobsim_adapt(sim: Simulation, target: Any) -> Adapted | None:
    if "arq" not in sys.modules and not _may_be_settings(target):
        return None
    from arq.connections import ArqRedis
    from arq.jobs import Job

    if isinstance(target, (ArqRedis, Job)):
        from jobsim.errors import InvalidArgument

        raise InvalidArgument.build("targets", target, "arq WorkerSettings (the class `arq worker` runs), a settings "
                                    "dict or an arq Worker; jobsim-arq runs the worker, and a pool made with "
                                    "arq.create_pool inside the simulation enqueues to it")  # fmt: skip
    if not isinstance(target, (type, dict)) and _is_arq_target(type(target)) and not _is_arq_target(target):
        target = type(target)  # an instance of the settings class (`jobsim run module:WorkerSettings` calls it)
    if not _is_arq_target(target):
        return None
    from ._world import ArqWorld

    world = getattr(sim, "arq", None)
    if not isinstance(world, ArqWorld):
        world = ArqWorld(sim)
        sim.arq = world  # type: ignore[attr-defined]
    return world.adopt(target)


# a simulation that runs no arq worker refuses ArqRedis commands while it runs (_guard)
jobsim_install, jobsim_uninstall = guard_hooks("arq", "jobsim_arq._guard:GUARD", world="jobsim_arq._world:ArqWorld")


@hookimpl
def jobsim_crash_worker(sim: Simulation, at: int, function: str | None) -> bool | None:
    """Worker crashes are not simulated for arq jobs: naming one is refused, not ignored."""
    world = getattr(sim, "arq", None)
    if world is None:
        return None
    if function is None and any(fn_id not in world.functions for fn_id in sim.functions):
        return None  # the engine's own functions may be crashed; arq jobs never are (README)
    if function is not None and function not in world.functions:
        return None
    from jobsim.errors import UnsupportedFeature

    raise UnsupportedFeature(
        f"sim.crash_worker(function={function!r}) is not simulated for arq jobs: jobsim-arq does not model a killed "
        "worker process (its in-progress keys expiring, the job re-run by another worker); see "
        "plugins/jobsim-arq/README.md",
        system="arq", feature="crash_worker",
    )  # fmt: skip


@hookimpl
def jobsim_profiles() -> Sequence[Profile]:
    from ._profile import ARQ

    return [ARQ]


@hookimpl
def jobsim_record_kinds() -> Mapping[str, RecordRenderer]:
    from ._timeline import KINDS

    return KINDS


@hookimpl
def jobsim_unread(sim: Simulation) -> Sequence[Unread] | None:
    """Jobs due on queues no simulated worker reads, still waiting (``sim.arq.unconsumed``)."""
    world = getattr(sim, "arq", None)
    return None if world is None else world.unread_work()
