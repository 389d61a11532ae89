"""A user trial: the suite a backend team on arq writes with jobsim, from the READMEs alone.

Order-paid job calling a payment provider and a shipping webhook over httpx (async) with
``Retry(defer=...)`` backoff, a 24-hour abandoned-cart reminder (``_defer_by``), a 09:00 New York
digest (``arq.cron``) across both DST changes, timeouts, ``max_tries``, ``_job_id`` dedup,
``job.result()``, aborts, a Hypothesis property of the retry timing, and a trace saved, replayed
and diffed. Every instant asserted here is what arq 0.28's own arithmetic gives (cited inline).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from arq import Retry, create_pool
from arq.connections import RedisSettings
from arq.cron import cron
from arq.jobs import JobStatus
from arq.worker import JobExecutionFailed, func
from hypothesis import given, settings
from hypothesis import strategies as st

import jobsim
from jobsim import invariants
from jobsim import strategies as js

NY = ZoneInfo("America/New_York")
REDIS = RedisSettings(host="redis.prod.internal")  # never reached inside a simulation
PAY = "https://pay.example.com/v1/charges"
SHIP = "https://ship.example.com/hooks/order-paid"
RESEND = "https://api.resend.com/emails"


def backoff(job_try: int) -> int:
    """Our retry policy: 2 s, 4 s, 8 s, ... after the try that failed."""
    return 2**job_try


async def order_paid(ctx: dict[str, Any], order_id: str, cents: int) -> dict[str, Any]:
    """Charge the card (idempotently), then tell the warehouse. Transient failures retry with backoff."""
    async with httpx.AsyncClient(timeout=10) as client:
        try:
            charge = await client.post(PAY, json={"order": order_id, "amount": cents},
                                       headers={"Idempotency-Key": f"charge-{order_id}"})
            if charge.status_code >= 500:
                raise Retry(defer=backoff(ctx["job_try"]))
            charge.raise_for_status()
            ship = await client.post(SHIP, json={"order": order_id, "charge": charge.json()["id"]})
            if ship.status_code >= 500:
                raise Retry(defer=dt.timedelta(seconds=backoff(ctx["job_try"])))
        except httpx.TransportError:
            raise Retry(defer=backoff(ctx["job_try"])) from None
    return {"order": order_id, "charge": charge.json()["id"], "try": ctx["job_try"]}


async def cart_reminder(ctx: dict[str, Any], cart_id: str, email: str) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.post(RESEND, headers={"Authorization": "Bearer re_test_123"}, json={
            "from": "shop@acme.test", "to": [email], "subject": f"Still thinking about cart {cart_id}?",
            "text": "Your cart misses you."})
        response.raise_for_status()
    return response.json()["id"]


DIGESTS: list[str] = []


async def daily_digest(ctx: dict[str, Any]) -> str:
    local = dt.datetime.now(NY)  # the wall clock follows the simulation
    DIGESTS.append(local.strftime("%Y-%m-%d %H:%M:%S %Z"))
    async with httpx.AsyncClient() as client:
        response = await client.post(RESEND, headers={"Authorization": "Bearer re_test_123"}, json={
            "from": "digest@acme.test", "to": ["ops@acme.test"],
            "subject": f"Digest {local:%Y-%m-%d}", "text": "All quiet."})
        response.raise_for_status()
    return local.isoformat()


async def export_report(ctx: dict[str, Any]) -> str:
    await asyncio.sleep(3600)  # a hung export: its timeout cuts it
    return "exported"


async def always_busy(ctx: dict[str, Any]) -> None:
    raise Retry(defer=10)


async def long_import(ctx: dict[str, Any], rows: int) -> int:
    await asyncio.sleep(rows)  # a second per row
    return rows


class WorkerSettings:
    functions = (order_paid, cart_reminder, func(export_report, timeout=30),
                 func(always_busy, max_tries=3), long_import)
    cron_jobs = (cron(daily_digest, hour=9, minute=0),)
    redis_settings = REDIS
    timezone = NY
    allow_abort_jobs = True


# The same worker without the cron job, for tests that advance through 09:00 New York. Not a subclass:
# arq reads a settings class's own __dict__ (worker.py:887-890), so a subclass inherits no setting.
JOBS_ONLY = {**{k: v for k, v in vars(WorkerSettings).items() if not k.startswith("_")}, "cron_jobs": []}


def run(coro):
    return asyncio.run(coro)


async def pool():
    return await create_pool(REDIS)


# -- order paid: payment + shipping over httpx, Retry with backoff ------------------------------------


def test_order_paid_retries_with_backoff_until_the_provider_recovers():
    with jobsim.Simulation(WorkerSettings, start="2026-05-04T10:00:00Z") as sim:
        sim.http.post(PAY, name="pay").mock(side_effect=[httpx.Response(503), httpx.Response(502),
                                                         *[httpx.Response(201, json={"id": "ch_1"})] * 2])
        sim.http.post(SHIP).mock(side_effect=[httpx.ConnectError("refused"), httpx.Response(202)])

        async def checkout():
            redis = await pool()
            job = await redis.enqueue_job("order_paid", "o-1", 4200, _job_id="order_paid:o-1")
            assert await redis.enqueue_job("order_paid", "o-1", 4200, _job_id="order_paid:o-1") is None
            return job

        job = run(checkout())
        assert job.job_id == "order_paid:o-1"
        assert run(job.result(timeout=120)) == {"order": "o-1", "charge": "ch_1", "try": 4}

    [order] = sim.runs(order_paid)
    assert order.id == "order_paid:o-1"
    starts = [(a.started_at - order.attempts[0].started_at).total_seconds() for a in order.attempts]
    # try 1 at 0 s (503: Retry 2 s), try 2 at 2 s (502: 4 s), try 3 at 6 s (charged; ship refused: 8 s),
    # try 4 at 14 s; arq: new score = now + defer (worker.py:617-619), run by the first poll at or after it
    assert starts == [0, 2, 6, 14]
    assert [c.request.url.host for c in sim.http.calls] == ["pay.example.com"] * 3 + [
        "ship.example.com", "pay.example.com", "ship.example.com"]
    assert sim.http.assert_same_idempotency_key("pay", count=4) == "charge-o-1"
    # each Retry is a record whose due instant is data["at"] (the file's "next_at")
    assert [(r.data["attempt"], r.data["delay"] // 10**9) for r in sim.trace.of("retry")] == [(1, 2), (2, 4), (3, 8)]


# -- abandoned cart: a reminder 24 h later via _defer_by ---------------------------------------------


def test_abandoned_cart_reminder_is_sent_24_hours_later():
    with jobsim.Simulation(JOBS_ONLY, start="2026-05-04T18:30:00Z") as sim:
        async def abandon():
            redis = await pool()
            job = await redis.enqueue_job("cart_reminder", "c-9", "ada@example.com", _defer_by=dt.timedelta(hours=24))
            return job, await job.status(), (await job.info()).score

        job, status, score = run(abandon())
        assert status == JobStatus.deferred
        assert score == int(dt.datetime(2026, 5, 5, 18, 30, tzinfo=dt.timezone.utc).timestamp() * 1000)
        sim.advance("23h59m59s")
        assert sim.mail.outbox == []
        assert run(job.status()) == JobStatus.deferred
        sim.advance("1s")
        assert run(job.status()) == JobStatus.complete
        email = sim.mail.assert_sent(to="ada@example.com", subject="Still thinking about cart c-9?")
        assert run(job.result()) == email.message_id  # Resend's answer, from the mail sink

    assert email.sent_at == dt.datetime(2026, 5, 5, 18, 30, tzinfo=dt.timezone.utc)
    [reminder] = sim.runs(cart_reminder)
    assert reminder.started_at == dt.datetime(2026, 5, 4, 18, 30, tzinfo=dt.timezone.utc)  # enqueued
    assert reminder.attempts[0].started_at == email.sent_at


# -- the 09:00 New York digest, across both DST changes ------------------------------------------------


def digests_between(start: str, end: str) -> tuple[list[str], list[str], list[str]]:
    """The digests' local times (read by job code), their runs' starts (UTC) and job ids."""
    DIGESTS.clear()
    with jobsim.Simulation(WorkerSettings, start=start) as sim:
        sim.advance_to(end)
    runs = sim.runs(daily_digest)
    assert [m.subject[7:] for m in sim.mail.find(to="ops@acme.test")] == [d[:10] for d in DIGESTS]
    utc = [r.attempts[0].started_at.strftime("%m-%d %H:%M:%S.%f") for r in runs]
    return list(DIGESTS), utc, [r.id for r in runs]


def test_daily_digest_stays_at_nine_new_york_time_across_spring_forward():
    local, utc, ids = digests_between("2026-03-06T12:00:00Z", "2026-03-10T15:00:00Z")  # March 8: 02:00 -> 03:00
    assert local == ["2026-03-06 09:00:00 EST", "2026-03-07 09:00:00 EST", "2026-03-08 09:00:00 EDT",
                     "2026-03-09 09:00:00 EDT", "2026-03-10 09:00:00 EDT"]
    # due at 09:00:00.123456 (cron's default microsecond, cron.py:144): the 0.5 s poll grid starts it at .5
    assert utc == ["03-06 14:00:00.500000", "03-07 14:00:00.500000", "03-08 13:00:00.500000",
                   "03-09 13:00:00.500000", "03-10 13:00:00.500000"]
    # unique cron jobs are named by their instant in ms (worker.py:756-759)
    first = dt.datetime(2026, 3, 6, 14, 0, 0, 123456, tzinfo=dt.timezone.utc)
    assert ids[0] == f"cron:daily_digest:{int(first.timestamp() * 1000)}"


def test_daily_digest_stays_at_nine_new_york_time_across_fall_back():
    local, utc, _ = digests_between("2026-10-30T12:00:00Z", "2026-11-03T15:00:00Z")  # Nov 1: 02:00 -> 01:00
    assert local == ["2026-10-30 09:00:00 EDT", "2026-10-31 09:00:00 EDT", "2026-11-01 09:00:00 EST",
                     "2026-11-02 09:00:00 EST", "2026-11-03 09:00:00 EST"]
    assert utc == ["10-30 13:00:00.500000", "10-31 13:00:00.500000", "11-01 14:00:00.500000",
                   "11-02 14:00:00.500000", "11-03 14:00:00.500000"]


async def heartbeat(ctx: dict[str, Any]) -> str:
    return dt.datetime.now(NY).strftime("%H:%M %Z")


def test_an_hourly_job_across_fall_back_skips_the_repeated_hour_as_arq_does():
    # arq's cron arithmetic is wall-clock: after 01:00 EDT next_run is 02:00 (EST, an hour of instants later), and
    # its heartbeat compares by wall clock, so the 02:00 EST job is enqueued at 01:59:59.5 EDT, an hour ahead
    hourly = {"cron_jobs": [cron(heartbeat, minute=0)], "redis_settings": REDIS, "timezone": NY}
    with jobsim.Simulation(hourly, start="2026-11-01T03:30:00Z") as sim:
        sim.advance_to("2026-11-01T08:30:00Z")
    runs = sim.runs(heartbeat)
    assert [r.output for r in runs] == ["00:00 EDT", "01:00 EDT", "02:00 EST", "03:00 EST"]
    assert [f"{r.started_at:%H:%M:%S.%f}"[:12] for r in runs] == [  # enqueued (UTC)
        "03:59:59.500", "04:59:59.500", "05:59:59.500", "07:59:59.500"]


# -- timeouts, max_tries, results, aborts ------------------------------------------------------------------


def test_a_hung_export_times_out_at_its_func_timeout():
    with jobsim.Simulation(JOBS_ONLY, start="2026-05-04T10:00:00Z") as sim:
        job = run(run_enqueue("export_report"))
        with pytest.raises(asyncio.TimeoutError):
            run(job.result())
        info = run(job.result_info())
        assert (info.success, info.job_try, info.finish_time - info.start_time) == (False, 1, dt.timedelta(seconds=30))
    [export] = sim.runs(export_report)
    assert export.status == "failed" and isinstance(export.error, asyncio.TimeoutError)
    assert export.finished_at - export.attempts[0].started_at == dt.timedelta(seconds=30)


def test_max_tries_runs_out_on_the_try_after_the_last():
    with jobsim.Simulation(JOBS_ONLY, start="2026-05-04T10:00:00Z") as sim:
        job = run(run_enqueue("always_busy"))

        with pytest.raises(JobExecutionFailed, match="max 3 retries exceeded"):
            run(job.result(timeout=60))
        assert run(job.result_info()).job_try == 4
    [busy] = sim.runs(always_busy)
    # three tries ran, 10 s apart; the fourth fails without running (worker.py:549-569)
    assert [f"{a.started_at:%H:%M:%S}" for a in busy.attempts] == ["10:00:00", "10:00:10", "10:00:20"]
    assert f"{busy.finished_at:%H:%M:%S}" == "10:00:30"
    # jobsim's invariant checks jobsim.Retries policies: arq's worker decides these retries, so it refuses to
    # check them (before, it reported every retry as a violation of a one-attempt policy)
    with pytest.raises(jobsim.UnsupportedFeature, match="the runs of 'always_busy' are run by a backend plugin's own"):
        invariants.retries_respect_policy(sim)


def test_result_times_out_while_the_job_is_still_deferred_then_arrives():
    with jobsim.Simulation(JOBS_ONLY, start="2026-05-04T10:00:00Z") as sim:
        job = run(run_enqueue("long_import", 5, _defer_by=60))
        with pytest.raises(asyncio.TimeoutError):
            run(job.result(timeout=30))  # the client gives up at its first poll past 30 s (jobs.py:124)
        assert f"{sim.now:%H:%M:%S.%f}" == "10:00:30.500000"
        assert run(job.status()) == JobStatus.deferred
        assert run(job.result(timeout=60)) == 5
        assert f"{sim.now:%H:%M:%S}" == "10:01:05"  # ran 10:01:00-10:01:05, seen at the client's poll then


def test_an_aborted_job_is_cancelled_at_the_workers_next_poll():
    with jobsim.Simulation(JOBS_ONLY, start="2026-05-04T10:00:00Z") as sim:
        job = run(run_enqueue("long_import", 600))
        sim.advance("10s")
        assert run(job.status()) == JobStatus.in_progress
        assert run(job.abort(timeout=5)) is True
        assert run(job.status()) == JobStatus.complete
        with pytest.raises(asyncio.CancelledError):
            run(job.result())
    [imp] = sim.runs(long_import)
    assert imp.status == "failed"
    assert f"{imp.finished_at:%H:%M:%S.%f}" == "10:00:10.500000"  # the poll after the abort


def test_aborting_a_deferred_job_fails_it_before_it_starts():
    with jobsim.Simulation(JOBS_ONLY, start="2026-05-04T10:00:00Z") as sim:
        job = run(run_enqueue("long_import", 5, _defer_by=dt.timedelta(hours=1)))
        assert run(job.abort(timeout=2)) is True
        with pytest.raises(asyncio.CancelledError):
            run(job.result())
    [imp] = sim.runs(long_import)
    assert imp.attempts == [] and imp.status == "failed"


def test_a_job_id_is_refused_while_the_job_or_its_result_exists():
    with jobsim.Simulation(JOBS_ONLY, start="2026-05-04T10:00:00Z") as sim:
        first = run(run_enqueue("long_import", 1, _job_id="import-42"))
        assert run(run_enqueue("long_import", 1, _job_id="import-42")) is None  # queued
        assert run(first.result()) == 1
        # the worker's first poll (10:00:00) found it: done 10:00:01, its result kept 3600 s (Worker's keep_result)
        assert run(first.result_info()).finish_time == dt.datetime(2026, 5, 4, 10, 0, 1, tzinfo=dt.timezone.utc)
        sim.advance_to("2026-05-04T11:00:01Z")
        assert run(run_enqueue("long_import", 1, _job_id="import-42")) is None  # Redis: expired once now > expiry
        sim.advance_to("2026-05-04T11:00:01.001Z")
        again = run(run_enqueue("long_import", 2, _job_id="import-42"))  # the result expired: a new job
        assert run(again.result()) == 2
    assert [r.output for r in sim.runs(long_import)] == [1, 2]
    assert len(sim.trace.of("arq.duplicate")) == 2


async def run_enqueue(function: str, *args: Any, **options: Any):
    redis = await pool()
    return await redis.enqueue_job(function, *args, **options)


# -- a property of the retry timing (jobsim.strategies) ---------------------------------------------------


async def backoff_job(ctx: dict[str, Any], defers: list[dt.timedelta], work: dt.timedelta) -> int:
    await asyncio.sleep(work.total_seconds())
    if ctx["job_try"] <= len(defers):
        raise Retry(defer=defers[ctx["job_try"] - 1])
    return ctx["job_try"]


BACKOFF = {"functions": [func(backoff_job, max_tries=10)], "redis_settings": REDIS}


@settings(max_examples=25, deadline=None)
@given(sim=js.simulations(BACKOFF),
       defers=st.lists(js.durations("1ms", "10m", near=["500ms", "1s"], spread="5ms"), max_size=6),
       work=js.durations(0, "3s"))
def test_each_retry_starts_at_the_first_poll_at_or_after_failure_plus_defer(sim, defers, work):
    with sim:
        job = run(run_enqueue("backoff_job", defers, work))
        assert run(job.result(timeout=7200)) == len(defers) + 1
    [r] = sim.runs(backoff_job)
    starts = [a.start_ns // 10**6 for a in r.attempts]  # ms
    origin, poll = sim.start_ns // 10**6, 500
    assert len(starts) == len(defers) + 1
    for before, after, defer in zip(starts, starts[1:], defers, strict=False):
        due = before + work // dt.timedelta(milliseconds=1) + defer // dt.timedelta(milliseconds=1)  # worker.py:617-619
        first_poll = origin + -(-(due - origin) // poll) * poll
        assert after == first_poll


# -- a trace saved, replayed and diffed ----------------------------------------------------------------------


async def daily_digest_v2(ctx: dict[str, Any]) -> str:
    """Tomorrow's code: a new subject line."""
    local = dt.datetime.now(NY)
    async with httpx.AsyncClient() as client:
        response = await client.post(RESEND, headers={"Authorization": "Bearer re_test_123"}, json={
            "from": "digest@acme.test", "to": ["ops@acme.test"],
            "subject": f"Your digest for {local:%b %d}", "text": "All quiet."})
        response.raise_for_status()
    return local.isoformat()


