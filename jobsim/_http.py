"""The HTTP sink: one respx router per simulation, stamped with virtual time.

respx is wrapped here and nowhere else. The sink owns one ``respx.MockRouter``
(never respx's global ``respx.mock``) whose ``start``/``stop`` patch and restore
httpcore's connection pools, so ``httpx.Client`` and ``httpx.AsyncClient`` both go
through it, whatever the job imported. A request is resolved in this order:

1. the test's own routes (``sim.http.post(url).respond(...)``, any respx API);
   a route whose ``side_effect`` list is used up, or whose side effect returns
   ``None``, passes the request on;
2. mail-provider URLs, answered by ``MailSink.handle_provider_request``, so mail
   sent through Resend & co. lands in the outbox with no route (a route for the
   same URL wins: ``side_effect=[httpx.Response(500)] * 2`` scripts an outage,
   after which the provider answers again);
3. for an httpx request, the test's own respx routers (the ``respx_mock`` fixture,
   ``respx.mock``): routes a team already had answer it, recorded like the others
   (this router is kept ahead of theirs whichever started first, ``HttpSink.install``);
4. anything else raises ``UnmatchedRequest`` *inside the job*: an
   ``httpx.ConnectError``, so the job's retry logic runs as for a network failure,
   and the request is kept in ``unmatched`` for the teardown check.

Every request becomes an ``HttpCall`` in ``calls`` and an ``"http"`` trace record,
except those a ``pass_through()`` route sends to the real network (not simulated).
httpx clients that reach httpcore are intercepted (a client given its own transport,
``httpx.MockTransport`` or ``ASGITransport``, keeps it), and so are urllib3, with requests
and the SDKs built on it (``jobsim._urllib3``), aiohttp's client (``jobsim._aiohttp``) and
``http.client``, with ``urllib.request`` (``jobsim._httpclient``); each library only once it is
imported (``jobsim._bridges``).

Routes are checked when declared (``_Router.route`` builds every route as a
``_Route``): pattern names, lookups and values, side effects, statuses and return
values raise ``InvalidArgument`` at the test's line instead of respx's internals
at request time. What a side-effect *function* does can only be seen when it is
called: ``_httpeffects`` calls it as respx would and names what respx would only
assert on (an ``async def`` reached from a sync client, a result that is not a
response).

Scripted latency: ``delayed(duration, response)`` and ``timeout()`` are respx side
effects that spend *virtual* time (``Host.consume``) before answering or raising.
They are plain values, usable in any ``side_effect`` list; the host they charge is
the one whose router is resolving the request, found through a ``ContextVar`` that
the sink sets only for the duration of that resolution (so nothing is global, and
concurrent simulations in other threads or tasks cannot see each other's clock).
``answer_lost(...)`` (``jobsim._httplost``) marks the request instead; once the router
has the answer, ``HttpSink._lose`` takes it from the client, inside the same resolution.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import difflib
import inspect
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import httpx
import respx
from httpcore._sync.connection import RETRIES_BACKOFF_FACTOR, exponential_backoff
from respx.models import AllMockedAssertionError, PassThrough, SideEffectError
from respx.patterns import Lookup, M, PathPattern, Pattern

from ._aio import VirtualLoop
from ._bridges import Abandoned
from ._bridges import install as install_bridges
from ._bridges import uninstall as uninstall_bridges
from ._checks import keywords_checked
from ._host import Host
from ._httpeffects import call_side_effect, check_exception_class, client_kind
from ._httplost import KEY as _LOST
from ._httplost import answer_lost, lose, refuse_pass_through, same_key, status_response
from ._httpmatch import closest_routes
from ._httpxtls import install as install_tls
from ._httpxtls import uninstall as uninstall_tls
from ._othermocks import reached
from ._patching import SinkPatches
from ._safe import said
from ._steps import Suspend
from ._time import SECOND, Duration, duration_ns, format_duration, instant_ns, iso, to_datetime
from ._wallclock import serving_on_blocked_loop
from .errors import InvalidArgument, JobsimError, UnsupportedFeature

if TYPE_CHECKING:
    from ._mail import MailSink

__all__ = ["HttpCall", "HttpSink", "UnmatchedRequest", "delayed", "timeout"]

Phase = Literal["connect", "read", "write", "pool"]
_TIMEOUTS: dict[str, type[httpx.TimeoutException]] = {
    "connect": httpx.ConnectTimeout, "read": httpx.ReadTimeout,
    "write": httpx.WriteTimeout, "pool": httpx.PoolTimeout,
}
_ROUTE_HELPERS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_REFUSED = {"httpx": "httpx.ConnectError", "urllib3": "a refused connection (requests.ConnectionError)",
            "aiohttp": "a refused connection (aiohttp.ClientConnectorError)",
            "http.client": "a refused connection (ConnectionRefusedError; urllib.error.URLError from urlopen)"}
"""What job code got for an unmatched request, by the client that sent it (``format_unmatched``): keyed by
each bridge's ``CLIENT``, written out so that reporting imports no client library."""
_BLOCKED_SERVER = (
    "jobsim: job code's request {request} passes through to a server that runs on the async test's own event "
    "loop, and the driving call blocks that loop while job code runs: the server could never answer (the job "
    "would wait for its timeout, or for good). Drive the simulation from a thread, "
    "`await asyncio.to_thread(sim.run_until_idle)` (or advance), or run the server in a thread of its own."
)
_RESOLVING: ContextVar[Host] = ContextVar("jobsim_http_resolving")
_AWAITED: ContextVar[list[int] | None] = ContextVar("jobsim_http_awaited", default=None)
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
    awaited = _AWAITED.get()
    if awaited is None:
        host.consume(ns)
    else:
        awaited.append(ns)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpCall:
    """One request the job made: its response or the error it got, at virtual time ``at``.

    ``at`` is when the request was sent; ``elapsed`` the virtual time it took
    (non-zero only for scripted ``delayed``/``timeout``/``answer_lost`` side effects).
    ``lost``: the answer the server sent that never reached the client (``jobsim.answer_lost``):
    the server got the request and acted on it, the client got ``error``.
    """

    request: httpx.Request
    response: httpx.Response | None
    at: dt.datetime
    error: BaseException | None = None
    elapsed: dt.timedelta = dt.timedelta(0)
    lost: httpx.Response | None = None


