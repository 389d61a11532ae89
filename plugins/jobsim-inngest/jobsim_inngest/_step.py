"""``ctx.step`` and ``ctx.group`` for inngest-py handlers, on jobsim's durable steps.

``StepSync``/``Step`` and ``GroupSync``/``Group`` have inngest-py 0.5's signatures and
return types (``inngest/_internal/step_lib/step_sync.py``, ``step_async.py``,
``group.py``) and delegate to jobsim's durable steps: replay, memoization, per-step
retry counters, virtual sleeps and waits, parallel groups. ``_context`` builds the
``ctx`` that holds them.

Where the two differ, inngest-py wins:

* durations are ``int`` milliseconds or ``timedelta``; ``wait_for_event`` and
  ``invoke`` timeouts must be whole seconds of at least 1 s (``to_duration_str``);
* ``step.run`` takes positional handler arguments only and passes outputs through
  the client's serializer (``output_type=``);
* ``NonRetriableError``/``RetryAfterError`` raised in a ``step.run`` are not step
  failures: they leave the step and act on the function (``_errors.Bubble``);
* a step that failed for good is replayed as ``inngest.StepError``;
* ``wait_for_event`` returns an ``inngest.Event``; ``send_event`` returns the ids;
* parallel steps are ``ctx.group.parallel(callables, parallel_mode)`` — inngest-py
  0.5 has no ``step.parallel``;
* ``invoke`` data goes out as inngest-py encodes it (pydantic's JSON mode), and
  ``invoke_by_id`` returns the output as stored.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import inngest
from inngest._internal import types as inngest_types
from inngest._internal.step_lib import base as step_base

import jobsim
from jobsim._checks import listed_ids
from jobsim._steps import Suspend, load, track

from ._errors import BUBBLES, Bubble, Unsupported, async_body, json_checked, to_inngest_step_error
from ._events import events_from_inngest, to_inngest
from ._middleware import Request, invoke_opts, raise_if, wait_opts

if TYPE_CHECKING:
    from ._context import _Replay
    from .plugin import Binding

EMPTY = inngest_types.EmptySentinel
T = TypeVar("T")


def _ms_duration(value: Any, argument: str) -> dt.timedelta:
    """inngest-py's duration: ``int`` milliseconds or a ``timedelta``."""
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return dt.timedelta(milliseconds=value)
    raise jobsim.InvalidArgument.build(argument, value, "an int of milliseconds or a datetime.timedelta")


def whole_seconds(value: Any, argument: str) -> dt.timedelta:
    """A duration inngest-py sends as a string: at least 1 s, whole seconds (``transforms.to_duration_str``)."""
    delta = _ms_duration(value, argument)
    ms = int(delta.total_seconds() * 1000)
    if ms < 1000 or ms % 1000:
        raise jobsim.InvalidArgument.build(
            argument, value, "inngest-py requires a whole number of seconds, at least 1 s (ints are milliseconds)"
        )
    return dt.timedelta(milliseconds=ms)  # what it sends: below a millisecond is cut, as its int() cuts it


class _AI:
    def infer(self, step_id: str, **kwargs: Any) -> Any:
        raise Unsupported(
            f"step.ai.infer({step_id!r}) is not simulated by jobsim-inngest: the request is made by the Inngest "
            "server; wrap your model call in step.run to test it, with sim.http scripting the response"
        )


