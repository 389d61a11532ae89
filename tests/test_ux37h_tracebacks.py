"""The report's traceback of an unmatched request sent with requests, aiohttp or urllib.request is cut as httpx's
is: the job's frames, the count of the frames below, and what the client made of jobsim's error (trial 37)."""

from __future__ import annotations

import urllib.request

import aiohttp
import pytest
import requests

import jobsim
from jobsim._joberrors import failed_run_tracebacks

pytest_plugins = ["pytester"]

START = "2025-01-01T00:00:00Z"
URL = "https://hooks.example.com/x"
MESSAGE = f"jobsim: no route matches POST {URL}; add one with sim.http.post({URL!r}).respond(200)"


def _lines(function):
    app = jobsim.App("tb")
    app.function("job", on="go", retries=0)(function)
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
        sim.http.unmatched.clear()  # expected: the close would fail on it
    return failed_run_tracebacks(sim)


def _below(lines):
    """The count in the line that replaces the frames below the job's, checked to be a positive number."""
    counted = [line for line in lines if "frame(s) of" in line]
    assert len(counted) == 1, lines
    n = int(counted[0].split("... ")[1].split(" ")[0])
    assert n > 0
    return counted[0].replace(f"... {n} frame(s)", "... N frame(s)")


def test_requests_shows_the_jobs_frame_then_the_chain_on_one_line_each():
    def job(ctx):
        requests.post(URL, timeout=5)

    lines = _lines(job)
    assert lines[:4] == [
        "job#1 failed in its body, attempt 0:",
        "    Traceback (most recent call last):",
        f'      File "{__file__}", line {job.__code__.co_firstlineno + 1}, in job',
        "        requests.post(URL, timeout=5)",
    ]
    assert _below(lines) == "      ... N frame(s) of requests, urllib3 and jobsim below, where jobsim raised it"
    assert lines[5:7] == [
        "      ... jobsim raised jobsim._http.UnmatchedRequest",
        "      ... which became urllib3.exceptions.NewConnectionError, urllib3.exceptions.MaxRetryError and "
        "requests.exceptions.ConnectionError:",
    ]
    assert lines[7].startswith("    requests.exceptions.ConnectionError: HTTPSConnectionPool(") and MESSAGE in lines[7]
    assert len(lines) == 8  # was 45 lines of three chained tracebacks


def test_aiohttp_leaves_out_the_event_loop_that_drove_the_job():
    async def job(ctx):
        async with aiohttp.ClientSession() as session:
            await session.post(URL)

    lines = _lines(job)
    assert lines[2:4] == [
        f'      File "{__file__}", line {job.__code__.co_firstlineno + 2}, in job',
        "        await session.post(URL)",
    ]
    assert _below(lines) == "      ... N frame(s) of aiohttp and jobsim below, where jobsim raised it"
    assert lines[5:7] == ["      ... jobsim raised jobsim._http.UnmatchedRequest",
                          "      ... which became aiohttp.client_exceptions.ClientConnectorError:"]
    assert lines[7] == ("    aiohttp.client_exceptions.ClientConnectorError: Cannot connect to host "
                        f"hooks.example.com:443 ssl:default [{MESSAGE}]")
    assert len(lines) == 8 and not any("_aio.py" in line or "asyncio" in line for line in lines)


def test_urllib_names_jobsims_message_its_own_error_does_not_quote():
    def job(ctx):
        urllib.request.urlopen(urllib.request.Request(URL, data=b"x", method="POST"))

    lines = _lines(job)
    assert _below(lines) == "      ... N frame(s) of urllib, http and jobsim below, where jobsim raised it"
    assert lines[5:] == [
        f"      ... jobsim raised jobsim._http.UnmatchedRequest: {MESSAGE}",
        "      ... which became ConnectionRefusedError and urllib.error.URLError:",
        "    urllib.error.URLError: <urlopen error [Errno 111] Connection refused>",
    ]


def test_an_error_the_job_raised_from_the_clients_keeps_its_whole_traceback():
    def job(ctx):
        try:
            requests.post(URL, timeout=5)
        except requests.ConnectionError as error:
            raise RuntimeError("the partner is down") from error

    lines = _lines(job)
    assert lines[-1] == "    RuntimeError: the partner is down"
    assert not any("frame(s) of" in line for line in lines)
    assert any("The above exception was the direct cause" in line for line in lines)


@pytest.mark.parametrize("event", ["go-sync", "go"])  # requests, aiohttp
def test_the_pytest_report_cuts_them(pytester, event):
    pytester.makepyfile(f"""
        import aiohttp, requests, pytest, jobsim

        app = jobsim.App("tb")

        @app.function("job", on="go", retries=0)
        async def job(ctx):
            async with aiohttp.ClientSession() as s:
                await s.post("https://hooks.example.com/x")

        @app.function("sync-job", on="go-sync", retries=0)
        def sync_job(ctx):
            requests.post("https://hooks.example.com/x", timeout=5)

        @pytest.fixture
        def jobsim_app():
            return app

        @pytest.mark.jobsim(allow_unmatched_http=True)
        def test_it(jobsim):
            jobsim.send({event!r})
            jobsim.run_until_idle()
            assert jobsim.runs()[0].status == "completed"
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*... * frame(s) of * and jobsim below, where jobsim raised it",
                                 "*... jobsim raised jobsim._http.UnmatchedRequest"])
    assert "The above exception was the direct cause" not in result.stdout.str()
    assert "site-packages" not in result.stdout.str()


def test_the_timeline_shows_jobsims_sentence_first_in_a_clients_error_that_quotes_it():
    """requests' ConnectionError quotes jobsim's message after 'Max retries exceeded with url: ...': the timeline's
    line, cut at 160 characters, ended before it."""
    app = jobsim.App("timeline-first")

    @app.function("f", on="go", retries=0)
    def f(ctx):
        requests.post("https://hooks.example.com/x")

    with jobsim.Simulation(app) as sim:
        sim.send("go")
        sim.run_until_idle()
        lines = [line for line in sim.timeline().splitlines() if " failed: " in line]
    assert len(lines) == 2
    for line in lines:
        assert "failed: ConnectionError: jobsim: no route matches POST https://hooks.example.com/x; " in line
