"""§3.4 fan-out: ``process-user-signup`` sends five events, each starting its own function."""

from __future__ import annotations

import datetime as dt
import json

import httpx

import jobsim
from examples.shop import Shop, build_shop
from examples.shop.core import MAILCHIMP_LIST_URL, SLACK_WEBHOOK_URL
from examples.support import T0, at, events, mail, only, simulate

ADA = {"userId": "user_ada", "email": "ada@example.com", "name": "Ada Lovelace"}
FAN_OUT = [
    ("send-welcome-email", "email/send", "send-email"),
    ("create-user-profile", "user/profile/create", "create-user-profile"),
    ("add-to-mailing-list", "marketing/subscribe", "subscribe-to-mailing-list"),
    ("send-slack-notification", "notification/slack", "post-slack-notification"),
    ("initialize-user-settings", "user/settings/initialize", "initialize-user-settings"),
]


def test_one_signup_starts_five_jobs_at_the_same_instant(
    shop: Shop, sim: jobsim.Simulation
) -> None:
    sim.send("user/created", ADA)
    sim.advance("1m")

    run = only(sim.runs("process-user-signup"))
    assert list(run.steps) == [step for step, _, _ in FAN_OUT]
    assert (run.status, run.finished_at) == ("completed", T0)
    assert run.output["jobsTriggered"] == 5
    emitted = [e.name for e in sim.events if e.name in {name for _, name, _ in FAN_OUT}]
    assert emitted == [name for _, name, _ in FAN_OUT]
    for _, _, function_id in FAN_OUT:
        job = only(sim.runs(function_id))
        assert (job.status, job.started_at, job.finished_at) == ("completed", T0, T0), function_id

    slack = only([c for c in sim.http.calls if str(c.request.url) == SLACK_WEBHOOK_URL])
    assert json.loads(slack.request.content) == {
        "channel": "#new-users",
        "text": "🎉 New user signed up: ada@example.com (user_ada)",
    }
    mailchimp = only(
        [
            c
            for c in sim.http.calls
            if str(c.request.url) == MAILCHIMP_LIST_URL.format(list="all_users")
        ]
    )
    assert json.loads(mailchimp.request.content)["email_address"] == "ada@example.com"
    assert shop.db.profiles["user_ada"] == {
        "userId": "user_ada",
        "email": "ada@example.com",
        "createdAt": "2025-03-03T00:00:00.000Z",
    }
    assert shop.db.settings["user_ada"]["emailNotifications"] is True


def test_the_seed_sends_two_welcome_emails(sim: jobsim.Simulation) -> None:
    """§3.1 and §3.4 both listen to ``user/created``; each sends its own welcome."""
    sim.send("user/created", ADA)
    sim.advance("1m")

    assert sorted(m.subject for m in sim.mail.outbox) == [
        "Welcome to Acme, Ada Lovelace!",
        "Welcome to Our Platform!",
    ]
    assert {m.sent_at for m in sim.mail.outbox} == {T0}
    assert [r.function_id for r in sim.runs() if r.event.name == "user/created"] == [
        "send-welcome-email",
        "process-user-signup",
    ]


def test_a_slack_outage_retries_on_inngest_default_backoff_alone(sim: jobsim.Simulation) -> None:
    """No ``retries=``: Inngest's table (15 s + U[0, 30 s) before the first retry), seeded."""
    sim.http.post(SLACK_WEBHOOK_URL).mock(
        side_effect=[httpx.Response(503), httpx.Response(200, text="ok")]
    )
    sim.send("user/created", ADA)
    sim.advance("5m")

    job = only(sim.runs("post-slack-notification"))
    first, second = [a.started_at for a in job.attempts if a.step == "post-to-slack"]
    assert first == T0
    assert at(15) <= second < at(45)
    assert job.status == "completed"
    for _, _, function_id in FAN_OUT:
        if function_id != "post-slack-notification":
            assert only(sim.runs(function_id)).finished_at == T0
    assert len(mail(sim, "Welcome")) == 2
    assert [e.name for e in events(sim, "inngest/function.failed")] == []


def test_the_default_backoff_is_the_same_for_the_same_seed() -> None:
    def retry_time(seed: int) -> dt.datetime:
        with simulate(build_shop(), seed=seed) as sim:
            sim.http.post(SLACK_WEBHOOK_URL).mock(
                side_effect=[httpx.Response(503), httpx.Response(200)]
            )
            sim.send("user/created", ADA)
            sim.advance("5m")
            job = only(sim.runs("post-slack-notification"))
            return [a.started_at for a in job.attempts if a.step == "post-to-slack"][1]

    assert retry_time(7) == retry_time(7)
    assert len({retry_time(seed) for seed in range(5)}) > 1
