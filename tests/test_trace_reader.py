"""Reading trace files a block at a time: the fast path must read exactly what the line-by-line reader reads.

``TraceReader`` parses about a mebibyte of lines with one ``orjson.loads`` and sends
any block it cannot vouch for to the line-by-line reader. These tests shrink the
block so small files span many blocks, pin the messages people read (line numbers
included) wherever the bad line sits in a block, and compare the two paths on
generated files, good and bad.
"""

from __future__ import annotations

import gc
import gzip
import sys
import warnings
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jobsim
from jobsim import _gc, _tracereader, traces
from jobsim._tracereader import TraceReader
from jobsim.errors import TraceError, TraceWarning

T0 = 1_741_000_000_000_000_000
HEADER = {"k": "header", "format": "jobsim-trace", "version": 1, "start": T0, "tz": "UTC", "seed": 0,
          "profile": "inngest"}  # fmt: skip


def record(seq: int, kind: str = "attempt", **extra: Any) -> dict[str, Any]:
    """The line of one record of ``kind``, with the fields the kind needs."""
    at = T0 + seq * 1_000_000_000
    fields: dict[str, Any] = {
        "attempt": {"function": "f", "run": f"r{seq}", "step": "s", "attempt": 0},
        "run.start": {"function": "f", "run": f"r{seq}", "n": 1, "event": "user/created"},
        "retry": {"function": "f", "run": f"r{seq}", "attempt": 1, "next_at": at + 5, "delay": 5},
        "event": {"origin": "input", "ce": {"specversion": "1.0", "id": f"e{seq}", "source": "/jobsim/input",
                                            "type": "user/created", "time": "2025-03-03T11:06:40.123Z",
                                            "datacontenttype": "application/json",
                                            "data": {"email": "ada@example.com", "items": [{"sku": "tee"}]}}},
        "http": {"method": "POST", "url": "https://crm.example.com/contacts", "status": 200,
                 "request": {"headers": {"content-type": "application/json"}, "body": {"json": {"id": seq}}}},
    }.get(kind, {"task": "add", "args": [1, 2]})  # fmt: skip
    return {"k": kind, "seq": seq, "at": at, **fields, **extra}


KINDS = ["attempt", "run.start", "retry", "event", "http"]


