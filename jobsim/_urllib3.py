"""urllib3, and so requests and the SDKs built on it, through the HTTP sink.

Job code that calls ``requests.post(...)``, a ``requests.Session`` with a retrying adapter,
``urllib3.PoolManager`` or an SDK built on them (botocore) never reaches httpx, so respx
alone would let it go to the real network. While a simulation runs, the one call urllib3
makes per HTTP exchange, ``HTTPConnectionPool._make_request`` (below its retries, redirects
and pooling, and below requests' adapter), is replaced: the request becomes an
``httpx.Request`` and goes through the sink exactly as an httpx client's does (the test's
routes, then the mail providers, then ``UnmatchedRequest``), is recorded as an ``HttpCall``
and an ``"http"`` trace record, and spends the virtual time ``delayed``/``timeout`` script.
The answer comes back as what urllib3 reads off a socket: an ``http.client.HTTPResponse``
parsed from the response's bytes, wrapped in urllib3's own ``HTTPResponse``.

Everything above that call is the libraries' own code, so it behaves as in production:
``Retry(total=3, backoff_factor=1, status_forcelist=[503])`` retries (its backoff sleeps in
virtual time, ``Retry-After`` honoured), redirects are followed, cookies are kept, ``stream=True``
streams, and errors arrive as each library raises them:

- a request no route answers (``UnmatchedRequest``) fails as a refused connection would:
  urllib3's ``NewConnectionError``, which requests raises as ``requests.ConnectionError``;
- ``timeout(phase="connect")`` -> ``ConnectTimeoutError`` (``requests.ConnectTimeout``); a read
  or write timeout -> ``ReadTimeoutError`` (``requests.ReadTimeout``), after the client's own
  timeout (``requests.get(url, timeout=(3.05, 27))``) or ``after=``; ``phase="pool"`` ->
  ``EmptyPoolError``;
- any other httpx transport error a route raises -> ``ProtocolError`` (``requests.ConnectionError``);
- anything else a side effect raises is raised where the socket call would have been, so
  urllib3 and requests handle it as that error: ``ssl.SSLError`` becomes
  ``requests.exceptions.SSLError``, ``ConnectionResetError`` a ``requests.ConnectionError``
  (urllib3 wraps every ``OSError``, requests' own exceptions included, so script a socket's
  error, not the library's); jobsim's own errors reach the caller as they are.

A ``pass_through()`` route sends the request to the real network through urllib3's own
``_make_request``. Simulations installed at once share the patch; a request goes to the
sink installed last. ``Retry(backoff_jitter=...)`` draws its jitter from the simulation's seeded
generator while job code runs (``_SeededRandom``). urllib3 1.x is not intercepted; ``http.client``
and ``urllib.request`` have a bridge of their own (``jobsim._httpclient``), and so has aiohttp
(``jobsim._aiohttp``).
"""

from __future__ import annotations

import http.client
import io
import random
from typing import TYPE_CHECKING, Any

import httpx
from respx.models import PassThrough

from ._patching import SinkPatches

if TYPE_CHECKING:
    from ._http import HttpSink

try:
    import urllib3
    from urllib3 import connectionpool, exceptions
    from urllib3.util import retry
    from urllib3.util.proxy import connection_requires_http_tunnel
    from urllib3.util.request import body_to_chunks
    from urllib3.util.timeout import Timeout

    if not hasattr(urllib3, "BaseHTTPResponse"):  # 1.26: its _make_request takes other arguments
        raise ImportError("urllib3 1.x")
except ImportError:  # urllib3 is not a dependency of jobsim: without it (or with 1.x) nothing is intercepted
    urllib3 = None  # type: ignore[assignment]

__all__ = ["CLIENT", "install", "uninstall"]

CLIENT = "urllib3"
"""``request.extensions["jobsim_client"]`` of a request that came through urllib3 (``HttpSink.format_unmatched``)."""

_PATCHES = SinkPatches()


def install(sink: HttpSink) -> None:
    """Send urllib3's requests to ``sink`` (the latest installed sink gets them) until ``uninstall``.

    An HTTPS request through a proxy (``HTTPS_PROXY``, requests' ``proxies=``) would open its
    CONNECT tunnel before ``_make_request``: that step waits for a pass-through route too.
    """
    if urllib3 is not None:
        _PATCHES.install(sink, lambda: [(connectionpool.HTTPConnectionPool, "_make_request", _make_request),
                                        (connectionpool.HTTPSConnectionPool, "_prepare_proxy", _no_tunnel),
                                        (retry, "random", _SeededRandom(random))])  # fmt: skip


