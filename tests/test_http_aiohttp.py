"""aiohttp's client through the HTTP sink (``jobsim._aiohttp``): routes, virtual time, aiohttp's own
timeouts, errors as aiohttp raises them, and its own redirects, cookies, gzip and streaming."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import socket
import ssl

import _loopback
import httpx
import pytest
from _loopback import nested_answers, output, serving

aiohttp = pytest.importorskip("aiohttp", reason="aiohttp is not installed: its bridge has nothing to intercept")

import jobsim  # noqa: E402
from jobsim import _aiohttp, delayed, timeout  # noqa: E402

START = "2026-03-02T00:00:00Z"
T0 = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)
ORIGINAL = aiohttp.TCPConnector.__dict__["_create_connection"], aiohttp.ClientSession.__dict__["_request"]
VERSION = tuple(int(part) for part in aiohttp.__version__.split(".")[:2])
CONNECT_TIMEOUT = "ConnectionTimeoutError" if VERSION >= (3, 10) else "ServerTimeoutError"
READ_TIMEOUT = "SocketTimeoutError" if VERSION >= (3, 10) else "ServerTimeoutError"


def _seconds(when: dt.datetime) -> float:
    return (when - T0).total_seconds()


def _now() -> float:
    return _seconds(dt.datetime.now(dt.timezone.utc))


def simulate(job, *, routes=lambda sim: None, retries=0, data=None):
    return _loopback.simulate(job, start=START, routes=routes, retries=retries, data=data)


async def fetch(url, *, method="GET", timeout=None, **kwargs):
    """``[status, text, seconds]``, or ``[error class, message, seconds]`` for what aiohttp raised."""
    session = aiohttp.ClientSession(**({} if timeout is None else {"timeout": timeout}))
    async with session:
        try:
            async with session.request(method, url, **kwargs) as response:
                return [response.status, await response.text(), _now()]
        except Exception as error:
            return [type(error).__name__, str(error), _now()]


def test_a_route_answers_aiohttp_and_the_call_is_recorded():
    async def job(ctx):
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60, sock_read=10))
        async with session, session.post("https://api.example.com/v1/orders", params={"x": "1"}, json={"id": 7},
                                         headers={"Authorization": "Bearer sk_test_1"}) as response:  # fmt: skip
            return {"status": response.status, "json": await response.json(), "reason": response.reason,
                    "type": response.headers["Content-Type"]}  # fmt: skip

    sim = simulate(job, routes=lambda sim: sim.http.post("https://api.example.com/v1/orders").respond(
        201, json={"ok": True}))  # fmt: skip
    assert output(sim) == {"status": 201, "json": {"ok": True}, "reason": "Created", "type": "application/json"}
    (call,) = sim.http.calls
    assert (call.request.method, str(call.request.url)) == ("POST", "https://api.example.com/v1/orders?x=1")
    assert call.request.headers["authorization"] == "Bearer sk_test_1"
    assert call.request.headers["host"] == "api.example.com"
    assert call.request.headers["content-type"] == "application/json"
    assert call.request.content == b'{"id": 7}'
    # timeout(): no sock_connect or connect, so total caps the connect phase; sock_read the read phase
    assert call.request.extensions == {"timeout": {"connect": 60.0, "pool": 60.0, "read": 10.0, "write": 60.0},
                                       "jobsim_client": "aiohttp"}  # fmt: skip
    assert [(r.kind, r.data["method"], r.data["status"]) for r in sim.trace if r.kind == "http"] == [
        ("http", "POST", 201)]


def test_an_unmatched_request_is_a_refused_connection_and_is_reported():
    async def job(ctx):
        return await fetch("https://nowhere.example.com/ping")

    sim = simulate(job)
    assert output(sim) == [
        "ClientConnectorError",
        "Cannot connect to host nowhere.example.com:443 ssl:default [jobsim: no route matches GET "
        "https://nowhere.example.com/ping; add one with sim.http.get('https://nowhere.example.com/ping').respond(200)]",
        0.0,
    ]
    assert sim.http.format_unmatched().splitlines()[0] == (
        "jobsim: 1 HTTP request matched no route (the job got a refused connection (aiohttp.ClientConnectorError) "
        "for each):")
    assert isinstance(sim.http.calls[0].error, jobsim.UnmatchedRequest)
    assert [str(request.url) for request in sim.http.unmatched] == ["https://nowhere.example.com/ping"]


def test_a_failing_attempt_retries_in_virtual_time_when_the_request_is_unmatched():
    async def job(ctx):
        async with aiohttp.ClientSession() as session, session.get("https://flaky.example.com/") as response:
            return response.status

    sim = simulate(job, retries=1)
    run = sim.runs("job")[0]
    assert run.status == "failed"
    assert isinstance(run.error, aiohttp.ClientConnectorError)
    assert isinstance(run.error.__cause__, jobsim.UnmatchedRequest)  # the chain names the missing route
    assert len(sim.http.calls) == 2


def test_the_client_error_is_what_format_unmatched_names_beside_httpx():
    async def job(ctx):
        await fetch("https://a.example.com/")
        try:
            async with httpx.AsyncClient() as client:
                await client.get("https://b.example.com/")
        except httpx.ConnectError:
            pass

    sim = simulate(job)
    assert sim.http.format_unmatched().splitlines()[:3] == [
        "jobsim: 2 HTTP requests matched no route (the job got a refused connection (aiohttp.ClientConnectorError) "
        "or httpx.ConnectError for each):",
        "  GET https://a.example.com/  at 2026-03-02T00:00:00.000Z",
        "  GET https://b.example.com/  at 2026-03-02T00:00:00.000Z",
    ]


# -- virtual time and ClientTimeout ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "client_timeout", "error", "after"),
    [
        ("read", aiohttp.ClientTimeout(total=300, sock_read=27), READ_TIMEOUT, 27.0),
        ("connect", aiohttp.ClientTimeout(total=300, sock_connect=3.05, sock_read=1), CONNECT_TIMEOUT, 3.05),
        ("connect", aiohttp.ClientTimeout(total=300, connect=4, sock_connect=None), CONNECT_TIMEOUT, 4.0),
        ("pool", aiohttp.ClientTimeout(total=300, connect=6), CONNECT_TIMEOUT, 6.0),
        ("read", aiohttp.ClientTimeout(total=12), "TimeoutError", 12.0),  # no sock_read: aiohttp's total ends it
        ("connect", aiohttp.ClientTimeout(total=2, sock_connect=30), "TimeoutError", 2.0),  # total caps the phase
        ("write", aiohttp.ClientTimeout(total=8), "TimeoutError", 8.0),  # aiohttp has no write timeout
    ],
)
def test_timeout_waits_the_client_timeout_of_its_phase_in_virtual_time(phase, client_timeout, error, after):
    async def job(ctx):
        return await fetch("https://slow.example.com/", timeout=client_timeout)

    sim = simulate(job, routes=lambda sim: sim.http.get("https://slow.example.com/").mock(
        side_effect=timeout(phase=phase)))  # fmt: skip
    got, message, at = output(sim)
    assert (got, at) == (error, after)
    assert sim.http.calls[0].elapsed == dt.timedelta(seconds=after)
    if phase in ("connect", "pool") and error != "TimeoutError":
        assert message == "Connection timeout to host https://slow.example.com/"


def test_a_total_timeout_ends_on_the_whole_second_aiohttp_rounds_it_to():
    """aiohttp rounds a total over ``ceil_threshold`` (5 s) up to a whole second of loop time (helpers.py
    TimeoutHandle.start); the job's loop counts from the start of its run."""

    async def job(ctx):
        await asyncio.sleep(0.3)
        return await fetch("https://slow.example.com/", timeout=aiohttp.ClientTimeout(total=10))

    sim = simulate(job, routes=lambda sim: sim.http.get("https://slow.example.com/").mock(side_effect=timeout()))
    assert output(sim)[0::2] == ["TimeoutError", 11.0]  # 0.3 + 10, rounded up
    (call,) = sim.http.calls
    assert (_seconds(call.at), call.elapsed.total_seconds(), type(call.error)) == (0.3, 10.7, asyncio.TimeoutError)


