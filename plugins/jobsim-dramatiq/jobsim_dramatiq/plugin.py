"""The ``jobsim`` entry point of jobsim-dramatiq: claims Dramatiq brokers, actors and unstarted workers.

Dramatiq is imported only when a target could be one of them, i.e. when ``dramatiq`` is already
in ``sys.modules`` (none can exist without it), so installing the plugin costs nothing to
simulations of other targets.
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
    if "dramatiq" not in sys.modules:
        return None
    from dramatiq import Actor, Broker, Message, Worker

    if isinstance(target, Message):  # a common slip: what actor.message()/send() returned, not its broker
        from jobsim.errors import InvalidArgument

        fix = ("jobsim-dramatiq simulates a broker: pass the broker (or the actor, or an unstarted dramatiq.Worker), "
               "then send the message inside the simulation")
        raise InvalidArgument.build("targets", target, f"a Dramatiq message (of actor {target.actor_name!r}); {fix}")
    if not isinstance(target, Broker | Actor | Worker):
        return None
    from ._world import DramatiqWorld

    world = getattr(sim, "dramatiq", None)
    if not isinstance(world, DramatiqWorld):
        world = DramatiqWorld(sim)
        sim.dramatiq = world  # type: ignore[attr-defined]
    return world.adopt(target)


# a simulation that runs no Dramatiq broker refuses, while it runs, what would reach a Redis, RabbitMQ or
# Memcached server: enqueue, Worker.start, results and rate-limiter backends (_guard)
jobsim_install, jobsim_uninstall = guard_hooks("dramatiq", "jobsim_dramatiq._guard:GUARD",
                                                world="jobsim_dramatiq._world:DramatiqWorld")


@hookimpl
def jobsim_crash_worker(sim: Simulation, at: int, function: str | None) -> bool | None:
    """``sim.crash_worker(at=..., function=...)`` kills the simulated Dramatiq worker running that actor's message
    (any actor's for ``function=None``, on a Redis or RabbitMQ broker) as ``sim.dramatiq.crash_worker`` does: its
    unacknowledged messages are redelivered as its broker does, and a new worker starts at once (``_crash``)."""
    world = getattr(sim, "dramatiq", None)
    if world is None or (function is not None and function not in world.functions):
        return None
    if function is None and all(w.sb.kind == "stub" for w in world.workers):
        others = [fn_id for fn_id in sim.functions if fn_id not in world.functions]
        if others:  # nothing of Dramatiq's can crash: the crash is for the other functions of the simulation
            return None
        # only a stub broker's actors could be hit: refused (``Crashes.plan``) rather than armed for nothing
    from jobsim._time import to_datetime

    world.crash_worker(at=to_datetime(at), function=function)
    return True


@hookimpl
def jobsim_profiles() -> Sequence[Profile]:
    from ._profile import DRAMATIQ

    return [DRAMATIQ]


@hookimpl
def jobsim_record_kinds() -> Mapping[str, RecordRenderer]:
    from ._timeline import KINDS

    return KINDS


@hookimpl
def jobsim_unread(sim: Simulation) -> Sequence[Unread] | None:
    """Messages due on queues no simulated worker reads, still waiting (``sim.dramatiq.unconsumed``)."""
    world = getattr(sim, "dramatiq", None)
    return None if world is None else world.unread_work()
