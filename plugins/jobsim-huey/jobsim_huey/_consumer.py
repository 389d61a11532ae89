"""A Huey consumer in virtual time: its scheduler and its workers, running Huey's own loop code.

A real consumer (``huey_consumer``, huey 3.5.4 ``consumer.py``) starts one ``Scheduler`` thread and
``-w N`` ``Worker`` threads (``consumer.py:457-471``); each repeatedly calls its ``loop()``
(``consumer.py:502-524``). Here the same objects (the consumer's ``worker_class`` and
``scheduler_class``) are built with a stop flag whose ``wait(seconds)`` does not block but tells the
simulation how long the thread would sleep, and their ``loop()`` is called at the virtual instants the
threads would call it:

* ``Scheduler.loop`` every ``scheduler_interval`` seconds (default 1) from the consumer's start: it
  moves every scheduled task whose ``eta`` has passed to the queue (``consumer.py:171-190``), and every
  60 seconds from the start (``periodic_task_seconds``, ``consumer.py:191-195``) it enqueues the periodic
  tasks whose ``crontab`` matches ``Huey._get_timestamp()``: UTC with ``utc=True`` (the default), the
  process's local time with ``utc=False``. The checks are 60 s apart from the consumer's start, not on
  minute boundaries: a consumer started at 09:00:30 checks at 09:01:30, 09:02:30, ... Ticks where
  nothing can happen (empty schedule, no periodic check due) are skipped as a whole, so a simulated
  week costs a check a minute, not a loop a second;
* ``Worker.loop`` dequeues one task and executes it (``Huey.execute``), or finds the queue empty and
  sleeps: ``initial_delay`` (0.1 s), multiplied by ``backoff`` (1.15) after each empty poll up to
  ``max_delay`` (10 s), back to ``initial_delay`` after a task (``consumer.py:120-148``). On a Redis or
  Postgres storage ``dequeue`` blocks instead (``storage.py:531-539``): an idle worker takes a task the
  instant it is enqueued, idle workers in the order they went idle (Redis serves ``BRPOP`` clients
  first-come, first-served).

A task's body runs in one go and spends virtual time with ``time.sleep``; Huey's ``execute`` is
suspended at the end of the body (a greenlet per worker) and resumes when virtual time reaches it, so
what Huey does after the body -- result store, ``post_execute`` hooks, signals, pipelines, retries --
happens at that instant, in order with the other workers and the scheduler.
"""

from __future__ import annotations

import contextvars
import math
from typing import TYPE_CHECKING, Any, Literal

from jobsim._records import Attempt
from jobsim._time import SECOND, iso
from jobsim.errors import InvalidArgument, UnsupportedFeature
from jobsim.hooks import StoppableExecution, escapes

from ._outage import Outage

if TYPE_CHECKING:
    from jobsim._kernel import Timer
    from jobsim._records import Run

    from ._world import HueyState, HueyWorld

README = "plugins/jobsim-huey/README.md"


class Options:
    """What a simulated consumer takes from a ``huey.consumer.Consumer`` (``consumer.py:392-471``)."""

    __slots__ = ("backoff", "default_delay", "graceful_signal", "interrupt_signal", "max_delay", "periodic",
                 "scheduler_class", "scheduler_interval", "shutdown_timeout", "worker_class", "worker_type",
                 "workers")  # fmt: skip

    def __init__(self, consumer: Any) -> None:
        from huey.constants import WORKER_GREENLET, WORKER_PROCESS, WORKER_THREAD

        self.workers = int(consumer.workers)
        self.periodic = bool(consumer.periodic)
        self.default_delay = float(consumer.default_delay)
        self.backoff = float(consumer.backoff)
        self.max_delay = float(consumer.max_delay)
        self.scheduler_interval = int(consumer.scheduler_interval)
        self.worker_type = consumer.worker_type
        self.worker_class = consumer.worker_class
        self.scheduler_class = consumer.scheduler_class
        self.shutdown_timeout = consumer.shutdown_timeout  # how long a graceful stop waits (None: for ever)
        term = getattr(consumer, "graceful_signal", "INT") == "TERM"  # which signal is graceful (consumer.py:418-421)
        self.graceful_signal, self.interrupt_signal = ("SIGTERM", "SIGINT") if term else ("SIGINT", "SIGTERM")
        if self.shutdown_timeout is not None and (isinstance(self.shutdown_timeout, bool) or not isinstance(
                self.shutdown_timeout, (int, float)) or not 0 <= self.shutdown_timeout < math.inf):
            raise InvalidArgument.build("shutdown_timeout", consumer.shutdown_timeout,
                                        "seconds (a number >= 0) a graceful stop waits for running tasks, or None")
        if self.workers < 1:
            raise InvalidArgument.build("workers", consumer.workers, "at least 1 worker (huey_consumer -w N)")
        if self.default_delay <= 0 or self.backoff < 1 or self.max_delay < self.default_delay:
            raise InvalidArgument(
                f"the consumer's polling settings (initial_delay={consumer.default_delay}, backoff={consumer.backoff}, "
                f"max_delay={consumer.max_delay}) would poll an empty queue in a busy loop: jobsim-huey needs "
                "initial_delay > 0, backoff >= 1 and max_delay >= initial_delay"
            )
        if consumer.max_tasks:
            raise UnsupportedFeature(
                f"the consumer's max_tasks={consumer.max_tasks} (a worker exits after that many tasks and the health "
                "check restarts it, up to health_check_interval later) is not simulated; create the consumer "
                f"without max_tasks. See {README}",
                system="huey", feature="max_tasks",
            )  # fmt: skip
        if self.worker_type == WORKER_GREENLET or self.worker_type == "gevent":
            raise UnsupportedFeature(
                "greenlet (gevent) workers are not simulated: their timeouts and switches depend on gevent's "
                f"monkey-patching. Simulate the consumer with worker_type='thread' or 'process'. See {README}",
                system="huey", feature="worker_type=greenlet",
            )  # fmt: skip
        if self.worker_type not in (WORKER_THREAD, WORKER_PROCESS):
            raise InvalidArgument.build("worker_type", self.worker_type, "'thread' or 'process'")


