"""Every error jobsim raises on purpose, and the two that job code raises to steer retries.

``JobsimError`` is the root of what jobsim raises. ``InvalidArgument`` is also a
``ValueError`` so that ``except ValueError`` around argument handling keeps working.

``NonRetriableError`` and ``RetryAfterError`` are raised *by job code*, exactly like
Inngest's classes of the same names: the first fails the step (or the function) at
once, the second replaces the backoff delay of the next retry.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from ._safe import said, shown

__all__ = [
    "BudgetExceeded",
    "CalendarOverflow",
    "InjectedFault",
    "InvalidArgument",
    "JobsimError",
    "MisbuiltError",
    "MisspeltKeyword",
    "NonRetriableError",
    "PluginError",
    "RequestTimedOut",
    "RetryAfterError",
    "StepError",
    "StepMisuse",
    "StepOutputTooLarge",
    "TraceError",
    "TraceWarning",
    "UnsupportedFeature",
    "WorkerCrashed",
]


_E = TypeVar("_E", bound=BaseException)
_R = TypeVar("_R", bound="JobsimError")


def _keywords_named(cls: type[_E]) -> type[_E]:
    """A misspelt keyword of ``cls(...)`` (``RetryAfterError(aftr="30s")``) is a ``MisspeltKeyword`` naming it and
    the closest one ``__init__`` takes, not Python's bare ``TypeError``. The check runs only once a call failed."""
    init = cls.__init__
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = tuple(name for name, parameter in inspect.signature(init).parameters.items()
                  if parameter.kind in kinds and name != "self")  # fmt: skip

    @functools.wraps(init)
    def checked(self: Any, *args: Any, **kwargs: Any) -> None:
        __tracebackhide__ = True  # a wrapper: pytest shows the line that built the error
        try:
            init(self, *args, **kwargs)
        except TypeError:
            if all(key in names for key in kwargs):
                raise
            raise _misspelt(type(self), kwargs, names, args) from None

    cls.__init__ = checked  # type: ignore[method-assign]
    return cls


def _misspelt(cls: type[BaseException], given: Mapping[str, Any], accepted: Collection[str],
              args: tuple[Any, ...] = ()) -> MisspeltKeyword:
    from ._checks import keyword_error  # _checks imports this module

    where = f"{cls.__name__}()"
    key, value = next((key, value) for key, value in given.items() if key not in accepted)
    message = str(keyword_error(where, key, value, accepted))
    if not accepted:
        message += f": give the message as its one argument, {cls.__name__}('...')"
    if key == "retry_after" and "after" in accepted:  # inngest-py's RetryAfterError(message, retry_after=ms)
        message = _retry_after_keyword(message, value, args[0] if args else given.get("message"))
    if key == "quiet" and "after" in accepted:  # inngest-py's RetryAfterError(message, retry_after, quiet=True)
        message += "; inngest-py's quiet= (no log line) has no jobsim counterpart: leave it out"
    if key == "cause":  # Inngest's TypeScript ``new NonRetriableError(message, { cause })``
        message += f"; Python chains the error that caused it: raise {cls.__name__}('...') from error"
    return MisspeltKeyword(message)


def _retry_after_keyword(message: str, value: Any, text: Any) -> str:
    """inngest-py's ``RetryAfterError(message, retry_after=ms)`` named as jobsim's ``after=``, with the whole call to
    write: ``RetryAfterError("busy", after="30s")`` would give ``after`` twice, the message being the first argument."""
    if "did you mean" not in message:
        message = message.replace("; accepted:", " (did you mean after=?); accepted:", 1)
    call = f"RetryAfterError({_inngest_py_delay(value)}{'' if text is None else f', {text!r}'})"
    return (f"{message}; inngest-py's retry_after is milliseconds (or a timedelta or datetime), jobsim's after is "
            f"the first argument, a duration (a plain number is seconds): write {call}{_placeholder(call, value)}")


def _placeholder(call: str, value: Any) -> str:
    return f" (DELAY a duration such as '30s': {shown(value)} is no delay)" if "DELAY" in call else ""