def many(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [record(seq, KINDS[seq % len(KINDS)]) for seq in range(start, start + n)]


def end(seq: int, records: int) -> dict[str, Any]:
    return {"k": "end", "seq": seq, "at": T0 + seq * 1_000_000_000, "records": records}


def write(path: Path, *lines: dict[str, Any] | bytes, compress: bool = False) -> Path:
    """Objects as JSON lines; bytes as they are (comments, damage), each followed by nothing more."""
    data = b"".join(line if isinstance(line, bytes) else orjson.dumps(line) + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 2 KiB (some ten records) instead of 1 MiB, so every file here spans many blocks."""
    monkeypatch.setattr(_tracereader, "_BLOCK", 2048)


def read(path: Path, *, strict: bool = False, fast: bool = True) -> dict[str, Any]:
    """Everything a reader tells: records, warnings, the end line, and the error it raised (text and line).

    ``fast=False``: every block goes line by line, as the reader did before it read blocks.
    """
    records: list[tuple[int, int, str, dict[str, Any]]] = []
    error = None
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if not fast:
            patch.setattr(TraceReader, "_parse", lambda self, block: None)
        reader = TraceReader(path, strict=strict)
        try:
            with reader:
                records.extend(reader.rows())
        except TraceError as exc:
            error = (str(exc), exc.line)
    return {"records": records, "error": error, "warnings": reader.warnings, "end": reader.end,
            "truncated": reader.truncated, "count": reader.records,
            "warned": [str(w.message) for w in caught]}  # fmt: skip


@pytest.fixture
def slow_lines(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many lines went through the line-by-line reader, per call."""
    calls: list[int] = []
    original = TraceReader._line_by_line

    def spy(self: TraceReader, lines: list[bytes], last: bool) -> Any:
        calls.append(len(lines))
        return original(self, lines, last)

    monkeypatch.setattr(TraceReader, "_line_by_line", spy)
    return calls


# -- what the fast path reads --------------------------------------------------------------------------
def test_a_file_of_many_blocks_reads_as_line_by_line(tmp_path, slow_lines):
    path = write(tmp_path / "t.jobsim.jsonl", HEADER, *many(500), end(500, 500))
    fast = read(path)
    assert slow_lines == []  # every block, the end line's too, on the fast path
    slow = read(path, fast=False)
    assert fast == slow and fast["error"] is None and fast["warnings"] == []
    assert [r[0] for r in fast["records"]] == list(range(500)) and fast["end"]["records"] == 500
    event = fast["records"][3]
    assert event[2] == "event" and event[3] == {
        "name": "user/created", "id": "e3", "data": {"email": "ada@example.com", "items": [{"sku": "tee"}]},
        "ts": 1_741_000_000_123, "origin": "input",
    }  # fmt: skip
    assert fast["records"][2][3]["at"] == T0 + 2 * 1_000_000_000 + 5  # a retry's next_at, renamed


def test_a_whole_file_in_one_block_and_a_line_longer_than_a_block(tmp_path, monkeypatch):
    long = record(1, "attempt", note="x" * 10_000)
    path = write(tmp_path / "t.jobsim.jsonl", HEADER, record(0), long, record(2), end(3, 3))
    assert read(path)["records"][1][3]["note"] == "x" * 10_000
    monkeypatch.setattr(_tracereader, "_BLOCK", 1 << 20)
    loaded = jobsim.Trace.load(path)
    assert [r.seq for r in loaded] == [0, 1, 2] and loaded.complete and loaded.warnings == []


def test_comments_and_blank_lines_anywhere_in_a_block(tmp_path, slow_lines):
    records = many(200)
    lines = [HEADER, *records[:25], b"# a comment in the middle of a block\n", b"\n", b"  \r\n", *records[25:],
             b"# and one after the records\n", end(200, 200), b"# after the end line\n", b"\n"]  # fmt: skip
    path = write(tmp_path / "t.jobsim.jsonl", *lines)
    fast = read(path)
    assert 2 <= len(slow_lines) <= 4 and sum(slow_lines) < 100  # only the blocks with a comment or blank line
    assert fast == read(path, fast=False)
    assert len(fast["records"]) == 200 and fast["error"] is None and fast["warnings"] == []


def test_windows_line_ends_read_on_the_fast_path(tmp_path):
    path = tmp_path / "crlf.jobsim.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\r\n" for line in [HEADER, *many(40), end(40, 40)]))
    assert len(read(path)["records"]) == 40 and read(path) == read(path, fast=False)


@pytest.mark.parametrize("gz", [False, True])
def test_a_byte_order_mark_before_the_header_is_read_past(tmp_path, gz):
    """A trace saved again by a Windows editor starts with a UTF-8 BOM (and CRLF line ends): it was refused as
    'not a jobsim trace: the first line is not JSON', with a hint to import it as a file of events."""
    data = b"\xef\xbb\xbf" + b"".join(orjson.dumps(line) + b"\r\n" for line in [HEADER, *many(40), end(40, 40)])
    path = tmp_path / ("bom.jobsim.jsonl.gz" if gz else "bom.jobsim.jsonl")
    path.write_bytes(gzip.compress(data) if gz else data)
    plain = tmp_path / "plain.jobsim.jsonl"
    plain.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in [HEADER, *many(40), end(40, 40)]))
    assert read(path) == read(plain) and len(read(path)["records"]) == 40
    loaded = jobsim.Trace.load(path)
    assert loaded.header["format"] == "jobsim-trace" and loaded.complete and len(loaded.records) == 40