class Flag:
    """The stop flag a simulated worker or scheduler is built with: never set; ``wait(seconds)`` records the
    sleep instead of blocking (the simulation plans the thread's next loop from it)."""

    __slots__ = ("slept",)

    def __init__(self) -> None:
        self.slept: float | None = None

    def is_set(self) -> bool:
        return False

    def set(self) -> None:
        """A simulated consumer is never stopped through its flag."""

    def wait(self, timeout: float | None = None) -> bool:
        self.slept = timeout
        return False


class HueyExecution(StoppableExecution):
    """A task's body on a simulated worker: with ``worker_type='process'``, its clock stops at the task's
    ``timeout``, where ``SIGALRM`` raises ``TaskTimeout`` (``ProcessEnvironment.timeout``, ``consumer.py:347-359``).
    Thread workers have no such alarm (``Environment.timeout`` is a no-op, ``consumer.py:252-253``): there
    ``timeout`` only sets the deadline ``task.check_timeout()`` compares (``api.py:446-447,867-879``)."""

    __slots__ = ("body", "kill", "seconds")

    def __init__(self, engine: Any, run: Run, attempt: int, start: int) -> None:
        self.seconds: Any = None
        self.kill: int | None = None  # a consumer stop interrupts the body here (_outage)
        self.body: Body | None = None
        super().__init__(engine, run, attempt, start)

    def stopped(self, at: int) -> BaseException:
        from huey.exceptions import TaskTimeout

        self.engine.move_clock(at)
        if at == self.kill and self.body is not None:
            self.stop_at = None
            return self.body.worker.consumer.outage.interrupt(self.body, at)
        self.stop_at = self.kill  # one alarm (setitimer ITIMER_REAL, one shot); a stop still to come
        return TaskTimeout(f"timeout ({self.seconds}s)")  # type: ignore[no-any-return]


