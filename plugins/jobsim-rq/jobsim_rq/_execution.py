"""One execution of an RQ job in a simulated work horse: a clock that stops where RQ would stop the horse.

RQ interrupts a job in two ways, both from outside its code: the death penalty's ``SIGALRM``
(``job_timeout``, and each callback's own timeout) and the worker killing its work horse (a
``stop-job`` command, or a crash). ``RQExecution`` carries both deadlines on the virtual clock.
It lives apart from the world (``_world.py``) because the worker there, what follows an execution
(``_lifecycle.py``), stop-job commands (``_stop.py``) and crashes (``_crash.py``) all arm or read it,
and none of them needs the world to do so. ``NULL`` is here for the same reason: RQ's own methods
that the worker and the lifecycle call write to a pipeline, and this one records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jobsim._time import SECOND
from jobsim.errors import _init_or_name_keyword
from jobsim.hooks import StoppableExecution


class HorseKilled(BaseException):
    """Raised in job code at the instant a ``stop-job`` command killed the work horse running it.

    A ``BaseException``, so ``except Exception`` in job code does not swallow it; the message is
    the failure RQ records for a stopped job (``rq/worker/worker_classes.py:164-166``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _init_or_name_keyword(self, super().__init__, args, kwargs)  # a keyword is named, not a bare TypeError


class RQExecution(StoppableExecution):
    """An execution whose clock stops where RQ's death penalty fires (``arm``) or its horse is killed (``kill``).

    RQ arms ``signal.alarm(timeout)`` around ``job.perform()`` (``UnixSignalDeathPenalty``,
    ``rq/timeouts.py:61-70``) and the handler raises ``JobTimeoutException('Task exceeded
    maximum timeout value (N seconds)')`` wherever the job is: from the call that would cross
    the deadline, with the clock at the deadline (``jobsim.hooks.StoppableExecution``).
    A ``stop-job`` command kills the work horse (``Worker.kill_horse``,
    ``rq/worker/worker_classes.py:35-49``): the call that spends time across that instant
    raises ``HorseKilled``, and so does every later one (a dead process does not run on).
    """

    __slots__ = ("alarm_at", "exception", "kill_at", "kill_reason", "killed")

    def __init__(self, engine: Any, run: Any, attempt: int, start: int) -> None:
        self.exception: Callable[[], BaseException] | None = None
        self.alarm_at: int | None = None
        self.kill_at: int | None = None
        self.kill_reason: Any = None  # "stop" (a stop-job command), or the crash plan (``_crash.CrashPlan``)
        self.killed = False
        super().__init__(engine, run, attempt, start)

    def _rearm(self) -> None:
        stops = [t for t in (self.alarm_at, self.kill_at) if t is not None]
        self.stop_at = min(stops) if stops else None

    def stopped(self, at: int) -> BaseException:
        self.engine.move_clock(at)  # what runs next (a handler, the worker) reads this instant
        if self.kill_at is not None and at >= self.kill_at:
            self.killed = True
            if self.kill_reason == "stop":
                return HorseKilled("Job stopped by user, work-horse terminated.")
            return HorseKilled("the work horse was killed (SIGKILL)")
        # SIGALRM fires once: job code that catches the exception runs on with no limit
        self.alarm_at = None
        self._rearm()
        assert self.exception is not None
        return self.exception()

    def arm(self, seconds: int | None, exception: Callable[[], BaseException]) -> None:
        """``death_penalty_class(seconds, ...)`` from now; ``None`` or ``-1`` is no limit (``signal.alarm(-1)``
        never fires in a job's lifetime)."""
        self.alarm_at = None if seconds is None or seconds < 0 else self.now + seconds * SECOND
        self.exception = exception
        self._rearm()

    def kill(self, at: int | None, reason: Any = "stop") -> None:
        """The work horse is killed at ``at`` (``None``: no kill, e.g. for the worker's own stopped callback);
        the earliest kill planned wins; at the same instant a crash over a stop, else the first planned
        (``reason``: ``"stop"`` or a ``_crash.CrashPlan``)."""
        if at is None:
            self.kill_at = self.kill_reason = None
        elif self.kill_at is None or at < self.kill_at or (at == self.kill_at and self.kill_reason == "stop"):
            self.kill_at, self.kill_reason = at, reason
        self._rearm()


class Null:
    """A Redis pipeline that records nothing: RQ's own ``Job.retry`` writes through it."""

    def __getattr__(self, name: str) -> Any:
        return self._nothing

    def _nothing(self, *args: Any, **kwargs: Any) -> Null:
        return self


NULL = Null()
