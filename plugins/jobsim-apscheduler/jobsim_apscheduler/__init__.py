"""jobsim-apscheduler: drive an APScheduler 3 scheduler in jobsim's virtual time.

``jobsim.Simulation(scheduler)`` claims a ``BackgroundScheduler``, ``BlockingScheduler`` or
``AsyncIOScheduler`` that has not been started; the simulation starts it in virtual time, with no
thread (an ``AsyncIOScheduler`` on an asyncio loop jobsim's clock drives), and ``sim.apscheduler``
is the APScheduler side of the simulation (``sim.apscheduler.job(job_id)``).

Every simulation loads the entry point ``jobsim_apscheduler.plugin``; ``APSWorld`` (and
APScheduler) is imported only when a target is a scheduler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._world import APSWorld

__all__ = ["APSWorld"]


def __getattr__(name: str) -> Any:
    if name == "APSWorld":
        from ._world import APSWorld

        return APSWorld
    raise AttributeError(f"module 'jobsim_apscheduler' has no attribute {name!r}")
