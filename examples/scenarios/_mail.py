"""The one mail call every scenario makes: Resend's HTTP API, captured by ``sim.mail``."""

from __future__ import annotations

import httpx

RESEND = "https://api.resend.com/emails"


def send_email(to: str, subject: str, text: str) -> str:
    response = httpx.post(
        RESEND,
        headers={"Authorization": "Bearer re_test"},
        json={"from": "ops@acme.test", "to": [to], "subject": subject, "text": text},
    )
    response.raise_for_status()
    return str(response.json()["id"])