def _inngest_py_delay(value: Any) -> str:
    """inngest-py's ``retry_after`` (an int of milliseconds, a ``timedelta``, a ``datetime``) as the code of jobsim's
    ``after``: ``30_000`` is ``'30s'``. One that is no delay (negative, infinite) is a placeholder to fill."""
    import math

    from ._time import format_duration

    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return repr(format_duration(int(value * 1_000_000)))
    if isinstance(value, dt.timedelta) and value >= dt.timedelta(0):
        return repr(format_duration(value // dt.timedelta(microseconds=1) * 1000))
    if isinstance(value, dt.datetime):
        return repr(value)
    return "DELAY"


def _init_or_name_keyword(error: BaseException, init: Callable[..., None], args: tuple[Any, ...],
                          kwargs: dict[str, Any]) -> None:
    """``init(*args, **kwargs)``, the next ``__init__`` in the error's MRO; keywords no class in it takes are named
    (``MisspeltKeyword``) instead of Python's bare ``TypeError``. A user's ``class Stop(NonRetriableError,
    LibError)`` still hands ``LibError`` its ``code=``."""
    if not kwargs:
        init(*args)
        return
    try:
        init(*args, **kwargs)
    except TypeError:
        raise _misspelt(type(error), kwargs, ()) from None


class JobsimError(Exception):
    """Root of every error jobsim raises on purpose."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # a keyword got Python's bare "takes no keyword arguments" (``InjectedFault(message=...)`` in ``sim.fail``);
        # one that another base class of a user's subclass takes still reaches it
        _init_or_name_keyword(self, super().__init__, args, kwargs)


def hide_jobsim_frames(excinfo: Any) -> bool:
    """pytest's ``__tracebackhide__`` for jobsim's modules (the pytest plugin sets it): their frames are left out of
    the traceback of a ``JobsimError``, whose message names the problem and the fix, so the traceback ends at the
    test's line (or job code's) that caused it; so are they for one of jobsim's warnings that ``-W error::...``
    made an error (``PendingWorkWarning`` at the ``with`` line: it showed ``close`` and ``_warn``'s source). Any
    other exception passing through keeps them."""
    return excinfo is not None and isinstance(excinfo.value, (JobsimError, *_WARNINGS))


class InvalidArgument(JobsimError, ValueError):
    """An argument is malformed: the message names it, its value and what is accepted."""

    @classmethod
    def build(cls, name: str, value: Any, accepted: str) -> InvalidArgument:
        return cls(f"{name}={shown(value)} is not valid: {accepted}")  # shown: a broken or huge repr too


class CalendarOverflow(InvalidArgument, OverflowError):
    """A time the simulation needs (a cron's next tick, a wall time in a zone) falls outside the years 1 to 9999
    that a ``datetime`` can show: a start at the calendar's ends. An ``OverflowError`` too, as it was."""


@_keywords_named
class UnsupportedFeature(InvalidArgument):
    """A function uses something the simulated system does not have (batching on BullMQ, say).

    Raised when the ``Simulation`` is built (options, cron syntax, retries) or, for
    step kinds, when job code calls one. ``system`` names the system (``"BullMQ"``),
    ``feature`` what was refused (``"batch"``, ``"step.wait_for_event"``, ``"cron.tz"``), ``function`` the id of
    the function that uses it when one does (``None``: the refusal is not one function's).
    """

    def __init__(self, message: str, *, system: str = "", feature: str = "", function: str | None = None) -> None:
        super().__init__(message)
        self.system = system
        self.feature = feature
        self.function = function


class WorkerCrashed(JobsimError):
    """The worker running an attempt died (``sim.crash_worker``, ``sim.downtime``) before it reported.

    It is the error of that attempt, and of the run when the system gives up on it.
    """


class _Fielded(JobsimError):
    """An error with fields past its message, set by keyword: a pickle (a pytest-xdist worker's report, a process
    pool) keeps them, which ``Exception``'s own reduction, its args alone, would drop."""

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt, (type(self), self.args, self.__dict__)


def _rebuilt(cls: type[_R], args: tuple[Any, ...], fields: dict[str, Any]) -> _R:
    error = cls(*args)
    error.__dict__.update(fields)
    return error


@_keywords_named
class RequestTimedOut(_Fielded):
    """The system stopped waiting for a request to the SDK (Inngest's 2 h, ``Profile.request_timeout_ns``).

    It is the error of that attempt, retried as any failure, and of the run when its retries are used up. Job
    code ran on to its end: ``step`` names the step it was running (``None``: code outside any step), ``limit_ns``
    the profile's limit and ``spent_ns`` how long the code really ran.
    """

    def __init__(self, message: str, *, step: str | None = None, limit_ns: int = 0, spent_ns: int = 0) -> None:
        super().__init__(message)
        self.step = step
        self.limit_ns = limit_ns
        self.spent_ns = spent_ns


@_keywords_named
class StepOutputTooLarge(_Fielded):
    """A step's output is past the profile's ``max_step_output`` (Inngest's 4 MiB, ``consts.MaxStepOutputSize``):
    the server refuses the SDK's answer (``GeneratorOpcode.Validate``), so the request fails and is retried as any
    error, the step's code running again each time. ``step`` names the step, ``size`` and ``limit`` are bytes."""

    def __init__(self, message: str, *, step: str = "", size: int = 0, limit: int = 0) -> None:
        super().__init__(message)
        self.step = step
        self.size = size
        self.limit = limit


class BudgetExceeded(JobsimError):
    """The simulation kept producing work past its budget; the message lists what was pending."""


class PluginError(JobsimError):
    """A jobsim plugin failed to load or broke the hook contract; the message names it."""


class InjectedFault(JobsimError):
    """The default error raised by an attempt that ``sim.fail(...)`` made fail."""


@_keywords_named
class StepError(JobsimError):
    """Raised inside a handler by a step that failed for good (its retries exhausted).

    Inngest's SDKs raise this when a memoized step error is replayed; the handler may
    catch it and carry on. ``error`` is the exception the step's last attempt raised.
    """

    def __init__(self, step_id: str, error: BaseException) -> None:
        super().__init__(f"step {step_id!r} failed: {said(error)}")
        self.step_id = step_id
        self.error = error

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled (Celery's result backend, multiprocessing) and copied by what it was built from: ``args`` holds
        # only the message, which ``__init__`` cannot take back
        return type(self), (self.step_id, self.error), self.__dict__


class NonRetriableError(Exception):
    """Raise from job code to fail the current step (or the function) without retrying."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # ``NonRetriableError(message=...)``, Inngest's ``{ cause }``: see ``_misspelt``
        _init_or_name_keyword(self, super().__init__, args, kwargs)


class StepMisuse(InvalidArgument, NonRetriableError):
    """Steps called in a way no request can carry out: nested in another step, awaited together
    (``asyncio.gather``), called without ``await``, from a thread the handler started, or with a
    value the step method cannot take (``_steps.misused_step``, ``misused_value``).

    A mistake in the handler, which no retry can mend: the attempt fails and is not retried,
    whatever the profile. inngest-py does the same for a nested step (``step_sync.py``: a
    ``CodedError(STEP_NESTED, "Nested steps are not supported.", is_retriable=False)``).
    """


class MisbuiltError(InvalidArgument, NonRetriableError):
    """One of jobsim's exceptions was built with arguments it cannot take: a misspelt keyword
    (``MisspeltKeyword``), inngest-py's order ``RetryAfterError("busy", 30_000)``, or an ``after`` of
    the wrong kind (a naive datetime, ``None``, a negative number).

    A mistake in the code that builds it, which no retry can mend: raised in job code, it fails the
    attempt and is not retried (as ``StepMisuse``), so the run fails with this message at once
    instead of retrying with the backoff the error was meant to replace. Only a *str* ``after`` that
    reads as no delay (a ``Retry-After`` header a server garbled) is an ``InvalidArgument`` that is
    retried: it is data, which the next attempt may get right.
    """


class MisspeltKeyword(MisbuiltError):
    """One of jobsim's exceptions was built with a keyword it does not take (``RetryAfterError(aftr="30s")``).

    A ``MisbuiltError``: raised in job code, the run fails with this message at once instead of
    retrying a bare ``TypeError`` (and a ``NonRetriableError`` meant to stop retries).
    """


@_keywords_named
class RetryAfterError(Exception):
    """Raise from job code to retry after ``after`` instead of the backoff delay.

    ``after`` is a duration (``"30s"``, a ``timedelta``, seconds) or an aware
    ``datetime`` at which to retry; or an HTTP ``Retry-After`` header's value as it came
    (RFC 9110 §10.2.3): delay-seconds (``"120"``) or an HTTP-date
    (``"Wed, 21 Oct 2025 07:28:00 GMT"``), so ``RetryAfterError(response.headers["Retry-After"])``
    works. ``after`` holds the value as given; the retry still consumes an attempt, as on Inngest.
    """

    def __init__(
        self, after: str | float | dt.timedelta | dt.datetime, message: str = ""
    ) -> None:
        # checked here, where job code raises it: a bad value names itself in that attempt's error
        # (retried like any error) instead of surfacing later, inside the engine's retry decision
        try:
            _check_after(after)
        except InvalidArgument as refused:
            # refused as a delay: inngest-py's order, RetryAfterError("busy", 30_000), says so. Only then: a valid
            # delay first is jobsim's order, whatever the message (RetryAfterError("120", 429) worked before)
            order = _inngest_py_order(after, message)
            if order is not None:
                raise MisbuiltError(order) from None
            if isinstance(after, str):  # a Retry-After header's value: data, retried like any error
                raise
            raise MisbuiltError(str(refused)) from None  # code's mistake: a retry would hide it
        super().__init__(message or f"retry after {after!r}")
        self.after = after

    def __reduce__(self) -> tuple[Any, ...]:
        # copy and pickle rebuild an exception from ``args`` (the message): give them ``after`` too
        return type(self), (self.after, *self.args[:1]), self.__dict__


def _check_after(after: Any) -> None:
    from ._time import duration_ns, job_instant_ns  # errors.py is imported by _time

    when = retry_after_header(after)
    if isinstance(when, dt.datetime):
        job_instant_ns(when, "after")  # a naive one (datetime.now() in job code) says why it is refused
    elif isinstance(when, str):
        try:
            duration_ns(when, "after")
        except InvalidArgument as error:  # a Retry-After header the server garbled reads as a bad duration
            reason = str(error).partition(" is not valid: ")[2] or str(error)
            raise InvalidArgument.build("after", after, f"{_NOT_A_DURATION}; as a duration: {reason}") from None
    else:
        duration_ns(when, "after")


def _inngest_py_order(after: Any, message: Any) -> str | None:
    """inngest-py's ``RetryAfterError(message, retry_after)`` (``message`` a str or None, ``retry_after`` an int
    of *milliseconds*, a ``timedelta`` or a ``datetime``) written against jobsim's ``RetryAfterError(after,
    message)``: the message was read as the delay and refused as a bad duration, without a word on the order.
    Say it, with the call to write (milliseconds turned into a duration, as jobsim reads a plain number as
    seconds); ``None`` when the arguments are not that order."""
    if not (after is None or isinstance(after, str)) or isinstance(message, (str, bool)):
        return None
    if not isinstance(message, (int, float, dt.timedelta, dt.datetime)):
        return None
    return (
        f"RetryAfterError({after!r}, {message!r}): jobsim's RetryAfterError takes the delay first, then the message,"
        f" RetryAfterError(after, message=''); ({after!r}, {message!r}) is inngest-py's order, RetryAfterError(message,"
        f" retry_after), whose int is milliseconds, while jobsim reads a plain number as seconds: write"
        f" RetryAfterError({_inngest_py_delay(message)}{'' if after is None else f', {after!r}'})"
        f"{_placeholder(_inngest_py_delay(message), message)}"
    )


_NOT_A_DURATION = (
    "a str is a duration ('90s') or a Retry-After header's value: delay-seconds ('120') or an HTTP-date "
    "in any of its three forms ('Wed, 21 Oct 2025 07:28:00 GMT', 'Wednesday, 21-Oct-25 07:28:00 GMT', "
    "'Wed Oct 21 07:28:00 2025')"
)


def retry_after_header(after: Any) -> Any:
    """A ``Retry-After`` header's value as seconds (``"120"``) or an aware datetime (an HTTP-date); else ``after``.

    RFC 9110 §5.6.7: a recipient must accept all three HTTP-date forms, IMF-fixdate and the obsolete
    RFC 850 and asctime ones (asctime has no zone: it is GMT). They are read with ``email.utils.parsedate_tz``,
    as urllib3's ``Retry.parse_retry_after`` reads them, a missing zone as GMT as urllib3 takes it too.
    """
    if not isinstance(after, str):
        return after
    text = after.strip()
    if text.isascii() and text.isdigit():
        return int(text)
    from email.utils import parsedate_tz

    parts = parsedate_tz(text)  # None for every duration ("2 days", "1h30m"): a date needs a month and a time
    if parts is None:
        return after
    try:
        return dt.datetime(*parts[:6], tzinfo=dt.timezone(dt.timedelta(seconds=parts[9] or 0)))
    except (ValueError, OverflowError):  # hour 99, day 31 of February: refused as not a duration either
        return after


@_keywords_named
class TraceError(JobsimError):
    """A trace file cannot be read or written: the message names the file and the line.

    ``path`` is the file (``None`` for in-memory data) and ``line`` the 1-based line
    number the problem is on (``None`` when it concerns the whole file).
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = f"{path}:{line}: " if path and line else f"{path}: " if path else f"line {line}: " if line else ""
        super().__init__(where + message)
        self.path = path
        self.line = line


class FaultWarning(UserWarning):
    """A fault armed with ``sim.fail(...)`` never fired before the simulation closed.

    Usually a step id with a typo, or a step that runs no code (a sleep, a wait, an
    invoke): ``sim.fail`` reaches ``step.run`` and ``step.send_event`` steps and the
    function body. The test would otherwise pass without testing the failure path.
    """


class KeyWarning(UserWarning):
    """A flow-control key read nothing on any event: every event a simulation evaluated it on shared one key.

    A path such as ``"event.data.userID"`` when the events carry ``userId`` is missing on each, which
    Inngest evaluates to ``false``: one debounce swallows every user's events, one batch merges them.
    The simulation keeps that behaviour and warns when it closes, naming the fields the events had.
    """


class TriggerWarning(UserWarning):
    """Events were sent under a name that differs from a function's trigger only by case (``user.signup``
    for ``on="user.Signup"``): Inngest matches names exactly, so the function never ran for them.

    The simulation keeps that behaviour and warns when it closes, naming the trigger, its functions and
    the name sent, when the trigger matched no event sent or the name started no function; and so for a
    ``step.wait_for_event`` that timed out, or a ``Cancel`` that did not cancel a run, while such a name was sent.
    """


class PendingWorkWarning(UserWarning):
    """A simulation closed with work the test's own sends queued that never ran.

    ``sim.send`` only queues; runs start at the next ``advance``/``run_until_idle``. A test
    that sends and then asserts without driving the clock checks a world where nothing
    ran, and an assertion that nothing happened (no email, no call) passes for that reason.
    """


class UnreadQueueWarning(PendingWorkWarning):
    """A simulation closed with work waiting, due, on a queue no simulated worker reads (a backend plugin's:
    ``queue="emails"`` while the worker reads ``default``): it never ran, and a test that never waits on its
    result passes while production would never run it either.

    One warning per queue names the plugin, the queue, each task with its count, the queues the workers read,
    and the fixes (route the work to a read queue, or add a worker for that queue). A ``PendingWorkWarning``:
    ``-W error::jobsim.PendingWorkWarning`` fails the test for it too. A queue the test leaves unread on purpose:
    ``sim.leave_unread("emails")``.
    """


class TraceWarning(UserWarning):
    """Something in a trace file was tolerated (a cut-off last line, an unknown record kind)."""


_WARNINGS = (FaultWarning, KeyWarning, TriggerWarning, PendingWorkWarning, TraceWarning)
"""jobsim's own warnings (``UnreadQueueWarning`` is a ``PendingWorkWarning``): ``hide_jobsim_frames``."""
