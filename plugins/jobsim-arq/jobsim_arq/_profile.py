"""The ``arq`` profile: arq's retry defaults, for plain jobsim functions simulated "as on arq".

arq retries only on request: an exception fails the job at once; ``raise Retry(defer=...)`` runs it
again after ``defer`` (none: at the next poll), up to ``max_tries`` (Worker default 5,
``worker.py:209``; ``worker.py:549-569, 613-618``). ``Simulation(WorkerSettings)`` itself follows arq's
code, not this profile.
"""

from __future__ import annotations

from jobsim import Profile, Retries

ARQ = Profile(
    name="arq",
    description="arq 0.28: an exception fails the job; only Retry(defer=) re-runs it, up to max_tries=5",
    default_retries=Retries(attempts=1, backoff="constant", min="0s"),
    retry_after_min_ns=0,
    retry_after_max_ns=None,
    max_sleep_ns=None,
    fault_kinds=("fail",),  # crash_worker, downtime and duplicate_delivery are refused for arq jobs
)
