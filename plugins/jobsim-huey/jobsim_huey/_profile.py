"""The ``huey`` profile: Huey's retry defaults, for plain jobsim functions simulated "as on Huey".

A Huey task is retried only when it has ``retries=`` (``Huey.task(retries=0, retry_delay=0,
retry_backoff=0)``, ``api.py:171-172``); an exception otherwise fails it at once, and a retry with
no ``retry_delay`` is re-enqueued at once (``_requeue_task``, ``api.py:572-585``). Huey instances
themselves (``Simulation(huey)``) follow each task's own ``retries``/``retry_delay``/``retry_backoff``,
applied by Huey's code.
"""

from __future__ import annotations

from jobsim import Profile, Retries

HUEY = Profile(
    name="huey",
    description="Huey 3.5: no retry unless the task has retries=; retry_delay defaults to 0 s (re-enqueued at once)",
    default_retries=Retries(attempts=1, backoff="constant", min="0s"),
    retry_after_min_ns=0,
    retry_after_max_ns=None,
    max_sleep_ns=None,
    fault_kinds=("fail",),  # crash_worker, downtime, duplicate_delivery are refused: sim.huey.stop_consumer() instead
)
