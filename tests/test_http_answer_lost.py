"""``jobsim.answer_lost``: the request reaches the server (recorded, acted on), its answer never reaches the
client, which meets its own timeout, reset or closed connection, as each client library raises them."""

from __future__ import annotations

import asyncio
import datetime as dt
import urllib.error
import urllib.request
import uuid

import _loopback
import httpx
import pytest
from _loopback import output

import jobsim
from jobsim import answer_lost

requests = pytest.importorskip("requests", reason="the urllib3 bridge is tested through requests (dev extras)")
aiohttp = pytest.importorskip("aiohttp", reason="the aiohttp bridge is tested with aiohttp (dev extras)")

START = "2026-03-02T00:00:00Z"
T0 = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)
CHARGES = "https://api.payments.test/v1/charges"
RESEND = "https://api.resend.com/emails"


def simulate(job, *, routes=lambda sim: None, retries=0, data=None):
    return _loopback.simulate(job, start=START, routes=routes, retries=retries, data=data)


def seconds(when: dt.datetime) -> float:
    return (when - T0).total_seconds()


def now() -> float:
    return seconds(dt.datetime.now(dt.timezone.utc))


class FakeProvider:
    """A payment provider that charges once per Idempotency-Key, as Stripe does, and remembers every request."""

    def __init__(self) -> None:
        self.charges: dict[str, str] = {}
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        key = request.headers["Idempotency-Key"]
        charge = self.charges.setdefault(key, f"ch_{len(self.charges) + 1}")
        return httpx.Response(200, json={"id": charge})


# -- the case: the charge happened, the answer was lost, the retry must not charge again ------------------


def test_the_retry_carries_the_same_key_and_the_provider_charges_once():
    provider = FakeProvider()

    def job(ctx):
        key = ctx.step.run("key", lambda: str(uuid.UUID(int=7)))  # made once, before the first try, kept by the step
        return ctx.step.run("charge", lambda: httpx.post(CHARGES, json={"amount": 4200}, timeout=10,
                                                         headers={"Idempotency-Key": key}).json()["id"])

    sim = simulate(job, retries=3, routes=lambda sim: sim.http.post(CHARGES, name="charge").mock(
        side_effect=answer_lost(provider, times=1)))
    run = sim.runs("job")[0]
    assert (run.status, run.output) == ("completed", "ch_1")
    assert provider.requests == 2 and provider.charges == {str(uuid.UUID(int=7)): "ch_1"}
    first, retry = sim.http.calls
    assert first.response is None and first.lost is not None and first.lost.json() == {"id": "ch_1"}
    assert type(first.error) is httpx.ReadTimeout and first.elapsed == dt.timedelta(seconds=10)
    assert str(first.error) == ("timed out: jobsim.answer_lost(): the server got the request and answered 200 OK, "
                                "but the answer never reached the client; it waited 10s (the client's read timeout)")
    assert retry.lost is None and retry.response is not None and retry.response.json() == {"id": "ch_1"}
    assert sim.http["charge"].call_count == 2  # respx saw both: the provider got them
    assert sim.http.assert_same_idempotency_key("charge", count=2) == str(uuid.UUID(int=7))
    records = [r.data for r in sim.trace if r.kind == "http"]
    assert [(r.get("status"), r.get("lost"), r.get("error", "").partition(":")[0]) for r in records] == [
        (None, 200, "ReadTimeout"), (200, None, "")]


@pytest.mark.parametrize("how", ["timeout", "reset", "closed"])
def test_a_replay_loses_the_same_answers_again(tmp_path, how):
    def job(ctx):
        try:
            return requests.post(CHARGES, headers={"Idempotency-Key": "k1"}, timeout=(3, 8)).status_code
        except requests.RequestException as error:
            return type(error).__name__

    sim = simulate(job, routes=lambda sim: sim.http.post(CHARGES).mock(
        side_effect=answer_lost(201, how=how, after="2s" if how != "timeout" else None)))
    app = jobsim.App("http-client")
    app.function("job", on="go", retries=0)(job)
    result = jobsim.Simulation.replay(sim.trace.save(tmp_path / f"{how}.jobsim.jsonl"), app)
    assert result.same, result.report()
    (call,) = result.simulation.http.calls
    assert (call.lost.status_code, call.elapsed) == (201, sim.http.calls[0].elapsed)
    assert result.simulation.runs("job")[0].output == sim.runs("job")[0].output


