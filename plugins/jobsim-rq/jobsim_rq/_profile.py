"""The ``rq`` profile: RQ's defaults, for plain jobsim functions simulated "as on RQ".

An RQ job is retried only when it is enqueued with ``retry=Retry(max, interval)``;
an exception otherwise fails it at once (``rq/worker/base.py:748-758``: ``should_retry``
is ``retries_left > 0``, and ``retries_left`` is set only from ``Retry.max``,
``rq/queue.py:640-643``). ``Retry``'s default interval is 0: the job is re-enqueued
at once (``rq/job.py:1916``, ``1797-1799``). RQ queues themselves
(``Simulation(queue)``) follow each job's own ``Retry``, applied by RQ's code.
"""

from __future__ import annotations

from jobsim import Profile, Retries

RQ = Profile(
    name="rq",
    description="RQ 3: no retry unless enqueued with retry=Retry(max, interval); Retry's default interval is 0 s",
    default_retries=Retries(attempts=1, backoff="constant", min="0s"),
    retry_after_min_ns=0,
    retry_after_max_ns=None,
    max_sleep_ns=None,
    fault_kinds=("fail", "crash"),  # sim.downtime() and sim.duplicate_delivery() are refused for RQ jobs
)
