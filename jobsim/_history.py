"""Drawn histories as plain values: events at offsets, failure patterns, faults; applied in one call.

A *history* is what a property test draws: which events arrive when, which attempts
fail and how, which other faults strike. ``apply(sim, history)`` plays it on a running
simulation — faults first, then each event at its offset, then (by default) until
idle — and returns the same story as code: a regular test to paste, starting with
``with jobsim.Simulation(...)`` and the seed. Inside a Hypothesis test, that code is
also recorded with ``hypothesis.note``, so a failing example prints it.

Nothing here imports Hypothesis (only ``jobsim.strategies`` does): the values can be
built by hand from a printed ``repr``, and applied without Hypothesis installed.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from ._app import listened_events
from ._checks import check_callable, init_keywords_checked, keywords_checked, one_typo
from ._events import Event, as_sent
from ._faults import Fail, Fault, call_code, value_code
from ._kernel import DEFAULT_MAX_CHAIN
from ._selection import FunctionNotSimulated
from ._time import MAX_NS, Duration, duration_ns, format_duration, iso, zone_name
from .errors import InvalidArgument, JobsimError

SendHook = Callable[[Any, Event], Any]
"""``send(sim, event)``: how a history's events reach the simulation (default ``sim.send``)."""
Then = str | Duration | None


@init_keywords_checked("js.Send()")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    """One event of a stream: ``after`` its predecessor (or the history's start), ``name`` with ``data``."""

    after: Duration
    name: str
    data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "after", format_duration(duration_ns(self.after, "after")))
        as_sent(Event(self.name, self.data, id=self.id))  # validates name, data (JSON, as sim.send takes it) and id
        if self.data is None:  # no data, as Event takes it: sent as {}
            object.__setattr__(self, "data", {})

    @property
    def after_ns(self) -> int:
        return duration_ns(self.after)

    def event(self) -> Event:
        return Event(self.name, dict(self.data), id=self.id)

    def __repr__(self) -> str:
        tail = "" if self.id is None else f", id={self.id!r}"
        return f"Send(after={self.after!r}, name={self.name!r}, data={dict(self.data)!r}{tail})"


@init_keywords_checked("js.EventStream()")
@dataclasses.dataclass(frozen=True, slots=True)
class EventStream:
    """Events in arrival order, each ``after`` the one before: what ``event_streams()`` draws."""

    sends: tuple[Send, ...] = ()

    @classmethod
    def at(cls, timed: Iterable[tuple[Duration, str, Mapping[str, Any]]]) -> EventStream:
        """A stream from ``(offset, name, data)`` triples at offsets from the start, in any order.

        For stories drawn per entity (a cart abandoned at *t*, completed *d* later):
        draw the triples, then let this sort them into arrival order (stable for ties).
        """
        accepted = "a list of (offset, name, data) triples, e.g. [('10m', 'cart/abandoned', {'cartId': 'c1'})]"
        if isinstance(timed, (str, bytes, Mapping)) or not isinstance(timed, Iterable):
            raise InvalidArgument.build("timed", timed, accepted)
        triples = list(timed)
        if not all(isinstance(t, (tuple, list)) and len(t) == 3 and isinstance(t[2], Mapping) for t in triples):
            raise InvalidArgument.build("timed", timed, accepted)
        items = sorted(((duration_ns(offset, "offset"), name, data) for offset, name, data in triples),
                       key=lambda item: item[0])  # fmt: skip
        sends, previous = [], 0
        for offset, name, data in items:
            sends.append(Send(after=format_duration(offset - previous), name=name, data=dict(data)))
            previous = offset
        return cls(tuple(sends))

    def __iter__(self) -> Iterator[Send]:
        return iter(self.sends)

    def __len__(self) -> int:
        return len(self.sends)

    def offsets(self) -> list[tuple[int, Send]]:
        """``(offset_ns, send)`` from the stream's start."""
        out, at = [], 0
        for send in self.sends:
            at += send.after_ns
            out.append((at, send))
        return out

    def __repr__(self) -> str:
        return f"EventStream({_tuple(self.sends)})"


