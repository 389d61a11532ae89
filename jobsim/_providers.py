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
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import httpx

from ._email import Attachment, Email, Provider, parse_address, parse_addresses, random_uuid
from ._host import Host
from ._time import DAY, to_datetime

__all__ = ["Handled", "ProviderApis"]

Fields = dict[str, Any]
"""``Email`` keyword arguments other than ``provider``, ``message_id``, ``sent_at``."""

_RESEND_ADDRESS = ("The email address needs to follow the `email@example.com` or "
                   "`Name <email@example.com>` format.")
_SENDGRID_HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
_SENDGRID_FROM = (
    "The from object must be provided for every email send. It is an object that requires "
    'the email parameter, but may also contain a name parameter.  e.g. {"email" : '
    '"example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.'
)
_POSTMARK_NO_TOKEN = (
    "No Account or Server API tokens were supplied in the HTTP headers. Please add a header "
    "for either X-Postmark-Server-Token or X-Postmark-Account-Token."
)
_POSTMARK_INCOMPATIBLE = "Received valid, but incompatible JSON input."
_POSTMARK_PATHS = ("/email", "/email/batch", "/email/withTemplate", "/email/batchWithTemplates")
_MAILGUN_HOSTS = ("api.mailgun.net", "api.eu.mailgun.net")
_MAILGUN_PATH = re.compile(r"/v3/([^/]+)/messages")
_EASTERN = ZoneInfo("America/New_York")


@dataclass(frozen=True, slots=True)
class Handled:
    """The provider's answer, and the emails it accepted (none when it refused)."""

    response: httpx.Response
    emails: list[Email] = field(default_factory=list)


