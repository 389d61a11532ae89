"""CEL's functions and macros beyond the operators, as Inngest's expression engine evaluates them.

What Inngest builds (inngest/inngest 253303cd, cel-go v0.27.0 as vendored by inngest/expr 6ab6fcb7):

* ``pkg/expressions/exprenv/exprenv.go : Env``: ``cel.NewCustomEnv(cel.Lib(customLibrary{}), ...)`` with the
  variables ``event``, ``async`` and ``vars`` declared ``map(string, dyn)``.
* ``exprenv/overloads.go : customLibrary.CompileOptions``: every macro (``parser.AllMacros``: ``has``, ``all``,
  ``exists``, ``exists_one``, ``map``, ``filter``) and every ``stdlib.Functions()`` declaration (``size``, ``in``,
  ``contains``, ``startsWith``, ``endsWith``, ``matches``, ``int``/``uint``/``double``/``string``, timestamps...),
  with ``+ == != < <= > >=`` re-declared ``(any, any)`` without type guards. No ``ext.Strings()`` (no
  ``lowerAscii``, ``split``, ``replace``...). Inngest's own: ``lowercase``, ``uppercase``, ``b64decode``,
  ``json_parse``, ``date``, ``now``, ``now_plus``, ``now_minus``.
* ``pkg/expressions/validation.go : Validate`` runs ``env.Compile``, which type-checks: a wrong type in literals
  (``size(1)``, ``'a' in 1``, ``1.startsWith('a')``) is a compile error (the function, or the wait, is refused);
  on an event's field (``dyn``) the same mistake is an error at evaluation, and no match.
* ``pkg/expressions/unknown.go : runtimeUnknownCall`` wraps every call: when an argument is unknown (a path
  the event lacks: ``data.go : Partial`` marks it) or an error, ``handleUnknownCall`` answers instead: ``size``
  gives 0, ``+`` the other operand, the comparisons fixed answers, and any other function (``in``,
  ``contains``, ``startsWith``, ``matches``, ``!``, ``lowercase``...) the concrete ``false``. A method's missing
  receiver (``event.data.missing.contains('x')``: ``attrs.go`` collects call arguments, not receivers) is a "no
  such key" error, which the same path turns into ``false``.
* Macros are comprehensions, not calls: CEL's own semantics. ``has(event.data.x)`` of a missing ``x`` is
  *unknown*, not ``false``: ``attrs.go`` collects the test-only select too and cel-go's
  ``interpreter/attribute_patterns.go : attributeMatcher.Resolve`` matches the pattern against it; so
  ``!has(event.data.x)`` is ``false`` as well (``!`` of an unknown). Inside a macro body ``attrs.go`` collects
  nothing (only the range is walked), so there a missing field makes ``has`` plain ``false``.
* ``validation.go : DefaultRestrictiveValidationPolicy``, used for a function's cancellation ``if``
  (``pkg/inngest/function.go : Validate``), refuses macros and every call but logic, ``in``, indexing and
  ``int``/``uint``/``double``; a ``waitForEvent`` ``if`` only logs that policy's verdict.

jobsim folds CEL errors into ``UNKNOWN`` (``_expr``): every operator around either gives the same answer.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable
from typing import Any

from . import _celregex
from ._celarith import CelList, CelMap, find, json_items
from ._gostring import _go_float

METHODS = frozenset({"size", "contains", "startsWith", "endsWith", "matches"})
GLOBALS = frozenset({"size", "int", "double", "string", "lowercase", "uppercase"})
MACROS = frozenset({"all", "exists", "exists_one", "filter", "map"})
RESTRICTED_OK = frozenset({"int", "double"})
"""The calls a cancellation's ``if`` may make (``validation.go : typeConvFnNames``; ``uint`` is not read here)."""


class CelTypeError(Exception):
    """No overload of a CEL function for these operand types (``no such overload``), or a failed conversion."""


def kind(value: Any) -> str:
    """The CEL type name of a JSON value."""
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, (list, tuple)) else "map" if isinstance(value, dict) else type(value).__name__


def _string(name: str, value: Any) -> str:
    if type(value) is not str:
        raise CelTypeError(f"no such overload: {name} on {kind(value)}")
    return value


def _size(value: Any) -> int:
    """CEL's ``size``: a string's code points (Python's ``len`` of a str), a list's elements, a map's entries."""
    if isinstance(value, (str, bytes, list, tuple, dict)):
        return len(value)
    raise CelTypeError(f"no such overload: size({kind(value)})")


def _int(value: Any) -> int:
    from ._flow import cel_int_or_none  # _flow imports _expr, which imports this module

    number = cel_int_or_none(value)
    if number is None:
        raise CelTypeError(f"int() of a {kind(value)} CEL cannot convert")
    return number


