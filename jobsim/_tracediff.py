"""Comparing two stories: what each function did in a recorded trace and in another one.

Both traces are read as the lines a file holds (so ``--ignore`` paths are the
paths you see in the file), then projected per function onto one sequence per
comparison mode:

``runs``     each run, in order: the event that started it, its final status, its error
``outputs``  each run's output
``emails``   each email a function sent: addresses, subject, bodies, template
``http``     each HTTP call a function made: method, URL, request body and
             content type, response status (or the error's type)
``events``   each event a function emitted: type and data
``timing``   when each run started and ended, each attempt started, each retry
             was scheduled for, each sleep and wait was until -- equal within
             ``tolerance``

Runs are matched by their order within their function, not by id, so a replay
whose ids differ still lines up. A run's emails, HTTP calls, events and timing are
compared with those of the run it lines up with, matched by what they are (method
and URL, recipients, event type, step), so a call a new step adds is one item only
in the replay (``http call #2 of run #1``), not a change to every call after it.
Each mode reports its *first* divergence per function (as Temporal's replayer
reports the first non-deterministic command): what differs further on usually
follows from it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import fnmatch
import re
import shlex
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import zip_longest
from typing import Any

import orjson

from ._time import MS, format_duration, iso
from .errors import InvalidArgument

COMPARISONS = ("runs", "outputs", "emails", "http", "events", "timing")
OUTSIDE = "(outside jobs)"
"""The 'function' of emails and HTTP calls made by test code, not by a job."""
SYSTEM = "(jobsim)"
"""The 'function' of events jobsim itself emits (``inngest/function.failed``)."""


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


# -- options --------------------------------------------------------------------------------------
def parse_compare(value: Any, name: str = "compare") -> tuple[str, ...]:
    """``"runs,emails"``, a list of names, ``"all"`` or ``None`` (all) -> mode names (``name``: the argument's)."""
    if value is None or value == "all":
        return COMPARISONS
    items = value.split(",") if isinstance(value, str) else value
    try:
        names = tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))
    except TypeError:
        names = ()
    bad = [name for name in names if name not in COMPARISONS]
    if bad or not names:
        raise InvalidArgument.build(name, value, "one or more of " + ", ".join(COMPARISONS) + " (or 'all')")
    return names


@dataclasses.dataclass(slots=True)
class Ignore:
    """``KIND:PATH``: delete ``PATH`` (dotted, list items as ``.0`` or ``[0]``; ``*`` one level,
    ``**`` any depth) from records of ``KIND``."""

    text: str
    kind: str
    path: tuple[str, ...]
    hits: int = 0

    @classmethod
    def parse(cls, text: Any) -> Ignore:
        if not isinstance(text, str) or not text.strip():
            raise InvalidArgument.build("ignore", text, "a path such as 'email:subject' or 'http:request.headers.date'")
        parts = [part.strip() for part in text.split(",")]
        if len(parts) > 1 and all(_KIND_PATH.match(part) for part in parts):  # --compare's commas, guessed
            repeated = " ".join(f"--ignore {shlex.quote(part)}" for part in parts)
            raise InvalidArgument(f"ignore={text!r} holds {len(parts)} KIND:PATH patterns joined by commas, one "
                                  f"pattern it would never match; give each its own: {repeated} (ignore=[...] "
                                  "in Python)")  # fmt: skip
        kind, _, path = text.strip().rpartition(":") if ":" in text else ("*", "", text.strip())
        path = re.sub(r"\[(\d+|\*)\]", r".\1", path)  # items[0].p, as reports print it, is items.0.p
        segments = tuple(path.split("."))
        if not kind or any(not s for s in segments):
            raise InvalidArgument.build("ignore", text,
                                        "KIND:PATH with a dotted PATH, e.g. 'run.end:output.generatedAt'")  # fmt: skip
        return cls(text.strip(), kind, segments)

    def apply(self, line: dict[str, Any]) -> dict[str, Any]:
        if self.kind != "*" and not fnmatch.fnmatchcase(line["k"], self.kind):
            return line
        base: dict[str, Any] = {"k": line["k"], "seq": line.get("seq"), "at": line.get("at")}  # they place it
        out = _drop(line, self.path, self)
        if out is MISSING:
            return base
        kept: dict[str, Any] = out
        return kept if kept is line else {**kept, **base}


