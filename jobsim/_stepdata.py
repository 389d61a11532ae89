"""What a step hands the engine (``jobsim._steps``' lowest layer): ``Suspend``, which ends a request, and the
outcomes it carries (``failure``, ``_done``), and step outputs as Inngest stores them and hands them on
(``dump``, ``as_requested``, ``load``) with the errors of a run that cannot go on (``UnserializableOutput``,
``TooManySteps``). ``_execution`` (one request's state) and ``_steps`` (``ctx`` and ``ctx.step``) are the
layers above."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from ._events import _WIDE, Wide, canonical, through_doubles
from ._safe import shown
from .errors import JobsimError, NonRetriableError, UnsupportedFeature

_DUMP_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_STRICT_INTEGER  # past 53 bits: dump


class Suspend(BaseException):
    """Ends a request after its first new step; carries what the engine must do: ``Suspend(op)``.

    ``op`` is the exception's one argument (``args[0]``), so making one runs no Python
    ``__init__`` (a frame per request); the engine reads ``args[0]`` itself."""

    __slots__ = ()

    @property
    def op(self) -> tuple[Any, ...]:
        return self.args[0]  # type: ignore[no-any-return]


class UnserializableOutput(NonRetriableError, JobsimError):
    """A step or handler returned something that cannot be stored as JSON."""


class TooManySteps(NonRetriableError, JobsimError):
    """A run reached its profile's ``max_steps``. Inngest fails such a run at once, without retries
    (``executor.go : checkStepLimit``, ``state.ErrFunctionOverflowed``). Each new step re-runs the handler
    from the top, so a loop of steps without this bound cost time quadratic in its length (4,000 steps:
    6 s; an endless one never ended)."""


# named by their home before the split (``jobsim._steps``, which still exports them): a trace's error record
# (``_trace.describe_error``), a pickle and a traceback name the class as they did
UnserializableOutput.__module__ = TooManySteps.__module__ = "jobsim._steps"


def dump(value: Any, what: str, name: str | None = None) -> Any:
    """Serialize as Inngest stores outputs: JSON, so datetimes come back as strings. An error names
    ``what`` returned the value, followed by ``name``'s repr if given (``dump(v, "step", key)``: made
    only for an error, not on every step's success).

    Values whose JSON round trip is the identity (``None``, bools, 64-bit ints, finite
    floats, ASCII strings) are kept as they are, and ``load`` hands them back: the
    replay semantics are unchanged and the hot path skips two codec calls. Anything
    else is stored as JSON bytes. An int past 53 bits comes back as the double Inngest hands
    on: the server keeps a step's output as the raw JSON the SDK sent (``state/opcode.go :
    GeneratorOpcode.Data json.RawMessage``), but writes each request to the SDK through JCS
    (``driver.go : MarshalV1`` -> ``jcs.Transform``), which prints every number as a
    JavaScript double (``_events.through_doubles``, as for event data).
    """
    kind = type(value)
    if value is None or kind is bool or (kind is str and value.isascii()):
        return value
    if kind is int and -(1 << 53) <= value <= (1 << 53):
        return value
    if kind is float and value - value == 0.0:
        return value
    try:
        return orjson.dumps(value, option=_DUMP_OPTIONS)
    except TypeError as exc:
        if name is not None:
            what = f"{what} {name!r}"
        if str(exc) in _WIDE:

            def too_big(number: int) -> Exception:
                return UnserializableOutput(
                    f"{what} returned {shown(value)}, which holds {shown(number)}, past a float64's range: Inngest "
                    "reads every number as one and cannot hand it back; return it as a string")

            try:
                return through_doubles(value, too_big, _DUMP_OPTIONS & ~orjson.OPT_STRICT_INTEGER)
            except TypeError as again:  # a big int orjson reached inside another type (a dataclass)
                exc = again
        raise UnserializableOutput(
            f"{what} returned {shown(value)}, which cannot be stored as JSON ({exc}); Inngest memoizes "
            "outputs as JSON, so return plain data (dict, list, str, number, bool, None, datetime)"
        ) from None


_REWRITTEN = re.compile(rb"[0-9][.e]|[{]")  # what JCS may change in orjson's text: a float ("1.0", "1e+20"), an object


def as_requested(payload: Any) -> Any:
    """A stored output (``dump``) as the next request hands it to job code on Inngest: a step's output,
    a wait's event and an invoked function's output are saved as step state, sent in the request's
    ``steps`` through JCS (``driver.go : MarshalV1``: ``req.Actions[stepId] = steps[stepId]``, then
    ``jcs.Transform``), so their keys come sorted and an integral float comes as an int
    (``_events.canonical``). The same object when nothing changes, which is the common case."""
    kind = type(payload)
    if kind is float:
        return canonical(payload)
    if kind is bytes:
        if _REWRITTEN.search(payload) is None:
            return payload
        value = canonical(orjson.loads(payload))
    elif kind is Wide:
        value = canonical(json.loads(payload))
    else:
        return payload
    try:
        return orjson.dumps(value, option=orjson.OPT_STRICT_INTEGER)
    except TypeError:  # an int past 53 bits: a double's value already, kept as through_doubles writes it
        return through_doubles(value, OverflowError)


def failure(key: str | None, exc: BaseException) -> tuple[Any, ...]:
    """The outcome of job code that raised ``exc``: the step (``key``) or the request failed, unless
    ``exc`` is a refusal (``UnsupportedFeature``: something the simulated system, or a backend
    plugin, does not have). No retry can work around a refusal, and a failed attempt would hide
    it among job errors, so it leaves the simulation: the driving call raises it.

    Dropping jobsim's frame from the traceback alone does not free the request: job code's
    frame still links to its caller's (``f_back``), and so on up. A step's job code is called
    from a frame that never returns (``_calls``), which ends that chain; an error raised in the
    handler itself still keeps its request's ``_request`` frame."""
    if isinstance(exc, UnsupportedFeature):
        return ("unsupported", exc)
    if type(exc) is AttributeError:  # ``ctx.step.sleepUntil``: a method the step lacks fails the run at once
        from ._steps import step_method_error

        exc = step_method_error(exc)
    tb = exc.__traceback__  # drop jobsim's own frame: the traceback starts in job code (docstring)
    if tb is not None and tb.tb_next is not None:
        exc.__traceback__ = tb.tb_next
    return ("error", exc) if key is None else ("failed", key, exc)


def load(payload: Any) -> Any:
    """The stored output, as a fresh JSON round trip (see ``dump``)."""
    kind = type(payload)
    if kind is bytes:
        return orjson.loads(payload)
    return json.loads(payload) if kind is Wide else payload  # json: an int past 64 bits stays exact


def _done(key: str, value: Any, kind: str) -> tuple[Any, ...]:
    try:
        return ("done", key, dump(value, "step", key), kind)
    except UnserializableOutput as exc:
        return ("failed", key, exc)

