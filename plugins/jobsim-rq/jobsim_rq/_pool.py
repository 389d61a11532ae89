"""The simulated RQ workers: who takes which job, when each one cleans its registries, who runs the scheduler.

**Taking jobs.** Each worker runs ``BaseWorker.work`` (``rq/worker/base.py:609-698``): one job at a
time, dequeued with ``Queue.dequeue_any`` over its own queues in its own order (``:1173-1180``); a
job that spends virtual time keeps only its own worker busy. Several idle workers wait in Redis's
``BLPOP``, and Redis serves the client that has been blocked longest first ("the first client to
be served is the one that was waiting for more time", BLPOP's documentation). So jobsim gives the
next job to the worker idle longest; workers idle since the same instant (the simulation's start,
or jobs that ended together) race for it on a real Redis -- whoever's ``BLPOP`` arrives first --
and jobsim breaks that tie in the order the workers were given, so a test reads a stable answer.
As with one worker, jobs enqueued at one virtual instant are all queued before workers take any.

**Maintenance.** A worker runs ``run_maintenance_tasks`` (``:1061-1075``) when it starts and then
whenever it checks and more than ``maintenance_interval`` (600 s) has passed since the last run
(``should_run_maintenance_tasks``, ``:419-426``). It checks as it finishes a job (``:656``) and, while
idle, each time its ``BLPOP`` times out, every ``dequeue_timeout = worker_ttl - 15`` = 405 s
(``:470-471``, ``:1160-1199``): an idle worker cleans every 810 s, a busy one after the first job
that ends past the interval. A run cleans the ``StartedJobRegistry`` of each of its queues (jobs
whose worker died: ``_crash.py``) and, if its scheduler is not running, tries to take the scheduler
locks (``:1071-1073``). Nothing of this is visible until a worker dies, so jobsim keeps the clock
in arithmetic (``sync``) and only sets timers (``plan``) while a dead worker's job or scheduler
lock waits for someone's maintenance.

**The scheduler.** Every simulated worker runs with ``--with-scheduler``; for each queue one
scheduler holds its lock (``RQScheduler.acquire_locks``, ``rq/scheduler.py:126-152``): the first
worker given that reads it. When that worker dies its lock lapses 61 s later (``interval + 60``,
refreshed every second, ``:126-137, 291-318, 352-356``) and scheduled jobs of that queue wait until another
worker takes the lock: a new worker as it starts (``_start_scheduler``, ``rq/worker/base.py:901-939``),
a worker whose scheduler runs every 120 s (``should_reacquire_locks``, ``DEFAULT_SCHEDULER_FALLBACK_PERIOD``),
any other at its next maintenance run.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import deque
from typing import TYPE_CHECKING, Any

from rq.job import JobStatus

from jobsim._kernel import URGENT
from jobsim._time import SECOND

from ._spec import DEFAULT_JOB_MONITORING_INTERVAL, DEFAULT_MAINTENANCE_INTERVAL, DEFAULT_WORKER_TTL

if TYPE_CHECKING:
    from ._world import Held, RQWorld

SCHEDULER_LOCK_TTL = 61 * SECOND  # RQScheduler.interval (1 s) + 60 (rq/scheduler.py:134)
SCHEDULER_FALLBACK = 120 * SECOND  # rq/defaults.py:90 DEFAULT_SCHEDULER_FALLBACK_PERIOD


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """A worker's RQ options, in seconds (``jobsim_rq.Worker``)."""

    maintenance_interval: int = DEFAULT_MAINTENANCE_INTERVAL
    job_monitoring_interval: int = DEFAULT_JOB_MONITORING_INTERVAL
    worker_ttl: int = DEFAULT_WORKER_TTL

    @property
    def dequeue_timeout(self) -> int:
        return max(1, self.worker_ttl - 15)  # rq/worker/base.py:470-471


