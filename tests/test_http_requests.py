"""requests and urllib3 through the HTTP sink (``jobsim._urllib3``): routes, virtual time, errors as
each library raises them, and the libraries' own retries, redirects, cookies and streaming."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import random
import ssl

import _loopback
import httpx
import pytest
from _loopback import nested_answers, serving

import jobsim
from jobsim import delayed, timeout

requests = pytest.importorskip("requests", reason="the urllib3 bridge is tested through requests (dev extras)")
import urllib3  # noqa: E402 - requests brings it
from requests.adapters import HTTPAdapter  # noqa: E402
from urllib3.util.retry import Retry  # noqa: E402

START = "2026-03-02T00:00:00Z"
T0 = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)
POOLS = urllib3.connectionpool.HTTPConnectionPool, urllib3.connectionpool.HTTPSConnectionPool
ORIGINAL = POOLS[0]._make_request, POOLS[1]._prepare_proxy


def _seconds(when: dt.datetime) -> float:
    return (when - T0).total_seconds()


def simulate(job, *, routes=lambda sim: None, retries=0, data=None):
    return _loopback.simulate(job, start=START, routes=routes, retries=retries, data=data)


def test_a_route_answers_requests_and_the_call_is_recorded():
    def job(ctx):
        r = requests.post("https://api.example.com/v1/orders?x=1", json={"id": 7},
                          headers={"Authorization": "Bearer sk_test_1"}, timeout=10)  # fmt: skip
        return {"status": r.status_code, "json": r.json(), "type": r.headers["content-type"], "reason": r.reason}

    sim = simulate(job, routes=lambda sim: sim.http.post("https://api.example.com/v1/orders").respond(
        201, json={"ok": True}))  # fmt: skip
    assert sim.runs("job")[0].output == {"status": 201, "json": {"ok": True}, "type": "application/json",
                                         "reason": "Created"}  # fmt: skip
    (call,) = sim.http.calls
    assert (call.request.method, str(call.request.url)) == ("POST", "https://api.example.com/v1/orders?x=1")
    assert call.request.headers["authorization"] == "Bearer sk_test_1"
    assert call.request.content == b'{"id": 7}'
    assert call.request.extensions["timeout"] == {"connect": 10, "read": 10, "write": 10, "pool": None}
    assert [r.data["status"] for r in sim.trace if r.kind == "http"] == [201]


def test_an_unmatched_request_is_a_refused_connection_and_is_reported():
    def job(ctx):
        try:
            requests.get("https://nowhere.example.com/ping", timeout=3)
        except requests.ConnectionError as error:
            return type(error).__name__
        return "answered"

    sim = simulate(job)
    assert sim.runs("job")[0].output == "ConnectionError"
    assert sim.http.format_unmatched().splitlines()[0] == (
        "jobsim: 1 HTTP request matched no route (the job got a refused connection (requests.ConnectionError) "
        "for each):")
    assert isinstance(sim.http.calls[0].error, jobsim.UnmatchedRequest)


def test_a_failing_attempt_retries_in_virtual_time_when_the_request_is_unmatched():
    def job(ctx):
        return requests.get("https://flaky.example.com/", timeout=3).status_code

    sim = simulate(job, retries=1)
    run = sim.runs("job")[0]
    assert run.status == "failed"
    assert "Failed to establish a new connection" in str(run.error)
    assert len(sim.http.calls) == 2


@pytest.mark.parametrize(
    ("phase", "error", "after"),
    [("read", requests.exceptions.ReadTimeout, 27.0), ("connect", requests.exceptions.ConnectTimeout, 3.05)],
)
def test_timeout_waits_the_requests_timeout_of_its_phase_in_virtual_time(phase, error, after):
    def job(ctx):
        try:
            requests.get("https://slow.example.com/", timeout=(3.05, 27))
        except error:
            return _seconds(dt.datetime.now(dt.timezone.utc))
        return None

    sim = simulate(job, routes=lambda sim: sim.http.get("https://slow.example.com/").mock(
        side_effect=timeout(phase=phase)))  # fmt: skip
    assert sim.runs("job")[0].output == after
    assert sim.http.calls[0].elapsed == dt.timedelta(seconds=after)


def test_timeout_without_a_requests_timeout_names_the_problem():
    def job(ctx):
        requests.get("https://slow.example.com/")

    sim = simulate(job, routes=lambda sim: sim.http.get("https://slow.example.com/").mock(side_effect=timeout()))
    assert "the client has no read timeout (timeout=None)" in str(sim.runs("job")[0].error)


def test_delayed_answers_spend_virtual_time():
    def job(ctx):
        requests.get("https://api.example.com/a", timeout=30)
        return _seconds(dt.datetime.now(dt.timezone.utc))

    sim = simulate(job, routes=lambda sim: sim.http.get("https://api.example.com/a").mock(
        side_effect=delayed("2.5s", 204)))  # fmt: skip
    assert sim.runs("job")[0].output == 2.5


def test_a_delayed_answer_later_than_the_read_timeout_is_requests_read_timeout():
    def job(ctx):
        try:
            requests.get("https://api.example.com/a", timeout=(3, 10))
        except requests.exceptions.ReadTimeout as error:
            return [str(error), _seconds(dt.datetime.now(dt.timezone.utc))]
        return None

    sim = simulate(job, routes=lambda sim: sim.http.get("https://api.example.com/a").mock(
        side_effect=delayed("30s", 200)))  # fmt: skip
    message, at = sim.runs("job")[0].output
    assert at == 10.0 and "Read timed out." in message and "later than the client's read timeout (10s)" in message


def test_the_request_the_sink_sees_is_the_one_urllib3_puts_on_the_wire():
    """A str body goes out as UTF-8, as urllib3 2 encodes it (it raised UnicodeEncodeError past Latin-1, and sent
    Latin-1 below it, so an HMAC of the UTF-8 body did not match); a generator body is chunked, with no
    Content-Length beside Transfer-Encoding (httpx added one); a GET without a body has neither."""
    seen = []

    def record(request):
        seen.append((request.url.path, request.content, request.headers.get("content-length"),
                     request.headers.get("transfer-encoding")))
        return httpx.Response(200)

    def job(ctx):
        requests.post("https://api.example.com/text", data="naïve ✓", timeout=5)
        urllib3.PoolManager().request("POST", "https://api.example.com/raw", body="naïve ✓")
        requests.post("https://api.example.com/stream", data=(part for part in [b"ab", "c✓"]), timeout=5)
        urllib3.PoolManager().request("POST", "https://api.example.com/forced", body=b"xyz", chunked=True)
        urllib3.PoolManager().request("POST", "https://api.example.com/empty")
        urllib3.PoolManager().request("GET", "https://api.example.com/get")

    sim = simulate(job, routes=lambda sim: sim.http.route(host="api.example.com").mock(side_effect=record))
    assert sim.runs("job")[0].status == "completed", sim.runs("job")[0].error
    utf8 = "naïve ✓".encode()
    assert seen == [("/text", utf8, "10", None), ("/raw", utf8, "10", None),
                    ("/stream", "abc✓".encode(), None, "chunked"), ("/forced", b"xyz", None, "chunked"),
                    ("/empty", b"", "0", None), ("/get", b"", None, None)]


def test_response_elapsed_is_the_virtual_time_the_answer_took():
    """httpx times ``response.elapsed`` with ``time.perf_counter()``, which stays real: a 3 s ``delayed`` answer
    had an elapsed of a few milliseconds, so job code that flags slow endpoints never did. (requests times it with
    ``time.time()`` except on Windows, which follows virtual time.)"""
    def job(ctx):
        plain = requests.get("https://api.example.com/slow", timeout=10).elapsed.total_seconds()
        sync = httpx.get("https://api.example.com/slow").elapsed.total_seconds()

        async def call():
            async with httpx.AsyncClient() as client:
                return (await client.get("https://api.example.com/slow")).elapsed.total_seconds()

        return [plain, sync, asyncio.run(call())]

    sim = simulate(job, routes=lambda sim: sim.http.get("https://api.example.com/slow").mock(
        side_effect=delayed("3s", 200)))  # fmt: skip
    assert sim.runs("job")[0].output == [3.0, 3.0, 3.0]
    assert [call.elapsed.total_seconds() for call in sim.http.calls] == [3.0, 3.0, 3.0]


def test_urllib3_retry_runs_its_own_backoff_and_retry_after_in_virtual_time():
    """urllib3's Retry: no wait before the first retry, then backoff_factor * 2^(n-1), and a Retry-After
    header instead of the backoff (urllib3/util/retry.py get_backoff_time, sleep_for_retry)."""

    def job(ctx):
        session = requests.Session()
        policy = Retry(total=4, backoff_factor=1, status_forcelist=[503], allowed_methods=None)
        session.mount("https://", HTTPAdapter(max_retries=policy))
        return session.post("https://hooks.example.com/paid", json={}, timeout=5).status_code

    answers = [httpx.Response(503), httpx.Response(503), httpx.Response(503, headers={"Retry-After": "30"}),
               httpx.Response(503), httpx.Response(200)]  # fmt: skip
    sim = simulate(job, routes=lambda sim: sim.http.post("https://hooks.example.com/paid").mock(side_effect=answers))
    assert sim.runs("job")[0].output == 200
    # waits: 0 (first retry), 2 s (2nd: 1 * 2^1), 30 s (Retry-After), 8 s (4th: 1 * 2^3)
    assert [_seconds(call.at) for call in sim.http.calls] == [0, 0, 2, 32, 40]


def test_redirects_cookies_and_gzip_work_as_requests_does_them():
    def job(ctx):
        session = requests.Session()
        r = session.get("https://shop.example.com/login", timeout=5)
        return {"url": r.url, "history": [h.status_code for h in r.history], "text": r.text,
                "encoding": r.headers["Content-Encoding"], "cookie": session.cookies.get("sid")}  # fmt: skip

    def routes(sim):
        sim.http.get("https://shop.example.com/login").respond(
            302, headers={"Location": "/home", "Set-Cookie": "sid=abc123; Path=/; HttpOnly"})
        sim.http.get("https://shop.example.com/home").respond(
            200, content=gzip.compress(b"welcome back"), headers={"Content-Encoding": "gzip"})

    sim = simulate(job, routes=routes)
    assert sim.runs("job")[0].output == {"url": "https://shop.example.com/home", "history": [302],
                                         "text": "welcome back", "encoding": "gzip", "cookie": "abc123"}  # fmt: skip
    # the session sent the cookie it was given on the redirected request
    assert sim.http.calls[1].request.headers["cookie"] == "sid=abc123"


def test_streamed_responses_and_head_requests():
    def job(ctx):
        with requests.get("https://files.example.com/big", stream=True, timeout=5) as r:
            chunks = list(r.iter_content(chunk_size=4))
        head = requests.head("https://files.example.com/big", timeout=5)
        return [len(chunks), b"".join(chunks).decode(), head.status_code, head.headers["content-length"], head.text]

    def routes(sim):
        sim.http.get("https://files.example.com/big").respond(200, content=b"0123456789")
        sim.http.head("https://files.example.com/big").respond(200, headers={"Content-Length": "10"})

    # a HEAD answer keeps the length of the body it does not carry
    assert simulate(job, routes=routes).runs("job")[0].output == [3, "0123456789", 200, "10", ""]


@pytest.mark.parametrize("proxy", ["http://127.0.0.1:9", "https://127.0.0.1:9"])
def test_a_proxy_in_the_environment_opens_no_tunnel_for_a_simulated_request(proxy, monkeypatch):
    # port 9 (discard) is closed here: a CONNECT to it would fail the request with a ProxyError
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    monkeypatch.setenv("HTTP_PROXY", proxy)

    def job(ctx):
        return [requests.get("https://api.example.com/s", timeout=5).text,
                requests.get("http://api.example.com/p", timeout=5).text]  # fmt: skip

    def routes(sim):
        sim.http.get("https://api.example.com/s").respond(200, text="tls")
        sim.http.get("http://api.example.com/p").respond(200, text="plain")

    sim = simulate(job, routes=routes)
    assert sim.runs("job")[0].output == ["tls", "plain"]
    assert [str(call.request.url) for call in sim.http.calls] == ["https://api.example.com/s",
                                                                  "http://api.example.com/p"]  # fmt: skip


def test_urllib3_pool_manager_directly():
    def job(ctx):
        pool = urllib3.PoolManager()
        r = pool.request("PUT", "http://10.0.0.5:8080/state", body=b"on", headers={"X-Kind": "switch"})
        return [r.status, r.data.decode()]

    sim = simulate(job, routes=lambda sim: sim.http.put("http://10.0.0.5:8080/state").respond(200, text="ok"))
    assert sim.runs("job")[0].output == [200, "ok"]
    assert sim.http.calls[0].request.headers["x-kind"] == "switch"


def test_a_mail_provider_called_with_requests_lands_in_the_outbox():
    def job(ctx):
        r = requests.post("https://api.resend.com/emails", headers={"Authorization": "Bearer re_test"}, timeout=10,
                          json={"from": "hi@acme.test", "to": ["ada@example.com"], "subject": "Hi", "text": "Hello"})
        r.raise_for_status()
        return r.json()["id"]

    sim = simulate(job)
    assert sim.runs("job")[0].status == "completed"
    sim.mail.assert_sent(to="ada@example.com", subject="Hi")


@pytest.mark.parametrize(
    ("raised", "caught"),
    [(ssl.SSLError, "SSLError"), (ConnectionResetError, "ConnectionError")],
)
def test_a_route_raises_what_the_socket_would_and_the_libraries_treat_it_so(raised, caught):
    def job(ctx):
        try:
            requests.get("https://bank.example.com/", timeout=5)
        except requests.RequestException as error:
            return type(error).__name__
        return "ok"

    # a certificate error becomes requests' SSLError, a reset connection its ConnectionError (no retry: the
    # adapter's default Retry(0, read=False))
    sim = simulate(job, routes=lambda sim: sim.http.get("https://bank.example.com/").mock(
        side_effect=[raised, httpx.Response(200)]))  # fmt: skip
    assert sim.runs("job")[0].output == caught


def test_a_pass_through_route_reaches_the_real_server():
    with serving(b"real network", path="/hello") as url:

        def job(ctx):
            return requests.get(url, timeout=5).text

        sim = simulate(job, routes=lambda sim: sim.http.get(url).pass_through())
    assert sim.runs("job")[0].output == "real network"
    assert sim.http.calls == []  # not simulated: not recorded


def test_urllib3_is_restored_and_nested_simulations_each_get_their_own_requests():
    job = lambda ctx: requests.get("https://api.example.com/who", timeout=1).text  # noqa: E731
    assert nested_answers(job, START) == ["inner", "outer"]
    assert (POOLS[0]._make_request, POOLS[1]._prepare_proxy) == ORIGINAL


def _jittered_attempts(seed):
    """When each of five attempts of a GET retried by ``Retry(backoff_factor=1, backoff_jitter=5)`` was sent
    (µs after the start), and the job's own stream of the simulation's seed as the job found it."""
    found = []

    def job(ctx):
        found.append(random.Random())
        found[0].setstate(sim.rng_for("job").getstate())
        session = requests.Session()
        policy = Retry(total=4, backoff_factor=1, backoff_jitter=5, status_forcelist=[503])
        session.mount("https://", HTTPAdapter(max_retries=policy))
        return session.get("https://hooks.example.com/jitter", timeout=5).status_code

    app = jobsim.App("requests")
    app.function("job", on="go")(job)
    with jobsim.Simulation(app, start=START, seed=seed) as sim:
        sim.http.get("https://hooks.example.com/jitter").mock(side_effect=[httpx.Response(503)] * 4 + [
            httpx.Response(200)])  # fmt: skip
        sim.send("go", {})
        sim.run_until_idle()
    assert sim.runs("job")[0].output == 200
    return [(call.at - T0) // dt.timedelta(microseconds=1) for call in sim.http.calls], found[0]


@pytest.mark.parametrize(("seed", "pinned"), [(0, [0, 0, 5084629, 9914515, 21928278]),
                                              (1, [0, 0, 3605235, 12359290, 20548767])])  # fmt: skip
def test_retry_backoff_jitter_follows_the_simulations_seed(seed, pinned):
    """urllib3's get_backoff_time: backoff_factor * 2^(n-1) + random.random() * backoff_jitter from the second
    retry on (none before the first); the draws come from the running function's stream of the simulation's
    seed, not the global generator."""
    untouched = random.getstate()
    attempts, seeded = _jittered_attempts(seed)
    assert random.getstate() == untouched  # the global generator gave nothing
    sent, expected = 0, [0, 0]
    for n in (2, 3, 4):  # time.sleep(wait) spends round(wait * 1e9) ns; a call's `at` shows whole µs
        sent += round((1 * 2 ** (n - 1) + seeded.random() * 5) * 1e9)
        expected.append(sent // 1000)
    assert attempts == expected == pinned
    assert _jittered_attempts(seed)[0] == attempts  # same seed, same waits


def test_retry_backoff_jitter_outside_job_code_draws_from_the_global_random():
    with jobsim.Simulation(jobsim.App("requests").function("job", on="go")(lambda ctx: None).app, start=START):
        random.seed(7)
        drawn = Retry(total=3, backoff_factor=0, backoff_jitter=10).increment("GET", "/").increment("GET", "/")
        assert drawn.get_backoff_time() == random.Random(7).random() * 10  # the test's own code: the global one
    assert urllib3.util.retry.random is random
