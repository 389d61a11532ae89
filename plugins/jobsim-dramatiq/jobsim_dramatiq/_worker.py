"""A Dramatiq worker process in virtual time: its consumers, its work queue and its threads.

A real ``dramatiq.Worker`` (``worker.py:61-238``) runs one ``ConsumerThread`` per declared queue
and delay queue, fetching up to ``queue_prefetch`` (``delay_prefetch`` for a ``.DQ``)
unacknowledged messages; a message with an ``eta`` waits in its consumer's delay queue and is
re-enqueued on its canonical queue once due (``handle_delayed_messages``, ``worker.py:346-362``);
the others go on one work queue ordered by actor ``priority`` (lower first), then arrival
(``_WorkQueueItem``, ``worker.py:255-269``); ``worker_threads`` threads take from it and run
``process_message`` (``worker.py:542-613``); the consumer acks or nacks the message when its
thread is done (``post_process_message``, ``worker.py:400-452``).

Here the same steps run on the kernel, with the user's middleware called through the broker's
``emit_before``/``emit_after`` at the virtual instant each happens:

1. at the start, ``before_process_message``, then the actor (its body runs in one go and spends
   virtual time with ``time.sleep``/``asyncio.sleep``);
2. at the instant the actor returned or raised, ``after_process_message`` (or
   ``after_skip_message``): Retries decides and re-enqueues, Callbacks and Pipelines send,
   Results stores -- so what they do happens when it would;
3. then the ack or nack (``before_ack``/``after_ack``, ``before_nack``/``after_nack``; a nack
   dead-letters the message), and the thread takes the next message.

Polling is not modelled: a consumer fetches a message the instant it is on its queue, and a
delayed message is moved at its ``eta``. A real consumer polls an idle queue with a backoff of up
to ``worker_timeout`` (1 s by default, ``brokers/redis.py:366-371``), so on a real worker each hop
(enqueue to fetch, ``eta`` to move) can come up to ``worker_timeout`` later.
"""

from __future__ import annotations

import contextvars
import heapq
import logging
import math
from typing import TYPE_CHECKING, Any

from jobsim._kernel import URGENT
from jobsim._records import Attempt
from jobsim._time import MS
from jobsim.errors import UnsupportedFeature
from jobsim.hooks import escapes

from ._execution import DramatiqExecution

if TYPE_CHECKING:
    from ._broker import Parcel, SimBroker
    from ._world import DramatiqWorld

LOG = logging.getLogger("dramatiq.worker.WorkerThread")


class Consumer:
    """A ``ConsumerThread`` of one queue: how many of its messages are fetched and not yet acked, and
    (for a delay queue) the delayed messages it holds, by ``eta``."""

    __slots__ = ("delayed", "name", "outstanding", "prefetch", "timer", "timer_at")

    def __init__(self, name: str, prefetch: int) -> None:
        self.name = name
        self.prefetch = prefetch
        self.outstanding = 0
        self.delayed: list[tuple[float, int, Item]] = []
        self.timer: Any = None
        self.timer_at: int | None = None


class Item:
    """A fetched message: its ``MessageProxy``, the parcel it came in, and how its processing went."""

    __slots__ = ("called", "consumer", "context", "crashed", "ended", "fault", "glet", "inside", "kind", "parcel",
                 "proxy", "retried", "value", "x")

    def __init__(self, consumer: Consumer, parcel: Parcel, proxy: Any) -> None:
        self.consumer = consumer
        self.parcel = parcel
        self.proxy = proxy
        self.x: DramatiqExecution | None = None
        self.context: contextvars.Context | None = None
        self.kind = "ok"  # "ok" | "skip" | "error"
        self.value: Any = None  # the actor's result, or the exception
        self.called = False  # the actor was called (an attempt)
        self.ended = 0  # when the actor returned or raised
        self.fault: BaseException | None = None  # what sim.fail() made this attempt raise
        self.retried = False  # the message was enqueued again while this processing ended (Retries)
        self.crashed = False  # its worker process died before acking it (``_crash``): its next steps never come
        self.glet: Any = None  # the greenlet its thread's code runs in, until it ends (``_blocking``)
        self.inside: tuple[Any, ...] | None = None  # the execution state it parked with


