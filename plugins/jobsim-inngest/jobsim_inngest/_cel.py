"""Inngest's key and priority expressions: the CEL subset real functions use.

Keys (``Concurrency.key``, ``Throttle.key``, ``RateLimit.key``, ``Debounce.key``,
``Batch.key``, ``idempotency``) and ``Priority.run`` are CEL expressions evaluated
against the event. Supported here, safely (no ``eval``):

* paths rooted at ``event``: ``event.data.user_id``, ``event.data["user-id"]``, ``event.data.tags[0]``;
* string, number, bool and null literals: ``"openai"`` (one shared key), ``0``;
* ``+``, ``-``, ``*``, ``/``, ``%`` and ``-x`` (``jobsim._celarith``), as Inngest's evaluator runs them
  (``pkg/expressions/unknown.go : runtimeUnknownCall``, ``exprenv/overloads.go``): ``+`` of two values of
  one CEL type adds or joins them, of two types joins their Go ``%v`` (``"a" + 1`` is ``"a1"``, and an event's number,
  a double, plus the int literal ``1`` is ``"51"`` for 5: write ``1.0``); a missing field is CEL
  unknown, which ``+`` drops (``event.data.org + "-" + event.data.missing`` is ``"acme-"``; two
  unknowns give ``false``); ``- * /`` take two ints or two doubles (``event.data.total * 2.0``), ``%`` two
  ints, int64 overflow and an int division by zero are errors, and each is ``false`` with an unknown operand,
  as every other call is (``handleUnknownCall``);
* the conditional ``cond ? a : b`` with ``cond`` in jobsim's expression subset
  (``== != < <= > >= && || !``): ``event.data.plan == "pro" ? 120 : 0``;
* ``int(x)``, CEL's conversion: an event's numbers are JSON doubles on Inngest's server, and a
  priority must be an int (``int(event.data.priority)``; a bare path gives priority 0 there);
* CEL's functions as ``jobsim._celfuncs`` evaluates them (its docstring has Inngest's facts): ``size(x)`` /
  ``x.size()``, ``x.contains(s)``, ``x.startsWith(s)``, ``x.endsWith(s)``, ``x.matches(re)``, ``double(x)``,
  Inngest's ``lowercase(s)`` and ``uppercase(s)`` (``lowercase(event.data.email)``: one key per address, any
  case), ``has(x.f)``, ``x in [...]`` and list literals. A missing operand gives what ``handleUnknownCall``
  gives (``size`` 0, the others ``false``); a wrong type is a CEL error. Macros (``exists``...) are not keys.

A value still unknown at the end is ``false``, as ``pkg/expressions/cel.go : eval`` makes it. A CEL
error (``-`` of a string, ``int("abc")``, ``true + true``) is ``false`` with an error there, which each
option reads its own way: ``on_error`` gives the option's value for it (``_config.py``).

Anything else is refused with an ``InvalidArgument`` that names the option, rather
than being read as something it is not.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from typing import Any

from jobsim import Event, InvalidArgument
from jobsim._celarith import ArithError, CelList, binary, negate
from jobsim._celfuncs import MACROS, CelTypeError, call
from jobsim._cellex import normalize, split_strings
from jobsim._celsyntax import check_arithmetic, check_call, check_types
from jobsim._events import EVENT_FIELDS
from jobsim._expr import UNKNOWN, compile_expression, parse
from jobsim.errors import _init_or_name_keyword

_HELP = (
    "a CEL key: a path such as 'event.data.user_id', a literal such as '\"openai\"', '+ - * / %' between them, "
    "'cond ? a : b', int(x), lowercase(x), size(x), x.contains(s) and CEL's other string functions, has(x.f) or "
    "'x in [...]'"
)


class CelError(Exception):
    """A CEL evaluation error (``types.Err``): no overload for the operands, a failed conversion."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _init_or_name_keyword(self, super().__init__, args, kwargs)  # a keyword is named, not a bare TypeError


def _false() -> Any:
    return False


