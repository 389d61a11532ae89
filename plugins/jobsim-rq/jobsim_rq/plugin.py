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
def jobsim_profiles() -> Sequence[Profile]:
    from ._profile import RQ

    return [RQ]


@hookimpl
def jobsim_record_kinds() -> Mapping[str, RecordRenderer]:
    from ._timeline import KINDS

    return KINDS
