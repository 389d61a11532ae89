"""Parallel steps, as Inngest plans and runs them (``reference/semantics.md`` §1.5).

``ctx.step.parallel([lambda: ctx.step.run("a", a), lambda: ctx.step.run("b", b)])``
calls each callable in turn with the execution in *planning* mode: a memoized step
returns its output as usual, while a new step does not run — a ``step.run`` (or
``send_event``) is **planned**, a ``sleep``/``wait_for_event``/``invoke`` is reported
with its opcode. If anything new was found, the request ends with all of it at once
(inngest-py ``step_lib/group.py : GroupSync.parallel`` raises one
``ResponseInterrupt`` carrying every response; ``execution_lib/v0.py :
report_step`` turns a new ``StepRun`` into ``StepPlanned`` while ``in_parallel``).

The engine then starts every planned ``step.run`` as its own **targeted request**
at the same instant — the server's own queue item per step, so each has its own
attempt counter, backoff and concurrency slot (``executor.go : ParallelCoalesceKey``).
A targeted request replays the handler; new steps other than its target are
skipped (``SkipInterrupt``: caught inside the group, an error outside it, as
inngest-py's ``StepUnexpectedError``), and the target executes. Sleeps, waits and
invokes of the group are armed side by side.

When a step of the group ends, the run continues with a discovery request:
``mode="wait"`` (the default, ``ParallelMode.WAIT``) only once every step of the
group has ended; ``mode="race"`` (``ParallelMode.RACE``) after each one, so a
callable that chains several steps advances without waiting for the others.
Steps that are still in flight are planned again by such a request and ignored.

Race mode repeats work, as Inngest does (inngest/inngest @253303cd, inngest-js @abc4a63f).
Each finished step enqueues a discovery of its own: ``executor.go :
maybeEnqueueDiscoveryStep`` skips the parallel coalesce key for
``ParallelModeRace`` (job ID ``<run idempotency key>-<finished step ID>``) and
``shouldEnqueueDiscovery`` is true in race mode even with steps pending. Before
enqueueing it, ``maybeResetForceStepPlan`` (``force_step_plan.go``) turns the run's
``ForceStepPlan`` off for request version 2, which the JS SDK v4 sends
(``ExecutionVersion.V2``), so the request goes out with
``disable_immediate_execution`` false (``driver/driver.go``). The SDK then runs the one
unfulfilled new step inline (``engine.ts : getEarlyExecRunStep``, ``tryExecuteStep``).
So when the last steps of a group end at one instant, a step after the group that
fails in the first request runs again at once in the second: a failure retries the
queue item of the request that ran it (``handleStepError`` returns
``ErrHandledStepError``; ``queue/process.go`` requeues it at
``backoffFunc(Attempt)``), one retry chain per request. Only a step's first saved
output counts (``handleGeneratorStep``: a duplicate save keeps it and its discovery's
job ID is deduplicated for 12 h, ``queue/consts.go : defaultIdempotencyTTL``; see
``ParallelRuntime.superseded``), a sleep, wait or invoke reported by two requests is
armed once (job ID ``<run>-<step>`` and pause ID ``DeterministicSha1UUID(run + step)``
in ``handleGeneratorSleep`` / ``WaitForEvent`` / ``InvokeFunction``; ``Engine._sleep``
and friends), and the requests of a race-mode run settle when they end, so an
overlapping one never sees a result before it exists (``Engine.raced``). Inngest's own
``tests/golang/parallel_test.go`` ("parallel race") expects the code after the group to
run twice. One difference remains: inside a group jobsim plans a chained step met by
two requests once, where Inngest runs it inline in each when it is the only step left.

Accounting: the request that plans a group is recorded under each sleep, wait and
invoke it planned (as for sequential ones); a planned ``step.run`` records its
attempts when its targeted requests execute it.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ._kernel import Timer
from ._safe import shown
from ._stepdata import Suspend
from .errors import InvalidArgument, JobsimError, StepError, StepMisuse

if TYPE_CHECKING:
    from ._engine import Engine
    from ._execution import Execution
    from ._records import Run

MODES = ("wait", "race")
_PLANNED_KINDS = ("run", "send_event")  # steps that execute code: planned, then targeted
_FINISHED = ("completed", "failed")


class Plan(Protocol):
    """What an execution does with a step it has no result for (``Execution.memo``)."""

    def new_step(self, x: Execution, key: str, kind: str) -> None: ...


class _Discover:
    """Planning a parallel group: code-running steps are planned, not executed."""

    __slots__ = ()

    def new_step(self, x: Execution, key: str, kind: str) -> None:
        if kind in _PLANNED_KINDS:
            raise Suspend(("planned", key, kind))


DISCOVER = _Discover()


class Skip(Suspend):
    """A new step that is not the target of this request (inngest-py's ``SkipInterrupt``).

    Inside a group it is skipped; anywhere else it ends the request with an error,
    because only a handler that is not deterministic meets a new step there.
    """

    def __init__(self, key: str, target: str) -> None:
        super().__init__(("error", JobsimError(
            f"found step {key!r} while running step {target!r} of a parallel group: the handler does not call "
            "the same steps in the same order on every request (code outside steps must be deterministic)"
        )))  # fmt: skip


class Target:
    """A request that executes one planned step of a group and skips the others."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def new_step(self, x: Execution, key: str, kind: str) -> None:
        if key != self.key:
            raise Skip(key, self.key)

    def __repr__(self) -> str:
        return f"Target({self.key!r})"


def _check(callables: Any, mode: Any) -> list[Callable[[], Any]]:
    if mode not in MODES:
        raise InvalidArgument.build("mode", mode, "'wait' (continue when every step ended) or 'race' (after each)")
    if isinstance(callables, (str, bytes)) or not isinstance(callables, Sequence):
        raise InvalidArgument.build(
            "callables", callables, "a list or tuple of callables, e.g. [lambda: ctx.step.run('a', a), ...]"
        )
    for cb in callables:
        if not callable(cb):  # most often a step called in the list, which then ran alone: retrying cannot mend it
            raise StepMisuse.build("callables", callables, f"every item must be callable; {shown(cb)} is not: wrap "
                                   "each step in a lambda, [lambda: ctx.step.run('a', a), lambda: ctx.step.run('b', "
                                   "b)], so that parallel calls it (a step called in the list runs before parallel "
                                   "sees it, on its own)")  # fmt: skip
    return list(callables)


def parallel(x: Execution, callables: Sequence[Callable[[], Any]], mode: str) -> tuple[Any, ...]:
    """``ctx.step.parallel`` for a sync handler (see the module docstring)."""
    items = _check(callables, mode)
    outer = x.plan
    if isinstance(outer, Target):  # run the target (its Suspend ends the request), skip the rest
        outputs = []
        for cb in items:
            with contextlib.suppress(Skip, StepError):  # a sibling that failed for good is not this request's
                outputs.append(_sync(cb, cb()))
        return tuple(outputs)
    x.plan = DISCOVER
    planned: list[tuple[Any, ...]] = []
    outputs = []
    try:
        for cb in items:
            try:
                outputs.append(_sync(cb, cb()))
            except Suspend as suspend:
                _collect(suspend, planned)
    finally:
        x.plan = outer
    if planned:
        raise Suspend(("parallel", planned, mode))
    return tuple(outputs)


async def parallel_async(x: Execution, callables: Sequence[Callable[[], Any]], mode: str) -> tuple[Any, ...]:
    """``await ctx.step.parallel(...)`` for an ``async def`` handler."""
    items = _check(callables, mode)
    outer = x.plan
    if isinstance(outer, Target):
        outputs = []
        for cb in items:
            with contextlib.suppress(Skip, StepError):  # as in ``parallel``
                outputs.append(await _maybe_await(cb()))
        return tuple(outputs)
    x.plan = DISCOVER
    planned: list[tuple[Any, ...]] = []
    outputs = []
    try:
        for cb in items:
            try:
                outputs.append(await _maybe_await(cb()))
            except Suspend as suspend:
                _collect(suspend, planned)
    finally:
        x.plan = outer
    if planned:
        raise Suspend(("parallel", planned, mode))
    return tuple(outputs)


def in_order(callables: Sequence[Callable[[], Any]], mode: str) -> tuple[Any, ...]:
    """``ctx.step.parallel`` where steps are plain calls (no durable steps): each callable in turn.

    A system that runs a job as one call has no group to plan: the steps run one
    after another inside the attempt, and a checkpointed wait (Trigger.dev) pauses
    the attempt as it would outside a group. Planning them as Inngest does would arm
    waits the checkpoint never holds, so every resume planned them again, forever.
    """
    return tuple(_sync(cb, cb()) for cb in _check(callables, mode))


RACE = ""
"""``Execution.seen``'s key counting the races of a request (an empty step id, which ``Execution.key`` refuses)."""


class _Entrant:
    """What one callable of a race gave in this request: its output or error if it ended, and when."""

    __slots__ = ("ended", "error", "index", "output")

    def __init__(self, index: int, output: Any, error: StepError | None, ended: int) -> None:
        self.index, self.output, self.error, self.ended = index, output, error, ended


def _ended(x: Execution, before: dict[str, int]) -> int:
    """When the steps a callable met ended (the latest): those whose keys ``x.seen`` gained since ``before`` (it
    holds every key a step of the request took, ``Execution.indexed``). A callable that met no step ended before
    any (``Promise.race`` takes a plain value at once)."""
    steps, latest = x.run_.steps, -1
    for key in x.seen.keys() - before.keys():
        record = steps.get(key)
        if record is not None and record.end_ns is not None and record.end_ns > latest:
            latest = record.end_ns
    return latest


def _winner(x: Execution, entrants: list[_Entrant], number: int) -> _Entrant | None:
    """The callable that won race ``number`` of this request: the one whose steps ended first (the earlier in the
    list at one instant), chosen when a request first finds one ended and kept for the run, so every later
    request continues past the race with the same one (Inngest's SDK resolves stored steps in the order they
    completed, ``stepCompletionOrder``, for ``Promise.race`` to settle the same on every request)."""
    if not entrants:
        return None
    winners = x.engine.race_winners.setdefault(x.run_, {})
    index = winners.get(number)
    if index is not None:
        for entrant in entrants:
            if entrant.index == index:
                return entrant
    first = min(entrants, key=lambda e: (e.ended, e.index))
    winners[number] = first.index
    return first


def _won(entrant: _Entrant) -> Any:
    if entrant.error is not None:
        raise entrant.error
    return entrant.output


def _check_race(callables: Any) -> list[Callable[[], Any]]:
    items = _check(callables, "race")
    if not items:  # Promise.race([]) never settles: the run would hang for ever
        raise InvalidArgument.build("callables", callables, "at least one callable: a race of none never ends")
    return items


def _race_start(x: Execution) -> tuple[int, Plan | None, bool]:
    """A race begins: its number in this request, the plan to restore, and whether the request targets one
    step (then it runs that step as ``parallel`` does, skips the others, and goes on past the race with the
    winner a request before it chose); else its new steps are planned."""
    seen, outer = x.seen, x.plan
    number = seen[RACE] = seen.get(RACE, 0) + 1
    targeted = isinstance(outer, Target)
    if not targeted:
        x.plan = DISCOVER
    return number, outer, targeted


def _race_end(x: Execution, entrants: list[_Entrant], number: int, planned: list[tuple[Any, ...]],
              outer: Plan | None) -> Any:  # fmt: skip
    """The winner's output (or its error), or the request ends planning the steps still to run."""
    winner = _winner(x, entrants, number)
    if winner is not None:
        return _won(winner)
    if isinstance(outer, Target):
        raise JobsimError(f"step.race: none of its callables ended, yet request {outer!r} continued past it")
    raise Suspend(("parallel", planned, "race"))


def race(x: Execution, callables: Sequence[Callable[[], Any]]) -> Any:
    """``ctx.step.race`` for a sync handler: the output of the callable whose steps end first (see ``Step.race``)."""
    items = _check_race(callables)
    number, outer, targeted = _race_start(x)
    planned: list[tuple[Any, ...]] = []
    entrants = []
    try:
        for index, cb in enumerate(items):
            before = dict(x.seen)
            try:
                entrants.append(_Entrant(index, _sync(cb, cb()), None, _ended(x, before)))
            except StepError as exc:  # a step of it failed for good: it ended, in that error
                entrants.append(_Entrant(index, None, exc, _ended(x, before)))
            except Skip:  # a sibling of the targeted step
                if not targeted:
                    raise
            except Suspend as suspend:
                if targeted:  # the targeted step ran: its outcome ends the request
                    raise
                _collect(suspend, planned)
    finally:
        x.plan = outer
    return _race_end(x, entrants, number, planned, outer)


async def race_async(x: Execution, callables: Sequence[Callable[[], Any]]) -> Any:
    """``await ctx.step.race(...)`` for an ``async def`` handler (see ``race``)."""
    items = _check_race(callables)
    number, outer, targeted = _race_start(x)
    planned: list[tuple[Any, ...]] = []
    entrants = []
    try:
        for index, cb in enumerate(items):
            before = dict(x.seen)
            try:
                entrants.append(_Entrant(index, await _maybe_await(cb()), None, _ended(x, before)))
            except StepError as exc:
                entrants.append(_Entrant(index, None, exc, _ended(x, before)))
            except Skip:
                if not targeted:
                    raise
            except Suspend as suspend:
                if targeted:
                    raise
                _collect(suspend, planned)
    finally:
        x.plan = outer
    return _race_end(x, entrants, number, planned, outer)


def race_in_order(callables: Sequence[Callable[[], Any]]) -> Any:
    """``ctx.step.race`` where steps are plain calls (``in_order``): each callable runs in turn, to its end, so
    the first ends first: its output (or error)."""
    outputs = [_sync(cb, cb()) for cb in _check_race(callables)]
    return outputs[0]


async def race_in_order_async(callables: Sequence[Callable[[], Any]]) -> Any:
    """``await ctx.step.race(...)`` where steps are plain calls: see ``race_in_order``."""
    outputs = [await _maybe_await(cb()) for cb in _check_race(callables)]
    return outputs[0]


def _sync(cb: Callable[[], Any], value: Any) -> Any:
    """What a callable gave a sync handler's group; an awaitable (an ``async def`` callable) would be
    its output, never run, and warned about as never awaited: closed, and the attempt fails saying so."""
    if inspect.isawaitable(value):
        close = getattr(value, "close", None)
        if callable(close):
            close()
        raise InvalidArgument(
            f"step.parallel: the callable {getattr(cb, '__qualname__', cb)} returned a {type(value).__name__}, "
            "which a sync handler cannot await, so it would never run; use an `async def` handler and "
            "`await ctx.step.parallel(...)`"
        )
    return value


async def in_order_async(callables: Sequence[Callable[[], Any]], mode: str) -> tuple[Any, ...]:
    """``await ctx.step.parallel(...)`` where steps are plain calls: see ``in_order``."""
    return tuple([await _maybe_await(cb()) for cb in _check(callables, mode)])


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _collect(suspend: Suspend, planned: list[tuple[Any, ...]]) -> None:
    op = suspend.op
    kind = op[0]
    if kind == "parallel":  # a nested group: its steps join this one
        planned.extend(op[1])
    elif kind in ("planned", "sleep", "wait", "invoke"):
        planned.append(op)
    else:  # an error found while planning ends the request as it is
        raise suspend


class Group:
    """The steps of one parallel group of a run that the engine has started."""

    __slots__ = ("handles", "keys", "mode")

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.keys: list[str] = []
        self.handles: list[Any] = []  # sleep timers and waiters, disarmed if the run ends first


class ParallelRuntime:
    """Starts the steps of parallel groups and continues their runs when they end."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.groups: dict[Run, Group] = engine.groups

    def plan(self, run: Run, x: Execution, items: list[tuple[Any, ...]], mode: str) -> None:
        engine = self.engine
        group = self.groups.get(run)
        if group is None:
            group = self.groups[run] = Group(mode)
            if mode == "race":
                engine.raced.add(run)
        fresh = []
        for op in items:
            if op[1] not in group.keys:  # else still in flight: planned again by a race-mode discovery
                group.keys.append(op[1])
                fresh.append(op)
        if not fresh:
            return
        steps = [op[1] for op in fresh]
        engine.record(x.now, "parallel", {"function": run.function.id, "run": run.id, "steps": steps, "mode": mode})
        for op in fresh:
            kind, key = op[0], op[1]
            if kind == "planned":
                record = engine._step(run, key, op[2], x.now)
                record.status = "queued"
                engine.kernel.schedule(x.now, engine._request, run, 0, Target(key), owner=run.function.id)
            elif kind == "sleep":
                engine._sleep(run, x, op)
                group.handles.append(run._wake)
            elif kind == "wait":
                engine._wait(run, x, op)
                group.handles.append(run._wake)
            else:
                engine._invoke(run, x, op)
        run._wake = None  # the group's handles are disarmed by `drop`, not by the single-wake path
        run.status = "running"

    def settled(self, run: Run, at: int) -> None:
        """A step of the run's group ended: continue the run as its mode says."""
        group = self.groups[run]
        steps = run.steps
        if all(steps[key].status in _FINISHED for key in group.keys):
            del self.groups[run]
        elif group.mode != "race":
            return
        self.engine.kernel.schedule(at, self.engine._request, run, 0, owner=run.function.id)

    def superseded(self, run: Run, x: Execution, op: tuple[Any, ...]) -> bool:
        """Whether ``op`` (a request of a race-mode run, settling when it ended) ran a step that an
        overlapping request completed meanwhile: its attempt counts, its result does not.

        Inngest saves a step's output once: a later save is ``ErrDuplicateResponse`` and
        the existing output is kept, and the discovery it then enqueues has the job ID of
        the one a success already enqueued (``<run>-<step>``), deduplicated for the
        queue's 12 h (``executor.go : handleGeneratorStep``, ``maybeEnqueueDiscoveryStep``;
        ``queue/consts.go : defaultIdempotencyTTL``). After a saved final failure, whose
        discovery had a job ID of its own (``<run>-<step>-failure``, ``handleStepFailed``),
        it is new: the run is continued once more, from the same stored failure. A
        retryable failure is retried on the request's own queue item as any
        (``handleStepError`` returns ``ErrHandledStepError``); a final one saves nothing
        new (``handleStepFailed`` stops at the duplicate save).
        """
        kind = op[0]
        if kind not in ("done", "failed"):
            return False
        record = run.steps.get(op[1])
        if record is None or record.status not in _FINISHED:
            return False
        engine = self.engine
        error = op[2] if kind == "failed" else None
        engine._attempt(run, x, op[1], error, None, record)
        if error is None:
            if record.status == "failed":
                engine._next(run, x.now)
            return True
        delay = engine._retry_delay(run, x, error)
        if delay is not None:
            engine._retry(run, x, op[1], delay)
        return True

    def drop(self, run: Run) -> None:
        """The run ended (failed, cancelled, timed out) with steps in flight: disarm them."""
        group = self.groups.pop(run, None)
        if group is None:
            return
        kernel, waiters = self.engine.kernel, self.engine.waiters
        for handle in group.handles:
            if isinstance(handle, Timer):
                kernel.cancel(handle)
                continue
            for waiting in waiters.values():
                if handle in waiting:
                    waiting.remove(handle)
                    break
            if handle.timer is not None:
                kernel.cancel(handle.timer)
