"""node-cron's task options that change when a task runs: ``noOverlap``, ``maxExecutions``, ``maxRandomDelay``.

Read from node-cron 4.6.0 (npm; ``dist/_shared.js``, built from ``src/scheduler/runner.ts`` and
``src/tasks/inline-scheduled-task.ts``). Each ``cron.schedule(expression, fn, options)`` is a task with
one ``Runner``; jobsim keeps one ``Task`` per function and cron expression (``Profile.cron_overlap`` is
``"each"``: every schedule is a task of its own). A function's schedules take the profile's options, or its
own (``Profile.cron_tasks``: ``jobsim.profile("node-cron", tasks={"report": {"no_overlap": True}})``), as each
``cron.schedule`` call takes its own.

* **noOverlap** (``Profile.cron_no_overlap``). ``heartBeat`` keeps the promise of the last execution it
  started (``lastExecution``, a ``TrackedPromise`` that settles after the task function, ``onFinished`` and
  the ``maxExecutions`` check). A tick that finds it ``'pending'`` emits ``execution:overlap`` (with or
  without the option); with ``noOverlap`` it logs "task still running, new execution blocked by overlap
  prevention!", re-arms the heartbeat and returns: the tick is skipped for good, never queued. jobsim records
  it as ``cron.missed``, outcome ``skipped``, reason ``overlap``, ``run`` the one still running. A run that
  ends at the tick's very instant is still pending then: the heartbeat's timer was armed (synchronously,
  in the previous heartbeat) before the task's own timer, and Node runs timers due at one instant in that
  order. A run lost with its process (a crash, a downtime) holds nothing: the promise died with it.
* **maxExecutions** (``Profile.cron_max_runs``). ``execute`` does ``runCount++`` before calling the task
  function, and only after it *returns* (``onFinished`` done) checks ``runCount >= maxExecutions``: then
  ``onMaxExecutions`` emits ``execution:maxReached`` and destroys the task (``runner.stop()`` clears the
  heartbeat: no tick comes again). A failed execution counts but returns before the check, so the task
  stops at the first success from the limit on — a task that always fails never stops. A skipped
  (overlapped) tick never reaches ``execute``: it counts nothing. Without ``noOverlap`` ticks that come
  while the limit's execution runs still start, so more than ``maxExecutions`` runs may start. jobsim
  records the end as ``cron.end``, reason ``max_executions``, at the end of the run that stopped it; the
  ticks after it are not delivered and not recorded (the task has no heartbeat). A tick at that very
  instant still runs (the heartbeat first, as above).
* **maxRandomDelay** (``Profile.cron_jitter_ns``, drawn as Vercel's delivery jitter is: whole ms in
  ``[0, max)`` from the function's seeded stream, as ``Math.floor(Math.random() * maxRandomDelay)``).
  ``runTask`` waits that long on ``this.jitterTimeout`` before ``execute``: the run starts late and counts
  then, while the tick's ``lastExecution`` is pending from the tick on — ``noOverlap`` skips a tick that
  finds the last one still waiting (recorded with ``waiting``, that tick, instead of ``run``). ``stop()``
  clears ``jitterTimeout``, the latest tick's wait only: when ``maxExecutions`` destroys the task, that
  tick never runs (``cron.missed``, outcome ``skipped``, reason ``destroyed``, ``run`` the one that ended
  the task); an earlier one still waiting (no ``noOverlap``) runs.
* **A restart.** After a ``sim.downtime`` the process starts again and schedules its tasks afresh: the count
  starts from 0 and a destroyed task runs again. ``sim.crash_worker`` kills one attempt (jobsim's model of
  it on every profile) and leaves the count as it was.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ._kernel import LAST
from ._records import FINAL
from ._time import iso

if TYPE_CHECKING:
    from ._app import Function
    from ._kernel import Timer
    from ._profiles import Profile
    from ._records import Run
    from ._runtime import SystemRuntime


@dataclasses.dataclass(slots=True)
class Task:
    """One ``cron.schedule``'s runner state."""

    last: Run | None = None
    """``lastExecution``: the latest run the heartbeat started."""
    runs: int = 0
    """``runCount``: the runs started."""
    due: int | None = None
    """The tick whose execution waits out its random delay (``maxRandomDelay``), not started yet."""
    timer: Timer | None = None
    """That wait's timer (``this.jitterTimeout``: the latest tick's only)."""
    stopped: int | None = None
    """When ``maxExecutions`` destroyed the task (after the ticks due then: ``Tasks.finished``)."""


