"""Helpers jobsim-dramatiq's tests share: virtual instants as offsets, and Dramatiq's backoff restated."""

from __future__ import annotations

import datetime as dt
import itertools
import random

from jobsim._time import MS, instant_ns

START = "2025-03-01T00:00:00Z"
START_NS = instant_ns(START)
WEEK_MS = 7 * 86_400_000


def ms(ns: int | None) -> int | None:
    """An instant as milliseconds after ``START``."""
    return None if ns is None else (ns - START_NS) // MS


def now_ms() -> int:
    """Job code's wall clock (the virtual one inside a simulation), to the millisecond, in ms after ``START``."""
    return ms(int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000) * 1_000_000)


def starts(run) -> list[int]:
    """When each attempt of ``run`` started, in ms after ``START``."""
    return [ms(a.start_ns) for a in run.attempts]


def stream(seed: int, function: str) -> str:
    """What seeds ``function``'s own generator in a simulation of ``seed`` (``Simulation.rng_for``): its retry
    backoffs draw from it; draws outside job code (a test's blocking ``get_result``) from ``random.Random(seed)``."""
    return f"jobsim:{seed}:{function}"


def backoffs(seed: int | str, min_backoff: int, max_backoff: int, retries: int) -> list[int]:
    """Dramatiq's ``compute_backoff`` (``dramatiq/common.py:41-72``) restated from its documentation, drawing
    from ``random.Random(seed)`` as the simulation's generator does: ``int(min * 2**k * U[1, 2))``, and past
    ``max_backoff`` ``int(max * U[0.5, 1))``. ``seed``: a ``stream(seed, function)`` for an actor's retries."""
    rng = random.Random(seed)
    delays = []
    for k in range(retries):
        delay = int(min_backoff * 2 ** min(k, 32) * rng.uniform(1, 2))
        if delay > max_backoff:
            delay = int(max_backoff * rng.uniform(0.5, 1))
        delays.append(delay)
    return delays


def gaps(values: list[int]) -> list[int]:
    return [b - a for a, b in itertools.pairwise(values)]
