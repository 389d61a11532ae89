"""jobsim inside a team's existing test stack: the global ``random``, other HTTP mocks, servers on the test's loop.

Each test here pins a fix from a review that dropped jobsim into test suites that
already use pytest-randomly, respx, responses, requests-mock, pytest-httpx and
pytest-asyncio.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import pathlib
import random
import sys
import time
import types
from collections.abc import Awaitable, Callable
from typing import Any
from unittest import mock

import httpx
import pytest
import respx

import jobsim
from jobsim._aio import VirtualLoop

app = jobsim.App("interop")


@app.function("draw", on="draw")
def draw(ctx: jobsim.Context) -> list[float]:
    # a retry helper's jitter, random.choice of a shard...: job code drawing from the module's generator
    first = random.random()
    return [first, ctx.step.run("again", random.random)]


# -- the global random in job code ---------------------------------------------------------------
def _draws(seed: int, reseed: int) -> list[list[float]]:
    random.seed(reseed)  # what pytest-randomly does before each test, with its own seed
    with jobsim.Simulation(app, seed=seed) as sim:
        sim.send("draw")
        sim.advance(0)
        sim.send("draw")
        sim.run_until_idle()
        return [run.output for run in sim.runs("draw")]


def test_job_codes_global_random_follows_the_seed_not_the_tests_random() -> None:
    """Job code drew from the test's global ``random``: the same seed gave another history in every run,
    and pytest-randomly's reseeding (or another test order) changed it again."""
    first = _draws(seed=7, reseed=1)
    assert first == _draws(seed=7, reseed=2)  # the test's random does not reach job code
    assert first != _draws(seed=8, reseed=1)  # the simulation's seed does
    assert len({value for output in first for value in output}) == 4  # carried across requests and driving calls


def test_driving_calls_leave_the_tests_random_where_it_was() -> None:
    random.seed(3)
    expected = [random.random() for _ in range(3)]
    random.seed(3)
    with jobsim.Simulation(app) as sim:
        got = [random.random()]
        sim.send("draw")
        sim.run_until_idle()  # job code draws four numbers meanwhile
        got.append(random.random())
    got.append(random.random())
    assert got == expected


# -- the test's own respx routers --------------------------------------------------------------------
http_app = jobsim.App("interop-http")


@http_app.function("sync-crm", on="crm/sync", retries=0)
def sync_crm(ctx: jobsim.Context) -> int:
    return ctx.step.run("get", lambda: httpx.get("https://crm.example.com/sync").status_code)


@http_app.function("sync-crm-async", on="crm/sync-async", retries=0)
async def sync_crm_async(ctx: jobsim.Context) -> int:
    async def get() -> int:
        async with httpx.AsyncClient() as client:
            return (await client.get("https://crm.example.com/sync")).status_code

    return await ctx.step.run("get", get)


@http_app.function("welcome", on="user/created", retries=0)
def welcome(ctx: jobsim.Context) -> int:
    email = {"from": "hi@acme.test", "to": ["ada@example.com"], "subject": "Welcome!", "text": "Hello"}
    return ctx.step.run("send", lambda: httpx.post("https://api.resend.com/emails", json=email,
                                                    headers={"Authorization": "Bearer re_test"}).status_code)


def test_a_respx_router_started_before_the_simulation_does_not_answer_ahead_of_sim_http() -> None:
    """The `respx_mock` fixture listed before `jobsim` answered job code unrecorded; listed after, sim.http did."""
    with respx.mock(assert_all_called=False) as theirs:
        theirs.get("https://crm.example.com/sync").respond(418)
        with jobsim.Simulation(http_app) as sim:
            sim.http.get("https://crm.example.com/sync").respond(200)
            sim.send("crm/sync")
            sim.send("crm/sync-async")
            sim.run_until_idle()
    assert [run.output for run in sim.runs()] == [200, 200]
    assert len(sim.http.calls) == 2
    assert not theirs.calls


