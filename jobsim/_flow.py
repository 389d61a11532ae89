"""Flow-control options of ``app.function``: their values, validated.

Semantics follow Inngest's source (``reference/semantics.md`` §1.3); the runtime
that applies them lives in ``_flowrt.py``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Literal

from ._checks import check_callable, init_keywords_checked, swapped
from ._expr import Key, compile_expression, compile_key, compile_match, compile_path, match_and_if, raised
from ._time import DAY, SECOND, WEEK, Duration, duration_ns, format_duration
from .errors import InvalidArgument

MAX_CANCELLATIONS = 5
"""Inngest's ``consts.MaxCancellations``."""

CANCEL_TIMEOUT = 365 * DAY
"""How long a cancellation without ``timeout`` listens: Inngest's pause ``Expires`` is ``now +
consts.CancelTimeout`` (365 days) then (executor.go, the ``range req.Function.Cancel`` loop)."""


def _positive_int(name: str, value: Any, minimum: int = 1, why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgument.build(name, value, f"expected an int >= {minimum}{why}")
    return value


def _bounded(name: str, value: Duration, low: int, high: int | None = None, why: str = "") -> int:
    """``value`` in ns, rejected unless ``low <= ns <= high`` (``duration_ns`` rejects negatives)."""
    ns = duration_ns(value, name, allow_zero=False)
    if ns < low or (high is not None and ns > high):
        low_text = format_duration(low)
        span = f"of at least {low_text}" if high is None else f"between {low_text} and {format_duration(high)}"
        raise InvalidArgument.build(name, value, f"expected a duration {span}{why}")
    return ns


def _whole_seconds(value: Duration, high: int, high_text: str, what: str) -> int:
    """A throttle or rate limit ``period`` in ns: from 1 s to ``high``, Inngest's documented range, in whole
    seconds, which is all Inngest keeps (its constraint API stores ``int(period.Seconds())``)."""
    period = duration_ns(value, "period", allow_zero=False)
    if not SECOND <= period <= high:
        raise InvalidArgument.build("period", value, f"expected a duration between 1s and {high_text} (Inngest's "
                                    f"{what} period range)")
    if period % SECOND:
        raise InvalidArgument.build("period", value, "expected a whole number of seconds (Inngest drops the fraction, "
                                    f"so this period would {what} as {format_duration(period - period % SECOND)})")
    return period


@init_keywords_checked("Batch()", needs={
    "max_size": "the most events one run gets (at least 2), e.g. Batch(max_size=100, timeout='5s')"})
@dataclasses.dataclass(frozen=True, slots=True)
class Batch:
    """``Batch(max_size, timeout, key=None, if_=None)``: run once per batch of events.

    A batch opens with its first event; it runs when it holds ``max_size`` events or
    ``timeout`` after its first event, whichever comes first. One batch per key.
    Events for which ``if_`` is false run at once, unbatched.
    """

    max_size: int
    timeout: Duration | None = None  # required: a default only so that leaving it out gets a clear message
    key: Key | None = None
    if_: str | Callable[[Any], bool] | Callable[[Any, Any], bool] | None = None
    timeout_ns: int = dataclasses.field(init=False, repr=False, compare=False)
    key_fn: Callable[[Any], Hashable] | None = dataclasses.field(init=False, repr=False, compare=False)
    if_fn: Callable[[Any, Any], bool] | None = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _positive_int("max_size", self.max_size, 2, " (Inngest rejects a batch smaller than 2)")
        if self.timeout is None:
            raise InvalidArgument.build(
                "timeout",
                None,
                "a batch needs a timeout of at least 1s, after which it runs even if not full, "
                f"e.g. Batch(max_size={self.max_size}, timeout='5s')",
            )
        timeout = _bounded("timeout", self.timeout, SECOND, why=" (Inngest's minimum batch timeout)")
        object.__setattr__(self, "timeout_ns", timeout)
        object.__setattr__(self, "key_fn", None if self.key is None else compile_key(self.key))
        object.__setattr__(self, "if_fn", None if self.if_ is None else compile_expression(self.if_, "if_", one=True))


@init_keywords_checked("Debounce()", needs={
    "period": "how long things must stay quiet before the run (1s to 7d), e.g. Debounce(period='5m', "
              "key='event.data.userId')"})
@dataclasses.dataclass(frozen=True, slots=True)
class Debounce:
    """``Debounce(period, key=None, timeout=None, mode=None)``: run once things go quiet.

    Each event pushes the run to ``now + period``, never past ``first event +
    timeout``. ``mode``: which event the run gets, the last (``"trailing"``) or the
    first (``"leading"``, still run when things go quiet, as Trigger.dev means it);
    ``None`` is the system's own default: the last on Inngest, BullMQ and Agenda,
    the first on Trigger.dev (its ``debounce.mode`` defaults to ``"leading"``).
    """

    period: Duration
    key: Key | None = None
    timeout: Duration | None = None
    mode: Literal["leading", "trailing"] | None = None
    period_ns: int = dataclasses.field(init=False, repr=False, compare=False)
    timeout_ns: int | None = dataclasses.field(init=False, repr=False, compare=False)
    key_fn: Callable[[Any], Hashable] | None = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        period = _bounded("period", self.period, SECOND, WEEK, " (Inngest's debounce period range)")
        object.__setattr__(self, "period_ns", period)
        timeout = None if self.timeout is None else duration_ns(self.timeout, "timeout", allow_zero=False)
        object.__setattr__(self, "timeout_ns", timeout)
        object.__setattr__(self, "key_fn", None if self.key is None else compile_key(self.key))
        if self.mode not in (None, "leading", "trailing"):
            raise InvalidArgument.build("mode", self.mode, "'trailing' (the run gets the last event), 'leading' "
                                        "(the first) or None (the system's default)")  # fmt: skip


@init_keywords_checked("Throttle()", needs={
    "limit": "how many runs may start per period, e.g. Throttle(limit=5, period='1m')",
    "period": "the window the limit counts over (1s to 7d, whole seconds), e.g. Throttle(limit=5, period='1m')"})
@dataclasses.dataclass(frozen=True, slots=True)
class Throttle:
    """``Throttle(limit, period, key=None, burst=None)``: GCRA on run starts; excess waits, FIFO.

    ``period`` is whole seconds: Inngest's executor truncates it with ``int(Period.Seconds())``,
    so ``"1.5s"`` would silently throttle per second there; jobsim refuses it instead.
    """

    limit: int
    period: Duration
    key: Key | None = None
    burst: int | None = None
    period_ns: int = dataclasses.field(init=False, repr=False, compare=False)
    key_fn: Callable[[Any], Hashable] | None = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _positive_int("limit", self.limit)
        if self.burst is not None:
            _positive_int("burst", self.burst, 0)
        period = _whole_seconds(self.period, WEEK, "7d", "throttle")
        object.__setattr__(self, "period_ns", period)
        object.__setattr__(self, "key_fn", None if self.key is None else compile_key(self.key))


@init_keywords_checked("RateLimit()", needs={
    "limit": "how many runs per period, the rest skipped, e.g. RateLimit(limit=5, period='1h')",
    "period": "the window the limit counts over (1s to 24h, whole seconds), e.g. RateLimit(limit=5, period='1h')"})
@dataclasses.dataclass(frozen=True, slots=True)
class RateLimit:
    """``RateLimit(limit, period, key=None)``: GCRA with burst ⌊limit/10⌋; excess runs are skipped."""

    limit: int
    period: Duration
    key: Key | None = None
    period_ns: int = dataclasses.field(init=False, repr=False, compare=False)
    key_fn: Callable[[Any], Hashable] | None = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _positive_int("limit", self.limit)
        period = _whole_seconds(self.period, DAY, "24h", "rate limit")
        object.__setattr__(self, "period_ns", period)
        object.__setattr__(self, "key_fn", None if self.key is None else compile_key(self.key))


SINGLETON_MODES = ("skip", "cancel")
"""Inngest's ``enums.SingletonMode`` (pkg/enums/singleton_mode.go)."""


@init_keywords_checked("Singleton()")
@dataclasses.dataclass(frozen=True, slots=True)
class Singleton:
    """``Singleton(mode, key=None)``: at most one run of the function per key at a time (Inngest's ``singleton``).

    A run takes the key when it is scheduled (pkg/execution/state/redis_state/lua/queue/enqueue.lua sets the
    singleton key to the run's id as its first queue item is enqueued) and keeps it until it ends, whatever
    the end (dequeue.lua deletes it with the run's last queue item, and a cancelled run's items are all
    dequeued by pkg/execution/executor/finalize.go : doRemoveRunJobs): through throttle and concurrency
    queues, sleeps and waits. A run due while another holds its key is, with ``mode="skip"``, skipped
    (``enums.SkipReasonSingleton``); with ``mode="cancel"``, the holder is cancelled and the new run
    starts (pkg/execution/executor/executor.go : schedule, ``HandleSingleton`` then ``e.Cancel``).
    No ``key``: one run of the function at a time. A key that evaluates to ``False`` (a missing field
    included) makes the run no singleton at all (pkg/execution/singleton/singleton.go : SingletonKey,
    ``ErrNotASingleton``).
    """

    mode: Literal["skip", "cancel"] | None = None  # required: a default only so that leaving it out is told clearly
    key: Key | None = None
    key_fn: Callable[[Any], Hashable] | None = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in SINGLETON_MODES:
            raise InvalidArgument.build(
                "mode", self.mode, "'skip' (a run due while another holds its key is skipped) or 'cancel' (the "
                "running one is cancelled and the new one starts), Inngest's two singleton modes, e.g. "
                "Singleton(mode='skip', key='event.data.userId')"
            )
        object.__setattr__(self, "key_fn", None if self.key is None else compile_key(self.key))


@init_keywords_checked("Concurrency()", needs={
    "limit": "how many steps may run at once, e.g. Concurrency(limit=5, key='event.data.accountId')"})
@dataclasses.dataclass(frozen=True, slots=True)
class Concurrency:
    """``Concurrency(limit, key=None, scope="fn")``: at most ``limit`` steps executing code at once.

    ``scope="fn"`` (the default) limits this function on its own, per ``key`` value.
    ``scope="env"`` or ``"account"`` shares the limit with every function whose limit has
    the same scope and whose ``key`` gives the same value (Inngest's
    ``util.ConcurrencyKey(scope, scopeID, evaluated)``: the key string, not the function,
    names the queue), so ``key='"openai"'`` on several functions caps their calls together.
    Those scopes need a ``key``, as Inngest's ``StepConcurrency.Validate`` requires. One
    simulation is one environment of one account, so the two differ only in that an
    ``env`` and an ``account`` limit with the same key are separate queues.
    """

    limit: int
    key: Key | None = None
    scope: str = "fn"
    key_fn: Callable[[Any], Hashable] | None = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _positive_int("limit", self.limit)
        if self.scope not in SCOPES:
            raise InvalidArgument.build("scope", self.scope, "'fn', 'env' or 'account' (Inngest's scopes)")
        if self.scope != "fn" and self.key is None:
            raise InvalidArgument(
                f"Concurrency(scope={self.scope!r}) needs key=: a limit shared across functions is named by its "
                "key's value, as on Inngest (\"A concurrency key must be specified for "
                f"{self.scope} scoped limits\"); e.g. key='\"openai\"' or key='event.data.accountId'"
            )
        object.__setattr__(self, "key_fn", None if self.key is None else compile_key(self.key))


SCOPES = ("fn", "env", "account")


@init_keywords_checked("Cancel()", needs={
    "event": "the name of the event that cancels the run, e.g. Cancel(event='order/cancelled', "
             "match='data.orderId')"})
@dataclasses.dataclass(frozen=True, slots=True)
class Cancel:
    """``Cancel(event, match=None, timeout=None, if_exp=None)``: a later matching event cancels the run."""

    event: str
    match: str | None = None
    timeout: Duration | None = None
    if_exp: str | Callable[[Any, Any], bool] | None = None
    timeout_ns: int | None = dataclasses.field(init=False, repr=False, compare=False)
    # (the run's event, the candidate) -> bool, all of which hold for a match: match first (``_listeners``)
    checks: tuple[Callable[[Any, Any], bool], ...] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.event, str) or not self.event.strip():  # no event can be named ' ': it never cancels
            raise InvalidArgument.build("event", self.event, "the name of the event that cancels the run")
        if "*" in self.event:  # matched by exact name: a pattern would never cancel
            raise InvalidArgument.build("event", self.event, "the exact name of the event that cancels the run: "
                                        "cancellations match names as they are, so a '*' (a trigger's wildcard) "
                                        "would match no event")
        timeout = None if self.timeout is None else duration_ns(self.timeout, "timeout", allow_zero=False)
        object.__setattr__(self, "timeout_ns", timeout)
        if self.match is not None and self.if_exp is not None:
            raise match_and_if("Cancel()", self.match, self.if_exp)
        checks = []
        if self.match is not None:
            checks.append(compile_match(self.match))
        if self.if_exp is not None:
            checks.append(compile_expression(self.if_exp, restricted=True))
        object.__setattr__(self, "checks", tuple(checks))


