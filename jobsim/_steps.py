"""``ctx`` and ``ctx.step``: durable steps in Inngest's replay model.

Each request re-executes the handler from the top. A step whose id has a stored
result returns it (or re-raises its stored error as ``StepError``) without running.
The first step without a result ends the request: a ``step.run`` executes its code
and stores the outcome; ``sleep``, ``wait_for_event`` and ``invoke`` are planned;
the engine then schedules the next request. Code outside steps therefore runs on
every request — as on Inngest, it must be deterministic and free of side effects.

The request is ended by raising ``Suspend``, a ``BaseException`` so that a
handler's ``except Exception`` does not swallow it (a bare ``except:`` would).

This module, the top layer, holds ``ctx.step``'s methods (``Step``, ``AsyncStep``), ``ctx``
(``Context``) and the errors of a step call Python could not bind (``misused_step``). Below it:
``_execution`` (one request's state, ``Execution``, the base of ``Step``, and what an async
handler's request did wrong) and ``_stepdata`` (``Suspend``, the outcomes it carries, outputs
as stored).
"""

from __future__ import annotations

import asyncio
import inspect
import re
from asyncio import CancelledError
from collections.abc import Callable, Mapping, Sequence
from types import CoroutineType
from typing import Any, TypeVar

from ._checks import JOB_ERRORS, closest_keyword
from ._events import Event, for_run, json_copy, refresh
from ._execution import Execution as Execution  # below, names tests and plugins import from here, their home
from ._execution import awaited  # before the split: what a step hands the engine and one request's state
from ._execution import track as track
from ._expr import compile_expression, compile_match, match_and_if
from ._stepdata import Suspend as Suspend
from ._stepdata import TooManySteps as TooManySteps
from ._stepdata import UnserializableOutput as UnserializableOutput
from ._stepdata import _done as _done
from ._stepdata import as_requested as as_requested
from ._stepdata import dump as dump
from ._stepdata import failure
from ._stepdata import load as load
from ._time import MAX_NS, MS, Duration, Instant, duration_ns, iso, job_instant_ns
from .errors import InvalidArgument, NonRetriableError, StepMisuse

T = TypeVar("T")

_STEP_CALL = re.compile(
    r"(?:Async)?Step\.(run|sleep|sleep_until|wait_for_event|send_event|invoke|parallel)\(\) "
    r"(got an unexpected keyword argument '\w+'|got multiple values for argument '\w+'"
    r"|takes (?:from )?\d+ (?:to \d+ )?positional arguments? but .+ (?:was|were) given"
    r"|missing \d+ required (?:positional|keyword-only) arguments?: '\w+'(?:(?:, | and )'\w+')*)"
    r"(?:\. Did you mean '\w+'\?)?"
)  # Python's own words for a call it could not bind (3.13 adds its own guess, which jobsim's replaces)
_UNEXPECTED = re.compile(r"got an unexpected keyword argument '(\w+)'")


def _shape(parameters: Mapping[str, inspect.Parameter]) -> str:
    """``step_id, *, event, timeout, match=None, if_exp=None``: a signature without its annotations."""
    shown_: list[str] = []
    for name, p in parameters.items():
        if name == "self":
            continue
        if p.kind is p.KEYWORD_ONLY and not any(part.startswith("*") for part in shown_):
            shown_.append("*")
        prefix = "*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else ""
        shown_.append(prefix + name + ("" if p.default is p.empty else f"={p.default!r}"))
    return ", ".join(shown_)


def misused_step(error: TypeError) -> BaseException:
    """A ``ctx.step`` call Python could not bind (``timeot=``, the event of ``wait_for_event`` by position) as a
    ``StepMisuse``: retried, it failed the same way on every attempt, minutes of backoff later, with
    Python's message. Looked at only once an attempt has failed, so a step call pays nothing for it."""
    called = _STEP_CALL.fullmatch(str(error))
    if called is None:
        return error
    method, problem = called.groups()
    parameters = inspect.signature(getattr(Step, method)).parameters
    accepted = [name for name, p in parameters.items() if name != "self" and p.kind is not p.VAR_POSITIONAL
                and p.kind is not p.VAR_KEYWORD]  # fmt: skip
    unexpected = _UNEXPECTED.fullmatch(problem)
    if unexpected is not None:
        guess = closest_keyword(unexpected.group(1), accepted)
        problem = f"got an unknown keyword argument {unexpected.group(1)}=" + (
            f" (did you mean {guess}=?)" if guess else "")
    misuse = StepMisuse(f"ctx.step.{method}() {problem}; it takes ctx.step.{method}({_shape(parameters)})")
    misuse.__cause__ = error
    return misuse.with_traceback(error.__traceback__)