class UnmatchedRequest(httpx.ConnectError, JobsimError):
    """Raised in job code for a request no route matches; behaves as a network failure.

    Also in the test's own code, for a request it sends between driving calls while the
    simulation runs (``test_code``): the sink answers whoever sends it.
    """

    def __init__(self, request: httpx.Request, *, exhausted: bool = False, test_code: bool = False,
                 closest: str = "") -> None:
        method, url = request.method, str(request.url)
        if exhausted:
            reason = (f"jobsim: the route for {method} {url} has used up its side_effect "
                      "list; give it one more response")
        else:
            reason = (f"jobsim: no route matches {method} {url}; "
                      + (f"{closest}; fix that route, or add one with " if closest else "add one with ")
                      + f"{_route_helper(request)}.respond(200)")
        if test_code:
            reason += f" ({_TEST_CODE})"
        super().__init__(reason, request=request)
        self.exhausted = exhausted
        self.closest = closest
        """The routes that miss the request by one or two of their patterns, and by which (``closest_routes``)."""


_TEST_CODE = (
    "sent by the test itself, between driving calls: while a simulation runs, its HTTP sink answers every "
    "request, the test's too; to reach a real server from the test, route its host to the network: "
    "sim.http.route(host=...).pass_through()"
)


def _route_helper(request: httpx.Request) -> str:
    """How a test adds a route for this request: ``sim.http.post('https://...')``."""
    method, url = request.method, str(request.url)
    if method in _ROUTE_HELPERS:
        return f"sim.http.{method.lower()}({url!r})"
    return f"sim.http.request({method!r}, {url!r})"


# -- scripted side effects -----------------------------------------------------------------


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


def give_up(host: Host, request: httpx.Request, outcome: Outcome | None, after_ns: int, source: str) -> None:
    """Where the client stops waiting before an answer due in ``after_ns`` comes, as it would for a real server
    that slow (``_client_limit``; ``outcome`` None: a response): spend its timeout and raise its timeout error;
    else return."""
    cut = _client_limit(request, outcome, after_ns)
    if cut is not None:
        phase, limit_ns = cut
        spend(host, limit_ns)
        raise _TIMEOUTS[phase](
            f"timed out: {source} an answer after {format_duration(after_ns)}, "
            f"later than the client's {phase} timeout ({format_duration(limit_ns)})", request=request)


def _client_limit(request: httpx.Request, outcome: Outcome | None, after_ns: int) -> tuple[Phase, int] | None:
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
        return _RESOLVING.get()
    except LookupError:
        raise JobsimError(f"jobsim: {helper}() is a side effect for routes of sim.http; outside "
                          "a jobsim simulation there is no virtual clock to spend") from None


# -- the sink ------------------------------------------------------------------------------


