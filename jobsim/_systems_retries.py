"""``retries=`` as each built-in system reads it: jobsim's ``Retries`` turned into the system's own policy.

A profile's ``retries`` hook (``Profile.retries``) gets the function and the policy its user gave, and
returns the policy the system would run, or refuses what the system cannot express (BullMQ has no linear
backoff, Quirrel no jitter, ...) naming the option that does. Another system's policy class
(``retries=jobsim.BullMQBackoff(...)`` on Agenda) is refused too.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Literal

from ._backoffs import AgendaBackoff, BullMQBackoff, QuirrelRetry, TriggerDevRetry
from ._retries import Retries, RetryPolicy, TableBackoff
from ._time import MS
from .errors import UnsupportedFeature

if TYPE_CHECKING:
    from ._app import Function

_OWN: dict[type, str] = {
    TableBackoff: "Inngest", BullMQBackoff: "BullMQ", TriggerDevRetry: "Trigger.dev",
    QuirrelRetry: "Quirrel", AgendaBackoff: "Agenda",
}  # fmt: skip


def _refuse(system: str, fn: Function, what: str) -> UnsupportedFeature:
    return UnsupportedFeature(f"{system} cannot run function {fn.id!r}: {what}", system=system, feature="retries",
                              function=fn.id)  # fmt: skip


def _foreign(system: str, fn: Function, user: RetryPolicy, own: type) -> None:
    """Refuse another system's policy class (``retries=jobsim.BullMQBackoff(...)`` on Agenda, say)."""
    owner = _OWN.get(type(user))
    if owner is not None and owner != system:
        raise _refuse(system, fn, f"retries={user!r} is {owner}'s retry option; {system} takes "
                                  f"jobsim.Retries(...) or jobsim.{own.__name__}(...)")  # fmt: skip


def inngest_retries(fn: Function, user: RetryPolicy) -> RetryPolicy:
    _foreign("Inngest", fn, user, TableBackoff)
    if isinstance(user, Retries) and user.uses_profile_backoff:
        return TableBackoff(user.attempts)
    return user


def bullmq_retries(fn: Function, user: RetryPolicy) -> RetryPolicy:
    _foreign("BullMQ", fn, user, BullMQBackoff)
    if not isinstance(user, Retries):
        return user
    if user.uses_profile_backoff:
        return BullMQBackoff(user.attempts)
    if user.backoff == "linear" or user.max is not None or user.jitter is not None:
        raise _refuse("BullMQ", fn, f"retries={user!r}: BullMQ's built-in backoffs are fixed and exponential, "
                                    "uncapped, with a jitter *fraction*; use jobsim.BullMQBackoff(attempts, "
                                    "'exponential', delay, jitter=0.5)")  # fmt: skip
    kind: Literal["fixed", "exponential"] = "fixed" if user.backoff == "constant" else "exponential"
    return BullMQBackoff(user.attempts, kind, f"{user._min_ns // MS}ms")


def trigger_retries(fn: Function, user: RetryPolicy) -> RetryPolicy:
    _foreign("Trigger.dev", fn, user, TriggerDevRetry)
    if not isinstance(user, Retries):
        return user
    if user.uses_profile_backoff:
        return TriggerDevRetry(user.attempts)
    if user.backoff == "linear" or user.jitter is not None:
        raise _refuse("Trigger.dev", fn, f"retries={user!r}: Trigger.dev's backoff is min*factor^(n-1) times a "
                                         "random R in [1, 2); use jobsim.TriggerDevRetry(attempts, factor, min, "
                                         "max, randomize)")  # fmt: skip
    factor = 1.0 if user.backoff == "constant" else 2.0
    return TriggerDevRetry(user.attempts, factor, user.min or "1s", user.max if user.max is not None else "60s")


def quirrel_retries(fn: Function, user: RetryPolicy) -> RetryPolicy:
    _foreign("Quirrel", fn, user, QuirrelRetry)
    if fn.crons and user.attempts > 1:
        raise _refuse("Quirrel", fn, "retries on a cron job: Quirrel rejects 'retry' together with 'repeat' "
                                     "(a failed repetition just waits for the next one)")  # fmt: skip
    if not isinstance(user, Retries) or user.attempts == 1:
        return user
    if user.uses_profile_backoff:
        raise _refuse("Quirrel", fn, f"retries={user!r}: Quirrel has no default retry schedule; give the offsets, "
                                     "jobsim.QuirrelRetry(['10s', '5m', '1h']), or a full Retries(backoff=, min=)")
    if user.jitter is not None:
        raise _refuse("Quirrel", fn, f"retries={user!r}: Quirrel's retry offsets have no jitter")
    offsets, total = [], 0
    for k in range(1, user.attempts):
        total += user.delay_ns(k, random.Random(0))  # no jitter: the generator is never used
        offsets.append(f"{total}ns")
    return QuirrelRetry(offsets)


def agenda_retries(fn: Function, user: RetryPolicy) -> RetryPolicy:
    _foreign("Agenda", fn, user, AgendaBackoff)
    if not isinstance(user, Retries):
        return user
    if user.uses_profile_backoff:
        return AgendaBackoff(max_retries=user.attempts - 1)
    if user.jitter is not None:
        raise _refuse("Agenda", fn, f"retries={user!r}: Agenda's jitter is a fraction of the delay; use "
                                    "jobsim.AgendaBackoff(jitter=0.1)")  # fmt: skip
    kind = {"linear": "linear", "constant": "constant"}.get(user.backoff or "", "exponential")
    return AgendaBackoff(kind, user.min or "1s", user.max, max_retries=user.attempts - 1)  # type: ignore[arg-type]
