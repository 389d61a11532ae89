"""Helpers for jobsim-inngest's tests (imported by name: this directory is on sys.path)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import jobsim
from jobsim._time import SECOND, instant_ns

START = "2025-03-01T00:00:00Z"
T0 = instant_ns(START)


def secs(ns: int) -> float:
    """Virtual seconds since START."""
    return (ns - T0) / SECOND


def now_s() -> float:
    """The virtual time job code sees, in seconds since START."""
    return secs(time.time_ns())


def simulate(*targets: Any, **kwargs: Any) -> jobsim.Simulation:
    kwargs.setdefault("start", START)
    return jobsim.Simulation(*targets, **kwargs)


def event(name: str, **data: Any) -> Any:
    import inngest

    return inngest.Event(name=name, data=data)


class Flaky:
    """Fails its first `failures` calls, then returns `value`; logs the virtual time of each call."""

    def __init__(self, failures: int, value: Any = "ok", error: type[BaseException] = RuntimeError) -> None:
        self.failures, self.value, self.error = failures, value, error
        self.calls: list[float] = []

    def __call__(self, *args: Any) -> Any:
        self.calls.append(now_s())
        if len(self.calls) <= self.failures:
            raise self.error(f"failure {len(self.calls)}")
        return self.value


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
