"""CEL's arithmetic, map literals and comparison chains, as Inngest's expression engine evaluates them.

Facts (inngest/inngest 253303cd ``pkg/expressions``, cel-go v0.27.0 ``common/types``):

* ``exprenv/overloads.go`` re-declares ``_+_`` as ``(any, any) -> any`` with type guards off; ``- * / %`` and the
  negation ``-x`` keep cel-go's standard overloads: ``int`` with ``int``, ``double`` with ``double`` (``%``: ints
  only). So the compiler refuses ``1 - 1.0``, ``'a' * 2`` or ``-'a'`` when both operand types are known (literals,
  calls' results), and accepts ``1 + 1.0``.
* ``unknown.go : runtimeUnknownCall`` wraps every call. Two operands of one type: cel-go's own operation
  (``types/int.go``: int64 overflow, a division or modulus by zero is an error; Go's integer division truncates
  toward zero and ``%`` takes the dividend's sign; ``double`` is IEEE, ``1.0 / 0.0`` is +Inf). Two types: the
  operation, and when it fails (it always does: ``Int.Add(Double)`` is "no such overload") ``+`` joins the two
  values' Go ``%v`` (``fmt.Sprintf("%v%v")``): ``1 + 1.0`` is ``"11"``; the others stay errors. An unknown operand
  (a missing field) or an error: ``handleUnknownCall``: ``+`` gives the other operand (both unknown: ``false``),
  ``- * / %`` and ``-x`` the concrete ``false``.
* An event's numbers are JSON numbers, which Go decodes as float64 (``pkg/event/event.go : Event.Map`` casts
  ``ts`` to float64 for that reason): ``event.data.amount * 2`` is double times int, an error (no match); write
  ``event.data.amount * 2.0``. ``event.data.n + 1`` joins: ``"51"`` for 5. Literals keep their type.
* A map literal (``interpreter.go : evalMap``) is unknown if a key or value is; a repeated key keeps the last
  value (no error in cel-go v0.27.0); lookups find an int key from an integral double (``refValMapAccessor``).
* ``validation.go : DefaultRestrictiveValidationPolicy`` (a cancellation's ``if``) refuses ``mathFnNames``:
  ``+ - * / %`` and negation.

jobsim folds CEL errors into ``UNKNOWN`` (``_expr``), as the operators around them answer alike, with one
exception: ``+`` gives the other operand for an unknown, but an error beside a value is two types to
``runtimeUnknownCall``, whose ``+`` joins the error's message and the value's ``%v`` (``int('x') + 1`` is
``"type conversion error from 'string' to 'int'1"`` there, ``1`` here; two errors stay an error).
"""

from __future__ import annotations

import ast
import math
from typing import Any

from ._gostring import go_string
from .errors import InvalidArgument

INT_MIN, INT_MAX = -(2**63), 2**63 - 1


class CelList(list):  # type: ignore[type-arg]
    """A list the expression built (a literal, ``+``, ``map``): its ints are CEL ints, where an event's list holds
    JSON numbers, doubles."""

    __slots__ = ()


class CelMap(dict):  # type: ignore[type-arg]
    """A map literal: its keys keep CEL's types (``bools``: its bool keys, which Python's dict conflates with 1
    and 0), its ints are CEL ints."""

    __slots__ = ("bools",)

    def __init__(self, items: list[tuple[Any, Any]]) -> None:
        super().__init__(items)
        self.bools = frozenset(k for k, _ in items if isinstance(k, bool))


class ArithError(Exception):
    """A CEL arithmetic error: no such overload, overflow, division by zero."""


def json_number(value: int) -> float:
    """An event's (JSON) integer as Go decodes it, a float64."""
    try:
        return float(value)
    except OverflowError:  # Go's decoder refuses it; the nearest float64 stands in
        return math.inf if value > 0 else -math.inf


def json_items(items: list[Any]) -> list[Any]:
    """An event's list's elements as CEL values: ints are JSON numbers, doubles."""
    return [json_number(x) if type(x) is int else x for x in items]


def find(container: Any, key: Any, missing: Any) -> Any:
    """``container[key]`` as CEL looks it up: a list by an int (or integral double) index, a map literal by a key of
    its type (an integral double finds an int key), an event's map by a string only; ``missing`` otherwise."""
    if isinstance(container, list):
        if type(key) is float and key.is_integer():
            key = int(key)
        if type(key) is not int or not 0 <= key < len(container):
            return missing
        found = container[key]
        return json_number(found) if type(found) is int and type(container) is not CelList else found
    if type(container) is CelMap:
        if not isinstance(key, (str, int, float)) or (key in container.bools) is not isinstance(key, bool):
            return missing
        return container.get(key, missing)
    if isinstance(container, dict) and type(key) is str:
        found = container.get(key, missing)
        return json_number(found) if type(found) is int else found
    return missing