def test_a_new_key_per_try_is_what_the_assertion_catches():
    provider = FakeProvider()

    def job(ctx):
        return httpx.post(CHARGES, json={"amount": 4200}, timeout=10,
                          headers={"Idempotency-Key": str(uuid.uuid4())}).json()["id"]  # a new key each try

    sim = simulate(job, retries=3, routes=lambda sim: sim.http.post(CHARGES, name="charge").mock(
        side_effect=answer_lost(provider, times=1)))
    assert output(sim) == "ch_2" and len(provider.charges) == 2  # charged twice
    with pytest.raises(AssertionError) as caught:
        sim.http.assert_same_idempotency_key("charge")
    lines = str(caught.value).splitlines()
    assert lines[0] == ("jobsim: the requests of the route 'charge': they carried 2 different Idempotency-Key values: "
                        "if they are one request and its retries, a retry made a new key, so the provider cannot tell "
                        "it from a new request; if they came from different runs (two events, each its own request), "
                        "each has its own key by design: give the route a pattern that matches one run's requests "
                        "(its order's id in the path or body) and assert on it.")
    assert lines[1].startswith(
        "  2026-03-02T00:00:00.000Z  POST https://api.payments.test/v1/charges  Idempotency-Key: '")
    assert lines[1].endswith("-> ReadTimeout (the server answered 200; the answer was lost)")
    assert lines[2].startswith("  2026-03-02T00:00:") and lines[2].endswith("-> 200")


def test_the_assertion_counts_requests_and_wants_the_header_on_each():
    def job(ctx):
        httpx.post(CHARGES, headers={"Idempotency-Key": "k1"}, timeout=5)
        httpx.post(CHARGES + "/ch_1/refunds", headers={"Idempotency-Key": "k2"}, timeout=5)  # another route's

    def routes(sim):
        sim.http.post(CHARGES, name="charge").respond(200)
        sim.http.post(CHARGES + "/ch_1/refunds").respond(200)

    sim = simulate(job, routes=routes)
    with pytest.raises(AssertionError, match=r"expected a request and its retries \(2 or more\), found 1; pass count="):
        sim.http.assert_same_idempotency_key("charge")
    with pytest.raises(AssertionError, match="'charge': 1 carried no Idem-Key header"):
        sim.http.assert_same_idempotency_key(sim.http["charge"], count=1, header="Idem-Key")
    assert sim.http.assert_same_idempotency_key("charge", count=1) == "k1"
    with pytest.raises(jobsim.InvalidArgument) as caught:
        sim.http.assert_same_idempotency_key("charges")
    assert str(caught.value) == ("route='charges' is not valid: the name of a route of sim.http (named: 'charge'), "
                                 "or the route itself")


# -- each client meets its own error --------------------------------------------------------------------------


def _httpx(how):
    return httpx.post(CHARGES, timeout=7)


def _requests(how):
    return requests.post(CHARGES, timeout=(3, 7))


def _urllib(how):
    return urllib.request.urlopen(urllib.request.Request(CHARGES, data=b"{}", method="POST"), timeout=7)


def _aiohttp(how):
    async def post():
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30, sock_read=7)) as session, \
                session.post(CHARGES) as response:
            return response.status

    return asyncio.run(post())