def test_timeout_without_any_client_timeout_names_the_problem():
    async def job(ctx):
        return await fetch("https://slow.example.com/", timeout=aiohttp.ClientTimeout(total=None, sock_connect=None))

    sim = simulate(job, routes=lambda sim: sim.http.get("https://slow.example.com/").mock(side_effect=timeout()))
    assert output(sim)[0] == "JobsimError"
    assert "the client has no read timeout (timeout=None)" in output(sim)[1]


def test_timeout_after_an_explicit_wait_shorter_than_the_clients():
    async def job(ctx):
        return await fetch("https://slow.example.com/", timeout=aiohttp.ClientTimeout(total=300, sock_read=30))

    sim = simulate(job, routes=lambda sim: sim.http.get("https://slow.example.com/").mock(
        side_effect=timeout(after="2.5s")))  # fmt: skip
    assert output(sim) == [READ_TIMEOUT, "Timeout on reading data from socket", 2.5]


def test_delayed_answers_spend_virtual_time_and_asyncio_gather_overlaps_them():
    async def job(ctx):
        async with aiohttp.ClientSession() as session:

            async def one(n):
                async with session.get(f"https://api.example.com/items/{n}") as response:
                    return await response.text()

            return [await asyncio.gather(*(one(n) for n in range(4))), _now()]

    sim = simulate(job, routes=lambda sim: sim.http.get(url__startswith="https://api.example.com/items/").mock(
        side_effect=delayed("2s", httpx.Response(200, text="ok"))))  # fmt: skip
    assert output(sim) == [["ok"] * 4, 2.0]  # side by side, as on a real network
    assert [(_seconds(call.at), call.elapsed.total_seconds()) for call in sim.http.calls] == [(0.0, 2.0)] * 4


