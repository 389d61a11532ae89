"""§3.6 batching: per-user notification digests (100, 30 s), analytics batches (1,000, 1 min)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx

import jobsim
from examples.shop.core import ANALYTICS_BATCH_URL
from examples.shop.mailer import RESEND_EMAILS
from examples.support import T0, at, mail, only


def notify(sim: jobsim.Simulation, user_id: str, title: str) -> None:
    sim.send("notification/send", {"userId": user_id, "title": title, "body": f"{title} body"})


def analytics_posts(sim: jobsim.Simulation) -> list[Any]:
    return [c for c in sim.http.calls if str(c.request.url) == ANALYTICS_BATCH_URL]


def test_a_user_digest_goes_out_30s_after_the_first_notification(sim: jobsim.Simulation) -> None:
    notify(sim, "u1", "New follower")
    sim.advance("5s")
    notify(sim, "u2", "Price drop")
    sim.advance("5s")
    notify(sim, "u1", "New comment")
    sim.advance("19s")
    notify(sim, "u1", "Order shipped")
    sim.advance("1m")

    runs = sim.runs("send-batch-notifications")
    assert [(r.started_at, [e.data["title"] for e in r.events]) for r in runs] == [
        (at(30), ["New follower", "New comment", "Order shipped"]),
        (at(35), ["Price drop"]),
    ]
    digests = [(m.to, m.subject, m.sent_at) for m in mail(sim, "You have")]
    assert digests == [
        (["u1@example.com"], "You have 3 new notifications", at(30)),
        (["u2@example.com"], "You have 1 new notification", at(35)),
    ]
    assert mail(sim, "You have 3")[0].text == (
        "You have 3 new notifications:\n\n• New follower: New follower body\n"
        "• New comment: New comment body\n• Order shipped: Order shipped body"
    )
    assert runs[0].output["totalEvents"] == 3
    assert list(runs[0].steps) == ["get-user-u1"]


def test_the_hundredth_notification_flushes_the_batch_at_once(sim: jobsim.Simulation) -> None:
    for n in range(101):
        notify(sim, "u1", f"Ping {n}")
    sim.advance("1m")

    full, rest = sim.runs("send-batch-notifications")
    assert (len(full.events), full.started_at) == (100, T0)
    assert (len(rest.events), rest.started_at) == (1, at(30))
    assert [m.subject for m in mail(sim, "You have")] == [
        "You have 100 new notifications",
        "You have 1 new notification",
    ]


def test_analytics_events_are_posted_once_a_minute(sim: jobsim.Simulation) -> None:
    for offset, name in ((0, "signup"), (10, "checkout"), (70, "signup")):
        sim.advance_to(at(offset))
        sim.send(
            "analytics/track", {"userId": "u1", "event": name, "properties": {}, "timestamp": "x"}
        )
    sim.advance("5m")

    posts = analytics_posts(sim)
    assert [p.at for p in posts] == [at(60), at(130)]
    first = json.loads(posts[0].request.content)
    assert [e["event"] for e in first["batch"]] == ["signup", "checkout"]
    assert first["sentAt"] == "2025-03-03T00:01:00.000Z"
    assert posts[0].request.headers["Authorization"] == "Bearer test-analytics-key"
    run = sim.runs("batch-analytics-events")[0]
    assert run.output["eventsByTypeCount"] == [
        {"type": "signup", "count": 1},
        {"type": "checkout", "count": 1},
    ]


def test_a_thousand_analytics_events_post_immediately(sim: jobsim.Simulation) -> None:
    sim.send(
        [
            jobsim.Event("analytics/track", {"userId": f"u{n}", "event": "view", "timestamp": "x"})
            for n in range(1000)
        ]
    )
    sim.advance("5m")

    post = only(analytics_posts(sim))
    assert post.at == T0
    batch = json.loads(post.request.content)["batch"]
    assert len(batch) == 1000
    # No `properties` in these events: JSON.stringify leaves the undefined member out, it does not send null.
    assert batch[0] == {"userId": "u0", "event": "view", "timestamp": "x"}


def test_a_digest_run_that_keeps_failing_stops_after_the_seeds_three_attempts(
    sim: jobsim.Simulation,
) -> None:
    """``retries: { attempts: 3 }``: the batch body fails at 30 s, retries on Inngest's table (15 s, 30 s + jitter)."""
    sim.fail("send-batch-notifications", times=5)
    notify(sim, "u1", "New follower")
    sim.advance("5m")

    run = only(sim.runs("send-batch-notifications"))
    first, second, third = (a.started_at for a in run.attempts)
    assert first == at(30)
    assert dt.timedelta(seconds=15) <= second - first < dt.timedelta(seconds=45)
    assert dt.timedelta(seconds=30) <= third - second < dt.timedelta(seconds=60)
    assert (run.status, run.finished_at) == ("failed", third)
    assert mail(sim, "You have") == []


def test_a_user_whose_step_fails_for_good_is_reported_with_the_steps_own_message(
    sim: jobsim.Simulation,
) -> None:
    """The seed catches the step's ``StepError`` and reports ``error.message``: the step's own error's message."""
    sim.fail("send-batch-notifications", step="get-user-u1", times=3, error=RuntimeError("user service down"))
    notify(sim, "u1", "New follower")
    sim.advance("5m")

    run = only(sim.runs("send-batch-notifications"))
    assert run.status == "completed"
    assert run.output["results"] == [
        {"userId": "u1", "success": False, "error": "user service down", "notificationsCount": 1}
    ]
    assert (run.output["successful"], run.output["failed"]) == (0, 1)
    assert mail(sim, "You have") == []


def test_a_digest_without_a_message_id_leaves_it_out(sim: jobsim.Simulation) -> None:
    """``messageId: data?.id`` with no id is undefined, and the run's JSON output has no such member."""
    sim.http.post(RESEND_EMAILS).mock(return_value=httpx.Response(200, json={}))
    notify(sim, "u1", "New follower")
    sim.advance("1m")

    run = only(sim.runs("send-batch-notifications"))
    assert run.output["results"] == [{"userId": "u1", "success": True, "notificationsCount": 1}]
