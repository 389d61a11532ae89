"""The ``jobsim`` entry point of jobsim-dramatiq: claims Dramatiq brokers, actors and unstarted workers.

Dramatiq is imported only when a target could be one of them, i.e. when ``dramatiq`` is already
in ``sys.modules`` (none can exist without it), so installing the plugin costs nothing to
simulations of other targets.
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
    if "dramatiq" not in sys.modules:
        return None
    from dramatiq import Actor, Broker, Worker

    if not isinstance(target, Broker | Actor | Worker):
        return None
    from ._world import DramatiqWorld

    world = getattr(sim, "dramatiq", None)
    if not isinstance(world, DramatiqWorld):
        world = DramatiqWorld(sim)
        sim.dramatiq = world  # type: ignore[attr-defined]
    return world.adopt(target)


@hookimpl
def jobsim_crash_worker(sim: Simulation, at: int, function: str | None) -> bool | None:
    """Worker crashes are not simulated for Dramatiq actors: naming one is refused, not ignored.

    (``function=None`` crashes jobsim's own engine functions only; Dramatiq messages are untouched.)
    """
    world = getattr(sim, "dramatiq", None)
    if world is None or function is None or function not in world.functions:
        return None
    from jobsim.errors import UnsupportedFeature

    raise UnsupportedFeature(
        f"sim.crash_worker(function={function!r}) is not simulated for Dramatiq actors: jobsim-dramatiq does not model "
        "a worker process dying with unacknowledged messages (their redelivery after the broker's heartbeat timeout). "
        "sim.dramatiq.stop_worker(at=...) simulates a graceful stop; see plugins/jobsim-dramatiq/README.md",
        system="dramatiq", feature="crash_worker",
    )  # fmt: skip


@hookimpl
def jobsim_profiles() -> Sequence[Profile]:
    from ._profile import DRAMATIQ

    return [DRAMATIQ]


@hookimpl
def jobsim_record_kinds() -> Mapping[str, RecordRenderer]:
    from ._timeline import KINDS

    return KINDS