@pytest.mark.parametrize("event", ["crm/sync", "crm/sync-async"])
def test_the_tests_own_respx_routes_answer_what_sim_http_does_not_recorded(event: str) -> None:
    """A route the team had in its own respx router was ignored: the job got UnmatchedRequest, pointing at sim.http."""
    with jobsim.Simulation(http_app) as sim, respx.mock(assert_all_called=False) as theirs:
        theirs.get("https://crm.example.com/sync").respond(202)
        sim.send(event)
        sim.run_until_idle()
        assert httpx.get("https://crm.example.com/sync").status_code == 202  # the test's own call, between drives
        assert theirs.calls.call_count == 2  # read before the with block ends: respx resets them
    assert [run.output for run in sim.runs()] == [202]
    assert [call.response.status_code for call in sim.http.calls if call.response] == [202, 202]
    assert not sim.http.unmatched


def test_mail_providers_answer_before_the_tests_own_catch_all_respx_router() -> None:
    with jobsim.Simulation(http_app) as sim, respx.mock(assert_all_mocked=False, assert_all_called=False):
        sim.send("user/created")
        sim.run_until_idle()
    sim.mail.assert_sent(to="ada@example.com", subject="Welcome!")


def test_the_tests_own_respx_routes_do_not_answer_requests_sent_with_other_clients() -> None:
    """respx only ever saw httpx: a requests call stays unmatched rather than meeting the test's httpx routes."""
    requests = pytest.importorskip("requests")
    other = jobsim.App("interop-requests")

    @other.function("ping", on="ping", retries=0)
    def ping(ctx: jobsim.Context) -> int:
        return ctx.step.run("get", lambda: requests.get("https://crm.example.com/sync", timeout=5).status_code)

    with jobsim.Simulation(other) as sim, respx.mock(assert_all_called=False) as theirs:
        theirs.get("https://crm.example.com/sync").respond(202)
        sim.send("ping")
        sim.run_until_idle()
    assert sim.runs("ping")[0].status == "failed"
    assert len(sim.http.unmatched) == 1
    assert not theirs.calls


# -- mocks that sit above the sink: responses, requests-mock, pytest-httpx ---------------------------
FAKE_RESPONSES = '''
import requests

def fake_send(adapter, request, **kwargs):
    answer = requests.Response()
    answer.status_code, answer._content, answer.url = 418, b"", request.url
    return answer

def passing_send(adapter, request, **kwargs):
    return ORIGINAL(adapter, request, **kwargs)
'''


