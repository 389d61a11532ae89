"""inngest-py's error classes, read the way Inngest reads them.

What an inngest-py handler raises decides what the server does next
(``inngest/_internal/comm_lib/models.py : from_call_result``):

* an ``inngest.RetryAfterError`` sets the ``retry-after`` header: the next attempt
  is at that time (the server clamps it to [1 s, 24 h] and still counts the attempt);
* any error whose ``is_retriable`` is false — ``inngest.NonRetriableError``,
  ``inngest.StepError`` (a step that failed for good), ``OutputUnserializableError`` —
  sets ``x-inngest-no-retry``: the run fails at once;
* anything else is retried with the backoff table.

jobsim's engine reads ``jobsim.RetryAfterError`` and ``jobsim.NonRetriableError``.
``bridge`` turns the first two cases into an exception that is *both*: a copy of the
user's exception whose class derives from the user's class and from jobsim's, so
``run.error`` keeps the user's type, message and attributes and the engine sees the
retry decision. A ``StepError`` that jobsim raised in the first place is handed back
as jobsim's own, so ``run.error`` is the step's original error, as for jobsim apps.
"""

from __future__ import annotations

import datetime as dt
import json
import traceback
from typing import Any

import inngest
from inngest._internal import errors as inngest_errors

import jobsim
from jobsim.errors import _keywords_named

_BRIDGES: dict[tuple[type, type], type] = {}  # (user class, jobsim class) -> both; a pure cache


@_keywords_named
class Bubble(BaseException):
    """Carries a ``NonRetriableError``/``RetryAfterError`` out of a ``step.run`` body.

    inngest-py does not treat them as step errors: ``step_sync.py : StepSync.run``
    re-raises them to the function level (``# Bubble up these error types``). A
    ``BaseException`` passes through jobsim's step, which records every ``Exception``
    as the step's failure.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def __reduce__(self) -> tuple[Any, ...]:
        # copied and pickled by the error it carries: ``args`` is empty, which ``__init__`` cannot take
        return type(self), (self.error,), self.__dict__


BUBBLES = (inngest_errors.NonRetriableError, inngest_errors.RetryAfterError)


@_keywords_named
class Abort(BaseException):
    """Ends the request with ``error`` without passing through the user's ``except`` clauses.

    inngest-py finds an output that ``json.dumps`` refuses only when it builds the
    response (``comm_lib/models.py : _prep_call_result``), after the handler returned:
    job code never sees that ``OutputUnserializableError``.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.error,), self.__dict__  # as ``Bubble``'s


def json_checked(value: Any, step_id: str | None) -> Any:
    """``value`` if ``json.dumps`` takes it, as inngest-py requires; else the request fails.

    The SDK answers such a request with a plain 500 (``from_error`` sets no
    ``x-inngest-no-retry``), so the server retries it like any error, re-running the
    code each time, until the attempts run out.

    ``json.dumps`` takes a float NaN or infinity and writes the bare token (``NaN``), which
    the server then cannot read (``unreadable``): a step's output fails the request, and a
    function's is kept as the text of the SDK's answer.
    """
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        try:
            text = json.dumps(value)
        except (TypeError, ValueError):
            what = "returned unserializable data" if step_id is None else f'"{step_id}" returned unserializable data'
            raise Abort(inngest_errors.OutputUnserializableError(what)) from None
        if step_id is None:
            return text
        raise Abort(unreadable(value, step_id)) from None
    return value


def async_body(step_id: str, handler: Any) -> Abort:
    """A sync function's ``step.run`` whose handler is async: inngest-py calls it, gets its coroutine, and passes
    it on as the step's output (``step_sync.py : run``; ``_serialize`` keeps a value with no serializer), which
    ``json.dumps`` refuses as it builds the response: the request fails with ``OutputUnserializableError``, retried
    as any error, and the function's ``except StepError`` never sees it (it was a step error it caught)."""
    name = getattr(handler, "__qualname__", handler)
    return Abort(inngest_errors.OutputUnserializableError(
        f'"{step_id}" returned unserializable data (jobsim: {name} is async, so the step returned its coroutine, '
        "which inngest-py cannot serialize; the request fails and is retried as any error: use an `async def` "
        "Inngest function and `await ctx.step.run(...)`)"
    ))  # fmt: skip


@_keywords_named
class UnreadableResponse(jobsim.JobsimError):
    """A request whose answer Inngest's server cannot read as JSON; retried like any error.

    ``read`` is the server's error (``parseGenerator``), which it makes the request's."""

    def __init__(self, message: str, read: str = "") -> None:
        super().__init__(message)
        self.read = read


def unreadable(value: Any, step_id: str) -> UnreadableResponse:
    """The failure of a request whose step returned a float NaN or infinity.

    inngest-py writes its answer with ``json.dumps`` (``comm_lib/models.py``), so the step's
    ``data`` holds the bare token ``NaN``, ``Infinity`` or ``-Infinity``. The server reads a
    step's answer (status 206) with Go's ``json.Unmarshal`` (``httpdriver/parse.go :
    parseGenerator``), which refuses it; ``executeDriverV1`` makes that error the request's,
    which is retried like any error and, once the attempts run out, fails the run.
    """
    number = _first_non_finite(value)
    token, char, where = (
        ("NaN", "N", "looking for beginning of value") if number != number
        else ("Infinity", "I", "looking for beginning of value") if number > 0
        else ("-Infinity", "I", "in numeric literal")
    )  # fmt: skip
    read = f"error reading generator opcode response: invalid character '{char}' {where}"
    return UnreadableResponse(
        f'step "{step_id}" returned {token}: inngest-py writes it as the bare token {token} (json.dumps), which '
        f'Inngest\'s server cannot read ("{read}"), so the request fails and is retried like any error; '
        "return None or a string instead",
        read,
    )


