"""What jobsim-celery answers ``jobsim_unread`` with when the simulation closes: the messages in
``sim.celery.unconsumed`` (sent to a queue no simulated worker reads) that are due by then, not revoked, and
that a worker reading the queue would run: not one whose ``expires`` comes first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobsim.hooks import Unread

from ._expiry import expired_at

if TYPE_CHECKING:
    from ._worker import Held
    from ._world import CeleryWorld


def unread(world: CeleryWorld) -> list[Unread]:
    from ._world import _ns

    now = world.sim.kernel.now
    out = []
    for held in world.unconsumed:
        eta = held.message.headers.get("eta")
        due = held.fetched if eta is None else max(held.fetched, _ns(eta, held.rt.app))
        if held.task_id in world.revoked_ids or due > now or _expired_by(held, due):
            continue  # revoked, due later (the test's business, as a delayed sim.send), or it would never run
        out.append(Unread(backend="celery", queue=held.queue, name=held.message.headers["task"],
                          read=_read(held), listing="sim.celery.unconsumed", worker=_worker(held)))  # fmt: skip
    return out


def _expired_by(held: Held, due: int) -> bool:
    """Whether a worker reading the queue would revoke the message as expired rather than run it: Celery's
    ``Request.revoked`` (``maybe_expire``: ``now > expires``, ``now`` a datetime to the microsecond, always after
    the instant the message was stamped with) discards it on receipt (``worker/strategy.py``) if it expired by
    then, else at its ETA (``execute_using_pool``): in virtual time, once ``due`` reaches ``expires`` (``_expiry``)."""
    from ._world import _ns

    expires = held.message.headers.get("expires")
    return expired_at(due, None if expires is None else _ns(expires, held.rt.app))


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