def digest_settings(job) -> dict[str, Any]:
    return {"functions": [cart_reminder], "cron_jobs": [cron(job, hour=9, minute=0, name="cron:daily_digest")],
            "redis_settings": REDIS, "timezone": NY}


def test_a_digest_trace_is_saved_replayed_and_diffed(tmp_path):
    with jobsim.Simulation(digest_settings(daily_digest), start="2026-03-07T12:00:00Z", seed=3) as sim:
        sim.http.post(RESEND).mock(side_effect=[httpx.Response(500)])  # Resend fails the first digest
        sim.advance_to("2026-03-09T15:00:00Z")
    first, second, third = sim.runs(daily_digest)
    assert (first.status, second.status, third.status) == ("failed", "completed", "completed")  # cron: max_tries=1
    path = sim.trace.save(tmp_path / "digest.jobsim.jsonl.gz")

    trace = jobsim.Trace.load(path)
    assert jobsim.Simulation.replay(trace, digest_settings(daily_digest)).same

    changed = jobsim.Simulation.replay(trace, digest_settings(daily_digest_v2))
    assert not changed.same
    diverged = changed.first("cron:daily_digest")
    assert (diverged.mode, diverged.path) == ("http", "request.body.json.subject")
    assert "Your digest for Mar 07" in changed.report()  # the failed first run sent it too
    relaxed = jobsim.Simulation.replay(trace, digest_settings(daily_digest_v2),
                                       ignore=["email:subject", "http:request.body.json.subject"])
    assert relaxed.same


