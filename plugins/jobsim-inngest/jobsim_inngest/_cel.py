"""Inngest's key and priority expressions: the CEL subset real functions use.

Keys (``Concurrency.key``, ``Throttle.key``, ``RateLimit.key``, ``Debounce.key``,
``Batch.key``, ``idempotency``) and ``Priority.run`` are CEL expressions evaluated
against the event. Supported here, safely (no ``eval``):

* paths rooted at ``event``: ``event.data.user_id``, ``event.data["user-id"]``;
* string, number, bool and null literals: ``"openai"`` (one shared key), ``0``;
* ``+``: string concatenation or number addition, ``-`` on numbers:
  ``event.data.org + "-" + event.data.region``;
* the conditional ``cond ? a : b`` with ``cond`` in jobsim's expression subset
  (``== != < <= > >= && || !``): ``event.data.plan == "pro" ? 120 : 0``;
* ``int(x)``, CEL's conversion: an event's numbers are JSON doubles on Inngest's server, and a
  priority must be an int (``int(event.data.priority)``; a bare path gives priority 0 there).

Anything else is refused with an ``InvalidArgument`` that names the option, rather
than being read as something it is not.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any

from jobsim import InvalidArgument
from jobsim._expr import compile_expression
from jobsim._flow import cel_int_or_none

_HELP = (
    "a CEL key: a path such as 'event.data.user_id', a literal such as '\"openai\"', '+' between them, "
    "'cond ? a : b' or int(x)"
)
_MISSING = object()


def compile_value(expr: Any, argument: str) -> Callable[[Any], Any]:
    """``expr`` -> ``event -> value``; raises ``InvalidArgument`` naming ``argument``.

    The value is CEL's, raw: jobsim turns a flow-control key into Inngest's string of it
    (``jobsim._expr.compile_key``), and a priority reads the number.
    """
    if not isinstance(expr, str) or not expr.strip():
        raise InvalidArgument.build(argument, expr, _HELP)
    branches = _split_conditional(expr)
    if branches is not None:
        condition, then, otherwise = branches
        check = compile_expression(condition, argument, truthy=True)  # JS-like, as unknown.go evalTruthyCondition
        yes, no = compile_value(then, argument), compile_value(otherwise, argument)
        return lambda event: yes(event) if check(event, event) else no(event)
    source = expr.strip()
    for cel, python in (("null", "None"), ("true", "True"), ("false", "False")):
        source = re.sub(rf"\b{cel}\b", python, source)
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError:
        raise InvalidArgument.build(argument, expr, _HELP) from None
    _check(tree, expr, argument)

    def value(event: Any) -> Any:
        try:
            return _eval(tree, event)
        except TypeError:  # "a" + 1, a missing field + "x": a CEL error, which Inngest evaluates as false
            return False

    return value


def _split_conditional(expr: str) -> tuple[str, str, str] | None:
    """``a ? b : c`` at the top level (outside quotes and brackets), else ``None``."""
    depth, quote, question = 0, "", -1
    for i, ch in enumerate(expr):
        if quote:
            quote = "" if ch == quote and expr[i - 1] != "\\" else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0 and ch == "?" and question < 0:
            question = i
        elif depth == 0 and ch == ":" and question >= 0:
            return expr[:question], expr[question + 1 : i], expr[i + 1 :]
    return None


def _check(node: ast.AST, expr: str, argument: str) -> None:
    allowed = (ast.BinOp, ast.Add, ast.Sub, ast.Constant, ast.Attribute, ast.Name, ast.Load, ast.Subscript,
               ast.UnaryOp, ast.USub, ast.Call)  # fmt: skip
    calls = set()
    for child in ast.walk(node):
        if not isinstance(child, allowed):
            raise InvalidArgument.build(argument, expr, _HELP)
        if isinstance(child, ast.Call):  # CEL's int(x) only: what a priority needs for an event's number
            if not (isinstance(child.func, ast.Name) and child.func.id == "int" and len(child.args) == 1
                    and not child.keywords):  # fmt: skip
                raise InvalidArgument.build(argument, expr, _HELP)
            calls.add(child.func)
        if isinstance(child, ast.Name) and child not in calls and child.id not in ("event", "None", "True", "False"):
            raise InvalidArgument(f"{argument}={expr!r}: unknown name {child.id!r}; paths start with 'event.'")
        if isinstance(child, ast.Subscript) and not isinstance(child.slice, ast.Constant):
            raise InvalidArgument.build(argument, expr, _HELP)


def _eval(node: ast.AST, event: Any) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return event if node.id == "event" else {"None": None, "True": True, "False": False}[node.id]
    if isinstance(node, ast.Attribute):
        return _json(_field(_eval(node.value, event), node.attr))
    if isinstance(node, ast.Subscript):
        return _json(_field(_eval(node.value, event), node.slice.value))  # type: ignore[attr-defined]
    if isinstance(node, ast.Call):  # int(x), the one call _check lets through
        number = cel_int_or_none(_eval(node.args[0], event))
        if number is None:
            raise TypeError("int() of a value CEL cannot convert")
        return number
    if isinstance(node, ast.UnaryOp):
        return -_eval(node.operand, event)
    assert isinstance(node, ast.BinOp)
    left, right = _eval(node.left, event), _eval(node.right, event)
    if isinstance(node.op, ast.Add):
        if isinstance(left, str) != isinstance(right, str):
            raise TypeError("CEL adds strings to strings and numbers to numbers only")
        return left + right
    return left - right


def _field(value: Any, name: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return value.get(name)
    if isinstance(value, (list, str, int, float, bool)):  # JSON values have no fields: not `list.count`
        return None
    found = getattr(value, str(name), _MISSING)  # the event itself: event.data, event.name, ...
    return None if found is _MISSING else found


def _json(value: Any) -> Any:
    """A number read from the event as Inngest's server holds it: a JSON double (``pkg/event/event.go``,
    ``encoding/json``), so ``event.data.boost`` is ``30.0``, not ``30``; a literal ``30`` stays an int."""
    return float(value) if type(value) is int else value
