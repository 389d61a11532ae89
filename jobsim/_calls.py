"""Calling a step's job code so that its failure keeps no request alive.

A failed attempt keeps its exception, and the exception's traceback keeps the frame
that raised it. On CPython 3.11+ that frame, once its function has returned, holds
its caller's frame (``f_back``), which holds *its* caller, and so on up to the first
frame still running: a failed ``step.run`` kept its ``Step.run`` frame, the handler's
frame and ``Engine._request``'s, and through their locals the request's ``ctx``,
``ctx.step`` and step-id dict. That was 13 frames and about 4.4 KB per job of the core
benchmark (three failures), all walked by the garbage collector while the run goes on.

``JobCalls`` calls job code from a generator that never returns: the job code's frame
links to the generator's frame, which stays suspended (it has no caller while it
waits), so the chain stops there. The traceback still starts in job code
(``_stepdata.failure`` drops the generator's entry), ``sys.exc_info()`` and implicit
exception chaining inside job code see what they saw before (a generator's exception
state is linked to its caller's while it runs), and job code's own stack shows one
more frame (``JobCalls``'s generator) between ``Step.run`` and its function.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from ._checks import JOB_ERRORS

Outcome = tuple[bool, Any]
"""``(True, value)`` when job code returned, ``(False, error)`` when it raised one of ``JOB_ERRORS``."""


def _calls() -> Generator[Outcome | None, tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]], None]:
    """Call each function sent in, forever; yield its outcome. Holds nothing while it waits:
    the outcome leaves ``box`` as it is yielded, and the call's arguments are dropped first."""
    box: list[Outcome] = []
    while True:
        fn, args, kwargs = yield (box.pop() if box else None)
        try:
            box.append((True, fn(*args, **kwargs)))
        except JOB_ERRORS as exc:
            box.append((False, exc))
        del fn, args, kwargs


class JobCalls:
    """``call(fn, args, kwargs)``: job code's outcome, called from a frame that never returns (module docstring).

    An error that is not a job's (``KeyboardInterrupt``) goes on to the test, as before,
    and ends the generator: the next call starts a new one. A call made while one is in
    progress (job code reaching a step of the same engine some other way) is made directly.
    """

    __slots__ = ("_calls", "_send")

    def __init__(self) -> None:
        self._start()

    def _start(self) -> None:
        self._calls = _calls()
        next(self._calls)
        self._send = self._calls.send

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Outcome:
        if self._calls.gi_running:  # type: ignore[attr-defined]  # (a generator object has it)
            try:
                return True, fn(*args, **kwargs)
            except JOB_ERRORS as exc:
                return False, exc
        send = self._send  # a slot, loaded specialized (``self._send(...)`` looks a bound method up generically)
        try:
            return send((fn, args, kwargs))  # type: ignore[return-value]
        except BaseException:
            self._start()
            raise