@init_keywords_checked("Timeouts()")
@dataclasses.dataclass(frozen=True, slots=True)
class Timeouts:
    """``Timeouts(start=None, finish=None)``: Inngest's ``timeouts``; a run past either is cancelled.

    ``start`` bounds the wait before the run's first step starts (throttle and
    concurrency queues); ``finish`` bounds the run from that first start to its end.
    ``timeout="10m"`` on ``app.function`` is ``Timeouts(finish="10m")``.
    """

    start: Duration | None = None
    finish: Duration | None = None
    start_ns: int | None = dataclasses.field(init=False, repr=False, compare=False)
    finish_ns: int | None = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.start is None and self.finish is None:
            raise InvalidArgument("Timeouts() needs start= and/or finish=, e.g. Timeouts(finish='10m')")
        for name in ("start", "finish"):
            value = getattr(self, name)
            ns = None if value is None else duration_ns(value, name, allow_zero=False)
            object.__setattr__(self, f"{name}_ns", ns)


@dataclasses.dataclass(frozen=True, slots=True)
class FlowControl:
    """All flow-control options of one function, validated."""

    batch: Batch | None = None
    debounce: Debounce | None = None
    throttle: Throttle | None = None
    rate_limit: RateLimit | None = None
    concurrency: tuple[Concurrency, ...] = ()
    priority: Callable[[Any], int] | None = None
    cancel_on: tuple[Cancel, ...] = ()
    idempotency: Callable[[Any], Hashable] | None = None
    idempotency_key: Key | None = dataclasses.field(default=None, repr=False, compare=False)  # as written
    timeouts: Timeouts | None = None
    singleton: Singleton | None = None

    @classmethod
    def build(cls, function_id: str, options: dict[str, Any], *, timeout: bool = False) -> FlowControl:
        """Validate ``options``; ``timeout`` says whether ``app.function`` also got ``timeout=``."""
        kinds: dict[str, type] = {
            "batch": Batch, "debounce": Debounce, "throttle": Throttle,
            "rate_limit": RateLimit, "concurrency": Concurrency, "timeouts": Timeouts, "singleton": Singleton,
        }  # fmt: skip
        known = [*kinds, "priority", "cancel_on", "idempotency"]
        values: dict[str, Any] = {}
        for name, value in options.items():
            if name not in known:
                accepted = ["on", "cron", "tz", "every", "retries", "timeout", "on_failure", *known]
                raise InvalidArgument(
                    f"app.function({function_id!r}) got an unknown option {name}=...{_did_you_mean(name, accepted)}; "
                    "accepted: " + ", ".join(accepted)
                )
            if value is None:
                continue
            if name == "concurrency":
                values[name] = _concurrency(value)
                continue
            if name in kinds and not isinstance(value, kinds[name]):
                raise InvalidArgument.build(name, value, f"a jobsim.{kinds[name].__name__}(...)")
            values[name] = value
        if "priority" in values:
            values["priority"] = _priority(values["priority"])
        if "cancel_on" in values:
            values["cancel_on"] = _cancels(values["cancel_on"])
        if "idempotency" in values:
            values["idempotency_key"] = values["idempotency"]
            values["idempotency"] = compile_key(values["idempotency"], "idempotency")
        if "batch" in values and "debounce" in values:
            raise InvalidArgument(
                f"function {function_id!r}: batch= and debounce= cannot be combined (Inngest rejects it too)"
            )
        if "batch" in values and "cancel_on" in values:  # pkg/inngest/function.go : Function.Validate
            raise InvalidArgument(
                f"function {function_id!r}: batch= and cancel_on= cannot be combined (Inngest rejects it: "
                '"Batching and cancellation are mutually exclusive"); drop cancel_on=, or check for a '
                "cancellation inside the batch's run (ctx.step.wait_for_event)"
            )
        if "batch" in values and "singleton" in values:  # pkg/inngest/function.go : Function.Validate
            raise InvalidArgument(
                f"function {function_id!r}: batch= and singleton= cannot be combined (Inngest rejects it: "
                '"Batching and singletons are mutually exclusive"); drop one of them'
            )
        if "batch" in values and "priority" in values:
            raise InvalidArgument(
                f"function {function_id!r}: batch= and priority= cannot be combined (Inngest rejects it: "
                '"A function cannot specify Priority.Run and Batch together"); drop one of them'
            )
        if "idempotency" in values and "rate_limit" in values:
            raise InvalidArgument(
                f"function {function_id!r}: idempotency= and rate_limit= cannot be combined; on Inngest "
                "idempotency= *is* a rate limit (1 run per key per 24h) and silently replaces rate_limit="
            )
        if timeout and "timeouts" in values and values["timeouts"].finish is not None:
            raise InvalidArgument(
                f"function {function_id!r}: timeout= and timeouts=Timeouts(finish=...) say the same thing; give one"
            )
        return cls(**values)


