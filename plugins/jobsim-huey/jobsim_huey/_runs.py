"""The runs of Huey's tasks (``HueyWorld``'s lower layer): Huey's own calls while the simulation runs, and
what its signals say about each run.

``huey.enqueue`` checks every task it is given is registered on its Huey before Huey queues it;
``huey.execute`` runs a task on a simulated worker, its body being an attempt of the task id's run.
The signals Huey sends meanwhile (``_observe``) go to the trace and end the run as Huey decided
(``_decide``); a retry Huey makes is a ``retry`` record on the same run (``_retried``), under the
per-run attempt budget (``jobsim_huey.MAX_ATTEMPTS_PER_RUN``).
"""

from __future__ import annotations

import datetime as dt
import weakref
from typing import TYPE_CHECKING, Any

import jobsim
import jobsim_huey
from jobsim._events import Event
from jobsim._records import Run
from jobsim._time import MS, iso
from jobsim.errors import BudgetExceeded, InvalidArgument, JobsimError
from jobsim.hooks import attempt_budget, end_run, near_miss, note_test_enqueue, output_bytes

from ._consumer import Body

if TYPE_CHECKING:
    from jobsim import Simulation

    from ._consumer import SimConsumer, SimWorker
    from ._world import HueyState

HOP = dt.timedelta(microseconds=1)
_ERRORS = ("error", "timeout", "locked", "rate-limited")


class _Execution:
    """One ``huey.execute`` of a task under way: the signals Huey sent so far, the run's attempts before it."""

    __slots__ = ("attempts", "signals")

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts
        self.signals: list[str] = []


