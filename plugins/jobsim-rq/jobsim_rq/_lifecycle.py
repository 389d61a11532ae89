"""What follows one execution of an RQ job, and how long RQ then keeps the job's key.

An execution ends in RQ 3.0.0's ``_finalize_success`` (``rq/worker/base.py:1582-1620``) or
``_finalize_failure`` (``:1622-1649``): a success may repeat (``Repeat``), a failure may be retried
(``Job.retry``), a returned ``Retry`` has rules of its own, and each path records its attempt and,
once the job is done, its end. Then ``job.cleanup``/``FailedJobRegistry.add`` decide when Redis
expires the job's key (``result_ttl``/``failure_ttl``), as ``ttl`` did while it waited: the "expiry"
section, with what a reader of a job whose key is gone sees (``gone``, ``missing``, ``return_value``).
These rules are one piece, read in order after ``_world.RQWorld._perform`` hands over an execution,
so they live here as a mixin of ``RQWorld`` (``sim.rq``), apart from how jobs are queued and taken;
the crashes (``_crash.py``) and stop-job commands (``_stop.py``) end jobs through them too.
Each rule cites where it comes from.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rq.job import JobStatus

import jobsim_rq
from jobsim._records import Attempt
from jobsim._time import SECOND, iso
from jobsim.errors import JobsimError
from jobsim.hooks import attempt_budget, escapes, output_bytes

from ._execution import NULL, RQExecution
from ._store import score_from_ttl

if TYPE_CHECKING:
    from jobsim import Simulation

    from ._store import Store
    from ._world import Held


class Lifecycle:
    """Part of ``RQWorld``: the end of an execution (success, repeat, failure, retry, the run's end) and expiry."""

    sim: Simulation
    store: Store
    jobs: dict[str, Held]
    dependents: dict[str, list[Held]]
    executing: Held | None
    show_workers: bool

    if TYPE_CHECKING:  # RQWorld's own (``_world.py``), which these rules call back into

        def now(self) -> dt.datetime: ...
        def push(self, queue: Any, job: Any, *, at_front: bool) -> Any: ...
        def status(self, job: Any) -> Any: ...
        def _release(self, parent: Held, repeating: bool = False) -> None: ...

    # -- after an execution ------------------------------------------------------------------
    def _success(self, held: Held, x: RQExecution, value: Any) -> None:
        """``_finalize_success`` (``rq/worker/base.py:1582-1605``)."""
        from rq.job import Retry

        job = held.job
        x.arm(None, Exception)
        self.sim.engine.move_clock(x.now)  # a death penalty stops the clock before the wall clock follows
        job.ended_at = self.now()
        job._result = value
        if isinstance(value, Retry):
            self._returned_retry(held, x, value)
            return
        job._status = JobStatus.FINISHED
        try:  # raised inside perform_job's try: the job fails instead (rq/worker/base.py:1663-1676)
            callback = job.success_callback  # imported here (execute_success_callback): a bad path fails the job
            if callback is not None:
                self._callback(x, "success", callback, job.success_callback_timeout,
                               lambda: callback(job, job.connection, value))  # fmt: skip
        except BaseException as exc:
            if escapes(exc):
                raise
            self._failure(held, x, exc)
            return
        self._attempt(held, x, None)
        if job.repeats_left is not None and job.repeats_left > 0:
            self._repeat(held, x.now)
            return
        self._finish(held, "finished", x.now, None, value)

    def _repeat(self, held: Held, at: int) -> None:
        """A success with repeats left (``repeat=Repeat(times, interval)``): ``handle_job_success``
        (``rq/worker/base.py:1500-1545``) saves the ``SUCCESSFUL`` result and the ``FinishedJobRegistry`` entry
        as for any success, moves the dependents that were waiting for it to their queues (this first success
        meets their dependency), then RQ's own ``Repeat.schedule`` (``rq/repeat.py:82-126``) takes the next
        interval (the first of ``repeat_intervals``, dropped if more follow: the last one repeats), decrements
        ``repeats_left`` and queues the job at the back at once (interval 0) or schedules it. The key is not
        expired (no ``job.cleanup(result_ttl)`` on that path), and a failure never repeats. The jobsim run goes
        on: one more attempt per repeat, one end after the last."""
        from rq.defaults import DEFAULT_RESULT_TTL
        from rq.repeat import Repeat

        job, run = held.job, held.run
        queue = held.queue.name
        self.store.remove(at, queue, "started", job.id)
        ttl = job.get_result_ttl(DEFAULT_RESULT_TTL)
        if ttl != 0:
            self.store.save(held, at, "SUCCESSFUL", ttl, value=job._result)
            self.store.add(at, queue, "finished", job.id, score_from_ttl(at, ttl, failed=False))
        run.status = "queued"
        left = job.repeats_left
        Repeat.schedule(job, held.queue, pipeline=NULL)  # type: ignore[arg-type]  # writes nothing
        due = self._next_due(held)
        self.sim.trace.add(at, "rq.repeat", {"function": run.function.id, "run": job.id, "due": due,
                                             "delay": max(0, due - at), "repeats_left": left - 1})  # fmt: skip
        if job.id in self.dependents:
            self.sim.kernel.schedule(at, self._release, held, True, owner=f"{job.func_name} (dependents)")

    def _failure(self, held: Held, x: RQExecution, error: BaseException) -> None:
        """``_finalize_failure`` then ``handle_job_failure`` (``rq/worker/base.py:1622-1649, 734-790``).

        The failure callback runs on every failed attempt, also one that will be retried,
        with ``(job, connection, type, value, traceback)``; if it raises, its exception is
        the one recorded. Then ``job.should_retry`` (``retries_left > 0``) decides: RQ's own
        ``Job.retry`` picks the interval (``get_retry_interval``: ``index = max(len(intervals)
        - retries_left, 0)``, so the first interval repeats, ``rq/job.py:1760-1802``) and
        reschedules or re-enqueues; otherwise the job is ``failed``.
        """
        job = held.job
        x.arm(None, Exception)
        self.sim.engine.move_clock(x.now)  # a death penalty stops the clock before the wall clock follows
        job._status = JobStatus.FAILED
        job.ended_at = self.now()
        exc_info = (type(error), error, error.__traceback__)
        try:  # a callback RQ cannot import raises in execute_failure_callback too: its error is recorded
            callback = job.failure_callback
            if callback is not None:
                self._callback(x, "failure", callback, job.failure_callback_timeout,
                               lambda: callback(job, job.connection, *exc_info))  # fmt: skip
        except BaseException as exc:
            if escapes(exc):
                raise
            error = exc
        self._attempt(held, x, error)
        if job.should_retry:
            self._retry(held, x.now)
            return
        self._finish(held, "failed", x.now, error, None)

    def _retry(self, held: Held, at: int) -> None:
        """``Job.retry``: RQ's own rule picks the interval and reschedules or re-enqueues (it calls our
        ``schedule``/``push``); a ``retry`` record says when."""
        job = held.job
        self._budget(held, at)
        held.run.status = "retrying"
        attempt = held.calls
        self.store.remove(at, held.queue.name, "started", job.id)  # cleanup_execution (rq/worker/base.py:762)
        job.retry(held.queue, NULL)
        due = self._next_due(held)
        self.sim.trace.add(at, "retry", {"function": held.run.function.id, "run": job.id, "step": None,
                                         "attempt": attempt, "at": due, "delay": max(0, due - at),
                                         "retries_left": job.retries_left})  # fmt: skip

    def _returned_retry(self, held: Held, x: RQExecution, retry: Any) -> None:
        """A job that returns ``Retry(...)`` (RQ >= 2.1): ``handle_job_retry`` (``rq/worker/base.py:1402-1450``)
        and ``Job._handle_retry_result`` (``rq/job.py:1703-1757``).

        No callback runs. Past ``retry.max`` returned retries the job is ``failed``;
        otherwise the interval is ``Retry.get_interval(number_of_retries, intervals)``:
        ``index = min(len(intervals) - 1, count)``, so the *last* interval repeats
        (``rq/job.py:1957-1981``) -- the opposite of the enqueue-time rule.
        """
        from rq.job import Retry

        job = held.job
        self._attempt(held, x, None)
        if job.number_of_retries and job.number_of_retries >= retry.max:
            job._status = JobStatus.FAILED
            error = JobsimError(f"RQ job returned Retry(max={retry.max}) after {job.number_of_retries} retries: "
                                "maximum retry attempts exceeded")  # fmt: skip
            self._finish(held, "failed", x.now, error, None, returned=retry)
            return
        self._budget(held, x.now)
        self.store.remove(x.now, held.queue.name, "started", job.id)
        self.store.save(held, x.now, "RETRIED", job.failure_ttl, value=retry)  # Job._handle_retry_result
        interval = Retry.get_interval(job.number_of_retries or 0, retry.intervals)
        job.number_of_retries = 1 if not job.number_of_retries else job.number_of_retries + 1
        job.enqueue_at_front_on_retry = job.enqueue_at_front_on_retry or retry.enqueue_at_front
        held.run.status = "retrying"
        if interval:
            job._status = JobStatus.SCHEDULED
            held.queue.schedule_job(job, self.now() + dt.timedelta(seconds=interval))
        else:
            self.push(held.queue, job, at_front=job.enqueue_at_front_on_retry)
        due = self._next_due(held)
        self.sim.trace.add(x.now, "retry", {"function": held.run.function.id, "run": job.id, "step": None,
                                            "attempt": held.calls, "at": due, "delay": max(0, due - x.now),
                                            "returned": True})  # fmt: skip

    def _budget(self, held: Held, at: int) -> None:
        attempt_budget(held.run, at, "jobsim_rq.MAX_ATTEMPTS_PER_RUN", jobsim_rq.MAX_ATTEMPTS_PER_RUN, noun="job",
                       forever="a huge Retry(max=...), or returning Retry(...)", bound="a smaller Retry(max=...)")

    def _next_due(self, held: Held) -> int:
        """When the retry will be queued: its scheduled score, or now for an immediate re-enqueue."""
        if held.job._status == JobStatus.SCHEDULED and held.due is not None:
            return held.due
        return self.sim.now_ns()

    def _attempt(self, held: Held, x: RQExecution, error: BaseException | None) -> None:
        run = held.run
        run.attempts.append(Attempt(x.attempt, None, x.start, x.now, error))
        data: dict[str, Any] = {"function": run.function.id, "run": run.id, "step": None, "attempt": x.attempt}
        if error is not None:
            data["error"] = f"{type(error).__name__}: {error}"
        if self.show_workers:
            data["worker"] = held.job.worker_name
        self.sim.trace.add(x.start, "attempt", data)

    def _finish(self, held: Held, status: str, at: int, error: BaseException | None, value: Any,
                returned: Any = None) -> None:  # fmt: skip
        run = held.run
        run.status = {"finished": "completed", "stopped": "cancelled"}.get(status, "failed")
        run.end_ns, run.error = at, error
        if value is not None:
            run._payload = output_bytes(value)
        data: dict[str, Any] = {"function": run.function.id, "run": run.id, "status": run.status, "rq": status}
        if error is not None:
            data["error"] = f"{type(error).__name__}: {error}"
        self.sim.trace.add(at, "run.end", data)
        self.store.end(held, status, at, error, returned)
        self._cleanup_after(held, status, at)
        if held.job.id in self.dependents or at > self.sim.kernel.now:
            # its dependents are looked at when its end is visible (a job deferred while it ran included)
            self.sim.kernel.schedule(at, self._release, held, owner=f"{held.job.func_name} (dependents)")

    # -- callbacks ----------------------------------------------------------------------------
    def _callback(self, x: RQExecution, kind: str, callback: Any, seconds: int, call: Callable[[], Any]) -> None:
        """A callback runs under its own death penalty (``rq/callbacks.py:32-77``); a coroutine function
        is refused with RQ's ``TypeError`` before it is called (``rq/callbacks.py:37-38, 50-51, 67-68``)."""
        from rq.timeouts import JobTimeoutException

        if inspect.iscoroutinefunction(callback):
            raise TypeError(f"Coroutine {kind} callbacks are not supported")
        x.arm(seconds, lambda: JobTimeoutException(f"Task exceeded maximum timeout value ({seconds} seconds)"))
        try:
            call()
        finally:
            x.arm(None, JobTimeoutException)

    # -- expiry: the Redis key of a job -------------------------------------------------------
    def _cleanup_ttl(self, held: Held) -> None:
        """``job.cleanup(ttl=job.ttl)``, which RQ calls each time it saves a job waiting to run: queued
        (``_persist_job``, ``rq/queue.py:1397-1409``, by ``enqueue``, the scheduler, a retry and a released
        dependent alike), scheduled (``rq/queue.py:1234``) or deferred (``rq/queue.py:706-710``). With a
        ``ttl`` the key expires ``ttl`` seconds from now (``EXPIRE``, ``rq/job.py:1598-1602``), so the clock
        restarts at each of them; without one (``cleanup(None)``), or a negative one, nothing changes; ``0``
        deletes the key at once (``rq/job.py:1594-1595``), before its id is pushed: a worker skips it.
        ``enqueue`` refuses a ttl <= 0, ``Job.create(ttl=-1)`` (RQ's old "no limit") or ``ttl=0`` does not."""
        ttl = held.job.ttl
        if ttl is not None and ttl > 0:
            self._expire_in(held, ttl, self.sim.now_ns(), "ttl")
        elif ttl == 0:
            self._persist(held)
            self._gone(held, self.sim.now_ns(), "ttl", 0)

    def _persist(self, held: Held) -> None:
        """``PERSIST job.key``: no expiry. The worker does it as it starts a job (``prepare_job_execution``,
        ``rq/worker/base.py:1390``), so a ``ttl`` only limits how long a job may wait."""
        if held.expiry is not None:
            self.sim.kernel.cancel(held.expiry)
        held.expiry = held.expires_at = None

    def _expire_in(self, held: Held, seconds: int, at: int, why: str) -> None:
        """``EXPIRE job.key seconds`` issued at ``at``: it replaces the key's earlier expiry.

        Redis keeps an expired key until the instant has passed, and a worker taking the job at
        that very instant still finds it: the timer runs last at its instant (``BACKGROUND``) and,
        like the other expiries, keeps nothing busy (``run_until_idle`` does not wait for it)."""
        from jobsim._kernel import BACKGROUND

        self._persist(held)
        held.expires_at = at + seconds * SECOND
        held.expiry = self.sim.kernel.schedule(held.expires_at, self._expired, held, held.expires_at, why, seconds,
                                               owner=f"{held.job.func_name} (expiry)", priority=BACKGROUND,
                                               recurring=True)  # fmt: skip

    def _expired(self, held: Held, at: int, why: str, seconds: int) -> None:
        if held.expires_at != at or held.gone_at is not None:
            return
        held.expiry = held.expires_at = None
        self._gone(held, at, why, seconds)

    def _gone(self, held: Held, at: int, why: str, seconds: int) -> None:
        """RQ's key for the job is gone (expired, or deleted by ``cleanup(0)``): ``Job.fetch`` raises
        ``NoSuchJobError``, ``get_status()`` raises ``InvalidJobOperation``, the worker and the scheduler
        skip it. A job that had not started is dropped without a trace in RQ: its run is ``lost``."""
        job, run = held.job, held.run
        held.gone_at = at
        held.gone_why = f"{why}={seconds}"
        started = job._status not in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
        self.sim.trace.add(at, "rq.expire", {"function": run.function.id, "run": job.id, "queue": held.queue.name,
                                             "why": why, "ttl": seconds, "status": str(job._status.value)})  # fmt: skip
        if started:
            return
        if held.due_timer is not None:
            self.sim.kernel.cancel(held.due_timer)  # nothing is left for the scheduler to enqueue
            held.due_timer = None
        if job._status == JobStatus.SCHEDULED and held.due is not None:  # the scheduler drops the missing job
            self.store.remove(max(held.due, at), held.queue.name, "scheduled", job.id)  # (rq/scheduler.py:264-266)
        run.status = "lost"
        run.end_ns = at
        self.sim.trace.add(at, "run.end", {"function": run.function.id, "run": run.id, "status": "lost",
                                           "rq": "expired"})  # fmt: skip

    def _cleanup_after(self, held: Held, status: str, at: int) -> None:
        """How long RQ keeps a job that ended (``at``): ``job.cleanup(result_ttl)`` after a success, with
        ``result_ttl = job.get_result_ttl(worker.default_result_ttl)``, 500 s unless set
        (``rq/worker/base.py:1522-1542``, ``rq/defaults.py:57``); ``FailedJobRegistry.add(job,
        ttl=job.failure_ttl)`` after a final failure, a year unless set (``rq/registry.py:477-500``,
        ``rq/defaults.py:64``). ``0`` deletes the job at once (``Job.delete``, ``rq/job.py:1594-1595``), a
        negative ttl keeps it forever (its key was persisted when it started), a positive one expires it."""
        from rq.defaults import DEFAULT_FAILURE_TTL, DEFAULT_RESULT_TTL

        job = held.job
        if status == "finished":
            why, ttl = "result_ttl", job.get_result_ttl(DEFAULT_RESULT_TTL)  # a stopped job: as a failed one
        else:
            why, ttl = "failure_ttl", DEFAULT_FAILURE_TTL if job.failure_ttl is None else job.failure_ttl
        if ttl == 0:
            self._persist(held)
            self._gone(held, at, why, 0)
        elif ttl > 0:
            self._expire_in(held, ttl, at, why)

    def gone(self, held: Held) -> bool:
        """True once RQ's key for the job is gone, as a reader at this instant sees it."""
        return held.gone_at is not None and self.sim.now_ns() >= held.gone_at and self.executing is not held

    def missing(self, held: Held) -> str:
        """Why RQ no longer has the job: for the errors a read of a gone job raises."""
        when = iso(held.gone_at) if held.gone_at is not None else "?"
        what = "deleted" if held.gone_why.endswith(("=0", ")")) else "expired"
        return (f"jobsim-rq: RQ {what} the job's key at {when} ({held.gone_why}); the Job you hold keeps its last "
                "state (get_status(refresh=False)) and sim.runs(...) still has its run")  # fmt: skip

    def return_value(self, job: Any, refresh: bool) -> Any:
        """``Job.return_value`` (``rq/job.py:883-903``): the latest ``Result`` if it is a success. RQ caches
        the ``Result`` on the Job object once read, so a Job that read its value keeps it after the result
        expires unless ``refresh=True``; one that never did (or ``result_ttl=0``: no Result) gets None."""
        held = self.jobs[job.id]
        if self.status(job) != JobStatus.FINISHED:
            return None
        if self.gone(held):
            return job._result if held.result_read and not refresh and held.gone_why != "result_ttl=0" else None
        held.result_read = True
        return job._result
