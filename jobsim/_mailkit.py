"""What the mail providers' decoders share (``_providers``): the ``Email`` fields they build (``Fields``),
the refusal a decoder raises (``Refused``), JSON bodies and answers, the bearer key, and values checked
or decoded the way every provider reads them (text, string maps, JSON type names, attachment content)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import httpx

Fields = dict[str, Any]
"""``Email`` keyword arguments other than ``provider``, ``message_id``, ``sent_at``."""


class Refused(Exception):
    """Raised while decoding: the request gets ``response`` and sends nothing."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def json_response(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, json=body)


def json_body(request: httpx.Request, refusal: httpx.Response) -> Any:
    try:
        return json.loads(request.content)
    except (ValueError, RecursionError):  # nested past the recursion limit: a RecursionError in the job
        raise Refused(refusal) from None


def has_bearer(request: httpx.Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def string_map(value: Any) -> dict[str, str] | None:
    if value is None:
        return {}
    if not isinstance(value, dict):
        return None
    return {str(name): str(item) for name, item in value.items()}


def json_type(value: Any) -> str:
    """The JSON-schema name of a decoded JSON value's type, as validators report it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    names = {int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def decode_content(content: Any) -> bytes:
    """An attachment's content: base64 text, or a list of byte values (Node Buffers)."""
    if isinstance(content, list):
        return bytes(int(value) & 0xFF for value in content)
    if isinstance(content, str):
        try:
            return base64.b64decode(content)
        except (binascii.Error, ValueError):
            return content.encode()
    return b""


