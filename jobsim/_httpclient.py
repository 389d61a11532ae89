"""``http.client``, and so ``urllib.request`` and what is built on them, through the HTTP sink.

``urllib.request.urlopen(...)``, ``xmlrpc.client`` and ``http.client.HTTPConnection`` used directly
never reach httpx. While a simulation runs, the one place ``http.client`` opens a connection,
``HTTPConnection.connect`` (and ``HTTPSConnection.connect``, which wraps the socket in TLS), gives the
connection a ``_Wire`` instead of a socket: ``http.client`` writes the request to it as it would to a
socket (its own request line, headers, ``Content-Length`` or chunked body), and once the request is
complete the wire reads it as a server would (``jobsim._wire.SentRequest``), turns it into an
``httpx.Request`` and resolves it through the sink exactly as an httpx client's request (the test's
routes, then the mail providers, then ``UnmatchedRequest``), recorded as an ``HttpCall`` and an
``"http"`` trace record. The answer comes back as the bytes a server would send, read by
``http.client``'s own ``HTTPResponse``.

Everything else is the standard library's own code, so it behaves as in production: urllib's
redirects (``HTTPRedirectHandler``), ``HTTPError`` for a 4xx/5xx answer, cookies
(``HTTPCookieProcessor``), keep-alive on a reused ``HTTPConnection``, a chunked answer decoded and a
gzip one left compressed (``http.client`` decodes no content encoding).

Time and errors. The route's answer takes the virtual time ``delayed``/``timeout`` script, on the
job's thread. ``timeout()`` waits the connection's ``timeout=`` (``urlopen(url, timeout=5)``: one
number for connect, read and write, as ``http.client`` gives it to the socket). Errors are raised
where the socket would raise them, so each layer treats them as the real ones:

- met while connecting (raised by the write that completes the request, inside
  ``HTTPConnection.request``, which urllib wraps in ``URLError``): an unmatched request or an
  ``httpx.ConnectError``/``ProxyError`` is ``ConnectionRefusedError``; a connect or pool
  ``timeout()`` is ``TimeoutError("timed out")`` (``socket.timeout``); an ``OSError`` a route raises
  (``ssl.SSLError``, ``socket.gaierror``) as it is;
- met while writing: a write ``timeout()`` is ``TimeoutError``, ``httpx.WriteError`` a
  ``BrokenPipeError``;
- met while reading the answer (in ``getresponse``, which urllib does not wrap): a read ``timeout()``
  is ``TimeoutError``, ``httpx.RemoteProtocolError`` the server hanging up (``RemoteDisconnected``), a
  ``ConnectionResetError``/``ConnectionAbortedError`` a route raises, or any other transport error, a
  reset connection;
- anything else a side effect raises (jobsim's own errors included) reaches the caller as it is.

A ``pass_through()`` route opens the real connection with the connection's own ``connect`` (DNS,
TLS, a proxy's ``CONNECT`` tunnel) and sends the request on it; virtual time stands still while the
server answers. Nothing else connects, not even to a proxy urllib found in ``HTTPS_PROXY``: a request
sent through a tunnel is routed by its tunnel's host, one sent to a plain proxy by its absolute URL.

urllib3's connections subclass ``HTTPConnection`` but bring their own ``connect``, so requests and
urllib3, bridged above this (``jobsim._urllib3``), are not met here again. A connection opened for
real before the simulation started and reused in it keeps its socket.
"""

from __future__ import annotations

import errno
import http.client
import io
import socket
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import httpx
from respx.models import PassThrough

from ._patching import SinkPatches
from ._wire import SentRequest, response_bytes
from .errors import JobsimError

if TYPE_CHECKING:
    from ._http import HttpSink

__all__ = ["CLIENT", "install", "uninstall"]

CLIENT = "http.client"
"""``request.extensions["jobsim_client"]`` of a request that came through ``http.client``."""

_HTTPS: Any = getattr(http.client, "HTTPSConnection", None)  # absent from a Python built without ssl
_READ_RESETS = (ConnectionResetError, ConnectionAbortedError)
"""Socket errors of an open connection: met while reading the answer, not while connecting."""
_PATCHES = SinkPatches()
_REAL: ContextVar[bool] = ContextVar("jobsim_httpclient_real", default=False)
"""Set while a pass-through opens the real connection: ``connect`` is the library's own again."""


