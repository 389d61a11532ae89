"""A user trial: a shop that runs bullmq-python workers in production tries jobsim.

Written from the READMEs only (jobsim's and this plugin's), the way such a team would test its
order pipeline: a Queue + Worker whose processor confirms the order on an HTTP API (httpx) and
mails the customer (aiosmtplib), retried with BullMQ's backoff; a cart reminder 24 h later; a
9:00 New York report across a DST change; priorities; removeOnComplete/removeOnFail; a worker
crash; a job that always fails; a Hypothesis property over retry timing; a trace saved, loaded,
replayed and diffed.
"""

from __future__ import annotations

import asyncio
import inspect
import warnings
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import aiosmtplib
import httpx
import jobsim_bullmq
import pytest
from bullmq import Queue, QueueEvents, UnrecoverableError, Worker
from bullmq.job_scheduler import default_repeat_strategy
from hypothesis import given, settings
from hypothesis import strategies as st
from jobsim_bullmq import BullMQCronWarning

import jobsim
from jobsim import strategies as js
from jobsim import traces

REDIS = "redis://localhost:6379"
API = "https://api.shop.test"
UTC = timezone.utc
NEW_YORK = ZoneInfo("America/New_York")

orders = Queue("orders", {"connection": REDIS})
reminders = Queue("reminders", {"connection": REDIS})
reports = Queue("reports", {"connection": REDIS})


# ---------------------------------------------------------------- the application code under test

async def send_mail(to: str, subject: str, text: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "shop@shop.test", to, subject
    message.set_content(text)
    await aiosmtplib.send(message, hostname="smtp.shop.test", port=25)


async def process_order(job, token):
    order = job.data["order"]
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"{API}/orders/{order}/confirm", json={"order": order})
        response.raise_for_status()
    await send_mail(job.data["email"], f"Order {order} confirmed", "Thank you!")
    return {"order": order, "confirmation": response.json()["confirmation"]}


async def process_reminder(job, token):
    await send_mail(job.data["email"], "You left something in your cart", f"cart {job.data['cart']}")
    return "reminded"


async def process_report(job, token):
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{API}/reports/daily")
        response.raise_for_status()
    return response.json()


def order_worker(**opts):
    return Worker("orders", process_order, {"connection": REDIS, "autorun": False, **opts})


def reminder_worker():
    return Worker("reminders", process_reminder, {"connection": REDIS, "autorun": False})


def report_worker():
    return Worker("reports", process_report, {"connection": REDIS, "autorun": False})


async def place_order(order, email="ada@example.com", **opts):
    return await orders.add("confirm", {"order": order, "email": email}, opts)


def confirm_route(sim, *answers):
    route = sim.http.post(url__regex=rf"{API}/orders/[^/]+/confirm")
    if answers:
        route.mock(side_effect=list(answers))
    else:
        route.respond(200, json={"confirmation": "C-1"})
    return route


def offsets(run):
    """Each attempt's start, in seconds after the run's first."""
    first = run.attempts[0].started_at
    return [(a.started_at - first).total_seconds() for a in run.attempts]


def bullmq_exponential(delay_ms: int, attempts_made: int) -> int:
    """BullMQ's formula (semantics.md 2.2): round(2^(n-1) * delay), n = attemptsMade after the failure."""
    return round(2 ** (attempts_made - 1) * delay_ms)


# ---------------------------------------------------------------- the happy path


def test_an_order_is_confirmed_and_mailed():
    with jobsim.Simulation(order_worker(), start="2025-03-01T09:00:00Z") as sim:
        confirm_route(sim)
        job = asyncio.run(place_order("o-1"))
        sim.run_until_idle()
        assert sim.bullmq.state(job.id) == "completed"
        assert sim.bullmq.counts("orders")["completed"] == 1

    (run,) = sim.runs("orders")
    assert run.status == "completed" and run.output == {"order": "o-1", "confirmation": "C-1"}
    assert run.id == job.id
    (call,) = sim.http.calls
    assert call.request.url == f"{API}/orders/o-1/confirm" and call.response.status_code == 200
    sim.mail.assert_sent(to="ada@example.com", subject="Order o-1 confirmed")


