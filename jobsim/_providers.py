"""Mail providers' HTTP APIs, decoded into ``Email`` and answered like the real ones.

A job that sends mail through Resend, SendGrid, Postmark or Mailgun with httpx
must see what production would answer, or its error handling is tested against
fiction: the exact success shape (SendGrid's empty 202 with ``X-Message-Id``,
Postmark's ``SubmittedAt`` in US Eastern time), the validation errors for a
missing field, the 401 for a missing key, Resend's idempotency keys (same key and
same payload within 24 h of virtual time: the first answer again, no second
email). Formats follow each provider's public API reference and the messages
these APIs are observed to return; the few answers to bodies that are not JSON
at all, Postmark's missing-template error and Resend's ``Invalid `attachments`
field.``, are jobsim's own wording in the provider's shape.

Fields of the wrong JSON type are refused as each API's validator does: SendGrid's
JSON-schema errors (``Invalid type. Expected: array, given: object.`` on
``personalizations.0.to``), Postmark's 403 "incompatible JSON" (its recipients are
comma-separated strings, so an array does not deserialize), Resend's 422.

Only the sending endpoints are decoded; anything else on these hosts is not
handled (``None``) and surfaces as an unmatched request, so a test adds a route.
Any non-empty key is accepted: jobsim cannot know which keys are valid.
IDs come from the simulation's generator, so the same seed gives the same IDs.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from ._email import Email, Provider, random_uuid
from ._host import Host
from ._mailfields import (
    POSTMARK_INCOMPATIBLE,
    PostmarkInvalid,
    form_of,
    mailgun_authorized,
    mailgun_fields,
    postmark_error,
    postmark_fields,
    resend_error,
    resend_fields,
)
from ._mailkit import Fields, Refused, has_bearer, json_body, json_response
from ._mailsendgrid import sendgrid_drafts, sendgrid_error
from ._time import DAY, to_datetime

__all__ = ["Handled", "ProviderApis"]

_POSTMARK_NO_TOKEN = (
    "No Account or Server API tokens were supplied in the HTTP headers. Please add a header "
    "for either X-Postmark-Server-Token or X-Postmark-Account-Token."
)
_POSTMARK_PATHS = ("/email", "/email/batch", "/email/withTemplate", "/email/batchWithTemplates")
_MAILGUN_HOSTS = ("api.mailgun.net", "api.eu.mailgun.net")
_MAILGUN_PATH = re.compile(r"/v3/([^/]+)/messages")
_EASTERN = ZoneInfo("America/New_York")


@dataclass(frozen=True, slots=True)
class Handled:
    """The provider's answer, and the emails it accepted (none when it refused)."""

    response: httpx.Response
    emails: list[Email] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Remembered:
    """A Resend answer kept for its idempotency key until ``expires_ns``."""

    expires_ns: int
    payload: Any
    body: Any