def _first_non_finite(value: Any) -> float:
    """The first float NaN or infinity in ``value``, in the order ``json.dumps`` writes it."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and item - item != 0.0:
            return item
        if isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
    return float("nan")  # pragma: no cover - only called when json.dumps(allow_nan=False) refused a float


class Unsupported(jobsim.JobsimError, jobsim.NonRetriableError):
    """An inngest-py feature the simulation does not reproduce; fails the run at once."""


def error_body(error: BaseException, stepped: bool) -> tuple[Any, str | None]:
    """inngest-py's answer to a request that failed with ``error`` (``comm_lib/models.py``): the
    ``ErrorData`` of the error (``code``, ``message``, ``name``, ``stack``), of the ``StepError``
    the handler let through when a step failed for good (``stepped``), or ``from_error``'s body,
    without ``stack``, for an output ``json.dumps`` refuses. A step's NaN is the server's own
    failure: ``executeDriverV1`` stores its read error as a serialized ``StandardError`` (text)."""
    if isinstance(error, UnreadableResponse):
        read = error.read
        text = json.dumps({"error": {"error": read, "name": "Error", "message": read}}, separators=(",", ":"))
        return text, read
    if isinstance(error, inngest_errors.OutputUnserializableError):
        return {"code": error.code.value, "message": str(error), "name": type(error).__name__}, None
    stack: str | None
    if stepped:
        cause = error
        while isinstance(cause, jobsim.StepError):  # an invoked run's failure arrives wrapped
            cause = cause.error
        code, name, text, stack = "step_errored", type(cause).__name__, str(cause), _stack(cause)
    elif isinstance(error, inngest_errors.Error):
        code, name, text, stack = error.code.value, error.name, error.message, error.stack
    else:
        code, name, text, stack = "unknown", type(error).__name__, str(error), _stack(error)
    return {"code": code, "message": text, "name": name, "stack": stack}, None


def _stack(error: BaseException) -> str:
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


def to_inngest_step_error(error: jobsim.StepError) -> inngest.StepError:
    """jobsim's replayed step failure as inngest-py raises it: ``StepError(message, name, stack)``."""
    cause: BaseException = error
    while isinstance(cause, jobsim.StepError):  # an invoked run's failure arrives wrapped
        cause = cause.error
    stack = "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
    converted = inngest.StepError(message=str(cause), name=type(cause).__name__, stack=stack)
    converted._jobsim_error = error  # type: ignore[attr-defined]
    return converted


_JOBSIM_PARALLEL = "ctx.step.parallel([...])"
_INNGEST_PARALLEL = "ctx.group.parallel((lambda: ctx.step.run(...), ...)) (inngest-py has no step.parallel)"


def in_inngest_words(error: BaseException | None) -> None:
    """A ``jobsim.StepMisuse`` names jobsim's ``ctx.step.parallel``; inngest-py's is ``ctx.group.parallel``."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:  # through a replayed step failure to its cause
        seen.add(id(error))
        if isinstance(error, jobsim.StepMisuse) and error.args and isinstance(error.args[0], str):
            error.args = (error.args[0].replace(_JOBSIM_PARALLEL, _INNGEST_PARALLEL), *error.args[1:])
        error = error.error if isinstance(error, jobsim.StepError) else getattr(error, "_jobsim_error", None)


def bridge(error: BaseException) -> BaseException:
    """The exception to give jobsim's engine for ``error`` leaving an inngest-py handler."""
    in_inngest_words(error)
    if isinstance(error, inngest.StepError):
        original = getattr(error, "_jobsim_error", None)
        if original is not None:
            return original  # type: ignore[no-any-return]
    if isinstance(error, inngest_errors.RetryAfterError):
        bridged = _rebase(error, jobsim.RetryAfterError)
        bridged.after = retry_at(error.retry_after)  # type: ignore[attr-defined]
        return bridged
    if isinstance(error, inngest_errors.OutputUnserializableError):
        return error  # retried: see ``json_checked``
    if isinstance(error, inngest_errors.Error) and not error.is_retriable:
        return _rebase(error, jobsim.NonRetriableError)
    return error


def retry_at(when: dt.datetime) -> dt.datetime:
    """``RetryAfterError.retry_after`` is ``datetime.now() + ...``: naive means local time.

    inngest-py sends it as ``value.astimezone(timezone.utc)`` truncated to milliseconds
    (``transforms.to_iso_utc``); ``astimezone`` reads a naive value in the local zone,
    and the wall clock is virtual while job code runs, so this is the virtual instant.
    """
    aware = when.astimezone(dt.timezone.utc)
    return aware.replace(microsecond=aware.microsecond // 1000 * 1000)


def _rebase(error: BaseException, base: type) -> BaseException:
    cls = type(error)
    both = _BRIDGES.get((cls, base))
    if both is None:
        namespace: dict[str, Any] = {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
        both = _BRIDGES[(cls, base)] = type(cls.__name__, (base, cls), namespace)
    copy = both.__new__(both, *error.args)
    copy.args = error.args
    copy.__dict__.update(error.__dict__)
    copy.__traceback__ = error.__traceback__
    copy.__cause__ = error.__cause__
    copy.__context__ = error.__context__
    copy.__suppress_context__ = error.__suppress_context__
    return copy  # type: ignore[no-any-return]
