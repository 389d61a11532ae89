"""Go's text of a CEL value, as Inngest makes a flow-control key of it (``fmt.Sprintf("%v", v)``), and the key
``"false"`` that a CEL ``false`` gives (``_expr.compile_key``, the rate limiter)."""

from __future__ import annotations

from typing import Any


class _FalseKey(str):
    """The key ``"false"`` that came from a CEL ``false`` (or a missing field), not from a string.

    It equals and hashes as ``"false"`` (so it shares that key's limit), but the rate limiter can
    tell it apart by identity: Inngest skips rate limiting only when the *result* is the bool
    ``false`` (``pkg/execution/ratelimit/ratelimit.go : RateLimitKey``), not for the string "false".
    """

    __slots__ = ()


FALSE_KEY = _FalseKey("false")


def go_string(value: Any) -> str:
    """``fmt.Sprintf("%v", v)`` of the Go value CEL hands back for ``value`` (numbers as float64)."""
    if value is True:
        return "true"
    if value is False:
        return FALSE_KEY
    if value is None:
        return "NULL_VALUE"  # CEL null's native value is structpb.NullValue_NULL_VALUE
    return _go_v(value)


def _go_v(value: Any) -> str:
    """Go's ``%v`` inside a map or list (where a JSON null stays Go ``nil``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, int):
        if -1_000_000 < value < 1_000_000:  # %g keeps these as plain digits
            return str(value)
        return _go_float(float(value))
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, dict):  # Go prints a map's keys sorted
        return "map[" + " ".join(f"{k}:{_go_v(value[k])}" for k in sorted(value, key=str)) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_go_v(item) for item in value) + "]"
    return str(value)


def _go_float(x: float) -> str:
    """``strconv.FormatFloat(x, 'g', -1, 64)``: shortest digits; exponent form below 1e-4 or from 1e6."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "+Inf" if x > 0 else "-Inf"
    text = repr(x)  # Python's repr is the shortest round-trip form, the digits Go picks too
    sign = "-" if text.startswith("-") else ""
    mantissa, _, exponent = text.lstrip("-").partition("e")
    whole, _, fraction = mantissa.partition(".")
    every = whole + fraction
    significant = every.lstrip("0")
    point = len(whole) + int(exponent or 0) - (len(every) - len(significant))
    digits = significant.rstrip("0") or "0"
    exp = point - 1
    if digits == "0":
        return sign + "0"
    if exp < -4 or exp >= 6:
        tail = "." + digits[1:] if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{tail}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"
