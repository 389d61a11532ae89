"""``Trace.save`` in several processes (``workers=``) writes the bytes one process writes.

The parent forks a child per part after the redaction's first pass, writes the first part
itself and copies the children's lines in after it; whenever a part made a new fake (a name
only the rewriting meets), or a child failed, the parent writes the rest itself. Every check
here saves the same trace with ``workers=1`` and with more, and counts the forks and the
parts the parent wrote, so a test fails if the processes were never used.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from _redactcorpus import START_NS, bench_trace, corpus

import jobsim
from jobsim import Redaction, Trace, _tracefile, _tracefork, _tracelines
from jobsim.errors import InvalidArgument, TraceError

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="saving in several processes needs os.fork"),
    # 3.12+ under pytest-xdist, whose execnet thread only the OS lists: these tests fork on purpose (workers=N)
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning"),
]

POLICIES = {"default": None, "secrets": Redaction(pseudonymize=False), "plain": False,
            "keyed": Redaction(key="team secret", keep_domains=("gmail.com",), fields={"plan": "drop"})}  # fmt: skip


class Spy:
    """Counts the forks and the parts this process wrote itself (``_put``: 1 when the children's lines were used)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.forks = self.parts = 0
        fork, put = os.fork, _tracelines._put

        def counted_fork() -> int:
            pid = fork()
            if pid:
                self.forks += 1
            return pid

        def counted_put(records: Any, out: Any) -> None:
            self.parts += 1
            put(records, out)

        monkeypatch.setattr(os, "fork", counted_fork)
        monkeypatch.setattr(_tracefile, "_put", counted_put)  # one process's
        monkeypatch.setattr(_tracefork, "_put", counted_put)  # the parts of several

    def reset(self) -> None:
        self.forks = self.parts = 0


@pytest.fixture
def spy(monkeypatch):
    return Spy(monkeypatch)


def _same(trace: Trace, path: Path, spy: Spy, workers: int, **options: Any) -> bytes:
    """The file ``workers`` processes write, checked against one process's; the forks checked made."""
    one = trace.save(path.with_name("one-" + path.name), workers=1, **options).read_bytes()
    spy.reset()
    many = trace.save(path, workers=workers, **options).read_bytes()
    assert many == one
    assert spy.forks == min(workers, len(trace)) - 1
    assert not list(path.parent.glob("*.part"))
    return many


@pytest.mark.filterwarnings("ignore::jobsim.errors.TraceWarning")
def test_the_redaction_corpus_is_written_the_same_in_several_processes(tmp_path, spy):
    for name, (trace, redact) in corpus(tmp_path / "corpus").items():
        for workers in (2, 3, 7):
            for suffix in (".jobsim.jsonl", ".jobsim.jsonl.gz"):
                _same(trace, tmp_path / f"{name}-{workers}{suffix}", spy, workers, redact=redact)


@pytest.mark.parametrize("policy", list(POLICIES))
@pytest.mark.parametrize(("records", "people", "pool"), [(5000, 300, 40), (2500, 20, 7), (1000, 1000, 100)])
def test_the_benchmarks_trace_is_written_the_same_and_the_childrens_lines_are_used(records, people, pool, policy,
                                                                                  tmp_path, spy):  # fmt: skip
    trace = bench_trace.build(records, people=people, pool=pool)
    for workers in (2, 3):
        for suffix in (".jobsim.jsonl", ".jobsim.jsonl.gz"):
            _same(trace, tmp_path / f"t{workers}{suffix}", spy, workers, redact=POLICIES[policy])
            assert spy.parts == 1  # no part made a new fake: the parent wrote its own part only


@pytest.mark.parametrize("where", [1, 5])  # the fake made in the parent's part, in the child's
def test_a_fake_made_while_rewriting_makes_the_parent_write_every_part(where, tmp_path, spy):
    """An event's extension attribute is not read by the first pass: its name is faked while rewriting, and
    memos made before may hold what text gave without it. The parent then writes the other parts itself."""
    trace = Trace()
    shared = {"note": {"text": "Hi Seán, see you"}, "tags": [{"who": "Seán"}]}
    for i in range(8):
        if i == where:
            trace.add(START_NS + i, "event", {"name": "x", "id": "e1", "ts": None, "data": {},
                                              "attributes": {"contactname": "Seán O'Brien"}})  # fmt: skip
        else:
            trace.add(START_NS + i, "run.end", {"function": "f", "run": f"r{i}", "status": "completed",
                                                "output": {"a": shared, "b": {"text": "Seán " + "x" * 600}}})
    _same(trace, tmp_path / "t.jobsim.jsonl", spy, 2)
    assert spy.parts == 2


def test_a_fake_made_in_the_childs_part_is_rewritten_with_canonical_forms_made_again(tmp_path, spy):
    """The parent made the canonical forms of its own part only, and let go of them before waiting: the child's
    part, written again by the parent after a fake made there, has its HTTP, email and output summaries made
    again from the records."""
    trace = bench_trace.build(500, people=20, pool=5)
    trace._rows[400] = (trace._rows[400][0], "event", {"name": "x", "id": "e1", "ts": None, "data": {},
                                                       "attributes": {"contactname": "Zebulon Quixote"}})
    text = _same(trace, tmp_path / "t.jobsim.jsonl", spy, 2)
    assert spy.parts == 2 and b"Zebulon" not in text
    assert text.count(b'"k":"http"') == 40 and b"Bearer" not in text


def test_the_parent_makes_the_end_line_and_lets_go_of_its_forms_before_waiting_for_the_child(tmp_path, spy,
                                                                                        monkeypatch):
    """What the parent does after its own part while the child still writes: the end line, and dropping the
    canonical forms of the records it wrote. It made those of its own part only: the child makes its part's."""
    order: list[str] = []
    end_line, waitpid, second_pass = _tracefile._end_line, os.waitpid, _tracefork._second_pass
    forms: list[tuple[list[Any], int]] = []

    def noted_end(*args: Any) -> bytes:
        order.append("end")
        return end_line(*args)

    def noted_wait(pid: int, options: int) -> tuple[int, int]:
        made, given = forms[-1]
        order.append(f"wait: {given} forms given, {len(made)} kept")
        return waitpid(pid, options)

    def noted_pass(trace: Any, redactor: Any, expand: Any, made: list[Any], before: Any) -> Any:
        forms.append((made, len(made)))
        return second_pass(trace, redactor, expand, made, before)

    monkeypatch.setattr(_tracefile, "_end_line", noted_end)
    monkeypatch.setattr(os, "waitpid", noted_wait)
    monkeypatch.setattr(_tracelines, "_second_pass", noted_pass)  # one process's save (``_prepared``)
    monkeypatch.setattr(_tracefork, "_second_pass", noted_pass)  # the parent's part of several
    trace = bench_trace.build(500, people=20, pool=5)
    _same(trace, tmp_path / "t.jobsim.jsonl", spy, 2)
    assert len(forms) == 2
    made = ("http", "email", "run.end")
    first = round(500 * _tracefork.FIRST_SHARE)
    every, mine = (sum(1 for _, kind, _ in trace._rows[:stop] if kind in made) for stop in (500, first))
    assert forms[0][1] == every and 0 < mine < every
    assert order == ["end", "end", f"wait: {mine} forms given, 0 kept"]
    assert spy.parts == 1


def test_a_value_faked_while_learning_is_rewritten_in_text_met_before_it(tmp_path):
    """Pending values (phone numbers, addresses) are faked one by one after the first pass; text rewritten
    while faking an earlier one (a list of dicts at a ``phone`` field) is not remembered into the rewriting,
    where the address is known: it was written in clear (and a later part would have written it faked)."""
    trace = Trace()
    trace.add(START_NS, "event", {"name": "x", "id": "e1", "ts": None,
                                  "data": {"phone": [{"note": "12 Main Street"}], "address": "12 Main Street"}})
    trace.add(START_NS + 1, "attempt", {"function": "f", "run": "r", "step": "s", "attempt": 0,
                                        "error": "12 Main Street"})  # fmt: skip
    text = trace.save(tmp_path / "t.jobsim.jsonl", workers=1).read_text()
    assert "12 Main Street" not in text


def test_an_error_in_the_childs_part_is_the_one_process_error(tmp_path, spy):
    trace = Trace()
    for i in range(6):
        trace.add(START_NS + i, "plugin.thing", {"n": i})
    trace.add(START_NS + 6, "plugin.thing", {"n": 1 << 70})  # past 64 bits: orjson refuses it
    path = tmp_path / "t.jobsim.jsonl"
    with pytest.raises(TraceError) as one:
        trace.save(path, workers=1)
    spy.reset()
    with pytest.raises(TraceError) as two:
        trace.save(path, workers=2)
    assert str(two.value) == str(one.value) and "record 6 of kind 'plugin.thing'" in str(two.value)
    assert spy.forks == 1 and spy.parts == 2
    trace._rows[6] = (START_NS + 6, "plugin.thing", {"seq": 3})  # a reserved field name, checked while rewriting
    with pytest.raises(TraceError, match="field named 'k', 'seq' or 'at'") as one:
        trace.save(path, workers=1, redact=False)
    with pytest.raises(TraceError) as two:
        trace.save(path, workers=2, redact=False)
    assert str(two.value) == str(one.value) and "record 6 of kind" in str(two.value)
    assert list(tmp_path.iterdir()) == []


def test_a_child_killed_by_a_signal_is_an_error_and_nothing_is_written(tmp_path, monkeypatch):
    def killed(*args: Any) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(_tracefork, "_child", killed)
    trace = bench_trace.build(500, people=20, pool=5)
    first = round(500 * _tracefork.FIRST_SHARE)
    with pytest.raises(TraceError, match=rf"records {first} to 499 was killed by SIGKILL.*workers=1"):
        trace.save(tmp_path / "t.jobsim.jsonl", workers=2)
    assert list(tmp_path.iterdir()) == []


def test_the_child_runs_no_exit_code_and_flushes_none_of_the_parents_files(tmp_path, spy):
    parent = os.getpid()
    marks = tmp_path / "marks"
    marks.mkdir()

    def at_exit() -> None:
        if os.getpid() != parent:
            (marks / f"atexit-{os.getpid()}").touch()

    atexit.register(at_exit)
    try:
        with open(tmp_path / "buffered.txt", "wb") as buffered:
            buffered.write(b"written once, by the parent")  # still in the buffer when the child leaves
            _same(bench_trace.build(500, people=20, pool=5), tmp_path / "t.jobsim.jsonl", spy, 3)
            assert (tmp_path / "buffered.txt").read_bytes() == b""
        assert (tmp_path / "buffered.txt").read_bytes() == b"written once, by the parent"
    finally:
        atexit.unregister(at_exit)
    assert list(marks.iterdir()) == []


@pytest.mark.parametrize("workers", [0, -1, True, 1.5, "2"])
def test_workers_must_be_a_whole_number_of_processes(workers, tmp_path):
    with pytest.raises(InvalidArgument, match=r"workers=.* a whole number of processes, 1 or more"):
        Trace().save(tmp_path / "t.jobsim.jsonl", workers=workers)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def large(monkeypatch):
    """A trace ``workers=None`` splits: past a lowered ``PARALLEL_FROM``, with two CPUs."""
    monkeypatch.setattr(_tracefork, "PARALLEL_FROM", 100)
    monkeypatch.setattr(_tracefork, "_cpus", lambda: 2)
    monkeypatch.setattr(_tracefork, "_os_threads", lambda: 1)  # under pytest-xdist, execnet's thread
    monkeypatch.delenv(_tracefork.WORKERS_ENV, raising=False)
    return bench_trace.build(200, people=10, pool=3)


def test_a_large_trace_is_written_in_two_processes_by_default(large, tmp_path, spy, monkeypatch):
    _same(large, tmp_path / "t.jobsim.jsonl", spy, 2)
    spy.reset()
    large.save(tmp_path / "t.jobsim.jsonl")
    assert spy.forks == 1
    large.save(tmp_path / "t.jobsim.jsonl", redact=False)  # nothing to redact: one process
    assert spy.forks == 1
    monkeypatch.setattr(_tracefork, "PARALLEL_FROM", 201)  # a smaller trace than that: one process
    spy.reset()
    large.save(tmp_path / "t.jobsim.jsonl")
    assert spy.forks == 0


def test_one_process_with_one_cpu_a_thread_alive_no_fork_or_the_environment_saying_so(large, tmp_path, spy,
                                                                                      monkeypatch):  # fmt: skip
    path = tmp_path / "t.jobsim.jsonl"
    expected = large.save(path, workers=1).read_bytes()
    checks = []
    with monkeypatch.context() as m:
        m.setattr(_tracefork, "_cpus", lambda: 1)
        checks.append(large.save(path))
    with monkeypatch.context() as m:
        m.setenv(_tracefork.WORKERS_ENV, "1")
        checks.append(large.save(path))
    with monkeypatch.context() as m:  # a thread threading does not list (a C library's): not by itself
        m.setattr(_tracefork, "_os_threads", lambda: 2)
        checks.append(large.save(path))
    done = threading.Event()
    thread = threading.Thread(target=done.wait)
    thread.start()
    try:
        checks.append(large.save(path))
        checks.append(large.save(path, workers=2))  # asked for, but unsafe: one process
    finally:
        done.set()
        thread.join()
    with monkeypatch.context() as m:
        m.delattr(os, "fork")  # Windows
        checks.append(large.save(path, workers=2))
    assert spy.forks == 0
    assert [check.read_bytes() for check in checks] == [expected] * 6
    monkeypatch.setenv(_tracefork.WORKERS_ENV, "3")
    spy.reset()
    large.save(path)
    assert spy.forks == 2


def test_the_operating_system_counts_the_threads() -> None:
    assert _tracefork._os_threads() >= threading.active_count() >= 1


@pytest.mark.parametrize("given", ["0", "two", "-2", "²"])  # "²".isdigit(), but int() refuses it
def test_the_environment_variable_must_be_a_whole_number_too(given, tmp_path, monkeypatch):
    monkeypatch.setenv(_tracefork.WORKERS_ENV, given)
    with pytest.raises(InvalidArgument, match=f"JOBSIM_SAVE_WORKERS='{given}' is not valid"):
        jobsim.Trace().save(tmp_path / "t.jobsim.jsonl")


def test_a_fork_that_fails_leaves_the_parent_to_write_every_part(tmp_path, spy, monkeypatch):
    forks = [os.fork]

    def fork_once() -> int:
        if len(forks) > 1:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        forks.append(None)
        return forks[0]()

    monkeypatch.setattr(os, "fork", fork_once)
    trace = bench_trace.build(500, people=20, pool=5)
    one = trace.save(tmp_path / "one.jobsim.jsonl", workers=1).read_bytes()
    spy.reset()
    assert trace.save(tmp_path / "t.jobsim.jsonl", workers=3).read_bytes() == one
    assert len(forks) == 2 and spy.parts == 2  # one child forked, its lines dropped: the parent wrote the rest


@pytest.mark.parametrize("sigchld", ["ignored", "reaped"])
def test_a_program_that_reaps_its_own_children_still_saves(sigchld, tmp_path, monkeypatch):
    """SIGCHLD ignored (a daemon's habit) or a handler that reaps every child (``os.waitpid(-1, WNOHANG)``,
    asyncio's older child watchers): the child's exit status is gone before ``_in_processes`` waits for it,
    and ``os.waitpid`` raises ``ChildProcessError``. One process saves such a trace; two should too (the
    parent cannot tell whether the child's lines are whole: it writes the rest itself)."""
    reaped: list[int] = []

    def reaper(*args: Any) -> None:
        with contextlib.suppress(ChildProcessError):
            while (pid := os.waitpid(-1, os.WNOHANG)[0]) > 0:
                reaped.append(pid)

    parent, put = os.getpid(), _tracelines._put

    def late_put(records: Any, out: Any) -> None:  # the parent's part ends after the child has exited
        if os.getpid() == parent and sigchld == "reaped":
            deadline = time.monotonic() + 30
            while not reaped and time.monotonic() < deadline:
                time.sleep(0.01)
        put(records, out)

    trace = bench_trace.build(500, people=20, pool=5)
    one = trace.save(tmp_path / "one.jobsim.jsonl", workers=1).read_bytes()
    monkeypatch.setattr(_tracefork, "_put", late_put)
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN if sigchld == "ignored" else reaper)
    try:
        assert trace.save(tmp_path / "t.jobsim.jsonl", workers=2).read_bytes() == one
    finally:
        signal.signal(signal.SIGCHLD, previous)