class Tasks:
    """The node-cron tasks of one simulation (see the module docstring)."""

    def __init__(self, system: SystemRuntime) -> None:
        self.record = system.record
        self.kernel = system.kernel
        profile = system.profile
        # function id -> (noOverlap, maxExecutions) of its schedules: the profile's, or its own (``cron_tasks``)
        own = {fn_id: profile.cron_task(fn_id) for fn_id in profile.cron_tasks}
        self.options = {fn_id: (task.no_overlap is True, task.max_runs or 0) for fn_id, task in own.items()}
        self.default = (profile.cron_no_overlap, profile.cron_max_runs)
        self.tasks: dict[tuple[str, str], Task] = {}
        self.keys: dict[Run, tuple[str, str]] = {}

    @staticmethod
    def needed(profile: Profile) -> bool:
        """Whether any function's schedules have ``noOverlap`` or ``maxExecutions``: the profile's, or its own."""
        return bool(profile.cron_no_overlap or profile.cron_max_runs
                    or any(task.no_overlap or task.max_runs for task in profile.cron_tasks.values()))

    def holds(self, fn: Function, schedule: Any, nominal: int, now: int) -> bool:
        """Whether the tick at ``nominal`` starts nothing: the task was destroyed (silently), or, with
        ``noOverlap``, its last run is still pending (recorded as skipped)."""
        task = self.tasks.get((fn.id, schedule.expr))
        if task is None:
            return False
        if task.stopped is not None:
            return True
        if not self.options.get(fn.id, self.default)[0]:
            return False
        data = {"function": fn.id, "cron": schedule.expr, "scheduled": iso(nominal), "outcome": "skipped",
                "reason": "overlap"}  # fmt: skip
        if task.due is not None:  # the last tick's execution has not started: it waits out its random delay
            self.record(now, "cron.missed", {**data, "waiting": iso(task.due)})
            return True
        last = task.last
        if last is not None and _pending(last, now):
            self.record(now, "cron.missed", {**data, "run": last.id})
            return True
        return False

    def waiting(self, fn: Function, schedule: Any, nominal: int, timer: Timer) -> None:
        """The tick at ``nominal`` starts its run when ``timer`` fires (``maxRandomDelay``)."""
        task = self.tasks.setdefault((fn.id, schedule.expr), Task())
        task.due, task.timer = nominal, timer

    def delivered(self, fn: Function, schedule: Any, nominal: int, run: Run) -> None:
        """The tick at ``nominal`` started ``run``: it is the task's last execution, and counts (``runCount++``
        as ``execute`` begins, after any random delay)."""
        key = (fn.id, schedule.expr)
        task = self.tasks.setdefault(key, Task())
        if task.due == nominal:
            task.due = task.timer = None
        task.last = run
        task.runs += 1
        self.keys[run] = key
        if run.status in FINAL and run.end_ns is not None:  # it ended as it started (no time spent)
            self.finished(run, run.end_ns)

    def finished(self, run: Run, at: int) -> None:
        """``run`` ended at ``at``: if it completed, its task checks ``maxExecutions`` then — after every tick
        due at that instant (``LAST``), as the runs started by the time it ends count: the run's end may be
        known before the clock gets there (its code spent virtual time)."""
        key = self.keys.pop(run, None)
        if key is None or not self.options.get(key[0], self.default)[1] or run.status != "completed":
            return
        self.kernel.schedule(at, self._check, key, self.tasks[key], run, owner=f"{key[0]} (cron)", priority=LAST)

    def _check(self, key: tuple[str, str], task: Task, run: Run) -> None:
        """``if (this.maxExecutions && this.runCount >= this.maxExecutions)``: destroy the task."""
        limit = self.options.get(key[0], self.default)[1]
        if self.tasks.get(key) is not task or task.stopped is not None or task.runs < limit:
            return  # restarted since, already destroyed, or not yet at the limit
        now = self.kernel.now
        task.stopped = now
        self.record(now, "cron.end", {"function": key[0], "cron": key[1], "reason": "max_executions",
                                      "limit": limit, "runs": task.runs, "run": run.id})  # fmt: skip
        timer = task.timer
        if timer is not None and task.due is not None and not timer.cancelled:  # stop() clears jitterTimeout
            self.kernel.cancel(timer)
            self.record(now, "cron.missed", {"function": key[0], "cron": key[1], "scheduled": iso(task.due),
                                             "outcome": "skipped", "reason": "destroyed", "run": run.id})
            task.due = task.timer = None

    def restart(self) -> None:
        """The process is back after a downtime: every task is scheduled afresh."""
        self.tasks.clear()
        self.keys.clear()


def _pending(run: Run, now: int) -> bool:
    """``lastExecution.getState() === 'pending'`` at ``now``: not ended before it, and not lost."""
    return run.status != "lost" and (run.status not in FINAL or run.end_ns is None or run.end_ns >= now)


__all__ = ["Tasks"]