@init_keywords_checked("js.FailurePattern()")
@dataclasses.dataclass(frozen=True, slots=True)
class FailurePattern:
    """``sim.fail`` calls, in order: what ``failure_patterns()`` draws.

    Faults on the same function and step queue up in order, so
    ``(Fail(..., times=2), Fail(..., error=jobsim.NonRetriableError('x')))`` fails
    attempts 0 and 1, then ends the step on attempt 2.
    """

    fails: tuple[Fail, ...] = ()

    def __iter__(self) -> Iterator[Fail]:
        return iter(self.fails)

    def __len__(self) -> int:
        return len(self.fails)

    def __repr__(self) -> str:
        return f"FailurePattern({_tuple(self.fails)})"


@init_keywords_checked("js.History()")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class History:
    """A whole drawn story: ``faults`` (``Fail``, ``Crash``, ``Downtime``, ``Duplicate``) and ``events``."""

    faults: tuple[Fault, ...] = ()
    events: tuple[Send, ...] = ()

    def apply(self, sim: Any, *, send: SendHook | None = None, then: Then = "idle", targets: str | None = None) -> str:
        """``apply(sim, self, ...)``: play this history on ``sim``; returns it as test code."""
        __tracebackhide__ = True  # a driving frame: pytest shows the test's line (see Simulation._drive)
        return apply(sim, self, send=send, then=then, targets=targets)

    def __repr__(self) -> str:
        return f"History(faults={_tuple(self.faults)}, events={_tuple(self.events)})"


def _tuple(items: tuple[Any, ...]) -> str:
    return "(" + ", ".join(map(repr, items)) + ("," if len(items) == 1 else "") + ")"


# -- applying ---------------------------------------------------------------------------------------
Piece = History | EventStream | FailurePattern | Fault | Send | Iterable[Any]


def flatten(pieces: Iterable[Any]) -> tuple[list[Fault], list[tuple[int, Send]]]:
    """Faults in order, and every event with its offset from the origin (streams are merged by time)."""
    faults: list[Fault] = []
    sends: list[tuple[int, Send]] = []
    loose = 0  # loose Send values form one stream, in the order given
    for piece in pieces:
        if isinstance(piece, History):
            faults.extend(piece.faults)
            sends.extend(EventStream(piece.events).offsets())
        elif isinstance(piece, EventStream):
            sends.extend(piece.offsets())
        elif isinstance(piece, FailurePattern):
            faults.extend(piece.fails)
        elif isinstance(piece, Fault):
            faults.append(piece)
        elif isinstance(piece, Send):
            loose += piece.after_ns
            sends.append((loose, piece))
        elif isinstance(piece, (list, tuple)):
            more_faults, more_sends = flatten(piece)
            faults.extend(more_faults)
            sends.extend(more_sends)
        else:
            raise InvalidArgument.build(
                "pieces", piece, "a History, EventStream, FailurePattern, fault (Fail, Crash, Downtime, "
                "Duplicate), Send, or a list of them"
            )
    sends.sort(key=lambda item: item[0])  # stable: equal offsets keep their order
    return faults, sends


