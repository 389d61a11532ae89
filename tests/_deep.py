"""A value nested too deep to show: for tests of messages that quote what they refuse."""

from __future__ import annotations

from typing import Any

TOO_DEEP = 50_000
"""Past every Python's limit: 3.10 and 3.11 recurse in ``repr`` up to ``sys.getrecursionlimit()``,
3.12+ reprs a dict in C, under a C recursion limit that a 5,000-deep dict stays within on 3.13."""


def nested(depth: int = TOO_DEEP) -> dict[str, Any]:
    """``{"a": {"a": ...}}``, ``depth`` levels: its ``repr`` and JSON encoders recurse too deep."""
    top: dict[str, Any] = {}
    inner = top
    for _ in range(depth):
        inner["a"] = inner = {}
    return top
