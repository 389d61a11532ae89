"""CEL source read as Python source, and CEL's calls checked as Inngest's compiler checks them.

``jobsim._expr`` parses a CEL expression with Python's ``ast`` once CEL's spellings are made Python's. CEL
identifiers that are Python keywords (``event.data.from``, ``.class``, ``.import``, ``.lambda``) are valid CEL
field names: cel-go reserves words only as identifiers, not as fields (``parser/parser.go : reservedIds``,
"valid field names for protos"); only ``in``, ``true``, ``false`` and ``null`` are tokens of their own
(``parser/gen/CEL.g4``), so ``event.data.in`` is a syntax error there. Such a name is carried through Python's
parser with a prefix no CEL identifier (ASCII only) can have, and given back its name once parsed.
"""

from __future__ import annotations

import ast
import keyword
import re
from typing import Any

from . import _celarith, _celfuncs
from .errors import InvalidArgument

MANGLE = "\u01c0"  # LATIN LETTER DENTAL CLICK: a Python identifier letter, never in a CEL identifier
CEL_RESERVED = frozenset({
    "as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop", "package",
    "namespace", "return", "var", "void", "while",
})  # fmt: skip
"""The CEL spec's reserved words (langdef.md, "Syntax"; cel-go ``parser.go : reservedIds``): refused as names."""
_TOKENS = frozenset({"in", "true", "false", "null"})
_WORD = re.compile(r"(\.\s*)?\b([A-Za-z_]\w*)")
_NUMBER_DOT = re.compile(r"(?<![\w.])(\d+)\.(?=\s*[A-Za-z_])")
_LITERALS = {"true": "True", "false": "False", "null": "None"}


def translate_words(code: str, expr: str, argument: str) -> str:
    """The identifiers of ``code`` (CEL outside string literals) as Python reads them."""

    def word(found: re.Match[str]) -> str:
        dot, name = found.group(1), found.group(2)
        if dot:
            if name in _TOKENS:
                raise InvalidArgument(f"{argument}={expr!r} is not valid: '.{name}' is a syntax error in CEL, where "
                                      f"'{name}' is a keyword, not a field name; write ['{name}'] for a field "
                                      "of that name")  # fmt: skip
            return dot + MANGLE + name if keyword.iskeyword(name) else found.group(0)
        if name in _LITERALS:
            return _LITERALS[name]
        if name == "async":
            return "_async"
        if name == "_async":  # what jobsim writes for CEL's async: the user's _async is no variable of Inngest's
            raise InvalidArgument(f"{argument}={expr!r}: unknown name '_async'; Inngest's variables are event and "
                                  "async")  # fmt: skip
        if name in CEL_RESERVED:
            raise InvalidArgument(f"{argument}={expr!r} is not valid: {name!r} is a reserved word in CEL, which "
                                  "Inngest refuses as a name (it may be a field: event.data.if)")  # fmt: skip
        return MANGLE + name if keyword.iskeyword(name) and name != "in" else name

    code = _NUMBER_DOT.sub(r"\1 .", code)  # 1.size(): a member of the int 1 in CEL, a malformed float to Python
    return _WORD.sub(word, code)


def refuse_adjacent_literals(expr: str, parts: list[str], argument: str) -> None:
    """``'a' 'b'``: Python joins adjacent string literals into one, CEL refuses them (a syntax error)."""
    for i in range(2, len(parts) - 1, 2):
        if not parts[i] and parts[i - 1] in ("''", '""') and parts[i + 1][0] == parts[i - 1][0]:
            raise InvalidArgument(f"{argument}={expr!r} is not valid: {parts[i - 1][0] * 3} opens a triple-quoted "
                                  "string literal in CEL, and it is never closed")  # fmt: skip
        if re.fullmatch(r"\s*[rRbB]{0,2}", parts[i]):
            raise InvalidArgument(f"{argument}={expr!r} is not valid: two string literals side by side "
                                  f"({parts[i - 1]} {parts[i + 1]}) are a syntax error in CEL; join them into one "
                                  "literal, or with '+' where the option takes '+'")  # fmt: skip


