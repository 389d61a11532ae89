"""aiohttp's client through the HTTP sink.

``aiohttp.ClientSession`` never reaches httpx, so respx alone would let it go to the real
network. While a simulation runs, the one place aiohttp's ``TCPConnector`` opens a new
connection, ``_create_connection`` (below the pool, its limits and the connect timeout), hands
back aiohttp's own protocol attached to ``_Wire``, a transport that is a server: aiohttp writes
the request to it as it would to a socket, and once the request is complete the wire turns
it into an ``httpx.Request`` (the URL of the ``ClientRequest``, the headers and body aiohttp
put on the wire) and resolves it through the sink exactly as an httpx client's request (the
test's routes, then the mail providers, then ``UnmatchedRequest``), recorded as an
``HttpCall`` and an ``"http"`` trace record. The answer comes back as the bytes a server
would send, fed to aiohttp's own response parser. Each connection carries one exchange
(it is never kept alive): every request, redirect and retry meets its own connect.

Everything else is aiohttp's own code, so it behaves as in production: redirects and
``history``, the session's cookie jar, ``raise_for_status``, ``json()``/``text()``, gzip,
streaming, ``release()``, connection limits, and its timers in virtual time.

Time. The route's answer takes the virtual time ``delayed``/``timeout`` script, awaited on the
loop (``jobsim._httptime.Wait``), so ``asyncio.gather`` of four 2-second calls takes 2 s. Its
``ClientTimeout`` applies as aiohttp applies it: ``total`` is aiohttp's own timer and may end
the wait; ``sock_read`` is measured by the wire from the end of the request (aiohttp's timer is
held meanwhile, so an answer due at the very instant of the timeout arrives); an answer that
fails the connect (refused, TLS, a connect ``timeout()``) waits ``sock_connect``/``connect``.
``timeout()`` waits the client's timeout of its phase (``request.extensions["timeout"]``): the
connect phase ``sock_connect``/``connect``, the read phase ``sock_read``, each capped by ``total``;
a phase only ``total`` bounds waits for aiohttp's own total timer, whatever second it rounds to.
When the client gives up first, the call records what the client got (``Abandoned``).

Errors arrive as aiohttp raises them:

- an unmatched request, or an ``httpx.ConnectError`` a route raises, is a refused connection:
  ``ClientConnectorError`` (an ``httpx.ProxyError``: ``ClientProxyConnectionError``);
- ``timeout(phase="connect")`` or ``"pool"`` -> ``ConnectionTimeoutError``; ``"read"`` ->
  ``SocketTimeoutError`` (both ``ServerTimeoutError`` on aiohttp 3.9); ``total`` or ``"write"``
  (aiohttp has no write timeout) -> ``asyncio.TimeoutError``;
- an ``httpx.RemoteProtocolError`` is the server hanging up (``ServerDisconnectedError``), any
  other transport error a reset connection (``ClientOSError``);
- an ``OSError`` a route raises is met where a socket would raise it: during the connect (as
  ``_wrap_create_connection`` wraps it: ``ClientConnectorCertificateError``,
  ``ClientConnectorSSLError``, ``ClientConnectorDNSError`` for ``socket.gaierror``,
  ``ClientConnectorError``), or, for a reset, abort or broken pipe, while reading, where aiohttp's
  protocol turns it into ``ClientOSError`` (and aiohttp 3.10+ retries an idempotent request once,
  as it does for a dropped keep-alive connection); anything else reaches the caller as it is.

A ``pass_through()`` route opens the real connection with aiohttp's own connector code (DNS,
TLS, proxy) and replays the request on it; on a virtual loop the loop waits for that server in
real time, and virtual time stands still. ``UnixConnector``, ``NamedPipeConnector`` and
websockets are not simulated. The bridge relies on aiohttp internals, checked for the releases
in ``VERIFIED``; on any other aiohttp every request in a simulation fails with a
``JobsimError`` naming the version, instead of reaching the network.
"""

from __future__ import annotations

import asyncio
import errno
import re
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
from respx.models import PassThrough

from ._aio import VirtualLoop
from ._bridges import AIOHTTP_CLOSED as _CLOSED
from ._bridges import AIOHTTP_TOTAL as _TOTAL
from ._bridges import Abandoned, cut_short
from ._patching import SinkPatches
from ._time import SECOND
from ._wire import SentRequest, answer_body, response_bytes
from .errors import JobsimError

if TYPE_CHECKING:
    from ._http import HttpSink

try:
    import aiohttp
    from aiohttp import ClientSession, TCPConnector
    from aiohttp.client_proto import ResponseHandler