class Body:
    """``Huey._timeout_context(task)`` while the simulation runs: wraps exactly the task's body
    (``with self._timeout_context(task): task_value = task.execute()``, ``api.py:450-453``).

    Entering it starts the attempt (``sim.fail`` makes it raise here, so Huey handles the fault as the
    task's exception); leaving it ends the attempt and suspends Huey's ``execute`` until virtual time
    reaches the body's end."""

    __slots__ = ("killed", "run", "task", "worker", "x")

    def __init__(self, worker: SimWorker, task: Any) -> None:
        self.worker = worker
        self.task = task
        self.x: HueyExecution | None = None
        self.killed: BaseException | None = None  # the KeyboardInterrupt a stop raised in a process worker's body

    def __enter__(self) -> Body:
        world = self.worker.world
        sim = world.sim
        engine = sim.engine
        run = world.run_of(self.task)
        x = self.x = HueyExecution(engine, run, len(run.attempts), sim.kernel.now)
        run.status = "running"
        if self.worker.consumer.options.worker_type == "process" and self.task.timeout:
            x.seconds = self.task.timeout
            x.stop_at = x.start + math.ceil(float(self.task.timeout) * SECOND)
        x.body = self.worker.body = self
        kill = self.worker.consumer.outage.kill_for(x.start)
        if kill is not None:  # a stop is planned: the body is interrupted there if it still runs
            from ._outage import arm

            arm(x, kill)
        fault = engine.take_fault(run.function.id, None)
        if fault is not None:  # sim.fail(task): this attempt raises it instead of running the body
            self._attempt(x, fault)
            raise fault
        engine.x = x
        engine.move_clock(x.now)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        x = self.x
        assert x is not None
        world = self.worker.world
        engine = world.sim.engine
        engine.x = None
        if world.closing:  # cut short by the close (GreenletExit): no attempt ends, the run stays running
            from greenlet import GreenletExit

            self.worker.body = None

            if not isinstance(exc, GreenletExit):
                # the task caught the close's GreenletExit (a bare except:): cut short all the same, or Huey would
                # finish the task (its result, SIGNAL_COMPLETE) and the worker dequeue the next during the close
                raise GreenletExit
            return False
        self._attempt(x, exc)
        if exc is not None and exc is not self.killed and escapes(exc):
            # Huey would log a jobsim error as the task's, and swallow KeyboardInterrupt (SIGNAL_INTERRUPTED,
            # api.py:495-498): it leaves the worker once execute() returns
            self.worker.escaped = exc
        if x.now > world.sim.kernel.now:
            self.worker.suspend(x.now)
        self.worker.body = None
        return False

    def _attempt(self, x: HueyExecution, error: BaseException | None) -> None:
        run = x.run_
        run.attempts.append(Attempt(x.attempt, None, x.start, x.now, error))
        data: dict[str, Any] = {"function": run.function.id, "run": run.id, "step": None, "attempt": x.attempt}
        if error is not None:
            data["error"] = f"{type(error).__name__}: {error}"
        self.worker.world.sim.trace.add(x.start, "attempt", data)