def test_seq_numbers_with_gaps_are_kept_and_a_dense_file_keeps_none(tmp_path):
    gappy = [record(seq) for seq in range(0, 300, 3)]
    loaded = jobsim.Trace.load(write(tmp_path / "gaps.jobsim.jsonl", HEADER, *gappy, end(300, 100)))
    assert [r.seq for r in loaded] == list(range(0, 300, 3)) and loaded._seqs == list(range(0, 300, 3))
    late = jobsim.Trace.load(write(tmp_path / "late.jobsim.jsonl", HEADER, *many(40), *many(40, start=41),
                                   end(81, 80)))  # fmt: skip
    assert [r.seq for r in late] == [*range(40), *range(41, 81)]
    dense = jobsim.Trace.load(write(tmp_path / "dense.jobsim.jsonl", HEADER, *many(100), end(100, 100)))
    assert dense._seqs is None and [r.seq for r in dense] == list(range(100))


def test_unknown_kinds_are_counted_from_their_first_line_across_blocks(tmp_path, slow_lines):
    lines = [HEADER, *many(30), *[record(seq, "celery.task") for seq in range(30, 90)], *many(10, start=90),
             end(100, 100)]  # fmt: skip
    path = write(tmp_path / "kinds.jobsim.jsonl", *lines)
    fast = read(path)
    assert slow_lines == []  # learned once, then read as generic records on the fast path
    assert fast == read(path, fast=False)
    assert fast["warnings"] == ["60 record(s) of unknown kind 'celery.task' (first on line 32) were read as generic "
                                "records; install the plugin that declares the kind to draw them in timelines"]
    assert read(path, strict=True)["error"][1] == 32


def test_streaming_reads_a_block_at_a_time(tmp_path):
    path = write(tmp_path / "big.jobsim.jsonl", HEADER, *many(2000), end(2000, 2000))
    assert path.stat().st_size > 300_000
    with TraceReader(path) as reader:
        first = next(iter(reader))
        assert first.seq == 0 and reader._file.tell() <= 3 * _tracereader._BLOCK
        second = next(iter(reader))  # a new iterator goes on where the last one stopped
        assert second.seq == 1 and [r.seq for r in reader] == list(range(2, 2000))


# -- bad lines keep their messages and line numbers, wherever they sit in a block ------------------------
GOOD = b'{"k":"attempt","seq":SEQ,"at":1,"function":"f","run":"r","attempt":0}'