def _double(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise CelTypeError(f"no such overload: double({kind(value)})")
    if not isinstance(value, str):
        return float(value)
    try:
        return _parse_float(value)
    except ValueError:  # Go's strconv.ParseFloat refuses it too
        raise CelTypeError(f"double({value!r}): not a number") from None


def _to_string(value: Any) -> str:
    """CEL's ``string(x)`` (cel-go ``ConvertToType(StringType)``): an int in base 10, a double as Go's
    ``strconv.FormatFloat(x, 'g', -1, 64)`` (``1e+06``, ``+Inf``), a bool, a string, UTF-8 bytes; else an error."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if type(value) is int or type(value) is str:
        return str(value)
    if type(value) is float:
        return _go_float(value)
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise CelTypeError("string() of bytes that are not UTF-8") from None
    raise CelTypeError(f"no such overload: string({kind(value)})")


_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:[0-9A-Fa-f]+\.?[0-9A-Fa-f]*|\.[0-9A-Fa-f]+)[pP][+-]?[0-9]+")


def _parse_float(text: str) -> float:
    """Go's ``strconv.ParseFloat(text, 64)``, which cel-go's ``double(string)`` calls: unlike Python's ``float`` it
    refuses surrounding whitespace, non-ASCII digits and a value out of range (``1e400``), and reads hex floats
    (``0x1p-2``). Raises ``ValueError``."""
    if not text.isascii() or text != text.strip():
        raise ValueError(text)
    if _HEX_FLOAT.fullmatch(text):
        return float.fromhex(text)
    number = float(text)
    if number in (float("inf"), float("-inf")) and text.lstrip("+-").lower() not in ("inf", "infinity"):
        raise ValueError(text)  # ErrRange
    return number


_RE2_LACKS = re.compile(r"\\[1-9]|\(\?(?:[=!]|<[=!]|P=|>|\(|#)|\\[ZpPG]|(?<!\\)[*+?}]\+")
"""Python constructs Go's RE2 does not have: backreferences, lookahead/lookbehind, ``(?P=name)``, atomic groups,
conditionals, comments, possessive quantifiers (``a*+``), ``\\Z`` (RE2 writes ``\\z``), ``\\p``/``\\P`` classes (RE2
has them, Python's ``re`` does not)."""


@functools.lru_cache(maxsize=256)
def regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` (Go's RE2) compiled with Python's ``re`` to match the same (``_celregex``: ``\\d \\w \\s \\b`` ASCII,
    ``$`` the end of the text, POSIX classes...). Cached: a pattern from the event is compiled at each evaluation.

    Raises ``CelTypeError`` for a pattern RE2 would refuse or that Python would read differently (see
    ``_RE2_LACKS`` and ``_celregex``)."""
    if _RE2_LACKS.search(pattern.replace("\\\\", "")):
        raise CelTypeError(f"{pattern!r} uses a construct RE2 lacks or reads differently (backreference, lookaround, "
                           "atomic group, conditional, comment, possessive quantifier, \\Z, \\p)")  # fmt: skip
    try:
        return re.compile(_celregex.as_python(pattern))
    except _celregex.RegexError as exc:
        raise CelTypeError(f"{pattern!r}: {exc}") from None
    except re.error as exc:
        raise CelTypeError(f"{pattern!r} is not a valid regular expression: {exc}") from None


def _matches(text: Any, pattern: Any) -> bool:
    return regex(_string("matches", pattern)).search(_string("matches", text)) is not None


def _in(item: Any, container: Any) -> bool:
    """CEL's ``in``: a list holds an element equal by CEL's ``==``; a map (a JSON object) holds a string key."""
    from ._expr import _cel_equal

    if isinstance(container, (list, tuple)):
        return any(_cel_equal(item, element) for element in container)
    if type(container) is CelMap:  # a map literal: a key of its type, an int from an integral double
        return find(container, item, _celregex) is not _celregex
    if isinstance(container, dict):
        return type(item) is str and item in container  # stringIfaceMapAccessor.Find: other keys are absent
    raise CelTypeError(f"no such overload: {kind(item)} in {kind(container)}")


def _go_lower(text: str) -> str:
    """Go's ``strings.ToLower`` (Inngest's ``lowercase``): each code point by its simple case mapping (UnicodeData),
    where Python's ``str.lower`` applies the full one: ``İ`` is ``i``, not ``i`` and a combining dot, and capital
    sigma (U+03A3) is always U+03C3, never the final U+03C2."""
    if text.isascii():
        return text.lower()
    return "".join(c.lower()[0] for c in text)  # per code point: no final-sigma context; İ's full mapping starts 'i'


def _go_upper(text: str) -> str:
    """Go's ``strings.ToUpper``: simple case mappings, so ``ß`` and ``ﬁ`` stay (Python makes ``SS``, ``FI``); where
    Python's full mapping has several code points the simple one, if any, is the titlecase one (``ᾳ``: ``ᾼ``)."""
    if text.isascii():
        return text.upper()
    return "".join(_upper_one(c) for c in text)


def _upper_one(c: str) -> str:
    upper = c.upper()
    if len(upper) == 1:
        return upper
    title = c.title()
    return title if len(title) == 1 else c


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "size": _size,
    "int": _int,
    "double": _double,
    "string": _to_string,
    "lowercase": lambda s: _go_lower(_string("lowercase", s)),
    "uppercase": lambda s: _go_upper(_string("uppercase", s)),
    "contains": lambda s, sub: _string("contains", sub) in _string("contains", s),
    "startsWith": lambda s, p: _string("startsWith", s).startswith(_string("startsWith", p)),
    "endsWith": lambda s, p: _string("endsWith", s).endswith(_string("endsWith", p)),
    "matches": _matches,
    "in": _in,
}


def call(name: str, args: list[Any], unknown: Any) -> Any:
    """``name`` on ``args`` (a method's receiver first); an ``unknown`` argument gives what ``handleUnknownCall``
    gives (``size`` 0, anything else ``false``). Raises ``CelTypeError``."""
    if any(arg is unknown for arg in args):
        return 0 if name == "size" else False
    return FUNCTIONS[name](*args)


_STRING = frozenset({"string"})
# What a call gives, for the compile-time check of literal operands: (argument kinds accepted, result kind).
SIGNATURES: dict[str, tuple[tuple[frozenset[str], ...], str]] = {
    "size": ((frozenset({"string", "bytes", "list", "map"}),), "int"),
    "int": ((frozenset({"int", "double", "string"}),), "int"),
    "double": ((frozenset({"int", "double", "string"}),), "double"),
    "string": ((frozenset({"int", "double", "string", "bool", "bytes"}),), "string"),
    "lowercase": ((frozenset({"string"}),), "string"),
    "uppercase": ((frozenset({"string"}),), "string"),
    **{name: ((_STRING, _STRING), "bool") for name in ("contains", "startsWith", "endsWith", "matches")},
    "in": ((frozenset({"bool", "null", "int", "double", "string", "list", "map"}), frozenset({"list", "map"})), "bool"),
}


def evaluate(node: ast.Call, scope: dict[str, Any]) -> Any:
    """A CEL function, method or macro, in ``jobsim._expr``'s evaluation; a CEL error is ``UNKNOWN``."""
    from ._expr import UNKNOWN, _eval

    func = node.func
    if isinstance(func, ast.Name) and func.id == "has":
        return _has(node.args[0], scope)  # type: ignore[arg-type]
    if isinstance(func, ast.Attribute) and func.attr in MACROS:
        return _macro(node, scope)
    name = func.attr if isinstance(func, ast.Attribute) else func.id  # type: ignore[attr-defined]
    args = [_eval(arg, scope) for arg in ([func.value] if isinstance(func, ast.Attribute) else []) + node.args]
    try:
        return call(name, args, UNKNOWN)
    except CelTypeError:
        return UNKNOWN


def _has(node: ast.Attribute, scope: dict[str, Any]) -> Any:
    """``has(x.f)``: ``true`` if ``x`` has the field ``f``. Otherwise unknown (Inngest marks the missing path
    unknown, ``_celfuncs`` docstring), except inside a macro's body, where nothing is marked: ``false`` on a map."""
    from ._expr import _MISSING, UNKNOWN, _eval, _field

    base = _eval(node.value, scope)
    if base is not UNKNOWN and _field(base, node.attr) is not _MISSING:
        return True
    return False if isinstance(base, dict) and "\0macro" in scope else UNKNOWN


def _macro(node: ast.Call, scope: dict[str, Any]) -> Any:
    """``all``, ``exists``, ``exists_one``, ``filter``, ``map`` over a list's elements or a map's keys, as CEL's
    comprehensions run them; a predicate that is not a bool (an error, an unknown) makes the result unknown
    unless ``all`` finds a ``false`` or ``exists`` a ``true``."""
    from ._expr import UNKNOWN, _eval

    func = node.func
    assert isinstance(func, ast.Attribute) and isinstance(node.args[0], ast.Name)
    items = _eval(func.value, scope)
    if not isinstance(items, (list, tuple, dict)):  # unknown, or no such overload: an error
        return UNKNOWN
    if type(items) is list:  # an event's list: its numbers are JSON doubles
        items = json_items(items)
    inner = {**scope, "\0macro": True}
    name, var, bodies = func.attr, node.args[0].id, node.args[1:]

    def each(body: ast.AST) -> list[Any]:
        out = []
        for item in items:
            inner[var] = item
            out.append(_eval(body, inner))
        return out

    if name == "map":
        kept = list(items)
        if len(bodies) == 2:  # map(x, filter, transform)
            keep = each(bodies[0])
            if any(type(k) is not bool for k in keep):
                return UNKNOWN
            kept = [item for item, k in zip(items, keep, strict=True) if k]
        values = []
        for item in kept:
            inner[var] = item
            values.append(_eval(bodies[-1], inner))
        return UNKNOWN if any(v is UNKNOWN for v in values) else CelList(values)
    verdicts = each(bodies[0])
    if (name == "exists" and any(v is True for v in verdicts)) or (name == "all" and any(v is False for v in verdicts)):
        return name == "exists"
    if any(type(v) is not bool for v in verdicts):
        return UNKNOWN
    if name == "filter":
        return [item for item, v in zip(items, verdicts, strict=True) if v]
    return {"exists": False, "all": True}.get(name, verdicts.count(True) == 1)