except ImportError:  # aiohttp is not a dependency of jobsim: without it nothing is intercepted
    aiohttp = None  # type: ignore[assignment]

__all__ = ["CLIENT", "VERIFIED", "Abandoned", "cut_short", "install", "uninstall", "unsupported"]

CLIENT = "aiohttp"
"""``request.extensions["jobsim_client"]`` of a request that came through aiohttp (``HttpSink.format_unmatched``)."""
VERIFIED = ((3, 9), (3, 14))
"""The aiohttp releases (major, minor) the bridge is verified with: its tests pass on the first and the latest
release of each (3.9.0, 3.9.5, 3.10.0, 3.10.11, 3.11.0, 3.11.18, 3.12.0, 3.12.15, 3.13.0, 3.13.5, 3.14.0, 3.14.5)."""
_RESETS = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)
"""Socket errors of an open connection: met while reading the answer, not while connecting."""
_RETRIED_CONNECTS: dict[int, tuple[Any, str, str, BaseException]] = {}
"""aiohttp 3.10 and 3.11: connect failures the wire delivered, by the request's timer (one per ``_request``
call). They retry an idempotent request once on any ``ClientOSError`` raised after its connect, a
``ClientConnectorError`` included, while one from the connect itself is not retried (3.12 re-raises it
first); the wire, which meets a connect failure after the request was written, gives the retry the same
error at its connect."""

_LOCK = threading.Lock()  # guards _RETRIED_CONNECTS
_PATCHES = SinkPatches()


def unsupported() -> str | None:
    """Why the installed aiohttp cannot be bridged, or None when it can (or is not installed)."""
    if aiohttp is None:
        return None
    version = aiohttp.__version__
    internals = ((TCPConnector, "_create_connection"), (ResponseHandler, "_drop_timeout"),
                 (ResponseHandler, "_on_read_timeout"))  # fmt: skip
    if VERIFIED[0] <= _version() <= VERIFIED[1] and all(hasattr(owner, name) for owner, name in internals):
        return None
    low, high = (".".join(map(str, bound)) for bound in VERIFIED)
    return (f"jobsim: aiohttp {version} is not a version jobsim's aiohttp bridge was verified with ({low} to {high}), "
            "so it cannot answer this request from sim.http, and will not let it reach the network either; "
            f"install a verified aiohttp (pip install 'aiohttp>={low},<{VERIFIED[1][0]}.{VERIFIED[1][1] + 1}') "
            "or a jobsim release that supports this one")  # fmt: skip


def _version() -> tuple[int, ...]:
    """aiohttp's (major, minor)."""
    return tuple(int(part) for part in re.findall(r"\d+", aiohttp.__version__)[:2])


def install(sink: HttpSink) -> None:
    """Send aiohttp's requests to ``sink`` (the latest installed sink gets them) until ``uninstall``.

    On an aiohttp the bridge was not verified with, ``ClientSession._request`` is replaced instead,
    by one that fails every request with the ``unsupported()`` message.
    """
    if aiohttp is not None:
        _PATCHES.install(sink, lambda: [(ClientSession, "_request", _refuse) if unsupported()
                                        else (TCPConnector, "_create_connection", _create_connection)])  # fmt: skip


def uninstall(sink: HttpSink) -> None:
    if aiohttp is not None:
        _PATCHES.uninstall(sink)


async def _refuse(session: Any, *args: Any, **kwargs: Any) -> Any:
    """``ClientSession._request`` on an aiohttp the bridge was not verified with."""
    raise JobsimError(unsupported())


async def _create_connection(connector: Any, req: Any, traces: Any, timeout: Any) -> Any:
    """``TCPConnector._create_connection`` while simulated: aiohttp's protocol, on a wire the sink answers."""
    sink = _PATCHES.sink()
    original = _PATCHES.original(TCPConnector, "_create_connection")
    if sink is None:  # uninstalled while this request was on its way
        return await original(connector, req, traces, timeout)
    with _LOCK:
        failed = _RETRIED_CONNECTS.pop(id(req._timer), None)
    if failed is not None and failed[0] is req._timer and failed[1:3] == (req.method, str(req.url)):
        raise failed[3]
    protocol = connector._factory()
    _Wire(sink, protocol, _Opener(original, connector, req, traces, timeout))
    return protocol


class _Opener:
    """What aiohttp's connector was asked for: the request it connects for, and how to really connect."""

    def __init__(self, original: Any, connector: Any, req: Any, traces: Any, timeout: Any) -> None:
        self.req = req
        self.timeout = _Timeouts(timeout)
        self._original, self._connector, self._traces, self._client_timeout = original, connector, traces, timeout

    async def open(self) -> Any:
        """A real connection, opened by aiohttp's own ``_create_connection`` (pass-through)."""
        return await self._original(self._connector, self.req, self._traces, self._client_timeout)


