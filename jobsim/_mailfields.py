"""Resend's, Postmark's and Mailgun's sending requests decoded into ``Email`` fields, refused as each
provider refuses them (``resend_fields``, ``postmark_fields``, ``mailgun_fields`` with ``form_of`` for
Mailgun's urlencoded or multipart form)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import httpx

from ._email import Attachment, parse_address, parse_addresses
from ._mailkit import Fields, Refused, decode_content, json_response, string_map, text_or_none

_RESEND_ADDRESS = ("The email address needs to follow the `email@example.com` or "
                   "`Name <email@example.com>` format.")
POSTMARK_INCOMPATIBLE = "Received valid, but incompatible JSON input."


# -- Resend ------------------------------------------------------------------------------


def resend_error(status: int, name: str, message: str) -> httpx.Response:
    return json_response(status, {"statusCode": status, "name": name, "message": message})


def resend_fields(item: Any) -> Fields:
    if not isinstance(item, dict):
        raise Refused(resend_error(422, "validation_error", "Each email must be an object."))
    required = ("from", "to") if "template" in item else ("from", "to", "subject")
    for name in required:
        if item.get(name) in (None, "", []):
            raise Refused(resend_error(422, "missing_required_field", f"Missing `{name}` field."))
    addresses = {name: _resend_addresses(item, name) for name in ("to", "cc", "bcc", "reply_to")}
    headers = string_map(item.get("headers"))
    if headers is None:
        raise Refused(resend_error(422, "validation_error", "Invalid `headers` field."))
    template: dict[str, Any] = item["template"] if isinstance(item.get("template"), dict) else {}
    attachments = _resend_attachments(item.get("attachments"))
    return {"sender": _resend_addresses(item, "from")[0], **addresses,
            "subject": str(item.get("subject") or ""), "text": text_or_none(item.get("text")),
            "html": text_or_none(item.get("html")), "headers": headers, "attachments": attachments,
            "template": template.get("id"), "template_data": template.get("variables") or {}}


def _resend_attachments(value: Any) -> list[Attachment]:
    """An array of ``{filename, content | path, content_type}`` objects; anything else is refused."""
    invalid = Refused(resend_error(422, "validation_error", "Invalid `attachments` field."))
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(part, dict) for part in value):
        raise invalid
    found: list[Attachment] = []
    for part in value:
        content, path = part.get("content"), part.get("path")
        if content in (None, "", []) and not path:
            raise Refused(resend_error(422, "invalid_attachment",
                                       "Attachment must have either a `content` or `path`."))
        if not isinstance(content, (str, list, type(None))) or not isinstance(path, (str, type(None))):
            raise invalid
        found.append(Attachment(filename=str(part.get("filename") or ""),
                                content_type=str(part.get("content_type") or "application/octet-stream"),
                                content=decode_content(content)))
    return found


def _resend_addresses(item: Mapping[str, Any], name: str) -> list[str]:
    try:
        if isinstance(item.get(name), Mapping):  # a string or an array of strings, never an object
            raise TypeError(name)
        found = [parse_address(item[name])] if name == "from" else parse_addresses(item.get(name))
    except (ValueError, TypeError):
        raise Refused(resend_error(422, "validation_error",
                                   f"Invalid `{name}` field. {_RESEND_ADDRESS}")) from None
    return found


# -- Postmark ----------------------------------------------------------------------------


class PostmarkInvalid(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def postmark_error(status: int, code: int, message: str) -> httpx.Response:
    return json_response(status, {"ErrorCode": code, "Message": message})


def _postmark_addresses(item: Mapping[str, Any], name: str) -> list[str]:
    """A comma-separated string. Postmark's JSON reader turns numbers into text (then refuses
    the address) but cannot read an array or an object into a string field."""
    value = item.get(name)
    if isinstance(value, (list, dict)):
        raise PostmarkInvalid(403, POSTMARK_INCOMPATIBLE)
    if isinstance(value, (int, float)):
        value = str(value)
    for piece in (value.split(",") if isinstance(value, str) else []):
        try:
            parse_addresses(piece)
        except ValueError:
            raise PostmarkInvalid(300, f"Error parsing '{name}': Illegal email address "
                                       f"'{piece.strip()}'. It must contain the '@' "
                                       "symbol.") from None
    return parse_addresses(value if isinstance(value, str) else None)


def _postmark_objects(item: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    """``Headers``/``Attachments``: an array of objects, or absent."""
    value = item.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(part, dict) for part in value):
        raise PostmarkInvalid(403, POSTMARK_INCOMPATIBLE)
    return value


def postmark_fields(item: Any, *, templated: bool) -> Fields:
    if not isinstance(item, dict):
        raise PostmarkInvalid(402, "Received invalid JSON input.")
    if not text_or_none(item.get("From")):
        raise PostmarkInvalid(300, "Invalid 'From' value.")
    sender = _postmark_addresses(item, "From")
    if not sender:  # " " or ",": text, but no address in it
        raise PostmarkInvalid(300, "Invalid 'From' value.")
    people = {name.lower(): _postmark_addresses(item, name) for name in ("To", "Cc", "Bcc")}
    if not any(people.values()):
        raise PostmarkInvalid(300, "Zero recipients specified")
    template = item.get("TemplateAlias") or item.get("TemplateId")
    if templated and template is None:
        raise PostmarkInvalid(1101, "The 'TemplateId' or 'TemplateAlias' must be specified.")
    text, html = text_or_none(item.get("TextBody")), text_or_none(item.get("HtmlBody"))
    if not templated and not text and not html:
        raise PostmarkInvalid(300, "Provide either email TextBody or HtmlBody or both.")
    headers = {str(h.get("Name")): str(h.get("Value")) for h in _postmark_objects(item, "Headers")}
    parts = _postmark_objects(item, "Attachments")
    if any(not isinstance(part.get("Content"), (str, type(None))) for part in parts):
        raise PostmarkInvalid(403, POSTMARK_INCOMPATIBLE)  # base64 text, not bytes as numbers
    attachments = [
        Attachment(filename=str(part.get("Name") or ""),
                   content_type=str(part.get("ContentType") or "application/octet-stream"),
                   content=decode_content(part.get("Content")))
        for part in parts
    ]
    return {"sender": sender[0], **people, "reply_to": _postmark_addresses(item, "ReplyTo"),
            "subject": str(item.get("Subject") or ""), "text": text, "html": html,
            "headers": headers, "attachments": attachments,
            "template": None if template is None else str(template),
            "template_data": item.get("TemplateModel") or {}}


# -- Mailgun -----------------------------------------------------------------------------


def mailgun_authorized(request: httpx.Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        user, _, key = base64.b64decode(token).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeError, ValueError):
        return False
    return scheme.lower() == "basic" and user == "api" and bool(key)


def _mailgun_error(message: str) -> Refused:
    return Refused(json_response(400, {"message": message}))


def mailgun_fields(form: dict[str, list[str]], files: list[Attachment]) -> Fields:
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
    except (ValueError, RecursionError):
        raise _mailgun_error("'t:variables' parameter is not a valid JSON") from None
    return {"sender": people["from"][0] if people["from"] else "", "to": people["to"],
            "cc": people["cc"], "bcc": people["bcc"], "reply_to": people["h:Reply-To"],
            "subject": form.get("subject", [""])[-1], "text": text, "html": html,
            "headers": headers, "attachments": files, "template": template,
            "template_data": template_data if isinstance(template_data, dict) else {}}


def form_of(request: httpx.Request) -> tuple[dict[str, list[str]], list[Attachment]]:
    """Form fields (repeatable) and uploaded files, from urlencoded or multipart bodies."""
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        return _multipart(content_type, request.content)
    form: dict[str, list[str]] = {}
    for name, value in parse_qsl(request.content.decode("utf-8", "replace"),
                                 keep_blank_values=True):
        form.setdefault(name, []).append(value)
    return form, []


# a name starts where a word does: a match starting inside one starts at its first letter too, and a scan trying
# every start of a long word with no "=" after it was quadratic in the word
_PARAM = re.compile(r'(?<!\w)(\w+)\*?="((?:[^"\\]|\\.)*)"|(?<!\w)(\w+)=([^;\s]+)')


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