@pytest.fixture
def fake_responses(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A stand-in for responses: a package of that name whose code replaces HTTPAdapter.send (the real one
    need not be installed)."""
    pytest.importorskip("requests")
    import requests.adapters

    folder = tmp_path / "responses"
    folder.mkdir()
    init = folder / "__init__.py"
    init.write_text(FAKE_RESPONSES)
    module = types.ModuleType("responses")
    module.__file__ = str(init)
    exec(compile(FAKE_RESPONSES, str(init), "exec"), module.__dict__)
    module.ORIGINAL = requests.adapters.HTTPAdapter.send
    monkeypatch.setitem(sys.modules, "responses", module)
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", module.fake_send)
    return module


def _partner_app() -> jobsim.App:
    import requests

    app = jobsim.App("interop-partner")

    @app.function("notify", on="order/paid", retries=3)
    def notify(ctx: jobsim.Context) -> int:
        return ctx.step.run("post", lambda: requests.post("https://partner.example.com/hooks", timeout=5).status_code)

    return app


def test_job_code_answered_by_responses_is_refused_naming_it_and_the_way_out(fake_responses: types.ModuleType) -> None:
    """responses answered job code above the sink: sim.http's route was ignored, nothing recorded, no warning."""
    import requests

    with jobsim.Simulation(_partner_app()) as sim:
        sim.http.post("https://partner.example.com/hooks").respond(200)
        sim.send("order/paid")
        with pytest.raises(jobsim.UnsupportedFeature) as refused:
            sim.run_until_idle()
        # the test's own requests still meet its mock, between driving calls
        assert requests.get("https://partner.example.com/status").status_code == 418
    message = str(refused.value)
    assert "POST https://partner.example.com/hooks was answered by responses" in message
    assert "sim.http.post('https://partner.example.com/hooks').respond(...)" in message
    assert "responses.add_passthru('https://partner.example.com')" in message
    assert requests.adapters.HTTPAdapter.send is fake_responses.fake_send  # put back after the driving call


def test_a_mock_that_passes_job_code_on_reaches_sim_http(fake_responses: types.ModuleType,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import requests.adapters

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", fake_responses.passing_send)
    with jobsim.Simulation(_partner_app()) as sim:
        sim.http.post("https://partner.example.com/hooks").respond(200)
        sim.send("order/paid")
        sim.run_until_idle()
    assert sim.runs("notify")[0].output == 200
    assert [call.response.status_code for call in sim.http.calls if call.response] == [200]


def test_the_real_responses_library_is_refused_too() -> None:
    responses = pytest.importorskip("responses")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post("https://partner.example.com/hooks", status=418)
        with jobsim.Simulation(_partner_app()) as sim:
            sim.send("order/paid")
            with pytest.raises(jobsim.UnsupportedFeature, match="was answered by responses"):
                sim.run_until_idle()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get("https://other.example.com/", status=418)  # the test's own routes stay
        mock.add_passthru("https://partner.example.com")  # the way out the error names
        with jobsim.Simulation(_partner_app()) as sim:
            sim.http.post("https://partner.example.com/hooks").respond(201)
            sim.send("order/paid")
            sim.run_until_idle()
        assert sim.runs("notify")[0].output == 201


# -- a server on the async test's own event loop --------------------------------------------------------
local_app = jobsim.App("interop-local")


@local_app.function("ping-local", on="local/ping", retries=0)
def ping_local(ctx: jobsim.Context) -> int:
    return ctx.step.run("get", lambda: httpx.get(ctx.event.data["url"], timeout=30).status_code)


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    await writer.drain()
    writer.close()


def _on_the_tests_loop(drive: Callable[[jobsim.Simulation], Awaitable[None]]) -> jobsim.Simulation:
    """An async test (asyncio.run stands for pytest-asyncio's loop) serving on its loop and driving a job
    that passes a request through to that server."""

    async def test() -> jobsim.Simulation:
        server = await asyncio.start_server(_answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with jobsim.Simulation(local_app) as sim:
                sim.http.route(host="localhost").pass_through()  # the server listens on 127.0.0.1
                sim.send("local/ping", {"url": f"http://localhost:{port}/health"})
                await drive(sim)
                return sim
        finally:
            server.close()
            await server.wait_closed()

    return asyncio.run(test())


def test_passing_through_to_a_server_on_the_blocked_test_loop_is_refused_at_once() -> None:
    """The driving call blocks the test's loop: the job waited for its timeout (30 s on a virtual loop), failing
    with a ReadTimeout or 'is it running?' that never named the cause."""

    async def in_the_test(sim: jobsim.Simulation) -> None:
        sim.run_until_idle()

    started = time.monotonic()
    with pytest.raises(jobsim.UnsupportedFeature, match="runs on the async test's own event loop") as refused:
        _on_the_tests_loop(in_the_test)
    assert time.monotonic() - started < 10  # not the client's 30 s timeout; generous: 2 shared CI cores
    assert "await asyncio.to_thread(sim.run_until_idle)" in str(refused.value)


def test_driving_from_a_thread_lets_the_tests_loop_serve() -> None:
    """The way out the refusal names."""

    async def from_a_thread(sim: jobsim.Simulation) -> None:
        await asyncio.to_thread(sim.run_until_idle)

    sim = _on_the_tests_loop(from_a_thread)
    assert sim.runs("ping-local")[0].output == 200


# -- asyncio.get_event_loop() in sync job code ---------------------------------------------------------
loop_app = jobsim.App("interop-loop")


@loop_app.function("legacy", on="legacy", retries=0)
def legacy(ctx: jobsim.Context) -> list[Any]:
    def call_async_code() -> list[Any]:  # older code's way of calling a coroutine from sync code
        started = time.time()
        asyncio.get_event_loop().run_until_complete(asyncio.sleep(30))
        return [time.time() - started, isinstance(asyncio.get_event_loop(), VirtualLoop)]

    return ctx.step.run("call", call_async_code)


@loop_app.function("own-loop", on="own-loop", retries=0)
def own_loop(ctx: jobsim.Context) -> str:
    def run() -> str:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)  # job code making a loop the thread's current one, as a worker may
        try:
            return loop.run_until_complete(asyncio.sleep(1, result="slept"))
        finally:
            loop.close()

    return ctx.step.run("run", run)


def test_get_event_loop_in_sync_job_code_is_the_simulations_virtual_loop() -> None:
    """It was the test's real loop: asyncio.sleep(30) waited 30 s of real time and spent no virtual time."""
    started = time.monotonic()
    with jobsim.Simulation(loop_app) as sim:
        sim.send("legacy")
        sim.run_until_idle()
    assert sim.runs("legacy")[0].output == [30.0, True]
    assert time.monotonic() - started < 10  # not the real 30 s; generous: 2 shared CI cores


def test_get_event_loop_in_sync_job_code_driven_from_an_async_test() -> None:
    """It was the async test's own running loop: "This event loop is already running"."""

    async def test() -> jobsim.Simulation:
        with jobsim.Simulation(loop_app) as sim:
            sim.send("legacy")
            sim.run_until_idle()
            return sim

    sim = asyncio.run(test())
    [run] = sim.runs("legacy")
    assert (run.status, run.output) == ("completed", [30.0, True])


def test_a_loop_job_code_makes_current_is_not_the_tests_after_the_driving_call() -> None:
    async def test() -> tuple[str | None, bool]:
        with jobsim.Simulation(loop_app) as sim:
            sim.send("own-loop")
            sim.run_until_idle()
            current = asyncio.get_event_loop_policy().get_event_loop()
            return sim.runs("own-loop")[0].output, current is asyncio.get_running_loop()

    assert asyncio.run(test()) == ("slept", True)  # it was the job's closed loop


# -- the test's own requests while a simulation runs ---------------------------------------------------
def test_an_unmatched_request_the_test_sent_itself_is_not_blamed_on_the_job() -> None:
    """The teardown listing said "the job got httpx.ConnectError" for a request the test's own code sent."""
    with jobsim.Simulation(http_app) as sim:
        sim.http.get("https://crm.example.com/sync").respond(200)
        sim.send("crm/sync")
        sim.run_until_idle()
        with pytest.raises(httpx.ConnectError) as refused:
            httpx.get("http://localhost:8000/health")  # the team's local service, from the test body
    assert "sent by the test itself, between driving calls" in str(refused.value)
    assert "sim.http.route(host=...).pass_through()" in str(refused.value)
    listing = sim.http.format_unmatched().splitlines()
    assert listing[0] == "jobsim: 1 HTTP request matched no route (the test got httpx.ConnectError for each):"
    assert listing[1].endswith("GET http://localhost:8000/health  at 2025-01-01T00:00:00.000Z"
                               "  (sent by the test itself, between driving calls)")


def test_a_request_job_code_sends_from_a_thread_of_its_own_is_the_jobs() -> None:
    threaded = jobsim.App("interop-threads")

    @threaded.function("fan-out", on="fan-out", retries=0)
    def fan_out(ctx: jobsim.Context) -> None:
        def call() -> None:
            with concurrent.futures.ThreadPoolExecutor(2) as pool:  # both run: map would cancel b once a fails
                concurrent.futures.wait([pool.submit(httpx.get, f"https://crm.example.com/{path}") for path in "ab"])

        ctx.step.run("call", call)

    with jobsim.Simulation(threaded) as sim:
        sim.send("fan-out")
        sim.run_until_idle()
    listing = sim.http.format_unmatched()
    assert listing.startswith("jobsim: 2 HTTP requests matched no route (the job got")
    assert "by the test" not in listing



def test_pytest_timeouts_failure_raised_inside_job_code_fails_the_test_not_the_attempt() -> None:
    """pytest-timeout's signal method calls pytest.fail wherever the test is: here, inside job code."""
    stuck = jobsim.App("interop-stuck")

    @stuck.function("stuck", on="stuck", retries=3)
    def stuck_job(ctx: jobsim.Context) -> None:
        def poll() -> None:
            pytest.fail("Timeout (>2.0s) from pytest-timeout.")  # what its SIGALRM handler raises

        ctx.step.run("poll", poll)

    with jobsim.Simulation(stuck) as sim:
        sim.send("stuck")
        with pytest.raises(pytest.fail.Exception, match="pytest-timeout"):
            sim.run_until_idle()
        assert [attempt.error for attempt in sim.runs("stuck")[0].attempts if attempt.error] == []


# -- the test's own mock of time.sleep ------------------------------------------------------------------
nap_app = jobsim.App("interop-nap")


@nap_app.function("nap", on="nap", retries=0)
def nap(ctx: jobsim.Context) -> float:
    def wait_then_read() -> float:
        time.sleep(5)
        return time.time()

    return ctx.step.run("nap", wait_then_read)


@pytest.mark.parametrize("autospec", [False, True])
def test_a_mock_the_test_put_on_time_sleep_still_sees_job_codes_sleeps(autospec: bool) -> None:
    """The virtual sleep replaced the test's mock for the driving call: `sleep.assert_called_once_with(5)` failed."""
    with mock.patch("time.sleep", autospec=autospec) as sleep, jobsim.Simulation(nap_app) as sim:
        sim.send("nap")
        sim.run_until_idle()
    sleep.assert_called_once_with(5)
    assert sim.runs("nap")[0].output == sim.start_ns / 1e9 + 5  # and the sleep still spent virtual time


@pytest.mark.parametrize("name", ["datetime", "date"])
def test_a_datetime_class_the_test_replaced_with_a_mock_is_refused_before_driving(name: str) -> None:
    """``mock.patch("datetime.datetime", wraps=...)`` failed deep in time-machine (``isinstance() arg 2 must be a
    type``) with the job queued and an ``advance`` already recorded."""
    import datetime

    with jobsim.Simulation(nap_app) as sim:
        sim.send("nap")
        refused = (rf"^datetime.{name} is replaced by <MagicMock name='{name}' id='\d+'> "
                   rf"\(mock.patch\('datetime.{name}'\) in the test\?\).*mock.patch\('myapp.jobs.{name}'\).*freezegun")
        with mock.patch(f"datetime.{name}", wraps=getattr(datetime, name)), pytest.raises(jobsim.JobsimError,
                                                                                          match=refused):
            sim.run_until_idle()
        assert [record.kind for record in sim.trace if record.kind == "advance"] == []
        assert sim.runs("nap")[0].status == "queued"
        sim.run_until_idle()  # the patch taken out: it runs
        assert sim.runs("nap")[0].status == "completed"


def test_a_mock_of_time_time_is_job_codes_and_one_of_monotonic_is_put_aside() -> None:
    """As the README says: the test's mock of ``time.time`` answers job code; ``time.monotonic`` is replaced for the
    driving call whatever the test put there."""
    app = jobsim.App("clocks")

    @app.function("read", on="read", retries=0)
    def read(ctx: jobsim.Context) -> list[float]:
        return [time.time(), time.monotonic()]

    with jobsim.Simulation(app) as sim, mock.patch("time.time", return_value=1000.0), \
            mock.patch("time.monotonic", return_value=7.0) as monotonic:  # fmt: skip
        sim.send("read")
        sim.run_until_idle()
    wall, mono = sim.runs("read")[0].output
    assert wall == 1000.0 and mono != 7.0 and not monotonic.called


def test_freezeguns_own_classes_in_the_datetime_module_are_not_refused() -> None:
    freezegun = pytest.importorskip("freezegun")
    with freezegun.freeze_time("2020-01-01"), jobsim.Simulation(nap_app) as sim:
        sim.send("nap")
        sim.run_until_idle()
    assert sim.runs("nap")[0].status == "completed"


@loop_app.function("legacy-closing", on="legacy-closing", retries=0)
def legacy_closing(ctx: jobsim.Context) -> str:
    def run() -> str:
        loop = asyncio.get_event_loop()
        try:
            return loop.run_until_complete(asyncio.sleep(2, result="done"))
        finally:
            loop.close()  # older code's habit

    return ctx.step.run("run", run)


@loop_app.function("modern", on="modern", retries=0)
async def modern(ctx: jobsim.Context) -> str:
    await asyncio.sleep(1)
    return "awaited"


def test_job_code_closing_the_loop_get_event_loop_gave_it_breaks_nothing_else() -> None:
    with jobsim.Simulation(loop_app) as sim:
        sim.send("legacy-closing")
        sim.run_until_idle()
        sim.send("modern")  # async handlers run on the simulation's own loop, still open
        sim.send("legacy-closing")  # and the next get_event_loop() gives an open one
        sim.run_until_idle()
    assert [run.output for run in sim.runs()] == ["done", "awaited", "done"]
