"""A marketplace on Celery + Redis, written from README.md as a new user would: what the trial found and fixed."""

from __future__ import annotations

import smtplib
from datetime import timedelta

import httpx
import jobsim_celery
import pytest
from celery import chord
from celery.exceptions import ChordError
from celery.schedules import crontab

import jobsim

START = "2026-03-02T12:00:00Z"


def _mailer(app):
    @app.task(name="market.remind_cart")
    def remind_cart(cart_id):
        with smtplib.SMTP("smtp.market.test", 587) as smtp:
            smtp.sendmail("hi@market.test", ["buyer@example.com"],
                          f"To: buyer@example.com\r\nSubject: Your cart {cart_id}\r\n\r\ncome back")  # fmt: skip
        return cart_id

    return remind_cart


@pytest.mark.parametrize("how", ["attribute", "update", "item"])
def test_task_always_eager_set_after_the_simulation_started_stays_off(app, how):
    """A legacy fixture that sets eager mode, requested after ``jobsim`` (or a test that sets it inside the
    ``with``), ran the reminder at once, outside the simulated worker, ignoring its countdown."""
    remind_cart = _mailer(app)
    with jobsim.Simulation(app, start=START) as sim:
        if how == "attribute":
            app.conf.task_always_eager = True
        elif how == "update":
            app.conf.update(task_always_eager=True)
        else:
            app.conf["task_always_eager"] = True
        assert app.conf.task_always_eager is False and app.conf.get("task_always_eager") is False
        result = remind_cart.apply_async(("c1",), countdown=3600)
        assert sim.mail.outbox == [] and result.state == "PENDING"
        sim.advance("59m")
        assert sim.mail.outbox == []
        sim.advance("1m")
        assert result.get() == "c1"
        assert [r.attempts[0].started_at.strftime("%H:%M") for r in sim.runs(remind_cart)] == ["13:00"]
        kept = app.conf.copy()
    assert app.conf.task_always_eager is True  # what the test set is the app's again after the close
    assert kept.task_always_eager is True and type(kept) is type(app.conf)
    app.conf.task_always_eager = False


def test_a_reminder_a_day_away_runs_24_times_and_the_timeline_says_how_to_stop_it(app):
    """The abandoned-cart reminder: the README's 24 runs, and the failing test's timeline names the fix."""
    remind_cart = _mailer(app)
    with jobsim.Simulation(app, start=START) as sim:
        remind_cart.apply_async(("c1",), countdown=24 * 3600)
        sim.run_until_idle()
        assert len(sim.runs(remind_cart)[0].attempts) == 24
        sim.mail.assert_sent(to="buyer@example.com", count=24)
        lines = [line for line in sim.timeline().splitlines() if "visibility_timeout" in line]
        assert len(lines) == 23 and lines[0].startswith("2026-03-02 13:01:40.000 UTC")
        assert "a broker_transport_options visibility_timeout above the countdown avoids it" in lines[0]
    app.conf.broker_transport_options = {"visibility_timeout": 2 * 24 * 3600}  # the README's fix
    with jobsim.Simulation(app, start=START) as sim:
        remind_cart.apply_async(("c1",), countdown=24 * 3600)
        sim.run_until_idle()
        sim.mail.assert_sent(to="buyer@example.com", subject="Your cart c1")
        assert "visibility_timeout" not in sim.timeline()


def _charge(app):
    @app.task(name="market.charge_order", bind=True, autoretry_for=(httpx.HTTPError,), retry_backoff=True,
              retry_backoff_max=600, retry_jitter=True, max_retries=5)  # fmt: skip
    def charge_order(self, order_id):
        response = httpx.post("https://payments.test/charges", json={"order": order_id}, timeout=10)
        response.raise_for_status()
        return response.json()["id"]

    return charge_order


