"""Trace files: ``*.jobsim.jsonl`` (optionally gzip), written as a stream; ``_tracereader`` reads them.

Layout (``reference/traces.md`` §6.1, asciicast's header-then-events shape)::

    {"k":"header","format":"jobsim-trace","version":1,"minor":0,"jobsim":"0.1.0","start":...,"tz":...,...}
    {"k":"event","seq":0,"at":1741000000000000000,"origin":"input","ce":{"specversion":"1.0",...}}
    {"k":"run.start","seq":1,"at":...,"function":"send-welcome-email","run":"01J...","n":1,"event":"user/created"}
    ...
    {"k":"end","seq":5548,"at":1741604800000000000,"records":5548,"counts":{"attempt":2274,...}}

``at`` is virtual time in integer nanoseconds since the epoch (UTC): jobsim's own
clock, so a trace replays to the nanosecond (retry jitter is drawn in ns). Lines
starting with ``#`` are comments. ``version`` is the major format version: a reader
refuses a newer one and reads any ``minor``; fields it does not know are kept, and
records of kinds it does not know are read as generic records (with a warning).
A file cut off mid-line (a crash while recording) reads up to its last whole line,
with a warning and ``trace.truncated``; without its ``end`` line ``trace.complete``
is False.

Writing does all the work recording skipped: live data becomes canonical
(``jobsim._codec``), the redaction policy runs over it (two passes: learn the names,
then rewrite), and orjson writes the lines. A gzip file gets ``mtime=0`` so that
the same simulation always writes the same bytes.

The records' lines are made by ``jobsim._tracelines``; a large trace is written by several processes at once
(``jobsim._tracefork``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import operator
import os
from collections import Counter
from collections.abc import Container, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from ._gc import paused_gc
from ._redactkept import PhonesIn, pseudonyms_in
from ._redactpolicy import Redaction, policy_for
from ._time import iso, zone_name
from ._trace import Trace, python_file_said
from ._tracefork import _cuts, _in_processes, _processes, workers_asked
from ._tracelines import _OPTIONS, _default, _prepared, _put
from .errors import InvalidArgument, TraceError

FORMAT = "jobsim-trace"
VERSION = 1
MINOR = 2
"""1: ``http`` records answered by jobsim's mail provider say so (``"mail": true``). 2: each function draws from
its own random stream (``Simulation.rng_for``); a header says ``"random_streams": "shared"`` when the simulation
drew every number from one generator, as every trace of an earlier minor did (``random_streams_of``)."""
_AT, _KIND = operator.itemgetter(0), operator.itemgetter(1)  # of a row (at, kind, data)


# -- writing --------------------------------------------------------------------------------------
def save(trace: Trace, path: str | os.PathLike[str], *, redact: Redaction | bool | None = None,
         compress: bool | None = None, workers: int | None = None) -> Path:
    """Write ``trace`` to ``path`` (atomically: a ``.part`` file renamed when complete).

    ``workers``: processes that redact and encode the records (``_in_processes``); None: two for a large
    trace to redact on a machine with two CPUs or more, unless ``JOBSIM_SAVE_WORKERS`` says otherwise."""
    target = _path(path)
    if not target.name:  # '/', '.' resolved nowhere: with_name() below raised ValueError
        raise InvalidArgument.build("path", path, "a file path ending in a file name, such as 'run.jobsim.jsonl'")
    said = python_file_said(target)  # sim.trace.save("jobs.py") replaced the code, as `--save jobs.py` no longer did
    if said is not None:
        raise InvalidArgument(f"path={str(target)!r} {said}")
    if compress is not None and not isinstance(compress, bool):
        raise InvalidArgument.build("compress", compress, "True (gzip), False, or None (gzip if the name ends in .gz)")
    gz = target.name.lower().endswith(".gz") if compress is None else compress  # `.GZ` too: readers go by the name
    policy = policy_for(redact)
    asked = workers_asked(workers)
    partial = target.with_name(target.name + ".part")
    try:
        with open(partial, "wb") as raw:
            if gz:
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=5, mtime=0) as out:
                    write(trace, out, policy, workers=asked, spill=target.parent)  # type: ignore[arg-type]
            else:
                write(trace, raw, policy, workers=asked, spill=target.parent)
        os.replace(partial, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # no such folder, a folder of that name, no permission, disk full
            raise TraceError(f"cannot write it: {exc.strerror or exc}", path=str(target)) from None
        if isinstance(exc, TraceError) and exc.path is None:
            raise TraceError(str(exc), path=str(target)) from None
        raise
    return target


def write(trace: Trace, out: BinaryIO, policy: Redaction | None, *, workers: int | None = 1,
          spill: Path | None = None) -> None:
    """Header, records, end line, as JSON Lines into a binary stream.

    ``workers``: as ``save``'s (1: in this process); ``spill``: the folder of the other processes' temporary files.
    """
    with paused_gc():  # off in the processes ``_in_processes`` forks too: no collection touches a shared page
        _write(trace, out, policy, workers, spill)


def _write(trace: Trace, out: BinaryIO, policy: Redaction | None, workers: int | None = 1,
           spill: Path | None = None) -> None:
    rows = trace._rows
    redactor = None
    if policy is not None:
        redactor = policy.redactor(trace._keep | already_pseudonymized(trace, policy), phones_kept(trace, policy))
    dumps, default, options = orjson.dumps, _default, _OPTIONS
    header = header_of(trace, policy)
    last = end_of(trace)  # once: without a simulation or an end line, a walk over every record
    _check_span(header.get("start"), last)
    out.write(dumps(header, default=default, option=options))
    # without redaction a second process saves nothing: its half costs the child what the whole costs one process
    cuts = _cuts(len(rows), _processes(1 if workers is None and policy is None else workers, len(rows)))
    if len(cuts) == 2:
        _put(_prepared(trace, redactor, verbatim=True)(0, len(rows)), out)
        out.write(_end_line(trace, last))
    else:  # the end line made while the other processes finish their parts
        out.write(_in_processes(trace, redactor, cuts, out, spill, lambda: _end_line(trace, last)))


def _end_line(trace: Trace, last: int) -> bytes:
    """The end line: the next seq, the trace's end, the records by kind."""
    rows = trace._rows
    counts = Counter(map(_KIND, rows))  # a line per row, "k" its kind: counted in one C loop
    seqs = trace._seqs
    next_seq = (seqs[-1] + 1 if seqs else len(rows)) if rows else 0
    end = {"k": "end", "seq": next_seq, "at": last, "records": len(rows),
           "counts": dict(sorted(counts.items()))}  # fmt: skip
    return orjson.dumps(end, option=_OPTIONS)


