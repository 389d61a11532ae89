"""A request no ``sim.http`` route matches, sent by an APScheduler job: the job's network failure, not the test's.

The main README (HTTP sink): ``UnmatchedRequest`` is an ``httpx.ConnectError`` inside the job, "under a backend
plugin's worker too", and the pytest fixture lists each one at teardown. An APScheduler job that meets one fails
with EVENT_JOB_ERROR, as it would on an unreachable host, and its trigger fires again; it stopped ``sim.advance``
at the first run instead (jobsim-apscheduler's own ``escapes`` let every ``JobsimError`` through).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from apscheduler.events import EVENT_JOB_ERROR

import jobsim

pytest_plugins = ["pytester"]

START = "2025-03-01T00:00:00Z"


def ping_sync() -> int:
    return httpx.post("https://status.example.com/ping", json={}).status_code


async def ping_async() -> int:
    async with httpx.AsyncClient() as client:
        return (await client.post("https://status.example.com/ping", json={})).status_code


def _errors(scheduler):
    seen = []
    scheduler.add_listener(lambda e: seen.append((e.scheduled_run_time.strftime("%H:%M"), type(e.exception))),
                           EVENT_JOB_ERROR)  # fmt: skip
    return seen


def _check(sim, seen):
    runs = sim.runs("ping")
    assert [r.status for r in runs] == ["failed", "failed", "failed"]
    assert all(isinstance(r.error, jobsim.UnmatchedRequest) and isinstance(r.error, httpx.ConnectError)
               for r in runs)  # fmt: skip
    assert seen == [("00:01", jobsim.UnmatchedRequest), ("00:02", jobsim.UnmatchedRequest),
                    ("00:03", jobsim.UnmatchedRequest)]  # fmt: skip
    assert [str(request.url) for request in sim.http.unmatched] == ["https://status.example.com/ping"] * 3


def test_a_thread_pool_jobs_unmatched_request_is_event_job_error_and_the_trigger_fires_again(scheduler):
    scheduler.add_job(ping_sync, "interval", minutes=1, id="ping")
    seen = _errors(scheduler)
    with jobsim.Simulation(scheduler, start=START) as sim:
        sim.advance("3min")
    _check(sim, seen)


@pytest.mark.parametrize("job", [ping_async, ping_sync], ids=["coroutine", "plain-function"])
def test_an_asyncio_schedulers_unmatched_request_is_event_job_error_and_the_trigger_fires_again(aio, job):
    aio.add_job(job, "interval", minutes=1, id="ping")
    seen = _errors(aio)
    with jobsim.Simulation(aio, start=START) as sim:
        sim.advance("3min")
    _check(sim, seen)


def test_a_task_a_coroutine_job_left_behind_meets_an_unmatched_request_as_asyncio_logs_it(aio, caplog):
    """Nobody awaits the task: asyncio logs "Task exception was never retrieved", as for a refused connection;
    the simulation runs on (it raised the UnmatchedRequest from ``sim.advance``)."""
    kept = []

    async def fire_and_forget():
        kept.append(asyncio.create_task(ping_async()))

    aio.add_job(fire_and_forget, "date", run_date="2025-03-01 00:01:00", id="fire")
    with caplog.at_level("ERROR", "asyncio"), jobsim.Simulation(aio, start=START) as sim:
        sim.advance("2min")
        assert [r.status for r in sim.runs("fire")] == ["completed"]
    logged = [r for r in caplog.records if r.name == "asyncio"]
    assert [(r.getMessage().split("\n")[0], type(r.exc_info[1])) for r in logged] == [
        ("Task exception was never retrieved", jobsim.UnmatchedRequest)]
    assert isinstance(kept[0].exception(), jobsim.UnmatchedRequest)
    assert len(sim.http.unmatched) == 1


def test_the_pytest_fixture_lists_an_aps_jobs_unmatched_request_at_teardown(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import httpx
        import pytest
        from apscheduler.schedulers.background import BackgroundScheduler

        def ping():
            return httpx.post("https://status.example.com/ping").status_code

        @pytest.fixture
        def jobsim_app():
            scheduler = BackgroundScheduler(timezone="UTC")
            scheduler.add_job(ping, "interval", minutes=1, id="ping")
            return scheduler
        """
    )
    pytester.makepyfile(
        """
        def test_ping(jobsim):
            jobsim.advance("2min")
            assert [r.status for r in jobsim.runs("ping")] == ["failed", "failed"]
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([
        "*_ ERROR at teardown of test_ping _*",
        "jobsim: 2 HTTP requests matched no route (the job got httpx.ConnectError for each):",
        "  POST https://status.example.com/ping  at 2025-01-01T00:01:00.000Z",
        "  POST https://status.example.com/ping  at 2025-01-01T00:02:00.000Z",
    ], consecutive=True)  # fmt: skip