def test_a_replay_re_enqueues_the_tests_own_jobs_in_setup(tmp_path):
    def enqueue_reminder(sim):
        run(run_enqueue("cart_reminder", "c-1", "bob@example.com", _defer_by=dt.timedelta(hours=24)))

    with jobsim.Simulation(JOBS_ONLY, start="2026-05-04T18:30:00Z") as sim:
        enqueue_reminder(sim)
        sim.run_until_idle()
    sim.mail.assert_sent(to="bob@example.com")
    trace = jobsim.Trace.load(sim.trace.save(tmp_path / "cart.jobsim.jsonl"))

    bare = jobsim.Simulation.replay(trace, JOBS_ONLY)  # enqueue_job from the test is not an input
    assert not bare.same and "missing from the replay" in bare.report()
    assert jobsim.Simulation.replay(trace, JOBS_ONLY, setup=enqueue_reminder).same


# -- an async test (pytest-asyncio), as a FastAPI codebase writes them ------------------------------------------


@pytest.mark.asyncio
async def test_an_async_test_awaits_enqueue_and_result_directly():
    with jobsim.Simulation(JOBS_ONLY, start="2026-05-04T10:00:00Z") as sim:
        sim.http.post(PAY).respond(201, json={"id": "ch_9"})
        sim.http.post(SHIP).respond(202)
        redis = await create_pool(REDIS)
        job = await redis.enqueue_job("order_paid", "o-9", 990, _defer_by=90)
        assert await job.status() == JobStatus.deferred
        assert await job.result(timeout=120) == {"order": "o-9", "charge": "ch_9", "try": 1}
        assert f"{sim.now:%H:%M:%S}" == "10:01:30"
        assert [f"{c.at:%H:%M:%S}" for c in sim.http.calls] == ["10:01:30", "10:01:30"]