_KIND_PATH = re.compile(r"[\w.*?-]+:\S")
"""What one ``--ignore`` pattern starts with: a kind (``email``, ``run.end``, ``*``), a colon, a path."""


def _drop(value: Any, path: Sequence[str], ignore: Ignore) -> Any:
    """``value`` without what ``path`` names (a copy where anything went); MISSING if all of it."""
    if not path:
        ignore.hits += 1
        return MISSING
    head, rest = path[0], path[1:]
    if head == "**":
        value = _drop(value, rest, ignore)  # zero levels
        if value is MISSING:
            return value
        return _each(value, lambda child: _drop(child, path, ignore))
    if isinstance(value, dict):
        if head == "*":
            return _each(value, lambda child: _drop(child, rest, ignore))
        if head not in value:
            return value
        child = _drop(value[head], rest, ignore)
        if child is value[head]:
            return value
        out = dict(value)
        if child is MISSING:
            del out[head]
        else:
            out[head] = child
        return out
    if isinstance(value, list) and (head == "*" or head.isdigit()):
        if head == "*":
            return _each(value, lambda child: _drop(child, rest, ignore))
        index = int(head)
        if index >= len(value):
            return value
        out_list = list(value)
        child = _drop(value[index], rest, ignore)
        out_list[index] = None if child is MISSING else child
        return out_list
    return value


