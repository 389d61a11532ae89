"""The HTTP sink: respx routes, scripted failures in virtual time, unmatched requests."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
import traceback
from collections.abc import Iterator
from typing import Any

import httpcore
import httpx
import pytest
import respx
from _deep import nested
from _loopback import refused_port, serving
from hypothesis import given, settings
from hypothesis import strategies as st

import jobsim
from jobsim._http import HttpCall, HttpSink, UnmatchedRequest
from jobsim._httptime import delayed, timeout
from jobsim._mail import MailSink
from jobsim.errors import InvalidArgument, JobsimError

from ._fakehost import START_NS, FakeHost

SECOND = 1_000_000_000
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
HOOK = "https://hooks.example.com/orders"


@pytest.fixture
def sink(http: HttpSink) -> HttpSink:
    return http  # the folder's installed sink, by this file's name for it


def post_with_retries(url: str, attempts: int, **kwargs: object) -> list[object]:
    """What job code does: retry on 5xx and on network errors; returns each outcome."""
    outcomes: list[object] = []
    with httpx.Client(**kwargs) as client:  # type: ignore[arg-type]
        for _ in range(attempts):
            try:
                response = client.post(url, json={"order": "o1"})
            except httpx.TransportError as error:
                outcomes.append(type(error).__name__)
                continue
            outcomes.append(response.status_code)
            if response.status_code < 500:
                break
    return outcomes


# -- routes and calls ----------------------------------------------------------------------


def test_route_answers_and_every_call_is_stamped(sink: HttpSink, host: FakeHost) -> None:
    route = sink.post(HOOK).respond(201, json={"ok": True})
    host.now += 5 * SECOND
    response = httpx.post(HOOK, json={"order": "o1"})
    assert (response.status_code, response.json()) == (201, {"ok": True})
    assert route.call_count == 1
    [call] = sink.calls
    assert isinstance(call, HttpCall)
    assert (call.request.method, str(call.request.url), call.request.content) == (
        "POST", HOOK, b'{"order":"o1"}')
    assert call.response is not None and call.response.status_code == 201
    assert (call.at, call.error, call.elapsed) == (T0 + dt.timedelta(seconds=5), None,
                                                   dt.timedelta(0))
    assert host.kinds("http") == [{"method": "POST", "url": HOOK, "status": 201}]


def test_async_client_goes_through_the_same_router(sink: HttpSink) -> None:
    sink.get("https://api.example.com/users/1").respond(json={"id": 1})

    async def fetch() -> object:
        async with httpx.AsyncClient() as client:
            response = await client.get("https://api.example.com/users/1")
            return response.json()

    assert asyncio.run(fetch()) == {"id": 1}
    assert [call.response.status_code for call in sink.calls if call.response] == [200]


def test_every_respx_helper_is_available(sink: HttpSink) -> None:
    url = "https://api.example.com/thing"
    for method in ("get", "post", "put", "patch", "delete", "head", "options"):
        getattr(sink, method)(url).respond(204)
    sink.request("PROPFIND", url).respond(207)
    sink.route(host="other.example.com", name="other").respond(202)
    with httpx.Client() as client:
        statuses = [client.request(m.upper(), url).status_code
                    for m in ("get", "post", "put", "patch", "delete", "head", "options")]
        statuses.append(client.request("PROPFIND", url).status_code)
        statuses.append(client.get("https://other.example.com/anything").status_code)
    assert statuses == [204] * 7 + [207, 202]
    assert sink["other"].call_count == 1
    assert sink.router.routes["other"] is sink["other"]


def test_scripted_500_500_200_drives_the_retry_loop(sink: HttpSink) -> None:
    sink.post(HOOK).mock(side_effect=[httpx.Response(500), httpx.Response(500),
                                      httpx.Response(200)])
    assert post_with_retries(HOOK, attempts=5) == [500, 500, 200]
    assert [call.response.status_code for call in sink.calls if call.response] == [500, 500, 200]


def test_exception_side_effects_are_recorded_as_errors(sink: HttpSink, host: FakeHost) -> None:
    sink.post(HOOK).mock(side_effect=[httpx.ConnectError, httpx.Response(200)])
    assert post_with_retries(HOOK, attempts=3) == ["ConnectError", 200]
    first = sink.calls[0]
    assert first.response is None and isinstance(first.error, httpx.ConnectError)
    assert host.kinds("http")[0] == {"method": "POST", "url": HOOK,
                                     "error": "ConnectError: Mock Error"}


def test_routes_that_are_never_called_are_fine(host: FakeHost) -> None:
    http = HttpSink(host)
    http.install()
    http.get("https://never.example.com/").respond(200)
    http.uninstall()  # no "some routes were not called" assertion


# -- route declarations are checked where they are written ---------------------------------

_PATTERNS = "content, cookies, data, files, headers, host, json, method, params, path, port, scheme, url"
_SIDE_EFFECTS = ("a function taking the request (returning an httpx.Response, or None to pass the "
                 "request on), an exception instance or class, an httpx.Response, or a list of those")


@pytest.mark.parametrize(("declare", "message"), [
    (lambda http: http.route(hostname="api.example.com"),
     "hostname='api.example.com' is not valid: 'hostname' is not a respx pattern (did you mean "
     f"'host'?); accepted patterns: {_PATTERNS}, each with an optional lookup suffix such as "
     "host__regex"),
    (lambda http: http.get(HOOK, verb="GET"),
     f"verb='GET' is not valid: 'verb' is not a respx pattern; accepted patterns: {_PATTERNS}, "
     "each with an optional lookup suffix such as host__regex"),
    (lambda http: http.route(host__startswith="api."),
     "host__startswith='api.' is not valid: the host pattern takes the lookups eq, regex, in, "
     "as host__<lookup>"),
    (lambda http: http.route(path__glob="/v1/*"),
     "path__glob='/v1/*' is not valid: the path pattern takes the lookups eq, regex, "
     "startswith, in, as path__<lookup>"),
    (lambda http: http.route(port="443"), "port='443' is not valid: a port number (int)"),
    (lambda http: http.route(host=5), "host=5 is not valid: a host name such as 'api.example.com'"),
    # values of the right type that no request has: they were accepted, and every call went unmatched
    (lambda http: http.route(host="api.example.com:8443"),
     "host='api.example.com:8443' is not valid: a request's host has no port; write "
     "host='api.example.com', port=8443 (no request would match)"),
    (lambda http: http.route(host="https://api.example.com"),
     "host='https://api.example.com' is not valid: 'https://api.example.com' is more than a host; give the "
     "host alone (host='api.example.com'), or the whole address as url= (no request would match)"),
    (lambda http: http.route(host__in=["api.example.com", "API.example.com"]),
     "host__in=['api.example.com', 'API.example.com'] is not valid: a request's host is in lower case; write "
     "host='api.example.com' (no request would match)"),
    (lambda http: http.route(host=""),
     "host='' is not valid: a host name such as 'api.example.com', not empty (no request would match)"),
    (lambda http: http.route(scheme="https://"),
     "scheme='https://' is not valid: a scheme such as 'https', without '://' (no request would match)"),
    (lambda http: http.route(port=70000),
     "port=70000 is not valid: a port number from 0 to 65535 (no request would match)"),
    (lambda http: http.route(method__in="GET"),
     "method__in='GET' is not valid: a list of values, each an HTTP method such as 'POST'"),
    (lambda http: http.request(5, HOOK), "method=5 is not valid: an HTTP method such as 'POST'"),
    (lambda http: http.post(5),
     "url=5 is not valid: respx's url pattern refused it (TypeError: Invalid type for url.  "
     "Expected str or httpx.URL, got <class 'int'>: 5)"),
    (lambda http: http.route(path__regex="(v1"),
     "path__regex='(v1' is not valid: respx's path pattern refused it (error: missing ), "
     "unterminated subpattern at position 0)"),
    (lambda http: http.route(headers=5),
     "headers=5 is not valid: respx's headers pattern refused it (TypeError: 'int' object is "
     "not iterable)"),
    (lambda http: http.route("api.example.com"),
     "pattern='api.example.com' is not valid: a respx pattern such as respx.patterns.M(host="
     f"'api.example.com'); or pass lookups as keywords, one of: {_PATTERNS}"),
])
def test_a_bad_route_pattern_names_itself_and_what_respx_accepts(
        sink: HttpSink, declare: object, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        declare(sink)  # type: ignore[operator]
    assert str(caught.value).replace("(PatternError: ", "(error: ") == message  # re.error's name on 3.13+
    assert not sink.router.routes  # nothing half-declared was left behind


@pytest.mark.parametrize("url", ["", False, 0, [], b""])
def test_an_empty_url_is_refused_because_respx_would_route_every_request(sink: HttpSink, url: object) -> None:
    # respx reads a falsy url as no pattern at all: get("") (an unset setting, say) mocked every GET
    with pytest.raises(InvalidArgument, match=rf"^url={re.escape(repr(url))} is not valid: a URL \(str, re\.Pattern or "
                                              r"httpx\.URL\); an empty one would route every request: leave url out "
                                              r"\(None\) to mean any URL$"):
        sink.get(url)
    sink.get().respond(204)  # None: every GET, on purpose
    assert httpx.get(HOOK).status_code == 204


@pytest.mark.parametrize(("declare", "message"), [
    (lambda route: route.mock(side_effect=5), f"side_effect=5 is not valid: {_SIDE_EFFECTS}"),
    (lambda route: route.mock(side_effect="500"), f"side_effect='500' is not valid: {_SIDE_EFFECTS}"),
    (lambda route: route.mock(side_effect=dict), f"side_effect=<class 'dict'> is not valid: "
                                                 f"{_SIDE_EFFECTS}"),
    (lambda route: route.mock(side_effect=[httpx.Response(500), 200]),
     f"side_effect=[<Response [500 Internal Server Error]>, 200] is not valid: {_SIDE_EFFECTS}; a status code "
     "alone is no answer: write httpx.Response(200)"),
    (lambda route: route.mock(side_effect=[503, 200]),  # the trial32 user trial's: statuses for answers
     f"side_effect=[503, 200] is not valid: {_SIDE_EFFECTS}; a status code alone is no answer: write "
     "httpx.Response(503)"),
    # respx reads an empty list as no side effect: every request got its default 200 (for a mail
    # provider's URL, an empty 200 instead of the provider's answer, and no email)
    (lambda route: route.mock(side_effect=[]),
     "side_effect=[] is not valid: at least one answer; an empty list would answer every request with "
     "respx's default 200; for no answer, leave the route out"),
    (lambda route: setattr(route, "side_effect", {"status": 500}),
     f"side_effect={{'status': 500}} is not valid: {_SIDE_EFFECTS}"),
    (lambda route: route.respond("200"), "status_code='200' is not valid: an int status code "
                                         "from 100 to 599"),
    (lambda route: route.respond(99), "status_code=99 is not valid: an int status code from 100 "
                                      "to 599"),
    (lambda route: route.respond(True), "status_code=True is not valid: an int status code from "
                                        "100 to 599"),
    (lambda route: route.mock(return_value=200),
     "return_value=200 is not valid: an httpx.Response (or None); for a status code alone use "
     ".respond(status)"),
    (lambda route: setattr(route, "return_value", {"status_code": 200}),
     "return_value={'status_code': 200} is not valid: an httpx.Response (or None); for a status "
     "code alone use .respond(status)"),
    (lambda route: route % 600, "response=600 is not valid: an int status code from 100 to 599, "
                                "a dict of httpx.Response arguments or an httpx.Response"),
    (lambda route: route % {"status_code": 1000}, "status_code=1000 is not valid: an int status "
                                                  "code from 100 to 599"),
    (lambda route: route % {"status": 201},
     "response={'status': 201} is not valid: keyword arguments of httpx.Response "
     "(Response.__init__() got an unexpected keyword argument 'status')"),
    # httpx sent the first body and dropped the others, without a word
    (lambda route: route.respond(200, json={"ok": True}, text="ok"),
     "respond={'json': {'ok': True}, 'text': 'ok'} is not valid: one body, not text= and json=: httpx would send "
     "text= alone and drop the others"),
    (lambda route: route % {"content": b"x", "html": "<p>x</p>"},
     "response={'content': b'x', 'html': '<p>x</p>'} is not valid: one body, not content= and html=: httpx would "
     "send content= alone and drop the others"),
    # these failed inside the job at each request: a TypeError/ValueError from httpx, or from the call
    (lambda route: route.respond(200, json=float("nan")),
     "json=nan is not valid: what httpx.Response accepts: json= plain JSON data (no NaN or infinity), "
     "content= str or bytes (Out of range float values are not JSON compliant)"),
    (lambda route: route.respond(200, content=3),
     "content=3 is not valid: what httpx.Response accepts: json= plain JSON data (no NaN or infinity), "
     "content= str or bytes (Unexpected type for 'content', <class 'int'>)"),
    (lambda route: route.respond(200, text=3),
     "text=3 is not valid: what httpx.Response accepts: json= plain JSON data (no NaN or infinity), "
     "content= str or bytes ('int' object has no attribute 'encode')"),
    (lambda route: route % {"json": float("inf")},
     "response={'json': inf} is not valid: keyword arguments of httpx.Response "
     "(Out of range float values are not JSON compliant)"),
    # nested past the recursion limit: httpx's json.dumps raised RecursionError at each request
    (lambda route: route.respond(200, json=nested()),
     "json=<dict object (its repr raised RecursionError)> is not valid: what httpx.Response accepts: json= plain "
     "JSON data (no NaN or infinity), content= str or bytes (maximum recursion depth exceeded while encoding a JSON "
     "object)"),
])
def test_a_bad_route_answer_is_refused_where_it_is_declared(
        sink: HttpSink, declare: object, message: str) -> None:
    route = sink.post(HOOK).respond(204)
    with pytest.raises(InvalidArgument) as caught:
        declare(route)  # type: ignore[operator]
    # the json module's own words end in ": nan" from Python 3.13 on; jobsim's message is the rest
    assert re.sub(r"not JSON compliant: \w+\)$", "not JSON compliant)", str(caught.value)) == message
    assert httpx.post(HOOK).status_code == 204  # the route keeps its previous answer


def test_a_side_effect_function_that_cannot_take_the_request_is_refused_where_declared(sink: HttpSink) -> None:
    # it raised TypeError inside the job at its first request, retried like an outage
    def answer() -> httpx.Response:
        return httpx.Response(200)

    route = sink.post(HOOK).respond(204)
    with pytest.raises(InvalidArgument, match=r"^side_effect=<function .*answer at 0x[0-9a-f]+> is not valid: "
                                              r"a function taking the request \(too many positional arguments\)$"):
        route.mock(side_effect=answer)
    assert httpx.post(HOOK).status_code == 204
    sink.post("https://x.example.com/{slug}").mock(side_effect=lambda request, slug: httpx.Response(200))


def test_an_ipv6_host_is_matched_as_httpx_spells_it_upper_case_hex_too(sink: HttpSink) -> None:
    """httpx lower-cases a host name but keeps an IPv6 address as written (``http://[FE80::1]/`` has host
    ``FE80::1``): a route for it is one a request can match, not "a request's host is in lower case"."""
    sink.route(host="FE80::1", port=8080).respond(201)
    sink.route(host__in=["2001:DB8::7"]).respond(202)
    assert httpx.get("http://[FE80::1]:8080/v1").status_code == 201
    assert httpx.get("http://[2001:DB8::7]/").status_code == 202
    with pytest.raises(InvalidArgument, match=r"host='API.example.com' is not valid: a request's host is in lower"):
        sink.route(host="API.example.com")  # a name is still refused: httpx lower-cases it
    for host, fix in (("[fe80::1]", "host='fe80::1'"), ("[FE80::1]:8080", "host='FE80::1', port=8080")):
        with pytest.raises(InvalidArgument, match=rf"is an IPv6 address without brackets; write {re.escape(fix)} "):
            sink.route(host=host)  # url.host has none, so it matched no request


def test_route_mod_a_dict_leaves_the_test_s_dict_as_it_was(sink: HttpSink) -> None:
    # respx filled in status_code=200 in the dict it was given: a shared {} became {'status_code': 200}
    answer: dict[str, object] = {}
    sink.get("https://a.example.com/") % answer
    assert answer == {}
    assert httpx.get("https://a.example.com/").status_code == 200


def test_every_kind_of_route_answer_is_still_accepted(sink: HttpSink) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json={"path": request.url.path})

    sink.get("https://a.example.com/").mock(side_effect=echo)
    sink.get("https://b.example.com/").mock(side_effect=[httpx.ConnectError, ValueError("x"),
                                                        delayed("1s", 201), httpx.Response(200)])
    sink.get("https://c.example.com/").mock(side_effect=iter([httpx.Response(203)]))
    sink.get("https://d.example.com/") % {"status_code": 206, "json": {"ok": True}}
    sink.get("https://e.example.com/") % 207
    sink.get("https://f.example.com/").mock(return_value=httpx.Response(208), side_effect=None)
    sink.route(host__in=["g.example.com"], port__in=[443], path__regex=r"^/v\d+$",
               method__in=["GET"], json__order__id=1).respond(209)
    outcomes: list[object] = []
    with httpx.Client() as client:
        for url in ("https://a.example.com/", *["https://b.example.com/"] * 4,
                    "https://c.example.com/", "https://d.example.com/",
                    "https://e.example.com/", "https://f.example.com/"):
            try:
                outcomes.append(client.get(url).status_code)
            except (httpx.ConnectError, ValueError) as error:
                outcomes.append(type(error).__name__)
        outcomes.append(client.request("GET", "https://g.example.com/v2",
                                       json={"order": {"id": 1}}).status_code)
    assert outcomes == [202, "ConnectError", "ValueError", 201, 200, 203, 206, 207, 208, 209]


def test_a_side_effect_returning_something_else_fails_in_the_job_with_a_clear_error(
        sink: HttpSink) -> None:
    def broken(request: httpx.Request) -> object:
        return 500

    sink.post(HOOK).mock(side_effect=broken)
    with pytest.raises(InvalidArgument) as caught:
        httpx.post(HOOK)
    assert str(caught.value) == (
        f"jobsim: the side_effect {broken!r} of the route for POST {HOOK} returned 500: it must "
        "return an httpx.Response, or None to pass the request on")
    assert isinstance(sink.calls[0].error, InvalidArgument)


# -- virtual-time latency ------------------------------------------------------------------


def test_delayed_spends_virtual_time_before_answering(sink: HttpSink, host: FakeHost) -> None:
    sink.post(HOOK).mock(side_effect=delayed("2s", httpx.Response(202)))
    response = httpx.post(HOOK)
    assert response.status_code == 202
    assert host.now == START_NS + 2 * SECOND
    [call] = sink.calls
    assert (call.at, call.elapsed) == (T0, dt.timedelta(seconds=2))


def test_delayed_accepts_status_codes_and_exceptions(sink: HttpSink, host: FakeHost) -> None:
    sink.post(HOOK).mock(side_effect=[
        delayed("1m", 503), delayed("500ms", httpx.RemoteProtocolError),
        delayed(dt.timedelta(seconds=3), ValueError("boom")),
        sink.delayed(1.5, httpx.Response(200)),
    ])
    assert post_with_retries(HOOK, attempts=2, timeout=90) == [503, "RemoteProtocolError"]
    with pytest.raises(ValueError, match="boom"):
        httpx.post(HOOK)
    assert httpx.post(HOOK).status_code == 200
    assert host.now - START_NS == 60 * SECOND + SECOND // 2 + 3 * SECOND + 3 * SECOND // 2
    assert str(sink.calls[1].error) == "jobsim: scripted RemoteProtocolError"


def test_timeout_waits_out_the_clients_read_timeout(sink: HttpSink, host: FakeHost) -> None:
    sink.post(HOOK).mock(side_effect=[timeout(), httpx.Response(500), httpx.Response(200)])
    outcomes = post_with_retries(HOOK, attempts=5, timeout=httpx.Timeout(10.0, connect=2.0))
    assert outcomes == ["ReadTimeout", 500, 200]
    assert host.now == START_NS + 10 * SECOND
    assert str(sink.calls[0].error) == (
        "timed out: jobsim scripted a read timeout after 10s (the client's read timeout)")
    assert [call.at for call in sink.calls] == [T0, T0 + dt.timedelta(seconds=10),
                                                T0 + dt.timedelta(seconds=10)]


def test_timeout_phases_and_explicit_waits(sink: HttpSink, host: FakeHost) -> None:
    sink.post(HOOK).mock(side_effect=[timeout(phase="connect"), timeout("45s", phase="write"),
                                      sink.timeout(phase="pool")])
    with httpx.Client(timeout=httpx.Timeout(30.0, connect=3.0, pool=1.0)) as client:
        with pytest.raises(httpx.ConnectTimeout):
            client.post(HOOK)
        assert host.now == START_NS + 3 * SECOND
        with pytest.raises(httpx.WriteTimeout, match=r"after 45s \(timeout\(after=\.\.\.\)\)$"):
            client.post(HOOK)
        assert host.now == START_NS + 48 * SECOND
        with pytest.raises(httpx.PoolTimeout):
            client.post(HOOK)
    assert host.now == START_NS + 49 * SECOND


def test_a_delayed_answer_later_than_the_clients_timeout_times_out_at_that_timeout(
        sink: HttpSink, host: FakeHost) -> None:
    """A server slower than the client's read timeout: httpx raises ReadTimeout at the timeout, not the
    answer at its delay; one due at the very instant arrives; a refused connect waits the connect timeout."""
    sink.post(HOOK).mock(side_effect=[delayed("30s", 200), delayed("10s", 201),
                                      delayed("1m", httpx.ConnectError), delayed("1h", 202)])
    with httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0)) as client:
        with pytest.raises(httpx.ReadTimeout, match=r"delayed\(\) scripted an answer after 30s, later than the "
                                                    r"client's read timeout \(10s\)"):
            client.post(HOOK)
        assert host.now == START_NS + 10 * SECOND
        assert client.post(HOOK).status_code == 201
        with pytest.raises(httpx.ConnectTimeout, match=r"connect timeout \(3s\)"):
            client.post(HOOK)
    assert host.now == START_NS + 23 * SECOND
    with httpx.Client(timeout=None) as client:  # no timeout: the client waits as long as the answer takes
        assert client.post(HOOK).status_code == 202
    assert host.now == START_NS + 23 * SECOND + 3600 * SECOND
    assert [(type(call.error).__name__, call.elapsed.seconds) for call in sink.calls] == [
        ("ReadTimeout", 10), ("NoneType", 10), ("ConnectTimeout", 3), ("NoneType", 3600)]


def test_a_delayed_answer_later_than_an_async_clients_timeout_times_out(sink: HttpSink, host: FakeHost) -> None:
    sink.get(HOOK).mock(side_effect=delayed("1m", 200))

    async def call() -> None:
        async with httpx.AsyncClient() as client:  # httpx's default: 5 s
            await client.get(HOOK)

    with pytest.raises(httpx.ReadTimeout, match=r"read timeout \(5s\)"):
        asyncio.run(call())
    assert sink.calls[0].elapsed == dt.timedelta(seconds=5)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_transport_with_retries_retries_a_refused_connect_after_httpcores_backoff(asynchronous: bool) -> None:
    """``httpx.HTTPTransport(retries=3)``: httpcore's connection retries a ConnectError or ConnectTimeout after 0 s,
    0.5 s, 1 s; respx answers above it, so the client gave up at the first refused connection."""
    app = jobsim.App("transport-retries")
    url = "https://flaky.example.com/hook"

    @app.function("sync", on="go", retries=0)
    def sync(ctx: jobsim.Context) -> int:
        with httpx.Client(transport=httpx.HTTPTransport(retries=3), timeout=httpx.Timeout(5.0, connect=2.0)) as c:
            return c.post(url).status_code

    @app.function("async", on="go-async", retries=0)
    async def asynchronous_(ctx: jobsim.Context) -> int:
        transport = httpx.AsyncHTTPTransport(retries=3)
        async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5.0, connect=2.0)) as c:
            return (await c.post(url)).status_code

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.http.post(url).mock(side_effect=[httpx.ConnectError("refused"), timeout(phase="connect"),
                                             httpx.ConnectError("refused"), httpx.Response(204),
                                             httpx.ConnectError("refused")])
        sim.send("go-async" if asynchronous else "go")
        sim.run_until_idle()
        with httpx.Client() as plain, pytest.raises(httpx.ConnectError):  # no retries: the client's error
            plain.post(url)
    assert sim.runs()[0].output == 204
    # 0 s; 0 s later a connect timeout (2 s); 0.5 s later refused; 1 s later the answer
    assert [(call.at - T0).total_seconds() for call in sim.http.calls[:4]] == [0, 0, 2.5, 3.5]
    assert len(sim.http.calls) == 5


def test_timeout_with_httpx_default_timeout_in_an_async_client(sink: HttpSink,
                                                               host: FakeHost) -> None:
    sink.get(HOOK).mock(side_effect=timeout())

    async def call() -> None:
        async with httpx.AsyncClient() as client:
            await client.get(HOOK)

    with pytest.raises(httpx.ReadTimeout):
        asyncio.run(call())
    assert host.now == START_NS + 5 * SECOND  # httpx's default timeout is 5 s


def test_timeout_without_a_client_timeout_is_a_clear_error(sink: HttpSink) -> None:
    sink.post(HOOK).mock(side_effect=timeout())
    with pytest.raises(JobsimError) as caught:
        httpx.post(HOOK, timeout=None)
    assert str(caught.value) == (
        f"jobsim: timeout() on POST {HOOK}: the client has no read timeout (timeout=None), so "
        "the request would wait forever; pass timeout(after='30s') to choose how long it waits")


def test_scripted_side_effects_need_a_simulation() -> None:
    with pytest.raises(JobsimError) as caught:
        delayed("1s")(httpx.Request("GET", HOOK))
    assert str(caught.value) == (
        "jobsim: delayed() is a side effect for routes of sim.http; outside a jobsim "
        "simulation there is no virtual clock to spend")


@pytest.mark.parametrize(("build", "message"), [
    (lambda: delayed("soon"), "duration='soon' is not valid: expected a duration such as "),
    (lambda: delayed("1s", "ok"), "response='ok' is not valid: an httpx.Response, a status "
                                  "code from 100 to 599, or an exception"),
    (lambda: delayed("1s", 99), "response=99 is not valid: an httpx.Response, a status code "
                                "from 100 to 599, or an exception"),
    (lambda: delayed("1s", 1000), "response=1000 is not valid: an httpx.Response, a status code "
                                  "from 100 to 599, or an exception"),
    # two bodies: httpx sent the first and dropped the other
    (lambda: delayed("1s", 200, json={"ok": True}, text="ok"),
     "body={'json': {'ok': True}, 'text': 'ok'} is not valid: one body, not text= and json=: httpx would send "
     "text= alone and drop the others"),
    (lambda: timeout(phase="dns"), "phase='dns' is not valid: one of 'connect', 'read', "
                                   "'write', 'pool'"),
    (lambda: timeout(after=-1), "after=-1 is not valid: expected a duration"),
    (lambda: timeout(phase=["read"]), "phase=['read'] is not valid: one of 'connect', 'read', "),  # was: unhashable
])
def test_scripted_side_effects_validate_their_arguments(build: object, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        build()  # type: ignore[operator]
    assert str(caught.value).startswith(message)


@settings(max_examples=30, deadline=None)
@given(delays=st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=5))
def test_virtual_time_spent_is_the_sum_of_the_delays(delays: list[int]) -> None:
    host = FakeHost()
    http = HttpSink(host)
    http.post(HOOK).mock(side_effect=[delayed(dt.timedelta(microseconds=us), 200)
                                      for us in delays])
    http.install()
    try:
        with httpx.Client(timeout=None) as client:  # no timeout: every answer is waited for
            for _ in delays:
                client.post(HOOK)
    finally:
        http.uninstall()
    assert host.now - START_NS == sum(delays) * 1000
    assert [call.elapsed for call in http.calls] == [dt.timedelta(microseconds=us)
                                                     for us in delays]


# -- unmatched requests ----------------------------------------------------------------------


def test_an_unmatched_request_names_the_routes_it_just_missed_and_by_what(sink: HttpSink) -> None:
    """A trailing slash, http for https, another method, a query parameter: the request went unmatched although
    the test declared a route for it, and the error only said to add one."""
    sink.post("https://hooks.example.com/orders").respond(200)
    sink.put("https://hooks.example.com/orders/", name="update").respond(200)
    sink.get("https://api.example.com/v1/items", params={"page": "1"}).respond(200)
    with pytest.raises(UnmatchedRequest) as caught:
        httpx.post("https://hooks.example.com/orders/")
    assert str(caught.value) == (
        "jobsim: no route matches POST https://hooks.example.com/orders/; closest: the route (scheme='https', "
        "host='hooks.example.com', path='/orders', method='POST') wants path='/orders'; the route 'update' "
        "(scheme='https', host='hooks.example.com', path='/orders/', method='PUT') wants method='PUT'; fix that "
        "route, or add one with sim.http.post('https://hooks.example.com/orders/').respond(200)")
    with pytest.raises(UnmatchedRequest, match=r"closest: the route \(scheme='https', host='hooks\.example\.com', "
                                               r"path='/orders', method='POST'\) wants scheme='https'; fix"):
        httpx.post("http://hooks.example.com/orders")
    with pytest.raises(UnmatchedRequest, match=r"wants params__contains='page=1'; fix"):
        httpx.get("https://api.example.com/v1/items?page=2")
    with pytest.raises(UnmatchedRequest, match=r"no route matches DELETE https://else\.example\.com/; add one"):
        httpx.delete("https://else.example.com/")  # nothing close: no hint
    report = sink.format_unmatched()
    assert "  POST https://hooks.example.com/orders/: closest: the route (scheme='https'" in report
    assert "  DELETE https://else.example.com/: " not in report


def test_unmatched_request_fails_like_a_network_error(sink: HttpSink, host: FakeHost) -> None:
    url = "https://x.test/hook?attempt=1"
    with pytest.raises(httpx.ConnectError) as caught:
        httpx.post(url, json={})
    error = caught.value
    assert isinstance(error, UnmatchedRequest) and isinstance(error, JobsimError)
    assert str(error) == (
        "jobsim: no route matches POST https://x.test/hook?attempt=1; add one with "
        "sim.http.post('https://x.test/hook?attempt=1').respond(200)")
    assert [str(request.url) for request in sink.unmatched] == [url]
    assert sink.calls[0].error is error
    assert host.kinds("http")[0]["error"] == f"UnmatchedRequest: {error}"


def test_the_timeline_says_no_route_once_instead_of_repeating_the_url_and_the_advice() -> None:
    import jobsim

    app = jobsim.App("t")

    @app.function("ping", on="go", retries=jobsim.Retries(attempts=1))
    def ping(ctx: Any) -> None:
        ctx.step.run("call", lambda: httpx.get("https://api.test/a").raise_for_status())

    @app.function("hook", on="go", retries=jobsim.Retries(attempts=1))
    def hook(ctx: Any) -> None:
        ctx.step.run("call", lambda: [httpx.post(HOOK).raise_for_status() for _ in range(2)])

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.http.post(HOOK).mock(side_effect=[httpx.Response(200)])
        sim.send("go")
        sim.run_until_idle()
    lines = [line.split("  ", 1)[1] for line in sim.timeline().splitlines() if " http " in line]
    assert lines == ["http      ping#1: GET https://api.test/a -> no route matched (UnmatchedRequest)",
                     f"http      hook#1: POST {HOOK} -> 200",
                     f"http      hook#1: POST {HOOK} -> its route's side_effect list was used up (UnmatchedRequest)"]


def test_unmatched_request_is_retried_by_job_code(sink: HttpSink) -> None:
    assert post_with_retries(HOOK, attempts=3) == ["UnmatchedRequest"] * 3
    assert len(sink.unmatched) == 3


def test_a_used_up_side_effect_list_falls_through_to_unmatched(sink: HttpSink) -> None:
    sink.post(HOOK).mock(side_effect=[httpx.Response(500), httpx.Response(200)])
    assert post_with_retries(HOOK, attempts=2) == [500, 200]
    with pytest.raises(UnmatchedRequest) as caught:
        httpx.post(HOOK)
    assert str(caught.value) == (
        f"jobsim: the route for POST {HOOK} has used up its side_effect list; give it one "
        "more response")

    async def again() -> None:
        async with httpx.AsyncClient() as client:
            await client.post(HOOK)

    with pytest.raises(UnmatchedRequest, match="used up its side_effect list"):
        asyncio.run(again())
    assert sink.format_unmatched().splitlines()[1] == (
        f"  POST {HOOK}  at 2025-03-01T00:00:00.000Z  (its route's side_effect list was used up)")


def test_unmatched_request_does_not_drag_respx_internals_into_its_traceback(sink: HttpSink) -> None:
    """The job's attempt traceback (and pytest's report) shows jobsim's error alone, not
    "During handling of the above exception" over respx's AllMockedAssertionError or the
    StopIteration of a used-up side_effect list."""
    sink.post(HOOK).mock(side_effect=[httpx.Response(200)])
    httpx.post(HOOK)  # uses up the list

    async def call(url: str) -> None:
        async with httpx.AsyncClient() as client:
            await client.post(url)

    errors = []
    for send in (lambda url: httpx.post(url), lambda url: asyncio.run(call(url))):
        for url in ("https://x.test/none", HOOK):
            with pytest.raises(UnmatchedRequest) as caught:
                send(url)
            errors.append(caught.value)
    assert [error.exhausted for error in errors] == [False, True] * 2
    for error in errors:
        shown = "".join(traceback.format_exception(error))
        assert "During handling" not in shown and "AllMockedAssertionError" not in shown
        assert "StopIteration" not in shown


def test_unmatched_in_an_async_client_and_with_an_unusual_method(sink: HttpSink) -> None:
    async def call() -> None:
        async with httpx.AsyncClient() as client:
            await client.request("PURGE", "https://cdn.example.com/a.css")

    with pytest.raises(UnmatchedRequest, match=r"add one with sim\.http\.request\('PURGE', "
                                               r"'https://cdn\.example\.com/a\.css'\)"):
        asyncio.run(call())


def test_format_unmatched_lists_every_request(sink: HttpSink, host: FakeHost) -> None:
    assert sink.format_unmatched() == ""
    for url in (HOOK, "https://api.example.com/users/7"):
        host.now += 90 * SECOND
        with pytest.raises(UnmatchedRequest):
            httpx.get(url)
    assert sink.format_unmatched() == (
        "jobsim: 2 HTTP requests matched no route (the job got httpx.ConnectError for each):\n"
        "  GET https://hooks.example.com/orders  at 2025-03-01T00:01:30.000Z\n"
        "  GET https://api.example.com/users/7  at 2025-03-01T00:03:00.000Z\n"
        "Add a route for each, e.g. sim.http.get('https://hooks.example.com/orders').respond(200)."
    )
    sink.clear()
    assert (sink.calls, sink.unmatched, sink.format_unmatched()) == ([], [], "")


# -- mail providers --------------------------------------------------------------------------

RESEND = "https://api.resend.com/emails"
EMAIL = {"from": "a@acme.test", "to": "ada@example.com", "subject": "Hi", "text": "t"}


def test_mail_provider_urls_reach_the_outbox_without_a_route(sink: HttpSink,
                                                             mail: MailSink) -> None:
    response = httpx.post(RESEND, json=EMAIL, headers={"Authorization": "Bearer re_1"})
    assert response.status_code == 200
    assert mail.assert_sent(to="ada@example.com").message_id == response.json()["id"]
    assert sink.unmatched == []
    assert sink.calls[0].response is not None


def test_a_user_route_for_a_provider_wins(sink: HttpSink, mail: MailSink) -> None:
    sink.post(RESEND).mock(side_effect=[httpx.Response(500), httpx.Response(500)])
    statuses = [httpx.post(RESEND, json=EMAIL, headers={"Authorization": "Bearer re_1"})
                .status_code for _ in range(3)]
    assert statuses == [500, 500, 200]  # the route's list runs out, then Resend answers
    assert len(mail.outbox) == 1


def test_other_endpoints_on_a_provider_host_are_unmatched(sink: HttpSink) -> None:
    with pytest.raises(UnmatchedRequest):
        httpx.get(RESEND + "/4ef9a417-02e9-4d39-ad75-9611e0fcc33c")


def test_without_a_mail_sink_provider_urls_are_unmatched(host: FakeHost) -> None:
    http = HttpSink(host, None)
    http.install()
    try:
        with pytest.raises(UnmatchedRequest):
            httpx.post(RESEND, json=EMAIL)
    finally:
        http.uninstall()


# -- install / uninstall ---------------------------------------------------------------------


def test_uninstall_restores_httpx_exactly_and_real_connections_come_back(host: FakeHost) -> None:
    originals = {cls: cls.__dict__["handle_request"]
                 for cls in (httpcore.ConnectionPool, httpcore.HTTPConnection)}
    async_original = httpcore.AsyncConnectionPool.__dict__["handle_async_request"]
    http = HttpSink(host)
    http.install()
    http.install()  # idempotent
    assert httpcore.ConnectionPool.__dict__["handle_request"] is not originals[
        httpcore.ConnectionPool]
    http.uninstall()
    http.uninstall()  # idempotent
    assert {cls: cls.__dict__["handle_request"] for cls in originals} == originals
    assert httpcore.AsyncConnectionPool.__dict__["handle_async_request"] is async_original
    with refused_port() as port, pytest.raises(httpx.ConnectError) as caught:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
    assert not isinstance(caught.value, UnmatchedRequest)
    assert http.calls == []


def test_routes_and_calls_survive_uninstall(host: FakeHost) -> None:
    http = HttpSink(host)
    route = http.post(HOOK).respond(200)
    http.install()
    httpx.post(HOOK)
    http.uninstall()
    assert (route.call_count, len(http.calls)) == (1, 1)
    http.install()
    httpx.post(HOOK)
    http.uninstall()
    assert (route.call_count, len(http.calls)) == (2, 2)


def test_the_global_respx_mock_is_left_alone(sink: HttpSink) -> None:
    sink.post(HOOK).respond(200)
    httpx.post(HOOK)
    assert list(respx.mock.routes) == []
    assert respx.mock.calls.call_count == 0


@pytest.fixture
def loopback_server() -> Iterator[str]:
    with serving() as url:
        yield url


def test_a_pass_through_route_reaches_a_real_loopback_server(sink: HttpSink,
                                                              loopback_server: str,
                                                              host: FakeHost) -> None:
    sink.get(loopback_server).pass_through()
    assert httpx.get(loopback_server).content == b"real"
    assert (sink.calls, host.records) == ([], [])  # real network: not part of the simulation


def test_http_call_is_a_frozen_value() -> None:
    call = HttpCall(request=httpx.Request("GET", HOOK), response=None, at=T0)
    with pytest.raises(AttributeError):
        call.at = T0  # type: ignore[misc]
    assert (call.error, call.elapsed) == (None, dt.timedelta(0))


@pytest.fixture
def slow_server() -> Iterator[str]:
    """A loopback server that answers after 0.3 s of real time."""
    with serving(delay=0.3) as url:
        yield url


@pytest.mark.parametrize("stream", [False, True])
def test_an_async_pass_through_waits_for_its_server_and_then_virtual_time_runs_on(slow_server: str,
                                                                                 stream: bool) -> None:
    """On the virtual loop the client's 5 s timeout used to fire at once (the loop jumped to that timer while
    the server was still answering); the loop now waits for the real exchange, with virtual time standing
    still, and gives the hold back once the response is read, so a virtual hour after it passes at once."""
    app = jobsim.App("pass")

    @app.function("job", on="go")
    async def job(ctx: Any) -> list[Any]:
        async with httpx.AsyncClient(timeout=5) as client:
            if stream:
                async with client.stream("GET", slow_server) as response:
                    body = b"".join([chunk async for chunk in response.aiter_bytes()])
            else:
                body = (await client.get(slow_server)).content
        before = dt.datetime.now(dt.timezone.utc)
        await asyncio.sleep(3600)
        return [body.decode(), (dt.datetime.now(dt.timezone.utc) - before).total_seconds()]

    started = time.monotonic()
    with jobsim.Simulation(app, start="2026-03-02T00:00:00Z") as sim:
        sim.http.get(slow_server).pass_through()
        sim.send("go", {})
        sim.run_until_idle()
    run = sim.runs("job")[0]
    assert (run.status, run.output) == ("completed", ["real", 3600.0])
    assert len(run.attempts) == 1  # no ReadTimeout, no retry
    assert time.monotonic() - started < 10  # the real wait was the server's 0.3 s, not REAL_IO_WAIT
    assert "_send_async_request" not in respx.mocks.HTTPCoreMocker.__dict__  # respx's own method is back


def test_respx_router_checks_are_the_sinks_own_and_anything_else_points_at_the_router() -> None:
    """``sim.http.assert_all_called()`` and ``reset()`` were a bare AttributeError (only ``.router`` had them)."""
    app = jobsim.App("respx-checks")

    @app.function("f", on="go")
    def f(ctx: Any) -> None:
        httpx.post("https://a.example.com/x")

    with jobsim.Simulation(app) as sim:
        sim.http.post("https://a.example.com/x", name="x").respond(200)
        sim.http.get("https://b.example.com/y", name="y").respond(200)
        sim.send("go", {})
        sim.run_until_idle()
        with pytest.raises(AssertionError, match=r"(?s)^jobsim: 1 route was never called:\n- y: .*b\.example\.com"):
            sim.http.assert_all_called()
        sim.http.assert_all_mocked()
        assert [route.name for route in sim.http.routes] == ["x", "y"]
        assert sim.http["x"].call_count == 1 and len(sim.http.calls) == 1
        sim.http.reset()
        assert sim.http["x"].call_count == 0 and len(sim.http.calls) == 0 and len(sim.http.routes) == 2
        with pytest.raises(AttributeError, match=r"^sim.http has no 'add': respx's own router is sim.http.router"):
            sim.http.add  # noqa: B018
        with pytest.raises(AttributeError, match=r"object has no attribute 'nope'"):
            sim.http.nope  # noqa: B018


def test_assert_all_mocked_lists_the_unmatched_requests() -> None:
    app = jobsim.App("respx-mocked")

    @app.function("f", on="go", retries=0)
    def f(ctx: Any) -> None:
        httpx.get("https://nowhere.example.com/z")

    with jobsim.Simulation(app) as sim:
        sim.send("go", {})
        sim.run_until_idle()
        with pytest.raises(AssertionError, match=r"nowhere\.example\.com/z"):
            sim.http.assert_all_mocked()
