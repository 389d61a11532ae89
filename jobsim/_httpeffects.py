"""Calling a route's side-effect function the way respx does, with jobsim's checks around it.

respx calls a side effect as ``effect(request, **path_params)`` (plus ``route=`` when the
function has a parameter of that name), wraps what it raises in ``SideEffectError`` and
re-raises the original in the job. What it does not check fails far from the test, as a
bare ``AssertionError`` or ``TypeError`` from inside respx, at the first request:

- an ``async def`` side effect (or any callable returning an awaitable) reached from a sync
  ``httpx.Client``: respx's sync path cannot await it, so the coroutine is dropped unawaited
  (a ``RuntimeWarning`` later) and respx asserts on it;
- a result that is neither an ``httpx.Response`` nor ``None``: respx catches a truthy one
  only, and only on the sync path; a falsy one (``0``, ``""``, ``{}``) or anything an async
  side effect returns reaches respx's ``assert isinstance(..., httpx.Response)``;
- a ``StopIteration`` escaping the function (``next(it)`` on a spent iterator): respx turns
  it into a ``RuntimeError`` from ``contextlib`` (sync clients) or reports it as a used-up
  ``side_effect`` list (async clients);
- path parameters its pattern captured that the function has no parameter for.

Each becomes an ``InvalidArgument`` raised in the job at that request, naming the route,
what went wrong and what to write instead: the attempt fails, the call is in
``sim.http.calls`` and the trace with that error. Side effects that raise their own errors
are untouched: the job gets exactly what the test scripted.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpx
import respx
from respx.models import SideEffectError

from ._checks import TestAssertion
from .errors import InvalidArgument

__all__ = ["call_side_effect", "check_exception_class", "client_kind"]

# Whether the request being resolved came from an async client; None outside jobsim's router.
_ASYNC_CLIENT: ContextVar[bool | None] = ContextVar("jobsim_http_async_client", default=None)
_RESULT = "it must return an httpx.Response, or None to pass the request on"


@contextmanager
def client_kind(*, asynchronous: bool) -> Iterator[None]:
    """Mark the request being resolved as coming from a sync or an async httpx client."""
    token = _ASYNC_CLIENT.set(asynchronous)
    try:
        yield
    finally:
        _ASYNC_CLIENT.reset(token)


def call_side_effect(
    route: respx.Route, effect: Callable[..., Any], request: httpx.Request, kwargs: dict[str, Any]
) -> Any:
    """``effect(request, **kwargs)`` as respx's ``Route._call_side_effect``, its result checked."""
    __tracebackhide__ = True  # a failing side effect: pytest shows the test's line, then the side effect's own
    signature = _signature(effect)
    if signature is not None:
        if "route" in signature.parameters:
            kwargs = {**kwargs, "route": route}
        _check_binds(route, effect, request, signature, kwargs)
    try:
        result = effect(request, **kwargs)
    except StopIteration:
        raise _stopped(route, effect, request) from None
    except AssertionError as error:  # the test's own check of the request: it fails the test, not the attempt
        raise TestAssertion(error) from None
    except Exception as error:
        raise SideEffectError(route, origin=error) from error
    if inspect.isawaitable(result):
        if _ASYNC_CLIENT.get() is False:
            _discard(result)
            raise InvalidArgument(
                f"jobsim: {_describe(route, effect, request)} is async (it returned a "
                f"{type(result).__name__}), but the job sent the request with a sync httpx.Client, "
                "which cannot await it; use httpx.AsyncClient in async job code, or make the side "
                "effect a plain def"
            )
        return _awaited(route, effect, request, result)
    return _checked(route, effect, request, _scripted(route, request, result))