class _Timeouts:
    """A ``ClientTimeout`` read as the wire applies it (aiohttp takes ``None`` or ``0`` as no limit)."""

    def __init__(self, timeout: Any) -> None:
        self.total = _ns(timeout.total)
        self.limits = {"connect": _least(_ns(timeout.sock_connect), _ns(timeout.connect)),
                       "pool": _ns(timeout.connect), "read": _ns(timeout.sock_read), "write": None}  # fmt: skip

    def httpx(self) -> dict[str, float | None]:
        """The wait ``timeout()`` takes in each phase, in httpx's form: the phase's own limit, capped by ``total``."""
        return {phase: None if ns is None else ns / SECOND
                for phase, ns in ((phase, _least(limit, self.total)) for phase, limit in self.limits.items())}

    def only_total(self, phase: str, ns: int) -> bool:
        """``ns`` is the ``total`` cap of a phase no limit of its own ends sooner."""
        own = self.limits[phase]
        return self.total is not None and ns >= self.total and (own is None or own >= self.total)


def _ns(seconds: float | None) -> int | None:
    return None if seconds is None or seconds <= 0 else round(seconds * SECOND)


def _least(*limits: int | None) -> int | None:
    return min((limit for limit in limits if limit is not None), default=None)


class _Wire(asyncio.Transport):
    """The socket aiohttp writes one request to and reads its answer from: the sink is the server."""

    def __init__(self, sink: HttpSink, protocol: Any, opener: _Opener) -> None:
        super().__init__()
        self._sink = sink
        self._protocol = protocol
        self._opener = opener
        self._loop = asyncio.get_running_loop()
        self._sent = SentRequest()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._gave_up: BaseException | None = None
        self._real: asyncio.Transport | None = None  # the real connection of a pass-through
        self._read_timeout: float | None = None  # aiohttp's sock_read, held while the sink answers
        protocol.connection_made(self)
        protocol._should_close = True  # force_close(), which 3.11.0 lacks: every request meets its own connect

    # -- the transport aiohttp writes to -----------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._real is not None:
            self._real.write(data)
        elif not self._closed and self._task is None:
            self._sent.feed(bytes(data))
            if self._sent.awaits_continue():  # Expect: 100-continue: the server says go on
                self._loop.call_soon(self._protocol.data_received, b"HTTP/1.1 100 Continue\r\n\r\n")
            if self._sent.complete:
                self._hold_read_timeout()
                self._task = self._loop.create_task(self._exchange())

    def writelines(self, chunks: Any) -> None:
        self.write(b"".join(chunks))

    def close(self) -> None:
        if self._real is not None:
            self._real.close()
        elif not self._closed:
            self._closed = True
            self._give_up()
            self._loop.call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        if self._real is not None:
            self._real.abort()
        else:
            self.close()

    def is_closing(self) -> bool:
        return self._real.is_closing() if self._real is not None else self._closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._real.get_extra_info(name, default) if self._real is not None else default

    def pause_reading(self) -> None:
        if self._real is not None:
            self._real.pause_reading()

    def resume_reading(self) -> None:
        if self._real is not None:
            self._real.resume_reading()

    def is_reading(self) -> bool:
        return self._real.is_reading() if self._real is not None else not self._closed

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def can_write_eof(self) -> bool:
        return False

    # -- the server's side -------------------------------------------------------------------

    def _request(self) -> httpx.Request:
        req, sent = self._opener.req, self._sent
        extensions = {"timeout": self._opener.timeout.httpx(), "jobsim_client": CLIENT}
        request = httpx.Request(req.method, str(req.url), headers=sent.headers, stream=httpx.ByteStream(sent.body),
                                extensions=extensions)  # fmt: skip
        request.read()
        return request

    async def _exchange(self) -> None:
        try:
            answer = await self._sink._router.async_handler(self._request(), self._wait)
        except PassThrough:
            await self._pass_through()
        except Abandoned:
            pass  # the client gave up, or was told the wire's own limit ran out: the call is recorded
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:  # what the route raised, or jobsim's control flow: the client meets it
            self._fail(error)
        else:
            body, encoded = await answer_body(answer)
            if not self._closed:
                self._protocol._read_timeout = self._read_timeout  # aiohttp times the body's arrival again
                self._protocol.data_received(response_bytes(answer, self._opener.req.method, body, encoded))

    def _hold_read_timeout(self) -> None:
        """Stop aiohttp's ``sock_read`` timer until the answer: the wire measures that wait itself (``_wait``).
        aiohttp (re)starts it once the request is written, which on 3.9 and 3.10 is after this point: hence
        the timeout itself is held, not just its timer."""
        self._read_timeout, self._protocol._read_timeout = self._protocol._read_timeout, None
        self._protocol._drop_timeout()

    def _give_up(self) -> None:
        """The client closed the connection while the answer was on its way: the resolution ends with why."""
        if self._task is None or self._task.done():
            return
        error = sys.exc_info()[1]
        if getattr(self._opener.req._timer, "_cancelled", False):  # the session's total timeout cancelled the
            # request: the job gets a bare asyncio.TimeoutError, the call says which timeout it was
            total = self._opener.timeout.total or 0
            error = asyncio.TimeoutError(f"{_TOTAL} (ClientTimeout.total={total / SECOND:g}) ended the wait")
        elif error is None:
            error = aiohttp.ClientConnectionError(_CLOSED)
        self._gave_up = error
        self._task.cancel()

    async def _wait(self, ns: int, raised: BaseException | None) -> None:
        """Spend the answer's ``ns`` on the loop as aiohttp's connection would wait for it (``Wait``).

        aiohttp's ``sock_read`` timer is held: the wire measures it, from the end of the request, so an
        answer due at its very instant arrives and a later one times out with aiohttp's own error. An
        answer that fails the connect waits ``sock_connect``/``connect`` instead. ``total`` stays aiohttp's.
        """
        phase = _phase(raised)
        limit, total = self._opener.timeout.limits[phase], self._opener.timeout.total
        if isinstance(raised, httpx.TimeoutException) and total is not None and self._opener.timeout.only_total(
                phase, ns):  # fmt: skip
            ns = total + SECOND  # aiohttp's own total timer ends the wait, on the whole second it rounds to
        try:
            if limit is not None and ns > limit:
                await _settled_sleep(limit)
                raise Abandoned(self._timed_out(phase))
            await _settled_sleep(ns)
        except asyncio.CancelledError:
            if self._gave_up is None:
                raise
            raise Abandoned(self._gave_up) from None

    def _timed_out(self, phase: str) -> BaseException:
        """aiohttp's own limit of ``phase`` ran out: the client gets the error aiohttp raises for it."""
        if phase == "read":
            self._protocol._read_timeout = self._read_timeout
            self._protocol._on_read_timeout()  # aiohttp's own sock_read handler builds and sets the error
            error: BaseException = self._protocol.exception()
            return error
        error = _connect_timeout(self._opener.req.url)
        error.__cause__ = asyncio.TimeoutError()
        self._protocol.set_exception(error)
        return error

    def _fail(self, error: BaseException) -> None:
        """The route raised ``error``: the client meets it where aiohttp would have (module docstring)."""
        if self._closed:
            return
        failure = _aiohttp_error(error, self._opener.req)
        if isinstance(failure, _Lost):  # the server side of an open connection went away
            self._closed = True
            self._protocol.connection_lost(failure.error)
            return
        if failure is not error:
            failure.__cause__ = error
            failure.__suppress_context__ = True
        if (3, 10) <= _version() < (3, 12) and isinstance(failure, aiohttp.ClientConnectorError):
            req = self._opener.req
            with _LOCK:
                for key in [key for key, (timer, *_) in _RETRIED_CONNECTS.items() if not timer._tasks]:
                    del _RETRIED_CONNECTS[key]  # their requests are over
                _RETRIED_CONNECTS[id(req._timer)] = (req._timer, req.method, str(req.url), failure)
        self._protocol.set_exception(failure)

    async def _pass_through(self) -> None:
        """The real connection, opened by aiohttp's connector code; the request's bytes replayed on it."""
        release = self._loop.hold_real_io() if isinstance(self._loop, VirtualLoop) else _nothing
        try:
            real = await self._opener.open()
        except Exception as error:
            release()
            if not self._closed:
                self._protocol.set_exception(error)  # aiohttp's own connect error (ClientConnectorError...)
            return
        except BaseException:  # cancelled: the client gave up meanwhile
            release()
            raise
        transport = real.transport
        if self._closed:
            transport.close()
            release()
            return
        self._real = transport
        transport.set_protocol(_Relay(self._protocol, release))
        transport.write(self._sent.raw)
        self._protocol._read_timeout = self._read_timeout  # a real server: aiohttp's own sock_read times it
        self._protocol.start_timeout()