def _kind(value: Any) -> str:
    if type(value) is int:
        return "int"
    if type(value) is float:
        return "double"
    from ._celfuncs import kind

    return kind(value)


def binary(op: ast.operator, left: Any, right: Any, unknown: Any) -> Any:
    """``left op right`` (``op``: Python's node for ``+ - * / %``); raises ``ArithError``."""
    if left is unknown or right is unknown:
        if type(op) is not ast.Add:
            return False
        return False if left is right else (right if left is unknown else left)
    kind = _kind(left)
    if kind != _kind(right):
        if type(op) is ast.Add:
            return go_v(left) + go_v(right)
        raise ArithError(f"no such overload: {kind} {_SYMBOL[type(op)]} {_kind(right)}")
    if kind == "int":
        return _checked(_INT_OPS[type(op)](left, right))
    if kind == "double" and type(op) is not ast.Mod:
        return _DOUBLE_OPS[type(op)](left, right)
    if type(op) is ast.Add and kind in ("string", "bytes"):
        return left + right
    if type(op) is ast.Add and kind == "list":
        return CelList((left if type(left) is CelList else json_items(left))
                       + (right if type(right) is CelList else json_items(right)))  # fmt: skip
    raise ArithError(f"no such overload: {kind} {_SYMBOL[type(op)]} {kind}")


def negate(value: Any, unknown: Any) -> Any:
    if value is unknown:
        return False
    if type(value) is int:
        return _checked(-value)
    if type(value) is float:
        return -value
    raise ArithError(f"no such overload: -{_kind(value)}")


def _checked(value: int) -> int:
    if not INT_MIN <= value <= INT_MAX:
        raise ArithError("integer overflow")
    return value


def _int_divide(a: int, b: int) -> int:
    if b == 0:
        raise ArithError("divide by zero")
    quotient = abs(a) // abs(b)  # Go truncates toward zero
    return quotient if (a < 0) == (b < 0) else -quotient


def _int_modulo(a: int, b: int) -> int:
    if b == 0:
        raise ArithError("modulus by zero")
    if a == INT_MIN and b == -1:  # cel-go's moduloInt64Checked: the quotient overflows
        raise ArithError("integer overflow")
    rest = abs(a) % abs(b)  # Go's %: the dividend's sign
    return -rest if a < 0 else rest


def _double_divide(a: float, b: float) -> float:
    if b == 0:  # IEEE, as Go computes it: +-Inf, or NaN for 0/0 and NaN/0
        if a == 0 or a != a:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


_INT_OPS = {ast.Add: int.__add__, ast.Sub: int.__sub__, ast.Mult: int.__mul__, ast.Div: _int_divide,
            ast.Mod: _int_modulo}  # fmt: skip
_DOUBLE_OPS = {ast.Add: float.__add__, ast.Sub: float.__sub__, ast.Mult: float.__mul__, ast.Div: _double_divide}
_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%"}


def go_v(value: Any) -> str:
    """Go's ``%v`` of a CEL value's native form, as ``+`` of two types joins them: an int64 in full, a float64 as
    ``%g`` writes it, null as ``NULL_VALUE``, bytes (a Go ``[]byte``) as their values, ``[97 98]``."""
    if type(value) is bytes:
        return "[" + " ".join(map(str, value)) + "]"
    return str(value) if type(value) is int else str(go_string(value))


# Compile time: the overloads cel-go's checker finds (``stdlib``), for operands whose type it knows.
_NUMERIC = frozenset({"int", "double"})
_ACCEPTS: dict[type[ast.AST], frozenset[str]] = {ast.Sub: _NUMERIC, ast.Mult: _NUMERIC, ast.Div: _NUMERIC,
                                                  ast.Mod: frozenset({"int"}), ast.USub: _NUMERIC}  # fmt: skip


