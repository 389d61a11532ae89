"""Replay: a recorded trace's inputs, fed at their recorded virtual times into today's code.

What a trace holds falls in two parts. The **inputs** came from outside job code and
are fed again: events sent by tests or traffic (``origin: "input"``, duplicates
dropped by the bus included), how the test drove the clock (``advance`` records:
``advance``, ``advance_to``, ``run_until_idle``), and faults it armed with
``sim.fail`` (not those job code armed: their record names the ``run``, and today's
code arms them again). The **environment** answered: HTTP responses are served from the
trace (matched by method and URL, identical requests in recorded order, with their
recorded virtual latency), except mail-provider calls that succeeded, which
jobsim's own providers answer again so the email reaches the outbox. Everything
else -- runs, retries, emails, HTTP requests, emitted events -- is an **outcome**
that today's code produces afresh and that is then compared with the recording
(``jobsim._tracediff``).

This is Temporal's replay turned around: Temporal re-runs workflow code against a
history and fails on the first command that differs; jobsim re-runs whole jobs,
side effects included, against recorded inputs and reports the first difference per
function in each chosen comparison.

A trace written with redaction holds fakes. The replay feeds those fakes, and its
outcome is redacted with the same policy (and key) before comparing, keeping the
fakes the trace already holds, so values that flow through unchanged compare equal.
"""

from __future__ import annotations

import builtins
import sys
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Container, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import orjson

from ._checks import check_callable, keywords_checked
from ._codec import canonical
from ._events import Event
from ._redact import PhonesIn, Redaction, pseudonyms_in
from ._safe import said
from ._time import MAX_NS, US, Duration, duration_ns, iso, to_datetime
from ._timeline import _clip
from ._trace import Trace
from ._tracediff import compare_lines, declared
from ._tracefile import random_streams_of
from ._traceresult import Comparison, Divergence
from .errors import InjectedFault, InvalidArgument, JobsimError

if TYPE_CHECKING:
    import httpx

    from ._httplost import AnswerLost, How
    from ._simulation import Simulation

Setup = Callable[["Simulation"], Any]
Deliver = Callable[["Simulation", Event], Any]
SYNTHESIZED_ID = "jobsimsynthid"
"""CloudEvents extension marking an id ``jobsim import`` made up for an event that had none."""
IDLE_HORIZON = "30d"
"""How long an imported trace (events only) keeps running after its last event, at most."""


