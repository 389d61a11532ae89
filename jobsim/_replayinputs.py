"""A replay's inputs, fed again: ``Script`` walks the recording in order and does again what came from
outside the jobs (input events, delayed sends included, the test's advances, the faults it armed), then
keeps simulating until idle or ``until``; ``rebuild_error`` makes a recorded ``sim.fail``'s error again;
``has_outcomes`` tells a recorded simulation from events imported from elsewhere."""

from __future__ import annotations

import builtins
import re
import sys
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from ._checks import HookFailed
from ._cloudevents import SYNTHESIZED_ID as SYNTHESIZED_ID  # re-exported: `jobsim import` marks made-up ids with it
from ._codec import canonical
from ._events import Event
from ._time import duration_ns, iso, to_datetime
from ._trace import Trace
from ._tracefile import end_of
from .errors import InjectedFault, InvalidArgument, JobsimError

if TYPE_CHECKING:
    from ._simulation import Simulation

Deliver = Callable[["Simulation", Event], Any]
IDLE_HORIZON = "30d"
"""How long an imported trace (events only) keeps running after its last event, at most."""


def has_outcomes(trace: Trace) -> bool:
    """A recorded simulation has outcomes to compare, even when nothing ran in it (today's code
    starting runs is then a difference); events imported from elsewhere have none."""
    source = (trace.header or {}).get("source")
    return not (isinstance(source, dict) and "import" in source)


def _delayed_inputs(recorded: Trace) -> dict[int | None, list[tuple[int, dict[str, Any]]]]:
    """A test's delayed sends (``jobsim._delay``) by the advance record they came before: (arrival, record).

    A delayed event's record is written when it arrives, inside the advance that reached
    it, so it is sent again before the advance the test called next: the last advance
    record before its arrival that began at ``sent`` (the clock stands still between
    advances). Records with no such advance (``None``) are sent after the last one.
    """
    delayed: dict[int | None, list[tuple[int, dict[str, Any]]]] = {}
    advances: list[tuple[int, int]] = []  # (row, at) of each advance record so far
    for n, (at, kind, data) in enumerate(recorded._rows):
        if kind == "advance":
            advances.append((n, at))
        elif kind in ("event", "event.dropped") and isinstance(data.get("sent"), int) and \
                data.get("origin", "input") == "input":  # fmt: skip
            sent = data["sent"]
            before = next((row for row, began in reversed(advances) if began == sent), None)
            delayed.setdefault(before, []).append((at, data))
    return delayed


def _recorded_event(data: dict[str, Any], renamed: dict[tuple[Any, str], str] | None = None) -> Event:
    """The input event a record holds, as the test (or the traffic) sent it (its id as ``renamed`` says, if there)."""
    synthesized = (data.get("attributes") or {}).get(SYNTHESIZED_ID)  # the bus makes one, as it did
    ident = data.get("id")
    if renamed:
        ident = renamed.get((data.get("source"), ident), ident) if type(ident) is str else ident
    return Event(data["name"], data.get("data") or {}, id=None if synthesized else ident,
                 user=data.get("user"), ts=data.get("ts"), v=data.get("v"))  # fmt: skip


def ids_by_source(recorded: Trace, notes: list[str]) -> dict[tuple[Any, str], str]:
    """The id to replay an input event with, by ``(source, id)``, for an id that input events of more than one
    source carry: a CloudEvent is the same event as another only when both ``source`` and ``id`` match (CloudEvents
    1.0), but the bus, as Inngest, keeps one event per id, so the events of each source after the first to use it
    are sent as ``'ID@SOURCE'`` (an Inngest event has no source: its own id stays). Said in ``notes``."""
    first: dict[str, Any] = {}  # id -> the source that used it first
    renamed: dict[tuple[Any, str], str] = {}
    for _, kind, data in recorded._rows:
        if kind in ("event", "event.dropped") and data.get("origin", "input") == "input":
            ident, source = data.get("id"), data.get("source")
            if type(ident) is str and first.setdefault(ident, source) != source:
                renamed.setdefault((source, ident), f"{ident}@{source}")
    if renamed:
        (source, ident), new = next(iter(renamed.items()))
        notes.append(f"{len(renamed)} input event id(s) come from more than one source (the first: {ident!r} from "
                     f"{first[ident]!r} and {source!r}): CloudEvents from different sources are different events, "
                     f"but the bus keeps one event per id, so the later source's are replayed with ids such as "
                     f"{new!r}")  # fmt: skip
    return renamed