def _scripted(route: respx.Route, request: httpx.Request, result: Any) -> Any:
    """A side-effect function that returned ``jobsim.delayed(...)``, ``jobsim.timeout(...)`` or
    ``jobsim.answer_lost(...)`` (chosen per request): answered as that side effect would answer, instead of
    refused as not a Response."""
    from ._httplost import AnswerLost
    from ._httptime import Delayed, Timeout

    if not isinstance(result, (Delayed, Timeout, AnswerLost)):
        return result
    try:
        return result(request, route=route) if isinstance(result, AnswerLost) else result(request)
    except Exception as error:  # the scripted error reaches the job as respx raises a side effect's
        raise SideEffectError(route, origin=error) from error


async def _awaited(route: respx.Route, effect: Any, request: httpx.Request, result: Awaitable[Any]) -> Any:
    try:
        answer = await result
    except AssertionError as error:
        raise TestAssertion(error) from None
    except RuntimeError as error:  # a coroutine turns a StopIteration it raises into this
        if isinstance(error.__cause__, StopIteration):
            raise _stopped(route, effect, request) from None
        raise
    return _checked(route, effect, request, _scripted(route, request, answer))


def _checked(route: respx.Route, effect: Any, request: httpx.Request, result: Any) -> Any:
    """A Response, None, or the request itself (respx's pass-through to the network)."""
    if result is None or isinstance(result, httpx.Response) or result is request:
        return result
    hint = "; to fail the request, raise the exception instead" if isinstance(result, BaseException) else ""
    raise InvalidArgument(f"jobsim: {_describe(route, effect, request)} returned {result!r}: {_RESULT}{hint}")


def _check_binds(
    route: respx.Route, effect: Any, request: httpx.Request, signature: inspect.Signature, kwargs: dict[str, Any]
) -> None:
    """A TypeError from the call itself would be the job's error, blaming nobody: name the cause."""
    try:
        signature.bind(request, **kwargs)
    except TypeError as error:
        captured = ", ".join(f"{key}={value!r}" for key, value in kwargs.items() if key != "route")
        raise InvalidArgument(
            f"jobsim: {_describe(route, effect, request)} cannot take what respx passes it: the request"
            f"{f' and the path parameters its pattern captured ({captured})' if captured else ''} "
            f"({error}); give it a parameter for each, or **kwargs"
        ) from None


def _stopped(route: respx.Route, effect: Any, request: httpx.Request) -> InvalidArgument:
    return InvalidArgument(
        f"jobsim: {_describe(route, effect, request)} raised StopIteration (an iterator it reads ran "
        "out?), which respx cannot tell from its own side_effect list running out; return a response, "
        "or raise an httpx error such as httpx.ConnectError"
    )


def check_exception_class(effect: Any, item: type[BaseException]) -> None:
    """respx raises an exception class by building it: ``cls("Mock Error", request=...)`` for
    httpx's request errors, ``cls()`` for anything else. A class that needs other arguments
    (``httpx.HTTPStatusError``, ``UnicodeDecodeError``) would be a TypeError inside the job."""
    try:
        if issubclass(item, httpx.RequestError):
            item("Mock Error", request=httpx.Request("GET", "https://jobsim.invalid/"))
        else:
            item()
    except Exception as error:
        raise InvalidArgument.build(
            "side_effect",
            effect,
            "an exception class respx can build (it calls the class with no "
            "arguments, or with a message and the request for httpx's request errors); "
            f"{item.__name__} refused ({type(error).__name__}: {error}); pass an instance instead, "
            "or a function taking the request that raises it",
        ) from None


def _describe(route: respx.Route, effect: Any, request: httpx.Request) -> str:
    name = f" {route.name!r}" if route.name else ""
    return f"the side_effect {effect!r} of the route{name} for {request.method} {request.url}"


def _signature(effect: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(effect)
    except (TypeError, ValueError):  # a builtin without one: call it as respx would
        return None


def _discard(result: Awaitable[Any]) -> None:
    """Close a coroutine that will never run, so Python does not warn it was never awaited."""
    close = getattr(result, "close", None)
    if callable(close):
        close()
