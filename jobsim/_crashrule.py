"""How a system notices that the worker running an attempt died, and what it does then: ``CrashRule``,
a profile's ``crash`` (``Profile.crash``; the runtime applies it, ``_runtimefail.py``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

CrashThen = Literal["fail", "rerun", "lose"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CrashRule:
    """How a system notices that the worker running an attempt died, and what it does then.

    The worker last showed it was alive at ``r``: the attempt's start, then every
    ``renew_ns`` (a lock renewal, a heartbeat). The system notices at ``r +
    lease_ns``, or, when it scans periodically (``scan_ns``, on a grid starting
    at the simulation's start), at the first scan at or after that; ``two_pass``
    scanners mark a job on one scan and act on the next, so never before the first
    scan after ``r`` plus one period. Scans do not run while the system is down.
    At one instant a renewal comes before a scan, and a lock expiring at a scan's
    instant is already gone (the real order is a race; this one is documented).

    Then: ``"fail"`` — the attempt failed with ``reason`` and the retry policy
    decides; ``"rerun"`` — the job runs again from the start without consuming an
    attempt, at most ``max_reruns`` times (then it fails with ``reason``);
    ``"lose"`` — nothing ever notices: the run is lost. ``rerun_cron``: a run started
    by a cron tick re-runs however often it crashes (BullMQ exempts job-scheduler jobs
    from ``maxStalledCount``). ``final``: the failure after too many re-runs is not
    retried, whatever attempts are left (BullMQ's deferred ``UnrecoverableError``).
    """

    lease_ns: int = 0
    renew_ns: int = 0
    scan_ns: int = 0
    two_pass: bool = False
    then: CrashThen = "fail"
    max_reruns: int | None = None
    exhausted: str = ""
    """What the system does once ``max_reruns`` are used up, for the ``recover`` record (its ``then`` is then
    ``"fail"``: it said ``"rerun"``, "runs it again from the start", for a job it failed)."""
    rerun_cron: bool = False
    final: bool = False
    holds_slot: bool = False
    """The dead attempt keeps its concurrency slot until the system notices it (Quirrel: an exclusive
    queue's ``soft-block`` count, taken by ``request.lua``, is given back only by ``acknowledge.lua``,
    which the stale checker calls). False: the slot is free as the worker dies."""
    first_only: bool = False
    """A scan acts on the first of the dead attempts it finds (the earliest started) and loses the rest:
    owl's stale checker loops over the stale jobs but reads ``staleJobs[0]`` every time
    (``src/shared/stale-checker.ts`` ``check``), so it reports the first N times and never the others.
    Then, with more than one, every exclusive queue among them is blocked for good (see ``_runtime``)."""
    retry_ns: int | None = None
    """With ``then="fail"``: the failure is retried this long after it is noticed, whatever the retry policy's
    backoff, as long as the policy has attempts left (Trigger.dev: 250 ms — run-engine ``index.ts``
    ``#handleStalledSnapshot`` fails the attempt with ``retry: {delay: 250}``, and ``retrying.ts``
    ``retryOutcomeFromCompletion`` uses those settings when ``maxAttempts`` allows). None: the policy decides."""
    reason: str = "the worker died mid-request; the connection dropped"
    recovery: str = "noticed at once"

    def noticed_at(self, started: int, crashed: int, origin: int, up_at: Callable[[int], int]) -> int:
        """When the system notices a worker that started an attempt at ``started`` and died at ``crashed``.

        ``up_at(t)`` is the first instant at or after ``t`` when the system is up.
        """
        alive = started if not self.renew_ns else started + (crashed - started) // self.renew_ns * self.renew_ns
        due = up_at(alive + self.lease_ns)
        if not self.scan_ns:
            return max(due, crashed)
        scan = self._scan_at(due, origin, up_at)
        if self.two_pass:
            scan = max(scan, self._scan_at(alive, origin, up_at) + self.scan_ns)
        return max(scan, crashed)

    def _scan_at(self, t: int, origin: int, up_at: Callable[[int], int]) -> int:
        """The first scan at or after ``t`` that runs (the system is up)."""
        period = self.scan_ns
        while True:
            scan = origin + -(-(t - origin) // period) * period
            up = up_at(scan)
            if up == scan:
                return scan
            t = up


IMMEDIATE = CrashRule()