def test_the_jobsim_fixture_takes_a_bullmq_worker(pytester_free_fixture_check):
    """A jobsim_app fixture returning a Worker (README: 'a backend's target')."""
    sim = pytester_free_fixture_check
    confirm_route(sim)
    asyncio.run(place_order("o-9"))
    sim.run_until_idle()
    assert [r.status for r in sim.runs("orders")] == ["completed"]


@pytest.fixture
def jobsim_app():
    return order_worker()


@pytest.fixture
def pytester_free_fixture_check(jobsim):
    return jobsim


# ---------------------------------------------------------------- retries and backoff


def test_exponential_backoff_follows_bullmqs_formula():
    with jobsim.Simulation(order_worker(), start="2025-03-01T09:00:00Z") as sim:
        confirm_route(sim, httpx.Response(500), httpx.Response(500), httpx.Response(503),
                      httpx.Response(200, json={"confirmation": "C-7"}))
        job = asyncio.run(place_order("o-7", attempts=5, backoff={"type": "exponential", "delay": 1000}))
        sim.run_until_idle()
        assert sim.bullmq.job(job.id).attemptsMade == 4

    (run,) = sim.runs("orders")
    assert run.status == "completed"
    # +1 s, +2 s, +4 s after each failure: attempts at 0, 1, 3, 7
    assert offsets(run) == [0, 1, 3, 7]
    delays = [r.data["delay"] for r in sim.trace.of("retry")]
    assert delays == [bullmq_exponential(1000, n) * 1_000_000 for n in (1, 2, 3)]
    sim.mail.assert_sent(to="ada@example.com", subject="Order o-7 confirmed")