@keywords_checked("js.apply()")
def apply(sim: Any, *pieces: Piece, send: SendHook | None = None, then: Then = "idle",
          targets: str | None = None) -> str:  # fmt: skip
    """Play drawn pieces of history on a running ``sim``; return the story as test code.

    Faults are registered first (their offsets count from now), then each event is
    sent at its offset (``sim.advance`` moves the clock between them), then ``then``:
    ``"idle"`` runs until no one-off work is pending (``sim.run_until_idle()``), a
    duration advances that much more, ``None`` stops after the last event.

    ``send(sim, event)`` replaces ``sim.send`` for each event — e.g. to write the
    storefront's database row first, as the web app would. ``targets`` is how the
    returned code names what is simulated (``"app"``, ``"shop.app"``); by default, as the
    falsifying example names it for a simulation ``strategies.simulations()`` drew
    (``make_shop()`` for a factory), else by the names the calling test has for the simulation's targets, else
    ``app`` with a comment on the header saying what it stands for.

    The code is what ran, call by call. Inside a Hypothesis test it is also noted
    (even when a call raises), so a failing example prints it.
    """
    __tracebackhide__ = True  # a driving frame: pytest shows the test's line (see Simulation._drive)
    state = getattr(sim, "_state", "running")
    if state == "closed":  # `with sim:` again would raise "this simulation is closed"
        raise JobsimError("apply() needs a running simulation: this one is closed (its `with` block ended); apply "
                          "the history inside the block, or to a new Simulation")
    if state != "running":
        raise JobsimError("apply() needs a running simulation: use `with sim:` (or sim.start()) first")
    if then is not None and then != "idle" and duration_ns(then, "then") > MAX_NS - sim.kernel.now:
        # "idle", a duration or None; checked before anything runs (sim.advance would name it by=)
        raise InvalidArgument.build("then", then, f"a duration that ends by {iso(MAX_NS)}, the last instant a "
                                    "datetime can show")
    if send is not None:  # called for each event, after the faults were armed: checked before anything runs
        check_callable("send", send, 2, "a function (sim, event) that sends the event")
    unnamed = ""
    if targets is None:  # a drawn simulation: its targets as the falsifying example printed them
        drawn_as = getattr(sim, "_drawn_as", None)
        targets = drawn_as if isinstance(drawn_as, str) and drawn_as else _caller_names(sim, sys._getframe(1))
        if targets is None:
            targets, unnamed = "app", _UNNAMED_FIXTURE if getattr(sim, "_role", "") else _UNNAMED
    if not isinstance(targets, str) or not targets.strip():  # the reproduction's `jobsim.Simulation(<targets>, ...)`
        raise InvalidArgument.build("targets", targets, "how the printed reproduction names what is simulated, "
                                    "e.g. 'app' or 'shop.app'")  # fmt: skip
    faults, sends = flatten(pieces)
    _check_ends(sim.kernel.now, faults, sends)
    script = Script(sim, targets=targets, unnamed=unnamed)
    recorder = Recorder(sim, script)
    try:
        play(recorder, faults, sends, send=send, then=then)
        if send is None:  # a hook may map the names to the app's own
            _check_names(sim, sends)
    finally:
        note(script.text())
    return script.text()


_UNNAMED = (
    "app stands for what the test's Simulation() runs, which no name of the test holds: write that here, "
    "or name it with apply(..., targets=...)"
)
_UNNAMED_FIXTURE = (
    "app stands for what the jobsim_app fixture returns: take jobsim_app as an argument and write "
    "it here, or name it with apply(..., targets=...)"
)


def _caller_names(sim: Any, frame: Any) -> str | None:
    """How the reproduction names a simulation the test built itself: ``shop_app``, ``shop.app`` or ``app, billing``,
    the names that the first caller outside jobsim (the test) has for its targets, each the very object the
    simulation runs; ``None`` when one of them has none (``Simulation(make_app())``). It printed ``app``, a name the
    test may not have or may hold another app under."""
    from ._drawcode import _module_attribute

    while frame is not None and str(frame.f_globals.get("__name__", "")).partition(".")[0] == "jobsim":
        frame = frame.f_back
    given = getattr(sim, "_given", None)
    if frame is None or not isinstance(given, list) or not given:
        return None
    names = {**frame.f_globals, **frame.f_locals}
    del frame
    found = []
    for target in given:
        name = next((key for key, value in names.items() if value is target and not key.startswith("_")), None)
        name = name or _module_attribute(target, names)
        if name is None:
            return None
        found.append(name)
    return ", ".join(found)


