"""Events as CloudEvents 1.0 on a trace's lines, and the RFC 3339 times they carry.

An event record's line holds a CloudEvents 1.0 envelope (JSON format, structured mode) under
``ce``, mapped from Inngest's payload (``reference/traces.md`` §1.4); ``jobsim._codec`` puts it
on the line (``encode_event``) and reads it back (``_decode_event``):

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
``datacontenttype``    ``application/json``, or an imported event's own
                       (``application/vnd.shop+json``), kept as it was
``data_base64``        read as ``data`` under a JSON ``datacontenttype``
``dataversion`` (ext)  ``v``
``data``               ``data``
(record, not CE)       ``user``: CloudEvents allows no object-valued attributes, so
                       Inngest's ``user`` sits beside ``ce`` on the line
====================  ==========================================================

The record's own ``at`` is when the bus accepted the event (virtual ns); ``time``
is the event's ``ts``, which a sender may set to something else.

Times are RFC 3339 text: written in UTC with milliseconds, read by hand (any offset, up to
nanoseconds; the shape jobsim writes on a fast path, ``_shape_ms``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import re
from collections.abc import Mapping
from typing import Any

import orjson

from ._eventjson import loads_exact
from ._safe import shown
from .errors import InvalidArgument

CE_CORE = frozenset({"specversion", "id", "source", "type", "time", "datacontenttype", "dataversion", "data"})
"""The CloudEvents attributes an event's Inngest fields map to; any other attribute is an extension."""
_READ = CE_CORE | {"data_base64"}
"""What ``from_cloudevent`` reads into Inngest's fields (``data_base64`` as ``data``): the rest are extensions."""
_MISSING: Any = object()
JSON_TYPE = "application/json"
"""The ``datacontenttype`` of an event jobsim made: an event record keeps any other (``datacontenttype``)."""
SYNTHESIZED_ID = "jobsim:synthid"
"""The attribute (in an event record's ``attributes``) marking an id ``jobsim import`` made up for an event that
had none: a replay lets the bus make its own. On the line it is ``"synthid": true`` beside ``ce``, not in it:
no CloudEvents extension can be named with a colon, so an imported event's own attributes (a producer's
``jobsimsynthid``, say) are never taken for it. (Files written before marked it in the CloudEvent, as
``"jobsimsynthid": true``: such an attribute is now the event's own.)"""


# -- canonical -> line -------------------------------------------------------------------------
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
    ce["datacontenttype"] = data.get("datacontenttype") or JSON_TYPE
    if data.get("v") is not None:
        ce["dataversion"] = data["v"]
    attributes = data.get("attributes")
    if attributes:
        ce.update(attributes)
        ce.pop(SYNTHESIZED_ID, None)  # on the line (``encode_event``), not an attribute of the event
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
    if "taken" in data:  # dropped: the profile's rule for a repeated id (``Profile.repeated_ids``)
        line["taken"] = data["taken"]
    attributes = data.get("attributes")
    if attributes and attributes.get(SYNTHESIZED_ID):
        line["synthid"] = True
    return line


# -- line -> canonical -------------------------------------------------------------------------
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
    if "data_base64" in ce:
        data = data_base64(ce, data is not _MISSING)
    if data is _MISSING:
        data = {}
    elif not isinstance(data, dict):
        raise InvalidArgument(f"the CloudEvent's data must be a JSON object (Inngest event data), "
                              f"not {type(data).__name__}")
    out: dict[str, Any] = {"name": name, "id": id_, "data": data}
    time = ce.get("time")
    out["ts"] = None if time is None else rfc3339_ms(time)
    kind = ce.get("datacontenttype")
    if kind is not None and kind != JSON_TYPE:  # a producer's own (application/vnd.shop+json): written back as it was
        if type(kind) is not str:
            raise InvalidArgument(f"the CloudEvent's datacontenttype must be a string, got {shown(kind, 80)}")
        out["datacontenttype"] = kind
    version = ce.get("dataversion")
    if version is not None:  # an extension may be an integer or a boolean (CloudEvents 1.0 type system); v is a string
        out["v"] = version if type(version) is str else orjson.dumps(version).decode()
    if not _READ.issuperset(ce):
        out["attributes"] = {key: value for key, value in ce.items() if key not in _READ}
    return out


def data_base64(ce: dict[str, Any], has_data: bool) -> dict[str, Any]:
    """The JSON object a CloudEvent's ``data_base64`` holds, for a trace's events and ``jobsim import`` alike:
    the JSON format allows ``data_base64`` for any content type (CloudEvents 1.0 JSON format §3.1), and an
    Inngest event's data is a JSON object, so it is decoded under a JSON ``datacontenttype`` (``application/json``,
    ``text/json``, ``*/*+json``, with parameters such as ``charset``); anything else is an ``InvalidArgument``."""
    if has_data:
        raise InvalidArgument("the CloudEvent has both 'data' and 'data_base64' (CloudEvents 1.0 JSON format §3.1: "
                              "one or the other)")  # fmt: skip
    kind = ce.get("datacontenttype")
    media = kind.partition(";")[0].strip().lower() if isinstance(kind, str) else ""
    if not (media in ("application/json", "text/json") or media.endswith("+json")):
        said = f"datacontenttype {kind!r}" if kind is not None else "no datacontenttype"
        raise InvalidArgument(f"the CloudEvent carries binary data (data_base64, {said}); an Inngest event's data "
                              "is a JSON object, so only a JSON content type (application/json, */*+json) is decoded")
    try:
        decoded = loads_exact(base64.b64decode(ce["data_base64"], validate=True))  # an int past 64 bits kept
    except (TypeError, ValueError, binascii.Error) as exc:
        raise InvalidArgument(f"the CloudEvent's data_base64 is not base64 of JSON ({exc})") from None
    if not isinstance(decoded, dict):
        raise InvalidArgument(f"the CloudEvent's data_base64 holds JSON {type(decoded).__name__}; an Inngest event's "
                              "data is a JSON object")  # fmt: skip
    return decoded


def _decode_event(fields: dict[str, Any]) -> dict[str, Any]:
    ce = fields["ce"]
    out = from_cloudevent(ce)
    if fields.get("synthid") is True:  # the id was made up by `jobsim import` (``SYNTHESIZED_ID``)
        out["attributes"] = {**(out.get("attributes") or {}), SYNTHESIZED_ID: True}
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
    if "taken" in fields:
        out["taken"] = fields["taken"]
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