class _StepBase:
    """What the sync and async ``ctx.step`` share: conversions around jobsim's step."""

    def __init__(self, x: Any, binding: Binding, replay: _Replay, mw: Request | None = None) -> None:
        self._x = x
        self._binding = binding
        self._replay = replay
        self._mw = mw
        self.ai = _AI()

    def _report(self, step_id: Any, opts: Callable[[], Any] | None = None) -> tuple[bool, Any]:
        """With middleware: the step's memo as ``transform_input`` left it; ``before_execution`` when
        no memo is left (sync hooks; the async ``ctx.step`` awaits them in ``_report_async``)."""
        mw = self._mw
        if mw is None or not isinstance(step_id, str):
            return False, None
        hit, data = mw.report(step_id, opts)
        if mw.replayed:
            mw.manager.before_execution_sync()  # report_step ignores its error
        return hit, data

    async def _report_async(self, step_id: Any, opts: Callable[[], Any] | None = None) -> tuple[bool, Any]:
        mw = self._mw
        if mw is None or not isinstance(step_id, str):
            return False, None
        hit, data = mw.report(step_id, opts)
        if mw.replayed:
            await mw.manager.before_execution()
        return hit, data

    @property
    def parallel(self) -> Any:
        raise AttributeError(
            "inngest-py 0.5 has no step.parallel; run steps in parallel with "
            "ctx.group.parallel((lambda: ctx.step.run('a', a), lambda: ctx.step.run('b', b)))"
        )

    _awaits = False

    def _body(
        self, step_id: str, handler: Callable[..., Any], args: tuple[Any, ...], output_type: Any
    ) -> Callable[[], Any]:
        serialize, awaits = self._binding.serialize, self._awaits
        if not callable(handler):
            raise jobsim.InvalidArgument.build("handler", handler, "the function the step runs")
        mw = self._mw
        checked: Callable[[Any, str | None], Any] = json_checked if mw is None else mw.raw_output

        def body() -> Any:
            try:
                value = handler(*args)
            except BUBBLES as err:
                raise Bubble(err) from None
            if inspect.isawaitable(value):
                if awaits:
                    return _awaiting(value, serialize, output_type, checked, step_id)
                if inspect.iscoroutine(value):
                    value.close()
                raise async_body(step_id, handler)
            return checked(serialize(value, output_type), step_id)

        return body

    def _sleep_args(self, duration: Any) -> dt.timedelta:
        delta = _ms_duration(duration, "duration")
        return max(delta, dt.timedelta(0))  # inngest-py sleeps until now + duration: a past time does not wait

    def _until(self, until: Any) -> dt.datetime:
        if not isinstance(until, dt.datetime):
            raise jobsim.InvalidArgument.build("until", until, "a datetime (naive means local time, as in inngest-py)")
        return until if until.tzinfo is not None and until.utcoffset() is not None else until.astimezone()

    def _wait_args(self, event: Any, if_exp: Any, timeout: Any) -> dict[str, Any]:
        if if_exp is not None and not isinstance(if_exp, str):
            raise jobsim.InvalidArgument.build("if_exp", if_exp, "a CEL expression string over event and async")
        return {"event": event, "if_exp": if_exp, "timeout": whole_seconds(timeout, "timeout")}

    def _invoke_args(self, function_id: str, data: Any, timeout: Any, v: Any = None) -> dict[str, Any]:
        sim = self._x.engine.sim
        if function_id not in sim.functions:
            selection = sim._selection  # one the test left out (functions=/exclude_functions=): say how to select it
            if selection is not None and selection.find(function_id) is not None:
                sim._function(function_id, "function")
            raise jobsim.InvalidArgument(
                f"step.invoke: function {function_id!r} is not part of this simulation; pass it to "
                f"jobsim.Simulation([...]) too (simulated: {listed_ids(sim.functions, function_id)})"
            )
        if data is not None and not isinstance(data, Mapping):
            raise jobsim.InvalidArgument.build("data", data, "a mapping: it becomes the invoked function's event.data")
        # inngest-py sends it through pydantic's JSON mode (``InvokeOpts.to_dict``): a datetime becomes its ISO
        # string ("Z" for UTC), a set a list, a Decimal or a timedelta a string
        # v: the invoked function's event.v (``InvokeOptsPayload``, strict: a non-string fails there, as in the SDK)
        payload = step_base.InvokeOptsPayload(data=dict(data or {}), v=v).to_dict()
        if isinstance(payload, Exception):
            raise jobsim.InvalidArgument.build(
                "data", data, f"inngest-py sends it as JSON (pydantic's JSON mode), which fails: {payload}"
            )
        kwargs: dict[str, Any] = {"function": function_id, "data": payload["data"], "v": payload.get("v")}
        if timeout is not None:
            kwargs["timeout"] = whole_seconds(timeout, "timeout")
        return kwargs

    def _invoked(self, function: Any) -> str:
        """``step.invoke(function=fn)`` names ``fn`` by the *calling* client's app id and ``fn``'s local id
        (``step_sync.py : invoke``); for a function of another app that is not ``fn``."""
        target = f"{self._binding.app_id}-{function._opts.local_id}"
        if target != function.id:
            other = function.id[: -len(function._opts.local_id) - 1]
            raise jobsim.InvalidArgument(
                f"step.invoke(function=...) of {function.id!r} from app {self._binding.app_id!r}: inngest-py invokes "
                f"{target!r} (the calling client's app id with the function's id), not {function.id!r}; for a "
                f"function of app {other!r} use step.invoke_by_id(..., app_id={other!r}, "
                f"function_id={function._opts.local_id!r})"
            )
        return target

    def _by_id(self, app_id: str | None, function_id: str) -> tuple[str, Any]:
        """``invoke_by_id``'s target; its output is returned as stored, not deserialized (``step_sync.py``)."""
        return f"{app_id or self._binding.app_id}-{function_id}", EMPTY


