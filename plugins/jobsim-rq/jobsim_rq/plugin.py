"""The ``jobsim`` entry point of jobsim-rq: claims RQ queues and ``jobsim_rq.Worker``s, registers the ``rq`` profile.

RQ is imported only when a target could be an RQ queue, i.e. when ``rq`` is already
in ``sys.modules`` (a queue cannot exist without it), so installing the plugin costs
nothing to simulations of other targets.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jobsim.hooks import Adapted, RecordRenderer, Unread, guard_hooks, hookimpl

if TYPE_CHECKING:
    from jobsim import Profile, Simulation

    from ._world import RQWorld


@hookimpl
def jobsim_adapt(sim: Simulation, target: Any) -> Adapted | None:
    from ._spec import Worker

    if isinstance(target, Worker):
        return _world(sim).adopt_worker(target)
    if "rq" not in sys.modules:
        return None
    from rq.job import Job
    from rq.queue import Queue
    from rq.worker import BaseWorker

    if isinstance(target, (Job, BaseWorker)):  # common slips: what enqueue returned, or RQ's own worker
        from jobsim.errors import InvalidArgument

        accepted = ("an RQ job; jobsim-rq runs queues: pass the queue it is enqueued on, jobsim.Simulation(queue)"
                    if isinstance(target, Job) else "RQ's own Worker, which would work in real time against Redis; "
                    "pass jobsim_rq.Worker([queue, ...], count=...) instead")  # fmt: skip
        raise InvalidArgument.build("targets", target, accepted)
    if not isinstance(target, Queue):
        if _is_redis(target):  # another slip: the queue's connection
            from jobsim.errors import InvalidArgument

            raise InvalidArgument(
                f"targets={type(target).__name__}(...) is not valid: a Redis connection; jobsim-rq runs RQ queues (and "
                "nothing connects to Redis inside a simulation): pass the queues built on it, "
                "jobsim.Simulation(queue) or jobsim.Simulation([high, default])")  # fmt: skip
        return None
    return _world(sim).adopt(target)


def _is_redis(target: Any) -> bool:
    if "redis" not in sys.modules:
        return False
    import redis

    return isinstance(target, (redis.Redis, redis.ConnectionPool))


def _world(sim: Simulation) -> RQWorld:
    from ._world import RQWorld

    world = getattr(sim, "rq", None)
    if not isinstance(world, RQWorld):
        world = RQWorld(sim)
        sim.rq = world  # type: ignore[attr-defined]
    return world


# a simulation that runs no RQ queue refuses RQ's enqueue calls while it runs (_guard)
jobsim_install, jobsim_uninstall = guard_hooks("rq", "jobsim_rq._guard:GUARD", world="jobsim_rq._world:RQWorld")


@hookimpl
def jobsim_crash_worker(sim: Simulation, at: int, function: str | None) -> bool | None:
    """``sim.crash_worker(at=..., function=...)`` kills the simulated RQ worker running that job function (any
    RQ job for ``function=None``) as ``sim.rq.crash_worker`` does: the whole worker dies, a new one starts."""
    world = getattr(sim, "rq", None)
    if world is None or (function is not None and function not in world.functions):
        return None
    from jobsim._time import to_datetime

    world.crash_worker(at=to_datetime(at), function=function)
    return True


@hookimpl
def jobsim_profiles() -> Sequence[Profile]:
    from ._profile import RQ

    return [RQ]


@hookimpl
def jobsim_record_kinds() -> Mapping[str, RecordRenderer]:
    from ._timeline import KINDS

    return KINDS


@hookimpl
def jobsim_unread(sim: Simulation) -> Sequence[Unread] | None:
    """Jobs due on queues no simulated worker reads, still waiting (``sim.rq.unconsumed``)."""
    world = getattr(sim, "rq", None)
    return None if world is None else world.unread_work()
