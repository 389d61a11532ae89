"""Helpers for jobsim-huey's tests: instants as seconds after the start, Huey's poll schedule."""

from __future__ import annotations

import datetime as dt

from jobsim._time import SECOND

START = "2025-03-01T00:00:00Z"
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
T0_NS = int(T0.timestamp()) * SECOND


def secs(ns: int) -> float:
    """Epoch ns as seconds after ``T0`` (exact for whole milliseconds)."""
    return (ns - T0_NS) / SECOND


def polls(count: int, initial: float = 0.1, backoff: float = 1.15, cap: float = 10.0) -> list[int]:
    """The instants (ns after an idle worker's first empty poll) of its next ``count`` polls, per huey's
    ``Worker.sleep``: wait ``delay`` (capped at ``max_delay``), then ``delay *= backoff`` (consumer.py:143-148)."""
    at, delay, out = 0, initial, []
    for _ in range(count):
        delay = min(delay, cap)
        at += round(delay * SECOND)
        out.append(at)
        delay *= backoff
    return out
