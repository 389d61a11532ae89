"""Job schedulers in the simulated Redis (``addJobScheduler-11.lua``, ``updateJobScheduler-12.lua``,
``removeJobScheduler-3.lua``), and how Lua reads an ``every`` (``lua_number``): the ``Store``'s methods for them
(``_store`` has the rest; paths as there)."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from jobsim.errors import InvalidArgument

from ._adding import Adding
from ._cronlocal import check as check_cron_local
from ._state import QueueState

if TYPE_CHECKING:
    pass


class Schedulers(Adding):
    """The ``Store``'s job-scheduler methods (a base class of ``_store.Store``; ``Adding``'s too)."""

    # -- job schedulers -----------------------------------------------------------------------------
    def add_job_scheduler(self, backend: Any, scheduler_id: str, next_millis: int, template_data: str,
                          template_opts: dict[str, Any], scheduler_opts: dict[str, Any], job_opts: dict[str, Any],
                          now: int) -> list[Any]:  # fmt: skip
        """``addJobScheduler-11.lua:474-595``: (re)define the scheduler, replace its pending job (if it is still
        delayed, prioritized or waiting), and add the job for ``next_millis`` (``every``: computed here from the
        previous one). Returns ``[job id, delay]``; -10 when a ``pattern`` job of that id exists already."""
        q = self.queue(backend)
        self.world._function(q.name)  # declared first: a queue the simulation refuses keeps no scheduler, no job
        name = scheduler_opts.get("name")
        if not isinstance(name, str):  # Redis would refuse the table in HSET (a Lua error); name the argument instead
            raise InvalidArgument.build(f"queue.upsertJobScheduler({scheduler_id!r}, repeat_opts, job_name)", name,
                                        "the jobs' name, a string: bullmq-python takes (job_scheduler_id, "
                                        "repeat_opts, job_name, job_data, opts), not Node's template {'name', "
                                        "'data', 'opts'}")  # fmt: skip
        _check_every(scheduler_id, scheduler_opts.get("every"))
        job_opts = backend.scripts.encodeOpts(job_opts or {})
        template_opts = backend.scripts.encodeOpts(template_opts or {})
        prev = q.repeat.get(scheduler_id)
        every = scheduler_opts.get("every")
        offset = scheduler_opts.get("offset") or (job_opts.get("repeat") or {}).get("offset") or 0
        new_offset, updated_every = offset, False
        if every:
            millis = prev
            if prev is not None and _every_changed((q.schedulers.get(scheduler_id) or {}).get("every"), every):
                millis, updated_every = None, True
            next_millis, new_offset = every_next(millis, every_ms(every), now, offset, scheduler_opts.get("startDate"))
        removed = False
        if prev is not None:
            removed = self._remove_scheduled(q, f"repeat:{scheduler_id}:{prev}")
        if removed:
            if every and not updated_every:
                next_millis = prev  # type: ignore[assignment]
        else:
            scheduler_opts = {**scheduler_opts, "offset": new_offset}
        job_id = f"repeat:{scheduler_id}:{next_millis}"
        if job_id in q.jobs:
            if not every:
                return self._error(backend, -10, job_id, "addJobScheduler")
            for _ in range(32):
                next_millis += every_ms(every)
                job_id = f"repeat:{scheduler_id}:{next_millis}"
                if job_id not in q.jobs:
                    break
            else:
                return self._error(backend, -11, job_id, "addJobScheduler")
        delay = max(next_millis - now, 0)
        count = (q.schedulers.get(scheduler_id) or {}).get("ic", 1)
        q.repeat[scheduler_id] = next_millis
        q.schedulers[scheduler_id] = {**{k: v for k, v in scheduler_opts.items() if v is not None}, "ic": count,
                                      "data": template_data, "opts": template_opts}  # fmt: skip
        q.counter += 1
        self._from_scheduler(q, scheduler_id, job_id, job_opts, template_data, now, delay)
        if not every:
            check_cron_local(self.world, q.name, scheduler_id, scheduler_opts, next_millis)
        return [job_id, delay]

    def update_job_scheduler(self, backend: Any, scheduler_id: str, next_millis: int, job_opts: dict[str, Any],
                             producer_id: str | None, now: int) -> str | None:  # fmt: skip
        """``updateJobScheduler-12.lua``: the next iteration, added only when the job asking is the scheduler's current
        one (``repeat:<id>:<prevMillis>``), so a retried or re-run iteration makes no second one."""
        q = self.queue(backend)
        prev = q.repeat.get(scheduler_id)
        scheduler = q.schedulers.get(scheduler_id)
        if prev is None or scheduler is None:
            return None
        job_opts = backend.scripts.encodeOpts(job_opts or {})
        every = scheduler.get("every") or (job_opts.get("repeat") or {}).get("every")
        if every:
            offset = scheduler.get("offset") or (job_opts.get("repeat") or {}).get("offset") or 0
            next_millis, _ = every_next(prev, every_ms(every), now, offset, scheduler.get("startDate"))
        job_id = f"repeat:{scheduler_id}:{next_millis}"
        if producer_id != f"repeat:{scheduler_id}:{prev}":
            return None
        if job_id in q.jobs:
            self.xadd(q, "duplicated", jobId=job_id)  # updateJobScheduler-12.lua:325-326
            return None
        q.repeat[scheduler_id] = next_millis
        scheduler["ic"] = int(scheduler.get("ic", 1)) + 1
        q.counter += 1
        self._from_scheduler(q, scheduler_id, job_id, job_opts, scheduler.get("data") or "{}", now,
                             max(next_millis - now, 0))  # fmt: skip
        if not every:
            check_cron_local(self.world, q.name, scheduler_id, scheduler, next_millis)
        return job_id

    def _from_scheduler(self, q: QueueState, scheduler_id: str, job_id: str, opts: dict[str, Any], data: str,
                        now: int, delay: int) -> None:  # fmt: skip
        """``addJobFromScheduler`` (``addJobScheduler-11.lua:222-231``): stored with the scheduler's name and data."""
        opts = {**opts, "delay": delay, "jobId": job_id}
        name = q.schedulers[scheduler_id].get("name", scheduler_id)
        rec = self._store(q, job_id, name, data, opts, now, scheduler_id)
        self.world.on_added(q, rec, None)
        self._enqueue(q, rec, now)

    def _remove_scheduled(self, q: QueueState, job_id: str) -> bool:
        """``removeJobFromScheduler``: the scheduler's pending job, if it has not started."""
        for where in (q.delayed, q.prioritized):
            if job_id in where:
                del where[job_id]
                self._remove(q, None, job_id)
                return True
        if job_id in q.wait:
            q.wait.remove(job_id)
            self._remove(q, None, job_id)
            return True
        return False

    def remove_job_scheduler(self, backend: Any, scheduler_id: str) -> int:
        """``removeJobScheduler-3.lua``: 0 when removed (with its delayed job), 1 when there was none."""
        q = self.queue(backend)
        prev = q.repeat.pop(scheduler_id, None)
        if prev is None:
            return 1
        q.schedulers.pop(scheduler_id, None)
        job_id = f"repeat:{scheduler_id}:{prev}"
        if job_id in q.delayed:
            del q.delayed[job_id]
            self._remove(q, None, job_id)
            self.xadd(q, "removed", jobId=job_id, prev="delayed")  # removeJobScheduler-3.lua:32
        return 0


