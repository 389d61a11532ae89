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

Routes are checked when declared (``jobsim._httproutes``). Scripted latency, ``delayed(duration, response)``
and ``timeout()``, spends virtual time on the host whose router is resolving the request (``jobsim._httptime``);
``answer_lost(...)`` (``jobsim._httplost``) marks the request instead; once the router has the answer,
``HttpSink._lose`` takes it from the client, inside the same resolution.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import httpx
import respx
from respx.models import AllMockedAssertionError, PassThrough, SideEffectError

from ._aio import VirtualLoop
from ._bridges import Abandoned
from ._bridges import install as install_bridges
from ._bridges import uninstall as uninstall_bridges
from ._checks import keywords_checked
from ._host import Host
from ._httpeffects import client_kind
from ._httplost import KEY as _LOST
from ._httplost import answer_lost, lose, refuse_pass_through, same_key
from ._httpmatch import closest_routes
from ._httppatches import install as install_patches
from ._httppatches import uninstall as uninstall_patches
from ._httprespx import RespxChecks
from ._httproutes import checked_route
from ._httptime import AWAITED, RESOLVING, Wait, check_client_timeouts, delayed, timeout
from ._httpxtls import install as install_tls
from ._httpxtls import uninstall as uninstall_tls
from ._othermocks import reached
from ._safe import said
from ._stepdata import Suspend
from ._time import SECOND, instant_ns, iso, to_datetime
from ._wallclock import serving_on_blocked_loop
from .errors import InvalidArgument, JobsimError, UnsupportedFeature, _keywords_named

if TYPE_CHECKING:
    from ._mail import MailSink

__all__ = ["HttpCall", "HttpSink", "UnmatchedRequest"]

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


class HttpCalls(list):  # type: ignore[type-arg]
    """``sim.http.calls``: the ``HttpCall``s in the order they were made, a list with the shorthands of respx's
    ``respx_mock.calls`` (``last``, ``called``, ``call_count``), which a respx user reaches for first."""

    __slots__ = ()

    @property
    def last(self) -> HttpCall:
        if not self:
            raise IndexError("sim.http.calls.last: no HTTP call was made (sim.http.calls is empty)")
        return self[-1]  # type: ignore[no-any-return]

    @property
    def called(self) -> bool:
        return bool(self)

    @property
    def call_count(self) -> int:
        return len(self)