@pytest.mark.parametrize("at", [1, 7, 13, 40])
@pytest.mark.parametrize(("bad", "message"), [
    (b'{"k":"attempt","seq":SEQ,"at":1,"function"\n', "malformed line: "),
    (b"[1, 2]\n", "each line must be a JSON object, got '[1, 2]'"),
    (GOOD + b"," + GOOD.replace(b"SEQ", b"SEQ1") + b"\n", "malformed line: "),  # two records on one line
    (GOOD.replace(b'"at":1', b'"at":true') + b"\n", "a record needs 'k' (a string), 'seq' and 'at' (integers)"),
    (GOOD.replace(b'"seq":SEQ', b'"seq":SEQ.0') + b"\n", "a record needs 'k' (a string), 'seq' and 'at'"),
    (b'{"seq":SEQ,"at":1}\n', "a record needs 'k' (a string)"),
    (b'{"k":["attempt"],"seq":SEQ,"at":1}\n', "a record needs 'k' (a string)"),
    (b'{"k":"run.end","seq":SEQ,"at":1,"function":"f","run":"r"}\n', "a 'run.end' record needs the field(s) status"),
    (b'{"k":"event","seq":SEQ,"at":1,"ce":{"type":"x","id":"1","time":"yesterday"}}\n',
     "time 'yesterday' is not an RFC 3339 timestamp"),
    (b'{"k":"event","seq":SEQ,"at":1,"ce":{"type":"x"}}\n', "the CloudEvent has no string 'id' attribute"),
    (GOOD.replace(b"SEQ", b"0") + b"\n", "seq 0 does not follow seq "),
    (b'{"k":"end","seq":SEQ,"at":1}\n', "a record follows the 'end' line; the end line must be last"),
    # fields of the wrong JSON type were read, then failed as a TypeError in the timeline, replay or compare
    (b'{"k":"run.start","seq":SEQ,"at":1,"function":"f","run":[]}\n', "a 'run.start' record's 'run' must be a "
                                                                      "string, got []"),
    (b'{"k":"cancel","seq":SEQ,"at":1,"function":{},"run":"r","reason":"event"}\n',
     "a 'cancel' record's 'function' must be a string, got {}"),
    (b'{"k":"http","seq":SEQ,"at":1,"method":"GET","url":"https://x.test","request":"x"}\n',
     "a 'http' record's 'request' must be a JSON object, got 'x'"),
    # the timeline names the run that made an http call, sent an email or emitted an event by these
    (b'{"k":"http","seq":SEQ,"at":1,"method":"GET","url":"https://x.test","run":[]}\n',
     "a 'http' record's 'run' must be a string, got []"),
    (b'{"k":"email","seq":SEQ,"at":1,"to":[],"subject":"s","function":"f","run":{}}\n',
     "a 'email' record's 'run' must be a string, got {}"),
    (b'{"k":"event","seq":SEQ,"at":1,"origin":"job","function":1,"run":"r","ce":{"type":"x","id":"1"}}\n',
     "an event record's 'function' must be a string, got 1"),
    (b'{"k":"event.dropped","seq":SEQ,"at":1,"origin":"job","run":["r"],"ce":{"type":"x","id":"1"}}\n',
     "an event record's 'run' must be a string, got ['r']"),
    (b'{"k":"fault.armed","seq":SEQ,"at":1,"fault":"fail","function":"f","times":"2"}\n',
     "a 'fault.armed' record's 'times' must be an integer, got '2'"),
    (b'{"k":"fault.armed","seq":SEQ,"at":1,"fault":"crash","when":1000000000000000000000000000000}\n',
     "a 'fault.armed' record's 'when' must be an integer, got 1e+30"),
    (b'{"k":"fault.armed","seq":SEQ,"at":1,"fault":"downtime","start":5}\n',
     "a 'fault.armed' record of a downtime needs the field(s) end"),
    # a retry's due time was a TypeError quoting the timeline renderer's repr; an advance's garbage was replayed
    # as "same"; an event of an unknown origin was replayed as no input, silently
    (b'{"k":"retry","seq":SEQ,"at":1,"function":"f","run":"r","step":"s","attempt":1,"next_at":"soon"}\n',
     "a 'retry' record's 'next_at' must be an integer, got 'soon'"),
    (b'{"k":"advance","seq":SEQ,"at":1,"until":"1h","idle":false}\n',
     "a 'advance' record's 'until' must be an integer, got '1h'"),
    (b'{"k":"advance","seq":SEQ,"at":1,"until":null,"idle":"yes"}\n',
     "a 'advance' record's 'idle' must be true or false, got 'yes'"),
    (b'{"k":"event","seq":SEQ,"at":1,"origin":"inptu","ce":{"type":"x","id":"1"}}\n',
     "an event record's 'origin' must be 'input', 'job' or 'system', got 'inptu'"),
    # a status of text was drawn in the timeline and replayed as a ValueError; a negative elapsed or delay was
    # spent or drawn ('+-1ns') as read
    (b'{"k":"http","seq":SEQ,"at":1,"method":"GET","url":"https://x.test","status":"x"}\n',
     "a 'http' record's 'status' must be an integer, got 'x'"),
    (b'{"k":"http","seq":SEQ,"at":1,"method":"GET","url":"https://x.test","status":200,"elapsed":-1}\n',
     "a 'http' record's 'elapsed' must be 0 or more (ns), got -1"),
    (b'{"k":"retry","seq":SEQ,"at":1,"function":"f","run":"r","step":"s","attempt":1,"next_at":5,"delay":-1}\n',
     "a 'retry' record's 'delay' must be 0 or more (ns), got -1"),
])  # fmt: skip
def test_a_bad_line_in_a_block_is_reported_at_its_line(tmp_path, at, bad, message):
    records = [record(10 * seq, KINDS[seq % len(KINDS)]) for seq in range(60)]  # room for seqs between them
    bad = bad.replace(b"SEQ1", str(10 * at - 4).encode()).replace(b"SEQ", str(10 * at - 5).encode())
    path = write(tmp_path / "bad.jobsim.jsonl", HEADER, *records[:at], bad, *records[at:], end(600, 60))
    fast = read(path)
    assert fast == read(path, fast=False)
    text, line = fast["error"]
    wrong = at + 3 if b'"end"' in bad else at + 2  # the line after an early end line is the wrong one
    assert line == wrong and f"bad.jobsim.jsonl:{wrong}: {message}" in text
    assert [r[0] for r in fast["records"]] == [10 * seq for seq in range(at)]  # streamed before the error