def test_the_connectors_limit_queues_requests_in_virtual_time():
    async def job(ctx):
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit_per_host=2)) as session:

            async def one(host):
                async with session.get(f"https://{host}.example.com/") as response:
                    await response.read()
                    return _now()

            return await asyncio.gather(*(one(host) for host in ("a", "a", "a", "b")))

    sim = simulate(job, routes=lambda sim: sim.http.get(host__regex=r"[ab]\.example\.com").mock(
        side_effect=delayed("2s", 200)))  # fmt: skip
    assert output(sim) == [2.0, 2.0, 4.0, 2.0]  # the third request to a waits for a free connection
    assert sorted(_seconds(call.at) for call in sim.http.calls) == [0.0, 0.0, 0.0, 2.0]


@pytest.mark.parametrize(
    ("client_timeout", "delay", "expected"),
    [
        (aiohttp.ClientTimeout(total=300, sock_read=5), "5s", [200, "late", 5.0]),  # due at the instant: arrives
        (aiohttp.ClientTimeout(total=300, sock_read=5), "5.001s", [READ_TIMEOUT, "Timeout on reading data from socket",
                                                                   5.0]),
        (aiohttp.ClientTimeout(total=4), "20s", ["TimeoutError", "", 4.0]),
        (aiohttp.ClientTimeout(total=4), "4s", ["TimeoutError", "", 4.0]),  # a tie goes to the client's timer
    ],
)
def test_aiohttps_own_timeouts_cut_a_slow_answer_short(client_timeout, delay, expected):
    async def job(ctx):
        return await fetch("https://slow.example.com/", timeout=client_timeout)

    sim = simulate(job, routes=lambda sim: sim.http.get("https://slow.example.com/").mock(
        side_effect=[delayed(delay, httpx.Response(200, text="late"))]))  # fmt: skip
    assert output(sim) == expected
    (call,) = sim.http.calls
    assert call.elapsed == dt.timedelta(seconds=expected[2])
    if expected[0] == 200:
        assert call.response.status_code == 200
    else:  # the call records what the client gave up with, when it did
        assert (call.response, type(call.error).__name__) == (None, expected[0])


