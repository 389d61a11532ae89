"""§3.1 SIMPLE EVENT HANDLER: ``send-welcome-email`` on ``user/created``.

No steps: the whole handler is one request, retried as a whole (3 attempts,
exponential backoff from 1 s, at most 1 h between attempts).
"""

from __future__ import annotations

from typing import Any

import jobsim

from .core import Shop, utcnow
from .db import iso
from .mailer import tags


def register(shop: Shop) -> None:
    app = shop.app

    @app.function(
        "send-welcome-email",
        on="user/created",
        retries=jobsim.Retries(attempts=3, backoff="exponential", min="1s", max="1h"),
    )
    def send_welcome_email(ctx: Any) -> dict[str, Any]:
        user_id, email, name = (
            ctx.event.data["userId"],
            ctx.event.data["email"],
            ctx.event.data.get("name"),
        )
        data, error = shop.resend.send(
            from_="Acme <welcome@acme.com>",
            to=email,
            subject=f"Welcome to Acme{f', {name}' if name else ''}!",
            html=(
                "<h1>Welcome to Acme!</h1>"
                "<p>Thank you for signing up. We're excited to have you on board.</p>"
                f"<p>Your account has been created with email: {email}</p>"
                "<p>If you have any questions, please reply to this email.</p>"
                "<br /><p>Best regards,</p><p>The Acme Team</p>"
            ),
            text=(
                "Welcome to Acme! Thank you for signing up. We're excited to have you on board. "
                f"Your account has been created with email: {email}"
            ),
            tags=tags(category="welcome_email", user_id=user_id),
        )
        if error:
            raise RuntimeError(f"Email sending failed: {error['message']}")
        message_id = (data or {}).get("id")
        # `data?.id`: undefined without an id, and JSON (the run's output) drops undefined members.
        answered = {"messageId": message_id} if data is not None and "id" in data else {}
        app.send(
            "email/sent",
            {
                "to": email,
                "template": "welcome",
                "messageId": message_id or "unknown",  # the seed's `data?.id || 'unknown'`
                "sentAt": iso(utcnow()),
            },
        )
        # The seed returns `data?.id` as it is: no "unknown" fallback here.
        return {"success": True, **answered, "userId": user_id, "email": email}
