"""Settings arq accepts but cannot run, refused at ``Simulation(...)`` instead of hanging the simulation.

Two settings make arq's own code loop without end, on a real worker as in virtual time:

* ``poll_delay=0``: ``utils.poll`` (``utils.py:101-109``) then sleeps ``max(0, 0 - elapsed) = 0`` between
  polls, so the worker polls Redis back to back. On a real machine the round trips make time pass; in a
  simulation Redis answers in no time, so the clock would never move.
* a cron field no instant matches (``minute=60``, ``day=31, month=2``, an empty set): ``next_cron``
  (``cron.py:22-48``) steps forward field by field and never returns, in the worker's first heartbeat
  (``worker.py:742-748``).
"""

from __future__ import annotations

import inspect
import math
from typing import Any

from jobsim.errors import InvalidArgument
from jobsim.hooks import near_miss

# arq's cron fields and their ranges (cron.py:22-32, Options; datetime's own ranges)
_RANGES = {"month": (1, 12), "day": (1, 31), "weekday": (0, 6), "hour": (0, 23), "minute": (0, 59),
           "second": (0, 59)}  # fmt: skip
_DAYS_IN_MONTH = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


def check_poll_delay(where: str, seconds: float) -> None:
    if seconds <= 0:
        accepted = "seconds > 0 (with poll_delay=0 arq polls Redis back to back, utils.py:101-109, and a simulation's "
        raise InvalidArgument.build(f"{where}.poll_delay", seconds, accepted + "clock would never move)")


def check_function(where: str, function: Any) -> None:
    """``func(..., timeout=, keep_result=, max_tries=)``: arq compares these only when a job of the function runs
    (``worker.py:549-590``, ``:642-646``), so a string there crashes the worker mid-simulation; refused up front."""
    for field, value in (("timeout", function.timeout_s), ("keep_result", function.keep_result_s)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 <= value < math.inf):  # fmt: skip
            raise InvalidArgument.build(f"{where}: func({function.name!r}).{field}", value,
                                        "None, seconds (a finite int or float >= 0) or a timedelta")  # fmt: skip
    tries = function.max_tries
    if tries is not None and (isinstance(tries, bool) or not isinstance(tries, int)):
        raise InvalidArgument.build(f"{where}: func({function.name!r}).max_tries", tries, "None or an int")


def check_cron(where: str, cron_job: Any) -> None:
    """Each field of ``cron_job`` is None, an int or a set/list/tuple of ints in its range (``weekday`` also
    ``'mon'``..``'sun'``), ``microsecond`` an int in 0..999999, and some date has its month and day."""
    from arq.typing import WEEKDAYS

    allowed: dict[str, set[int] | None] = {}
    for field, (low, high) in _RANGES.items():
        value = getattr(cron_job, field)
        name = f"{where}: cron({cron_job.name!r}).{field}"
        accepted = (f"None, an int in {low}..{high} or a non-empty set/list/tuple of them"
                    + (" (or 'mon'..'sun')" if field == "weekday" else ""))  # fmt: skip
        if value is None:
            allowed[field] = None
            continue
        if field == "weekday" and isinstance(value, str):
            if value.lower() not in WEEKDAYS:
                raise InvalidArgument.build(name, value, accepted)
            allowed[field] = {WEEKDAYS.index(value.lower())}
            continue
        items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(items, (set, frozenset, list, tuple)) or not items or any(
                isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high for v in items):
            raise InvalidArgument.build(name, value, accepted)
        allowed[field] = set(items)
    micro = cron_job.microsecond
    if isinstance(micro, bool) or not isinstance(micro, int) or not 0 <= micro <= 999_999:
        raise InvalidArgument.build(f"{where}: cron({cron_job.name!r}).microsecond", micro, "an int in 0..999999")
    months = allowed["month"] or set(_DAYS_IN_MONTH)
    days = allowed["day"] or {1}
    if not any(day <= _DAYS_IN_MONTH[month] for month in months for day in days):
        raise InvalidArgument.build(f"{where}: cron({cron_job.name!r}).day", cron_job.day,
                                    f"a day some month of month={cron_job.month!r} has (arq's next_cron would search "
                                    "for it forever, cron.py:43-48)")  # fmt: skip


_SYNONYMS = {"max_retries": "max_tries", "retries": "max_tries", "max_attempts": "max_tries", "tries": "max_tries",
             "timeout": "job_timeout", "concurrency": "max_jobs", "queue": "queue_name", "cron": "cron_jobs",
             "crons": "cron_jobs", "tz": "timezone"}  # fmt: skip
"""Names other libraries give arq's Worker settings (Dramatiq's max_retries, Celery's concurrency)."""


def check_setting_names(where: str, settings: Any) -> None:
    """arq's ``get_kwargs`` (``worker.py:887-890``) passes the settings named like a ``Worker`` parameter and drops
    every other name silently: ``max_retries = 2`` (arq's is ``max_tries``) leaves the default 5, with ``arq worker``
    too. A name one typo (or a known other name) from a parameter is refused, naming it; any other is the app's
    own (a helper attribute of the class)."""
    from arq.worker import Worker

    params = [p for p in inspect.signature(Worker).parameters if p != "self"]
    given = settings if isinstance(settings, dict) else vars(settings)
    for key, value in given.items():
        if not isinstance(key, str) or key.startswith("_") or key in params:
            continue
        meant = near_miss(key, params, _SYNONYMS)
        if meant is not None:
            raise InvalidArgument(
                f"{where}.{key} = {value!r} is no arq Worker setting (did you mean {meant}?): arq's get_kwargs "
                "passes only the Worker's parameters and drops any other name silently (worker.py:887-890), so "
                f"the worker would run as if it were not set, under `arq worker` too. Rename it: {meant} = {value!r}"
            )


def check_unique_names(where: str, items: list[tuple[str, Any]]) -> None:
    """arq keeps one function per name (``Worker.__init__``: a dict by ``name``, cron jobs added to it), so a
    second ``func(..., name="charge")`` replaces the first silently and its jobs run the other coroutine."""
    seen: dict[str, Any] = {}
    for name, item in items:
        if name in seen:
            raise InvalidArgument(
                f"two job functions of {where} are named {name!r} ({_shown(seen[name])} and {_shown(item)}): arq "
                "keeps one function per name (Worker.__init__ builds a dict by name), so the second would replace "
                f"the first and enqueue_job({name!r}) run only it; give each its own name= (func(coroutine, "
                "name='...'), cron(coroutine, name='...'))"
            )
        seen[name] = item


def _shown(item: Any) -> str:
    """``functions: charge_card``: where an arq ``Function`` or ``CronJob`` is listed, and its coroutine by name."""
    from arq.cron import CronJob

    coroutine = getattr(item, "coroutine", item)
    listed = "cron_jobs" if isinstance(item, CronJob) else "functions"
    return f"{listed}: {getattr(coroutine, '__qualname__', None) or coroutine!r}"
