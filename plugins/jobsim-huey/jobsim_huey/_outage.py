"""A consumer outage: ``sim.huey.stop_consumer()`` and ``sim.huey.start_consumer()``, a ``huey_consumer``
process stopped at a virtual instant and started again later, by huey 3.5.4's rules (``consumer.py``):

* a stop sets the stop flag (``Consumer.stop``, ``consumer.py:562-585``): the scheduler's loop and every idle
  worker's end at once (``while not self.stop_flag.is_set()``, ``consumer.py:507-518``), each worker running
  its ``on_shutdown`` hooks as it leaves. ``graceful=True`` (the graceful signal, ``SIGINT`` unless
  ``graceful_signal='TERM'``) joins the workers: a running task finishes -- its result, retry, next pipeline
  task go to the storage -- and its worker leaves after it; with ``shutdown_timeout`` the ones still running
  then are interrupted as below. ``graceful=False`` (the other signal, ``SIGTERM`` by default) interrupts
  running tasks at once: a thread worker cannot be interrupted (``Environment.interrupt_workers`` is a no-op),
  so ``run()`` sends ``SIGNAL_INTERRUPTED`` for each task in flight (``notify_interrupted_tasks``,
  ``api.py:276-282``) and the process exits with the thread in the middle of the body: no ``finally``, no
  lock released, no result, no retry; a process worker gets the signal, Huey's ``_execute`` catches its
  ``KeyboardInterrupt``, sends ``SIGNAL_INTERRUPTED`` and returns (``api.py:495-497``): the body unwinds (a
  ``lock_task`` is released), no result, no retry. Either way the task was dequeued: it is lost;
* while it is down, tasks enqueued stay in the storage; the scheduler does not tick: periodic checks are
  not made (a restarted scheduler checks the minute it starts in, and every 60 s after, with no catch-up:
  ``Scheduler.loop`` and ``read_periodic``, ``consumer.py:171-195``);
* a start is a new process: a new scheduler whose 1-second loop and 60-second periodic check count from
  the restart (``Scheduler.__init__``, ``consumer.py:163-169``) -- its first tick, at the restart, moves
  every task whose ``eta`` passed while down to the queue -- and new workers (``on_startup`` hooks again)
  that take the queue's tasks; with ``flush_locks=True`` (``huey_consumer -f``) the Huey's ``lock_task``
  locks are deleted first (``Consumer.__init__``, ``Huey.flush_locks``, ``api.py:763-775``).

Job bodies run in one go when they start (jobsim runs them so): a stop that interrupts a task must be
planned before that task's body passes the instant; a stop planned later is refused by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobsim._time import SECOND, iso
from jobsim.errors import InvalidArgument, UnsupportedFeature, WorkerCrashed

if TYPE_CHECKING:
    from ._consumer import Body, HueyExecution, SimConsumer

README = "plugins/jobsim-huey/README.md#a-consumer-that-was-down"


class Outage:
    """One simulated consumer's planned stops and starts (``SimConsumer.outage``)."""

    def __init__(self, consumer: SimConsumer) -> None:
        self.consumer = consumer
        self.up = True  # what the consumer will be once every planned stop and start is done
        self.last: tuple[int, str] | None = None  # the last planned (instant, "stop" | "start")
        self.kills: list[tuple[int, int]] = []  # (process, instant): its bodies still running are interrupted
        self.process = 0  # the consumer process running now: 0, then one more at each start (a new process)
        self.planned = 0  # the process the next planned stop stops: one more at each planned start
        self.restart: bool | None = None  # a start due while a graceful stop still waits: its flush_locks

    # -- planning, from the test ------------------------------------------------------------------
    def plan_stop(self, at: int, graceful: bool) -> None:
        c = self.consumer
        if not self.up:
            raise InvalidArgument(
                f"huey consumer {c.name!r} is already stopped or stopping{self._planned()}, and no "
                "sim.huey.start_consumer() brings it back before: stop it once, start it, then stop it again"
            )
        self._in_order(at, "stop")
        if c.hs.storage_kind.name == "memory":
            if not graceful:
                raise InvalidArgument(
                    f"Huey {c.hs.huey.name!r} is a MemoryHuey: its queue lives in the process that enqueues, so its "
                    "consumer runs in that process (consumer.start()/stop()), and killing the process (SIGTERM) would "
                    "lose the queue, the schedule, the results and the locks along with the code that enqueues. Stop "
                    "it with graceful=True (consumer.stop() in that process: running tasks finish, the storage stays), "
                    f"or use a RedisHuey or SqliteHuey to play a consumer process killed mid-task. See {README}"
                )
            kill = None  # consumer.stop() in a process that lives on: its threads run their task to the end
        else:
            kill = at if not graceful else self._timeout_end(at)
        if kill is not None:
            if self.planned == self.process:  # a stop of a process still to start interrupts none running now
                self._arm_running(kill)
            self.kills.append((self.planned, kill))
        from jobsim._kernel import URGENT

        c.world.sim.kernel.schedule(at, self._stop, graceful, kill, self.planned, owner=f"huey {c.name} (stop)",
                                    priority=URGENT)  # fmt: skip
        self.up, self.last = False, (at, "stop")

    def plan_start(self, at: int, flush_locks: bool) -> None:
        c = self.consumer
        if self.up:
            raise InvalidArgument(
                f"huey consumer {c.name!r} is running{self._planned()}: sim.huey.start_consumer() starts a stopped "
                "consumer again; stop it first (sim.huey.stop_consumer(at=...))"
            )
        self._in_order(at, "start")
        c.world.sim.kernel.schedule(at, self._start, flush_locks, owner=f"huey {c.name} (restart)")
        self.up, self.last = True, (at, "start")
        self.planned += 1

    def _planned(self) -> str:
        return "" if self.last is None else f" (its last planned {self.last[1]} is at {iso(self.last[0])})"

    def _in_order(self, at: int, what: str) -> None:
        if self.last is not None and at < self.last[0]:
            raise InvalidArgument(
                f"at={iso(at)} for a {what} of huey consumer {self.consumer.name!r} is before its planned "
                f"{self.last[1]} at {iso(self.last[0])}: plan its stops and starts in the order they happen"
            )

    def _timeout_end(self, at: int) -> int | None:
        """A graceful stop's end of patience: ``shutdown_timeout`` seconds after it (``_join_workers``), if set."""
        timeout = self.consumer.options.shutdown_timeout
        return None if timeout is None else at + round(float(timeout) * SECOND)

    def _arm_running(self, kill: int) -> None:
        """Bodies under way are interrupted at ``kill``: possible only if their code has not run past it."""
        for worker in self.consumer.workers:
            body = worker.body
            x = body.x if body is not None else None
            if x is None or worker.running is None:
                continue
            if x.now > kill:
                run = worker.running
                raise UnsupportedFeature(
                    f"a stop interrupting huey task {run.function.id!r} (run {run.id}) at {iso(kill)} comes too late: "
                    f"it has been running on {worker.name} since {iso(x.start)}, and jobsim ran its body in one go "
                    f"when it started, up to {iso(x.now)}, so nothing can stop it part-way now. Plan the stop before "
                    f"the task starts (sim.huey.stop_consumer(at=...) ahead of the driving call), or stop "
                    f"gracefully (graceful=True, no shutdown_timeout), which waits for it. See {README}",
                    system="huey", feature="stop_consumer",
                )  # fmt: skip
            arm(x, kill)

    def kill_for(self, start: int) -> int | None:
        """The interruption a body starting at ``start`` meets first, if any is planned: one of a stop of the process
        running it (a stop of the process before ends with that process -- its ``shutdown_timeout`` or a kill at the
        instant of a start -- and interrupts nothing the new one starts)."""
        self.kills = [(p, k) for p, k in self.kills if p > self.process or (p == self.process and k >= start)]
        return next((k for p, k in self.kills if p == self.process), None)

    # -- at the instants ------------------------------------------------------------------------------
    def _stop(self, graceful: bool, kill: int | None, process: int) -> None:
        """The stop flag is set (``Consumer.stop``): the scheduler stops, idle workers leave, busy ones after
        their task (``graceful``) or at ``kill``. A stop of a process whose start still waits for the old process's
        graceful stop is refused: it would reach the old one, in ``Consumer._join_workers``."""
        c = self.consumer
        world = c.world
        if c.state == "stopping" and process > self.process:
            raise UnsupportedFeature(
                f"the stop of huey consumer {c.name!r} at {iso(world.sim.kernel.now)} is planned after a start, but "
                "that start still waits for the process before it, stopping gracefully until its running tasks end "
                "(a start planned while a graceful stop waits happens when the old process exits): the signal would "
                "reach the old process in its graceful shutdown instead. Plan this stop after the old process exits, "
                f"or give the first stop a shutdown_timeout (or graceful=False). See {README}",
                system="huey", feature="stop_consumer",
            )  # fmt: skip
        world.tick()
        c.state = "stopping"
        c.disarm()
        busy = [w for w in c.workers if w.state == "busy"]
        signal = c.options.graceful_signal if graceful else c.options.interrupt_signal
        world.record("huey.stop", huey=c.hs.huey.name, consumer=c.name, graceful=graceful, signal=signal,
                     running=len(busy), timeout=c.options.shutdown_timeout if graceful else None)  # fmt: skip
        for worker in c.workers:
            if worker.state == "idle":
                worker.cancel_wake()
                worker.drive()  # its loop sees the stop flag: it leaves, running its on_shutdown hooks
        self.left()

    def left(self) -> None:
        """A worker has left: once none is left, the consumer is down (and a start due meanwhile happens)."""
        c = self.consumer
        if c.state != "stopping" or any(w.state in ("busy", "idle") for w in c.workers):
            return
        c.state = "down"
        c.world.record("huey.stopped", huey=c.hs.huey.name, consumer=c.name)
        if self.restart is not None:
            flush, self.restart = self.restart, None
            self._start(flush)

    def _start(self, flush_locks: bool) -> None:
        """A new consumer process for the same Huey: locks flushed (``-f``), then the scheduler and the workers."""
        c = self.consumer
        if c.state == "stopping":  # a graceful stop still waits for a task: the new process starts once it exits
            self.restart = flush_locks
            return
        c.world.tick()
        self.process += 1
        flushed: list[str] = []
        if flush_locks:
            flushed = sorted(c.hs.huey.flush_locks())
        c.retired += c.workers
        c.start(restart=True, flushed=flushed)

    # -- a body interrupted ---------------------------------------------------------------------------------
    def interrupt(self, body: Body, at: int) -> BaseException:
        """``at``, the kill, is reached inside ``body``: what happens to the task at the simulation's ``at``."""
        c = self.consumer
        world = c.world
        world.sync()  # the body's clock stopped at ``at``: the simulation catches up to it first
        if c.options.worker_type == "process":
            # SIGTERM to the worker process: Huey's _execute catches the KeyboardInterrupt (api.py:495-497)
            body.killed = KeyboardInterrupt()
            return body.killed
        self._die(body, at)
        raise AssertionError("unreachable: a dead worker's greenlet is never resumed but by the close")

    def _die(self, body: Body, at: int) -> None:
        """A thread worker in the middle of a body when its process exits: ``notify_interrupted_tasks`` sends
        ``SIGNAL_INTERRUPTED`` from the main thread, then the thread is gone where it stood -- no ``finally``, no
        lock released, no result. Its greenlet waits for the close, which ends it (``GreenletExit``)."""
        from greenlet import getcurrent
        from huey.signals import SIGNAL_INTERRUPTED

        worker, world = body.worker, body.worker.world
        x = body.x
        assert x is not None
        run, task, huey = world.run_of(body.task), body.task, worker.consumer.hs.huey
        world.sim.engine.x = None
        body._attempt(x, WorkerCrashed(f"the huey consumer {worker.consumer.name}'s process exited while "
                                       f"{worker.name} ran this task, at a stop that did not wait for it"))
        world._end(run, "lost", None, why="interrupted: the consumer's process exited while it ran")
        worker.state, worker.running, worker.body = "dead", None, None
        huey._tasks_in_flight.discard(task)
        saved, world.current = world.current, None  # sent by the consumer's main thread
        try:
            huey._emit(SIGNAL_INTERRUPTED, task)
        finally:
            world.current = saved
        self.left()
        getcurrent().parent.switch(None)