@pytest.mark.parametrize(("client", "how", "raised", "at"), [
    (_httpx, "timeout", httpx.ReadTimeout, 7), (_httpx, "reset", httpx.ReadError, 0),
    (_httpx, "closed", httpx.RemoteProtocolError, 0),
    (_requests, "timeout", requests.ReadTimeout, 7), (_requests, "reset", requests.ConnectionError, 0),
    (_requests, "closed", requests.ConnectionError, 0),
    (_urllib, "timeout", TimeoutError, 7), (_urllib, "reset", ConnectionResetError, 0),
    (_urllib, "closed", urllib.request.http.client.RemoteDisconnected, 0),
    (_aiohttp, "timeout", asyncio.TimeoutError, 7), (_aiohttp, "reset", aiohttp.ClientOSError, 0),
    (_aiohttp, "closed", aiohttp.ServerDisconnectedError, 0),
])
def test_each_client_meets_its_own_error_and_the_server_got_the_request(client, how, raised, at):
    def job(ctx):
        try:
            client(how)
        except raised as error:
            return [type(error).__name__, str(error), now()]
        return "answered"

    sim = simulate(job, routes=lambda sim: sim.http.post(CHARGES).mock(side_effect=answer_lost(201, how=how)))
    _name, message, when = output(sim)
    assert when == at
    (call,) = sim.http.calls
    assert call.lost is not None and call.lost.status_code == 201 and call.response is None
    assert "the server got the request and answered 201 Created, but the answer never reached the client" in str(
        call.error)  # the recorded error says why; the job's is its library's own
    if (client, how) == (_requests, "reset"):
        assert "Connection aborted." in message and "ConnectionResetError(104" in message


def test_async_clients_wait_their_lost_answers_side_by_side():
    async def job(ctx):
        async with httpx.AsyncClient(timeout=5) as client:
            results = await asyncio.gather(*(client.post(CHARGES, json={"n": n}) for n in range(3)),
                                           return_exceptions=True)
        return [type(result).__name__ for result in results] + [now()]

    sim = simulate(job, routes=lambda sim: sim.http.post(CHARGES).mock(side_effect=answer_lost(200)))
    assert output(sim) == ["ReadTimeout", "ReadTimeout", "ReadTimeout", 5.0]


# -- when the client gets what ----------------------------------------------------------------------------------


def test_after_sets_the_wait_and_a_later_reset_meets_the_clients_timeout_first():
    def job(ctx):
        out = []
        for _ in range(3):
            try:
                httpx.post(CHARGES, timeout=10)
            except httpx.TransportError as error:
                out.append([type(error).__name__, now()])
                last = str(error)
        return [*out, last]

    sim = simulate(job, routes=lambda sim: sim.http.post(CHARGES).mock(side_effect=[
        answer_lost(200, after="3s"), answer_lost(200, how="reset", after="2s"),
        answer_lost(200, how="reset", after="1m")]))
    assert output(sim) == [["ReadTimeout", 3.0], ["ReadError", 5.0], ["ReadTimeout", 15.0], (
        "timed out: jobsim.answer_lost(): the server got the request and answered 200 OK, but the answer never "
        "reached the client; the connection's reset was due after 1m, later than the client's read timeout (10s)")]
    assert [call.lost.status_code for call in sim.http.calls] == [200, 200, 200]


def test_a_client_without_a_read_timeout_would_wait_forever_and_is_told_so():
    def job(ctx):
        requests.post(CHARGES)  # no timeout=: a lost answer hangs this worker

    sim = simulate(job, routes=lambda sim: sim.http.post(CHARGES).mock(side_effect=answer_lost(200)))
    error = sim.runs("job")[0].error
    assert type(error) is jobsim.JobsimError
    assert str(error) == (
        "jobsim.answer_lost(): the server got the request and answered 200 OK, but the answer never reached the client "
        "(POST https://api.payments.test/v1/charges), and the client has no read timeout (timeout=None): it would wait "
        "forever, as it would in production; give the client a timeout, or pass answer_lost(..., after='30s') to "
        "choose how long it waits")