class _Refused(Exception):
    """Raised while decoding: the request gets ``response`` and sends nothing."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


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
        except _Refused as refusal:
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
        if not _bearer(request):
            raise _Refused(_resend_error(401, "missing_api_key",
                                         "Missing API key in the authorization header. Include "
                                         "the following header Authorization: Bearer "
                                         "YOUR_API_KEY in the request."))
        payload = _json_body(request, _resend_error(422, "validation_error", "Invalid JSON body."))
        key = request.headers.get("idempotency-key")
        if key is not None:
            replay = self._resend_replay(request.url.path, key, payload)
            if replay is not None:
                return Handled(_json_response(200, replay))
        if batch and (not isinstance(payload, list) or not 1 <= len(payload) <= 100):
            raise _Refused(_resend_error(422, "validation_error",
                                         "The batch must be an array of 1 to 100 emails."))
        items = payload if batch else [payload]
        drafts = [_resend_fields(item) for item in items]
        emails = [self._stamp("resend", str(random_uuid(self._host.job_rng())), fields)
                  for fields in drafts]
        ids = [{"id": email.message_id} for email in emails]
        body = {"data": ids} if batch else ids[0]
        if key is not None:
            expires = self._host.now_ns() + DAY
            self._idempotency[(request.url.path, key)] = _Remembered(expires, payload, body)
        return Handled(_json_response(200, body), emails)

    def _resend_replay(self, path: str, key: str, payload: Any) -> Any | None:
        """The remembered body for ``key``, ``None`` if unseen; raises on misuse."""
        if not 1 <= len(key) <= 256:
            raise _Refused(_resend_error(400, "invalid_idempotency_key",
                                         "The key must be between 1-256 chars."))
        remembered = self._idempotency.get((path, key))
        if remembered is None or remembered.expires_ns <= self._host.now_ns():
            return None
        if remembered.payload != payload:
            raise _Refused(_resend_error(409, "invalid_idempotent_request",
                                         "Same idempotency key used with a different request "
                                         "payload."))
        return remembered.body

    # -- SendGrid: POST https://api.sendgrid.com/v3/mail/send ------------------------

    def _sendgrid(self, request: httpx.Request) -> Handled:
        auth = request.headers.get("authorization")
        if not auth:
            raise _Refused(_sendgrid_error(401, [(None, "authorization required", None)]))
        if not _bearer(request):
            raise _Refused(_sendgrid_error(401, [(None, "The provided authorization grant is "
                                                  "invalid, expired, or revoked", None)]))
        payload = _json_body(request, _sendgrid_error(400, [(None, "Bad Request", None)]))
        if not isinstance(payload, dict):
            raise _Refused(_sendgrid_error(400, [(None, "Bad Request", None)]))
        problems: list[tuple[str | None, str, str | None]] = []
        drafts = _sendgrid_drafts(payload, problems)
        if problems:
            raise _Refused(_sendgrid_error(400, problems))
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
            raise _Refused(_postmark_error(401, 10, _POSTMARK_NO_TOKEN))
        payload = _json_body(request, _postmark_error(422, 402, "Received invalid JSON input."))
        templated = "emplate" in path
        if path in ("/email", "/email/withTemplate"):
            try:
                fields = _postmark_fields(payload, templated=templated)
            except _PostmarkInvalid as problem:
                raise _Refused(_postmark_error(422, problem.code, problem.message)) from None
            email, answer = self._postmark_send(payload, fields)
            return Handled(_json_response(200, answer), [email])
        messages = payload.get("Messages") if templated and isinstance(payload, dict) else payload
        if not isinstance(messages, list):
            raise _Refused(_postmark_error(422, 402, "Received invalid JSON input."))
        answers: list[dict[str, Any]] = []
        emails: list[Email] = []
        for item in messages:  # a batch answers 200 with one result per message
            try:
                fields = _postmark_fields(item, templated=templated)
            except _PostmarkInvalid as problem:
                answers.append({"ErrorCode": problem.code, "Message": problem.message})
                continue
            email, answer = self._postmark_send(item, fields)
            emails.append(email)
            answers.append(answer)
        return Handled(_json_response(200, answers), emails)

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
        if not _mailgun_authorized(request):
            raise _Refused(httpx.Response(401, text="Forbidden"))
        form, files = _form(request)
        fields = _mailgun_fields(form, files)
        if form.get("o:testmode", [""])[-1].lower() in ("yes", "true"):
            fields = {}  # accepted, never delivered: Mailgun's test mode
        now = to_datetime(self._host.now_ns())
        message_id = f"<{now:%Y%m%d%H%M%S}.{self._host.job_rng().getrandbits(64):016x}@{domain}>"
        answer = {"id": message_id, "message": "Queued. Thank you."}
        emails = [self._stamp("mailgun", message_id, fields)] if fields else []
        return Handled(_json_response(200, answer), emails)


# -- shared helpers --------------------------------------------------------------------


def _malformed(host: str) -> httpx.Response:
    """Each provider's answer to a body that is JSON but not of its schema's types."""
    if host == "api.resend.com":
        return _resend_error(422, "validation_error", "Invalid JSON body.")
    if host == "api.postmarkapp.com":  # 402 is for a body that is not JSON at all
        return _postmark_error(422, 403, _POSTMARK_INCOMPATIBLE)
    if host in _MAILGUN_HOSTS:
        return _json_response(400, {"message": "Invalid request"})
    return _sendgrid_error(400, [(None, "Bad Request", None)])


def _json_response(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, json=body)


def _json_body(request: httpx.Request, refusal: httpx.Response) -> Any:
    try:
        return json.loads(request.content)
    except ValueError:
        raise _Refused(refusal) from None


def _bearer(request: httpx.Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _string_map(value: Any) -> dict[str, str] | None:
    if value is None:
        return {}
    if not isinstance(value, dict):
        return None
    return {str(name): str(item) for name, item in value.items()}


def _json_type(value: Any) -> str:
    """The JSON-schema name of a decoded JSON value's type, as validators report it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    names = {int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def _decode_content(content: Any) -> bytes:
    """An attachment's content: base64 text, or a list of byte values (Node Buffers)."""
    if isinstance(content, list):
        return bytes(int(value) & 0xFF for value in content)
    if isinstance(content, str):
        try:
            return base64.b64decode(content)
        except (binascii.Error, ValueError):
            return content.encode()
    return b""