# -- the pytest fixture, with the worker settings as the app ---------------------------------------------------


@pytest.fixture
def jobsim_app():
    return JOBS_ONLY


@pytest.mark.jobsim(start="2026-05-04T10:00:00Z", tz="America/New_York")
def test_the_jobsim_fixture_runs_the_worker(jobsim):
    jobsim.fail("long_import", times=1, error=ConnectionError("db down"))
    job = run(run_enqueue("long_import", 2))
    with pytest.raises(ConnectionError):
        run(job.result())  # arq retries only Retry (and a cancelled job): any other error fails the job
    second = run(run_enqueue("long_import", 2))
    assert run(second.result()) == 2
    assert [r.status for r in jobsim.runs(long_import)] == ["failed", "completed"]


# -- a blocking call in async job code blocks the whole worker ----------------------------------------------------


async def render_invoice_pdf(ctx: dict[str, Any], seconds: int) -> str:
    time.sleep(seconds)  # a sync PDF library called from async code: it blocks the worker's event loop
    return dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S")


BLOCKING = {"functions": [render_invoice_pdf, long_import], "redis_settings": REDIS}


def test_a_blocking_call_holds_the_worker_and_its_result_until_it_returns():
    with jobsim.Simulation(BLOCKING, start="2026-05-04T10:00:00Z") as sim:
        pdf = run(run_enqueue("render_invoice_pdf", 100))
        other = run(run_enqueue("long_import", 1, _defer_by=5))
        sim.advance("50s")
        assert run(pdf.status()) == JobStatus.in_progress  # nothing written while it blocks
        assert run(other.status()) == JobStatus.queued  # due at 10:00:05; no poll can take it
        assert run(pdf.result()) == "10:01:40"
        assert f"{sim.now:%H:%M:%S}" == "10:01:40"  # the client's poll at the instant the result was written
        assert run(other.result()) == 1
    [late] = sim.runs(long_import)
    assert f"{late.attempts[0].started_at:%H:%M:%S}" == "10:01:40"  # the overdue poll after the block