def test_the_parents_signal_handlers_never_run_in_the_child(tmp_path, monkeypatch):
    """A program's own handler (a SIGTERM handler that flushes, deletes a pid file, tells a server it stops) is
    the parent's: a signal the whole process group gets (systemd's stop, a terminal's ^C) must not run it a
    second time in the child, which shares the parent's files and sockets. The child could keep every signal
    blocked (the parent kills it if the save fails) or reset the handlers before unblocking them."""
    parent, put = os.getpid(), _tracelines._put
    ran: list[int] = []
    children: list[int] = []

    def handler(*args: Any) -> None:
        ran.append(os.getpid())
        (tmp_path / f"handled-{os.getpid()}").touch()

    def put_then_signal(records: Any, out: Any) -> None:
        if os.getpid() == parent:
            for pid in children:
                os.kill(pid, signal.SIGUSR1)
        else:  # the child: wait a little for the signal, so that it arrives while the child works
            deadline = time.monotonic() + 2
            while not ran and time.monotonic() < deadline:
                time.sleep(0.01)
        put(records, out)

    fork = os.fork

    def remembered_fork() -> int:
        pid = fork()
        if pid:
            children.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", remembered_fork)
    monkeypatch.setattr(_tracefork, "_put", put_then_signal)
    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        bench_trace.build(500, people=20, pool=5).save(tmp_path / "t.jobsim.jsonl", workers=2)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert children
    assert sorted(p.name for p in tmp_path.glob("handled-*")) == []