def test_a_record_wrapped_onto_two_lines_is_malformed_at_its_first_line(tmp_path):
    line = orjson.dumps(record(10))
    cut = line.index(b',"run"') + 1  # after a comma: joining the two halves with one would be valid again
    records = many(30)
    path = write(tmp_path / "wrapped.jobsim.jsonl", HEADER, *records[:10], line[:cut] + b"\n", line[cut:] + b"\n",
                 *records[11:], end(30, 30))  # fmt: skip
    assert read(path)["error"][1] == 12 and read(path)["error"][0].startswith(f"{path}:12: malformed line: ")


A = b'{"k":"x.custom","seq":5,"at":1,"v":[{}\n'  # an unclosed list ...
B = b'{}]}\n'  # ... closed on a later line: the two parse as one element
TWO = b'{"k":"x.custom","seq":6,"at":1},{"k":"x.custom","seq":7,"at":1}\n'  # two records: the count is right again


@pytest.mark.parametrize(("pair", "line"), [
    ((A, B, TWO), 7),
    ((b'{"k":"x.custom","seq":5,"at":1,"v":{"a":{}\n', b'"b":{}}}\n', TWO), 7),  # an unclosed object
    ((TWO.replace(b":6,", b":5,").replace(b":7,", b":6,"), A.replace(b":5,", b":7,"), B), 7),  # two records first
    ((A, B, TWO.replace(b"},{", b"},9.007199254740993e15,{")), 7),  # a look-alike of the separator
])  # fmt: skip
def test_malformed_lines_made_to_cancel_out_are_reported_at_the_first(tmp_path, pair, line):
    """The block parser must not take lines that are not one record each for records, however they pair up."""
    records = many(5)
    path = write(tmp_path / "pair.jobsim.jsonl", HEADER, *records, *pair, *many(20, start=8), end(28, 28))
    fast = read(path)
    assert fast == read(path, fast=False)
    text, number = fast["error"]
    assert number == line and text.startswith(f"{path}:{line}: malformed line: ")


def test_a_block_holding_the_separator_itself_reads_line_by_line(tmp_path, slow_lines):
    records = [*many(10), record(10, "x.custom", note=2**53 + 1), *many(10, start=11)]
    path = write(tmp_path / "nul.jobsim.jsonl", HEADER, *records, end(21, 21))
    fast = read(path)
    assert fast == read(path, fast=False) and fast["error"] is None and fast["count"] == 21
    assert fast["records"][10][3]["note"] == 2**53 + 1 and slow_lines  # its block went line by line


def test_records_after_the_end_line_in_the_same_block_and_in_a_later_one(tmp_path):
    for tail, line in (([record(21)], 23), ([b"# fine\n"] * 200 + [record(21)], 223)):
        path = write(tmp_path / "late.jobsim.jsonl", HEADER, *many(20), end(20, 20), *tail)
        fast = read(path)
        assert fast == read(path, fast=False)
        assert fast["error"] == (f"{path}:{line}: a record follows the 'end' line; the end line must be last", line)


def test_the_end_line_alone_in_the_last_block(tmp_path, monkeypatch):
    path = write(tmp_path / "t.jobsim.jsonl", HEADER, *many(12), end(12, 12))
    monkeypatch.setattr(_tracereader, "_BLOCK", len(orjson.dumps(end(12, 12))) + 1)
    fast = read(path)
    assert fast == read(path, fast=False) and fast["end"]["records"] == 12 and fast["warnings"] == []


