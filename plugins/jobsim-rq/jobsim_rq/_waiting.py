"""RQ jobs that wait before they reach their queue: deferred on their dependencies, or scheduled for a time.

A job enqueued with ``depends_on`` is ``deferred`` until its dependencies finish (``Queue.setup_dependencies``,
``enqueue_dependents``); one enqueued with ``enqueue_at``/``enqueue_in`` (or retried with an interval) is
``scheduled`` in the ``ScheduledJobRegistry`` until its worker's scheduler moves it to its queue
(``rq/scheduler.py``), if a live scheduler holds that queue's lock. A mixin of ``RQWorld`` (``sim.rq``,
``_world.py``), which queues the job (``push``) once it no longer waits. Each rule cites where it comes from.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import TYPE_CHECKING, Any

from rq.job import JobStatus

from jobsim._time import SECOND, iso
from jobsim.errors import InvalidArgument

from ._store import whole_seconds

if TYPE_CHECKING:
    from jobsim import Simulation

    from ._pool import Line, Pool
    from ._store import Store
    from ._world import Held


class Waiting:
    """Part of ``RQWorld``: deferred jobs and their release, scheduled jobs and the scheduler that queues them."""

    sim: Simulation
    store: Store
    pool: Pool
    jobs: dict[str, Held]
    dependents: dict[str, list[Held]]
    waiting: dict[str, Line]
    executing: Held | None

    if TYPE_CHECKING:  # RQWorld's own (``_world.py``, ``_lifecycle.py``)

        def owns(self, job: Any) -> bool: ...
        def check_job(self, job: Any, queue: Any, *, pipeline: Any, unique: bool, what: str) -> None: ...
        def push(self, queue: Any, job: Any, *, at_front: bool) -> Any: ...
        def status(self, job: Any) -> Any: ...
        def record(self, kind: str, **data: Any) -> None: ...
        def gone(self, held: Held) -> bool: ...
        def _hold(self, queue: Any, job: Any) -> Held: ...
        def _cleanup_ttl(self, held: Held) -> None: ...

    # -- dependencies --------------------------------------------------------------------------
    def _unmet(self, job: Any) -> list[str]:
        """``Queue.setup_dependencies`` (``rq/queue.py:668-731``): the dependencies whose status is not
        ``finished`` (or ``failed`` too with ``Dependency(allow_failure=True)``). A dependency RQ cannot
        fetch (not enqueued in this simulation, or its key expired) is skipped, as ``fetch_dependencies``
        drops missing jobs (``rq/job.py:860-863``): it counts as met."""
        met = (JobStatus.FINISHED, JobStatus.FAILED) if job.allow_dependency_failures else (JobStatus.FINISHED,)
        unmet = []
        for dep_id in job._dependency_ids:
            dep = self.jobs.get(dep_id)
            if dep is not None and not self.gone(dep) and self.status(dep.job) not in met:
                unmet.append(dep_id)
        return unmet

    def _defer(self, held: Held, waiting_for: list[str]) -> None:
        """Status ``deferred``; the job waits in each unmet dependency's dependents (``register_dependency``)."""
        held.job._status = JobStatus.DEFERRED
        held.run.status = "waiting"
        for dep_id in waiting_for:
            self.dependents.setdefault(dep_id, []).append(held)
        self._cleanup_ttl(held)  # setup_dependencies: job.cleanup(ttl=job.ttl) (rq/queue.py:706-710)
        now = self.sim.now_ns()  # register_dependency: DeferredJobRegistry.add, scored now (rq/job.py:1804-1833)
        self.store.add(now, held.queue.name, "deferred", held.job.id, whole_seconds(now))
        self.record("rq.defer", function=held.run.function.id, run=held.job.id, queue=held.queue.name,
                    waiting_for=waiting_for)  # fmt: skip

    def _release(self, parent: Held, repeating: bool = False) -> None:
        """``enqueue_dependents``/``move_dependents_to_ready`` after a job finishes or finally fails
        (``rq/queue.py:1510-1667``, ``rq/registry.py:565-620``): each deferred dependent whose dependencies
        are met now (``Job.dependencies_are_met``, ``rq/job.py:1840-1911``: a failed parent counts only with
        ``allow_failure``) is queued with ``at_front=job.should_enqueue_at_front()``. RQ keeps dependents in a
        Redis set, so their order is unspecified there; here it is the order they were enqueued in."""
        waiting = self.dependents.pop(parent.job.id, [])
        kept = []  # still deferred: the dependents set stays in Redis, so a requeued parent releases them later
        for held in waiting:
            job = held.job
            if job._status != JobStatus.DEFERRED or self.gone(held):
                continue  # a dependent whose key expired is skipped (``if dependent_job``, rq/queue.py:1563)
            parent_status = JobStatus.FINISHED if repeating else self.status(parent.job)
            if (parent_status == JobStatus.FAILED and not job.allow_dependency_failures) or parent_status not in (
                    JobStatus.FINISHED, JobStatus.FAILED) or any(
                    dep_id != parent.job.id for dep_id in self._unmet(job)):  # fmt: skip
                kept.append(held)
                continue
            self.push(held.queue, job, at_front=job.should_enqueue_at_front())
        if kept:
            self.dependents[parent.job.id] = kept

    def schedule(self, queue: Any, job: Any, when: Any, *, pipeline: Any = None, unique: bool = False) -> Any:
        """``Queue.schedule_job`` (``enqueue_at``/``enqueue_in``, and ``Job.retry`` with an interval).

        The ``ScheduledJobRegistry`` scores a job by its time in whole UTC seconds: a naive
        datetime is read in the machine's local zone (``astimezone()``), then
        ``calendar.timegm(utctimetuple())`` drops the fraction (``rq/registry.py:641-652``).
        The worker's scheduler moves a job to its queue once that score is due
        (``rq/scheduler.py:232-267``); it polls every second, which this simulation does
        not add: the job is queued at its score.
        """
        if not isinstance(when, dt.datetime):
            raise InvalidArgument.build("datetime", when, "a datetime.datetime for Queue.enqueue_at")
        retrying = self.owns(job)
        if not retrying:
            self.check_job(job, queue, pipeline=pipeline, unique=unique, what="enqueue_at")
        aware = when if when.tzinfo is not None else when.astimezone()
        due = calendar.timegm(aware.utctimetuple()) * SECOND
        job._status = JobStatus.SCHEDULED
        job.origin = queue.name
        held = self.jobs[job.id] if retrying else self._hold(queue, job)
        now = self.sim.now_ns()
        if retrying and self.executing is held:  # Job.retry's _persist_job saves the worker's Job, meta and all
            self.store.save_meta(now, job, whole_job=True)
        held.due = max(due, now)
        self.store.add(now, queue.name, "scheduled", job.id, due // SECOND)  # ScheduledJobRegistry.schedule
        self.record("rq.schedule", function=held.run.function.id, run=job.id, queue=queue.name, due=due,
                    requested=iso(int(aware.timestamp() * SECOND)), listened=queue.name in self.waiting)  # fmt: skip
        self._cleanup_ttl(held)  # _persist_job: job.cleanup(ttl=job.ttl) (rq/queue.py:1234, 1409)
        held.due_timer = self.sim.kernel.schedule(max(due, now), self._scheduled_due, held,
                                                  owner=f"{job.func_name} (scheduled)")  # fmt: skip
        return job

    # -- the scheduler ---------------------------------------------------------------------------
    def _scheduled_due(self, held: Held) -> None:
        """The scheduler enqueues a due job: ``queue._enqueue_job(job, at_front=job.should_enqueue_at_front())``
        (``rq/scheduler.py:267``; ``Job.should_enqueue_at_front``, ``rq/job.py:595-600``) -- if a live
        scheduler holds the queue's lock; otherwise the job waits for one (``scheduler_resumes``). It takes
        every job of the queue due by then in one go (``enqueue_due``), so jobs due in the same second go
        by id, not in the order they were scheduled."""
        job = held.job
        held.due_timer = None
        if job._status != JobStatus.SCHEDULED or self.gone(held):
            return  # the scheduler removes a missing job from the registry (rq/scheduler.py:250-266)
        if not self.pool.scheduling(held.queue.name):
            return  # its scheduler died with its worker: it stays scheduled (in the ScheduledJobRegistry)
        self.enqueue_due(held.queue.name)

    def scheduler_resumes(self, queue: str) -> None:
        """A scheduler took ``queue``'s lock: it moves every job due by now (``enqueue_due``)."""
        self.enqueue_due(queue)

    def enqueue_due(self, queue: str) -> None:
        """``RQScheduler.enqueue_scheduled_jobs`` for ``queue`` (``rq/scheduler.py:232-267``): every job due by now
        (whole-second score ``<= now``), by score then id -- ``get_jobs_to_schedule`` is a ``ZRANGEBYSCORE``,
        and Redis orders equal scores by member -- each queued as ``_enqueue_job`` does, in that order. A job
        whose own timer is due at this instant too is taken now, with the others."""
        now = self.sim.now_ns()
        due = [h for h in self.jobs.values() if h.queue.name == queue and h.job._status == JobStatus.SCHEDULED
               and h.due is not None and h.due <= now and not self.gone(h)]  # fmt: skip
        scores = self.store.entries(queue, "scheduled", now)
        for held in due:
            if held.due_timer is not None:
                self.sim.kernel.cancel(held.due_timer)
                held.due_timer = None
        for held in sorted(due, key=lambda h: (scores.get(h.job.id, now // SECOND), h.job.id)):
            self.push(held.queue, held.job, at_front=held.job.should_enqueue_at_front())