def test_a_connect_failure_waits_for_the_connect_timeout_not_sock_read():
    """A refused connection that takes longer than ``sock_connect`` is a connect timeout, whatever sock_read says."""

    async def job(ctx):
        client_timeout = aiohttp.ClientTimeout(total=300, sock_connect=10, sock_read=1)
        return [await fetch("https://a.example.com/", timeout=client_timeout),
                await fetch("https://b.example.com/", timeout=client_timeout)]  # fmt: skip

    def routes(sim):
        sim.http.get("https://a.example.com/").mock(side_effect=delayed("3s", ConnectionRefusedError(111, "refused")))
        sim.http.get("https://b.example.com/").mock(side_effect=delayed("60s", ConnectionRefusedError(111, "refused")))

    assert output(simulate(job, routes=routes)) == [
        ["ClientConnectorError", "Cannot connect to host a.example.com:443 ssl:default [refused]", 3.0],
        [CONNECT_TIMEOUT, "Connection timeout to host https://b.example.com/", 13.0],
    ]


def test_aiohttp_from_sync_job_code_with_asyncio_run():
    def job(ctx):
        async def main():
            return await fetch("https://api.example.com/a", timeout=aiohttp.ClientTimeout(total=30))

        first = asyncio.run(main())
        return [first, asyncio.run(main())]

    sim = simulate(job, routes=lambda sim: sim.http.get("https://api.example.com/a").mock(
        side_effect=[delayed("1.5s", httpx.Response(200, text="hi")), timeout()]))  # fmt: skip
    assert output(sim) == [[200, "hi", 1.5], ["TimeoutError", "", 31.5]]


# -- aiohttp's own code above the connection ---------------------------------------------------------


def test_redirects_cookies_and_gzip_work_as_aiohttp_does_them():
    async def job(ctx):
        session = aiohttp.ClientSession()
        async with session, session.get("https://shop.example.com/login") as response:
            cookies = session.cookie_jar.filter_cookies(aiohttp.client.URL("https://shop.example.com/"))
            return {"url": str(response.url), "history": [h.status for h in response.history],
                    "text": await response.text(), "encoding": response.headers["Content-Encoding"],
                    "cookie": cookies["sid"].value}  # fmt: skip

    def routes(sim):
        sim.http.get("https://shop.example.com/login").respond(
            302, headers={"Location": "/home", "Set-Cookie": "sid=abc123; Path=/; HttpOnly"})
        sim.http.get("https://shop.example.com/home").respond(
            200, content=gzip.compress(b"welcome back"), headers={"Content-Encoding": "gzip"})

    sim = simulate(job, routes=routes)
    assert output(sim) == {"url": "https://shop.example.com/home", "history": [302], "text": "welcome back",
                           "encoding": "gzip", "cookie": "abc123"}  # fmt: skip
    assert sim.http.calls[1].request.headers["cookie"] == "sid=abc123"  # the jar sent it on the redirect


def test_max_redirects_and_allow_redirects_false():
    async def job(ctx):
        async with aiohttp.ClientSession() as session:
            async with session.get("https://loop.example.com/", allow_redirects=False) as response:
                first = [response.status, response.headers["Location"]]
            try:
                await session.get("https://loop.example.com/", max_redirects=3)
            except aiohttp.TooManyRedirects as error:
                return [first, type(error).__name__, [h.status for h in error.history]]

    sim = simulate(job, routes=lambda sim: sim.http.get("https://loop.example.com/").respond(
        302, headers={"Location": "/"}))  # fmt: skip
    assert output(sim) == [[302, "/"], "TooManyRedirects", [302, 302, 302]]
    assert len(sim.http.calls) == 4


