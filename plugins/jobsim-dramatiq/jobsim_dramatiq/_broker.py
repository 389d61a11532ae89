"""One Dramatiq broker in the simulation: what ``broker.enqueue`` does, the queues, the dead letters.

A real broker keeps messages on a server (Redis lists, RabbitMQ queues) or in ``queue.Queue``
objects (``StubBroker``). Here each queue is a backlog in memory, in the order the broker
would hand messages out: Redis and the stub broker are FIFO (``RPUSH``/``LPOP``,
``brokers/redis/dispatch.lua:145-173``); a ``RabbitmqBroker(max_priority=N)`` queue hands out
the highest ``broker_priority`` first, FIFO among equals (``brokers/rabbitmq.py:387-394``).
Workers (``_worker.SimWorker``) fetch from these backlogs up to their prefetch.

``enqueue`` is each broker class's own sequence, redone without the server
(``brokers/stub.py:97-126``, ``brokers/redis.py:150-186``, ``brokers/rabbitmq.py:356-401``):
a delay sends the message to the delay queue ``<queue>.DQ`` with ``options["eta"] =
current_millis() + delay``; ``before_enqueue``/``after_enqueue`` are emitted to the middleware
around ``message.encode()``, so a message the encoder cannot hold fails in ``send`` as it would.
"""

from __future__ import annotations

import collections
import heapq
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from jobsim._time import MS, iso

if TYPE_CHECKING:
    from ._results import ResultStore
    from ._worker import SimWorker
    from ._world import DramatiqWorld, Held


class Parcel:
    """A message on a queue: the bytes the broker stores, and the delivery (``Held``) it belongs to."""

    __slots__ = ("data", "held", "priority", "queue", "seq")

    def __init__(self, held: Held, queue: str, data: bytes, priority: int, seq: int) -> None:
        self.held = held
        self.queue = queue
        self.data = data
        self.priority = priority
        self.seq = seq


class Backlog:
    """The messages of one queue that no worker has fetched yet, in the order the broker hands them out."""

    __slots__ = ("fifo", "heap", "prioritised")

    def __init__(self, prioritised: bool) -> None:
        self.prioritised = prioritised
        self.fifo: collections.deque[Parcel] = collections.deque()
        self.heap: list[tuple[int, int, Parcel]] = []

    def push(self, parcel: Parcel, *, front: bool = False) -> None:
        if self.prioritised:
            heapq.heappush(self.heap, (-parcel.priority, parcel.seq, parcel))
        elif front:
            self.fifo.appendleft(parcel)
        else:
            self.fifo.append(parcel)

    def pop(self) -> Parcel:
        return heapq.heappop(self.heap)[2] if self.prioritised else self.fifo.popleft()

    def __len__(self) -> int:
        return len(self.heap) + len(self.fifo)

    def __iter__(self) -> Iterator[Parcel]:
        yield from (entry[2] for entry in sorted(self.heap))
        yield from self.fifo

    def clear(self) -> list[Parcel]:
        dropped = list(self)
        self.fifo.clear()
        self.heap.clear()
        return dropped


class DeadLetter:
    """A message the broker dead-lettered (``consumer.nack``): ``sim.dramatiq.dead_letters``.

    ``message`` is what the broker keeps: the ``MessageProxy`` itself on the stub broker
    (``brokers/stub.py:213-216``, so ``message._exception`` is there), the message as it was
    last enqueued on Redis (its hash entry moves to ``<queue>.XQ``, ``dispatch.lua:200-212``)
    and RabbitMQ. ``expires_at`` is when the broker drops it: ``dead_message_ttl`` after
    ``at`` on Redis (purged by the next maintenance run from then, ``dispatch.lua:134-140``),
    ``DEAD_MESSAGE_TTL`` on RabbitMQ (the ``.XQ`` queue's ``x-message-ttl``); never on the stub.
    """

    __slots__ = ("at", "broker", "error", "expires_at", "message", "queue", "run_id")

    def __init__(self, broker: Any, queue: str, message: Any, run_id: str, at: int, error: BaseException | None,
                 expires_at: int | None) -> None:  # fmt: skip
        self.broker = broker
        self.queue = queue
        self.message = message
        self.run_id = run_id
        self.at = at
        self.error = error
        self.expires_at = expires_at

    @property
    def message_id(self) -> str:
        return str(self.message.message_id)

    def __repr__(self) -> str:
        expiry = f", until {iso(self.expires_at)}" if self.expires_at is not None else ""
        return f"<DeadLetter {self.message_id} on {self.queue}.XQ since {iso(self.at)}{expiry}>"