def test_sim_fail_into_a_task_whose_autoretry_for_does_not_list_injectedfault_says_so(app):
    """``sim.fail("market.charge_order", times=2)`` looked like "the payments API fails twice", but its default
    ``InjectedFault`` is no ``httpx.HTTPError``: one attempt, failed, and nothing said why it was not retried."""
    charge_order = _charge(app)
    with jobsim.Simulation(app, start=START) as sim:
        sim.http.post("https://payments.test/charges").respond(200, json={"id": "ch_1"})
        sim.fail("market.charge_order", times=2)
        result = charge_order.delay("o1")
        sim.run_until_idle()
        with pytest.raises(jobsim.InjectedFault, match=(
            r"injected by sim.fail\(\) into function 'market.charge_order'; the task's autoretry_for="
            r"\(httpx.HTTPError,\) does not retry it: to exercise its retries, give sim.fail an error it lists, "
            r"e.g. error=httpx.HTTPError\('down'\)"
        )):  # fmt: skip
            result.get()
        assert len(sim.runs(charge_order)[0].attempts) == 1
    with jobsim.Simulation(app, start=START) as sim:  # what the hint says: two failures, then the charge
        sim.http.post("https://payments.test/charges").respond(200, json={"id": "ch_1"})
        sim.fail(charge_order, times=2, error=httpx.HTTPError("down"))
        result = charge_order.delay("o1")
        sim.run_until_idle()
        assert result.get() == "ch_1"
        assert len(sim.runs(charge_order)[0].attempts) == 3


def test_sim_fail_default_fault_keeps_its_message_where_autoretry_for_takes_it(app):
    @app.task(name="market.sync", autoretry_for=(Exception,), max_retries=1, retry_backoff=False)
    def sync():
        return "ok"

    @app.task(name="market.plain")
    def plain():
        return "ok"

    with jobsim.Simulation(app, start=START) as sim:
        sim.fail("market.sync", times=1)
        sim.fail("market.plain", times=1)
        synced, failed = sync.delay(), plain.delay()
        sim.run_until_idle()
        assert synced.get() == "ok"
        with pytest.raises(jobsim.InjectedFault, match=r"^injected by sim.fail\(\) into function 'market.plain'$"):
            failed.get()


def test_a_welcome_email_routed_to_an_unread_queue_fails_the_assertion_saying_why(app):
    """``task_routes`` sends emails to ``emails``; ``Simulation(app)`` runs ``celery worker`` without ``-Q``, which
    reads ``celery`` only. The test failed with "Outbox: empty" and nothing else: the UnreadQueueWarning is
    not shown when the ``with`` block fails."""
    app.conf.task_routes = {"market.remind_cart": {"queue": "emails"}}
    remind_cart = _mailer(app)
    with pytest.raises(AssertionError) as caught, jobsim.Simulation(app, start=START) as sim:
        remind_cart.delay("c1")
        sim.run_until_idle()
        sim.mail.assert_sent(to="buyer@example.com")
    assert str(caught.value).splitlines()[1:3] == [
        "Outbox: empty (no email was sent)", "Note: work that may send it never ran:"]
    assert ("- jobsim-celery: 1 message(s) (1 of task 'market.remind_cart') wait on queue 'emails', which no "
            "simulated worker reads (the workers read 'celery')") in str(caught.value)
    assert "jobsim_celery.CeleryTarget(app, queues=['celery', 'emails'])" in str(caught.value)
    with jobsim.Simulation(jobsim_celery.CeleryTarget(app, queues=["celery", "emails"]), start=START) as sim:
        remind_cart.delay("c1")
        sim.run_until_idle()
        sim.mail.assert_sent(to="buyer@example.com")


def test_the_0900_new_york_digest_follows_both_2026_dst_changes_and_the_15_minute_sync_runs_beside_it(app):
    app.conf.timezone = "America/New_York"
    app.conf.beat_schedule = {
        "daily-digest": {"task": "market.digest", "schedule": crontab(minute=0, hour=9)},
        "sync-inventory": {"task": "market.sync", "schedule": timedelta(minutes=15)},
    }

    @app.task(name="market.digest")
    def digest():
        return "sent"

    @app.task(name="market.sync")
    def sync():
        return "synced"

    for start, end, expected in (
        ("2026-03-07T00:00:00Z", "2026-03-09T23:00:00Z", ["03-07T14:00", "03-08T13:00", "03-09T13:00"]),
        ("2026-10-31T00:00:00Z", "2026-11-02T23:00:00Z", ["10-31T13:00", "11-01T14:00", "11-02T14:00"]),
    ):
        with jobsim.Simulation(app, start=start) as sim:
            sim.advance_to(end)
            assert [r.started_at.strftime("%m-%dT%H:%M") for r in sim.runs(digest)] == expected
            assert len(sim.runs(sync)) == 71 * 4  # every 15 minutes from the start, the first 15 minutes in


