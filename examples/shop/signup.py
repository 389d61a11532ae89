"""§3.4 FAN-OUT PATTERN: ``process-user-signup`` turns one ``user/created`` into five jobs.

The seed's function sends five events with ``step.sendEvent``; each lands on its
own function below (the seed names the events but defines no consumers; these five
are this port's). ``send-email`` also delivers the ``email/send`` events of the
order, cart and trial functions.

Note that the seed has two functions on ``user/created``: this one and §3.1's
``send-welcome-email``. Both run, so a new user gets two welcome emails.
"""

from __future__ import annotations

from typing import Any

import jobsim

from .core import APP_URL, MAILCHIMP_LIST_URL, SLACK_WEBHOOK_URL, Shop, utcnow
from .db import iso
from .mailer import tags


def register(shop: Shop) -> None:
    app, db = shop.app, shop.db

    @app.function("process-user-signup", on="user/created")
    def process_user_signup(ctx: Any) -> dict[str, Any]:
        user_id, email = ctx.event.data["userId"], ctx.event.data["email"]
        ctx.step.send_event(
            "send-welcome-email",
            jobsim.Event(
                "email/send",
                {
                    "to": email,
                    "template": "welcome",
                    "subject": "Welcome to Our Platform!",
                    "data": {"userId": user_id, "email": email},
                    "metadata": {"userId": user_id},
                },
            ),
        )
        ctx.step.send_event(
            "create-user-profile",
            jobsim.Event("user/profile/create", {"userId": user_id, "email": email}),
        )
        ctx.step.send_event(
            "add-to-mailing-list",
            jobsim.Event(
                "marketing/subscribe", {"email": email, "userId": user_id, "list": "all_users"}
            ),
        )
        ctx.step.send_event(
            "send-slack-notification",
            jobsim.Event(
                "notification/slack",
                {
                    "channel": "#new-users",
                    "message": f"New user signed up: {email} ({user_id})",
                    "emoji": "🎉",
                },
            ),
        )
        ctx.step.send_event(
            "initialize-user-settings",
            jobsim.Event("user/settings/initialize", {"userId": user_id}),
        )
        return {
            "success": True,
            "userId": user_id,
            "email": email,
            "jobsTriggered": 5,
            "timestamp": iso(utcnow()),
        }

    @app.function(
        "send-email",
        on="email/send",
        retries=jobsim.Retries(attempts=3, backoff="exponential", min="1s", max="1h"),
    )
    def send_email(ctx: Any) -> dict[str, Any]:
        request = ctx.event.data

        def send() -> dict[str, Any]:
            text, html = render(request["template"], request.get("data") or {})
            data, error = shop.resend.send(
                from_="Acme <noreply@acme.com>",
                to=request["to"],
                subject=request["subject"],
                text=text,
                html=html,
                tags=tags(category=request["template"]),
            )
            if error:
                raise RuntimeError(f"Email sending failed: {error['message']}")
            return {"messageId": (data or {}).get("id") or "unknown", "sentAt": iso(utcnow())}

        sent = ctx.step.run("send", send)
        ctx.step.send_event(
            "email-sent",
            jobsim.Event(
                "email/sent", {"to": request["to"], "template": request["template"], **sent}
            ),
        )
        return sent

    @app.function("create-user-profile", on="user/profile/create")
    def create_user_profile(ctx: Any) -> dict[str, Any]:
        def create() -> dict[str, Any]:
            user_id = ctx.event.data["userId"]
            profile = {
                "userId": user_id,
                "email": ctx.event.data["email"],
                "createdAt": iso(utcnow()),
            }
            db.profiles[user_id] = profile
            return profile

        return ctx.step.run("create-profile", create)

    @app.function("subscribe-to-mailing-list", on="marketing/subscribe")
    def subscribe_to_mailing_list(ctx: Any) -> int:
        def subscribe() -> int:
            data = ctx.event.data
            response = shop.http.post(
                MAILCHIMP_LIST_URL.format(list=data["list"]),
                json={
                    "email_address": data["email"],
                    "status": "subscribed",
                    "merge_fields": {"USERID": data["userId"]},
                },
            )
            response.raise_for_status()
            return response.status_code

        return ctx.step.run("subscribe", subscribe)

    @app.function("post-slack-notification", on="notification/slack")
    def post_slack_notification(ctx: Any) -> int:
        def post() -> int:
            data = ctx.event.data
            response = shop.http.post(
                SLACK_WEBHOOK_URL,
                json={"channel": data["channel"], "text": f"{data['emoji']} {data['message']}"},
            )
            response.raise_for_status()
            return response.status_code

        return ctx.step.run("post-to-slack", post)

    @app.function("initialize-user-settings", on="user/settings/initialize")
    def initialize_user_settings(ctx: Any) -> dict[str, Any]:
        def initialize() -> dict[str, Any]:
            user_id = ctx.event.data["userId"]
            settings = {
                "userId": user_id,
                "emailNotifications": True,
                "timezone": "UTC",
                "locale": "en-US",
            }
            db.settings[user_id] = settings
            return settings

        return ctx.step.run("initialize-settings", initialize)


def render(template: str, data: dict[str, Any]) -> tuple[str, str]:
    """The text and HTML bodies of the ``email/send`` templates."""
    if template == "welcome":
        text = f"Welcome! Your account {data.get('email')} is ready."
    elif template == "order_confirmation":
        lines = "\n".join(
            f"- {i['quantity']} x {i['productId']} (${i['price']:.2f})" for i in data["items"]
        )
        name = data.get("customerName") or ""
        text = f"Thanks {name}! Order #{data['orderId']}, ${data['amount']:.2f}:\n{lines}"
    elif template == "cart_reminder":
        text = (
            f"Hi {data.get('userName') or 'there'}, "
            f"you left {data['itemCount']} item(s) in your cart:\n"
            f"{data['itemList']}\nTotal: ${data['total']}\n{data['cartUrl']}"
        )
    elif template == "trial_reminder":
        text = (
            f"Your trial ends on {data['trialEndDate']} ({data['daysLeft']} days left). "
            f"{APP_URL}/billing"
        )
    else:
        text = str(data)
    html = "".join(f"<p>{line}</p>" for line in text.splitlines())
    return text, html