def test_workers_past_the_ceiling_use_the_ceiling(tmp_path, spy, monkeypatch):
    # workers=2000 forked 1,999 children, each with a temporary file open: out of descriptors before any gain
    monkeypatch.setattr(_tracefork, "MAX_WORKERS", 3)
    trace = bench_trace.build(120, people=10, pool=3)
    trace.save(tmp_path / "one.jobsim.jsonl", workers=1)
    spy.reset()
    trace.save(tmp_path / "many.jobsim.jsonl", workers=2000)
    assert (spy.forks, spy.parts) == (2, 1)
    assert (tmp_path / "many.jobsim.jsonl").read_bytes() == (tmp_path / "one.jobsim.jsonl").read_bytes()


def _learning_across_parts() -> Trace:
    """Eight records, the parent's part the first four with ``workers=2``: what each part learns decides how the
    other is written. "Zyx" (a word the name lists do not know) leads a name only in the child's part, after the
    parent's part met it second in one (a name's first word decides its fake); "Quorra" is learned only in the
    child's part and quoted in the parent's; a token dropped at a secret field of the child's part and a phone
    number queued at a ``phone`` field there are quoted in the parent's part (they come from the child's note:
    else the token is written in clear and the number faked while rewriting, which makes the parent write every
    part itself)."""
    trace = Trace()
    add = trace.add

    def event(i: int, data: dict[str, Any]) -> None:
        add(START_NS + i, "event", {"name": "user/created", "id": f"e{i}", "ts": None, "data": data})

    def attempt(i: int, error: str) -> None:
        add(START_NS + i, "attempt", {"function": "f", "run": "r", "step": "s", "attempt": 0, "error": error})

    event(0, {"email": "bob@gmail.com", "name": "Bob Zyx"})
    attempt(1, "Quorra Zyx wrote from +1 415 555 0199")
    attempt(2, "rejected key zq81xk2mvb7p for Zyx")
    attempt(3, "Zyx Quorra, again")
    event(4, {"email": "zyx@gmail.com", "name": "Zyx Quorra", "phone": "+1 415 555 0199"})
    event(5, {"api_key": "zq81xk2mvb7p"})
    attempt(6, "Zyx, Bob and Quorra")
    attempt(7, "Quorra Zyx wrote from +1 415 555 0199")
    return trace