class SimBroker:
    """A broker the simulation runs: its backlogs, the workers consuming it, its messages in flight."""

    def __init__(self, world: DramatiqWorld, broker: Any, kind: str) -> None:
        self.world = world
        self.broker = broker
        self.kind = kind
        self.backlogs: dict[str, Backlog] = {}
        self.workers: list[SimWorker] = []
        self.crashed: list[SimWorker] = []  # crashed for good (restart=None): their queues still count as read
        self.explicit = False  # given to the Simulation itself (not only through an actor or a Worker)
        self.unacked: collections.Counter[str] = collections.Counter()  # canonical queue -> enqueued, not yet acked
        self.prioritised = kind == "rabbitmq" and getattr(broker, "max_priority", None) is not None
        self.shadowed: list[str] = []  # broker methods shadowed by instance attributes while the simulation runs
        self.set_aside: list[tuple[int, Any]] = []  # middleware taken out for the simulation (index, middleware)
        self.swaps: list[tuple[Any, str, Any]] = []  # (middleware, attribute, original) swapped for virtual stand-ins
        self.stores: list[ResultStore] = []  # Results backends kept in virtual time
        self.posted: list[tuple[int, Parcel]] = []  # (instant, parcel) stored by the broker, its arrival not run yet

    # -- enqueue --------------------------------------------------------------------------------
    def prepare(self, message: Any, delay: int | float | None) -> tuple[Any, str]:
        """The message as the broker stores it and the queue it goes to (see the module docstring)."""
        from dramatiq.common import dq_name, q_name
        from dramatiq.errors import QueueNotFound

        canonical = message.queue_name
        queue_name = canonical
        if self.kind == "redis":  # a fresh id per enqueue: retries reuse the message id (brokers/redis.py:163-170)
            message = message.copy(options={"redis_message_id": str(self.world.new_uuid())})
        if delay is not None:
            queue_name = dq_name(queue_name)
            message = message.copy(queue_name=queue_name, options={"eta": self.world.current_millis() + delay})
        if self.kind == "stub" and queue_name not in self.broker.queues:
            raise QueueNotFound(queue_name)
        if self.kind == "rabbitmq":  # enqueue declares the queue (brokers/rabbitmq.py:384), without the server here
            self.broker.declare_queue(q_name(canonical))
        return message, queue_name

    def priority(self, message: Any) -> int:
        """RabbitMQ's ``broker_priority`` (absent: 0; above ``max_priority``: ``max_priority``)."""
        if not self.prioritised:
            return 0
        value = message.options.get("broker_priority") or 0
        return int(min(value, self.broker.max_priority))

    def arrive(self, parcel: Parcel) -> None:
        """The message is on its queue: the first worker with room fetches it (a worker polls at once here)."""
        for i, (_, posted) in enumerate(self.posted):
            if posted is parcel:
                del self.posted[i]
                break
        else:
            return  # flushed before its arrival ran (``_drop``)
        self.world.tick()
        backlog = self.backlog(parcel.queue)
        backlog.push(parcel)
        self.offer(parcel.queue)
        if backlog and not any(worker.consumes(parcel.queue) for worker in self.workers):
            held = parcel.held
            self.world.record("dramatiq.unconsumed", function=held.run.function.id, run=held.run.id,
                              queue=parcel.queue)  # fmt: skip

    def backlog(self, queue: str) -> Backlog:
        backlog = self.backlogs.get(queue)
        if backlog is None:
            backlog = self.backlogs[queue] = Backlog(self.prioritised)
        return backlog

    def offer(self, queue: str) -> None:
        backlog = self.backlogs.get(queue)
        for worker in self.workers:
            if not backlog:
                return
            if worker.consumes(queue):
                worker.fetch(queue)

    def requeue(self, parcels: list[Parcel]) -> None:
        """Fetched but unprocessed messages go back (``Consumer.requeue``): to the back of their queue on
        Redis (``RPUSH``, ``dispatch.lua:178-187``) and RabbitMQ (a nack with ``requeue=True``); the stub
        broker's consumer does not requeue at all (``Consumer.requeue`` is a no-op, ``broker.py:359-366``):
        those messages are lost, as in a real test with ``StubBroker``."""
        for parcel in parcels:
            if self.kind == "stub":
                self.world.lost(parcel, "the stub broker does not requeue a stopped worker's prefetched messages")
                continue
            self.backlog(parcel.queue).push(parcel)

    def proxy(self, message: Any) -> Any:
        """The ``MessageProxy`` a consumer yields; the stub broker's keeps its exception (``stub.py:233-248``)."""
        if self.kind == "stub":
            from dramatiq.brokers.stub import _StubMessageProxy

            return _StubMessageProxy(message)
        from dramatiq.broker import MessageProxy

        return MessageProxy(message)

    # -- dead letters ---------------------------------------------------------------------------
    def dead_letter(self, parcel: Parcel, proxy: Any, consumer_queue: str, error: BaseException | None) -> DeadLetter:
        """``consumer.nack(message)``: keep the message where this broker keeps dead letters."""
        from dramatiq.common import q_name
        from dramatiq.message import Message

        now = self.world.sim.now_ns()
        if self.kind == "stub":
            self.broker.dead_letters_by_queue[consumer_queue].append(proxy)
            kept, ttl_ms = proxy, None
        elif self.kind == "redis":
            kept, ttl_ms = Message.decode(parcel.data), int(self.broker.dead_message_ttl)
        else:
            from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL

            kept, ttl_ms = Message.decode(parcel.data), int(DEAD_MESSAGE_TTL)
        expires = None if ttl_ms is None else now + ttl_ms * MS
        letter = DeadLetter(self.broker, q_name(parcel.queue), kept, parcel.held.run.id, now, error, expires)
        self.world.dead_lettered(letter)
        return letter

    # -- what tests call on the broker ------------------------------------------------------------
    def declared(self, queue: str) -> bool:
        from dramatiq.common import q_name

        return q_name(queue) in self.broker.queues

    def waiting(self, queue: str, *, arriving: bool = False) -> list[Parcel]:
        """The messages on ``queue`` no consumer has fetched, in the broker's order, as of the simulation's instant:
        its backlog, then those the broker stored by now whose arrival has not run yet. ``arriving``: those only."""
        now = self.world.sim.now_ns()
        stored = [parcel for at, parcel in self.posted if parcel.queue == queue and at <= now]
        return stored if arriving else [*self.backlogs.get(queue, ()), *stored]

    def flush(self, queue_name: str) -> None:
        """``broker.flush(queue)``: drop the waiting messages (those no consumer fetched) of the queue -- on a
        ``StubBroker`` that queue alone, not its delay queue (``brokers/stub.py:128-135``; a queue it never
        declared is its ``KeyError``); on Redis the queue and its delay queue with their dead letters (``purge``,
        ``brokers/redis.py:197-204``, ``dispatch.lua:216-217``); on RabbitMQ the queue, its ``.DQ`` and its ``.XQ``
        (``brokers/rabbitmq.py:457-471``)."""
        from dramatiq.common import dq_name

        if self.kind == "stub":
            if queue_name not in self.broker.queues:
                raise KeyError(queue_name)
            self._drop(queue_name, queue_name)
            return
        for name in (queue_name, dq_name(queue_name)):
            self._drop(name, queue_name)
        self.world.forget_dead_letters(self.broker, queue_name)

    def _drop(self, name: str, flushed: str) -> None:
        backlog = self.backlogs.get(name)
        for parcel in [*(backlog.clear() if backlog is not None else ()), *self.waiting(name, arriving=True)]:
            self.posted = [(at, p) for at, p in self.posted if p is not parcel]
            self.world.lost(parcel, f"broker.flush({flushed!r}) dropped it")
        if self.world.crashes is not None and self.kind == "redis":
            self.world.crashes.flushed(self, name)

    def flush_all(self) -> None:
        """``broker.flush_all()``: ``flush`` of every declared queue -- on a ``StubBroker`` every queue and delay
        queue, then its dead letters cleared in place (``brokers/stub.py:137-144``)."""
        from dramatiq.common import q_name

        names = {*self.backlogs, *(parcel.queue for _, parcel in self.posted), *self.broker.get_declared_queues()}
        if self.kind == "stub":
            for name in sorted(names):
                self._drop(name, name)
            for letters in self.broker.dead_letters_by_queue.values():
                letters.clear()
            self.world.forget_dead_letters(self.broker, None)
            return
        for name in sorted({q_name(name) for name in names}):
            self.flush(name)


