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
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import gzip
import itertools
import json
import operator
import os
import pickle
import shutil
import signal
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, NoReturn

import orjson

from ._codec import BUILTIN, ENCODED, encode, expanders
from ._gc import paused_gc
from ._redact import PhonesIn, Redaction, Redactor, policy_for, pseudonyms_in
from ._safe import said
from ._time import iso, zone_name
from ._trace import RESERVED_FIELDS, Trace
from .errors import InvalidArgument, TraceError

Row = tuple[int, int, str, dict[str, Any], "dict[str, Any] | None"]

FORMAT = "jobsim-trace"
VERSION = 1
MINOR = 2
"""1: ``http`` records answered by jobsim's mail provider say so (``"mail": true``). 2: each function draws from
its own random stream (``Simulation.rng_for``); a header says ``"random_streams": "shared"`` when the simulation
drew every number from one generator, as every trace of an earlier minor did (``random_streams_of``)."""
_BUFFER = 1 << 20  # bytes written at a time
_AT, _KIND = operator.itemgetter(0), operator.itemgetter(1)  # of a row (at, kind, data)
_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


# -- writing --------------------------------------------------------------------------------------
def save(trace: Trace, path: str | os.PathLike[str], *, redact: Redaction | bool | None = None,
         compress: bool | None = None, workers: int | None = None) -> Path:
    """Write ``trace`` to ``path`` (atomically: a ``.part`` file renamed when complete).

    ``workers``: processes that redact and encode the records (``_in_processes``); None: two for a large
    trace to redact on a machine with two CPUs or more, unless ``JOBSIM_SAVE_WORKERS`` says otherwise."""
    target = _path(path)
    if not target.name:  # '/', '.' resolved nowhere: with_name() below raised ValueError
        raise InvalidArgument.build("path", path, "a file path ending in a file name, such as 'run.jobsim.jsonl'")
    if compress is not None and not isinstance(compress, bool):
        raise InvalidArgument.build("compress", compress, "True (gzip), False, or None (gzip if the name ends in .gz)")
    gz = target.name.endswith(".gz") if compress is None else compress
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
                    # an event's data past 64 bits (the server's double of a wider int, ``_events.json_copy``):
                    # held as a float, as orjson and JSON.parse read it -- as a run's output is (``_codec``)
                    buf += dumps(orjson.loads(json.dumps(whole)), option=options)
            except (TypeError, ValueError) as exc:  # an int past 64 bits in a plugin's sim.record(...)
                raise TraceError(f"record {seq} of kind {kind!r} cannot be written as JSON ({exc}); "
                                 "record plain JSON data (ints within 64 bits)") from None
        if len(buf) >= _BUFFER:
            out.write(buf)
            buf.clear()
    out.write(buf)


# -- in several processes ---------------------------------------------------------------------------
WORKERS_ENV = "JOBSIM_SAVE_WORKERS"
PARALLEL_FROM = 50_000
"""Records from which ``save`` splits the work in two by itself (``workers=None``): below, the fork and the
copy of the second half cost about what the second core saves (measured, ``benchmarks/README.md``)."""
MAX_WORKERS = 32
"""The most processes a save uses, whatever ``workers`` asks: each child holds a temporary file open."""
FIRST_SHARE = 0.49
"""The share of the records the parent process learns from and writes itself; it also makes the end line and lets
go of its part's canonical forms, then copies the child's lines into the file: at a million records the two then
finish their parts together (measured, ``benchmarks/README.md``: the child, whose every first write to a page
copies it, takes longer a record)."""


def workers_asked(workers: Any) -> int | None:
    """``save(workers=...)`` checked: an int >= 1, or None for ``JOBSIM_SAVE_WORKERS``, else automatic (None)."""
    if workers is None:
        given = os.environ.get(WORKERS_ENV, "").strip()
        if not given:
            return None
        if given.isascii() and given.isdigit() and int(given) >= 1:
            return int(given)
        raise InvalidArgument.build(WORKERS_ENV, given, "a whole number of processes, 1 or more (1: save in this "
                                    "process), or unset for two on a large trace")  # fmt: skip
    if type(workers) is not int or workers < 1:
        raise InvalidArgument.build("workers", workers, "a whole number of processes, 1 or more (1: save in this "
                                    "process), or None for two on a large trace on two CPUs")  # fmt: skip
    return workers


