"""Keys and match expressions over events, as Inngest writes them.

* A **key** is a dotted path rooted at ``event`` (``"event.data.userId"``,
  ``"event.user.id"``), a quoted constant (``'"openai"'``: one key for every event, as
  CEL reads it) or a callable ``event -> hashable``.
* A **match** (``wait_for_event(match="data.cartId")``, ``Cancel(match=...)``)
  compares the same path on the run's event and the candidate event
  (Inngest rewrites it to ``event.data.cartId == async.data.cartId``).
* An **expression** (``if_exp=``) is a small CEL subset, evaluated safely:
  ``event.data.plan == 'pro' && async.data.amount > 100``, with ``== != < <= > >=``,
  ``&& || !``, string/number/bool/null literals (negative numbers too), dotted paths rooted
  at ``event`` (the run's trigger) and ``async`` (the candidate), ``['field']`` and list
  indexes ``tags[0]``. Operators are read outside string literals only. A Python callable
  ``(event, candidate) -> bool`` is accepted too.
"""

from __future__ import annotations

import ast
import inspect
import operator
import re
import warnings
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from . import _celarith, _celfuncs, _cellex, _celsyntax
from ._celarith import CelList, CelMap, json_number
from ._cellex import cel_as_python as cel_as_python  # tests read them here
from ._cellex import split_strings as split_strings
from ._checks import check_callable
from ._events import EVENT_FIELDS, Event
from ._gostring import FALSE_KEY, go_string
from .errors import InvalidArgument, JobsimError

Key = str | Callable[[Any], Hashable]
_MISSING = object()
_EVENT_KEYS = frozenset(EVENT_FIELDS)


def _field(value: Any, part: str) -> Any:
    """A JSON object's field, or one of an ``Event``'s fields (``name``, ``data``, ``id``, ``user``, ``ts``, ``v``, the
    keys of Inngest's event map); anything else has no fields (``_MISSING``): ``tags.count`` on a list is missing,
    not the bound method ``list.count``, and ``event.__class__`` is missing, not the Python class."""
    if isinstance(value, Mapping):
        return value.get(part, _MISSING)
    return getattr(value, part) if isinstance(value, Event) and part in _EVENT_KEYS else _MISSING


def _walk(value: Any, parts: list[str]) -> Any:
    for part in parts:
        value = _field(value, part)
        if value is _MISSING:
            return None
    return value


