"""A trace's records as the lines of its file: canonical (``jobsim._codec``), redacted in two passes (the first
learns from every record, the second rewrites each: ``jobsim._redact``), and written as JSON Lines by orjson,
a buffer at a time. ``jobsim._tracefile`` writes the header and the end line around them."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, BinaryIO

import orjson

from ._codec import BUILTIN, ENCODED, encode, expanders
from ._eventjson import WIDE_FIELD, exact_ints
from ._redact import Redactor
from ._safe import said
from ._trace import RESERVED_FIELDS, Trace
from .errors import TraceError

Row = tuple[int, int, str, dict[str, Any], "dict[str, Any] | None"]
"""A record as written: (seq, at, kind, fields, line), ``line`` the whole object for a kind of its own layout."""

_BUFFER = 1 << 20  # bytes written at a time
_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def _put(records: Iterable[Row], out: BinaryIO) -> None:
    """Records as JSON Lines into ``out``."""
    dumps, default, options = orjson.dumps, _default, _OPTIONS
    # Lines are appended to one buffer and each orjson result is dropped at once: keeping
    # thousands of them alive for a join doubled the time at a million records (measured).
    buf = bytearray()
    prefixes: dict[str, tuple[bytes, bytes]] = {}
    fast = orjson.OPT_APPEND_NEWLINE  # non-string keys are rare and make every dumps slower: retry with them
    for seq, at, kind, fields, line in records:
        try:
            if line is not None:
                buf += dumps(line, default=default, option=fast)
            else:
                prefix = prefixes.get(kind)
                if prefix is None:
                    prefix = prefixes[kind] = _prefixes(kind)
                if fields:  # {"k":kind,"seq":n,"at":ns, + the fields' own JSON without its "{"
                    body = dumps(fields, default=default, option=fast)
                    buf += prefix[0] % (seq, at)
                    buf += body[1:]
                else:
                    buf += prefix[1] % (seq, at)
        except TypeError:
            whole = line if line is not None else encode(seq, at, kind, fields)
            try:
                try:
                    buf += dumps(whole, default=default, option=options)
                except TypeError:
                    if kind not in BUILTIN:
                        raise
                    # an int past 64 bits (an imported event's data, the server's double of a wider int,
                    # ``_events.json_copy``): written as its digits, on a line marked for the reader (``WIDE``)
                    buf += dumps(exact_ints(_marked(whole)), default=default, option=options)
            except (TypeError, ValueError) as exc:  # an int past 64 bits in a plugin's sim.record(...)
                raise TraceError(f"record {seq} of kind {kind!r} cannot be written as JSON ({exc}); "
                                 "record plain JSON data (ints within 64 bits)") from None
        if len(buf) >= _BUFFER:
            out.write(buf)
            buf.clear()
    out.write(buf)


def _marked(line: dict[str, Any]) -> dict[str, Any]:
    """A line holding an int past 64 bits, with ``WIDE`` after its ``at``: the reader keeps such ints exact."""
    head: dict[str, Any] = {key: line[key] for key in ("k", "seq", "at") if key in line}
    return {**head, WIDE_FIELD: True, **line}


def _prefixes(kind: str) -> tuple[bytes, bytes]:
    """A line's start before its fields, and a whole line without fields, as ``%``-templates of seq and at."""
    head = b'{"k":' + orjson.dumps(kind).replace(b"%", b"%%") + b',"seq":%d,"at":%d'
    return head + b",", head + b"}\n"


def records_out(trace: Trace, redactor: Redactor | None = None, *, verbatim: bool = False) -> Iterator[Row]:
    """``(seq, at, kind, fields, line)`` for each record, canonical and redacted.

    ``line`` is the whole object the line holds for kinds with their own layout (an
    event's CloudEvents envelope, a retry's ``next_at``), else None: the line is then
    ``{"k": kind, "seq": seq, "at": at, **fields}``, which the writer splices as bytes.
    ``verbatim`` (writing without redaction only): recorded JSON outputs stay
    ``orjson.Fragment`` s of their bytes instead of being decoded.
    """
    yield from _prepared(trace, redactor, verbatim=verbatim)(0, len(trace._rows))


def _prepared(trace: Trace, redactor: Redactor | None = None, *,
              verbatim: bool = False) -> Callable[[int, int], Iterator[Row]]:
    """``records_out`` of the records from ``start`` to ``stop``, as ``part(start, stop)``, once everything that
    must see every record has (the redaction's first pass over them all, the canonical forms it makes)."""
    if redactor is None:
        return _plain(trace, verbatim)
    expand = expanders()
    forms = _first_pass(trace, redactor, expand, 0, len(trace._rows))
    return _second_pass(trace, redactor, expand, forms, {0: 0})


def _plain(trace: Trace, verbatim: bool) -> Callable[[int, int], Iterator[Row]]:
    """``part(start, stop)`` without redaction: nothing to learn first."""
    rows = trace._rows
    seqs = trace._seqs or range(len(rows))

    def plain(start: int, stop: int) -> Iterator[Row]:
        expand = expanders(as_is=verbatim)
        for seq, (at, kind, fields) in _zipped(seqs, rows, start, stop):
            if kind in expand:
                fields = expand[kind](fields)
            if kind in ENCODED:
                yield seq, at, kind, fields, encode(seq, at, kind, fields)
            else:
                if kind not in BUILTIN:
                    _check_fields(seq, kind, fields)
                yield seq, at, kind, fields, None

    return plain


