"""What the job functions of the async, expiry and stop tests share: the clock they read and the log
they append to (the conftest clears it before each test)."""

from __future__ import annotations

from typing import Any

SECOND = 1_000_000_000
START = "2025-03-01T00:00:00Z"
T0 = 1740787200  # START as a Unix timestamp
LOG: list[Any] = []


def always_fails() -> None:
    """Fails every attempt: with a huge ``Retry(max=...)`` it retries until jobsim's attempt budget."""
    raise ConnectionError("not yet")


def always_returns_retry() -> object:
    """Asks for another attempt every time (RQ >= 2.1's returned ``Retry``)."""
    from rq import Retry

    return Retry(max=10**9, interval=1)
