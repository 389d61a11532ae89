"""The core benchmark: jobs that wait 24 h, fail three times, then succeed.

Workload, per job (all jobs sent at t=0): wait 24 h, then call ``work(i, attempt)``,
which raises ``RuntimeError`` on attempts 0, 1 and 2; retry with exponential backoff
``min * 2**(k-1)`` capped at ``max`` (min 1 s, max 1 h, so 1 s, 2 s, 4 s); attempt 3
succeeds. Every job finishes at 24 h + 7 s.

Five implementations run the same workload in the same process, interleaved:

- ``heapq``: a bare loop over ``(time_ns, seq, callback, *args)`` tuples, integer ns;
- ``SimPy``: one process per job, ``yield env.timeout(...)``, float seconds;
- ``replay floor``: the smallest hand-written implementation of Inngest's replay model
  on the same bare heap: a memo dict of completed steps per job, the handler re-run
  from the top on each of the job's six requests, a new step ending the request by
  raising ``Suspend``; no run records;
- ``floor + records``: the same, keeping a run record (status, output, timestamps) and
  one attempt record per request: what the records alone cost;
- ``jobsim``: the full engine (``jobsim.Simulation``), keeping full run records.

Target (from the issue): jobsim/SimPy <= 1.0. The replay floor is what that model costs
in CPython on the baselines' bare heap, before any of an engine's checks and records; the
second table compares it with SimPy, and jobsim with it.

    python benchmarks/bench_core.py                 # 10,000 and 100,000 jobs
    python benchmarks/bench_core.py --quick         # 2,000 jobs
    python benchmarks/bench_core.py --sizes 50000 --memory
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import heapq
import itertools
import sys
import textwrap
from collections.abc import Callable, Generator, Iterator
from typing import Any

import _common
import simpy

sys.path.insert(1, str(_common.REPO_ROOT))  # time this checkout's jobsim, not an installed one

SECOND = 1_000_000_000
WAIT_NS = 24 * 3600 * SECOND
MIN_NS, CAP_NS = SECOND, 3600 * SECOND
WAIT_S, MIN_S, CAP_S = 24 * 3600.0, 1.0, 3600.0
FAILURES = 3
ATTEMPTS = FAILURES + 1
EXPECTED_NS = WAIT_NS + sum(min(MIN_NS << (k - 1), CAP_NS) for k in range(1, FAILURES + 1))
START = "2025-01-01T00:00:00Z"
START_DT = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


def work(i: int, attempt: int) -> int:
    """The job's body, shared by every implementation: fails on attempts 0-2."""
    if attempt < FAILURES:
        raise RuntimeError("transient failure")
    return i


# ----------------------------------------------------------------- bare heapq


def run_heapq(n: int) -> list[int]:
    """Completion time (ns) of each job on a bare heap of ``(time, seq, callback, *args)``.

    The callback's arguments ride in the entry: per-job closures were 1.7x slower at
    100,000 jobs, almost all of it in the garbage collector.
    """
    heap: list[tuple[int, int, Callable[[int, int, int], None], int, int]] = []
    seq = itertools.count()
    push, pop = heapq.heappush, heapq.heappop
    finished = [0] * n

    def attempt_work(now: int, i: int, attempt: int) -> None:
        try:
            work(i, attempt)
        except RuntimeError:
            attempt += 1
            due = now + min(MIN_NS << (attempt - 1), CAP_NS)
            push(heap, (due, next(seq), attempt_work, i, attempt))
        else:
            finished[i] = now

    def start(now: int, i: int, attempt: int) -> None:
        push(heap, (now + WAIT_NS, next(seq), attempt_work, i, attempt))

    for i in range(n):
        push(heap, (0, next(seq), start, i, 0))
    while heap:
        now, _, callback, i, attempt = pop(heap)
        callback(now, i, attempt)
    return finished


# ----------------------------------------------------------------- SimPy


