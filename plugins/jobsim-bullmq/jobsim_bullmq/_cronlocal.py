"""A job scheduler's cron instant that its own pattern does not match in its zone.

bullmq-python computes a ``pattern`` scheduler's next job with croniter 2.0.7 from an aware ``zoneinfo``
datetime (``job_scheduler.py:default_repeat_strategy``), and that croniter misplaces instants across a DST
change: ``0 9 * * *`` in America/New_York runs at 08:00 *and* 09:00 EDT on 2025-03-09 and at 10:00 EST, not
09:00, on 2025-11-02. The simulation keeps bullmq-python's instants (a real worker runs them) and says so:
a ``bullmq.cron_local`` trace record, its timeline line and a ``BullMQCronWarning``."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any
from zoneinfo import ZoneInfo

from jobsim.hooks import warn_outside

from ._warnings import BullMQCronWarning


def local_mismatch(pattern: Any, tz: Any, millis: int) -> dt.datetime | None:
    """The local time of ``millis`` in ``tz`` when ``pattern`` does not match it (to the second), else ``None``.
    Checked on the naive wall-clock time, where croniter has no DST to get wrong; a 6-field pattern has its
    seconds first, as bullmq reads it. ``None`` too for what cannot be checked (no zone, a pattern croniter
    refuses: bullmq raised at the upsert already)."""
    if not isinstance(pattern, str) or not isinstance(tz, str) or not tz:
        return None
    from croniter import croniter  # type: ignore[import-untyped]

    fields = pattern.split()
    if len(fields) == 6:
        fields = fields[1:] + fields[:1]
    try:
        local = dt.datetime.fromtimestamp(millis / 1000, ZoneInfo(tz))
        matched = croniter.match(" ".join(fields), local.replace(tzinfo=None, microsecond=0))
    except Exception:
        return None
    return None if matched or local.microsecond else local


def check(world: Any, queue: str, scheduler_id: str, opts: dict[str, Any], millis: int) -> None:
    """Record and warn when a ``pattern`` scheduler's next job is due at a local time the pattern does not match."""
    local = local_mismatch(opts.get("pattern"), opts.get("tz"), millis)
    if local is None:
        return
    shown = local.strftime("%Y-%m-%d %H:%M:%S %Z")
    world.record("bullmq.cron_local", function=queue, queue=queue, scheduler=scheduler_id,
                 pattern=opts["pattern"], tz=opts["tz"], local=shown, due=millis * 1_000_000)  # fmt: skip
    import bullmq  # imported by then: a worker is running

    warn_outside(BullMQCronWarning(
        f"job scheduler {scheduler_id!r} of BullMQ queue {queue!r}: bullmq-python (croniter 2.0.7) put its next job "
        f"at {shown}, a local time its pattern {opts['pattern']!r} does not match in {opts['tz']}: croniter with a "
        "zoneinfo zone misplaces instants across a DST change, and a real bullmq-python worker runs the job there "
        "too (the simulation does the same). A scheduler in 'UTC', or a pattern outside the changing hours, avoids "
        "it."), None, bullmq, sys.modules[__package__])