class SimWorker:
    """One simulated ``rq worker`` process (with its work horse and its scheduler)."""

    __slots__ = ("alive", "base", "busy_until", "checked", "dies_at", "epoch", "idle_since", "last_cleaned", "listen",
                 "name", "order", "restarts", "sched_at", "scheduler", "settings", "started", "timer")  # fmt: skip

    def __init__(self, name: str, listen: list[str], order: int, start: int, settings: Settings) -> None:
        self.name = name
        self.base = name  # the name its replacements are named after
        self.restarts = 0
        self.listen = listen  # queue names, in the order it reads them
        self.order = order  # ties between workers idle since the same instant go by this
        self.settings = settings
        self.started = start
        self.alive = True
        self.dies_at: int | None = None  # a crash already planned to kill it (applied at that instant)
        self.busy_until: int | None = None
        self.idle_since = start  # when it last became free: its BLPOP timeouts count from here
        self.last_cleaned: int | None = None  # last maintenance run (None: not yet, it runs one as it starts)
        self.checked = start - 1  # check points up to here are accounted for
        self.epoch = 0  # bumped when it starts a job or dies: maintenance timers planned before are stale
        self.scheduler = False  # its scheduler process runs (it holds at least one lock)
        self.sched_at = start  # the scheduler's lock_acquisition_time
        self.timer: Any = None  # the pending maintenance or scheduler timer, while one is planned

    def free_at(self, at: int) -> int:
        return at if self.busy_until is None or self.busy_until <= at else self.busy_until

    def __repr__(self) -> str:
        state = "dead" if not self.alive else "busy" if self.busy_until else "idle"
        return f"<rq worker {self.name!r} reading {self.listen} ({state})>"


class Line:
    """One queue's Redis list, as workers see it at an instant.

    A job body runs to its end as it starts, so a job it enqueues at a later virtual instant (after
    a ``time.sleep``) is known early. Such a push waits in ``pending`` until its instant: it is
    invisible before, and it takes its place among the pushes made meanwhile in time order -- a
    job the scheduler queues at 5 s comes before one a running job enqueued at 7 s, whichever was
    simulated first.
    """

    __slots__ = ("_seq", "jobs", "pending")

    def __init__(self) -> None:
        self.jobs: deque[Held] = deque()  # the list in order, as of the last ``settle``
        self.pending: list[tuple[int, int, bool, Held]] = []  # (instant, seq, at_front, held), pushes to come
        self._seq = 0

    def push(self, held: Held, at: int, now: int, *, front: bool) -> None:
        if at > now:
            self._seq += 1
            bisect.insort(self.pending, (at, self._seq, front, held), key=lambda p: (p[0], p[1]))
            return
        self.settle(at)
        if front:
            self.jobs.appendleft(held)
        else:
            self.jobs.append(held)

    def settle(self, now: int) -> None:
        while self.pending and self.pending[0][0] <= now:
            _, _, front, held = self.pending.pop(0)
            if front:
                self.jobs.appendleft(held)
            else:
                self.jobs.append(held)

    def ready(self, now: int) -> bool:
        self.settle(now)
        return bool(self.jobs)

    def pop(self, now: int) -> Held | None:
        self.settle(now)
        return self.jobs.popleft() if self.jobs else None

    def ids(self, now: int) -> list[str]:
        """``LRANGE key 0 -1`` as a reader at ``now`` sees it: the list, with the pushes made by then."""
        order = deque(held.job.id for held in self.jobs)
        for at, _, front, held in self.pending:
            if at > now:
                break
            if front:
                order.appendleft(held.job.id)
            else:
                order.append(held.job.id)
        return list(order)

    def discard(self, held: Held) -> bool:
        """``LREM key 1 job_id``: the job's first place in the list goes (``Queue.remove``, ``rq/queue.py:509-524``)."""
        if held in self.jobs:
            self.jobs.remove(held)
            return True
        for i, pending in enumerate(self.pending):
            if pending[3] is held:
                del self.pending[i]
                return True
        return False

    def clear(self, now: int) -> list[Held]:
        """``DEL key`` at ``now``: every job in the list then (a push a running job makes later stays)."""
        gone = list(self.jobs) + [p[3] for p in self.pending if p[0] <= now]
        self.jobs.clear()
        self.pending = [p for p in self.pending if p[0] > now]
        return gone