def test_times_loses_the_first_answers_per_route_and_delivers_the_rest():
    shared = answer_lost(200, json={"ok": True}, times=2)

    def job(ctx):
        out = []
        for url in (CHARGES, CHARGES, CHARGES, "https://hooks.partner.test/in"):
            try:
                out.append(httpx.post(url, timeout=1).status_code)
            except httpx.ReadTimeout:
                out.append("lost")
        return out

    def routes(sim):
        sim.http.post(CHARGES).mock(side_effect=shared)
        sim.http.post("https://hooks.partner.test/in").mock(side_effect=shared)

    assert output(simulate(job, routes=routes)) == ["lost", "lost", 200, "lost"]
    assert output(simulate(job, routes=routes)) == ["lost", "lost", 200, "lost"]  # counted per simulation


def test_a_side_effect_function_can_lose_the_answer_of_one_request():
    def job(ctx):
        out = []
        for order in ("o_1", "o_2"):
            try:
                out.append(httpx.post(CHARGES, json={"order": order}, timeout=2).json()["order"])
            except httpx.ReadTimeout:
                out.append("lost")
        return out

    def answer(request):
        response = httpx.Response(200, content=request.content)
        return answer_lost(response) if b"o_1" in request.content else response

    assert output(simulate(job, routes=lambda sim: sim.http.post(CHARGES).mock(side_effect=answer))) == ["lost", "o_2"]


def test_without_a_response_whatever_answers_next_answers_and_nothing_is_unmatched_then_lost():
    def job(ctx):
        out = []
        for url in (CHARGES, "https://nowhere.test/x"):
            try:
                out.append(httpx.post(url, timeout=3).status_code)
            except httpx.TransportError as error:
                out.append(type(error).__name__)
        return out

    def routes(sim):
        sim.http.post(CHARGES).mock(side_effect=answer_lost())
        sim.http.route(host="api.payments.test").respond(202)  # a later route: it answers, its answer is lost
        sim.http.route(host="nowhere.test").mock(side_effect=answer_lost())  # nothing answers: unmatched

    sim = simulate(job, routes=routes)
    assert output(sim) == ["ReadTimeout", "UnmatchedRequest"]
    lost, unmatched = sim.http.calls
    assert lost.lost is not None and lost.lost.status_code == 202
    assert unmatched.lost is None and "jobsim_answer_lost" not in unmatched.request.extensions


def test_a_pass_through_behind_it_is_refused():
    def job(ctx):
        httpx.get("http://127.0.0.1:9/", timeout=3)

    def routes(sim):
        sim.http.get("http://127.0.0.1:9/", name="lost").mock(side_effect=answer_lost())
        sim.http.route(host="127.0.0.1").pass_through()

    with pytest.raises(jobsim.UnsupportedFeature) as caught:  # as jobsim's other refusals: it stops the driving call
        simulate(job, routes=routes)
    assert str(caught.value).startswith("jobsim: answer_lost() passed GET http://127.0.0.1:9/ on to a pass_through() "
                                        "route: jobsim cannot take a real server's answer from the client")


def test_a_server_function_must_return_a_response_or_none():
    def job(ctx):
        httpx.post(CHARGES, timeout=3)

    sim = simulate(job, routes=lambda sim: sim.http.post(CHARGES).mock(side_effect=answer_lost(lambda r: 200)))
    error = sim.runs("job")[0].error
    assert type(error) is jobsim.InvalidArgument
    assert "the function standing for the server returned 200; it must return the httpx.Response" in str(error)


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    ((600,), {}, "response=600 is not valid: an httpx.Response, a status code from 100 to 599, a function taking "
                 "the request and returning the server's response, or None (whatever answers the request without "
                 "this route)"),
    ((httpx.ConnectError,), {}, "an exception means no server answered: use jobsim.timeout() or the exception "
                                "itself as the side effect"),
    (("200",), {}, "response='200' is not valid"),
    ((200,), {"how": "lost"}, "how='lost' is not valid: one of 'timeout', 'reset', 'closed'"),
    ((200,), {"times": 0}, "times=0 is not valid: an int >= 1, or None to lose every answer"),
    ((200,), {"after": "soon"}, "after='soon'"),
    ((httpx.Response(200),), {"json": {}}, "answer_lost() got json= beside response=<Response [200 OK]>"),
    ((200,), {"jsn": {}}, "jsn"),
])
def test_bad_arguments_are_refused_where_declared(args, kwargs, message):
    with pytest.raises(jobsim.InvalidArgument) as caught:
        answer_lost(*args, **kwargs)
    assert message in str(caught.value)


