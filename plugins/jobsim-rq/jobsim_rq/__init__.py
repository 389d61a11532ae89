"""jobsim-rq: simulate code that uses RQ (Redis Queue) in jobsim's virtual time.

``jobsim.Simulation(queue)`` (or a list of queues, read in that order by one worker
running the scheduler) claims RQ queues; ``jobsim.Simulation([Worker([high, default],
count=2), Worker(low)])`` runs several workers, each reading its own queues. Inside the
simulation ``queue.enqueue``, ``enqueue_call``, ``enqueue_at`` and ``enqueue_in`` go to the
simulated workers, never to Redis. ``sim.rq`` is the RQ side of the simulation
(``sim.rq.job(job_id)``, ``sim.rq.stop``, ``sim.rq.crash_worker``).

Every simulation loads the entry point ``jobsim_rq.plugin``, and with it this package:
``RQWorld`` is imported on first use, so a simulation without RQ queues imports no RQ
(``rq`` and ``redis`` take ~60 ms to import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._closed import release
from ._spec import Worker

if TYPE_CHECKING:
    from ._world import RQWorld

__all__ = ["MAX_ATTEMPTS_PER_RUN", "RQWorld", "Worker", "release"]

MAX_ATTEMPTS_PER_RUN = 10_000
"""Attempts one run (a job) may make before the simulation stops with ``BudgetExceeded``:
RQ retries a job ``Retry(max=...)`` times (or as often as it returns ``Retry``), and a huge
``max`` with a short interval retries for hours of real time, which would look like a hang.
Assign a larger number here if that many retries are the point of a test."""


def __getattr__(name: str) -> Any:
    if name == "RQWorld":
        from ._world import RQWorld

        return RQWorld
    raise AttributeError(f"module 'jobsim_rq' has no attribute {name!r}")