def install(sink: HttpSink) -> None:
    """Send ``http.client``'s requests to ``sink`` (the latest installed sink gets them) until ``uninstall``."""
    _PATCHES.install(sink, _patches)


def uninstall(sink: HttpSink) -> None:
    _PATCHES.uninstall(sink)


def _patches() -> list[tuple[type, str, Any]]:
    patches: list[tuple[type, str, Any]] = [(http.client.HTTPConnection, "connect", _connect_http)]
    if _HTTPS is not None:
        patches.append((_HTTPS, "connect", _connect_https))
    return patches


def _connect_http(conn: http.client.HTTPConnection) -> None:
    """``HTTPConnection.connect`` while simulated: the connection's socket is a wire the sink answers."""
    _connect(conn, http.client.HTTPConnection)


def _connect_https(conn: http.client.HTTPConnection) -> None:
    """``HTTPSConnection.connect`` while simulated: no TLS either, until a route passes the request on."""
    _connect(conn, _HTTPS)


def _connect(conn: http.client.HTTPConnection, owner: type) -> None:
    if _REAL.get() or _PATCHES.sink() is None:
        _PATCHES.original(owner, "connect")(conn)
    else:
        conn.sock = _Wire(conn)


class _Wire:
    """The socket ``http.client`` writes requests to and reads answers from: the sink is the server."""

    def __init__(self, conn: http.client.HTTPConnection) -> None:
        self._conn = conn
        self._sent = SentRequest()
        self._answer: bytes | BaseException | None = None  # to the request sent last, until it is read
        self._timeout: float | None = None

    def sendall(self, data: Any) -> None:
        chunk = memoryview(data).tobytes()  # TypeError for an iterable: http.client then sends its items one by one
        self._sent.feed(chunk)
        if self._sent.complete:
            sent, self._sent = self._sent, SentRequest()
            self._answer = self._exchange(sent)

    def makefile(self, mode: str = "r", *args: Any, **kwargs: Any) -> io.BufferedReader:
        answer, self._answer = self._answer, None
        if isinstance(answer, BaseException):
            return io.BufferedReader(_Failing(answer))
        if answer is None:
            raise JobsimError(
                f"jobsim: http.client read an answer from {self._conn.host} before its request was complete "
                f"({len(self._sent.raw)} bytes sent, the body shorter than its Content-Length?); a server would "
                "wait for the rest until the connection's timeout")  # fmt: skip
        return io.BufferedReader(io.BytesIO(answer))

    def close(self) -> None:
        pass  # a response being read keeps its answer, as a socket's file outlives the socket

    def shutdown(self, how: int) -> None:
        pass

    def settimeout(self, seconds: float | None) -> None:
        self._timeout = seconds

    def gettimeout(self) -> float | None:
        return self._timeout

    def setsockopt(self, *args: Any) -> None:
        pass

    # -- the server's side -------------------------------------------------------------------

    def _exchange(self, sent: SentRequest) -> bytes | BaseException:
        """The answer to ``sent`` as bytes, or the error its read will meet; errors of the connect or the
        write are raised here, in the ``sendall`` that completed the request."""
        request = _request(self._conn, sent)
        sink = _PATCHES.sink()
        if sink is None:  # uninstalled since this connection was opened: the network, as without jobsim
            self._pass_through(sent)
            return b""
        try:
            answer = sink._router.handler(request)
        except PassThrough:
            self._pass_through(sent)
            return b""  # unused: the connection reads its answer from the real socket now
        except httpx.TransportError as error:
            return self._socket_error(error)
        except _READ_RESETS as error:
            return error
        except OSError:
            self._never_connected()
            raise
        return _answer_bytes(answer, request.method)

    def _socket_error(self, error: httpx.TransportError) -> bytes | BaseException:
        """What the socket meets where httpx raised ``error``: raised now if the connect or the write meets it,
        else what the answer's read meets (no bytes at all: the server hung up)."""
        if isinstance(error, (httpx.ConnectError, httpx.ProxyError, httpx.ConnectTimeout, httpx.PoolTimeout)):
            self._never_connected()
            if isinstance(error, (httpx.ConnectTimeout, httpx.PoolTimeout)):
                raise TimeoutError("timed out") from error
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused") from error
        if isinstance(error, httpx.WriteTimeout):
            raise TimeoutError("timed out") from error
        if isinstance(error, httpx.WriteError):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe") from error
        if isinstance(error, httpx.RemoteProtocolError):
            return b""  # http.client raises its own RemoteDisconnected
        failure: OSError = (TimeoutError("timed out") if isinstance(error, httpx.ReadTimeout)
                            else ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"))  # fmt: skip
        failure.__cause__ = error  # the job's traceback shows jobsim's reason
        return failure

    def _never_connected(self) -> None:
        """A connect that failed leaves the connection without a socket, as ``socket.create_connection`` does."""
        if self._conn.sock is self:
            self._conn.sock = None

    def _pass_through(self, sent: SentRequest) -> None:
        """The real connection, opened by the connection's own ``connect``; the request is sent on it."""
        conn = self._conn
        token = _REAL.set(True)
        try:
            conn.connect()
        finally:
            _REAL.reset(token)
        assert conn.sock is not None
        conn.sock.sendall(bytes(sent.raw))


class _Failing(io.RawIOBase):
    """A socket's file whose first read meets ``error`` (a read timeout, a reset)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self._error = error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise self._error


def _request(conn: http.client.HTTPConnection, sent: SentRequest) -> httpx.Request:
    """The request ``http.client`` wrote, as httpx's: the URL from the request line and the connection."""
    line = bytes(sent.raw[:sent.raw.find(b"\r\n")]).decode("latin-1")
    method, _, rest = line.partition(" ")
    target = rest.partition(" ")[0]
    extensions = {"timeout": _timeouts(conn), "jobsim_client": CLIENT}
    request = httpx.Request(method, _url(conn, target), headers=sent.headers, stream=httpx.ByteStream(sent.body),
                            extensions=extensions)  # fmt: skip
    request.read()
    return request


def _url(conn: http.client.HTTPConnection, target: str) -> str:
    """The request's full URL: a request to a proxy names it whole; one through a tunnel goes to the tunnel's host."""
    if target.startswith(("http://", "https://")):
        return target
    scheme = "https" if _HTTPS is not None and isinstance(conn, _HTTPS) else "http"
    tunnel = getattr(conn, "_tunnel_host", None)
    host, port = (tunnel, getattr(conn, "_tunnel_port", None)) if tunnel else (conn.host, conn.port)
    default = 443 if scheme == "https" else 80
    host = f"[{host}]" if ":" in host else host  # an IPv6 literal
    return f"{scheme}://{host}{'' if port in (None, default) else f':{port}'}{target}"


def _timeouts(conn: http.client.HTTPConnection) -> dict[str, float | None]:
    """The connection's one ``timeout`` in httpx's form: ``http.client`` sets it on the socket, so it bounds
    the connect and every read and write; ``timeout()`` waits the one its phase names."""
    seconds: Any = conn.timeout
    if seconds is getattr(socket, "_GLOBAL_DEFAULT_TIMEOUT", None):
        seconds = socket.getdefaulttimeout()
    return {"connect": seconds, "read": seconds, "write": seconds, "pool": None}


def _answer_bytes(answer: httpx.Response, method: str) -> bytes:
    """``answer`` as a server writes it: its body still content-encoded if it was (``http.client`` decodes
    none), framed by ``Content-Length``, or chunked if the route's headers say ``Transfer-Encoding: chunked``."""
    body, encoded = _sent_body(answer)
    chunked = "chunked" in answer.headers.get("transfer-encoding", "").lower()
    bodiless = method == "HEAD" or answer.status_code < 200 or answer.status_code in (204, 304)
    if not chunked or bodiless:
        return response_bytes(answer, method, body, encoded)
    lines = [f"HTTP/1.1 {answer.status_code} {answer.reason_phrase}".encode("ascii")]
    for name, value in answer.headers.raw:
        lowered = name.lower()
        if lowered != b"content-length" and (lowered != b"content-encoding" or encoded):
            lines.append(name + b": " + value)
    framed = (f"{len(body):x}\r\n".encode("ascii") + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    return b"\r\n".join(lines) + b"\r\n\r\n" + framed


def _sent_body(answer: httpx.Response) -> tuple[bytes, bool]:
    """The body's bytes as the server sent them, and whether they are those (still content-encoded): a
    response built from bytes keeps them; a streamed one gives its raw chunks unless the stream is async."""
    stream = answer.stream
    if isinstance(stream, httpx.ByteStream):
        return b"".join(stream), True
    if isinstance(stream, httpx.SyncByteStream):
        return b"".join(answer.iter_raw()), True
    return answer.read(), False