def send_input(sim: Simulation, event: Event) -> None:
    """How an input event enters by default: ``sim.send(event)``."""
    sim.send(event)


def _armed_key(at: int, data: dict[str, Any]) -> str:
    """A ``fault.armed`` record's instant and fields, but the ``run`` that armed it, as one comparable string."""
    fields = {key: value for key, value in data.items() if key != "run"}
    return f"{at} {orjson.dumps(fields, option=orjson.OPT_SORT_KEYS, default=str).decode()}"


class Script:
    """Walks the recording in order and does again what came from outside the jobs."""

    def __init__(self, sim: Simulation, recorded: Trace, deliver: Deliver, faults: bool, notes: list[str]) -> None:
        self.sim = sim
        self.recorded = recorded
        self.deliver = deliver
        self.faults = faults
        self.notes = notes
        self.inputs = 0
        self.late: list[str] = []
        self.delayed = _delayed_inputs(recorded)
        self.renamed = ids_by_source(recorded, notes)
        # faults job code armed: the recording's (they name their run) and the replay's, read as it records them
        self.recorded_by_jobs = Counter(_armed_key(at, data) for at, kind, data in recorded._rows
                                        if kind == "fault.armed" and data.get("run") is not None)  # fmt: skip
        self.replayed_by_jobs: Counter[str] = Counter()
        self._read = 0  # how many of the replay's own records were looked at for them
        self._refused: InvalidArgument | None = None  # a jobsim call the caller's deliver made, refused
        self.beyond: int | None = None  # the replay's last record before ``until`` took it past the recording's end

    def run(self, extra_ns: int | None) -> str | None:
        driven = any(kind == "advance" for _, kind, _ in self.recorded._rows)
        try:
            for n, (at, kind, data) in enumerate(self.recorded._rows):
                if kind == "advance" and driven:
                    self._send_delayed(n)
                    self._advance(data)
                elif kind in ("event", "event.dropped") and data.get("origin", "input") == "input":
                    if not isinstance(data.get("sent"), int):
                        self._input(at, data)
                elif (kind == "fault.armed" and self.faults and data.get("run") is None  # else job code armed it
                      and not self._armed_again_by_jobs(at, data)):  # fmt: skip
                    self._arm(data)
            self._send_delayed(None)
            self._finish(driven, extra_ns)
        except HookFailed:  # the caller's deliver hook, not the replayed code: bad input, as a setup that raises
            raise
        except JobsimError as error:  # a budget, a run-away: the replay of this code never ends
            if error is self._refused:  # the caller's bug, raised to them as their deliver's other errors are
                raise
            return f"{type(error).__name__}: {error}"
        finally:
            if self.late:
                self.notes.append(f"{len(self.late)} input event(s) were delivered after their recorded time "
                                  f"(the replay's clock had passed it), first: {self.late[0]}")  # fmt: skip
        return None

    def _drive(self, until: int, idle: bool = False) -> None:
        if until >= self.sim.kernel.now:
            self.sim._drive(until, max_items=_MAX_ITEMS, what="replay", stop_when_idle=idle)

    def _advance(self, data: dict[str, Any]) -> None:
        until = data.get("until")
        if isinstance(until, int):
            self._drive(until, bool(data.get("idle")))

    def _input(self, at: int, data: dict[str, Any]) -> None:
        sim = self.sim
        if sim.kernel.now < at:
            self._drive(at)
        elif sim.kernel.now > at:
            self.late.append(f"{data.get('name')} recorded at {iso(at)}, delivered at {iso(sim.kernel.now)}")
        self.inputs += 1
        self._deliver(_recorded_event(data, self.renamed))

    def _deliver(self, event: Event) -> None:
        """``deliver(sim, event)``; a jobsim call of a caller's deliver that is refused (``sim.send(event,
        delay='-5s')``, InvalidArgument) is their bug, not the replayed code stopping (it was ``STOPPED``)."""
        try:
            self.deliver(self.sim, event)
        except InvalidArgument as error:
            if self.deliver is not send_input:  # the recorded event itself refused by today's code: a stop
                self._refused = error
            raise

    def _send_delayed(self, before: int | None) -> None:
        """Send again the delayed events the test sent before the advance record ``before`` (``None``:
        the ones left): with the same delay through ``sim.send``, or, with a ``deliver`` of the
        caller's or a profile without delays, by ``deliver`` at the instant each arrived."""
        sim = self.sim
        if before is not None:
            sends = self.delayed.pop(before, [])
        else:
            sends = [item for items in self.delayed.values() for item in items]
            self.delayed.clear()
        for at, data in sends:
            self.inputs += 1
            event, now = _recorded_event(data, self.renamed), sim.kernel.now
            if at < now:
                self.late.append(f"{data.get('name')} recorded at {iso(at)}, delivered at {iso(now)}")
            if self.deliver is send_input and "send.delay" not in sim.profile.lacks:
                sim.send(event, delay=f"{max(at - now, 0)}ns")  # exact: the recorded delay to the nanosecond
            else:
                sim.kernel.schedule(max(at, now), self._deliver, event, owner="replay (a delayed input)")

    def _armed_again_by_jobs(self, at: int, data: dict[str, Any]) -> bool:
        """Whether the replay's job code already armed this fault, which a trace saved before job code's
        ``fault.armed`` named its ``run`` records as if the test had: the same fault at the same instant,
        more often than the recording says job code did. It has, if at all, by now: job code runs
        while the test drives the clock, and ``advance`` is recorded before the drive it starts."""
        rows = self.sim.trace._rows
        for at_, kind, row in rows[self._read:]:
            if kind == "fault.armed" and row.get("run") is not None:
                self.replayed_by_jobs[_armed_key(at_, canonical(kind, row))] += 1
        self._read = len(rows)
        key = _armed_key(at, data)
        if self.replayed_by_jobs[key] > self.recorded_by_jobs[key]:
            self.replayed_by_jobs[key] -= 1  # this record is that arming: matched once
            return True
        return False

    def _arm(self, data: dict[str, Any]) -> None:
        """Arm again what the recording armed: ``sim.fail``, ``crash_worker``, ``downtime``, ``duplicate_delivery``,
        ``sim.mail.smtp_fail``, ``smtp_delay``, ``smtp_drop``, ``smtp_size_limit``."""
        sim, fault, function = self.sim, data.get("fault", "fail"), data.get("function")
        if function is not None and function not in sim.functions:
            self.notes.append(f"a recorded {_ARMING.get(fault, fault)} for function {function!r} was not "
                              "re-armed: today's code has no such function")  # fmt: skip
            return
        if fault == "fail":
            error = rebuild_error(data.get("error"))
            sim.fail(function, data.get("step"), times=_given(data, "times", 1), error=error)
        elif fault == "crash":
            sim.crash_worker(at=to_datetime(int(data["when"])), function=function)
        elif fault == "downtime":
            sim.downtime(to_datetime(int(data["start"])), to_datetime(int(data["end"])))
        elif fault == "smtp":
            sim.mail.smtp_fail(_given(data, "times", 1), code=_given(data, "code", 451),
                               message=str(data.get("message", "")), on=data.get("on", "DATA"))  # fmt: skip
        elif fault == "smtp.delay":
            sim.mail.smtp_delay(_given(data, "after", 0), on=data.get("on", "DATA"), times=_given(data, "times", 1))
        elif fault == "smtp.drop":
            sim.mail.smtp_drop(_given(data, "times", 1), on=data.get("on", "DATA"), delivered=data.get("delivered"))
        elif fault == "smtp.size":
            sim.mail.smtp_size_limit(data.get("size"))
        elif fault == "duplicate":
            sim.duplicate_delivery(function=function, at=to_datetime(int(data["when"])),
                                   times=_given(data, "times", 1))  # fmt: skip
        else:
            self.notes.append(f"a recorded fault of unknown kind {fault!r} was not re-armed")

    def _finish(self, driven: bool, extra_ns: int | None) -> None:
        end = end_of(self.recorded)
        kernel = self.sim.kernel
        if driven or has_outcomes(self.recorded):
            until = max(end, kernel.now) + (extra_ns or 0)
            if until == kernel.now:
                # every recorded advance was replayed (a recording with none never moved its clock), so the
                # clock stands where the recording's stopped: work it left due at that instant (events sent
                # after its last advance, or with no advance at all) never ran there, and must not run here
                return
            due = kernel.next_due()
            if until > kernel.now or (due is not None and due <= until):  # else a no-op: record nothing
                if extra_ns and has_outcomes(self.recorded):  # past the recording: nothing to compare with
                    self.beyond = len(self.sim.trace) - 1
                self._drive(until)
            return
        horizon = duration_ns(IDLE_HORIZON) if extra_ns is None else extra_ns
        self._drive(max(end, self.sim.kernel.now))
        self._drive(self.sim.kernel.now + horizon, idle=extra_ns is None)