def test_a_backoff_of_a_fraction_of_a_second_is_exact_in_the_retry_record_and_ceiled_by_the_idle_worker():
    with jobsim.Simulation(order_worker(), start="2025-03-01T09:00:00Z") as sim:
        confirm_route(sim, *[httpx.Response(500)] * 3, httpx.Response(200, json={"confirmation": "C"}))
        asyncio.run(place_order("o-8", attempts=4, backoff={"type": "exponential", "delay": 1500}))
        sim.run_until_idle()

    (run,) = sim.runs("orders")
    delays_ms = [r.data["delay"] // 1_000_000 for r in sim.trace.of("retry")]
    assert delays_ms == [1500, 3000, 6000]
    # the idle worker blocks ceil(due - now) whole seconds (README): 1.5 s -> 2 s, then 3 s, 6 s
    assert offsets(run) == [0, 2, 5, 11]


def test_fixed_backoff_ignores_jitter_as_bullmq_python_does():
    with jobsim.Simulation(order_worker(), start="2025-03-01T09:00:00Z") as sim:
        confirm_route(sim, httpx.Response(500), httpx.Response(500),
                      httpx.Response(200, json={"confirmation": "C"}))
        with pytest.warns(jobsim_bullmq.BullMQJobOptionWarning, match=r"opts\['backoff'\]\['jitter'\]=0\.5 is "
                          "ignored: bullmq-python's backoff has no jitter"):  # fmt: skip
            asyncio.run(place_order("o-2", attempts=3, backoff={"type": "fixed", "delay": 5000, "jitter": 0.5}))
        sim.run_until_idle()

    (run,) = sim.runs("orders")
    assert offsets(run) == [0, 5, 10]


def test_a_bare_number_backoff_is_fixed():
    with jobsim.Simulation(order_worker(), start="2025-03-01T09:00:00Z") as sim:
        confirm_route(sim, httpx.Response(500), httpx.Response(200, json={"confirmation": "C"}))
        asyncio.run(place_order("o-3", attempts=2, backoff=3000))
        sim.run_until_idle()
    assert offsets(sim.runs("orders")[0]) == [0, 3]


def test_a_job_that_always_fails_ends_failed_with_its_reason_and_attempts():
    failures = []
    worker = order_worker()
    worker.on("failed", lambda job, err: failures.append((job.attemptsMade, str(err))))
    with jobsim.Simulation(worker, start="2025-03-01T09:00:00Z") as sim:
        sim.http.post(url__regex=rf"{API}/orders/.*").respond(502)
        job = asyncio.run(place_order("o-4", attempts=3, backoff={"type": "fixed", "delay": 2000}))
        sim.run_until_idle()
        assert asyncio.run(job.getState()) == "failed"

    stored = sim.bullmq.job(job.id)
    assert stored.attemptsMade == 3
    assert "502 Bad Gateway" in stored.failedReason
    assert len(stored.stacktrace) == 3
    (run,) = sim.runs("orders")
    assert run.status == "failed" and len(run.attempts) == 3
    assert isinstance(run.error, httpx.HTTPStatusError)
    assert [n for n, _ in failures] == [1, 2, 3]
    sim.mail.assert_not_sent(to="ada@example.com")


def test_unrecoverable_error_is_not_retried():
    async def refuse(job, token):
        raise UnrecoverableError("card reported stolen")

    worker = Worker("orders", refuse, {"connection": REDIS, "autorun": False})
    with jobsim.Simulation(worker, start="2025-03-01T09:00:00Z") as sim:
        job = asyncio.run(place_order("o-5", attempts=5, backoff=1000))
        sim.run_until_idle()
    assert sim.bullmq.state(job.id) == "failed"
    assert sim.bullmq.job(job.id).failedReason == "card reported stolen"
    assert len(sim.runs("orders")[0].attempts) == 1


def test_a_mail_outage_is_retried_and_the_customer_gets_one_email():
    with jobsim.Simulation(order_worker(), start="2025-03-01T09:00:00Z") as sim:
        confirm_route(sim)
        sim.mail.smtp_fail(times=1, code=451)
        asyncio.run(place_order("o-6", attempts=3, backoff=2000))
        sim.run_until_idle()
    (run,) = sim.runs("orders")
    assert run.status == "completed" and offsets(run) == [0, 2]
    assert len(sim.http.calls) == 2  # the API call is not idempotent-protected: it ran twice
    sim.mail.assert_sent(to="ada@example.com", count=1)


# ---------------------------------------------------------------- delayed jobs


def test_a_cart_reminder_runs_24_hours_after_the_cart_was_abandoned():
    with jobsim.Simulation(reminder_worker(), start="2025-03-01T09:00:00Z") as sim:
        sim.advance("37m")
        asyncio.run(reminders.add("cart", {"cart": "c-1", "email": "bob@example.com"}, {"delay": 24 * 3600 * 1000}))
        sim.advance("23h59m")
        sim.mail.assert_not_sent(to="bob@example.com")
        sim.advance("2m")
        mail = sim.mail.assert_sent(to="bob@example.com")
    assert mail.sent_at == datetime(2025, 3, 2, 9, 37, tzinfo=UTC)
    assert sim.runs("reminders")[0].attempts[0].started_at == datetime(2025, 3, 2, 9, 37, tzinfo=UTC)


def test_a_reminder_removed_when_the_cart_is_completed_sends_nothing():
    with jobsim.Simulation(reminder_worker(), start="2025-03-01T09:00:00Z") as sim:
        job = asyncio.run(reminders.add("cart", {"cart": "c-2", "email": "eve@example.com"},
                                        {"delay": 24 * 3600 * 1000}))
        sim.advance("3h")
        assert asyncio.run(job.getState()) == "delayed"
        asyncio.run(job.remove())
        sim.advance("2d")
    assert [r.status for r in sim.runs("reminders")] == ["cancelled"]
    assert sim.mail.outbox == []


# ---------------------------------------------------------------- job schedulers (cron) across DST


def bullmq_python_instants(pattern, tz, start, n):
    """What a real bullmq-python worker computes: its own default_repeat_strategy, fed each job's instant."""
    millis, out = int(start.timestamp() * 1000), []
    for _ in range(n):
        millis = default_repeat_strategy(millis, {"pattern": pattern, "tz": tz})
        out.append(datetime.fromtimestamp(millis / 1000, UTC))
    return out


def scheduled_starts(pattern, start, days="4d"):
    warned = pytest.warns(BullMQCronWarning, match=r"local time its pattern .* does not match in America/New_York")
    with warned, jobsim.Simulation(report_worker(), start=start) as sim:
        sim.http.get(f"{API}/reports/daily").respond(200, json={"sales": 3})
        asyncio.run(reports.upsertJobScheduler("daily", {"pattern": pattern, "tz": "America/New_York"},
                                               "daily-report"))
        advancing = inspect.currentframe().f_lineno + 1
        sim.advance(days)
    assert any("does not match in America/New_York" in line for line in sim.timeline().splitlines())
    # pytest's summary names the test's line that ran the worker, not jobsim-bullmq's or bullmq's
    assert {(w.filename, w.lineno) for w in warned.list} == {(__file__, advancing)}
    return [r.attempts[0].started_at for r in sim.runs("reports") if r.attempts]


def test_a_9am_new_york_report_across_the_spring_dst_change_runs_where_bullmq_python_runs_it():
    # Node BullMQ (cron-parser) runs it at 14:00Z, 14:00Z, 13:00Z, 13:00Z. bullmq-python computes the next job
    # with croniter 2.0.7 on a zoneinfo datetime, which on 2025-03-09 gives 08:00 EDT (12:00Z) and then 09:00 EDT
    # too: the report runs twice that Sunday on a real worker, and in the simulation, which warns.
    start = datetime(2025, 3, 7, 12, 0, tzinfo=UTC)
    started = scheduled_starts("0 9 * * *", start)
    assert [s.isoformat() for s in started] == [
        "2025-03-07T14:00:00+00:00", "2025-03-08T14:00:00+00:00",  # EST, UTC-5
        "2025-03-09T12:00:00+00:00",  # 08:00 EDT: croniter's DST error
        "2025-03-09T13:00:00+00:00", "2025-03-10T13:00:00+00:00"]  # EDT, UTC-4
    assert started == bullmq_python_instants("0 9 * * *", "America/New_York", start, 5)


def test_a_9am_new_york_report_across_the_fall_dst_change_runs_at_10_est_on_that_day():
    start = datetime(2025, 10, 31, 12, 0, tzinfo=UTC)
    started = scheduled_starts("0 9 * * *", start)
    assert [s.astimezone(NEW_YORK).strftime("%m-%d %H:%M") for s in started] == [
        "10-31 09:00", "11-01 09:00", "11-02 10:00", "11-03 09:00"]
    assert started == bullmq_python_instants("0 9 * * *", "America/New_York", start, 4)


def test_a_utc_schedule_gives_no_cron_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", BullMQCronWarning)
        with jobsim.Simulation(report_worker(), start="2025-03-07T12:00:00Z") as sim:
            sim.http.get(f"{API}/reports/daily").respond(200, json={})
            asyncio.run(reports.upsertJobScheduler("daily", {"pattern": "0 14 * * *", "tz": "UTC"}, "daily"))
            asyncio.run(reports.upsertJobScheduler("ny", {"pattern": "0 */6 * * *", "tz": "America/New_York"}, "ny"))
            sim.advance("4d")
    assert len([r for r in sim.runs("reports") if r.attempts]) == 4 + 16


def test_an_every_scheduler_with_a_limit():
    with jobsim.Simulation(report_worker(), start="2025-03-01T09:00:00Z") as sim:
        sim.http.get(f"{API}/reports/daily").respond(200, json={})
        asyncio.run(reports.upsertJobScheduler("hourly", {"every": 3600 * 1000, "limit": 3}, "hourly"))
        sim.advance("6h")
    started = [r.attempts[0].started_at.strftime("%H:%M") for r in sim.runs("reports") if r.attempts]
    assert started == ["09:00", "10:00", "11:00"]


# ---------------------------------------------------------------- priorities, removal


def test_priorities_run_lowest_first_after_the_unprioritized_jobs():
    seen = []

    async def record(job, token):
        seen.append(job.data["order"])

    worker = Worker("orders", record, {"connection": REDIS, "autorun": False})
    with jobsim.Simulation(worker, start="2025-03-01T09:00:00Z") as sim:
        asyncio.run(orders.pause())
        for order, priority in (("bulk", 10), ("vip", 1), ("normal", 5), ("plain", 0), ("vip2", 1)):
            asyncio.run(orders.add("confirm", {"order": order}, {"priority": priority}))
        asyncio.run(orders.resume())
        sim.run_until_idle()
    assert seen == ["plain", "vip", "vip2", "normal", "bulk"]


def test_remove_on_complete_and_on_fail_keep_what_they_say():
    async def flaky(job, token):
        if job.data["order"].startswith("bad"):
            raise ValueError("bad order")
        return "ok"

    worker = Worker("orders", flaky, {"connection": REDIS, "autorun": False})
    with jobsim.Simulation(worker, start="2025-03-01T09:00:00Z") as sim:
        done = [asyncio.run(orders.add("c", {"order": f"ok-{i}"}, {"removeOnComplete": 2})) for i in range(4)]
        gone = asyncio.run(orders.add("c", {"order": "ok-x"}, {"removeOnComplete": True}))
        bad = [asyncio.run(orders.add("c", {"order": f"bad-{i}"}, {"removeOnFail": {"count": 1}})) for i in range(3)]
        sim.run_until_idle()
        counts = sim.bullmq.counts("orders")
        assert [asyncio.run(orders.getJobState(j.id)) for j in done] == ["unknown", "unknown", "completed",
                                                                          "completed"]
    assert sim.bullmq.state(gone.id) == "unknown"
    # as queue.getJob answers for a removed job (it raised InvalidArgument 'the id of a job BullMQ still keeps')
    assert sim.bullmq.job(gone.id) is None and sim.bullmq.job(bad[0].id) is None
    assert sim.bullmq.logs(gone.id) == []
    assert sim.bullmq.job(bad[2].id).failedReason == "bad order"
    with pytest.raises(jobsim.InvalidArgument, match="job_id='99' is not valid"):
        sim.bullmq.job("99")  # an id no job ever had: a typo, refused
    assert [sim.bullmq.state(j.id) for j in bad] == ["unknown", "unknown", "failed"]
    assert counts["completed"] == 2 and counts["failed"] == 1
    # the runs are still in jobsim's records
    assert [r.status for r in sim.runs("orders")] == ["completed"] * 5 + ["failed"] * 3


# ---------------------------------------------------------------- a worker crash


def test_a_worker_killed_mid_order_reruns_it_after_the_stalled_check():
    async def slow_order(job, token):
        await asyncio.sleep(20)  # the payment provider is slow
        await send_mail(job.data["email"], f"Order {job.data['order']} confirmed", "Thank you!")
        return "ok"

    worker = Worker("orders", slow_order, {"connection": REDIS, "autorun": False})
    with jobsim.Simulation(worker, start="2025-03-01T09:00:00Z") as sim:
        events = QueueEvents("orders", {"connection": REDIS})
        stalled = []
        events.on("stalled", lambda args, entry_id: stalled.append((args["jobId"], sim.now)))
        job = asyncio.run(place_order("o-c"))
        sim.crash_worker(at="2025-03-01T09:00:05Z", function="orders")
        sim.run_until_idle()
        assert sim.bullmq.state(job.id) == "completed"

    (run,) = sim.runs("orders")
    assert run.status == "completed" and len(run.attempts) == 2
    assert type(run.attempts[0].error).__name__ == "WorkerCrashed"
    assert len(stalled) == 1 and stalled[0][0] == job.id
    # lock taken 09:00:00 lapses at 09:00:30; the restarted worker's checks run 30 s and 60 s after 09:00:05
    assert run.attempts[1].started_at == stalled[0][1]
    sim.mail.assert_sent(to="ada@example.com", count=1)


# ---------------------------------------------------------------- a property over retry timing



@settings(max_examples=25, deadline=None)
@given(attempts=st.integers(1, 6), delay=st.integers(1, 4000), kind=st.sampled_from(["fixed", "exponential"]),
       failures=st.integers(0, 7))
def test_retry_delays_always_follow_bullmqs_formula(attempts, delay, kind, failures):
    async def flaky(job, token):
        if job.attemptsMade < failures:
            raise ConnectionError("API down")
        return job.attemptsMade

    worker = Worker("orders", flaky, {"connection": REDIS, "autorun": False})
    with jobsim.Simulation(worker, start="2025-03-01T09:00:00Z") as sim:
        job = asyncio.run(orders.add("c", {}, {"attempts": attempts, "backoff": {"type": kind, "delay": delay}}))
        sim.run_until_idle()
        state = sim.bullmq.state(job.id)

    (run,) = sim.runs("orders")
    made = min(failures + 1, max(attempts, 1))
    assert len(run.attempts) == made
    assert state == ("completed" if failures < max(attempts, 1) else "failed")
    expected = [delay if kind == "fixed" else bullmq_exponential(delay, n) for n in range(1, made)]
    assert [r.data["delay"] // 1_000_000 for r in sim.trace.of("retry")] == expected
    for (before, after), wait in zip(zip(run.attempts, run.attempts[1:], strict=False), expected, strict=True):
        # the next attempt starts when the idle worker's whole-second block ends
        gap = after.started_at - before.finished_at
        assert timedelta(milliseconds=wait) <= gap < timedelta(milliseconds=wait) + timedelta(seconds=1)


# ---------------------------------------------------------------- traces: save, load, replay, diff


def record_pipeline(tmp_path):
    with jobsim.Simulation(order_worker(), start="2025-03-01T09:00:00Z", seed=3) as sim:
        confirm_route(sim, httpx.Response(500), httpx.Response(200, json={"confirmation": "C-11"}))
        asyncio.run(place_order("o-11", attempts=3, backoff=2000))
        sim.run_until_idle()
    return sim, sim.trace.save(tmp_path / "orders.jobsim.jsonl.gz")


def add_the_order(sim):
    asyncio.run(place_order("o-11", attempts=3, backoff=2000))


def test_a_trace_is_saved_loaded_and_replays_the_same(tmp_path):
    sim, path = record_pipeline(tmp_path)
    trace = jobsim.Trace.load(path)
    assert len(trace.of("attempt")) == len(sim.trace.of("attempt")) == 2
    assert traces.scan(path) == []
    result = jobsim.Simulation.replay(trace, order_worker(), setup=add_the_order)
    result.assert_same()
    assert [r.status for r in result.simulation.runs("orders")] == ["completed"]


def test_a_replay_into_changed_code_reports_the_difference(tmp_path):
    _, path = record_pipeline(tmp_path)

    async def changed(job, token):
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(f"{API}/orders/{job.data['order']}/confirm",
                                         json={"order": job.data["order"], "v": 2})
            response.raise_for_status()
        await send_mail(job.data["email"], f"Your order {job.data['order']}", "Thanks!")
        return {"order": job.data["order"], "confirmation": response.json()["confirmation"]}

    worker = Worker("orders", changed, {"connection": REDIS, "autorun": False})
    result = jobsim.Simulation.replay(jobsim.Trace.load(path), worker, setup=add_the_order)
    assert not result.same
    first = result.first("orders")
    assert (first.mode, first.path) == ("http", "request.body.json.v")
    assert "DIFFERS" in result.report()


def upsert_hourly(sim):
    asyncio.run(reports.upsertJobScheduler("hourly", {"every": 3600 * 1000, "limit": 3}, "hourly"))


def test_a_replay_of_a_job_scheduler_says_the_upsert_is_the_tests_call_to_make_again(tmp_path):
    with jobsim.Simulation(report_worker(), start="2025-03-01T09:00:00Z") as sim:
        sim.http.get(f"{API}/reports/daily").respond(200, json={})
        upsert_hourly(sim)
        sim.advance("6h")
    path = sim.trace.save(tmp_path / "hourly.jobsim.jsonl")

    bare = jobsim.Simulation.replay(jobsim.Trace.load(path), report_worker())
    assert not bare.same
    (note,) = [n for n in bare.notes if "the replay lacks" in n]
    assert "3 runs of 'reports' started by job scheduler 'hourly'" in note
    assert "queue.upsertJobScheduler()" in note and "jobsim_setup(sim)" in note

    jobsim.Simulation.replay(jobsim.Trace.load(path), report_worker(), setup=upsert_hourly).assert_same()


def test_a_request_no_route_matches_is_a_network_failure_the_job_retries():
    # README (HTTP sink): UnmatchedRequest is an httpx.ConnectError inside the job, "so retries happen as on a
    # network failure"; under a BullMQ worker it stopped run_until_idle at the first attempt instead
    with jobsim.Simulation(order_worker(), start="2025-03-01T09:00:00Z") as sim:
        job = asyncio.run(place_order("o-12", attempts=3, backoff=1000))
        sim.run_until_idle()
        assert sim.bullmq.state(job.id) == "failed"
    (run,) = sim.runs("orders")
    assert run.status == "failed" and offsets(run) == [0, 1, 2]
    assert isinstance(run.error, jobsim.UnmatchedRequest) and isinstance(run.error, httpx.ConnectError)
    assert "no route matches POST https://api.shop.test/orders/o-12/confirm" in sim.bullmq.job(job.id).failedReason
    assert len(sim.http.unmatched) == 3




@settings(max_examples=40, deadline=None)
@given(sim=js.simulations(order_worker, start="2025-03-01T09:00:00Z"),
       history=js.histories(failures=js.failure_patterns(
           {"orders": [None]}, errors=[ConnectionError("API down"), UnrecoverableError("card reported stolen")])))
def test_an_order_is_retried_on_bullmqs_backoff_until_it_succeeds_runs_out_or_is_unrecoverable(sim, history):
    with sim:
        confirm_route(sim)
        job = asyncio.run(place_order("o-h", attempts=4, backoff={"type": "exponential", "delay": 1000}))
        history.apply(sim)
        state = sim.bullmq.state(job.id)

    (run,) = sim.runs("orders")
    errors = [a.error for a in run.attempts]
    planned = [f.error for f in history.faults for _ in range(f.times)]
    expected = []
    for error in planned[:4]:
        expected.append(type(error))
        if isinstance(error, UnrecoverableError):
            break
    else:
        if len(planned) < 4:
            expected.append(type(None))
    assert [type(e) for e in errors] == expected
    assert state == ("completed" if errors[-1] is None else "failed")
    assert offsets(run) == [2 ** n - 1 for n in range(len(run.attempts))]  # +1 s, +2 s, +4 s
    if state == "completed":
        sim.mail.assert_sent(to="ada@example.com", count=1)
    else:
        assert sim.mail.outbox == []


def test_a_replay_compares_the_processors_return_value(tmp_path):
    # the trace's run.end had no output for a BullMQ job: a changed return value replayed as "same"
    sim, path = record_pipeline(tmp_path)
    (end,) = sim.trace.of("run.end")
    assert end.data["output"] == b'{"order":"o-11","confirmation":"C-11"}'

    async def renamed(job, token):
        result = await process_order(job, token)
        return {"orderId": result["order"], "confirmation": result["confirmation"]}

    worker = Worker("orders", renamed, {"connection": REDIS, "autorun": False})
    result = jobsim.Simulation.replay(jobsim.Trace.load(path), worker, setup=add_the_order)
    assert not result.same
    assert result.comparison.functions["orders"].divergences["outputs"].mode == "outputs"
