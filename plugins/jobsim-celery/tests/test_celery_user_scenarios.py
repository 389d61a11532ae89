"""The mission's scenarios on Celery, written from README.md as a Celery user would write them."""

from __future__ import annotations

import itertools
import smtplib
from email.message import EmailMessage

import httpx
import jobsim_celery
import pytest
from celery.schedules import crontab

import jobsim


def test_beat_crontab_at_9_new_york_crosses_the_march_dst_change(app):
    app.conf.timezone = "America/New_York"
    app.conf.beat_schedule = {"daily-report": {"task": "report", "schedule": crontab(minute=0, hour=9)}}

    @app.task(name="report")
    def report():
        return "sent"

    with jobsim.Simulation(app, start="2025-03-07T00:00:00Z") as sim:
        sim.advance_to("2025-03-11T00:00:00Z")
        # 09:00 EST = 14:00Z until Saturday; New York springs forward on Sunday 2025-03-09: 09:00 EDT = 13:00Z
        assert [r.started_at.isoformat() for r in sim.runs("report")] == [
            "2025-03-07T14:00:00+00:00", "2025-03-08T14:00:00+00:00",
            "2025-03-09T13:00:00+00:00", "2025-03-10T13:00:00+00:00"]


def test_welcome_email_task_retries_with_celerys_exponential_backoff(app):
    @app.task(bind=True, autoretry_for=(smtplib.SMTPException,), retry_backoff=5, retry_jitter=False,
              max_retries=4)
    def send_welcome_email(self, to):
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "hi@acme.test", to, "Welcome!"
        message.set_content("Hello")
        with smtplib.SMTP("smtp.acme.test") as smtp:
            smtp.send_message(message)

    with jobsim.Simulation(app, start="2025-03-01T09:00:00Z") as sim:
        sim.mail.smtp_fail(times=3, code=451)
        result = send_welcome_email.delay("ada@example.com")
        sim.run_until_idle()
        assert result.state == "SUCCESS"
    run = sim.runs(send_welcome_email)[0]
    # retry_backoff=5: countdown = min(600, 5 * 2**retries) -> 5 s, 10 s, 20 s
    assert [a.started_at.strftime("%H:%M:%S") for a in run.attempts] == [
        "09:00:00", "09:00:05", "09:00:15", "09:00:35"]
    assert [a.number for a in run.attempts] == [0, 1, 2, 3]
    sim.mail.assert_sent(to="ada@example.com", subject="Welcome!")


def test_jittered_backoff_stays_within_celerys_bounds(app):
    @app.task(bind=True, autoretry_for=(ConnectionError,), retry_backoff=10, max_retries=5)
    def flaky(self):
        raise ConnectionError("down")

    jittered = set()
    for seed in range(5):
        with jobsim.Simulation(app, start="2025-03-01T09:00:00Z", seed=seed) as sim:
            flaky.delay()
            sim.run_until_idle()
        starts = [a.started_at for a in sim.runs(flaky)[0].attempts]
        waits = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
        # retry_jitter=True (Celery's default): randrange(min(600, 10 * 2**n) + 1), whole seconds
        assert len(waits) == 5
        assert all(w == int(w) and 0 <= w <= 10 * 2**n for n, w in enumerate(waits)), waits
        jittered.add(tuple(waits))
    # the jitter is drawn: unjittered, every seed would wait 10, 20, 40, 80, 160 s
    assert len(jittered) > 1 and (10, 20, 40, 80, 160) not in jittered, jittered


def test_webhook_retried_with_self_retry_and_a_countdown(app):
    @app.task(bind=True, max_retries=3)
    def deliver(self, url, payload):
        try:
            httpx.post(url, json=payload, timeout=5).raise_for_status()
        except httpx.HTTPError as exc:
            raise self.retry(exc=exc, countdown=30 * (self.request.retries + 1)) from exc
        return "delivered"

    with jobsim.Simulation(app, start="2025-03-01T09:00:00Z") as sim:
        route = sim.http.post("https://partner.example.com/hooks").mock(
            side_effect=[httpx.Response(500), jobsim.timeout(), httpx.Response(200)])
        result = deliver.delay("https://partner.example.com/hooks", {"id": 1})
        sim.run_until_idle()
        assert result.get() == "delivered" and route.call_count == 3
    run = sim.runs(deliver)[0]
    # 30 s after the 500; the timeout spends httpx's 5 s, then 60 s
    assert [a.started_at.strftime("%H:%M:%S") for a in run.attempts] == ["09:00:00", "09:00:30", "09:01:35"]


def test_a_webhook_to_an_unmocked_host_fails_with_jobsims_message_in_result_get(app):
    """The route was forgotten: each attempt fails as a network error would, and ``result.get()`` raises the
    same ``UnmatchedRequest`` (rebuilt by Celery's result backend from type and args): it was a bare
    ``Exception("<class 'jobsim._http.UnmatchedRequest'>([...])")``."""

    @app.task(autoretry_for=(httpx.HTTPError,), retry_backoff=2, retry_jitter=False, max_retries=2)
    def deliver(url):
        return httpx.post(url, json={}, timeout=5).status_code

    with jobsim.Simulation(app, start="2025-03-01T09:00:00Z") as sim:
        result = deliver.delay("https://nowhere.example.com/hooks")
        sim.run_until_idle()
        with pytest.raises(jobsim.UnmatchedRequest, match=r"^jobsim: no route matches POST "
                                                          r"https://nowhere\.example\.com/hooks; add one with "
                                                          r"sim\.http\.post\('https://nowhere\.example\.com/hooks'\)"):
            result.get()
    assert [a.started_at.strftime("%H:%M:%S") for a in sim.runs(deliver)[0].attempts] == [
        "09:00:00", "09:00:02", "09:00:06"]