def _given(data: dict[str, Any], name: str, default: int) -> int:
    """A recorded fault's count: its default when the field is absent or null (the reader checked its type)."""
    value = data.get(name)
    return default if value is None else int(value)


_MAX_ITEMS = 50_000_000
_ARMING = {"fail": "sim.fail()", "crash": "sim.crash_worker()", "downtime": "sim.downtime()",
           "duplicate": "sim.duplicate_delivery()", "smtp": "sim.mail.smtp_fail()",
           "smtp.delay": "sim.mail.smtp_delay()", "smtp.drop": "sim.mail.smtp_drop()",
           "smtp.size": "sim.mail.smtp_size_limit()"}  # fmt: skip


def rebuild_error(info: Any) -> Any:
    """The error a recorded ``sim.fail`` used, from its type name and message.

    Only classes already imported (builtins, jobsim's, the app's own modules) are
    used, never imported from the trace's say-so; otherwise ``InjectedFault`` with
    the recorded type and message.
    """
    if not isinstance(info, dict):
        return None
    name, module, message = str(info.get("type", "")), str(info.get("module", "")), info.get("message")
    holder = builtins if module == "builtins" else sys.modules.get(module)
    cls = getattr(holder, name, None) if holder is not None else None
    if isinstance(cls, type) and issubclass(cls, BaseException):
        if message is None:
            return cls
        try:
            return cls(message)
        except Exception:
            pass
    if message is None:
        return InjectedFault(f"{name} (replayed)")
    return InjectedFault(f"{name}: {message}")


