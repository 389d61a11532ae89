"""jobsim-celery: simulate a Celery app — its tasks, retries, canvas and beat schedule — in virtual time.

``jobsim.Simulation(celery_app)`` is all it takes (this distribution registers the
``jobsim`` entry point); ``CeleryTarget`` adds worker options. While the simulation
runs, ``sim.celery`` is the Celery side: ``crash_worker``, ``result``.
"""

from __future__ import annotations

from ._world import CeleryTarget, CeleryWorld

__all__ = ["CeleryTarget", "CeleryWorld"]
__version__ = "0.1.0"
