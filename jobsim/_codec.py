"""Records on disk: one JSON object per line, and back.

Three shapes of a record's data, each a step further from the engine:

- **live**: what the engine appended (``sim.trace``). Cheap to make, so it may hold
  objects: an ``http`` record carries its ``HttpCall``, an ``email`` record its
  ``Email``, a ``run.end`` record its output as JSON bytes.
- **canonical**: JSON-safe data (``canonical(kind, data)``). The objects become
  summaries: an HTTP request and response with headers and bodies, an email with
  its addresses, subject and bodies. A trace read from a file holds canonical
  data, and ``canonical`` leaves canonical data as it is.
- **line**: what one line of the file holds (``encode``/``decode``, inverses of
  each other on canonical data). ``{"k": kind, "seq": n, "at": ns, ...fields}``;
  an event's fields are a CloudEvents 1.0 envelope under ``ce`` (``_cloudevents`` maps them).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import orjson

from ._cloudevents import _MISSING, _decode_event
from ._cloudevents import CE_CORE as CE_CORE  # re-exported, as the names below: modules and tests import them here
from ._cloudevents import encode_event as encode_event
from ._cloudevents import from_cloudevent as from_cloudevent
from ._cloudevents import ms_to_rfc3339 as ms_to_rfc3339
from ._cloudevents import rfc3339_ns as rfc3339_ns
from ._cloudevents import to_cloudevent as to_cloudevent
from ._safe import shown
from .errors import InvalidArgument

BODY_LIMIT = 64 * 1024
"""Bodies (HTTP, email) larger than this are stored as a digest and an excerpt."""
_EXCERPT = 1024

# Required fields per built-in kind: a file missing one is rejected at its line.
REQUIRED: dict[str, tuple[str, ...]] = {
    "event": ("ce",), "event.dropped": ("ce",),
    "cron": ("function", "cron"), "run.start": ("function", "run"),
    "attempt": ("function", "run", "attempt"), "retry": ("function", "run", "attempt", "next_at"),
    "sleep": ("function", "run", "until"), "wait": ("function", "run", "event", "until"),
    "wait.end": ("function", "run"), "invoke": ("function", "run", "target", "child"),
    "invoke.timeout": ("function", "run", "target", "child"),
    "run.end": ("function", "run", "status"), "email": ("to", "subject"), "http": ("method", "url"),
    "fault": (), "fault.armed": ("fault",),  # sim.fail's {function, step, error}, a crash's, a downtime's ...
    "run.queued": ("function", "run", "reason"), "run.skipped": ("function", "run", "reason"),
    "batch": ("function", "run", "size"), "debounce": ("function", "run", "size"),
    "cancel": ("function", "run", "reason"),
    "advance": ("until",),
}  # fmt: skip
BUILTIN = frozenset(REQUIRED)
_REQUIRED_SETS = {kind: frozenset(names) for kind, names in REQUIRED.items()}


# -- live -> canonical -------------------------------------------------------------------------
def canonical(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe data for one record (the input itself when it already is)."""
    expand = _EXPAND.get(kind)
    return data if expand is None else expand(data)


def _run_end(data: dict[str, Any], outputs: dict[bytes, Any] | None = None) -> dict[str, Any]:
    output = data.get("output")
    if type(output) is bytes and outputs is not None:
        value = outputs.get(output, _MISSING)
        if value is _MISSING:
            value = orjson.loads(output)
            if len(output) <= OUTPUT_BYTES:
                if len(outputs) >= SUMMARIES:
                    outputs.clear()
                outputs[output] = value
        return {**data, "output": value}
    if isinstance(output, bytes):  # a ``Wide`` too (``_stepdata.dump``): orjson reads an int past 64 bits as a float
        return {**data, "output": orjson.loads(output if type(output) is bytes else bytes(output))}
    return data


def fields_missing(kind: str, fields: dict[str, Any]) -> str | None:
    """Why a record of a built-in kind with these fields could not be read back (``a 'http' record needs the
    field(s) method, url``), or None: what the reader says at its line, and ``check_record`` at record time."""
    required = _REQUIRED_SETS.get(kind)
    if required is None or fields.keys() >= required:
        return None
    return f"a {kind!r} record needs the field(s) {', '.join(n for n in REQUIRED[kind] if n not in fields)}"