@_keywords_named
class UnmatchedRequest(httpx.ConnectError, JobsimError):
    """Raised in job code for a request no route matches; behaves as a network failure.

    Also in the test's own code, for a request it sends between driving calls while the
    simulation runs (``test_code``): the sink answers whoever sends it.
    """

    def __init__(self, request: httpx.Request | str, *, exhausted: bool = False, test_code: bool = False,
                 closest: str = "", advice: str = "") -> None:
        self.exhausted = exhausted
        self.test_code = test_code
        self.closest = closest
        """The routes that miss the request by one or two of their patterns, and by which (``closest_routes``)."""
        self.advice = advice
        """What to do in place of the test's ``sim.http.post(...)``: a replay's (``_replayhttp.ReplayAdvice``)."""
        if isinstance(request, str):
            # rebuilt from its message, as Celery's result backend rebuilds a task's exception (``cls(*exc.args)``,
            # ``exception_to_python``): the same message, without the request (``.request`` raises, as httpx's)
            super().__init__(request)
            return
        method, url = request.method, str(request.url)
        if exhausted:
            reason = (f"jobsim: the route for {method} {url} has used up its side_effect "
                      "list; give it one more response")
        else:
            reason = f"jobsim: no route matches {method} {url}; " + (advice or (
                (f"{closest}; fix that route, or add one with " if closest else "add one with ")
                + f"{_route_helper(request)}.respond(200)"))  # _httpadvice reads it without the advice
        if test_code:
            reason += f" ({_TEST_CODE})"
        super().__init__(reason, request=request)

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled (Celery's result backend) and copied by what it was built from, as ``StepError``: ``args`` holds
        # only the message, which ``__init__`` cannot take back
        build = functools.partial(type(self), exhausted=self.exhausted, test_code=self.test_code, closest=self.closest,
                                  advice=self.advice)  # fmt: skip
        try:
            source: httpx.Request | str = self.request
        except RuntimeError:  # one rebuilt from its message has no request
            source = self.args[0]
        return build, (source,), self.__dict__


_TEST_CODE = (
    "sent by the test itself, between driving calls: while a simulation runs, its HTTP sink answers every "
    "request, the test's too; to reach a real server from the test, route its host to the network: "
    "sim.http.route(host=...).pass_through()"
)


def _route_helper(request: httpx.Request, sim: str = "sim") -> str:
    """How a test adds a route for this request: ``sim.http.post('https://...')``; ``sim``: what the test
    calls its simulation (``jobsim``, the fixture's name)."""
    method, url = request.method, str(request.url)
    if method in _ROUTE_HELPERS:
        return f"{sim}.http.{method.lower()}({url!r})"
    return f"{sim}.http.request({method!r}, {url!r})"


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
        return self.add(checked_route(patterns, name, lookups), name=name)

    def handler(self, request: httpx.Request) -> httpx.Response:
        reached()
        check_client_timeouts(request)
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
        check_client_timeouts(request)
        with self._sink._capture(request) as outcome, client_kind(asynchronous=True):
            awaited: list[int] | None = [] if isinstance(asyncio.get_running_loop(), VirtualLoop) else None
            token = AWAITED.set(awaited)
            raised: BaseException | None = None
            try:
                await self._resolve_async(request, outcome)
                if _LOST in request.extensions:
                    self._sink._lose(request, outcome)
            except BaseException as error:
                raised = error
                raise
            finally:
                AWAITED.reset(token)
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


def _near_misses(missed: list[HttpCall]) -> list[str]:
    """Under the report's listing, each near-missed route once: why no route took the request."""
    lines, hinted = [], set()
    for call in missed:
        closest = getattr(call.error, "closest", "")
        if closest and closest not in hinted:
            hinted.add(closest)
            lines.append(f"  {call.request.method} {call.request.url}: {closest}")
    return lines


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


@dataclass(slots=True)
class _Outcome:
    response: httpx.Response
    mail: bool = False  # jobsim's mail provider answered (no route did)
    lost: httpx.Response | None = None  # the answer answer_lost() took from the client


class HttpSink(RespxChecks):
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
        self.calls = HttpCalls()
        """Every request, in the order they were sent."""
        self.unmatched: list[httpx.Request] = []
        """Requests no route and no mail provider answered."""
        self._lost: dict[tuple[int, int], int] = {}  # answers each answer_lost(times=) took, by (route, it)
        self._advice: Callable[[httpx.Request, str], str] | None = None  # a replay's, for the unmatched (_replayhttp)

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
            install_patches(self)  # respx's real sends, httpx's response clock
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
            uninstall_patches(self)
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

    def format_unmatched(self, sim: str = "sim") -> str:
        """The teardown report listing every unmatched request; ``""`` when there are none. ``sim``: the name the
        test has for the simulation, in the routes it suggests (``jobsim`` in a test of the fixture)."""
        missed = [call for call in self.calls if isinstance(call.error, UnmatchedRequest)]
        if not missed:
            return ""
        noun = "request" if len(missed) == 1 else "requests"
        clients = {call.request.extensions.get("jobsim_client", "httpx") for call in missed}
        got = " or ".join(_REFUSED[client] for client in sorted(clients))
        by_test = [bool(call.request.extensions.get("jobsim_test_code")) for call in missed]
        who = "the test" if all(by_test) else "the job or the test" if any(by_test) else "the job"
        lines = [f"jobsim: {len(missed)} HTTP {noun} matched no route ({who} got {got} for each):"]
        lines += [self._unmatched_line(call) for call in missed]
        lines += _near_misses(missed)
        lines.append(f"Add a route for each, e.g. {_route_helper(missed[0].request, sim)}"
                     ".respond(200).")
        if any(by_test):
            lines.append("The test's own requests meet the simulation's sink too while it runs; to let one reach a "
                         f"real server, route its host to the network: {sim}.http.route(host=...).pass_through().")
        return "\n".join(lines)

    def _unmatched_line(self, call: HttpCall) -> str:
        """One request of the teardown report: what, when, and why it is there if not for a missing route."""
        line = f"  {call.request.method} {call.request.url}  at {iso(instant_ns(call.at), self._host.tz)}"
        if getattr(call.error, "exhausted", False):
            line += "  (its route's side_effect list was used up)"
        if call.request.extensions.get("jobsim_test_code"):
            line += "  (sent by the test itself, between driving calls)"
        return line

    # -- resolution (called by _Router) ------------------------------------------------

    @contextmanager
    def _capture(self, request: httpx.Request) -> Iterator[_Outcome]:
        started = self._host.now_ns()
        outcome = _Outcome(httpx.Response(599))  # replaced by the handler before use
        token = RESOLVING.set(self._host)
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
            RESOLVING.reset(token)
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
        advice = "" if exhausted or test_code or self._advice is None else self._advice(request, closest)
        raise UnmatchedRequest(request, exhausted=exhausted, test_code=test_code, closest=closest,
                               advice=advice) from None  # fmt: skip

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