class _Runs:
    """Huey's calls and the runs they make; ``_world.HueyWorld`` (which builds the state in ``__init__``) is the
    layer above."""

    if TYPE_CHECKING:  # set by HueyWorld.__init__, and HueyWorld's methods these call (for mypy only)
        sim: Simulation
        hueys: list[HueyState]
        by_class: dict[type, jobsim.Function]
        results: weakref.WeakSet[Any]
        tasks: dict[str, Run]
        current: SimWorker | None
        ticking: SimConsumer | None
        refused_periodic: InvalidArgument | None
        collecting: dict[str, _Execution]

        def eta_ns(self, eta: dt.datetime, utc: bool) -> int: ...
        def hop(self) -> dt.timedelta: ...
        def sync(self) -> None: ...
        def record(self, kind: str, **data: Any) -> None: ...
        def _declare(self, hs: HueyState, cls: type, *, adopting: bool = False) -> jobsim.Function: ...
        def raise_escaped(self) -> None: ...

    # -- Huey's calls, while the simulation runs --------------------------------------------------------
    def enqueue(self, hs: HueyState, task: Any) -> Any:
        """``huey.enqueue(task)`` (``api.py:304-325``) after checking every task of it is registered on this Huey."""
        from huey.api import Huey, Task, chord, group

        if isinstance(task, group):
            for member in task.tasks:
                self._check_registered(hs, member)
        elif isinstance(task, chord):
            for member in [*task.tasks, task.callback]:
                self._check_registered(hs, member)
        elif isinstance(task, Task):
            try:
                self._check_registered(hs, task)
                self._declared(hs, [task])
            except InvalidArgument as refused:
                if self.ticking is not None:  # the consumer's scheduler logs this and goes on: _tick raises it
                    self.refused_periodic = refused
                raise
        else:
            raise InvalidArgument.build("task", task, "a huey Task (what task.s(...) returns), a group or a chord")
        if not isinstance(task, Task):
            self._declared(hs, task.tasks)
        self.sync()
        wallclock = self.sim.wallclock
        wallclock.activate()  # from the test too, signal receivers read the virtual clock (nested: free)
        wallclock.move(self.sim.now_ns())
        try:
            result = Huey.enqueue(hs.huey, task)
        finally:
            wallclock.deactivate()
        self._keep(result)
        if self.current is None and self.ticking is None:  # the test's call: a receiver's jobsim error stops it
            self.raise_escaped()
            self._note_due(hs, task.tasks if not isinstance(task, Task) else [task])
        return result

    def _note_due(self, hs: HueyState, tasks: Any) -> None:
        """The test's enqueue only queues, as ``sim.send`` does (``PendingWorkWarning`` if nothing drives it): the
        runs of the tasks it put in the queue, due now (one with an eta ahead is the test's business)."""
        now = self.sim.now_ns()
        for task in tasks:
            run = self.tasks.get(task.id)
            if run is not None and (task.eta is None or self.eta_ns(task.eta, hs.huey.utc) <= now):
                note_test_enqueue(self.sim, run)

    def _declared(self, hs: HueyState, tasks: Any) -> None:
        """Declare the functions of the tasks this enqueue puts in the queue, and of those their pipelines
        (``then``/``error``) enqueue later, before it does: a task the simulation refuses (``sim.add_function``:
        a jobsim function has its name) raises here, at the caller. Declared in the ``enqueued`` signal, Huey's
        ``Signal.send`` logged the refusal and enqueued the task anyway, and the consumer then failed on it
        (a pipeline's next task: after the first had run), out of the test's sight."""
        from huey.api import Task

        todo = list(tasks)
        while todo:
            task = todo.pop(0)
            if not isinstance(task, Task):
                continue
            if type(task) not in self.by_class:
                self._declare(hs, type(task))
            todo += [task.on_complete, task.on_error]

    def _keep(self, result: Any) -> None:
        """Remember the ``Result`` objects an enqueue returned (a ``ResultGroup``'s members too): see ``_Closed``."""
        from huey.api import Result, ResultGroup

        if isinstance(result, ResultGroup):
            for member in result:
                self._keep(member)
        elif isinstance(result, Result):
            self.results.add(result)

    def _check_registered(self, hs: HueyState, task: Any) -> None:
        from huey.api import Task, chord

        if isinstance(task, chord):
            for member in [*task.tasks, task.callback]:
                self._check_registered(hs, member)
            return
        while isinstance(task, Task):
            registry = hs.huey._registry
            key = registry.task_to_string(type(task))
            if key not in registry._registry:
                raise InvalidArgument(
                    f"task {type(task).__name__!r} ({key}) is not registered on Huey {hs.huey.name!r}: a consumer "
                    "of this Huey could not run it. Decorate it with @huey.task() on this Huey, or enqueue it on "
                    "the Huey it belongs to"
                )
            _check_options(f"task {type(task).__name__!r}", task.priority, task.retries)
            if task.on_error is not None:
                self._check_registered(hs, task.on_error)
            task = task.on_complete

    def _body(self, task: Any) -> Body:
        worker = self.current
        if worker is None:
            raise JobsimError(
                f"huey executed task {type(task).__name__!r} outside a simulated worker (huey.execute() called by "
                "hand?): while the simulation runs, its consumer executes the queue's tasks"
            )
        return Body(worker, task)

    def execute(self, hs: HueyState, task: Any, timestamp: Any = None) -> Any:
        """``huey.execute(task)`` (``api.py:413-430``) by a simulated worker; the signals Huey sends meanwhile
        say how the run goes on (``_decide``)."""
        from huey.api import Huey

        run = self.run_of(task, hs)
        worker = self.current
        if worker is not None:
            worker.running = run
        state = self.collecting[task.id] = _Execution(len(run.attempts))
        try:
            value = Huey.execute(hs.huey, task, timestamp)
        except JobsimError:
            raise
        except Exception as exc:
            # Huey's own code failed after the body: a result pickle cannot hold (put_result), a retry_delay
            # timedelta cannot take (_requeue_task). The consumer logs "Unhandled error during execution" and
            # drops the task (consumer.py:131-135): no result, no retry, no next pipeline task
            if not run.done:
                self._end(run, "failed", exc, why=f"huey's execute raised {type(exc).__name__}: the task is dropped")
            raise
        finally:
            self.collecting.pop(task.id, None)
        if run.status == "completed" and value is not None:
            run._payload = output_bytes(value)
        elif "retrying" in state.signals and not run.done:
            self._retried(hs, run, task, state.signals)
        return value

    def _decide(self, run: Run, task: Any, signal: str, state: _Execution) -> None:
        """The run ends at the signal that ends it -- before what Huey does next (a pipeline's next task, an
        ``on_error`` task), as on the real consumer. Whether an error is the last is known at its signal:
        Huey retries while ``task.retries`` is left (``final = not task.retries``, ``api.py:523``); a
        ``CancelExecution`` from a ``pre_execute`` hook (no attempt made) is never retried (``api.py:433-440``)."""
        if run.done:
            return
        last = run.attempts[-1].error if len(run.attempts) > state.attempts else None
        if signal == "complete":
            self._end(run, "completed", None)
        elif signal == "revoked":
            self._end(run, "cancelled", None, why="revoked")
        elif signal == "expired":
            self._end(run, "skipped", None, why="expired")
        elif signal == "interrupted":  # a process worker's KeyboardInterrupt at a consumer stop: the task is lost
            self._end(run, "lost", last, why="interrupted: the consumer was stopped at once while it ran")
        elif signal == "canceled" and (not task.retries or len(run.attempts) == state.attempts):
            self._end(run, "cancelled", last, why="CancelExecution")
        elif signal in _ERRORS and not task.retries:
            self._end(run, "failed", last)

    def _retried(self, hs: HueyState, run: Run, task: Any, signals: list[str]) -> None:
        """A ``retry`` record: due now (re-enqueued at once) or at the eta Huey put it on the schedule with
        (without the microsecond ``hop``, which only orders it after the tick)."""
        now = self.sim.now_ns()
        try:
            _retry_forcing_budget(run, now, task)
            attempt_budget(run, now, "jobsim_huey.MAX_ATTEMPTS_PER_RUN", jobsim_huey.MAX_ATTEMPTS_PER_RUN,
                           noun="task", forever="a huge retries", bound="fewer retries")
        except BudgetExceeded as exc:
            if self.current is None:
                raise
            self.current.escaped = exc  # Huey's worker would log and swallow it: it leaves once loop() returns
            return
        run.status = "retrying"
        scheduled = "scheduled" in signals[signals.index("retrying"):]
        at = now
        if scheduled and task.eta is not None:
            at = max(now, self.eta_ns(task.eta, hs.huey.utc) - HOP // dt.timedelta(microseconds=1) * 1_000)
        self.sim.trace.add(now, "retry", {"function": run.function.id, "run": run.id, "step": None,
                                          "attempt": len(run.attempts), "at": at, "delay": at - now,
                                          "retries": task.retries})  # fmt: skip

    def _end(self, run: Run, status: str, error: BaseException | None, *, why: str = "") -> None:
        end_run(self.sim, run, status, self.sim.now_ns(), error, **({"why": why} if why else {}))

    # -- runs ------------------------------------------------------------------------------------------
    def run_of(self, task: Any, hs: HueyState | None = None) -> Run:
        run = self.tasks.get(task.id)
        if run is None:
            run = self._new_run(hs or self._state_of(task), task)
        return run

    def _state_of(self, task: Any) -> HueyState:
        for hs in self.hueys:
            if type(task) in hs.huey._registry._registry.values():
                return hs
        return self.hueys[0]

    def _new_run(self, hs: HueyState, task: Any) -> Run:
        from huey.api import PeriodicTask

        cls = type(task)
        fn = self.by_class.get(cls) or self._declare(hs, cls)
        now = self.sim.now_ns()
        data = {"task": cls.__name__, "id": task.id, "args": repr(task.args), "kwargs": repr(task.kwargs)}
        run = Run(fn, task.id, [Event("huey/task", data, id=task.id, ts=now // MS)], now)
        worker = self.current
        cause = worker.running if worker is not None else None
        if cause is not None:
            self.sim.engine.descend(run, cause=cause)
        runs = self.sim.engine.runs[fn.id]
        runs.append(run)
        self.tasks[task.id] = run
        if cause is not None:
            origin = f"{cause.function.id}#{self.sim.runs(cause.function).index(cause) + 1}"
        elif isinstance(task, PeriodicTask) and self.ticking is not None:
            origin = f"the periodic check of {self.ticking.name}"
        else:
            origin = "enqueue"
        self.sim.trace.add(now, "run.start", {"function": fn.id, "run": run.id, "n": len(runs), "event": origin})
        return run

    def _observe(self, hs: HueyState, signal: str, task: Any, args: tuple[Any, ...]) -> None:
        """A receiver of every Huey signal (``Signal.send``, ``signals.py:44-53``): the trace learns what Huey did."""
        from huey.api import Task

        if not isinstance(task, Task):
            return
        run = self.tasks.get(task.id)
        if run is None:
            if signal != "enqueued":
                return
            run = self._new_run(hs, task)
        state = self.collecting.get(task.id)
        if state is not None:
            state.signals.append(signal)
        data: dict[str, Any] = {"function": run.function.id, "run": run.id, "signal": signal}
        if signal == "enqueued":
            if task.priority is not None:
                data["priority"] = task.priority
            if task.eta is not None and self.ticking is not None:  # the scheduler moves it to the queue
                data["eta"] = self.eta_ns(task.eta, hs.huey.utc)
                data["from"] = "schedule"
            if task.expires_resolved is not None:
                data["expires"] = self.eta_ns(task.expires_resolved, hs.huey.utc)
        elif signal == "scheduled" and task.eta is not None:
            data["eta"] = self.eta_ns(task.eta, hs.huey.utc)
        elif signal == "error" and args:
            data["error"] = f"{type(args[0]).__name__}: {args[0]}"
        if self.current is not None:
            data["worker"] = self.current.name
        self.record("huey.signal", **data)
        if state is not None:
            self._decide(run, task, signal, state)


def _forces_retry(error: BaseException | None) -> str | None:
    """How ``error`` makes Huey retry whatever the task's retries (``api.py:463-492``): ``RetryTask`` adds 1 to
    them, ``CancelExecution(retry=True)`` keeps them at 1 or more, a rate limit's ``retry=True`` adds 1."""
    from huey.exceptions import CancelExecution, RateLimitExceeded, RetryTask

    if isinstance(error, RetryTask):
        return "RetryTask"
    if isinstance(error, CancelExecution) and error.retry:
        return "CancelExecution(retry=True)"
    if isinstance(error, RateLimitExceeded) and error.retry:
        return "RateLimitExceeded(retry=True) (a rate limit with retry=True)"
    return None


def _retry_forcing_budget(run: Run, now: int, task: Any) -> None:
    """The attempt budget of a run whose body's own exception keeps it retrying (``RetryTask`` adds 1 to
    ``task.retries`` each time, so it never runs out): that is the cause to name, as fewer retries cannot fix it."""
    limit = jobsim_huey.MAX_ATTEMPTS_PER_RUN
    made = len(run.attempts)
    cause = _forces_retry(run.attempts[-1].error) if made >= limit else None
    if cause is None:
        return
    forced = sum(_forces_retry(attempt.error) is not None for attempt in run.attempts)
    raise BudgetExceeded(
        f"task {run.function.id!r} (id {run.id}) asked to retry after {made:,} attempts, the last at {iso(now)}; "
        f"{forced:,} of them ended in {cause}, which retries a task whatever its retries= (RetryTask adds 1 to "
        "task.retries, CancelExecution(retry=True) keeps it at 1 or more), so it never runs out and the "
        "simulation never goes idle. Raise it only while a retry is still worth it (count the tries yourself, or "
        "raise an ordinary exception, which uses up retries=), or raise jobsim_huey.MAX_ATTEMPTS_PER_RUN "
        f"(now {limit:,}) if that many retries are the point."
    )


def _check_options(what: str, priority: Any, retries: Any) -> None:
    """A task's ``priority`` and ``retries`` as Huey could enqueue and retry it."""
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, (int, float))):
        # Huey sends it to the storage unchecked: MemoryStorage fails on -priority, Redis on the ZADD score
        raise InvalidArgument.build(f"priority of {what}", priority, "a number (higher runs first), or None")
    if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or retries < 0):
        # None: Task.__init__ keeps it (``retries if retries is not None else default_retries``), and Huey's
        # ``final = not task.retries`` never retries it: no retry, as 0
        # Huey retries while task.retries is truthy, subtracting 1 each time: -1 (or 2.5) never reaches 0
        raise InvalidArgument.build(f"retries of {what}", retries,
                                    "a whole number >= 0 (Huey retries a task while its retries is not 0, "
                                    "counting down by 1, so a negative or fractional one retries forever)")


_OPTIONS = ("retries", "retry_delay", "retry_backoff", "priority", "context", "name", "expires", "timeout")
"""The task options ``Huey.task``/``periodic_task`` take by name (``api.py:171-212``)."""
_SYNONYMS = {"retry": "retries", "max_retries": "retries", "max_tries": "retries", "backoff": "retry_backoff",
             "expire": "expires", "expiry": "expires", "time_limit": "timeout"}  # fmt: skip
_CLASS_OWN = frozenset({"context", "execute", "validate_datetime"})  # what create_task itself sets


def check_spelling(cls: type) -> None:
    """Huey keeps a keyword ``@huey.task(...)`` does not know as an attribute of the task class
    (``TaskWrapper.create_task``: ``attrs.update(settings)``), read by nobody: ``retry_dealy=30`` runs the task
    as if it were not given, in production too. A keyword one typo (or a known other name) from one of Huey's
    options is refused, naming it; any other is the app's own setting."""
    for key, value in vars(cls).items():
        if key.startswith("_") or key.startswith("default_") or key in _CLASS_OWN or key in _OPTIONS:
            continue
        meant = near_miss(key, _OPTIONS, _SYNONYMS)
        if meant is not None:
            raise InvalidArgument(
                f"Huey task {cls.__name__!r} got the option {key}={value!r} (did you mean {meant}=?): Huey keeps a "
                "keyword it does not know as an attribute of the task class, read by nobody, so the task would run "
                f"as if it were not given, in production too. Huey's task options: {', '.join(_OPTIONS)}; a setting "
                "of your own needs a name not spelt like one of them"
            )