class SimWorker:
    """One worker process: ``threads`` simulated threads reading the broker's queues."""

    def __init__(self, world: DramatiqWorld, sb: SimBroker, worker: Any, name: str) -> None:
        self.world = world
        self.sb = sb
        self.name = name
        self.settings = worker  # the unstarted dramatiq.Worker: a restarted process gets the same settings
        self.base, self.restarts = name, 0
        self.worker_timeout = int(worker.worker_timeout)  # an idle consumer's longest poll interval (ms)
        self.threads = int(worker.worker_threads)
        self.prefetch = int(worker.queue_prefetch)
        self.delay_prefetch = int(worker.delay_prefetch)
        self.whitelist = set(worker.consumer_whitelist) if worker.consumer_whitelist else None
        self.consumers: dict[str, Consumer] = {}
        self.work: list[tuple[int, int, Item]] = []
        self.busy = 0
        self.contexts = [contextvars.Context() for _ in range(self.threads)]  # each thread's own contextvars
        self.running: list[Item] = []
        self.stopped = False
        self.kick: Any = None  # the pending dispatch
        self.stopping: tuple[int, int] | None = None  # (at, timeout ns) of a planned stop, until it is drained
        self.dies_at: int | None = None  # the process is killed then (a crash): ``_crash``
        self.deadline: Any = None  # the kernel timer of a planned stop's timeout
        self.dead = False

    def consumes(self, queue: str) -> bool:
        """A consumer exists for every declared queue and its ``.DQ`` (``_WorkerMiddleware``, ``worker.py:241-252``),
        unless ``Worker(queues=...)`` leaves the queue out (``_add_consumer``, ``worker.py:216-219``)."""
        from dramatiq.common import q_name

        if self.stopped or not self.sb.declared(queue):
            return False
        return self.whitelist is None or q_name(queue) in self.whitelist

    def consumer(self, queue: str) -> Consumer:
        consumer = self.consumers.get(queue)
        if consumer is None:
            prefetch = self.delay_prefetch if queue.endswith(".DQ") else self.prefetch
            consumer = self.consumers[queue] = Consumer(queue, prefetch)
        return consumer

    # -- consumers ---------------------------------------------------------------------------
    def fetch(self, queue: str) -> None:
        """``do_fetch``: up to the consumer's prefetch, minus what it holds unacked (``brokers/redis.py:356-365``)."""
        from dramatiq.message import Message

        backlog = self.sb.backlogs.get(queue)
        consumer = self.consumer(queue)
        while backlog and consumer.outstanding < consumer.prefetch and not self.stopped:
            parcel = backlog.pop()
            consumer.outstanding += 1
            proxy = self.sb.proxy(Message.decode(parcel.data))
            self.handle_message(Item(consumer, parcel, proxy))

    def handle_message(self, item: Item) -> None:
        """``ConsumerThread.handle_message`` (``worker.py:364-398``)."""
        from dramatiq.errors import ActorNotFound

        proxy, broker = item.proxy, self.sb.broker
        options = proxy.options
        if "eta" in options:
            if options["eta"] is None:
                del options["eta"]
            elif not isinstance(options["eta"], int | float):
                options["eta"] = self.world.current_millis()
        if "eta" in options:
            broker.emit_before("delay_message", proxy)
            heapq.heappush(item.consumer.delayed, (options["eta"], self.world.next_seq(), item))
            self._arm(item.consumer)
            return
        try:
            actor = broker.get_actor(proxy.actor_name)
        except ActorNotFound as exc:
            LOG.error("Received message for undefined actor %r. Moving it to the DLQ.", proxy.actor_name)
            proxy.fail()
            proxy.stuff_exception(exc)
            item.kind, item.value = "error", exc
            self.post_process(item)
            return
        heapq.heappush(self.work, (actor.priority, self.world.next_seq(), item))
        self.dispatch()

    def _arm(self, consumer: Consumer) -> None:
        """A timer at the earliest ``eta`` (``eta > current_millis()`` keeps a message waiting: it moves at
        the first whole millisecond ``>= eta``)."""
        if not consumer.delayed:
            return
        due = math.ceil(consumer.delayed[0][0]) * MS
        if consumer.timer_at is not None and consumer.timer_at <= due and not consumer.timer.cancelled:
            return
        if consumer.timer is not None:
            self.world.sim.kernel.cancel(consumer.timer)
        consumer.timer_at = due
        first = consumer.delayed[0][2].proxy.actor_name  # named as an RQ job is, by what runs: BudgetExceeded lists it
        consumer.timer = self.world.sim.kernel.schedule(due, self._due, consumer,
                                                        owner=f"{first} (dramatiq message delayed on {consumer.name})")

    def _due(self, consumer: Consumer) -> None:
        """``handle_delayed_messages``: each due message goes to its canonical queue, then is acked on the ``.DQ``."""
        from dramatiq.common import q_name

        consumer.timer = consumer.timer_at = None
        self.world.tick()
        now = self.world.current_millis()
        while consumer.delayed and consumer.delayed[0][0] <= now and not self.stopped:
            _eta, _seq, item = heapq.heappop(consumer.delayed)
            proxy = item.proxy
            new_message = proxy.copy(queue_name=q_name(proxy.queue_name))
            del new_message.options["eta"]
            with self.world.moving(item.parcel.held):
                self.sb.broker.enqueue(new_message)
            self.post_process(item)
        self._arm(consumer)

    # -- threads -----------------------------------------------------------------------------
    def dispatch(self) -> None:
        """A free thread takes the next message, at this instant but in a kernel item of its own: the caller
        may be a thread finishing inside its own ``contextvars`` context, which the next message may reuse."""
        if self.kick is None and self.work and self.busy < self.threads and not self.stopped:
            self.kick = self.world.sim.kernel.schedule(self.world.sim.kernel.now, self._dispatch,
                                                       owner=f"dramatiq {self.name} (threads)")  # fmt: skip

    def _dispatch(self) -> None:
        self.kick = None
        if self.dies_at is not None and self.dies_at <= self.world.sim.kernel.now:
            return  # dying this instant: no thread takes another message
        while not self.stopped and self.busy < self.threads and self.work:
            _priority, _seq, item = heapq.heappop(self.work)
            self.busy += 1
            item.context = self.contexts.pop()
            self.running.append(item)
            self.world.threads.start(item, self._begin)

    def _begin(self, item: Item) -> None:
        """``process_message`` up to the actor's return (``worker.py:553-572``)."""
        from dramatiq.middleware import SkipMessage

        world, sim = self.world, self.world.sim
        engine, held, proxy, broker = sim.engine, item.parcel.held, item.proxy, self.sb.broker
        run = held.run
        x = item.x = DramatiqExecution(engine, run, held.calls, sim.kernel.now)
        held.calls += 1
        run.status = "running"
        self.arm_stop(x)
        crashes = world.crashes
        if crashes is not None:
            crashes.arm(self, item, x)
            if x.kill_at is not None and x.kill_at <= x.start:  # the process dies before this message's code runs
                x.killed = item.crashed = True
                item.ended = x.start
                crashes.killed(self, item, x)
                return
        with world.executing(item, x):
            try:
                broker.emit_before("process_message", proxy)
                result = None
                if not proxy.failed:
                    actor = broker.get_actor(proxy.actor_name)
                    item.called = True
                    item.fault = engine.take_fault(run.function.id, None)  # sim.fail(actor): this attempt raises it
                    if item.fault is not None:
                        raise item.fault
                    result = actor(*proxy.args, **proxy.kwargs)
                item.kind, item.value = "ok", result
            except SkipMessage as exc:
                item.kind, item.value = "skip", exc
            except BaseException as exc:
                if exc is not item.fault and _escapes(exc) and not x.killed:
                    raise
                item.kind, item.value = "error", exc
        item.ended = x.now
        if x.killed:  # whatever the code did after its process died (caught ProcessDied, returned) never happened
            item.crashed = True
            if world.crashes is not None:
                world.crashes.killed(self, item, x)
            return
        self._check_stop(item)
        self._later(x, self._after, item)

    def _check_stop(self, item: Item) -> None:
        """A message still running ``timeout`` after a stop began: ``Worker.stop`` gives up waiting for its thread
        (``join_all``, ``worker.py:161``) and the process exits with it unacknowledged. On Redis and RabbitMQ an
        execution starting after the stop was planned is killed at that instant (``arm_stop``) and redelivered
        (``_crash``); one whose body already ran past it, or any on a StubBroker (whose queues die with the
        process: nothing to redeliver), is refused rather than guessed."""
        x = item.x
        if self.stopping is None or x is None or x.killed:
            return
        at, timeout = self.stopping
        if x.start < at and x.now > at + timeout:
            from jobsim._time import format_duration, iso

            why = ("a StubBroker cannot redeliver it (its queues live in that process)" if self.sb.kind == "stub"
                   else "its body already ran past that instant when it started, before the stop was planned")
            raise UnsupportedFeature(
                f"actor {item.proxy.actor_name!r} (message {item.proxy.message_id}) runs until {iso(x.now)}, more than "
                f"the stop timeout ({format_duration(timeout)}) after {self.name} began to stop at {iso(at)}: the "
                f"worker process would exit with the message unacknowledged, and {why}. Give "
                "stop_worker(timeout=...) more time, or plan the stop before that message starts",
                system="dramatiq", feature="stop timeout",
            )  # fmt: skip

    def _after(self, item: Item) -> None:
        """``after_process_message``/``after_skip_message`` and the logging around them (``worker.py:573-600``)."""
        from dramatiq.errors import RateLimitExceeded, Retry

        if item.crashed:
            return
        x, proxy, broker = item.x, item.proxy, self.sb.broker
        assert x is not None
        attempt = self._attempt(item, x) if item.called else None
        with self.world.executing(item, x, finishing=True):
            if item.kind == "ok":
                try:
                    broker.emit_after("process_message", proxy, result=item.value)
                except BaseException as exc:  # a BaseException leaves emit_after (broker.py:123-129)
                    if _escapes(exc):
                        raise
                    item.kind, item.value = "error", exc
                    if attempt is not None:  # the attempt failed after all
                        attempt[0].error = exc
                        attempt[1]["error"] = f"{type(exc).__name__}: {exc}"
            if item.kind == "skip":
                if proxy.failed:
                    proxy.stuff_exception(item.value)
                LOG.warning("Message %s was skipped.", proxy)
                broker.emit_after("skip_message", proxy)
            elif item.kind == "error":
                error = item.value
                proxy.stuff_exception(error)
                actor = broker.actors.get(proxy.actor_name)
                throws = proxy.options.get("throws") or (actor and actor.options.get("throws"))
                if not isinstance(error, RateLimitExceeded | Retry) and not (throws and isinstance(error, throws)):
                    LOG.error("Failed to process message %s with unhandled exception.", proxy, exc_info=error)
                _handling(error, broker.emit_after, "process_message", proxy, exception=error)
        self._later(x, self.post_process, item)

    def _attempt(self, item: Item, x: DramatiqExecution) -> tuple[Attempt, dict[str, Any]]:
        """The actor's execution, from its start to its return: failed if it raised (or, found out just after,
        if an ``after_process_message`` hook raised a ``BaseException``)."""
        run = item.parcel.held.run
        error = item.value if item.kind == "error" else None
        attempt = Attempt(x.attempt, None, x.start, item.ended, error)
        run.attempts.append(attempt)
        data: dict[str, Any] = {"function": run.function.id, "run": run.id, "step": None, "attempt": x.attempt}
        if error is not None:
            data["error"] = f"{type(error).__name__}: {error}"
        self.world.sim.trace.add(x.start, "attempt", data)
        return attempt, data

    def post_process(self, item: Item) -> None:
        """``ConsumerThread.post_process_message`` (``worker.py:400-452``), then the thread is free.

        Called from the message's thread (its context entered) or, for a delayed message moved to its
        queue and a message for an unknown actor, from the consumer, which has no thread."""
        if item.crashed:
            return
        proxy, consumer, x = item.proxy, item.consumer, item.x
        nack = proxy.failed
        if x is not None:
            with self.world.executing(item, x):
                self._ack(item, nack)
        else:
            self._ack(item, nack)
        consumer.outstanding -= 1
        self.world.acked(item.parcel)
        if item.context is not None:  # it went through a thread
            proxy.clear_exception()
            self.busy -= 1
            self.contexts.append(item.context)
            self.running.remove(item)
            self.world.settle(item, dead=nack)
            self._drained()
        elif nack:
            self.world.settle(item, dead=True)
        self.fetch(consumer.name)
        self.dispatch()

    def _ack(self, item: Item, nack: bool) -> None:
        proxy, broker = item.proxy, self.sb.broker
        if nack:
            broker.emit_before("nack", proxy)
            error = item.value if isinstance(item.value, BaseException) else None
            self.sb.dead_letter(item.parcel, proxy, item.consumer.name, error)
            broker.emit_after("nack", proxy)
        else:
            broker.emit_before("ack", proxy)
            broker.emit_after("ack", proxy)

    def _later(self, x: DramatiqExecution, step: Any, item: Item) -> None:
        """The next step of a message's processing, at the instant its thread reaches it: now (the caller is
        inside the thread's context already), or on the kernel when the step before spent virtual time."""
        kernel = self.world.sim.kernel
        if x.now <= kernel.now:
            step(item)
            return
        context = item.context
        assert context is not None
        kernel.schedule(x.now, context.run, step, item, owner=f"{item.proxy.actor_name} (dramatiq worker thread)")

    # -- stopping ------------------------------------------------------------------------------
    def stop(self, at: int, timeout_ns: int) -> None:
        """``Worker.stop(timeout)`` at ``at`` (``worker.py:141-188``), planned by ``sim.dramatiq.stop_worker``.

        ``before_worker_shutdown`` makes ShutdownNotifications raise ``Shutdown`` in the actors that asked for it
        (``notify_shutdown``): every execution starting before ``at`` is armed for it (``arm_stop``). The threads
        take no new message; the ones running finish theirs (and ack it); then the work queue's and the delay
        queues' messages go back to the broker (``Consumer.requeue``) and the worker is stopped."""
        stopping = self.stopping = (at, timeout_ns)
        kernel = self.world.sim.kernel
        kernel.schedule(at, self._stop_now, owner=f"dramatiq {self.name} (stop)")
        if self.sb.kind != "stub":  # cancelled once the threads are done (``_drained``)
            self.deadline = kernel.schedule(at + timeout_ns, self._stop_deadline, stopping,
                                            owner=f"dramatiq {self.name} (stop timeout)", priority=URGENT)  # fmt: skip

    def arm_stop(self, x: DramatiqExecution) -> None:
        if self.stopping is not None and self.stopping[0] > x.start:
            x.shutdown_at = self.stopping[0]
            x.rearm()
            if self.sb.kind != "stub":  # the process exits when Worker.stop's timeout runs out (``_stop_deadline``)
                x.kill(self.stopping[0] + self.stopping[1])

    def _stop_deadline(self, stopping: tuple[int, int]) -> None:
        """``Worker.stop``'s ``join_all`` gave up on threads still running (``worker.py:160-188``): the rest is
        requeued as in a graceful stop, the process exits, and the running messages stay unacknowledged on the
        broker, which redelivers them as after a crash (``_crash.Crashes.lose``)."""
        self.deadline = None
        if self.stopping is not stopping or not self.running:
            return
        unacked = self._cut_short("Worker.stop(timeout) ran out")
        rest = self._held_back()
        self.stopping = None
        self.sb.requeue(rest)
        self.world.record("dramatiq.worker", worker=self.name, what="stopped", requeued=len(rest))
        self.world.ensure_crashes().lose(self, unacked, "stop timeout")

    def die(self) -> list[Parcel]:
        """The process is killed now (``_crash``): its running messages' attempts end with ``WorkerCrashed``, and
        every message it fetched and did not ack -- running, waiting for a thread, delayed -- is returned, still
        unacknowledged on the broker."""
        self.dead = self.stopped = True
        self.stopping = None
        if self.kick is not None:
            self.world.sim.kernel.cancel(self.kick)
            self.kick = None
        return self._cut_short("crash") + self._held_back()

    def _cut_short(self, why: str) -> list[Parcel]:
        from jobsim._time import iso
        from jobsim.errors import WorkerCrashed

        now = self.world.sim.kernel.now
        running = sorted(self.running, key=lambda item: (item.x.start if item.x else 0, item.parcel.seq))
        for item in running:
            item.crashed = True
            self.world.threads.abandon(item)  # one blocked in a Barrier.wait dies there
            if item.x is not None:
                item.kind, item.ended = "error", now
                item.value = WorkerCrashed(f"{self.name} died at {iso(now)} ({why}) before acking the message: the "
                                           "broker redelivers it")  # fmt: skip
                self._attempt(item, item.x)
            if item.context is not None:
                self.contexts.append(item.context)
            item.consumer.outstanding -= 1
        self.running.clear()
        self.busy = 0
        return [item.parcel for item in running]

    def _held_back(self) -> list[Parcel]:
        """The work queue's and the delay consumers' messages, taken back from this worker (timers cancelled)."""
        parcels = [item.parcel for _p, _s, item in sorted(self.work)]
        self.work.clear()
        for consumer in self.consumers.values():
            parcels.extend(item.parcel for _e, _s, item in sorted(consumer.delayed, key=lambda e: (e[0], e[1])))
            consumer.delayed.clear()
            if consumer.timer is not None:
                self.world.sim.kernel.cancel(consumer.timer)
            consumer.timer = consumer.timer_at = None
            consumer.outstanding = 0
        return parcels

    def _stop_now(self) -> None:
        self.stopped = True
        self.world.record("dramatiq.worker", worker=self.name, what="stop", running=len(self.running))
        if self.kick is not None:
            self.world.sim.kernel.cancel(self.kick)
            self.kick = None
        self._drained()

    def _drained(self) -> None:
        if not self.stopped or self.running or self.stopping is None:
            return
        parcels = self._held_back()
        self.stopping = None
        if self.deadline is not None:
            self.world.sim.kernel.cancel(self.deadline)
            self.deadline = None
        self.sb.requeue(parcels)
        self.world.record("dramatiq.worker", worker=self.name, what="stopped", requeued=len(parcels))

    def start(self) -> None:
        """The worker (re)starts: its consumers fetch what waits on the broker."""
        if self.dead:
            return
        self.world.tick()
        self.stopped = False
        self.world.record("dramatiq.worker", worker=self.name, what="start")
        for queue in sorted(self.sb.backlogs):
            if self.consumes(queue):
                self.fetch(queue)
        if self.world.crashes is not None:
            self.world.crashes.poke(self.sb)
        self.dispatch()


def _handling(error: BaseException, call: Any, *args: Any, **kwargs: Any) -> None:
    """``call(...)`` as from ``process_message``'s ``except BaseException`` block (``worker.py:581-600``): hooks
    see the error as the exception being handled (``Retries`` stores ``traceback.format_exc()`` in the message's
    options, ``retries.py:111``; what they raise gets it as ``__context__``). The error's traceback is left as
    the actor left it."""
    traceback = error.__traceback__
    try:
        raise error
    except BaseException:
        call(*args, **kwargs)
    finally:
        error.__traceback__ = traceback


def _escapes(exc: BaseException) -> bool:
    """Leaves the simulated worker instead of failing the message: jobsim's own errors and KeyboardInterrupt-likes
    (``jobsim.hooks.escapes``), but not Dramatiq's interrupts (``TimeLimitExceeded``, ``Shutdown``), which
    ``process_message`` handles as failures (``except BaseException``, ``worker.py:581``)."""
    from dramatiq.middleware import Interrupt

    return escapes(exc) and not isinstance(exc, Interrupt)