class ReplayResult:
    """What a replay did and how it compares with the recording.

    ``same``: nothing differs in the compared modes (and the replay ran to its end).
    ``comparison``: the ``Comparison`` (``None`` for a trace of input events only,
    which has no outcomes to compare with). ``recorded``/``replayed``: the two
    traces; ``simulation``: the replay's (closed) simulation; ``inputs``: how many
    input events were fed; ``stopped``: why the replay stopped early, if it did;
    ``notes``: what else a reader should know.
    """

    def __init__(self, *, comparison: Comparison | None, recorded: Trace, simulation: Simulation, inputs: int,
                 stopped: str | None, notes: list[str], source: str) -> None:
        self.comparison = comparison
        self.recorded = recorded
        self.simulation = simulation
        self.replayed = simulation.trace
        self.inputs = inputs
        self.stopped = stopped
        self.notes = notes
        self.source = source

    @property
    def same(self) -> bool:
        return self.stopped is None and (self.comparison is None or self.comparison.same)

    @property
    def divergences(self) -> list[Divergence]:
        return [] if self.comparison is None else self.comparison.divergences

    def first(self, function: str) -> Divergence | None:
        return None if self.comparison is None else self.comparison.first(function)

    @keywords_checked("ReplayResult.save()")
    def save(self, path: str | Path, *, redact: Redaction | bool | None = None, compress: bool | None = None) -> Path:
        """Save the replay's own trace (a new recording to compare later runs with), as ``Trace.save`` does."""
        return self.replayed.save(path, redact=redact, compress=compress)

    def assert_same(self) -> None:
        """Raise ``AssertionError`` with the report when the replay differs from the recording."""
        __tracebackhide__ = True
        if not self.same:
            raise AssertionError(self.report())

    def to_dict(self) -> dict[str, Any]:
        return {"same": self.same, "source": self.source, "inputs": self.inputs, "stopped": self.stopped,
                "notes": self.notes, "runs": self._statuses(),
                "comparison": None if self.comparison is None else self.comparison.to_dict()}  # fmt: skip

    def _statuses(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter[str]] = {}
        for run in self.simulation.runs():
            out.setdefault(run.function_id, Counter())[run.status] += 1
        return {fn: dict(counts) for fn, counts in out.items()}

    def report(self) -> str:
        sim = self.simulation
        header = self.recorded.header or {}
        start = header.get("start", sim.start_ns)
        into = ", ".join(sim.functions) if len(sim.functions) <= 4 else f"{len(sim.functions)} functions"
        lines = [
            f"jobsim replay of {self.source}",
            f"recorded: {iso(start, sim.tz)} to {iso(_end(self.recorded), sim.tz)} · seed "
            f"{header.get('seed', sim.seed)} · profile {header.get('profile', sim.profile.name)} · "
            + _count(len(self.recorded), "record"),
            f"replayed: {_count(self.inputs, 'input event')} into {into} · {_count(len(self.replayed), 'record')} "
            f"· ended {iso(sim.kernel.now, sim.tz)}",
        ]
        shown = () if self.comparison is None else self.comparison.notes  # it prints its own (ours among them)
        lines += [f"note: {note}" for note in self.notes if note not in shown]
        if self.stopped:
            lines.append(f"STOPPED: {self.stopped}")
        if self.comparison is None:
            lines += ["", "nothing to compare: the trace holds input events only; runs of the replay:", ""]
            end = len(lines)
            for fn, counts in self._statuses().items():
                lines.append(f"  {fn}: " + ", ".join(f"{n} {status}" for status, n in counts.items()))
                # "1 failed" alone sent the reader to `jobsim show` to learn why
                failed = next((run for run in sim.runs(fn) if run.status == "failed"), None)
                if failed is not None and failed.end_ns is not None:
                    lines.append(f"      the first failed at {iso(failed.end_ns, sim.tz)}: {_clip(said(failed.error))}")
            if len(lines) == end:
                lines.append("  (no runs)")
            return "\n".join(lines)
        return "\n".join([*lines, self.comparison.report(sim.tz)])

    def __repr__(self) -> str:
        verdict = "same" if self.same else f"{len(self.divergences)} divergence(s)"
        return f"<ReplayResult {self.source}: {verdict}>"


def _end(trace: Trace) -> int:
    from ._tracefile import end_of

    return end_of(trace)


