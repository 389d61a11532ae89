"""What a simulation remembers about runs: ``Run``, ``Attempt``, ``StepRecord``.

Times are stored as epoch nanoseconds (``*_ns``) and read as aware UTC datetimes
through the properties of the contract (``started_at``, ``finished_at``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import traceback
from typing import TYPE_CHECKING, Any, Literal

from ._safe import message
from ._stepdata import load
from ._time import to_datetime
from .errors import JobsimError

if TYPE_CHECKING:
    from ._app import Function
    from ._events import Event

RunStatus = Literal[
    "queued", "running", "sleeping", "waiting", "invoking", "retrying",
    "completed", "failed", "cancelled", "skipped", "lost",
]  # fmt: skip
FINAL = frozenset({"completed", "failed", "cancelled", "skipped", "lost"})
"""``lost``: the system dropped the run without finishing or reporting it (a crash on node-cron, a
downtime on Vercel Cron)."""


AttemptRow = tuple[Any, ...]
"""An attempt not yet made an ``Attempt`` (``Run._rows``): the trace's compact ``attempt`` record, ``(start,
"attempt", function, run, step, number, end, error, in_step[, error's text])``, ``in_step`` telling whether
its step's record has it too (``Engine._attempt``). No record object in it: a row without an error is
numbers and strings, which the collector stops tracking."""


def _dt(ns: int | None) -> dt.datetime | None:
    return None if ns is None else to_datetime(ns)


class Attempt:
    """One request to the function: ``Attempt(number, step, started_at, finished_at, error)``.

    ``number`` is 0 for the first attempt of a step (or of the function between
    steps), as ``ctx.attempt`` is. ``step`` is the step the request executed or
    planned (``None`` when it ended in the function body).
    """

    __slots__ = ("end_ns", "error", "number", "start_ns", "step")

    def __init__(self, number: int, step: str | None, start_ns: int, end_ns: int, error: BaseException | None) -> None:
        self.number = number
        self.step = step
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.error = error

    @property
    def started_at(self) -> dt.datetime:
        return to_datetime(self.start_ns)

    @property
    def finished_at(self) -> dt.datetime:
        return to_datetime(self.end_ns)

    @property
    def traceback(self) -> str | None:
        """The formatted traceback of the error, as job code raised it."""
        if self.error is None:
            return None
        return "".join(traceback.format_exception(type(self.error), self.error, self.error.__traceback__))

    def __repr__(self) -> str:
        error = f", error={_one_line(self.error)}" if self.error else ""
        return f"Attempt(number={self.number}, step={self.step!r}, started_at={self.started_at.isoformat()}{error})"


def _one_line(error: BaseException) -> str:
    """``RuntimeError('card declined')``: an error as its repr shows it, on one line (httpx's status
    errors carry a second line of advice) and never raising (an ``__str__`` that fails)."""
    return f"{type(error).__name__}({message(error)!r})"


class _Stored:
    """What a step record and a run share: a stored output and a span of virtual time."""

    __slots__ = ()
    _payload: Any
    start_ns: int
    end_ns: int | None

    @property
    def output(self) -> Any:
        """The stored output, as a fresh JSON round trip each time (as Inngest replays it)."""
        return load(self._payload)

    @property
    def started_at(self) -> dt.datetime:
        return to_datetime(self.start_ns)

    @property
    def finished_at(self) -> dt.datetime | None:
        return _dt(self.end_ns)


class StepRecord(_Stored):
    """A durable step of a run: its kind, status, memoized output and attempts."""

    __slots__ = ("_attempts", "_payload", "_run", "end_ns", "error", "id", "kind", "start_ns", "status")

    def __init__(self, id: str, kind: str, start_ns: int, run: Run | None = None) -> None:
        self.id = id
        self.kind = kind  # run | sleep | wait_for_event | send_event | invoke
        self.status = "running"
        self._payload: Any = None
        self.error: BaseException | None = None
        self._attempts: list[Attempt] = []
        self._run = run  # whose attempts not yet made (``Run._rows``) may include this step's
        self.start_ns = start_ns
        self.end_ns: int | None = None

    @property
    def attempts(self) -> list[Attempt]:
        """The step's attempts, oldest first: the same ``Attempt`` objects as in ``run.attempts``."""
        run = self._run
        if run is not None and run._rows is not None:
            run._make()
        return self._attempts

    @attempts.setter
    def attempts(self, attempts: list[Attempt]) -> None:
        run = self._run
        if run is not None and run._rows is not None:
            run._make()
        self._attempts = attempts

    def __repr__(self) -> str:
        return f"StepRecord(id={self.id!r}, kind={self.kind!r}, status={self.status!r}, attempts={len(self.attempts)})"


class MissingStep(JobsimError, KeyError):
    """``run.steps['chrage']``: says which steps the run has (a ``KeyError`` shows its message as a repr)."""

    def __str__(self) -> str:
        return str(self.args[0])


class Steps(dict[str, StepRecord]):
    """``run.steps``: step id -> ``StepRecord``, a plain dict but for a missing id, which names the ids the
    run has and the one probably meant (``KeyError: 'chrage'`` said neither)."""

    __slots__ = ("_function", "_run")

    def __init__(self, run: str, function: str) -> None:  # no dict.__init__: it has nothing to do with no argument
        self._run, self._function = run, function  # for the message, made only if it is needed

    def __missing__(self, key: str) -> StepRecord:
        close = difflib.get_close_matches(str(key), list(self), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        held = ", ".join(map(repr, self)) or "none: no step of it ran"
        raise MissingStep(f"run {self._run} of {self._function!r} has no step {key!r}{hint}; its steps: {held}")


class Run(_Stored):
    """A run of a function, as the contract describes it.

    ``status`` is final (``completed``, ``failed``, ``cancelled``, ``skipped``, ``lost``) or
    pending (``queued``, ``running``, ``sleeping``, ``waiting``, ``invoking``,
    ``retrying``). ``steps`` maps step id to ``StepRecord``.
    """

    __slots__ = (
        "_cause",
        "_generation",
        "_made",
        "_own",
        "_payload",
        "_rows",
        "_step_counter",
        "_wake",
        "end_ns",
        "error",
        "event",
        "events",
        "function",
        "id",
        "parent",
        "start_ns",
        "status",
        "steps",
    )  # fmt: skip

    def __init__(self, function: Function, run_id: str, events: list[Event], start_ns: int) -> None:
        self.function = function
        self.id = run_id
        self.events = events
        self.event = events[0]
        self.status: str = "queued"
        self._payload: Any = None
        self.error: BaseException | None = None
        self.start_ns = start_ns
        self.end_ns: int | None = None
        self._rows: list[AttemptRow] | None = []  # attempts not yet made (``attempts``); None once they are
        self._made: list[Attempt] | None = None
        self.steps: dict[str, StepRecord] = Steps(run_id, function.id)
        self.parent: tuple[Run, str] | None = None
        self._step_counter: dict[str, int] = {}
        self._wake: Any = None
        self._own: list[Event] | None = None  # job code's copies of ``events`` (``Context.event``)
        self._cause: Run | None = None  # the run whose event (or invoke) started this one
        self._generation = 0  # runs in that chain before this one (``Engine.descend``)

    @property
    def function_id(self) -> str:
        return self.function.id

    @property
    def done(self) -> bool:
        return self.status in FINAL

    @property
    def attempts(self) -> list[Attempt]:
        """The run's attempts, oldest first (a list: systems append their own). The engine records a
        run's attempts as rows (``Engine._attempt``) until something reads them: then each row's
        ``Attempt`` is made, the same object in the run's list and in its step's, and the engine
        appends made attempts from then on (a list read once stays the run's own)."""
        made = self._made
        if made is None:
            made = self._make()
        return made

    @attempts.setter
    def attempts(self, attempts: list[Attempt]) -> None:
        self._make()
        self._made = attempts

    def __copy__(self) -> Run:
        """``copy.copy``: the copy shares the run's attempts and steps, as a plain copy of its slots did before
        attempts were rows; the rows are made first, once (the copy making them again would append each
        attempt a second time to the steps both share)."""
        if self._rows is not None:
            self._make()
        copied = object.__new__(type(self))
        for cls in type(self).__mro__:
            for name in getattr(cls, "__slots__", ()):
                if hasattr(self, name):
                    object.__setattr__(copied, name, getattr(self, name))
        return copied

    def _make(self) -> list[Attempt]:
        """Make the ``Attempt`` of each recorded row, in order, for the run and for its step."""
        made = self._made
        if made is None:
            made = self._made = []
        rows = self._rows
        if rows:
            steps = self.steps
            for row in rows:
                attempt = Attempt(row[5], row[4], row[0], row[6], row[7])
                made.append(attempt)
                if row[8]:
                    steps[row[4]]._attempts.append(attempt)
        self._rows = None
        return made

    @property
    def retries(self) -> int:
        """How many attempts were retries (failed attempts that were tried again)."""
        return sum(1 for a in self.attempts if a.number > 0)

    def __repr__(self) -> str:
        tail = f", error={_one_line(self.error)}" if self.error else ""
        # attempts counts a request per step, so a run of three steps that never failed has 3: retries says so
        return (f"Run({self.function.id!r}, id={self.id!r}, status={self.status!r}, attempts={len(self.attempts)}, "
                f"retries={self.retries}{tail})")
