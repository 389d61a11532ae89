"""Profiles: the semantics of a real system that a simulation reproduces.

A profile fixes what a user does not configure: the default retry policy and its
backoff, how ``RetryAfterError`` is clamped, the longest sleep. Profiles register
by name; ``"inngest"`` is the default because the scenarios jobsim starts from are
Inngest's (``reference/semantics.md`` §1).
"""

from __future__ import annotations

import dataclasses

from ._retries import RetryPolicy, TableBackoff
from ._time import DAY, SECOND
from .errors import InvalidArgument


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    name: str
    description: str
    default_retries: RetryPolicy
    retry_after_min_ns: int = 0
    retry_after_max_ns: int | None = None
    max_sleep_ns: int | None = None


INNGEST = Profile(
    name="inngest",
    description="Inngest: durable steps, per-step retries, backoff table 15s..2h + U[0,30s)",
    # pkg/consts/consts.go: DefaultRetryCount = 4 (5 attempts); pkg/backoff/backoff.go: BackoffTable
    default_retries=TableBackoff(attempts=5),
    # httpdriver/parse.go: ParseRetry clamps to [now+1s, now+24h]
    retry_after_min_ns=1 * SECOND,
    retry_after_max_ns=1 * DAY,
    # consts.MaxSleepDuration / MaxWaitForEventTimeout: 366 days
    max_sleep_ns=366 * DAY,
)


class Profiles:
    """Registered profiles by name (the pluggy hook ``jobsim_profiles`` feeds this)."""

    def __init__(self) -> None:
        self._by_name: dict[str, Profile] = {}

    def register(self, profile: Profile) -> None:
        self._by_name[profile.name] = profile

    def get(self, name: str | Profile) -> Profile:
        if isinstance(name, Profile):
            return name
        try:
            return self._by_name[name]
        except (KeyError, TypeError):
            raise InvalidArgument.build(
                "profile", name, "one of " + ", ".join(repr(n) for n in sorted(self._by_name))
            ) from None

    def names(self) -> list[str]:
        return sorted(self._by_name)


def builtin_profiles() -> list[Profile]:
    return [INNGEST]
