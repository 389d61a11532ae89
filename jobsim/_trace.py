"""The trace: every step of a simulation's story, in order, in virtual time.

Recording is the hot path, so the engine appends plain ``(at_ns, kind, data)``
tuples through one closure and nothing else happens at record time. The records of
every job's own path (``run.start``, ``attempt``, ``retry``, ``sleep``, ``run.end``) and
of the events sent (``event``), all 13 of the core benchmark's records a job, are
appended flatter still, as one tuple of their fields (``_EXPAND``), and become
``(at, kind, data)`` rows, in place, the first time anything reads the trace: no dict
a record until then, and the collector stops tracking a tuple of strings and numbers.
Everything a file needs -- CloudEvents envelopes, HTTP and email summaries, redaction, JSON --
is done by ``save`` (``jobsim._tracefile``), and only if the trace is saved.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Container, Iterator
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, NamedTuple

from ._checks import keywords_checked
from ._safe import message
from .errors import InvalidArgument

if TYPE_CHECKING:
    from ._events import Event
    from ._execution import Execution
    from ._redactpolicy import Redaction
    from ._simulation import Simulation

RESERVED_FIELDS = frozenset({"k", "seq", "at"})
"""Every trace line carries these itself; records may not use them as field names."""
RESERVED_KINDS = ("header", "end")
"""The first and last lines of a trace file."""


PYTHON_SUFFIXES = (".py", ".pyw", ".pyi")


def python_file_said(target: Path) -> str | None:
    """Why a trace may not be written to ``target`` when it names Python code (``jobs.py``: the trace would replace
    the code), with the fix; None for any other path. ``Trace.save`` and every command's ``--save``/``--out`` say it.
    The suffix is read as Windows reads the name, trailing dots and spaces dropped (``jobs.py.`` and ``jobs.py ``
    open ``jobs.py`` there), in any case (``JOBS.PY``), on every system: a test run on Linux refuses what would
    replace the code on Windows."""
    name = target.name.rstrip(". ")
    if not name or PurePath(name).suffix.lower() not in PYTHON_SUFFIXES:
        return None
    code = target.with_name(name)
    what = "which the trace would replace" if target.exists() or code.exists() else "not a trace file"
    if name != target.name:
        what += f" ({name!r} on Windows, which drops a name's trailing dots and spaces)"
    return (f"names a Python file, {what}; give a trace file, "
            f"such as {str(code.with_suffix('.jobsim.jsonl'))!r}")  # fmt: skip


class Record(NamedTuple):
    """One thing that happened: ``seq`` orders records, ``at`` is epoch ns (virtual).

    ``data`` is the record as it was made: in ``sim.trace`` that is the engine's lean form (a ``run.end``'s
    ``output`` is its JSON bytes, an ``http`` record holds its ``call``, an ``email`` record its ``email``),
    in a loaded trace the file's fields. ``saved()`` gives the file's fields for either.
    """

    seq: int
    at: int
    kind: str
    data: dict[str, Any]

    def saved(self) -> dict[str, Any]:
        """The record's fields as a saved trace holds them (unredacted): what ``Trace.load`` gives back as ``data``.

        Made on demand, not when the record is: the engine records millions, and summarizing an HTTP call
        (headers, decoded bodies) or decoding an output for each would slow every simulation for the few
        records anyone reads. A loaded trace's records are saved fields already (``data`` itself)."""
        from ._codec import canonical

        return canonical(self.kind, self.data)


def _run_start(e: tuple[Any, ...]) -> dict[str, Any]:
    return {"function": e[2], "run": e[3], "n": e[4], "event": e[5]}


def _attempt(e: tuple[Any, ...]) -> dict[str, Any]:
    data = {"function": e[2], "run": e[3], "step": e[4], "attempt": e[5]}
    if e[6] != e[0]:  # job code spent virtual time: when the attempt ended (its failure's instant)
        data["end"] = e[6]
    if len(e) > 9:  # e[7:9]: the run's (``Run._rows``)
        data["error"] = e[9]
    return data


def _retry(e: tuple[Any, ...]) -> dict[str, Any]:
    return {"function": e[2], "run": e[3], "step": e[4], "attempt": e[5], "at": e[6], "delay": e[7]}


def _sleep(e: tuple[Any, ...]) -> dict[str, Any]:
    return {"function": e[2], "run": e[3], "step": e[4], "until": e[5]}


def _run_end(e: tuple[Any, ...]) -> dict[str, Any]:
    data = {"function": e[2], "run": e[3], "status": e[4]}
    if len(e) > 5:
        data[e[5]] = e[6]  # "error" (its text) or "output" (JSON bytes)
    return data


