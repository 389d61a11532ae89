"""The ``jobsim`` entry point of jobsim-apscheduler: claims APScheduler 3 schedulers.

APScheduler is imported only when a target could be a scheduler, i.e. when ``apscheduler``
is already in ``sys.modules`` (a scheduler cannot exist without it), so installing the
plugin costs nothing to simulations of other targets.
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
    if "apscheduler" not in sys.modules:
        return None
    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler

    if isinstance(target, Job):  # a common slip: what add_job returned, not the scheduler
        from jobsim.errors import InvalidArgument

        raise InvalidArgument.build("targets", target, "an APScheduler job; jobsim-apscheduler drives a whole "
                                    "scheduler: pass the scheduler its add_job() was called on")  # fmt: skip
    if not isinstance(target, BaseScheduler):
        return None
    from ._world import APSWorld

    world = getattr(sim, "apscheduler", None)
    if not isinstance(world, APSWorld):
        world = APSWorld(sim)
        sim.apscheduler = world  # type: ignore[attr-defined]
    return world.adopt(target)


# while a simulation runs, start() of a scheduler it does not drive is refused; while one that drives schedulers
# is built and not started, start() of any (_guard)
jobsim_install, jobsim_uninstall = guard_hooks("apscheduler", "jobsim_apscheduler._guard:GUARD",
                                               world="jobsim_apscheduler._world:APSWorld", every=True)


@hookimpl
def jobsim_crash_worker(sim: Simulation, at: int, function: str | None) -> bool | None:
    """Worker crashes are not simulated for APScheduler jobs: naming one is refused, not ignored."""
    world = getattr(sim, "apscheduler", None)
    if world is None or function is None or function not in world.functions:
        return None
    from jobsim.errors import UnsupportedFeature

    raise UnsupportedFeature(
        f"sim.crash_worker(function={function!r}) is not simulated for APScheduler jobs: an in-process scheduler "
        "dies with its process, and jobsim-apscheduler does not model a restart; see "
        "plugins/jobsim-apscheduler/README.md",
        system="apscheduler", feature="crash_worker",
    )  # fmt: skip


@hookimpl
def jobsim_profiles() -> Sequence[Profile]:
    from ._profile import APSCHEDULER

    return [APSCHEDULER]


@hookimpl
def jobsim_record_kinds() -> Mapping[str, RecordRenderer]:
    from ._timeline import KINDS

    return KINDS


@hookimpl
def jobsim_unread(sim: Simulation) -> Sequence[Unread] | None:
    """Jobs removed unrun, due on an executor alias no executor has (``sim.apscheduler.unconsumed``)."""
    world = getattr(sim, "apscheduler", None)
    return None if world is None else world.unconsumed
