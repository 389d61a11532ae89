"""One request (``jobsim._engine``'s third layer): ``_request`` runs the handler once, in Inngest's replay model
(``_steps.py``), and hands what ended it to the outcome of the same name: ``done`` (a step completed), ``failed``
(a step raised), ``returned`` (the handler finished), ``error`` (the handler raised outside any step), and the
pauses of the layer below (``_enginepauses``). Each attempt is recorded (``_attempt``); a failure is retried
after the retry policy's delay (``_retry_delay``, ``_retry``).

This is the engine's hot path (``benchmarks/bench_core.py``): the names its loops use are this module's globals
or locals, never another module's attributes."""

from __future__ import annotations

import builtins
from threading import get_ident
from typing import TYPE_CHECKING, Any

import orjson

from ._checks import JOB_ERRORS
from ._enginepauses import _Pauses
from ._execution import strayed, unawaited
from ._kernel import NORMAL
from ._records import Attempt, StepRecord
from ._reqtimeout import timed_out
from ._safe import said
from ._stepdata import Suspend, UnserializableOutput, as_requested, dump, failure
from ._steps import Context, Step, misused_step, misused_value
from .errors import InvalidArgument, NonRetriableError, RetryAfterError, StepError, StepOutputTooLarge

if TYPE_CHECKING:
    from ._execution import Execution
    from ._records import Run

_GROUPS: tuple[type[BaseException], ...] = tuple(filter(None, [getattr(builtins, "BaseExceptionGroup", None)]))
"""``BaseExceptionGroup`` (Python 3.11+; before, no ``asyncio.TaskGroup`` makes one)."""
_ENDED = frozenset({"completed", "failed", "cancelled", "skipped"})  # a run's requests stop (one hash, not 4 compares)
_new = object.__new__


