"""SendGrid's ``POST /v3/mail/send`` decoded into ``Email`` fields (``sendgrid_drafts``: one per
personalization) with SendGrid's own validation errors, JSON-schema type errors included (``sendgrid_error``)."""

from __future__ import annotations

from typing import Any

import httpx

from ._email import Attachment, parse_address
from ._mailkit import Fields, decode_content, json_response, json_type, string_map, text_or_none

_SENDGRID_HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
_SENDGRID_FROM = (
    "The from object must be provided for every email send. It is an object that requires "
    'the email parameter, but may also contain a name parameter.  e.g. {"email" : '
    '"example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.'
)


def sendgrid_error(status: int,
                   problems: list[tuple[str | None, str, str | None]]) -> httpx.Response:
    errors = [{"message": message, "field": name,
               "help": f"{_SENDGRID_HELP}#message.{anchor}" if anchor else None}
              for name, message, anchor in problems]
    return json_response(status, {"errors": errors})


Problems = list[tuple[str | None, str, str | None]]
"""SendGrid errors: (field, message, help anchor)."""


def _sendgrid_typed(value: Any, expected: str, where: str, anchor: str | None,
                    problems: Problems) -> bool:
    """Whether ``value`` has JSON type ``expected``; if not, SendGrid's schema error is added."""
    given = json_type(value)
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
                                    content=decode_content(part.get("content"))))
    return found


def sendgrid_drafts(payload: dict[str, Any],
                    problems: list[tuple[str | None, str, str | None]]) -> list[Fields]:
    template = text_or_none(payload.get("template_id"))
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
    subject = text_or_none(item.get("subject")) or text_or_none(payload.get("subject"))
    if not subject and not common["template"]:
        problems.append(("subject", "The subject is required. You can get around this "
                         "requirement if you use a template with a subject defined or if every "
                         "personalization has a subject defined.", "subject"))
    headers = {**(string_map(payload.get("headers")) or {}),
               **(string_map(item.get("headers")) or {})}
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


