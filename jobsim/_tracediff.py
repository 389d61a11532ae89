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

import datetime as dt
import difflib
import fnmatch
from collections.abc import Callable, Iterable, Mapping
from itertools import zip_longest
from typing import Any

import orjson

from ._httpadvice import advice_free
from ._time import MS, format_duration, iso
from ._traceignore import Ignore, parse_compare
from ._traceresult import BEFORE_FIRST_RECORD, Comparison, Divergence, FunctionResult
from ._tracestory import COMPARISONS, MISSING, Item, Story, aligned_numbers
from .errors import InvalidArgument


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
    inputs: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
    a = Story(_ignored(recorded, patterns, kinds, inputs[0]))
    replayed = replayed if isinstance(replayed, (list, tuple)) else list(replayed)
    b = Story(_ignored(replayed, patterns, kinds, inputs[1]))
    numbers = aligned_numbers(a, b)
    if numbers is not None:  # a run one side lacks: the later ones line up by what started them, not by place
        b = Story(_ignored(replayed, patterns, set()), numbers)
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
    if not functions and any(inputs) and not any(BEFORE_FIRST_RECORD in note for note in notes):
        result = _inputs_compared(inputs, labels, tz, notes)
        if result is not None:
            functions[INPUTS] = result
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


def _ignored(
    lines: Iterable[dict[str, Any]], patterns: list[Ignore], kinds: set[str], inputs: list[dict[str, Any]] | None = None
) -> Iterable[dict[str, Any]]:
    """The lines with ``patterns`` applied; their kinds into ``kinds``, their input events into ``inputs``."""
    for line in lines:
        kind = line["k"]
        kinds.add(kind)
        for pattern in patterns:
            line = pattern.apply(line)
        if inputs is not None and kind in _EVENT_KINDS and line.get("origin", "input") == "input":
            inputs.append(line)
        yield line


_EVENT_KINDS = frozenset({"event", "event.dropped"})
INPUTS = "(input events)"
"""The report's row for the input events of two traces neither of which holds a run (``_inputs_compared``)."""


def _inputs_compared(
    inputs: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    labels: tuple[str, str],
    tz: dt.tzinfo | None,
    notes: list[str],
) -> FunctionResult | None:
    """Two traces neither of which holds a run (files ``jobsim import`` wrote): their input events compared in
    order, by name, source, data, user and time, the first difference a ``FunctionResult`` of its own (``INPUTS``);
    ``None`` when they are the same. A note says, either way, that no outcome was compared: the same events
    said "same" of two files whose events differed."""
    left, right = ([Item(value=_input(line, tz), at=line.get("at"), label=f"input event #{n}")
                    for n, line in enumerate(side, start=1)] for side in inputs)  # fmt: skip
    a, b = labels
    pairs = (((i, x) if x is not None else None, (i, y) if y is not None else None)
             for i, (x, y) in enumerate(zip_longest(left, right)))  # fmt: skip
    divergence = _first_of(INPUTS, "events", pairs, 0, labels, tz)
    said = "differ" if divergence is not None else f"are the same ({len(left)} event(s))"
    notes.append(f"neither {a} nor {b} holds a run: only their input events were compared (names, sources, data, "
                 f"times), and they {said}; no outcome was compared: to compare outcomes, replay each into your code "
                 "(jobsim replay TRACE --app MODULE --out FILE) and diff the replays' files")  # fmt: skip
    if divergence is None:
        return None
    return FunctionResult(function=INPUTS, counts={"events": (len(left), len(right))},
                          divergences={"events": divergence})  # fmt: skip


def _input(line: dict[str, Any], tz: dt.tzinfo | None) -> dict[str, Any]:
    """What an input event's line says of the event, as compared: not its id, which an import may make up."""
    ce = line.get("ce")
    ce = ce if isinstance(ce, dict) else {}
    at = line.get("at")
    value = {"name": ce.get("type"), "source": ce.get("source"), "data": ce.get("data"),
             "at": iso(at, tz) if type(at) is int else at}  # fmt: skip
    if line.get("user") is not None:
        value["user"] = line["user"]
    if line["k"] != "event":
        value["dropped"] = True
    return value


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
    if kind == "timing":  # a comparison with no kind of record of its own: no field of it can be ignored
        return (": no record of kind 'timing' is in either trace; timing compares the instants of runs, attempts, "
                "retries and sleeps: to compare no timing, leave 'timing' out of --compare (compare=), or let it "
                "differ by up to --tolerance (tolerance=)")  # fmt: skip
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
            more = () if mode == "timing" else other_differences(a.value, b.value, path)
            if errors is not None:  # the report shows them beside the status
                more = tuple(p for p in more if p != "error")
            return Divergence(function=fn, mode=mode, index=index, label=a.label, path=path, recorded=va,
                              replayed=vb, recorded_at=a.at, replayed_at=b.at, note=note,
                              errors=errors, more=more)  # fmt: skip
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


MORE_PATHS = 5
"""The differing fields of an item a report names after the first (``Divergence.more``)."""


def other_differences(a: Any, b: Any, first: str) -> tuple[str, ...]:
    """The paths where ``a`` and ``b`` differ after ``first`` (which ``first_difference`` found), at most
    ``MORE_PATHS``, then ``"..."``. Walked only for the one item a mode reports, never for the items that match."""
    found: list[str] = []

    def walk(x: Any, y: Any, path: str) -> bool:  # False: enough found, stop
        if isinstance(x, dict) and isinstance(y, dict):
            for key in list(x) + [k for k in y if k not in x]:
                if not walk(x.get(key, MISSING), y.get(key, MISSING), f"{path}.{key}" if path else str(key)):
                    return False
            return True
        if isinstance(x, list) and isinstance(y, list):
            for index in range(max(len(x), len(y))):
                if not walk(x[index] if index < len(x) else MISSING, y[index] if index < len(y) else MISSING,
                            f"{path}[{index}]"):  # fmt: skip
                    return False
            return True
        if path != first and first_difference(x, y, path) is not None:
            if len(found) == MORE_PATHS:
                found.append("...")
                return False
            found.append(path)
        return True

    walk(a, b, "")
    return tuple(found)


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
    if isinstance(a, str) and isinstance(b, str) and advice_free(a) == advice_free(b):
        return None  # an unmatched request's error that differs in jobsim's own advice alone (_httpadvice)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool) and a == b:
        return None
    return path, a, b, "differs"