class SimWorker:
    """One worker thread (``Worker-N``) of a simulated consumer: a greenlet running Huey's ``Worker.loop``."""

    def __init__(self, consumer: SimConsumer, index: int) -> None:
        self.consumer = consumer
        self.world = consumer.world
        self.index = index
        self.name = f"{consumer.name}/Worker-{index}"
        self.flag = Flag()
        opts = consumer.options
        self.impl = opts.worker_class(huey=consumer.hs.huey, stop_flag=self.flag, default_delay=opts.default_delay,
                                      max_delay=opts.max_delay, backoff=opts.backoff, max_tasks=None)  # fmt: skip
        self.glet: Any = None
        self.context = contextvars.copy_context()
        self.state = "new"  # "new" | "busy" | "idle" | "stopped" (left at a stop) | "dead" (its process exited)
        self.body: Body | None = None  # the task body under way
        self.poll_at: int | None = None  # the next poll of an idle worker on a polled storage
        self.idle_since = 0
        self.wake: Timer | None = None
        self.escaped: BaseException | None = None
        self.running: Run | None = None  # the run whose execution this worker is in

    # -- the greenlet ----------------------------------------------------------------------------
    def start(self) -> None:
        from greenlet import greenlet

        self.glet = greenlet(self._main)
        self.glet.gr_context = self.context
        self.drive()

    def _main(self) -> None:
        """``Consumer._create_process._run`` (``consumer.py:507-518``) for one worker: initialize (startup hooks),
        then ``loop()`` for ever. It gives control back to the simulation when it goes idle or spends time."""
        from greenlet import getcurrent

        self.impl.initialize()
        while self.consumer.state == "up":  # ``while not self.stop_flag.is_set()`` (consumer.py:507-518)
            self.flag.slept = None
            before = self.impl.task_count
            self.state = "busy"
            self.impl.loop()
            self.running = None
            if self.escaped is not None:
                escaped, self.escaped = self.escaped, None
                raise escaped
            if self.impl.task_count != before:
                continue  # it dequeued and executed a task: its next loop() dequeues at once
            now = self.world.sim.kernel.now
            self.state = "idle"
            self.idle_since = now
            slept = self.flag.slept
            self.poll_at = None if slept is None else now + _ns(slept)
            getcurrent().parent.switch(None)  # idle until woken (wake()) or stopped
        self.state = "stopped"  # the stop flag is set: the worker leaves, running its on_shutdown hooks
        self.poll_at = None
        self.impl.shutdown()
        self.consumer.outage.left()

    def suspend(self, until: int) -> None:
        """From inside ``execute``: hand control back until virtual time reaches ``until``."""
        from greenlet import getcurrent

        getcurrent().parent.switch(until)

    def drive(self) -> None:
        """Run the worker's greenlet from the simulation until it is idle or spending time."""
        from greenlet import getcurrent

        world = self.world
        world.tick()
        saved = world.current
        world.current = self
        try:
            self.glet.parent = getcurrent()
            until = self.glet.switch()
        finally:
            world.current = saved
        if until is not None:
            world.sim.kernel.schedule(until, self._resume, owner=f"huey {self.name} (task body ends)")
        world.raise_escaped()  # a receiver's or hook's jobsim error, which Huey logged

    def _resume(self) -> None:
        self.drive()

    # -- waking an idle worker --------------------------------------------------------------------
    def plan_wake(self) -> None:
        """The queue has a task: an idle worker dequeues at its next poll (a blocked one at once)."""
        if self.state != "idle" or self.wake is not None:
            return
        kernel = self.world.sim.kernel
        at = kernel.now
        if self.poll_at is not None:
            self._catch_up(kernel.now)
            at = self.poll_at
        self.wake = kernel.schedule(at, self._woken, owner=f"huey {self.name} (poll)")

    def _catch_up(self, now: int) -> None:
        """The empty polls an idle worker made before ``now``: each one is Huey's ``Worker.sleep()``, which
        grows the delay (``consumer.py:143-148``); once it stays the same (``max_delay``, or ``backoff=1``) they are
        counted at once."""
        assert self.poll_at is not None
        impl, flag, cap = self.impl, self.flag, self.consumer.options.max_delay
        while self.poll_at < now:
            if impl.delay >= cap or impl.backoff == 1:  # steady: every sleep is the same from here
                step = _ns(min(impl.delay, cap))
                self.poll_at += -(-(now - self.poll_at) // step) * step
                break
            impl.sleep()
            assert flag.slept is not None
            self.poll_at += _ns(flag.slept)

    def _woken(self) -> None:
        self.wake = None
        self.drive()

    def cancel_wake(self) -> None:
        if self.wake is not None:
            self.world.sim.kernel.cancel(self.wake)
            self.wake = None


class SimConsumer:
    """One ``huey_consumer`` process for one Huey: its scheduler and its workers."""

    def __init__(self, world: HueyWorld, hs: HueyState, consumer: Any, name: str) -> None:
        self.world = world
        self.hs = hs
        self.name = name
        self.options = Options(consumer)
        self.target = consumer
        if self.options.worker_type == "process" and hs.storage_kind.name == "memory":
            raise InvalidArgument(
                f"Huey {hs.huey.name!r} keeps its tasks in memory (MemoryHuey) and its consumer uses worker_type="
                "'process': forked workers would each see their own copy of the queue. Use worker_type='thread', "
                "or a Redis or SQLite storage"
            )
        self.workers: list[SimWorker] = []
        self.retired: list[SimWorker] = []  # the workers of its earlier processes (stopped, dead)
        self.state = "new"  # "new" | "up" | "stopping" | "down"
        self.outage = Outage(self)
        self.scheduler: Any = None
        self.waiting: tuple[Any, str] | None = None  # the message first in the schedule, and the tick's owner for it
        self.sflag = Flag()
        self.start_ns = 0
        self.interval_ns = self.options.scheduler_interval * SECOND
        self.last_tick: int | None = None
        self.timer: Timer | None = None
        self.timer_due: tuple[int, bool] | None = None

    def start(self, restart: bool = False, flushed: list[str] | None = None) -> None:
        """The consumer starts (``Consumer.start``, ``consumer.py:526-560``): the scheduler, then the workers. A
        restart (``_outage``) is a new process: a new scheduler, its ticks counted from now, and new workers."""
        world = self.world
        world.tick()
        self.start_ns = world.sim.kernel.now
        self.state = "up"
        self.last_tick = self.waiting = None
        opts = self.options
        self.scheduler = opts.scheduler_class(huey=self.hs.huey, stop_flag=self.sflag,
                                              interval=opts.scheduler_interval, periodic=opts.periodic)  # fmt: skip
        extra: dict[str, Any] = {"restart": True, "flushed": flushed or []} if restart else {}
        world.record("huey.consumer", huey=self.hs.huey.name, consumer=self.name, workers=opts.workers,
                     worker_type=opts.worker_type, periodic=opts.periodic, utc=bool(self.hs.huey.utc),
                     **extra)  # fmt: skip
        self.workers = [SimWorker(self, i + 1) for i in range(opts.workers)]
        self._tick()
        for worker in self.workers:
            worker.start()

    # -- the scheduler ----------------------------------------------------------------------------
    def _tick(self) -> None:
        """One ``Scheduler.loop()`` (``consumer.py:171-195``) at the instant it is due."""
        world, clock = self.world, self.world.clock
        self.timer = self.timer_due = None
        now = world.sim.kernel.now
        world.tick()
        self.last_tick = now
        # ticks skipped as a whole (nothing could happen in them) leave _next_loop behind: it is this tick's
        self.scheduler._next_loop = clock.monotonic()
        world.ticking = self
        try:
            self.scheduler.loop()
        finally:
            world.ticking = None
        refused, world.refused_periodic = world.refused_periodic, None
        if refused is not None:  # a periodic task declared after the simulation was built, which Huey would drop
            raise refused
        self.arm()
        world.raise_escaped()  # a receiver's jobsim error (a periodic task's or a due one's enqueued signal)

    def arm(self) -> None:
        """Plan the next tick that can do something: the first one at or after the earliest ``eta`` in the
        schedule (a one-off item: the simulation is not idle while a task waits there), or the next periodic
        check (recurring, like jobsim's cron ticks: it does not keep ``run_until_idle`` going)."""
        if self.last_tick is None or self.state != "up":
            self.disarm()
            return  # not started (start() ticks), or stopped: a stopped scheduler does not tick
        candidates: list[int] = []
        eta_ns = self.hs.storage.next_due_ns(self.last_tick + 1)
        if eta_ns is not None:
            candidates.append(self._grid_after(eta_ns))
        if self.options.periodic:
            periodic = self.world.clock.to_ns(self.scheduler._next_periodic)
            candidates.append(self._grid_after(max(periodic, self.last_tick + 1)))
        if not candidates:
            self.disarm()
            return
        due = (min(candidates), eta_ns is not None)
        if self.timer_due == due and self.timer is not None:
            return
        self.disarm()
        from jobsim._kernel import BACKGROUND, NORMAL

        kernel = self.world.sim.kernel
        recurring = not due[1]
        owner = f"huey {self.name} scheduler" if recurring else self._waiting(eta_ns)
        self.timer = kernel.schedule(due[0], self._tick, owner=owner,
                                     priority=BACKGROUND if recurring else NORMAL, recurring=recurring)  # fmt: skip
        self.timer_due = due

    def _waiting(self, eta_ns: Any) -> str:
        """The tick's owner when a task waits in the schedule: named with its eta, so that ``run_until_idle``'s
        ``BudgetExceeded`` says what it waited for (an eta computed in test code from the real clock, a year
        ahead of the simulation, read as only "scheduler: next at ..." before)."""
        data = self.hs.storage.peek_schedule()
        if self.waiting is not None and self.waiting[0] is data:
            return self.waiting[1]  # the same task still first: one tick a minute, each reads it again otherwise
        try:
            name = self.hs.huey.deserialize_task(data).name
        except Exception:  # Huey logs what it cannot read when the tick reads it; here only a name is missing
            name = "a task"
        self.waiting = (data, f"huey {self.name} scheduler, moving {name} (eta {iso(eta_ns)}) to the queue")
        return self.waiting[1]

    def _grid_after(self, at: int) -> int:
        """The first scheduler tick at or after ``at`` (ticks are ``interval`` apart from the start)."""
        k = -(-(at - self.start_ns) // self.interval_ns)
        return self.start_ns + max(0, k) * self.interval_ns

    def disarm(self) -> None:
        if self.timer is not None:
            self.world.sim.kernel.cancel(self.timer)
        self.timer = self.timer_due = None

    # -- the queue --------------------------------------------------------------------------------
    def queued(self) -> None:
        """A task was put on the queue: wake idle workers (a blocking storage's, one per waiting task, in the
        order they went idle; a polled storage's, each at its next poll -- the first to poll takes it)."""
        idle = [w for w in self.workers if w.state == "idle" and w.wake is None]
        if not idle or self.state != "up":
            return
        if self.hs.storage.blocking:
            pending = sum(1 for w in self.workers if w.wake is not None)
            idle.sort(key=lambda w: (w.idle_since, w.index))
            for worker in idle[: max(0, self.hs.storage.queue_size() - pending)]:
                worker.plan_wake()
        else:
            for worker in idle:
                worker.plan_wake()

    def drained(self) -> None:
        """The queue is empty: idle workers need not wake (their polls go on, unobserved)."""
        for worker in self.workers:
            if worker.state == "idle":
                worker.cancel_wake()


def _ns(seconds: float) -> int:
    return round(seconds * SECOND)
