"""An event's data as JSON the way Inngest carries it: ``json_copy`` (what job code gets: a JSON copy whose
numbers are doubles, as the server's Go reader makes them), ``through_doubles`` (an int past 53 bits as that
double; ``Wide`` for what ``json`` must read back) and ``canonical`` (JCS: sorted keys, an integral float an
int), which step outputs share (``_steps``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from ._safe import shown
from .errors import InvalidArgument

JSON_OPTIONS = orjson.OPT_NON_STR_KEYS  # as JSON.stringify does, an int key becomes a string
_STRICT = JSON_OPTIONS | orjson.OPT_STRICT_INTEGER  # an int past 53 bits raises: the rare path below takes it
_WIDE = ("Integer exceeds 53-bit range", "Integer exceeds 64-bit range", "Dict integer key must be within 64-bit range")


def json_copy(name: str, value: Mapping[str, Any]) -> Any:
    """An event's ``data`` or ``user`` as Inngest hands it to job code: a JSON copy, its numbers as doubles.

    The server reads an event's JSON into Go values, where every number is a float64 (``pkg/event/event.go``:
    ``Data map[string]any``), and writes each request's events back out through JCS (``driver.go: MarshalV1``,
    ``jcs.Transform`` -> ``es6numfmt.go``), which prints a number as JavaScript does: digits below 1e21, an
    exponent from there. So an int past 53 bits, which inngest-py sends with all its digits, reaches the
    function as the nearest double: an int (``2**53 + 1`` -> ``2**53``; ``10**20 + 1`` -> ``10**20``) or, from
    1e21, a float (``10**30`` -> ``1e30``). One past a double's range is refused, as Go's parser refuses it.
    """
    plain = value if type(value) is dict else dict(value)
    try:
        text = orjson.dumps(plain, option=_STRICT)
    except TypeError as exc:
        if str(exc) not in _WIDE:
            raise InvalidArgument.build(
                name, value, f"event {name} must be JSON: dicts, lists, strings, numbers, bools, None and datetimes "
                f"({exc})"
            ) from None
        text = b""
    if not text:
        text = _through_doubles(name, plain)
    if b"null" in text and _not_finite(value):  # orjson writes NaN and Infinity as null, in silence
        raise InvalidArgument.build(
            name, value, f"event {name} must be JSON, and NaN and Infinity are not: inngest-py's client (httpx) "
            "refuses them when it sends the event; send None (or a string) for a missing number"
        )
    return orjson.loads(text) if type(text) is bytes else json.loads(text)  # json: an int past 64 bits stays one


def _through_doubles(name: str, plain: dict[str, Any]) -> bytes:
    """``json_copy`` of data holding an int past 53 bits: each as the server's double, the rest as orjson copies it."""

    def too_big(number: int) -> Exception:
        return InvalidArgument.build(
            name, plain, f"event {name} must be JSON Inngest can read, and {shown(number)} is past a float64's "
            "range (the server reads every number as one and refuses the event); send it as a string")

    try:
        return through_doubles(plain, too_big)
    except TypeError as exc:  # an int subclass or a big int inside another type orjson walks itself
        raise InvalidArgument.build(
            name, plain, f"event {name} must be JSON: dicts, lists, strings, numbers, bools, None and datetimes ({exc})"
        ) from None


def through_doubles(value: Any, too_big: Callable[[int], Exception], option: int = JSON_OPTIONS) -> bytes:
    """``value`` as JSON whose ints past 53 bits are the doubles Inngest's JCS pass makes of them (``json_copy``,
    and step outputs: ``_stepdata.dump``): the nearest double, digits below 1e21, a float from there; ``too_big(n)``
    is raised for one past a float64's range. Ints the double leaves past 64 bits are written as digits and read
    back by ``json``, exactly (``Wide``). orjson's own ``TypeError`` for what it cannot write passes through."""

    def wide(number: int) -> Any:
        try:
            double = float(number)
        except OverflowError:
            raise too_big(number) from None
        if not -1e21 < double < 1e21:
            return double  # JavaScript's (JCS's) exponent form: inngest-py's json reads a float
        rounded = int(double)
        return rounded if -(1 << 63) <= rounded < (1 << 64) else orjson.Fragment(str(rounded))

    def walk(item: Any) -> Any:
        kind = type(item)
        if kind is int:
            return item if -(1 << 53) <= item <= (1 << 53) else wide(item)
        if kind is dict or isinstance(item, Mapping):
            return {(str(k) if type(k) is int else k): walk(v) for k, v in item.items()}  # JSON keys are strings
        if kind is list or kind is tuple:
            return [walk(v) for v in item]
        return item

    return Wide(orjson.dumps(walk(value), option=option))


