"""The instant arq's cron loop enqueues a cron job: its comparisons read wall time, not UTC.

arq's heartbeat enqueues a cron job once ``cron_job.next_run < n + cron_delay`` (``worker.py:736-754``),
``n = datetime.now(tz=self.timezone)``, and ``next_run`` came from an earlier ``n`` by adding timedeltas
(``cron.py:35-99``). Both are aware datetimes with the same tzinfo object (a ``ZoneInfo``), and Python
compares such datetimes by their wall-clock fields, ignoring the UTC offset. Across a DST change that
is not the order of the instants: on a spring-forward night ``minute=30`` gives ``next_run`` 02:30
(a time the clocks skip, whose instant is 03:30 EDT), and at 03:00:00 EDT the wall reading 03:00:01
is past 02:30, so arq enqueues it then, at once (``next_run > now`` is false by wall time too, so no
``_defer_until``) -- half an hour before its instant. On a fall-back night ``minute=0`` gives
``next_run`` 02:00 EST, enqueued at 01:59:59.5 EDT, an hour before its instant, deferred to it.

So the idle-poll skipping must wake the worker when the wall clock, not the instant, reaches
``next_run - cron_delay``. With a tzinfo whose instances differ by offset (pytz) the two datetimes
compare by instant, as they do when their tzinfo objects differ.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
US = dt.timedelta(microseconds=1)


def cron_enqueue_us(next_run: dt.datetime, tz: Any, window: dt.timedelta, now_us: int) -> int:
    """The first instant (µs since the epoch) from ``now_us`` on at which ``next_run < now(tz) + window`` may
    hold as arq compares them (at or after the instant it does, never later)."""
    if next_run.tzinfo is not tz or tz is None:  # compared by instant (worker.py:754, Python's aware order)
        return (next_run - window - EPOCH) // US
    goal = next_run.replace(tzinfo=None) - window  # the wall reading past which the heartbeat enqueues

    def wall(t_us: int) -> dt.datetime:
        return (EPOCH + t_us * US).astimezone(tz).replace(tzinfo=None)

    if wall(now_us) >= goal:
        return now_us
    readings = sorted({(goal.replace(tzinfo=tz, fold=fold) - EPOCH) // US for fold in (0, 1)})
    for t in readings:
        if t >= now_us and wall(t) == goal:  # the clock shows that reading then (the first of two, on a fall-back)
            return t
    lo, hi = max(now_us, readings[0]), readings[-1]
    if wall(hi) < goal:  # no reading reaches it (not a zone arq's arithmetic knows): poll at once, never late
        return now_us
    while hi - lo > 1:  # the clocks skip the reading: it is passed when they jump, between the two offsets
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if wall(mid) >= goal else (mid, hi)
    return hi