def _check_every(scheduler_id: str, every: Any) -> None:
    """An ``every`` the script cannot step by: one Lua cannot read as a number (NaN, infinity, '5s', '1_000': an
    arithmetic error in the script), one <= 0 (each next job due before the last one), or a fraction of a
    millisecond ('1000.5', 0.5: bullmq's script steps by it, the simulation counts whole ms -- 0.5 was a
    ZeroDivisionError, 1500.5 ran every 1500 ms). A string Lua reads as a whole number ('1000', '1e3', '0x3E8')
    is stepped by as that number, as the script does."""
    if every is None:
        return
    number = lua_number(every)
    if number is None or not (math.isfinite(number) and number == int(number) and number >= 1):
        raise InvalidArgument.build(f"queue.upsertJobScheduler({scheduler_id!r}, repeat_opts)['every']", every,
                                    "milliseconds between jobs, a whole number >= 1 (the simulation steps whole "
                                    "milliseconds), or a cron 'pattern' instead")  # fmt: skip


_LUA_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")  # ASCII digits: strtod's
_LUA_HEX = re.compile(r"[+-]?0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)([pP][+-]?[0-9]+)?")


def lua_number(value: Any) -> float | None:
    """What Redis's Lua 5.1 makes of a value msgpack carried where it does arithmetic (``tonumber``, or a string
    in ``now / every``): a number as it is; a string as C99's ``strtod`` reads it -- ASCII decimal, with an
    exponent, or ``0x`` hex (a hex float's ``p`` exponent too), blanks around allowed (``luaO_str2d``); past a
    double, infinity (``HUGE_VAL``); ``None`` for what it cannot read (the script would fail with "attempt to
    perform arithmetic on a string value"). ``inf``/``nan`` strings, which ``strtod`` reads too, give ``None``
    here: no scheduler can step by them either."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if not isinstance(value, str):
        return _to_float(value, float, value < 0)
    text = value.strip(" \t\n\v\f\r")
    if _LUA_DECIMAL.fullmatch(text):
        return float(text)
    if _LUA_HEX.fullmatch(text):
        return _to_float(text, float.fromhex, text.startswith("-"))
    return None


def _to_float(value: Any, read: Any, negative: bool) -> float:
    try:
        return float(read(value))
    except OverflowError:  # an int, or a hex string, past a double: strtod's HUGE_VAL
        return -math.inf if negative else math.inf


def every_ms(every: Any) -> int:
    """A checked ``every`` (``_check_every``) in whole milliseconds, as the script reads it."""
    number = lua_number(every)
    assert number is not None
    return int(number)


def _every_changed(stored: Any, every: Any) -> bool:
    """``addJobScheduler-11.lua:494-499``: ``tonumber(HGET every) ~= every``. ``every`` is what msgpack carried: a
    string is never equal to a Lua number, so an upsert with a string ``every`` always starts the scheduler's
    iterations again from now (its pending job replaced by one at the new first slot)."""
    return isinstance(every, str) or lua_number(stored) != float(every)


def every_next(prev: int | None, every: int, now: int, offset: Any, start: Any) -> tuple[int, int]:
    """``getJobSchedulerEveryNextMillis`` (``addJobScheduler-11.lua:430-473``), in ms."""
    offset = int(offset or 0)
    if prev is None:
        if start:
            nxt = max(int(start), now)
        elif offset > 0:
            nxt = now // every * every + offset
            if nxt <= now:
                nxt += every
        else:
            nxt = now
    else:
        nxt = prev + every
        if nxt < now:
            aligned = now // every * every + offset
            nxt = aligned + every if aligned <= now else aligned
    if not offset:
        offset = nxt - nxt // every * every
    return nxt, offset


def checked_upsert(original: Any) -> Any:
    """``JobScheduler.upsertJobScheduler`` (what ``queue.upsertJobScheduler`` calls), after checking the ``tz`` and
    ``pattern`` bullmq's ``default_repeat_strategy`` reads (``job_scheduler.py:64-110``): an unknown zone raises
    ``ZoneInfoNotFoundError`` and a pattern croniter cannot read ``CroniterBadCronError`` from deep in bullmq;
    refused instead with the option named (and the zone meant). A queue with its own ``repeatStrategy`` reads
    them its own way: left to it."""

    async def upsertJobScheduler(self: Any, job_scheduler_id: str, repeat_opts: Any, *args: Any,
                                 **kwargs: Any) -> Any:  # fmt: skip
        from bullmq.job_scheduler import default_repeat_strategy

        if self.repeat_strategy is default_repeat_strategy and isinstance(repeat_opts, dict):
            _check_cron(job_scheduler_id, repeat_opts)
        return await original(self, job_scheduler_id, repeat_opts, *args, **kwargs)

    upsertJobScheduler.__doc__ = original.__doc__
    return upsertJobScheduler


def _check_cron(scheduler_id: str, repeat_opts: dict[str, Any]) -> None:
    from zoneinfo import ZoneInfo

    from croniter import croniter  # type: ignore[import-untyped]

    from jobsim._time import _zone_hint

    where = f"queue.upsertJobScheduler({scheduler_id!r}, repeat_opts)"
    tz, pattern = repeat_opts.get("tz"), repeat_opts.get("pattern")
    if tz:
        try:
            ZoneInfo(tz)
        except (ValueError, TypeError) as exc:  # ZoneInfoNotFoundError is a KeyError: caught below
            raise InvalidArgument.build(f"{where}['tz']", tz, "an IANA time zone name such as 'Europe/Berlin' "
                                        f"({type(exc).__name__}: {exc})") from None  # fmt: skip
        except KeyError:
            hint = _zone_hint(tz) if isinstance(tz, str) else ""
            raise InvalidArgument.build(f"{where}['tz']", tz, "an IANA time zone name"
                                        f"{hint or ' such as ' + repr('Europe/Berlin')}: bullmq-python reads it "
                                        "with zoneinfo, which knows no such zone") from None  # fmt: skip
    if pattern:
        try:
            croniter(pattern, second_at_beginning=True)
        except (ValueError, TypeError, KeyError) as exc:  # croniter's CroniterBadCronError is a ValueError
            raise InvalidArgument.build(f"{where}['pattern']", pattern, "a cron expression of 5 fields (or 6, "
                                        f"seconds first) that croniter reads (croniter: {exc})") from None  # fmt: skip