def test_raise_for_status_and_a_303_after_a_post():
    async def job(ctx):
        async with aiohttp.ClientSession(raise_for_status=True) as session:
            async with session.post("https://shop.example.com/orders", data={"sku": "a1"}) as response:
                created = [response.method, str(response.url), await response.json()]
            try:
                await session.get("https://shop.example.com/gone")
            except aiohttp.ClientResponseError as error:
                return [created, error.status, error.message]

    def routes(sim):
        sim.http.post("https://shop.example.com/orders").respond(303, headers={"Location": "/orders/9"})
        sim.http.get("https://shop.example.com/orders/9").respond(200, json={"id": 9})
        sim.http.get("https://shop.example.com/gone").respond(410)

    sim = simulate(job, routes=routes)
    assert output(sim) == [["GET", "https://shop.example.com/orders/9", {"id": 9}], 410, "Gone"]
    assert sim.http.calls[0].request.content == b"sku=a1"


def test_streamed_responses_head_requests_and_release():
    async def job(ctx):
        async with aiohttp.ClientSession() as session:
            async with session.get("https://files.example.com/big", read_bufsize=4) as response:
                chunks = [chunk async for chunk in response.content.iter_chunked(4)]
            response = await session.head("https://files.example.com/big")
            head = [response.status, response.headers["Content-Length"], (await response.read()).decode()]
            response.release()
            return [len(chunks), b"".join(chunks).decode(), *head]

    def routes(sim):
        sim.http.get("https://files.example.com/big").respond(200, content=b"0123456789")
        sim.http.head("https://files.example.com/big").respond(200, headers={"Content-Length": "10"})

    assert output(simulate(job, routes=routes)) == [3, "0123456789", 200, "10", ""]


def test_request_bodies_as_aiohttp_writes_them():
    async def job(ctx):
        async def parts():
            yield b"abc"
            yield b"def"

        async with aiohttp.ClientSession() as session:
            for kwargs in ({"data": parts()}, {"data": b"x" * 64, "compress": "deflate"},
                           {"data": b"payload", "expect100": True}):  # fmt: skip
                async with session.put("https://up.example.com/", **kwargs) as response:
                    assert response.status == 204

    sim = simulate(job, routes=lambda sim: sim.http.put("https://up.example.com/").respond(204))
    chunked, deflated, continued = (call.request for call in sim.http.calls)
    assert (chunked.headers["transfer-encoding"], chunked.content) == ("chunked", b"abcdef")
    assert deflated.headers["content-encoding"] == "deflate"
    import zlib

    assert zlib.decompress(deflated.content) == b"x" * 64
    assert (continued.headers["expect"], continued.content) == ("100-continue", b"payload")


def test_a_mail_provider_called_with_aiohttp_lands_in_the_outbox():
    async def job(ctx):
        email = {"from": "hi@acme.test", "to": ["ada@example.com"], "subject": "Hi", "text": "Hello"}
        session = aiohttp.ClientSession(headers={"Authorization": "Bearer re_test"})
        async with session, session.post("https://api.resend.com/emails", json=email, raise_for_status=True) as sent:
            return (await sent.json())["id"]

    sim = simulate(job)
    assert sim.runs("job")[0].status == "completed"
    sim.mail.assert_sent(to="ada@example.com", subject="Hi")
    assert sim.runs("job")[0].output == sim.mail.outbox[0].message_id


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "caught"),
    [
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), "ClientConnectorCertificateError"),
        (ssl.SSLError(1, "handshake failure"), "ClientConnectorSSLError"),
        (socket.gaierror(-2, "Name or service not known"),
         "ClientConnectorDNSError" if hasattr(aiohttp, "ClientConnectorDNSError") else "ClientConnectorError"),
        (OSError(101, "Network is unreachable"), "ClientConnectorError"),
        (httpx.ConnectError("refused"), "ClientConnectorError"),
        (httpx.ProxyError("proxy refused"), "ClientProxyConnectionError"),
        (asyncio.TimeoutError(), CONNECT_TIMEOUT),
        (ConnectionResetError(104, "Connection reset by peer"), "ClientOSError"),
        (httpx.ReadError("reset"), "ClientOSError"),
        (httpx.RemoteProtocolError("Server disconnected"), "ServerDisconnectedError"),
        (ValueError("scripted"), "ValueError"),
    ],
)
def test_a_route_raises_what_the_socket_would_and_aiohttp_wraps_it_so(raised, caught):
    async def job(ctx):
        return (await fetch("https://bank.example.com/", method="POST", data=b"{}"))[0]  # POST: aiohttp retries no POST

    sim = simulate(job, routes=lambda sim: sim.http.post("https://bank.example.com/").mock(
        side_effect=[raised, httpx.Response(200)]))  # fmt: skip
    assert output(sim) == caught
    assert sim.http.calls[0].error is raised