def canonical(value: Any) -> Any:
    """A JSON value as job code on Inngest reads it: the server writes every request through JCS (RFC 8785;
    ``driver.go : MarshalV1`` -> ``jcs.Transform``), which sorts each object's keys by their UTF-16 code
    units (``jcs.go``) and prints each number as JavaScript does (``es6numfmt.go``): digits, no ``.0``,
    below 1e21. So inngest-py's ``json`` reads a float with no fraction below 1e21 as an int (``1.0`` -> ``1``,
    ``-0.0`` -> ``0``, ``1e20`` -> ``10**20``), and every dict in its keys' sorted order. A new value;
    ``value`` is left as it is."""
    kind = type(value)
    if kind is dict:
        keys: Iterable[str] = value
        if len(value) > 1:
            keys = sorted(value)
            joined = "".join(keys)  # past the BMP, UTF-16's order is not code points':
            if not joined.isascii() and max(joined) > "\uffff":
                keys.sort(key=_utf16)
        out = {}
        for key in keys:  # inline for the common flat dict: a call per item would double its cost
            item = value[key]
            kind = type(item)
            if kind is dict or kind is list:
                item = canonical(item)
            elif kind is float and item.is_integer() and -1e21 < item < 1e21:
                item = int(item)
            out[key] = item
        return out
    if kind is list:
        return [canonical(item) for item in value]
    if kind is float and value.is_integer() and -1e21 < value < 1e21:
        return int(value)
    return value


_DIGITS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x2D if byte == 0x2D else 0x20 for byte in range(256))
"""Each digit as ``0``, a minus as itself, any other byte as a space: ``has_wide_ints`` looks for runs of them."""
_RUN, _MINUS_RUN = b"0" * 20, b"-" + b"0" * 19


def has_wide_ints(text: bytes) -> bool:
    """Whether JSON ``text`` may hold an int past 64 bits, which ``orjson.loads`` reads as the nearest float, in
    silence: a run of 20 digits (``2**64`` has 20), or 19 after a minus (``-2**63 - 1``). A long number in a
    string says yes too: ``loads_exact`` then reads the text with ``json``, to the same values."""
    if len(text) < 20:
        return False
    spaced = text.translate(_DIGITS)
    return _RUN in spaced or _MINUS_RUN in spaced


def loads_exact(text: bytes) -> Any:
    """``orjson.loads(text)``, but an int past 64 bits kept exact (read by ``json``: Python ints are unbounded),
    not the float orjson makes of it. ``orjson`` parses it first, so what it refuses is refused as ever."""
    value = orjson.loads(text)
    return json.loads(text) if has_wide_ints(text) else value


WIDE_FIELD = "wide"
"""A trace line's field, ``"wide": true``, marking a line that holds an int past 64 bits (``exact_ints`` wrote
it): the reader reads that line with ``loads_exact``, and parses the others, most, with orjson as they come
(looking for long digit runs in every block cost an eighth of a load)."""
WIDE_MARK = b'"wide":true'
"""How ``WIDE_FIELD`` reads on a line: a string cannot hold it unescaped, so only a key (of the line or its data)."""


def exact_ints(value: Any) -> Any:
    """``value`` with each int past 64 bits as an ``orjson.Fragment`` of its digits, which ``orjson.dumps`` (that
    refuses such an int) writes as they are: for the rare record that holds one, never the common case."""
    kind = type(value)
    if kind is int:
        return value if -(1 << 63) <= value < (1 << 64) else orjson.Fragment(str(value))
    if kind is dict:
        return {key: exact_ints(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [exact_ints(item) for item in value]
    return value


def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


class Wide(bytes):
    """JSON text ``through_doubles`` wrote: read with ``json``, which keeps an int past 64 bits exact."""

    __slots__ = ()


def _not_finite(value: Any) -> bool:
    """Whether a float NaN or infinity is anywhere in ``value`` (checked only when the JSON has a null)."""
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))
    if isinstance(value, Mapping):
        return any(_not_finite(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_not_finite(item) for item in value)
    return False