class StubQueueView:
    """What ``stub_broker.queues[name]`` is while the simulation runs the broker: its ``queue.Queue`` as a reader
    sees it at the virtual instant (``brokers/stub.py:85-94``). The messages are the simulation's: ``qsize()``,
    ``empty()`` and ``queue`` are the ones no consumer has fetched yet (encoded, as the broker put them),
    ``unfinished_tasks`` those and the ones fetched and not yet acked or dead-lettered (``task_done`` comes with the
    ack, ``brokers/stub.py:224-232``). Taking or putting messages, or waiting on the queue, is refused: that is
    the simulated workers' and the broker's own job."""

    maxsize = 0

    def __init__(self, sb: SimBroker, name: str, real: Any) -> None:
        self._sb = sb
        self._name = name
        self.real = real  # the broker's own queue.Queue, put back when the simulation ends

    def qsize(self) -> int:
        return len(self._sb.waiting(self._name))

    def empty(self) -> bool:
        return self.qsize() == 0

    def full(self) -> bool:
        return False

    @property
    def queue(self) -> collections.deque[bytes]:
        return collections.deque(parcel.data for parcel in self._sb.waiting(self._name))

    @property
    def unfinished_tasks(self) -> int:
        fetched = sum(consumer.outstanding for worker in self._sb.workers
                      for name, consumer in worker.consumers.items() if name == self._name)  # fmt: skip
        return self.qsize() + fetched

    def _refuse(self, what: str) -> Any:
        from jobsim.errors import UnsupportedFeature

        raise UnsupportedFeature(
            f"broker.queues[{self._name!r}].{what} on a StubBroker this simulation runs: its messages are the "
            "simulated workers', which take them in virtual time. Send with actor.send(...), wait with "
            "broker.join(queue) or sim.run_until_idle(), and read what ran with sim.runs(actor); qsize(), empty() "
            "and unfinished_tasks read the queue",
            system="dramatiq", feature="StubBroker queue access",
        )  # fmt: skip

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self._refuse("get()")

    def get_nowait(self) -> Any:
        return self._refuse("get_nowait()")

    def put(self, *args: Any, **kwargs: Any) -> Any:
        return self._refuse("put()")

    def put_nowait(self, *args: Any) -> Any:
        return self._refuse("put_nowait()")

    def task_done(self) -> Any:
        return self._refuse("task_done()")

    def join(self) -> Any:
        return self._refuse("join() (use broker.join(queue))")


class StubQueues(dict[str, Any]):
    """``stub_broker.queues`` while the simulation runs it: each queue a ``StubQueueView``; a queue declared
    meanwhile (``declare_queue`` stores a new ``queue.Queue``) is viewed too."""

    def __init__(self, sb: SimBroker, real: dict[str, Any]) -> None:
        super().__init__()
        self._sb = sb
        for name, queue in real.items():
            self[name] = queue

    def __setitem__(self, name: str, queue: Any) -> None:
        view = queue if isinstance(queue, StubQueueView) else StubQueueView(self._sb, name, queue)
        super().__setitem__(name, view)

    def originals(self) -> dict[str, Any]:
        return {name: view.real for name, view in self.items()}