async def _settled_sleep(ns: int) -> None:
    """``asyncio.sleep``, then one more turn of the loop: an aiohttp timer due at the same instant (its total, a
    task's ``wait_for``) fires and closes the connection first, so a tie goes to the client, as it always would."""
    await asyncio.sleep(ns / SECOND)
    await asyncio.sleep(0)


def _nothing() -> None:
    pass


class _Relay(asyncio.Protocol):
    """A pass-through's real socket, feeding the protocol aiohttp reads from. The loop waits for it in real
    time until the answer has arrived (``VirtualLoop.hold_real_io``): then the hold is released."""

    def __init__(self, protocol: Any, release: Callable[[], None]) -> None:
        self._protocol = protocol
        self._release = release

    def data_received(self, data: bytes) -> None:
        self._protocol.data_received(data)
        payload = getattr(self._protocol, "_payload", None)
        if payload is not None and payload.is_eof():
            self._release()

    def eof_received(self) -> bool | None:
        self._release()
        result: bool | None = self._protocol.eof_received()
        return result

    def connection_lost(self, exc: BaseException | None) -> None:
        self._release()
        self._protocol.connection_lost(exc)

    def pause_writing(self) -> None:
        self._protocol.pause_writing()

    def resume_writing(self) -> None:
        self._protocol.resume_writing()