def _each(value: Any, fn: Any) -> Any:
    if isinstance(value, dict):
        changed = {k: fn(v) for k, v in value.items()}
        if all(changed[k] is value[k] for k in value):
            return value
        return {k: v for k, v in changed.items() if v is not MISSING}
    if isinstance(value, list):
        items = [fn(v) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return [v for v in items if v is not MISSING]
    return value


# -- projection -------------------------------------------------------------------------------------
@dataclasses.dataclass(slots=True)
class Item:
    """One element of a function's sequence for one mode."""

    value: Any
    at: int | None
    label: str
    run: int | None = None
    """The number of the run it belongs to within its function (``None``: made outside a run)."""


@dataclasses.dataclass(slots=True)
class _Run:
    n: int
    event: str | None
    at: int
    status: str = "pending"
    error: str | None = None
    output: Any = MISSING
    reason: str | None = None


class Story:
    """What a trace says each function did, per comparison mode."""

    def __init__(self, lines: Iterable[dict[str, Any]]) -> None:
        self.runs: dict[str, list[_Run]] = defaultdict(list)
        self.items: dict[str, dict[str, list[Item]]] = {mode: defaultdict(list) for mode in COMPARISONS}
        self.by_id: dict[str, _Run] = {}
        self._numbers: dict[tuple[str, str, int | None], int] = {}
        self.records = 0
        for line in lines:
            self.records += 1
            handler = _READERS.get(line["k"])
            if handler is not None:
                handler(self, line)
        for fn, runs in self.runs.items():
            for run in runs:
                value: dict[str, Any] = {"event": run.event, "status": run.status}
                if run.error is not None:
                    value["error"] = run.error
                if run.reason is not None:
                    value["reason"] = run.reason
                self.items["runs"][fn].append(Item(value, run.at, f"run #{run.n}", run.n))
                output = None if run.output is MISSING else run.output
                self.items["outputs"][fn].append(Item(output, run.at, f"run #{run.n}", run.n))

    def functions(self) -> set[str]:
        return {fn for per_fn in self.items.values() for fn, items in per_fn.items() if items}

    def _run(self, line: dict[str, Any]) -> _Run | None:
        run_id = line.get("run")
        return self.by_id.get(run_id) if isinstance(run_id, str) else None

    def _label(self, line: dict[str, Any], what: str, fn: str, mode: str) -> tuple[str, int | None]:
        """``http call #2 of run #1`` and the run's number: numbered within its run, as the runs' items
        are compared (``_first``); one made outside a run, within its function (``email #3``)."""
        run = self._run(line)
        n = None if run is None else run.n
        key = (mode, fn, n)
        number = self._numbers[key] = self._numbers.get(key, 0) + 1
        return f"{what} #{number}" + (f" of run #{n}" if n is not None else ""), n

    # -- readers, one per record kind ---------------------------------------------------------------
    def _start(self, line: dict[str, Any]) -> None:
        run_id, fn = line.get("run"), str(line.get("function"))
        if not isinstance(run_id, str):
            return
        run = self.by_id.get(run_id)
        if run is None:  # first seen queued, skipped or started: its place in the order
            run = self.by_id[run_id] = _Run(len(self.runs[fn]) + 1, line.get("event"), line["at"])
            self.runs[fn].append(run)
        if line["k"] == "run.skipped":
            run.status, run.reason = "skipped", line.get("reason")
        elif line["k"] == "run.start":
            self._timing(line, fn, "run.start", line["at"])

    def _cancel(self, line: dict[str, Any]) -> None:
        """A run cancelled before its first request has no other record of its start (``trigger``: its event)."""
        if "trigger" in line:
            self._start({**line, "event": line["trigger"]})

    def _end(self, line: dict[str, Any]) -> None:
        run = self._run(line)
        if run is None:
            return
        run.status = str(line.get("status"))
        run.error = line.get("error")
        run.output = line.get("output", MISSING)
        self._timing(line, str(line.get("function")), "run.end", line["at"])

    def _timing(self, line: dict[str, Any], fn: str, what: str, at: Any, then: str = "") -> None:
        run = self._run(line)
        step = line.get("step")
        label = what + (f" step {step!r}" if step else "") + (f" of run #{run.n}" if run else "") + then
        self.items["timing"][fn].append(Item({"what": label, "at": at}, line["at"], label,
                                             None if run is None else run.n))  # fmt: skip

    def _attempt(self, line: dict[str, Any]) -> None:
        self._timing(line, str(line.get("function")), f"attempt {line.get('attempt')}", line["at"])

    def _retry(self, line: dict[str, Any]) -> None:
        self._timing(line, str(line.get("function")), f"retry {line.get('attempt')} due", line.get("next_at"))

    def _until(self, line: dict[str, Any]) -> None:
        self._timing(line, str(line.get("function")), line["k"], line.get("until"), " ends")  # sleep step 'x' ... ends

    def _email(self, line: dict[str, Any]) -> None:
        fn = str(line.get("function") or OUTSIDE)
        value = {k: v for k, v in line.items() if k not in ("k", "seq", "at", "function", "run", "message_id")}
        self.items["emails"][fn].append(Item(value, line["at"], *self._label(line, "email", fn, "emails")))

    def _http(self, line: dict[str, Any]) -> None:
        fn = str(line.get("function") or OUTSIDE)
        request = line.get("request") or {}
        value: dict[str, Any] = {"method": line.get("method"), "url": line.get("url")}
        sent = {}
        content_type = (request.get("headers") or {}).get("content-type")
        if content_type is not None:
            sent["content-type"] = content_type
        if "body" in request:
            sent["body"] = request["body"]
        value["request"] = sent
        if "status" in line:
            value["status"] = line["status"]
        if "error" in line:
            value["error"] = str(line["error"]).partition(":")[0]
        if "lost" in line:
            value["lost"] = line["lost"]
        self.items["http"][fn].append(Item(value, line["at"], *self._label(line, "http call", fn, "http")))

    def _event(self, line: dict[str, Any]) -> None:
        origin = line.get("origin", "input")
        if origin == "input":
            return
        fn = str(line.get("function") or SYSTEM) if origin == "job" else SYSTEM
        ce = line.get("ce") or {}
        value = {"type": ce.get("type"), "data": ce.get("data")}
        if line["k"] == "event.dropped":
            value["dropped"] = True
        self.items["events"][fn].append(Item(value, line["at"], *self._label(line, "event", fn, "events")))


_READERS = {
    "run.start": Story._start, "run.queued": Story._start, "run.skipped": Story._start, "run.end": Story._end,
    "cancel": Story._cancel,
    "attempt": Story._attempt, "retry": Story._retry, "sleep": Story._until, "wait": Story._until,
    "email": Story._email, "http": Story._http, "event": Story._event, "event.dropped": Story._event,
}  # fmt: skip


# -- results ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Divergence:
    """Where a function's sequence for one mode first differs.

    ``path`` is the first differing field inside the item (``""``: the whole item);
    ``recorded``/``replayed`` are the values there (``None`` when the item is missing
    on that side, as ``note`` says).
    """

    function: str
    mode: str
    index: int
    label: str
    path: str
    recorded: Any
    replayed: Any
    recorded_at: int | None
    replayed_at: int | None
    note: str
    errors: tuple[Any, Any] | None = None
    """A run whose status differs: each side's error (``None``: it had none), so the report says why the
    replayed run failed, not only that it did."""

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def describe(self, tz: dt.tzinfo | None = None, labels: tuple[str, str] = ("recorded", "replayed")) -> list[str]:
        """The lines a report shows for it: what, when, and the two values."""
        at = self.recorded_at if self.recorded_at is not None else self.replayed_at
        when = f" at {iso(at, tz)}" if at is not None else ""
        if self.recorded_at is not None and self.replayed_at is not None and self.replayed_at != self.recorded_at:
            when += f" ({labels[1]}: at {iso(self.replayed_at, tz)})"  # a call made on day 1 in place of day 3's
        if self.mode == "timing" and self.path == "at":  # the times compared are below; the record's own instant
            when = ""  # (when a sleep began, a retry was decided) read as the time it ends or is due
        head = f"{self.mode}: {self.label}{when}: {self.note}"
        if self.note.startswith(("missing from", "only in")) and not self.path:
            value = self.recorded if self.note.startswith("missing") else self.replayed
            return [head, f"    {_short(value)}"]
        where = self.path or "(value)"
        a, b = labels
        width = max(len(a), len(b))
        # a field one side lacks reads "(absent)", not "null": a person must tell it from a field set to null
        recorded = "(absent)" if self.note.startswith("only in") else _short(self.recorded)
        replayed = "(absent)" if self.note.startswith("missing from") else _short(self.replayed)
        lines = [head, f"    {where}: {a:<{width}} {recorded}",
                 f"    {' ' * len(where)}  {b:<{width}} {replayed}"]  # fmt: skip
        if self.errors is not None:
            ea, eb = ("(none)" if e is None else _short(e) for e in self.errors)
            indent = " " * len(where)
            lines += [f"    {indent}  error: {a:<{width}} {ea}", f"    {indent}         {b:<{width}} {eb}"]
        return lines


@dataclasses.dataclass(slots=True, kw_only=True)
class FunctionResult:
    """One function: how many items each mode has on each side, and the first divergences."""

    function: str
    counts: dict[str, tuple[int, int]]
    divergences: dict[str, Divergence]

    @property
    def same(self) -> bool:
        return not self.divergences

    @property
    def first(self) -> Divergence | None:
        """The divergence that happened first in virtual time."""
        if not self.divergences:
            return None
        return min(self.divergences.values(), key=lambda d: (_time(d), COMPARISONS.index(d.mode)))


def _time(d: Divergence) -> int:
    at = d.recorded_at if d.recorded_at is not None else d.replayed_at
    return at if at is not None else 0


class Comparison:
    """The result of comparing a recorded trace with a replayed (or another) one.

    ``same``; ``functions`` (function id -> ``FunctionResult``); ``divergences``
    (every first divergence, earliest first); ``report()`` for people,
    ``to_dict()`` for machines; ``assert_same()`` for tests.
    """

    def __init__(self, *, functions: dict[str, FunctionResult], compared: tuple[str, ...], ignore: list[Ignore],
                 tolerance: int, notes: list[str], labels: tuple[str, str] = ("recorded", "replayed"),
                 tz: dt.tzinfo | None = None, known: Iterable[str] = ()) -> None:
        self.functions = functions
        self.known = frozenset(known)  # ids the traces' headers declare, ran or not: what first() accepts
        self.tz = tz
        self.compared = compared
        self.ignore = [i.text for i in ignore]
        self.tolerance = tolerance
        self.notes = notes
        self.labels = labels

    @property
    def same(self) -> bool:
        return all(f.same for f in self.functions.values())

    @property
    def divergences(self) -> list[Divergence]:
        found = [d for f in self.functions.values() for d in f.divergences.values()]
        return sorted(found, key=lambda d: (_time(d), d.function, COMPARISONS.index(d.mode)))

    def first(self, function: str) -> Divergence | None:
        if not isinstance(function, str):
            function = getattr(function, "id", function)  # a jobsim Function, as sim.runs() takes
            if not isinstance(function, str):
                raise InvalidArgument.build("function", function, "a function id (a str), as in the report")
        result = self.functions.get(function)
        if result is None and function not in self.known:  # a typo would read as "no divergence"
            ids = sorted(self.known.union(self.functions))
            raise InvalidArgument.build("function", function, "one of the compared function ids: "
                                        + (", ".join(map(repr, ids)) or "none (neither trace names a function)"))
        return None if result is None else result.first

    def assert_same(self) -> None:
        """Raise ``AssertionError`` with the report when anything differs."""
        __tracebackhide__ = True
        if not self.same:
            raise AssertionError(self.report())

    def to_dict(self) -> dict[str, Any]:
        return {
            "same": self.same, "compared": list(self.compared), "ignore": self.ignore,
            "tolerance_ns": self.tolerance, "notes": self.notes,
            "functions": {
                fn: {"same": r.same, "counts": {m: list(c) for m, c in r.counts.items()},
                     "first": None if r.first is None else r.first.to_dict(),
                     "divergences": {m: d.to_dict() for m, d in r.divergences.items()}}
                for fn, r in self.functions.items()
            },
        }  # fmt: skip

    def report(self, tz: dt.tzinfo | None = None) -> str:
        """A readable report: one block per function, the first divergence of each, a summary."""
        a, b = self.labels
        tz = tz if tz is not None else self.tz
        tolerance = f" (tolerance {format_duration(self.tolerance)})" if "timing" in self.compared else ""
        lines = [f"compared: {', '.join(self.compared)}{tolerance}"]
        if self.ignore:
            lines.append("ignoring: " + ", ".join(self.ignore))
        lines += [f"note: {note}" for note in self.notes]
        lines.append("")
        width = max((len(fn) for fn in self.functions), default=8)
        for fn, result in self.functions.items():
            first = result.first
            if first is None:
                lines.append(f"  same     {fn:<{width}}  {_counts(result)}")
                continue
            detail = first.describe(tz, self.labels)
            lines.append(f"  DIFFERS  {fn:<{width}}  {detail[0]}")
            lines += [f"           {' ' * width}  {text}" for text in detail[1:]]
            others = [d for m, d in result.divergences.items() if d is not first]
            if others:
                also = ", ".join(f"{d.mode} ({d.label})" for d in others)
                lines.append(f"           {' ' * width}  also differs: {also}")
        differing = [r for r in self.functions.values() if not r.same]
        by_mode: dict[str, int] = defaultdict(int)
        for r in differing:
            for mode in r.divergences:
                by_mode[mode] += 1
        if self.functions:
            lines.append("")
        total = len(self.functions)
        if not total:  # files of input events only (an import): they hold no outcome to compare
            lines.append(f"nothing to compare: neither {a} nor {b} holds a run (files of input events only?); "
                         "replay each into your code (jobsim replay TRACE --app MODULE) and diff the replays' "
                         "traces (--out)")
        elif not differing:
            lines.append(f"same: {total} function(s), {a} and {b} agree on {', '.join(self.compared)}")
        else:
            modes = ", ".join(f"{mode} {count}" for mode, count in by_mode.items())
            lines.append(f"DIFFERS: {len(differing)} of {total} function(s) ({modes})")
        return "\n".join(lines)


def _counts(result: FunctionResult) -> str:
    names = {"runs": ("run", "runs"), "emails": ("email", "emails"), "http": ("http call", "http calls"),
             "events": ("event emitted", "events emitted")}  # fmt: skip
    parts = []
    for mode, (one, many) in names.items():
        if mode in result.counts:
            a, b = result.counts[mode]
            if a or b:
                parts.append(f"{a} {one if a == 1 else many}" if a == b else f"{many} {a} -> {b}")
    return ", ".join(parts) or "nothing compared"


def _short(value: Any, limit: int = 100) -> str:
    if value is MISSING:
        return "(absent)"
    text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=repr).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- comparing --------------------------------------------------------------------------------------