class ProviderApis:
    """Routes a request to the provider that owns its URL; one per simulation."""

    def __init__(self, host: Host) -> None:
        self._host = host
        self._idempotency: dict[tuple[str, str], _Remembered] = {}

    def handle(self, request: httpx.Request) -> Handled | None:
        """The provider's answer to ``request``, or ``None`` if no provider owns its URL."""
        endpoint = self._endpoint(request)
        if endpoint is None:
            return None
        try:
            return endpoint(request)
        except Refused as refusal:
            return Handled(refusal.response)
        except (TypeError, AttributeError, ValueError):
            # A field of the wrong JSON type ("Headers": 5, "sandbox_mode": true) that the
            # decoders above do not check one by one: the provider's schema validation
            # refuses the request, so the job sees that answer, not a Python error.
            return Handled(_malformed(request.url.host))

    def _endpoint(self, request: httpx.Request) -> Callable[[httpx.Request], Handled] | None:
        host, path = request.url.host, request.url.path
        if request.method != "POST":
            return None
        if host == "api.resend.com" and path in ("/emails", "/emails/batch"):
            return partial(self._resend, batch=path == "/emails/batch")
        if host in ("api.sendgrid.com", "api.eu.sendgrid.com") and path == "/v3/mail/send":
            return self._sendgrid
        if host == "api.postmarkapp.com" and path in _POSTMARK_PATHS:
            return partial(self._postmark, path=path)
        match = _MAILGUN_PATH.fullmatch(path)
        if host in _MAILGUN_HOSTS and match is not None:
            return partial(self._mailgun, domain=match.group(1))
        return None

    def _stamp(self, provider: Provider, message_id: str, fields: Fields) -> Email:
        if not isinstance(fields.get("template_data", {}), Mapping):
            raise TypeError("template data must be a JSON object")  # refused by handle()
        sent_at = to_datetime(self._host.now_ns())
        return Email(provider=provider, message_id=message_id, sent_at=sent_at, **fields)

    # -- Resend: POST https://api.resend.com/emails and /emails/batch ---------------

    def _resend(self, request: httpx.Request, *, batch: bool) -> Handled:
        if not has_bearer(request):
            raise Refused(resend_error(401, "missing_api_key",
                                       "Missing API key in the authorization header. Include "
                                       "the following header Authorization: Bearer "
                                       "YOUR_API_KEY in the request."))
        payload = json_body(request, resend_error(422, "validation_error", "Invalid JSON body."))
        key = request.headers.get("idempotency-key")
        if key is not None:
            replay = self._resend_replay(request.url.path, key, payload)
            if replay is not None:
                return Handled(json_response(200, replay))
        if batch and (not isinstance(payload, list) or not 1 <= len(payload) <= 100):
            raise Refused(resend_error(422, "validation_error",
                                       "The batch must be an array of 1 to 100 emails."))
        items = payload if batch else [payload]
        drafts = [resend_fields(item) for item in items]
        emails = [self._stamp("resend", str(random_uuid(self._host.job_rng())), fields)
                  for fields in drafts]
        ids = [{"id": email.message_id} for email in emails]
        body = {"data": ids} if batch else ids[0]
        if key is not None:
            expires = self._host.now_ns() + DAY
            self._idempotency[(request.url.path, key)] = _Remembered(expires, payload, body)
        return Handled(json_response(200, body), emails)

    def _resend_replay(self, path: str, key: str, payload: Any) -> Any | None:
        """The remembered body for ``key``, ``None`` if unseen; raises on misuse."""
        if not 1 <= len(key) <= 256:
            raise Refused(resend_error(400, "invalid_idempotency_key",
                                       "The key must be between 1-256 chars."))
        remembered = self._idempotency.get((path, key))
        if remembered is None or remembered.expires_ns <= self._host.now_ns():
            return None
        if remembered.payload != payload:
            raise Refused(resend_error(409, "invalid_idempotent_request",
                                       "Same idempotency key used with a different request "
                                       "payload."))
        return remembered.body

    # -- SendGrid: POST https://api.sendgrid.com/v3/mail/send ------------------------

    def _sendgrid(self, request: httpx.Request) -> Handled:
        auth = request.headers.get("authorization")
        if not auth:
            raise Refused(sendgrid_error(401, [(None, "authorization required", None)]))
        if not has_bearer(request):
            raise Refused(sendgrid_error(401, [(None, "The provided authorization grant is "
                                                "invalid, expired, or revoked", None)]))
        payload = json_body(request, sendgrid_error(400, [(None, "Bad Request", None)]))
        if not isinstance(payload, dict):
            raise Refused(sendgrid_error(400, [(None, "Bad Request", None)]))
        problems: list[tuple[str | None, str, str | None]] = []
        drafts = sendgrid_drafts(payload, problems)
        if problems:
            raise Refused(sendgrid_error(400, problems))
        settings = payload.get("mail_settings") or {}
        if isinstance(settings, dict) and (settings.get("sandbox_mode") or {}).get("enable"):
            return Handled(httpx.Response(200))  # validated, not sent: SendGrid's sandbox
        raw = self._host.job_rng().getrandbits(128).to_bytes(16, "big")
        message_id = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
        emails = [self._stamp("sendgrid", message_id, fields) for fields in drafts]
        return Handled(httpx.Response(202, headers={"X-Message-Id": message_id}), emails)

    # -- Postmark: POST https://api.postmarkapp.com/email (and batch, templates) -----

    def _postmark(self, request: httpx.Request, *, path: str) -> Handled:
        if not request.headers.get("x-postmark-server-token", "").strip():
            raise Refused(postmark_error(401, 10, _POSTMARK_NO_TOKEN))
        payload = json_body(request, postmark_error(422, 402, "Received invalid JSON input."))
        templated = "emplate" in path
        if path in ("/email", "/email/withTemplate"):
            try:
                fields = postmark_fields(payload, templated=templated)
            except PostmarkInvalid as problem:
                raise Refused(postmark_error(422, problem.code, problem.message)) from None
            email, answer = self._postmark_send(payload, fields)
            return Handled(json_response(200, answer), [email])
        messages = payload.get("Messages") if templated and isinstance(payload, dict) else payload
        if not isinstance(messages, list):
            raise Refused(postmark_error(422, 402, "Received invalid JSON input."))
        answers: list[dict[str, Any]] = []
        emails: list[Email] = []
        for item in messages:  # a batch answers 200 with one result per message
            try:
                fields = postmark_fields(item, templated=templated)
            except PostmarkInvalid as problem:
                answers.append({"ErrorCode": problem.code, "Message": problem.message})
                continue
            email, answer = self._postmark_send(item, fields)
            emails.append(email)
            answers.append(answer)
        return Handled(json_response(200, answers), emails)

    def _postmark_send(self, payload: Mapping[str, Any], fields: Fields) -> tuple[Email, Any]:
        email = self._stamp("postmark", str(random_uuid(self._host.job_rng())), fields)
        submitted = email.sent_at.astimezone(_EASTERN)
        stamp = submitted.strftime("%Y-%m-%dT%H:%M:%S") + f".{submitted.microsecond:06d}0"
        offset = submitted.strftime("%z")
        answer = {"To": payload.get("To") or "", "SubmittedAt": f"{stamp}{offset[:3]}:{offset[3:]}",
                  "MessageID": email.message_id, "ErrorCode": 0, "Message": "OK"}
        return email, answer

    # -- Mailgun: POST https://api.mailgun.net/v3/<domain>/messages ------------------

    def _mailgun(self, request: httpx.Request, *, domain: str) -> Handled:
        if not mailgun_authorized(request):
            raise Refused(httpx.Response(401, text="Forbidden"))
        form, files = form_of(request)
        fields = mailgun_fields(form, files)
        if form.get("o:testmode", [""])[-1].lower() in ("yes", "true"):
            fields = {}  # accepted, never delivered: Mailgun's test mode
        now = to_datetime(self._host.now_ns())
        message_id = f"<{now:%Y%m%d%H%M%S}.{self._host.job_rng().getrandbits(64):016x}@{domain}>"
        answer = {"id": message_id, "message": "Queued. Thank you."}
        emails = [self._stamp("mailgun", message_id, fields)] if fields else []
        return Handled(json_response(200, answer), emails)


def _malformed(host: str) -> httpx.Response:
    """Each provider's answer to a body that is JSON but not of its schema's types."""
    if host == "api.resend.com":
        return resend_error(422, "validation_error", "Invalid JSON body.")
    if host == "api.postmarkapp.com":  # 402 is for a body that is not JSON at all
        return postmark_error(422, 403, POSTMARK_INCOMPATIBLE)
    if host in _MAILGUN_HOSTS:
        return json_response(400, {"message": "Invalid request"})
    return sendgrid_error(400, [(None, "Bad Request", None)])