# -- route validation ----------------------------------------------------------------------
# respx checks little when a route is declared: a misspelt pattern is a KeyError from deep in
# respx.patterns, a wrong side effect or status fails only when a request arrives, inside the
# job. jobsim checks them where the test declares the route, naming what it accepts.

_PATTERNS = ", ".join(sorted(Pattern.registry))
_STATUS = "an int status code from 100 to 599"
_SIDE_EFFECT = ("a function taking the request (returning an httpx.Response, or None to pass "
                "the request on), an exception instance or class, an httpx.Response, or a list "
                "of those")
_SCALARS: dict[str, tuple[type, str]] = {
    "method": (str, "an HTTP method such as 'POST'"), "scheme": (str, "a scheme such as 'https'"),
    "host": (str, "a host name such as 'api.example.com'"),
    "path": (str, "a path such as '/v1/orders'"), "port": (int, "a port number (int)"),
}


def _check_status(name: str, status: Any) -> None:
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise InvalidArgument.build(name, status, _STATUS)


def _check_pattern(pattern: Any) -> None:
    if not isinstance(pattern, Pattern):
        raise InvalidArgument.build("pattern", pattern, "a respx pattern such as "
                                    "respx.patterns.M(host='api.example.com'); or pass lookups "
                                    f"as keywords, one of: {_PATTERNS}")