def compare_lines(recorded: Iterable[dict[str, Any]], replayed: Iterable[dict[str, Any]], *,
                  compare: Any = None, ignore: Iterable[Any] = (), tolerance: int = 0,
                  notes: list[str] | None = None, labels: tuple[str, str] = ("recorded", "replayed"),
                  tz: dt.tzinfo | None = None, known: Iterable[str] = ()) -> Comparison:
    """Compare two streams of trace lines (see the module docstring)."""
    modes = parse_compare(compare)
    if isinstance(ignore, str):
        ignore = [ignore]
    elif not isinstance(ignore, Iterable) or isinstance(ignore, (bytes, Mapping)):
        raise InvalidArgument.build("ignore", ignore, "a 'KIND:PATH' string or a list of them")
    patterns = [Ignore.parse(text) for text in ignore]
    kinds: set[str] = set()
    a = Story(_ignored(recorded, patterns, kinds))
    b = Story(_ignored(replayed, patterns, kinds))
    notes = list(notes or [])
    notes += [f"--ignore {p.text!r} matched nothing{_no_such_kind(p, kinds)}{_kind_alone(p, kinds)}"
              for p in patterns if p.hits == 0]  # fmt: skip
    functions: dict[str, FunctionResult] = {}
    for fn in _ordered(a, b):
        counts, found = {}, {}
        for mode in modes:
            left, right = a.items[mode].get(fn, []), b.items[mode].get(fn, [])
            counts[mode] = (len(left), len(right))
            divergence = _first(fn, mode, left, right, tolerance, labels, tz)
            if divergence is not None:
                found[mode] = divergence
        functions[fn] = FunctionResult(function=fn, counts=counts, divergences=found)
    return Comparison(functions=functions, compared=modes, ignore=patterns, tolerance=tolerance, notes=notes,
                      labels=labels, tz=tz, known=known)  # fmt: skip


