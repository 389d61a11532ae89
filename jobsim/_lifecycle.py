"""What Inngest's server writes of a failed run in its lifecycle events.

``finalizeEvents`` (``executor/finalize.go``) fills ``functionFinishedData``
(``executor/executor.go : setResponse``) from the run's last response, a
``state.DriverResponse`` whose ``Output`` is the SDK's answer (its error body, read
by ``httpdriver/parse.go : ParseResponse``) and whose ``Err`` is the driver's
(``httpdriver.go : HandleHttpResponse``): ``"invalid status code: 500"``, or
``"NonRetriableError"`` when the SDK set ``x-inngest-no-retry``. A failed run's
``error`` is ``DriverResponse.StandardError()`` of that response, and its ``result``
is the ``Output`` itself (``r.Output != nil``), so a failed run carries both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._safe import message
from .errors import NonRetriableError

if TYPE_CHECKING:
    from ._records import Run

SERVER_ERROR = "invalid status code: 500"  # HandleHttpResponse: a non-2xx answer
NO_RETRY = "NonRetriableError"  # HandleHttpResponse: the answer had x-inngest-no-retry
_DEFAULT_NAME = "Error"  # state.DefaultErrorName
_DEFAULT_MESSAGE = "Function execution error"  # state.DefaultErrorMessage

ErrorBody = Callable[[BaseException, bool], "tuple[Any, str | None]"]
"""``(error, stepped) -> (output, err)``: an SDK's answer to a request that failed with ``error``
(``stepped``: it surfaced from a step that failed for good) and the driver's ``Err`` for it, or
``None`` for the usual one. Set as a function's ``options["error_body"]`` by a plugin."""


def failure_fields(run: Run, error: BaseException) -> tuple[dict[str, Any], Any]:
    """``(error, result)`` of ``functionFinishedData`` for ``run``, failed with ``error``.

    jobsim's own functions answer with ``{"name", "message"}`` (an SDK adds its own fields:
    inngest-js a ``stack`` and ``__serialized``, inngest-py a ``code`` and ``stack``; a plugin
    gives its SDK's through ``options["error_body"]``). The answer had ``x-inngest-no-retry``
    when the error was not retriable: a ``NonRetriableError``, or a step's failure that the
    handler let through (both SDKs' ``StepError`` is not retriable)."""
    stepped = any(record.status == "failed" and record.error is error for record in run.steps.values())
    body: ErrorBody | None = run.function.options.get("error_body")
    output, err = (None, None) if body is None else body(error, stepped)
    if body is None:
        output = {"name": type(error).__name__, "message": message(error)}
    if err is None:
        err = NO_RETRY if stepped or isinstance(error, NonRetriableError) else SERVER_ERROR
    return standard_error(output, err), output


def standard_error(output: Any, err: str) -> dict[str, Any]:
    """``state.DriverResponse.StandardError()`` (``state/driver_response.go``) of a response whose
    ``Output`` is ``output`` (a decoded JSON object, or text) and whose ``Err`` is ``err``: the
    object's (or its ``error``/``body`` object's) non-empty string ``error``, ``name``, ``message``
    and ``stack``, its ``cause``; text is the message. Defaults: ``Error`` and ``err``."""
    raw: Any = output if isinstance(output, dict) else ({"message": output} if output else {})
    for field in ("error", "body"):  # processErrorFields: the SDK's error nested under one of them
        if isinstance(raw.get(field), dict):
            raw = raw[field]
            break
    out: dict[str, Any] = {"error": _DEFAULT_MESSAGE, "name": _DEFAULT_NAME, "message": _DEFAULT_MESSAGE}
    for key in ("error", "name", "message", "stack"):
        value = raw.get(key)
        if isinstance(value, str) and value:
            out[key] = value
    if "cause" in raw:
        out["cause"] = raw["cause"]
    if out["error"] == _DEFAULT_MESSAGE:
        out["error"] = err
    if out["message"] == _DEFAULT_MESSAGE:
        out["message"] = err
    return out
