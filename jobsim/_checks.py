"""Checks of callables and exceptions users hand to jobsim, made where they are given.

A key, an expression, a priority, a replay hook or a scenario's ``build`` is
called much later, deep inside the engine; a callable that cannot take the
arguments it will get, or an ``async def`` where jobsim calls it synchronously
(its coroutine would be used as a value and never run), would surface there as a
``TypeError`` far from the line that caused it, or not at all. These checks run
once, at declaration, never on the hot path.
"""

from __future__ import annotations

import copy
import difflib
import functools
import inspect
import re
from asyncio import CancelledError
from collections.abc import Callable, Iterable, Mapping
from types import FrameType
from typing import Any, TypeVar

from ._safe import said, shown
from .errors import InvalidArgument, JobsimError


class HookFailed(JobsimError):
    """A hook of the user's (``jobsim_setup``, ``jobsim_deliver``, ...) raised: their code to fix, named with its
    line, never read as the replayed code's doing (a replay that stopped)."""


def check_callable(argument: str, value: Any, arity: int, shape: str, *, async_ok: bool = False) -> None:
    """Refuse ``value`` unless it can be called with ``arity`` positional arguments.

    ``shape`` says how it is called, for the message (``"a callable (event) -> key"``).
    Callables without a signature (some builtins and C functions) are let through.
    """
    if not callable(value):
        raise InvalidArgument.build(argument, value, shape)
    if inspect.isgeneratorfunction(value) or inspect.isasyncgenfunction(value):  # a `yield` in the body
        raise InvalidArgument.build(
            argument, value, f"{shape}, not a generator function: calling it runs none of its body and "
            "gives back a generator, which jobsim would take as its result"
        )  # fmt: skip
    if not async_ok and is_async(value):
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


# -- misspelt keyword arguments -------------------------------------------------------------------
_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])

_KEYWORD_ALIASES = {
    "timestamp": "ts", "time": "ts", "payload": "data", "body": "data", "timezone": "tz", "zone": "tz",
    "retries": "attempts", "max_retries": "attempts", "count": "times", "delay": "min", "base": "min",
    "initial": "min", "cap": "max", "seconds": "period", "window": "period", "size": "max_size",
    "condition": "if_exp", "expression": "if_exp", "when": "at", "fn": "function", "func": "function",
    "from": "sender", "from_addr": "sender", "recipient": "to", "recipients": "to", "begin": "start", "stop": "end",
    "maxwait": "timeout",  # Inngest's debounce/batch ``timeout`` is the longest wait
}  # fmt: skip
"""Other systems' words for a keyword (Inngest's ``maxSize`` is found by its spelling, see ``_squash``)."""


def _squash(name: str) -> str:
    """``maxSize``, ``max_size`` and ``MAX_SIZE`` alike; a trailing ``_`` (``if_``) dropped."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower().replace("_", "")


def swapped(given: str, names: Iterable[str]) -> str | None:
    """The one of ``names`` that ``given`` spells with two neighbouring letters swapped (``kye`` for ``key``,
    ``no`` for ``on``): difflib's ratio misses that typo in short words (0.67 and 0.5)."""
    for name in names:
        if len(name) == len(given) and name != given:
            diff = [i for i, (a, b) in enumerate(zip(name, given, strict=True)) if a != b]
            if len(diff) == 2 and diff[1] == diff[0] + 1 and name[diff[0]] == given[diff[1]] \
                    and name[diff[1]] == given[diff[0]]:
                return name
    return None


def closest_keyword(given: str, accepted: Iterable[str]) -> str | None:
    """The accepted keyword ``given`` was probably meant as: the same word spelt another way
    (``maxSize``, ``if_`` for ``if_exp``), a known other name (``timezone``), or a close misspelling."""
    names = list(accepted)
    squashed = {_squash(name): name for name in names}
    key = _squash(given)
    if key in squashed:
        return squashed[key]
    alias = _KEYWORD_ALIASES.get(given.lower()) or _KEYWORD_ALIASES.get(key)
    if alias in names:
        return alias
    close = next(iter(difflib.get_close_matches(key, list(squashed), n=1, cutoff=0.7)), None) or swapped(key, squashed)
    if close is not None:
        return squashed[close]
    prefixed = [name for short, name in squashed.items() if len(key) >= 2 and len(short) >= 2
                and (short.startswith(key) or key.startswith(short))]  # if_ -> if_exp, min_delay -> min
    return prefixed[0] if len(prefixed) == 1 else None


