"""CEL source as Python source: string literals, comments and line breaks as CEL's lexer reads them
(``parser/gen/CEL.g4``), then CEL's operator spellings, constants and names made Python's outside the literals.

``jobsim._expr.parse`` hands the result to Python's ``ast``. What CEL's lexer has and Python's lacks is rewritten
first (``normalize``): ``//`` comments to the end of the line, line breaks (whitespace in CEL, the end of the
expression to Python), triple-quoted literals (``'''...'''``, which may span lines) and raw literals, whose
backslash never escapes the closing quote (CEL's ``r'a\\'`` is the two characters ``a\\``, unterminated in Python).
"""

from __future__ import annotations

import re

from . import _celsyntax
from .errors import InvalidArgument

_SPECIAL = re.compile(r"//|'''|\"\"\"|[\n\r\t\f]|(?<![\w.])(?:[rR][bB]?|[bB][rR])['\"]")
_WHITESPACE = "\n\r\t\f"  # CEL.g4 WHITESPACE, beside ' '


def normalize(expr: str, argument: str) -> str:
    """``expr`` with comments and line breaks made spaces, and triple-quoted and raw literals rewritten as the
    single-quoted, escaped literals of the same value; ``expr`` itself when it has none of them (the usual case)."""
    if _SPECIAL.search(expr) is None:
        return expr
    out: list[str] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c == "/" and expr.startswith("//", i):  # COMMENT : '//' (~'\n')*
            newline = expr.find("\n", i)
            i = n if newline < 0 else newline
            out.append(" ")
        elif c in _WHITESPACE:
            out.append(" ")
            i += 1
        elif c in "'\"":
            prefix = _prefix(expr, i)
            raw = "r" in prefix
            triple = expr.startswith(c * 3, i)
            end = _literal_end(expr, i, c, raw, triple)
            if end < 0:  # never closed: left as it is, for the parser to refuse
                out.append(expr[i:])
                break
            body = expr[i + (3 if triple else 1):end - (3 if triple else 1)]
            if raw:
                del out[len(out) - len(prefix):]  # the prefix's letters: r goes, b stays
                out.append("b" if "b" in prefix else "")
                body = body.replace("\\", "\\\\")
            out.append(_requote(body, expr, argument) if raw or triple else expr[i:end])
            i = end
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _prefix(expr: str, quote: int) -> str:
    """The lowercased prefix (``r``, ``b``, ``br``) of the literal whose quote is at ``quote``, or ``""``."""
    start = quote
    while start > 0 and quote - start < 2 and expr[start - 1] in "rRbB":
        start -= 1
    if start == quote or (start > 0 and (expr[start - 1].isalnum() or expr[start - 1] in "_.")):
        return ""
    prefix = expr[start:quote].lower()
    return prefix if prefix in ("r", "b", "br") else ""  # CEL.g4: BYTES is b before a STRING, which may be raw


def _literal_end(expr: str, start: int, quote: str, raw: bool, triple: bool) -> int:
    """The index just past the literal opened at ``start``, or -1 if it is never closed: a triple-quoted literal
    runs to the first unescaped closing triple (line breaks included), any other to its quote on the same line;
    in a raw literal a backslash escapes nothing."""
    close = quote * 3 if triple else quote
    j, n = start + len(close), len(expr)
    while j < n:
        c = expr[j]
        if c == "\\" and not raw:
            j += 2
        elif expr.startswith(close, j):
            return j + len(close)
        elif c in "\n\r" and not triple:
            return -1
        else:
            j += 1
    return -1


def _requote(body: str, expr: str, argument: str) -> str:
    """``body`` (its escapes as CEL writes them) as one single-quoted literal on one line."""
    out, i = ["'"], 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            if body[i + 1:i + 2] in ("\n", "\r"):
                raise InvalidArgument(f"{argument}={expr!r} is not valid: a backslash before a line break is no "
                                      "escape in CEL, which refuses the expression; write \\n for a line break")
            out.append(body[i:i + 2])
            i += 2
            continue
        out.append({"'": "\\'", "\n": "\\n", "\r": "\\r"}.get(c, c))
        i += 1
    out.append("'")
    return "".join(out)


