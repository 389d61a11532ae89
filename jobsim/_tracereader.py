"""Reading trace files (``jobsim._tracefile`` describes the format and writes it).

``load`` reads a whole file into a ``Trace``; ``TraceReader`` streams its records. Both
read 64 KiB of whole lines at a time, parse them with one ``orjson.loads``, and fall
back to reading a block line by line whenever it fails a check, so every error names
its line.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import operator
import os
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import orjson

from ._codec import BUILTIN, DECODERS, REQUIRED, decode
from ._eventjson import WIDE_FIELD, WIDE_MARK
from ._gc import paused_gc, promote_all
from ._safe import shown
from ._trace import Record, Trace
from ._tracefile import FORMAT, VERSION, _path
from .errors import InvalidArgument, TraceError, TraceWarning

_GZIP_MAGIC = b"\x1f\x8b"


_BLOCK = 1 << 16
"""Bytes read and parsed at a time: some 300 lines of a typical trace, and all a streaming reader holds.

Small enough that a block's objects are still in the CPU cache when the records are
checked: 64 KiB loaded a million records in 1.61-1.73 s, 1 MiB in 1.77-1.95 s, 4 MiB
in 2.5 s (8 KiB: 1.96 s, the per-block work starts to show).
"""
_NO_FIELDS: frozenset[str] = frozenset()
_INT = {int}
_DICT = {dict}
_MARK = 2**53 + 1
"""The separator ``_parse`` puts between lines: an integer no float equals (it is not a double), so
its digits are its only spelling in JSON (``9007199254740993.0`` is another number); and an int, which
orjson makes faster than a string."""
_SEPARATOR = str(_MARK).encode()
_NEWLINE = b"\n," + _SEPARATOR + b","
_WIDER = len(_NEWLINE) - 1

Batch = tuple[list[int], list[tuple[int, str, dict[str, Any]]]]
"""Consecutive records of a file: their ``seq`` numbers, and ``(at, kind, data)`` rows as ``Trace`` keeps them."""


def load(path: str | os.PathLike[str], *, strict: bool = False) -> Trace:
    """Read a whole trace file into a ``Trace``; see ``TraceReader`` for the rules."""
    with TraceReader(path, strict=strict) as reader, loading_gc():
        trace = Trace()
        rows = trace._rows
        seqs: list[int] | None = None  # kept only once the seq numbers leave 0, 1, 2, ...
        for batch_seqs, batch_rows in reader.batches():
            # seqs strictly increase (checked), so the first and last tell whether the batch goes on 0, 1, 2, ...
            if seqs is None and (batch_seqs[0] != len(rows) or batch_seqs[-1] != len(rows) + len(batch_seqs) - 1):
                seqs = list(range(len(rows)))
            if seqs is not None:
                seqs += batch_seqs
            rows += batch_rows
        trace._flat = len(rows)  # rows all: nothing compact to make rows of (``Trace._rows``)
        trace._seqs = seqs
        trace.header = reader.header
        trace.path = reader.path
        trace.end = reader.end
        trace.truncated = reader.truncated
        trace.complete = reader.end is not None
        trace.warnings = list(reader.warnings)
    return trace


@contextlib.contextmanager
def loading_gc() -> Iterator[None]:
    """``paused_gc`` while a trace is read, then what was read moved to the oldest generation.

    Pausing the collector is not enough on its own: every row is a tuple, and each
    event or HTTP record holds dicts and lists, so a million records leave millions of
    tracked containers in the youngest generation. The first allocation after
    ``gc.enable()`` then starts a collection that walks all of them (1.6 of 5.5 s
    loading a million records, measured), and the next two generations walk them
    again later. ``gc.freeze()`` followed by ``gc.unfreeze()`` moves every tracked
    object into the oldest generation without looking at any of them (two list
    splices, and the young counters reset), as if they had survived those
    collections. Nothing is lost by not looking: JSON data cannot form reference
    cycles, so a young collection would find no garbage among it; the objects stay
    tracked, and the next full collection still walks everything as usual. Objects
    other code made just before the load are promoted too, which only delays their
    cyclic garbage (if any) to that full collection.

    ``gc.unfreeze()`` releases *every* frozen object, so the trick runs only when
    nothing is frozen (``gc.get_freeze_count() == 0``): a process that froze its own
    objects (a pre-forking server, a benchmark's fixtures) keeps them frozen, and
    pays the young collection as before. CPython 3.8-3.13 implement both calls as
    list splices; 3.14's incremental collector also marks the young objects (one
    pass, no traversal). On free-threaded builds and other interpreters they visit
    the whole heap or do nothing, so there the trick is skipped.
    """
    with paused_gc():
        yield
        promote_all()


class TraceReader:
    """Streams the records of a trace file: ``with TraceReader(path) as r: for rec in r: ...``.

    ``header`` is read on entry. Errors (``TraceError``) name the file and the line:
    a first line that is no jobsim header, a newer major version, a line that is not
    JSON or not an object, a record without ``k``/``seq``/``at`` or missing a field
    its kind needs, ``seq`` going backwards. Tolerated, with a ``TraceWarning`` and
    a note in ``warnings``: a cut-off last line (``truncated``), a missing ``end``
    line, and (unless ``strict``) records of kinds no installed plugin declares,
    which are read as generic records.

    The file is read ``_BLOCK`` bytes of whole lines at a time (all a streaming
    reader holds), and each block is parsed by one ``orjson.loads`` call and checked
    in one pass (``_parse``); a block that does not pass every check is read again
    line by line (``_line_by_line``), which is where comments, blank lines and every
    error are handled, so each message names its line exactly as before.
    """

    def __init__(self, path: str | os.PathLike[str], *, strict: bool = False) -> None:
        if not isinstance(strict, bool):  # strict='no' read strictly
            raise InvalidArgument.build("strict", strict, "True (unknown record kinds are errors) or False (warnings)")
        self.path = _path(path)
        self.strict = strict
        self.header: dict[str, Any] = {}
        self.end: dict[str, Any] | None = None
        self.truncated = False
        self.records = 0
        self.warnings: list[str] = []
        self._file: BinaryIO | None = None
        self._line = 0
        self._previous = -1  # the last seq read
        self._known = known_kinds()
        self._specs = {kind: (frozenset(REQUIRED.get(kind, ())), DECODERS.get(kind)) for kind in self._known}
        self._unknown: dict[str, list[int]] = {}  # kind -> [first line, records]
        self._cut: BaseException | None = None  # how a gzip stream ended early
        self._batches: Iterator[Batch] | None = None  # the one stream of batches every iterator takes from
        self._batch: Iterator[tuple[int, tuple[int, str, dict[str, Any]]]] = iter(())  # the rest of the current one

    def __enter__(self) -> TraceReader:
        self._file = open_trace(self.path)
        try:
            self.header = self._read_header()
        except BaseException:  # a bad header: ``__exit__`` never runs, so the file is closed here
            self._file.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._file is not None:
            self._file.close()

    def _fail(self, message: str, line: int | None = None) -> TraceError:
        return TraceError(message, path=str(self.path), line=line if line is not None else self._line)

    def _read_header(self) -> dict[str, Any]:
        raw = self._next_line()
        if raw is None:
            raise self._fail("the file is empty: a jobsim trace starts with its header line", line=None)
        raw = raw.removeprefix(BOM)  # a trace saved again by a Windows editor (Notepad's "UTF-8 with BOM")
        try:
            header = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if str(self.path).endswith((".py", ".pyw")):  # `jobsim replay jobs.py --app jobs.py`: code, not a trace
                raise self._fail("not a jobsim trace but Python code (to replay a trace with this code: "
                                 f"jobsim replay TRACE --app {self.path})") from None
            raise self._damaged(self._fail(f"not a jobsim trace: the first line is not JSON ({exc}){_IMPORT_HINT}")) \
                from None  # fmt: skip
        if not isinstance(header, dict) or header.get("k") != "header" or header.get("format") != FORMAT:
            got = _preview(raw)
            raise self._fail(f'not a jobsim trace: the first line must be the header {{"k":"header",'
                             f'"format":"{FORMAT}","version":{VERSION},...}}, got {got}{_event_hint(header)}')
        version = header.get("version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise self._fail(f"the header's format version must be an integer, got {version!r}")
        if version > VERSION:
            from . import __version__

            raise self._fail(f"trace format version {version} is newer than this jobsim ({__version__}) reads "
                             f"(version {VERSION}); upgrade jobsim: reinstall it from a newer checkout of its "
                             "repository (pip install -U jobsim would install PyPI's jobsim, another project)")
        if version < 1:
            raise self._fail(f"trace format version {version} is not supported (this jobsim reads version {VERSION})")
        for name, kind in (("start", int), ("seed", int), ("tz", str), ("profile", str), ("minor", int)):
            value = header.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
                raise self._fail(f"the header's {name!r} must be {'an int' if kind is int else 'a string'}, "
                                 f"got {value!r}")
        if not isinstance(header.get("start"), int):
            raise self._fail("the header has no 'start' (virtual start time in epoch ns)")
        for name in ("apps", "functions", "left_out"):  # ids: a replay leaves out the recording's left_out
            value = header.get(name)
            if value is not None and (type(value) is not list or not all(type(item) is str for item in value)):
                raise self._fail(f"the header's {name!r} must be a list of strings (ids), got {shown(value, 80)}")
        for name, accepted in (("random_streams", ("function", "shared")), ("clock", ("ns",))):
            value = header.get(name)
            if value is not None and value not in accepted:  # random_streams 'nope' replayed as if absent
                raise self._fail(f"the header's {name!r} must be {' or '.join(map(repr, accepted))}, got "
                                 f"{shown(value, 80)}")  # fmt: skip
        return header

    def _next_line(self) -> bytes | None:
        assert self._file is not None
        while True:
            try:
                raw = self._file.readline()
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                if self._line == 0:
                    raise self._fail(f"the gzip stream is damaged ({exc})", line=None) from None
                if not isinstance(exc, EOFError):
                    raise TraceError(gzip_damaged(exc, self._line), path=str(self.path)) from None
                self._truncated(f"the gzip stream ends early after line {self._line} ({exc})")
                return None
            if not raw:
                return None
            self._line += 1
            if raw.strip() and not raw.startswith(b"#"):
                return raw

    def _damaged(self, error: TraceError) -> TraceError:
        """``error``, or the damage of the gzip stream that made it: a byte flipped mid-stream decompresses to
        garbage (a "malformed line") long before the CRC at the end of the stream is checked, so on an error the
        rest of a gzip stream is read through (its lines unparsed) to see whether it passes its check. Only errors
        pay for that; a stream that merely ends early (``EOFError``) leaves the error as it is."""
        if not isinstance(self._file, gzip.GzipFile):
            return error
        cut = self._cut  # the block reader may have met the end of the stream already
        if cut is None:
            try:
                while self._file.read1(_BLOCK):
                    pass
            except GZIP_ERRORS as exc:
                cut = exc
            except OSError:
                pass
        if cut is None or isinstance(cut, EOFError):
            return error
        said = gzip_damaged(cut, (error.line or 1) - 1)
        return TraceError(said.replace(" after line 0 ", " "), path=str(self.path))

    def _truncated(self, message: str) -> None:
        self.truncated = True
        self._warn(message + "; the records before it were read")

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        warnings.warn(f"{self.path}: {message}", TraceWarning, stacklevel=4)

    def __iter__(self) -> Iterator[Record]:
        for seq, at, kind, data in self.rows():
            yield Record(seq, at, kind, data)

    def rows(self) -> Iterator[tuple[int, int, str, dict[str, Any]]]:
        """``(seq, at, kind, data)`` for each record.

        Every iterator over the reader takes from the same stream: stop one after a
        record, start another, and it goes on with the next record.
        """
        batches = self.batches()
        while True:
            for seq, (at, kind, data) in self._batch:  # an iterator, shared: what one loop took is gone
                yield seq, at, kind, data
            batch = next(batches, None)
            if batch is None:
                return
            self._batch = zip(*batch, strict=True)

    def batches(self) -> Iterator[Batch]:
        """The records a block at a time (never an empty batch): what ``load`` and ``rows`` read."""
        if self._file is None:
            raise TraceError("use `with TraceReader(path) as reader:` before iterating", path=str(self.path))
        if self._batches is None:
            self._batches = self._read()
        return self._batches

    def _read(self) -> Iterator[Batch]:
        for block, last in self._blocks():
            if self.end is not None:
                error = self._after_end(_lines_of(block, last))
                if error is not None:
                    raise error
                continue
            batch = None if last else self._parse(block)
            if batch is None:
                try:
                    yield from self._line_by_line(_lines_of(block, last), last)
                except TraceError as error:
                    raise self._damaged(error) from None
            elif batch[0]:
                yield batch
        if self._cut is not None:
            if not isinstance(self._cut, EOFError):
                raise TraceError(gzip_damaged(self._cut, self._line), path=str(self.path))
            self._truncated(f"the gzip stream ends early after line {self._line} ({self._cut})")
        self._finish()

    def _blocks(self) -> Iterator[tuple[bytes, bool]]:
        """Whole lines, ``_BLOCK`` bytes or more at a time; then a last line without its newline (``True``).

        ``read1`` makes at most one read of the underlying stream, so when a gzip
        stream turns out to be cut off, every line decompressed before is kept. A
        line longer than a block makes the block longer (its parts are joined once).
        """
        read1 = cast("io.BufferedIOBase", self._file).read1
        parts: list[bytes] = []
        size = 0
        while True:
            try:
                data = read1(_BLOCK)
            except GZIP_ERRORS as exc:
                self._cut, data = exc, b""  # the cut-off line in `parts` is dropped, as a line-by-line read would
            if data:
                parts.append(data)
                size += len(data)
                if size < _BLOCK or b"\n" not in data:
                    continue
            chunk = b"".join(parts)
            cut = chunk.rfind(b"\n") + 1
            if cut:
                yield chunk[:cut], False
            rest = chunk[cut:]
            if not data:
                if rest and self._cut is None:
                    yield rest, True
                return
            parts, size = [rest], len(rest)

    def _parse(self, block: bytes) -> Batch | None:
        r"""A block of plain records in one ``orjson.loads``, checked as a whole; None: read it line by line.

        Each newline becomes ``\n,9007199254740993,`` and the block a JSON array, which
        must alternate an object and that separator (``_MARK``), one object per line.
        That is as strict as parsing each line: a raw newline cannot be inside a JSON
        string, so no string runs on into the next line; the separator has one spelling
        and the block holds none of its own (else it is read line by line), so when every
        separator is an element of the array, nothing is nested across a line end (an
        unclosed ``[`` on one line closed on a later one would take a separator in), and
        between two of them is exactly one value: each line is one object. (With a
        plain comma, such a pair of lines parses as one element, and a line holding two
        records makes the count right again.) Every other check of the line-by-line reader is made here too, those
        on ``seq`` and ``at`` on whole columns in C; the first failure sends the
        block to ``_line_by_line``, which finds the line and reports it. The reader's
        state changes only once the whole block has passed.
        """
        if _SEPARATOR in block or WIDE_MARK in block:  # an int past 64 bits: orjson would read it as a float
            return None
        wide = block.replace(b"\n", _NEWLINE)
        count = (len(wide) - len(block)) // _WIDER  # the lines
        try:
            objs = orjson.loads(b"".join((b"[", memoryview(wide)[: -len(_NEWLINE)], b"]")))
        except orjson.JSONDecodeError:
            return None
        if len(objs) != 2 * count - 1 or objs[1::2].count(_MARK) != count - 1:
            return None
        objs = objs[::2]
        if set(map(type, objs)) != _DICT:
            return None
        specs, last, end = self._specs, objs[-1], None
        seqs: list[int] = []
        ats: list[int] = []
        rows: list[tuple[int, str, dict[str, Any]]] = []
        add_seq, add_at, add_row = seqs.append, ats.append, rows.append
        try:
            for obj in objs:
                kind, seq, at = obj.pop("k", None), obj.pop("seq", None), obj.pop("at", None)
                spec = specs.get(kind)  # (fields the kind needs, its decoder)
                if spec is None:
                    if kind == "end" and obj is last and type(seq) is int and type(at) is int:
                        end = {"seq": seq, "at": at, **obj}
                        break
                    return self._parse(block) if self._learn(kind) else None
                if not obj.keys() >= spec[0]:
                    return None
                add_seq(seq)
                add_at(at)
                add_row((at, kind, obj if spec[1] is None else spec[1](obj)))
        except (TypeError, ValueError):  # a kind that is a list or an object; data a decoder refuses
            return None
        if (seqs and not self._in_order(seqs, ats)) or (end is not None and _bad_count(end)):
            return None
        if self._unknown:
            for index, row in enumerate(rows):
                if row[1] in self._unknown:
                    self._unknown_kind(row[1], self._line + 1 + index)
        self._line += count
        self.records += len(rows)
        self.end = end
        if seqs:
            self._previous = seqs[-1]
        return seqs, rows

    def _in_order(self, seqs: list[int], ats: list[int]) -> bool:
        """Integers, and each ``seq`` greater than the one before (most often: one more)."""
        first = seqs[0]
        if set(map(type, seqs)) != _INT or set(map(type, ats)) != _INT or first <= self._previous:
            return False
        return seqs == list(range(first, first + len(seqs))) or all(map(operator.lt, seqs, seqs[1:]))

    def _learn(self, kind: Any) -> bool:
        """Whether ``_parse`` may read records of ``kind``, not declared by any plugin, as generic records."""
        if type(kind) is not str or kind == "end" or self.strict:
            return False  # the end line, a record without a kind, or an error: line by line
        self._specs[kind] = (_NO_FIELDS, None)
        self._unknown.setdefault(kind, [0, 0])
        return True

    def _line_by_line(self, lines: list[bytes], last: bool) -> Iterator[Batch]:
        """The records of ``lines``, one at a time; the records before an error are yielded before it is raised."""
        seqs: list[int] = []
        rows: list[tuple[int, str, dict[str, Any]]] = []
        error = None
        for index, raw in enumerate(lines):
            self._line += 1
            line = self._line
            try:
                obj = orjson.loads(raw)
                if WIDE_MARK in raw:
                    obj = _wide(raw)
            except orjson.JSONDecodeError as exc:
                if raw.startswith(b"#") or not raw.strip():
                    continue  # a comment or a blank line
                if last:  # the file ends in the middle of this line
                    self._truncated(f"line {line} is cut off (the recording did not finish)")
                    break
                error = self._fail(f"malformed line: {exc}: {_preview(raw)}", line=line)
                break
            if type(obj) is not dict:
                error = self._fail(f"each line must be a JSON object, got {_preview(raw)}", line=line)
                break
            kind, seq, at = obj.pop("k", None), obj.pop("seq", None), obj.pop("at", None)
            if type(kind) is not str or type(seq) is not int or type(at) is not int:
                error = self._fail(f"a record needs 'k' (a string), 'seq' and 'at' (integers); got "
                                   f"{_preview(raw)}", line=line)  # fmt: skip
                break
            if kind == "end":
                if _bad_count(obj):
                    error = self._fail(f"the end line's 'records' must be the number of records (an integer, 0 or "
                                       f"more), got {shown(obj['records'], 80)}", line=line)  # fmt: skip
                    break
                self.end = {"seq": seq, "at": at, **obj}
                error = self._after_end(lines[index + 1 :])
                break
            if seq <= self._previous:
                error = self._fail(f"seq {seq} does not follow seq {self._previous}: records must be in order",
                                   line=line)  # fmt: skip
                break
            if kind not in self._known:
                if self.strict:
                    error = self._fail(f"unknown record kind {kind!r} (strict=True); known kinds: "
                                       + ", ".join(sorted(self._known)), line=line)  # fmt: skip
                    break
                self._unknown_kind(kind, line)
            try:
                data = decode(kind, obj)
            except ValueError as exc:
                error = self._fail(str(exc), line=line)
                break
            self._previous = seq
            self.records += 1
            seqs.append(seq)
            rows.append((at, kind, data))
        if seqs:
            yield seqs, rows
        if error is not None:
            raise error

    def _after_end(self, lines: list[bytes]) -> TraceError | None:
        """After the end line: only comments and blank lines may follow."""
        for raw in lines:
            self._line += 1
            if raw.strip() and not raw.startswith(b"#"):
                return self._fail("a record follows the 'end' line; the end line must be last")
        return None

    def _unknown_kind(self, kind: str, line: int) -> None:
        seen = self._unknown.setdefault(kind, [0, 0])
        if not seen[1]:
            seen[0] = line
        seen[1] += 1

    def _finish(self) -> None:
        for kind, (first, records) in self._unknown.items():
            if not records:
                continue
            self._warn(f"{records} record(s) of unknown kind {kind!r} (first on line {first}) were read as "
                       "generic records; install the plugin that declares the kind to draw them in timelines")
        if self.end is None and not self.truncated:
            self._warn(f"no 'end' line after line {self._line}: the recording may have stopped early")
        elif self.end is not None:
            expected = self.end.get("records")
            if isinstance(expected, int) and expected != self.records:
                self._warn(f"the end line says {expected} records, {self.records} were read")


def _bad_count(end: dict[str, Any]) -> bool:
    """Whether an end line's ``records`` is there and no count (``"x"`` was not compared with the records read)."""
    records = end.get("records")
    return records is not None and (type(records) is not int or records < 0)


def _lines_of(block: bytes, last: bool) -> list[bytes]:
    """The lines of a block, each with its newline (a last line cut off has none)."""
    pieces = block.split(b"\n")
    tail = pieces.pop()
    lines = [piece + b"\n" for piece in pieces]
    if last:
        lines.append(tail)
    return lines


BOM = b"\xef\xbb\xbf"
"""The UTF-8 byte order mark Windows tools write first (PowerShell 5, Notepad's "UTF-8 with BOM"):
readers of files people export skip it, since orjson refuses it."""

UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
"""How a UTF-16 file starts (PowerShell 5 writes one with ``>``): JSON Lines readers decode it."""

GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)
"""What reading a damaged or cut-off gzip stream raises: ``EOFError`` when the file ends before the stream
does (cut off: what came before is read, with a warning); the others when the bytes are there but wrong."""