_METHOD_NAMES = ("run", "sleep", "sleep_until", "wait_for_event", "send_event", "invoke", "parallel", "race")
_STEP_METHODS = frozenset(_METHOD_NAMES)
_OTHER_NAMES = {"invokebyid": "invoke", "sendevents": "send_event", "emit": "send_event", "waitforevents":
                "wait_for_event", "delay": "sleep", "sleepfor": "sleep", "group": "parallel"}
"""Other SDKs' names of ``ctx.step``'s methods (inngest-py's ``invoke_by_id``) that spelling alone does not find;
Inngest JS's camelCase (``sleepUntil``, ``waitForEvent``, ``sendEvent``) is found by ``closest_keyword``."""


class UnknownStepMethod(StepMisuse, AttributeError):
    """``ctx.step.sleepUntil(...)``: a method ``ctx.step`` does not have, named with the one meant. A
    ``StepMisuse``, so the run fails at once (a retry would fail the same way); an ``AttributeError`` too, so
    ``except AttributeError`` in job code still catches what it caught (``step_method_error`` makes it of the
    plain one Python raised, which ``hasattr`` and ``getattr(ctx.step, name, default)`` see as on any object)."""


def step_method_error(exc: AttributeError) -> BaseException:
    """``exc`` as job code's failure (``_stepdata.failure``): a method ``ctx.step`` lacks (``sleepUntil``) is an
    ``UnknownStepMethod`` naming the one meant, keeping ``exc``'s traceback; any other ``AttributeError`` as it is.

    Told here, as the failure is recorded, not by a ``Step.__getattr__``: a class with one loses CPython's
    specialized attribute loads on every instance, and a request reads ``self``'s fields all the time (the core
    workload ran 10-15% slower with it)."""
    x = getattr(exc, "obj", None)
    if not isinstance(x, Step) or not isinstance(exc.name, str):
        return exc
    error = unknown_step_method(x, exc.name)
    if type(error) is AttributeError:
        return exc
    error.__traceback__ = exc.__traceback__
    return error


def unknown_step_method(x: Execution, name: str) -> AttributeError:
    """The error of ``ctx.step.<name>`` for a name it lacks: a plain ``AttributeError`` for a private name, a
    slot not set (``made``) and what Python or a library looks up on any object (``copy``, ``pickle``)."""
    slots = {slot for cls in type(x).__mro__ for slot in getattr(cls, "__slots__", ())}
    if name.startswith("_") or name in slots:
        return AttributeError(f"{type(x).__name__!r} object has no attribute {name!r}", name=name, obj=x)
    guess = _OTHER_NAMES.get(name.lower().replace("_", "")) or closest_keyword(name, _METHOD_NAMES)
    cased = " Step methods are snake_case here, as in inngest-py" if guess and name.lower() != name else ""
    hint = f" (did you mean ctx.step.{guess}?{cased})" if guess else ""
    error = UnknownStepMethod(f"ctx.step has no method {name!r}{hint}; ctx.step has: {', '.join(_METHOD_NAMES)}")
    error.name = name  # no ``obj``: Python 3.12's traceback would add a "Did you mean" of its own
    return error


_MS_LIKE = 10**11
"""A number of seconds past it is a time after the year 5138: a ``sleep_until`` to then is milliseconds since the
epoch (JavaScript's ``Date.now()``, an Inngest event's ``ts``) given for seconds."""


def _check_seconds(when: Any) -> None:
    """Refuse a ``sleep_until`` number that reads as milliseconds, saying so (as seconds it is past the year 5000)."""
    if isinstance(when, (int, float)) and not isinstance(when, bool) and _MS_LIKE < when <= MAX_NS // MS:
        raise InvalidArgument.build(
            "when", when, f"a number is seconds since the epoch, and this one looks like milliseconds "
            f"({iso(round(when * MS))}; as seconds it is past the year 5000): divide it by 1000 "
            f"(when={when / 1000:.15g}), or give an aware datetime such as "
            f"datetime.fromtimestamp(ms / 1000, timezone.utc)"
        )  # fmt: skip