def run_simpy(n: int) -> list[float]:
    """Completion time (s) of each job, one SimPy process per job."""
    env = simpy.Environment()
    timeout = env.timeout
    finished = [0.0] * n

    def job(i: int) -> Any:
        yield timeout(WAIT_S)
        attempt = 0
        while True:
            try:
                work(i, attempt)
                break
            except RuntimeError:
                attempt += 1
            yield timeout(min(MIN_S * 2 ** (attempt - 1), CAP_S))
        finished[i] = env.now

    process = env.process
    for i in range(n):
        process(job(i))
    env.run()
    return finished


# ----------------------------------------------------------------- replay floor
#
# Inngest's replay model, as small as it can honestly be written: each job is a run of
# `replay_job`, re-executed from the top on every request. A step whose id is in the run's
# memo returns the stored output; the first step that is not ends the request by raising
# `Suspend` with what to do next (the handler's code runs on, so only an exception can stop
# it at the step: a returned marker would need every handler to test each step's result).
# A job's six requests: the sleep is found; after 24 h the sleep is memoized and `work`
# fails (attempt 0), then fails on attempts 1 and 2 after 1 s and 2 s, succeeds on attempt
# 3 after 4 s; a last request finds both steps memoized and the handler returns. Each next
# request goes through the heap, as each of jobsim's does through its kernel. Left out, as
# jobsim's extras: repeated step ids (`id:1`), per-request copies of the event, checks of
# misuse, traces, ids, clocks other than the heap's `now`.


class Suspend(BaseException):
    """Ends a request at its first new step; ``args[0]`` is the op (no Python ``__init__``)."""

    __slots__ = ()


class FloorCtx:
    """One request's ``ctx``: ``event``, ``attempt`` and ``step``. Made per request, as an SDK makes
    one, and apart from its ``step`` (a ``ctx`` that was its own ``step`` would be a cycle a request)."""

    __slots__ = ("attempt", "event", "step")
    attempt: int
    event: dict[str, Any]
    step: FloorStep


class FloorStep:
    """One request's ``ctx.step``: the run's memo and the request's time."""

    __slots__ = ("memo", "now")
    memo: dict[str, Any]
    now: int

    def sleep(self, step_id: str, ns: int) -> None:
        if step_id in self.memo:
            return
        raise Suspend(("sleep", step_id, self.now + ns))

    def run(self, step_id: str, fn: Callable[..., Any], *args: Any) -> Any:
        memo = self.memo
        if step_id in memo:
            return memo[step_id]
        try:
            op: tuple[Any, ...] = ("done", step_id, fn(*args))
        except Exception:  # no records: the error is not kept (a local holding it would be a cycle
            op = ("failed", step_id)  # through its traceback's frame, left to the collector)
        raise Suspend(op)


