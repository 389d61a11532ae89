"""The ``jobsim`` entry point of jobsim-huey: claims Huey instances, unstarted consumers and task wrappers.

Huey is imported only when a target could be one of them, i.e. when ``huey`` is already in
``sys.modules`` (none can exist without it), so installing the plugin costs nothing to
simulations of other targets.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jobsim.hooks import Adapted, RecordRenderer, guard_hooks, hookimpl

if TYPE_CHECKING:
    from jobsim import Profile, Simulation


@hookimpl
def jobsim_adapt(sim: Simulation, target: Any) -> Adapted | None:
    if "huey" not in sys.modules:
        return None
    from huey.api import Huey, Result, ResultGroup, Task, TaskWrapper
    from huey.consumer import Consumer
    from huey.storage import BaseStorage

    if isinstance(target, Task | Result | ResultGroup | BaseStorage):  # common slips: what a call returned, .storage
        from jobsim.errors import InvalidArgument

        what = ("a huey storage" if isinstance(target, BaseStorage) else "a huey Task (what task.s() returns)"
                if isinstance(target, Task) else f"a huey {type(target).__name__} (what calling a task returns)")
        raise InvalidArgument.build("targets", target, f"{what}; jobsim-huey simulates a Huey: pass the Huey (or "
                                    "huey.create_consumer(...), or a @huey.task() function), then enqueue the task "
                                    "inside the simulation")  # fmt: skip
    if not isinstance(target, Huey | Consumer | TaskWrapper):
        return None
    from ._world import HueyWorld

    world = getattr(sim, "huey", None)
    if not isinstance(world, HueyWorld):
        world = HueyWorld(sim)
        sim.huey = world  # type: ignore[attr-defined]
    return world.adopt(target)


# a simulation that runs no Huey refuses Huey's enqueue, consumer start and storage calls while it runs (_guard)
jobsim_install, jobsim_uninstall = guard_hooks("huey", "jobsim_huey._guard:GUARD", world="jobsim_huey._world:HueyWorld")


@hookimpl
def jobsim_crash_worker(sim: Simulation, at: int, function: str | None) -> bool | None:
    """Worker crashes are not simulated for Huey tasks: naming one is refused, not ignored.

    (``function=None`` crashes jobsim's own engine functions only; Huey tasks are untouched.)
    """
    world = getattr(sim, "huey", None)
    if world is None or function is None or function not in world.functions:
        return None
    from jobsim.errors import UnsupportedFeature

    raise UnsupportedFeature(
        f"sim.crash_worker(function={function!r}) is not simulated for Huey tasks: play the consumer process "
        "stopped mid-task with sim.huey.stop_consumer(at=..., graceful=False) (SIGTERM: the task is lost, "
        "SIGNAL_INTERRUPTED) and sim.huey.start_consumer(at=...). See plugins/jobsim-huey/README.md, 'A consumer "
        "that was down'",
        system="huey", feature="crash_worker",
    )  # fmt: skip


@hookimpl
def jobsim_profiles() -> Sequence[Profile]:
    from ._profile import HUEY

    return [HUEY]


@hookimpl
def jobsim_record_kinds() -> Mapping[str, RecordRenderer]:
    from ._timeline import KINDS

    return KINDS