def _check_names(sim: Any, sends: list[tuple[int, Send]]) -> None:
    """Refuse an event name nothing reacted to that is a certain typo (``_checks.one_typo``) of one a function
    triggers on, is cancelled by or a run waited for (``'order/plcaed'``): the runs it was meant to start never
    ran, and a property about them passes vacuously. A name unlike any is let through (an event the app ignores)."""
    functions = getattr(sim, "functions", None)
    trace = getattr(sim, "trace", None)
    if not isinstance(functions, Mapping) or trace is None:
        return
    fns = list(functions.values())
    known = listened_events(fns)
    unheard = [name for name in dict.fromkeys(item.name for _, item in sends)
               if name not in known and not any(fn.listens_to(name) for fn in fns)]  # fmt: skip
    if unheard:  # the trace is read only then: it may hold a million records
        known |= {str(record.data.get("event")) for record in trace.of("wait")}
    for name in unheard:
        meant = None if name in known else one_typo(name, sorted(known))
        if meant is not None:
            raise InvalidArgument.build(
                "events", name, f"the name of an event the simulation reacts to (did you mean {meant!r}?): no "
                f"function triggers on {name!r}, is cancelled by it or waited for it, so the events drawn with it "
                f"started nothing and a property about their runs passes without testing them; name it as the "
                f"functions do (js.event_streams / js.Send)")  # fmt: skip


def _check_ends(origin: int, faults: list[Fault], sends: list[tuple[int, Send]]) -> None:
    """Offsets past the last instant a datetime can show are named before anything runs (``sim.advance``
    would name its own ``by=``, and only after the events before it were sent)."""
    for fault in faults:
        fault.call(origin)  # Crash(at=), Downtime(start=, end=), Duplicate(at=) check their instants
    late = next((item for offset, item in sends if offset > MAX_NS - origin), None)
    if late is not None:
        raise InvalidArgument.build("after", late.after, f"offsets that add up to an instant by {iso(MAX_NS)}, the "
                                    f"last a datetime can show (the events' offsets count from {iso(origin)})")


def play(recorder: Recorder, faults: list[Fault], sends: list[tuple[int, Send]], *,
         send: SendHook | None, then: Then) -> None:  # fmt: skip
    __tracebackhide__ = True  # a driving frame: pytest shows the test's line (see Simulation._drive)
    origin = recorder.kernel.now
    for fault in faults:
        try:
            fault.apply(recorder, origin)
        except FunctionNotSimulated as error:  # drawn by a strategy given the whole app: say where it came from
            raise FunctionNotSimulated(
                f"{error}; or, if {fault!r} was drawn, give failure_patterns()/faults() only the functions the "
                "simulation runs (a dict or list of them, not the App)") from None  # fmt: skip
    clock = origin
    for offset, item in sends:
        if origin + offset > clock:
            recorder.advance(format_duration(origin + offset - clock))
            clock = origin + offset
        deliver(recorder, item, send)
    if then == "idle":
        recorder.run_until_idle()
    elif then is not None:
        recorder.advance(format_duration(duration_ns(then, "then")))


def deliver(recorder: Recorder, item: Send, hook: SendHook | None, *extra: Any) -> None:
    """Send one event: through ``sim.send`` (recorded), or through the hook (its call recorded)."""
    if hook is None:
        if item.id is None:
            recorder.send(item.name, dict(item.data))
        else:
            recorder.send(item.event())
        return
    recorder.script.add(send_code(item, hook, *("world" for _ in extra)))
    call: Callable[..., Any] = hook
    call(recorder.sim, *extra, item.event())


def send_code(item: Send, hook: Any, *extra: str) -> str:
    """The hook's call, as code: ``storefront(sim, jobsim.Event('cart/completed', {...}))``."""
    return f"{callable_name(hook)}({', '.join(('sim', *extra, value_code(item.event())))})"


def callable_name(fn: Any, default: str = "send") -> str:
    """How printed code calls ``fn``: ``storefront``, ``shop.storefront`` for a bound method, a lambda as its own
    source in parentheses (``(lambda sim, event: sim.send(event))``: ``send`` named nothing the test had), else
    ``default``."""
    owner = getattr(fn, "__self__", None)
    name = getattr(fn, "__name__", "")
    if not name.isidentifier():
        return _lambda_called(fn) or default
    if owner is not None and not isinstance(owner, type) and type(owner).__module__ != "builtins":
        return f"{type(owner).__name__.lower()}.{name}"
    return name


def _lambda_called(fn: Any) -> str | None:
    """``(lambda: make_app())``, the lambda's source as Hypothesis reads it, when it reads back as code. Read
    through ``jobsim.strategies`` (the one module that imports Hypothesis), which every caller of ``js.apply``
    and ``js.machine`` has imported."""
    import sys

    strategies = sys.modules.get("jobsim.strategies")
    reader = getattr(strategies, "get_pretty_function_description", None)
    if reader is None or getattr(fn, "__name__", "") != "<lambda>":
        return None
    from ._drawcode import _lambda_source

    text = _lambda_source(fn, reader)
    return f"({text})" if text is not None else None