def test_checkout_chain_and_payout_chord_as_a_worker_runs_them(app):
    charge_order = _charge(app)

    @app.task(name="market.reserve_stock")
    def reserve_stock(order_id):
        return order_id

    @app.task(name="market.send_receipt")
    def send_receipt(charge_id):
        with smtplib.SMTP("smtp.market.test", 587) as smtp:
            smtp.sendmail("hi@market.test", ["buyer@example.com"],
                          f"To: buyer@example.com\r\nSubject: Receipt {charge_id}\r\n\r\nthanks")  # fmt: skip
        return charge_id

    @app.task(name="market.payout", rate_limit="10/m")
    def payout(seller):
        return {"s1": 10, "s2": 20, "s3": 30}[seller]

    @app.task(name="market.payout_summary")
    def payout_summary(amounts):
        return sum(amounts)

    with jobsim.Simulation(app, start=START) as sim:
        sim.http.post("https://payments.test/charges").mock(
            side_effect=[httpx.Response(503), jobsim.timeout(), httpx.Response(200, json={"id": "ch_7"})])
        checkout = (reserve_stock.s("o7") | charge_order.s() | send_receipt.s()).apply_async()
        payouts = chord(payout.s(s) for s in ("s1", "s2", "s3"))(payout_summary.s())
        sim.run_until_idle()
        assert checkout.get() == "ch_7"
        sim.mail.assert_sent(to="buyer@example.com", subject="Receipt ch_7")
        charge = sim.runs(charge_order)[0]
        assert len(charge.attempts) == 3  # 503, then a 10 s read timeout, then the charge (jittered backoff)
        assert payouts.get() == 60
        # rate_limit 10/m: one payout every 6 s; the summary starts when the last one ends
        assert [r.attempts[0].started_at.strftime("%M:%S") for r in sim.runs(payout)] == ["00:00", "00:06", "00:12"]
        assert sim.runs(payout_summary)[0].attempts[0].started_at.strftime("%M:%S") == "00:12"


def test_a_failed_payout_fails_the_chord_as_celery_reports_it(app):
    """What the README now says: ``get()`` raises the header task's error first, the body's result is Redis's
    ``ChordError``, and ``HTTPStatusError`` (which does not pickle) is stored as ``HTTPError``."""

    @app.task(name="market.payout")
    def payout(seller):
        response = httpx.post("https://payments.test/payouts", json={"seller": seller})
        response.raise_for_status()
        return response.json()["amount"]

    @app.task(name="market.payout_summary")
    def payout_summary(amounts):
        return sum(amounts)

    with jobsim.Simulation(app, start=START) as sim:
        sim.http.post("https://payments.test/payouts").mock(side_effect=[
            httpx.Response(200, json={"amount": 10}), httpx.Response(500), httpx.Response(200, json={"amount": 30})])
        result = chord(payout.s(s) for s in ("s1", "s2", "s3"))(payout_summary.s())
        sim.run_until_idle()
        with pytest.raises(httpx.HTTPError, match="500 Internal Server Error") as caught:
            result.get()
        assert type(caught.value) is httpx.HTTPError
        assert type(result.result) is ChordError and str(result.result).startswith("Dependency ")
        assert sim.runs(payout_summary) == []


class _EagerConfig:
    task_always_eager = True
    timezone = "UTC"


@pytest.mark.parametrize("how", ["force", "configured"])
def test_config_from_object_during_the_run_builds_settings_kept_off_eager_too(app, how):
    """``app.config_from_object(obj, force=True)`` (or without ``force`` on an app already configured) drops the
    app's settings and builds a fresh ``Settings``: it read ``task_always_eager`` as True, and the reminder ran at
    once, outside the simulated worker. After the close the app reads what the test configured."""
    remind_cart = _mailer(app)
    with jobsim.Simulation(app, start=START) as sim:
        app.config_from_object(_EagerConfig, force=how == "force")
        assert app.conf.task_always_eager is False and app.conf["task_always_eager"] is False
        result = remind_cart.apply_async(("c1",), countdown=3600)
        assert sim.mail.outbox == [] and result.state == "PENDING"
        sim.advance("1h")
        assert result.get() == "c1"
    from celery.app.utils import Settings

    assert app.conf.task_always_eager is True and type(app.conf) is Settings  # the app's own again
    assert "_load_config" not in app.__dict__
    app.conf.task_always_eager = False