@pytest.mark.parametrize("helper", [jobsim.answer_lost, jobsim.delayed, jobsim.timeout])
def test_the_helper_itself_as_a_side_effect_is_refused_where_declared(helper):
    """respx would call it with the request at the first request: ``after=<Request ...> is not valid``, in the job."""
    app = jobsim.App("x")
    app.function("noop", on="go")(lambda ctx: None)
    with jobsim.Simulation(app, start=START) as sim, pytest.raises(jobsim.InvalidArgument) as caught:
        sim.http.post(CHARGES).mock(side_effect=[httpx.Response(500), helper])
    assert str(caught.value).endswith(f"is not valid: jobsim.{helper.__name__} is a function that makes a side "
                                      f"effect: call it, side_effect=jobsim.{helper.__name__}(...)")


# -- a mail provider: the email is sent, the answer lost; Resend's idempotency keeps it one email ---------------


def send_receipt(ctx):
    return httpx.post(RESEND, timeout=10, headers={"Authorization": "Bearer re_test", "Idempotency-Key": "receipt-7"},
                      json={"from": "billing@acme.test", "to": ["ada@example.com"], "subject": "Receipt #7",
                            "text": "Thanks!"}).json()["id"]


def test_a_lost_answer_from_a_mail_provider_sent_the_email_and_its_idempotency_keeps_it_one(tmp_path):
    sim = simulate(send_receipt, retries=2, routes=lambda sim: sim.http.post(RESEND, name="resend").mock(
        side_effect=[answer_lost()]))
    run = sim.runs("job")[0]
    assert run.status == "completed"
    email = sim.mail.assert_sent(to="ada@example.com", subject="Receipt #7")  # exactly one
    first, retry = sim.http.calls
    assert first.lost is not None and first.lost.json() == {"id": email.message_id}
    assert retry.response is not None and retry.response.json() == {"id": email.message_id}  # the first answer again
    assert sim.http.assert_same_idempotency_key("resend", count=2) == "receipt-7"
    assert [r.data.get("mail") for r in sim.trace if r.kind == "http"] == [True, True]
    app = jobsim.App("http-client")
    app.function("job", on="go", retries=2)(send_receipt)
    result = jobsim.Simulation.replay(sim.trace.save(tmp_path / "receipt.jobsim.jsonl"), app)
    assert result.same, result.report()
    assert len(result.simulation.mail.outbox) == 1
    assert [c.lost is not None for c in result.simulation.http.calls] == [True, False]


def test_a_misspelt_keyword_names_the_right_one():
    # Python's bare TypeError ("got an unexpected keyword argument 'headers'") named no way out
    sim = simulate(lambda ctx: None, routes=lambda sim: sim.http.post(CHARGES, name="charge").respond(200))
    with pytest.raises(jobsim.InvalidArgument, match=r"sim.http.assert_same_idempotency_key\(\) got an unknown "
                                                     r"keyword argument headers='Idem-Key' \(did you mean header=\?\)"):
        sim.http.assert_same_idempotency_key("charge", headers="Idem-Key")
    with pytest.raises(jobsim.InvalidArgument, match=r"jobsim.timeout\(\) got an unknown keyword argument "
                                                     r"phse='connect' \(did you mean phase=\?\)"):
        jobsim.timeout("5s", phse="connect")