def arm(x: HueyExecution, kill: int) -> None:
    """Interrupt execution ``x`` at ``kill`` (``HueyExecution.stopped``), before a timeout alarm due later."""
    x.kill = kill
    if x.stop_at is None or kill <= x.stop_at:
        x.stop_at = kill


def which(world: Any, consumer: Any, call: str) -> SimConsumer:
    """The simulated consumer a ``consumer=`` argument names: its name, the huey ``Consumer`` passed as a target,
    an entry of ``sim.huey.consumers``; ``None`` for the only one."""
    from huey.consumer import Consumer

    consumers = world.consumers
    names = ", ".join(repr(c.name) for c in consumers)
    if consumer is None:
        if len(consumers) == 1:
            return consumers[0]  # type: ignore[no-any-return]
        raise InvalidArgument(f"{call} needs consumer=...: this simulation runs {len(consumers)} huey consumers "
                              f"({names}); name one, or pass the huey Consumer given as a target")  # fmt: skip
    for c in consumers:
        if consumer is c or consumer == c.name or (isinstance(consumer, Consumer) and consumer is c.target):
            return c  # type: ignore[no-any-return]
    raise InvalidArgument.build("consumer", consumer, f"the name of a simulated huey consumer ({names}), the huey "
                                "Consumer passed to the Simulation, or an entry of sim.huey.consumers")  # fmt: skip