# -- replay ---------------------------------------------------------------------------------------
@keywords_checked("replay()")
def replay(
    trace: Trace | str | Path,
    *targets: Any,
    compare: Any = None,
    ignore: Iterable[str] | str = (),
    tolerance: Duration = 0,
    setup: Setup | None = None,
    deliver: Deliver | None = None,
    http: str = "recorded",
    faults: bool = True,
    seed: int | None = None,
    profile: str | None = None,
    until: Duration | None = None,
    redact: Redaction | bool | None = None,
    strict: bool = False,
    functions: Any = None,
    exclude_functions: Any = None,
) -> ReplayResult:
    """Feed ``trace``'s inputs into ``targets`` at their recorded virtual times and compare.

    ``compare``: modes to compare (``"runs"``, ``"outputs"``, ``"emails"``,
    ``"http"``, ``"events"``, ``"timing"``; a list or a comma-separated string;
    default all). ``ignore``: ``KIND:PATH`` patterns removed from both sides before
    comparing (``"email:subject"``, ``"http:request.headers.date"``,
    ``"run.end:output.**.generatedAt"``). ``tolerance``: how far times may differ
    for ``timing``. ``setup(sim)``: runs once before the first input (stock a
    database, add HTTP routes, which win over recorded responses). ``deliver(sim,
    event)``: how an input event enters (default ``sim.send(event)``; the web app's
    database write, then the send). ``http``: ``"recorded"`` serves recorded
    responses, ``"routes"`` only the routes ``setup`` adds. ``faults``: re-arm the
    faults the recording armed with ``sim.fail``. ``seed``/``profile``: override the
    recorded ones (the random streams are the recording's: ``"shared"`` for a trace of
    format minor < 2, see ``Simulation(random_streams=...)``). ``until``: keep
    simulating this long after the trace's end (a trace of input events only runs until
    idle, at most 30 days, by default).
    ``redact``: the policy that redacts the replay's outcome before comparing
    (default: the one the trace's header describes, key from ``JOBSIM_REDACT_KEY``).
    ``functions``/``exclude_functions``: which functions to simulate, as in ``Simulation``;
    given, they replace the selection the recording made (its header's ``left_out``),
    and a note says so. Without them, what the recording left out is left out again.
    """
    from ._simulation import Simulation

    recorded, source = _recorded(trace, strict)
    if not targets:
        raise InvalidArgument("replay needs the code to replay into: Simulation.replay(trace, app) "
                              "(or `jobsim replay TRACE --app module:attribute`)")  # fmt: skip
    _check_options(setup, deliver, http, faults)
    tolerance_ns = duration_ns(tolerance, "tolerance")
    extra_ns = None if until is None else duration_ns(until, "until")
    if extra_ns is not None and extra_ns > MAX_NS - _end(recorded):  # the clock would pass the year 9999
        raise InvalidArgument.build("until", until, f"a duration that ends by {iso(MAX_NS)}, the last instant a "
                                    f"datetime can show (the recording ends at {iso(_end(recorded))})")
    header = recorded.header_fields() if recorded.header is None else recorded.header
    start = int(header["start"])
    options: dict[str, Any] = {"start": to_datetime(start), "tz": header.get("tz") or "UTC",
                               "seed": header.get("seed", 0) if seed is None else seed,
                               "profile": header.get("profile") if profile is None else profile,
                               "random_streams": random_streams_of(header)}  # fmt: skip
    recorded_out = header.get("left_out")
    if functions is not None or exclude_functions is not None:
        sim = Simulation(*targets, functions=functions, exclude_functions=exclude_functions,
                         **{k: v for k, v in options.items() if v is not None})  # fmt: skip
        notes = [_given_selection(sim, recorded_out)]
    else:
        sim = Simulation(*targets, **{k: v for k, v in options.items() if v is not None})
        left_out = [i for i in recorded_out if isinstance(i, str) and i in sim.functions] if isinstance(
            recorded_out, list) else []  # fmt: skip
        if left_out:  # recorded with exclude_functions=/functions=: today's code without those functions too
            sim = Simulation(*targets, exclude_functions=left_out,
                             **{k: v for k, v in options.items() if v is not None})  # fmt: skip
        notes = [f"the recording left out {', '.join(map(repr, left_out))} (functions=/exclude_functions=): "
                 "so does the replay"] if left_out else []  # fmt: skip
    notes += _cut_off(recorded)
    cut_at, cut_note = compared_up_to([("the recording", recorded)], "the replay is")
    notes += cut_note
    if sim.random_streams == "shared":
        notes.append("the recording drew every random number from one stream (random_streams='shared', as traces "
                     "of format minor < 2 were recorded): so does the replay, where a function drawing more moves "
                     "the jitter and ids of the others; a recording made today gives each function its own stream")
    sim.start_ns = sim.kernel.now = start  # to the nanosecond (a datetime stops at microseconds)
    keeps = _Keeps(recorded)
    with sim:
        script = _Script(sim, recorded, deliver or _send, faults, notes)
        if setup is not None:
            setup(sim)
        served = _serve_recorded_http(sim, recorded, keeps) if http == "recorded" else None
        stopped = script.run(extra_ns)
        sim._undriven = None  # a replay stops where the recording stopped: events sent after it stay queued
    if served is not None and served.excerpts:
        notes.append(f"{served.excerpts} recorded HTTP response(s) had a body over 64 KiB, which a trace keeps "
                     "only as a digest and its first 1 KiB: the replay answered with that excerpt")  # fmt: skip
    comparison = None
    if _has_outcomes(recorded):
        comparison = _compare(recorded, sim, compare, ignore, tolerance_ns, redact, notes, keeps, cut_at)
    else:  # nothing to compare (imported events): a saved replay, the baseline, still keeps the trace's fakes
        _keep_fakes(recorded, sim, redact, notes, keeps)
    return ReplayResult(comparison=comparison, recorded=recorded, simulation=sim, inputs=script.inputs,
                        stopped=stopped, notes=notes, source=source)  # fmt: skip


