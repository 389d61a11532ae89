"""What jobsim-celery answers ``jobsim_unread`` with when the simulation closes: the messages in
``sim.celery.unconsumed`` (sent to a queue no simulated worker reads) that are due by then and not revoked."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobsim.hooks import Unread

if TYPE_CHECKING:
    from ._worker import Held
    from ._world import CeleryWorld


def unread(world: CeleryWorld) -> list[Unread]:
    from ._world import _ns

    now = world.sim.kernel.now
    out = []
    for held in world.unconsumed:
        eta = held.message.headers.get("eta")
        if held.task_id in world.revoked_ids or (eta is not None and _ns(eta, held.rt.app) > now):
            continue  # revoked, or due later: the test's business (as a delayed sim.send)
        out.append(Unread(backend="celery", queue=held.queue, name=held.message.headers["task"],
                          read=_read(held), listing="sim.celery.unconsumed", worker=_worker(held)))  # fmt: skip
    return out


def _read(held: Held) -> list[str]:
    rt = held.rt
    return sorted(rt.consumed if rt.consumed is not None else rt.queues or ())


def _worker(held: Held) -> str:
    """The target that reads the queue too: the ``-Q`` queues given, else those the worker read, less the
    ``<node>.dq2`` queue ``worker_direct`` adds by itself (``-Q`` names it nowhere)."""
    rt = held.rt
    given = sorted(rt.queues) if rt.queues is not None else [q for q in _read(held) if q != f"{rt.hostname}.dq2"]
    queues = [*given, held.queue]
    return f"jobsim_celery.CeleryTarget(app, queues={queues!r}), as `celery worker -Q {','.join(queues)}` would"
