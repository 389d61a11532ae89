"""A trace written by several processes (``save(workers=...)``, two by itself for a large redacted trace): this
process forks a child per part after its own, each redacts and writes its part, and they send each other, through
pipes, what their learning did; ``_in_processes`` describes the protocol. The bytes are those one process writes.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import pickle
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from ._codec import expanders
from ._redact import Redactor
from ._trace import Trace
from ._tracelines import _BUFFER, _first_pass, _plain, _put, _second_pass
from .errors import InvalidArgument, TraceError

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
                    _child(trace, redactor, expand, start, stop, sink, ends)
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
            # each process makes the canonical forms of its own part only: made here for every part before forking,
            # they were this process's longest step but one (0.55 s of a million records, half of it for the child)
            redactor.logging()
            forms = _first_pass(trace, redactor, expand, cuts[0], cuts[1])
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
            else:  # the other parts learned here, in order, their canonical forms made again while writing them
                _first_pass(trace, redactor, expand, cuts[1], cuts[-1])
            part = _second_pass(trace, redactor, expand, forms, {cuts[0]: 0})
        fakes = redactor.fakes_made() if redactor is not None else 0
        _put(part(cuts[0], cuts[1]), out)
        same = learnt and (redactor is None or redactor.fakes_made() == fakes)
        # While the children finish: what comes after their lines, and letting go of this part's canonical forms
        # and of what its learning read (the other parts, if written below, make theirs again), so that none of it
        # waits until they are done
        if redactor is not None:
            forms.clear()
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


def _child(trace: Trace, redactor: Redactor | None, expand: Mapping[str, Callable[[Any], Any]], start: int,
           stop: int, sink: Any, ends: tuple[int, ...]) -> NoReturn:  # pragma: no cover -- runs in the forked child
    """Write records ``start`` to ``stop`` into ``sink``, then leave: 0 when written without making a new fake.
    Redacting, make their canonical forms with ``expand`` and learn from them first, send the note of it through
    ``ends[0]`` and replay every process's note read from ``ends[1]`` (``_in_processes``). Signals stay blocked:
    the program's handlers (a SIGTERM clean-up) are the parent's, not to run twice; the parent ends the child with
    SIGKILL when it no longer needs it."""
    code = 3
    try:
        gc.disable()
        if redactor is None:
            part = _plain(trace, True)
        else:
            note_w, notes_r = ends
            learner = redactor.sibling()
            learner.logging()
            forms = _first_pass(trace, learner, expand, start, stop)
            _send(note_w, _message(learner.learnt()))
            os.close(note_w)
            notes = _received(notes_r)
            if notes is None:  # the parent learns this part itself
                os._exit(4)
            for note in notes:
                redactor.replay(note)
            part = _second_pass(trace, redactor, expand, forms, {start: 0})
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