def test_what_each_part_learns_reaches_the_other_processes_in_order(tmp_path, spy):
    trace = _learning_across_parts()
    text = _same(trace, tmp_path / "t.jobsim.jsonl", spy, 2).decode()
    assert spy.parts == 1  # the child's lines were used
    for clear in ("Zyx", "Quorra", "zq81xk2mvb7p", "555 0199", "bob@", "zyx@"):
        assert clear not in text
    for workers in (3, 5):
        _same(trace, tmp_path / f"t{workers}.jobsim.jsonl", spy, workers)
        assert spy.parts == 1


def test_each_process_learns_its_own_part(tmp_path, spy, monkeypatch):
    """The first pass runs in every process, each over its part: the parent learns only the records it writes."""
    learned: list[tuple[int, int, int]] = []
    learn = _tracefork._first_pass

    def noted(trace: Any, redactor: Any, expand: Any, start: int, stop: int) -> Any:
        learned.append((os.getpid(), start, stop))
        return learn(trace, redactor, expand, start, stop)

    monkeypatch.setattr(_tracefork, "_first_pass", noted)
    trace = bench_trace.build(500, people=20, pool=5)
    _same(trace, tmp_path / "t.jobsim.jsonl", spy, 2)
    mine = [(start, stop) for pid, start, stop in learned if pid == os.getpid()]
    assert mine == [(0, round(500 * _tracefork.FIRST_SHARE))]
    assert spy.parts == 1


