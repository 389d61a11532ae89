"""``resend.emails.send`` of the seed, over Resend's HTTP API with httpx.

Like the Node SDK, ``send`` does not raise on an API error: it returns
``(data, error)`` and the caller decides (the seed throws ``Email sending failed``).
"""

from __future__ import annotations

from typing import Any

import httpx

RESEND_API = "https://api.resend.com"
RESEND_EMAILS = f"{RESEND_API}/emails"


class Resend:
    """``new Resend(process.env.RESEND_API_KEY)``, sending through the app's ``httpx.Client``."""

    def __init__(self, api_key: str, http: httpx.Client) -> None:
        self.api_key = api_key
        self.http = http

    def send(self, **payload: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """``resend.emails.send({...})``; ``from_`` is sent as ``from``."""
        if "from_" in payload:
            payload["from"] = payload.pop("from_")
        headers = {"Authorization": f"Bearer {self.api_key}"}
        try:
            response = self.http.post(RESEND_EMAILS, json=payload, headers=headers)
        except httpx.HTTPError as exc:
            return None, {"name": "application_error", "message": str(exc), "statusCode": None}
        if response.is_success:
            return response.json(), None
        return None, _error(response)


def _error(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return {
        "name": body.get("name", "application_error")
        if isinstance(body, dict)
        else "application_error",
        "message": message or f"HTTP {response.status_code} {response.reason_phrase}".strip(),
        "statusCode": response.status_code,
    }


def tags(**values: str) -> list[dict[str, str]]:
    """Resend's ``tags: [{name, value}]``."""
    return [{"name": name, "value": value} for name, value in values.items()]