def declared(header: Mapping[str, Any]) -> list[str]:
    """The function ids a trace's header names (ran or not): what ``Comparison.first`` accepts."""
    functions = header.get("functions")
    return [f for f in functions if isinstance(f, str)] if isinstance(functions, list) else []


def _ordered(a: Story, b: Story) -> list[str]:
    """Functions in the order they first appear (recorded first), then the replay's new ones."""
    seen: dict[str, None] = {}
    for story in (a, b):
        for per_fn in story.items.values():
            for fn, items in per_fn.items():
                if items:
                    seen.setdefault(fn)
    return list(seen)


def _ignored(lines: Iterable[dict[str, Any]], patterns: list[Ignore], kinds: set[str]) -> Iterable[dict[str, Any]]:
    for line in lines:
        kinds.add(line["k"])
        for pattern in patterns:
            line = pattern.apply(line)
        yield line


def _kind_alone(pattern: Ignore, kinds: set[str]) -> str:
    """A pattern that names a kind or a comparison and no field (``--ignore email``): read as a field
    called ``email`` in every record, it matched nothing, and the emails were still compared."""
    if pattern.kind != "*" or len(pattern.path) != 1:
        return ""
    name = pattern.path[0]
    mode = name if name in COMPARISONS else f"{name}s" if f"{name}s" in COMPARISONS else None
    if name not in kinds and mode is None:
        return ""
    leave = f"; to compare no {mode} at all, leave {mode!r} out of --compare" if mode is not None else ""
    return (f": {name!r} is read as a field of that name in every record; --ignore takes KIND:PATH, a field of "
            f"a kind of record (email:subject, http:request.headers.date){leave}")


