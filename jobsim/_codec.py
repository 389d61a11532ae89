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
  an event's fields are a CloudEvents 1.0 envelope under ``ce``.

Events as CloudEvents 1.0 (JSON format, structured mode), from Inngest's payload
(``reference/traces.md`` §1.4):

====================  ==========================================================
CloudEvents            Inngest / jobsim
====================  ==========================================================
``type``               ``name``
``id``                 ``id`` (the bus fills a missing one)
``source``             where it came from: ``/jobsim/input`` (sent from outside job
                       code), ``/jobsim/functions/<function id>`` (emitted by a job),
                       ``/jobsim/system`` (jobsim's own, ``inngest/function.failed``),
                       or the ``source`` of an imported CloudEvent
``time``               ``ts`` (ms since the epoch) as RFC 3339 UTC with milliseconds
``datacontenttype``    ``application/json``
``dataversion`` (ext)  ``v``
``data``               ``data``
(record, not CE)       ``user``: CloudEvents allows no object-valued attributes, so
                       Inngest's ``user`` sits beside ``ce`` on the line
====================  ==========================================================

The record's own ``at`` is when the bus accepted the event (virtual ns); ``time``
is the event's ``ts``, which a sender may set to something else.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

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
    "run.end": ("function", "run", "status"), "email": ("to", "subject"), "http": ("method", "url"),
    "fault": (), "fault.armed": ("fault",),  # sim.fail's {function, step, error}, a crash's, a downtime's ...
    "run.queued": ("function", "run", "reason"), "run.skipped": ("function", "run", "reason"),
    "batch": ("function", "run", "size"), "debounce": ("function", "run", "size"),
    "cancel": ("function", "run", "reason"),
    "advance": ("until",),
}  # fmt: skip
BUILTIN = frozenset(REQUIRED)
_REQUIRED_SETS = {kind: frozenset(names) for kind, names in REQUIRED.items()}

CE_CORE = frozenset({"specversion", "id", "source", "type", "time", "datacontenttype", "dataversion", "data"})
"""The CloudEvents attributes an event's Inngest fields map to; any other attribute is an extension."""
_MISSING: Any = object()


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


def _http(data: dict[str, Any], calls: dict[int, tuple[Any, ...]] | None = None) -> dict[str, Any]:
    call = data.get("call")
    if call is None:
        return data
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
        return data
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


def default_source(data: Mapping[str, Any]) -> str:
    origin = data.get("origin", "input")
    if origin == "job":
        return f"/jobsim/functions/{data.get('function', '')}"
    return "/jobsim/system" if origin == "system" else "/jobsim/input"


def to_cloudevent(data: Mapping[str, Any]) -> dict[str, Any]:
    """A canonical event record's CloudEvents 1.0 JSON envelope (``Event.to_dict()`` of a sent event)."""
    ts = data.get("ts") if isinstance(data, Mapping) else None
    if not isinstance(data, Mapping) or not isinstance(data.get("name"), str) or not isinstance(data.get("id"), str) \
            or isinstance(ts, bool) or not isinstance(ts, (int, type(None))):
        raise InvalidArgument.build("data", data, "an event's fields as Event.to_dict() gives them for a sent event: "
                                    "a string 'name' and 'id', 'ts' in epoch milliseconds or None, 'data'")
    return _to_cloudevent(data)


def _to_cloudevent(data: Mapping[str, Any], ident: Any = _MISSING, payload: Any = _MISSING) -> dict[str, Any]:
    ce: dict[str, Any] = {"specversion": "1.0", "id": data["id"] if ident is _MISSING else ident,
                          "source": data.get("source") or default_source(data), "type": data["name"]}  # fmt: skip
    ts = data.get("ts")
    if ts is not None:
        ce["time"] = ms_to_rfc3339(ts)
    ce["datacontenttype"] = "application/json"
    if data.get("v") is not None:
        ce["dataversion"] = data["v"]
    attributes = data.get("attributes")
    if attributes:
        ce.update(attributes)
    ce["data"] = data.get("data", {}) if payload is _MISSING else payload
    return ce


