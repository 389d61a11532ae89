"""§3.5 DELAYED EXECUTION: the cart-abandonment reminder and the trial reminders.

``send-cart-abandonment-reminder`` waits until ``abandonedAt`` + 24 h for ``cart/completed``
with the same ``cartId`` (the seed sleeps until then and reads the cart's status; a
``wait_for_event`` ends the run as soon as the cart completes). The seed's status
check stays, for carts completed without an event, and is repeated in the step
that sends: between the two, a failing ``get-user-email`` is retried 15-45 s later,
and a cart completed meanwhile still got its reminder (``test_property_cart.py``
found this race). One reminder per cart per 24 h (``idempotency``), however often
the storefront's webhook is retried.

``send-trial-expiration-reminder`` sleeps until 7, 3, 1 and 0 days before the trial
ends and sends a reminder unless the user has subscribed by then. Two changes make
the seed's loop correct under replay (code outside steps re-runs on every request):
"now" is read once, in a step, and the subscription is read in a step per reminder.
The seed's ``isAfter(reminderDate, new Date())`` is re-evaluated after each sleep,
when the reminder date is no longer in the future, so the seed sends no reminder
at all; ``test_trial_reminders.py`` shows it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import jobsim

from .core import APP_URL, Shop, js_number, utcnow
from .db import iso, parse_time

TRIAL_REMINDERS = [
    (7, "7_days_before"),
    (3, "3_days_before"),
    (1, "1_day_before"),
    (0, "trial_ended"),
]


def trial_subject(days: int) -> str:
    if days == 0:
        return "Your trial has ended"
    return f"Your trial ends in {days} day{'' if days == 1 else 's'}"


def _event_time(event: jobsim.Event) -> dt.datetime:
    """When ``event`` was sent (its ``ts``, filled by the bus), or now."""
    if event.ts is None:
        return utcnow()
    return dt.datetime.fromtimestamp(event.ts / 1000, dt.timezone.utc)


def register(shop: Shop) -> None:
    app, db = shop.app, shop.db

    @app.function(
        "send-cart-abandonment-reminder",
        on="cart/abandoned",
        retries=jobsim.Retries(attempts=3),
        idempotency="event.data.cartId",  # a retried webhook must not remind twice
    )
    def send_cart_abandonment_reminder(ctx: Any) -> dict[str, Any]:
        cart_id, user_id = ctx.event.data["cartId"], ctx.event.data["userId"]
        # The seed's `sleepUntil(abandonedAt + 24 h)`: the deadline is fixed by the cart, not by
        # when the webhook arrived. The timeout is only read the first time the wait is entered
        # (later requests replay its record), and a deadline already past waits 0 s, as a
        # `sleepUntil` in the past returns at once. Events without `abandonedAt` use their own time.
        abandoned_at = ctx.event.data.get("abandonedAt")
        reminder_time = (
            parse_time(abandoned_at) if abandoned_at else _event_time(ctx.event)
        ) + dt.timedelta(hours=24)
        completed = ctx.step.wait_for_event(
            "wait-24-hours",
            event="cart/completed",
            match="data.cartId",
            timeout=max(reminder_time - utcnow(), dt.timedelta(0)),
        )
        if completed is not None:
            return {"skipped": True, "reason": "cart_completed"}

        def check_cart_status() -> dict[str, Any] | None:
            cart = db.carts.get(cart_id)
            if cart is None:
                raise RuntimeError(f"Cart {cart_id} not found")
            return None if cart["status"] == "COMPLETED" else cart

        cart = ctx.step.run("check-cart-status", check_cart_status)
        if not cart:
            return {"skipped": True, "reason": "cart_completed"}

        def get_user_email() -> dict[str, Any]:
            user = db.find_user(user_id)
            if not user or not user.get("email"):
                raise RuntimeError(f"User {user_id} has no email")
            return {"email": user["email"], "name": user.get("name")}

        user = ctx.step.run("get-user-email", get_user_email)

        def send_reminder_email() -> bool:
            # Checked again where the email is sent: the cart may have completed while
            # an earlier step was being retried (check-cart-status is memoized).
            if db.carts.get(cart_id, {}).get("status") == "COMPLETED":
                return False
            items = cart["items"]
            app.send(
                "email/send",
                {
                    "to": user["email"],
                    "template": "cart_reminder",
                    "subject": "Did you forget something?",
                    "data": {
                        "userName": user["name"],
                        "itemCount": len(items),
                        "itemList": "\n".join(f"- {i['name']} (${js_number(i['price'])})" for i in items),
                        "total": f"{sum(i['price'] for i in items):.2f}",
                        "cartUrl": f"{APP_URL}/cart/{cart_id}",
                    },
                    "metadata": {
                        "userId": user_id,
                        "cartId": cart_id,
                        "reminderType": "abandoned_cart_24h",
                    },
                },
            )
            return True

        if not ctx.step.run("send-reminder-email", send_reminder_email):
            return {"skipped": True, "reason": "cart_completed"}
        return {
            "success": True,
            "cartId": cart_id,
            "userId": user_id,
            "reminderSentAt": iso(utcnow()),
            "itemsCount": len(cart["items"]),
        }

    def subscription(user_id: str) -> dict[str, Any] | None:
        """``prisma.user.findUnique({ where: { id }, select: { subscriptionStatus: true, email: true } })``."""
        user = db.find_user(user_id)
        return None if user is None else {k: user[k] for k in ("subscriptionStatus", "email")}

    @app.function("send-trial-expiration-reminder", on="trial/started")
    def send_trial_expiration_reminder(ctx: Any) -> dict[str, Any]:
        user_id, trial_ends_at = ctx.event.data["userId"], ctx.event.data["trialEndsAt"]
        trial_end = parse_time(trial_ends_at)
        # date-fns formats in the host's zone: UTC on Inngest's serverless hosts, as here.
        trial_end_date = trial_end.astimezone(dt.timezone.utc)
        scheduled_at = parse_time(ctx.step.run("get-schedule-time", lambda: iso(utcnow())))
        for days, kind in TRIAL_REMINDERS:
            reminder_date = trial_end - dt.timedelta(days=days)
            if reminder_date <= scheduled_at:
                continue  # only schedule reminders in the future
            ctx.step.sleep_until(f"wait-for-{days}-days", reminder_date)
            user = ctx.step.run(f"check-subscription-{days}-days", subscription, user_id)
            if user and user.get("subscriptionStatus") == "ACTIVE":
                continue  # already subscribed: skip this reminder
            # The seed's one id for every reminder; its n-th reuse is `send-trial-reminder:n`, as on
            # Inngest, which is stable because the subscription check above is a step.
            ctx.step.send_event(
                "send-trial-reminder",
                jobsim.Event(
                    "email/send",
                    {
                        "to": (user or {}).get("email") or "",
                        "template": "trial_reminder",
                        "subject": trial_subject(days),
                        "data": {
                            "daysLeft": days,
                            "trialEndDate": f"{trial_end_date:%B} {trial_end_date.day}, {trial_end_date.year}",
                        },
                        "metadata": {"userId": user_id, "reminderType": kind},
                    },
                ),
            )
        return {
            "success": True,
            "userId": user_id,
            "remindersScheduled": len(TRIAL_REMINDERS),
            "trialEndsAt": trial_ends_at,
        }