def _unsaveable(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """An ``http``/``email`` record without its live object (a loaded one, or ``sim.record``'s): as it is, but
    refused when it lacks a field its kind needs, so that ``save`` never writes a file ``load`` refuses."""
    missing = fields_missing(kind, data)
    if missing is not None:
        raise InvalidArgument(f"{missing}, so the trace could not be read back: a record made with "
                              f"sim.record({kind!r}, ...) must have them (or use a kind of its own, such as "
                              f"'myapp.{kind}')")  # fmt: skip
    return data


def _http(data: dict[str, Any], calls: dict[int, tuple[Any, ...]] | None = None) -> dict[str, Any]:
    call = data.get("call")
    if call is None:
        return _unsaveable("http", data)
    out: dict[str, Any] = {}
    for key in ("function", "run"):
        if key in data:
            out[key] = data[key]
    out["method"], out["url"] = data["method"], data["url"]
    if "status" in data:
        out["status"] = data["status"]
    else:
        out["error"] = data["error"]
    if "lost" in data:
        out["lost"] = data["lost"]
    if data.get("mail"):
        out["mail"] = True
    parts = None if calls is None else calls.get(id(call))
    if parts is None or parts[0] is not call:
        parts = _call_parts(call)
        if calls is not None:
            if len(calls) >= SUMMARIES:
                calls.clear()
            calls[id(call)] = parts
    out["elapsed"], out["request"] = parts[1], parts[2]
    if parts[3] is not None:
        out["response"] = parts[3]
    return out


def _call_parts(call: Any) -> tuple[Any, int, dict[str, Any], dict[str, Any] | None]:
    """An ``HttpCall``'s summary: ``(call, elapsed ns, request, response or None)``.

    The call itself is the first item: a pass that remembers summaries by ``id(call)``
    keeps the call alive with it, so the id cannot be reused by another object.
    """
    elapsed = call.elapsed
    ns = (elapsed.days * 86_400 + elapsed.seconds) * 1_000_000_000 + elapsed.microseconds * 1000
    request = call.request
    response = None
    if call.response is not None:
        response = {"status": call.response.status_code, **_message(call.response.headers, _content(call.response))}
    return call, ns, _message(request.headers, _content(request)), response


def _content(message: Any) -> bytes | None:
    try:
        return bytes(message.content)
    except Exception:  # a streamed body nobody read: there is nothing to keep
        return None


def _message(headers: Any, content: bytes | None) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for name, value in headers.multi_items():
        name = name.lower()
        if name == "content-length":
            continue  # the body says it, and it would give away how long redacted values were
        if name in merged:
            previous = merged[name]
            merged[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            merged[name] = value
    out: dict[str, Any] = {"headers": merged}
    content_type = merged.get("content-type")
    body = summarize_body(content, content_type if type(content_type) is not list else content_type[0])
    if body is not None:
        out["body"] = body
    return out


def summarize_body(content: bytes | None, content_type: str | None) -> dict[str, Any] | None:
    """``{"json": ...}``, ``{"text": ...}``, ``{"base64": ...}``, or a digest for big bodies."""
    if not content:
        return None
    if len(content) > BODY_LIMIT:
        return {"size": len(content), "sha256": hashlib.sha256(content).hexdigest(),
                "excerpt": content[:_EXCERPT].decode("utf-8", "replace")}  # fmt: skip
    if content_type and "json" in content_type:
        try:
            return {"json": orjson.loads(content)}
        except orjson.JSONDecodeError:
            pass
    try:
        return {"text": content.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(content).decode("ascii")}


def _email(data: dict[str, Any], emails: dict[int, tuple[Any, dict[str, Any]]] | None = None) -> dict[str, Any]:
    email = data.get("email")
    if email is None:
        return _unsaveable("email", data)
    out: dict[str, Any] = {}
    for key in ("function", "run"):
        if key in data:
            out[key] = data[key]
    entry = None if emails is None else emails.get(id(email))
    if entry is None or entry[0] is not email:
        entry = (email, _email_summary(email))  # the email kept alive with its summary: its id stays its own
        if emails is not None:
            if len(emails) >= SUMMARIES:
                emails.clear()
            emails[id(email)] = entry
    out.update(entry[1])
    return out


def _email_summary(email: Any) -> dict[str, Any]:
    """An ``Email``'s fields as an ``email`` record holds them, after ``function`` and ``run``."""
    out: dict[str, Any] = {}
    out.update(provider=email.provider, message_id=email.message_id, sender=email.sender, to=list(email.to))
    for key in ("cc", "bcc", "reply_to"):
        value = getattr(email, key)
        if value:
            out[key] = list(value)
    out["subject"] = email.subject
    for key in ("text", "html"):
        value = getattr(email, key)
        if value is not None:
            out.update(_text(key, value))
    if email.template is not None:
        out["template"] = email.template
    if email.template_data:
        out["template_data"] = dict(email.template_data)
    if email.headers:
        out["headers"] = dict(email.headers)
    if email.attachments:
        out["attachments"] = [
            {"filename": a.filename, "content_type": a.content_type, "size": len(a.content),
             "sha256": hashlib.sha256(a.content).hexdigest()}
            for a in email.attachments
        ]  # fmt: skip
    return out


def _text(key: str, value: str) -> dict[str, Any]:
    raw = value.encode("utf-8")
    if len(raw) <= BODY_LIMIT:
        return {key: value}
    return {key: raw[:_EXCERPT].decode("utf-8", "ignore"), f"{key}_size": len(raw),
            f"{key}_sha256": hashlib.sha256(raw).hexdigest()}  # fmt: skip


_EXPAND: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "run.end": _run_end, "http": _http, "email": _email,
}  # fmt: skip


def _run_end_as_is(data: dict[str, Any]) -> dict[str, Any]:
    output = data.get("output")
    if type(output) is bytes:
        return {**data, "output": orjson.Fragment(output)}
    return _run_end(data)  # a ``Wide``: written as any save writes it, its big ints as floats


EXPAND = _EXPAND
"""``canonical``'s work by kind: kinds not in it are canonical as recorded."""
EXPAND_AS_IS = {**_EXPAND, "run.end": _run_end_as_is}
"""``canonical`` for a writer that changes nothing (by kind): outputs stay the JSON bytes they are.

A run's output is recorded as the JSON bytes jobsim memoized (orjson's own), and orjson
writes an ``orjson.Fragment`` of them verbatim: the same line as decoding and encoding
them again, without the round trip. Only for writing: anything that reads or rewrites
values (redaction, replay) needs ``canonical``.
"""


SUMMARIES = 1 << 14
"""Summaries ``expanders()`` remembers at a time, of calls and of emails: an unredacted save (or a
diff) of a trace of a million distinct calls still streams in bounded memory."""


OUTPUT_BYTES = 4096
"""Recorded outputs up to this size ``expanders()`` decodes once per save: runs that return the same
JSON (``{"ok": true}``, the fan-out of one event) then share one decoded object, which the redactor
learns and rewrites once (it remembers nested values by identity)."""


def expanders(*, as_is: bool = False) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    """``EXPAND`` (or ``EXPAND_AS_IS``) for one pass over one trace: each ``HttpCall`` and ``Email``
    object summarized once, however many records carry it.

    A trace repeats them (a pooled client's calls, a retried request, the same welcome
    email): summarizing one walks its headers and decodes its bodies, 1.5 µs a record.
    The summaries are remembered by ``id()`` together with the object, which keeps the id
    from being reused, at most ``SUMMARIES`` at a time, and only for the pass (the caller
    drops the functions after it), so
    a record changed between two saves is summarized afresh. Records carrying the same
    object share its summary's dicts: readers of the lines copy on change, as redaction does.
    """
    calls: dict[int, tuple[Any, ...]] = {}
    emails: dict[int, tuple[Any, dict[str, Any]]] = {}
    expand = {**(EXPAND_AS_IS if as_is else EXPAND), "http": lambda data: _http(data, calls),
              "email": lambda data: _email(data, emails)}  # fmt: skip
    if not as_is:
        outputs: dict[bytes, Any] = {}
        expand["run.end"] = lambda data: _run_end(data, outputs)
    return expand


# -- canonical -> line -------------------------------------------------------------------------
def encode(seq: int, at: int, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The object one line of the file holds."""
    special = _ENCODE.get(kind)
    if special is not None:
        return special(seq, at, kind, data)
    return {"k": kind, "seq": seq, "at": at, **data}


def _encode_retry(seq: int, at: int, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    line: dict[str, Any] = {"k": kind, "seq": seq, "at": at}
    for key, value in data.items():
        line["next_at" if key == "at" else key] = value
    return line


_ENCODE: dict[str, Callable[[int, int, str, dict[str, Any]], dict[str, Any]]] = {
    "event": encode_event, "event.dropped": encode_event, "retry": _encode_retry,
}  # fmt: skip
ENCODED = frozenset(_ENCODE)
"""Kinds whose line has its own layout; any other line is ``{"k": kind, "seq": n, "at": ns, **fields}``."""


# -- line -> canonical -------------------------------------------------------------------------
def decode(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Canonical data from a line's fields (``k``, ``seq``, ``at`` already removed).

    Raises ``ValueError`` with a readable reason when a built-in kind is malformed.
    """
    required = _REQUIRED_SETS.get(kind)
    if required is not None:
        if not fields.keys() >= required:
            raise ValueError(fields_missing(kind, fields))
        special = DECODERS.get(kind)
        if special is not None:
            return special(fields)
    return fields


def _decode_retry(fields: dict[str, Any]) -> dict[str, Any]:
    if (_RETRY_TYPED(fields).get("delay") or 0) < 0:  # an int, or None (_RETRY_TYPED): a timeline drew it as '+-1ns'
        raise ValueError(f"a 'retry' record's 'delay' must be 0 or more (ns), got {fields['delay']}")
    return {("at" if key == "next_at" else key): value for key, value in fields.items()}


def _decode_http(fields: dict[str, Any]) -> dict[str, Any]:
    if (_HTTP_TYPED(fields).get("elapsed") or 0) < 0:  # a replay would spend it: time going back
        raise ValueError(f"a 'http' record's 'elapsed' must be 0 or more (ns), got {fields['elapsed']}")
    return fields


def _typed(kind: str, **types: type) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A decoder that checks the JSON type of the fields readers rely on (``None`` or absent passes): a line
    edited by hand (``"run": []``) is named with its line when it is read, not as a ``TypeError`` in a timeline."""
    names = {int: "an integer", str: "a string", dict: "a JSON object", bool: "true or false"}
    checks = tuple(types.items())  # read once per record of a million: a tuple, and no other work for most kinds

    def decode(fields: dict[str, Any]) -> dict[str, Any]:
        get = fields.get
        for name, want in checks:
            value = get(name)
            if value is not None and type(value) is not want:
                raise ValueError(f"a {kind!r} record's {name!r} must be {names[want]}, got {shown(value, 80)}")
        return fields  # orjson reads integers within 64 bits (others as floats): instants within datetime's range

    if kind != "fault.armed":
        return decode

    def decode_armed(fields: dict[str, Any]) -> dict[str, Any]:
        decode(fields)
        missing = [name for name in _ARMED_NEEDS.get(fields.get("fault") or "") or () if fields.get(name) is None]
        if missing:
            raise ValueError(f"a 'fault.armed' record of a {fields['fault']} needs the field(s) {', '.join(missing)}")
        return fields

    return decode_armed


_ARMED_NEEDS = {"crash": ("when",), "duplicate": ("when",), "downtime": ("start", "end"), "smtp.delay": ("after",)}
"""What a replay needs to arm each kind of fault again (``sim.fail`` and ``smtp_fail`` have defaults)."""
_RUN_NAMED = {"function": str, "run": str}  # a timeline names runs by these
_RETRY_TYPED = _typed("retry", step=str, attempt=int, next_at=int, delay=int, **_RUN_NAMED)
_HTTP_TYPED = _typed("http", method=str, url=str, status=int, elapsed=int, request=dict, response=dict, lost=int,
                     **_RUN_NAMED)  # fmt: skip

DECODERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "event": _decode_event, "event.dropped": _decode_event,
    "retry": _decode_retry,
    "advance": _typed("advance", until=int, idle=bool),
    "run.start": _typed("run.start", **_RUN_NAMED), "run.queued": _typed("run.queued", **_RUN_NAMED),
    "run.skipped": _typed("run.skipped", **_RUN_NAMED), "cancel": _typed("cancel", **_RUN_NAMED),
    "http": _decode_http,
    "email": _typed("email", **_RUN_NAMED),
    "fault.armed": _typed("fault.armed", fault=str, function=str, step=str, times=int, code=int, when=int,
                          start=int, end=int, message=str, on=str, error=dict, run=str, after=int, delivered=bool,
                          size=int),
}  # fmt: skip
