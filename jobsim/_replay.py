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

import difflib
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._checks import check_callable, keywords_checked
from ._redactpolicy import Redaction
from ._replayhttp import Keeps, ReplayAdvice, serve_recorded_http
from ._replayinputs import Deliver, Script, backend_calls_missing, has_outcomes, send_input
from ._safe import said
from ._time import MAX_NS, Duration, duration_ns, format_duration, iso, to_datetime
from ._timeline import _clip
from ._trace import Trace
from ._tracediff import compare_lines, declared
from ._tracefile import end_of, random_streams_of
from ._traceresult import BEFORE_FIRST_RECORD, Comparison, Divergence
from ._tracestory import SYSTEM
from .errors import InvalidArgument, TraceError

if TYPE_CHECKING:
    from ._simulation import Simulation

Setup = Callable[["Simulation"], Any]


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
        into = _into(sim.functions)
        lines = [
            f"jobsim replay of {self.source}",
            f"recorded: {iso(start, sim.tz)} to {iso(end_of(self.recorded), sim.tz)} · seed "
            f"{header.get('seed', sim.seed)} · profile {header.get('profile', sim.profile.name)} · "
            + _count(len(self.recorded), "record"),
            f"replayed: {_count(self.inputs, 'input event')} into {into} · {_count(len(self.replayed), 'record')} "
            f"· ended {iso(sim.kernel.now, sim.tz)}" + _overridden(header, sim),
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
            if any(_unanswered(run.error) for run in sim.runs() if run.status == "failed"):
                # the error's advice (ReplayAdvice) names the request alone: why none is answered, and how
                lines += ["", "note: a file of events records no HTTP answers: job code's requests need routes, "
                          "which the --app module's jobsim_setup(sim) adds at the recording's start (setup= of "
                          "Simulation.replay), e.g. def jobsim_setup(sim): sim.http.post(URL).respond(200, json={...})"]
            return "\n".join(lines)
        return "\n".join([*lines, self.comparison.report(sim.tz)])

    def __repr__(self) -> str:
        verdict = "same" if self.same else f"{len(self.divergences)} divergence(s)"
        return f"<ReplayResult {self.source}: {verdict}>"


def _unanswered(error: BaseException | None) -> bool:
    """A run's error is, or was caused by, a request no route matched."""
    from ._http import UnmatchedRequest

    seen = 0
    while error is not None and seen < 20:
        if isinstance(error, UnmatchedRequest):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def _names(ids: list[str]) -> str:
    return ", ".join(ids) if len(ids) <= 4 else f"{len(ids)} functions"


def _into(functions: dict[str, Any]) -> str:
    """What the inputs went into: the functions events start; those only a schedule starts (cron, every) said
    apart -- no input event reaches them."""
    scheduled = [fn_id for fn_id, fn in functions.items() if not fn.events and (fn.crons or fn.every)]
    listening = [fn_id for fn_id in functions if fn_id not in scheduled]
    into = _names(listening) if listening else "no function an event starts"
    return into + (f" (on their schedules: {_names(scheduled)})" if scheduled else "")


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
    if extra_ns is not None and extra_ns > MAX_NS - end_of(recorded):  # the clock would pass the year 9999
        raise InvalidArgument.build("until", until, f"a duration that ends by {iso(MAX_NS)}, the last instant a "
                                    f"datetime can show (the recording ends at {iso(end_of(recorded))})")
    header = recorded.header_fields() if recorded.header is None else recorded.header
    _check_header(header, source, profile)
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
    keeps = Keeps(recorded)
    with sim:
        script = Script(sim, recorded, deliver or send_input, faults, notes)
        sim.http._advice = advice = ReplayAdvice(http)  # an unmatched request's error names jobsim_setup, not sim
        if setup is not None:
            setup(sim)
        served = advice.served = serve_recorded_http(sim, recorded, keeps) if http == "recorded" else None
        stopped = script.run(extra_ns)
        # a replay stops where the recording stopped: events sent after it stay queued
        sim._undriven, sim._undriven_runs = None, []
        sim._unread_quiet = True  # and what the recording left on unread queues is the recording's
    notes += backend_calls_missing(recorded, sim.trace)
    if has_outcomes(recorded):  # a file of events gets its own note (report)
        notes += advice.notes(sim.http.unmatched)
    if served is not None and served.excerpts:
        notes.append(f"{served.excerpts} recorded HTTP response(s) had a body over 64 KiB, which a trace keeps "
                     "only as a digest and its first 1 KiB: the replay answered with that excerpt")  # fmt: skip
    comparison = None
    if script.beyond is not None:  # until=: what happened after the recording's end is told, not compared
        cut_at = script.beyond if cut_at is None else min(cut_at, script.beyond)
        notes.append(_past_the_end(sim, script.beyond, end_of(recorded), format_duration(extra_ns or 0)))
    if has_outcomes(recorded):
        comparison = _compare(recorded, sim, compare, ignore, tolerance_ns, redact, notes, keeps, cut_at)
        notes += _gone(comparison, sim, header.get("apps"))
    else:  # nothing to compare (imported events): a saved replay, the baseline, still keeps the trace's fakes
        _keep_fakes(recorded, sim, redact, notes, keeps)
    return ReplayResult(comparison=comparison, recorded=recorded, simulation=sim, inputs=script.inputs,
                        stopped=stopped, notes=notes, source=source)  # fmt: skip


def _overridden(header: dict[str, Any], sim: Simulation) -> str:
    """What the ``replayed:`` line adds when the replay ran with another seed or profile than the recording
    (``seed=``/``profile=``, ``--seed``/``--profile``): the ``recorded:`` line shows the recording's, and a
    report of a replay under another profile read as if it had run under the recorded one."""
    said = ""
    if header.get("seed", sim.seed) != sim.seed:
        said += f" · seed {sim.seed}"
    if header.get("profile", sim.profile.name) != sim.profile.name:
        said += f" · profile {sim.profile.name}"
    return said


def _past_the_end(sim: Simulation, beyond: int, end: int, until: str) -> str:
    """The note for ``until=``: the replay went on past the recording's end, where there is nothing to compare
    with (a run the recording left pending that ends then read as a difference, "pending" against "completed");
    what happened there is told: the runs that ended and started, by function."""
    ended: dict[str, Counter[str]] = {}
    started: Counter[str] = Counter()
    for record in sim.trace:
        if record.seq <= beyond:
            continue
        if record.kind == "run.end":
            ended.setdefault(str(record.data["function"]), Counter())[str(record.data["status"])] += 1
        elif record.kind == "run.start":
            started[str(record.data["function"])] += 1
    told = [f"{fn}: {', '.join(f'{n} {status}' for status, n in sorted(by.items()))}" for fn, by in ended.items()]
    news = (f"; after it, runs ended ({'; '.join(told)})" if told else "; after it, no run ended") + (
        f" and runs started ({', '.join(f'{fn}: {n}' for fn, n in started.items())})" if started else "")
    return (f"the replay went on {until} past the recording's end (until=, --until) and is compared only up to "
            f"{iso(end)}, where the recording stops: what happened after it has nothing recorded to compare with"
            f"{news}; see them in the replay's timeline (--out)")


def _gone(comparison: Comparison, sim: Simulation, apps: Any = None) -> list[str]:
    """A note per recorded function that today's code does not declare: its row read 'missing from the replay'
    with no word on why, as if the function had stopped running; a new function of a near name is named. When
    none of them is declared and the recording names other apps (``apps``: its header's), that comes first: the
    code given is likely another app's (``--app`` naming the wrong module)."""
    left_out = sim._selection.left_out if sim._selection is not None else {}  # declared, not selected: not gone
    gone = [fn for fn, result in comparison.functions.items() if fn != SYSTEM and fn not in sim.functions
            and fn not in left_out and result.counts.get("runs", (0, 0))[0]]  # fmt: skip
    new = [fn for fn in sim.functions if fn not in comparison.functions or not comparison.functions[fn].counts.get(
        "runs", (0, 0))[0]]  # fmt: skip
    notes = []
    ran = [fn for fn, result in comparison.functions.items() if fn != SYSTEM and result.counts.get("runs", (0, 0))[0]]
    today = [app.id for app in sim.apps]
    if gone and len(gone) == len(ran) and isinstance(apps, list) and apps and not set(apps) & set(today):
        notes.append(f"the recording is of app {', '.join(map(repr, apps))} and the code replayed is app "
                     f"{', '.join(map(repr, today)) or '(none)'}: none of the recording's functions is declared "
                     "today; is --app (app=) the recording's code?")
    for fn in gone:
        close = difflib.get_close_matches(fn, new, n=1, cutoff=0.6)
        renamed = f", or renamed: is {close[0]!r}, new today, its new name?" if close else " or renamed"
        notes.append(f"{fn!r} ran in the recording and is not a function of today's app (removed{renamed}): "
                     "its recorded runs are missing from the replay")
    return notes


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
    return trace._owner is None and (trace.truncated or not trace.complete) and has_outcomes(trace)


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
    if not trace._rows:
        return seq, [f"{others} compared only up to {label}'s header: {label} {BEFORE_FIRST_RECORD}, so nothing that "
                     "happened is a difference"]
    at = f", at {iso(trace._rows[-1][0])}"
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


def _check_header(header: dict[str, Any], source: str, profile: Any) -> None:
    """The header's ``tz`` and ``profile``, which the replay's ``Simulation`` takes: refused in the file's words
    (a zone this machine's tz database lacks, a hand edit), not as a ``tz=`` the caller never passed."""
    from ._drawspec import registered_profiles
    from ._time import zone

    tz = header.get("tz") or "UTC"
    try:
        zone(tz)
    except InvalidArgument as exc:
        raise TraceError(f"the header's tz {tz!r} is not valid here ({str(exc).partition(': ')[2]}); update the "
                         "tz database (pip install -U tzdata) or correct the header", path=source) from None
    if profile is None and header.get("profile") is not None:
        try:
            registered_profiles().get(header["profile"])
        except InvalidArgument as exc:
            raise TraceError(f"the header's profile {header['profile']!r} is not valid here "
                             f"({str(exc).partition(': ')[2]}); install the plugin that adds it, or replay under "
                             "another with profile= (--profile)", path=source) from None  # fmt: skip


def _check_options(setup: Any, deliver: Any, http: Any, faults: Any) -> None:
    if setup is not None:  # called without awaiting: an async def would never run
        check_callable("setup", setup, 1, "a function taking the simulation, or None")
    if deliver is not None:
        check_callable("deliver", deliver, 2, "a function (sim, event) that sends the event, or None")
    if http not in ("recorded", "routes"):
        raise InvalidArgument.build("http", http, "'recorded' (serve recorded responses) or 'routes' (only yours)")
    if not isinstance(faults, bool):
        raise InvalidArgument.build("faults", faults, "True (re-arm recorded sim.fail faults) or False")


# -- comparing -----------------------------------------------------------------------------------
def _compare(recorded: Trace, sim: Simulation, compare: Any, ignore: Any, tolerance: int,
             redact: Redaction | bool | None, notes: list[str], keeps: Keeps, cut_at: int | None) -> Comparison:
    from ._gc import paused_gc
    from ._tracelines import lines

    policy = _keep_fakes(recorded, sim, redact, notes, keeps)
    redactor = None if policy is None else policy.redactor(sim.trace._keep, keeps.phones)
    with paused_gc():
        return compare_lines(lines(recorded), up_to(lines(sim.trace, redactor), cut_at), compare=compare, ignore=ignore,
                             tolerance=tolerance, notes=notes, tz=sim.tz,
                             known=[*declared(recorded.header_fields()), *sim.functions])  # fmt: skip


def _keep_fakes(recorded: Trace, sim: Simulation, redact: Redaction | bool | None, notes: list[str],
                keeps: Keeps) -> Redaction | None:
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
