"""One job document per recurring job (``profile.cron_next == "job"``): Agenda's ``every()``.

In Agenda 6.2.2 a recurring job is *one* MongoDB document (``every()`` saves it with
``type: 'single'``, and ``MongoJobRepository.saveJob`` upserts single jobs by name,
``packages/mongo-backend/src/MongoJobRepository.ts`` 658-687), holding one ``nextRunAt``.
Every run of it is ``Job.run`` (``packages/agenda/src/Job.ts``):

* at the start it sets ``lastRunAt = now`` and calls ``computeNextRunAt`` (612-623), which for a
  cron interval is the first match strictly after ``lastRunAt`` (``utils/nextRunAt.ts``
  ``computeFromInterval`` 23-49: cron-parser's ``next()`` from ``lastRunAt``, moved on by
  1 s when that gives ``lastRunAt`` itself or the old ``nextRunAt``);
* a failure calls ``fail()`` (``failCount++``, 334-347), then ``handleRetry`` (529-610): with a
  backoff delay ``d`` it sets ``nextRunAt = Date.now() + d`` (569-570) — a plain overwrite of the
  recurring time computed at the start, whether the retry comes before or after it; when the
  backoff answers ``null`` (retries exhausted, 546-566) it returns without touching
  ``nextRunAt``, so the recurring time stands and the schedule goes on;
* the ``finally`` block saves ``nextRunAt`` and ``lockedAt = undefined`` (742-748).

A retry is therefore just the document's next run: a tick it jumps over never runs (it is
not queued anywhere, and not run at the retry either), and the retry's own ``Job.run``
computes the next recurring time strictly after the retry's start. While a run is in
progress the document is locked, and the lock query (``MongoJobRepository.getNextJobToRun``:
``lockedAt == null AND nextRunAt <= nextScanAt``, or an expired lock, 461-474) skips it: the
recurring time that passed meanwhile (the first match after the run's start) runs once, late,
when the lock is released, unless a retry replaced it; later matches are never run. A crashed
run keeps the lock until it expires and is then re-run (``CrashRule``), which is again a
``Job.run``.

jobsim keeps the clock's ticks (``_engine.py``) and decides here, for each tick of a cron
function, whether the function's latest cron run holds it back. A tick held back is recorded
as ``cron.missed`` with ``outcome: "skipped"`` and the ``reason``; ``compare`` counts it lost.
The one tick that runs late is delivered when the lock is released, marked ``late`` with the
run that held it (``held_by``). Runs started by events are documents of their own
(``agenda.now``) and hold nothing back.

Agenda picks a document up only at its polls (``processEvery``; ``_polling.py``): a tick's run
starts when due if a poll after the document was last unlocked (``unlocked``: the end of its
last run) found it ahead, else at the first poll after that; so the overdue tick starts at the
first poll at or after the release, and the ticks falling before that poll are skipped
("waiting": the run has not started, the document's nextRunAt is still its tick).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._kernel import BACKGROUND
from ._records import FINAL
from ._time import instant_ns, iso
from .errors import WorkerCrashed

if TYPE_CHECKING:
    from ._app import Function
    from ._records import Run
    from ._runtime import SystemRuntime


class JobDocuments:
    """The cron functions' job documents of one simulation; see the module docstring."""

    def __init__(self, system: SystemRuntime) -> None:
        self.system = system
        self.latest: dict[str, Run] = {}
        """function id -> its latest cron run: the document's current run."""
        self.overdue: dict[str, tuple[int, int]] = {}
        """function id -> (the tick that runs late, when): due when its run releases the lock."""

    def delivered(self, fn: Function, run: Run) -> None:
        """A tick of ``fn`` started ``run``: it is now the document's run."""
        self.latest[fn.id] = run

    def unlocked(self, fn: Function, default: int) -> int:
        """When ``fn``'s document was last unlocked: its last run's end (``Job.run``'s ``finally``,
        Job.ts 742-748), or ``default`` (``every()`` saved it when Agenda started) before any run."""
        run = self.latest.get(fn.id)
        if run is None:
            return default
        if run.end_ns is not None:
            return run.end_ns
        return run.attempts[-1].end_ns if run.attempts else default

    def holds(self, fn: Function, schedule: Any, now: int) -> bool:
        """Whether ``fn``'s document holds back its tick due ``now``; if so, say why in the trace.

        The tick that falls due while the run that locked the document is still running, and
        is the recurring time that run computed at its start, runs when the lock is released
        (``_release``) if no retry replaces it.
        """
        run = self.latest.get(fn.id)
        if run is None:
            return False
        overdue = self.overdue.get(fn.id)
        if overdue is not None:
            return self._skip(fn, schedule, now, run, "overdue", until=overdue[1], tick=overdue[0])
        if not run.attempts:  # not started yet (waits for its poll or a concurrency slot): nextRunAt is still its tick
            return run.status not in FINAL and self._skip(fn, schedule, now, run, "waiting")
        last = run.attempts[-1]
        if now <= last.start_ns:  # it ran at this very instant: its next time is strictly after
            return self._skip(fn, schedule, now, run, "ran", attempt=last.number)
        pending = run.status not in FINAL  # a retry (or a crash re-run) follows the last attempt
        if now < last.end_ns:  # the document is locked by the attempt in progress
            if schedule.next_after(last.start_ns) != now:
                return self._skip(fn, schedule, now, run, "locked", until=last.end_ns)
            if not pending:
                self._hold(fn, schedule, now, run, last.end_ns)
                return True
        if not pending:
            return False
        if isinstance(last.error, WorkerCrashed):
            return self._skip(fn, schedule, now, run, "crashed")
        return self._skip(fn, schedule, now, run, "retry", until=self.system.state(run).scheduled)

    def _skip(self, fn: Function, schedule: Any, now: int, run: Run, reason: str, *, until: int | None = None,
              tick: int | None = None, attempt: int | None = None) -> bool:  # fmt: skip
        data: dict[str, Any] = {"function": fn.id, "cron": schedule.expr, "scheduled": iso(now),
                                "outcome": "skipped", "reason": reason, "run": run.id}  # fmt: skip
        if until is not None:
            data["until"] = until
        if attempt is not None:
            data["attempt"] = attempt
        if tick is not None:
            data["tick"] = iso(tick)
        elif reason == "waiting":
            scheduled = run.event.data.get("scheduledAt")  # the timer event's whole seconds, as the record's ms
            data["tick"] = iso(instant_ns(scheduled)) if isinstance(scheduled, str) else scheduled
        self.system.record(now, "cron.missed", data)
        return True

    def _hold(self, fn: Function, schedule: Any, tick: int, run: Run, release: int) -> None:
        self.overdue[fn.id] = (tick, release)
        # after any tick due at that same instant, which then finds this one overdue: one run, not two;
        # a cron delivery like the ticks (recurring): it keeps no run_until_idle busy, nor would a job
        # longer than its interval, which holds its next tick each time, keep it busy for ever
        self.system.kernel.schedule(release, self._release, fn, schedule, tick, run, owner=f"{fn.id} (cron)",
                                    priority=BACKGROUND, recurring=True)  # fmt: skip

    def _release(self, fn: Function, schedule: Any, tick: int, run: Run) -> None:
        """The run that locked the document ended: the overdue tick runs now, late."""
        del self.overdue[fn.id]
        system = self.system
        copies = 1 + system._duplicates(fn, system.kernel.now, {"cron": schedule.expr, "scheduled": iso(tick)})
        system._deliver(fn, schedule, tick, copies, late=True, held_by=run.id)


__all__ = ["JobDocuments"]
