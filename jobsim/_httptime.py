"""Virtual time an HTTP answer takes: ``spend``, the client's own timeouts, ``delayed()`` and ``timeout()``.

Scripted latency: ``delayed(duration, response)`` and ``timeout()`` are respx side
effects that spend *virtual* time (``Host.consume``) before answering or raising.
They are plain values, usable in any ``side_effect`` list; the host they charge is
the one whose router is resolving the request, found through a ``ContextVar`` (``RESOLVING``) that
the sink sets only for the duration of that resolution (so nothing is global, and
concurrent simulations in other threads or tasks cannot see each other's clock).
An answer slower than the client's own timeout meets that timeout instead (``give_up``), for
``delayed``, ``answer_lost`` (``jobsim._httplost``) and a replayed answer (``jobsim._replay``) alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from ._checks import keywords_checked
from ._host import Host
from ._httplost import status_response
from ._time import SECOND, Duration, duration_ns, format_duration
from .errors import InvalidArgument, JobsimError

Phase = Literal["connect", "read", "write", "pool"]
_TIMEOUTS: dict[str, type[httpx.TimeoutException]] = {
    "connect": httpx.ConnectTimeout, "read": httpx.ReadTimeout,
    "write": httpx.WriteTimeout, "pool": httpx.PoolTimeout,
}
RESOLVING: ContextVar[Host] = ContextVar("jobsim_http_resolving")
AWAITED: ContextVar[list[int] | None] = ContextVar("jobsim_http_awaited", default=None)
"""Set while an async client's request is resolved on a virtual loop: the time its answer takes,
awaited once it is resolved, so requests gathered together overlap instead of queueing."""
Wait = Callable[[int, "BaseException | None"], Awaitable[None]]
"""How an async client's request spends the ``ns`` its answer takes, given what the route raised (None for a
response): ``asyncio.sleep`` unless the client brings its own timers (``jobsim._aiohttp``)."""


def spend(host: Host, ns: int) -> None:
    """Spend ``ns`` of virtual time answering the request being resolved (``delayed``, ``timeout``, a replay).

    A sync client's call blocks its thread for that long, so the time passes at once; an
    async client's call on a virtual loop awaits it instead, letting the loop run other
    tasks meanwhile: ``asyncio.gather`` of four 2-second calls takes 2 s, not 8 s.
    """
    awaited = AWAITED.get()
    if awaited is None:
        host.consume(ns)
    else:
        awaited.append(ns)


Outcome = httpx.Response | BaseException | type[BaseException]


@dataclass(frozen=True, slots=True)
class Delayed:
    """Side effect: spend ``after_ns`` of virtual time, then answer ``outcome``."""

    after_ns: int
    outcome: Outcome

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host = _resolving_host("delayed")
        give_up(host, request, self.outcome, self.after_ns, "jobsim.delayed() scripted")
        spend(host, self.after_ns)
        if isinstance(self.outcome, httpx.Response):
            return self.outcome
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        if issubclass(self.outcome, httpx.RequestError):
            raise self.outcome(f"jobsim: scripted {self.outcome.__name__}", request=request)
        raise self.outcome()


_CONNECT_PHASE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError)
_RESETS = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)


def check_client_timeouts(request: httpx.Request) -> None:
    """A client timeout no socket takes (``httpx.get(url, timeout=-1)``, ``urlopen(url, timeout="10")``): a real
    worker's socket raises ValueError or TypeError at the connect; here it read as a timeout already passed, or
    failed inside jobsim's arithmetic. aiohttp checks its own ``ClientTimeout``."""
    if request.extensions.get("jobsim_client") == "aiohttp":
        return
    for phase, seconds in (request.extensions.get("timeout") or {}).items():
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                    or not 0 <= seconds < float("inf")):
            raise InvalidArgument(
                f"{request.method} {request.url} with a {phase} timeout of {seconds!r}: a timeout is a number of "
                "seconds >= 0, or None to wait as long as it takes, and a real worker's socket refuses any other; "
                "check where the timeout is read from")  # fmt: skip


def give_up(host: Host, request: httpx.Request, outcome: Outcome | None, after_ns: int, source: str) -> None:
    """Where the client stops waiting before an answer due in ``after_ns`` comes, as it would for a real server
    that slow (``client_limit``; ``outcome`` None: a response): spend its timeout and raise its timeout error;
    else return."""
    cut = client_limit(request, outcome, after_ns)
    if cut is not None:
        phase, limit_ns = cut
        spend(host, limit_ns)
        raise _TIMEOUTS[phase](
            f"timed out: {source} an answer after {format_duration(after_ns)}, "
            f"later than the client's {phase} timeout ({format_duration(limit_ns)})", request=request)