async def _awaiting(
    value: Any,
    serialize: Callable[[Any, Any], Any],
    output_type: Any,
    checked: Callable[[Any, str | None], Any],
    step_id: str,
) -> Any:
    try:
        result = await value
    except BUBBLES as err:
        raise Bubble(err) from None
    return checked(serialize(result, output_type), step_id)


class StepSync(_StepBase):
    """``ctx.step`` of a sync handler (``inngest.StepSync``'s methods)."""

    def run(self, step_id: str, handler: Callable[..., Any], *handler_args: Any, output_type: object = EMPTY) -> Any:
        """Run ``handler(*handler_args)`` once, durably; retried on the step's own counter."""
        hit, data = self._report(step_id)
        try:
            value = self._x.run(step_id, self._body(step_id, handler, handler_args, output_type))
            if hit:
                value = data
        except Bubble as bubble:
            raise bubble.error from None
        except jobsim.StepError as err:
            self._replay.seen += 1
            raise to_inngest_step_error(err) from None
        self._replay.seen += 1
        return self._binding.deserialize(value, output_type)

    def sleep(self, step_id: str, duration: int | dt.timedelta) -> None:
        """Sleep ``duration`` (int milliseconds or timedelta) of virtual time."""
        self._report(step_id)
        self._x.sleep(step_id, self._sleep_args(duration))
        self._replay.seen += 1

    def sleep_until(self, step_id: str, until: dt.datetime) -> None:
        self._report(step_id)
        self._x.sleep_until(step_id, self._until(until))
        self._replay.seen += 1

    def wait_for_event(
        self, step_id: str, *, event: str, if_exp: str | None = None, timeout: int | dt.timedelta
    ) -> inngest.Event | None:
        """The first matching event sent after the wait starts, or ``None`` at the timeout."""
        hit, data = self._report(step_id, lambda: wait_opts(if_exp, timeout))
        got = self._x.wait_for_event(step_id, **self._wait_args(event, if_exp, timeout))
        self._replay.seen += 1
        return _waited(got, hit, data)

    def send_event(self, step_id: str, events: inngest.Event | list[inngest.Event]) -> list[str]:
        """Send events once (memoized); returns their ids."""
        hit, data = self._report(step_id)
        mw = self._mw
        if mw is None or hit:
            out = self._x.send_event(step_id, events_from_inngest(events))
            self._replay.seen += 1
            return list(data if hit else out["ids"])
        batch = events if isinstance(events, list) else [events]
        raise_if(mw.manager.before_send_events_sync(batch))  # inside the step, as step_sync.send_event
        try:
            self._x.send_event(step_id, events_from_inngest(batch))
        except Suspend as suspend:
            raise_if(mw.manager.after_send_events_sync(_sent(suspend)))
            raise
        raise AssertionError("unreachable: a new send_event step ends the request")  # pragma: no cover

    def invoke(
        self,
        step_id: str,
        *,
        function: inngest.Function[Any],
        data: Mapping[str, object] | None = None,
        timeout: int | dt.timedelta | None = None,
        v: str | None = None,
    ) -> Any:
        """Run another simulated function with ``data`` as its event data; its output."""
        if not isinstance(function, inngest.Function):
            raise jobsim.InvalidArgument.build("function", function, "an inngest.Function (use invoke_by_id for an id)")
        return self._invoke(step_id, self._invoked(function), data, timeout, function._output_type, v)

    def invoke_by_id(
        self,
        step_id: str,
        *,
        app_id: str | None = None,
        function_id: str,
        data: Mapping[str, object] | None = None,
        timeout: int | dt.timedelta | None = None,
        v: str | None = None,
    ) -> object:
        target, output_type = self._by_id(app_id, function_id)
        return self._invoke(step_id, target, data, timeout, output_type, v)

    def _invoke(self, step_id: str, function_id: str, data: Any, timeout: Any, output_type: Any, v: Any) -> Any:
        kwargs = self._invoke_args(function_id, data, timeout, v)
        hit, memo = self._report(step_id, lambda: invoke_opts(function_id, data, timeout, v))
        try:
            value = self._x.invoke(step_id, **kwargs)
            if hit:
                value = memo
        except jobsim.StepError as err:
            self._replay.seen += 1
            raise to_inngest_step_error(err) from None
        self._replay.seen += 1
        return self._binding.deserialize(value, output_type)


