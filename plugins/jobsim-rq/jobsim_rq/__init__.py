"""jobsim-rq: simulate code that uses RQ (Redis Queue) in jobsim's virtual time.

``jobsim.Simulation(queue)`` (or a list of queues, read in that order by one worker
running the scheduler) claims RQ queues; inside the simulation ``queue.enqueue``,
``enqueue_call``, ``enqueue_at`` and ``enqueue_in`` go to a simulated worker, never to
Redis. ``sim.rq`` is the RQ side of the simulation (``sim.rq.job(job_id)``).
"""

from __future__ import annotations

from ._world import RQWorld

__all__ = ["RQWorld"]
