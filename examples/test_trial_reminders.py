"""§3.5 ``send-trial-expiration-reminder``: 7, 3, 1 and 0 days before the trial ends."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import jobsim
from examples.shop import Shop
from examples.shop.db import Store, parse_time
from examples.shop.reminders import TRIAL_REMINDERS, trial_subject
from examples.support import T0, at, events, mail, only

TRIAL = {"userId": "user_ada", "trialEndsAt": "2025-03-17T00:00:00.000Z"}  # 14 days after T0
SUBJECTS = [
    "Your trial ends in 7 days",
    "Your trial ends in 3 days",
    "Your trial ends in 1 day",
    "Your trial has ended",
]


@pytest.fixture(autouse=True)
def ada(shop: Shop) -> None:
    shop.db.add_user("user_ada", "ada@example.com", "Ada Lovelace", created_at=T0)


def reminders(sim: jobsim.Simulation) -> list[tuple[dt.datetime, str]]:
    return [(m.sent_at, m.subject) for m in mail(sim, "Your trial")]


def test_four_reminders_at_the_exact_days(shop: Shop, sim: jobsim.Simulation) -> None:
    shop.storefront(sim, "trial/started", TRIAL)
    sim.advance("15d")

    assert reminders(sim) == list(
        zip([at(days=7), at(days=11), at(days=13), at(days=14)], SUBJECTS, strict=True)
    )
    assert {m.to[0] for m in mail(sim, "Your trial")} == {"ada@example.com"}
    run = only(sim.runs("send-trial-expiration-reminder"))
    assert (run.status, run.finished_at) == ("completed", at(days=14))
    assert [e.data["metadata"]["reminderType"] for e in events(sim, "email/send")] == [
        k for _, k in TRIAL_REMINDERS
    ]
    assert only(mail(sim, "Your trial has ended")).text.startswith(
        "Your trial ends on March 17, 2025 (0 days left)."
    )


def test_subscribing_skips_the_later_reminders(shop: Shop, sim: jobsim.Simulation) -> None:
    shop.storefront(sim, "trial/started", TRIAL)
    sim.advance("12d")
    shop.storefront(sim, "subscription/activated", {"userId": "user_ada", "plan": "pro"})
    sim.advance("3d")

    assert reminders(sim) == [(at(days=7), SUBJECTS[0]), (at(days=11), SUBJECTS[1])]
    run = only(sim.runs("send-trial-expiration-reminder"))
    assert (run.status, run.finished_at) == ("completed", at(days=14))
    # The seed's single step id, reused: the 1-day reminder was skipped, so only two sends.
    assert [s for s in run.steps if s.startswith("send-trial-reminder")] == [
        "send-trial-reminder",
        "send-trial-reminder:1",
    ]
    # The seed's `select: { subscriptionStatus: true, email: true }`: those two fields, no more.
    assert run.steps["check-subscription-0-days"].output == {
        "subscriptionStatus": "ACTIVE",
        "email": "ada@example.com",
    }


def test_the_steps_are_the_seeds_in_the_seeds_order(shop: Shop, sim: jobsim.Simulation) -> None:
    """``wait-for-N-days`` then ``send-trial-reminder`` (reused, so Inngest numbers it ``:1``, ``:2``...).

    The port adds ``get-schedule-time`` and ``check-subscription-N-days`` (the seed's ``new Date()``
    and Prisma query, made steps so that replay does not change them).
    """
    shop.storefront(sim, "trial/started", TRIAL)
    sim.advance("15d")

    run = only(sim.runs("send-trial-expiration-reminder"))
    assert list(run.steps) == [
        "get-schedule-time",
        "wait-for-7-days",
        "check-subscription-7-days",
        "send-trial-reminder",
        "wait-for-3-days",
        "check-subscription-3-days",
        "send-trial-reminder:1",
        "wait-for-1-days",
        "check-subscription-1-days",
        "send-trial-reminder:2",
        "wait-for-0-days",
        "check-subscription-0-days",
        "send-trial-reminder:3",
    ]


def test_the_trial_end_date_is_written_as_a_utc_date(shop: Shop, sim: jobsim.Simulation) -> None:
    """date-fns ``format`` uses the host's zone (UTC on Inngest's hosts), not the offset the event was sent with."""
    shop.storefront(
        sim, "trial/started", {"userId": "user_ada", "trialEndsAt": "2025-03-16T20:00:00-05:00"}
    )
    sim.advance("15d")

    assert {e.data["data"]["trialEndDate"] for e in events(sim, "email/send")} == {"March 17, 2025"}


def test_a_short_trial_only_gets_the_reminders_still_ahead(
    shop: Shop, sim: jobsim.Simulation
) -> None:
    shop.storefront(
        sim, "trial/started", {"userId": "user_ada", "trialEndsAt": "2025-03-05T12:00:00Z"}
    )
    sim.advance("3d")

    assert reminders(sim) == [
        (at(days=1, hours=12), SUBJECTS[2]),
        (at(days=2, hours=12), SUBJECTS[3]),
    ]


def seed_verbatim(db: Store) -> jobsim.App:
    """The seed's loop as written: ``new Date()`` and the Prisma query outside any step."""
    app = jobsim.App("seed-verbatim")

    @app.function("send-trial-expiration-reminder", on="trial/started")
    def send_trial_expiration_reminder(ctx: Any) -> dict[str, Any]:
        trial_end = parse_time(ctx.event.data["trialEndsAt"])
        for days, kind in TRIAL_REMINDERS:
            reminder_date = trial_end - dt.timedelta(days=days)
            if reminder_date > dt.datetime.now(
                dt.timezone.utc
            ):  # isAfter(reminderDate, new Date())
                ctx.step.sleep_until(f"wait-for-{days}-days", reminder_date)
                user = db.find_user(ctx.event.data["userId"])
                if user and user["subscriptionStatus"] == "ACTIVE":
                    continue
                ctx.step.send_event(
                    "send-trial-reminder",
                    jobsim.Event(
                        "email/send",
                        {
                            "to": user["email"] if user else "",
                            "template": "trial_reminder",
                            "subject": trial_subject(days),
                            "data": {"daysLeft": days},
                            "metadata": {"reminderType": kind},
                        },
                    ),
                )
        return {"success": True, "remindersScheduled": len(TRIAL_REMINDERS)}

    return app


def test_the_seed_as_written_sends_no_reminder_at_all() -> None:
    """Replay re-evaluates ``isAfter(reminderDate, new Date())`` after each sleep: false by then."""
    db = Store()
    db.add_user("user_ada", "ada@example.com", "Ada Lovelace", created_at=T0)
    with jobsim.Simulation(seed_verbatim(db), start=T0) as sim:
        sim.send("trial/started", TRIAL)
        sim.advance("15d")

        run = only(sim.runs("send-trial-expiration-reminder"))
        assert list(run.steps) == [
            "wait-for-7-days",
            "wait-for-3-days",
            "wait-for-1-days",
            "wait-for-0-days",
        ]
        assert (run.status, run.finished_at) == ("completed", at(days=14))
        assert events(sim, "email/send") == []