def static_kind(op: ast.AST, kinds: list[str | None], expr: str, argument: str) -> str | None:
    """The type of ``op`` applied to operands of ``kinds`` (``None``: ``dyn``), as cel-go's checker finds it;
    raises ``InvalidArgument`` where it finds no overload (``'a' * 2``, ``1 - 1.0``, ``1.5 % 2.0``)."""
    if type(op) is ast.Add:
        return None  # Inngest's '_+_' is (any, any) -> any
    accepts = _ACCEPTS.get(type(op))
    if accepts is None:  # '**', '+x': no CEL operator, refused by the caller's list of nodes
        return None
    known = [k for k in kinds if k is not None]
    if any(k not in accepts for k in known) or len(set(known)) > 1:
        shown = ", ".join(k or "dyn" for k in kinds)
        symbol = "-" if type(op) is ast.USub else _SYMBOL[type(op)]  # type: ignore[index]
        raise InvalidArgument(f"{argument}={expr!r} is not valid: no overload of '{symbol}' for ({shown}): "
                              f"CEL's '{symbol}' takes {' or '.join(sorted(accepts))} operands of one type (no "
                              "implicit int/double conversion: write 2.0, or double(x)), and Inngest's type check "
                              "refuses the expression")  # fmt: skip
    return known[0] if known else None


def check_number(node: ast.Constant, expr: str, argument: str) -> None:
    """An int literal outside int64 (``-9223372036854775808`` is in it), or a double one Go cannot hold (``1e400``):
    cel-go's parser refuses both (``strconv.ParseInt``, ``ParseFloat``)."""
    value, negated = node.value, getattr(node, "negated", False)
    if type(value) is int and not INT_MIN <= (-value if negated else value) <= INT_MAX:
        raise InvalidArgument(f"{argument}={expr!r} is not valid: the int literal {value} is outside CEL's int64 "
                              f"range ({INT_MIN} to {INT_MAX}); cel-go's parser refuses it")
    if type(value) is float and math.isinf(value):
        raise InvalidArgument(f"{argument}={expr!r} is not valid: a double literal beyond float64's range is refused "
                              "by cel-go's parser; write double('inf') for an infinity")


def check_map(node: ast.Dict, expr: str, argument: str) -> None:
    """A map literal's keys: string, int or bool literals, with no bool beside an int of the same value."""
    values = []
    for key in node.keys:
        value = key.value if isinstance(key, ast.Constant) else None
        if isinstance(key, ast.UnaryOp) and isinstance(key.op, ast.USub) and isinstance(key.operand, ast.Constant):
            value = -key.operand.value if type(key.operand.value) is int else None
        if type(value) not in (str, int, bool):
            raise InvalidArgument(f"{argument}={expr!r} is not valid here: jobsim reads map literals whose keys are "
                                  "string, int or bool literals ({'a': 1, 2: 'b', true: 'c'}); CEL's map keys are "
                                  "int, uint, bool or string")  # fmt: skip
        values.append(value)
    bools = {v for v in values if isinstance(v, bool)}
    if any(type(v) is int and v in bools for v in values):
        raise InvalidArgument(f"{argument}={expr!r} is not valid here: the keys true and 1 (or false and 0) are two "
                              "keys in CEL, which jobsim cannot hold apart in one map literal")  # fmt: skip


def unchain(node: ast.Compare, kind_of: Any, expr: str, argument: str) -> None:
    """``a op1 b op2 c`` (Python's chain, ``a op1 b and b op2 c``) made CEL's ``(a op1 b) op2 c`` in place: every
    comparison and ``in`` share one precedence level, left-associative (``CEL.g4 : relation``). The left operand of
    ``op2`` is then a bool; an ordering of it against anything but a bool (``a < b < c``) is an error at every
    evaluation, so it is refused, as before."""
    for op, right in zip(node.ops[1:], node.comparators[1:], strict=True):
        if type(op) in (ast.Lt, ast.LtE, ast.Gt, ast.GtE) and kind_of(right) != "bool":
            raise InvalidArgument(f"{argument}={expr!r} is not valid: CEL reads 'a < b < c' as '(a < b) < c', a "
                                  "bool compared with the next operand, where Python tests 'a < b and b < c'. "
                                  "Inngest accepts the expression, but a bool against a number is an error at each "
                                  "evaluation (no match), so jobsim refuses it; write 'a < b && b < c', or "
                                  "'(a == b) == c' for CEL's reading")  # fmt: skip
    left: ast.expr = node.left
    for op, right in zip(node.ops[:-1], node.comparators[:-1], strict=True):
        left = ast.Compare(left=left, ops=[op], comparators=[right])
    node.left, node.ops, node.comparators = left, node.ops[-1:], node.comparators[-1:]