_PREFIX = re.compile(r"(?<![\w.])([A-Za-z]{1,2})$")
_PYTHON_PREFIXES = frozenset({"r", "u", "f", "b", "br", "rb", "fr", "rf"})
_ESCAPE = re.compile(r"\\(?:([abfnrtv\\'\"])|([`?])|[xX]([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})"
                     r"|([0-3][0-7]{2})|(.?))", re.DOTALL)
_ESCAPES_HELP = ("CEL's escapes are \\a \\b \\f \\n \\r \\t \\v \\\\ \\' \\\" \\` \\? \\xHH \\uHHHH \\UHHHHHHHH and "
                 "three-digit octal \\ooo; write '\\\\' for a backslash, or a raw string: r'\\d+'")


def literal_as_python(code: str, literal: str, expr: str, argument: str) -> str:
    """A CEL string literal (``code``: the code before it, which holds its prefix) as the Python literal of the same
    value: cel-go's ``parser/unescape.go`` refuses an escape it does not know (``'\\d'``, which Python keeps as
    ``\\d``, ``'\\N{...}'``, a short octal ``'\\1'``), and reads ``\\?``, ``\\```, ``\\X41`` as Python does not."""
    found = _PREFIX.search(code)
    prefix = found.group(1).lower() if found and found.group(1).lower() in _PYTHON_PREFIXES else ""
    if prefix not in ("", "r", "b", "br"):
        raise _bad(argument, expr, f"{code[-len(prefix):]}{literal} is Python, not CEL: a CEL string literal's "
                   "prefix is r (raw), b (bytes) or br (raw bytes)")
    if "r" in prefix or "\\" not in literal:
        return literal
    is_bytes = "b" in prefix

    def escape(match: re.Match[str]) -> str:
        _, python_lacks, hex_, u4, u8, _, bad = match.groups()
        if python_lacks is not None:  # \? and \` are the character itself
            return python_lacks
        if hex_ is not None:
            return "\\x" + hex_  # CEL's \X41 too
        if (u4 or u8) is not None:
            point = int(u4 or u8, 16)
            if is_bytes or 0xD800 <= point < 0xE000 or point > 0x10FFFF:
                what = "no escape of a bytes literal" if is_bytes else "not a valid code point"
                raise _bad(argument, expr, f"{match.group(0)} in the literal {literal} is {what} in CEL (refused)")
        if bad is not None:
            raise _bad(argument, expr, f"{match.group(0)} in the literal {literal} is not a CEL escape, and cel-go "
                       f"refuses the expression (Python would keep it as written); {_ESCAPES_HELP}")
        return match.group(0)

    return _ESCAPE.sub(escape, literal[1:-1]).join((literal[0], literal[-1])) if len(literal) >= 2 else literal


def refuse_non_ascii(expr: str, code: list[str], argument: str) -> None:
    for part in code:
        if not part.isascii():
            bad = next(c for c in part if not c.isascii())
            raise InvalidArgument(f"{argument}={expr!r} is not valid: {bad!r} outside a string literal; CEL "
                                  "identifiers are ASCII letters, digits and '_' (write ['name'] for any other "
                                  "field name)")  # fmt: skip


def unmangle(tree: ast.AST) -> None:
    """Give the names ``translate_words`` prefixed their CEL spelling back."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith(MANGLE):
            node.attr = node.attr[1:]
        elif isinstance(node, ast.Name) and node.id.startswith(MANGLE):
            node.id = node.id[1:]


_FRAMES: dict[type[ast.AST], int] = {ast.Call: 4, ast.BoolOp: 3, ast.List: 2, ast.Dict: 2}
"""Python frames ``_expr._eval`` (or ``jobsim_inngest._cel._eval``) takes to evaluate a node's operand, at most;
any other node takes one."""
MAX_FRAMES = 400
"""The frames an expression may take, nested: leaves 600 of Python's default 1,000 for the caller."""
SHALLOW = MAX_FRAMES // max(_FRAMES.values())
"""An expression this long or shorter has too few nodes to nest ``MAX_FRAMES`` frames deep."""