def gzip_damaged(exc: BaseException, line: int) -> str:
    """A gzip stream that is all there but fails its checks (``BadGzipFile``: "CRC check failed", "Incorrect
    length of data produced"; ``zlib.error``): what it decompressed to is not what was written."""
    return (f"the file is damaged: its gzip stream fails its check after line {line} ({exc}), so what it holds is "
            "not what was written; use an undamaged copy of it")


@contextlib.contextmanager
def gzip_errors(path: Path) -> Iterator[None]:
    """Damaged gzip data read inside the block becomes a ``TraceError`` naming the file."""
    try:
        yield
    except GZIP_ERRORS as exc:
        raise TraceError(f"the gzip stream is damaged or cut off ({exc})", path=str(path)) from None


def open_trace(path: Path) -> BinaryIO:
    """Open a trace for reading, gzip or not (by its first bytes, not its name)."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    except FileNotFoundError:
        raise TraceError("no such file", path=str(path)) from None
    except OSError as exc:
        raise TraceError(f"cannot read it: {exc.strerror or exc}", path=str(path)) from None
    except ValueError as exc:  # a path with a NUL character, from a caller that did not check it
        raise TraceError(f"cannot read it: {exc}", path=repr(str(path))) from None
    if raw.peek(2)[:2] == _GZIP_MAGIC:
        raw.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return raw


def known_kinds() -> frozenset[str]:
    """Record kinds jobsim and the installed plugins declare."""
    return frozenset(BUILTIN) | frozenset(known_kinds_renderers())


def known_kinds_renderers() -> dict[str, Any]:
    """Each declared record kind and its timeline renderer (the ``jobsim_record_kinds`` hook)."""
    from ._plugins import manager

    kinds: dict[str, Any] = {}
    for contributed in reversed(manager().hook.jobsim_record_kinds()):
        kinds.update(contributed)
    return kinds


_IMPORT_HINT = (
    "; to replay a file of events (Inngest JSON or CloudEvents, one per line), pass it to "
    "`jobsim replay` or convert it with `jobsim import`"
)


def _event_hint(first: Any) -> str:
    if isinstance(first, dict) and ("specversion" in first or ("name" in first and "data" in first)):
        return " (this looks like a file of events" + _IMPORT_HINT[len("; to replay a file of events") :] + ")"
    return ""


def _preview(raw: bytes, limit: int = 80) -> str:
    text = raw.decode("utf-8", "replace").strip()
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _wide(raw: bytes) -> Any:
    """A line the writer marked ``"wide": true`` (``WIDE_FIELD``), read with ``json``: its ints past 64 bits
    exact, where orjson reads the nearest float. The marker is dropped from a built-in kind's record (a plugin's
    own kind keeps its fields, one named ``wide`` among them)."""
    obj = json.loads(raw)
    if type(obj) is dict and obj.get("k") in BUILTIN and obj.get(WIDE_FIELD) is True:
        del obj[WIDE_FIELD]
    return obj