def test_a_cut_off_last_line_after_many_blocks(tmp_path):
    tail = orjson.dumps(record(200))[:30]
    path = write(tmp_path / "cut.jobsim.jsonl", HEADER, *many(200), tail)
    fast = read(path)
    assert fast == read(path, fast=False) and len(fast["records"]) == 200 and fast["truncated"]
    assert fast["warnings"] == ["line 202 is cut off (the recording did not finish); the records before it were read"]
    whole = write(tmp_path / "noend.jobsim.jsonl", HEADER, *many(200), orjson.dumps(record(200)))  # no newline
    assert [r[0] for r in read(whole)["records"]] == list(range(201))
    assert read(whole)["warnings"] == ["no 'end' line after line 202: the recording may have stopped early"]


def test_gzip_reads_the_same_and_a_cut_off_stream_keeps_every_whole_line(tmp_path):
    lines = [HEADER, *many(3000), end(3000, 3000)]
    plain, packed = write(tmp_path / "t.jobsim.jsonl", *lines), write(tmp_path / "t.jobsim.jsonl.gz", *lines,
                                                                      compress=True)  # fmt: skip
    assert read(packed) == read(plain)
    cut = tmp_path / "cut.jobsim.jsonl.gz"
    cut.write_bytes(packed.read_bytes()[: packed.stat().st_size // 2])
    fast = read(cut)
    assert fast == read(cut, fast=False)
    count = len(fast["records"])
    assert 0 < count < 3000 and fast["truncated"] and fast["records"] == read(plain)["records"][:count]
    assert fast["warnings"][0].startswith(f"the gzip stream ends early after line {count + 1} (")


@pytest.mark.parametrize(("offset", "reason"), [(-8, "CRC check failed"), (-1, "Incorrect length of data produced")])
def test_a_gzip_stream_damaged_not_cut_off_is_an_error_naming_the_file(tmp_path, offset, reason):
    """A bad CRC or length trailer was read as a stream that ends early: a warning, its records kept."""
    lines = [HEADER, *many(300), end(300, 300)]
    data = bytearray(write(tmp_path / "t.jobsim.jsonl.gz", *lines, compress=True).read_bytes())
    data[offset] ^= 1
    bad = tmp_path / "bad.jobsim.jsonl.gz"
    bad.write_bytes(bytes(data))
    for fast in (True, False):
        got = read(bad, fast=fast)
        assert got["warnings"] == [] and not got["truncated"] and got["error"][1] is None
        assert got["error"][0].startswith(f"{bad}: the file is damaged: its gzip stream fails its check after line 302 "
                                          f"({reason}")  # Python 3.10-3.12 add the two CRCs
        assert got["error"][0].endswith("), so what it holds is not what was written; use an undamaged copy of it")
    with pytest.raises(TraceError, match=rf"bad\.jobsim\.jsonl\.gz: the file is damaged: .*\({reason}"):
        traces.load(bad)


@pytest.mark.parametrize("records", ["x", -1, 1.5, True])
def test_an_end_line_whose_record_count_is_no_count_is_named_at_its_line(tmp_path, records):
    """It was not compared with the records read, and the file read as whole."""
    path = write(tmp_path / "t.jobsim.jsonl", HEADER, *many(50), {**end(50, 0), "records": records})
    fast = read(path)
    assert fast == read(path, fast=False) and len(fast["records"]) == 50 and fast["end"] is None
    assert fast["error"] == (f"{path}:52: the end line's 'records' must be the number of records (an integer, 0 or "
                             f"more), got {records!r}", 52)  # fmt: skip


def test_loading_keeps_the_error_and_the_collector_on(tmp_path):
    path = write(tmp_path / "bad.jobsim.jsonl", HEADER, *many(50), b"oops\n", end(51, 50))
    with pytest.raises(TraceError, match=r"bad\.jobsim\.jsonl:52: malformed line: "):
        jobsim.Trace.load(path)
    assert gc.isenabled()


# -- the garbage collector ----------------------------------------------------------------------------
needs_promotion = pytest.mark.skipif(
    not _gc.may_freeze(),
    reason="gc.freeze() is no list splice here, or objects are frozen already (CPython 3.12 starts with some)",
)


@needs_promotion
@pytest.mark.skipif(sys.version_info >= (3, 14), reason="3.14's incremental collector has no generation 2")
@pytest.mark.parametrize("promote", [True, False])
def test_loaded_records_go_straight_to_the_oldest_generation(tmp_path, monkeypatch, promote):
    path = write(tmp_path / "t.jobsim.jsonl", HEADER, *many(5000), end(5000, 5000))
    monkeypatch.setattr(_gc, "PROMOTE", promote)
    gc.collect()
    trace = jobsim.Trace.load(path)
    oldest = gc.get_objects(generation=2)
    # made with the collector paused, the rows wait in the youngest generation; without the
    # promotion the first allocation after the load walks all of them and moves them one up
    assert any(obj is trace._rows for obj in oldest) is promote
    assert any(obj is trace._rows[-1] for obj in oldest) is promote
    assert gc.isenabled() and gc.get_freeze_count() == 0 and len(trace) == 5000


@needs_promotion
def test_objects_someone_froze_stay_frozen(tmp_path):
    path = write(tmp_path / "t.jobsim.jsonl", HEADER, *many(100), end(100, 100))
    gc.collect()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert len(jobsim.Trace.load(path)) == 100
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


# -- the fast path against the line-by-line reader, on generated files ---------------------------------
Line = tuple[str, Any]
good = st.tuples(st.just("record"), st.sampled_from([*KINDS, "celery.task", "header"]))
other = st.sampled_from([
    ("comment", b"# note\n"), ("blank", b"\n"), ("garbage", b"not json\n"), ("array", b"[1]\n"),
    ("two", b""), ("missing", b'{"k":"run.end","function":"f","run":"r"}\n'),
    ("badce", b'{"k":"event","origin":"input","ce":{"type":"x"}}\n'), ("end", b""), ("back", b""),
])  # fmt: skip


def render(items: list[Line]) -> list[dict[str, Any] | bytes]:
    lines: list[dict[str, Any] | bytes] = [HEADER]
    seq = 0
    for name, value in items:
        if name == "record":
            lines.append(record(seq, value))
            seq += 1
        elif name == "end":
            lines.append(end(seq, seq))
        elif name == "back":
            lines.append(record(max(seq - 2, 0)))
        elif name == "two":  # two good records on one line
            lines.append(orjson.dumps(record(seq)) + b"," + orjson.dumps(record(seq + 1)) + b"\n")
            seq += 2
        elif name in ("missing", "badce"):
            obj = orjson.loads(value)
            lines.append(orjson.dumps({**obj, "seq": seq, "at": T0}) + b"\n")
            seq += 1
        else:
            lines.append(value)
    return lines


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(st.one_of(good, good, good, other), max_size=80), cut=st.integers(0, 40),
       block=st.sampled_from([64, 600, 2048, 1 << 20]), strict=st.booleans(), compress=st.booleans())  # fmt: skip
def test_the_fast_path_reads_what_the_line_by_line_reader_reads(tmp_path, monkeypatch, items, cut, block, strict,
                                                                 compress):  # fmt: skip
    monkeypatch.setattr(_tracereader, "_BLOCK", block)
    data = b"".join(line if isinstance(line, bytes) else orjson.dumps(line) + b"\n" for line in render(items))
    data = data[: len(data) - cut]
    path = tmp_path / "gen.jobsim.jsonl"
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    fast, slow = read(path, strict=strict), read(path, strict=strict, fast=False)
    assert fast == slow
    if fast["error"] is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TraceWarning)
            loaded = traces.load(path, strict=strict)
        assert [(r.seq, r.at, r.kind, r.data) for r in loaded] == fast["records"]
        assert (loaded.warnings, loaded.truncated, loaded.end) == (fast["warnings"], fast["truncated"], fast["end"])


def test_python_code_given_as_the_trace_says_to_give_it_with_app(tmp_path):
    """``jobsim replay jobs.py --app jobs.py``: the hint was to pass the file to ``jobsim replay``, as the user had."""
    code = tmp_path / "jobs.py"
    code.write_text("import jobsim\napp = jobsim.App('shop')\n")
    with pytest.raises(jobsim.errors.TraceError) as caught:
        jobsim.Trace.load(code)
    assert str(caught.value) == (f"{code}:1: not a jobsim trace but Python code (to replay a trace with this code: "
                                 f"jobsim replay TRACE --app {code})")