def uninstall(sink: HttpSink) -> None:
    if urllib3 is not None:
        _PATCHES.uninstall(sink)


class _SeededRandom:
    """``urllib3.util.retry``'s global ``random`` (the module) while a sink is installed.

    ``Retry.get_backoff_time`` adds ``random.random() * backoff_jitter`` to its backoff (urllib3 2.x,
    urllib3/util/retry.py): in job code that draw comes from the simulation's seeded generator, so the
    same seed gives the same waits; anywhere else (the test's own code) from the global ``random`` as before.
    Every other name is the module's.
    """

    def __init__(self, module: Any) -> None:
        self._module = module

    def random(self) -> float:
        for sink in reversed(_PATCHES.sinks()):
            seeded = sink.job_random()
            if seeded is not None:
                return seeded.random()
        value: float = self._module.random()
        return value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def _no_tunnel(pool: Any, conn: Any) -> None:
    """``HTTPSConnectionPool._prepare_proxy`` while simulated: no tunnel until a route passes the request on."""


def _make_request(pool: Any, conn: Any, method: str, url: str, body: Any = None, headers: Any = None,
                  retries: Any = None, timeout: Any = Timeout.DEFAULT_TIMEOUT if urllib3 else None,
                  chunked: bool = False, response_conn: Any = None, preload_content: bool = True,
                  decode_content: bool = True, enforce_content_length: bool = True) -> Any:  # fmt: skip
    """``HTTPConnectionPool._make_request``, answered by the simulation's HTTP sink."""
    sink = _PATCHES.sink()
    original = _PATCHES.original(connectionpool.HTTPConnectionPool, "_make_request")
    if sink is None:  # uninstalled while another thread was inside urlopen
        return original(pool, conn, method, url, body, headers, retries, timeout, chunked, response_conn,
                        preload_content, decode_content, enforce_content_length)  # fmt: skip
    timeouts = pool._get_timeout(timeout)
    framing = _framing(method, body, headers or {}, chunked)
    request = httpx.Request(
        method, _absolute(pool, url), headers=list((headers or {}).items()), content=_body(body),
        extensions={"timeout": _httpx_timeouts(timeouts), "jobsim_client": CLIENT},
    )  # fmt: skip
    for name in ("Content-Length", "Transfer-Encoding"):  # as urllib3 frames it on the wire, not as httpx would
        if name.lower() not in {key.lower() for key in (headers or {})}:
            request.headers.pop(name, None)
            if name in framing:
                request.headers[name] = framing[name]
    try:
        answer = sink._router.handler(request)
    except PassThrough:
        if pool.proxy is not None and conn.is_closed and isinstance(pool, connectionpool.HTTPSConnectionPool) \
                and connection_requires_http_tunnel(pool.proxy, pool.proxy_config, pool.scheme):
            _PATCHES.original(connectionpool.HTTPSConnectionPool, "_prepare_proxy")(pool, conn)  # urlopen's CONNECT
        return original(pool, conn, method, url, body, headers, retries, timeout, chunked, response_conn,
                        preload_content, decode_content, enforce_content_length)  # fmt: skip
    except httpx.TransportError as error:
        raise _urllib3_error(error, pool, conn, url) from error
    raw = _http_client_response(answer, method)
    response = urllib3.HTTPResponse(
        body=raw, headers=urllib3.HTTPHeaderDict(raw.msg.items()), status=raw.status, version=raw.version,
        version_string="HTTP/1.1", reason=raw.reason, preload_content=preload_content,
        decode_content=decode_content, original_response=raw, enforce_content_length=enforce_content_length,
        request_method=method, request_url=url,
    )  # fmt: skip
    response.retries = retries  # what urllib3's _make_request sets for its pooling layer
    response._connection = response_conn
    response._pool = pool
    return response


def _framing(method: str, body: Any, headers: Any, chunked: bool) -> dict[str, str]:
    """The ``Content-Length`` or ``Transfer-Encoding`` urllib3's ``HTTPConnection.request`` adds to the headers
    it was given: none when they frame the body already; chunked for ``chunked=True`` or a body of unknown length
    (a generator, as requests sends one); else the body's length (``0`` for a POST without one, none for a GET)."""
    keys = {str(key).lower() for key in headers}
    if chunked:
        return {} if "transfer-encoding" in keys else {"Transfer-Encoding": "chunked"}
    if "content-length" in keys or "transfer-encoding" in keys:
        return {}
    length = body_to_chunks(body, method=method, blocksize=8192).content_length  # reads nothing of an iterable
    if length is not None:
        return {"Content-Length": str(length)}
    return {} if body is None else {"Transfer-Encoding": "chunked"}