_CALL = re.compile(r"[a-z_]+")
"""A backend plugin's ``run.start`` origin for a call made outside job code: one word (``apply_async``,
``enqueue``, ``enqueue_job``, ``add``, ``send``), where a run that made it is named (``'tasks.order#2'``) and a
schedule is described (``"beat entry 'nightly'"``, ``'run time ...'``; arq's ``'cron'``)."""

_TEST_SCHEDULE = re.compile(r"job scheduler '.*'", re.S)
"""jobsim-bullmq's origin of a job scheduler's runs: unlike a Celery beat entry or an APScheduler job, which the app
declares and the replay's target brings back, a BullMQ job scheduler exists only once a call made it
(``queue.upsertJobScheduler``), which a replay does not make again when the test made it."""

_SENT_EARLIER = {"before the simulation": "send"}
"""Origins of calls the test made before the simulation was built, as the call: jobsim-dramatiq takes the messages
a ``StubBroker`` holds at the start (``actor.send()`` before the ``with``), which a replay lacks as well, and which
``jobsim_setup``'s ``send`` makes again."""


def _backend_origins(trace: Trace) -> Counter[tuple[str, str]]:
    """``(function, origin)`` of the runs a call into a backend started rather than an event, a schedule or a
    run: the ``run.start`` records whose ``event`` is a plugin's word for the call and names no event sent."""
    sent = {data.get("name") for _, kind, data in trace._rows if kind in ("event", "event.dropped")}
    return Counter((data["function"], _SENT_EARLIER.get(origin, origin)) for _, kind, data in trace._rows
                   if kind == "run.start" and isinstance(origin := data.get("event"), str)
                   and isinstance(data.get("function"), str) and origin not in sent
                   and (origin in _SENT_EARLIER or (_CALL.fullmatch(origin) and origin != "cron")
                        or _TEST_SCHEDULE.fullmatch(origin)))  # fmt: skip


def backend_calls_missing(recorded: Trace, replayed: Trace) -> list[str]:
    """A note for runs of the recording that a call into a backend started (``task.delay()`` in the test) and
    the replay lacks: a replay repeats events, schedules and faults, not such calls, so unchanged code read as
    changed with only "missing from the replay" to say why."""
    missing = _backend_origins(recorded) - _backend_origins(replayed)
    if not missing:
        return []
    listed = [f"{count} run{'s' if count > 1 else ''} of {function!r} started by {origin}"
              for (function, origin), count in missing.items()]  # fmt: skip
    return [f"the replay lacks {', '.join(listed)}: such runs start from a call into the backend, not from an "
            "event, and a replay repeats the recording's events, schedules and faults, not the calls its test "
            "made (task.delay(), queue.enqueue(), actor.send(), BullMQ's queue.add() and queue.upsertJobScheduler()); "
            "to replay them, make those calls again in the "
            "--app module's jobsim_setup(sim) (setup= of Simulation.replay), which runs at the recording's start"]
