"""``ctx`` for inngest-py handlers, on jobsim's engine.

The handler gets a real ``inngest.ContextSync`` (``inngest.Context`` for ``async
def``) whose ``step`` and ``group`` (``_step``) delegate to jobsim's durable steps:
replay, memoization, per-step retry counters, virtual sleeps and waits, parallel
groups. This module builds that ``ctx`` and runs each request:

* ``ctx.logger`` is silent while memoized steps replay (``middleware_lib/log.py``);
* the client's and the function's middleware run around every request (``_middleware``);
* the function's output passes through the client's serializer, and what the
  function raises leaves as jobsim reads it (``_errors.bridge``).

How ``ctx.step`` differs from jobsim's own steps, and why, is in ``_step``.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import inngest
from inngest._internal import execution_lib
from inngest._internal import types as inngest_types

from jobsim._steps import Suspend

from ._errors import Abort, bridge, in_inngest_words, json_checked
from ._events import to_inngest
from ._middleware import Request, check_sync, declared, function_result, raise_if
from ._step import EMPTY as EMPTY  # re-exported, as whole_seconds: plugin and _config import them from here
from ._step import Group, GroupSync, Step, StepSync
from ._step import whole_seconds as whole_seconds

if TYPE_CHECKING:
    from .plugin import Binding

EMPTY_OUTPUT = inngest_types.empty_sentinel
DEFAULT_LOGGER = "inngest._internal.client_lib.client"  # what an inngest.Inngest() logs to by default
_LOG_METHODS = frozenset({"critical", "debug", "error", "exception", "fatal", "info", "log", "warn", "warning"})


class _Replay:
    """Counts memoized steps a request has replayed, for the logger."""

    __slots__ = ("finished", "seen", "x")

    def __init__(self, x: Any) -> None:
        self.x = x
        self.seen = 0
        self.finished: int | None = None

    @property
    def over(self) -> bool:
        if self.finished is None:  # no step ends while a request runs, so counting once is enough
            self.finished = sum(1 for r in self.x.run_.steps.values() if r.status in ("completed", "failed"))
        return self.seen >= self.finished


class ReplayLogger:
    """``ctx.logger``: the client's logger, silent until the request is past its memoized steps."""

    def __init__(self, logger: Any, replay: _Replay) -> None:
        self._logger = logger
        self._replay = replay

    def __getattr__(self, name: str) -> Any:
        if name in _LOG_METHODS and not self._replay.over:
            return _silent
        return getattr(self._logger, name)


def _silent(*args: Any, **kwargs: Any) -> None:
    return None


def make_handler(binding: Binding, user: Callable[..., Any], output_type: Any) -> Callable[[Any], Any]:
    """The jobsim handler that runs ``user`` (an inngest-py handler) with an inngest-py ``ctx``.

    With middleware (the client's, then the function's), each request runs their hooks
    around the handler in inngest-py's order (``_middleware``).
    """
    if inspect.iscoroutinefunction(user):

        async def handler_async(ctx: Any) -> Any:
            middleware = declared(binding)
            try:
                if middleware:
                    return await _with_middleware_async(binding, user, output_type, ctx, middleware)
                step, ictx = _context(binding, ctx.step, is_async=True)
                with _running(step):
                    output = await user(ictx)
                return _output(binding, output, output_type)
            finally:
                in_inngest_words(ctx.step.strayed)  # a step another thread called

        return handler_async

    def handler(ctx: Any) -> Any:
        middleware = declared(binding)
        try:
            if middleware:
                return _with_middleware(binding, user, output_type, ctx, middleware)
            step, ictx = _context(binding, ctx.step, is_async=False)
            with _running(step):
                output = user(ictx)
            return _output(binding, output, output_type)
        finally:
            in_inngest_words(ctx.step.strayed)

    return handler