def replay_job(ctx: FloorCtx) -> Any:
    """The benchmark's handler, as in ``run_jobsim``; its output is ``None``."""
    ctx.step.sleep("wait", WAIT_NS)
    ctx.step.run("work", work, ctx.event["data"]["i"], ctx.attempt)
    return None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off while a floor runs: it makes no cyclic garbage (``check_baselines``
    checks), so reference counting frees all it drops, and a collection could find nothing; its
    walks over the live jobs would be cost without work (jobsim's own share: ~4.5%)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_new = object.__new__
FLOOR, RECORDS = "replay floor", "floor + records"


def run_replay_floor(n: int) -> list[int]:
    """Completion time (ns) of each job, through the replay model on a bare heap; no records."""
    heap: list[tuple[int, int, Callable[..., None], tuple[int, dict[str, Any], dict[str, Any]], int]] = []
    seq = itertools.count()
    push, pop = heapq.heappush, heapq.heappop
    finished = [0] * n

    def request(now: int, job: tuple[int, dict[str, Any], dict[str, Any]], attempt: int) -> None:
        ctx = _new(FloorCtx)
        ctx.step = step = _new(FloorStep)
        ctx.event = job[1]
        ctx.attempt = attempt
        step.memo = memo = job[2]
        step.now = now
        try:
            replay_job(ctx)
        except Suspend as suspend:
            op = suspend.args[0]
        except Exception:  # the handler failed outside any step: the function retries
            op = ("failed", None, None)
        else:
            finished[job[0]] = now  # returned: the run is complete
            return
        kind, key = op[0], op[1]
        if kind == "failed":
            attempt += 1
            if attempt < ATTEMPTS:
                due = now + min(MIN_NS << (attempt - 1), CAP_NS)
                push(heap, (due, next(seq), request, job, attempt))
            else:  # a step out of retries fails the run (Inngest: StepError, unhandled here)
                finished[job[0]] = -1
        elif kind == "done":
            memo[key] = op[2]
            push(heap, (now, next(seq), request, job, 0))  # the next step's counter starts at 0
        else:  # "sleep": nothing else runs for the job until it wakes, so it is memoized now
            memo[key] = None
            push(heap, (op[2], next(seq), request, job, 0))

    for i in range(n):
        push(heap, (0, next(seq), request, (i, {"name": "job/start", "data": {"i": i}}, {}), 0))
    with collector_paused():
        while heap:
            now, _, callback, job, attempt = pop(heap)
            callback(now, job, attempt)
    return finished


def _step_calls() -> Generator[tuple[bool, Any] | None, tuple[Callable[..., Any], tuple[Any, ...]], None]:
    """Calls each step's function sent in, forever; yields ``(True, output)`` or ``(False, error)``.

    A kept error keeps its traceback, whose frames link to their callers' (``f_back``): called
    from the request, a failed step would keep the request's frames and its ``ctx`` alive (39
    tracked objects kept a job instead of 21; 1.25x the variant's time at 10,000 jobs). Called
    from this generator, the chain stops at its suspended frame, as ``jobsim/_calls.py`` does it."""
    box: list[tuple[bool, Any]] = []
    while True:
        fn, args = yield (box.pop() if box else None)
        try:
            box.append((True, fn(*args)))
        except Exception as exc:
            box.append((False, exc))
        del fn, args


_STEP_CALLS = _step_calls()
next(_STEP_CALLS)


class RecordsStep(FloorStep):
    """``FloorStep`` whose ``run`` keeps the error of a failed step (with its traceback) for the records."""

    __slots__ = ()

    def run(self, step_id: str, fn: Callable[..., Any], *args: Any) -> Any:
        memo = self.memo
        if step_id in memo:
            return memo[step_id]
        ok, value = _STEP_CALLS.send((fn, args))  # type: ignore[misc]
        raise Suspend(("done" if ok else "failed", step_id, value))


class FloorRun:
    """The least a run record keeps: status, output, timestamps, its attempts."""

    __slots__ = ("attempts", "end_ns", "event", "memo", "output", "start_ns", "status")
    attempts: list[FloorAttempt]
    end_ns: int | None
    event: dict[str, Any]
    memo: dict[str, Any]
    output: Any
    start_ns: int
    status: str


class FloorAttempt:
    """One request: its number (the step's counter), step, start and end, and error."""

    __slots__ = ("end_ns", "error", "number", "start_ns", "step")
    end_ns: int
    error: BaseException | None
    number: int
    start_ns: int
    step: str | None


def run_replay_floor_records(n: int) -> list[FloorRun]:
    """``run_replay_floor`` keeping a ``FloorRun`` per job and a ``FloorAttempt`` per request."""
    heap: list[tuple[int, int, Callable[..., None], FloorRun, int]] = []
    seq = itertools.count()
    push, pop = heapq.heappush, heapq.heappop
    runs = []

    def request(now: int, run: FloorRun, attempt: int) -> None:
        ctx = _new(FloorCtx)
        ctx.step = step = _new(RecordsStep)
        ctx.event = run.event
        ctx.attempt = attempt
        step.memo = memo = run.memo
        step.now = now
        run.status = "running"
        record = _new(FloorAttempt)
        record.number = attempt
        record.start_ns = record.end_ns = now
        run.attempts.append(record)
        try:
            output = replay_job(ctx)
        except Suspend as suspend:
            op = suspend.args[0]
        except Exception as exc:
            op = ("failed", None, exc)
        else:
            record.step = record.error = None
            run.status, run.output, run.end_ns = "completed", output, now
            return
        kind, key = op[0], op[1]
        record.step = key
        if kind == "failed":
            record.error = op[2]
            attempt += 1
            if attempt < ATTEMPTS:
                run.status = "retrying"
                due = now + min(MIN_NS << (attempt - 1), CAP_NS)
                push(heap, (due, next(seq), request, run, attempt))
            else:
                run.status, run.end_ns = "failed", now
        else:
            record.error = None
            if kind == "done":
                memo[key] = op[2]
                push(heap, (now, next(seq), request, run, 0))
            else:
                memo[key] = None
                run.status = "sleeping"
                push(heap, (op[2], next(seq), request, run, 0))

    for i in range(n):
        run = _new(FloorRun)
        run.event, run.memo, run.attempts = {"name": "job/start", "data": {"i": i}}, {}, []
        run.status, run.output, run.start_ns, run.end_ns = "queued", None, 0, None
        runs.append(run)
        push(heap, (0, next(seq), request, run, 0))
    with collector_paused():
        while heap:
            now, _, callback, run, attempt = pop(heap)
            callback(now, run, attempt)
    return runs


def check_floor_records(runs: list[FloorRun], n: int) -> None:
    """Every run completed at 24 h + 7 s after six attempts, the middle three failed."""
    assert len(runs) == n
    for i, run in enumerate(runs):
        assert (run.status, run.output, run.end_ns) == ("completed", None, EXPECTED_NS), f"floor run {i}"
        shape = [(a.step, a.number, a.error is not None, a.start_ns) for a in run.attempts]
        assert shape == [
            ("wait", 0, False, 0), ("work", 0, True, WAIT_NS), ("work", 1, True, WAIT_NS + SECOND),
            ("work", 2, True, WAIT_NS + 3 * SECOND), ("work", 3, False, EXPECTED_NS), (None, 0, False, EXPECTED_NS),
        ], f"floor run {i}: attempts {shape}"  # fmt: skip


# ----------------------------------------------------------------- jobsim


def jobsim_missing() -> str | None:
    """Why the jobsim variant cannot run yet, or ``None`` when it can."""
    try:
        from jobsim import App, Retries, Simulation  # noqa: F401
    except ImportError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def run_jobsim(n: int) -> Any:
    """The workload through the full engine; returns the finished ``Simulation``."""
    import jobsim

    app = jobsim.App("bench")
    retries = jobsim.Retries(attempts=ATTEMPTS, backoff="exponential", min="1s", max="1h")

    @app.function("job", on="job/start", retries=retries)
    def job(ctx: Any) -> None:
        ctx.step.sleep("wait", "24h")
        ctx.step.run("work", work, ctx.event.data["i"], ctx.attempt)

    sim = jobsim.Simulation(app, start=START, seed=1)
    with sim:
        for i in range(n):
            sim.send("job/start", {"i": i})
        sim.run_until_idle(max_time="3d", max_items=50_000_000)
    return sim


def _as_ns(moment: Any) -> int:
    if isinstance(moment, dt.datetime):
        delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * SECOND + delta.microseconds * 1_000
    return int(moment)


def check_jobsim(sim: Any, n: int) -> None:
    """Every run completed, at start + 24 h + 7 s, one run per job."""
    runs = sim.runs("job")
    assert len(runs) == n, f"jobsim: expected {n} runs of 'job', got {len(runs)}"
    expected = _as_ns(START_DT) + EXPECTED_NS
    seen = set()
    for run in runs:
        status = getattr(run.status, "value", run.status)
        assert status == "completed", f"jobsim: run {run.id!r} ended {status!r}, not 'completed'"
        assert _as_ns(run.finished_at) == expected, (
            f"jobsim: run {run.id!r} finished at {run.finished_at!r}, expected start + 24h7s"
        )
        seen.add(run.event.data["i"])
    assert seen == set(range(n)), "jobsim: runs do not cover every sent job exactly once"


def jobsim_failure(n: int) -> str | None:
    """Run and check jobsim once, untimed: the error if it fails, else ``None``."""
    try:
        check_jobsim(run_jobsim(n), n)
    except Exception as exc:  # report it and keep timing the baselines
        return f"{type(exc).__name__}: {exc}"
    return None


# ----------------------------------------------------------------- driver


def check_baselines(n: int) -> None:
    """Sanity check, not timing: the baselines and both floors agree, and finish at 24 h + 7 s."""
    by_heapq = run_heapq(n)
    by_simpy = [round(t * SECOND) for t in run_simpy(n)]
    assert by_heapq == by_simpy, "heapq and SimPy baselines disagree on completion times"
    assert set(by_heapq) == {EXPECTED_NS}, f"baselines: expected every job done at {EXPECTED_NS} ns"
    by_floor, garbage = with_garbage(run_replay_floor, n)
    assert by_floor == by_heapq, "the replay floor disagrees with the baselines on completion times"
    assert garbage < n, f"the replay floor left cyclic garbage ({garbage:,} objects): it cannot pause the collector"
    runs, garbage = with_garbage(run_replay_floor_records, n)
    assert garbage < n, f"the replay floor with records left cyclic garbage ({garbage:,} objects)"
    check_floor_records(runs, n)


def with_garbage(runner: Callable[[int], Any], n: int) -> tuple[Any, int]:
    """``runner(n)`` and the cyclic garbage it left, counted with the collector off from start to end.

    The floors run with it paused, so what they leave per job would never be freed; their closures,
    which refer to themselves, are a handful of objects a run."""
    gc.collect()
    gc.disable()
    try:
        return runner(n), gc.collect()
    finally:
        gc.enable()


def bench_size(n: int, repeat: int, with_jobsim: bool) -> dict[str, float]:
    """Median seconds per variant for ``n`` jobs; the sanity runs double as warm-up."""
    check_baselines(n)
    variants = {
        "heapq": _common.timed(lambda: run_heapq(n)),
        "SimPy": _common.timed(lambda: run_simpy(n)),
        FLOOR: _common.timed(lambda: run_replay_floor(n)),
        RECORDS: _common.timed(lambda: run_replay_floor_records(n)),
    }
    if with_jobsim:
        failure = jobsim_failure(n)
        if failure is None:
            variants["jobsim"] = _common.timed(lambda: run_jobsim(n))
        else:
            print(f"# jobsim FAILED its untimed check run at n={n:,} (columns say 'failed'):")
            print(textwrap.indent(failure, "#   "))
    samples = _common.interleaved(variants, repeat=repeat, warmup=0)
    for name, times in samples.items():
        spread = f"{_common.fmt_time(min(times))} .. {_common.fmt_time(max(times))}"
        print(f"#   n={n:,} {name:<15} runs: {spread} ({len(times)} rounds)")
    return {name: _common.median(times) for name, times in samples.items()}


def row(n: int, t: dict[str, float], absent: str) -> list[str]:
    """A table row; ``absent`` fills the jobsim cells when it was not timed."""
    jobsim_time = t.get("jobsim")
    cells = [f"{n:,}", _common.fmt_time(t["heapq"]), _common.fmt_time(t["SimPy"])]
    if jobsim_time is None:
        cells += [absent] * 3
    else:
        cells += [
            _common.fmt_time(jobsim_time),
            _common.fmt_ratio(jobsim_time / t["SimPy"]),
            _common.fmt_ratio(jobsim_time / t["heapq"]),
        ]
    return [*cells, _common.fmt_ratio(t["SimPy"] / t["heapq"])]


def floor_row(n: int, t: dict[str, float], absent: str) -> list[str]:
    """A row of the floors' table: each floor against SimPy, and jobsim against each floor."""
    jobsim_time = t.get("jobsim")
    floor, records, simpy_time = t[FLOOR], t[RECORDS], t["SimPy"]
    cells = [f"{n:,}", _common.fmt_time(simpy_time), _common.fmt_time(floor), _common.fmt_ratio(floor / simpy_time),
             _common.fmt_time(records), _common.fmt_ratio(records / simpy_time)]  # fmt: skip
    if jobsim_time is None:
        return [*cells, absent, absent]
    return [*cells, _common.fmt_ratio(jobsim_time / floor), _common.fmt_ratio(jobsim_time / records)]


MEMORY = ("heapq", "SimPy", "replay floor", "floor + records", "jobsim")


def memory_rows(sizes: list[int], with_jobsim: bool) -> list[list[str]]:
    runners: dict[str, Callable[[int], object]] = {
        "heapq": run_heapq, "SimPy": run_simpy, FLOOR: run_replay_floor, RECORDS: run_replay_floor_records}  # fmt: skip
    if with_jobsim:
        runners["jobsim"] = run_jobsim
    rows = []
    for n in sizes:
        cells = [f"{n:,}"]
        for name in MEMORY:
            runner = runners.get(name)
            try:
                cells.append("n/a" if runner is None else f"{_common.peak_bytes(runner, n) / n:,.0f} B")
            except Exception:  # reported by the timing run already
                cells.append("failed")
        rows.append(cells)
    return rows


def main() -> None:
    cli = _common.parser("jobs that wait 24 h, fail 3 times, then succeed: heapq, SimPy, replay floors, jobsim")
    cli.add_argument("--sizes", default="10000,100000", help="comma-separated job counts")
    cli.add_argument("--memory", action="store_true", help="also report peak bytes per job")
    args = _common.parse(cli)
    sizes = [2_000] if args.quick else [int(s.replace("_", "")) for s in args.sizes.split(",")]
    _common.banner("simpy")
    missing = jobsim_missing()
    if missing is None:
        print(f"# jobsim from {sys.modules['jobsim'].__file__}")
    else:
        print(f"# jobsim variant skipped: jobsim.Simulation is not importable yet ({missing}).")
        print("# Timing the heapq and SimPy baselines only; rerun once the engine has landed.")
    print(
        f"# workload: 24h wait + {FAILURES} failures (backoff 1s, 2s, 4s) + success per job; "
        f"medians of {args.repeat} interleaved rounds"
    )
    results = {n: bench_size(n, args.repeat, missing is None) for n in sizes}
    print()
    headers = ["jobs", "heapq", "SimPy", "jobsim", "jobsim/SimPy", "jobsim/heapq", "SimPy/heapq"]
    absent = "n/a" if missing else "failed"
    _common.print_table(headers, [row(n, t, absent) for n, t in results.items()])
    print("\ntarget: jobsim/SimPy <= 1.00x, with full run records kept")
    print("\nInngest's replay model written bare (six requests a job), without and with minimal run records:\n")
    headers = ["jobs", "SimPy", FLOOR, "floor/SimPy", RECORDS, "+records/SimPy", "jobsim/floor", "jobsim/+records"]
    _common.print_table(headers, [floor_row(n, t, absent) for n, t in results.items()])
    if args.memory:
        print("\npeak traced memory per job (tracemalloc, untimed run):\n")
        memory = memory_rows(sizes, missing is None)
        _common.print_table(["jobs", *MEMORY], memory)


if __name__ == "__main__":
    main()