def client_limit(request: httpx.Request, outcome: Outcome | None, after_ns: int) -> tuple[Phase, int] | None:
    """The phase and timeout of the client that gives up on a ``delayed`` answer before it comes, or None.

    A response, or an error met reading it, is waited for through the read timeout; an error of the
    connect (refused, TLS, DNS: an ``OSError`` other than a reset) through the connect timeout. Each
    client's bridge puts its own timeouts in ``request.extensions["timeout"]`` (httpx's, urllib3's
    ``(connect, read)``, ``http.client``'s one ``timeout``); no timeout (``None``) waits as long as it
    takes. aiohttp's connection measures the wait itself (``jobsim._aiohttp``: ``sock_read``,
    ``sock_connect``, ``total``), so it is left to it.
    """
    if request.extensions.get("jobsim_client") == "aiohttp":
        return None
    kind = httpx.Response if outcome is None else outcome if isinstance(outcome, type) else type(outcome)
    phase: Phase = "connect" if issubclass(kind, _CONNECT_PHASE) or (
        issubclass(kind, OSError) and not issubclass(kind, _RESETS)) else "read"
    seconds = (request.extensions.get("timeout") or {}).get(phase)
    if seconds is None:
        return None
    limit_ns = round(seconds * SECOND)
    return (phase, limit_ns) if after_ns > limit_ns else None


@dataclass(frozen=True, slots=True)
class Timeout:
    """Side effect: wait out the client's timeout in virtual time, then raise httpx's error."""

    after_ns: int | None
    phase: Phase

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host = _resolving_host("timeout")
        after_ns = self.after_ns
        source = "timeout(after=...)"
        if after_ns is None:
            configured = (request.extensions.get("timeout") or {}).get(self.phase)
            if configured is None:
                raise JobsimError(
                    f"jobsim: timeout() on {request.method} {request.url}: the client has no "
                    f"{self.phase} timeout (timeout=None), so the request would wait forever; "
                    f"pass timeout(after='30s') to choose how long it waits")
            after_ns, source = round(configured * 1e9), f"the client's {self.phase} timeout"
        spend(host, after_ns)
        raise _TIMEOUTS[self.phase](
            f"timed out: jobsim scripted a {self.phase} timeout after "
            f"{format_duration(after_ns)} ({source})", request=request)


def delayed(duration: Duration, response: httpx.Response | int | Outcome = 200, **body: Any) -> Delayed:
    """A respx side effect that answers ``response`` after ``duration`` of virtual time.

    ``response`` is an ``httpx.Response``, a status code (with ``json=``, ``text=``,
    ``html=``, ``content=`` or ``headers=``, as ``route.respond`` takes them), or an
    exception (instance or class) to raise after the delay::

        sim.http.post(url).mock(side_effect=delayed("2s", 200, json={"id": "ch_1"}))
        sim.http.post(url).mock(side_effect=[delayed("30s", 503), httpx.Response(200)])
    """
    accepted = "an httpx.Response, a status code from 100 to 599, or an exception"
    response = status_response("delayed", response, body, ("duration", "response"), accepted,
                               "delayed('2s', 200, json={...}); an httpx.Response carries its own")
    if not isinstance(response, (httpx.Response, BaseException)) and not (
            isinstance(response, type) and issubclass(response, BaseException)):
        raise InvalidArgument.build("response", response, accepted)
    return Delayed(duration_ns(duration, "duration"), response)


@keywords_checked("jobsim.timeout()")
def timeout(after: Duration | None = None, *, phase: Phase = "read") -> Timeout:
    """A respx side effect that times out like httpx: waits, then raises ``httpx.ReadTimeout``.

    The wait is the client's own configured timeout for ``phase``
    (``request.extensions["timeout"]``, httpx's default is 5 s) unless ``after`` is
    given; ``phase`` picks the error: ``"connect"`` -> ``ConnectTimeout``, ``"read"``
    -> ``ReadTimeout``, ``"write"`` -> ``WriteTimeout``, ``"pool"`` -> ``PoolTimeout``::

        sim.http.post(url).mock(side_effect=[timeout(), httpx.Response(500), httpx.Response(200)])
    """
    if not isinstance(phase, str) or phase not in _TIMEOUTS:  # phase=[] raised "unhashable type"
        raise InvalidArgument.build("phase", phase, "one of 'connect', 'read', 'write', 'pool'")
    return Timeout(None if after is None else duration_ns(after, "after"), phase)


def _resolving_host(helper: str) -> Host:
    try:
        return RESOLVING.get()
    except LookupError:
        raise JobsimError(f"jobsim: {helper}() is a side effect for routes of sim.http; outside "
                          "a jobsim simulation there is no virtual clock to spend") from None
