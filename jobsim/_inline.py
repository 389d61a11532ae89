"""``ctx.step`` for systems without durable steps: every step is a plain call.

BullMQ, Quirrel, Agenda, node-cron and Vercel run a job as one function call, and
Trigger.dev runs a task as one process that checkpoints at waits. There is nothing
to memoize across retries: ``ctx.step.run(id, fn)`` calls ``fn`` at once and
returns its value (an error propagates to the handler like any exception), and a
retry runs the handler from the top, every step again. The engine uses these
classes instead of ``Step``/``AsyncStep`` when ``profile.durable_steps`` is false.

What survives inside one attempt is the *checkpoint*: the outputs of the steps the
process already ran. It matters only where the process can pause and resume
(Trigger.dev's ``wait.for``/``triggerAndWait``, ``profile.checkpoints``): after a
sleep the handler is replayed from the top and the steps of this attempt return
their values instead of running again — the replay stands in for restoring the
process. A fresh attempt (a retry, a re-run after a crash) starts with an empty
checkpoint. Step kinds the system lacks raise ``UnsupportedFeature`` out of the
simulation (``advance()`` raises it), since no job code could work around them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._checks import JOB_ERRORS
from ._execution import Execution, awaited, called_hint
from ._records import Attempt
from ._stepdata import Suspend, UnserializableOutput, dump
from ._steps import Step, refuse_coroutine
from .errors import InvalidArgument

if TYPE_CHECKING:
    from ._engine import Engine
    from ._events import Event
    from ._records import Run, StepRecord

PENDING = object()
"""Checkpoint value of a wait that suspended the attempt and has not resumed yet."""


class RunState:
    """What a non-durable system keeps about one run between its requests."""

    __slots__ = ("attempt", "began", "checkpoint", "failed_step", "pausing", "reruns", "resume", "scheduled")

    def __init__(self, scheduled: int) -> None:
        self.attempt = 0
        self.began = scheduled  # when the process of the current attempt started (it may have paused since)
        self.pausing = False  # a wait is checkpointing the attempt: what it records is no attempt of the run
        self.checkpoint: dict[str, Any] = {}
        self.failed_step: str | None = None
        self.reruns = 0
        self.resume = False  # the next request resumes this attempt (after a wait) instead of starting over
        self.scheduled = scheduled  # when the current attempt was due (Quirrel counts retries from it)


class InlineStep(Step):
    """``ctx.step`` where steps are plain calls (see the module docstring)."""

    __slots__ = ("resumed", "state")

    def __init__(self, engine: Engine, run: Run, attempt: int, start: int) -> None:
        super().__init__(engine, run, attempt, start)
        state = engine.system.state(run)  # type: ignore[union-attr]
        self.state = state
        self.resumed = state.resume and state.attempt == attempt
        state.resume = False
        if not self.resumed:
            state.checkpoint.clear()  # a new process: whatever the last one computed is gone
        state.attempt = attempt
        state.failed_step = None

    def memo(self, key: str, kind: str) -> StepRecord | None:
        """Only what this attempt's process already did counts; older records are history."""
        if key not in self.state.checkpoint:
            return None
        return Execution.memo(self, key, kind)

    def fault(self, key: str | None) -> None:
        """``sim.fail(fn, step=...)`` makes the step's call raise, as the real call would."""
        if key is None or not self.engine.faults:
            Execution.fault(self, key)
            return
        error = self.engine.take_fault(self.run_.function.id, key)
        if error is not None:
            raise error

    def _allow(self, feature: str, step_id: str) -> None:
        profile = self.engine.profile
        if feature in profile.lacks:
            raise Suspend(("unsupported", profile.refuse(self.run_.function.id, feature, f" (step {step_id!r})")))

    def _begin(self, step_id: str, fn: Callable[..., Any]) -> tuple[str, StepRecord | None]:
        key = self.key(step_id)
        if key in self.state.checkpoint:
            return key, None
        if not callable(fn):
            raise InvalidArgument.build("fn", fn, f"step {key!r} needs a callable to run" + called_hint(fn))
        return key, self.engine._step(self.run_, key, "run", self.now)

    def _settle(self, key: str, record: StepRecord, start: int, value: Any, error: BaseException | None) -> None:
        record.attempts.append(Attempt(self.attempt, key, start, self.now, error))
        record.end_ns, record.error = self.now, error
        if error is not None:
            record.status = "failed"
            self.state.failed_step = key
            return
        record.status = "completed"
        try:
            record._payload = dump(value, "step", key)
        except UnserializableOutput:
            record._payload = None  # nothing stores it: the value only lives in the process
        self.state.checkpoint[key] = value

    def run(self, step_id: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn(*args, **kwargs)`` now and return its value; nothing is memoized across attempts."""
        key, record = self._begin(step_id, fn)
        if record is None:
            return self.state.checkpoint[key]
        start = self.now
        self.in_step = key  # the step a crash interrupts
        try:
            self.fault(key)
            value = fn(*args, **kwargs)
        except JOB_ERRORS as exc:
            self._settle(key, record, start, None, exc)
            raise
        finally:
            self.in_step = False
        refuse_coroutine(key, fn, value)
        self._settle(key, record, start, value, None)
        return value

    def sleep(self, step_id: str, duration: Any) -> None:
        self._allow("step.sleep", step_id)
        Step.sleep(self, step_id, duration)

    def sleep_until(self, step_id: str, when: Any) -> None:
        self._allow("step.sleep", step_id)
        Step.sleep_until(self, step_id, when)

    def wait_for_event(self, step_id: str, **kwargs: Any) -> Event | None:
        self._allow("step.wait_for_event", step_id)
        return Step.wait_for_event(self, step_id, **kwargs)

    def invoke(self, step_id: str, **kwargs: Any) -> Any:
        self._allow("step.invoke", step_id)
        return Step.invoke(self, step_id, **kwargs)

    def parallel(self, callables: Sequence[Callable[[], Any]], *, mode: str = "wait") -> tuple[Any, ...]:
        """The callables one after another: a job that is one call has no parallel group (``_parallel.in_order``)."""
        from ._parallel import in_order

        return in_order(callables, mode)

    def race(self, callables: Sequence[Callable[[], Any]]) -> Any:
        """The callables one after another, as ``parallel``: the first ends first (``_parallel.race_in_order``)."""
        from ._parallel import race_in_order

        return race_in_order(callables)

    def send_event(self, step_id: str, events: Any) -> dict[str, list[str]]:
        """Send now (``queue.add``, ``tasks.trigger``, ...); a retry sends again."""
        key = self.key(step_id)
        if key in self.state.checkpoint:
            return self.state.checkpoint[key]  # type: ignore[no-any-return]
        self.fault(key)
        result = {"ids": self.engine.sim._emit(events)}
        self.state.checkpoint[key] = result
        return result


class AsyncInlineStep(InlineStep):
    """``ctx.step`` of an ``async def`` handler where steps are plain calls: every method is awaited."""

    __slots__ = ()

    @awaited
    async def run(self, step_id: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        key, record = self._begin(step_id, fn)
        if record is None:
            return self.state.checkpoint[key]
        start = self.now
        self.in_step = key
        try:
            self.fault(key)
            value = fn(*args, **kwargs)
            if inspect.isawaitable(value):
                value = await value
        except JOB_ERRORS as exc:
            self._settle(key, record, start, None, exc)
            raise
        finally:
            self.in_step = False
        self._settle(key, record, start, value, None)
        return value

    @awaited
    async def sleep(self, step_id: str, duration: Any) -> None:  # type: ignore[override]
        InlineStep.sleep(self, step_id, duration)

    @awaited
    async def sleep_until(self, step_id: str, when: Any) -> None:  # type: ignore[override]
        InlineStep.sleep_until(self, step_id, when)

    @awaited
    async def wait_for_event(self, step_id: str, **kwargs: Any) -> Event | None:  # type: ignore[override]
        return InlineStep.wait_for_event(self, step_id, **kwargs)

    @awaited
    async def invoke(self, step_id: str, **kwargs: Any) -> Any:
        return InlineStep.invoke(self, step_id, **kwargs)

    @awaited
    async def send_event(self, step_id: str, events: Any) -> dict[str, list[str]]:  # type: ignore[override]
        return InlineStep.send_event(self, step_id, events)

    @awaited
    async def parallel(  # type: ignore[override]
        self, callables: Sequence[Callable[[], Any]], *, mode: str = "wait"
    ) -> tuple[Any, ...]:
        """The steps one after another, each awaited (the sync form's tuple could not be awaited)."""
        from ._parallel import in_order_async

        return await in_order_async(callables, mode)

    @awaited
    async def race(self, callables: Sequence[Callable[[], Any]]) -> Any:
        """The callables one after another, each awaited: see ``InlineStep.race``."""
        from ._parallel import race_in_order_async

        return await race_in_order_async(callables)