@pytest.mark.skipif(VERSION < (3, 10), reason="aiohttp retries a dropped idempotent request since 3.10")
def test_aiohttp_retries_an_idempotent_request_whose_connection_dropped():
    async def job(ctx):
        return await fetch("https://api.example.com/")

    sim = simulate(job, routes=lambda sim: sim.http.get("https://api.example.com/").mock(
        side_effect=[ConnectionResetError(104, "Connection reset by peer"), httpx.Response(200, text="again")]))
    assert output(sim) == [200, "again", 0.0]
    assert len(sim.http.calls) == 2


def test_jobsims_own_errors_reach_the_job_as_they_are():
    async def job(ctx):
        async with aiohttp.ClientSession() as session:
            await session.get("https://api.example.com/")

    sim = simulate(job, routes=lambda sim: sim.http.get("https://api.example.com/").mock(side_effect=lambda r: 42))
    error = sim.runs("job")[0].error
    assert type(error) is jobsim.InvalidArgument
    assert "it must return an httpx.Response" in str(error)


# -- traces: determinism and replay ------------------------------------------------------------------


def _flaky_app() -> jobsim.App:
    """Each attempt ends differently: aiohttp's sock_read, its total, a connect timeout, then an answer."""
    app = jobsim.App("flaky")

    @app.function("job", on="go", retries=4)
    async def job(ctx):
        timeouts = {"a": aiohttp.ClientTimeout(total=60, sock_connect=3, sock_read=5),
                    "b": aiohttp.ClientTimeout(total=20)}  # fmt: skip
        async with aiohttp.ClientSession() as session:

            async def one(path):
                async with session.get(f"https://api.example.com/{path}", timeout=timeouts[path]) as response:
                    return await response.text()

            return await asyncio.gather(one("a"), one("b"))

    return app


def _flaky_routes(sim):
    refused = ConnectionRefusedError(111, "refused")
    sim.http.get("https://api.example.com/a").mock(side_effect=[
        delayed("9s", 200), delayed("30s", refused), delayed("1s", 200), delayed("2s", 200)])
    sim.http.get("https://api.example.com/b").mock(side_effect=[
        delayed("1s", 200), delayed("1s", 200), delayed("25s", 200), delayed("2s", httpx.Response(200, text="b"))])


