"""An RQ queue a simulation ran refuses to reach its Redis after the simulation closed, until ``release``.

While the simulation runs, ``Queue``'s enqueue methods are replaced on the class (``_patches``); at the close
RQ's are back, and the same ``queue.enqueue(send_welcome)`` -- a helper called after the ``with`` block, on a
module-level queue -- would write the job to the queue's real Redis: a developer's local Redis, where a worker
may run it, or a ``redis.ConnectionError`` after redis-py's retries. So the close leaves a refusal on each
``Queue`` object the simulation ran (given to it, or one a job was enqueued through), for the calls that would
write there (``_guard``'s: every enqueue, ``empty``, ``delete``): a ``JobsimError`` naming the queue, the
simulation and where it was started. While a simulation with RQ queues runs (a later one), it takes the call
as it takes any queue's; a new simulation given the queue takes the refusals away, and so does
``release(queue)`` (``jobsim_rq.release``), for real use.
"""

from __future__ import annotations

from typing import Any

from jobsim.errors import InvalidArgument, JobsimError
from jobsim.hooks import HeldBy

from ._guard import _NAMES, _where


def refuse_after(queues: list[Any], sim: Any) -> None:
    """``sim`` closed: each of ``queues`` refuses what would write to its Redis, naming ``sim`` (a method the
    queue object holds itself, set by the user, is left alone)."""
    holder = HeldBy(sim)
    for queue in queues:
        for name in _NAMES:
            if name not in vars(queue):
                queue.__dict__[name] = _refusal(queue, name, holder)


def _refusal(queue: Any, name: str, holder: HeldBy) -> Any:
    def refused(*args: Any, **kwargs: Any) -> Any:
        from . import _patches

        if _patches.current() is not None:  # a simulation with RQ queues runs: its patches take the call
            return getattr(type(queue), name)(queue, *args, **kwargs)
        raise JobsimError(
            f"RQ queue {queue.name!r} was simulated, and its simulation has closed ({holder}): Queue.{name} would "
            f"write to its real Redis ({_where(queue.connection)}), where a worker may run the job. Enqueue inside "
            "the `with` block; to use this queue with its real Redis after the simulation, call "
            "jobsim_rq.release(queue) first"
        )

    refused._jobsim_closed = True  # type: ignore[attr-defined]
    return refused


def reopen(queue: Any) -> None:
    """A new simulation is given ``queue``, or ``release``: the refusals ``refuse_after`` left are taken away."""
    for name, value in list(vars(queue).items()):
        if getattr(value, "_jobsim_closed", False):
            del queue.__dict__[name]


def release(queue: Any) -> None:
    """Let an RQ queue a closed simulation ran write to its real Redis again."""
    from rq.queue import Queue

    if not isinstance(queue, Queue):
        raise InvalidArgument.build("queue", queue, "an rq.Queue (a job's queue is Queue(job.origin, ...))")
    reopen(queue)