def _no_such_kind(pattern: Ignore, kinds: set[str]) -> str:
    """Why an ignore pattern matched nothing when its KIND is in neither trace (``emails:subject``), and the
    pattern meant when KIND names a comparison whose records are of another kind and shape: a run's output
    is ``run.end:output.PATH``, an emitted event's data ``event:ce.data.PATH``."""
    kind = pattern.kind
    if any(fnmatch.fnmatchcase(seen, kind) for seen in kinds):
        return ""
    meant = _MEANT.get(kind)
    if meant is not None:
        path = ".".join(pattern.path)
        record, prefix = meant(path)
        return (f": no record of kind {kind!r} is in either trace; {kind} are compared from {record!r} records: "
                f"--ignore {record}:{prefix}{path}")
    close = difflib.get_close_matches(kind, sorted(kinds), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; the kinds there: {', '.join(sorted(kinds))}"
    return f": no record of kind {kind!r} is in either trace{hint}"


_MEANT: dict[str, Callable[[str], tuple[str, str]]] = {
    "outputs": lambda path: ("run.end", "output."),
    "runs": lambda path: ("run.end", ""),
    "events": lambda path: ("event", "ce." if path.split(".")[0] in ("type", "data") else "ce.data."),
}
"""The record kind (and the prefix of its paths) a comparison named as an ``--ignore`` KIND reads."""


def _first(fn: str, mode: str, left: list[Item], right: list[Item], tolerance: int,
           labels: tuple[str, str], tz: dt.tzinfo | None = None) -> Divergence | None:
    """The earliest divergence of one function in one mode: each run's items against those of the run
    it lines up with (by number), aligned by what they are (``_KEYS``), and the items made outside
    runs against each other. Compared over the function's whole sequence instead, an HTTP call a
    new step added to run #1 was read as run #2's first call with another URL, and every later
    pair was off by one."""
    same = len(left) == len(right) and all(a.run == b.run and a.value == b.value for a, b in zip(left, right,
                                                                                                   strict=True))
    if same or any(a.run is None for a in left) != any(b.run is None for b in right):
        # the common case, nothing changed: in order is lined up already (still compared exactly: True is not 1);
        # or one side's lines name no run (a file written before they did): compared in order, as then
        return _first_of(fn, mode, (((i, a) if i < len(left) else None, (i, b) if i < len(right) else None)
                                    for i, (a, b) in enumerate(zip_longest(left, right))),
                         tolerance, labels, tz)  # fmt: skip
    found: list[Divergence] = []
    for a_items, b_items in _by_run(left, right):
        divergence = _first_of(fn, mode, _aligned(mode, a_items, b_items), tolerance, labels, tz)
        if divergence is not None:
            found.append(divergence)
    return min(found, key=lambda d: (_earliest(d), d.index)) if found else None


def _earliest(d: Divergence) -> int:
    """When a divergence first shows, on either side: a call today's code makes at 00:00 in place of one
    recorded on day 3 comes before a call another run makes only in the replay at 00:10."""
    return min((at for at in (d.recorded_at, d.replayed_at) if at is not None), default=0)


def _by_run(left: list[Item], right: list[Item]) -> Iterable[tuple[list[tuple[int, Item]], list[tuple[int, Item]]]]:
    """Each side's items (with their index in the function's sequence) per run number, in run order;
    those made outside a run last."""
    groups: dict[int | None, tuple[list[tuple[int, Item]], list[tuple[int, Item]]]] = {}
    for side, items in enumerate((left, right)):
        for index, item in enumerate(items):
            groups.setdefault(item.run, ([], []))[side].append((index, item))
    return [groups[n] for n in sorted(groups, key=lambda n: (n is None, n or 0))]


_Pair = tuple[tuple[int, Item] | None, tuple[int, Item] | None]
_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "http": lambda v: (v.get("method"), v.get("url")),
    "emails": lambda v: orjson.dumps(v.get("to"), default=repr),
    "events": lambda v: v.get("type"),
    "timing": lambda v: v.get("what"),
}
"""What an item is, for lining up the items of one run: an item with no match is only on one side."""
_ALIGN_MAX = 2_000
"""Past this many items left unmatched in a run, they are compared in order (lining up is quadratic)."""