FIRST_AT, LAST_AT = -(1 << 63), (1 << 64) - 1
"""The instants a trace file holds: JSON readers (orjson among them) read ints within 64 bits only."""


def _check_span(start: Any, end: int) -> None:
    """Refuse, before writing anything, a simulation whose clock a trace file cannot hold.

    Time only moves forward, so every record's instant lies between the two. The kernel's
    clock is an unbounded int (a simulation may start in 1600, or advance to 9999), but a
    line's ``at`` is read back as a 64-bit int: from 1677-09-21 to 2554-07-21.
    """
    for name, at in (("starts", start), ("ends", end)):
        if isinstance(at, int) and not FIRST_AT <= at <= LAST_AT:
            raise TraceError(f"the simulation {name} at {iso(at)}, outside what a trace file holds: virtual time is "
                             f"written as 64-bit nanoseconds, from {iso(FIRST_AT)} to {iso(LAST_AT)}; start and "
                             "advance the simulation within them to save its trace")


def already_pseudonymized(trace: Trace, policy: Redaction) -> frozenset[str]:
    """Fakes a trace read from a file already holds, if ``policy`` made them (same key): keep them.

    So saving a redacted trace again with the same policy writes the same values.
    """
    if trace._owner is not None or _same_policy(trace, policy) is None:
        return frozenset()
    return pseudonyms_in(((kind, data) for _, kind, data in trace._rows), policy)


def phones_kept(trace: Trace, policy: Redaction) -> Container[str]:
    """The phone numbers of free text to write as they are: those a file ``trace`` was read from holds
    (fakes, if ``policy`` made them), or those of the recording a replay's trace replayed."""
    if trace._owner is None and _same_policy(trace, policy) is not None:
        return PhonesIn(lambda: (data for _, _, data in trace._rows))
    return trace._phones


def _same_policy(trace: Trace, policy: Redaction) -> Redaction | None:
    """``policy``, if ``trace`` was read from a file it pseudonymized (with the same key)."""
    info = (trace.header or {}).get("redaction")
    if not isinstance(info, dict) or info.get("pii") != "pseudonymized":
        return None
    if not policy.pseudonymize or info.get("key_fp") != policy.describe().get("key_fp"):
        return None
    return policy


