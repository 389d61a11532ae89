"""A CEL ``matches()`` pattern, Go's RE2 syntax (``regexp/syntax``), as a Python ``re`` pattern that matches the same.

Read where the two differ and Python would otherwise match something else, or refuse a valid pattern:

* ``\\d \\w \\s \\b`` (and their negations) are ASCII in RE2: each, or a ``[...]`` holding one, gets Python's ASCII flag
  for itself only (``(?a:\\d)``), so ``(?i)é`` still matches ``É`` as RE2's Unicode case folding does (a pattern-wide
  ``re.ASCII`` made case folding ASCII-only too);
* ``$`` without the ``m`` flag is the end of the text in RE2 (``\\z``), Python's ``\\Z``; Python's ``$`` also matches
  before a final newline;
* ``\\z`` (end of text) is Python's ``\\Z``; ``\\Q...\\E`` quotes its text; ``(?<name>re)`` is ``(?P<name>re)``;
* POSIX classes inside brackets, ``[[:alpha:]]``, are their ASCII ranges (Python reads ``[[:alpha:]`` as a set
  of the characters ``[:alph``); a bare ``[`` inside brackets is a literal;
* refused, as RE2 refuses them: a repeat count over 1000 (``a{1001}``), a flag but ``i m s U`` (``(?x)``); and
  refused because Python's ``re`` has no equivalent: ``(?U)`` (ungreedy), a negated POSIX class (``[[:^alpha:]]``).
"""

from __future__ import annotations

import re

_POSIX = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ", "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~", "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}  # fmt: skip
"""Go's ``regexp/syntax`` ``posixGroup``, as the inside of a Python character class."""
_PERL = frozenset("dDwWsSbB")
_FLAGS = re.compile(r"\(\?([A-Za-z-]*)[:)]")
_REPEAT = re.compile(r"\{(\d+)(?:,(\d*))?\}")
_MAX_REPEAT = 1000  # regexp/syntax parse.go: a count over 1000 is ErrInvalidRepeatSize


class RegexError(ValueError):
    """A pattern RE2 refuses, or one Python's ``re`` cannot match as RE2 does."""


def as_python(pattern: str) -> str:
    """``pattern`` (RE2) as a Python pattern matching the same; ``RegexError`` for one it cannot be."""
    out: list[str] = []
    multiline = any("m" in flags for flags in _FLAGS.findall(pattern))
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            i = _escape(pattern, i, out)
            continue
        if c == "[":
            i = _bracket(pattern, i, out)
            continue
        if c == "(" and pattern.startswith("(?", i):
            _flags(pattern, i)
            if pattern.startswith("(?<", i) and pattern[i + 3 : i + 4] not in ("=", "!"):
                out.append("(?P<")
                i += 3
                continue
        repeat = _REPEAT.match(pattern, i) if c == "{" else None
        if repeat and any(count and (len(count) > 4 or int(count) > _MAX_REPEAT) for count in repeat.groups()):
            raise RegexError(f"repeat count {repeat.group(0)} is over RE2's limit of {_MAX_REPEAT}")
        out.append("\\Z" if c == "$" and not multiline else c)
        i += 1
    return "".join(out)


def _escape(pattern: str, i: int, out: list[str]) -> int:
    letter = pattern[i + 1]
    if letter == "Q":  # \Q...\E: the text between, quoted
        end = pattern.find("\\E", i + 2)
        end = len(pattern) if end < 0 else end
        out.append(re.escape(pattern[i + 2 : end]))
        return end + 2
    out.append("\\Z" if letter == "z" else f"(?a:\\{letter})" if letter in _PERL else pattern[i : i + 2])
    return i + 2


def _bracket(pattern: str, start: int, out: list[str]) -> int:
    """The class opening at ``start``: appended to ``out`` as Python reads it; the index after its ``]``."""
    i = start + 1
    i += pattern.startswith("^", i)
    i += pattern.startswith("]", i)  # a ']' first is a literal in both
    body, ascii_only = [pattern[start:i]], False
    while i < len(pattern) and pattern[i] != "]":
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            ascii_only |= pattern[i + 1] in _PERL
            body.append(pattern[i : i + 2])
            i += 2
        elif pattern.startswith("[:", i) and (end := pattern.find(":]", i + 2, i + 12)) > 0:  # names are short
            name = pattern[i + 2 : end]
            if name.startswith("^"):
                raise RegexError(f"the negated POSIX class [:{name}:] inside brackets has no Python equivalent; "
                                 f"write [^[:{name[1:]}:]] for a class of only that")  # fmt: skip
            if name not in _POSIX:
                raise RegexError(f"[:{name}:] is no POSIX class RE2 knows ({', '.join(_POSIX)})")
            body.append(_POSIX[name])
            i = end + 2
        else:
            body.append("\\" + c if c in "[&~|" else c)  # literals in RE2; Python warns of future set operations
            i += 1
    if i >= len(pattern):
        raise RegexError(f"missing closing ] for the class at position {start}")
    body.append("]")
    text = "".join(body)
    out.append(f"(?a:{text})" if ascii_only else text)
    return i + 1


def _flags(pattern: str, i: int) -> None:
    found = _FLAGS.match(pattern, i)
    if found is None or not found.group(1):
        return
    flags = found.group(1).replace("-", "")
    if "U" in flags:
        raise RegexError("(?U), RE2's ungreedy flag, has no Python equivalent; write the lazy quantifiers (*? +?)")
    if not set(flags) <= set("ims"):
        raise RegexError(f"({found.group(0)[1:-1]}): RE2's flags are i, m, s and U only")