def _awaited(method: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., Coroutine[Any, Any, T]]:
    """A step method of the async ``ctx.step``/``ctx.group``, remembered on the execution when called.

    Called without ``await``, its coroutine never runs and jobsim's own step is never
    reached; the engine then fails the attempt naming the step (``jobsim._execution.unawaited``).
    """

    name = method.__name__

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, T]:
        if name == "parallel":  # ctx.group.parallel(callables): no step id to name
            return track(self._x, None, method(self, *args, **kwargs), "group.parallel")
        step_id = args[0] if args else kwargs.get("step_id", name)
        return track(self._x, step_id, method(self, *args, **kwargs), f"step.{name}")

    return call


class Step(_StepBase):
    """``ctx.step`` of an ``async def`` handler (``inngest.Step``'s methods, awaited)."""

    _awaits = True

    @_awaited
    async def run(
        self, step_id: str, handler: Callable[..., Any], *handler_args: Any, output_type: object = EMPTY
    ) -> Any:
        hit, data = await self._report_async(step_id)
        try:
            value = await self._x.run(step_id, self._body(step_id, handler, handler_args, output_type))
            if hit:
                value = data
        except Bubble as bubble:
            raise bubble.error from None
        except jobsim.StepError as err:
            self._replay.seen += 1
            raise to_inngest_step_error(err) from None
        self._replay.seen += 1
        return self._binding.deserialize(value, output_type)

    @_awaited
    async def sleep(self, step_id: str, duration: int | dt.timedelta) -> None:
        await self._report_async(step_id)
        await self._x.sleep(step_id, self._sleep_args(duration))
        self._replay.seen += 1

    @_awaited
    async def sleep_until(self, step_id: str, until: dt.datetime) -> None:
        await self._report_async(step_id)
        await self._x.sleep_until(step_id, self._until(until))
        self._replay.seen += 1

    @_awaited
    async def wait_for_event(
        self, step_id: str, *, event: str, if_exp: str | None = None, timeout: int | dt.timedelta
    ) -> inngest.Event | None:
        hit, data = await self._report_async(step_id, lambda: wait_opts(if_exp, timeout))
        got = await self._x.wait_for_event(step_id, **self._wait_args(event, if_exp, timeout))
        self._replay.seen += 1
        return _waited(got, hit, data)

    @_awaited
    async def send_event(self, step_id: str, events: inngest.Event | list[inngest.Event]) -> list[str]:
        hit, data = await self._report_async(step_id)
        mw = self._mw
        if mw is None or hit:
            out = await self._x.send_event(step_id, events_from_inngest(events))
            self._replay.seen += 1
            return list(data if hit else out["ids"])
        batch = events if isinstance(events, list) else [events]
        raise_if(await mw.manager.before_send_events(batch))
        try:
            await self._x.send_event(step_id, events_from_inngest(batch))
        except Suspend as suspend:
            raise_if(await mw.manager.after_send_events(_sent(suspend)))
            raise
        raise AssertionError("unreachable: a new send_event step ends the request")  # pragma: no cover

    @_awaited
    async def invoke(
        self,
        step_id: str,
        *,
        function: inngest.Function[Any],
        data: Mapping[str, object] | None = None,
        timeout: int | dt.timedelta | None = None,
        v: str | None = None,
    ) -> Any:
        if not isinstance(function, inngest.Function):
            raise jobsim.InvalidArgument.build("function", function, "an inngest.Function (use invoke_by_id for an id)")
        return await self._invoke(step_id, self._invoked(function), data, timeout, function._output_type, v)

    @_awaited
    async def invoke_by_id(
        self,
        step_id: str,
        *,
        app_id: str | None = None,
        function_id: str,
        data: Mapping[str, object] | None = None,
        timeout: int | dt.timedelta | None = None,
        v: str | None = None,
    ) -> object:
        target, output_type = self._by_id(app_id, function_id)
        return await self._invoke(step_id, target, data, timeout, output_type, v)

    async def _invoke(self, step_id: str, function_id: str, data: Any, timeout: Any, output_type: Any, v: Any) -> Any:
        kwargs = self._invoke_args(function_id, data, timeout, v)
        hit, memo = await self._report_async(step_id, lambda: invoke_opts(function_id, data, timeout, v))
        try:
            value = await self._x.invoke(step_id, **kwargs)
            if hit:
                value = memo
        except jobsim.StepError as err:
            self._replay.seen += 1
            raise to_inngest_step_error(err) from None
        self._replay.seen += 1
        return self._binding.deserialize(value, output_type)


