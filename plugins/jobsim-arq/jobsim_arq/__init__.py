"""jobsim-arq: run arq workers in jobsim's virtual time, with no Redis.

``jobsim.Simulation(WorkerSettings)`` claims an arq settings class (or dict, or a ``Worker``);
while the simulation runs, every ``ArqRedis`` answers from a simulated Redis and the worker's own
``Worker.main()`` runs on jobsim's clock. ``sim.arq`` is the arq side of the simulation
(``sim.arq.worker``, ``sim.arq.store``).

Every simulation loads the entry point ``jobsim_arq.plugin``; ``ArqWorld`` (and arq) is imported
only when a target is arq's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._world import ArqWorld

__all__ = ["MAX_ATTEMPTS_PER_RUN", "ArqWorld"]

MAX_ATTEMPTS_PER_RUN = 10_000
"""Attempts one run (a job) may make before the simulation stops with ``BudgetExceeded``:
arq retries a job that raises ``Retry`` up to ``max_tries`` times, and a huge ``max_tries`` with
a short ``defer`` retries for hours of real time, which would look like a hang.
Assign a larger number here if that many retries are the point of a test."""


def __getattr__(name: str) -> Any:
    if name == "ArqWorld":
        from ._world import ArqWorld

        return ArqWorld
    raise AttributeError(f"module 'jobsim_arq' has no attribute {name!r}")