class _Requests(_Pauses):
    """One request of a run and its outcomes."""

    # -- one request ------------------------------------------------------------------
    def _request(self, run: Run, attempt: int, plan: Any = None) -> None:
        """One request; ``plan`` targets one step of a parallel group (``_parallel.Target``)."""
        if run.status in _ENDED:
            return
        fn = run.function
        flow = fn.flow
        if flow is not None:
            ctl = self.flowrt.enter(run, attempt, plan)
            if ctl is None:
                return  # waits for a concurrency slot
        cls = self._step_types[1] if fn.is_async else self._step_types[0]  # a bool index is not specialized
        if cls is Step:  # ``Step(self, run, attempt, now)``: Execution.__init__'s fields, set here (no frame)
            x = _new(Step)
            x.engine = self  # type: ignore[assignment]  # an Engine: this layer is one of its bases (no cast: hot)
            x.run_ = run
            x.attempt = attempt
            x.start = x.now = self.kernel.now
            x.seen = {}
            x.in_step = False
            x.plan = plan
            x.thread = get_ident()
            x.strayed = None
            x.ended = None
        else:
            x = cls(self, run, attempt, self.kernel.now)  # type: ignore[arg-type]  # self is an Engine
            if plan is not None:
                x.plan = plan
        self.x = x
        self.wallclock.move(x.now)
        run.status = "running"
        try:
            if self.faults or self.system is not None:
                x.fault(None)
            ctx = _new(Context)  # ``Context(x)``, its two fields set here: a Python __init__ is a frame per request
            ctx.step = x
            ctx._fresh = False
            handler = fn.handler  # an attribute called as ``fn.handler(ctx)`` is looked up generically
            value = self.sim.loop().drive(handler(ctx)) if fn.is_async else handler(ctx)
            op: tuple[Any, ...] = ("returned", value)
        except Suspend as suspend:
            op = suspend.args[0]  # ``suspend.op``
        except _GROUPS as group:  # an asyncio.TaskGroup around steps: the step's Suspend inside a group
            op = _suspended_in(group)
        except JOB_ERRORS as exc:  # SystemExit too; KeyboardInterrupt goes to the test (``_checks.JOB_ERRORS``)
            if type(exc) is TypeError and "native" not in fn.options:  # jobsim's own ctx.step, not a plugin's
                exc = misused_step(exc)
            elif type(exc) is InvalidArgument and "native" not in fn.options:  # a bad value given to ctx.step
                exc = misused_value(exc)
            op = failure(None, exc)  # a refusal (UnsupportedFeature) is raised by the driving call
        finally:
            self.x = None
        if fn.is_async:
            if x.ended is not None and op[0] == "returned":  # the handler swallowed the step's end (a lone step in
                op = x.end_op  # asyncio.gather(..., return_exceptions=True), an `except BaseException`): it ends it
            op = unawaited(x, fn.id, op)  # a step called without `await` never ran: the attempt fails naming it
        if x.strayed is not None:
            op = strayed(x.strayed, op)  # a step called from another thread was lost there: the attempt fails naming it
        # job code spent virtual time: until it does, ``now`` and ``start`` are the one int object they were set to,
        # and ``is not`` spares most requests two comparisons of nanoseconds (never compact ints: generic ones)
        spent = x.now is not x.start
        if spent and x.now - x.start > self.request_cap:  # the system stopped waiting for it (``_reqtimeout``)
            op = timed_out(self, run, x, op)  # type: ignore[arg-type]  # self is an Engine
        if flow is not None and not self.flowrt.leave(ctl, x, op):
            return
        if spent and x.now > self.kernel.now and (plan is not None or run in self.raced):  # a result exists as it ends
            self.kernel.schedule(x.now, self._settle_later, run, x, op, owner=fn.id)
            return
        self._outcomes[op[0]](run, x, op)

    def _settle_later(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        if run.done:  # a run cancelled while the step ran ignores its result
            return
        if self.raced and run in self.raced and self._parallel_rt.superseded(run, x, op):
            return
        self._outcomes[op[0]](run, x, op)

    def _attempt(self, run: Run, x: Execution, step: str | None, error: BaseException | None,
                 start: int | None = None, record: StepRecord | None = None) -> None:  # fmt: skip
        """Record an attempt of ``run`` (and of its step, ``record``) from ``start`` (default: its
        request's start) to ``x.now``. Until something reads the run's attempts it is a row, made an
        ``Attempt`` then (``Run.attempts``): most runs' attempts are never looked at."""
        if start is None:
            start = x.start
        row: tuple[Any, ...]
        if error is None:  # the trace's compact record is the run's row too (``_trace._EXPAND``, ``Run._rows``)
            row = (start, "attempt", run.function.id, run.id, step, x.attempt, x.now, None, record is not None)
        else:  # its __str__ may raise: job code wrote it
            row = (start, "attempt", run.function.id, run.id, step, x.attempt, x.now, error, record is not None,
                   said(error))  # fmt: skip
        self._log.append(row)
        rows = run._rows
        if rows is not None:
            rows.append(row)
        else:  # the run's attempts were read: its lists get each attempt as it ends
            attempt = Attempt(x.attempt, step, start, x.now, error)
            run.attempts.append(attempt)
            if record is not None:
                record.attempts.append(attempt)

    def _step(self, run: Run, key: str, kind: str, start: int) -> StepRecord:
        record = run.steps.get(key)
        if record is None:
            record = run.steps[key] = StepRecord(key, kind, start, run)
        return record

    def _next(self, run: Run, at: int) -> None:
        if self.groups and run in self.groups:  # a step of a parallel group ended
            self._parallel_rt.settled(run, at)
            return
        self.kernel.put(at, self._request_cb, (run, 0), run.function.id, NORMAL, False)

    # -- outcomes -------------------------------------------------------------------------
    def _done(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        _, key, payload, kind = op
        if self.jcs:
            payload = as_requested(payload)
        if (type(payload) is bytes or type(payload) is str) and len(payload) > self.output_gate and kind == "run":
            error = self._oversized(run, key, payload)
            if error is not None:  # the server refuses the answer: the request fails, retried as any error
                self._error(run, x, ("error", error))
                return
        record = run.steps.get(key)  # ``_step``, inline: once a request
        if record is None:
            record = run.steps[key] = StepRecord(key, kind, x.start, run)
        self._attempt(run, x, key, None, None, record)
        record.status, record._payload, record.end_ns = "completed", payload, x.now
        self._next(run, x.now)

    def _oversized(self, run: Run, key: str, payload: bytes | str) -> StepOutputTooLarge | None:
        """The error of a step output past the profile's ``max_step_output``, measured as Inngest does: the
        length of ``{"data": <output's JSON>}`` (``GeneratorOpcode.Output``, checked by ``Validate`` as the
        server parses the SDK's answer, ``httpdriver/parse.go : ParseResponse``); ``None`` within it."""
        limit = self.profile.max_step_output
        size = (len(payload) if type(payload) is bytes else len(orjson.dumps(payload))) + 9
        if limit is None or size <= limit:
            return None
        label = self.profile.label
        return StepOutputTooLarge(
            f"step {key!r} of function {run.function.id!r} returned {size:,} bytes of JSON, past {label}'s "
            f"{limit:,} ({limit / 1048576:g} MiB) for a step's output: {label} refuses the answer (\"error validating "
            "generator opcode: step output size is greater than the limit\"), so the request fails and is retried, "
            "the step's code running again; return less from the step (store the data elsewhere, a database or a "
            "bucket, and return its key)", step=key, size=size, limit=limit,
        )  # fmt: skip

    def _failed(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        _, key, error = op
        record = run.steps.get(key)  # ``_step``, inline: once a request
        if record is None:
            record = run.steps[key] = StepRecord(key, "run" if len(op) < 4 else op[3], x.start, run)
        self._attempt(run, x, key, error, None, record)
        delay = self._retry_delay(run, x, error)
        if delay is not None:
            record.status = run.status = "retrying"
            self._retry(run, x, key, delay)
        else:
            record.status, record.error, record.end_ns = "failed", error, x.now
            self._next(run, x.now)

    def _unsupported(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        """Job code met a refusal (``_stepdata.failure``): the driving call raises it, the run stays as it was
        (no attempt: no retry can work around it), and the trace says so at the run's instant (the timeline's
        ``refused`` line: a run whose first request was refused read as not run yet)."""
        refusal = op[1]
        self.record(x.now, "refused", {"function": run.function.id, "run": run.id, "attempt": x.attempt,
                                       "error": said(refusal)})  # fmt: skip
        raise refusal

    def _error(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        error = op[1]
        self._attempt(run, x, None, error)
        if isinstance(error, StepError) and error.step_id in run.steps:
            self.finish(run, "failed", x.now, error.error)
            return
        delay = self._retry_delay(run, x, error)
        if delay is None:
            self.finish(run, "failed", x.now, error)
        else:
            run.status = "retrying"
            self._retry(run, x, None, delay)

    def _retry_delay(self, run: Run, x: Execution, error: BaseException) -> int | None:
        """Delay before the next attempt, or ``None`` when this failure is final."""
        if isinstance(error, NonRetriableError):
            return None
        fn_id = run.function.id
        policy = self._policies.get(fn_id)
        if policy is None:
            policy = self.policy(run.function)
        if x.attempt + 1 >= policy.attempts:
            return None
        if isinstance(error, RetryAfterError):
            return self.profile.retry_after_delay(error.after, x.now)
        rng = self._streams.get(fn_id)  # ``rng_for``'s own cache, read inline
        if rng is None:
            rng = self.rng_for(fn_id)
        return policy.delay_ns(x.attempt + 1, rng)

    def _retry(self, run: Run, x: Execution, key: str | None, delay: int) -> None:
        at = x.now + delay
        self._log.append((x.now, "retry", run.function.id, run.id, key, x.attempt + 1, at, delay))
        self.kernel.put(at, self._request_cb, (run, x.attempt + 1, x.plan), run.function.id, NORMAL, False)

    def _timeout(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        """The system stopped waiting for the request (``_reqtimeout``): an attempt of its step (or of the code
        outside steps) failed, retried on the request's counter; at the last, the run fails (not the step:
        Inngest never hands the handler a step error for it)."""
        _, key, error, kind = op
        record = None
        if key is not None:
            record = run.steps.get(key)
            if record is None:
                record = run.steps[key] = StepRecord(key, kind, x.start, run)
        self._attempt(run, x, key, error, None, record)
        delay = self._retry_delay(run, x, error)
        if delay is not None:
            if record is not None:
                record.status = "retrying"
            run.status = "retrying"
            self._retry(run, x, key, delay)
            return
        if record is not None:
            record.status, record.error, record.end_ns = "failed", error, x.now
        self.finish(run, "failed", x.now, error)

    def _returned(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        try:
            payload = dump(op[1], "function", run.function.id)
        except UnserializableOutput as exc:
            self._attempt(run, x, None, exc)
            self.finish(run, "failed", x.now, exc)
            return
        self._attempt(run, x, None, None)
        run._payload = payload
        self.finish(run, "completed", x.now, None)



def _suspended_in(group: BaseException) -> tuple[Any, ...]:
    """What ended a request whose handler awaited a step inside an ``asyncio.TaskGroup``: the group holds the
    step's ``Suspend`` (a ``BaseException``, which a task group gathers), and that step ends the request as it
    would awaited alone; a second step in the group was refused as steps awaited together are
    (``Execution.together``, which ``strayed`` then reports). A group without a ``Suspend`` is raised on."""
    leaves: list[BaseException] = []
    todo = [group]
    while todo:
        error = todo.pop()
        inner = getattr(error, "exceptions", None)
        if isinstance(error, _GROUPS) and inner is not None:
            todo.extend(reversed(inner))
        else:
            leaves.append(error)
    suspends = [error for error in leaves if isinstance(error, Suspend)]
    if not suspends:
        if isinstance(group, Exception):  # an ExceptionGroup of job errors: the attempt fails with it
            return failure(None, group)
        raise group
    op: tuple[Any, ...] = suspends[0].args[0]
    return op