# -- Resend ------------------------------------------------------------------------------


def _resend_error(status: int, name: str, message: str) -> httpx.Response:
    return _json_response(status, {"statusCode": status, "name": name, "message": message})


def _resend_fields(item: Any) -> Fields:
    if not isinstance(item, dict):
        raise _Refused(_resend_error(422, "validation_error", "Each email must be an object."))
    required = ("from", "to") if "template" in item else ("from", "to", "subject")
    for name in required:
        if item.get(name) in (None, "", []):
            raise _Refused(_resend_error(422, "missing_required_field", f"Missing `{name}` field."))
    addresses = {name: _resend_addresses(item, name) for name in ("to", "cc", "bcc", "reply_to")}
    headers = _string_map(item.get("headers"))
    if headers is None:
        raise _Refused(_resend_error(422, "validation_error", "Invalid `headers` field."))
    template: dict[str, Any] = item["template"] if isinstance(item.get("template"), dict) else {}
    attachments = _resend_attachments(item.get("attachments"))
    return {"sender": _resend_addresses(item, "from")[0], **addresses,
            "subject": str(item.get("subject") or ""), "text": _text(item.get("text")),
            "html": _text(item.get("html")), "headers": headers, "attachments": attachments,
            "template": template.get("id"), "template_data": template.get("variables") or {}}


def _resend_attachments(value: Any) -> list[Attachment]:
    """An array of ``{filename, content | path, content_type}`` objects; anything else is refused."""
    invalid = _Refused(_resend_error(422, "validation_error", "Invalid `attachments` field."))
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(part, dict) for part in value):
        raise invalid
    found: list[Attachment] = []
    for part in value:
        content, path = part.get("content"), part.get("path")
        if content in (None, "", []) and not path:
            raise _Refused(_resend_error(422, "invalid_attachment",
                                         "Attachment must have either a `content` or `path`."))
        if not isinstance(content, (str, list, type(None))) or not isinstance(path, (str, type(None))):
            raise invalid
        found.append(Attachment(filename=str(part.get("filename") or ""),
                                content_type=str(part.get("content_type") or "application/octet-stream"),
                                content=_decode_content(content)))
    return found


def _resend_addresses(item: Mapping[str, Any], name: str) -> list[str]:
    try:
        if isinstance(item.get(name), Mapping):  # a string or an array of strings, never an object
            raise TypeError(name)
        found = [parse_address(item[name])] if name == "from" else parse_addresses(item.get(name))
    except (ValueError, TypeError):
        raise _Refused(_resend_error(422, "validation_error",
                                     f"Invalid `{name}` field. {_RESEND_ADDRESS}")) from None
    return found


# -- SendGrid ----------------------------------------------------------------------------


def _sendgrid_error(status: int,
                    problems: list[tuple[str | None, str, str | None]]) -> httpx.Response:
    errors = [{"message": message, "field": name,
               "help": f"{_SENDGRID_HELP}#message.{anchor}" if anchor else None}
              for name, message, anchor in problems]
    return _json_response(status, {"errors": errors})


Problems = list[tuple[str | None, str, str | None]]
"""SendGrid errors: (field, message, help anchor)."""


def _sendgrid_typed(value: Any, expected: str, where: str, anchor: str | None,
                    problems: Problems) -> bool:
    """Whether ``value`` has JSON type ``expected``; if not, SendGrid's schema error is added."""
    given = _json_type(value)
    if given == expected:
        return True
    problems.append((where, f"Invalid type. Expected: {expected}, given: {given}.", anchor))
    return False


