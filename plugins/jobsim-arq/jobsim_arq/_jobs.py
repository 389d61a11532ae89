"""The runs of arq jobs (``ArqWorld``'s lower layer): one run per job, one attempt per call of its function.

``ArqRedis.enqueue_job`` tells ``enqueued``: a job accepted starts a run of the function it names, with the
job id as run id (its cause: the job whose code enqueued it, or the cron loop). Each function's coroutine
is wrapped (``_attempts``): one call is one attempt, ending with what it returned or raised -- a
``wait_for`` timeout as ``TimeoutError``, an abort as ``CancelledError``. ``Worker.finish_job`` and
``finish_failed_job`` end the run (``_finished``, ``_failed``), or -- not finished -- record a ``retry`` at
the instant its score is due again, under the per-run attempt budget (``jobsim_arq.MAX_ATTEMPTS_PER_RUN``).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import json
from typing import TYPE_CHECKING, Any

import orjson

import jobsim
import jobsim_arq
from jobsim._events import Event
from jobsim._records import Attempt, Run
from jobsim._time import MS, SECOND
from jobsim.hooks import attempt_budget, end_run, escapes, note_test_enqueue, output_bytes

from ._loop import CURRENT

if TYPE_CHECKING:
    from jobsim import Simulation

    from ._redis import Store
    from ._world import Driven

MAIN: contextvars.ContextVar[Driven | None] = contextvars.ContextVar("jobsim_arq_main", default=None)
"""The worker whose ``main()`` task (or a task it made) is running."""


@dataclasses.dataclass(eq=False)
class Held:
    """One job of the simulation: its run, and the attempt in flight."""

    run: Run
    queue: str
    started: int | None = None
    error: BaseException | None = None
    value: Any = None


class _Jobs:
    """The runs of the jobs; ``_world.ArqWorld`` (which builds the state in ``__init__``, adapts the targets and
    runs the workers) is the layer above."""

    if TYPE_CHECKING:  # set by ArqWorld.__init__, and ArqWorld's members these use (for mypy only)
        sim: Simulation
        store: Store
        jobs: dict[str, Held]
        closing: bool
        escaped: BaseException | None
        unread: set[str]
        unknown: set[tuple[str, str]]

        @property
        def workers(self) -> list[Any]: ...
        def now_ns(self) -> int: ...
        def record(self, kind: str, **data: Any) -> None: ...
        def _function(self, name: str, own: bool = True) -> jobsim.Function: ...

    # -- each attempt ----------------------------------------------------------------------------
    def _attempts(self, d: Driven, name: str, coroutine: Any) -> Any:
        world = self

        async def job_in_simulation(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            held = CURRENT.get()
            if held is None or world.closing:
                return await coroutine(ctx, *args, **kwargs)
            held.started = world.now_ns()
            held.run.status = "running"
            fault = None
            try:
                fault = world.sim.engine.take_fault(held.run.function.id, None)
                if fault is not None:
                    raise fault
                value = await coroutine(ctx, *args, **kwargs)
            except BaseException as exc:
                # sim.fail's InjectedFault is a JobsimError that stands for the job's own error: a failure
                if exc is not fault and escapes(exc) and not isinstance(exc, asyncio.CancelledError | GeneratorExit):
                    world.escaped = exc  # jobsim's own errors stop the test (jobsim.hooks.escapes)
                    asyncio.get_running_loop().stop()
                    raise
                if world.closing:
                    raise
                error: BaseException = exc
                if isinstance(exc, asyncio.CancelledError) and world._timed_out(d, name, held):
                    error = asyncio.TimeoutError()  # wait_for's timeout cancelled it (worker.py:599)
                held.error = error
                world._end_attempt(held, error)
                raise
            held.value = value
            world._end_attempt(held, None)
            return value

        job_in_simulation.__name__ = job_in_simulation.__qualname__ = getattr(coroutine, "__qualname__", name)
        return job_in_simulation

    def _timed_out(self, d: Driven, name: str, held: Held) -> bool:
        """A ``CancelledError`` out of a job is ``wait_for``'s timeout (``worker.py:574, 599``) when the job has run
        for its timeout; else an abort, or the job's own (arq runs that job again, ``worker.py:625-627``)."""
        function = d.worker.functions.get(name)
        timeout = d.worker.job_timeout_s if function is None or function.timeout_s is None else function.timeout_s
        if timeout is None or held.started is None or held.run.id in d.worker.aborting_tasks:
            return False
        return bool(self.now_ns() - held.started >= round(timeout * SECOND))

    # -- what arq tells ------------------------------------------------------------------------------
    def enqueued(self, pool: Any, job: Any, function: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        now = self.now_ns()
        if job is None:
            self.record("arq.duplicate", name=function, job_id=kwargs.get("_job_id"))
            return
        fn = self._function(function)
        job_id, queue = job.job_id, job._queue_name
        score = self.store.c_ZSCORE(queue, job_id)
        if kwargs.get("_defer_until") is not None:
            self.store.unrank(queue, job_id)  # an instant chosen on purpose: ties go by job id, as in Redis
        plain = {k: v for k, v in kwargs.items() if not k.startswith("_")}
        data = _jsonable({"function": function, "args": list(args), "kwargs": plain, "queue": queue})
        run = Run(fn, job_id, [Event("arq/job", data, id=job_id, ts=now // MS)], now)
        cause = CURRENT.get()
        if cause is not None:
            self.sim.engine.descend(run, cause=cause.run)
        runs = self.sim.engine.runs[fn.id]
        runs.append(run)
        self.jobs[job_id] = Held(run, queue)
        main = MAIN.get()
        if cause is not None:
            origin = f"{cause.run.function.id}#{self.sim.runs(cause.run.function).index(cause.run) + 1}"
        elif main is not None and main.worker is not None and any(cj.name == function for cj in main.worker.cron_jobs):
            origin = "cron"
        else:
            origin = "enqueue_job"
        self.record("run.start", function=fn.id, run=job_id, n=len(runs), event=origin)
        due = None if score is None else round(score) * MS
        self.record("arq.enqueued", function=fn.id, run=job_id, queue=queue, due=due, deferred=bool(due and due > now))
        if due is None or due <= now:  # the test's enqueue_job only queues, as sim.send's (PendingWorkWarning)
            note_test_enqueue(self.sim, run)
        read = sorted({w.queue_name for w in self.workers})
        if queue not in read and queue not in self.unread:  # stays queued, as in Redis; a typo should not pass unseen
            self.unread.add(queue)
            self.record("arq.unread", function=fn.id, run=job_id, queue=queue, read=read)
        known = sorted({name for w in self.workers if w.queue_name == queue for name in w.functions})
        if queue in read and function not in known and (queue, function) not in self.unknown:  # failed by its poll
            self.unknown.add((queue, function))
            self.record("arq.unknown", function=fn.id, run=job_id, queue=queue, name=function, known=known)

    def _end_attempt(self, held: Held, error: BaseException | None) -> None:
        start = held.started if held.started is not None else self.now_ns()
        held.started = None
        run = held.run
        number = len(run.attempts)
        run.attempts.append(Attempt(number, None, start, self.now_ns(), error))
        data: dict[str, Any] = {"function": run.function.id, "run": run.id, "step": None, "attempt": number}
        if error is not None:
            data["error"] = f"{type(error).__name__}: {error}"
        self.sim.trace.add(start, "attempt", data)

    def _finished(self, d: Driven, job_id: str, finish: bool) -> None:
        held = self.jobs.get(job_id)
        if held is None or self.closing or held.run.done:
            return
        run, now = held.run, self.now_ns()
        if finish:
            if held.error is None:
                run._payload = output_bytes(held.value)
                end_run(self.sim, run, "completed", now)
            else:
                end_run(self.sim, run, "failed", now, held.error)
            return
        score = self.store.c_ZSCORE(held.queue, job_id)
        at = max(now, round(score) * MS) if score is not None else now
        error = held.error
        said = "" if error is None else f"{type(error).__name__}: {error}"
        if len(run.attempts) < _max_tries(d.worker, run.function.id):  # arq re-queues the last try too, then fails it
            attempt_budget(run, now, "jobsim_arq.MAX_ATTEMPTS_PER_RUN", jobsim_arq.MAX_ATTEMPTS_PER_RUN,
                           noun="job", forever="a huge max_tries", bound="fewer max_tries")
        run.status = "retrying"
        data = {"function": run.function.id, "run": run.id, "step": None, "attempt": len(run.attempts),
                "at": at, "delay": at - now, "error": said}  # the attempt it plans, as the core's records  # fmt: skip
        self.sim.trace.add(now, "retry", data)

    def _failed(self, d: Driven, job_id: str, result_data: bytes | None) -> None:
        """``finish_failed_job``: the job ended without (another) attempt -- expired, ``max_tries`` used up, aborted
        before it started, its function unknown (``worker.py:514-569``); the error is the one arq stored."""
        from arq.jobs import deserialize_result
        from arq.worker import JobExecutionFailed

        held = self.jobs.get(job_id)
        if held is None or self.closing or held.run.done:
            return
        error: BaseException = JobExecutionFailed("the job failed")
        if result_data is not None:
            result = deserialize_result(result_data, deserializer=d.worker.job_deserializer).result
            if isinstance(result, BaseException):
                error = result
        end_run(self.sim, held.run, "failed", self.now_ns(), error)


def _jsonable(value: Any) -> Any:
    raw = output_bytes(value)  # a ``Wide`` (an int past 64 bits): the standard library reads that int exact
    return orjson.loads(raw) if type(raw) is bytes else json.loads(raw)


def _max_tries(worker: Any, name: str) -> int:
    """The tries arq allows a job of function ``name`` (``run_job``: its function's ``max_tries``, else the
    worker's)."""
    function = getattr(worker, "functions", {}).get(name)
    tries = getattr(function, "max_tries", None)
    return tries if tries is not None else getattr(worker, "max_tries", 5)
