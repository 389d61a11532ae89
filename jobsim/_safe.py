"""Text for messages about values and exceptions that job code or a test handed to jobsim.

A message must survive the value it describes. ``repr`` runs user code (a
``__repr__`` that raises, a half-built object), recurses (a dict nested 5,000
deep raises ``RecursionError``) and can be huge (a 50 MB string); ``str`` of an
exception runs its ``__str__``. If building the message fails, the user gets that
failure from deep inside jobsim instead of the error meant for them, and a job's
exception whose ``__str__`` raises would break the simulation while its attempt is
recorded. Standard library only; called only on error paths, never per step.
"""

from __future__ import annotations

from typing import Any

LIMIT = 1000
"""Longest repr a message shows; the rest is cut and its length said (the value itself is not lost)."""


def shown(value: Any, limit: int = LIMIT) -> str:
    """``repr(value)`` for a message: never raises, at most about ``limit`` characters."""
    try:
        text = repr(value)
    except Exception as exc:  # RecursionError included
        return f"<{type(value).__qualname__} object (its repr raised {type(exc).__name__})>"
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text):,} characters)"
    return text


def said(error: object) -> str:
    """``"ValueError: message"`` for an exception, even one whose ``__str__`` raises.

    Python's own traceback shows such an exception as ``<exception str() failed>``; so does this.
    (``message``'s body, inline: the engine says every failed attempt's error this way.)
    """
    try:
        text = str(error)
    except Exception:
        text = "<exception str() failed>"
    else:
        if not isinstance(text, str):
            text = "<exception str() failed>"
    return f"{type(error).__name__}: {text}"


def message(error: object) -> str:
    """``str(error)``, or ``<exception str() failed>`` when its ``__str__`` raises or returns a non-string."""
    try:
        text = str(error)
    except Exception:
        return "<exception str() failed>"
    return text if isinstance(text, str) else "<exception str() failed>"
