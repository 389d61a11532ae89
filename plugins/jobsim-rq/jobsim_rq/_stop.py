"""Stopping an RQ job: ``stop-job`` commands, the work horse they kill, and ``Job.cancel``.

A ``stop-job`` command (``send_stop_job_command``, ``rq/command.py``) reaches the worker running the job,
which kills its work horse (``Worker.kill_horse``, ``rq/worker/worker_classes.py:35-49``) and handles the
job as stopped (``_stopped``); ``Job.cancel`` takes a job that has not started out of its queue and
registries. Both are asked for by the test or by job code, at an instant that must be known before the
job's body runs (jobsim runs a body in one go when it starts), so their refusals and plans live together
here, as a mixin of ``RQWorld`` (``sim.rq``) built on ``_lifecycle.Lifecycle``, apart from the worker
that carries them out (``_world.py``, ``_execution.RQExecution.kill``). Each rule cites where it comes from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rq.job import JobStatus

from jobsim._checks import keywords_checked
from jobsim._time import iso
from jobsim.errors import InvalidArgument, JobsimError, UnsupportedFeature
from jobsim.hooks import escapes, planned_instant

from ._execution import HorseKilled, RQExecution
from ._lifecycle import Lifecycle
from ._store import held_kind, whole_seconds

if TYPE_CHECKING:
    from ._pool import Line
    from ._world import Held


class Stopping(Lifecycle):
    """Part of ``RQWorld``: stop-job commands, the killed work horse, ``Job.cancel``. A stopped or canceled
    job ends as any other does (``Lifecycle._attempt``, ``_finish``), hence the base."""

    if TYPE_CHECKING:  # RQWorld's own (``_world.py``), which stopping calls back into

        def line(self, queue: str) -> Line: ...
        def record(self, kind: str, **data: Any) -> None: ...
        def _unmet(self, job: Any) -> list[str]: ...

    def _stopped(self, held: Held, x: RQExecution) -> None:
        """The horse was killed on a ``stop-job`` command: ``_handle_stopped_job`` then
        ``handle_job_failure`` (``rq/worker/worker_classes.py:139-166``, ``rq/worker/base.py:734-798``).

        In the worker, not the horse: the ``on_stopped`` callback runs under its own timeout with
        ``(job, connection)`` (``execute_stopped_callback``, ``rq/callbacks.py:62-77``), while the job's
        status is still ``started`` (checked on a real worker); if it raises, that is logged and
        swallowed. The job is ``stopped``, never retried whatever its retries
        left, and goes to the failed registry (``failure_ttl``); no failure callback runs (that
        one runs in the horse, which is dead); a stopped job does not meet its dependents'
        dependency, so they stay deferred. ``job.ended_at`` is not set on this path.
        """
        job = held.job
        x.kill(None)
        x.arm(None, Exception)
        self.sim.engine.move_clock(x.now)
        job._status = JobStatus.STARTED  # the worker's Job, as it dequeued it: the callback sees "started"
        held.stop_plan = None
        self.sim.trace.add(x.now, "rq.stop", {"function": held.run.function.id, "run": job.id, "outcome": "killed"})
        try:  # logged and swallowed, also when RQ cannot import the callback (execute_stopped_callback)
            callback = job.stopped_callback
            if callback is not None:
                self._callback(x, "stopped", callback, job.stopped_callback_timeout,
                               lambda: callback(job, job.connection))  # fmt: skip
        except BaseException as exc:
            if escapes(exc):
                raise
        job._status = JobStatus.STOPPED  # handle_job_failure, after the callback (rq/worker/base.py:753-755)
        error = HorseKilled("Job stopped by user, work-horse terminated.")
        self._attempt(held, x, error)
        self._finish(held, "stopped", x.now, error, None)

    # -- stop-job commands ------------------------------------------------------------------
    def command(self, command: str, payload: dict[str, Any]) -> None:
        """A command published to this worker's pub/sub channel (``rq/command.py:send_command``)."""
        if command != "stop-job":
            raise UnsupportedFeature(
                f"the RQ worker command {command!r} is not simulated: jobsim-rq models 'stop-job' "
                "(send_stop_job_command) only; see plugins/jobsim-rq/README.md",
                system="rq", feature=f"command {command}",
            )  # fmt: skip
        self.stop(str(payload.get("job_id")))

    def refuse_closed(self, call: str) -> None:
        """A stop or crash planned after the close could never happen: refused, not accepted and dropped."""
        if getattr(self.sim, "_state", None) == "closed":
            raise JobsimError(f"{call} needs a simulation that is not closed: it is closed, so nothing could happen "
                              "at that instant; plan it inside the simulation's `with` block")

    @keywords_checked("sim.rq.stop()")
    def stop(self, job: Any, *, at: Any = None) -> None:
        """Stop ``job`` (a ``Job``, a job id or its ``Run``) as ``send_stop_job_command`` does, at ``at``
        (default: now; inside job code, that code's instant).

        The worker handles the command (``handle_stop_job_command``, ``rq/command.py``): if it is running
        that job, it kills the work horse there (``Worker.kill_horse``); otherwise it logs "Not working on
        job" and ignores it. A job body runs to its end in one go when it starts, so a stop for an
        instant when the job will be running must be known before it starts: plan it with ``at=``
        (the test), or send it from job code before the job starts. A stop that arrives after the body
        already ran past its instant is refused (``UnsupportedFeature``) rather than ignored.
        """
        from jobsim._kernel import BACKGROUND

        self.refuse_closed("sim.rq.stop()")
        held = self._held(job)
        at_ns = planned_instant(self.sim, at, "a stop-job command")
        if self.executing is held and self.sim.engine.x is not None:
            x = self.sim.engine.x
            assert isinstance(x, RQExecution)
            x.kill(at_ns)  # the job stops itself: killed when it next spends virtual time past ``at``
            return
        begun, end = held.running_from, held.running_until
        if self.executing is not None and at is None and not (begun is not None and end is not None
                                                              and begun <= at_ns < end):  # fmt: skip
            # sent by job code, for a job no worker is running now: its worker says "Not working on job"
            self.record("rq.stop", function=held.run.function.id, run=held.job.id, outcome="ignored")
            return
        if begun is not None and end is not None and begun <= at_ns < end and held.job._status != JobStatus.STOPPED:
            raise UnsupportedFeature(
                f"stop-job for RQ job {held.job.id} ({held.job.func_name}) at {iso(at_ns)}: it has been running since "
                f"{iso(begun)} until {iso(end)} in virtual time, and jobsim ran its body to the end when it started, "
                f"so nothing can stop it part-way now. Plan the stop before it starts: sim.rq.stop(job, "
                f"at={iso(at_ns)!r}), or send it from a job that runs before it",
                system="rq", feature="stop-job",
            )  # fmt: skip
        held.stop_plan = at_ns
        self.sim.kernel.schedule(at_ns, self._stop_arrives, held, at_ns, owner=f"{held.job.func_name} (stop-job)",
                                 priority=BACKGROUND, recurring=True)  # fmt: skip

    def cancel(self, job: Any, *, pipeline: Any, enqueue_dependents: bool, remove_from_dependencies: bool) -> Any:
        """``Job.cancel`` (``rq/job.py:1213-1320``) of a simulated job: status ``canceled``, out of its queue
        and the scheduler's registry (``_remove_from_registries(remove_from_queue=True)``), so no worker or
        scheduler takes it; its run ends ``cancelled``. Deferred dependents stay deferred (a canceled
        dependency is never met, ``rq/job.py:1891``) unless ``enqueue_dependents=True`` moves those whose
        other dependencies are met to their queues (``move_dependents_to_ready``; the others stay its dependents,
        freed if it is requeued and ends). A job that is running is refused: RQ would mark it canceled while its
        work horse runs on and then reports it.
        ``remove_from_dependencies`` needs nothing more here: a canceled dependent is never released."""
        from rq.exceptions import InvalidJobOperation

        held = self.jobs[job.id]
        if pipeline is not None:
            raise UnsupportedFeature(
                f"job.cancel(pipeline=...) of RQ job {job.id}: jobsim-rq does not simulate Redis pipelines; "
                "call job.cancel() without one", system="rq", feature="cancel(pipeline=)",
            )  # fmt: skip
        if self.gone(held):  # is_canceled -> get_status(): HGET finds no key (rq/job.py:432-437, 1255)
            raise InvalidJobOperation(f"Failed to retrieve status for job: {job.id} ({self.missing(held)})")
        status = self.status(job)
        if status == JobStatus.CANCELED:
            raise InvalidJobOperation(f"Cannot cancel already canceled job: {job.id}")
        if status == JobStatus.STARTED:
            raise UnsupportedFeature(
                f"job.cancel() of RQ job {job.id} ({job.func_name}) while it runs: RQ only marks it canceled, its "
                "work horse runs on and reports it, which jobsim-rq does not model. Stop it instead: "
                "sim.rq.stop(job, at=...) or send_stop_job_command(connection, job.id), planned before it starts",
                system="rq", feature="cancel a started job",
            )  # fmt: skip
        now = self.sim.now_ns()
        if held.due_timer is not None:
            self.sim.kernel.cancel(held.due_timer)
            held.due_timer = None
        held.due = None
        self.line(held.queue.name).discard(held)  # _remove_from_registries(remove_from_queue=True)
        kind = held_kind(held, status)
        if kind is not None:
            self.store.remove(now, job.origin, kind, job.id)
        self.store.add(now, job.origin, "canceled", job.id, whole_seconds(now))  # CanceledJobRegistry.add(ttl=0)
        job._status = JobStatus.CANCELED
        run = held.run
        if run.status in ("queued", "waiting", "retrying"):  # retrying: scheduled for its Retry's next attempt
            run.status, run.end_ns = "cancelled", now
            self.sim.trace.add(now, "run.end", {"function": run.function.id, "run": run.id, "status": "cancelled",
                                                "rq": "canceled"})  # fmt: skip
        moved: dict[str, list[str]] = {}
        if enqueue_dependents:
            kept = []  # move_dependents_to_ready SREMs only the jobs it moves (rq/queue.py:1604-1609)
            for dependent in self.dependents.pop(job.id, []):
                if dependent.job._status != JobStatus.DEFERRED or self.gone(dependent):
                    continue
                if any(dep_id != job.id for dep_id in self._unmet(dependent.job)):
                    kept.append(dependent)  # still waiting for another job: freed if this one is requeued and ends
                    continue
                self.push(dependent.queue, dependent.job, at_front=dependent.job.should_enqueue_at_front())
                moved.setdefault(dependent.queue.name, []).append(dependent.job.id)
            if kept:
                self.dependents[job.id] = kept
        return moved

    def _stop_arrives(self, held: Held, at: int) -> None:
        """The command reaches the worker at ``at``: a job that was running then was killed by ``_perform``
        (``stop_plan``); any other is not the worker's current job, so the command is ignored."""
        if held.stop_plan != at:
            return
        held.stop_plan = None
        self.sim.trace.add(at, "rq.stop", {"function": held.run.function.id, "run": held.job.id,
                                           "outcome": "ignored"})  # fmt: skip

    def _held(self, job: Any) -> Held:
        job_id = job if isinstance(job, str) else getattr(job, "id", None)
        held = self.jobs.get(job_id) if isinstance(job_id, str) else None
        if held is None:
            raise InvalidArgument.build("job", job, "an RQ Job, job id or Run of a job enqueued in this simulation")
        return held