def _absolute(pool: Any, url: str) -> str:
    """The request target as a full URL (a proxied request's target is one already)."""
    if url.startswith(("http://", "https://")):
        return url
    default = 443 if pool.scheme == "https" else 80
    host = f"[{pool.host}]" if ":" in pool.host else pool.host  # an IPv6 literal
    port = "" if pool.port in (None, default) else f":{pool.port}"
    return f"{pool.scheme}://{host}{port}{url}"


def _body(body: Any) -> bytes:
    """What urllib3 2's ``HTTPConnection.request`` puts on the wire: it sends the body itself, in chunks from
    ``body_to_chunks``, and encodes a str (the body, a chunk, a text file's read) as UTF-8 (``to_bytes``), where
    ``http.client`` would use ISO-8859-1 (``requests.post(url, data="naïve ✓")`` raised UnicodeEncodeError)."""
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if hasattr(body, "read"):
        data = body.read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return b"".join(chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk) for chunk in body)


def _httpx_timeouts(timeouts: Any) -> dict[str, float | None]:
    """urllib3's connect and read timeouts in httpx's form (``timeout()`` waits the one its phase names);
    urllib3 has no write timeout of its own: the socket's read timeout covers sending too."""
    connect, read = timeouts.connect_timeout, timeouts.read_timeout
    connect = None if connect is Timeout.DEFAULT_TIMEOUT else connect
    read = None if read is Timeout.DEFAULT_TIMEOUT else read
    return {"connect": connect, "read": read, "write": read, "pool": None}


def _urllib3_error(error: httpx.TransportError, pool: Any, conn: Any, url: str) -> Exception:
    """The urllib3 error a real exchange ends with where httpx raised ``error``."""
    message = str(error)
    if isinstance(error, httpx.ConnectTimeout):
        return exceptions.ConnectTimeoutError(conn, f"Connection to {pool.host} timed out. ({message})")
    if isinstance(error, (httpx.ReadTimeout, httpx.WriteTimeout)):
        return exceptions.ReadTimeoutError(pool, url, f"Read timed out. ({message})")
    if isinstance(error, httpx.PoolTimeout):
        return exceptions.EmptyPoolError(pool, f"Pool reached maximum size and no more connections are allowed. "
                                               f"({message})")  # fmt: skip
    if isinstance(error, httpx.ConnectError):
        return exceptions.NewConnectionError(conn, f"Failed to establish a new connection: {message}")
    return exceptions.ProtocolError("Connection aborted.", error)


class _Wire:
    """The socket ``http.client.HTTPResponse`` reads a response from: the bytes it would have received."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BytesIO:
        return io.BytesIO(self._data)


def _http_client_response(answer: httpx.Response, method: str) -> http.client.HTTPResponse:
    """``answer`` as urllib3 gets it from ``http.client``: status line, headers and body parsed from the wire,
    the body as sent (still compressed if it was; urllib3 decodes it), with its length."""
    body, encoded = _sent_body(answer)
    status = answer.status_code
    bodiless = method == "HEAD" or status in (204, 304) or status < 200  # RFC 9110: its Content-Length is kept
    lines = [f"HTTP/1.1 {status} {answer.reason_phrase}".rstrip().encode("ascii")]
    for name, value in answer.headers.raw:
        lowered = name.lower()
        if lowered == b"transfer-encoding" or (lowered == b"content-length" and not bodiless) \
                or (lowered == b"content-encoding" and not encoded):
            continue
        lines.append(name + b": " + value)
    if bodiless:
        body = b""
    else:
        lines.append(b"Content-Length: " + str(len(body)).encode("ascii"))
    raw = http.client.HTTPResponse(_Wire(b"\r\n".join(lines) + b"\r\n\r\n" + body), method=method)  # type: ignore[arg-type]
    raw.begin()
    return raw


def _sent_body(answer: httpx.Response) -> tuple[bytes, bool]:
    """The body's bytes as the server sent them, and whether they are those (still content-encoded).

    A response built from bytes keeps them in its ``ByteStream``; one streamed by a side effect
    can only be read decoded, so its ``Content-Encoding`` header is dropped with the encoding.
    """
    stream = answer.stream
    if isinstance(stream, httpx.ByteStream):
        return b"".join(stream), True
    return answer.read(), False