def encode_event(seq: int, at: int, kind: str, data: dict[str, Any], ident: Any = _MISSING, payload: Any = _MISSING,
                 user: Any = _MISSING) -> dict[str, Any]:
    """An event's line; ``ident``, ``payload`` and ``user``, when given, in place of the record's ``id``, ``data``
    and ``user`` (their redacted forms: the line is made once, already redacted)."""
    line: dict[str, Any] = {"k": kind, "seq": seq, "at": at, "origin": data.get("origin", "input")}
    if "function" in data:
        line["function"] = data["function"]
    if "run" in data:
        line["run"] = data["run"]
    line["ce"] = _to_cloudevent(data, ident, payload)
    if user is _MISSING:
        user = data.get("user")
    if user is not None:
        line["user"] = user
    if "sent" in data:  # a test's delayed send: when it was sent (``jobsim._delay``)
        line["sent"] = data["sent"]
    if "pending" in data:  # dropped: a delayed send still pending holds its id
        line["pending"] = data["pending"]
    return line


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
            missing = ", ".join(n for n in REQUIRED[kind] if n not in fields)
            raise ValueError(f"a {kind!r} record needs the field(s) {missing}")
        special = DECODERS.get(kind)
        if special is not None:
            return special(fields)
    return fields


def from_cloudevent(ce: Any) -> dict[str, Any]:
    """Inngest fields (``name``, ``id``, ``data``, ``ts``, ``v``) and extra attributes of a CE."""
    if not isinstance(ce, dict):
        raise InvalidArgument(f"'ce' must be a CloudEvents JSON object, not {type(ce).__name__}")
    name, id_ = ce.get("type"), ce.get("id")
    if not isinstance(name, str):
        raise InvalidArgument("the CloudEvent has no string 'type' attribute")
    if not isinstance(id_, str):
        raise InvalidArgument("the CloudEvent has no string 'id' attribute")
    data = ce.get("data", _MISSING)
    if data is _MISSING:
        data = {}
    elif not isinstance(data, dict):
        raise InvalidArgument(f"the CloudEvent's data must be a JSON object (Inngest event data), "
                              f"not {type(data).__name__}")
    out: dict[str, Any] = {"name": name, "id": id_, "data": data}
    time = ce.get("time")
    out["ts"] = None if time is None else rfc3339_ms(time)
    version = ce.get("dataversion")
    if version is not None:  # an extension may be an integer or a boolean (CloudEvents 1.0 type system); v is a string
        out["v"] = version if type(version) is str else orjson.dumps(version).decode()
    if not CE_CORE.issuperset(ce):
        out["attributes"] = {key: value for key, value in ce.items() if key not in CE_CORE}
    return out


def _decode_event(fields: dict[str, Any]) -> dict[str, Any]:
    ce = fields["ce"]
    out = from_cloudevent(ce)
    user = fields.get("user")
    if user is not None:
        out["user"] = user
    origin = out["origin"] = fields.get("origin", "input")
    if origin not in ("input", "job", "system"):  # a typo'd origin replayed the input as nothing, silently
        raise ValueError(f"an event record's 'origin' must be 'input', 'job' or 'system', got {shown(origin, 80)}")
    if "function" in fields:
        out["function"] = _named(fields, "function")
    if "run" in fields:
        out["run"] = _named(fields, "run")
    if "sent" in fields:
        out["sent"] = fields["sent"]
    if "pending" in fields:
        out["pending"] = fields["pending"]
    source = ce.get("source")
    if source is not None and not (source == "/jobsim/input" and origin == "input") and source != default_source(out):
        out["source"] = source
    return out


def _named(fields: dict[str, Any], name: str) -> Any:
    """The ``function`` or ``run`` that emitted an event: a string (or null), which its timeline line names."""
    value = fields[name]
    if value is not None and type(value) is not str:
        raise ValueError(f"an event record's {name!r} must be a string, got {shown(value, 80)}")
    return value


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

    def decode(fields: dict[str, Any]) -> dict[str, Any]:
        for name, want in types.items():
            value = fields.get(name)
            if value is not None and type(value) is not want:
                raise ValueError(f"a {kind!r} record's {name!r} must be {names[want]}, got {shown(value, 80)}")
        needs = _ARMED_NEEDS.get(fields.get("fault") or "") if kind == "fault.armed" else None
        missing = [name for name in needs or () if fields.get(name) is None]
        if missing:
            raise ValueError(f"a 'fault.armed' record of a {fields['fault']} needs the field(s) {', '.join(missing)}")
        return fields  # orjson reads integers within 64 bits (others as floats): instants within datetime's range

    return decode


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


# -- RFC 3339 ----------------------------------------------------------------------------------
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?\s*(?:([Zz])|([+-])(\d\d):?(\d\d))$"
)


