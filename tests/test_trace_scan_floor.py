"""``benchmarks/bench_trace.py --scan``: the byte scans it times are a floor for a redactor of encoded lines.

A redactor that dumps every record unredacted and rewrites only what C-level ``re`` passes find in the bytes
has to find every line the default save changes. On the benchmark's trace the four passes ``--scan`` times
(an address, a credential's trigger, a learned name's word, a phone number's start) do (so the floor is not
too low: a real byte redactor needs these passes and more, such as secret field names); and the mode runs.
"""

from __future__ import annotations

import gc
import io

import orjson
from _redactcorpus import bench_trace

from jobsim import Redaction
from jobsim._tracefile import write


def test_the_timed_passes_find_every_line_the_default_save_changes():
    trace = bench_trace.build(500, people=20, pool=5)
    data, passes = bench_trace.scan_passes(trace)
    redacted = io.BytesIO()
    write(trace, redacted, Redaction())
    plain, lines = data.splitlines()[1:-1], redacted.getvalue().splitlines()[1:-1]  # the header and end differ
    assert len(plain) == len(lines) == len(trace)
    changed = [(old, new) for old, new in zip(plain, lines, strict=True) if old != new]
    kinds = {orjson.loads(old)["k"] for old, _ in changed}
    assert kinds == {"event", "run.end", "attempt", "http", "email"}  # every costly kind is rewritten
    one = passes["the four in one"]
    assert [old for old, _ in changed if one.search(old) is None] == []


def test_the_scan_mode_prints_each_pass_against_the_redaction(capsys):
    frozen = gc.get_freeze_count()
    try:
        bench_trace.scan_floor(bench_trace.build(250, people=10, pool=3), 1)
    finally:
        if not frozen:  # it freezes its fixtures, as the benchmark does: not left frozen for the next tests
            gc.unfreeze()
    table = capsys.readouterr().out
    for row in ("jobsim save", "redact=False", "the redaction (the two saves' difference)", "findall: @ or %40",
                "findall: secret triggers", "findall: learned name words", "findall: phone hints",
                "findall: the four in one", "search per line: the four in one"):  # fmt: skip
        assert f" {row} |" in table, row