def _cut_off(trace: Trace, label: str = "the recording", done: str = "replayed") -> list[str]:
    """A note for a trace cut off while it was written (said on stderr as it loaded, but not in the
    report or its JSON: a replay of half a recording read 'same' as if it were whole)."""
    if not incomplete(trace):
        return []
    where = next((w for w in trace.warnings if "cut off" in w or "ends early" in w or "no 'end' line" in w),
                 "it was cut off")  # fmt: skip
    where = where.removesuffix("; the records before it were read").removesuffix(": the events before it were imported")
    return [f"{label} is incomplete ({where}): only what it holds is {done}"]


def incomplete(trace: Trace) -> bool:
    """A recording read from a file that stopped before its ``end`` line: cut off mid-line, or at a line's end.

    Imported events have no ``end`` line and are not a recording (nothing of theirs is compared)."""
    return trace._owner is None and (trace.truncated or not trace.complete) and _has_outcomes(trace)


def last_seq(trace: Trace) -> int:
    """The ``seq`` of a trace's last record (-1 when it has none)."""
    return trace._seqs[-1] if trace._seqs else len(trace._rows) - 1


def up_to(lines: Iterable[dict[str, Any]], seq: int | None) -> Iterable[dict[str, Any]]:
    """The lines of a trace up to record ``seq`` (all of them for ``None``): the part of a story an
    incomplete recording holds, so what happened after its cut is not read as a difference."""
    if seq is None:
        return lines
    return (line for line in lines if line["seq"] <= seq)


def compared_up_to(traces: list[tuple[str, Trace]], others: str) -> tuple[int | None, list[str]]:
    """The last record of the shortest incomplete trace among ``traces`` (label, trace), and the note
    saying that ``others`` are compared only up to it; ``(None, [])`` when every trace is whole."""
    cut = [(last_seq(trace), label, trace) for label, trace in traces if incomplete(trace)]
    if not cut:
        return None, []
    seq, label, trace = min(cut, key=lambda item: item[0])
    at = f", at {iso(trace._rows[-1][0])}" if trace._rows else ""
    return seq, [f"{others} compared only up to {label}'s last record (seq {seq}{at}), where it stops: "
                 "what happened after it is not a difference"]


def _given_selection(sim: Simulation, recorded_out: Any) -> str:
    """The note saying the replay used the selection it was given, not the recording's."""
    chosen = sim._selection
    assert chosen is not None
    recorded = [i for i in recorded_out if isinstance(i, str)] if isinstance(recorded_out, list) else []
    flag = "--functions" if chosen.argument == "functions" else "--exclude-functions"
    left = ", ".join(map(repr, chosen.left_out)) or "nothing"
    was = f"which left out {', '.join(map(repr, recorded))}" if recorded else "which left out nothing"
    return (f"selection given ({chosen.argument}={chosen.ids!r}, {flag} {','.join(chosen.ids)}): the replay "
            f"simulates {', '.join(map(repr, sim.functions))} and leaves out {left}, instead of the recording's "
            f"selection, {was}")


def _recorded(trace: Any, strict: bool) -> tuple[Trace, str]:
    if isinstance(trace, Trace):
        return trace, str(trace.path) if trace.path else "an in-memory trace"
    if isinstance(trace, (str, Path)):
        from ._importing import read_any

        return read_any(trace, strict=strict), str(trace)
    raise InvalidArgument.build("trace", trace, "a jobsim.Trace or the path of a trace (or events) file")


def _check_options(setup: Any, deliver: Any, http: Any, faults: Any) -> None:
    if setup is not None:  # called without awaiting: an async def would never run
        check_callable("setup", setup, 1, "a function taking the simulation, or None")
    if deliver is not None:
        check_callable("deliver", deliver, 2, "a function (sim, event) that sends the event, or None")
    if http not in ("recorded", "routes"):
        raise InvalidArgument.build("http", http, "'recorded' (serve recorded responses) or 'routes' (only yours)")
    if not isinstance(faults, bool):
        raise InvalidArgument.build("faults", faults, "True (re-arm recorded sim.fail faults) or False")


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