def test_order_processing_chain_with_a_delayed_link(app):
    @app.task
    def reserve(order_id):
        return {"order": order_id, "reserved": True}

    @app.task
    def charge(order):
        return {**order, "charged": True}

    @app.task
    def ship(order):
        return {**order, "shipped": True}

    with jobsim.Simulation(app, start="2025-03-01T09:00:00Z") as sim:
        result = (reserve.s("o1") | charge.s().set(countdown=3600) | ship.s()).delay()
        sim.run_until_idle()
        assert result.get() == {"order": "o1", "reserved": True, "charged": True, "shipped": True}
        assert sim.runs(ship)[0].attempts[0].started_at.isoformat() == "2025-03-01T10:00:00+00:00"


def test_reminder_24h_later_is_revoked_when_the_cart_is_checked_out(app):
    sent = []
    # on Redis a countdown beyond visibility_timeout (1 h by default) comes back every hour and reminds ~24
    # times (test_celery_visibility_timeout.py): the fix, raising it above the longest countdown
    app.conf.broker_transport_options = {"visibility_timeout": 2 * 24 * 3600}

    @app.task
    def remind(cart_id):
        sent.append(cart_id)

    with jobsim.Simulation(app, start="2025-03-01T09:00:00Z") as sim:
        kept = remind.apply_async(("c1",), countdown=24 * 3600)
        dropped = remind.apply_async(("c2",), countdown=24 * 3600)
        sim.advance("3h")
        dropped.revoke()  # cart c2 was checked out
        sim.run_until_idle()
        assert (kept.state, dropped.state) == ("SUCCESS", "REVOKED")
    assert sent == ["c1"]
    # a run starts when its message is sent; the worker runs it at the countdown
    run = sim.runs(remind)[0]
    assert (run.started_at.isoformat(), run.attempts[0].started_at.isoformat()) == (
        "2025-03-01T09:00:00+00:00", "2025-03-02T09:00:00+00:00")


def test_batched_notifications_with_a_chord(app):
    @app.task
    def render(user_id):
        return f"digest for {user_id}"

    @app.task
    def send_all(digests):
        return len(digests)

    from celery import chord

    with jobsim.Simulation(app, start="2025-03-01T09:00:00Z") as sim:
        result = chord(render.s(u) for u in ("u1", "u2", "u3"))(send_all.s())
        sim.run_until_idle()
        assert result.get() == 3


@pytest.mark.parametrize(("options", "argument"), [
    ({"countdown": float("nan")}, "countdown"),
    ({"eta": "tomorrow"}, "eta"),
])
def test_bad_apply_async_options_are_named(app, options, argument):
    @app.task
    def noop():
        return None

    with jobsim.Simulation(app, start="2025-03-01T09:00:00Z"), pytest.raises(jobsim.InvalidArgument, match=argument):
        noop.apply_async(**options)


def test_a_replay_names_the_task_calls_the_test_made_and_how_to_repeat_them(app):
    @app.task
    def sync(n):
        return n

    with jobsim.Simulation(app, start="2025-03-01T09:00:00Z") as sim:
        sync.delay(1)
        sim.run_until_idle()
    # a replay repeats events, schedules and faults, not the test's own calls into Celery
    result = jobsim.Simulation.replay(sim.trace, app)
    assert not result.same
    assert any("1 run of 'test_celery_user_scenarios.sync' started by apply_async" in note
               and "jobsim_setup(sim)" in note for note in result.notes), result.notes
    assert "jobsim_setup(sim)" in result.report()
    assert jobsim.Simulation.replay(sim.trace, app, setup=lambda sim: sync.delay(1)).same


def test_get_of_a_task_routed_to_a_queue_no_worker_reads_names_the_queue_and_the_fix(app):
    @app.task
    def send_digest():
        return "sent"

    with jobsim.Simulation(app, start="2025-03-01T09:00:00Z") as sim:
        result = send_digest.apply_async(queue="emails")
        sim.leave_unread("emails")  # the error below is this test's news (else UnreadQueueWarning at the close)
        sim.run_until_idle()
        with pytest.raises(jobsim.JobsimError) as info:
            result.get()
    message = str(info.value)
    assert "queue 'emails'" in message and "reads only 'celery'" in message
    assert "CeleryTarget(app, queues=['celery', 'emails'])" in message
    assert "advance the simulation first" not in message


@pytest.mark.parametrize(("call", "meant"), [
    (lambda app, sim: jobsim_celery.CeleryTarget(app, concurency=2), "concurrency"),
    (lambda app, sim: sim.celery.crash_worker(functon="t.noop"), "function"),
    (lambda app, sim: sim.celery.revoke("some-id", terminat=True), "terminate"),
    (lambda app, sim: sim.celery.result(tsk="some-id"), "task"),
])
def test_a_misspelt_keyword_names_the_one_meant(app, call, meant):
    with jobsim.Simulation(app, start="2025-03-01T09:00:00Z") as sim, pytest.raises(jobsim.InvalidArgument) as info:
        call(app, sim)
    assert f"(did you mean {meant}=?)" in str(info.value)


def test_a_beat_run_the_replay_lacks_is_not_called_a_test_call(app):
    app.conf.beat_schedule = {"hourly": {"task": "ping", "schedule": 3600.0}}

    @app.task(name="ping")
    def ping():
        return "pong"

    with jobsim.Simulation(app, start="2025-03-01T09:00:00Z") as sim:
        sim.advance("2h")
    app.conf.beat_schedule = {}
    result = jobsim.Simulation.replay(sim.trace, app)
    assert not result.same and not any("jobsim_setup" in note for note in result.notes)
