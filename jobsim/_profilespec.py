"""A profile's name as text: ``NAME(option=value, ...)`` for a variant (``"agenda(process_every=1s)"``), and
comma-separated lists of names (``jobsim compare --profiles``)."""

from __future__ import annotations

import re

from .errors import InvalidArgument

_SPEC = re.compile(r"\s*([^\s()]+)\s*\((.*)\)\s*", re.DOTALL)
_OPTION = re.compile(r"\s*([A-Za-z_]\w*)\s*=\s*(\S(?:.*\S)?)\s*", re.DOTALL)


def parse_spec(text: str, argument: str = "profile") -> tuple[str, dict[str, str]] | None:
    """``"agenda(process_every=1s)"`` -> ``("agenda", {"process_every": "1s"})``; None if not of that form (no
    parentheses). A value may hold commas inside brackets or quotes (``tasks={"a": {...}, "b": {...}}``). A
    refusal names ``argument`` (the CLI's ``--profile``)."""
    match = _SPEC.fullmatch(text)
    if match is None:
        if "(" in text or ")" in text:  # 'agenda(process_every=1s': the list of names said nothing of the '('
            unclosed = text.count("(") > text.count(")")
            problem = "its '(' is never closed" if unclosed else "its parentheses are out of place"
            raise InvalidArgument.build(argument, text, f"{problem}; write NAME(option=value, ...), e.g. "
                                        "'agenda(process_every=1s)'")  # fmt: skip
        return None
    options: dict[str, str] = {}
    for part in _split(match.group(2)):
        option = _OPTION.fullmatch(part)
        if option is None or option.group(1) in options:
            raise InvalidArgument.build(argument, text, "NAME(option=value, ...) with each option given once, "
                                                         "e.g. 'agenda(process_every=1s)'")  # fmt: skip
        options[option.group(1)] = option.group(2).strip("'\"")
    return match.group(1), options


def split_names(text: str) -> list[str]:
    """Comma-separated profile names (``"inngest,agenda(process_every=1s)"``), commas in parentheses kept."""
    return [name.strip() for name in _split(text) if name.strip()]


def _split(text: str) -> list[str]:
    """``text`` cut at its commas outside brackets and quoted strings; [] for blank text."""
    parts, depth, quote, start, escaped = [], 0, "", 0, False
    for i, char in enumerate(text):
        if quote:  # inside a string: only its closing quote (not escaped) ends it
            escaped, quote = not escaped and char == "\\", "" if char == quote and not escaped else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts if text.strip() else []
