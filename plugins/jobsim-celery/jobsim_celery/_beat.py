"""``celery beat`` in virtual time: the app's ``beat_schedule``, decided by Celery's own schedules.

Each entry becomes Celery's ``ScheduleEntry`` and is judged by its own schedule
object — ``schedule`` (a number or ``timedelta``), ``crontab`` (evaluated in
``app.conf.timezone``, Celery's DST handling and ``beat_cron_starting_deadline``
included) or ``solar`` (needs PyEphem, as in Celery) — through ``entry.is_due()``,
which returns ``(due, seconds until the next check)``. The schedule's ``nowfun`` is
pointed at the virtual clock (on a copy: the user's object is left alone).

The loop mirrors ``Scheduler.tick``: when an entry is due, ``Scheduler.reserve``
advances it (``last_run_at`` = now, ``total_run_count`` + 1) and
``Scheduler.apply_entry`` sends it through ``task.apply_async`` with the
``celery_beat_task`` header — the real scheduler's methods, so a send that raises is
logged and skipped as in Celery. Beat starts with the simulation, like a fresh
``celery beat`` with an empty ``celerybeat-schedule`` file: every entry's
``last_run_at`` is the start, so an interval of 10 s first fires 10 s after it.
The real loop wakes up to 10 ms early (``Scheduler.adjust``) and re-checks; here the
wake-up is exactly the due instant, so entries fire on time to the microsecond.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import TYPE_CHECKING, Any

from celery.beat import Scheduler
from celery.schedules import crontab, maybe_schedule

from jobsim._time import US, to_datetime
from jobsim.errors import InvalidArgument

if TYPE_CHECKING:
    from ._world import AppRuntime, CeleryWorld

_KEYS = {"task", "schedule", "args", "kwargs", "options", "relative"}


def _rounded(given: Any) -> str:
    """Why a positive number of seconds is an interval of 0: ``timedelta`` rounds it to whole microseconds."""
    if isinstance(given, int | float) and not isinstance(given, bool) and given > 0:
        return f" ({given!r} s is 0 in a timedelta, which keeps whole microseconds)"
    return ""


class Beat:
    def __init__(self, world: CeleryWorld, rt: AppRuntime) -> None:
        self.world = world
        self.sim = world.sim
        self.app = rt.app
        self.scheduler = Scheduler(self.app, lazy=True)
        self.entries: dict[str, Any] = {}
        for name, spec in self.app.conf.beat_schedule.items():
            self.entries[name] = self._entry(name, spec)

    def _now(self) -> Any:
        """``app.now()`` on the virtual clock: aware, in the app's time zone."""
        return to_datetime(self.sim.now_ns()).astimezone(self.app.timezone)

    def _entry(self, name: str, spec: Any) -> Any:
        if not isinstance(spec, dict) or "task" not in spec or "schedule" not in spec:
            raise InvalidArgument.build(
                f"beat_schedule[{name!r}]", spec, "a dict with at least 'task' and 'schedule' (Celery's beat_schedule)"
            )
        unknown = set(spec) - _KEYS
        if unknown:
            raise InvalidArgument.build(
                f"beat_schedule[{name!r}]", spec, f"keys among {sorted(_KEYS)}; unknown: {sorted(unknown)}"
            )
        try:  # Celery's maybe_schedule sets .app on anything but a number or timedelta: a string fails there
            schedule = copy.copy(maybe_schedule(spec["schedule"], spec.get("relative", False), app=self.app))
        except AttributeError:
            schedule = None
        except (ValueError, OverflowError) as exc:  # timedelta(seconds=nan / inf / 1e300)
            raise InvalidArgument.build(f"beat_schedule[{name!r}]['schedule']", spec["schedule"],
                                        f"a finite number of seconds that a timedelta holds (Celery: {exc})") from None
        if isinstance(getattr(schedule, "run_every", None), dt.timedelta) and schedule.run_every <= dt.timedelta(0):
            raise InvalidArgument.build(  # schedule.is_due answers (True, 0) at every check, and tick() returns 0
                f"beat_schedule[{name!r}]['schedule']", spec["schedule"],
                "a positive interval: with 0 or less Celery's beat finds the entry due at every check and sends "
                "it back to back without pausing (Scheduler.tick returns 0), a flood the simulation would never "
                f"get past{_rounded(spec['schedule'])}",
            )  # fmt: skip
        if not hasattr(schedule, "is_due"):
            raise InvalidArgument.build(
                f"beat_schedule[{name!r}]['schedule']", spec["schedule"],
                "seconds, a timedelta, or a celery.schedules schedule/crontab/solar (for a cron line, "
                "crontab(minute=..., hour=...) or crontab.from_string('*/5 * * * *'))",
            )  # fmt: skip
        if isinstance(schedule, crontab) and not self.app.conf.timezone and not self.app.conf.enable_utc:
            raise InvalidArgument(
                f"beat_schedule[{name!r}] is a crontab, and with app.conf.enable_utc=False and no app.conf.timezone "
                f"Celery reads it in this machine's local time zone ({self.app.timezone}): the simulation's history "
                "would depend on the machine running the test. Set app.conf.timezone to the zone your workers and "
                "beat run in, e.g. 'America/Chicago'"
            )
        schedule.nowfun = self._now
        fields = {k: v for k, v in spec.items() if k not in ("schedule", "relative")}
        return self.scheduler.Entry(name=name, schedule=schedule, last_run_at=self._now(), app=self.app, **fields)

    def start(self) -> None:
        for name in self.entries:
            self._tick(name)

    def _tick(self, name: str) -> None:
        entry = self.entries[name]
        try:
            due, next_s = entry.is_due()
        except Exception:  # Scheduler._is_due_failed: log, try again after max_interval
            due, next_s = self.scheduler._is_due_failed(entry)
        if due:
            self.entries[name] = self.scheduler.schedule[name] = next(entry)
            self.world.record("celery.beat", entry=name, task=entry.task)
            self.world.beat_entry = name
            try:
                self.scheduler.apply_entry(entry, producer=None)
            finally:
                self.world.beat_entry = None
        wait = max(US, round(float(next_s) * 1_000_000) * US)
        self.sim.kernel.schedule(self.sim.kernel.now + wait, self._tick, name,
                                 owner=f"beat {name!r}", recurring=True)  # fmt: skip
