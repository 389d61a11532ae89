"""§3.6 BATCHING PATTERN: digest notifications and batched analytics.

``send-batch-notifications`` collects ``notification/send`` events per user (up to
100, for at most 30 s from the first) and mails one digest per user.
``batch-analytics-events`` collects ``analytics/track`` events (up to 1,000, for at
most 1 min) and posts them in one request to the analytics service.

The seed keys the notification batch by ``event.user.id``; its events carry the user
in ``data.userId``, which is the key used here.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import jobsim
from jobsim.errors import StepError

from .core import ANALYTICS_BATCH_URL, APP_URL, Shop, utcnow
from .db import iso
from .mailer import tags


def plural(n: int) -> str:
    return f"{n} new notification{'s' if n > 1 else ''}"


def register(shop: Shop) -> None:
    app = shop.app

    @app.function(
        "send-batch-notifications",
        on="notification/send",
        batch=jobsim.Batch(max_size=100, timeout="30s", key="event.data.userId"),
        retries=jobsim.Retries(attempts=3),
    )
    def send_batch_notifications(ctx: Any) -> dict[str, Any]:
        by_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in ctx.events:
            by_user[event.data["userId"]].append(event.data)
        results = [_send_digest(ctx, shop, user_id, notes) for user_id, notes in by_user.items()]
        ok = [r for r in results if r["success"]]
        return {
            "batchProcessed": True,
            "totalEvents": len(ctx.events),
            "totalUsers": len(by_user),
            "successful": len(ok),
            "failed": len(results) - len(ok),
            "results": results,
        }

    @app.function(
        "batch-analytics-events",
        on="analytics/track",
        batch=jobsim.Batch(max_size=1000, timeout="1m"),
    )
    def batch_analytics_events(ctx: Any) -> dict[str, Any]:
        events = [e.data for e in ctx.events]
        by_type: dict[str, int] = defaultdict(int)
        for event in events:
            by_type[event["event"]] += 1

        def send_to_analytics_service() -> None:
            payload = {
                # JSON.stringify drops the optional members an event left out (undefined), not null ones
                "batch": [
                    {k: e[k] for k in ("userId", "event", "properties", "timestamp") if k in e}
                    for e in events
                ],
                "sentAt": iso(utcnow()),
                "messageId": f"batch_{int(utcnow().timestamp() * 1000)}",
            }
            response = shop.http.post(
                ANALYTICS_BATCH_URL,
                json=payload,
                headers={"Authorization": f"Bearer {shop.analytics_api_key}"},
            )
            if not response.is_success:
                raise RuntimeError(
                    f"Analytics service returned {response.status_code}: {response.text}"
                )

        ctx.step.run("send-to-analytics-service", send_to_analytics_service)
        ctx.step.run("store-batch-metadata", lambda: None)  # the seed only logs here
        return {
            "success": True,
            "batchSize": len(events),
            "eventTypes": list(by_type),
            "eventsByTypeCount": [{"type": t, "count": c} for t, c in by_type.items()],
            "sentAt": iso(utcnow()),
        }


def _send_digest(ctx: Any, shop: Shop, user_id: str, notes: list[dict[str, Any]]) -> dict[str, Any]:
    """One user's digest; as in the seed, a failure is reported, not raised."""
    try:
        user = ctx.step.run(
            f"get-user-{user_id}",
            lambda: {"email": f"{user_id}@example.com", "name": f"User {user_id}"},
        )
        # Outside a step, as in the seed: it runs once, in the request after the last step.
        data, error = shop.resend.send(
            from_="Notifications <notifications@acme.com>",
            to=user["email"],
            subject=f"You have {plural(len(notes))}",
            html=(
                f"<h1>Your Notifications</h1><p>Hello {user['name']},</p>"
                f"<p>You have {plural(len(notes))}:</p><ul>"
                + "".join(f"<li><strong>{n['title']}</strong>: {n['body']}</li>" for n in notes)
                + f'</ul><br /><p><a href="{APP_URL}/notifications">View all notifications</a></p>'
            ),
            text=f"You have {plural(len(notes))}:\n\n"
            + "\n".join(f"• {n['title']}: {n['body']}" for n in notes),
            tags=tags(
                category="batch_notification", user_id=user_id, notification_count=str(len(notes))
            ),
        )
        if error:
            raise RuntimeError(f"Batch email failed: {error['message']}")
        return {
            "userId": user_id,
            "success": True,
            # `data?.id`: undefined without an id, a member JSON drops
            **({"messageId": data["id"]} if data is not None and "id" in data else {}),
            "notificationsCount": len(notes),
        }
    except (StepError, RuntimeError) as exc:
        # A failed step surfaces as inngest-js's StepError, whose message is the step's own error's.
        return {
            "userId": user_id,
            "success": False,
            "error": str(exc.error if isinstance(exc, StepError) else exc),
            "notificationsCount": len(notes),
        }