def _event(e: tuple[Any, ...]) -> dict[str, Any]:
    return _event_data(e[2], e[3], e[4], e[5], e[0], e[6])


_EXPAND = {"run.start": _run_start, "attempt": _attempt, "retry": _retry, "sleep": _sleep, "run.end": _run_end,
           "event": _event}  # fmt: skip
"""How a compact record becomes a row's data, by kind. A compact record is ``(at, kind, field, ...)``, the
fields in the order of the data's keys; it is never 3 long (a row is), and only the engine appends them
(``Engine._row``): ``run.start`` (function, run, n, event), ``attempt`` (function, run, step, attempt, three
fields of the run's own, ``Run._rows``[, error]), ``retry`` (function, run, step, attempt, at, delay), ``sleep``
(function, run, step, until) and ``run.end``
(function, run, status[, "error" or "output", its value]); and ``sim.send``'s accepted events, ``event``
(the event, origin, the sending run's function and id or ``None``, sent): an event is frozen once the bus
has accepted it, so its fields read later are the fields it was sent with (``event_fields``)."""


class Trace:
    """Ordered records; ``sim.trace``, or a trace read back with ``Trace.load(path)``.

    A loaded trace also has ``header`` (the file's first line as a dict), ``end``
    (its last line: ``at``, ``records``, ``counts``), ``path``,
    ``warnings`` (what was tolerated while reading), ``truncated`` (the last line
    was cut off) and ``complete`` (the file ends with its ``end`` line).
    """

    __slots__ = ("_flat", "_keep", "_log", "_owner", "_phones", "_seqs", "add", "complete", "end", "header", "path",
                 "truncated", "warnings")

    def __init__(self, owner: Simulation | None = None) -> None:
        self._log: list[tuple[Any, ...]] = []  # rows, and compact records not yet made rows (``_EXPAND``)
        self._flat = 0  # every entry of ``_log`` before this index is a row
        self._seqs: list[int] | None = None  # only for loaded traces whose seq numbers have gaps
        self._owner = owner
        self._keep: frozenset[str] = frozenset()  # fakes it holds already (a replay of a redacted trace)
        self._phones: Container[str] = frozenset()  # and the phone numbers of its free text (a PhonesIn)
        self.header: dict[str, Any] | None = None
        self.end: dict[str, Any] | None = None
        self.path: Path | None = None
        self.warnings: list[str] = []
        self.truncated = False
        self.complete = True

        def add(at: int, kind: str, data: dict[str, Any], _append: Any = self._log.append) -> None:
            _append((at, kind, data))

        self.add = add  # a closure: the hot path pays one call, no attribute lookups

    @property
    def _rows(self) -> list[tuple[int, str, dict[str, Any]]]:
        """The records as ``(at, kind, data)`` rows, in order; compact records become rows here, once."""
        log = self._log
        if self._flat < len(log):
            for i in range(self._flat, len(log)):
                entry = log[i]
                if len(entry) != 3:
                    log[i] = (entry[0], entry[1], _EXPAND[entry[1]](entry))
            self._flat = len(log)
        return log

    @property
    def records(self) -> list[Record]:
        return list(self)

    def __iter__(self) -> Iterator[Record]:
        seqs = self._seqs
        if seqs is None:
            for seq, (at, kind, data) in enumerate(self._rows):
                yield Record(seq, at, kind, data)
        else:
            for seq, (at, kind, data) in zip(seqs, self._rows, strict=True):
                yield Record(seq, at, kind, data)

    def __len__(self) -> int:
        return len(self._log)

    @keywords_checked("trace.of()")
    def of(self, *kinds: str) -> list[Record]:
        """The records of these kinds (``trace.of("attempt", "retry")``), in order."""
        for kind in kinds:
            if not isinstance(kind, str):  # of(["a", "b"]) matched nothing, silently
                raise InvalidArgument.build("kinds", kinds, "record kinds as separate strings: "
                                            "trace.of('attempt', 'retry')")
        found = [r for r in self if r.kind in kinds]
        if len({r.kind for r in found}) < len(set(kinds)):
            self._check_kinds(kinds, {r.kind for r in found})
        return found

    def _check_kinds(self, kinds: tuple[str, ...], present: set[str]) -> None:
        """A kind that matched nothing must be one jobsim or an installed plugin (``jobsim_record_kinds``)
        declares, or one this trace holds (``sim.record``): ``of("retries")`` matching
        nothing for ever would make ``assert not sim.trace.of("retries")`` a test that cannot fail.
        A loaded trace is checked the same way, against the plugins of this process and the kinds its
        file holds: a kind of a plugin this process lacks is still found when the file has records of it."""
        if self._owner is not None:
            declared = set(self._owner.record_kinds())
        else:
            from ._tracereader import known_kinds

            declared = set(known_kinds())
        known = declared | {kind for _, kind, _ in self._rows}
        for kind in kinds:
            if kind not in present and kind not in known:
                close = difflib.get_close_matches(kind, sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                if self._owner is None:  # the kind of a plugin this process lacks, which the file has no record of
                    hint += " or one this loaded trace holds"
                raise InvalidArgument.build("kinds", kind, f"a record kind jobsim or an installed plugin writes{hint}; "
                                            "known kinds: " + ", ".join(map(repr, sorted(known))))

    # -- files ----------------------------------------------------------------------------
    @keywords_checked("trace.save()")
    def save(self, path: str | os.PathLike[str], *, redact: Redaction | bool | None = None,
             compress: bool | None = None, workers: int | None = None) -> Path:
        """Write the trace as JSON Lines (``.gz`` suffix or ``compress=True``: gzip).

        ``redact``: a ``jobsim.Redaction`` policy; ``None`` or ``True`` means the
        default one (secrets dropped, personal data pseudonymized with the key in
        ``JOBSIM_REDACT_KEY``); ``False`` writes everything as recorded. The same
        simulation with the same seed writes the same bytes.

        ``workers``: processes that redact and encode (``1``: this one alone; ``None``: two to redact a trace
        of 50,000 records or more when two CPUs are available, ``JOBSIM_SAVE_WORKERS`` to change it); the bytes
        are the same either way.
        """
        from ._tracefile import save

        return save(self, path, redact=redact, compress=compress, workers=workers)

    @classmethod
    @keywords_checked("Trace.load()")
    def load(cls, path: str | os.PathLike[str], *, strict: bool = False) -> Trace:
        """Read a trace file (gzip or not); see :func:`jobsim.traces.load`."""
        from ._tracereader import load

        return load(path, strict=strict)

    def header_fields(self) -> dict[str, Any]:
        """What the header line says about the simulation this trace comes from."""
        from ._tracefile import header_of

        return header_of(self)

    def __repr__(self) -> str:
        where = f" from {self.path}" if self.path else ""
        return f"<Trace {len(self)} records{where}>"


def event_fields(event: Event, origin: str, x: Execution | None, now: int, sent: int | None = None) -> dict[str, Any]:
    """An ``event``/``event.dropped`` record: Inngest's fields and where the event came from.

    ``origin`` is ``"input"`` for events sent from outside job code (a test, the
    traffic: what a replay feeds again), ``"job"`` for events job code emitted (then
    ``function`` and ``run`` say which), ``"system"`` for jobsim's own
    (``inngest/function.failed``). ``sent``: when a test sent an input with a delay
    (``jobsim._delay``): the replay sends it again then, not when it arrived.
    """
    if x is None:
        return _event_data(event, origin, None, None, now, sent)
    return _event_data(event, "job", x.run_.function.id, x.run_.id, now, None)


def _event_data(event: Event, origin: str, function: str | None, run: str | None, now: int,
                sent: int | None) -> dict[str, Any]:  # fmt: skip
    """``event_fields``, from the ids of the run whose job code sent it (``None``: not job code)."""
    data: dict[str, Any] = {"name": event.name, "id": event.id, "data": event.data,
                            "ts": event.ts if event.ts is not None else now // 1_000_000}  # fmt: skip
    if event.v is not None:
        data["v"] = event.v
    if event.user is not None:
        data["user"] = event.user
    data["origin"] = origin
    if function is None:
        if sent is not None:
            data["sent"] = sent
    else:
        data["function"] = function
        data["run"] = run
    return data


def check_record(kind: str, fields: dict[str, Any]) -> None:
    """Refuse a record of one of jobsim's own kinds (``http``, ``retry``, ...) that lacks a field the kind needs:
    saved, its file could not be loaded again (``a 'http' record needs the field(s) method, url``), so
    ``sim.record`` says it when the record is made, not when the file is read. Not on the engine's path:
    its records have their fields."""
    from ._codec import fields_missing

    missing = fields_missing(kind, fields)
    if missing is not None:
        raise InvalidArgument(f"sim.record({kind!r}) got field(s) {sorted(fields) or 'none'}: {missing} "
                              f"(jobsim's own kind; for a record of your own, use a kind of your own, "
                              f"such as 'myapp.{kind}')")  # fmt: skip


def describe_error(error: Any) -> dict[str, Any] | None:
    """An error given to ``sim.fail`` as data a replay can rebuild it from."""
    if error is None:
        return None
    cls = error if isinstance(error, type) else type(error)
    out: dict[str, Any] = {"type": cls.__name__, "module": cls.__module__}
    if not isinstance(error, type):
        out["message"] = message(error)
    return out

