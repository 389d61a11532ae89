"""An inngest-py function's options, translated into jobsim's (validated as Inngest would).

Every option of ``Inngest.create_function`` (``inngest/_internal/client_lib/client.py``)
has a jobsim counterpart with the server's semantics (``reference/semantics.md`` §1):

==========================  ==================================================
inngest-py                  jobsim
==========================  ==================================================
``trigger=TriggerEvent``    ``on=`` (+ ``Function.event_if`` for ``expression``)
``trigger=TriggerCron``     ``cron=`` (``TZ=``/``CRON_TZ=`` prefix; ``jitter``)
``retries=N``               ``N + 1`` attempts on Inngest's backoff table, N ≤ 20
``batch_events``            ``Batch(max_size, timeout, key, if_)``
``debounce``                ``Debounce(period, key, timeout)``
``throttle``                ``Throttle(limit, period, key, burst)`` (py default burst 1)
``rate_limit``              ``RateLimit(limit, period, key)``
``concurrency=[...]``       up to two ``Concurrency(limit, key, scope)`` (limit 0 = no limit)
``cancel=[...]``            ``Cancel(event, if_exp, timeout)``
``idempotency``             ``idempotency=`` (1 run per key per 24 h)
``priority``                ``priority=`` (``Priority(run=...)``)
``timeouts``                ``Timeouts(start, finish)``
``singleton``               ``Singleton(mode, key)`` (``"skip"`` or ``"cancel"``)
``on_failure``              ``on_failure=`` (1 attempt, as the Python SDK registers it)
==========================  ==================================================

Durations are ``int`` milliseconds or ``timedelta`` and must be whole seconds of at
least 1 s (inngest-py refuses anything else when it syncs: ``to_duration_str``).
Every refusal is a ``jobsim.InvalidArgument`` naming the function and the option.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable
from typing import Any

import inngest

import jobsim
from jobsim._cron import CronSchedule
from jobsim._dialects import ROBFIG
from jobsim._expr import Unevaluable, compile_expression
from jobsim._time import MINUTE, SECOND, duration_ns, format_duration

from ._cel import compile_value
from ._context import whole_seconds

MAX_RETRIES = 20
"""Inngest clamps ``retries`` to 20 (``pkg/consts/consts.go : MaxRetries``; ``pkg/sdk/function.go``)."""
CRON_JITTER = (SECOND, 5 * MINUTE)
"""``pkg/inngest/trigger.go : MinCronJitter/MaxCronJitter``."""


class ConfigError(jobsim.InvalidArgument):
    """An inngest-py function option jobsim cannot accept; names the function and the option."""


def options(fn: inngest.Function[Any], seed: int) -> dict[str, Any]:
    """``app.function`` keyword arguments for ``fn`` plus ``event_if``/``crons`` to set afterwards."""
    where = f"inngest function {fn.id!r}"
    opts = fn._opts
    out: dict[str, Any] = {}
    _triggers(fn, where, seed, out)
    _guard(where, "retries", lambda: _retries(opts.retries), out, "retries")
    flow: dict[str, tuple[Any, Callable[[Any], Any]]] = {
        "batch": (opts.batch_events, _batch),
        "debounce": (opts.debounce, _debounce),
        "throttle": (opts.throttle, _throttle),
        "rate_limit": (opts.rate_limit, _rate_limit),
        "concurrency": (opts.concurrency, _concurrency),
        "cancel_on": (opts.cancel, _cancel),
        "idempotency": (opts.idempotency, _idempotency),
        "priority": (opts.priority, _priority),
        "timeouts": (opts.timeouts, _timeouts),
        "singleton": (opts.singleton, _singleton),
    }
    names = {"batch": "batch_events", "cancel_on": "cancel"}
    for key, (value, convert) in flow.items():
        if value is not None:
            _guard(where, names.get(key, key), lambda v=value, c=convert: c(v), out, key)  # type: ignore[misc]
    return {k: v for k, v in out.items() if v is not None}


def _guard(where: str, option: str, build: Callable[[], Any], out: dict[str, Any], key: str) -> None:
    try:
        out[key] = build()
    except ConfigError:
        raise
    except jobsim.InvalidArgument as exc:
        raise ConfigError(f"{where}: {option}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {option}: {exc}") from None


# -- triggers -------------------------------------------------------------------------
def _triggers(fn: inngest.Function[Any], where: str, seed: int, out: dict[str, Any]) -> None:
    names: list[str] = []
    conditions: dict[str, list[Callable[[Any, Any], bool] | None]] = {}
    crons: list[Any] = []
    for trigger in fn._triggers:
        if isinstance(trigger, inngest.TriggerEvent):
            if not trigger.event.strip():
                raise ConfigError(
                    f"{where}: TriggerEvent(event={trigger.event!r}): an event name is a non-empty string"
                )
            if trigger.event not in names:
                names.append(trigger.event)
            check = None
            if trigger.expression is not None:
                argument = f"TriggerEvent(event={trigger.event!r}, expression=...)"
                try:
                    check = compile_expression(trigger.expression, "expression")
                except jobsim.InvalidArgument as exc:
                    raise ConfigError(f"{where}: {argument}: {exc}") from None
            conditions.setdefault(trigger.event, []).append(check)
        elif isinstance(trigger, inngest.TriggerCron):
            crons.append(_cron(trigger, where, f"{seed}:{fn.id}"))
        else:
            raise ConfigError(f"{where}: trigger={trigger!r} is not valid: inngest.TriggerEvent or TriggerCron")
    out["on"] = names or None
    out["cron"] = [c.expr for c in crons] or None
    out["_crons"] = tuple(crons)
    event_if = {name: _any(checks) for name, checks in conditions.items() if all(c is not None for c in checks)}
    out["_event_if"] = event_if or None


def _any(checks: list[Any]) -> Callable[[Any], bool]:
    """Triggers are ORed: an event starts a run if any trigger for its name matches it."""
    if len(checks) == 1:
        only = checks[0]
        return lambda event: bool(only(event, event))
    return lambda event: any(check(event, event) for check in checks)


@dataclasses.dataclass(frozen=True, slots=True)
class JitteredCron:
    """A cron trigger with ``jitter``: each tick's run is made at the tick, due at its own offset.

    Inngest's ``handleCron`` (``executor/service.go``) schedules a tick's run when the tick comes, with
    ``At: fireAt`` and the event's ``ts`` at ``fireAt = scheduledAt + DeterministicJitter(jobID, 1s,
    jitter)`` (``cron/cron.go``): xxhash64 of the tick's cron job id modulo the range, in nanoseconds, so
    every tick has its own offset in [1 s, jitter). That id hashes the tick's time, the expression, the
    function's UUID and its version (``cron/manager.go : CronProcessJobID``); the UUID is random in Inngest
    Cloud (in the dev server, SHA-1 of the function's name and serve URL), so no simulation can know the
    offsets: each is a hash of the simulation's seed, the function and the tick instead (blake2b), fixed
    for a seed, different per tick.
    """

    schedule: CronSchedule
    seed: str
    low_ns: int
    span_ns: int

    @property
    def expr(self) -> str:
        return self.schedule.expr

    def next_after(self, ns: int) -> int:
        return self.schedule.next_after(ns)

    def fires_between(self, start: int, end: int) -> list[int]:
        return self.schedule.fires_between(start, end)

    def zone_fields(self) -> dict[str, str]:
        return self.schedule.zone_fields()

    def fire_at(self, tick_ns: int) -> int:
        """When the run of the tick at ``tick_ns`` is due: the tick plus its offset in [1 s, jitter)."""
        digest = hashlib.blake2b(f"{self.seed}:{tick_ns}".encode(), digest_size=8).digest()
        return tick_ns + self.low_ns + int.from_bytes(digest, "big") % self.span_ns


def _cron(trigger: inngest.TriggerCron, where: str, seed: str) -> Any:
    argument = f"TriggerCron(cron={trigger.cron!r})"
    try:
        # @daily & co., L, W, # and day-of-week 7: refused there, so no hint names them
        schedule = CronSchedule.parse(trigger.cron, descriptors=ROBFIG.descriptors, specials=ROBFIG.specials)
    except jobsim.InvalidArgument as exc:
        raise ConfigError(f"{where}: {argument}: {exc}") from None
    if trigger.jitter is None:
        return schedule
    try:
        jitter = duration_ns(trigger.jitter, "jitter")
    except jobsim.InvalidArgument as exc:
        raise ConfigError(f"{where}: {argument}: {exc}") from None
    low, high = CRON_JITTER
    if not low <= jitter <= high:
        raise ConfigError(
            f"{where}: {argument}: jitter={trigger.jitter!r} is not valid: Inngest accepts "
            f"{format_duration(low)} to {format_duration(high)}"
        )
    return JitteredCron(schedule, seed, low, max(jitter - low, 1))  # offsets in [1 s, jitter), in ns


# -- options -----------------------------------------------------------------------------
def _retries(value: int | None) -> int | None:
    if value is None:
        return None  # the profile's default: 4 retries (5 attempts)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise jobsim.InvalidArgument.build(
            "retries", value, "an int >= 0 (the number of retries after the first attempt)"
        )
    return min(value, MAX_RETRIES)


def _batch(batch: inngest.Batch) -> jobsim.Batch:
    if batch.timeout is None:
        raise jobsim.InvalidArgument.build("timeout", None, "Inngest needs a batch timeout, e.g. timedelta(seconds=30)")
    timeout = whole_seconds(batch.timeout, "timeout")
    return jobsim.Batch(batch.max_size, timeout, key=_key(batch.key, on_error=_unscheduled), if_=batch.if_exp)


def _debounce(debounce: inngest.Debounce) -> jobsim.Debounce:
    timeout = None if debounce.timeout is None else whole_seconds(debounce.timeout, "timeout")
    key = _key(debounce.key, on_error=lambda: "<invalid>")  # debounce.go : debounceKey, on an error
    return jobsim.Debounce(whole_seconds(debounce.period, "period"), key=key, timeout=timeout)


def _throttle(throttle: inngest.Throttle) -> jobsim.Throttle:
    # inngest-py's Throttle.burst defaults to 1 (server_lib/registration.py); None reaches the server as absent.
    period = whole_seconds(throttle.period, "period")
    return jobsim.Throttle(throttle.limit, period, key=_key(throttle.key), burst=throttle.burst)


def _rate_limit(rate_limit: inngest.RateLimit) -> jobsim.RateLimit:
    key = _key(rate_limit.key, on_error=_unscheduled)
    return jobsim.RateLimit(rate_limit.limit, whole_seconds(rate_limit.period, "period"), key=key)


def _concurrency(limits: list[inngest.Concurrency]) -> list[jobsim.Concurrency] | None:
    if len(limits) > 2:
        raise jobsim.InvalidArgument(
            f"concurrency has {len(limits)} limits; Inngest allows at most 2 (consts.MaxConcurrencyLimits)"
        )
    out = []
    for limit in limits:
        if isinstance(limit.limit, bool) or limit.limit < 0:
            raise jobsim.InvalidArgument.build("limit", limit.limit, "an int >= 0 (0 means no limit)")
        if limit.limit == 0:  # Inngest: "A value of 0 or undefined is the equivalent of not setting a limit"
            continue
        out.append(jobsim.Concurrency(limit.limit, key=_key(limit.key), scope=limit.scope or "fn"))
    return out or None


def _cancel(cancels: list[inngest.Cancel]) -> list[jobsim.Cancel]:
    out = []
    for cancel in cancels:
        timeout = None if cancel.timeout is None else whole_seconds(cancel.timeout, "timeout")
        out.append(jobsim.Cancel(cancel.event, timeout=timeout, if_exp=cancel.if_exp))
    return out


_PATH = re.compile(r"event(?:\.[A-Za-z_]\w*)+")


def _key(
    expression: str | None, argument: str = "key", on_error: Callable[[], Any] = lambda: False
) -> str | Callable[[Any], Any] | None:
    """A flow-control key: a plain ``event.…`` path as jobsim reads one (Inngest's rules: a missing
    field is ``false``), any other CEL expression compiled here (jobsim turns its value into the key).

    A CEL error is the option's own (``on_error``): ``false`` for a concurrency or throttle key, which
    ignore it (``concurrency.go : StepConcurrency.Evaluate``, ``queue/item.go : GetThrottleConfig``), and
    for a singleton, which is then no singleton (``singleton.go : ErrEvaluatingSingletonExpression``);
    ``"<invalid>"`` for a debounce; no run for a rate limit, ``idempotency`` or a batch (``_unscheduled``)."""
    if expression is None:
        return None
    if isinstance(expression, str) and _PATH.fullmatch(expression.strip()):
        return expression.strip()
    value = compile_value(expression, argument, on_error)

    def key(event: Any) -> Any:
        got = value(event)
        return str(got) if type(got) is int else got  # a CEL int is an int64, which %v writes in full

    return key


def _unscheduled() -> Any:
    """``ratelimit.go : RateLimitKey`` and ``batch/redis.go : batchKey`` return the error, which the executor's
    ``schedule`` and the runner's ``initialize`` pass on: the event makes no run of the function."""
    raise Unevaluable("the key expression failed to evaluate")


def _idempotency(expression: str) -> str | Callable[[Any], Any] | None:
    return _key(expression, "idempotency", _unscheduled)


def _singleton(singleton: inngest.Singleton) -> jobsim.Singleton:
    """``Singleton(key, mode)``: the key is a CEL expression on the event, as for every flow key (its value
    hashed with the function id: pkg/execution/singleton/singleton.go : SingletonKey); the mode is checked
    again here, as a model built without validation would reach the server unchecked."""
    return jobsim.Singleton(mode=singleton.mode, key=_key(singleton.key))


def _priority(priority: inngest.Priority) -> Callable[[Any], int]:
    """``Priority(run=...)``: seconds to move the run ahead. Anything but an int counts as 0, a double
    included (pkg/inngest/function.go : RunPriorityFactor, "returned non-int", which the executor ignores): an
    event's number is a double there, so ``event.data.boost`` is 0 and ``int(event.data.boost)`` its seconds."""
    factor = compile_value(priority.run, "run")

    def seconds(event: Any) -> int:
        value = factor(event)
        return value if type(value) is int else 0

    return seconds


def _timeouts(timeouts: inngest.Timeouts) -> jobsim.Timeouts | None:
    if timeouts.start is None and timeouts.finish is None:
        return None
    start = None if timeouts.start is None else whole_seconds(timeouts.start, "start")
    finish = None if timeouts.finish is None else whole_seconds(timeouts.finish, "finish")
    return jobsim.Timeouts(start=start, finish=finish)