def _recorded_event(data: dict[str, Any]) -> Event:
    """The input event a record holds, as the test (or the traffic) sent it."""
    synthesized = (data.get("attributes") or {}).get(SYNTHESIZED_ID)  # the bus makes one, as it did
    return Event(data["name"], data.get("data") or {}, id=None if synthesized else data.get("id"),
                 user=data.get("user"), ts=data.get("ts"), v=data.get("v"))  # fmt: skip


def _send(sim: Simulation, event: Event) -> None:
    sim.send(event)


def _has_outcomes(trace: Trace) -> bool:
    """A recorded simulation has outcomes to compare, even when nothing ran in it (today's code
    starting runs is then a difference); events imported from elsewhere have none."""
    source = (trace.header or {}).get("source")
    return not (isinstance(source, dict) and "import" in source)


def _armed_key(at: int, data: dict[str, Any]) -> str:
    """A ``fault.armed`` record's instant and fields, but the ``run`` that armed it, as one comparable string."""
    fields = {key: value for key, value in data.items() if key != "run"}
    return f"{at} {orjson.dumps(fields, option=orjson.OPT_SORT_KEYS, default=str).decode()}"


class _Script:
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
        # faults job code armed: the recording's (they name their run) and the replay's, read as it records them
        self.recorded_by_jobs = Counter(_armed_key(at, data) for at, kind, data in recorded._rows
                                        if kind == "fault.armed" and data.get("run") is not None)  # fmt: skip
        self.replayed_by_jobs: Counter[str] = Counter()
        self._read = 0  # how many of the replay's own records were looked at for them

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
        except JobsimError as error:  # a budget, a run-away: the replay of this code never ends
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
        self.deliver(sim, _recorded_event(data))

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
            event, now = _recorded_event(data), sim.kernel.now
            if at < now:
                self.late.append(f"{data.get('name')} recorded at {iso(at)}, delivered at {iso(now)}")
            if self.deliver is _send and "send.delay" not in sim.profile.lacks:
                sim.send(event, delay=f"{max(at - now, 0)}ns")  # exact: the recorded delay to the nanosecond
            else:
                sim.kernel.schedule(max(at, now), self.deliver, sim, event, owner="replay (a delayed input)")

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
        ``sim.mail.smtp_fail``, ``smtp_delay``, ``smtp_drop``."""
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
        elif fault == "duplicate":
            sim.duplicate_delivery(function=function, at=to_datetime(int(data["when"])),
                                   times=_given(data, "times", 1))  # fmt: skip
        else:
            self.notes.append(f"a recorded fault of unknown kind {fault!r} was not re-armed")

    def _finish(self, driven: bool, extra_ns: int | None) -> None:
        end = _end(self.recorded)
        kernel = self.sim.kernel
        if driven or _has_outcomes(self.recorded):
            until = max(end, kernel.now) + (extra_ns or 0)
            if driven and until == kernel.now:
                # every recorded advance was replayed, so the clock stands where the recording's
                # stopped: work it left due at that instant (events sent after its last advance)
                # never ran there, and must not run here
                return
            due = kernel.next_due()
            if until > kernel.now or (due is not None and due <= until):  # else a no-op: record nothing
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
           "smtp.delay": "sim.mail.smtp_delay()", "smtp.drop": "sim.mail.smtp_drop()"}  # fmt: skip


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


# -- the environment: recorded HTTP responses ----------------------------------------------------------
class RecordedHttp:
    """A respx side effect answering each request with the next recorded response for its method and URL."""

    def __init__(self, sim: Simulation, calls: list[dict[str, Any]], redact: Redaction | None,
                 keep: frozenset[str] = frozenset(), phones: Container[str] = frozenset(),
                 legacy: bool = False) -> None:
        self.sim = sim
        self.redactor = redact.redactor(keep, phones) if redact is not None else None
        self.queues: dict[tuple[str, str], deque[dict[str, Any]]] = defaultdict(deque)
        self.excerpts = 0
        self.legacy = legacy
        for call in calls:
            self.queues[(str(call.get("method")), unquote_plus(str(call.get("url"))))].append(call)

    def __call__(self, request: httpx.Request) -> Any:
        """The recorded answer (an ``httpx.Response``), None to let jobsim's providers or the unmatched check answer,
        or an ``answer_lost()`` side effect that ``_httpeffects`` answers as its own."""
        from ._bridges import cut_short
        from ._httptime import give_up, spend

        url = str(request.url)
        if self.redactor is not None:
            url = self.redactor.url(url)  # keeping the trace's fakes, which today's code sends again
        # decoded: redaction writes a fake into a URL in one spelling, httpx in its own
        queue = self.queues.get((request.method, unquote_plus(url)))
        if not queue:
            return None  # not recorded (any more): mail providers, then "unmatched", as without a recording
        call = queue.popleft()
        elapsed = int(call.get("elapsed") or 0)
        if call.get("lost") is not None:  # the server got it and its answer was lost (answer_lost): lost again
            return _lost_again(call, elapsed)
        cut = cut_short(call.get("error"))  # aiohttp's own timeout ended the call (jobsim._bridges)
        if _crashed(call) or cut is not None:  # a crash or the client cut the wait there: wait across that
            elapsed += US  # instant, so the same cut ends it (a float loop time keeps microseconds)
        if elapsed and self.sim.engine.x is not None:
            if "error" not in call:  # today's client may give up sooner than the recorded one did
                give_up(self.sim, request, None, elapsed, "the trace recorded")
            spend(self.sim, elapsed)
        if "error" in call:
            if str(call["error"]).startswith("UnmatchedRequest"):
                return None
            raise _http_error(str(call["error"]), request) if cut is None else cut("replayed", request=request)
        response = call.get("response") or {"status": call.get("status", 200)}
        status = int(response.get("status", call.get("status", 200)))
        if call.get("mail") or (self.legacy and 200 <= status < 300 and self.sim.mail.provides(request)):
            return None  # jobsim's mail provider answered: it answers again, and the email reaches the outbox
        if "excerpt" in (response.get("body") or {}):
            self.excerpts += 1
        return _response(status, response)


def _lost_again(call: dict[str, Any], elapsed: int) -> AnswerLost:
    """``answer_lost()`` answering what the server answered (jobsim's mail provider answers again, so the email
    reaches the outbox), the client meeting what it met instead, as long after."""
    import httpx

    from ._httplost import AnswerLost

    name = str(call.get("error")).partition(":")[0]
    how: How = "reset" if name in ("ReadError", "ConnectionResetError") else "closed" if name in (
        "RemoteProtocolError", "RemoteDisconnected") else "timeout"
    return AnswerLost(None if call.get("mail") else httpx.Response(int(call["lost"])), how, elapsed, None)


def _crashed(call: dict[str, Any]) -> bool:
    """The recorded call ended when the worker died (``sim.crash_worker``, ``sim.downtime``), not with an answer.

    Such a call's ``elapsed`` ends exactly at the crash, and job code is cut only by a crash
    *inside* the time it spends; files written before the error was recorded as itself hold
    jobsim's internal ``Suspend: ('crash', ...)``.
    """
    error = call.get("error")
    return isinstance(error, str) and error.startswith(("WorkerCrashed: ", "Suspend: ('crash', "))


class _Keeps:
    """The fakes a redacted recording holds, per policy: found once, used to answer HTTP and to compare.

    ``phones``: the phone numbers in its free text (fakes too), looked for when first needed.
    """

    def __init__(self, recorded: Trace) -> None:
        self.recorded = recorded
        self.found: dict[str, frozenset[str]] = {}
        self.phones = PhonesIn(lambda: (data for _, _, data in recorded._rows))

    def __call__(self, policy: Redaction) -> frozenset[str]:
        key = orjson.dumps(policy.describe()).decode()
        if key not in self.found:
            self.found[key] = pseudonyms_in(((kind, data) for _, kind, data in self.recorded._rows), policy)
        return self.found[key]


def _serve_recorded_http(sim: Simulation, recorded: Trace, keeps: _Keeps) -> RecordedHttp | None:
    calls = [canonical("http", data) for _, kind, data in recorded._rows if kind == "http"]
    if not calls:
        return None
    info = (recorded.header or {}).get("redaction")
    policy = None
    if recorded._owner is None and isinstance(info, dict) and info.get("policy") is not None:
        policy = Redaction.from_header(info)  # a redacted recording holds redacted URLs: match like for like
    keep = keeps(policy) if policy is not None else frozenset()
    header = recorded.header or {}
    legacy = recorded._owner is None and header.get("version") == 1 and (header.get("minor") or 0) < 1
    served = RecordedHttp(sim, calls, policy, keep, keeps.phones, legacy)
    sim.http.route(name="jobsim-recorded-responses").mock(side_effect=served)
    return served


def _response(status: int, recorded: dict[str, Any]) -> httpx.Response:
    import base64

    import httpx

    skip = ("content-length", "content-encoding", "transfer-encoding")
    headers: list[tuple[str, str]] = []
    for name, value in (recorded.get("headers") or {}).items():
        if name not in skip:
            headers += [(name, str(v)) for v in (value if isinstance(value, list) else [value])]
    body = recorded.get("body") or {}
    if "json" in body:
        content = orjson.dumps(body["json"])
    elif "text" in body:
        content = str(body["text"]).encode()
    elif "base64" in body:
        content = base64.b64decode(body["base64"])
    else:
        content = str(body.get("excerpt", "")).encode()
    return httpx.Response(status, headers=headers, content=content)


def _http_error(text: str, request: httpx.Request) -> BaseException:
    import httpx

    name, _, message = text.partition(": ")
    cls = getattr(httpx, name, None)
    if isinstance(cls, type) and issubclass(cls, httpx.RequestError):
        return cls(message, request=request)
    builtin = getattr(builtins, name, None)
    if isinstance(builtin, type) and issubclass(builtin, Exception):
        try:
            return builtin(message)
        except Exception:
            pass
    return httpx.ConnectError(f"{text} (replayed)", request=request)


# -- comparing -----------------------------------------------------------------------------------
def _compare(recorded: Trace, sim: Simulation, compare: Any, ignore: Any, tolerance: int,
             redact: Redaction | bool | None, notes: list[str], keeps: _Keeps, cut_at: int | None) -> Comparison:
    from ._gc import paused_gc
    from ._tracefile import lines

    policy = _keep_fakes(recorded, sim, redact, notes, keeps)
    redactor = None if policy is None else policy.redactor(sim.trace._keep, keeps.phones)
    with paused_gc():
        return compare_lines(lines(recorded), up_to(lines(sim.trace, redactor), cut_at), compare=compare, ignore=ignore,
                             tolerance=tolerance, notes=notes, tz=sim.tz,
                             known=[*declared(recorded.header_fields()), *sim.functions])  # fmt: skip


def _keep_fakes(recorded: Trace, sim: Simulation, redact: Redaction | bool | None, notes: list[str],
                keeps: _Keeps) -> Redaction | None:
    """The policy the replay's outcome is redacted with; the fakes the recording holds are kept by it,
    and by saving the replay (a baseline of imported events too: its fakes were faked again, a
    phone field's fake no longer matched the same number in free text, and the baseline differed
    from its own replay)."""
    policy = _replay_policy(recorded, redact, notes)
    if policy is not None:
        sim.trace._keep, sim.trace._phones = keeps(policy), keeps.phones
    return policy


def _replay_policy(recorded: Trace, redact: Redaction | bool | None, notes: list[str]) -> Redaction | None:
    """How to redact the replay's outcome so it compares with a redacted recording."""
    if redact is False or recorded._owner is not None:
        return None  # an in-memory recording was never redacted
    if isinstance(redact, Redaction):
        return redact
    if redact not in (None, True):
        raise InvalidArgument.build("redact", redact, "a jobsim.Redaction, True or None (the trace's own), or False")
    info = (recorded.header or {}).get("redaction")
    if not isinstance(info, dict) or info.get("policy") is None:
        return None
    policy = Redaction.from_header(info)
    recorded_fp, ours = info.get("key_fp"), policy.describe().get("key_fp")
    if recorded_fp and recorded_fp != ours:
        notes.append(f"the trace was pseudonymized with key {recorded_fp} and this replay uses {ours}; values "
                     "that did not come from the trace's inputs will not match: set JOBSIM_REDACT_KEY")  # fmt: skip
    return policy


def _count(n: int, noun: str) -> str:
    """``1 record``, ``2,000 records``."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