def compile_value(expr: Any, argument: str, on_error: Callable[[], Any] = _false) -> Callable[[Any], Any]:
    """``expr`` -> ``event -> value``; raises ``InvalidArgument`` naming ``argument``.

    The value is CEL's, raw: jobsim turns a flow-control key into Inngest's string of it
    (``jobsim._expr.compile_key``), and a priority reads the number. ``on_error()`` is the value of an
    evaluation that fails (it may raise ``jobsim._expr.Unevaluable``).
    """
    if not isinstance(expr, str) or not expr.strip():
        raise InvalidArgument.build(argument, expr, _HELP)
    branches = _split_conditional(normalize(expr, argument))  # comments, triple-quoted and raw literals as CEL's
    if branches is not None:
        condition, then, otherwise = branches
        check = compile_expression(condition, argument, truthy=True)  # JS-like, as unknown.go evalTruthyCondition
        yes, no = compile_value(then, argument, on_error), compile_value(otherwise, argument, on_error)
        return lambda event: yes(event) if check(event, event) else no(event)
    tree = parse(expr.strip(), argument, _HELP)  # a string literal's 'true' is data
    _check(tree, expr, argument)

    def value(event: Any) -> Any:
        try:
            got = _eval(tree, event)
        except CelError:
            return on_error()
        return False if got is UNKNOWN else got

    return value


def _split_conditional(expr: str) -> tuple[str, str, str] | None:
    """``a ? b : c`` at the top level (outside string literals and brackets), else ``None``. Literals are found
    as the expression parser finds them (``split_strings``: ``'\\\\'`` is one escaped backslash, so its second
    quote closes it); a conditional inside the middle branch (``a ? b ? c : d : e``) keeps its own ``:``, and so does
    a map literal. ``expr`` is ``normalize``d: no comment, triple-quoted or raw literal is left to misread."""
    depth, question, pending, start = 0, -1, 0, 0
    for n, part in enumerate(split_strings(expr)):
        if n % 2 == 0:  # code; the odd parts are string literals
            for i, ch in enumerate(part, start):
                if ch in "([{":  # a map literal's ':' too
                    depth += 1
                elif ch in ")]}":
                    depth -= 1
                elif depth == 0 and ch == "?":
                    question = i if question < 0 else question
                    pending += 1
                elif depth == 0 and ch == ":" and question >= 0:
                    pending -= 1
                    if pending == 0:
                        return expr[:question], expr[question + 1 : i], expr[i + 1 :]
        start += len(part)
    return None


def _check(node: ast.AST, expr: str, argument: str) -> None:
    allowed = (ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod,
               ast.Constant, ast.Attribute, ast.Name, ast.Load, ast.Subscript,
               ast.UnaryOp, ast.USub, ast.Call, ast.List, ast.Compare, ast.In)  # fmt: skip
    calls = set()
    for child in ast.walk(node):
        if not isinstance(child, allowed):
            raise InvalidArgument.build(argument, expr, _HELP)
        if isinstance(child, (ast.BinOp, ast.UnaryOp)):  # a literal type error: refused, as Inngest's checker does
            check_arithmetic(child, expr, argument, restricted=False)
        if isinstance(child, ast.Call):  # CEL's functions (jobsim._celfuncs); no macro
            name, _ = check_call(child, expr, argument, restricted=False)
            if name in MACROS:
                raise InvalidArgument(f"{argument}={expr!r} is not valid: jobsim reads no macro ({name}) in a key; "
                                      f"{_HELP}")  # fmt: skip
            calls.add(child.func)
        if isinstance(child, ast.Compare):  # 'x in [...]' only: a comparison belongs in a 'cond ? a : b'
            if len(child.ops) != 1 or not isinstance(child.ops[0], ast.In):
                raise InvalidArgument.build(argument, expr, _HELP)
            check_types("in", [child.left, child.comparators[0]], expr, argument)
        if isinstance(child, ast.Name) and child not in calls and child.id not in ("event", "None", "True", "False"):
            name = "async" if child.id == "_async" else child.id  # jobsim's spelling of CEL's async
            raise InvalidArgument(f"{argument}={expr!r}: unknown name {name!r}; paths start with 'event.'"
                                  + (" (a key reads the event only)" if name == "async" else ""))  # fmt: skip
        if isinstance(child, ast.Subscript) and not isinstance(child.slice, ast.Constant):
            raise InvalidArgument.build(argument, expr, _HELP)


