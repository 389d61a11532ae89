"""For tests of ``jobsim.hooks.PumpedLoop``: the least world a pumped loop needs, and an app to simulate."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import jobsim
from jobsim._events import Event
from jobsim._records import Run
from jobsim.hooks import PumpedLoop

START = "2025-01-01T00:00:00Z"
CURRENT: contextvars.ContextVar[Any] = contextvars.ContextVar("jobsim_test_job", default=None)


class World:
    """The least a ``PumpedLoop`` needs: busy while a task it watches is pending; ``loop`` is its process."""

    escaped: BaseException | None = None

    def __init__(self, sim: jobsim.Simulation) -> None:
        self.sim = sim
        self.tasks: list[asyncio.Task[Any]] = []
        self._run: Run | None = None
        self.loop: PumpedLoop[World] | None = None

    def now_ns(self) -> int:
        return self.sim.now_ns()

    def busy(self) -> bool:
        return any(not task.done() for task in self.tasks)

    def placeholder_run(self) -> Run:
        if self._run is None:
            fn = next(iter(self.sim.functions.values()))
            self._run = Run(fn, "worker", [Event("test/worker", {})], self.sim.kernel.now)
        return self._run


def app() -> jobsim.App:
    """An app with one function: a simulation needs one, and the worker's placeholder run names it."""
    a = jobsim.App("a")
    a.function("noop", on="go")(lambda ctx: None)
    return a