def _concurrency(value: Any) -> tuple[Concurrency, ...]:
    """An int, a ``Concurrency``, or Inngest's list form of one or two (``consts.MaxConcurrencyLimits``)."""
    if isinstance(value, (list, tuple)) and value and all(isinstance(c, Concurrency) for c in value):
        if len(value) > 2:
            raise InvalidArgument(
                f"concurrency= got {len(value)} limits; Inngest allows at most 2 per function "
                "(consts.MaxConcurrencyLimits): keep two"
            )
        return tuple(value)
    if isinstance(value, Concurrency):
        return (value,)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return (Concurrency(value),)
    raise InvalidArgument.build(
        "concurrency", value, "expected an int >= 1, jobsim.Concurrency(limit, key=...) or a list of two of them"
    )


_INT_CALL = re.compile(r"int\((.*)\)")
_INT64 = 1 << 63


def _priority(value: Any) -> Callable[[Any], int]:
    """``priority=``: Inngest's ``Priority.run``, whose result must be an int (``RunPriorityFactor``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return lambda event: value
    if callable(value):
        check_callable("priority", value, 1, "a callable taking the event and returning seconds (an int)")
        return _priority_call(value)
    call = _INT_CALL.fullmatch(value.strip()) if isinstance(value, str) else None
    if call is not None:
        try:
            key = compile_path(call.group(1).strip(), "priority")
        except InvalidArgument:
            raise InvalidArgument.build("priority", value, "int() of a dotted path rooted at 'event', "
                                        "e.g. 'int(event.data.priority)'") from None
        return lambda event: cel_int(key(event))
    if isinstance(value, str) and value.startswith("event."):
        compile_path(value, "priority")  # a bad path is told first
        raise InvalidArgument.build(
            "priority", value, "an event's numbers are JSON doubles on Inngest and Priority.run must give an int "
            "(pkg/inngest/function.go : RunPriorityFactor, \"returned non-int\"), so every run would get priority 0; "
            f"convert it as in CEL: priority='int({value})'"
        )
    raise InvalidArgument.build(
        "priority", value, "an int of seconds, 'int(event.data.<field>)', or a callable taking the event"
    )


def _priority_call(fn: Callable[[Any], Any]) -> Callable[[Any], int]:
    name = str(getattr(fn, "__qualname__", fn))

    def call(event: Any) -> int:
        try:
            factor = fn(event)
        except Exception as exc:  # a bare KeyError out of sim.send would not say it was the priority
            raise raised("priority", name, exc, event, "give seconds") from exc
        if type(factor) is int:
            return factor
        if factor is None:
            return 0
        # raised where the run is created: the message names the callable
        raise InvalidArgument.build(f"priority {name}(event)", factor, "a number of seconds as an int (Inngest runs "
                                    "a priority that is not an int, a double included, with priority 0); it "
                                    "returned something else: return int(...)")  # fmt: skip

    return call


def cel_int(value: Any) -> int:
    """CEL's ``int(value)`` for a JSON value, and 0 where it is an error (Inngest then runs at priority 0)."""
    number = cel_int_or_none(value)
    return 0 if number is None else number