def _sendgrid_people(value: Any, where: str, problems: Problems, *, array: bool,
                     anchor: str) -> list[str]:
    """Addresses of an array of ``{email, name}`` objects, or of one object (``array=False``)."""
    if value is None:
        return []
    if array and not _sendgrid_typed(value, "array", where, anchor, problems):
        return []
    found: list[str] = []
    for index, person in enumerate(value if array else [value]):
        spot = f"{where}.{index}" if array else where
        if not _sendgrid_typed(person, "object", spot, anchor, problems):
            continue
        email = person.get("email")
        if email is not None and not _sendgrid_typed(email, "string", f"{spot}.email", anchor,
                                                     problems):
            continue
        try:
            found.append(parse_address(str(email)))
        except ValueError:
            problems.append((f"{where}.{index}.email", "Does not contain a valid address.",
                             where.split(".")[0]))
    return found


def _sendgrid_attachments(value: Any, problems: Problems) -> list[Attachment]:
    if value is None or not _sendgrid_typed(value, "array", "attachments", "attachments",
                                            problems):
        return []
    found: list[Attachment] = []
    for index, part in enumerate(value):
        where = f"attachments.{index}"
        if not _sendgrid_typed(part, "object", where, "attachments", problems):
            continue
        if all(part.get(name) is None or _sendgrid_typed(part[name], "string", f"{where}.{name}",
                                                         "attachments", problems)
               for name in ("content", "filename", "type")):
            found.append(Attachment(filename=part.get("filename") or "",
                                    content_type=part.get("type") or "application/octet-stream",
                                    content=_decode_content(part.get("content"))))
    return found


def _sendgrid_drafts(payload: dict[str, Any],
                     problems: list[tuple[str | None, str, str | None]]) -> list[Fields]:
    template = _text(payload.get("template_id"))
    if not isinstance(payload.get("from"), dict):
        problems.append(("from", _SENDGRID_FROM, "from"))
        sender = ""
    else:
        sender = next(iter(_sendgrid_people(payload["from"], "from", problems, array=False,
                                            anchor="from")), "")
    text, html = _sendgrid_content(payload.get("content"), template, problems)
    reply_name = "reply_to_list" if payload.get("reply_to_list") is not None else "reply_to"
    reply_to = _sendgrid_people(payload.get(reply_name), reply_name, problems,
                                array=reply_name == "reply_to_list", anchor=reply_name)
    attachments = _sendgrid_attachments(payload.get("attachments"), problems)
    common: Fields = {"sender": sender, "reply_to": reply_to, "text": text, "html": html,
                      "attachments": attachments, "template": template}
    personalizations = payload.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        problems.append(("personalizations", "You must have at least one personalization.",
                         "personalizations"))
        return []
    return [_sendgrid_personalization(payload, index, item, common, problems)
            for index, item in enumerate(personalizations)]


def _sendgrid_personalization(payload: dict[str, Any], index: int, item: Any, common: Fields,
                              problems: list[tuple[str | None, str, str | None]]) -> Fields:
    where = f"personalizations.{index}"
    if not _sendgrid_typed(item, "object", where, None, problems):
        return {}
    if item.get("to") is None or item.get("to") == []:
        problems.append((f"{where}.to", "The to array is required for all personalization "
                         "objects, and must have at least one email object with a valid email "
                         "address.", "personalizations.to"))
    people = {name: _sendgrid_people(item.get(name), f"{where}.{name}", problems, array=True,
                                     anchor=f"personalizations.{name}")
              for name in ("to", "cc", "bcc")}
    seen: set[str] = set()
    for name in ("to", "cc", "bcc"):
        for address in people[name]:
            if address.lower() in seen:
                problems.append((where, "Each email address in the personalization block should "
                                 "be unique between to, cc, and bcc. We found the first duplicate "
                                 f"instance of [{address}] in the {where}.{name} field.",
                                 "personalizations"))
            seen.add(address.lower())
    subject = _text(item.get("subject")) or _text(payload.get("subject"))
    if not subject and not common["template"]:
        problems.append(("subject", "The subject is required. You can get around this "
                         "requirement if you use a template with a subject defined or if every "
                         "personalization has a subject defined.", "subject"))
    headers = {**(_string_map(payload.get("headers")) or {}),
               **(_string_map(item.get("headers")) or {})}
    return {**common, **people, "subject": subject or "", "headers": headers,
            "template_data": item.get("dynamic_template_data") or {}}


