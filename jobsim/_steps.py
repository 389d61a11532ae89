"""``ctx`` and ``ctx.step``: durable steps in Inngest's replay model.

Each request re-executes the handler from the top. A step whose id has a stored
result returns it (or re-raises its stored error as ``StepError``) without running.
The first step without a result ends the request: a ``step.run`` executes its code
and stores the outcome; ``sleep``, ``wait_for_event`` and ``invoke`` are planned;
the engine then schedules the next request. Code outside steps therefore runs on
every request — as on Inngest, it must be deterministic and free of side effects.

The request is ended by raising ``Suspend``, a ``BaseException`` so that a
handler's ``except Exception`` does not swallow it (a bare ``except:`` would).
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import CoroutineType
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from ._checks import JOB_ERRORS, closest_keyword
from ._events import _WIDE, Event, Wide, canonical, for_run, json_copy, refresh, through_doubles
from ._expr import compile_expression, compile_match
from ._safe import shown
from ._time import Duration, Instant, duration_ns, instant_ns
from .errors import InvalidArgument, JobsimError, NonRetriableError, StepError, StepMisuse, UnsupportedFeature

T = TypeVar("T")

if TYPE_CHECKING:
    from ._engine import Engine
    from ._parallel import Plan
    from ._records import Run, StepRecord

_DUMP_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_STRICT_INTEGER  # past 53 bits: dump


class Suspend(BaseException):
    """Ends a request after its first new step; carries what the engine must do: ``Suspend(op)``.

    ``op`` is the exception's one argument (``args[0]``), so making one runs no Python
    ``__init__`` (a frame per request); the engine reads ``args[0]`` itself."""

    __slots__ = ()

    @property
    def op(self) -> tuple[Any, ...]:
        return self.args[0]  # type: ignore[no-any-return]


class UnserializableOutput(NonRetriableError, JobsimError):
    """A step or handler returned something that cannot be stored as JSON."""


class TooManySteps(NonRetriableError, JobsimError):
    """A run reached its profile's ``max_steps``. Inngest fails such a run at once, without retries
    (``executor.go : checkStepLimit``, ``state.ErrFunctionOverflowed``). Each new step re-runs the handler
    from the top, so a loop of steps without this bound cost time quadratic in its length (4,000 steps:
    6 s; an endless one never ended)."""


def dump(value: Any, what: str, name: str | None = None) -> Any:
    """Serialize as Inngest stores outputs: JSON, so datetimes come back as strings. An error names
    ``what`` returned the value, followed by ``name``'s repr if given (``dump(v, "step", key)``: made
    only for an error, not on every step's success).

    Values whose JSON round trip is the identity (``None``, bools, 64-bit ints, finite
    floats, ASCII strings) are kept as they are, and ``load`` hands them back: the
    replay semantics are unchanged and the hot path skips two codec calls. Anything
    else is stored as JSON bytes. An int past 53 bits comes back as the double Inngest hands
    on: the server keeps a step's output as the raw JSON the SDK sent (``state/opcode.go :
    GeneratorOpcode.Data json.RawMessage``), but writes each request to the SDK through JCS
    (``driver.go : MarshalV1`` -> ``jcs.Transform``), which prints every number as a
    JavaScript double (``_events.through_doubles``, as for event data).
    """
    kind = type(value)
    if value is None or kind is bool or (kind is str and value.isascii()):
        return value
    if kind is int and -(1 << 53) <= value <= (1 << 53):
        return value
    if kind is float and value - value == 0.0:
        return value
    try:
        return orjson.dumps(value, option=_DUMP_OPTIONS)
    except TypeError as exc:
        if name is not None:
            what = f"{what} {name!r}"
        if str(exc) in _WIDE:

            def too_big(number: int) -> Exception:
                return UnserializableOutput(
                    f"{what} returned {shown(value)}, which holds {shown(number)}, past a float64's range: Inngest "
                    "reads every number as one and cannot hand it back; return it as a string")

            try:
                return through_doubles(value, too_big, _DUMP_OPTIONS & ~orjson.OPT_STRICT_INTEGER)
            except TypeError as again:  # a big int orjson reached inside another type (a dataclass)
                exc = again
        raise UnserializableOutput(
            f"{what} returned {shown(value)}, which cannot be stored as JSON ({exc}); Inngest memoizes "
            "outputs as JSON, so return plain data (dict, list, str, number, bool, None, datetime)"
        ) from None


_REWRITTEN = re.compile(rb"[0-9][.e]|[{]")  # what JCS may change in orjson's text: a float ("1.0", "1e+20"), an object


def as_requested(payload: Any) -> Any:
    """A stored output (``dump``) as the next request hands it to job code on Inngest: a step's output,
    a wait's event and an invoked function's output are saved as step state, sent in the request's
    ``steps`` through JCS (``driver.go : MarshalV1``: ``req.Actions[stepId] = steps[stepId]``, then
    ``jcs.Transform``), so their keys come sorted and an integral float comes as an int
    (``_events.canonical``). The same object when nothing changes, which is the common case."""
    kind = type(payload)
    if kind is float:
        return canonical(payload)
    if kind is bytes:
        if _REWRITTEN.search(payload) is None:
            return payload
        value = canonical(orjson.loads(payload))
    elif kind is Wide:
        value = canonical(json.loads(payload))
    else:
        return payload
    try:
        return orjson.dumps(value, option=orjson.OPT_STRICT_INTEGER)
    except TypeError:  # an int past 53 bits: a double's value already, kept as through_doubles writes it
        return through_doubles(value, OverflowError)


def failure(key: str | None, exc: BaseException) -> tuple[Any, ...]:
    """The outcome of job code that raised ``exc``: the step (``key``) or the request failed, unless
    ``exc`` is a refusal (``UnsupportedFeature``: something the simulated system, or a backend
    plugin, does not have). No retry can work around a refusal, and a failed attempt would hide
    it among job errors, so it leaves the simulation: the driving call raises it.

    Dropping jobsim's frame from the traceback alone does not free the request: job code's
    frame still links to its caller's (``f_back``), and so on up. A step's job code is called
    from a frame that never returns (``_calls``), which ends that chain; an error raised in the
    handler itself still keeps its request's ``_request`` frame."""
    if isinstance(exc, UnsupportedFeature):
        return ("unsupported", exc)
    tb = exc.__traceback__  # drop jobsim's own frame: the traceback starts in job code (docstring)
    if tb is not None and tb.tb_next is not None:
        exc.__traceback__ = tb.tb_next
    return ("error", exc) if key is None else ("failed", key, exc)


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


