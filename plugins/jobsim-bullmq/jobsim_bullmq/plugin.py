"""The ``jobsim`` entry point of jobsim-bullmq: claims bullmq ``Worker`` objects.

bullmq is imported only when a target could be a worker, i.e. when ``bullmq`` is
already in ``sys.modules`` (a Worker cannot exist without it), so installing the
plugin costs nothing to simulations of other targets. The profile is jobsim's
built-in ``bullmq``; where bullmq-python differs from the Node library that profile
describes, bullmq-python's own code decides (the README lists where).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jobsim.hooks import Adapted, RecordRenderer, Unread, guard_hooks, hookimpl

if TYPE_CHECKING:
    from jobsim import Simulation


@hookimpl
def jobsim_adapt(sim: Simulation, target: Any) -> Adapted | None:
    if "bullmq" not in sys.modules:
        return None
    from bullmq import Worker

    if not isinstance(target, Worker):
        _refuse_producer(target)
        return None
    from ._world import BullMQWorld

    world = getattr(sim, "bullmq", None)
    if not isinstance(world, BullMQWorld):
        world = BullMQWorld(sim)
        sim.bullmq = world  # type: ignore[attr-defined]
    return world.adopt(target)


def _refuse_producer(target: Any) -> None:
    """A ``Queue``, ``FlowProducer``, ``QueueEvents`` or ``Job`` passed instead of the worker: say what to pass
    (the generic 'not valid' message leads with the object's repr and lists every plugin)."""
    from bullmq import FlowProducer, Job, Queue, QueueEvents

    if isinstance(target, (Queue, FlowProducer, QueueEvents, Job)):
        from jobsim.errors import InvalidArgument

        name = getattr(target, "name", None)
        what = f"{type(target).__name__}({name!r})" if isinstance(name, str) else f"{type(target).__name__}(...)"
        raise InvalidArgument(
            f"targets={what} is not valid: jobsim-bullmq runs bullmq Worker objects, and while it runs one, every "
            "Queue, FlowProducer and QueueEvents talks to the simulated Redis by itself: pass the worker(s) of the "
            "queue, built with {'autorun': False}, e.g. jobsim.Simulation(worker)"
        )  # fmt: skip


# a simulation that runs no BullMQ worker refuses bullmq's Redis calls while it runs (_guard)
jobsim_install, jobsim_uninstall = guard_hooks("bullmq", "jobsim_bullmq._guard:GUARD",
                                                world="jobsim_bullmq._world:BullMQWorld")


@hookimpl
def jobsim_crash_worker(sim: Simulation, at: int, function: str | None) -> bool | None:
    """``sim.crash_worker(at=..., function=<queue>)`` kills the simulated BullMQ worker of that queue mid-job, as
    ``sim.bullmq.crash_worker(at, queue)`` does, with a new worker started at once (``_crash``).

    (``function=None`` crashes jobsim's own engine functions only; BullMQ jobs are untouched.)
    """
    world = getattr(sim, "bullmq", None)
    if world is None or function is None or function not in world.functions:
        return None
    if not any(w.name == function for w in world.all_workers):
        return None  # a queue with jobs but no simulated worker: nothing of BullMQ's to kill
    world.crashes.plan_ns(at, function, 0)
    return True


@hookimpl
def jobsim_record_kinds() -> Mapping[str, RecordRenderer]:
    from ._timeline import KINDS

    return KINDS


@hookimpl
def jobsim_unread(sim: Simulation) -> Sequence[Unread] | None:
    """Jobs due on queues no simulated worker reads, still waiting (``sim.bullmq.unconsumed``)."""
    world = getattr(sim, "bullmq", None)
    return None if world is None else world.unread_work()


@hookimpl
def jobsim_queue_name(queue: Any) -> str | None:
    """A bullmq ``Queue`` as its jobs' ``Unread`` items name it (``"app:emails"`` under another prefix than ``bull``),
    for ``sim.leave_unread(queue)``."""
    bullmq = sys.modules.get("bullmq")
    if bullmq is None or not isinstance(queue, bullmq.Queue):
        return None
    from ._unread import _shown

    return _shown(str(queue.qualifiedName))