def _first_pass(trace: Trace, redactor: Redactor, expand: Mapping[str, Callable[[Any], Any]], start: int,
                stop: int) -> list[dict[str, Any]]:
    """The redaction's first pass over the records from ``start`` to ``stop``: ``redactor`` learns from them, and
    the canonical forms of the kinds ``expand`` makes canonical are made once, for the second pass, in the order
    of their records (an HTTP call's summary is shared by every record of the call)."""
    rows = trace._rows
    canon: list[dict[str, Any]] = []
    keep = canon.append
    learners, whole = redactor.learners()
    # What each kind needs, one lookup a record: (its canonical form's maker, what learns from it), None for neither
    # (most records: attempts, run starts); a plugin's kind, missing here, is read whole
    steps: dict[str, tuple[Any, Any] | None] = {}
    for kind in BUILTIN:
        make, read = expand.get(kind), learners.get(kind)
        steps[kind] = None if make is None and read is None else (make, read)
    other = None if whole is None else (None, whole)
    for _, kind, fields in rows[start:stop] if start or stop < len(rows) else rows:
        step = steps.get(kind, other)
        if step is not None:
            make, read = step
            if make is not None:
                fields = make(fields)
                keep(fields)
            if read is not None:
                read(fields)
    return canon


def _second_pass(trace: Trace, redactor: Redactor, expand: Mapping[str, Callable[[Any], Any]],
                 forms: list[dict[str, Any]], made_before: Mapping[int, int]) -> Callable[[int, int], Iterator[Row]]:
    """``part(start, stop)`` with ``redactor``, which has learned from every record (``_first_pass``, or other
    processes' learning replayed): ``forms`` are the canonical forms ``_first_pass`` made, the
    records before ``start`` made ``made_before[start]`` of them (``start`` not in it: made again from the records).
    Each part gives what the same records give in one pass over all of them, provided the parts before it made no
    new fake (``_in_processes``)."""
    rows = trace._rows
    seqs = trace._seqs or range(len(rows))
    fields_of, tables = redactor.tables()
    # 1 rewritten, 2 a line of its own layout, 3 both, 0 neither (only names jobsim gives and times), 5 an
    # event (its line made redacted), + 8 made canonical in the first pass (its canonical form is ``made()``);
    # a plugin's kind, missing here, is rewritten whole and its field names checked
    route = {kind: (kind in redactor.rewritten) + 2 * (kind in ENCODED) + 8 * (kind in expand) for kind in BUILTIN}
    route["event"] = route["event.dropped"] = 5

    def redacted(start: int, stop: int) -> Iterator[Row]:
        first = made_before.get(start)
        if first is not None:
            made = (iter(forms) if first == 0 else itertools.islice(forms, first, None)).__next__
        else:  # the same forms, made as the records come
            made = (expand[kind](fields) for _, kind, fields in rows[start:] if route.get(kind, 0) & 8).__next__
        apply, apply_line, event_line = redactor.apply, redactor.apply_line, redactor.event_line
        for seq, (at, kind, fields) in _zipped(seqs, rows, start, stop):
            how = route.get(kind, 4)
            if how == 1:
                yield seq, at, kind, fields_of(fields, tables[kind]), None
            elif how == 0:
                yield seq, at, kind, fields, None
            elif how == 5:
                yield seq, at, kind, fields, event_line(seq, at, kind, fields)
            elif how == 9:
                yield seq, at, kind, fields_of(made(), tables[kind]), None
            elif how == 4:
                fields = apply(kind, fields)
                _check_fields(seq, kind, fields)
                yield seq, at, kind, fields, None
            else:
                if how & 8:
                    fields, how = made(), how - 8
                if how < 2:
                    yield seq, at, kind, (fields_of(fields, tables[kind]) if how else fields), None
                else:
                    line = encode(seq, at, kind, fields)
                    yield seq, at, kind, fields, (apply_line(kind, line) if how == 3 else line)

    return redacted


def _zipped(seqs: Sequence[int], rows: list[tuple[int, str, dict[str, Any]]], start: int,
            stop: int) -> Iterator[tuple[int, tuple[int, str, dict[str, Any]]]]:
    if start or stop < len(rows):
        return zip(seqs[start:stop], rows[start:stop], strict=True)
    return zip(seqs, rows, strict=True)


def lines(trace: Trace, redactor: Redactor | None = None) -> Iterator[dict[str, Any]]:
    """Each record as the object its line holds (canonical, redacted, encoded)."""
    for seq, at, kind, fields, line in records_out(trace, redactor):
        yield line if line is not None else encode(seq, at, kind, fields)


def _check_fields(seq: int, kind: str, fields: dict[str, Any]) -> None:
    if not RESERVED_FIELDS.isdisjoint(fields):
        raise TraceError(f"record {seq} of kind {kind!r} has a field named 'k', 'seq' or 'at', "
                         "which every trace line uses itself; rename it")  # fmt: skip


def _default(value: Any) -> Any:
    """JSON for what orjson does not know: bytes, mappings, sets, exceptions, other objects."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            import base64

            return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, BaseException):
        return said(value)
    cls: Any = type(value)
    if cls.__repr__ is object.__repr__ and cls.__str__ is object.__str__:
        return f"<{type(value).__qualname__}>"  # never a memory address: files must repeat byte for byte
    return str(value)