def test_the_same_seed_gives_the_same_trace_and_a_replay_agrees(tmp_path):
    traces = []
    for _ in range(2):
        with jobsim.Simulation(_flaky_app(), start=START, seed=3) as sim:
            _flaky_routes(sim)
            sim.send("go", {})
            sim.run_until_idle()
        sim.trace.save(tmp_path / f"{len(traces)}.jsonl")
        traces.append((tmp_path / f"{len(traces)}.jsonl").read_bytes())
    assert traces[0] == traces[1]
    run = sim.runs("job")[0]
    assert run.output == ["", "b"]
    ended = [(call.request.url.path, type(call.error).__name__ if call.error else call.response.status_code,
              call.elapsed.total_seconds()) for call in sim.http.calls]  # fmt: skip
    assert ended == [
        ("/b", 200, 1.0), ("/a", READ_TIMEOUT, 5.0),  # a's answer comes after sock_read
        ("/b", 200, 1.0), ("/a", CONNECT_TIMEOUT, 3.0),  # a's refusal comes after sock_connect
        ("/a", 200, 1.0), ("/b", "TimeoutError", 20.0),  # b's answer comes after the total
        ("/a", 200, 2.0), ("/b", 200, 2.0),
    ]
    assert str(sim.http.calls[5].error) == "aiohttp's total timeout (ClientTimeout.total=20) ended the wait"
    replayed = jobsim.Simulation.replay(tmp_path / "0.jsonl", _flaky_app())
    assert replayed.same, replayed


def test_a_crash_cuts_every_gathered_request_in_the_order_they_were_made_and_replays_the_same():
    def build():
        app = jobsim.App("gather")

        @app.function("fan-out", on="go", retries=0)
        async def fan_out(ctx):
            async def fetch_all():
                async with aiohttp.ClientSession() as session:

                    async def one(n):
                        async with session.get(f"https://api.example.com/{n}") as response:
                            return response.status

                    return await asyncio.gather(*(one(n) for n in range(4)))

            return await ctx.step.run("fetch", fetch_all)

        return app

    with jobsim.Simulation(build(), start=START) as sim:
        sim.http.get(url__regex=r"https://api\.example\.com/\d").mock(side_effect=[delayed("2s", 200)] * 4)
        sim.crash_worker(at="2026-03-02T00:00:01Z")
        sim.send("go")
        sim.run_until_idle()
    assert [(c.request.url.path, type(c.error).__name__, c.elapsed.total_seconds()) for c in sim.http.calls] == [
        (f"/{n}", "WorkerCrashed", 1.0) for n in range(4)]  # not CancelledError, and in a fixed order
    assert sim.runs("fan-out")[0].status == "failed"
    result = jobsim.Simulation.replay(sim.trace, build())
    assert result.same, result.report()


# -- pass-through, nesting, restoring ----------------------------------------------------------------


@pytest.fixture
def real_server():
    with serving(b"real network", path="/hello") as url:
        yield url


def test_a_pass_through_route_reaches_the_real_server(real_server):
    async def job(ctx):
        async with aiohttp.ClientSession() as session:  # its timers are pending while the server answers
            first = await fetch(real_server)
            response = await session.get(real_server)
            await asyncio.sleep(5)  # the answer has arrived: virtual time goes on while it waits unread
            return [first, await response.text(), _now()]

    sim = simulate(job, routes=lambda sim: sim.http.get(real_server).pass_through())
    assert output(sim) == [[200, "real network", 0.0], "real network", 5.0]
    assert sim.http.calls == []  # not simulated: not recorded


def test_a_pass_through_from_sync_code_and_to_a_closed_port(real_server):
    def job(ctx):
        closed = "http://127.0.0.1:9/"  # discard: nothing listens here
        return [asyncio.run(fetch(real_server))[:2], asyncio.run(fetch(closed))[0]]

    def routes(sim):
        sim.http.get(real_server).pass_through()
        sim.http.get("http://127.0.0.1:9/").pass_through()

    assert output(simulate(job, routes=routes)) == [[200, "real network"], "ClientConnectorError"]


def test_a_pass_through_to_a_server_that_never_answers_fails_after_the_real_wait(monkeypatch):
    monkeypatch.setattr(jobsim._aio, "REAL_IO_WAIT", 0.2)
    with socket.socket() as mute:  # accepts connections (the kernel's backlog) and never answers
        mute.bind(("127.0.0.1", 0))
        mute.listen()
        url = f"http://127.0.0.1:{mute.getsockname()[1]}/"

        async def job(ctx):
            return await fetch(url)

        sim = simulate(job, routes=lambda sim: sim.http.get(url).pass_through())
    error = sim.runs("job")[0].error
    assert type(error) is jobsim.JobsimError
    assert str(error) == ("a request passed through to the real network waited 0.2 s of real time for its server; "
                          "is it running, and listening where the route sends the request?")  # fmt: skip