@functools.lru_cache(maxsize=4096)
def _days(date: str) -> int | None:
    """``'2025-03-03'`` -> days since 1970-01-01 (a trace's events fall on few dates)."""
    try:
        return dt.date(int(date[0:4]), int(date[5:7]), int(date[8:10])).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def _date_prefix(days: int) -> str:
    """Days since 1970-01-01 -> ``'2025-03-03T'`` (a trace's events fall on few dates)."""
    d = _EPOCH + dt.timedelta(days=days)
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T"


@functools.lru_cache(maxsize=4096)
def ms_to_rfc3339(ms: int) -> str:
    """``1741000000123`` -> ``'2025-03-03T11:06:40.123Z'``."""
    if type(ms) is int:  # integer arithmetic below the date: a third of the datetime route's time
        days, rest = divmod(ms, 86_400_000)
        seconds, millis = divmod(rest, 1000)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        return f"{_date_prefix(days)}{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"
    m = _EPOCH + dt.timedelta(milliseconds=ms)
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{ms % 1000:03d}Z"


@functools.lru_cache(maxsize=4096)
def _minute_ms(prefix: str) -> int | None:
    """``'2025-03-03T09:00'`` -> ms since the epoch; None if it is no valid minute (a trace's events share few)."""
    if not (prefix[4] == prefix[7] == "-" and prefix[10] == "T" and prefix[13] == ":"):
        return None
    digits = prefix[0:4] + prefix[5:7] + prefix[8:10] + prefix[11:13] + prefix[14:16]
    if not (digits.isascii() and digits.isdigit()):
        return None
    days, hour, minute = _days(prefix[0:10]), int(prefix[11:13]), int(prefix[14:16])
    if days is None or hour > 23 or minute > 59:
        return None
    return ((days * 24 + hour) * 60 + minute) * 60_000


def _shape_ms(text: Any) -> int | None:
    """Epoch ms of the shape jobsim writes, ``2025-03-03T09:00:00.000Z``; None for any other text.

    Its minute comes from a cache and ``SSmmm`` is read as one integer (``SS * 1000
    + mmm``): 560 ns a time, where checking and converting every field took 1.8 us.
    """
    if type(text) is str and len(text) == 24 and text[23] == "Z" and text[16] == ":" and text[19] == ".":
        base = _minute_ms(text[:16])
        tail = text[17:19] + text[20:23]
        if base is not None and tail.isascii() and tail.isdigit() and tail < "6":
            return base + int(tail)
    return None


def rfc3339_ms(text: Any) -> int:
    """``rfc3339_ns(text) // 1_000_000``: an event's ``ts`` from its CloudEvent ``time``."""
    ms = _shape_ms(text)
    return rfc3339_ns(text) // 1_000_000 if ms is None else ms


def rfc3339_ns(text: Any) -> int:
    """An RFC 3339 timestamp (any offset, up to nanoseconds) -> epoch ns; ``InvalidArgument`` (a ValueError) if not.

    Parsed by hand because ``datetime.fromisoformat`` on Python 3.10 rejects ``Z``
    and fractions that are not 3 or 6 digits long, both common in exported events.
    """
    ms = _shape_ms(text)
    if ms is not None:
        return ms * 1_000_000
    match = _RFC3339.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidArgument(f"time {text!r} is not an RFC 3339 timestamp such as '2025-03-03T09:00:00.000Z'")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zulu, sign, off_h, off_m = match.groups()[6:]
    if not zulu and (int(off_h) > 23 or int(off_m) > 59):  # RFC 3339 §5.6: time-numoffset is a time of day
        raise InvalidArgument(f"time {text!r} has offset {sign}{off_h}:{off_m}, not a valid one (hours 00-23, "
                              "minutes 00-59)")  # fmt: skip
    try:
        moment = dt.datetime(year, month, day, hour, minute, min(second, 59), tzinfo=dt.timezone.utc)
    except ValueError as exc:
        raise InvalidArgument(f"time {text!r} is not a valid date and time ({exc})") from None
    delta = moment - _EPOCH
    ns = (delta.days * 86_400 + delta.seconds + (second - min(second, 59))) * 1_000_000_000
    if fraction:  # RFC 3339 allows any number of digits: past nanoseconds they are dropped
        ns += int(fraction[:9].ljust(9, "0"))
    if not zulu:
        offset = (int(off_h) * 60 + int(off_m)) * 60 * 1_000_000_000
        ns -= offset if sign == "+" else -offset
    return ns
