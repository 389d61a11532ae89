"""Worker crashes as RQ 3.0.0 lives through them: a work horse killed, or a whole worker lost.

``sim.crash_worker(at=..., function=...)`` (jobsim's fault API) and ``sim.rq.crash_worker(...,
worker=..., kind=..., restart=...)`` plan them. What follows is RQ's, for its default forking
``Worker`` (what ``rq worker`` runs):

* ``kind="horse"`` -- the work horse dies of a signal (the OOM killer's ``SIGKILL``, a segfault)
  while the worker process lives. ``monitor_work_horse`` sees ``waitpid`` return at once
  (``rq/worker/worker_classes.py:79-151``): the job's status is still ``started``, so it records
  ``'Work-horse terminated unexpectedly; waitpid returned 9 (signal 9); '``, calls
  ``handle_work_horse_killed`` and ``handle_job_failure`` (``rq/worker/base.py:734-798``): the
  job is retried if it has retries left (RQ's own ``Job.retry``, its interval rule), else it is
  ``failed`` in the ``FailedJobRegistry``. No failure callback runs (it would have run in the
  horse). The worker is free at that instant.
* ``kind="worker"`` -- the worker is lost with its horse and its scheduler (a host or container
  gone, ``kill -9`` of all three): nothing handles the job, which stays ``started``. Its entry in
  the ``StartedJobRegistry`` is scored when its execution was created (``prepare_execution``,
  ``rq/executions.py:212-233``) and again at each heartbeat of ``monitor_work_horse``, every
  ``job_monitoring_interval`` (``maintain_heartbeats``, ``rq/worker/base.py:1241-1276``), at
  ``now + get_heartbeat_ttl`` (``:1112-1126``: ``min(job.timeout - working_time,
  job_monitoring_interval) + 60``, 90 s by default), in whole seconds (``current_timestamp``,
  ``rq/utils.py:394-400``). Once that score has passed, the next maintenance run of a live worker
  reading the queue (``_pool.py``) finds it in ``StartedJobRegistry.cleanup`` (``rq/registry.py:268-337``):
  the failure callback runs there with ``AbandonedJobError`` (an exception in it is logged and
  swallowed), then the job is retried if it has retries left, else ``failed`` with ``'Moved to
  FailedJobRegistry, due to AbandonedJobError, at <now>'`` and its dependents are looked at. The
  dead worker's scheduler locks lapse (``_pool.py``), and a new worker starts ``restart`` later
  (a process supervisor; ``None``: never).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from rq.job import JobStatus

from jobsim._checks import listed_ids
from jobsim._kernel import URGENT
from jobsim._time import SECOND, duration_ns, iso
from jobsim.errors import InvalidArgument, UnsupportedFeature, WorkerCrashed
from jobsim.hooks import escapes, planned_instant

from ._world import RQExecution

if TYPE_CHECKING:
    from ._pool import SimWorker
    from ._world import Held, RQWorld

KINDS = ("worker", "horse")
HORSE_DEATH = "Work-horse terminated unexpectedly; waitpid returned 9 (signal 9); "  # worker_classes.py:146-147


@dataclasses.dataclass(eq=False)
class CrashPlan:
    """A crash to come: at ``at``, of ``worker`` (a name) or of the worker running ``function``'s job."""

    at: int
    function: str | None
    worker: str | None
    kind: str
    restart: int | None
    done: bool = False

    def matches(self, worker: SimWorker, held: Held) -> bool:
        return (self.function is None or self.function == held.run.function.id) and (
            self.worker is None or self.worker == worker.name
        )


@dataclasses.dataclass(eq=False)
class Entry:
    """What a dead worker left in a queue's ``StartedJobRegistry``: its job, and when the entry expires."""

    held: Held
    queue: str
    score: int  # epoch ns of a whole second
    worker: str


