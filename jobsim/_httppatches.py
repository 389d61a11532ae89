"""What the HTTP sink patches besides respx's own mock: respx's real sends and httpx's response clock.

Installed with the sink (``HttpSink.install``), once for all the sinks installed (``SinkPatches``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import respx
from httpcore._sync.connection import RETRIES_BACKOFF_FACTOR, exponential_backoff

from ._aio import VirtualLoop
from ._patching import SinkPatches

if TYPE_CHECKING:
    from ._http import HttpSink


def install(sink: HttpSink) -> None:
    _HOLDS.install(sink, _holds)


def uninstall(sink: HttpSink) -> None:
    _HOLDS.uninstall(sink)


_HOLDS = SinkPatches()
"""An ``httpx.AsyncClient`` request a ``pass_through()`` route sends to the real network, on a virtual
loop: the loop waits for its server in real time (``VirtualLoop.hold_real_io``) until the response has
been read or closed. Without it the loop jumped to its next virtual timer, the client's own timeout,
and the request failed with ``ReadTimeout`` while the server was still answering.

respx makes that real call (its ``target_spec``) in ``HTTPCoreMocker._send_async_request`` after every
router passed the request on; while any sink is installed that class method hands respx a ``target_spec``
that takes the hold first. Elsewhere (no virtual loop running) nothing changes.

The same two class methods (sync and async) retry a connect the sink failed, as httpcore's own connection
does for a transport built with ``retries=N`` (``httpx.HTTPTransport(retries=2)``): respx answers at the
connection pool, above ``HTTPConnection._connect``, whose loop retries a ``ConnectError``/``ConnectTimeout``
after httpcore's backoff (0 s, 0.5 s, 1 s, ...; ``exponential_backoff``), slept with the pool's network
backend: in virtual time in job code. Without it such a transport gave up at the first refused connection.
A pass-through request's real connect is retried by httpcore itself (its errors are httpcore's, not httpx's).
"""
_SEND = "_send_async_request"
_SEND_SYNC = "_send_sync_request"
_CONNECT_FAILED = (httpx.ConnectError, httpx.ConnectTimeout)


def _holds() -> list[tuple[Any, str, Any]]:
    return [(respx.mocks.HTTPCoreMocker, _SEND, classmethod(_send_async_holding)),
            (respx.mocks.HTTPCoreMocker, _SEND_SYNC, classmethod(_send_sync_retrying)),
            (httpx._client, "time", _ElapsedClock())]


class _ElapsedClock:
    """``httpx._client``'s ``time`` while a sink is installed: ``response.elapsed`` follows virtual time.

    httpx times a response with ``time.perf_counter()`` from sending the request to closing the response,
    and ``perf_counter`` stays real in job code (for profilers), so a ``delayed("3s", ...)`` answer had an
    ``elapsed`` of a few real milliseconds. Here it reads ``time.monotonic()``, which moves with virtual
    time in job code and is the real clock elsewhere. Every other name is the ``time`` module's.
    """

    @staticmethod
    def perf_counter() -> float:
        return time.monotonic()

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _connect_retries(instance: Any) -> tuple[int, Iterator[float]]:
    """The ``retries`` of the httpcore pool (or connection) respx patched, and httpcore's delays between them."""
    retries = getattr(instance, "_retries", 0)
    return (retries if isinstance(retries, int) else 0), exponential_backoff(factor=RETRIES_BACKOFF_FACTOR)


def _send_sync_retrying(mocker: Any, httpx_request: httpx.Request, /, *, target_spec: Any, instance: Any,
                        **kwargs: Any) -> Any:  # fmt: skip
    send = _HOLDS.original(respx.mocks.HTTPCoreMocker, _SEND_SYNC).__get__(None, mocker)
    retries_left, delays = _connect_retries(instance)
    while True:
        try:
            return send(httpx_request, target_spec=target_spec, instance=instance, **kwargs)
        except _CONNECT_FAILED:
            if retries_left <= 0:
                raise
            retries_left -= 1
            instance._network_backend.sleep(next(delays))


async def _send_async_holding(mocker: Any, httpx_request: httpx.Request, /, *, target_spec: Any, instance: Any,
                              **kwargs: Any) -> Any:  # fmt: skip
    loop = asyncio.get_running_loop()
    if isinstance(loop, VirtualLoop):
        target_spec = _holding(loop, target_spec)
    send = _HOLDS.original(respx.mocks.HTTPCoreMocker, _SEND).__get__(None, mocker)
    retries_left, delays = _connect_retries(instance)
    while True:
        try:
            return await send(httpx_request, target_spec=target_spec, instance=instance, **kwargs)
        except _CONNECT_FAILED:
            if retries_left <= 0:
                raise
            retries_left -= 1
            await instance._network_backend.sleep(next(delays))


def _holding(loop: VirtualLoop, real: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def call(instance: Any, **kwargs: Any) -> Any:
        release = loop.hold_real_io()
        try:
            response = await real(instance, **kwargs)
        except BaseException:
            release()
            raise
        response.stream = _ReleasingStream(response.stream, release)
        return response

    return call


class _ReleasingStream:
    """httpcore's response stream, giving the loop's real-I/O hold back once read to its end or closed."""

    def __init__(self, stream: Any, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release = release

    async def __aiter__(self) -> Any:
        try:
            async for chunk in self._stream:
                yield chunk
        finally:
            self._release()

    async def aclose(self) -> None:
        try:
            if hasattr(self._stream, "aclose"):
                await self._stream.aclose()
        finally:
            self._release()