def _mode(parallel_mode: Any) -> str:
    if not isinstance(parallel_mode, inngest.ParallelMode):
        raise jobsim.InvalidArgument.build(
            "parallel_mode", parallel_mode, "inngest.ParallelMode.WAIT or inngest.ParallelMode.RACE"
        )
    return str(parallel_mode.value)


class GroupSync:
    """``ctx.group`` of a sync handler: ``parallel`` as in inngest-py's ``GroupSync``."""

    def __init__(self, x: Any) -> None:
        self._x = x

    def parallel(
        self,
        callables: tuple[Callable[[], Any], ...],
        parallel_mode: inngest.ParallelMode = inngest.ParallelMode.WAIT,
    ) -> tuple[Any, ...]:
        """Run the steps the callables call in parallel, each with its own retries; their outputs."""
        return self._x.parallel(callables, mode=_mode(parallel_mode))  # type: ignore[no-any-return]


class Group:
    """``ctx.group`` of an ``async def`` handler."""

    def __init__(self, x: Any) -> None:
        self._x = x

    @_awaited
    async def parallel(
        self,
        callables: tuple[Callable[[], Any], ...],
        parallel_mode: inngest.ParallelMode = inngest.ParallelMode.WAIT,
    ) -> tuple[Any, ...]:
        return await self._x.parallel(callables, mode=_mode(parallel_mode))  # type: ignore[no-any-return]


def _waited(got: Any, hit: bool, data: Any) -> inngest.Event | None:
    if hit:  # the memo as the middleware's transform_input left it
        return None if data is None else inngest.Event.model_validate(data)
    return None if got is None else to_inngest(got)


def _sent(suspend: Suspend) -> Any:
    """``after_send_events``'s ``SendEventsResult`` from a new ``send_event`` step's outcome."""
    from inngest._internal.client_lib import SendEventsResult

    op = suspend.op
    ids = load(op[2])["ids"] if op[0] == "done" else []
    return SendEventsResult(ids=ids, error=None if op[0] == "done" else str(op[2]))
