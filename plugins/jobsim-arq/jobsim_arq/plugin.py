"""The ``jobsim`` entry point of jobsim-arq: claims arq worker settings and workers.

arq is imported only when a target could be arq's, i.e. when ``arq`` is already in
``sys.modules`` (settings naming arq functions cannot exist without it), so installing the
plugin costs nothing to simulations of other targets.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jobsim.hooks import Adapted, RecordRenderer, hookimpl

if TYPE_CHECKING:
    from jobsim import Profile, Simulation


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
    return bool(found) and all(_arq_items(v) for v in found.values())


def _arq_items(items: Any) -> bool:
    """A list arq could run: coroutine functions, ``func(...)``/``cron(...)`` results or import strings."""
    import inspect

    from arq.cron import CronJob
    from arq.worker import Function

    if not isinstance(items, (list, tuple)):
        return False
    return all(isinstance(i, (Function, CronJob, str)) or inspect.iscoroutinefunction(i) for i in items) or any(
        isinstance(i, (Function, CronJob)) for i in items)


@hookimpl
def jobsim_adapt(sim: Simulation, target: Any) -> Adapted | None:
    if "arq" not in sys.modules:
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