def _with_middleware(
    binding: Binding, user: Callable[..., Any], output_type: Any, ctx: Any, middleware: list[Any]
) -> Any:
    """One request of a sync function with middleware (``execution_lib/v0.py : run``, ``function.py : call_sync``).

    A hook's error replaces the request's result, which still goes through
    ``transform_output`` and ``before_response`` (``CallResult(err)``); an error of
    ``transform_output`` skips ``before_response``.
    """
    mw = Request(binding, ctx.step, middleware)
    check_sync(binding, mw.manager.middleware)
    step, ictx = _context(binding, ctx.step, is_async=False, mw=mw)
    manager = mw.manager
    op: tuple[Any, ...] | None = None
    err = manager.transform_input_sync(ictx, binding.fn, mw.memos)
    if err is None and mw.replayed:
        err = manager.before_execution_sync()
    if err is not None:
        result: Any = function_result(error=err)
    else:
        try:
            with execution_lib.set_step_context(step):
                output = user(ictx)
            output = binding.serialize(output, output_type)
        except Suspend as suspend:  # the first new step ended the request
            err = manager.after_execution_sync()
            result, op = (function_result(error=err), None) if err is not None else mw.step_result(suspend)
        except Exception as error:  # UserError: no after_execution
            result = function_result(error=error)
        else:
            err = manager.after_execution_sync()
            result = function_result(error=err) if err is not None else function_result(output=output)
    if result is not None:
        raise_if(manager.transform_output_sync(result))
    raise_if(manager.before_response_sync())
    return _outcome(binding, mw, result, op)


async def _with_middleware_async(
    binding: Binding, user: Callable[..., Any], output_type: Any, ctx: Any, middleware: list[Any]
) -> Any:
    """One request of an ``async def`` function with middleware (``function.py : call``); as ``_with_middleware``."""
    mw = Request(binding, ctx.step, middleware)
    step, ictx = _context(binding, ctx.step, is_async=True, mw=mw)
    manager = mw.manager
    op: tuple[Any, ...] | None = None
    err = await manager.transform_input(ictx, binding.fn, mw.memos)
    if err is None and mw.replayed:
        err = await manager.before_execution()
    if err is not None:
        result: Any = function_result(error=err)
    else:
        try:
            with execution_lib.set_step_context(step):
                output = await user(ictx)
            output = binding.serialize(output, output_type)
        except Suspend as suspend:
            err = await manager.after_execution()
            result, op = (function_result(error=err), None) if err is not None else mw.step_result(suspend)
        except Exception as error:
            result = function_result(error=error)
        else:
            err = await manager.after_execution()
            result = function_result(error=err) if err is not None else function_result(output=output)
    if result is not None:
        raise_if(await manager.transform_output(result))
    raise_if(await manager.before_response())
    return _outcome(binding, mw, result, op)


def _outcome(binding: Binding, mw: Request, result: Any, op: tuple[Any, ...] | None) -> Any:
    """What the request returns to jobsim's engine once the middleware is done with its result."""
    if op is not None:  # a new step: its (possibly transformed) result; a parallel group's plan as it was
        raise Suspend(op if result is None else mw.rebuilt(result, op))
    if result.error is not None:
        error = result.error
        raise _leaving(error) from error.__cause__
    return _output(binding, None if result.output is EMPTY_OUTPUT else result.output, EMPTY)


def _output(binding: Binding, output: Any, output_type: Any) -> Any:
    try:
        return json_checked(binding.serialize(output, output_type), None)
    except Abort as abort:
        raise abort.error from None


@contextlib.contextmanager
def _running(step: Any) -> Iterator[None]:
    """The user's function runs with ``step`` as the SDK's step context; what it raises leaves as jobsim reads it
    (an ``Abort``'s error; an SDK error bridged to jobsim's own)."""
    try:
        with execution_lib.set_step_context(step):
            yield
    except Abort as abort:
        raise abort.error from None
    except Exception as err:
        raise _leaving(err) from err.__cause__


def _leaving(err: Exception) -> BaseException:
    bridged = bridge(err)
    return err if bridged is err else bridged


def _context(binding: Binding, x: Any, *, is_async: bool, mw: Request | None = None) -> tuple[Any, Any]:
    """A real ``inngest.Context``/``ContextSync`` (dataclasses, so they take our duck-typed parts)."""
    run = x.run_
    events = [to_inngest(e, x.engine) for e in run.events]
    replay = _Replay(x)
    client = binding.client()
    logger = ReplayLogger(client.logger if client is not None else logging.getLogger(DEFAULT_LOGGER), replay)
    fields: dict[str, Any] = {
        "attempt": x.attempt, "event": events[0], "events": events, "job_id": None, "request_id": None,
        "run_id": run.id, "logger": logger,
    }  # fmt: skip
    if is_async:
        step: Any = Step(x, binding, replay, mw)
        fields["group"] = Group(x)
        return step, inngest.Context(**fields, step=step)
    step = StepSync(x, binding, replay, mw)
    fields["group"] = GroupSync(x)
    return step, inngest.ContextSync(**fields, step=step)