def test_aiohttp_is_restored_and_nested_simulations_each_get_their_own_requests():
    async def who(ctx):
        return (await fetch("https://api.example.com/who"))[1]

    assert nested_answers(who, START) == ["inner", "outer"]
    assert (aiohttp.TCPConnector.__dict__["_create_connection"], aiohttp.ClientSession.__dict__["_request"]) == ORIGINAL


def test_an_aiohttp_the_bridge_was_not_verified_with_fails_loudly(monkeypatch):
    monkeypatch.setattr(aiohttp, "__version__", "4.0.0")

    async def job(ctx):
        return await fetch("https://api.example.com/")

    sim = simulate(job, routes=lambda sim: sim.http.get("https://api.example.com/").respond(200))
    assert output(sim)[0] == "JobsimError"
    assert output(sim)[1] == (
        "jobsim: aiohttp 4.0.0 is not a version jobsim's aiohttp bridge was verified with (3.9 to 3.14), so it cannot "
        "answer this request from sim.http, and will not let it reach the network either; install a verified aiohttp "
        "(pip install 'aiohttp>=3.9,<3.15') or a jobsim release that supports this one")
    assert sim.http.calls == []
    assert (aiohttp.TCPConnector.__dict__["_create_connection"], aiohttp.ClientSession.__dict__["_request"]) == ORIGINAL


def test_the_bridge_is_verified_with_the_installed_aiohttp():
    assert _aiohttp.unsupported() is None, f"aiohttp {aiohttp.__version__}: extend VERIFIED after checking it"


# -- the pytest plugin -------------------------------------------------------------------------------

pytest_plugins = ["pytester"]


def test_the_jobsim_fixture_under_pytest_asyncio(pytester):
    pytest.importorskip("pytest_asyncio")
    pytester.makeconftest(
        """
        import aiohttp
        import pytest
        import jobsim

        app = jobsim.App("a")

        @app.function("ping", on="ping", retries=0)
        async def ping(ctx):
            async with aiohttp.ClientSession() as session:
                async with session.post("https://hooks.example.com/x", json={}) as response:
                    return response.status

        @pytest.fixture
        def jobsim_app():
            return app
        """
    )
    pytester.makepyfile(
        """
        import aiohttp
        import pytest
        from jobsim import delayed

        @pytest.mark.asyncio
        async def test_routed(jobsim):
            jobsim.http.post("https://hooks.example.com/x").mock(side_effect=delayed("3s", 204))
            jobsim.send("ping")
            jobsim.advance("1m")
            [run] = jobsim.runs("ping")
            assert (run.output, (run.finished_at - run.started_at).seconds) == (204, 3)
            # the test's own loop, in the test's body: intercepted too
            jobsim.http.get("https://api.example.com/status").respond(200, json={"up": True})
            async with aiohttp.ClientSession() as session:
                async with session.get("https://api.example.com/status") as response:
                    assert await response.json() == {"up": True}
            assert len(jobsim.http.calls) == 2

        @pytest.mark.asyncio
        async def test_unrouted(jobsim):
            jobsim.send("ping")
            jobsim.advance("1s")
        """
    )
    result = pytester.runpytest("--asyncio-mode=strict", "-p", "no:benchmark",
                                "-o", "asyncio_default_fixture_loop_scope=function")  # fmt: skip
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines([
        "jobsim: 1 HTTP request matched no route (the job got a refused connection (aiohttp.ClientConnectorError) "
        "for each):",
        "  POST https://hooks.example.com/x  at 2025-01-01T00:00:00.000Z",
    ])  # fmt: skip