def _aligned(mode: str, left: list[tuple[int, Item]], right: list[tuple[int, Item]],
             ) -> list[_Pair]:
    """Pairs of one run's items: in order while they are the same thing (``_KEYS``); past the first that
    is not, lined up by ``difflib`` so a call added or dropped reads as one, not as every later pair."""
    key = _KEYS.get(mode)
    n = min(len(left), len(right))
    same = 0
    if key is not None:
        while same < n and (left[same][1].value == right[same][1].value  # equal: the same thing, and cheaper
                            or key(left[same][1].value) == key(right[same][1].value)):  # fmt: skip
            same += 1
    else:
        same = n
    pairs: list[_Pair] = list(zip(left[:same], right[:same], strict=True))
    rest_a, rest_b = left[same:], right[same:]
    if key is None or not (rest_a and rest_b) or len(rest_a) + len(rest_b) > _ALIGN_MAX:
        pairs += [(rest_a[i] if i < len(rest_a) else None, rest_b[i] if i < len(rest_b) else None)
                  for i in range(max(len(rest_a), len(rest_b)))]  # fmt: skip
        return pairs
    matcher = difflib.SequenceMatcher(None, [key(i.value) for _, i in rest_a], [key(i.value) for _, i in rest_b],
                                      autojunk=False)  # fmt: skip
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal" or op == "replace":
            width = max(a1 - a0, b1 - b0)
            pairs += [(rest_a[a0 + i] if a0 + i < a1 else None, rest_b[b0 + i] if b0 + i < b1 else None)
                      for i in range(width)]  # fmt: skip
        elif op == "delete":
            pairs += [(item, None) for item in rest_a[a0:a1]]
        else:
            pairs += [(None, item) for item in rest_b[b0:b1]]
    return pairs


