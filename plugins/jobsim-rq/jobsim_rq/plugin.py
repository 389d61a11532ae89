"""The ``jobsim`` entry point of jobsim-rq: claims RQ queues, registers the ``rq`` profile.

RQ is imported only when a target could be an RQ queue, i.e. when ``rq`` is already
in ``sys.modules`` (a queue cannot exist without it), so installing the plugin costs
nothing to simulations of other targets.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jobsim.hooks import Adapted, RecordRenderer, hookimpl

if TYPE_CHECKING:
    from jobsim import Profile, Simulation


@hookimpl
def jobsim_adapt(sim: Simulation, target: Any) -> Adapted | None:
    if "rq" not in sys.modules:
        return None
    from rq.queue import Queue

    if not isinstance(target, Queue):
        return None
    from ._world import RQWorld

    world = getattr(sim, "rq", None)
    if not isinstance(world, RQWorld):
        world = RQWorld(sim)
        sim.rq = world  # type: ignore[attr-defined]
    return world.adopt(target)


@hookimpl
def jobsim_crash_worker(sim: Simulation, at: int, function: str | None) -> bool | None:
    """Worker crashes are not simulated for RQ jobs: naming an RQ job function is refused, not ignored.

    (``function=None`` crashes jobsim's own engine functions only; RQ jobs are untouched.)
    """
    world = getattr(sim, "rq", None)
    if world is None or function is None or function not in world.functions:
        return None
    from jobsim.errors import UnsupportedFeature

    raise UnsupportedFeature(
        f"sim.crash_worker(function={function!r}) is not simulated for RQ jobs: jobsim-rq does not model a "
        "worker dying mid-job (RQ's abandoned-job handling); see plugins/jobsim-rq/README.md",
        system="rq", feature="crash_worker",
    )  # fmt: skip


@hookimpl
def jobsim_profiles() -> Sequence[Profile]:
    from ._profile import RQ

    return [RQ]


@hookimpl
def jobsim_record_kinds() -> Mapping[str, RecordRenderer]:
    from ._timeline import KINDS

    return KINDS
