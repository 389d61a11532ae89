"""The warnings jobsim-celery gives (importable without Celery)."""

from __future__ import annotations


class CeleryUnregisteredTaskWarning(UserWarning):
    """A message named a task the app does not register (``app.send_task("billing.chrage")``): a Celery worker
    logs "Received unregistered task", discards the message and stores ``NotRegistered`` as its result, and so
    does the simulation; the warning names the registered tasks closest to it."""
