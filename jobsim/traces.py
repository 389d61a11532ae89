"""Trace files: save, load, replay, compare, import, redact and scan.

``sim.trace.save("run.jobsim.jsonl")`` writes what a simulation did; this module
reads and uses such files::

    import jobsim
    from jobsim import traces

    trace = jobsim.Trace.load("run.jobsim.jsonl")          # or traces.load(...)
    result = jobsim.Simulation.replay(trace, app)          # today's code, same inputs
    print(result.report())
    result.assert_same()

    diff = traces.compare("before.jobsim.jsonl", "after.jobsim.jsonl", ignore=["email:subject"])
    print(diff.report())

    imported = traces.import_events("prod-events.jsonl")   # Inngest events or CloudEvents
    imported.save("prod.jobsim.jsonl")                      # redacted by default

    for finding in traces.scan("prod.jobsim.jsonl"):       # secrets left in clear?
        print(finding)

The file format, the record kinds and their fields are described in the README
(section "Traces: record, replay, diff") and in ``jobsim._tracefile``, ``jobsim._tracereader`` and ``jobsim._codec``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from ._checks import keywords_checked
from ._codec import from_cloudevent, to_cloudevent
from ._gc import paused_gc
from ._importing import import_events, read_any
from ._redactpolicy import Redaction
from ._replay import ReplayResult, _cut_off, compared_up_to, replay, up_to
from ._replayinputs import has_outcomes
from ._scan import Finding, scan
from ._secrets import MARKER
from ._time import Duration, duration_ns, zone
from ._trace import Record, Trace
from ._tracediff import compare_lines, declared
from ._tracefile import FORMAT, VERSION
from ._tracelines import lines
from ._tracereader import TraceReader
from ._traceresult import Comparison, Divergence, FunctionResult
from ._tracestory import COMPARISONS
from .errors import InvalidArgument, TraceError, TraceWarning

__all__ = [
    "COMPARISONS",
    "FORMAT",
    "MARKER",
    "VERSION",
    "Comparison",
    "Divergence",
    "Finding",
    "FunctionResult",
    "Record",
    "Redaction",
    "ReplayResult",
    "Trace",
    "TraceError",
    "TraceReader",
    "TraceWarning",
    "compare",
    "from_cloudevent",
    "import_events",
    "iter_records",
    "load",
    "replay",
    "scan",
    "to_cloudevent",
]


@keywords_checked("traces.load()")
def load(path: str | os.PathLike[str], *, strict: bool = False) -> Trace:
    """Read a trace file (gzip or not). ``strict``: unknown record kinds are errors, not warnings."""
    return Trace.load(path, strict=strict)


@keywords_checked("traces.iter_records()")
def iter_records(path: str | os.PathLike[str], *, strict: bool = False) -> Iterator[Record]:
    """Stream a trace's records without holding the file in memory (the header: ``TraceReader``)."""
    with TraceReader(path, strict=strict) as reader:
        yield from reader


@keywords_checked("traces.compare()")
def compare(
    recorded: Trace | str | os.PathLike[str],
    other: Trace | str | os.PathLike[str],
    *,
    compare: Any = None,
    ignore: Iterable[str] | str = (),
    tolerance: Duration = 0,
    strict: bool = False,
) -> Comparison:
    """Compare two traces function by function (``jobsim diff A B``); see ``jobsim._tracediff``."""
    a, b = _trace(recorded, "recorded", strict), _trace(other, "other", strict)
    notes = []
    fp_a, fp_b = _key_fp(a), _key_fp(b)
    if fp_a != fp_b:
        notes.append(f"the traces were pseudonymized differently ({fp_a or 'not at all'} vs {fp_b or 'not at all'}): "
                     "personal values will differ")  # fmt: skip
    notes += _cut_off(a, "A", "compared") + _cut_off(b, "B", "compared")
    cut_at, cut_note = compared_up_to([("A", a), ("B", b)], "both are")
    notes += cut_note
    inputs_only = [(label, trace) for label, trace in (("A", a), ("B", b)) if not has_outcomes(trace)]
    if len(inputs_only) == 1:  # each run of the other then reads 'only in', as if the code had changed
        (one, events), other_label = inputs_only[0], "B" if inputs_only[0][0] == "A" else "A"
        name = events.path if events.path is not None else "TRACE"
        notes.append(f"{one} holds input events only (imported), no runs: every run of {other_label} is "
                     f"'only in {other_label}'; to compare outcomes, replay them into your code (jobsim replay "
                     f"{name} --app MODULE --out FILE) and diff FILE with {other_label}")  # fmt: skip
    tz = zone((a.header or {}).get("tz") or (b.header or {}).get("tz") or "UTC")
    with paused_gc():
        return compare_lines(up_to(lines(a), cut_at), up_to(lines(b), cut_at), compare=compare, ignore=ignore,
                             tolerance=duration_ns(tolerance, "tolerance"), notes=notes, labels=("A", "B"),
                             tz=tz, known=[*declared(a.header_fields()), *declared(b.header_fields())])  # fmt: skip


def _trace(value: Any, argument: str, strict: bool) -> Trace:
    if isinstance(value, Trace):
        return value
    if isinstance(value, (str, os.PathLike)):
        return read_any(value, strict=strict)
    raise InvalidArgument.build(argument, value, "a jobsim.Trace or the path of a trace file")


def _key_fp(trace: Trace) -> str | None:
    info = (trace.header or {}).get("redaction")
    if not isinstance(info, dict):  # none, or a hand-edited header's: not pseudonymized as far as anyone can tell
        return None
    return info.get("key_fp") if info.get("pii") == "pseudonymized" else None