class _Unknown:
    """A path that reaches nothing (a missing field, an index past a list's end), as Inngest's expression
    engine treats it (``pkg/expressions/unknown.go`` ``handleUnknownCall``): not ``null``, though it
    equals ``null``; falsy; and every operator on it has a fixed answer (``_compare``)."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


def _lookup(value: Any, parts: list[str]) -> Any:
    """``_walk`` for expressions: ``UNKNOWN``, not ``None``, when the path reaches nothing."""
    for part in parts:
        if value is UNKNOWN:
            return UNKNOWN
        value = _field(value, part)
        if value is _MISSING:
            return UNKNOWN
    return value


class Unevaluable(Exception):
    """Raised by a key function (``key=`` of ``RateLimit`` or ``Batch``, ``idempotency=``) for an event its
    expression fails to evaluate on, where Inngest schedules no run for the event: ``ratelimit.go :
    RateLimitKey`` and ``batch/redis.go : batchKey`` return the error, which ``executor.go : schedule`` and
    ``runner.go : initialize`` hand back instead of a run. jobsim records a skipped run (reason ``key_error``)."""


def raised(argument: str, name: str, exc: Exception, event: Any, must: str) -> JobsimError:
    """The error for a user's callable (a key, a priority, a condition) that raised on an event: it is called
    by sim.send or advance, where a bare ``KeyError`` would not say which option of which function broke."""
    return JobsimError(f"{argument}={name} raised {type(exc).__name__}: {exc} for event "
                       f"{getattr(event, 'name', event)!r}; a callable given as {argument}= must {must} for every "
                       "event it sees (e.g. event.data.get('userId') for a field some events lack)")


def compile_path(key: str, argument: str = "key") -> Callable[[Any], Any]:
    """``"event.data.userId"`` -> a function of the event returning that raw value (``None`` if missing)."""
    if not isinstance(key, str) or not key.startswith("event.") or len(key.split(".")) < 2:
        raise InvalidArgument.build(
            argument, key, "expected a dotted path rooted at 'event', such as 'event.data.userId', "
            "or a callable taking the event"
        )
    parts = key.split(".")[1:]
    if not all(parts):
        raise InvalidArgument.build(argument, key, "a path has no empty segments, e.g. 'event.data.userId'")
    if _NOT_A_FIELD.search(key) is not None:  # else read as a field named "user + '-' + event", missing on every event
        raise InvalidArgument.build(
            argument, key, "a core key is a dotted path of field names ('event.data.userId'), not an expression "
            "(operators, calls, indexes, quotes or spaces); for one, give a callable taking the event, e.g. "
            "lambda event: f\"{event.data['user']}-{event.data['org']}\""
        )

    def read(event: Any) -> Any:
        return _walk(event, parts)

    read.__qualname__ = read.__name__ = f"path({key})"
    return read


_NOT_A_FIELD = re.compile(r"[\s+*/%()\[\]{}'\"<>=!&|?:,]")
"""A character no CEL field selection ``event.a.b`` has: the key is an expression (``-`` stays: ``user-id`` has
always read that JSON field)."""
_LITERAL = re.compile(r'"([^"\\]*)"|\'([^\'\\]*)\'')
"""A CEL string constant without escapes, in either quote: ``'"openai"'`` or ``"'openai'"``."""


def compile_key(key: Key, argument: str = "key") -> Callable[[Any], str]:
    """``"event.data.userId"``, a quoted constant (``'"openai"'``) or a callable -> a function of
    the event returning Inngest's key string.

    Inngest evaluates a flow-control key expression with CEL and keys the limit by the *string
    form* of the result: ``fmt.Sprintf("%v", value)`` (strings as they are), then hashed — see
    ``pkg/inngest/concurrency.go : StepConcurrency.Evaluate``, ``pkg/execution/queue/item.go :
    GetThrottleConfig``, ``pkg/execution/debounce/debounce.go : debouncer.debounceKey``,
    ``pkg/execution/batch/redis.go : redisBatchManager.batchKey`` and
    ``pkg/execution/ratelimit/ratelimit.go : RateLimitKey`` (``util.XXHash``, which also hashes
    ``%v``; idempotency is this rate limit). So ``1``, ``1.0`` and ``"1"`` share one limit. Event
    numbers are JSON float64 there (``pkg/event/event.go : Event.Map``), a missing field makes CEL
    return unknown, which ``pkg/expressions/cel.go : eval`` turns into ``false``, and an explicit
    null is CEL null, printed ``NULL_VALUE``. A callable's result is stringified the same way.
    """
    if callable(key):
        check_callable(argument, key, 1, "a callable taking the event and returning its key")
        fn = key

        def call(event: Any) -> str:
            try:
                value = fn(event)
            except Unevaluable:
                raise
            except Exception as exc:  # a raw KeyError out of sim.send or advance would not say which option broke
                raise raised(argument, call.__name__, exc, event, "give a key") from exc
            return value if type(value) is str else go_string(value)

        call.__qualname__ = call.__name__ = f"key({getattr(fn, '__qualname__', fn)!s})"
        return call
    literal = _LITERAL.fullmatch(key) if isinstance(key, str) else None
    if literal is not None:  # a CEL string constant, '"openai"': one limit for every event
        constant = literal.group(1) if literal.group(1) is not None else literal.group(2)

        def same(event: Any) -> str:
            return constant

        same.__qualname__ = same.__name__ = f"key({key})"
        return same
    if isinstance(key, str) and not key.startswith("event."):
        raise InvalidArgument.build(
            argument, key, "expected a dotted path rooted at 'event', such as 'event.data.userId', a quoted "
            "constant such as '\"openai\"', or a callable taking the event"
        )
    compile_path(key, argument)  # validates the path
    parts = key.split(".")[1:]
    missing = _MISSING

    def read(event: Any) -> str:  # ``_walk``, inlined for dicts: a flow key is read at every run start
        value = event
        for part in parts:
            value = value.get(part, missing) if type(value) is dict else _field(value, part)
            if value is missing:
                return FALSE_KEY
        return value if type(value) is str else go_string(value)

    read.__qualname__ = read.__name__ = f"key({key})"
    return read


_EVENT_FIELDS = ("data", "user", "id", "name", "ts", "v")


def compile_match(path: str, argument: str = "match") -> Callable[[Any, Any], bool]:
    """``"data.cartId"`` -> ``(event, candidate) -> event.data.cartId == candidate.data.cartId``."""
    if not isinstance(path, str) or not path or path.startswith(".") or path.endswith("."):
        raise InvalidArgument.build(argument, path, "expected a dotted path such as 'data.cartId'")
    parts = path.removeprefix("event.").split(".")
    if parts[0] not in _EVENT_FIELDS or not all(part and not any(c.isspace() for c in part) for part in parts):
        # `match="orderId"` would compare two missing fields and wait out its whole timeout, silently
        raise InvalidArgument.build(
            argument, path, "expected a dotted path into the event such as 'data.cartId' (it starts with one of "
            f"{', '.join(_EVENT_FIELDS)})"
        )

    def matches(event: Any, candidate: Any) -> bool:  # Inngest's rewrite: event.<path> == async.<path>
        return _compare(ast.Eq(), _lookup(event, parts), _lookup(candidate, parts))

    return Keyed(matches, tuple(parts), tuple(parts))


class Keyed:
    """A compiled ``(event, candidate) -> bool`` condition that holds only if ``mine`` (a path into the run's
    event) equals ``theirs`` (a path into the candidate), as ``_compare`` decides ``==``: the engine files a
    waiting run under that value (``key_of``) and checks only the waits filed under the candidate's value,
    not every wait for the event's name. The condition is pure, so a wait left unchecked changes nothing.
    """

    __slots__ = ("fn", "mine", "theirs")

    def __init__(self, fn: Callable[[Any, Any], bool], mine: tuple[str, ...], theirs: tuple[str, ...]) -> None:
        self.fn, self.mine, self.theirs = fn, mine, theirs

    def __call__(self, event: Any, candidate: Any) -> bool:
        return self.fn(event, candidate)


def key_of(value: Any, parts: tuple[str, ...]) -> Any:
    """The value at ``parts`` that a ``Keyed`` condition compares, as a dict key: ``==`` holds between two
    known values only when Python's ``==`` does, and an unknown equals only ``null``, so an unknown is filed
    as ``None``. Raises ``TypeError`` for a value that cannot be a dict key (a list, a map)."""
    found = _lookup(value, list(parts))
    found = None if found is UNKNOWN else found
    hash(found)
    return found


_BINOPS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_ROOTS = {"event": "event", "_async": "async"}


def compile_expression(expr: Any, argument: str = "if_exp", *, one: bool = False, truthy: bool = False,
                       restricted: bool = False) -> Callable[[Any, Any], bool]:
    """A CEL-subset string (or a callable) -> ``(event, candidate) -> bool``.

    ``one``: a condition on one event (a batch's ``if_``), where a callable ``event -> bool``
    is the natural form; one of two arguments is still taken, called with the event twice.
    A string holds only when it gives the bool ``true``, as Inngest's boolean evaluator demands
    (``pkg/expressions/expressions.go : booleanEvaluator.Evaluate``: any other result is
    ``ErrInvalidResult``, so no match): ``event.data.name`` alone never holds, nor does
    ``event.data.a && event.data.b`` on two strings, which gives the second string. ``truthy``: the
    condition of a ternary, which Inngest reads JS-like (``unknown.go : evalTruthyCondition``). ``restricted``:
    a function's cancellation condition, which Inngest validates with ``DefaultRestrictiveValidationPolicy``
    (no macros, no functions but ``int``/``double``; ``_celsyntax.check_call``).
    """
    if callable(expr):
        single = one and _binds(expr, 1) and not _binds(expr, 2)
        check_callable(argument, expr, 1 if single else 2, "a callable event -> bool (or (event, candidate) -> bool)"
                       if one else "a callable (event, candidate) -> bool")  # fmt: skip
        fn, name = expr, f"{getattr(expr, '__qualname__', expr)!s}"

        def holds(event: Any, candidate: Any) -> bool:
            try:
                return fn(event) if single else fn(event, candidate)  # type: ignore[no-any-return]
            except Exception as exc:
                raise raised(argument, name, exc, candidate, "answer") from exc

        return holds
    if not isinstance(expr, str) or not expr.strip():
        raise InvalidArgument.build(argument, expr, "expected an expression string or a callable")
    tree = parse(expr, argument, _EXPR_HELP)
    _check(tree, expr, argument, frozenset(), restricted)

    def evaluate(event: Any, candidate: Any) -> bool:
        result = _eval(tree, {"event": event, "_async": candidate})
        return _truthy(result) if truthy else result is True

    paths = _equality(tree)
    return evaluate if paths is None else Keyed(evaluate, *paths)


def _path(node: ast.AST) -> tuple[str, list[str]] | None:
    """``event.data.userId`` -> ``("event", ["data", "userId"])``; ``None`` for anything but a dotted path."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in _ROOTS or not parts:
        return None
    return node.id, parts[::-1]


def _equality(tree: ast.AST) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The two paths of an ``event.<a> == async.<b>`` that must hold for the expression to hold: the whole
    expression, or one operand of a top-level ``&&`` (which holds, or is truthy, only if every operand is;
    a comparison gives ``True``, ``False`` or an unknown, so only ``True``). ``None`` if there is none."""
    for node in tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) else [tree]:
        if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)):
            continue
        left, right = _path(node.left), _path(node.comparators[0])
        if left is None or right is None or left[0] == right[0]:
            continue
        mine, theirs = (left, right) if left[0] == "event" else (right, left)
        return tuple(mine[1]), tuple(theirs[1])
    return None


def _binds(fn: Any, arity: int) -> bool:
    """``fn`` can be called with ``arity`` positional arguments (unknown without a signature: no)."""
    try:
        inspect.signature(fn).bind(*([None] * arity))
    except (TypeError, ValueError):
        return False
    return True


def parse(expr: str, argument: str, help_text: str) -> ast.expr:
    """``expr``, CEL, as a Python expression tree (names ``_celsyntax`` carried through Python's parser given
    back); ``InvalidArgument`` with ``help_text`` if it does not parse."""
    source = _cellex.cel_as_python(expr, argument)
    try:
        if "\\" in source:  # '\\d' in a literal: an invalid escape, which Python only warns about
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(source.strip(), mode="eval").body
        else:
            tree = ast.parse(source.strip(), mode="eval").body
    except (SyntaxError, ValueError):  # ValueError: a NUL character, as Python 3.10 reports it
        raise InvalidArgument.build(argument, expr, help_text) from None
    except RecursionError:  # '!!!…' or '((…))' thousands deep: Python's parser recurses
        raise _celsyntax.too_deep(expr, argument) from None
    if len(source) > _celsyntax.SHALLOW:  # a shorter expression cannot nest too deep
        _celsyntax.check_depth(tree, expr, argument)
    if _celsyntax.MANGLE in source:
        _celsyntax.unmangle(tree)
    return tree


_EXPR_HELP = (
    "expected a CEL-like expression over 'event' and 'async', e.g. "
    "\"event.data.userId == async.data.userId && async.data.plan == 'pro'\""
)


_ALLOWED = frozenset({ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Invert, ast.USub, ast.Compare, ast.Constant,
                      ast.Attribute, ast.Name, ast.Load, ast.Subscript, ast.List, ast.Dict, ast.Call, ast.In,
                      ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, *_BINOPS})  # fmt: skip


def _check(node: ast.AST, expr: str, argument: str, bound: frozenset[str], restricted: bool) -> None:
    """Refuse what is not CEL as jobsim reads it; ``bound``: the variables of the macros around ``node``."""
    stack = [node]
    while stack:
        child = stack.pop()
        kind = type(child)
        if kind is ast.Attribute:  # the commonest nodes first, by their exact type
            stack.append(child.value)  # type: ignore[attr-defined]
        elif kind is ast.Constant:
            if type(child.value) in (int, float):  # type: ignore[attr-defined]
                _celarith.check_number(child, expr, argument)  # type: ignore[arg-type]
        elif kind is ast.Name:
            name = child.id  # type: ignore[attr-defined]
            if name not in _ROOTS and name not in bound:
                raise InvalidArgument(f"{argument}={expr!r}: unknown name {name!r}; paths start with 'event.' or "
                                      "'async.'")  # fmt: skip
        elif kind not in _ALLOWED:
            raise InvalidArgument.build(argument, expr, _EXPR_HELP)
        elif kind is ast.Call:
            assert isinstance(child, ast.Call)
            _, operands = _celsyntax.check_call(child, expr, argument, restricted)
            if _celsyntax.is_macro(child):  # the receiver outside, the body with the macro's variable bound
                _check(operands[0], expr, argument, bound, restricted)
                for body in child.args[1:]:
                    _check(body, expr, argument, _celsyntax.scope_of(child, bound), restricted)
            else:
                stack.extend(operands)
        else:
            _check_operator(child, expr, argument, restricted)
            stack.extend(ast.iter_child_nodes(child))


def _check_operator(node: ast.AST, expr: str, argument: str, restricted: bool) -> None:
    """An operator node's own rules (before its operands are checked: a chain is nested first)."""
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        if type(node.op) not in _ALLOWED:  # '**', '+x', '<<'...
            raise InvalidArgument.build(argument, expr, _EXPR_HELP)
        if type(node.op) is not ast.Invert:
            _celsyntax.check_arithmetic(node, expr, argument, restricted)
    elif isinstance(node, ast.Compare):
        if len(node.ops) > 1:  # Python chains them; CEL nests them
            _celarith.unchain(node, _celsyntax.static_kind, expr, argument)
        if type(node.ops[0]) is ast.In:
            _celsyntax.check_types("in", [node.left, node.comparators[0]], expr, argument)
    elif isinstance(node, ast.Dict):
        _celarith.check_map(node, expr, argument)


def _eval(node: ast.AST, scope: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return scope[node.id]
    if isinstance(node, ast.Attribute):  # an event's number is a JSON double; a map literal's keeps its type
        base = _eval(node.value, scope)
        value = UNKNOWN if base is UNKNOWN else _field(base, node.attr)
        if type(value) is int:
            return value if type(base) is CelMap else json_number(value)
        return UNKNOWN if value is _MISSING else value
    if isinstance(node, ast.Subscript):
        value, index = _eval(node.value, scope), _eval(node.slice, scope)
        if isinstance(value, (list, dict)):  # CEL's list[i], map[k]; missing: no such element (or key)
            return _celarith.find(value, index, UNKNOWN)
        found = _lookup(value, [index]) if type(index) is str else UNKNOWN
        return json_number(found) if type(found) is int else found
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, scope)
        if isinstance(node.op, ast.USub):  # -5, -x: a number, else a CEL error
            try:
                return _celarith.negate(operand, UNKNOWN)
            except _celarith.ArithError:
                return UNKNOWN
        if operand is UNKNOWN:  # !unknown: a call on an unknown, false (``handleUnknownCall``)
            return False
        return not operand if isinstance(operand, bool) else UNKNOWN  # !'x': no such overload, an error
    if isinstance(node, ast.BoolOp):
        return _logical(node, scope)
    if not isinstance(node, ast.Compare):  # one test on the way to the usual comparison
        if isinstance(node, ast.Call):
            return _celfuncs.evaluate(node, scope)
        if isinstance(node, ast.BinOp):
            try:
                return _celarith.binary(node.op, _eval(node.left, scope), _eval(node.right, scope), UNKNOWN)
            except _celarith.ArithError:
                return UNKNOWN
        if isinstance(node, ast.Dict):  # keys are literals (_celarith.check_map); a value unknown: so is the map
            values = [_eval(value, scope) for value in node.values]
            keys = [_eval(key, scope) for key in node.keys]  # type: ignore[arg-type]
            return UNKNOWN if any(v is UNKNOWN for v in values) else CelMap(list(zip(keys, values, strict=True)))
        assert isinstance(node, ast.List)
        items = [_eval(item, scope) for item in node.elts]  # an element unknown or an error: so is the list
        return UNKNOWN if any(item is UNKNOWN for item in items) else CelList(items)
    left = _eval(node.left, scope)
    for op, right_node in zip(node.ops, node.comparators, strict=True):
        right = _eval(right_node, scope)
        if type(op) is ast.In:
            try:
                return _celfuncs.call("in", [left, right], UNKNOWN)
            except _celfuncs.CelTypeError:
                return UNKNOWN
        try:
            if not _compare(op, left, right):
                return False
        except TypeError:  # 1 < 'a': a CEL error, which the operators around it treat as an unknown
            return UNKNOWN
        left = right
    return True


def _logical(node: ast.BoolOp, scope: dict[str, Any]) -> Any:
    """``&&`` / ``||`` as Inngest evaluates them (``pkg/expressions/unknown.go : evalTruthyLogical``): on bools,
    CEL's own; otherwise JS-like, ``||`` giving the first truthy operand or the last, ``&&`` the first falsy
    operand or the last: the *value*, not a bool."""
    values = [_eval(v, scope) for v in node.values]
    want = isinstance(node.op, ast.Or)  # the truthiness that decides
    for value in values:
        if _truthy(value) is want:
            return value
    return values[-1]


def _truthy(value: Any) -> bool:
    """Inngest's ``isTruthy``: unknown, an error, null, false, "", 0 are falsy; anything else (a list, a map,
    empty or not) is truthy."""
    if value is UNKNOWN or value is None:
        return False
    if isinstance(value, (bool, int, float, str)):
        return bool(value)
    return True


def _compare(op: ast.cmpop, left: Any, right: Any) -> bool:
    """One comparison as Inngest evaluates it (``pkg/expressions/unknown.go``, ``runtimeUnknownCall``).

    With an unknown side (a path that reaches nothing): ``==`` holds only against ``null`` (two unknowns
    are not equal), ``!=`` holds unless the other side is ``null``; an unknown is less than anything
    (``<``, ``<=`` hold when it is on the left) and greater than nothing. ``null`` against a value of
    another type: ``==`` fails, ``!=`` holds, and ``<`` and the rest compare the value with its type's
    zero (``0``, ``""``, ``false``). Anything else is CEL's own comparison; a type mismatch (``1 < 'a'``)
    is an error, which makes the whole expression false (``TypeError``, caught by the caller).
    """
    kind = type(op)
    if left is UNKNOWN or right is UNKNOWN:
        if kind is ast.Eq:
            return left is None or right is None
        if kind is ast.NotEq:
            return not (left is None or right is None)
        return (left is UNKNOWN) is (kind in (ast.Lt, ast.LtE))
    if (left is None) is not (right is None) and kind not in (ast.Eq, ast.NotEq):
        left, right = (_zero(right), right) if left is None else (left, _zero(left))
    if kind is ast.Eq or kind is ast.NotEq:
        return _cel_equal(left, right) is (kind is ast.Eq)
    if isinstance(left, bool) is not isinstance(right, bool) and left is not None and right is not None:
        # CEL keeps bools apart from numbers, which Python's bool is: true < 2 is an error
        raise TypeError(f"no CEL overload for a bool and {type(right if isinstance(left, bool) else left).__name__}")
    return _BINOPS[kind](*_doubles(left, right))


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _cel_equal(left: Any, right: Any) -> bool:
    """CEL's ``==``: a bool equals only a bool (Python's ``True == 1`` holds, CEL's ``true == 1`` is false), in
    lists and maps too, which CEL compares element by element; numbers are equal across int and double."""
    kind = type(left)
    if kind is type(right) and kind in _SCALARS:  # the usual case, first: as fast as Python's ==
        return left == right  # type: ignore[no-any-return]
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(map(_cel_equal, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_cel_equal(value, right[key]) for key, value in left.items())
    left, right = _doubles(left, right)
    return bool(left == right)


def _doubles(left: Any, right: Any) -> tuple[Any, Any]:
    """An int beside a double made a double, as cel-go compares them (``common/types/compare.go :
    compareDoubleInt``): an event's ID 2**53 + 1, a JSON double 2**53, equals the int literal written in full."""
    if type(left) is int and type(right) is float:
        return json_number(left), right  # an event's int beyond float64 (not JSON Go reads) is an infinity
    if type(left) is float and type(right) is int:
        return left, json_number(right)
    return left, right


def _zero(value: Any) -> Any:
    """The zero of ``value``'s type, which Inngest puts in place of a ``null`` compared with it (``zeroValArgs``)."""
    return type(value)() if isinstance(value, (bool, int, float, str)) else None


def match_and_if(call: str, match: Any, if_exp: Any) -> InvalidArgument:
    """``match=`` and ``if_exp=`` given together: Inngest takes one (its TypeScript types allow one, and the SDK
    sends ``match`` as the expression, dropping ``if``); jobsim had required both, silently."""
    combined = (f" (both in one: if_exp=\"event.{match} == async.{match} && ({if_exp})\")"
                if isinstance(match, str) and isinstance(if_exp, str) else "")
    return InvalidArgument(f"{call} got match={match!r} and if_exp={if_exp!r}: give one of them; Inngest takes "
                           f"either a match or an if expression, not both{combined}")
