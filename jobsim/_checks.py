"""Checks of callables users hand to jobsim, made where they are given.

A key, an expression, a priority, a replay hook or a scenario's ``build`` is
called much later, deep inside the engine; a callable that cannot take the
arguments it will get, or an ``async def`` where jobsim calls it synchronously
(its coroutine would be used as a value and never run), would surface there as a
``TypeError`` far from the line that caused it, or not at all. These checks run
once, at declaration, never on the hot path.
"""

from __future__ import annotations

import inspect
from typing import Any

from .errors import InvalidArgument


def check_callable(argument: str, value: Any, arity: int, shape: str, *, async_ok: bool = False) -> None:
    """Refuse ``value`` unless it can be called with ``arity`` positional arguments.

    ``shape`` says how it is called, for the message (``"a callable (event) -> key"``).
    Callables without a signature (some builtins and C functions) are let through.
    """
    if not callable(value):
        raise InvalidArgument.build(argument, value, shape)
    if not async_ok and (inspect.iscoroutinefunction(value) or inspect.isasyncgenfunction(value)):
        raise InvalidArgument.build(
            argument, value, f"{shape}, a plain function: jobsim calls it without awaiting, so an "
            "`async def` would give back a coroutine that never runs"
        )  # fmt: skip
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*([None] * arity))
    except TypeError as exc:
        raise InvalidArgument.build(argument, value, f"{shape} ({exc})") from None
