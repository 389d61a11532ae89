"""What the tests' listeners record: (wall clock as the listener reads it, event, job id, its run time)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
)

NAMES = {EVENT_JOB_EXECUTED: "executed", EVENT_JOB_ERROR: "error", EVENT_JOB_MISSED: "missed",
         EVENT_JOB_MAX_INSTANCES: "max_instances", EVENT_JOB_SUBMITTED: "submitted"}  # fmt: skip
JOB_EVENTS = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES


def listen(scheduler: Any, mask: int = JOB_EVENTS) -> list[tuple[str, Any, str, str | None]]:
    """Record (wall clock as the listener reads it, event, job id, its run time(s)) for each event."""
    seen = []

    def listener(event: Any) -> None:
        when = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S.%f").removesuffix("000")
        run = getattr(event, "scheduled_run_time", None) or getattr(event, "scheduled_run_times", [None])[-1]
        seen.append((when, NAMES.get(event.code, event.code), event.job_id, run and run.strftime("%H:%M:%S")))

    scheduler.add_listener(listener, mask)
    return seen