class Crashes:
    """The crash plans of one simulation and the registry entries dead workers left."""

    def __init__(self, world: RQWorld) -> None:
        self.world = world
        self.sim = world.sim
        self.plans: list[CrashPlan] = []
        self.entries: dict[str, list[Entry]] = {}

    # -- planning ------------------------------------------------------------------------------------
    def plan(self, at: Any = None, function: Any = None, *, worker: Any = None, kind: str = "worker",
             restart: Any = 0) -> None:  # fmt: skip
        """Plan a crash (see ``RQWorld.crash_worker``): checked, then armed on the job it will hit."""
        world, pool = self.world, self.world.pool
        at_ns = planned_instant(self.sim, at, "a crash")
        if kind not in KINDS:
            raise InvalidArgument.build("kind", kind, "'worker' (the worker, its work horse and its scheduler die: "
                                        "the job is abandoned) or 'horse' (only the work horse dies)")  # fmt: skip
        fn_id = None if function is None else self._function(function)
        if worker is not None and worker not in [w.name for w in pool.alive()]:
            raise InvalidArgument.build("worker", worker, "the name of a live simulated RQ worker: "
                                        + ", ".join(repr(w.name) for w in pool.alive()))  # fmt: skip
        restart_ns = None if restart is None else duration_ns(restart, "restart")
        plan = CrashPlan(at_ns, fn_id, worker, kind, restart_ns)
        x, running, runner = self.sim.engine.x, world.executing, world.executing_worker
        if running is not None and runner is not None and isinstance(x, RQExecution) and plan.matches(runner, running):
            self.plans.append(plan)
            x.kill(at_ns, plan)  # job code crashing its own worker: it dies when it next spends time past at
            return
        self._refuse_if_already_ran(plan)
        self.plans.append(plan)
        if worker is not None:  # that worker dies at ``at`` even if it is idle then
            self.sim.kernel.schedule(at_ns, self._idle_crash, plan, owner=f"rq crash of {worker}", priority=URGENT)

    def _function(self, function: Any) -> str:
        fn_id = self.sim._function(function, "function").id
        if fn_id not in self.world.functions:
            raise InvalidArgument.build("function", function, "an RQ job function enqueued in this simulation: "
                                        + listed_ids(self.world.functions))  # fmt: skip
        return fn_id

    def _refuse_if_already_ran(self, plan: CrashPlan) -> None:
        """A job body runs to its end as it starts: a crash inside one that already ran cannot be applied."""
        for held in self.world.jobs.values():
            begun, end = held.running_from, held.running_until
            if begun is None or end is None or not begun <= plan.at < end:
                continue
            runner = self.world.pool.by_name(held.job.worker_name)
            if runner is None or not plan.matches(runner, held) or self.world.status(held.job) != JobStatus.STARTED:
                continue
            raise UnsupportedFeature(
                f"a crash at {iso(plan.at)} would hit RQ job {held.job.id} ({held.job.func_name}) on worker "
                f"{runner.name!r}: it has been running since {iso(begun)} until {iso(end)} in virtual time, and jobsim "
                "ran its body to the end when it started, so nothing can stop it part-way now. Plan the crash before "
                f"the job starts: sim.crash_worker(at={iso(plan.at)!r}, ...) (or sim.rq.crash_worker)",
                system="rq", feature="crash_worker",
            )  # fmt: skip

    def arm(self, worker: SimWorker, held: Held, x: RQExecution) -> None:
        """At a job's start: the crash it meets, if any. One planned at or before the start (no attempt was
        in flight then) kills the horse before the job's code runs; a later one where the code gets to it."""
        start = x.start
        for plan in self.plans:
            if plan.done or not plan.matches(worker, held):
                continue
            if plan.at <= start:
                x.kill(start, plan)
                x.killed = True
                return
            x.kill(plan.at, plan)

    # -- dying -----------------------------------------------------------------------------------------
    def died(self, worker: SimWorker, held: Held, x: RQExecution) -> None:
        """The execution ``x`` met its crash (``arm``): the horse, or the whole worker, is dead at ``x.now``."""
        plan = x.kill_reason
        assert isinstance(plan, CrashPlan)
        self._consume(plan, worker, held)
        job, world = held.job, self.world
        x.kill(None)
        x.arm(None, Exception)
        self.sim.engine.move_clock(x.now)
        job._status = JobStatus.STARTED  # what Redis holds: the horse saved nothing after it started
        job._result = None
        if plan.kind == "horse":
            self._horse_died(worker, held, x)
            return
        job.ended_at = None
        score = entry_score(worker, job.timeout, x.start, x.now)
        world._attempt(held, x, WorkerCrashed(
            f"worker {worker.name!r} died at {iso(x.now)} running this job; RQ finds it abandoned at a maintenance "
            f"run once its StartedJobRegistry entry expires, {iso(score)}"))  # fmt: skip
        self.entries.setdefault(held.queue.name, []).append(Entry(held, held.queue.name, score, worker.name))
        self._kill(worker, x.now, plan, held)

    def _horse_died(self, worker: SimWorker, held: Held, x: RQExecution) -> None:
        """``monitor_work_horse`` then ``handle_job_failure`` (``rq/worker/worker_classes.py:131-151``)."""
        job, world = held.job, self.world
        job.ended_at = world.now()
        error = WorkerCrashed(HORSE_DEATH)
        world._attempt(held, x, error)
        world.record("rq.crash", function=held.run.function.id, run=job.id, worker=worker.name, how="horse",
                     queue=held.queue.name)  # fmt: skip
        if job.should_retry:
            world._retry(held, x.now)
            return
        job._status = JobStatus.FAILED
        world._finish(held, "failed", x.now, error, None)

    def _consume(self, plan: CrashPlan, worker: SimWorker, held: Held | None) -> None:
        """``plan`` happens; other crashes planned for the same instant that would hit the same worker (and
        job) are the same crash: the first planned says which kind it is."""
        plan.done = True
        for other in self.plans:
            if (
                not other.done
                and other.at == plan.at
                and (other.worker == worker.name if held is None else other.matches(worker, held))
            ):
                other.done = True

    def _idle_crash(self, plan: CrashPlan) -> None:
        """A crash of a named worker at ``plan.at`` that no job of it met: it dies idle (or has no horse)."""
        if plan.done:
            return
        worker = self.world.pool.by_name(plan.worker)
        if worker is None or not worker.alive or worker.dies_at is not None:
            plan.done = True
            return  # already dead, or dying of a crash met by its job
        self._consume(plan, worker, None)
        if plan.kind == "horse":  # handle_kill_worker_command: "Worker is not working, kill horse command ignored"
            self.world.record("rq.crash", worker=worker.name, how="horse", outcome="no horse")
            return
        self._kill(worker, self.sim.kernel.now, plan, None)

    def _kill(self, worker: SimWorker, at: int, plan: CrashPlan, held: Held | None) -> None:
        """``worker`` dies at ``at``: known as its job's body is simulated (earlier), applied at that instant."""
        worker.dies_at = at
        replacement = None if plan.restart is None else f"{worker.base}-r{worker.restarts + 1}"
        data: dict[str, Any] = {"worker": worker.name, "how": "worker", "restart": replacement}
        if held is not None:
            data.update(function=held.run.function.id, run=held.job.id, queue=held.queue.name)
        self.sim.trace.add(at, "rq.crash", data)
        if at > self.sim.kernel.now:  # until then it runs its job, and its scheduler runs
            self.sim.kernel.schedule(at, self._die, worker, at, plan, owner=f"rq worker {worker.name} (dies)",
                                     priority=URGENT)  # fmt: skip
        else:
            self._die(worker, at, plan)

    def _die(self, worker: SimWorker, at: int, plan: CrashPlan) -> None:
        pool = self.world.pool
        worker.alive = False
        pool.unplan(worker)
        if plan.restart is not None:
            self.sim.kernel.schedule(at + plan.restart, self._restart, worker, owner=f"rq worker {worker.base} "
                                     "(restart)", priority=URGENT)  # fmt: skip
        pool.lose_locks(worker, at)
        for other in pool.alive():
            pool.plan(other)

    def _restart(self, dead: SimWorker) -> None:
        """A supervisor starts a new worker (a new name: RQ draws one per process) on the same queues: it takes
        free scheduler locks (``_start_scheduler``) and runs its first maintenance, then works."""
        pool, now = self.world.pool, self.sim.kernel.now
        worker = pool.add(f"{dead.base}-r{dead.restarts + 1}", list(dead.listen), dead.settings)
        worker.base, worker.restarts = dead.base, dead.restarts + 1
        self.world.record("rq.worker", worker=worker.name, replaces=dead.name, queues=list(worker.listen))
        pool.take_locks(worker, now, record=True)
        pool.maintain(worker, now)

    # -- the maintenance task ---------------------------------------------------------------------------
    def first_expiry(self, queues: list[str]) -> int | None:
        scores = [e.score for q in queues for e in self.entries.get(q, ())]
        return min(scores) if scores else None

    def clean(self, worker: SimWorker, now: int) -> int:
        """``clean_registries`` of each of ``worker``'s queues: ``StartedJobRegistry.cleanup`` takes the
        entries whose score has passed, by score then id (``ZRANGEBYSCORE``). Returns when it is done (the
        failure callbacks it runs may spend virtual time in this worker)."""
        t = now
        for queue in worker.listen:
            entries = self.entries.get(queue)
            if not entries:
                continue
            expired = sorted((e for e in entries if e.score <= t), key=lambda e: (e.score, e.held.job.id))
            for entry in expired:
                entries.remove(entry)
                t = self._abandoned(worker, entry, t)
        return t

    def _abandoned(self, worker: SimWorker, entry: Entry, at: int) -> int:
        """One abandoned job, as ``StartedJobRegistry.cleanup`` handles it (``rq/registry.py:288-326``)."""
        from rq.exceptions import AbandonedJobError

        world, held = self.world, entry.held
        job, engine = held.job, self.sim.engine
        if world.gone(held) or job._status != JobStatus.STARTED:
            return at  # Job.fetch finds nothing, or it is no longer started: skipped
        x = RQExecution(engine, held.run, held.calls, at)
        engine.x = x
        engine.move_clock(at)  # the callback reads this instant
        try:
            world.record("rq.abandon", function=held.run.function.id, run=job.id, queue=entry.queue,
                         worker=worker.name, died=entry.worker, expired=entry.score)  # fmt: skip
            try:  # logged and swallowed (rq/registry.py:302-307), also when RQ cannot import the callback
                callback = job.failure_callback
                if callback is not None:
                    world._callback(x, "failure", callback, job.failure_callback_timeout,
                                    lambda: callback(job, job.connection, AbandonedJobError, AbandonedJobError(),
                                                     None))  # fmt: skip
            except BaseException as exc:
                if escapes(exc):
                    raise
            engine.move_clock(x.now)
            if job.retries_left and job.retries_left > 0:
                world._retry(held, x.now)
            else:
                job._status = JobStatus.FAILED
                error = AbandonedJobError(f"Moved to FailedJobRegistry, due to AbandonedJobError, at {world.now()}")
                world._finish(held, "failed", x.now, error, None)
        finally:
            engine.x = None
        return x.now


def entry_score(worker: SimWorker, timeout: Any, start: int, died: int) -> int:
    """The score of the job's ``StartedJobRegistry`` entry when its worker died at ``died``.

    Set at ``start`` to ``floor(start) + get_heartbeat_ttl(job)`` (``min(timeout, job_monitoring_interval)
    + 60``, or ``job_monitoring_interval + 60`` for ``timeout=-1``), then rewritten by each heartbeat at
    ``start + k * job_monitoring_interval`` before the death with ``ttl = int(min(timeout - working_time,
    job_monitoring_interval)) + 60``. ``working_time`` there is a little over ``k * interval`` (the alarm
    fires once that much has passed), so ``int`` truncates a whole remaining time one second down.
    """
    interval = worker.settings.job_monitoring_interval
    positive = isinstance(timeout, int) and not isinstance(timeout, bool) and timeout > 0
    beats = max(0, (died - start - 1) // (interval * SECOND))
    if beats == 0:
        ttl = (min(timeout, interval) if positive else interval) + 60
        return (start // SECOND + ttl) * SECOND
    left = timeout - beats * interval if positive else interval + 1
    ttl = (interval if left > interval else left - 1 if left > 0 else left) + 60
    return (start // SECOND + beats * interval + ttl) * SECOND