def cel_int_or_none(value: Any) -> int | None:
    """CEL's ``int(value)``: a number truncated toward zero inside int64, a base-10 integer string; ``None``
    (a CEL error) for anything else: a bool, null, a missing field, ``"3.5"``, NaN."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        value = int(value) if re.fullmatch(r"[+-]?[0-9]+", value) else None  # Go's strconv.ParseInt(s, 10, 64)
    elif isinstance(value, float):
        value = int(value) if -_INT64 < value < _INT64 else None  # NaN fails both comparisons
    return value if type(value) is int and -_INT64 <= value < _INT64 else None


def _cancels(value: Any) -> tuple[Cancel, ...]:
    items: Sequence[Any] = [value] if isinstance(value, Cancel) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(c, Cancel) for c in items):
        raise InvalidArgument.build("cancel_on", value, "a list of jobsim.Cancel(event=..., match=...)")
    if len(items) > MAX_CANCELLATIONS:
        raise InvalidArgument(
            f"cancel_on has {len(items)} cancellations; Inngest allows at most {MAX_CANCELLATIONS} per function"
        )
    return tuple(items)


__all__ = [
    "Batch", "Cancel", "Concurrency", "Debounce", "FlowControl", "RateLimit", "Singleton", "Throttle", "Timeouts",
]  # fmt: skip


# Other systems' words for jobsim's options (Inngest's `event`/`triggers`, Celery's `retry`, ...).
_ALIASES = {"trigger": "on", "triggers": "on", "event": "on", "events": "on", "schedule": "cron",
            "timezone": "tz", "interval": "every", "repeat": "every", "pattern": "cron", "retry": "retries",
            "attempts": "retries", "max_retries": "retries", "batchevents": "batch", "batch_events": "batch",
            "onfailure": "on_failure", "ratelimit": "rate_limit", "rate": "rate_limit",
            "idempotency_key": "idempotency", "cancel": "cancel_on", "cancelon": "cancel_on"}  # fmt: skip


def _did_you_mean(name: str, accepted: list[str]) -> str:
    """`` (did you mean on=?)`` for a known alias or a close misspelling, else ``""``."""
    key = name.lower()
    guess = _ALIASES.get(key) or _ALIASES.get(key.replace("_", ""))
    if guess is None:
        import difflib

        close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.75)
        guess = close[0] if close else swapped(key, accepted)
    return f" (did you mean {guess}=?)" if guess else ""
