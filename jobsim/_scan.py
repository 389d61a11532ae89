"""``jobsim scan``: the guard to run before a trace is committed or uploaded.

It reads the file as text and JSON, not through the codec, so it also checks
traces written by other tools or edited by hand, and reports every value that
still looks secret: a secret-named header or field with a value, a credential
pattern anywhere (the ones redaction drops), a secret URL query parameter, or a
long random-looking token (not a Stripe object's id, which redaction keeps). What jobsim's own redaction
writes is not flagged: the header's policy (``{"ssn": "drop"}``), ``Bearer [redacted]``.
With ``pii=True`` it also reports email addresses at
real domains and phone numbers (personal data left in clear). Phone numbers are not
reported in a trace whose header says its personal data was pseudonymized: redaction
fakes every number this same detector finds (``jobsim._secrets.PHONE``), and its fakes
have a real number's shape, unlike fake email addresses, which are at reserved domains.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from ._checks import keywords_checked
from ._pseudonyms import reserved_domain
from ._redactpolicy import ACTIONS
from ._redacttext import json_in, json_string_in
from ._secrets import (
    MARKER,
    PHONE,
    PHONE_HINT,
    QUERY_PARAM,
    card_number_key,
    card_object,
    email_address,
    email_cut,
    email_matches,
    find_secrets,
    phone_number,
    secret_header,
    secret_key,
    secret_query,
)
from ._tracefile import _path
from ._tracereader import BOM, GZIP_ERRORS, UTF16_BOMS, open_trace
from .errors import InvalidArgument, TraceError, TraceWarning

_TOKEN = re.compile(r"[A-Za-z0-9+/_=-]{24,512}")
_PII = frozenset({"email", "phone"})
_STRIPE_ID = re.compile(
    r"(?:acct|ba|bpc|card|ch|cn|cs|cus|dp|du|evt|file|ii|il|in|ipi|link|pi|pm|po|plink|price|prod|promo|py|pyr|"
    r"req|seti|setatt|si|src|sub|sub_sched|tok|tr|txn|txr)_(?:live_|test_)?[A-Za-z0-9]{8,}"
)
"""A Stripe object's id (``pi_3Mtw...``, ``cus_...``, ``evt_...``): random-looking, but an identifier, not a secret
(Stripe's secrets, ``sk_``, ``rk_``, ``whsec_``, are credential patterns); redaction keeps them, so scan does too."""
_NOT_TOKENS = ("id", "run", "child", "message_id", "sha256", "key_fp", "base64", "excerpt")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One secret-looking value: where it is and why it was flagged (the value is masked)."""

    line: int
    kind: str | None
    seq: int | None
    path: str
    reason: str
    preview: str

    def __str__(self) -> str:
        record = f"{self.kind} (seq {self.seq})" if self.kind is not None else "line"
        return f"{self.line}: {record} {self.path}: {self.reason} {self.preview}"


@keywords_checked("traces.scan()")  # its warnings' stacklevel=3 counts the wrapper's frame
def scan(path: str | os.PathLike[str], *, pii: bool = False) -> list[Finding]:
    """Every secret-looking value in a trace (or any JSON Lines) file, in file order.

    A gzip file cut off (or damaged) after some lines: what those lines hold is returned,
    with a ``TraceWarning`` that the rest was not read; if they hold nothing, a
    ``TraceError``, since a file jobsim could not read whole is never reported clean.
    A line that is not JSON (an export with a line cut short) is scanned as text, and the
    lines after it too: its findings are returned with a ``TraceWarning`` naming it; if the
    file holds nothing, a ``TraceError``, since a secret-named field is only told in JSON.
    An empty file, or one whose only line is cut short, is a ``TraceError`` too: nothing in
    it could be checked, so it is not reported clean.
    """
    if not isinstance(pii, bool):  # a truthy 'no' looked for personal data too
        raise InvalidArgument.build("pii", pii, "True (also email addresses at real domains and phone numbers) "
                                    "or False")
    source = _path(path)
    findings: list[Finding] = []
    malformed: list[int] = []
    read = {"lines": 0, "json": 0}
    lines = 0
    with open_trace(source) as f:
        try:
            for number, finding in _scan_lines(source, f, pii, malformed, read):
                lines = number  # read whole so far: named if the stream ends early
                if finding is not None:
                    findings.append(finding)
        except GZIP_ERRORS as exc:
            damaged = f"the gzip stream is damaged or cut off after line {lines} ({exc})"
            if not lines:
                raise TraceError(f"the gzip stream is damaged or cut off ({exc})", path=str(source)) from None
            if not findings:
                raise TraceError(f"{damaged}: the lines before it hold no secret-looking value, but the rest "
                                 "could not be scanned", path=str(source)) from None  # fmt: skip
            warnings.warn(f"{source}: {damaged}; the lines before it were scanned, the rest could not be",
                          TraceWarning, stacklevel=3)  # fmt: skip
    if not read["lines"]:  # an export that failed, a trace never written: nothing was checked
        raise TraceError("the file is empty: there is nothing to scan (a trace has at least its header line)",
                         path=str(source))  # fmt: skip
    if malformed:
        where = f"line {malformed[0]} is" if len(malformed) == 1 else \
            f"lines {', '.join(map(str, malformed[:10]))}{', ...' if len(malformed) > 10 else ''} are"
        if not findings:
            raise TraceError(f"{where} not JSON: scanned as text, nothing in the file looks secret, but a "
                             "secret-named field is only told in JSON; fix or drop those lines and scan again",
                             path=str(source))  # fmt: skip
        warnings.warn(f"{source}: {where} not JSON, scanned as text (a secret-named field is only told in JSON)",
                      TraceWarning, stacklevel=3)  # fmt: skip
    if not read["json"] and not findings:  # a lone line cut short, binary data: nothing read as JSON
        raise TraceError("no line is JSON: scanned as text, nothing in the file looks secret, but a secret-named "
                         "field is only told in JSON; is it a trace (JSON Lines)?", path=str(source))  # fmt: skip
    return findings


def _scan_lines(source: Path, f: Any, pii: bool, malformed: list[int],
                read: dict[str, int]) -> Iterator[tuple[int, Finding | None]]:
    """``(line number, finding)`` for each finding, and ``(line number, None)`` once a line is read;
    ``read`` counts the lines with content and those that were JSON."""
    personal = _PII if pii else frozenset()
    for number, raw in enumerate(f, start=1):
        if number == 1:
            raw = raw.removeprefix(BOM)  # an export saved by a Windows tool: its first line is still JSON
            if raw.startswith(UTF16_BOMS):
                raise TraceError("the file is UTF-16 (as PowerShell 5's > writes it), not UTF-8 JSON Lines: convert "
                                 "it (Get-Content IN | Set-Content -Encoding utf8 OUT) and scan that, or import it "
                                 "(jobsim import reads UTF-16)", path=str(source))  # fmt: skip
        if not raw.strip() or raw.startswith(b"#"):
            continue
        read["lines"] += 1
        try:
            obj = orjson.loads(raw)
            read["json"] += 1
        except orjson.JSONDecodeError:
            if raw.endswith(b"\n"):
                malformed.append(number)  # a cut-off last line is the usual end of a crash: not worth a warning
            obj = raw.decode("utf-8", "replace")  # text worth scanning: a cut line can still hold a key
        kind = obj.get("k") if isinstance(obj, dict) else None
        seq = obj.get("seq") if isinstance(obj, dict) else None
        if number == 1 and kind == "header" and _pseudonymized(obj):
            personal = personal - {"phone"}  # its phone numbers are the fakes redaction wrote
        for where, reason, value in _walk(obj, "", personal, headers=False):
            if kind == "header" and where.startswith("redaction.fields.") and value in ACTIONS:
                continue  # the policy's own rule (``{"ssn": "drop"}``), a field name and an action: no value of it
            yield number, Finding(line=number, kind=kind, seq=seq, path=where or "(line)", reason=reason,
                                  preview=mask(value))  # fmt: skip
        yield number, None


def _pseudonymized(header: dict[str, Any]) -> bool:
    redaction = header.get("redaction")
    return isinstance(redaction, dict) and redaction.get("pii") == "pseudonymized"


def _walk(value: Any, path: str, pii: frozenset[str], *, headers: bool) -> Iterator[tuple[str, str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if _filled(item) and isinstance(key, str):
                if headers and secret_header(key):
                    yield sub, f"secret header {key.lower()!r} has a value", _text(item)
                    continue
                if not headers and secret_key(key):
                    yield sub, f"field {key!r} is named like a secret and has a value", _text(item)
                    continue
                if not headers and card_number_key(key) and card_object(value):
                    yield sub, f"field {key!r} of a payment card (beside its expiry or CVC) has a value", _text(item)
                    continue
            yield from _walk(item, sub, pii, headers=key == "headers")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]", pii, headers=False)
    elif isinstance(value, str):
        parsed = json_in(value) if value[:1] in ("{", "[") and value[-1:] in ("}", "]") else None
        inner = json_string_in(value) if parsed is None else None
        if parsed is not None:  # JSON kept as a string: its fields, as redaction sees them
            yield from _walk(parsed, path, pii, headers=False)
        elif inner is not None:  # JSON encoded twice: what the string literal holds
            yield from _walk(inner, path, pii, headers=False)
        else:
            yield from _string(value, path, pii)


def _string(value: str, path: str, pii: frozenset[str]) -> Iterator[tuple[str, str, str]]:
    spans = []
    for name, match in find_secrets(value):
        spans.append(match.span())
        yield path, f"looks like a {name}", match.group(0)
    if "=" in value and ("?" in value or "&" in value):
        for match in QUERY_PARAM.finditer(value):
            name, item = match.group(2), match.group(3)
            if item and item != MARKER and secret_query(name):
                yield path, f"secret query parameter {name!r} has a value", item
    last = path.rsplit(".", 1)[-1]
    if len(value) >= 24 and last not in _NOT_TOKENS:
        for match in _TOKEN.finditer(value):
            token = match.group(0)
            start, end = match.span()
            if (_random_looking(token) and not _STRIPE_ID.fullmatch(token)
                    and not any(start < b and a < end for a, b in spans)):
                yield path, "a long random-looking string (an API key or token?)", token
    if "email" in pii and ("@" in value or "%40" in value):
        for match in email_matches(value):
            found = match.group(0)
            found = found[email_cut(found) :]  # a query's ``to=`` before it
            if not reserved_domain(email_address(found)[0].rpartition("@")[2]):
                yield path, "an email address at a real domain (personal data)", found
    if "phone" in pii and PHONE_HINT.search(value) is not None:
        for match in PHONE.finditer(value):
            if phone_number(match):
                yield path, "a phone number (personal data)", match.group(0)


def _random_looking(token: str) -> bool:
    """Mixed case and digits, and near-maximal character entropy: how keys look, ids do not."""
    if token.count("/") >= 2 or token.count("-") >= 3:  # a URL path, a slug: words, not a key
        return False
    if not (any(c.islower() for c in token) and any(c.isupper() for c in token) and any(c.isdigit() for c in token)):
        return False
    counts = Counter(token)
    entropy = -sum(n / len(token) * math.log2(n / len(token)) for n in counts.values())
    return entropy >= min(4.2, math.log2(len(token)) - 0.4)


_SCHEME_MARKER = re.compile(r"[A-Za-z][A-Za-z0-9-]*\s+" + re.escape(MARKER))


def _filled(value: Any) -> bool:
    """Holds something: not empty, not the marker, nor a scheme before it (``Bearer [redacted]``, what redaction
    writes in a header ``keep_headers`` keeps), nor a flag (``{"pin": true}``, which redaction keeps)."""
    if type(value) is str:
        return value not in ("", MARKER) and not (value.endswith(MARKER) and _SCHEME_MARKER.fullmatch(value))
    return value not in (None, [], {}) and type(value) is not bool and value != [MARKER]  # a flag is no secret


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value, default=str).decode()


def mask(value: str) -> str:
    """Enough to find the value again, not enough to use it: ``'sk_l…' (32 chars)``."""
    shown = value[:4] if len(value) > 8 else value[:1]
    return f"({shown!r}… {len(value)} chars)"
