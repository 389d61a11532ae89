"""A marketplace on Celery + Redis, written from README.md as a new user would: what the trial found and fixed."""

from __future__ import annotations

import smtplib

import pytest

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
    assert app.conf.task_always_eager is True  # what the test set is the app's again after the close
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