@dataclasses.dataclass(eq=False)
class Lock:
    """A queue's scheduler lock (``rq:scheduler-lock:<queue>``)."""

    holder: SimWorker | None
    free_at: int | None = None  # when a dead holder's lock lapses


class Pool:
    """The workers of one simulation, the dispatch of queued jobs to them, their maintenance clocks."""

    def __init__(self, world: RQWorld) -> None:
        self.world = world
        self.sim = world.sim
        self.workers: list[SimWorker] = []
        self.locks: dict[str, Lock] = {}
        self.wake_at: int | None = None
        self.order = 0
        self.deaths = 0  # until a worker dies, no maintenance run has anything to do: no timers are planned

    # -- starting -------------------------------------------------------------------------------------
    def add(self, name: str, listen: list[str], settings: Settings) -> SimWorker:
        worker = SimWorker(name, listen, self.order, self.sim.kernel.now, settings)
        self.order += 1
        self.workers.append(worker)
        return worker

    def names(self) -> list[str]:
        return [w.name for w in self.workers]

    def by_name(self, name: Any) -> SimWorker | None:
        return next((w for w in self.workers if w.name == name), None)

    def alive(self) -> list[SimWorker]:
        return [w for w in self.workers if w.alive]

    # -- dispatch ----------------------------------------------------------------------------------
    def wake(self, at: int) -> None:
        """Look for work at ``at``, or when the first live worker is free after it."""
        free = [w.free_at(at) for w in self.workers if w.alive]
        if not free:
            return  # no live worker: queued jobs wait for one to start
        at = min(free)
        if self.wake_at is not None and self.wake_at <= at:
            return
        self.wake_at = at
        self.sim.kernel.schedule(at, self._work, at, owner="rq worker")

    def _work(self, at: int) -> None:
        if self.wake_at != at:
            return  # an earlier wake took its place
        self.wake_at = None
        now = self.sim.kernel.now
        free = [w for w in self.workers if w.alive and (w.busy_until is None or w.busy_until <= now)]
        if not free:
            busy = [w.free_at(now) for w in self.workers if w.alive]
            if busy:
                self.wake(min(busy))
            return
        if len(free) > 1:
            free.sort(key=lambda w: (self.blocked_since(w, now), w.order))  # the longest-blocked BLPOP first
        for worker in free:
            if not worker.alive or worker.free_at(now) != now:
                continue
            held = self._dequeue(worker)
            if held is None:
                continue
            self.before_job(worker, now)
            end = self.world._perform(worker, held)
            self.after_job(worker, end)
        waiting = self.world.waiting
        for line in waiting.values():
            line.settle(now)
        ends = [w.free_at(now) for w in self.workers if w.alive and any(waiting[q].jobs for q in w.listen)]
        # a job a running job enqueues later: its wake may have given way to an earlier one (this one)
        ends += [line.pending[0][0] for line in waiting.values() if line.pending]
        if ends:
            self.wake(min(ends))

    def _dequeue(self, worker: SimWorker) -> Held | None:
        """``Queue.dequeue_any``: the first of the worker's queues, in its order, that has a job (``rq/queue.py``)."""
        world, now = self.world, self.sim.kernel.now
        for name in worker.listen:
            line = world.waiting[name]
            while (held := line.pop(now)) is not None:
                if held.job._status == JobStatus.QUEUED and not world.gone(held):
                    return held  # a job whose key expired is skipped (_fetch_dequeued_job, rq/queue.py:1825-1828)
        return None

    def blocked_since(self, worker: SimWorker, now: int) -> int:
        """When ``worker``'s current ``BLPOP`` began: as it became free, again at each timeout (every
        ``dequeue_timeout``; one at ``now`` itself loses to a job arriving then), and after a maintenance run."""
        f = worker.idle_since
        timeout = worker.settings.dequeue_timeout * SECOND
        since = f if now <= f else f + (now - f - 1) // timeout * timeout
        cleaned = worker.last_cleaned
        return cleaned if cleaned is not None and since < cleaned <= now else since

    def before_job(self, worker: SimWorker, at: int) -> None:
        self.sync(worker, at, include_free=True)  # keeps its maintenance clock: a few integer operations
        if self.deaths:
            self.unplan(worker)

    def after_job(self, worker: SimWorker, end: int) -> None:
        if not worker.alive:
            return
        worker.busy_until = end
        worker.idle_since = end
        if self.deaths:
            self.plan(worker)

    # -- the maintenance clock -----------------------------------------------------------------------
    def next_run(self, worker: SimWorker) -> int:
        """The instant of ``worker``'s next maintenance run if no job comes: at start, as it becomes free
        (``idle_since``) once the interval has passed, or at the first ``BLPOP`` timeout past it."""
        f, last = worker.idle_since, worker.last_cleaned
        if last is None:
            return f
        interval = worker.settings.maintenance_interval * SECOND
        if worker.checked < f and f - last > interval:
            return f
        timeout = worker.settings.dequeue_timeout * SECOND
        k = max(1, (interval - (f - last)) // timeout + 1)  # the first f + k*timeout with more than interval since
        return f + k * timeout

    def period(self, worker: SimWorker) -> int:
        """Between two runs of an idle worker: the first multiple of the BLPOP timeout past the interval."""
        s = worker.settings
        return s.dequeue_timeout * (s.maintenance_interval // s.dequeue_timeout + 1) * SECOND

    def sync(self, worker: SimWorker, t: int, *, include_free: bool) -> None:
        """Account for the runs ``worker`` made before ``t`` (and at ``t`` itself if that is when it became
        free and ``include_free``); none of them had anything to do, or a timer would have run them."""
        m = self.next_run(worker)
        if m > t:
            return
        if m == t:
            if include_free and m == worker.idle_since:
                self.ran(worker, m)
            return
        self.ran(worker, m + (t - 1 - m) // self.period(worker) * self.period(worker))

    def ran(self, worker: SimWorker, at: int) -> None:
        worker.last_cleaned = worker.checked = at

    def plan(self, worker: SimWorker) -> None:
        """Set a timer at the first of ``worker``'s maintenance runs (or scheduler retries) that has work:
        a dead worker's job whose registry entry will have expired, a scheduler lock that will have lapsed."""
        self.unplan(worker)
        if not worker.alive:
            return
        now = self.sim.kernel.now
        due = self._first_effect(worker, now)
        if due is not None:
            at, kind = due
            owner = f"rq worker {worker.name} ({kind})"
            worker.timer = self.sim.kernel.schedule(at, self._timer, worker, worker.epoch, kind, owner=owner,
                                                    priority=URGENT)  # fmt: skip

    def unplan(self, worker: SimWorker) -> None:
        worker.epoch += 1
        if worker.timer is not None:
            self.sim.kernel.cancel(worker.timer)
            worker.timer = None

    def _first_effect(self, worker: SimWorker, now: int) -> tuple[int, str] | None:
        from_ = max(now, worker.busy_until or now)
        self.sync(worker, from_, include_free=False)
        threshold = self.world.crashes.first_expiry(worker.listen)
        free_locks = [lock.free_at for q in worker.listen if (lock := self.locks.get(q)) is not None
                      and lock.holder is None and lock.free_at is not None]  # fmt: skip
        options: list[tuple[int, str]] = []
        if free_locks and worker.scheduler:
            first = max(min(free_locks), now)  # its scheduler process retries every 120 s, busy worker or not
            step = SCHEDULER_FALLBACK
            options.append((worker.sched_at + -(-(first - worker.sched_at) // step) * step, "scheduler"))
        elif free_locks:
            threshold = min(free_locks) if threshold is None else min(threshold, min(free_locks))
        if threshold is not None:
            options.append((self._run_at_or_after(worker, max(threshold, from_)), "maintenance"))
        return min(options) if options else None

    def _run_at_or_after(self, worker: SimWorker, t: int) -> int:
        m = self.next_run(worker)
        if m >= t:
            return m
        p = self.period(worker)
        return m + -(-(t - m) // p) * p

    def _timer(self, worker: SimWorker, epoch: int, kind: str) -> None:
        if not worker.alive or worker.epoch != epoch:
            return
        worker.timer = None
        now = self.sim.kernel.now
        if kind == "scheduler":
            worker.sched_at = now
            self.take_locks(worker, now, record=True)
            self.plan(worker)
            return
        self.sync(worker, now, include_free=False)
        if self.next_run(worker) != now:
            self.plan(worker)  # its clock moved (it ran a job): plan again
            return
        self.maintain(worker, now)

    def maintain(self, worker: SimWorker, now: int) -> None:
        """``run_maintenance_tasks`` (``rq/worker/base.py:1061-1075``): retry the scheduler locks (not on the
        first run: ``work`` just tried them), then ``clean_registries`` of each of the worker's queues."""
        if worker.last_cleaned is not None and not worker.scheduler:
            worker.sched_at = now
            self.take_locks(worker, now, record=True)
        self.ran(worker, now)
        end = self.world.crashes.clean(worker, now)
        if end > now:  # failure callbacks of abandoned jobs ran in this worker: it dequeues after them
            worker.busy_until = worker.idle_since = worker.checked = end
        self.plan(worker)
        self.wake(now)

    # -- scheduler locks -----------------------------------------------------------------------------
    def scheduling(self, queue: str) -> bool:
        """Whether a live scheduler moves due jobs of ``queue`` to it. A worker's scheduler takes the locks of
        its own queues only (``RQScheduler.acquire_locks``, ``rq/scheduler.py:126-152``), so on a queue no
        worker reads nothing moves them: they stay ``scheduled``."""
        lock = self.locks.get(queue)
        return lock is not None and lock.holder is not None and lock.holder.alive

    def assign_locks(self) -> None:
        """All workers start with the simulation: for each queue, the first worker given that reads it
        holds its scheduler lock (on a real Redis, the first to start)."""
        for worker in self.workers:
            for name in worker.listen:
                if name not in self.locks:
                    self.locks[name] = Lock(holder=worker)
                    worker.scheduler = True

    def take_locks(self, worker: SimWorker, at: int, *, record: bool) -> None:
        """``RQScheduler.acquire_locks``: every free lock of its queues; a scheduler that got one runs
        and at once moves the due jobs of those queues (``enqueue_scheduled_jobs``)."""
        taken = []
        for name in worker.listen:
            lock = self.locks.setdefault(name, Lock(holder=None, free_at=at))
            if lock.holder is None and lock.free_at is not None and lock.free_at <= at:
                lock.holder, lock.free_at = worker, None
                taken.append(name)
        if not taken:
            return
        worker.scheduler = True
        for name in taken:
            if record:
                self.world.record("rq.scheduler", queue=name, worker=worker.name, event="acquired")
            self.world.scheduler_resumes(name)
        for other in self.alive():
            if other is not worker and any(q in other.listen for q in taken):
                self.plan(other)  # nothing left for them to take

    def lose_locks(self, worker: SimWorker, at: int) -> None:
        """``worker`` died: its scheduler stops refreshing its locks, which lapse ``SCHEDULER_LOCK_TTL`` later."""
        self.deaths += 1
        for name, lock in self.locks.items():
            if lock.holder is worker:
                lock.holder, lock.free_at = None, at + SCHEDULER_LOCK_TTL
                self.sim.kernel.schedule(lock.free_at, self._lapsed, name, lock.free_at, owner=f"rq scheduler lock "
                                         f"{name}", priority=URGENT)  # fmt: skip

    def _lapsed(self, name: str, at: int) -> None:
        lock = self.locks[name]
        if lock.holder is not None or lock.free_at != at:
            return
        self.world.record("rq.scheduler", queue=name, worker=None, event="lapsed")
        for worker in self.alive():
            if name in worker.listen:
                self.plan(worker)