# -- errors -----------------------------------------------------------------------------------


class _Lost:
    """The connection is lost with ``error`` (``None``: the server closed it): aiohttp's protocol says what."""

    def __init__(self, error: OSError | None) -> None:
        self.error = error


def _phase(raised: BaseException | None) -> str:
    """The phase of the exchange that ``raised`` ends (None: a response, read)."""
    if isinstance(raised, httpx.PoolTimeout):
        return "pool"
    if isinstance(raised, httpx.WriteTimeout):
        return "write"
    if isinstance(raised, (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError)) or _timed_out_connecting(
            raised) or (isinstance(raised, OSError) and not isinstance(raised, _RESETS)):  # fmt: skip
        return "connect"
    return "read"


def _timed_out_connecting(error: BaseException | None) -> bool:
    """``asyncio.TimeoutError`` as aiohttp's connect meets it (``_wrap_create_connection`` lets one with no
    errno through, which is not the builtin ``TimeoutError`` before Python 3.11)."""
    return isinstance(error, asyncio.TimeoutError) and getattr(error, "errno", None) is None


def _aiohttp_error(error: BaseException, req: Any) -> BaseException | _Lost:
    """What aiohttp raises (or how the connection ends) where a socket met ``error``."""
    key = req.connection_key
    if isinstance(error, httpx.TransportError):
        return _httpx_error(error, req)
    if isinstance(error, _RESETS):
        return _Lost(error)
    if _timed_out_connecting(error):
        return _connect_timeout(req.url)  # aiohttp's connect timeout, as _connect_and_send_request raises it
    if isinstance(error, ssl.CertificateError):
        return aiohttp.ClientConnectorCertificateError(key, error)
    if isinstance(error, ssl.SSLError):
        return aiohttp.ClientConnectorSSLError(key, error)
    if isinstance(error, socket.gaierror):
        return getattr(aiohttp, "ClientConnectorDNSError", aiohttp.ClientConnectorError)(key, error)
    if isinstance(error, OSError):
        return aiohttp.ClientConnectorError(key, error)
    return error


def _httpx_error(error: httpx.TransportError, req: Any) -> BaseException | _Lost:
    message = str(error)
    if isinstance(error, (httpx.ConnectTimeout, httpx.PoolTimeout)):
        return _connect_timeout(req.url)
    if isinstance(error, httpx.ReadTimeout):
        return getattr(aiohttp, "SocketTimeoutError", aiohttp.ServerTimeoutError)("Timeout on reading data from socket")
    if isinstance(error, httpx.TimeoutException):  # WriteTimeout: aiohttp's total ends a stalled upload
        return asyncio.TimeoutError(message)
    refused = ConnectionRefusedError(errno.ECONNREFUSED, message)
    if isinstance(error, httpx.ProxyError):
        return aiohttp.ClientProxyConnectionError(req.connection_key, refused)
    if isinstance(error, httpx.ConnectError):
        return aiohttp.ClientConnectorError(req.connection_key, refused)
    if isinstance(error, httpx.RemoteProtocolError):
        return _Lost(None)
    return _Lost(ConnectionResetError(errno.ECONNRESET, message))


def _connect_timeout(url: Any) -> BaseException:
    """aiohttp's connect timeout (``ServerTimeoutError`` before 3.10 gave it a class of its own)."""
    kind = getattr(aiohttp, "ConnectionTimeoutError", aiohttp.ServerTimeoutError)
    error: BaseException = kind(f"Connection timeout to host {url}")
    return error
