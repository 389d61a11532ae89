"""Sleeps, waits and invokes (``jobsim._engine``'s second layer): the outcomes of a request that pauses its run
(``sleep``, ``wait``, ``invoke``, ``parallel``) and what resumes it (the timer, the awaited event or its timeout,
the invoked run's end), with the ``_inngest`` metadata of an invoke's event."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from ._engineends import INVOKED_EVENT, _Ends
from ._events import Event
from ._kernel import NORMAL
from ._listeners import Listener
from ._stepdata import as_requested, dump
from ._time import MS, to_datetime

if TYPE_CHECKING:
    from ._app import Function
    from ._engine import Engine
    from ._execution import Execution
    from ._records import Run, StepRecord


class Waiter(Listener):
    """A run waiting for an event (``step.wait_for_event``), filed in ``Engine.waiters`` (``_listeners``)."""

    __slots__ = ("key", "timer")

    def __init__(self, run: Run, key: str, checks: list[Callable[[Event, Event], bool]]) -> None:
        super().__init__(run, checks)
        self.key = key
        self.timer: Any = None


def correlation_id(run: Run, key: str) -> str:
    """Inngest's id for the invoke step ``key`` of ``run`` (``handleGeneratorInvokeFunction``): the run's id, a dot,
    the step's id as the SDKs send it (the SHA-1 of the id the code gave, ``:n`` on a repeat, in hex)."""
    return f"{run.id}.{hashlib.sha1(key.encode()).hexdigest()}"


def _stand_in_uuid(*parts: str) -> str:
    """A UUID where Inngest has one of its own database ids (an app's, a function's): fixed for the names."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "jobsim:" + "/".join(parts)))


def _one_year_later(ns: int) -> int:
    """Go's ``t.AddDate(1, 0, 0)``: the same date and time a year on (29 February becomes 1 March)."""
    moment = to_datetime(ns)
    try:
        later = moment.replace(year=moment.year + 1)
    except ValueError:
        later = moment.replace(year=moment.year + 1, month=3, day=1)
    return ns + (later - moment) // dt.timedelta(microseconds=1) * 1000


