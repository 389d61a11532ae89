"""inngest-py middleware, run per request as the SDK runs it.

inngest-py builds a fresh ``MiddlewareManager`` for every request the server makes
(``comm_lib/handler.py``): one instance of each of the client's middleware, then the
function's (``function.py : Function.call``). Within a request the hooks run in
this order (``execution_lib/v0.py : ExecutionV0Sync.run``, ``middleware_lib/manager.py``):

1. ``transform_input(ctx, function, steps)``, first to last: ``steps`` holds the
   memoized outputs by hashed step id; a middleware may change ``ctx`` and the
   memos' ``data`` (what the replayed steps return in this request);
2. ``before_execution``, first to last, once, when no memo is left to replay: at the
   start of a request with no memo, else when the last memoized step is reached
   (``report_step``);
3. the handler; it ends by returning, by raising, or at its first new step;
4. ``after_execution``, last to first — not when the handler raised;
5. ``transform_output(result)``, last to first, with the function's output or error
   (``result.step`` is ``None``) or the new step's (``result.step`` names it; a step
   that waits, sleeps or invokes has no output); changes to ``output`` and ``error``
   are kept: the step's memoized output, the run's output;
6. ``before_response``, first to last.

A hook that raises fails the request with its error (retried like any error). Client
``send``/``send_sync`` run ``before_send_events``/``after_send_events`` of the
client's middleware, ``step.send_event`` those of the request's (``_send``,
``_context``). The SDK's own ``LoggerMiddleware`` is not added: ``ctx.logger`` is
already silent while memoized steps replay (``_context.ReplayLogger``).

The hooks are the SDK's own manager's (``MiddlewareManager``): jobsim only feeds it
the request's context, memos and results.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import inngest
from inngest._internal import errors as inngest_errors
from inngest._internal import execution_lib, middleware_lib, net, server_lib, transforms
from inngest._internal import types as inngest_types
from inngest._internal.step_lib import base as step_base

import jobsim
from jobsim._steps import Suspend, _done, load

from ._errors import unreadable

if TYPE_CHECKING:
    from .plugin import Binding

EMPTY = inngest_types.empty_sentinel
_OPCODES = {
    "sleep": server_lib.Opcode.SLEEP,
    "wait": server_lib.Opcode.WAIT_FOR_EVENT,
    "invoke": server_lib.Opcode.INVOKE,
}


_HOOKS = (
    "transform_input", "before_execution", "after_execution", "transform_output", "before_response",
    "before_send_events", "after_send_events",
)  # fmt: skip


class MiddlewareError(jobsim.JobsimError, jobsim.NonRetriableError):
    """Middleware the SDK itself refuses for this function (an async hook on a sync function)."""


def declared(binding: Binding) -> list[Any]:
    """The middleware of ``binding``'s function, client's first, as ``Function.call`` adds them."""
    client = binding.client()
    return [*(client.middleware if client is not None else []), *binding.fn._middleware]


def check_sync(binding: Binding, instances: list[Any]) -> None:
    """A sync function's request fails in inngest-py on any async hook (``_mismatched_sync``): say so at once."""
    for instance in instances:
        cls = type(instance)
        hooks = [name for name in _HOOKS if inspect.iscoroutinefunction(getattr(instance, name, None))]
        if isinstance(instance, inngest.Middleware) or hooks:
            kind = "an inngest.Middleware" if isinstance(instance, inngest.Middleware) else "middleware"
            raise MiddlewareError(
                f"inngest function {binding.fn.id!r} is not async but its middleware {cls.__name__} is {kind}"
                f"{' with async hooks (' + ', '.join(hooks) + ')' if hooks else ''}; inngest-py fails every request "
                "of such a function ('encountered async middleware in non-async context'): subclass "
                "inngest.MiddlewareSync with plain `def` hooks for sync functions, or make the function `async def`"
            )


