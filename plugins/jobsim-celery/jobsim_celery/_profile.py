"""The ``celery`` profile: Celery's defaults, for plain jobsim functions simulated "as on Celery".

A Celery task is retried only when it asks (``self.retry`` or ``autoretry_for``);
an exception otherwise fails it at once (``celery/app/trace.py``: FAILURE). So the
profile's default is one attempt. When a retry count is given (``Retries(attempts=N)``
without a backoff) the delay is Celery's ``Task.default_retry_delay``: a constant
3 minutes (``celery/app/task.py``: ``default_retry_delay = 3 * 60``); Celery tasks
themselves (``Simulation(celery_app)``) follow their own options, computed by Celery.
Celery puts no ceiling on ``countdown``/``eta`` and has no ``RetryAfterError``:
delays are not clamped.
"""

from __future__ import annotations

import inspect

from jobsim import Profile, Retries

CELERY = Profile(
    name="celery",
    description=(
        "Celery 5: no retry unless the task asks (self.retry / autoretry_for); "
        "max_retries=3, default_retry_delay=180s; backoff min(retry_backoff_max, factor*2^n) with full jitter"
    ),
    default_retries=Retries(attempts=1, backoff="constant", min="180s"),
    retry_after_min_ns=0,
    retry_after_max_ns=None,
    max_sleep_ns=None,
    fault_kinds=("fail", "crash"),  # sim.downtime() and sim.duplicate_delivery() are refused for Celery tasks
    doc=inspect.cleandoc(__doc__ or ""),  # what `jobsim profiles celery` prints
)