def meant_id(given: str, ids: Iterable[str]) -> str | None:
    """The function id ``given`` probably meant: the one whose last dotted part it is (``"charge"`` for RQ's
    ``"jobs.charge"``), the one that is its last dotted part (``"jobs.remind"`` for a Dramatiq actor ``"remind"``),
    or a close spelling (``"daily_digest"`` for ``"daily-digest"``); None unless exactly one fits."""
    names = list(ids)
    for fits in ([name for name in names if "." not in given and name.rpartition(".")[2] == given],
                 [name for name in names if "." in given and given.rpartition(".")[2] == name]):
        if len(fits) == 1:
            return fits[0]
    return closest_keyword(given, names) if given else None


def _folded(name: str) -> str:
    """``Order/Placed``, ``order.placed`` and ``order_placed`` alike: case and separators dropped."""
    return re.sub(r"[\s./:_-]+", "", name.lower())


def one_typo(given: str, names: Iterable[str]) -> str | None:
    """The one of ``names`` that ``given`` is a certain typo of: the same but for case or separators
    (``Order.placed``), or one letter swapped with its neighbour, left out, added or changed (``plcaed``,
    ``chrage``, ``chage``). A difference in digits is no typo (``send-3`` is another step than ``send-1``,
    ``v2/order`` another event than ``v1/order``), nor is a letter's in names of fewer than 4 letters (``pat``
    may be another step than ``pay``), while case or separators alone are at any length (``Pay``)."""
    folded = _folded(given)
    for name in names:
        if name == given:
            continue
        if _folded(name) == folded or (min(len(name), len(given)) >= 4 and _one_edit(given, name)):
            return name
    return None


def _one_edit(a: str, b: str) -> bool:
    """``a`` and ``b`` differ by one letter (not a digit) swapped with its neighbour, added, left out or changed."""
    if len(a) > len(b):
        a, b = b, a
    if len(b) - len(a) > 1:
        return False
    start = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    if len(a) < len(b):  # b has one more letter, at ``start``
        return a[start:] == b[start + 1:] and not b[start].isdigit()
    if a[start + 1:] == b[start + 1:]:  # one letter changed
        return not (a[start].isdigit() or b[start].isdigit())
    return (start + 1 < len(a) and a[start] == b[start + 1] and a[start + 1] == b[start]
            and a[start + 2:] == b[start + 2:])  # two neighbours swapped


LISTED_IDS = 20
"""Function ids an error lists at most (a Celery app's 40 tasks, its builtins among them, say): the rest are counted."""


def listed_ids(ids: Iterable[str], given: Any = None) -> str:
    """``'a', 'b'``, or the first ``LISTED_IDS`` ids then ``... and N more``; when the list is cut and ``given`` (a
    str: the id asked for) looks like one of them, ``(did you mean 'x'?)``, as the one meant may be past the cut."""
    ids = list(ids)
    if len(ids) <= LISTED_IDS:
        return ", ".join(map(repr, ids))
    guess = closest_keyword(given, ids) if isinstance(given, str) and given else None
    return (", ".join(map(repr, ids[:LISTED_IDS])) + f", ... and {len(ids) - LISTED_IDS} more"
            + (f" (did you mean {guess!r}?)" if guess is not None else ""))


def keyword_error(where: str, key: str, value: Any, accepted: Iterable[str]) -> InvalidArgument:
    """``Retries() got an unknown keyword argument backof='linear' (did you mean backoff=?); accepted: ...``"""
    names = list(accepted)
    guess = closest_keyword(key, names)
    hint = f" (did you mean {guess}=?)" if guess else ""
    accepted_ = f"accepted: {', '.join(names)}" if names else "it takes no keyword arguments"
    return InvalidArgument(f"{where} got an unknown keyword argument {key}={shown(value)}{hint}; {accepted_}")


