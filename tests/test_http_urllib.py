"""``http.client`` and ``urllib.request`` through the HTTP sink (``jobsim._httpclient``): routes, virtual time,
errors where the socket would raise them, and the standard library's own redirects, ``HTTPError``, cookies,
chunked and gzip bodies."""

from __future__ import annotations

import datetime as dt
import gzip
import http.client
import http.cookiejar
import json
import ssl
import urllib.error
import urllib.request
import xmlrpc.client

import _loopback
import httpx
import pytest
from _loopback import nested_answers, output, serving

import jobsim
from jobsim import delayed, timeout

START = "2026-03-02T00:00:00Z"
T0 = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)
ORIGINAL = http.client.HTTPConnection.__dict__["connect"], http.client.HTTPSConnection.__dict__["connect"]


def _now() -> float:
    return (dt.datetime.now(dt.timezone.utc) - T0).total_seconds()


def simulate(job, *, routes=lambda sim: None, retries=0, data=None):
    return _loopback.simulate(job, start=START, routes=routes, retries=retries, data=data)


def test_a_route_answers_urlopen_and_the_call_is_recorded():
    def job(ctx):
        request = urllib.request.Request("https://api.example.com/v1/orders?x=1", data=b'{"id": 7}', method="POST",
                                         headers={"Authorization": "Bearer sk_test_1",
                                                  "Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as r:
            return [r.status, r.reason, json.loads(r.read()), r.headers["Content-Type"], r.url]

    sim = simulate(job, routes=lambda sim: sim.http.post("https://api.example.com/v1/orders", json={"id": 7})
                   .respond(201, json={"ok": True}))  # fmt: skip
    assert output(sim) == [201, "Created", {"ok": True}, "application/json", "https://api.example.com/v1/orders?x=1"]
    (call,) = sim.http.calls
    assert (call.request.method, str(call.request.url)) == ("POST", "https://api.example.com/v1/orders?x=1")
    assert call.request.headers["authorization"] == "Bearer sk_test_1"
    assert call.request.headers["user-agent"].startswith("Python-urllib/")
    assert call.request.content == b'{"id": 7}'
    assert call.request.extensions["timeout"] == {"connect": 10, "read": 10, "write": 10, "pool": None}
    assert call.request.extensions["jobsim_client"] == "http.client"
    assert [(r.data["method"], r.data["status"]) for r in sim.trace if r.kind == "http"] == [("POST", 201)]


def test_4xx_and_5xx_answers_are_urllibs_own_http_error():
    def job(ctx):
        answers = []
        for path in ("missing", "broken"):
            try:
                urllib.request.urlopen(f"https://api.example.com/{path}", timeout=5)
            except urllib.error.HTTPError as error:
                answers.append([error.code, error.read().decode(), error.headers["X-Why"]])
        return answers

    def routes(sim):
        sim.http.get("https://api.example.com/missing").respond(404, text="no such thing", headers={"X-Why": "gone"})
        sim.http.get("https://api.example.com/broken").respond(503, text="later", headers={"X-Why": "busy"})

    assert output(simulate(job, routes=routes)) == [[404, "no such thing", "gone"], [503, "later", "busy"]]


def test_redirects_and_cookies_are_urllibs_own():
    def job(ctx):
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with opener.open("https://shop.example.com/login", timeout=5) as r:
            return [r.url, r.read().decode()]

    def routes(sim):
        sim.http.get("https://shop.example.com/login").respond(
            302, headers={"Location": "/home", "Set-Cookie": "sid=abc123; Path=/"})
        sim.http.get("https://shop.example.com/home").respond(200, text="welcome back")

    sim = simulate(job, routes=routes)
    assert output(sim) == ["https://shop.example.com/home", "welcome back"]
    assert [str(call.request.url) for call in sim.http.calls] == ["https://shop.example.com/login",
                                                                  "https://shop.example.com/home"]  # fmt: skip
    assert sim.http.calls[1].request.headers["cookie"] == "sid=abc123"  # the jar sent what it was given


def test_an_unmatched_request_is_a_refused_connection_and_is_reported():
    def job(ctx):
        got = []
        try:
            urllib.request.urlopen("https://nowhere.example.com/ping", timeout=3)
        except urllib.error.URLError as error:
            got.append(repr(error.reason))
        conn = http.client.HTTPConnection("nowhere.example.com", 8080, timeout=3)
        try:
            conn.request("GET", "/raw")
        except ConnectionRefusedError as error:
            got.append([repr(error), conn.sock])  # as a failed socket.create_connection leaves it: no socket
        return got

    sim = simulate(job)
    assert output(sim) == ["ConnectionRefusedError(111, 'Connection refused')",
                           ["ConnectionRefusedError(111, 'Connection refused')", None]]  # fmt: skip
    assert [str(call.request.url) for call in sim.http.calls] == ["https://nowhere.example.com/ping",
                                                                  "http://nowhere.example.com:8080/raw"]  # fmt: skip
    assert all(isinstance(call.error, jobsim.UnmatchedRequest) for call in sim.http.calls)
    assert sim.http.format_unmatched().splitlines()[0] == (
        "jobsim: 2 HTTP requests matched no route (the job got a refused connection (ConnectionRefusedError; "
        "urllib.error.URLError from urlopen) for each):")


def test_the_refused_connection_fails_the_attempt_and_the_retry_runs_in_virtual_time():
    def job(ctx):
        return urllib.request.urlopen("https://flaky.example.com/", timeout=3).status

    sim = simulate(job, retries=1)
    run = sim.runs("job")[0]
    assert run.status == "failed"
    assert str(run.error) == "<urlopen error [Errno 111] Connection refused>"
    assert len(sim.http.calls) == 2


@pytest.mark.parametrize(
    ("phase", "got"),
    [("read", "TimeoutError: timed out"),  # getresponse meets it: urllib does not wrap it
     ("connect", "URLError: timed out"),  # h.request meets it: urllib wraps it
     ("write", "URLError: timed out")],
)  # fmt: skip
def test_timeout_waits_the_connections_timeout_and_fails_where_the_socket_would(phase, got):
    def job(ctx):
        try:
            urllib.request.urlopen("https://slow.example.com/", timeout=7)
        except OSError as error:
            reason = getattr(error, "reason", error)
            return [f"{type(error).__name__}: {reason}", type(reason).__name__, _now()]
        return None

    sim = simulate(job, routes=lambda sim: sim.http.get("https://slow.example.com/").mock(
        side_effect=timeout(phase=phase)))  # fmt: skip
    assert output(sim) == [got, "TimeoutError", 7.0]
    assert sim.http.calls[0].elapsed == dt.timedelta(seconds=7)


def test_timeout_without_a_timeout_names_the_problem():
    def job(ctx):
        urllib.request.urlopen("https://slow.example.com/")

    sim = simulate(job, routes=lambda sim: sim.http.get("https://slow.example.com/").mock(side_effect=timeout()))
    assert "the client has no read timeout (timeout=None)" in str(sim.runs("job")[0].error)


def test_delayed_answers_spend_virtual_time():
    def job(ctx):
        urllib.request.urlopen("https://api.example.com/a", timeout=30).read()
        return _now()

    sim = simulate(job, routes=lambda sim: sim.http.get("https://api.example.com/a").mock(
        side_effect=delayed("2.5s", 204)))  # fmt: skip
    assert output(sim) == 2.5
    assert sim.http.calls[0].elapsed == dt.timedelta(seconds=2.5)


def test_a_delayed_answer_later_than_the_timeout_times_out_where_the_socket_would():
    def job(ctx):
        try:
            urllib.request.urlopen("https://api.example.com/a", timeout=7)
        except TimeoutError as error:  # met in getresponse: urllib does not wrap it
            return [str(error), _now()]
        return None

    sim = simulate(job, routes=lambda sim: sim.http.get("https://api.example.com/a").mock(
        side_effect=delayed("30s", 200)))  # fmt: skip
    assert output(sim) == ["timed out", 7.0]
    assert sim.http.calls[0].elapsed == dt.timedelta(seconds=7)


def test_gzip_stays_compressed_and_chunked_answers_are_decoded_as_http_client_does():
    def job(ctx):
        with urllib.request.urlopen("https://files.example.com/zipped", timeout=5) as r:
            zipped = [r.headers["Content-Encoding"], gzip.decompress(r.read()).decode()]
        with urllib.request.urlopen("https://files.example.com/chunked", timeout=5) as r:
            chunked = [r.headers["Transfer-Encoding"], r.length, r.chunked, r.read().decode()]
        return zipped + chunked

    def routes(sim):
        sim.http.get("https://files.example.com/zipped").respond(
            200, content=gzip.compress(b"packed"), headers={"Content-Encoding": "gzip"})
        sim.http.get("https://files.example.com/chunked").respond(
            200, content=b"0123456789", headers={"Transfer-Encoding": "chunked"})

    assert output(simulate(job, routes=routes)) == ["gzip", "packed", "chunked", None, True, "0123456789"]


def test_http_client_directly_keep_alive_head_and_a_chunked_request_body():
    def job(ctx):
        conn = http.client.HTTPSConnection("api.example.com", timeout=5)
        conn.request("POST", "/upload", body=iter([b"part one, ", b"part two"]))  # no length: sent chunked
        first = conn.getresponse()
        answers = [first.status, first.read().decode()]
        wire = conn.sock
        conn.request("HEAD", "/upload")
        head = conn.getresponse()
        answers += [head.status, head.getheader("Content-Length"), head.read().decode(), conn.sock is wire]
        conn.close()
        return answers

    def routes(sim):
        sim.http.post("https://api.example.com/upload").respond(200, text="stored")
        sim.http.head("https://api.example.com/upload").respond(200, headers={"Content-Length": "18"})

    sim = simulate(job, routes=routes)
    # the second request went over the same connection, kept alive as HTTP/1.1 keeps it
    assert output(sim) == [200, "stored", 200, "18", "", True]
    upload = sim.http.calls[0].request
    assert (upload.content, upload.headers["transfer-encoding"]) == (b"part one, part two", "chunked")


@pytest.mark.parametrize("proxy", ["http://127.0.0.1:9", "https://127.0.0.1:9"])
def test_a_proxy_in_the_environment_is_not_contacted(proxy, monkeypatch):
    # port 9 (discard) is closed here: contacting it would fail the request with a refused connection
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    def job(ctx):
        opener = urllib.request.build_opener()  # reads the proxies from the environment (urlopen's is cached)
        assert opener.handlers[0].proxies == {"https": proxy, "http": proxy}
        return [opener.open("https://api.example.com/s", timeout=5).read().decode(),  # through a CONNECT tunnel
                opener.open("http://api.example.com/p", timeout=5).read().decode()]  # an absolute URL to the proxy

    def routes(sim):
        sim.http.get("https://api.example.com/s").respond(200, text="tls")
        sim.http.get("http://api.example.com/p").respond(200, text="plain")

    sim = simulate(job, routes=routes)
    assert output(sim) == ["tls", "plain"]
    assert [str(call.request.url) for call in sim.http.calls] == ["https://api.example.com/s",
                                                                  "http://api.example.com/p"]  # fmt: skip


@pytest.mark.parametrize(
    ("raised", "got"),
    [(ssl.SSLError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), "URLError: SSLError"),
     (ConnectionResetError(104, "Connection reset by peer"), "ConnectionResetError"),
     (httpx.RemoteProtocolError("hung up"), "RemoteDisconnected"),
     (httpx.ReadError("reset"), "ConnectionResetError")],
)  # fmt: skip
def test_a_route_raises_what_the_socket_would_and_urllib_treats_it_so(raised, got):
    def job(ctx):
        try:
            urllib.request.urlopen("https://bank.example.com/", timeout=5)
        except OSError as error:
            reason = getattr(error, "reason", None)
            return f"{type(error).__name__}: {type(reason).__name__}" if reason is not None else type(error).__name__
        return "ok"

    sim = simulate(job, routes=lambda sim: sim.http.get("https://bank.example.com/").mock(side_effect=[raised]))
    assert output(sim) == got
    assert sim.http.calls[0].error is raised


def test_xmlrpc_client_writes_its_request_by_hand_and_reads_the_answer_with_its_own_parser():
    # xmlrpc.client's Transport uses http.client's legacy interface: putrequest, putheader, endheaders(body)
    answer = ("<?xml version='1.0'?><methodResponse><params><param><value><int>5</int></value></param></params>"
              "</methodResponse>")

    def job(ctx):
        return xmlrpc.client.ServerProxy("https://rpc.example.com/RPC2").add(2, 3)

    sim = simulate(job, routes=lambda sim: sim.http.post("https://rpc.example.com/RPC2").respond(
        200, text=answer, headers={"Content-Type": "text/xml"}))  # fmt: skip
    assert output(sim) == 5
    sent = sim.http.calls[0].request
    assert b"<methodName>add</methodName>" in sent.content
    assert sent.headers["content-length"] == str(len(sent.content))


def test_a_mail_provider_called_with_urllib_lands_in_the_outbox():
    def job(ctx):
        body = json.dumps({"from": "hi@acme.test", "to": ["ada@example.com"], "subject": "Hi", "text": "Hello"})
        request = urllib.request.Request("https://api.resend.com/emails", data=body.encode(), method="POST",
                                         headers={"Authorization": "Bearer re_test",
                                                  "Content-Type": "application/json"})  # fmt: skip
        return json.loads(urllib.request.urlopen(request, timeout=10).read())["id"] is not None

    sim = simulate(job)
    assert output(sim) is True
    sim.mail.assert_sent(to="ada@example.com", subject="Hi")


def test_a_pass_through_route_reaches_the_real_server():
    with serving(b"real network", path="/hello") as url:

        def job(ctx):
            with urllib.request.urlopen(url, timeout=5) as r:
                via_urllib = r.read().decode()
            host, port = url.removeprefix("http://").split("/")[0].split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
            conn.request("GET", "/hello")
            return [via_urllib, conn.getresponse().read().decode()]

        sim = simulate(job, routes=lambda sim: sim.http.get(url).pass_through())
    assert output(sim) == ["real network", "real network"]
    assert sim.http.calls == []  # not simulated: not recorded


def test_requests_meets_the_sink_once_and_passes_through_on_urllib3s_own_connection():
    requests = pytest.importorskip("requests")
    with serving(b"real network", path="/hello") as url:

        def job(ctx):
            return [requests.get("https://api.example.com/x", timeout=5).text, requests.get(url, timeout=5).text]

        def routes(sim):
            sim.http.get("https://api.example.com/x").respond(200, text="simulated")
            sim.http.get(url).pass_through()

        sim = simulate(job, routes=routes)
    assert output(sim) == ["simulated", "real network"]
    assert [(str(call.request.url), call.request.extensions["jobsim_client"]) for call in sim.http.calls] == [
        ("https://api.example.com/x", "urllib3")]


def test_http_client_is_restored_and_nested_simulations_each_get_their_own_requests():
    job = lambda ctx: urllib.request.urlopen("https://api.example.com/who", timeout=1).read().decode()  # noqa: E731
    assert nested_answers(job, START) == ["inner", "outer"]
    assert (http.client.HTTPConnection.__dict__["connect"], http.client.HTTPSConnection.__dict__["connect"]) == ORIGINAL


@pytest.mark.parametrize("client", ["urlopen", "httpx"])
@pytest.mark.parametrize(("given", "shown"), [(-1, "-1"), ("10", "'10'"), (float("nan"), "nan")])
def test_a_timeout_no_socket_takes_is_named_not_taken_for_one_already_passed(client, given, shown):
    """A real socket refuses it at the connect (ValueError 'Timeout value out of range', TypeError); here -1 was a
    ReadTimeout (urlopen: TimeoutError) once a delayed answer came, and '10' a TypeError from jobsim's arithmetic."""
    def job(ctx):
        if client == "urlopen":
            return urllib.request.urlopen("https://api.example.com/v1/orders", timeout=given).status
        return httpx.get("https://api.example.com/v1/orders", timeout=given).status_code

    sim = simulate(job, routes=lambda sim: sim.http.get("https://api.example.com/v1/orders").mock(
        side_effect=[delayed("1s", 200)]))
    [run] = sim.runs("job")
    assert isinstance(run.error, jobsim.InvalidArgument)
    assert str(run.error) == (f"GET https://api.example.com/v1/orders with a connect timeout of {shown}: a timeout is "
                              "a number of seconds >= 0, or None to wait as long as it takes, and a real worker's "
                              "socket refuses any other; check where the timeout is read from")
    assert sim.http.calls == []  # never sent, as a real client never connects
