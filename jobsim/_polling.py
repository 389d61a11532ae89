"""Agenda's poll: a job starts when a poll of the job processor finds it, not when it is due.

A profile with ``poll_ns`` (Agenda's ``processEvery``) finds due jobs only by polling, as
Agenda 6.2.2 with its MongoDB backend does (line numbers: agenda/agenda at ``agenda@6.2.2``):

* **The grid.** ``agenda.start()`` creates the ``JobProcessor`` (``packages/agenda/src/index.ts``
  1067-1095), whose constructor calls ``process()`` at once and then every ``processEvery``
  through ``setInterval`` (``JobProcessor.ts`` 98-118; default 5000 ms, ``index.ts`` 28-37 and
  280). jobsim starts Agenda with the simulation, so polls fall at ``start + k * processEvery``.
  A ``sim.downtime`` is the process being down: no poll runs in ``[start, end)``, and at ``end``
  the restarted process polls at once and its grid starts again from there.
* **What a poll locks.** Each poll, per job name, sets ``nextScanAt = now + processEvery``
  (``jobQueueFilling``, 382-447, 393-394) and locks, one after another, every document with
  ``lockedAt == null AND nextRunAt <= nextScanAt`` (or an expired lock) (``findAndLockNextJob``
  348-375; ``MongoJobRepository.getNextJobToRun`` 451-503, ``packages/mongo-backend``), setting
  ``lockedAt`` to the poll's time. No lock limit applies by default (``lockLimit`` and
  ``defaultLockLimit`` are 0, unlimited; ``shouldLock`` 316-338).
* **When a locked job starts.** ``jobProcessing`` (454-551) runs a job whose ``nextRunAt`` has
  come at once (489-495) and sets a timer for one due within ``processEvery`` (518-537): a job
  found ahead of time starts exactly at its ``nextRunAt``. (The per-definition ``concurrency``
  then decides, ``runOrRetry`` 557-717: a job over it waits in the local queue and starts as
  a running job of its name ends, 705-706 — jobsim's ``concurrency=``.)
* **Nothing else wakes the processor.** ``job.save()`` (``agenda.now``, ``schedule``,
  ``every``; ``Job.ts`` 397-422) publishes a notification only when a notification channel is
  configured (416-419), and the MongoDB backend has none ("Does not provide notifications
  (uses polling)", ``MongoBackend.ts`` 6-39). A run's own saves (``Job.run`` 612-623 and its
  ``finally``, 742-748, which stores a retry's ``nextRunAt`` from ``handleRetry``, 569-570, and
  unlocks the job) go through ``saveJobState``, which publishes nothing at all.

So a job document that becomes lockable at ``since`` (saved by the user, or unlocked by the end
of the run that held it) with ``nextRunAt = due`` is locked by the first poll ``T >= since``
with ``T + processEvery >= due`` and starts at ``max(due, T)`` (``Polls.start``). Hence, with
``P = processEvery``: a job made with ``agenda.now()`` starts at the next poll; one scheduled at
least ``P`` ahead (``schedule``, a retry backoff ``>= P``, a recurring job's next tick after a
run that ended ``P`` or more before it) starts exactly on time; a retry sooner than ``P`` starts
at its due time if a poll falls between the failure and it, else at the first poll after it; a
job unlocked after its ``nextRunAt`` (an overdue tick, ``_jobdoc.py``) starts at the next poll.
At a tie — a job saved or unlocked at the very instant of a poll — jobsim decides by who saved
it. What a run does at instant ``T`` (its end unlocking its job or saving a retry, its code
calling ``agenda.now()`` or ``schedule``) comes after the poll at ``T``: the interval fires and
the poll's query leaves at once, while a run's saves are awaited writes that follow its code
(``Job.run`` awaits ``saveJobState`` before the job's function even starts), so the next poll
finds it. What a test sends at ``T`` comes before it: a job created as Agenda starts, or just
before a poll (so ``sim.send`` at the simulation's start runs at once). A debounced job
(``nowDebounced``) counts as saved by its last call.

Not modelled: notification channels (the Redis and PostgreSQL backends, or a
``MongoChangeStreamNotificationChannel``, make ``handleNotification``, 252-286, lock a saved job
at once); the ``defaultConcurrency`` of 5 and ``maxConcurrency`` of 20 a job name and a process
get when ``define`` gives none (jobsim runs an Agenda function without ``concurrency=`` without
a limit); a job locked by a poll before a downtime starts but not yet started, whose lock a
dead process would keep until ``lockLifetime`` (jobsim starts it when the system is back, as a
graceful ``stop()``, which unlocks it, would); a debounced job that a poll locks before its last
call (possible with a period shorter than ``processEvery``), which Agenda then runs at the time
and with the data it had at the lock; timer drift, and the time a poll's queries take.
"""

from __future__ import annotations

from ._time import MS, Duration, duration_ns
from .errors import InvalidArgument


def process_every_ns(value: Duration) -> int:
    """Agenda's ``processEvery`` as a jobsim duration: positive, in whole milliseconds (``setInterval``'s unit)."""
    accepted = ("a duration greater than zero in whole milliseconds, such as '5s' (Agenda's default), '1s' or "
                "'500ms' (Agenda's processEvery)")  # fmt: skip
    return whole_ms_ns(value, "process_every", accepted, allow_zero=False)


def whole_ms_ns(value: Duration, name: str, accepted: str, *, allow_zero: bool) -> int:
    """A duration in whole milliseconds (a JavaScript timer's unit) as ns; anything else is refused with
    ``accepted``, and a fraction of a millisecond says so."""
    try:
        ns = duration_ns(value, name, allow_zero=allow_zero)
    except InvalidArgument:
        raise InvalidArgument.build(name, value, accepted) from None
    if ns % MS:
        raise InvalidArgument.build(name, value, accepted + " (this one has a fraction of a millisecond)")
    return ns


class Polls:
    """The polls of one simulated job processor: every ``period`` from ``origin``, restarted after downtime.

    ``windows`` is the runtime's list of downtime windows (sorted, never overlapping), read at
    each question, so a downtime armed later moves the polls after it.
    """

    __slots__ = ("origin", "period", "windows")

    def __init__(self, period: int, origin: int, windows: list[tuple[int, int]]) -> None:
        self.period = period
        self.origin = origin
        self.windows = windows

    def at_or_after(self, t: int) -> int:
        """The first poll at or after ``t``."""
        anchor = self.origin
        for start, end in self.windows:
            if end <= t:
                anchor = max(anchor, end)  # the process restarted at `end`: its grid starts there
                continue
            poll = anchor + -(-(t - anchor) // self.period) * self.period
            return end if start <= poll else poll  # the poll falls while it is down: the restart polls
        return anchor + -(-(t - anchor) // self.period) * self.period

    def found(self, since: int, due: int, by_run: bool = False) -> int:
        """The poll that locks a job lockable from ``since`` with ``nextRunAt = due``.

        ``by_run``: a run saved or unlocked it (its end, its code): the poll at that very instant
        has already looked (see the module docstring), so it is not that one.
        """
        return self.at_or_after(self.search(since, due, by_run))

    def search(self, since: int, due: int, by_run: bool = False) -> int:
        """From when a poll finds that job: ``found`` is the first poll at or after this instant."""
        return max(since + 1 if by_run else since, due - self.period)

    def start(self, since: int, due: int, by_run: bool = False) -> int:
        """When that job starts: at ``due`` if a poll found it in time, else at the poll that finds it."""
        return max(due, self.found(since, due, by_run))


__all__ = ["Polls", "process_every_ns"]
