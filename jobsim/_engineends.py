"""The end of a run (``jobsim._engine``'s lowest layer): ``finish``, what a run that ends announces (Inngest's
``inngest/function.finished``, ``.cancelled`` and ``.failed`` events, and the ``on_failure`` handler's run), and the
faults ``sim.fail`` queues for a request or a step (``add_fault``, ``take_fault``).

``_enginepauses._Pauses`` (sleeps, waits, invokes), ``_enginerequests._Requests`` (one request and its outcomes)
and ``jobsim._engine.Engine`` (which builds it all in ``__init__``, and starts runs) are the layers above.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._checks import fresh_error
from ._events import Event
from ._lifecycle import failure_fields
from ._safe import said, shown
from ._stepdata import load
from ._time import MS
from .errors import InjectedFault

if TYPE_CHECKING:
    from random import Random

    from ._app import Function
    from ._calls import JobCalls
    from ._enginepauses import Waiter
    from ._execution import Execution
    from ._flowrt import FlowRuntime
    from ._flowstate import Canceller
    from ._kernel import Kernel
    from ._listeners import Listeners
    from ._profiles import Profile
    from ._records import Run, StepRecord
    from ._retries import RetryPolicy
    from ._runtime import SystemRuntime
    from ._simulation import Simulation
    from ._steps import Step
    from ._wallclock import WallClock

FAILED_EVENT = "inngest/function.failed"
FINISHED_EVENT = "inngest/function.finished"
CANCELLED_EVENT = "inngest/function.cancelled"
INVOKED_EVENT = "inngest/function.invoked"
_STATUS = {"completed": "Completed", "failed": "Failed", "cancelled": "Cancelled"}  # enums.StepStatus's JSON
_LIFECYCLE = (FAILED_EVENT, FINISHED_EVENT)  # runs they start announce nothing (finalize.go: no recursion)


def event_map(event: Event) -> dict[str, Any]:
    """``event.Event.Map()``: the event as the server hands it on in lifecycle events (``user`` always there)."""
    out: dict[str, Any] = {"name": event.name, "data": dict(event.data), "user": dict(event.user or {}),
                           "id": event.id or "", "ts": event.ts or 0}  # fmt: skip
    if event.v:
        out["v"] = event.v
    return out


class _Ends:
    """How a run ends and what it announces; the faults of ``sim.fail``."""

    if TYPE_CHECKING:  # set by Engine.__init__, named for the methods of every layer (for mypy only)
        sim: Simulation
        kernel: Kernel
        profile: Profile
        jcs: bool
        request_cap: int
        output_gate: int
        lifecycle: bool
        record: Callable[..., None]
        _log: list[tuple[Any, ...]]
        x: Execution | None
        wallclock: WallClock
        flowrt: FlowRuntime
        cancellers: dict[str, Listeners[Canceller]]
        waiters: dict[str, Listeners[Waiter]]
        faults: dict[tuple[str, str | None], list[list[Any]]]
        groups: dict[Run, Any]
        raced: set[Run]
        race_winners: dict[Run, dict[int, int]]
        _parallel_rt: Any
        _policies: dict[str, RetryPolicy]
        _streams: dict[str, Random]
        rng_for: Callable[[str], Random]
        system: SystemRuntime | None
        _step_types: tuple[type[Step], type[Step]]
        calls: JobCalls
        _request_cb: Callable[..., None]
        _wake_cb: Callable[..., None]
        _outcomes: dict[str, Callable[[Run, Execution, tuple[Any, ...]], None]]

        # methods of the layers above that the methods of this one call
        def now(self) -> int: ...
        def start_run(self, fn: Function, events: list[Event], parent: tuple[Run, str] | None = None) -> Run: ...
        def subscribers(self, name: str) -> Sequence[Function]: ...
        def policy(self, fn: Function) -> RetryPolicy: ...
        def _settle_invoke(self, run: Run, key: str, payload: bytes | None, error: BaseException | None,
                           at: int | None = None) -> None: ...  # fmt: skip
        def _request(self, run: Run, attempt: int, plan: Any = None) -> None: ...
        def _attempt(self, run: Run, x: Execution, step: str | None, error: BaseException | None,
                     start: int | None = None, record: StepRecord | None = None) -> None: ...  # fmt: skip
        def _step(self, run: Run, key: str, kind: str, start: int) -> StepRecord: ...
        def _next(self, run: Run, at: int) -> None: ...

    # -- the end of a run --------------------------------------------------------------
    def finish(self, run: Run, status: str, at: int, error: BaseException | None) -> None:
        run.status, run.end_ns, run.error = status, at, error
        fn = run.function
        if error is not None:
            self._log.append((at, "run.end", fn.id, run.id, status, "error", said(error)))  # its __str__ may raise
        elif run._payload is not None:  # JSON bytes; decoded only if the trace is saved
            self._log.append((at, "run.end", fn.id, run.id, status, "output", run._payload))
        else:
            self._log.append((at, "run.end", fn.id, run.id, status))
        if self.system is not None and self.system.hears_ends:
            self.system.finished(run, at)
        if fn.flow is not None:
            self.flowrt.finished(run)
        if self.groups and run in self.groups:
            self._parallel_rt.drop(run)
        if self.raced:
            self.raced.discard(run)
        if self.race_winners:
            self.race_winners.pop(run, None)
        if run.parent is not None:
            parent, key = run.parent
            run.parent = None
            self._settle_invoke(parent, key, run._payload, error, at)  # the handler gets StepError(key, error)
        if status == "failed":
            if at > self.now():  # the run's code spent time before failing: announce it when it failed
                self.kernel.schedule(at, self._announce_failure, run, error, owner=fn.id)
            else:
                self._announce_failure(run, error)
        elif self.lifecycle and status in _STATUS:
            if at > self.now():
                self.kernel.schedule(at, self._announce_end, run, status, None, owner=fn.id)
            else:
                self._announce_end(run, status, None)
        elif at > self.now():  # its code spent time (``time.sleep``): the clock is to reach its end, as above
            self.kernel.schedule(at, _ended, owner=fn.id)

    def _announce_end(self, run: Run, status: str, error: BaseException | None) -> dict[str, Any] | None:
        """Inngest's ``finalizeEvents`` (``executor/finalize.go``): a run that ends emits
        ``inngest/function.finished`` (and ``inngest/function.cancelled`` when cancelled), with the
        data ``_finished_data`` builds; returned for ``inngest/function.failed``, which carries the same.

        They are published here only when a function of the simulation is triggered by them, or a
        run waits for them or is cancelled by them: one event per run would crowd ``sim.events`` and
        timelines that nothing reads."""
        finished = self._heard(FINISHED_EVENT)
        cancelled = status == "cancelled" and self._heard(CANCELLED_EVENT)
        if not (finished or cancelled or status == "failed"):  # built for nothing: ~3 µs a run
            return None
        data = self._finished_data(run, status, error)
        if data is None:
            return None
        if finished:
            self.sim._emit(Event(FINISHED_EVENT, dict(data)), _origin="system")
        if cancelled:
            self.sim._emit(Event(CANCELLED_EVENT, dict(data), id=run.id), _origin="system")
        return data

    def _heard(self, name: str) -> bool:
        """Whether an event named ``name`` would start a run, resolve a wait or cancel a run."""
        return bool(self.subscribers(name) or self.waiters.get(name) or self.cancellers.get(name))

    def _finished_data(self, run: Run, status: str, error: BaseException | None) -> dict[str, Any] | None:
        """``functionFinishedData`` as ``finalizeEvents`` sends it: ``function_id``, ``run_id``, ``event``
        (the run's first event, as ``Event.Map()`` writes it), ``events`` (all its events), ``error``
        (a failure) or ``result`` (the output), ``correlation_id`` (an invoked run's) and
        ``_inngest.status``; ``None`` for a run started by ``function.failed``/``function.finished``,
        which announces nothing ("Don't recursively trigger internal finish handlers")."""
        first = run.event
        if first.name in _LIFECYCLE:
            return None
        data: dict[str, Any] = {
            "function_id": run.function.id,
            "run_id": run.id,
            "event": event_map(first),
            "events": [event.to_dict() for event in run.events],
        }
        if error is not None:  # the server's reading of the SDK's error answer, and that answer
            data["error"], data["result"] = failure_fields(run, error)
        elif status == "completed":
            data["result"] = load(run._payload)
        meta = first.data.get("_inngest") if first.name == INVOKED_EVENT else None
        if isinstance(meta, dict) and isinstance(meta.get("correlation_id"), str):
            data["correlation_id"] = meta["correlation_id"]
        data["_inngest"] = {"status": _STATUS[status]}
        return data

    def _announce_failure(self, run: Run, error: BaseException | None) -> None:
        """Inngest emits ``inngest/function.failed``; ``on_failure`` handlers run from it.

        A system whose failure hook is a callback (``profile.failure_hook``) publishes nothing
        and hands the handler its own event; one whose listener hears every failed attempt
        (``profile.attempt_failure_hook``) was already told, by the runtime."""
        fn = run.function
        if self.profile.attempt_failure_hook is not None:  # the runtime's listener heard the attempt fail
            return
        if "on_failure" in self.profile.lacks:  # Quirrel, Vercel Cron: nothing hears of it, no event anywhere
            return
        hook = self.profile.failure_hook
        if hook is not None:
            event = None if fn.on_failure is None else hook(run, error, self.now())
            if event is not None:
                self.start_run(self.sim._failure_handler(fn), [event])
            return
        data = self._announce_end(run, "failed", error)
        if data is None:  # the run of an on_failure handler, or of a function triggered by these events
            return
        # its id is the run's ("prevents duped runs for parallel steps"), after function.finished
        self.sim._emit(Event(FAILED_EVENT, dict(data), id=run.id), _origin="system")
        if fn.on_failure is not None:
            event = Event(FAILED_EVENT, dict(data), id=run.id, ts=self.now() // MS)
            self.start_run(self.sim._failure_handler(fn), [event])

    # -- fault injection ------------------------------------------------------------------
    def add_fault(self, function_id: str, step: str | None, times: int, error: Any) -> None:
        self.faults.setdefault((function_id, step), []).append([times, error])

    def take_fault(self, function_id: str, step: str | None) -> BaseException | None:
        if step is None and self.system is not None and function_id not in self.sim._own_worker:
            # a crash or a downtime may stop this request (a plugin's own worker handles its own)
            self.system.before_request()
        if not self.faults:
            return None
        queue = self.faults.get((function_id, step))
        if not queue:
            return None
        entry = queue[0]
        entry[0] -= 1
        if entry[0] == 0:
            queue.pop(0)
        error = entry[1]
        where = f"step {step!r} of {function_id!r}" if step else f"function {function_id!r}"
        if error is None:
            error = InjectedFault(f"injected by sim.fail() into {where}")
        elif isinstance(error, type):
            error = error(f"injected by sim.fail() into {where}")
        else:
            error = fresh_error(error)
        self.record(self.now(), "fault", {"function": function_id, "step": step, "error": shown(error)})
        return error  # type: ignore[no-any-return]


def _ended() -> None:
    """The instant a run whose code spent virtual time ended, on a profile that announces nothing then: due work,
    so ``run_until_idle`` reaches it (and its budget names a sleep past the horizon) as on the profiles that do."""