def unknown_keyword(where: str, given: Mapping[str, Any], accepted: Iterable[str]) -> InvalidArgument | None:
    """The error for the first keyword of ``given`` that ``accepted`` lacks, or ``None``."""
    names = list(accepted)
    return next((keyword_error(where, key, value, names) for key, value in given.items() if key not in names), None)


def _keywords(function: Callable[..., Any]) -> list[str]:
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [name for name, parameter in inspect.signature(function).parameters.items()
            if parameter.kind in kinds and name not in ("self", "cls") and not name.startswith("_")]


class MissingArgument(InvalidArgument, TypeError):
    """A required argument left out (``Throttle(limit=5)``), named with what to give. A ``TypeError`` too, as
    Python's own "missing 1 required positional argument" was: an ``except TypeError`` still catches it."""


def keywords_checked(where: str, error: type[InvalidArgument] = InvalidArgument,
                     needs: Mapping[str, str] | None = None) -> Callable[[_F], _F]:
    """Decorate a one-time entry point (a constructor, ``sim.fail``) so that a keyword it does not take
    is an ``InvalidArgument`` naming it and the closest valid one, not Python's bare ``TypeError``; so is a
    required argument in ``needs`` left out (a ``MissingArgument``), with ``needs[name]`` saying what to give
    (the strategies', whose TypeError Hypothesis would show from deep inside; the flow-control objects').
    ``error``: the subclass to raise (the strategies' own, which Hypothesis reads as its ``InvalidArgument``).

    The check runs only once the call has failed to bind; a call that binds pays one frame. Not for
    hot paths (``ctx.step.run``, ``Event``, which takes ``**unknown`` itself)."""
    def decorate(function: _F) -> _F:
        accepted = _keywords(function)

        @functools.wraps(function)
        def checked(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True  # a wrapper: pytest shows the caller's line, then the function's own frames
            try:
                return function(*args, **kwargs)
            except TypeError:
                unknown = unknown_keyword(where, kwargs, accepted) or _missing(where, function, args, kwargs, needs)
                if unknown is None:
                    raise
                raise (unknown if error is InvalidArgument else error(str(unknown))) from None

        return checked  # type: ignore[return-value]

    return decorate


def _missing(where: str, function: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any],
             needs: Mapping[str, str] | None) -> InvalidArgument | None:
    """The required arguments a call left out, named with what to give: ``js.faults() needs functions=``."""
    if not needs:
        return None
    signature = inspect.signature(function)
    try:
        signature.bind(*args, **kwargs)
    except TypeError:
        try:
            bound = signature.bind_partial(*args, **kwargs).arguments
        except TypeError:  # too many arguments, not too few: Python's message says so
            return None
    else:
        return None  # it bound: the TypeError came from inside
    missing = [name for name, parameter in signature.parameters.items()
               if parameter.default is inspect.Parameter.empty and name not in bound
               and parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
    if not missing or any(name not in needs for name in missing):
        return None  # Python's own TypeError names it (a Batch() without max_size=)
    return MissingArgument(f"{where} needs " + "; ".join(f"{name}=: {needs[name]}" for name in missing))


_CHECKED = keywords_checked("")(lambda: None).__code__
"""The code of every ``keywords_checked`` wrapper: one frame between a decorated function and its caller."""


def caller_frame(frame: FrameType) -> FrameType:
    """``frame``, or the caller of the ``keywords_checked`` wrapper it is (a function that reads its caller's names,
    ``js.simulations``, looks past the wrapper)."""
    while frame.f_code is _CHECKED and frame.f_back is not None:
        frame = frame.f_back
    return frame


def init_keywords_checked(where: str, error: type[InvalidArgument] = InvalidArgument,
                          needs: Mapping[str, str] | None = None) -> Callable[[type[_T]], type[_T]]:
    """:func:`keywords_checked` for a class's ``__init__`` (a dataclass's generated one included)."""
    def decorate(cls: type[_T]) -> type[_T]:
        cls.__init__ = keywords_checked(where, error, needs)(cls.__init__)  # type: ignore[method-assign]
        return cls

    return decorate


def is_async(value: Any) -> bool:
    """``value`` gives back a coroutine when called: an ``async def`` function or method, a partial
    of one, or an object whose ``__call__`` is ``async def`` (``inspect.iscoroutinefunction`` says
    no to that object, and its coroutine would be taken as a sync handler's result, never run)."""
    call = getattr(type(value), "__call__", None)  # noqa: B004 -- the method itself, not whether it exists
    return inspect.iscoroutinefunction(value) or (not inspect.isroutine(value) and inspect.iscoroutinefunction(call))


# -- exceptions --------------------------------------------------------------------------------------
class TestAssertion(BaseException):
    """An ``assert`` in a route's side-effect function failed: the test checking the request its job sent.

    As an ``Exception`` it would be one more failed attempt, retried, and the test would pass
    unless it looked at the run. As a ``BaseException`` it leaves job code as ``pytest.fail``
    does; the driving call re-raises the ``AssertionError`` itself (``Simulation._drive``).
    """

    __test__ = False  # not a test class for pytest's collector

    def __init__(self, error: AssertionError) -> None:
        super().__init__(error)
        self.error = error


JOB_ERRORS: tuple[type[BaseException], ...] = (Exception, SystemExit, GeneratorExit, CancelledError)
"""What job code may raise to fail its attempt: every ``Exception``, and the three ``BaseException``s
ordinary code raises to stop itself (``sys.exit()`` in a helper, a closed generator, a cancelled
asyncio task) -- on a real worker each ends the attempt, which the system then retries.

Every other ``BaseException`` passes through the simulation to the test, on purpose: a
``KeyboardInterrupt`` cannot be told from Ctrl-C, which must stop the test run; pytest's
``pytest.fail()``/``pytest.skip()`` called inside a handler end the test; and plugins carry their
own signals out of a step that way (jobsim-inngest's ``Bubble``)."""

_FAULT_ERRORS = "an exception instance or class (an Exception, or SystemExit, GeneratorExit, asyncio.CancelledError)"


def check_fault_error(argument: str, value: Any, error: Any, message: str = "injected by sim.fail()") -> None:
    """Refuse, where the fault is armed, an ``error`` it could not raise as asked when it fires.

    A ``KeyboardInterrupt`` would stop the test run instead of failing an attempt; a class that
    cannot be built from one message, or an instance ``fresh_error`` cannot copy (its ``__init__``
    takes other arguments than its ``args``), would fail the attempt with a ``TypeError`` instead.
    ``value`` is what the user passed (``error`` itself, or the list holding it).
    """
    if error is None:
        return
    cls = error if isinstance(error, type) else type(error)
    if not isinstance(cls, type) or not issubclass(cls, BaseException):
        item = "" if value is error else f"{shown(error)} is not an exception instance, class or None; give "
        raise InvalidArgument.build(argument, value, f"{item}{_FAULT_ERRORS}, or None for jobsim.InjectedFault")
    if not issubclass(cls, JOB_ERRORS):
        raise InvalidArgument.build(argument, value, f"{_FAULT_ERRORS}; a {cls.__name__} raised in job code is "
                                    "not a failed attempt: it stops the test run (see jobsim._checks.JOB_ERRORS)")
    try:
        error(message) if isinstance(error, type) else fresh_error(error)
    except Exception as exc:
        how = f"{cls.__name__}({message!r})" if isinstance(error, type) else "copying it"
        raise InvalidArgument.build(argument, value, f"{_FAULT_ERRORS} that jobsim can raise once per attempt; "
                                    f"{how} raised {said(exc)}: pass an instance instead") from None


def fresh_error(error: BaseException) -> BaseException:
    """A copy of ``error`` to raise in one attempt (each attempt gets its own traceback and context).

    ``copy.copy`` rebuilds an exception as ``cls(*error.args)``, which fails for a class whose
    ``__init__`` takes other arguments (``HTTPError(status, body)`` passing only a message on).
    Then the copy is made without calling ``__init__``: the same class, ``args`` and attributes.
    """
    try:
        return copy.copy(error)
    except Exception:
        clone: BaseException = BaseException.__new__(type(error), *error.args)
        clone.__dict__.update(vars(error))
        return clone
