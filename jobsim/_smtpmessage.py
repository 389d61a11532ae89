"""An SMTP message the server accepted, decoded into an ``Email``: the envelope decides who received it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from ._email import Attachment, Email, normalise_newlines, parse_addresses

__all__ = ["parse_message"]


def parse_message(mail_from: str, rcpts: list[str], data: bytes, *,
                  sent_at: dt.datetime, new_id: Callable[[], uuid.UUID]) -> Email:
    """An accepted DATA -> ``Email``, delivered to the envelope's accepted recipients (``rcpts``) only.

    SMTP delivers to RCPT TO, not to the headers: ``to``/``cc`` are the To/Cc addresses the envelope
    names, ``bcc`` the envelope recipients in neither. A To, Cc or Bcc address the envelope lacks
    (``sendmail(sender, [customer], msg)`` with more in the headers, or a recipient the server refused)
    received nothing, so it is in none of them; a Bcc header left in the message stays in ``headers``,
    as every recipient got it. ``new_id`` is only called when the message carries no ``Message-ID`` header.
    """
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    to, cc, bcc = _recipients(message, rcpts)
    senders = _header_addresses(message, "From")
    message_id = str(message.get("Message-ID") or "").strip() or f"<{new_id().hex}@jobsim>"
    return Email(
        sender=senders[0] if senders else mail_from, to=to, cc=cc, bcc=bcc,
        reply_to=_header_addresses(message, "Reply-To"),
        subject=str(message.get("Subject") or ""),
        text=_body(message, "plain"), html=_body(message, "html"),
        headers=_headers(message), attachments=_attachments(message),
        sent_at=sent_at, provider="smtp", message_id=message_id,
    )


def _recipients(message: EmailMessage, rcpts: list[str]) -> tuple[list[str], list[str], list[str]]:
    """``to``, ``cc`` and ``bcc``: the To and Cc addresses the envelope names, then the envelope's others."""
    delivered = {address.lower() for address in rcpts}
    to = [address for address in _header_addresses(message, "To") if address.lower() in delivered]
    cc = [address for address in _header_addresses(message, "Cc") if address.lower() in delivered]
    shown = {address.lower() for address in (*to, *cc)}
    bcc: list[str] = []
    for address in rcpts:
        if address.lower() not in shown:
            shown.add(address.lower())
            bcc.append(address)
    return to, cc, bcc


def _header_addresses(message: EmailMessage, name: str) -> list[str]:
    values = [str(value) for value in message.get_all(name, [])]
    try:
        return parse_addresses(values)
    except ValueError:
        return [value for value in values if value]


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    content = part.get_content()
    return normalise_newlines(content) if isinstance(content, str) else None


def _headers(message: EmailMessage) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in message.items():
        headers[name] = f"{headers[name]}, {value}" if name in headers else str(value)
    return headers


def _attachments(message: EmailMessage) -> list[Attachment]:
    found = []
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        found.append(Attachment(
            filename=part.get_filename() or "", content_type=part.get_content_type(),
            content=payload if isinstance(payload, bytes) else b"",
        ))
    return found