def too_deep(expr: str, argument: str) -> InvalidArgument:
    return _bad(argument, expr[:200] + ("..." if len(expr) > 200 else ""), "it is nested too deeply for jobsim, "
                "which evaluates an expression recursively (calls, macros, '!', '-', brackets and parentheses inside "
                "one another, and chained '.field' or '+'); keep it shallower: cel-go's parser too refuses more than "
                "250 nested levels")  # fmt: skip


def check_depth(tree: ast.AST, expr: str, argument: str) -> None:
    """Refuse a tree whose evaluation would nest more than ``MAX_FRAMES`` Python frames (a ``RecursionError`` out of
    ``sim.send`` otherwise); iterative, as the tree may be deep."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        depth += _FRAMES.get(type(node), 1)
        if depth > MAX_FRAMES:
            raise too_deep(expr, argument)
        stack.extend((child, depth) for child in ast.iter_child_nodes(node))


def _bad(argument: str, expr: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"{argument}={expr!r} is not valid: {why}")


_CALLS_HELP = ("functions: size(x) or x.size(), x.contains(s), x.startsWith(s), x.endsWith(s), x.matches(re), "
               "int(x), double(x), string(x), lowercase(s), uppercase(s), has(x.f); macros: x.all(v, p), "
               "x.exists(v, p), x.exists_one(v, p), x.filter(v, p), x.map(v, e)")  # fmt: skip


def check_call(node: ast.Call, expr: str, argument: str, restricted: bool) -> tuple[str, list[ast.expr]]:
    """A call's CEL name and its operands (a method's receiver first), once its shape and its literal operands'
    types are ones Inngest's compiler accepts; raises ``InvalidArgument`` naming ``argument`` otherwise."""
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
        raise _bad(argument, expr, f"CEL calls take plain arguments; {_CALLS_HELP}")
    func = node.func
    if isinstance(func, ast.Name):
        name, operands = func.id, list(node.args)
        if name == "has":
            if len(operands) != 1 or not isinstance(operands[0], ast.Attribute):
                raise _bad(argument, expr, "has() takes one field selection, e.g. has(event.data.userId)")
        elif name not in _celfuncs.GLOBALS or len(operands) != 1:
            raise _bad(argument, expr, f"unknown function {name}() with {len(operands)} argument(s); {_CALLS_HELP}")
    elif isinstance(func, ast.Attribute):
        name, operands = func.attr, [func.value, *node.args]
        if name in _celfuncs.MACROS:
            ok = len(node.args) == 2 or (name == "map" and len(node.args) == 3)
            if not ok or not isinstance(node.args[0], ast.Name):
                raise _bad(argument, expr, f".{name}() takes a variable name and an expression, e.g. "
                                           f"event.data.items.{name}(item, item.qty > 1)")  # fmt: skip
            if node.args[0].id == "__result__":  # cel-go's parser/macro.go: the comprehension's accumulator
                raise _bad(argument, expr, f".{name}(__result__, ...): iteration variable overwrites accumulator "
                                           "variable (cel-go refuses it); name the variable otherwise")  # fmt: skip
        elif name not in _celfuncs.METHODS or len(node.args) != (0 if name == "size" else 1):
            raise _bad(argument, expr, f"unknown method .{name}() with {len(node.args)} argument(s); {_CALLS_HELP}")
    else:
        raise _bad(argument, expr, f"only named functions and methods can be called; {_CALLS_HELP}")
    if restricted and name not in _celfuncs.RESTRICTED_OK:
        raise _bad(argument, expr, f"{name}() in a cancellation's condition: Inngest validates it with "
                   "DefaultRestrictiveValidationPolicy (pkg/expressions/validation.go), which refuses macros and every "
                   "function but the conversions int(), double() and uint() (which jobsim does not read); keep to "
                   "int(), double(), comparisons, '&&', '||', '!' and 'in'")
    check_types(name, operands, expr, argument)
    return name, operands


def check_negation(node: ast.UnaryOp, expr: str, argument: str) -> None:
    """``-x`` in a cancellation's condition: CEL's parser makes ``-5`` a literal, but the negation of anything else is
    the function ``-_``, which ``DefaultRestrictiveValidationPolicy`` refuses (``mathFnNames``: no math functions)."""
    if not (isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float)):
        raise _bad(argument, expr, "'-' of a field in a cancellation's condition: Inngest validates it with "
                   "DefaultRestrictiveValidationPolicy (pkg/expressions/validation.go), which refuses arithmetic, "
                   "negation included; compare with a negative literal instead ('x > -5', not '-x < 5')")