_QUOTE = re.compile("[\"']")
_BODIES = {q: re.compile(rf"[^{q}\\\n]*(?:\\.[^{q}\\\n]*)*") for q in "\"'"}
"""What may follow an opening quote up to its closing one: characters that are none of that quote, a backslash
or a newline, and escapes (a backslash and any character but a newline). Unrolled, it never backtracks."""


def split_strings(expr: str) -> list[str]:
    r"""``expr``'s code and quoted string literals (escapes included) in turn: literals at odd indexes.

    What ``re.split`` gave with ``("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')``, in linear time: that scan tried
    every quote as a start, each running to the end of an unclosed literal (8,000 characters of ``\"``: 1 s).
    A literal that is not closed ends at the same place from every quote of its kind inside it (each is
    the second character of an escape, so the scan from it goes on in step), so those are not tried again.
    """
    parts: list[str] = []
    code = pos = 0
    unclosed = {'"': -1, "'": -1}  # per quote: a literal opened at or before this index is never closed
    while (found := _QUOTE.search(expr, pos)) is not None:
        start = found.start()
        quote = expr[start]
        pos = start + 1
        if start <= unclosed[quote]:
            continue
        end = _BODIES[quote].match(expr, pos).end()  # type: ignore[union-attr]  # it matches the empty text
        if end < len(expr) and expr[end] == quote:
            parts += [expr[code:start], expr[start:end + 1]]
            code = pos = end + 1
        else:
            unclosed[quote] = end
    parts.append(expr[code:])
    return parts


def cel_as_python(expr: str, argument: str) -> str:
    """``expr`` with CEL's spellings made Python's outside string literals only ('hi!' and 'true' are data), once
    Python's own words (``and``, ``True``), which CEL does not know, are refused."""
    parts = split_strings(normalize(expr, argument))
    _refuse_python_words(expr, parts[::2], argument)
    _celsyntax.refuse_non_ascii(expr, parts[::2], argument)
    _celsyntax.refuse_adjacent_literals(expr, parts, argument)
    return "".join(_celsyntax.literal_as_python(parts[i - 1], part, expr, argument) if i % 2
                   else _as_python(part, expr, argument) for i, part in enumerate(parts))  # fmt: skip


def _as_python(code: str, expr: str, argument: str) -> str:
    """CEL operators, constants and names in ``code`` (no string literal in it) as Python writes them."""
    if "~" in code:
        raise InvalidArgument(f"{argument}={expr!r} is not valid: '~' is no CEL operator; CEL's negation is '!'")
    code = _celsyntax.translate_words(code, expr, argument).replace("&&", " and ").replace("||", " or ")
    return re.sub(r"!(?!=)", "~", code)  # '!' binds as tightly as '-' in CEL ('!a == b' is '(!a) == b'): Python's '~'


_PYTHON_WORDS = {"and": "&&", "or": "||", "not": "!", "True": "true", "False": "false", "None": "null"}
_PYTHON_WORD = re.compile(r"(?<![\w.])(" + "|".join(_PYTHON_WORDS) + r")(?!\w)")


def _refuse_python_words(expr: str, code: list[str], argument: str) -> None:
    """Python's spellings, which CEL does not know (``and`` is a syntax error, ``True`` an undeclared name):
    Inngest refuses the expression, so the translation to Python must not quietly accept them."""
    for part in code:
        found = _PYTHON_WORD.search(part)
        if found:
            word = found.group(1)
            raise InvalidArgument(f"{argument}={expr!r} is not valid: {word!r} is Python, not CEL, and Inngest "
                                  f"refuses the expression; CEL writes {_PYTHON_WORDS[word]!r}")  # fmt: skip


