"""The result of a trace comparison: each function's first ``Divergence`` per mode (``FunctionResult``),
and the whole ``Comparison`` with its report for people and its dict for machines."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson

from ._checks import listed_ids
from ._httpadvice import jobsim_first
from ._time import format_duration, iso
from ._tracestory import COMPARISONS, MISSING, SYSTEM
from .errors import InvalidArgument

BEFORE_FIRST_RECORD = "stops there, before its first record"
"""What ``jobsim._replay.compared_up_to``'s note says of a trace cut right after its header (``_summary`` reads it)."""

if TYPE_CHECKING:
    from ._traceignore import Ignore


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
    more: tuple[str, ...] = ()
    """Other fields of the same item that differ too, after ``path`` (at most ``MORE_PATHS``; ``"..."`` last when
    there are more): an output whose ``domain``, ``initials`` and ``hash`` changed read as if only ``domain`` had."""

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
        whole = self.note.startswith(("missing from", "only in")) and not self.path
        # a field one side lacks: the item is on both sides and differs ("only in the replay" read as the whole call)
        shown = "differs" if self.path and self.note.startswith(("missing from", "only in")) else self.note
        head = f"{self.mode}: {self.label}{when}: {shown}"
        if whole:
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
        if self.more:
            lines.append(f"    and {', '.join(self.more)} differ{'s' if len(self.more) == 1 else ''} too")
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
                                        + (listed_ids(ids, function) or "none (neither trace names a function)"))
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
        lines.append(self._summary(len(differing), by_mode))
        return "\n".join(lines)

    def _summary(self, differing: int, by_mode: dict[str, int]) -> str:
        """The last line. The ``(jobsim)`` row (what no function did: Inngest's ``inngest/function.failed``) is no
        function: not counted as one (\"2 of 3 function(s)\" for one function and it), named apart when it differs."""
        a, b = self.labels
        cut = next((n.split(": ", 1)[1].split(f" {BEFORE_FIRST_RECORD}")[0] for n in self.notes
                    if BEFORE_FIRST_RECORD in n), None)  # fmt: skip
        if not self.functions and cut is not None:  # a trace cut after its header: what the other holds is not read
            return (f"nothing to compare: {cut} holds no record, only its header (it was cut there); record it "
                    "again, or compare a whole copy")
        if not self.functions:  # files of input events only (an import): they hold no outcome to compare
            return (f"nothing to compare: neither {a} nor {b} holds a run (files of input events only?); "
                    "replay each into your code (jobsim replay TRACE --app MODULE) and diff the replays' "
                    "traces (--out)")  # fmt: skip
        from ._tracediff import INPUTS  # which imports this module

        if set(self.functions) == {INPUTS}:  # files of input events only, which differ (``_inputs_compared``)
            return f"DIFFERS: the input events of {a} and {b} (neither holds a run: no outcome was compared)"
        system = self.functions.get(SYSTEM)
        total = len(self.functions) - (system is not None)
        if not differing:
            return f"same: {total} function(s), {a} and {b} agree on {', '.join(self.compared)}"
        modes = ", ".join(f"{mode} {count}" for mode, count in by_mode.items())
        system_differs = system is not None and not system.same
        also = f", and what no function did, {SYSTEM}," if system_differs else ""
        return f"DIFFERS: {differing - system_differs} of {total} function(s){also} ({modes})"


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
    if isinstance(value, str):  # requests' "Max retries exceeded with url: ..." cut before jobsim's reason
        value = jobsim_first(value)
    text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=repr).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"