def misused_value(error: InvalidArgument) -> BaseException:
    """An ``InvalidArgument`` a ``ctx.step`` method raised about its own arguments (a step id that is no string,
    ``fn`` not callable, a duration or instant that does not parse, a ``match`` that is no path, a ``mode`` other
    than wait/race) as a ``StepMisuse``, as ``misused_step`` does for a call Python could not bind: retried, it
    failed the same way on every attempt, minutes of backoff later. Only when the frame job code called is the
    step method itself (or jobsim below it), so an ``InvalidArgument`` job code raised, or got from another
    jobsim call, is retried as any error. Looked at only once an attempt has failed."""
    from ._joberrors import _library, called_below

    found = called_below(error, lambda frame: _library(frame) != "jobsim")  # job code, installed libraries too
    if found is None:
        return error
    frames, first = found
    called = frames[first]
    if called.f_code.co_name not in _STEP_METHODS or not isinstance(called.f_locals.get("self"), Execution):
        return error
    if any(frame.f_code is _invoked.__code__ for frame in frames[first:]):
        return error  # an invoke of a function a dynamic backend (RQ) may declare by the next attempt: retried
    misuse = StepMisuse(str(error))  # the message names the argument already; the traceback, the call
    misuse.__suppress_context__ = True
    return misuse.with_traceback(error.__traceback__)


def refuse_coroutine(key: str, fn: Any, value: Any) -> None:
    """A sync handler's ``step.run`` got an ``async def`` function: say how to write it."""
    if inspect.iscoroutine(value):
        value.close()
        what = "is async" if inspect.iscoroutinefunction(fn) else (  # a lambda or helper returning a coroutine
            f"returned a coroutine ({getattr(value, '__qualname__', value)}(...), which never ran): it is async all "
            "the same")  # fmt: skip
        raise InvalidArgument(
            f"step {key!r}: {getattr(fn, '__qualname__', fn)} {what}; "
            "use an `async def` handler and `await ctx.step.run(...)`"
        )


