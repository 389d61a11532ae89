"""The ``dramatiq`` profile: Dramatiq's retry defaults, for plain jobsim functions simulated "as on Dramatiq".

The ``Retries`` middleware retries a failed message up to ``max_retries=20`` times
(``middleware/retries.py:75``) with ``compute_backoff(retries, factor=min_backoff,
max_backoff=max_backoff)``: ``min_backoff`` 15 s, ``max_backoff`` 7 days (``retries.py:30-34``),
``backoff = factor * 2**min(retries, 32)``, jittered to ``int(backoff * uniform(1, 2))`` and,
past ``max_backoff``, to ``int(max_backoff * uniform(0.5, 1))`` (``common.py:41-72``).
``DramatiqBackoff`` calls Dramatiq's own ``compute_backoff`` with its ``uniform`` drawn from the
simulation's generator. Dramatiq brokers themselves (``Simulation(broker)``) run their own
``Retries`` middleware, with each actor's and message's options.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from jobsim import Profile
from jobsim._time import DAY, MS, SECOND


@dataclass(frozen=True, slots=True)
class DramatiqBackoff:
    """A ``RetryPolicy``: ``max_retries`` retries (``attempts = max_retries + 1``), Dramatiq's backoff in ms."""

    max_retries: int = 20
    min_backoff: int = 15_000
    max_backoff: int = 7 * DAY // MS

    @property
    def attempts(self) -> int:
        return self.max_retries + 1

    def delay_ns(self, retry: int, rng: random.Random) -> int:
        """The wait before retry number ``retry`` (1 = the first): ``compute_backoff(retry - 1, ...)``."""
        import dramatiq.common

        saved = dramatiq.common.uniform
        dramatiq.common.uniform = rng.uniform
        try:
            _, delay = dramatiq.common.compute_backoff(retry - 1, factor=self.min_backoff, max_backoff=self.max_backoff)
        finally:
            dramatiq.common.uniform = saved
        return int(delay) * MS


DRAMATIQ = Profile(
    name="dramatiq",
    description="Dramatiq 2.2: 20 retries, backoff 15 s·2^n times U[1,2), capped near 7 days (Retries middleware)",
    default_retries=DramatiqBackoff(),
    retry_after_min_ns=0,
    retry_after_max_ns=7 * 86_400 * SECOND,
    max_sleep_ns=None,
    fault_kinds=("fail", "crash"),  # sim.downtime() and sim.duplicate_delivery() are refused for actors
)