def check_arithmetic(node: ast.BinOp | ast.UnaryOp, expr: str, argument: str, restricted: bool) -> None:
    """``a + b``, ``-x`` and the rest: refused in a cancellation's condition, and where cel-go's checker finds no
    overload for the operands' known types (``_celarith.static_kind``)."""
    if restricted and isinstance(node, ast.BinOp):
        raise _bad(argument, expr, "arithmetic in a cancellation's condition: Inngest validates it with "
                   "DefaultRestrictiveValidationPolicy (pkg/expressions/validation.go), which refuses '+', '-', '*', "
                   "'/', '%' and negation (mathFnNames); keep to comparisons, '&&', '||', '!' and 'in'")
    if restricted:
        check_negation(node, expr, argument)  # type: ignore[arg-type]
    operands = [node.left, node.right] if isinstance(node, ast.BinOp) else [node.operand]
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        node.operand.negated = True  # type: ignore[attr-defined]  # -9223372036854775808 is an int literal
    _celarith.static_kind(node.op, [static_kind(o) for o in operands], expr, argument)


def static_kind(node: ast.AST) -> str | None:
    """The CEL type the compiler knows ``node`` has (a literal, a list, a call's result), ``None`` for ``dyn``."""
    if isinstance(node, ast.Constant):
        return "bytes" if isinstance(node.value, bytes) else _celfuncs.kind(node.value)
    if isinstance(node, (ast.List, ast.Dict)):
        return "list" if isinstance(node, ast.List) else "map"
    if isinstance(node, ast.BinOp) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)):
        operands = [node.left, node.right] if isinstance(node, ast.BinOp) else [node.operand]
        try:
            return _celarith.static_kind(node.op, [static_kind(o) for o in operands], "", "")
        except InvalidArgument:  # refused where _expr._check reaches the node itself
            return None
    if isinstance(node, (ast.Compare, ast.UnaryOp)):
        return "bool"
    if isinstance(node, ast.Call):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name in _celfuncs.SIGNATURES:
            return _celfuncs.SIGNATURES[name][1]
        return {"has": "bool", "all": "bool", "exists": "bool", "exists_one": "bool"}.get(name, "list")
    return None


def check_types(name: str, operands: list[ast.expr], expr: str, argument: str) -> None:
    """Refuse what Inngest's type check refuses (``validation.go : Validate`` compiles with checking): a literal
    operand of a type no overload takes (``size(1)``, ``'a' in 1``, ``1.startsWith('a')``), an invalid literal
    regular expression."""
    if name in _celfuncs.MACROS:
        accepted: tuple[frozenset[str], ...] = (frozenset({"list", "map"}),)
    else:
        accepted = _celfuncs.SIGNATURES.get(name, ((),))[0]
    for operand, kinds in zip(operands, accepted, strict=False):
        found = static_kind(operand)
        if found is not None and kinds and found not in kinds:
            raise _bad(argument, expr, f"no overload of {name} for a {found} (it takes {' or '.join(sorted(kinds))}): "
                                       "Inngest's type check refuses the expression")  # fmt: skip
    if name == "matches" and isinstance(operands[1], ast.Constant) and isinstance(operands[1].value, str):
        try:
            _celfuncs.regex(operands[1].value)
        except _celfuncs.CelTypeError as exc:
            raise _bad(argument, expr, f"matches() pattern {exc}; CEL's matches() is Go's RE2") from None


def scope_of(node: ast.Call, bound: frozenset[str]) -> frozenset[str]:
    """The names bound inside a macro's body: the caller's and the macro's variable, which shadows an outer name
    of its own, ``event`` and ``async`` too (cel-go's checker and interpreter look a comprehension's variable
    up first: ``event.data.items.exists(event, event > 1)`` tests each item)."""
    return bound | {node.args[0].id}  # type: ignore[attr-defined]


def is_macro(node: Any) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _celfuncs.MACROS
