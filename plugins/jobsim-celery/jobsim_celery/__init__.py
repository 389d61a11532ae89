"""jobsim-celery: simulate a Celery app — its tasks, retries, canvas and beat schedule — in virtual time.

``jobsim.Simulation(celery_app)`` is all it takes (this distribution registers the
``jobsim`` entry point); ``CeleryTarget`` adds worker options. While the simulation
runs, ``sim.celery`` is the Celery side: ``crash_worker``, ``result``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._world import CeleryTarget, CeleryWorld

from ._warnings import CeleryUnregisteredTaskWarning

__all__ = ["MAX_ATTEMPTS_PER_RUN", "CeleryTarget", "CeleryUnregisteredTaskWarning", "CeleryWorld", "release"]
__version__ = "0.1.0"

MAX_ATTEMPTS_PER_RUN = 10_000
"""Attempts one task id may make before the simulation stops with ``BudgetExceeded``:
Celery retries ``max_retries=None`` tasks forever, and a simulation must not hang.
Assign a larger number here if that many retries are the point of a test."""


def release(app: Any) -> None:
    """Let a Celery app that a closed simulation ran send to its real broker again: after the close, its
    ``delay()``/``apply_async()``/``send_task()`` are refused (they would reach the broker in its settings). A new
    simulation of the app needs no release."""
    from ._closed import release as _release

    _release(app)


def __getattr__(name: str) -> Any:
    """Celery loads with the first use of these names, never with the entry point."""
    if name in ("CeleryTarget", "CeleryWorld"):
        from . import _world

        return getattr(_world, name)
    raise AttributeError(f"module 'jobsim_celery' has no attribute {name!r}")