async def publish_invoice_pdf(ctx: dict[str, Any], invoice: str, seconds: int) -> str:
    time.sleep(seconds)  # the sync PDF library again: the worker's loop is blocked until it returns
    await ctx["redis"].set(f"invoice:{invoice}:pdf", f"s3://invoices/{invoice}.pdf")  # sent after the call
    await ctx["redis"].enqueue_job("long_import", 1, _job_id=f"notify-{invoice}")
    return invoice


def test_redis_writes_the_job_makes_after_a_blocking_call_reach_redis_when_the_call_returns():
    # README (jobsim-arq): a blocked worker's Redis writes wait until the call returns; the job's own writes
    # after the call reached the simulated Redis at the call's start (a client read the key 90 s early)
    settings_ = {"functions": [publish_invoice_pdf, long_import], "redis_settings": REDIS}
    with jobsim.Simulation(settings_, start="2026-05-04T10:00:00Z") as sim:
        job = run(run_enqueue("publish_invoice_pdf", "inv-7", 100))
        sim.advance("10s")

        async def read() -> tuple[Any, ...]:
            redis = await pool()
            return (await redis.get("invoice:inv-7:pdf"), await redis.exists("arq:job:notify-inv-7"),
                    await job.status())  # fmt: skip

        assert run(read()) == (None, 0, JobStatus.in_progress)
        sim.advance("89.9s")
        assert run(read()) == (None, 0, JobStatus.in_progress)
        assert run(job.result()) == "inv-7"
        assert f"{sim.now:%H:%M:%S}" == "10:01:40"
        assert run(read())[:2] == (b"s3://invoices/inv-7.pdf", 1)
        sim.run_until_idle()
    [notify] = sim.runs(long_import)
    assert f"{notify.attempts[0].started_at:%H:%M:%S}" == "10:01:40"
