"""jobsim-bullmq: simulate code that uses BullMQ for Python (``bullmq`` on PyPI) in jobsim's virtual time.

``jobsim.Simulation(worker)`` (or several workers) claims bullmq ``Worker`` objects built
with ``{"autorun": False}``. Inside the simulation every ``Queue``'s datastore calls
(``add``, ``addBulk``, ``upsertJobScheduler``, ``FlowProducer.add``, ``job.updateProgress``
...) go to a simulated Redis, never to a server, and each worker's own ``run()`` loop
runs on the virtual clock. ``sim.bullmq`` is the BullMQ side of the simulation.

Every simulation loads the entry point ``jobsim_bullmq.plugin``, and with it this
package: ``BullMQWorld`` is imported on first use, so a simulation without BullMQ
workers imports no bullmq.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._warnings import BullMQCronWarning, BullMQJobOptionWarning, BullMQProcessorWarning

if TYPE_CHECKING:
    from ._world import BullMQWorld

__all__ = ["MAX_ATTEMPTS_PER_RUN", "BullMQCronWarning", "BullMQJobOptionWarning", "BullMQProcessorWarning",
           "BullMQWorld", "release"]

MAX_ATTEMPTS_PER_RUN = 10_000
"""Attempts one run (a job) may make before the simulation stops with ``BudgetExceeded``:
BullMQ retries a job ``attempts`` times, and ``attempts=10**9`` with a short backoff
retries for hours of real time, which would look like a hang.
Assign a larger number here if that many retries are the point of a test."""


def release(queue: Any) -> None:
    """Let a bullmq ``Queue`` (or ``Worker``, ``Job``, ``FlowProducer``) that a closed simulation ran reach its real
    Redis again: after the close its calls are refused (they would write into whatever Redis the queue's connection
    names). A new simulation of the queue needs no release."""
    from ._closed import release as _release

    _release(queue)


def __getattr__(name: str) -> Any:
    if name == "BullMQWorld":
        from ._world import BullMQWorld

        return BullMQWorld
    raise AttributeError(f"module 'jobsim_bullmq' has no attribute {name!r}")
