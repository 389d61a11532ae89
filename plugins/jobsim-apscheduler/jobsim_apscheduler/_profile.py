"""The ``apscheduler`` profile: APScheduler 3 has no job retries at all.

An exception in a job is ``EVENT_JOB_ERROR`` and the run is over (``executors/base.py:130-149``);
the job's next run is whenever its trigger fires next. Nothing in 3.x (or 4.x) retries a job.
"""

from __future__ import annotations

from jobsim import Profile, Retries

APSCHEDULER = Profile(
    name="apscheduler",
    description="APScheduler 3: no retries; an exception is EVENT_JOB_ERROR and the trigger fires on",
    default_retries=Retries(attempts=1, backoff="constant", min="0s"),
    retry_after_min_ns=0,
    retry_after_max_ns=None,
    max_sleep_ns=None,
    fault_kinds=("fail",),  # crash_worker, downtime and duplicate_delivery are refused: pause() the scheduler
)
