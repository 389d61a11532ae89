"""The features a profile may lack (``Profile.lacks``), and which of them a function's declaration uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._events import is_wildcard
from ._time import SECOND

if TYPE_CHECKING:
    from ._app import Function
    from ._flow import Concurrency, FlowControl

FEATURES: dict[str, str] = {
    "events": "event triggers (on=)",
    "events.wildcard": "wildcard event triggers (on='app/*')",
    "every": "an interval schedule (every=)",
    "batch": "event batching (batch=)",
    "debounce": "debouncing (debounce=)",
    "debounce.timeout": "a debounce timeout (Debounce(timeout=...))",
    "debounce.leading": "a debounce run with the first event (Debounce(mode='leading'))",
    "debounce.fraction": "a debounce period that is not a whole number of seconds",
    "throttle": "throttling (throttle=)",
    "rate_limit": "a lossy rate limit (rate_limit=)",
    "idempotency": "idempotency keys (idempotency=)",
    "concurrency": "a concurrency limit (concurrency=)",
    "concurrency.key": "per-key concurrency (Concurrency(key=...))",
    "concurrency.limit": "a concurrency limit above 1",
    "concurrency.scope": "a concurrency limit shared across functions (Concurrency(scope='env'|'account'))",
    "concurrency.two": "two concurrency limits on one function (concurrency=[..., ...])",
    "priority": "priorities (priority=)",
    "cancel_on": "cancellation by event (cancel_on=)",
    "singleton": "one run at a time per key (singleton=)",
    "timeouts": "run timeouts (timeout= / timeouts=)",
    "on_failure": "a failure handler (on_failure=)",
    "retries": "retries (retries=)",
    "step.sleep": "ctx.step.sleep / ctx.step.sleep_until",
    "step.wait_for_event": "ctx.step.wait_for_event",
    "step.invoke": "ctx.step.invoke",
    "send.delay": "a delayed send (send(..., delay=...))",
    "cron.several": "more than one cron schedule (cron=[...])",
}
"""Every feature a profile may lack, as messages name it."""


def features_of(fn: Function) -> list[str]:
    """The feature keys (``FEATURES``) a function's declaration uses, in the order a refusal names the first."""
    used = _function_features(fn)
    return used if fn.flow is None else used + _flow_features(fn.flow)


def _function_features(fn: Function) -> list[str]:
    """What the function's own options use: ``on=``, ``every=``, ``on_failure=``, ``timeout=``, ``cron=[...]``."""
    checks = (("events", bool(fn.events)), ("events.wildcard", any(is_wildcard(name) for name in fn.events)),
              ("every", fn.every is not None), ("on_failure", fn.on_failure is not None),
              ("timeouts", fn.timeout_ns is not None), ("cron.several", len(fn.crons) > 1))  # fmt: skip
    return [key for key, uses in checks if uses]


def _flow_features(flow: FlowControl) -> list[str]:
    """What its flow control uses: ``batch=``, ``debounce=`` (and its options), ... ``concurrency=``."""
    debounce = flow.debounce
    checks = [(name, bool(getattr(flow, name)))
              for name in ("batch", "debounce", "throttle", "rate_limit", "cancel_on", "timeouts", "singleton")]
    checks += [("debounce.timeout", debounce is not None and debounce.timeout_ns is not None),
               ("debounce.leading", debounce is not None and debounce.mode == "leading"),
               ("debounce.fraction", debounce is not None and debounce.period_ns % SECOND != 0),
               ("idempotency", flow.idempotency is not None), ("priority", flow.priority is not None)]  # fmt: skip
    return [key for key, uses in checks if uses] + _concurrency_features(flow.concurrency)


def _concurrency_features(limits: tuple[Concurrency, ...]) -> list[str]:
    if not limits:
        return []
    checks = (("concurrency", True),
              # .scope before .key, which it implies: the first feature a profile lacks names the refusal
              ("concurrency.scope", any(limit.scope != "fn" for limit in limits)),
              ("concurrency.two", len(limits) > 1),
              ("concurrency.key", any(limit.key is not None for limit in limits)),
              ("concurrency.limit", any(limit.limit > 1 for limit in limits)))  # fmt: skip
    return [key for key, uses in checks if uses]
