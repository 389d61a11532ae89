"""The runs of APScheduler jobs: ``run_job`` on simulated pool threads, and what each run time became.

``JobRuns`` is the part of ``APSWorld`` that records runs. A ``ThreadPoolExecutor``, and the default
executor of an ``AsyncIOScheduler``'s loop, are simulated pools (``max_workers`` threads, work waiting
for one started first come first served, as ``concurrent.futures`` does): a job's body runs in one go
when a thread takes it and spends virtual time with ``time.sleep``, so the instance -- and the thread --
is busy until its virtual end, when its events are dispatched. A coroutine job's run is recorded by the
same ``outcome``/``end_run`` from ``_asyncio.AsyncSide.run_coroutine_job``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import jobsim
from jobsim._events import Event
from jobsim._kernel import NORMAL
from jobsim._records import Attempt, Run
from jobsim._steps import Execution
from jobsim._time import MS, SECOND, iso, to_datetime
from jobsim.hooks import end_run, output_bytes
from jobsim.hooks import escapes as hooks_escapes

if TYPE_CHECKING:
    from jobsim import Simulation


class JobRuns:
    """Runs of the jobs of a simulation's schedulers (``APSWorld`` is one)."""

    sim: Simulation
    functions: dict[str, jobsim.Function]

    # -- the executor's threads ----------------------------------------------------------------
    def submit(self, pool: Any, job: Any, run_times: Sequence[Any], logger: str,
               done: Callable[[list[Any]], None]) -> None:  # fmt: skip
        """``pool.submit(run_job, job, ..., run_times, logger)`` on ``pool`` (a ``SimulatedPoolExecutor``, or the
        loop's simulated default executor); ``done(events)`` when it has ended: the future's done callback."""
        work = _Work(pool, job, list(run_times), logger, done)
        self.take_thread(pool, lambda: self._thread_runs(work), f"{job.id} (apscheduler job)")

    def take_thread(self, pool: Any, start: Callable[[], None], owner: str) -> None:
        """A free thread of ``pool`` starts the work now, else it waits for one, first come first served
        (``concurrent.futures``' work queue)."""
        if pool.busy < pool.max_workers:
            pool.busy += 1
            self.sim.kernel.schedule(self.sim.now_ns(), start, owner=owner)
        else:
            pool.waiting.append(start)

    def release_thread(self, pool: Any) -> None:
        """A thread of ``pool`` is done with its work (its done callback has run): it takes the next, at once."""
        pool.busy -= 1
        if pool.waiting:
            pool.busy += 1
            pool.waiting.popleft()()

    def _thread_runs(self, work: _Work) -> None:
        """``run_job`` (``executors/base.py:106-158``) for ``run_times[i]``; the next one when this one ends.

        ``run_job`` loops over the run times in one thread; here each is its own call of it, at the
        instant the previous one ended, so every run starts at a kernel instant."""
        from apscheduler.executors.base import run_job

        sim, engine, job = self.sim, self.sim.engine, work.job
        now = sim.kernel.now
        sim.wallclock.move(now)
        run_time = work.run_times[work.i]
        fn = self.functions[job.id]
        run = self._new_run(fn, job, run_time, now)
        x = Execution(engine, run, 0, now)
        faulted = self.faulted(job, fn)
        engine.x = x
        try:
            out = run_job(faulted or job, job._jobstore_alias, [run_time], work.logger)
        finally:
            engine.x = None
        end = x.now
        engine.move_clock(end)
        status, error = self.outcome(run, job, run_time, out[0], now, end, faulted)
        work.events.extend(out)
        run.status = "running"
        sim.kernel.schedule(end, self._run_ended, work, run, status, error, owner=f"{job.id} (apscheduler job)",
                            priority=NORMAL)  # fmt: skip

    def _run_ended(self, work: _Work, run: Run, status: str, error: BaseException | None) -> None:
        now = self.sim.kernel.now
        self.sim.wallclock.move(now)
        self.end_run(run, status, error, now)
        work.i += 1
        if work.i < len(work.run_times):
            self._thread_runs(work)
            return
        work.done(work.events)  # the future's done callback: instances -= 1, then the listeners
        self.release_thread(work.pool)

    def faulted(self, job: Any, fn: jobsim.Function) -> _Faulted | None:
        """``sim.fail(job_id)`` queued: the run raises it, if it runs (not missed); else None -- the job runs as it
        is, so an error's traceback (``event.traceback``, the log) has no jobsim frame."""
        engine = self.sim.engine
        return _Faulted(job, engine, fn.id) if engine.faults.get((fn.id, None)) else None

    def outcome(self, run: Run, job: Any, run_time: dt.datetime, event: Any, start: int, end: int,
                faulted: _Faulted | None) -> tuple[str, BaseException | None]:  # fmt: skip
        """Record what ``run_job`` or ``run_coroutine_job`` made of one run time (its one event): the attempt
        from ``start`` to ``end``, or the miss; the run's final status and error. A jobsim error raised in
        job code (a budget, a refused call) is raised on: it stops the test, it is not the job's error."""
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED

        sim, fn = self.sim, run.function
        fault = faulted.fault if faulted is not None else None
        error = getattr(event, "exception", None)
        if event.code == EVENT_JOB_ERROR and error is not fault and error is not None and escapes(error):
            raise error
        if event.code == EVENT_JOB_EXECUTED or event.code == EVENT_JOB_ERROR:
            run.attempts.append(Attempt(0, None, start, end, error))
            data: dict[str, Any] = {"function": fn.id, "run": run.id, "step": None, "attempt": 0}
            if error is not None:
                data["error"] = f"{type(error).__name__}: {error}"
            sim.trace.add(start, "attempt", data)
            if error is None and event.retval is not None:
                run._payload = output_bytes(event.retval)
            return ("completed" if error is None else "failed"), error
        # EVENT_JOB_MISSED: run_job skipped it
        late = to_datetime(start) - run_time
        reason = (f"missed: started {late.total_seconds():g} s after its run time "
                  f"{iso(epoch_ns(run_time))}, past misfire_grace_time={job.misfire_grace_time} s")  # fmt: skip
        data_ = run.event.data
        assert isinstance(data_, dict)
        data_["skipped"], data_["reason"] = "missed", reason
        sim.trace.add(start, "apscheduler.missed", {"function": fn.id, "run": run.id, "run_time": epoch_ns(run_time),
                                                    "late": round(late.total_seconds(), 6),
                                                    "grace": job.misfire_grace_time})  # fmt: skip
        return "skipped", None

    def end_run(self, run: Run, status: str, error: BaseException | None, at: int) -> None:
        end_run(self.sim, run, status, at, error)

    def skipped(self, job: Any, run_times: list[Any]) -> None:
        """``EVENT_JOB_MAX_INSTANCES`` (``base.py:1198-1211``): each run time skipped, as a ``skipped`` run."""
        fn = self.functions.get(job.id)
        if fn is None:
            return
        now, max_instances = self.sim.now_ns(), job.max_instances
        for run_time in run_times:
            run = self._new_run(fn, job, run_time, now)
            reason = f"skipped: maximum number of running instances reached ({max_instances})"
            data_ = run.event.data
            assert isinstance(data_, dict)
            data_["skipped"], data_["reason"] = "max_instances", reason
            run.status, run.end_ns = "skipped", now
            self.sim.trace.add(
                now,
                "apscheduler.max_instances",
                {"function": fn.id, "run": run.id, "run_time": epoch_ns(run_time), "max": max_instances},
            )
            self.sim.trace.add(now, "run.end", {"function": fn.id, "run": run.id, "status": "skipped"})

    def _new_run(self, fn: jobsim.Function, job: Any, run_time: dt.datetime, now: int) -> Run:
        runs = self.sim.engine.runs[fn.id]
        run_id = f"{fn.id}#{len(runs) + 1}"
        data = {"job_id": fn.id, "run_time": run_time.isoformat(), "trigger": str(job.trigger) if job else None}
        run = Run(fn, run_id, [Event("apscheduler/job", data, id=run_id, ts=now // MS)], now)
        run.status = "running"
        runs.append(run)
        # the run time as APScheduler gave it, in the trigger's zone (as event.data["run_time"]): a Sydney job on a
        # New York timeline reads "run time 2025-04-06T02:30:00+10:00", the wall time its trigger matched
        self.sim.trace.add(now, "run.start", {"function": fn.id, "run": run_id, "n": len(runs),
                                              "event": f"run time {data['run_time']}"})  # fmt: skip
        return run


class _Work:
    """``run_job`` for a job's run times on a thread of ``pool``; ``done(events)`` at its end."""

    __slots__ = ("done", "events", "i", "job", "logger", "pool", "run_times")

    def __init__(self, pool: Any, job: Any, run_times: list[Any], logger: str,
                 done: Callable[[list[Any]], None]) -> None:  # fmt: skip
        self.pool = pool
        self.job = job
        self.run_times = run_times
        self.logger = logger
        self.done = done
        self.events: list[Any] = []
        self.i = 0


class _Faulted:
    """The job as ``run_job`` sees it: when it calls the job's function, a ``sim.fail(job_id, error)`` queued
    for it is taken and raised in its place. Taken there, not before ``run_job``: a run that misses its
    grace time never calls the function (``executors/base.py:117-127``), and must not use up the fault."""

    def __init__(self, job: Any, engine: Any, function_id: str) -> None:
        self._job = job
        self._engine = engine
        self._function_id = function_id
        self.fault: BaseException | None = None

    def func(self, *args: Any, **kwargs: Any) -> Any:
        self.fault = self._engine.take_fault(self._function_id, None)
        if self.fault is not None:
            raise self.fault
        return self._job.func(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)


def epoch_ns(when: dt.datetime) -> int:
    """An aware datetime (microseconds) as epoch ns, exactly."""
    delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * SECOND + delta.microseconds * 1000


def escapes(exc: BaseException | None) -> bool:
    """jobsim's own errors (a budget, a refused call) and KeyboardInterrupt-likes leave the simulation
    (``jobsim.hooks.escapes``); anything else raised by job code is APScheduler's EVENT_JOB_ERROR -- a cancelled
    coroutine job's ``CancelledError`` too (``run_coroutine_job`` catches ``BaseException``,
    ``executors/base.py:182-197``), and ``jobsim.UnmatchedRequest``, the network failure a job meets (an
    ``httpx.ConnectError``) that the pytest fixture lists at teardown: it stopped ``sim.advance`` at the first run."""
    return hooks_escapes(exc) and not isinstance(exc, asyncio.CancelledError)
