"""Each BullMQ job's jobsim run, as the simulated Redis tells of it (``_store`` calls ``world.on_*``): a run per
job (run id = job id), an attempt each time a worker takes it, a ``retry`` record when bullmq retries it, the
run's end; the ``bullmq.*`` trace records of what else happens to the job. ``RunRecords`` is a base class of
``_world.BullMQWorld``."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import dis
import inspect
import json
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

import jobsim_bullmq
from jobsim._events import Event
from jobsim._records import Attempt, Run
from jobsim._time import MS
from jobsim.errors import BudgetExceeded, _init_or_name_keyword
from jobsim.hooks import attempt_budget, note_test_enqueue

from ._loop import CURRENT

if TYPE_CHECKING:
    import jobsim
    from jobsim import Simulation

    from ._store import JobHash, QueueState


class JobFailed(Exception):
    """A failure bullmq recorded without an exception jobsim saw (its ``failedReason``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _init_or_name_keyword(self, super().__init__, args, kwargs)  # a keyword is named, not a bare TypeError


@dataclasses.dataclass(eq=False)
class Held:
    """One job of the simulation: its queue, id and run, and its attempt in flight."""

    queue: QueueState
    job_id: str
    run: Run
    started: int | None = None  # the attempt in flight began (ns)
    attempts: int = 0
    scheduler: str | None = None


class RunRecords:
    """What the store tells the world (``on_*``), made runs, attempts and trace records."""

    if TYPE_CHECKING:  # BullMQWorld's, for the type checker
        sim: Simulation
        jobs: dict[tuple[str, str], Held]
        errors: dict[tuple[str, str], BaseException]
        listened: set[str]
        unread: set[str]
        all_workers: list[Any]
        orphans: set[tuple[str, str]]
        escaped: BaseException | None

        def now_ns(self) -> int: ...
        def poke(self) -> None: ...
        def _function(self, queue: str, worker: Any = None) -> jobsim.Function: ...

    def on_added(self, q: QueueState, rec: JobHash, job: Any, *, requeued: bool = False) -> None:
        fn = self._function(q.name)
        now = self.now_ns()
        data = {"queue": q.name, "name": rec.fields["name"], "id": rec.id, "data": _loads(rec.fields["data"]),
                "opts": rec.opts}  # fmt: skip
        run = Run(fn, rec.id, [Event("bullmq/job", data, id=f"{q.qualified}:{rec.id}", ts=now // MS)], now)
        cause = None if requeued else CURRENT.get()  # a kept duplicate is the add's, not the finishing job's
        if cause is not None:
            self.sim.engine.descend(run, cause=cause.run)
        runs = self.sim.engine.runs[fn.id]
        runs.append(run)
        self.jobs[(q.qualified, rec.id)] = Held(q, rec.id, run, scheduler=rec.fields.get("rjk"))
        origin = "add" if cause is None else f"{cause.run.function.id}#{runs_index(self.sim, cause.run)}"
        if rec.fields.get("rjk"):
            origin = f"job scheduler {rec.fields['rjk']!r}"
        if requeued:
            origin = f"deduplication {rec.fields.get('deid')!r} (the add kept while its job was active)"
        self.record("run.start", function=fn.id, run=rec.id, n=len(runs), event=origin)

    def on_duplicated(self, q: QueueState, job_id: str) -> None:
        self.record("bullmq.duplicated", function=q.name, run=job_id, queue=q.name)

    def on_deduplicated(self, q: QueueState, dedup_id: str, holder: str, other: str) -> None:
        """A ``deduplicated`` event: ``other`` (an add, or the delayed job ``replace`` removed) gave way to
        ``holder``."""
        self.record("bullmq.deduplicated", function=q.name, run=holder, queue=q.name, dedup=dedup_id, other=other)

    def on_replaced(self, q: QueueState, rec: JobHash) -> None:
        """A delayed job removed by a ``replace`` deduplication: its run ends, never having started."""
        held = self.jobs.get((q.qualified, rec.id))
        if held is not None:
            self._cancel(held)

    def _cancel(self, held: Held) -> None:
        """A job removed before it finished: its run ends, cancelled."""
        if held.started is not None:
            self._end_attempt(held, JobFailed("the job was removed"))
        held.run.status = "cancelled"
        held.run.end_ns = self.now_ns()
        self.sim.trace.add(self.now_ns(), "run.end", {"function": held.run.function.id, "run": held.run.id,
                                                      "status": "cancelled"})  # fmt: skip

    def on_queued(self, q: QueueState, rec: JobHash, state: str, due: int | None) -> None:
        held = self.jobs[(q.qualified, rec.id)]
        held.run.status = state if state in ("delayed", "waiting-children") else "queued"
        data: dict[str, Any] = {"function": held.run.function.id, "run": rec.id, "queue": q.name, "state": state,
                                "priority": rec.int("priority"), "listened": q.qualified in self.listened}  # fmt: skip
        if due is not None:
            data["due"] = due * MS
        self.record("bullmq.queued", **data)
        if state == "waiting":  # the test's add only queues, as sim.send's (PendingWorkWarning); job code's is not
            note_test_enqueue(self.sim, held.run)
        if not data["listened"] and q.qualified not in self.unread:
            read = sorted({w.qualifiedName for w in self.all_workers})
            if q.qualified not in read:  # no worker ever (one crashed is still a worker): say so once, typo or not
                self.unread.add(q.qualified)
                self.record("bullmq.unread", function=held.run.function.id, run=rec.id, queue=q.qualified, read=read)
        self.poke()  # work for the workers: the loop's next wake keeps run_until_idle busy

    def on_promoted(self, q: QueueState, rec: JobHash) -> None:
        held = self.jobs[(q.qualified, rec.id)]
        if held.run.status == "delayed":
            held.run.status = "queued"

    def on_active(self, q: QueueState, rec: JobHash, token: str) -> None:
        held = self.jobs[(q.qualified, rec.id)]
        held.started = self.now_ns()
        held.run.status = "running"

    def end_attempt(self, held: Held, error: BaseException | None) -> None:
        self._end_attempt(held, error)

    def _end_attempt(self, held: Held, error: BaseException | None) -> None:
        start = held.started if held.started is not None else self.now_ns()
        held.started = None
        run = held.run
        number = held.attempts
        held.attempts += 1
        if run.attempts and run.attempts[-1].error is not None and run.attempts[-1].error is not error:
            _release_frames(run.attempts[-1].error, keep=error)
        run.attempts.append(Attempt(number, None, start, self.now_ns(), error))
        data: dict[str, Any] = {"function": run.function.id, "run": run.id, "step": None, "attempt": number}
        if error is not None:
            data["error"] = f"{type(error).__name__}: {error}"
        self.sim.trace.add(start, "attempt", data)

    def _error(self, q: QueueState, rec: JobHash) -> BaseException:
        error = self.errors.pop((q.qualified, rec.id), None)
        return error if error is not None else JobFailed(str(rec.fields.get("failedReason") or "failed"))

    def on_finished(self, q: QueueState, rec: JobHash, target: str, value: str, at: int, *, gone: bool) -> None:
        held = self.jobs[(q.qualified, rec.id)]
        run = held.run
        error = None if target == "completed" else self._error(q, rec)
        self._end_attempt(held, error)
        run.status = "completed" if target == "completed" else "failed"
        run.end_ns, run.error = self.now_ns(), error
        data: dict[str, Any] = {"function": run.function.id, "run": run.id, "status": run.status}
        if target == "completed":
            run._payload = value.encode()  # the JSON moveToFinished stored (returnvalue)
            data["output"] = run._payload  # as hooks.end_run writes it: a replay compares outputs by it
        else:
            data["error"] = f"{type(error).__name__}: {error}"
        self.sim.trace.add(self.now_ns(), "run.end", data)

    def on_delayed(self, q: QueueState, rec: JobHash, due: int, *, skip: bool) -> None:
        held = self.jobs[(q.qualified, rec.id)]
        now = self.now_ns()
        if skip:  # job.moveToDelayed + DelayedError: the attempt ends, it is not counted as one by BullMQ
            self._end_attempt(held, None)
            held.run.status = "delayed"
            self.record("bullmq.moved", function=held.run.function.id, run=rec.id, due=due * MS, state="delayed")
            return
        self._retry(held, q, rec, due * MS - now if due * MS > now else 0)

    def on_retried(self, q: QueueState, rec: JobHash, now: int) -> None:
        self._retry(self.jobs[(q.qualified, rec.id)], q, rec, 0)

    def _retry(self, held: Held, q: QueueState, rec: JobHash, delay: int) -> None:
        error = self._error(q, rec)
        attempt = held.attempts
        self._end_attempt(held, error)
        try:
            attempt_budget(held.run, self.now_ns(), "jobsim_bullmq.MAX_ATTEMPTS_PER_RUN",
                           jobsim_bullmq.MAX_ATTEMPTS_PER_RUN, noun="job", forever="a huge attempts",
                           bound="fewer attempts")
        except BudgetExceeded as exc:  # bullmq's worker would catch it: the pump re-raises it, as an escape
            self.escaped = exc
            asyncio.get_running_loop().stop()
            raise
        held.run.status = "retrying"
        now = self.now_ns()
        self.sim.trace.add(now, "retry", {"function": held.run.function.id, "run": rec.id, "step": None,
                                          "attempt": attempt, "at": now + delay, "delay": delay,
                                          "error": f"{type(error).__name__}: {error}"})  # fmt: skip

    def on_stalled(self, q: QueueState, rec: JobHash) -> None:
        self.orphans.discard((q.qualified, rec.id))
        held = self.jobs[(q.qualified, rec.id)]
        if held.started is not None:
            self._end_attempt(held, JobFailed("job stalled: its lock expired"))
        held.run.status = "queued"
        self.record("bullmq.stalled", function=held.run.function.id, run=rec.id, count=rec.int("stc"),
                    deferred=rec.fields.get("defa"))  # fmt: skip

    def on_unfinished(self, q: QueueState, rec: JobHash, target: str, code: int) -> None:
        """``moveToFinished`` refused for the lock (-2: gone, -6: another worker's, ``moveToFinished-14.lua:674-690``):
        bullmq raises it (``Missing lock``/``Lock mismatch``), the job stays active (a processor that blocked the loop
        past ``lockDuration``)."""
        held = self.jobs.get((q.qualified, rec.id))
        if held is not None:
            lapsed = rec.lock_until * MS if code == -2 and rec.lock_until else None
            self.record("bullmq.unfinished", function=held.run.function.id, run=rec.id, target=target, code=code,
                        lapsed=lapsed)  # fmt: skip

    def on_removed(self, q: QueueState, rec: JobHash, why: str = "removeOnComplete/removeOnFail") -> None:
        held = self.jobs.get((q.qualified, rec.id))
        if held is not None:
            self.record("bullmq.removed", function=held.run.function.id, run=rec.id, queue=q.name, why=why)
            if held.run.status not in ("completed", "failed", "cancelled"):
                self._cancel(held)

    def on_reprocessed(self, q: QueueState, rec: JobHash, state: str, how: str = "job.retry") -> None:
        """``job.retry()``, ``queue.retryJobs()``: the finished run is queued again; its next attempts follow the
        ones it had."""
        held = self.jobs[(q.qualified, rec.id)]
        held.run.status = "queued"
        held.run.end_ns = None
        self.record("bullmq.reprocessed", function=held.run.function.id, run=rec.id, queue=q.name, prev=state,
                    how=how)  # fmt: skip
        self.poke()

    def on_moved_to_wait(self, q: QueueState, rec: JobHash, state: str, how: str) -> None:
        """``queue.retryJobs()`` (a finished job) or ``queue.promoteJobs()`` (a delayed one) moved it to wait."""
        if state != "delayed":
            self.on_reprocessed(q, rec, state, how)
            return
        held = self.jobs[(q.qualified, rec.id)]
        self.on_promoted(q, rec)
        self.record("bullmq.reprocessed", function=held.run.function.id, run=rec.id, queue=q.name, prev=state,
                    how=how)  # fmt: skip
        self.poke()

    def on_priority(self, q: QueueState, rec: JobHash, priority: int, lifo: bool, moved: bool) -> None:
        """``job.changePriority()``: ``moved`` when the job was waiting and is re-queued with it."""
        held = self.jobs.get((q.qualified, rec.id))
        if held is not None:
            self.record("bullmq.priority", function=held.run.function.id, run=rec.id, queue=q.name,
                        priority=priority, lifo=lifo, moved=moved)  # fmt: skip
        self.poke()

    def on_obliterated(self, q: QueueState) -> None:
        """``queue.obliterate()`` finished: the queue's keys are gone (it is no longer paused)."""
        self.record("bullmq.obliterated", queue=q.name)

    def on_drained(self, q: QueueState) -> None:
        pass

    def on_waiting_children(self, q: QueueState, rec: JobHash) -> None:
        held = self.jobs[(q.qualified, rec.id)]
        self._end_attempt(held, None)
        held.run.status = "waiting-children"
        self.record("bullmq.moved", function=held.run.function.id, run=rec.id, state="waiting-children")

    def on_paused(self, q: QueueState, paused: bool) -> None:
        self.record("bullmq.paused" if paused else "bullmq.resumed", queue=q.name)

    def on_progress(self, q: QueueState, rec: JobHash, progress: Any) -> None:
        held = self.jobs.get((q.qualified, rec.id))
        if held is not None:
            self.record("bullmq.progress", function=held.run.function.id, run=rec.id, progress=progress)

    def on_log(self, q: QueueState, job_id: str, row: str) -> None:
        held = self.jobs.get((q.qualified, job_id))
        if held is not None:
            self.record("bullmq.log", function=held.run.function.id, run=job_id, row=row)

    def record(self, kind: str, **data: Any) -> None:
        self.sim.trace.add(self.now_ns(), kind, data)


def _release_frames(error: BaseException, keep: BaseException | None) -> None:
    """Clear the local variables of the finished frames in the traceback of an earlier attempt's error (and of
    its ``__cause__``/``__context__``): its text and traceback (file, line, code) stay, but its frames no longer
    hold that attempt's ``Job``, whose ``stacktrace`` list bullmq parsed with every earlier failure's trace. Kept,
    a job retried ``n`` times without ``stackTraceLimit`` held n(n-1)/2 traces (1.4 GB at 2,000 attempts). Not
    ``traceback.clear_frames``: it also clears the frame of a generator still suspended, which closes it. The
    error that ended this attempt (``keep``) and its own chain are left whole: an earlier error may chain to it
    (``raise ... from opened``, then ``opened`` again), and it is the run's error, its frames the last attempt's."""
    seen = {id(exc) for exc in _chain(keep)}
    for exc in _chain(error):
        if id(exc) not in seen:
            _clear_finished(exc.__traceback__)


def _chain(error: BaseException | None) -> list[BaseException]:
    """``error``, its ``__cause__``/``__context__`` and an exception group's members, each once."""
    found: dict[int, BaseException] = {}
    todo = [error]
    while todo:
        exc = todo.pop()
        if exc is None or id(exc) in found:
            continue
        found[id(exc)] = exc
        todo += [exc.__cause__, exc.__context__, *getattr(exc, "exceptions", ())]
    return list(found.values())


def _clear_finished(tb: TracebackType | None) -> None:
    while tb is not None:
        if not _maybe_suspended(tb.tb_frame):
            with contextlib.suppress(RuntimeError):  # a frame still executing
                tb.tb_frame.clear()
        tb = tb.tb_next


_GENERATOR_LIKE = (inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
                   | inspect.CO_ITERABLE_COROUTINE)  # fmt: skip
_YIELD_VALUE = dis.opmap["YIELD_VALUE"]
_YIELD_FROM = dis.opmap.get("YIELD_FROM")  # Python 3.10's await


def _maybe_suspended(frame: FrameType) -> bool:
    """``frame`` may belong to a generator or coroutine that is suspended, still alive (one that caught the error
    and yielded it, the user's): ``frame.clear()`` would close it on Python 3.10-3.12 (3.13 raises RuntimeError).
    Python tells no frame's owner, so: a generator's frame stopped at a yield (3.10: before its YIELD_FROM) is
    left alone. A finished one stopped there too (an error thrown in at an await: a cancellation) keeps its
    locals: memory, never a closed generator."""
    if not frame.f_code.co_flags & _GENERATOR_LIKE:
        return False
    code, lasti = frame.f_code.co_code, frame.f_lasti
    if lasti < 0:
        return True
    if code[lasti] == _YIELD_VALUE:
        return True
    return _YIELD_FROM is not None and code[lasti + 2 : lasti + 3] == bytes([_YIELD_FROM])


def runs_index(sim: Simulation, run: Run) -> int:
    return sim.runs(run.function).index(run) + 1


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:  # pragma: no cover - bullmq always writes JSON
        return text
