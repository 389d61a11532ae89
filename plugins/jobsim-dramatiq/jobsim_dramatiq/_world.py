"""One simulation's Dramatiq side (``sim.dramatiq``): its brokers, their workers, the messages and their runs.

While the simulation runs, ``enqueue`` on each broker it was given (``actor.send``,
``send_with_options``, ``pipeline.run``, ``group.run``, the Retries, Callbacks, Pipelines and
GroupCallbacks middleware) goes to the simulation, never to a server (``_broker``); simulated
workers consume the queues in virtual time (``_worker``). Each message is one jobsim run (its id is
the message id) of the function named by its actor, each execution of the actor an attempt,
each re-enqueue by ``Retries`` a ``retry`` record with its delay.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import math
import random
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import jobsim
import jobsim_dramatiq
from jobsim._events import Event
from jobsim._kernel import BACKGROUND
from jobsim._records import Run
from jobsim._time import MS, duration_ns, iso
from jobsim.errors import InvalidArgument, JobsimError, UnsupportedFeature
from jobsim.hooks import Adapted, attempt_budget, end_run, output_bytes, refusing_handler

from . import _middleware
from ._blocking import Threads
from ._broker import DeadLetter, Parcel, SimBroker, StubQueues
from ._limiters import Versions
from ._sendchecks import check_send_options

if TYPE_CHECKING:
    from jobsim import Simulation

    from ._crash import Crashes
    from ._execution import DramatiqExecution
    from ._results import ResultStore
    from ._worker import Item, SimWorker

BACKEND = "dramatiq"
README = "plugins/jobsim-dramatiq/README.md"


class Held:
    """One delivery of a message: its run, and how many of its copies are on queues or held unacked."""

    __slots__ = ("calls", "message_id", "run", "sb", "unacked")

    def __init__(self, run: Run, sb: SimBroker, message_id: str) -> None:
        self.run = run
        self.sb = sb
        self.message_id = message_id
        self.calls = 0  # executions so far
        self.unacked = 0


class DramatiqWorld:
    """``sim.dramatiq``: the Dramatiq brokers of one simulation and the workers consuming them."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.brokers: list[SimBroker] = []
        self.app = jobsim.App("dramatiq")
        self.functions: dict[str, jobsim.Function] = {}
        self.ids = random.Random(f"jobsim-dramatiq-ids:{sim.seed}")
        self.seq = itertools.count()
        self.installed = False
        self.current: Item | None = None  # the message whose thread is running code
        self.current_x: DramatiqExecution | None = None
        self.finishing: Item | None = None  # the message whose after_process_message hooks are running
        self.move: Held | None = None  # the delivery whose delayed message is being moved to its queue
        self.deliveries: dict[str, list[Held]] = {}  # message id -> its deliveries, in order
        self.unknown_actors: set[str] = set()  # names broker.get_actor did not know (``_get_actor``)
        self.dead: list[DeadLetter] = []
        self.crashes: Crashes | None = None  # from the first crash planned (``_crash``)
        self.minted: set[str] = set()  # the uuids drawn in the simulation (message ids among them)
        self.begin_ms = 0  # the virtual start, and real-clock ms -> virtual ms (set at install)
        self.real_shift_ms = 0
        self.limiters: dict[int, tuple[Any, Any]] = {}  # id(rate-limiter backend) -> (it, its StubBackend)
        self.stub_versions: dict[int, Versions] = {}  # id(rate-limiter StubBackend) -> its writes
        self.stand_ins: dict[int, Any] = {}  # id(a stand-in StubBackend) -> the server backend it answers for
        self.threads = Threads(self)  # the worker threads' greenlets and the waits parked in them
        self.stub_results: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (a StubBackend.results, its entries)
        self.stub_stores: dict[int, tuple[Any, ResultStore]] = {}  # id(results StubBackend) -> (it, its store)

    # -- ids, clock, context --------------------------------------------------------------------
    def new_uuid(self) -> uuid.UUID:
        """``uuid4()`` drawn from the simulation's seed: the same seed gives the same message ids."""
        drawn = uuid.UUID(int=self.ids.getrandbits(128), version=4)
        self.minted.add(str(drawn))
        return drawn

    def limiter(self, backend: Any) -> Any:
        """The in-memory stand-in for the server rate-limiter ``backend``: a ``StubBackend`` (``_patches``)."""
        entry = self.limiters.get(id(backend))
        if entry is None or entry[0] is not backend:
            from dramatiq.rate_limits.backends import StubBackend

            entry = self.limiters[id(backend)] = (backend, StubBackend())
            self.stand_ins[id(entry[1])] = backend
        return entry[1]

    def stands_in_for_redis(self, stub: Any) -> bool:
        """``stub`` answers for a ``RedisBackend`` (whose ``wait_notify`` leaves an event list behind)."""
        backend = self.stand_ins.get(id(stub))
        return backend is not None and type(backend).__name__ == "RedisBackend" and self.limiter(backend) is stub

    def versions(self, stub: Any, monotonic_origin_ns: int) -> Versions:
        """The writes of the rate-limiter ``StubBackend`` ``stub`` by virtual instant (``_limiters``)."""
        entry = self.stub_versions.get(id(stub))
        if entry is None or entry.backend is not stub:
            entry = self.stub_versions[id(stub)] = Versions(stub, self.sim.now_ns, monotonic_origin_ns)
        return entry

    def stub_entries(self, backend: Any) -> dict[str, Any]:
        """The simulation's entries for a results ``StubBackend``: one map per ``results`` dict, which Dramatiq
        declares on the class (``results/backends/stub.py:39``), so every instance reads what any other stored."""
        shared = backend.results
        for results, entries in self.stub_results:
            if results is shared:
                return entries
        self.stub_results.append((shared, {}))
        return self.stub_results[-1][1]

    def stub_store(self, backend: Any) -> ResultStore:
        """The store a results ``StubBackend`` no simulated broker's ``Results`` uses reads (``_patches``)."""
        entry = self.stub_stores.get(id(backend))
        if entry is None or entry[0] is not backend:
            from ._results import ResultStore

            entry = self.stub_stores[id(backend)] = (backend, ResultStore(self, backend))
        return entry[1]

    def current_millis(self) -> int:
        """``dramatiq.common.current_millis`` on the virtual clock (the running actor's own, in actor code)."""
        return self.sim.now_ns() // MS

    def next_seq(self) -> int:
        return next(self.seq)

    def tick(self) -> None:
        """A kernel item of the worker or broker (not an actor's code) calls middleware hooks: the wall clock they
        read is the kernel's instant."""
        self.sim.wallclock.move(self.sim.kernel.now)

    def execution(self) -> DramatiqExecution | None:
        return self.current_x

    def thread_state(self) -> tuple[Any, ...]:
        """What ``executing`` sets: saved when a worker thread's greenlet parks or returns (``_blocking``)."""
        return self.sim.engine.x, self.current, self.current_x, self.finishing

    def set_thread_state(self, state: tuple[Any, ...]) -> None:
        self.sim.engine.x, self.current, self.current_x, self.finishing = state

    @contextlib.contextmanager
    def executing(self, item: Item, x: DramatiqExecution, *, finishing: bool = False) -> Iterator[None]:
        """Code of ``item``'s thread runs: jobsim's execution context is ``x`` (``time.sleep`` spends its time)."""
        engine = self.sim.engine
        saved = engine.x, self.current, self.current_x, self.finishing
        engine.x, self.current, self.current_x = x, item, x
        if finishing:
            self.finishing = item
            item.retried = False
        engine.move_clock(x.now)
        try:
            yield
        finally:
            engine.x, self.current, self.current_x, self.finishing = saved

    @contextlib.contextmanager
    def moving(self, held: Held) -> Iterator[None]:
        saved, self.move = self.move, held
        try:
            yield
        finally:
            self.move = saved

    def event_loop_thread(self, original: Callable[[], Any]) -> Callable[[], Any]:
        """``dramatiq.asyncio.get_event_loop_thread`` while the simulation runs (see ``_execution.LoopThread``)."""
        from ._execution import LoopThread

        loop = LoopThread()

        def get_event_loop_thread() -> Any:
            item = self.current
            if item is not None and _middleware.has_asyncio(item.parcel.held.sb.broker):
                return loop
            return original()

        return get_event_loop_thread

    # -- adapting ---------------------------------------------------------------------------
    def owns(self, broker: Any) -> bool:
        return any(sb.broker is broker for sb in self.brokers)

    def adopt(self, target: Any) -> Adapted:
        from dramatiq import Actor, Broker, Worker

        new: list[jobsim.Function] = []
        if isinstance(target, Broker):
            sb = self._broker(target, new)
            if sb.explicit:
                raise InvalidArgument(f"the Dramatiq broker {_named(target)} is passed to this Simulation twice")
            sb.explicit = True
        elif isinstance(target, Actor):
            self._broker(target.broker, new)
        elif isinstance(target, Worker):
            if target.workers or target.consumers:
                raise InvalidArgument(
                    "the dramatiq.Worker passed to jobsim.Simulation was started (worker.start()): its threads would "
                    "consume messages in real time. Pass it unstarted: the simulation runs its threads and queues"
                )
            threads = target.worker_threads
            if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
                # worker.py:113 starts that many threads: with none, every message waits for ever
                raise InvalidArgument.build("worker_threads", threads, "at least 1 worker thread "
                                            "(dramatiq.Worker(broker, worker_threads=N), the CLI's --threads)")
            wait = target.worker_timeout
            if isinstance(wait, bool) or not isinstance(wait, int | float) or not math.isfinite(wait):
                raise InvalidArgument.build("worker_timeout", wait, "milliseconds an idle consumer waits between "
                                            "polls, a finite number (Dramatiq's default 1000)")  # fmt: skip
            sb = self._broker(target.broker, new)
            self._add_worker(sb, target)
        return Adapted(backend=BACKEND, functions=new, install=self.install, uninstall=self.uninstall,
                       profile="dramatiq", own_worker=True, dynamic=True)  # fmt: skip

    def _broker(self, broker: Any, new: list[jobsim.Function]) -> SimBroker:
        for sb in self.brokers:
            if sb.broker is broker:
                return sb
        kind = _kind(broker)
        _middleware.check(broker)
        sb = SimBroker(self, broker, kind)
        self.brokers.append(sb)
        for name, actor in sorted(broker.actors.items()):
            new.append(self._declare(name, actor, sb, adopting=True))
        return sb

    def _add_worker(self, sb: SimBroker, worker: Any) -> SimWorker:
        from ._worker import SimWorker

        simulated = SimWorker(self, sb, worker, f"worker-{sum(len(b.workers) for b in self.brokers) + 1}")
        sb.workers.append(simulated)
        return simulated

    def _declare(self, name: str, actor: Any, sb: SimBroker, *, adopting: bool = False) -> jobsim.Function:
        """The jobsim function of actor ``name`` (``sim.runs(actor)`` or ``sim.runs("name")``), on first sight."""
        fn = self.functions.get(name)
        if fn is not None:
            owner = fn.options["broker"]
            if owner is not sb.broker:
                raise InvalidArgument(f"actor name {name!r} is declared on two Dramatiq brokers of this simulation "
                                      f"({_named(owner)} and {_named(sb.broker)}); jobsim names runs by actor name: "
                                      "rename one (actor_name=...)")  # fmt: skip
            return fn
        fn = jobsim.Function(id=name, handler=_not_an_event_handler(name), app=self.app,
                             options={"dramatiq": True, "native": actor, "broker": sb.broker})  # fmt: skip
        self.app.functions[name] = fn
        self.functions[name] = fn
        if not adopting:
            self.sim.add_function(fn, own_worker=True)
        return fn

    # -- install / uninstall ----------------------------------------------------------------
    def install(self, sim: Simulation) -> None:
        if self.installed:
            return
        from dramatiq import Worker

        from jobsim._wallclock import WallClock

        from . import _patches

        _patches.push(self)
        self.installed = True
        self.begin_ms = self.sim.kernel.now // MS
        self.real_shift_ms = self.begin_ms - int(WallClock.real_now().timestamp() * 1000)
        try:
            for sb in self.brokers:
                if not sb.workers:
                    self._add_worker(sb, Worker(sb.broker))  # dramatiq's defaults: 8 threads, its prefetch
                _middleware.install(self, sb)
                self._shadow(sb)
                self._take_waiting(sb)
                if sb.kind == "stub":  # its queue.Queue objects, as a reader sees them in the simulation
                    sb.broker.queues = StubQueues(sb, sb.broker.queues)
        except BaseException:
            self.uninstall(sim)
            raise

    def _shadow(self, sb: SimBroker) -> None:
        """Instance attributes shadow the broker's methods while the simulation runs."""
        own = sb.broker.__dict__
        own["enqueue"] = lambda message, *, delay=None: self.enqueue(sb.broker, message, delay=delay)
        own["join"] = self._broker_join(sb)
        own["flush"] = sb.flush
        own["flush_all"] = sb.flush_all
        own["consume"] = self._refuse_consume
        own["get_actor"] = self._get_actor(sb.broker)
        sb.shadowed = ["enqueue", "join", "flush", "flush_all", "consume", "get_actor"]
        if hasattr(sb.broker, "get_queue_message_counts"):  # RabbitmqBroker's: it asks the server
            own["get_queue_message_counts"] = self._refuse_counts
            sb.shadowed.append("get_queue_message_counts")

    def _get_actor(self, broker: Any) -> Callable[[str], Any]:
        """``broker.get_actor``, recording each name it does not know (once): Dramatiq's middleware looks callbacks
        up by name -- ``on_success``/``on_failure`` (``callbacks.py:41-59``), ``on_retry_exhausted``
        (``retries.py:126-128``) -- and an ``ActorNotFound`` there is logged and dropped (``broker.py:120-127``),
        so a callback whose module the test never imported (a worker imports the modules on its command line)
        would vanish without a trace."""
        from dramatiq.errors import ActorNotFound

        get_actor = broker.get_actor

        def lookup(actor_name: str) -> Any:
            try:
                return get_actor(actor_name)
            except ActorNotFound:
                if actor_name not in self.unknown_actors:
                    self.unknown_actors.add(actor_name)
                    self.record("dramatiq.actor_not_found", actor=actor_name)
                raise

        return lookup

    def _take_waiting(self, sb: SimBroker) -> None:
        """Messages a ``StubBroker`` already holds (sent before the simulation started) are the simulation's from
        its start, each a run, in their queues' order; a Redis or RabbitMQ server's are out of reach. They were
        stamped on the real clock: their ``message_timestamp`` and ``eta`` move with it to the simulation's
        start (a message sent a second before with ``delay=60_000`` is due 59 s into the simulation)."""
        from dramatiq.message import Message

        if sb.kind != "stub":
            return
        shift = self.real_shift_ms
        for queue_name, queue in list(sb.broker.queues.items()):
            while not queue.empty():
                queue.task_done()
                message = Message.decode(queue.get_nowait())
                options = {"eta": message.options["eta"] + shift} if "eta" in message.options else {}
                message = message.copy(message_timestamp=message.message_timestamp + shift, options=options)
                data = message.encode()
                held = self._new_delivery(sb, message, queue_name, None, origin="before the simulation")
                self._post(held, queue_name, data, 0, message.actor_name)

    def _broker_join(self, sb: SimBroker) -> Callable[..., None]:
        """``broker.join`` with the broker's own signature: ``StubBroker.join(queue_name, *, timeout, fail_fast)``,
        ``RedisBroker.join(queue_name, *, interval, timeout)``, ``RabbitmqBroker.join(queue_name, min_successes,
        idle_time, *, timeout)`` -- an argument the broker's ``join`` does not take raises its ``TypeError``, as
        the real call would (``fail_fast`` is the stub broker's only). Polling settings change nothing here."""
        signature = inspect.signature(type(sb.broker).join)

        def join(*args: Any, **kwargs: Any) -> None:
            try:
                bound = signature.bind(sb.broker, *args, **kwargs)
            except TypeError as error:
                raise TypeError(f"{type(sb.broker).__name__}.join() {error}") from None
            given = bound.arguments
            self.join(given["queue_name"], broker=sb.broker, timeout=given.get("timeout"),
                      fail_fast=given.get("fail_fast"))  # fmt: skip

        return join

    def _refuse_consume(self, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        raise UnsupportedFeature(
            f"broker.consume({queue_name!r}) while a simulation runs this broker: its messages are the simulated "
            "workers'. Inspect them with sim.runs(...) and sim.dramatiq instead",
            system=BACKEND, feature="consume",
        )  # fmt: skip

    def _refuse_counts(self, queue_name: str) -> Any:
        raise UnsupportedFeature(
            f"broker.get_queue_message_counts({queue_name!r}) while a simulation runs this broker: it would ask the "
            "real RabbitMQ server, whose queues the simulated workers do not use. The messages are the simulation's: "
            "count them with sim.runs(...) (status 'queued' or 'retrying') and sim.dramatiq.dead_letters",
            system=BACKEND, feature="get_queue_message_counts",
        )  # fmt: skip

    def uninstall(self, sim: Simulation) -> None:
        if not self.installed:
            return
        from . import _patches

        self.threads.close()
        for sb in self.brokers:
            for name in sb.shadowed:
                sb.broker.__dict__.pop(name, None)
            sb.shadowed = []
            if isinstance(sb.broker.__dict__.get("queues"), StubQueues):
                sb.broker.queues = sb.broker.queues.originals()
            _middleware.uninstall(sb)
        _patches.pop(self)
        self.installed = False

    # -- enqueue: every broker.enqueue of an adopted broker ---------------------------------------
    def enqueue(self, broker: Any, message: Any, *, delay: int | float | None = None) -> Any:
        from dramatiq.broker import MessageProxy
        from dramatiq.message import Message

        if not isinstance(message, Message | MessageProxy):
            raise InvalidArgument.build("message", message, "a dramatiq Message (actor.message(...)) to enqueue")
        if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int | float)
                                  or not math.isfinite(delay)):
            raise InvalidArgument.build("delay", delay, "a finite number of milliseconds (Dramatiq's unit), or None; "
                                        "actor.send_with_options(delay=...) also takes a timedelta")  # fmt: skip
        sb = next(sb for sb in self.brokers if sb.broker is broker)
        check_send_options(message, sb.broker.actors.get(message.actor_name), sb.broker.middleware)
        message = self._built_before(message)
        wallclock = self.sim.wallclock
        wallclock.activate()  # from the test too, middleware hooks read the virtual clock (nested: free)
        wallclock.move(self.sim.now_ns())
        try:
            message, queue_name = sb.prepare(message, delay)
            broker.emit_before("enqueue", message, delay)
            data = message.encode()
            broker.emit_after("enqueue", message, delay)
        finally:
            wallclock.deactivate()
        held = self._delivery(sb, message, queue_name, delay)
        if self.crashes is not None and sb.kind == "redis":  # the enqueue's maintenance runs before its RPUSH
            self.crashes.enqueued(sb, queue_name)
        self._post(held, queue_name, data, sb.priority(message), message.actor_name)
        return message

    def _built_before(self, message: Any) -> Any:
        """A message built before the simulation (a module-level or fixture ``actor.message(...)``, a pipeline's
        later stage built then) carries a real-clock ``message_timestamp`` (``message.py:84``), which AgeLimit
        (``age_limit.py:45-54``) would compare with the virtual clock. Like the messages a ``StubBroker`` holds at
        the start (``_take_waiting``), it moves with the real clock to the simulation's start. Such a message has
        an id the simulation did not draw and has not seen, and a timestamp off the virtual span so far (a
        message built in the simulation with a hand-made id is stamped inside it and left alone)."""
        from dramatiq.message import Message

        if not isinstance(message, Message) or message.message_id in self.minted:
            return message
        if message.message_id in self.deliveries:
            return message
        if self.begin_ms <= message.message_timestamp <= self.sim.now_ns() // MS:
            return message
        shift = self.real_shift_ms
        options = {"eta": message.options["eta"] + shift} if "eta" in message.options else {}
        return message.copy(message_timestamp=message.message_timestamp + shift, options=options)

    def _post(self, held: Held, queue_name: str, data: bytes, priority: int, actor_name: str) -> None:
        """The broker stored the message: it is on its queue from now (in actor code, the actor's instant)."""
        parcel = Parcel(held, queue_name, data, priority, self.next_seq())
        held.unacked += 1
        held.sb.unacked[_canonical(queue_name)] += 1
        held.sb.posted.append((self.sim.now_ns(), parcel))
        self.sim.kernel.schedule(self.sim.now_ns(), held.sb.arrive, parcel, owner=f"{actor_name} (dramatiq message)")

    def _delivery(self, sb: SimBroker, message: Any, queue_name: str, delay: int | float | None) -> Held:
        """The delivery this enqueue belongs to: the one being moved from its delay queue, the one whose processing
        is ending (Retries re-enqueues the same message), or a new one, with its run."""
        if self.move is not None:
            return self.move
        item = self.finishing
        if item is not None and item.parcel.held.message_id == message.message_id:
            item.retried = True
            self._retry(item, message, delay)
            return item.parcel.held
        return self._new_delivery(sb, message, queue_name, delay)

    def _retry(self, item: Item, message: Any, delay: int | float | None) -> None:
        held, now = item.parcel.held, self.sim.now_ns()
        run = held.run
        run.status = "retrying"
        eta = message.options.get("eta")
        at = now if eta is None else max(now, _ceil_ms(eta))
        self.sim.trace.add(now, "retry", {"function": run.function.id, "run": run.id, "step": None,
                                          "attempt": held.calls, "at": at, "delay": at - now,
                                          "retries": message.options.get("retries")})  # fmt: skip

    def _new_delivery(self, sb: SimBroker, message: Any, queue_name: str, delay: int | float | None, *,
                      origin: str = "send") -> Held:  # fmt: skip
        fn = self.functions.get(message.actor_name) or self._declare(
            message.actor_name, sb.broker.actors.get(message.actor_name), sb
        )
        deliveries = self.deliveries.setdefault(message.message_id, [])
        run_id = message.message_id if not deliveries else f"{message.message_id}#{len(deliveries) + 1}"
        now = self.sim.now_ns()
        data = {"actor": message.actor_name, "queue": _canonical(queue_name), "message_id": message.message_id,
                "args": repr(message.args), "kwargs": repr(message.kwargs)}  # fmt: skip
        run = Run(fn, run_id, [Event("dramatiq/message", data, id=run_id, ts=now // MS)], now)
        cause = self.current.parcel.held.run if self.current is not None else None
        if cause is not None:
            self.sim.engine.descend(run, cause=cause)
        runs = self.sim.engine.runs[fn.id]
        runs.append(run)
        held = Held(run, sb, message.message_id)
        deliveries.append(held)
        if cause is not None:
            origin = f"{cause.function.id}#{self.sim.runs(cause.function).index(cause) + 1}"
        self.sim.trace.add(now, "run.start", {"function": fn.id, "run": run_id, "n": len(runs), "event": origin})
        eta = message.options.get("eta")
        self.sim.trace.add(
            now,
            "dramatiq.enqueue",
            {
                "function": fn.id,
                "run": run_id,
                "queue": _canonical(queue_name),
                "delay": delay,
                "eta": None if eta is None else _ceil_ms(eta),
            },
        )
        return held

    # -- how deliveries end ---------------------------------------------------------------------------
    def acked(self, parcel: Parcel) -> None:
        parcel.held.unacked -= 1
        parcel.held.sb.unacked[_canonical(parcel.queue)] -= 1

    def settle(self, item: Item, *, dead: bool) -> None:
        """The message's processing ended (it was acked or dead-lettered): the run's outcome, unless it was
        enqueued again meanwhile (a retry), which keeps the run going."""
        held = item.parcel.held
        run = held.run
        if item.retried:  # checked here: Dramatiq's emit_after logs and swallows what middleware raises
            attempt_budget(run, self.sim.now_ns(), "jobsim_dramatiq.MAX_ATTEMPTS_PER_RUN",
                           jobsim_dramatiq.MAX_ATTEMPTS_PER_RUN, noun="actor",
                           forever="max_retries=None, or a huge max_retries", bound="max_retries=")
            return
        error = item.value if item.kind != "ok" else None
        if item.kind == "skip":
            status = "skipped"
        elif item.kind == "error" or dead:
            status = "failed"
        else:
            status = "completed"
            if item.value is not None:
                run._payload = output_bytes(item.value)
        self._end(run, status, error, dead=dead)

    def lost(self, parcel: Parcel, why: str) -> None:
        """A message the broker dropped without processing it (``flush``, a stub broker's stopped worker)."""
        self.acked(parcel)
        run = parcel.held.run
        if parcel.held.unacked == 0 and not run.done:
            self._end(run, "lost", None, why=why)

    def _end(self, run: Run, status: str, error: BaseException | None, *, dead: bool = False, why: str = "") -> None:
        fields: dict[str, Any] = {"dead_lettered": True} if dead else {}
        if why:
            fields["why"] = why
        end_run(self.sim, run, status, self.sim.now_ns(), error, **fields)

    def dead_lettered(self, letter: DeadLetter) -> None:
        self.dead.append(letter)
        self.sim.trace.add(letter.at, "dramatiq.dead_letter", {
            "function": letter.message.actor_name, "run": letter.run_id,
            "queue": letter.queue, "expires": letter.expires_at})  # fmt: skip
        if letter.expires_at is not None:
            self.sim.kernel.schedule(letter.expires_at, self._expire, letter, owner="dramatiq dead letter (ttl)",
                                     priority=BACKGROUND, recurring=True)  # fmt: skip

    def _expire(self, letter: DeadLetter) -> None:
        if letter in self.dead:
            self.dead.remove(letter)
            self.sim.trace.add(
                self.sim.kernel.now,
                "dramatiq.dead_letter.expired",
                {"function": letter.message.actor_name, "run": letter.run_id, "queue": letter.queue},
            )

    def forget_dead_letters(self, broker: Any, queue: str | None) -> None:
        self.dead = [d for d in self.dead if d.broker is not broker or (queue is not None and d.queue != queue)]

    def record(self, kind: str, **data: Any) -> None:
        self.sim.trace.add(self.sim.now_ns(), kind, data)

    # -- for tests -------------------------------------------------------------------------------
    @property
    def dead_letters(self) -> list[DeadLetter]:
        """The messages dead-lettered so far and still kept by their broker, oldest first."""
        return list(self.dead)

    def join(self, queue_name: str, *, broker: Any = None, timeout: int | None = None,
             fail_fast: bool | None = None) -> None:  # fmt: skip
        """``broker.join(queue_name)`` in virtual time (``_waits.join``); ``broker`` is needed with several."""
        from ._waits import join

        join(self, self._sim_broker(broker), queue_name, timeout=timeout, fail_fast=fail_fast)

    def wait_until(self, ready: Callable[[], bool], within: int | None, what: str = "the wait") -> bool:
        from ._waits import wait_until

        return wait_until(self.sim, ready, within, what)

    def _sim_broker(self, broker: Any) -> SimBroker:
        if broker is None:
            if len(self.brokers) == 1:
                return self.brokers[0]
            raise InvalidArgument("this simulation has several Dramatiq brokers: pass broker=")
        for sb in self.brokers:
            if sb.broker is broker:
                return sb
        raise InvalidArgument.build("broker", broker, "a Dramatiq broker this simulation runs")

    def runs_of(self, message: Any) -> list[Run]:
        """The runs of a message (by ``Message`` or id): one per delivery, the first with the message's id."""
        message_id = message if isinstance(message, str) else getattr(message, "message_id", None)
        deliveries = self.deliveries.get(message_id) if isinstance(message_id, str) else None
        if not deliveries:
            raise InvalidArgument.build("message", message, "a Message (or message id) enqueued in this simulation")
        return [held.run for held in deliveries]

    def run(self, message: Any) -> Run:
        """The run of a message (its latest delivery)."""
        return self.runs_of(message)[-1]

    def simulates(self, worker: Any) -> bool:
        """Whether the ``dramatiq.Worker`` object is one this simulation runs (given as a target)."""
        return any(w.settings is worker for sb in self.brokers for w in sb.workers)

    def join_worker(self, worker: Any) -> None:
        """``Worker.join()`` (``worker.py:190-209``) from the test: it waits until the worker holds no delayed
        message, none waiting for a thread and none running -- what it has fetched, including what it fetches
        meanwhile; a message sent and not fetched yet is not waited for (Dramatiq's "this could still miss
        stuff": ``broker.join(queue)`` first is its testing pattern), nor, if the race goes that way, a delayed
        message just moved to its queue. Here the simulation runs until the simulated worker (and the workers
        restarted in its place) holds nothing, fetching what it can at each instant first. Of a ``Worker`` this
        simulation does not run -- never started, it would return at once, having waited for nothing -- refused."""
        from ._waits import wait_until

        mine = [w for sb in self.brokers for w in sb.workers if w.settings is worker]
        if not mine:
            raise UnsupportedFeature(
                "dramatiq.Worker(...).join() of a Worker this simulation does not run: never started, it would "
                "return at once, having waited for nothing. Pass that Worker to jobsim.Simulation, or wait with "
                "broker.join(queue) or sim.run_until_idle()",
                system=BACKEND, feature="Worker.join",
            )  # fmt: skip

        def holds_nothing() -> bool:
            return all(w.dead or not any(c.outstanding for c in w.consumers.values()) for w in mine)

        if not wait_until(self.sim, holds_nothing, None, "worker.join()"):
            raise JobsimError(
                "worker.join() would wait forever: the worker holds messages that nothing pending in the simulation "
                "can finish"
            )

    def stop_worker(self, at: Any = None, *, worker: SimWorker | str | None = None, timeout: int = 600_000) -> None:
        """``worker.stop(timeout)`` at ``at`` (default: now), for one simulated worker (or its name) or all of them.

        From that instant the worker takes no new message; actors with ``notify_shutdown=True`` that are
        running then get ``Shutdown`` raised where they are (Retries retries them like any failure); the
        others finish. Then its prefetched and delayed messages go back to their queues -- on a
        ``StubBroker`` they are lost, as its consumer cannot requeue (run status ``lost``). ``timeout`` is
        ``Worker.stop``'s, in ms. An actor body runs in one go when it starts, so a stop must be planned
        before the executions it interrupts start (refused otherwise, never ignored)."""
        when = self._planned(at, "at", "stop_worker")
        timeout_ns = duration_ns(timeout / 1000, "timeout") if isinstance(timeout, int | float) else None
        if timeout_ns is None or isinstance(timeout, bool) or timeout < 0:
            raise InvalidArgument.build("timeout", timeout, "milliseconds (an int >= 0), as Worker.stop(timeout)")
        for target in self._targets(worker):
            for item in target.running:
                x = item.x
                if x is not None and x.start < when < x.now and x.notify:
                    raise UnsupportedFeature(
                        f"stop_worker(at={iso(when)}) would interrupt actor {item.proxy.actor_name!r} "
                        f"(notify_shutdown), running since {iso(x.start)}, whose body jobsim already ran to "
                        f"{iso(x.now)}: plan the stop before that message starts",
                        system=BACKEND, feature="stop_worker",
                    )  # fmt: skip
            target.stop(when, timeout_ns)
            for item in list(target.running):
                target._check_stop(item)

    def crash_worker(self, at: Any = None, function: Any = None, *, worker: SimWorker | str | None = None,
                     restart: Any = 0) -> None:  # fmt: skip
        """Kill a worker process at ``at`` (default: now), with its unacknowledged messages (``_crash``).

        ``function`` (an actor, or its name): the worker running that actor's message in flight at ``at``,
        else the first to start one at or after ``at`` (it dies before the actor's code runs); ``worker`` (one of
        ``sim.dramatiq.workers``): that worker, busy or idle; neither: the worker running any actor's message
        then. Its running, prefetched and delayed messages are redelivered as the broker does: RabbitMQ at once,
        Redis by the maintenance of a live worker once ``heartbeat_timeout`` has passed; a ``StubBroker`` is
        refused. A new worker with the same settings (``worker-1-r1``) starts ``restart`` later (a duration,
        default 0; ``None``: never). Actor bodies run in one go when they start: plan a crash before the
        messages it cuts short start (refused otherwise, never ignored)."""
        self.sim._require_running("dramatiq.crash_worker")
        self.ensure_crashes().plan(at, function, None if worker is None else self._named_worker(worker), restart)

    def ensure_crashes(self) -> Crashes:
        if self.crashes is None:
            from ._crash import Crashes

            self.crashes = Crashes(self)
        return self.crashes

    def restart(self, dead: SimWorker, at: int) -> str:
        """A supervisor starts a new worker process in ``dead``'s place at ``at``: same settings, a new name (a new
        Redis worker id), no message of the dead one's."""
        from ._worker import SimWorker

        sb = dead.sb
        new = SimWorker(self, sb, dead.settings, f"{dead.base}-r{dead.restarts + 1}")
        new.base, new.restarts, new.stopped = dead.base, dead.restarts + 1, True
        sb.workers[sb.workers.index(dead)] = new
        self.sim.kernel.schedule(at, new.start, owner=f"dramatiq {new.name} (restart)")
        return new.name

    def start_worker(self, at: Any = None, *, worker: SimWorker | str | None = None) -> None:
        """Start a stopped worker again at ``at`` (default: now): it fetches what waits on its queues."""
        when = self._planned(at, "at", "start_worker")
        for target in self._targets(worker):
            self.sim.kernel.schedule(when, target.start, owner=f"dramatiq {target.name} (start)")

    def _planned(self, at: Any, name: str, call: str) -> int:
        from jobsim._time import instant_ns

        self.sim._require_running(f"dramatiq.{call}")
        now = self.sim.now_ns()
        when = now if at is None else instant_ns(at, name, tz=self.sim.tz)
        if when < now:
            raise InvalidArgument(f"{name}={at!r} is in the past: the simulation is at {iso(now)}")
        return when

    def _targets(self, worker: SimWorker | str | None) -> list[SimWorker]:
        if worker is None:
            return self.workers
        return [self._named_worker(worker)]

    def _named_worker(self, worker: SimWorker | str) -> SimWorker:
        """A live simulated worker, given as one of ``sim.dramatiq.workers`` or by its name (``"worker-1"``)."""
        live = self.workers
        found = next((w for w in live if w is worker or (isinstance(worker, str) and w.name == worker)), None)
        if found is None:
            raise InvalidArgument.build("worker", worker, "one of sim.dramatiq.workers (a live simulated worker) or "
                                        "its name: " + ", ".join(repr(w.name) for w in live))  # fmt: skip
        return found

    @property
    def workers(self) -> list[SimWorker]:
        return [worker for sb in self.brokers for worker in sb.workers if not worker.dead]

    def __repr__(self) -> str:
        return f"<jobsim-dramatiq world: {len(self.brokers)} broker(s), {len(self.workers)} worker(s)>"


def _kind(broker: Any) -> str:
    import sys

    for kind, module, name in (("stub", "dramatiq.brokers.stub", "StubBroker"),
                               ("redis", "dramatiq.brokers.redis", "RedisBroker"),
                               ("rabbitmq", "dramatiq.brokers.rabbitmq", "RabbitmqBroker")):  # fmt: skip
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(broker, getattr(loaded, name)):
            return kind
    raise UnsupportedFeature(
        f"jobsim-dramatiq simulates StubBroker, RedisBroker and RabbitmqBroker (and their subclasses); got a "
        f"{type(broker).__qualname__}, whose enqueue and queues it does not know. Build the broker under test as one "
        f"of those (a StubBroker with the same middleware is enough); see {README}",
        system=BACKEND, feature=type(broker).__qualname__,
    )  # fmt: skip


def _canonical(queue_name: str) -> str:
    from dramatiq.common import q_name

    return str(q_name(queue_name))


def _ceil_ms(eta: float) -> int:
    """An ``eta`` (ms) as the first virtual instant the worker sees it due (``eta <= current_millis()``)."""
    return math.ceil(eta) * MS


def _named(broker: Any) -> str:
    return f"{type(broker).__qualname__} at {id(broker):#x}"


def _not_an_event_handler(name: str) -> Any:
    return refusing_handler(
        f"Dramatiq actor {name!r} runs from its broker's queues (actor.send), not from jobsim events"
    )