def _check_lookup(key: str, value: Any) -> None:
    """One keyword of ``route(...)``: a respx pattern name, optional ``__lookup``, a value it takes."""
    name, _, rest = key.partition("__")
    kind = Pattern.registry.get(name)
    if kind is None:
        close = difflib.get_close_matches(name, Pattern.registry, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InvalidArgument.build(key, value, f"{name!r} is not a respx pattern{hint}; accepted "
                                    f"patterns: {_PATTERNS}, each with an optional lookup suffix "
                                    "such as host__regex")
    lookups = [lookup.value for lookup in kind.lookups]
    lookup = rest.rpartition("__")[2] if issubclass(kind, PathPattern) else rest
    if rest and not issubclass(kind, PathPattern) and lookup not in lookups:
        raise InvalidArgument.build(key, value, f"the {name} pattern takes the lookups "
                                    f"{', '.join(lookups)}, as {name}__<lookup>")
    _check_scalar(key, name, lookup or lookups[0], value)
    try:
        M(**{key: value})
    except Exception as error:  # respx raises anything from AssertionError to re.error here
        raise InvalidArgument.build(key, value, f"respx's {name} pattern refused it "
                                    f"({type(error).__name__}: {error})") from None


def _check_url_scheme(key: str, value: Any) -> None:
    """``get("api.example.com/x")``: respx reads a URL without a scheme as a path, ``/api.example.com/x``,
    that no request has; every call would then fail as unmatched although a route was declared for it."""
    if not isinstance(value, str) or "://" in value or value.startswith("/"):
        return
    host = re.split(r"[/?#]", value, maxsplit=1)[0]
    if "." in host or host == "localhost" or re.fullmatch(r"[^:]+:\d+", host):
        raise InvalidArgument.build(key, value, f"it has no scheme, so respx reads it as the path '/{value}', "
                                    f"which no request has; write 'https://{value}' (or http://), or a path "
                                    "starting with '/' to match it on any host")  # fmt: skip


def _check_scalar(key: str, name: str, lookup: str, value: Any) -> None:
    """Values respx would accept but that can never match (``port='443'``, ``host=5``)."""
    if name not in _SCALARS:
        return
    kind, wanted = _SCALARS[name]
    if lookup == Lookup.IN.value:
        items = value if isinstance(value, (list, tuple, set, frozenset)) else None
        if items is None or not all(isinstance(item, kind) and not isinstance(item, bool)
                                    for item in items):
            raise InvalidArgument.build(key, value, f"a list of values, each {wanted}")
    elif lookup == Lookup.REGEX.value:
        if not isinstance(value, (str, re.Pattern)):
            raise InvalidArgument.build(key, value, "a regular expression (str or re.Pattern)")
    elif isinstance(value, bool) or not isinstance(value, kind):
        raise InvalidArgument.build(key, value, wanted)


def _check_side_effect(effect: Any) -> None:
    if effect is None or isinstance(effect, Iterator):  # an iterator is left unread
        return
    items = effect if isinstance(effect, Sequence) and not isinstance(effect, (str, bytes)) else [
        effect]
    for item in items:
        if item is delayed or item is timeout or item is answer_lost:  # respx would call it with the request
            raise InvalidArgument.build("side_effect", effect, f"jobsim.{item.__name__} is a function that makes a "
                                        f"side effect: call it, side_effect=jobsim.{item.__name__}(...)")
        if not (isinstance(item, (httpx.Response, Exception)) or (
                isinstance(item, type) and issubclass(item, Exception)) or (
                callable(item) and not isinstance(item, type))):
            raise InvalidArgument.build("side_effect", effect, _SIDE_EFFECT)
        if isinstance(item, type):
            check_exception_class(effect, item)
        elif callable(item) and not isinstance(item, (httpx.Response, Exception)):
            _check_takes_request(effect, item)


def _check_takes_request(effect: Any, fn: Any) -> None:
    """respx calls a side-effect function as ``fn(request, **path_params)``: one that cannot take
    the request would raise TypeError inside the job, at its first request, as a failed attempt."""
    try:
        inspect.signature(fn).bind_partial(None)
    except ValueError:  # no signature (a builtin): let it through
        return
    except TypeError as error:
        raise InvalidArgument.build("side_effect", effect, f"a function taking the request ({error})") from None


def _check_response(name: str, response: Any) -> None:
    if response is not None and not isinstance(response, httpx.Response):
        raise InvalidArgument.build(name, response, "an httpx.Response (or None); for a status "
                                    "code alone use .respond(status)")


_ROUTE_RETURN_VALUE: property = respx.Route.return_value  # type: ignore[assignment]
_ROUTE_SIDE_EFFECT: property = respx.Route.side_effect  # type: ignore[assignment]


class _Route(respx.Route):
    """respx's route, checking what a test declares on it at the line that declares it."""

    def _set_return_value(self, return_value: httpx.Response | None) -> None:
        _check_response("return_value", return_value)
        _ROUTE_RETURN_VALUE.__set__(self, return_value)

    def _set_side_effect(self, side_effect: Any) -> None:
        _check_side_effect(side_effect)
        _ROUTE_SIDE_EFFECT.__set__(self, side_effect)

    # respx's own getters; the setters check first (``mock()`` and ``%`` go through them too)
    return_value = property(_ROUTE_RETURN_VALUE.fget, _set_return_value)
    side_effect = property(_ROUTE_SIDE_EFFECT.fget, _set_side_effect)

    @keywords_checked("route.mock()")
    def mock(self, return_value: httpx.Response | None = None, *,
             side_effect: Any = None) -> respx.Route:
        # both checked before either is set: a refused call leaves the route as it was
        _check_response("return_value", return_value)
        _check_side_effect(side_effect)
        return super().mock(return_value, side_effect=side_effect)

    def respond(self, status_code: int = 200, **kwargs: Any) -> respx.Route:
        _check_status("status_code", status_code)
        # httpx encodes json= and checks content= when the response is built, which respx does at each
        # request: a body it cannot send would fail there, inside the job, as a TypeError or ValueError
        try:
            httpx.Response(status_code, **kwargs)
            return super().respond(status_code, **kwargs)
        except (TypeError, ValueError, AttributeError, RecursionError) as error:  # text=3 has no .encode; json=
            # nested past the interpreter's recursion limit cannot be encoded either
            name, value = next(iter(kwargs.items())) if len(kwargs) == 1 else ("respond", kwargs)
            raise InvalidArgument.build(name, value, "what httpx.Response accepts: json= plain JSON data "
                                        f"(no NaN or infinity), content= str or bytes ({error})") from None

    def __mod__(self, response: int | dict[str, Any] | httpx.Response) -> respx.Route:
        if isinstance(response, dict):
            _check_status("status_code", response.get("status_code", 200))
            try:
                httpx.Response(**{"status_code": 200, **response})
            except (TypeError, ValueError, AttributeError, RecursionError) as error:  # json=nan, text=3, too deep
                raise InvalidArgument.build("response", response, "keyword arguments of "
                                            f"httpx.Response ({error})") from None
        elif not isinstance(response, httpx.Response) and (
                isinstance(response, bool) or not isinstance(response, int)
                or not 100 <= response <= 599):
            raise InvalidArgument.build("response", response, f"{_STATUS}, a dict of "
                                        "httpx.Response arguments or an httpx.Response")
        # respx fills in the dict it is given (status_code): the test's own dict is left as it was
        return super().__mod__(dict(response) if isinstance(response, dict) else response)

    def _call_side_effect(self, effect: Any, request: httpx.Request, **kwargs: Any) -> Any:
        # respx's own call, with the checks it lacks (async effects from sync clients, results)
        return call_side_effect(self, effect, request, kwargs)


class _Router(respx.MockRouter):
    """respx's router, with jobsim's fallbacks when no route answers.

    respx raises ``AllMockedAssertionError`` from ``handler`` when nothing matched
    (``assert_all_mocked=True``), and lets ``StopIteration`` escape when a matching
    route's ``side_effect`` list is used up. Both fall through to the mail
    providers, then to ``UnmatchedRequest``: so ``side_effect=[httpx.Response(500)]
    * 2`` on a provider URL scripts an outage after which the provider answers
    again, and on any other URL an extra call fails loudly as unmatched. Calls are
    recorded around respx's own resolution.
    """

    def __init__(self, sink: HttpSink) -> None:
        super().__init__(assert_all_called=False, assert_all_mocked=True)
        self._sink = sink

    def route(self, *patterns: Any, name: str | None = None, **lookups: Any) -> respx.Route:
        """Every helper (``get``, ``post``, ``request``...) builds its route here: checked first."""
        if name is not None and (not isinstance(name, str) or not name):  # respx keys its routes by name
            raise InvalidArgument.build("name", name, "a non-empty str naming the route (sim.http[name] finds it), "
                                        "or None")  # fmt: skip
        for pattern in patterns:
            _check_pattern(pattern)
        for key, value in lookups.items():
            if key == "url" and value is not None and not value:  # respx reads '' (0, [], False) as no pattern
                raise InvalidArgument.build("url", value, "a URL (str, re.Pattern or httpx.URL); an empty one would "
                                            "route every request: leave url out (None) to mean any URL")
            if key != "url" or value is not None:
                _check_lookup(key, value)
            if key in ("url", "url__eq", "url__startswith"):
                _check_url_scheme(key, value)
            if key.endswith("__in") and isinstance(value, (list, set, frozenset)):
                lookups[key] = tuple(value)  # respx hashes patterns: a list would fail in add()
        return self.add(_Route(*patterns, **lookups), name=name)

    def handler(self, request: httpx.Request) -> httpx.Response:
        reached()
        with self._sink._capture(request) as outcome, client_kind(asynchronous=False):
            self._resolve(request, outcome)
            if _LOST in request.extensions:  # an answer_lost side effect marked it
                self._sink._lose(request, outcome)
        return outcome.response

    def _resolve(self, request: httpx.Request, outcome: _Outcome) -> None:
        try:
            outcome.response = super().handler(request)
        except AllMockedAssertionError:
            if not self._sink._provided(request, outcome):
                for router in self._others(request):
                    with contextlib.suppress(AllMockedAssertionError):
                        outcome.response = router.handler(request)
                        return
                self._sink._unmatched(request, exhausted=False)
        except StopIteration:
            self._sink._fallback(request, outcome, exhausted=True)

    async def async_handler(self, request: httpx.Request, wait: Wait | None = None) -> httpx.Response:
        """respx's call for async clients; ``wait`` spends the answer's time on a virtual loop (``Wait``)."""
        reached()
        with self._sink._capture(request) as outcome, client_kind(asynchronous=True):
            awaited: list[int] | None = [] if isinstance(asyncio.get_running_loop(), VirtualLoop) else None
            token = _AWAITED.set(awaited)
            raised: BaseException | None = None
            try:
                await self._resolve_async(request, outcome)
                if _LOST in request.extensions:
                    self._sink._lose(request, outcome)
            except BaseException as error:
                raised = error
                raise
            finally:
                _AWAITED.reset(token)
                if awaited:  # the answer's time, awaited: other tasks of the loop run meanwhile
                    await (wait or _sleep)(sum(awaited), raised)
        return outcome.response

    def _others(self, request: httpx.Request) -> list[respx.Router]:
        """The test's own respx routers (``respx_mock``, ``respx.mock``), asked after this one's routes and the
        mail providers: an httpx request is theirs too. Other simulations' routers are not (their requests would
        land in the wrong simulation), nor are the requests of other clients, which respx never sees."""
        mocker = self.Mocker
        if mocker is None or request.extensions.get("jobsim_client", "httpx") != "httpx":
            return []
        return [router for router in mocker.routers if not isinstance(router, _Router)]

    async def _resolve_async(self, request: httpx.Request, outcome: _Outcome) -> None:
        try:
            outcome.response = await super().async_handler(request)
        except AllMockedAssertionError:
            if not self._sink._provided(request, outcome):
                for router in self._others(request):
                    with contextlib.suppress(AllMockedAssertionError):
                        outcome.response = await router.async_handler(request)
                        return
                self._sink._unmatched(request, exhausted=False)
        except InvalidArgument as error:  # jobsim's check of an awaited side effect: respx wrapped it
            if isinstance(error.__cause__, SideEffectError):
                raise error from None
            raise
        except RuntimeError as error:  # a coroutine turns StopIteration into this
            if not isinstance(error.__cause__, StopIteration):
                raise
            self._sink._fallback(request, outcome, exhausted=True)


async def _sleep(ns: int, raised: BaseException | None) -> None:
    await asyncio.sleep(ns / SECOND)


def _ended_by(error: BaseException) -> BaseException:
    """What a request's call ended with: a crash, a downtime or a time limit that cuts the
    response's wait short arrives as the engine's ``Suspend``, carrying the error the
    attempt records (``WorkerCrashed``, ``TimeoutError``); the call records that one,
    not jobsim's control flow. A client that gave up on the answer (``Abandoned``) says why."""
    if isinstance(error, Abandoned):
        error = error.error
    if isinstance(error, asyncio.CancelledError):  # a task of an async client cancelled as its loop stopped
        loop = asyncio.events._get_running_loop()
        if isinstance(loop, VirtualLoop) and loop.cut is not None:
            error = loop.cut
    if isinstance(error, Suspend):
        return next((item for item in error.op if isinstance(item, BaseException)), error)
    return error


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


@dataclass(slots=True)
class _Outcome:
    response: httpx.Response
    mail: bool = False  # jobsim's mail provider answered (no route did)
    lost: httpx.Response | None = None  # the answer answer_lost() took from the client


class HttpSink:
    """Every HTTP request job code makes with httpx, answered by routes or providers.

    Add routes with the respx API directly on the sink (``route``, ``get``,
    ``post``, ``put``, ``patch``, ``delete``, ``head``, ``options``, ``request``;
    ``sim.http["name"]`` fetches a named route). Routes that are never called are
    fine. The Simulation calls ``install()`` on start and ``uninstall()`` on close;
    both are idempotent, and routes, ``calls`` and ``unmatched`` survive them.
    """

    delayed = staticmethod(delayed)
    timeout = staticmethod(timeout)
    answer_lost = staticmethod(answer_lost)

    def __init__(self, host: Host, mail: MailSink | None = None) -> None:
        self._host = host
        self._mail = mail
        self._router = _Router(self)
        self._installed = False
        self.calls: list[HttpCall] = []
        """Every request, in the order they were sent."""
        self.unmatched: list[httpx.Request] = []
        """Requests no route and no mail provider answered."""
        self._lost: dict[tuple[int, int], int] = {}  # answers each answer_lost(times=) took, by (route, it)

    # -- lifecycle -----------------------------------------------------------------

    def install(self) -> None:
        """Start intercepting httpx (sync and async clients), urllib3 (requests and what is built on it),
        aiohttp's client and ``http.client`` (``urllib.request``); a library job code imports later is
        intercepted from its import on (``jobsim._bridges``)."""
        if not self._installed:
            self._router.start()
            # ahead of the test's own respx routers (a respx_mock fixture set up before this simulation started):
            # else theirs answered job code unrecorded, or ours, depending on the order of the test's arguments
            mocker = self._router.Mocker
            if mocker is not None:  # set by start()
                mocker.routers.insert(0, mocker.routers.pop(mocker.routers.index(self._router)))
            _HOLDS.install(self, _holds)
            install_tls(self)  # one TLS context for the clients httpx.post(...) makes per call
            install_bridges(self)  # urllib3, aiohttp, http.client: each once it is imported
            self._installed = True

    def uninstall(self) -> None:
        """Stop intercepting; httpx is restored exactly. Routes and calls are kept."""
        if self._installed:
            self._installed = False
            # clear/reset=False: keep routes and their call counts for assertions
            # made after the simulation closed (respx would roll them back).
            self._router.stop(clear=False, reset=False, quiet=True)
            _HOLDS.uninstall(self)
            uninstall_tls(self)
            uninstall_bridges(self)

    @property
    def installed(self) -> bool:
        return self._installed

    def job_random(self) -> random.Random | None:
        """The running function's seeded stream while its job code runs on this thread, else None: where a client
        library's own random draw goes (urllib3's ``Retry(backoff_jitter=...)``, ``jobsim._urllib3``)."""
        return self._host.job_rng() if self._host.in_job_code() else None

    def clear(self) -> None:
        """Forget recorded ``calls`` and ``unmatched`` (routes stay)."""
        self.calls.clear()
        self.unmatched.clear()

    # -- routes: the respx API -------------------------------------------------------

    @property
    def router(self) -> respx.MockRouter:
        """The underlying respx router, for anything the helpers below do not cover."""
        return self._router

    def route(self, *patterns: Any, name: str | None = None, **lookups: Any) -> respx.Route:
        """A route matching respx patterns/lookups, e.g. ``route(host="api.x.test")``."""
        return self._router.route(*patterns, name=name, **lookups)

    def request(self, method: str, url: Any = None, *, name: str | None = None,
                **lookups: Any) -> respx.Route:
        """A route for ``method`` and ``url`` (string, ``re.Pattern`` or ``httpx.URL``)."""
        return self._router.request(method, url, name=name, **lookups)

    def get(self, url: Any = None, *, name: str | None = None, **lookups: Any) -> respx.Route:
        return self._router.get(url, name=name, **lookups)

    def post(self, url: Any = None, *, name: str | None = None, **lookups: Any) -> respx.Route:
        return self._router.post(url, name=name, **lookups)

    def put(self, url: Any = None, *, name: str | None = None, **lookups: Any) -> respx.Route:
        return self._router.put(url, name=name, **lookups)

    def patch(self, url: Any = None, *, name: str | None = None, **lookups: Any) -> respx.Route:
        return self._router.patch(url, name=name, **lookups)

    def delete(self, url: Any = None, *, name: str | None = None, **lookups: Any) -> respx.Route:
        return self._router.delete(url, name=name, **lookups)

    def head(self, url: Any = None, *, name: str | None = None, **lookups: Any) -> respx.Route:
        return self._router.head(url, name=name, **lookups)

    def options(self, url: Any = None, *, name: str | None = None,
                **lookups: Any) -> respx.Route:
        return self._router.options(url, name=name, **lookups)

    def __getitem__(self, name: str) -> respx.Route:
        """The route named ``name`` (``sim.http.post(url, name="charge")``); a name no route has is refused
        naming those there are (it was respx's bare ``KeyError``)."""
        return self._named("name", name, "given as sim.http.post(url, name='charge')")

    def _named(self, argument: str, name: str, also: str) -> respx.Route:
        if not isinstance(name, str) or name not in self._router.routes:
            known = ", ".join(repr(each.name) for each in self._router.routes if each.name) or "none"
            raise InvalidArgument.build(argument, name, f"the name of a route of sim.http (named: {known}), {also}")
        return self._router.routes[name]

    # -- reporting -----------------------------------------------------------------

    @keywords_checked("sim.http.assert_same_idempotency_key()")
    def assert_same_idempotency_key(self, route: str | respx.Route, *, count: int | None = None,
                                    header: str = "Idempotency-Key") -> str:
        """Assert that every request ``route`` matches carried one and the same ``header``, and return it.

        ``route`` is a route's name (``sim.http.post(url, name="charge")``) or the route itself; the requests
        are those in ``calls`` its patterns match, whatever answered them (a lost answer, an error, another
        route). ``count``: exactly that many requests (else at least two: a request and its retry). The
        failure lists each request with its key and what the client got.
        """
        __tracebackhide__ = True
        if isinstance(route, str):
            name, route = repr(route), self._named("route", route, "or the route itself")
        elif isinstance(route, respx.Route):
            name = repr(route.name) if route.name else str(route.pattern)
        else:
            raise InvalidArgument.build("route", route, "a route of sim.http, or its name")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise InvalidArgument.build("count", count, "an int >= 1")
        if not isinstance(header, str) or not header:
            raise InvalidArgument.build("header", header, "a header name such as 'Idempotency-Key'")
        return same_key(self.calls, route, name, header, count, self._host.tz)

    def format_unmatched(self) -> str:
        """The teardown report listing every unmatched request; ``""`` when there are none."""
        missed = [call for call in self.calls if isinstance(call.error, UnmatchedRequest)]
        if not missed:
            return ""
        noun = "request" if len(missed) == 1 else "requests"
        clients = {call.request.extensions.get("jobsim_client", "httpx") for call in missed}
        got = " or ".join(_REFUSED[client] for client in sorted(clients))
        by_test = [bool(call.request.extensions.get("jobsim_test_code")) for call in missed]
        who = "the test" if all(by_test) else "the job or the test" if any(by_test) else "the job"
        lines = [f"jobsim: {len(missed)} HTTP {noun} matched no route ({who} got {got} for each):"]
        lines += [f"  {call.request.method} {call.request.url}  at "
                  f"{iso(instant_ns(call.at), self._host.tz)}"
                  + ("  (its route's side_effect list was used up)"
                     if getattr(call.error, "exhausted", False) else "")
                  + ("  (sent by the test itself, between driving calls)"
                     if call.request.extensions.get("jobsim_test_code") else "")
                  for call in missed]
        hinted: set[str] = set()
        for call in missed:  # each near-missed route once, under the listing: why no route took the request
            closest = getattr(call.error, "closest", "")
            if closest and closest not in hinted:
                hinted.add(closest)
                lines.append(f"  {call.request.method} {call.request.url}: {closest}")
        lines.append(f"Add a route for each, e.g. {_route_helper(missed[0].request)}"
                     ".respond(200).")
        if any(by_test):
            lines.append("The test's own requests meet the simulation's sink too while it runs; to let one reach a "
                         "real server, route its host to the network: sim.http.route(host=...).pass_through().")
        return "\n".join(lines)

    # -- resolution (called by _Router) ------------------------------------------------

    @contextmanager
    def _capture(self, request: httpx.Request) -> Iterator[_Outcome]:
        started = self._host.now_ns()
        outcome = _Outcome(httpx.Response(599))  # replaced by the handler before use
        token = _RESOLVING.set(self._host)
        try:
            yield outcome
        except PassThrough:
            refuse_pass_through(request)
            # The route sends it to the real network. respx's transport then asks the
            # router again from inside the connection pool, so recording here would
            # count it twice; it is not simulated, so it is left out of calls/trace.
            if self._host.in_job_code() and serving_on_blocked_loop(
                    request.url.host, request.url.port or (443 if request.url.scheme == "https" else 80)):
                raise UnsupportedFeature(_BLOCKED_SERVER.format(request=f"{request.method} {request.url}"),
                                         feature="pass_through to the test's own event loop") from None
            raise
        except BaseException as error:
            request.extensions.pop(_LOST, None)
            self._record(request, None, started, _ended_by(error), mail=outcome.mail and outcome.lost is not None,
                         lost=outcome.lost)
            raise
        finally:
            _RESOLVING.reset(token)
        self._record(request, outcome.response, started, None, mail=outcome.mail)

    def _lose(self, request: httpx.Request, outcome: _Outcome) -> None:
        """An ``answer_lost`` side effect marked the request: the client does not get its answer (``_httplost``)."""
        outcome.lost = outcome.response
        lose(self._host, self._lost, request, outcome.response)
        outcome.lost = None  # its times= are used up: this answer is delivered

    def _fallback(self, request: httpx.Request, outcome: _Outcome, *, exhausted: bool) -> None:
        if not self._provided(request, outcome):
            self._unmatched(request, exhausted=exhausted)

    def _provided(self, request: httpx.Request, outcome: _Outcome) -> bool:
        """A mail provider's URL: its answer is the outcome."""
        if self._mail is not None:
            response = self._mail.handle_provider_request(request)
            if response is not None:
                outcome.response, outcome.mail = response, True
                return True
        return False

    def _unmatched(self, request: httpx.Request, *, exhausted: bool) -> NoReturn:
        self.unmatched.append(request)
        test_code = not self._host.driving()
        if test_code:
            request.extensions["jobsim_test_code"] = True  # the listing tells it from the jobs' own
        # Called while respx's AllMockedAssertionError (or the StopIteration of a used-up
        # side_effect list) is being handled: the job's traceback shows jobsim's error alone.
        closest = "" if exhausted else closest_routes(list(self._router.routes), request)
        raise UnmatchedRequest(request, exhausted=exhausted, test_code=test_code, closest=closest) from None

    def _record(self, request: httpx.Request, response: httpx.Response | None, started: int,
                error: BaseException | None, *, mail: bool = False, lost: httpx.Response | None = None) -> None:
        """One ``HttpCall`` and one ``"http"`` trace record; exactly one of response/error.

        ``mail``: jobsim's mail provider answered, not a route: a replay lets it answer again.
        ``lost``: the server's answer ``answer_lost`` took from the client (which got ``error``).
        """
        now = self._host.now_ns()
        call = HttpCall(request=request, response=response, error=error, at=to_datetime(started),
                        elapsed=dt.timedelta(microseconds=(now - started) // 1000), lost=lost)
        self.calls.append(call)
        fields: dict[str, Any] = {"method": request.method, "url": str(request.url)}
        if response is not None:
            fields["status"] = response.status_code
        else:
            fields["error"] = said(error)
        if lost is not None:
            fields["lost"] = lost.status_code
        answered = response if lost is None else lost
        if mail:
            fields["mail"] = True
        elif answered is not None and 200 <= answered.status_code < 300 and self._mail is not None \
                and self._mail.provides(request):
            self._mail.routed_elsewhere(request, answered.status_code, started)
        # The call itself rides along: headers and bodies become the saved record's
        # request/response summaries only if the trace is written (jobsim._codec).
        self._host.record("http", **fields, call=call)