def _eval(node: ast.AST, event: Any) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return event if node.id == "event" else {"None": None, "True": True, "False": False}[node.id]
    if isinstance(node, (ast.Attribute, ast.Subscript)):
        base = _eval(node.value, event)
        name = node.attr if isinstance(node, ast.Attribute) else node.slice.value  # type: ignore[attr-defined]
        if base is UNKNOWN:
            return UNKNOWN
        got = _field(base, name)
        return got if type(base) is CelList else _json(got)  # a literal list's ints are CEL ints
    if isinstance(node, ast.Call):
        return _call(node, event)
    if isinstance(node, ast.List):
        items = [_eval(item, event) for item in node.elts]
        return UNKNOWN if any(item is UNKNOWN for item in items) else CelList(items)
    if isinstance(node, ast.Compare):  # x in [...], the one comparison _check lets through
        return _calling("in", [_eval(node.left, event), _eval(node.comparators[0], event)])
    try:  # arithmetic as jobsim._celarith evaluates it (Inngest's runtimeUnknownCall and cel-go's rules)
        if isinstance(node, ast.UnaryOp):
            return negate(_eval(node.operand, event), UNKNOWN)
        assert isinstance(node, ast.BinOp)
        return binary(node.op, _eval(node.left, event), _eval(node.right, event), UNKNOWN)
    except ArithError as exc:
        raise CelError(str(exc)) from None


def _call(node: ast.Call, event: Any) -> Any:
    """A CEL function (``jobsim._celfuncs``): of an unknown, what ``handleUnknownCall`` gives (``size`` 0, any
    other call ``false``); ``has(x.f)`` of a missing field is unknown there, ``false`` once it is the result."""
    func = node.func
    if isinstance(func, ast.Name) and func.id == "has":
        field = node.args[0]
        assert isinstance(field, ast.Attribute)
        base = _eval(field.value, event)
        return UNKNOWN if base is UNKNOWN or _field(base, field.attr) is UNKNOWN else True
    if isinstance(func, ast.Attribute):
        return _calling(func.attr, [_eval(func.value, event), *(_eval(arg, event) for arg in node.args)])
    assert isinstance(func, ast.Name)
    return _calling(func.id, [_eval(arg, event) for arg in node.args])


def _calling(name: str, args: list[Any]) -> Any:
    try:
        return call(name, args, UNKNOWN)
    except CelTypeError as exc:
        raise CelError(str(exc)) from None


def _field(value: Any, name: Any) -> Any:
    """A field of a JSON object, an element of a JSON array (``event.data.tags[0]``) or one of the event's fields
    (``name``, ``data``, ``id``, ``user``, ``ts``, ``v``: Inngest's event map); ``UNKNOWN`` where the path does not
    exist (the attribute is marked unknown: ``expressions/data.go : partialWithPatterns``), ``None`` for a null.
    Nothing else of a Python object is reachable: ``event.__class__`` is unknown, as it is on Inngest."""
    if isinstance(value, Mapping):
        return value.get(name, UNKNOWN)
    if isinstance(value, (list, tuple)) and type(name) is int:  # CEL's list[i]; out of range: no such element
        return value[name] if 0 <= name < len(value) else UNKNOWN
    if isinstance(value, Event) and name in EVENT_FIELDS:
        return getattr(value, name)
    return UNKNOWN  # JSON values have no fields


def _json(value: Any) -> Any:
    """A number read from the event as Inngest's server holds it: a JSON double (``pkg/event/event.go``,
    ``encoding/json``), so ``event.data.boost`` is ``30.0``, not ``30``; a literal ``30`` stays an int."""
    return float(value) if type(value) is int else value