def _processes(workers: int | None, records: int) -> int:
    """How many processes write ``records`` records: 1 unless this process may fork (``os.fork``, one thread:
    forking a threaded process may leave the child a lock another thread held, and 3.12 warns). By itself
    only with no thread at all, also none ``threading`` does not know (execnet's under pytest-xdist, a C
    library's): asked for, a thread only the operating system lists does not stop it."""
    if workers == 1 or records < 2 or not hasattr(os, "fork") or threading.active_count() > 1:
        return 1
    if workers is None:
        if records < PARALLEL_FROM or _cpus() < 2 or _os_threads() > 1:
            return 1
        workers = 2
    return min(workers, records, MAX_WORKERS)


def _os_threads() -> int:
    """The threads of this process as the operating system counts them (Linux), else as ``threading`` does."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _cpus() -> int:
    """The CPUs this process may run on (its affinity, as ``taskset`` or a container's cpuset limits it)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _cuts(records: int, processes: int) -> tuple[int, ...]:
    """Where each process's records start, and the end: the parent's share first, the rest split evenly."""
    if processes < 2:
        return 0, records
    first = max(1, round(records * FIRST_SHARE)) if processes == 2 else max(1, records // processes)
    rest = records - first
    return (0, *(first + rest * i // (processes - 1) for i in range(processes - 1)), records)


def _in_processes(trace: Trace, redactor: Redactor | None, cuts: tuple[int, ...], out: BinaryIO,
                  spill: Path | None, meanwhile: Callable[[], bytes]) -> bytes:
    """The records in ``len(cuts) - 1`` processes: this one writes the first part into ``out`` while a forked
    child writes each other part into a temporary file (a pipe would block it until the parent reads), which the
    parent then copies into ``out`` in order. The bytes are the ones one process writes.

    Redacting, the first pass (names, secrets, canonical forms) runs in every process too, each over its own part:
    the names a part holds decide how every other part is rewritten, and in which order they are first met decides
    their fakes. So each process notes what its learning did (``Redactor.learnt``: the names met, in order, the
    tokens dropped at secret places, the values queued to fake), each child sends its note to the parent through a
    pipe, and the parent, once its own part is learned, sends every note to every child; each process replays the
    notes it did not make in part order (``Redactor.replay``), which fakes what one process learning every record in
    order fakes. A child learns with a redactor of its own (``Redactor.sibling``) and replays all the notes, its
    own included, into a redactor that had learned nothing. When a note cannot be made or sent (a child failed, a
    value that cannot be pickled), the parent learns the other parts itself, in order, and writes them itself.

    Apart from the fakes themselves (``Redactor.fakes_made``), what a redactor keeps while rewriting are memos of
    what a rewrite gives with the fakes it has (per string, per HTTP message's content, by identity, per dict
    shape), started afresh when the rewriting starts (``Redactor.tables``). A part that makes no new fake therefore
    writes what it would after the records before it, memos or none. A part can make one (a name only a record's
    extension attribute or cancel key holds, a phone number in free text): then memos made before it may hold what
    text gave without it, and one process would write those. So when any part made a fake, the children's files
    are dropped and the parent writes the other parts itself after its own, as one process does; the same when a
    child failed in any other way (a record orjson cannot write: the parent meets it and raises what one process
    raises). A child killed by a signal is an error: the trace is not written.

    Once its own part is written, and before waiting for the children, the parent makes what follows their lines
    (``meanwhile()``, returned: the end line) and lets go of its part's canonical forms: the children take longer
    (``FIRST_SHARE``), and neither then waits until they are done.

    The collector stays off in both (``paused_gc``), so no collection writes to every shared page; the child
    leaves with ``os._exit``: no at-exit code, no flush of files it shares with the parent, and it touches
    nothing but its own temporary file and its two pipes.
    """
    expand = expanders() if redactor is not None else {}
    # the canonical forms before forking: made by one process, they are read by the others without copying the
    # records they are made of (a page one of them writes to, even to count a reference, is copied for it)
    made = _canonical(trace, redactor, expand, cuts) if redactor is not None else _Made([], {}, [], [], {})
    children: list[tuple[int, Any]] = []
    pipes: list[int] = []  # this process's ends: (read a child's note, write every note to it) per child
    forked = True
    try:
        for start, stop in itertools.pairwise(cuts[1:]):
            sink = tempfile.TemporaryFile(dir=spill)  # noqa: SIM115 -- closed below, once copied
            children.append((0, sink))  # 0: no process (yet)
            ends: tuple[int, ...] = ()
            if redactor is not None:
                note_r, note_w = os.pipe()
                pipes.append(note_r)
                try:
                    notes_r, notes_w = os.pipe()
                except OSError:  # out of descriptors: the child's end of the first pipe is in no list yet
                    os.close(note_w)
                    raise
                pipes.append(notes_w)
                ends = note_w, notes_r
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())  # none between fork and try
            try:
                pid = os.fork()
                if pid == 0:  # pragma: no cover -- the child (coverage does not follow it)
                    for fd in pipes:  # the parent's ends, of this child's pipes and of the children before
                        os.close(fd)
                    _child(trace, redactor, expand, made, start, stop, sink, ends)
                children[-1] = (pid, sink)  # before a signal can arrive: an error below kills and reaps it
            except OSError:  # no memory or process left for it: this process writes every part
                forked = False
                break
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                for fd in ends:
                    os.close(fd)
        learnt = forked
        if redactor is None:
            part = _plain(trace, True)
        else:
            redactor.logging()
            _learn_part(redactor, made, cuts[0], cuts[1])
            notes = [redactor.learnt()]
            for i in range(len(children) if learnt else 0):
                note = _received(pipes[2 * i])
                learnt = learnt and note is not None
                notes.append(note)
            if learnt:
                try:
                    sent = _message(notes)
                except Exception:  # a value pickle refuses (a plugin's object): this process learns every part
                    learnt = False
                for i in range(len(children) if learnt else 0):
                    with contextlib.suppress(OSError):  # the child is gone: its exit status says so
                        _send(pipes[2 * i + 1], sent)
            while pipes:  # a child still waiting for the notes reads the end of them, and leaves
                os.close(pipes.pop())
            if learnt:
                for note in notes[1:]:
                    redactor.replay(note)
            else:
                _learn_part(redactor, made, cuts[1], cuts[-1])
            part = _second_pass(trace, redactor, expand, made.forms, made.made_before)
        fakes = redactor.fakes_made() if redactor is not None else 0
        _put(part(cuts[0], cuts[1]), out)
        same = learnt and (redactor is None or redactor.fakes_made() == fakes)
        # While the children finish: what comes after their lines, and letting go of this part's canonical forms
        # and of what its learning read (the other parts' may be written below), so that none of it waits until
        # they are done
        if redactor is not None:
            mine, read = made.made_before[cuts[1]], made.learn_before[cuts[1]]
            made.forms[:mine], made.values[:read] = itertools.repeat(None, mine), itertools.repeat(None, read)
        tail = meanwhile()
        for i, (pid, sink) in enumerate(children):
            if not pid:
                continue
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:  # the program reaps its children itself (SIGCHLD ignored, or a handler's
                children[i], same = (0, sink), False  # waitpid(-1)): how the child ended is unknown
                continue
            children[i] = (0, sink)
            if os.WIFSIGNALED(status):
                raise TraceError(f"the process writing records {cuts[i + 1]} to {cuts[i + 2] - 1} was killed by "
                                 f"{signal.Signals(os.WTERMSIG(status)).name}; nothing was written: save again, or "
                                 f"with workers=1 to write in one process")  # fmt: skip
            same = same and os.waitstatus_to_exitcode(status) == 0
        if same:
            for _, sink in children:
                sink.seek(0)
                shutil.copyfileobj(sink, out, _BUFFER)
        else:
            _put(part(cuts[1], cuts[-1]), out)
        return tail
    finally:
        for fd in pipes:
            with contextlib.suppress(OSError):
                os.close(fd)
        for pid, sink in children:
            if pid > 0:  # an error in this process: its children are not needed
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
            sink.close()


def _child(trace: Trace, redactor: Redactor | None, expand: Mapping[str, Callable[[Any], Any]], made: _Made,
           start: int, stop: int, sink: Any,
           ends: tuple[int, ...]) -> NoReturn:  # pragma: no cover -- runs in the forked child
    """Write records ``start`` to ``stop`` into ``sink``, then leave: 0 when written without making a new fake.
    Redacting, learn them first, send the note of it through ``ends[0]`` and replay every process's note read from
    ``ends[1]`` (``_in_processes``); ``made``: what the parent made of every record with ``expand``
    before forking. Signals stay blocked: the program's handlers (a SIGTERM clean-up) are the parent's,
    not to run twice; the parent ends the child with SIGKILL when it no longer needs it."""
    code = 3
    try:
        gc.disable()
        if redactor is None:
            part = _plain(trace, True)
        else:
            note_w, notes_r = ends
            learner = redactor.sibling()
            learner.logging()
            _learn_part(learner, made, start, stop)
            _send(note_w, _message(learner.learnt()))
            os.close(note_w)
            notes = _received(notes_r)
            if notes is None:  # the parent learns this part itself
                os._exit(4)
            for note in notes:
                redactor.replay(note)
            part = _second_pass(trace, redactor, expand, made.forms, made.made_before)
        fakes = redactor.fakes_made() if redactor is not None else 0
        with open(sink.fileno(), "wb", closefd=False) as lines:
            _put(part(start, stop), lines)
        if redactor is None or redactor.fakes_made() == fakes:
            code = 0
    except BaseException:
        pass  # the parent writes these records itself, and meets the error
    finally:
        os._exit(code)


_LENGTH = 8
"""Bytes of a message's length, before the message, in the pipes between a parent and the children it forked."""


def _message(value: Any) -> bytes:
    """``value`` (a learning's note, or every process's notes) as a message for ``_send``."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(_LENGTH, "big") + data


def _send(fd: int, message: bytes) -> None:
    view = memoryview(message)
    while view:
        view = view[os.write(fd, view) :]


def _received(fd: int) -> Any:
    """The value of the message a forked child or its parent sent (``_message``), None if it never came whole."""
    head = _read(fd, _LENGTH)
    if len(head) < _LENGTH:
        return None
    data = _read(fd, int.from_bytes(head, "big"))
    try:
        return pickle.loads(data)  # written by this process or its own fork
    except Exception:  # cut short: the child died
        return None


def _read(fd: int, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = os.read(fd, min(size - len(chunks), 1 << 20))
        if not chunk:
            break
        chunks += chunk
    return bytes(chunks)


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


class _Made(NamedTuple):
    """What ``_canonical`` made before forking: the canonical forms of every record (``forms``, the records before
    each cut made ``made_before[cut]`` of them), and the records the first pass learns from, as their kinds and
    what is read of them (``kinds``, ``values``: the canonical form, or the record's data), ``learn_before[cut]``
    of them before each cut."""

    forms: list[Any]
    made_before: dict[int, int]
    kinds: list[str]
    values: list[Any]
    learn_before: dict[int, int]


def _canonical(trace: Trace, redactor: Redactor, expand: Mapping[str, Callable[[Any], Any]],
               cuts: tuple[int, ...]) -> _Made:
    """``_first_pass``'s canonical forms without the learning, and what the learning reads, in order: each process
    then learns its part from these lists (``_learn_part``), without reading every record again."""
    rows = trace._rows
    made = _Made([], {0: 0}, [], [], {0: 0})
    keep, note_kind, note_value = made.forms.append, made.kinds.append, made.values.append
    learners, whole = redactor.learners()
    steps: dict[str, tuple[Any, bool] | None] = {}
    for kind in BUILTIN:
        make, learns = expand.get(kind), learners.get(kind) is not None
        steps[kind] = None if make is None and not learns else (make, learns)
    other = None if whole is None else (None, True)
    for start, stop in itertools.pairwise(cuts):
        for _, kind, fields in rows[start:stop]:
            step = steps.get(kind, other)
            if step is not None:
                make, learns = step
                if make is not None:
                    fields = make(fields)
                    keep(fields)
                if learns:
                    note_kind(kind)
                    note_value(fields)
        made.made_before[stop], made.learn_before[stop] = len(made.forms), len(made.kinds)
    return made


def _learn_part(redactor: Redactor, made: _Made, start: int, stop: int) -> None:
    """``_first_pass``'s learning over the records from cut ``start`` to cut ``stop``, from what ``_canonical``
    noted of them."""
    learners, whole = redactor.learners()
    reads = {kind: learners.get(kind) for kind in BUILTIN}
    first, last = made.learn_before[start], made.learn_before[stop]
    for kind, value in zip(made.kinds[first:last], made.values[first:last], strict=True):
        reads.get(kind, whole)(value)  # type: ignore[misc]  # only kinds with a learner were noted


def _second_pass(trace: Trace, redactor: Redactor, expand: Mapping[str, Callable[[Any], Any]],
                 forms: list[dict[str, Any]], made_before: Mapping[int, int]) -> Callable[[int, int], Iterator[Row]]:
    """``part(start, stop)`` with ``redactor``, which has learned from every record (``_first_pass``, or other
    processes' learning replayed): ``forms`` are the canonical forms ``_first_pass`` or ``_canonical`` made, the
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


def _path(path: Any) -> Path:
    """A trace file's path, checked: ``open`` would raise ``TypeError``/``ValueError`` for the rest."""
    if isinstance(path, (str, os.PathLike)):
        text = os.fspath(path)
        if isinstance(text, str) and text and "\x00" not in text:
            return Path(text)
    raise InvalidArgument.build("path", path, "a file path (a non-empty str or pathlib.Path, without NUL characters)")
