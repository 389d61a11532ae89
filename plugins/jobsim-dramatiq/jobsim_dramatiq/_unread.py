"""Messages on queues no simulated worker reads (``sim.dramatiq.unconsumed``), and what jobsim-dramatiq answers
``jobsim_unread`` with when the simulation closes. A queue counts as read when some worker of its broker would
consume it (every declared queue, or those ``Worker(queues=...)`` names), stopped or crashed or not: a stopped
worker is the test's own doing, not a routing slip. A delayed message waits on ``<queue>.DQ`` until its eta:
only one due by now counts, as for a delayed ``sim.send``. Nor does one a worker reading the queue would have
dropped for its age: ``AgeLimit`` skips a message whose age when a worker takes it (its eta, or its send) has reached
``max_age`` (``middleware/age_limit.py``: ``current_millis() - message_timestamp >= max_age``); one that only grew
too old while it waited unread counts (a worker would have run it in time). A mixin of ``DramatiqWorld``."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from jobsim._time import MS
from jobsim.hooks import Unread

if TYPE_CHECKING:
    from jobsim import Simulation

    from ._broker import Parcel, SimBroker


class Unconsumed:
    if TYPE_CHECKING:
        sim: Simulation
        brokers: list[SimBroker]

    @property
    def unconsumed(self) -> list[Any]:
        """The ``dramatiq.Message`` objects due on queues no simulated worker reads, queue by queue."""
        from dramatiq import Message

        return [Message.decode(parcel.data) for _, parcel in self._unread()]

    def unread_work(self) -> list[Unread]:
        from dramatiq.common import q_name

        out = []
        for sb, parcel in self._unread():
            read, queue = _read(sb), q_name(parcel.queue)
            both = ", ".join(map(repr, sorted({*read, queue})))
            worker = f"dramatiq.Worker(broker, queues={{{both}}})" if read else "dramatiq.Worker(broker)"
            source = f"broker {self.brokers.index(sb) + 1}, a {type(sb.broker).__name__}"
            why, fix = _misspelt_worker_queue(sb, read, queue)
            out.append(Unread(backend="dramatiq", queue=queue, name=parcel.held.run.function.id, read=read,
                              kind="actor", listing="sim.dramatiq.unconsumed", worker=worker,
                              source=source, why=why, fix=fix))  # fmt: skip
        return out

    def _unread(self) -> list[tuple[SimBroker, Parcel]]:
        from dramatiq import Message
        from dramatiq.common import q_name

        now_ms = -(-self.sim.now_ns() // MS)
        out: list[tuple[SimBroker, Parcel]] = []
        for sb in self.brokers:
            read = set(_read(sb))
            queues = dict.fromkeys([*sb.backlogs, *(p.queue for _, p in sb.posted)])
            for queue in (q for q in queues if q_name(q) not in read):
                for parcel in sb.waiting(queue):
                    message = Message.decode(parcel.data)
                    eta = message.options.get("eta") if queue.endswith(".DQ") else None
                    if (eta is None or eta <= now_ms) and not _too_old(sb, message, eta):
                        out.append((sb, parcel))
        return out


def _misspelt_worker_queue(sb: SimBroker, read: list[str], queue: str) -> tuple[str | None, str | None]:
    """When a worker reads a queue no actor declares, spelt like the actor's queue this message waits on
    (``queues={"emials"}`` beside ``queue_name="emails"``), the worker's is the typo: say so, and give the worker
    with it corrected (the generic hint, "did you mean 'emials'?", sent the user to rename the actor's queue)."""
    from dramatiq.common import q_name

    declared = {q_name(actor.queue_name) for actor in sb.broker.actors.values()}
    close = difflib.get_close_matches(queue, [q for q in read if q not in declared], n=1, cutoff=0.6)
    if queue not in declared or not close:
        return None, None
    shown = ", ".join(map(repr, read))
    fixed = ", ".join(map(repr, sorted({*read} - {close[0]} | {queue})))
    return (f"which no simulated worker reads (the workers read {shown}; {close[0]!r}, which no actor declares, looks "
            f"like a misspelling of {queue!r}), so they never ran, as on a broker with no worker on that queue",
            f"Fix the worker's queues (dramatiq.Worker(broker, queues={{{fixed}}})), or route the work to a queue a "
            "worker reads")  # fmt: skip


def _too_old(sb: SimBroker, message: Any, eta: int | None) -> bool:
    """``AgeLimit.before_process_message`` as a worker taking the message when it is due (its eta, else as it was
    sent) would run it: the message's ``max_age``, else the actor's, else the middleware's; none (or no ``AgeLimit``
    on the broker) is no limit."""
    from dramatiq.middleware import AgeLimit

    limit = next((m for m in sb.broker.middleware if isinstance(m, AgeLimit)), None)
    if limit is None:
        return False
    actor = sb.broker.actors.get(message.actor_name)
    actor_options = actor.options if actor is not None else {}
    max_age = message.options.get("max_age") or actor_options.get("max_age", limit.max_age)
    taken = message.message_timestamp if eta is None else eta
    return bool(max_age) and taken - message.message_timestamp >= max_age


def _read(sb: SimBroker) -> list[str]:
    """The queues the broker's workers would consume (stopped, or crashed for good, or not), sorted: every declared
    queue for a worker without ``queues=``, else the queues it names, declared yet or not (``queues={"emials"}``
    reads nothing today, but it is what the test wrote, and what a close match is looked for in)."""
    from dramatiq.common import q_name

    declared = {q_name(q) for q in sb.broker.queues}
    workers = [*sb.workers, *sb.crashed]
    return sorted({q_name(q) for w in workers for q in (declared if w.whitelist is None else w.whitelist)})
