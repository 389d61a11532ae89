"""jobsim-huey: simulate code that uses Huey in jobsim's virtual time.

``jobsim.Simulation(huey)`` (a ``MemoryHuey``, ``RedisHuey``, ``SqliteHuey``, ... or an unstarted
``huey.create_consumer(workers=N)``, for its workers and scheduler settings; or a task, whose Huey it
takes) runs the Huey's tasks on a simulated consumer: while the simulation runs, calling a task,
``task.schedule(...)``, pipelines and retries go to an in-memory stand-in of the Huey's storage, never
to a server, and Huey's own ``execute``, ``Worker.loop`` and ``Scheduler.loop`` decide what happens,
at virtual instants. ``sim.huey`` is the Huey side of the simulation.

Every simulation loads the entry point ``jobsim_huey.plugin``, and with it this package;
``HueyWorld`` is imported on first use, so a simulation without Huey targets imports no Huey.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._world import HueyWorld

__all__ = ["MAX_ATTEMPTS_PER_RUN", "HueyWorld"]

MAX_ATTEMPTS_PER_RUN = 10_000
"""Attempts one run (a task) may make before the simulation stops with ``BudgetExceeded``:
Huey retries a task ``retries`` times, and a huge ``retries`` with a short ``retry_delay``
retries for hours of real time, which would look like a hang.
Assign a larger number here if that many retries are the point of a test."""


def __getattr__(name: str) -> Any:
    if name == "HueyWorld":
        from ._world import HueyWorld

        return HueyWorld
    raise AttributeError(f"module 'jobsim_huey' has no attribute {name!r}")
