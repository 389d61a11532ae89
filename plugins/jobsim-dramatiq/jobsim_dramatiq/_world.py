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
from jobsim._checks import keywords_checked
from jobsim._records import Run
from jobsim._time import MS, duration_ns, iso
from jobsim.errors import InvalidArgument, JobsimError, UnsupportedFeature
from jobsim.hooks import Adapted, Escaped, LogWatch, refusing_handler

from . import _middleware
from ._blocking import Threads
from ._broker import DeadLetter, SimBroker, StubQueues
from ._deliveries import Deliveries
from ._deliveries import Held as Held  # re-exported: _broker imports it from here
from ._limiters import Versions
from ._sendchecks import check_send_options
from ._standins import StandIns
from ._unread import Unconsumed

if TYPE_CHECKING:
    from jobsim import Simulation

    from ._crash import Crashes
    from ._execution import DramatiqExecution
    from ._results import ResultStore
    from ._worker import Item, SimWorker

BACKEND = "dramatiq"
README = "plugins/jobsim-dramatiq/README.md"


class DramatiqWorld(Deliveries, StandIns, Unconsumed):
    """``sim.dramatiq``: the Dramatiq brokers of one simulation and the workers consuming them.

    Its messages' deliveries and runs are ``_deliveries``'s, its backend stand-ins ``_standins``'s."""

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
        self.escaped = Escaped(sim, "dramatiq: a jobsim error a middleware hook raised")  # which Dramatiq logged
        self.loggers: dict[int, Any] = {}  # id(broker) -> its own logger, while a LogWatch stands in for it
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
                       profile="dramatiq", own_worker=True, dynamic=True,
                       naming="by its actor's name")  # fmt: skip

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
        if not adopting:
            self.sim.add_function(fn, own_worker=True)  # first: a function it refuses is registered nowhere
        self.app.functions[name] = fn
        self.functions[name] = fn
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
        # emit_before/emit_after log what a middleware hook raises and go on (broker.py:111-129): watched (``keep``)
        self.loggers[id(sb.broker)] = sb.broker.logger
        sb.broker.logger = LogWatch(sb.broker.logger, self.keep)
        if hasattr(sb.broker, "get_queue_message_counts"):  # RabbitmqBroker's: it asks the server
            own["get_queue_message_counts"] = self._refuse_counts
            sb.shadowed.append("get_queue_message_counts")

    def keep(self, error: BaseException) -> None:
        """A jobsim error a middleware hook raised (``time.sleep`` where no actor runs, a refused call,
        ``sim.advance`` from the hook), which ``emit_before``/``emit_after`` log as "Unexpected failure" and go on
        from: a timer due at once raises it, so the driving call stops there (the next one, for a hook of the
        test's own ``send``). The first one is kept."""
        if isinstance(error, JobsimError):
            self.escaped.keep(error)

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
            if id(sb.broker) in self.loggers:
                sb.broker.logger = self.loggers.pop(id(sb.broker))
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
        simulation does not run -- never started, it would return at once, having waited for nothing -- refused,
        also on a broker it does not run (a started one there is Dramatiq's: ``_patches._worker_join``)."""
        from ._waits import wait_until

        mine = [w for sb in self.brokers for w in sb.workers if w.settings is worker]
        if not mine and not self.owns(worker.broker):
            from ._middleware import described

            raise UnsupportedFeature(
                "dramatiq.Worker(...).join() of a Worker this simulation does not run, on a broker it does not run "
                f"either ({described(worker.broker)}): not started, it would return at once, having waited for "
                "nothing. Pass that Worker (or its broker) to jobsim.Simulation too, and join it there",
                system=BACKEND, feature="Worker.join",
            )  # fmt: skip
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

    @keywords_checked("sim.dramatiq.stop_worker()")
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

    @keywords_checked("sim.dramatiq.crash_worker()")
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

    @keywords_checked("sim.dramatiq.start_worker()")
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


def _named(broker: Any) -> str:
    return f"{type(broker).__qualname__} at {id(broker):#x}"


def _not_an_event_handler(name: str) -> Any:
    return refusing_handler(
        f"Dramatiq actor {name!r} runs from its broker's queues (actor.send), not from jobsim events"
    )