def _sendgrid_content(content: Any, template: str | None,
                      problems: list[tuple[str | None, str, str | None]]
                      ) -> tuple[str | None, str | None]:
    if not content:
        if not template:
            problems.append(("content", "Unless a valid template_id is provided, the content "
                             "parameter is required. There must be at least one defined content "
                             "block. We typically suggest both text/plain and text/html blocks "
                             "are included, but only one block is required.", "content"))
        return None, None
    blocks = content if isinstance(content, list) else []
    found: dict[str, str] = {}
    for index, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        value = block.get("value") if isinstance(block, dict) else None
        if not isinstance(value, str) or not value:
            problems.append((f"content.{index}.value", "The content value must be a string at "
                             "least one character in length.", "content.value"))
        elif kind == "text/plain" and index != 0:
            problems.append((f"content.{index}.type", "If present, text/plain must be first, "
                             "followed by text/html, followed by any other content.",
                             "content.type"))
        elif isinstance(kind, str):
            found.setdefault(kind, value)
    return found.get("text/plain"), found.get("text/html")


# -- Postmark ----------------------------------------------------------------------------


class _PostmarkInvalid(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _postmark_error(status: int, code: int, message: str) -> httpx.Response:
    return _json_response(status, {"ErrorCode": code, "Message": message})


def _postmark_addresses(item: Mapping[str, Any], name: str) -> list[str]:
    """A comma-separated string. Postmark's JSON reader turns numbers into text (then refuses
    the address) but cannot read an array or an object into a string field."""
    value = item.get(name)
    if isinstance(value, (list, dict)):
        raise _PostmarkInvalid(403, _POSTMARK_INCOMPATIBLE)
    if isinstance(value, (int, float)):
        value = str(value)
    for piece in (value.split(",") if isinstance(value, str) else []):
        try:
            parse_addresses(piece)
        except ValueError:
            raise _PostmarkInvalid(300, f"Error parsing '{name}': Illegal email address "
                                        f"'{piece.strip()}'. It must contain the '@' "
                                        "symbol.") from None
    return parse_addresses(value if isinstance(value, str) else None)


def _postmark_objects(item: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    """``Headers``/``Attachments``: an array of objects, or absent."""
    value = item.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(part, dict) for part in value):
        raise _PostmarkInvalid(403, _POSTMARK_INCOMPATIBLE)
    return value


def _postmark_fields(item: Any, *, templated: bool) -> Fields:
    if not isinstance(item, dict):
        raise _PostmarkInvalid(402, "Received invalid JSON input.")
    if not _text(item.get("From")):
        raise _PostmarkInvalid(300, "Invalid 'From' value.")
    sender = _postmark_addresses(item, "From")
    if not sender:  # " " or ",": text, but no address in it
        raise _PostmarkInvalid(300, "Invalid 'From' value.")
    people = {name.lower(): _postmark_addresses(item, name) for name in ("To", "Cc", "Bcc")}
    if not any(people.values()):
        raise _PostmarkInvalid(300, "Zero recipients specified")
    template = item.get("TemplateAlias") or item.get("TemplateId")
    if templated and template is None:
        raise _PostmarkInvalid(1101, "The 'TemplateId' or 'TemplateAlias' must be specified.")
    text, html = _text(item.get("TextBody")), _text(item.get("HtmlBody"))
    if not templated and not text and not html:
        raise _PostmarkInvalid(300, "Provide either email TextBody or HtmlBody or both.")
    headers = {str(h.get("Name")): str(h.get("Value")) for h in _postmark_objects(item, "Headers")}
    parts = _postmark_objects(item, "Attachments")
    if any(not isinstance(part.get("Content"), (str, type(None))) for part in parts):
        raise _PostmarkInvalid(403, _POSTMARK_INCOMPATIBLE)  # base64 text, not bytes as numbers
    attachments = [
        Attachment(filename=str(part.get("Name") or ""),
                   content_type=str(part.get("ContentType") or "application/octet-stream"),
                   content=_decode_content(part.get("Content")))
        for part in parts
    ]
    return {"sender": sender[0], **people, "reply_to": _postmark_addresses(item, "ReplyTo"),
            "subject": str(item.get("Subject") or ""), "text": text, "html": html,
            "headers": headers, "attachments": attachments,
            "template": None if template is None else str(template),
            "template_data": item.get("TemplateModel") or {}}


# -- Mailgun -----------------------------------------------------------------------------


def _mailgun_authorized(request: httpx.Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        user, _, key = base64.b64decode(token).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeError, ValueError):
        return False
    return scheme.lower() == "basic" and user == "api" and bool(key)


def _mailgun_error(message: str) -> _Refused:
    return _Refused(_json_response(400, {"message": message}))


def _mailgun_fields(form: dict[str, list[str]], files: list[Attachment]) -> Fields:
    if not form.get("from"):
        raise _mailgun_error("'from' parameter is missing")
    if not form.get("to"):
        raise _mailgun_error("'to' parameter is missing")
    people: dict[str, list[str]] = {}
    for name in ("from", "to", "cc", "bcc", "h:Reply-To"):
        try:
            people[name] = parse_addresses(form.get(name, []))
        except ValueError:
            raise _mailgun_error(f"'{name}' parameter is not a valid address. please check "
                                 "documentation") from None
    text, html = form.get("text", [None])[-1], form.get("html", [None])[-1]
    template = form.get("template", [None])[-1]
    if text is None and html is None and template is None:
        raise _mailgun_error("Need at least one of 'text' or 'html' parameters specified")
    headers = {name[2:]: values[-1] for name, values in form.items() if name.startswith("h:")}
    variables = form.get("t:variables") or form.get("h:X-Mailgun-Variables") or ["{}"]
    try:
        template_data = json.loads(variables[-1])
    except ValueError:
        raise _mailgun_error("'t:variables' parameter is not a valid JSON") from None
    return {"sender": people["from"][0] if people["from"] else "", "to": people["to"],
            "cc": people["cc"], "bcc": people["bcc"], "reply_to": people["h:Reply-To"],
            "subject": form.get("subject", [""])[-1], "text": text, "html": html,
            "headers": headers, "attachments": files, "template": template,
            "template_data": template_data if isinstance(template_data, dict) else {}}


def _form(request: httpx.Request) -> tuple[dict[str, list[str]], list[Attachment]]:
    """Form fields (repeatable) and uploaded files, from urlencoded or multipart bodies."""
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        return _multipart(content_type, request.content)
    form: dict[str, list[str]] = {}
    for name, value in parse_qsl(request.content.decode("utf-8", "replace"),
                                 keep_blank_values=True):
        form.setdefault(name, []).append(value)
    return form, []


_PARAM = re.compile(r'(\w+)\*?="((?:[^"\\]|\\.)*)"|(\w+)=([^;\s]+)')


def _params(header: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for quoted_name, quoted, bare_name, bare in _PARAM.findall(header):
        found[(quoted_name or bare_name).lower()] = quoted if quoted_name else bare
    return found


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, list[str]], list[Attachment]]:
    boundary = _params(content_type).get("boundary", "")
    form: dict[str, list[str]] = {}
    files: list[Attachment] = []
    for chunk in body.split(b"--" + boundary.encode("latin-1"))[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        params = _params(headers.get("content-disposition", ""))
        if "filename" in params:
            files.append(Attachment(filename=params["filename"], content=content,
                                    content_type=headers.get("content-type",
                                                             "application/octet-stream")))
        elif "name" in params:
            form.setdefault(params["name"], []).append(content.decode("utf-8", "replace"))
    return form, files

