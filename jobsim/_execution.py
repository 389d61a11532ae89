"""One request's state (``jobsim._steps``' second layer): ``Execution`` (the run, the attempt, its own clock, the
step ids met so far and the checks each new step passes) and ``StoppableExecution`` (a clock that stops, for
plugins whose worker delivers a signal); and what an async handler's request did wrong, found as it ends: steps
called without ``await`` (``awaited``, ``track``, ``unawaited``) or from another thread or task (``strayed``)."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ._stepdata import Suspend, TooManySteps
from .errors import InvalidArgument, JobsimError, StepError, StepMisuse, UnsupportedFeature

T = TypeVar("T")

if TYPE_CHECKING:
    from ._engine import Engine
    from ._parallel import Plan
    from ._records import Run, StepRecord


class Execution:
    """One request: the run, which attempt this is, and its own clock.

    The execution is also ``ctx.step`` (``Step``/``AsyncStep`` subclass it), which
    saves an object per request on the hot path.
    """

    __slots__ = ("attempt", "end_op", "ended", "engine", "in_step", "made", "now", "plan", "run_", "seen", "start",
                 "strayed", "thread")
    end_op: tuple[Any, ...]  # set only with ``ended``: the outcome of the step that ended the request (``end``)
    made: list[tuple[Any, Coroutine[Any, Any, Any], str]]  # set only by an async handler's step calls (``awaited``)

    def __init__(self, engine: Engine, run: Run, attempt: int, start: int) -> None:
        self.engine = engine
        self.run_ = run
        self.attempt = attempt
        self.start = start
        self.now = start
        self.seen: dict[str, int] = {}
        self.in_step: str | bool = False  # the step whose code is running (a crash names it)
        self.plan: Plan | None = None  # set only around parallel steps (``_parallel.py``)
        self.thread = threading.get_ident()  # the thread running the handler: only it may start steps
        self.strayed: StepMisuse | UnsupportedFeature | None = None  # a step lost outside the request (``stray``,
        # ``together``), or a refusal job code may have caught (``refused``)
        self.ended: str | None = None  # what ended an async handler's request (``end``), while tasks still run

    def key(self, step_id: Any) -> str:
        """The step id, with ``:n`` appended on its n-th reuse in this request (``indexed``)."""
        if (type(step_id) is not str or not step_id) and (not isinstance(step_id, str) or not step_id):
            raise InvalidArgument.build("step_id", step_id, "a step id is a non-empty string, e.g. 'send-email'")
        if self.in_step:
            if threading.get_ident() != self.thread:  # e.g. a thread pool inside ``step.run``'s code
                raise self.stray(step_id)
            raise StepMisuse(
                f"step {step_id!r} was called inside another step ({self.in_step!r} was running); steps cannot be "
                "nested, nor awaited together (asyncio.gather, create_task): use ctx.step.parallel([...])"
            )
        seen = self.seen
        count = seen.get(step_id, 0)
        seen[step_id] = count + 1
        return step_id if count == 0 else self.indexed(step_id, count)

    def indexed(self, step_id: str, count: int) -> str:
        """The key of the ``count``-th reuse of ``step_id`` in this request: ``id:count``, or the next ``id:n``
        no step of the request has taken (an explicit ``"a:1"`` before the second ``"a"``), as Inngest's JS SDK
        probes (``resolveStepIdCollision``: "probing i upward ... until an unused hash is found"). Each such key
        is counted in ``seen`` too, so an explicit ``"a:1"`` after the second ``"a"`` is ``a:1:1``, not the
        second ``"a"``'s stored result (inngest-py's counter alone gives both one key, and the later step is
        skipped as done). A function whose ``options["step_ids"]`` is ``"counter"`` (jobsim-inngest's, as
        inngest-py's ``_parse_step_id`` does) gets ``id:count`` alone."""
        key = f"{step_id}:{count}"
        if self.run_.function.options.get("step_ids") == "counter":
            return key
        seen = self.seen
        while key in seen:
            count += 1
            key = f"{step_id}:{count}"
        seen[key] = 1
        return key

    def memo(self, key: str, kind: str) -> StepRecord | None:
        """The stored record of ``key`` if it is finished, else ``None`` (run it now)."""
        record = self.run_.steps.get(key)
        if record is None and len(self.run_.steps) >= self.engine.max_steps:
            raise self.too_many(key)
        if record is None or (record.status != "completed" and record.status != "failed"):
            if self.engine.x is not self:  # a ctx kept past its request (a closure, a thread, the test)
                raise JobsimError(
                    f"step {key!r} was called on the ctx.step of a request that has ended (run {self.run_.id}); "
                    "steps run only while their handler runs: call them from the handler, not from saved ctx"
                )
            if threading.get_ident() != self.thread:
                raise self.stray(key)
            if self.plan is not None:  # planning a parallel group, or a request targeting one step
                self.plan.new_step(self, key, kind)
            elif self.ended is not None:  # a task of an async handler, after another step ended the request
                raise self.together(key)
            return None
        if record.kind != kind:
            raise JobsimError(
                f"step {key!r} of run {self.run_.id} was a {record.kind} step in an earlier request and is a "
                f"{kind} step now; a handler must call the same steps in the same order on every request"
            )
        if record.status == "failed":
            raise StepError(key, record.error)  # type: ignore[arg-type]
        return record

    def too_many(self, key: str) -> TooManySteps:
        limit, run = self.engine.max_steps, self.run_
        return TooManySteps(
            f"step {key!r} of function {run.function.id!r} (run {run.id}) would be its step number {limit + 1:,}: "
            f"{self.engine.profile.label} allows {limit:,} steps per run (\"The function run exceeded the step "
            f"limit of {limit} steps.\"), and fails the run; run a loop over many items inside one step, or send "
            "one event per item to a function of its own (fan-out)"
        )

    def stray(self, key: str) -> StepMisuse:
        """The error for a new step called from a thread the handler started; remembered for ``strayed``.

        Its ``Suspend`` would end the request in that thread, where nothing catches it:
        Python prints it (if the thread's exception is ever looked at) and the attempt goes on
        as if the step had not been called. Inngest's SDKs run one handler on one thread
        (a step is a yield point of the request), so the only sound answer is to refuse.
        """
        error = StepMisuse(
            f"step {key!r} of function {self.run_.function.id!r} was called from thread "
            f"{threading.current_thread().name!r}, not the thread running the handler, so its request would end "
            "in that thread and the step be lost: call steps from the handler's own thread; for concurrency use "
            "ctx.step.parallel([...])"
        )
        if self.strayed is None:
            self.strayed = error
        return error

    def refused(self, error: UnsupportedFeature) -> UnsupportedFeature:
        """``error``, a refusal jobsim raises in job code (a thread wait nothing can end, ``_threadwaits``);
        remembered for ``strayed``, so the driving call raises it though job code caught it (``except
        Exception``: the wait returned nothing and the code went on) or raised another error from it."""
        if not isinstance(self.strayed, UnsupportedFeature):
            self.strayed = error
        return error

    def end(self, suspend: Suspend) -> Suspend:
        """``suspend`` ends this request (an async handler's step); remembered for ``together``. Not while
        a parallel group plans or targets its steps: those suspensions stay inside the group."""
        if self.plan is None and self.ended is None:
            op = self.end_op = suspend.op
            self.ended = f"step {op[1]!r}" if len(op) > 1 and isinstance(op[1], str) else "ctx.step.parallel([...])"
        return suspend

    def together(self, key: str) -> StepMisuse:
        """The error for a new step called after another ended the request (``end``): steps awaited together.

        ``asyncio.gather`` (or ``create_task``) starts every step's coroutine; the first new one
        ends the request, but the loop still runs the others' code before the handler returns,
        and their results are thrown away: the next request would run that code again. Inngest's
        SDKs report the steps of one request together only through a parallel group, so refuse.
        Remembered for ``strayed``: ``gather`` keeps only the first error it sees.
        """
        error = StepMisuse(
            f"step {key!r} of function {self.run_.function.id!r} was called after {self.ended} ended the request: "
            "steps awaited together (asyncio.gather, create_task) would all run in it, and every one but the first "
            "lose its result and run again on the next request: use ctx.step.parallel([...]) to run steps side by "
            "side, or await them one after another"
        )
        if self.strayed is None:
            self.strayed = error
        return error

    def enter(self, step_id: Any, kind: str) -> tuple[str, StepRecord | None]:
        """A step call begins: its ``key`` and its ``memo`` record (``None``: run it now)."""
        if type(step_id) is str and step_id and not self.in_step:  # ``key``'s common case, inline: every step call
            seen = self.seen
            count = seen.get(step_id, 0)
            seen[step_id] = count + 1
            key = step_id if count == 0 else self.indexed(step_id, count)
        else:
            key = self.key(step_id)
        return key, self.memo(key, kind)

    def enter_run(self, step_id: Any, fn: Any) -> tuple[str, StepRecord | None]:
        """``enter`` for ``step.run``; when the step must run now, checks ``fn``, applies
        any fault ``sim.fail`` queued for it, and marks the execution as inside a step."""
        key, record = self.enter(step_id, "run")
        if record is None:
            if not callable(fn):
                raise InvalidArgument.build("fn", fn, f"step {key!r} needs a callable to run" + called_hint(fn))
            if self.engine.faults:
                self.fault(key)
            self.in_step = key
        return key, record

    def fault(self, key: str | None) -> None:
        """Raise the failure ``sim.fail`` queued for this step (or the function body), if any."""
        error = self.engine.take_fault(self.run_.function.id, key)
        if error is not None:
            if key is None:
                raise error
            raise Suspend(("failed", key, error))


_NOW: Any = Execution.__dict__["now"]  # the slot that holds an execution's clock


class StoppableExecution(Execution):
    """An execution whose clock stops at ``stop_at``: for plugins whose worker delivers a signal.

    Job code spends virtual time only by moving ``now`` forward (``Simulation.consume``:
    ``time.sleep``, a slow HTTP answer). Code spending time across ``stop_at`` (from ``a``
    to ``b`` with ``a <= stop_at < b``) stops there: the clock reads ``stop_at`` and what
    ``stopped(stop_at)`` returns is raised from the call that spent it — a process killed
    by ``revoke(terminate=True)`` (jobsim-celery), RQ's ``signal.alarm`` death penalty
    (jobsim-rq). Only a subclass's executions pay for the property; the engine's own
    ``Execution`` keeps its plain slot.
    """

    __slots__ = ("stop_at",)

    def __init__(self, engine: Engine, run: Run, attempt: int, start: int) -> None:
        self.stop_at: int | None = None
        super().__init__(engine, run, attempt, start)

    @property
    def now(self) -> int:
        return _NOW.__get__(self, Execution)  # type: ignore[no-any-return]

    @now.setter
    def now(self, value: int) -> None:
        stop = self.stop_at
        if stop is not None and _NOW.__get__(self, Execution) <= stop < value:
            _NOW.__set__(self, stop)
            raise self.stopped(stop)
        _NOW.__set__(self, value)

    def stopped(self, at: int) -> BaseException:
        """What to raise where the clock stopped; ``stop_at`` stays armed unless this clears it
        (a killed process cannot run on; a handled alarm lets the code go on with no limit)."""
        raise NotImplementedError


def awaited(method: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., Coroutine[Any, Any, T]]:
    """An async step method whose every call this request is remembered (``unawaited``).

    ``ctx.step.run("charge", charge)`` without ``await`` makes a coroutine that never
    runs: the step is silently skipped, and Python's "never awaited" warning comes,
    if at all, when the coroutine is collected. The engine asks ``unawaited`` when the
    request ends and fails the attempt naming the step instead.
    """

    name = method.__name__
    if name in ("parallel", "race"):  # its first argument is the list of callables, not a step id
        @functools.wraps(method)
        def group(self: Execution, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, T]:
            return track(self, None, method(self, *args, **kwargs), f"step.{name}")

        return group

    @functools.wraps(method)
    def call(self: Execution, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, T]:
        step_id = args[0] if args else kwargs.get("step_id", name)
        return track(self, step_id, method(self, *args, **kwargs), f"step.{name}")

    return call


def track(x: Execution, step_id: Any, coro: Coroutine[Any, Any, T], call: str = "step.run") -> Coroutine[Any, Any, T]:
    """Remember a step call's coroutine on ``x`` for ``unawaited`` (a plugin's async ``ctx.step`` calls this too).

    ``call`` is what was called on ``ctx`` (``"step.sleep"``), which the error names; a parallel group
    (``"step.parallel"``, inngest-py's ``"group.parallel"``) has no step id: ``step_id`` is None.
    """
    try:
        x.made.append((step_id, coro, call))
    except AttributeError:  # the request's first step call
        x.made = [(step_id, coro, call)]
    return coro


def unawaited(x: Execution, function_id: str, op: tuple[Any, ...]) -> tuple[Any, ...]:
    """``op``, or the attempt's failure if an async handler called steps without awaiting them.

    Their coroutines are closed (the error reports them: no later "never awaited" warning).
    An error the handler raised itself becomes the cause. Retrying would skip the step
    again, so the attempt is not retried.
    """
    if op[0] == "unsupported":
        return op  # the refusal stops the simulation; the steps never ran anyway
    missing, calls = [], []
    for step_id, coro, call in getattr(x, "made", ()):
        if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
            coro.close()
            missing.append(f"ctx.{call}([...])" if step_id is None else f"step {str(step_id)!r}")
            if call not in calls:
                calls.append(call)
    if not missing:
        return op
    fix = " and ".join(f"`await ctx.{call}(...)`" for call in calls)
    return _fails(op, StepMisuse(
        f"{', '.join(missing)} was called without `await` in async function {function_id!r}, so its code "
        f"never ran: write {fix} (every ctx.step method of an async handler is awaited)"
    ))  # fmt: skip


def strayed(stray: StepMisuse | UnsupportedFeature, op: tuple[Any, ...]) -> tuple[Any, ...]:
    """``op``, or the attempt's failure: a thread the handler started called a new step (``Execution.stray``),
    or an async handler's task did after another step ended the request (``Execution.together``).

    The request's own outcome cannot stand: the step it lost never ran. When the handler
    collected the error (``future.result()``) and let it propagate, ``op`` already says so;
    otherwise, as for ``unawaited``, the handler's own error becomes the cause, and the
    attempt is not retried. A refusal (``Execution.refused``) is the request's outcome whatever job code
    made of it: the driving call raises it.
    """
    if op[0] == "unsupported":
        return op
    if isinstance(stray, UnsupportedFeature):  # ``Execution.refused``: raised by the driving call, whatever came
        return ("unsupported", stray)
    cause, seen = (op[1] if op[0] == "error" else None), set()
    while cause is not None and id(cause) not in seen:
        if cause is stray:
            return op  # the handler raised it (or an error it caused)
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return _fails(op, stray)


def _fails(op: tuple[Any, ...], error: StepMisuse) -> tuple[Any, ...]:
    """The attempt fails with ``error`` instead of ``op``, not retried (a ``StepMisuse``); the
    handler's own error, if it raised one, becomes the cause."""
    own = op[1] if op[0] == "error" else None
    if own is not None:
        error.__cause__ = own
    return ("error", error)



def called_hint(fn: Any) -> str:
    """For a step given the result of calling its function (``ctx.step.run("charge", charge(order))``): how to pass
    the function instead, which the step then calls (a coroutine is closed: it never runs)."""
    if not inspect.iscoroutine(fn):
        return ""
    fn.close()
    name = str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or "fn")
    return (f"; {name}(...) was called here, and its coroutine is no step: pass the function and its arguments, "
            f"ctx.step.run(step_id, {name.rpartition('.')[2]}, *args), and the step calls it")