# -- the printed reproduction ------------------------------------------------------------------
class Recorder:
    """A running simulation that writes each driving call into a ``Script``, then makes it.

    Everything else (``runs``, ``now``, ``mail`` …) passes straight through, so job
    tests and faults use it as the simulation itself.
    """

    RECORDED = frozenset({"send", "advance", "advance_to", "run_until_idle", "fail", "crash_worker", "downtime",
                          "duplicate_delivery"})  # fmt: skip

    def __init__(self, sim: Any, script: Script) -> None:
        self.sim = sim
        self.script = script

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.sim, name)
        if name not in self.RECORDED or not callable(value):
            return value
        script = self.script

        def recorded(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True  # a driving frame: pytest shows the test's line (see Simulation._drive)
            script.add(call_code(name, args, kwargs))
            return value(*args, **kwargs)

        return recorded

    def __repr__(self) -> str:
        return f"<recording {self.sim!r}>"


class Script:
    """A regular test, line by line: the ``with jobsim.Simulation(...)`` header, then calls on ``sim``.

    The header carries what makes a simulation reproducible: its targets (as
    ``targets`` names them), start, seed, profile and time zone.
    """

    def __init__(self, sim: Any, *, targets: str = "app", preamble: tuple[str, ...] = (), unnamed: str = "") -> None:
        self.sim = sim
        self.lines: list[str] = []
        self.preamble = preamble
        self.header = _header(sim, targets) + (f"  # {unnamed}" if unnamed else "")  # what a placeholder stands for
        if sim.kernel.now != sim.start_ns:
            self.add(f"sim.advance_to({iso(sim.kernel.now)!r})  # where the test had driven the simulation")

    def add(self, line: str) -> None:
        if line:
            self.lines.append(line)

    def text(self) -> str:
        body = self.lines or ["pass"]
        sim = self.sim
        comment = f"# jobsim reproduction · seed {sim.seed} · profile {sim.profile.name} — paste into a test:"
        indented = ("    " + line for entry in body for line in entry.splitlines())
        return "\n".join([comment, *self.preamble, self.header, *indented])


def _header(sim: Any, targets: str) -> str:
    args = [targets, f"start={iso(sim.start_ns)!r}", f"seed={sim.seed!r}"]
    if sim.profile.name != "inngest":
        args.append(f"profile={sim.profile.name!r}")
    zone = zone_name(sim.tz)
    if zone != "UTC":
        args.append(f"tz={zone!r}")
    max_chain = getattr(sim, "max_chain", DEFAULT_MAX_CHAIN)
    if max_chain != DEFAULT_MAX_CHAIN:  # without it, a chain would stop at another link (BudgetExceeded)
        args.append(f"max_chain={max_chain!r}")
    streams = getattr(sim, "random_streams", "function")
    if streams != "function":  # without it, the reproduction would draw other jitter
        args.append(f"random_streams={streams!r}")
    selection = getattr(sim, "_selection", None)
    if selection is not None:  # without it, the left-out functions would run in the reproduction
        args.append(f"{selection.argument}={selection.ids!r}")
    return f"with jobsim.Simulation({', '.join(args)}) as sim:"


def note(text: str) -> None:
    """``hypothesis.note(text)`` when running inside a Hypothesis test; nothing otherwise.

    Looked up in ``sys.modules`` rather than imported: a history applied outside
    Hypothesis must not pull it in (``jobsim.strategies`` is its only importer).
    """
    hypothesis = sys.modules.get("hypothesis")
    if hypothesis is None:
        return
    inside = getattr(hypothesis, "currently_in_test_context", None)  # Hypothesis >= 6.87
    if inside is not None and not inside():
        return
    try:
        hypothesis.note(text)
    except sys.modules["hypothesis.errors"].InvalidArgument:  # outside a test, on an older Hypothesis
        pass