class Request:
    """One request's middleware: the SDK's manager, the memos it was given, the step being reported."""

    def __init__(self, binding: Binding, x: Any, middleware: list[Any]) -> None:
        self.manager = middleware_lib.MiddlewareManager(binding.client(), None, net.ServerTimings())
        for m in middleware:
            self.manager.add(m)
        self.binding = binding
        self.x = x
        self.hashes: dict[str, str] = {}
        memos: dict[str, step_base.Output] = {}
        for key, record in x.run_.steps.items():
            if record.status == "completed":
                data = record.output
                memos[self._hash(key)] = step_base.Output(data=data["ids"] if record.kind == "send_event" else data)
            elif record.status == "failed":
                error = record.error
                memos[self._hash(key)] = step_base.Output(
                    error=step_base.MemoizedError(
                        message=str(error), name=type(error).__name__, stack=transforms.get_traceback(error)
                    )
                )
        self.memos = step_base.StepMemos(memos)
        self.names: dict[str, str] = {}  # step key -> the id the user gave
        self.opts: dict[str, Callable[[], Any]] = {}  # step key -> its StepInfo.opts, made when needed
        self.raw: dict[str, Any] = {}  # step key -> what its code returned, before any JSON encoding
        self.last: str | None = None  # the key of the step reported last

    def _hash(self, key: str) -> str:
        hashed = self.hashes.get(key)
        if hashed is None:
            hashed = self.hashes[key] = transforms.hash_step_id(key)
        return hashed

    def report(self, step_id: str, opts: Callable[[], Any] | None = None) -> tuple[bool, Any]:
        """A step call begins (``report_step``): its memo as ``transform_input`` left it (``(True, data)``),
        or ``(False, None)`` (new, or failed); ``before_execution`` is then due if no memo is left (``replayed``)."""
        count = self.x.seen.get(step_id, 0)
        key = step_id if count == 0 else f"{step_id}:{count}"
        self.names[key] = step_id
        self.last = key
        if opts is not None:
            self.opts[key] = opts
        hashed = self._hash(key)
        memo = self.memos.pop(hashed)
        if isinstance(memo, step_base.Output) and memo.error is None:
            return True, memo.data
        return False, None

    @property
    def replayed(self) -> bool:
        """No memo left to replay: new code runs from here (``before_execution`` is due)."""
        return self.memos.size == 0

    def raw_output(self, value: Any, step_id: str | None) -> Any:
        """A new step's output as its code returned it (after the client's serializer): the SDK hands it to
        ``transform_output`` as it is and JSON-encodes what the middleware left (``checked``)."""
        if self.last is not None:
            self.raw[self.last] = value
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            return None  # stored as null unless the middleware fixes it; the request then fails (``rebuilt``)
        return value

    # -- results ---------------------------------------------------------------------
    def step_result(self, suspend: Suspend) -> tuple[execution_lib.CallResult | None, tuple[Any, ...]]:
        op = suspend.op
        kind = op[0]
        if kind not in ("done", "failed", *_OPCODES) or not isinstance(op[1], str):
            return None, op  # a parallel group's plan: the SDK's transform_output skips those (``multi``)
        key = op[1]
        name = self.names.get(key, key)
        make_opts = self.opts.get(key)
        opts = None if make_opts is None else make_opts()
        if key in self.raw:  # step.run's code returned (its op is a failure if jobsim could not store the value)
            opcode, output, error = server_lib.Opcode.STEP_RUN, self.raw[key], None
        elif kind == "done":
            opcode, output, error = server_lib.Opcode.STEP_RUN, load(op[2]), None
            if op[3] == "send_event":
                output = output["ids"]
        elif kind == "failed":
            x = self.x
            last = x.attempt + 1 >= x.engine.policy(x.run_.function).attempts  # step_sync.run: max_attempts
            opcode = server_lib.Opcode.STEP_FAILED if last else server_lib.Opcode.STEP_ERROR
            output, error = EMPTY, op[2]
        else:
            opcode, output, error = _OPCODES[kind], EMPTY, None
        info = step_base.StepInfo(display_name=name, id=self._hash(key), name=name, op=opcode, opts=opts)
        return execution_lib.CallResult(error=error, output=output, step=info), op

    def rebuilt(self, result: execution_lib.CallResult, op: tuple[Any, ...]) -> tuple[Any, ...]:
        """The engine's op for a step result the middleware may have changed."""
        kind, key = op[0], op[1]
        if kind not in ("done", "failed"):
            return op
        if result.error is not None:
            error = result.error
            return op if kind == "failed" and error is op[2] else ("failed", key, error)
        output = None if result.output is EMPTY else result.output
        checked(output, self.names.get(key, key))
        step_kind = op[3] if kind == "done" else "run"
        if step_kind == "send_event":
            output = {"ids": output}
        return _done(key, output, step_kind)


def checked(output: Any, step_id: str | None) -> None:
    """The SDK dumps what the middleware left (``comm_lib/models.py : _prep_call_result``); a NaN or
    infinity it writes as a bare token, which the server cannot read (``_errors.unreadable``)."""
    try:
        json.dumps(output, allow_nan=False)
    except (TypeError, ValueError):
        try:
            json.dumps(output)
        except (TypeError, ValueError):
            what = "returned unserializable data" if step_id is None else f'"{step_id}" returned unserializable data'
            raise inngest_errors.OutputUnserializableError(what) from None
        if step_id is not None:
            raise unreadable(output, step_id) from None


def wait_opts(if_exp: str | None, timeout: Any) -> Any:
    """``wait_for_event``'s ``StepInfo.opts`` (``step_sync.py : wait_for_event``)."""
    return step_base.WaitForEventOpts(if_exp=if_exp, timeout=_duration(timeout)).to_dict()


def invoke_opts(function_id: str, data: Any, timeout: Any, v: str | None = None) -> Any:
    """``invoke``'s ``StepInfo.opts`` (``step_sync.py : invoke_by_id``)."""
    payload = step_base.InvokeOptsPayload(data=data, v=v)
    opts = step_base.InvokeOpts(function_id=function_id, payload=payload, timeout=_duration(timeout))
    return opts.to_dict()


def _duration(timeout: Any) -> Any:
    """inngest-py's duration string; ``None`` stays ``None`` (the step's own checks ran already)."""
    if timeout is None:
        return None
    text = transforms.to_duration_str(timeout)
    raise_if(text if isinstance(text, Exception) else None)
    return text


def raise_if(err: Exception | None) -> None:
    """A hook's error fails the request, as the SDK's ``CallResult(err)`` does."""
    if isinstance(err, Exception):
        raise err


def function_result(output: Any = EMPTY, error: Exception | None = None) -> execution_lib.CallResult:
    return execution_lib.CallResult(error=error, output=output)