def header_of(trace: Trace, policy: Redaction | None = None) -> dict[str, Any]:
    """The header line for ``trace``: from its simulation, or the header it was read with."""
    from . import __version__

    header: dict[str, Any] = {"k": "header", "format": FORMAT, "version": VERSION, "minor": MINOR,
                              "jobsim": __version__}  # fmt: skip
    sim = trace._owner
    if sim is not None:
        header.update(start=sim.start_ns, start_time=iso(sim.start_ns), tz=_zone_name(sim.tz), seed=sim.seed,
                      profile=sim.profile.name, clock="ns", apps=[app.id for app in sim.apps],
                      functions=list(sim.functions))  # fmt: skip
        if sim.random_streams != "function":  # only then: the default keeps the header as it was
            header["random_streams"] = sim.random_streams
        selection = sim._selection
        if selection is not None:  # replay leaves them out too (only then: older traces stay byte for byte)
            header["left_out"] = list(selection.left_out)
    elif trace.header is not None:
        header.update({k: v for k, v in trace.header.items() if k not in header and k != "redaction"})
        if random_streams_of(trace.header) == "shared":  # saved again under this minor: still replays as recorded
            header["random_streams"] = "shared"
    else:
        start = min(map(_AT, trace._rows), default=0)
        header.update(start=start, start_time=iso(start), tz="UTC", seed=0, profile="inngest", clock="ns")
    if policy is not None:
        header["redaction"] = policy.describe()
    elif trace.header is not None and isinstance(trace.header.get("redaction"), dict):
        header["redaction"] = trace.header["redaction"]  # written as it was read: still redacted
    else:
        header["redaction"] = {"policy": None, "secrets": "kept", "pii": "kept"}
    return header


def random_streams_of(header: Mapping[str, Any]) -> str:
    """How the simulation a trace header describes drew its random numbers (``Simulation(random_streams=...)``):
    as the header says, else ``"shared"`` for a trace of format minor < 2 (one generator for every draw). Every
    header jobsim wrote has a minor: one without (made by hand or by another tool) is taken as this jobsim's."""
    given = header.get("random_streams")
    if given in ("function", "shared"):
        return str(given)
    minor = header.get("minor")
    return "shared" if isinstance(minor, int) and minor < 2 else "function"


def end_of(trace: Trace) -> int:
    """Virtual time the trace ends at: the simulation's clock, else its end line, else its last record."""
    if trace._owner is not None:
        return int(trace._owner.kernel.now)
    if trace.end is not None:
        return int(trace.end["at"])
    start = int((trace.header or {}).get("start", 0))
    return max(map(_AT, trace._rows), default=start)


def _zone_name(tz: Any) -> str:
    return zone_name(tz) if isinstance(tz, dt.tzinfo) else str(tz)


class ShownAs(type(Path())):  # type: ignore[misc]  # PosixPath or WindowsPath, as Path() makes
    """A file read under another name: ``str()`` (every message and warning, ``trace.path``) gives ``shown``,
    ``os.fspath()`` (``open``, ``gzip.open``, ``os.stat``) the file itself. ``jobsim show -`` reads standard input
    spooled into a temporary file, and names it ``-`` as typed, without making that file's folder the process's
    working folder. A path made from it (``.parent``, ``.with_suffix``) has no such name: it shows as itself."""

    _shown: str | None = None

    @classmethod
    def of(cls, path: str, shown: str) -> ShownAs:
        made = cls(path)
        made._shown = shown
        return made

    def __str__(self) -> str:
        return self._shown if self._shown is not None else self.__fspath__()

    def __fspath__(self) -> str:
        itself: str = super().__str__()
        return itself

    def __repr__(self) -> str:
        return f"{type(self).__name__}.of({self.__fspath__()!r}, {self._shown!r})"


def _path(path: Any) -> Path:
    """A trace file's path, checked: ``open`` would raise ``TypeError``/``ValueError`` for the rest."""
    if isinstance(path, ShownAs):  # its name kept (Path(path) would show the file's own)
        return path
    if isinstance(path, (str, os.PathLike)):
        text = os.fspath(path)
        if isinstance(text, str) and text and "\x00" not in text:
            return Path(text)
    raise InvalidArgument.build("path", path, "a file path (a non-empty str or pathlib.Path, without NUL characters)")