def refuse_coroutine(key: str, fn: Any, value: Any) -> None:
    """A sync handler's ``step.run`` got an ``async def`` function: say how to write it."""
    if inspect.iscoroutine(value):
        value.close()
        raise InvalidArgument(
            f"step {key!r}: {getattr(fn, '__qualname__', fn)} is async; "
            "use an `async def` handler and `await ctx.step.run(...)`"
        )


def load(payload: Any) -> Any:
    """The stored output, as a fresh JSON round trip (see ``dump``)."""
    kind = type(payload)
    if kind is bytes:
        return orjson.loads(payload)
    return json.loads(payload) if kind is Wide else payload  # json: an int past 64 bits stays exact


class Execution:
    """One request: the run, which attempt this is, and its own clock.

    The execution is also ``ctx.step`` (``Step``/``AsyncStep`` subclass it), which
    saves an object per request on the hot path.
    """

    __slots__ = ("attempt", "ended", "engine", "in_step", "made", "now", "plan", "run_", "seen", "start", "strayed",
                 "thread")
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
        self.strayed: StepMisuse | None = None  # a step lost outside the request (``stray``, ``together``)
        self.ended: str | None = None  # what ended an async handler's request (``end``), while tasks still run

    def key(self, step_id: Any) -> str:
        """The step id, with ``:n`` appended on its n-th reuse in this request."""
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
        return step_id if count == 0 else f"{step_id}:{count}"

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

    def end(self, suspend: Suspend) -> Suspend:
        """``suspend`` ends this request (an async handler's step); remembered for ``together``. Not while
        a parallel group plans or targets its steps: those suspensions stay inside the group."""
        if self.plan is None and self.ended is None:
            op = suspend.op
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
            key = step_id if count == 0 else f"{step_id}:{count}"
        else:
            key = self.key(step_id)
        return key, self.memo(key, kind)

    def enter_run(self, step_id: Any, fn: Any) -> tuple[str, StepRecord | None]:
        """``enter`` for ``step.run``; when the step must run now, checks ``fn``, applies
        any fault ``sim.fail`` queued for it, and marks the execution as inside a step."""
        key, record = self.enter(step_id, "run")
        if record is None:
            if not callable(fn):
                raise InvalidArgument.build("fn", fn, f"step {key!r} needs a callable to run")
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
        until = instant_ns(when, "when")
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


def _done(key: str, value: Any, kind: str) -> tuple[Any, ...]:
    try:
        return ("done", key, dump(value, "step", key), kind)
    except UnserializableOutput as exc:
        return ("failed", key, exc)


def awaited(method: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., Coroutine[Any, Any, T]]:
    """An async step method whose every call this request is remembered (``unawaited``).

    ``ctx.step.run("charge", charge)`` without ``await`` makes a coroutine that never
    runs: the step is silently skipped, and Python's "never awaited" warning comes,
    if at all, when the coroutine is collected. The engine asks ``unawaited`` when the
    request ends and fails the attempt naming the step instead.
    """

    name = method.__name__
    if name == "parallel":  # its first argument is the list of callables, not a step id
        @functools.wraps(method)
        def group(self: Execution, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, T]:
            return track(self, None, method(self, *args, **kwargs), "step.parallel")

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


def strayed(stray: StepMisuse, op: tuple[Any, ...]) -> tuple[Any, ...]:
    """``op``, or the attempt's failure: a thread the handler started called a new step (``Execution.stray``),
    or an async handler's task did after another step ended the request (``Execution.together``).

    The request's own outcome cannot stand: the step it lost never ran. When the handler
    collected the error (``future.result()``) and let it propagate, ``op`` already says so;
    otherwise, as for ``unawaited``, the handler's own error becomes the cause, and the
    attempt is not retried.
    """
    if op[0] == "unsupported":
        return op
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