class _Pauses(_Ends):
    """The outcomes that pause a run, and what resumes it."""

    def _sleep(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        _, key, wake = op
        record = self._step(run, key, "sleep", x.now)
        self._attempt(run, x, key, None, None, record)
        if record.status == "sleeping":  # met again by an overlapping race-mode request: one timer (_parallel.py)
            run.status = "sleeping"
            return
        record.status = run.status = "sleeping"
        self._log.append((x.now, "sleep", run.function.id, run.id, key, wake))
        run._wake = self.kernel.put(wake, self._wake_cb, (run, record), run.function.id, NORMAL, False)

    def _wake(self, run: Run, record: StepRecord) -> None:
        record.status, record.end_ns = "completed", self.kernel.now
        run._wake = None  # the spent timer, its bound method and arguments are not kept for the run's life
        if self.groups and run in self.groups:
            self._parallel_rt.settled(run, self.kernel.now)
            return
        self._request(run, 0)

    def _wait(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        _, key, name, checks, deadline = op
        record = self._step(run, key, "wait_for_event", x.now)
        self._attempt(run, x, key, None, None, record)
        if record.status == "waiting":  # as in _sleep: one pause
            run.status = "waiting"
            return
        record.status = run.status = "waiting"
        waiter = Waiter(run, key, checks)
        self.waiters[name].append(waiter)
        waiter.timer = self.kernel.schedule(deadline, self._wait_timeout, waiter, name, owner=run.function.id)
        run._wake = waiter
        self.record(x.now, "wait", {"function": run.function.id, "run": run.id, "step": key,
                                    "event": name, "until": deadline})  # fmt: skip

    def _resolve_wait(self, waiter: Waiter, event: Event | None, name: str | None = None) -> None:
        run = waiter.run
        self.waiters[name or event.name].remove(waiter)  # type: ignore[union-attr]
        if event is not None:
            self.kernel.cancel(waiter.timer)
        record = run.steps[waiter.key]
        record.status, record.end_ns = "completed", self.now()
        payload = dump(None if event is None else event.to_dict(), "wait_for_event")
        record._payload = as_requested(payload) if self.jcs else payload
        run._wake = None
        self.record(self.now(), "wait.end", {"function": run.function.id, "run": run.id, "step": waiter.key,
                                            "event": None if event is None else event.id})  # fmt: skip
        if event is not None and run.function.flow is not None:
            self.flowrt.resumed(run, self.now())  # its next request is enqueued now, not at the timeout
        self._next(run, self.now())

    def _wait_timeout(self, waiter: Waiter, name: str) -> None:
        self._resolve_wait(waiter, None, name)

    def _invoke(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        _, key, target, data, deadline, v, name = op
        record = self._step(run, key, "invoke", x.now)
        self._attempt(run, x, key, None, None, record)
        if record.status == "invoking":  # as in _sleep: one child run
            run.status = "invoking"
            return
        record.status = run.status = "invoking"
        self.x = x  # the child starts at the parent's execution time
        try:
            if self.lifecycle:
                data = {**data, "_inngest": self._invoke_metadata(run, key, name, target, x.now, deadline)}
            event = Event(INVOKED_EVENT, data, ts=x.now // MS, v=v)
            child = self.start_run(target, [event], parent=(run, key))
        finally:
            self.x = None
        self.record(x.now, "invoke", {"function": run.function.id, "run": run.id, "step": key,
                                      "target": target.id, "child": child.id})  # fmt: skip
        if deadline is None and child.status == "skipped" and child.parent is not None:
            deadline = _one_year_later(x.now)  # a singleton skipped it: nothing but the pause's expiry ends the wait
        if deadline is not None:
            self.kernel.schedule(deadline, self._invoke_timeout, child, owner=run.function.id)

    def _invoke_metadata(
        self, run: Run, key: str, name: str, target: Function, now: int, deadline: int | None
    ) -> dict[str, Any]:
        """The ``_inngest`` object Inngest's ``NewInvocationEvent`` puts in the invoke event's data
        (``event.InngestMetadata``). Its database ids (the calling app's and function's, the
        request group's) are stand-in UUIDs fixed by the names; the OpenTelemetry carrier
        ``tc`` is left out: jobsim has no trace context to carry."""
        fn = run.function
        return {
            "source_app_id": _stand_in_uuid("app", fn.app.id),
            "source_fn_id": _stand_in_uuid("function", fn.id),
            "source_fn_v": 1,
            "fn_id": target.id,
            "correlation_id": correlation_id(run, key),
            "expire": (deadline if deadline is not None else _one_year_later(now)) // MS,
            "gid": _stand_in_uuid("group", run.id, key),
            "name": name,  # the step's id as the code gave it (the SDK's displayName)
        }

    def _invoke_timeout(self, child: Run) -> None:
        if child.parent is not None and (not child.done or child.status == "skipped"):  # skipped: a singleton's
            parent, key = child.parent
            child.parent = None
            self.record(self.now(), "invoke.timeout", {"function": parent.function.id, "run": parent.id, "step": key,
                                                       "target": child.function.id, "child": child.id})  # fmt: skip
            self._settle_invoke(parent, key, None, TimeoutError(f"invoked function {child.function.id!r} timed out"))

    def _settle_invoke(
        self, run: Run, key: str, payload: bytes | None, error: BaseException | None, at: int | None = None
    ) -> None:
        """The invoked run ended ``at`` (its own clock: its code may have spent time): the caller resumes then."""
        record = run.steps[key]
        record.end_ns = at = self.now() if at is None else at
        if error is None:
            record.status, record._payload = "completed", as_requested(payload) if self.jcs else payload
        else:
            record.status, record.error = "failed", error
        if run.function.flow is not None:
            self.flowrt.resumed(run, at)
        self._next(run, at)

    def _parallel(self, run: Run, x: Execution, op: tuple[Any, ...]) -> None:
        if self._parallel_rt is None:
            from ._parallel import ParallelRuntime

            self._parallel_rt = ParallelRuntime(cast("Engine", self))  # this layer's methods are Engine's
        self._parallel_rt.plan(run, x, op[1], op[2])

