"""jobsim-dramatiq: simulate code that uses Dramatiq in jobsim's virtual time.

``jobsim.Simulation(broker)`` (a ``StubBroker``, ``RedisBroker`` or ``RabbitmqBroker``; or actors,
whose broker it takes; or unstarted ``dramatiq.Worker`` objects, for their threads and queues)
runs the broker's messages on simulated workers: while the simulation runs, ``actor.send``,
``send_with_options(delay=...)``, ``broker.enqueue``, pipelines and groups go to the simulation,
never to a server, and Dramatiq's own middleware (Retries, TimeLimit, AgeLimit, Callbacks,
Pipelines, Results, GroupCallbacks, ...) decides what happens, at virtual instants.
``sim.dramatiq`` is the Dramatiq side of the simulation (dead letters, ``join``, worker stops and
crashes: ``sim.crash_worker`` kills a worker process, and its broker redelivers its unacked messages).

Every simulation loads the entry point ``jobsim_dramatiq.plugin``, and with it this package;
``DramatiqWorld`` is imported on first use, so a simulation without Dramatiq targets imports no
Dramatiq.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._world import DramatiqWorld

__all__ = ["MAX_ATTEMPTS_PER_RUN", "DramatiqWorld"]

MAX_ATTEMPTS_PER_RUN = 10_000
"""Attempts one run (an actor's message) may make before the simulation stops with ``BudgetExceeded``:
Dramatiq retries ``max_retries=None`` actors forever, and a huge ``max_retries`` with a small backoff
retries for hours of real time, which would look like a hang.
Assign a larger number here if that many retries are the point of a test."""


def __getattr__(name: str) -> Any:
    if name == "DramatiqWorld":
        from ._world import DramatiqWorld

        return DramatiqWorld
    raise AttributeError(f"module 'jobsim_dramatiq' has no attribute {name!r}")