def _first_of(fn: str, mode: str, pairs: Iterable[_Pair],
              tolerance: int, labels: tuple[str, str], tz: dt.tzinfo | None) -> Divergence | None:
    for left, right in pairs:
        a = None if left is None else left[1]
        b = None if right is None else right[1]
        index = left[0] if left is not None else right[0] if right is not None else 0
        if a is None or b is None:
            note = "missing from the replay" if b is None else "only in the replay"
            if labels != ("recorded", "replayed"):
                note = f"missing from {labels[1]}" if b is None else f"only in {labels[1]}"
            item = a or b
            assert item is not None
            return Divergence(function=fn, mode=mode, index=index, label=item.label, path="",
                              recorded=None if a is None else a.value, replayed=None if b is None else b.value,
                              recorded_at=None if a is None else a.at, replayed_at=None if b is None else b.at,
                              note=note)  # fmt: skip
        if mode == "timing":
            found = _timing_difference(a.value, b.value, tolerance,
                                       "the replay" if labels == ("recorded", "replayed") else labels[1], tz)
        else:
            found = first_difference(a.value, b.value)
        if found is not None:
            path, va, vb, note = found
            if va is MISSING or vb is MISSING:
                side = "the replay" if labels == ("recorded", "replayed") else labels[1]
                note = f"only in {side}" if va is MISSING else f"missing from {side}"
                va, vb = (None if va is MISSING else va), (None if vb is MISSING else vb)
            errors = None
            if mode == "runs" and path == "status" and a.value.get("error") != b.value.get("error"):
                errors = (a.value.get("error"), b.value.get("error"))
            return Divergence(function=fn, mode=mode, index=index, label=a.label, path=path, recorded=va,
                              replayed=vb, recorded_at=a.at, replayed_at=b.at, note=note,
                              errors=errors)  # fmt: skip
    return None


def _timing_difference(a: dict[str, Any], b: dict[str, Any], tolerance: int, side: str,
                       tz: dt.tzinfo | None) -> tuple[str, Any, Any, str] | None:
    """``side`` names the second story as the report does: "the replay", or "B" in a diff of two files.

    The two times are written in ``tz``, the zone the report prints the divergence's own time in,
    so a reader compares like with like."""
    if a["what"] != b["what"]:
        return "what", a["what"], b["what"], "a different step of the story"
    ta, tb = a["at"], b["at"]
    if isinstance(ta, int) and isinstance(tb, int):
        if abs(ta - tb) <= tolerance:
            return None
        sign = "later" if tb > ta else "earlier"
        apart = abs(tb - ta)
        if apart > MS and apart % MS:  # a jittered retry: "979ms509296ns" beside two instants shown to the ms
            apart = (apart + MS // 2) // MS * MS
        return "at", iso(ta, tz), iso(tb, tz), f"{format_duration(apart)} {sign} in {side}"
    return None if ta == tb else ("at", ta, tb, "differs")


def first_difference(a: Any, b: Any, path: str = "") -> tuple[str, Any, Any, str] | None:
    """The first path where two JSON values differ: ``(path, a_value, b_value, note)``."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            sub = f"{path}.{key}" if path else str(key)
            found = first_difference(a.get(key, MISSING), b.get(key, MISSING), sub)
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        for index in range(max(len(a), len(b))):
            sub = f"{path}[{index}]"
            found = first_difference(a[index] if index < len(a) else MISSING,
                                     b[index] if index < len(b) else MISSING, sub)  # fmt: skip
            if found is not None:
                return found
        return None
    if type(a) is type(b) and a == b:
        return None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool) and a == b:
        return None
    return path, a, b, "differs"