class Step(Execution):
    """``ctx.step`` for a regular (sync) handler."""

    __slots__ = ()


    def run(self, step_id: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` once, durably; retried on its own counter."""
        x = self
        key, record = x.enter_run(step_id, fn)
        if record is not None:
            return record.output
        try:  # from a frame that never returns: a failure keeps no request alive (``_calls``)
            ok, value = x.engine.calls.call(fn, args, kwargs)
        finally:
            x.in_step = False
        if not ok:  # one of JOB_ERRORS, SystemExit too: the step fails (``_checks.JOB_ERRORS``)
            raise Suspend(failure(key, value))
        if isinstance(value, CoroutineType):
            refuse_coroutine(key, fn, value)
        raise Suspend(_done(key, value, "run"))

    def sleep(self, step_id: str, duration: Duration) -> None:
        """Suspend the run for ``duration`` of virtual time."""
        x = self
        key, record = x.enter(step_id, "sleep")
        if record is not None:
            return
        raise Suspend(("sleep", key, x.now + x.engine.sleep_ns(duration_ns(duration, "duration"))))

    def sleep_until(self, step_id: str, when: Instant) -> None:
        """Suspend the run until ``when`` (an aware datetime or ISO string); past times don't wait."""
        x = self
        key, record = x.enter(step_id, "sleep")
        if record is not None:
            return
        _check_seconds(when)  # 1741500000000: milliseconds, past the year 9999 as seconds
        until = job_instant_ns(when, "when")  # one without an offset is refused saying why
        if until > x.now:
            x.engine.sleep_ns(until - x.now)  # validates against the profile's longest sleep
        raise Suspend(("sleep", key, max(x.now, until)))

    def wait_for_event(
        self,
        step_id: str,
        *,
        event: str,
        timeout: Duration,
        match: str | None = None,
        if_exp: str | Callable[[Event, Event], bool] | None = None,
    ) -> Event | None:
        """The first matching event sent after the wait starts, or ``None`` at the timeout."""
        x = self
        key, record = x.enter(step_id, "wait_for_event")
        if record is not None:
            output = record.output
            return None if output is None else Event(**output)
        if not isinstance(event, str) or not event.strip():  # no event can be named ' ': the wait would only time out
            raise InvalidArgument.build("event", event, "the name of the event to wait for")
        if "*" in event:  # matched by exact name: a pattern would only time out
            raise InvalidArgument.build("event", event, "the exact name of one event to wait for: a wait matches "
                                        "names as they are, so a '*' (a trigger's wildcard) would match no event")
        if match is not None and if_exp is not None:
            raise match_and_if("ctx.step.wait_for_event()", match, if_exp)
        checks = [compile_match(match)] if match is not None else []
        if if_exp is not None:
            checks.append(compile_expression(if_exp))
        timeout_ns = x.engine.sleep_ns(duration_ns(timeout, "timeout"))
        raise Suspend(("wait", key, event, checks, x.now + timeout_ns))

    def send_event(self, step_id: str, events: Any) -> dict[str, list[str]]:
        """Send one event or a list, once (memoized); returns ``{"ids": [...]}``."""
        x = self
        key, record = x.enter(step_id, "send_event")
        if record is not None:
            return record.output  # type: ignore[no-any-return]
        if x.engine.faults:
            x.fault(key)
        ids = x.engine.sim._emit(events)
        raise Suspend(_done(key, {"ids": ids}, "send_event"))

    def invoke(
        self, step_id: str, *, function: Any, data: Any = None, timeout: Duration | None = None, v: str | None = None
    ) -> Any:
        """Run another function with ``data`` as its event data and return its output; ``v`` is its event's ``v``."""
        x = self
        key, record = x.enter(step_id, "invoke")
        if record is not None:
            return record.output
        target = _invoked(x, function)
        if data is not None and not isinstance(data, dict):
            raise InvalidArgument.build("data", data, "the invoked function's event data, a dict")
        if v is not None and not isinstance(v, str):
            raise InvalidArgument.build("v", v, "the invoked function's event version, a string such as '2024-01-01.1'")
        # the profile's longest wait bounds it, as a wait_for_event's timeout (10**30 s overflowed the clock)
        deadline = None if timeout is None else x.now + x.engine.sleep_ns(duration_ns(timeout, "timeout",
                                                                                       allow_zero=False))
        data = json_copy("data", data) if data else {}  # sent as JSON, as every event (``_events.as_sent``)
        raise Suspend(("invoke", key, target, data, deadline, v, step_id))

    def parallel(self, callables: Sequence[Callable[[], Any]], *, mode: str = "wait") -> tuple[Any, ...]:
        """Run the steps the ``callables`` call in parallel; their outputs, in order.

        ``ctx.step.parallel([lambda: ctx.step.run("a", a), lambda: ctx.step.run("b", b)])``.
        Each new step becomes its own request with its own retry counter, all starting
        at once; ``mode="wait"`` continues the run when all have ended, ``"race"``
        after each one (Inngest's ``parallelMode``). See ``_parallel.py``.
        """
        from ._parallel import parallel

        return parallel(self, callables, mode)

    def race(self, callables: Sequence[Callable[[], Any]]) -> Any:
        """The output of the first of the ``callables`` whose steps end: ``Promise.race`` over steps in Inngest's
        ``group.parallel({mode: "race"}, ...)``, which continues the run when the first ends.

        ``ctx.step.race([lambda: ctx.step.wait_for_event("approval", event="doc/approved", timeout="1d"),
        lambda: ctx.step.sleep("deadline", "1h")])`` is the approval if it comes within the hour, else ``None``
        (the sleep's output). The steps start as ``parallel``'s do; the first to end wins (the earlier in the
        list at one instant) and stays the winner on every later request; one that failed for good raises its
        ``StepError``. The others go on (a losing ``step.run`` still runs) and their results are ignored; their
        sleeps and waits are disarmed when the run ends. See ``_parallel.race``.
        """
        from ._parallel import race

        return race(self, callables)


def _invoked(x: Execution, function: Any) -> Any:
    """The function an invoke names. One the simulation does not have (a typo in its id) is a ``StepMisuse``:
    its functions do not change, so the run fails at once rather than through its backoff (as for one that
    ``functions=`` left out), unless a backend declares its functions as user code first uses them (RQ)."""
    sim = x.engine.sim
    try:
        return sim._function(function, "function")
    except InvalidArgument as exc:
        if isinstance(exc, NonRetriableError) or any(adapted.dynamic for adapted in sim.adapted):
            raise
        raise StepMisuse(str(exc)) from None


class AsyncStep(Step):
    """``ctx.step`` for an ``async def`` handler: every method is awaited."""

    __slots__ = ()

    def _ending(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``method`` of the sync ``Step``, whose suspension ends this request (``Execution.end``)."""
        try:
            return method(self, *args, **kwargs)
        except Suspend as suspend:
            self.end(suspend)
            raise

    @awaited
    async def run(self, step_id: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        x = self
        key, record = x.enter_run(step_id, fn)
        if record is not None:
            return record.output
        try:
            value = fn(*args, **kwargs)
            if inspect.isawaitable(value):
                value = await value
        except JOB_ERRORS as exc:  # SystemExit too: the step fails (``_checks.JOB_ERRORS``)
            if type(exc) is CancelledError and _cancelled_from_outside():
                raise  # asyncio.wait_for or asyncio.timeout around the step: no outcome, as inngest-py's
            raise x.end(Suspend(failure(key, exc))) from None
        finally:
            x.in_step = False
        raise x.end(Suspend(_done(key, value, "run")))

    @awaited
    async def sleep(self, step_id: str, duration: Duration) -> None:  # type: ignore[override]
        return self._ending(Step.sleep, step_id, duration)

    @awaited
    async def sleep_until(self, step_id: str, when: Instant) -> None:  # type: ignore[override]
        return self._ending(Step.sleep_until, step_id, when)

    @awaited
    async def wait_for_event(self, step_id: str, **kwargs: Any) -> Event | None:  # type: ignore[override]
        return self._ending(Step.wait_for_event, step_id, **kwargs)

    @awaited
    async def send_event(self, step_id: str, events: Any) -> dict[str, list[str]]:  # type: ignore[override]
        return self._ending(Step.send_event, step_id, events)

    @awaited
    async def invoke(self, step_id: str, **kwargs: Any) -> Any:
        return self._ending(Step.invoke, step_id, **kwargs)

    @awaited
    async def parallel(  # type: ignore[override]
        self, callables: Sequence[Callable[[], Any]], *, mode: str = "wait"
    ) -> tuple[Any, ...]:
        from ._parallel import parallel_async

        try:
            return await parallel_async(self, callables, mode)
        except Suspend as suspend:
            self.end(suspend)
            raise

    @awaited
    async def race(self, callables: Sequence[Callable[[], Any]]) -> Any:
        from ._parallel import race_async

        try:
            return await race_async(self, callables)
        except Suspend as suspend:
            self.end(suspend)
            raise


class Context:
    """``ctx``: ``event``, ``events``, ``step``, ``attempt`` (0-based), ``run_id``, ``function_id``."""

    __slots__ = ("_fresh", "step")

    def __init__(self, step: Step) -> None:
        self.step = step
        self._fresh = False

    @property
    def event(self) -> Event:
        return self.events[0]

    @property
    def events(self) -> list[Event]:
        """Job code's copies of the run's events, with their data as sent at each request (Inngest
        hands every request the stored events): a change made to them in one request is gone in
        the next, and never reaches ``run.event``, other runs, ``sim.events`` or the trace."""
        run = self.step.run_
        own = run._own
        if own is None:
            jcs = self.step.engine.jcs
            own = run._own = [for_run(event, jcs) for event in run.events]
            self._fresh = True
        elif not self._fresh:
            self._fresh = True
            mine, sent = own[0], run.event  # one event, unchanged: the common case, checked inline
            if len(own) > 1 or (mine is not sent and (mine.data != sent.data or mine.user != sent.user)):
                refresh(own, run.events, self.step.engine.jcs)
        return own

    @property
    def attempt(self) -> int:
        return self.step.attempt

    @property
    def run_id(self) -> str:
        return self.step.run_.id

    @property
    def function_id(self) -> str:
        return self.step.run_.function.id

    def __repr__(self) -> str:
        return f"<ctx {self.function_id} run={self.run_id} attempt={self.attempt} event={self.event.name!r}>"



def _cancelled_from_outside() -> bool:
    """Whether the ``CancelledError`` a step's code raised cancels the handler's task itself: an
    ``asyncio.wait_for`` or ``asyncio.timeout`` around the step asked for it (``Task.cancelling``, 3.11+; before,
    which cannot tell, none is). The step then has no outcome and the error goes on, so the timeout becomes the
    ``TimeoutError`` the handler catches, as under inngest-py, whose step catches ``Exception`` only; one the step's
    own code raised (an inner task it awaited was cancelled) fails the step as any error."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return cancelling is not None and cancelling() > 0
