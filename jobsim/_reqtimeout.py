"""A request the system stopped waiting for (``Profile.request_timeout_ns``: Inngest's 2 h).

Inngest's HTTP driver calls the SDK under ``context.WithTimeout(ctx, consts.MaxFunctionTimeout)``, 2 h
(``pkg/execution/driver/httpdriver/httpdriver.go : do``; the client's own ``Timeout`` and
``ResponseHeaderTimeout`` are the same 2 h, ``exechttp.go``). When it fires, ``DoRequest`` returns ``error
performing request: Post "<url>": context deadline exceeded`` with no response; ``executeDriverV1`` stores it as
the attempt's error (a ``StandardError`` named ``Error``), and ``HandleResponse`` treats it as any transient error:
the queue retries the request on its own counter (``Retryable``), and once the retries are used up the run fails
with it (``Finalize``, reason ``resp-err``; only an ``OpcodeStepError`` reaches the handler as a step error, so the
handler never catches it). The SDK is not told: inngest-py's serve handlers (``flask.py``, ``fast_api.py``,
``comm_lib/handler.py``) never look at the connection, so the code runs on to its end and its response goes
nowhere. In jobsim the request has run whole already when this is checked (a request is one block of job code):
its side effects stand at their own virtual times (emails, HTTP calls, events sent, ``step.send_event``'s too), and
what it returned -- a step's output, a step's error, the handler's return value, a new sleep or wait -- is dropped.

The attempt ends at the request's start + the limit, and the retry is due its backoff after that instant: it may
start while the first request's code is still running in virtual time, as on Inngest. Nothing else moves: the
kernel was at the request's start throughout, and work due in the meantime (other runs, timers, the events the
code sent) runs at its own instants as before. Deterministic: the limit is a fixed instant, and the retry's jitter
is the function's seeded stream, drawn as for any failed attempt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._time import format_duration, iso
from .errors import BudgetExceeded, RequestTimedOut

if TYPE_CHECKING:
    from ._engine import Engine
    from ._execution import Execution
    from ._records import Run

INNGEST_ERROR = 'error performing request: Post "<serve URL>": context deadline exceeded'
"""What Inngest stores as the attempt's error (``exechttp.go : DoRequest`` wraps the client's ``*url.Error``); the
URL is your serve endpoint's, which jobsim does not know."""
_STEP_OPS = frozenset({"done", "failed", "crash"})
"""Outcomes whose second field is the step whose code was running (``None`` for a crash outside any step)."""


def timed_out(engine: Engine, run: Run, x: Execution, op: tuple[Any, ...]) -> tuple[Any, ...]:
    """The ``timeout`` outcome of a request whose code ran past the profile's limit (``op``: what it ended in)."""
    if op[0] == "unsupported":  # a refusal is the test's to see, whenever it came
        return op
    limit = engine.profile.request_timeout_ns
    assert limit is not None
    end, step = x.now, op[1] if op[0] in _STEP_OPS else None
    x.now = x.start + limit  # the attempt, its retry and the run's end are Inngest's instants from here
    label = engine.profile.label
    where = f"step {step!r}" if step else "the code outside steps"
    # the code never returned when jobsim's budget stopped it (``while not ready(): time.sleep(1)``): say so
    stopped = next((item for item in op[1:3] if isinstance(item, BudgetExceeded)), None)
    fate = "what it returned is lost" if stopped is None else (
        "where jobsim stopped it, since it never returned: it spent virtual time too often in one attempt "
        "(the BudgetExceeded this error is caused by): a loop waiting for something that never comes? Bound the loop")
    error = RequestTimedOut(
        f'{INNGEST_ERROR} ({label} stops waiting for a request after {format_duration(limit)}; {where} ran '
        f"{format_duration(end - x.start)}, to {iso(end)}: {fate})",
        step=step, limit_ns=limit, spent_ns=end - x.start,
    )  # fmt: skip
    if stopped is not None:
        error.__cause__ = stopped
    engine.record(x.now, "request.timeout", {"function": run.function.id, "run": run.id, "step": step,
                                             "attempt": x.attempt, "limit": limit, "until": end,
                                             "dropped": op[0] if stopped is None else "budget"})  # fmt: skip
    kind = op[3] if op[0] == "done" or (op[0] == "failed" and len(op) > 3) else "run"
    return ("timeout", step, error, kind)
