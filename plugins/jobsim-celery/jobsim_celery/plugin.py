"""The ``jobsim`` entry point of jobsim-celery: claims Celery apps, registers the ``celery`` profile.

This module stays light: Celery is imported only once a target could be a Celery
app, i.e. when ``celery`` is already in ``sys.modules`` (a Celery app cannot exist
without it), so installing the plugin costs nothing to simulations of plain
``jobsim.App`` functions.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jobsim.hooks import Adapted, RecordRenderer, Unread, guard_hooks, hookimpl

if TYPE_CHECKING:
    from jobsim import Profile, Simulation


@hookimpl
def jobsim_adapt(sim: Simulation, target: Any) -> Adapted | None:
    if "celery" not in sys.modules:
        return None
    from celery import Celery, Task

    from ._world import CeleryTarget, CeleryWorld

    if isinstance(target, Celery):
        target = CeleryTarget(target)
    elif isinstance(target, Task):  # a common slip: the task, not its app
        from jobsim.errors import InvalidArgument

        name = getattr(target, "__name__", None) or "task"
        raise InvalidArgument.build("targets", target, "a Celery task; jobsim-celery simulates a whole app: pass its "
                                    f"app, jobsim.Simulation({name}.app)")  # fmt: skip
    elif not isinstance(target, CeleryTarget):
        return None
    world = getattr(sim, "celery", None)
    if not isinstance(world, CeleryWorld):
        world = CeleryWorld(sim)
        sim.celery = world  # type: ignore[attr-defined]
    return world.adopt(target)


# a simulation that runs no Celery app refuses Celery's send_task while it runs (_patches.SENDING)
jobsim_install, jobsim_uninstall = guard_hooks("celery", "jobsim_celery._patches:SENDING",
                                                world="jobsim_celery._world:CeleryWorld")


@hookimpl
def jobsim_crash_worker(sim: Simulation, at: int, function: str | None) -> bool | None:
    """``sim.crash_worker(...)`` kills the Celery worker (``kind="worker"``) of this simulation."""
    world = getattr(sim, "celery", None)
    if world is None or (function is not None and not world.runs_task(function)):
        return None
    from jobsim._time import to_datetime

    world.crash_worker(at=to_datetime(at), function=function)
    return True


@hookimpl
def jobsim_profiles() -> Sequence[Profile]:
    from ._profile import CELERY

    return [CELERY]


@hookimpl
def jobsim_record_kinds() -> Mapping[str, RecordRenderer]:
    from ._timeline import KINDS

    return KINDS


@hookimpl
def jobsim_unread(sim: Simulation) -> Sequence[Unread] | None:
    """Messages sent to queues no simulated worker reads, due and still waiting (``sim.celery.unconsumed``)."""
    world = getattr(sim, "celery", None)
    if world is None:
        return None
    from ._unread import unread

    return unread(world)