class _Opaque:
    """A value pickle refuses (a plugin's own object) at a name field: it is written as ``<_Opaque>``, but a note
    holding it cannot be sent to the other process."""

    def __reduce__(self) -> Any:
        raise TypeError("not picklable")


@pytest.mark.parametrize("where", [1, 5])  # in the parent's note, in the child's
def test_a_note_that_cannot_be_sent_makes_the_parent_learn_and_write_every_part(where, tmp_path, spy):
    trace = _learning_across_parts()
    trace._rows[where] = (START_NS + where, "plugin.thing", {"name": ["Ada Lovelace", _Opaque()], "email": "a@b.io"})
    _same(trace, tmp_path / "t.jobsim.jsonl", spy, 2)
    assert spy.parts == 2


def test_a_child_that_fails_while_learning_leaves_the_parent_to_learn_its_part(tmp_path, spy, monkeypatch):
    parent, learn = os.getpid(), _tracefork._first_pass

    def failing(*args: Any) -> Any:
        if os.getpid() != parent:
            raise MemoryError
        return learn(*args)

    monkeypatch.setattr(_tracefork, "_first_pass", failing)
    _same(_learning_across_parts(), tmp_path / "t.jobsim.jsonl", spy, 3)
    assert spy.parts == 2


def test_a_pipe_that_cannot_be_made_leaks_no_descriptor(tmp_path, monkeypatch):
    """Out of descriptors (EMFILE) between a child's two pipes: the save fails as it did, and the first pipe's
    ends are both closed (its write end, not yet the child's nor in the parent's list, stayed open)."""
    pipe, made = os.pipe, []

    def second_fails() -> tuple[int, int]:
        if len(made) == 1:
            raise OSError(24, "Too many open files")
        made.append(pipe())
        return made[-1]

    trace = bench_trace.build(200, people=10, pool=3)
    before = sorted(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(os, "pipe", second_fails)
    with pytest.raises(TraceError, match="Too many open files"):
        trace.save(tmp_path / "t.jobsim.jsonl", workers=2)
    monkeypatch.undo()
    assert made and sorted(os.listdir("/proc/self/fd")) == before
