"""The core benchmark: jobs that wait 24 h, fail three times, then succeed.

Workload, per job (all jobs sent at t=0): wait 24 h, then call ``work(i, attempt)``,
which raises ``RuntimeError`` on attempts 0, 1 and 2; retry with exponential backoff
``min * 2**(k-1)`` capped at ``max`` (min 1 s, max 1 h, so 1 s, 2 s, 4 s); attempt 3
succeeds. Every job finishes at 24 h + 7 s.

Three implementations run the same workload in the same process, interleaved:

- ``heapq``: a bare loop over ``(time_ns, seq, callback, *args)`` tuples, integer ns;
- ``SimPy``: one process per job, ``yield env.timeout(...)``, float seconds;
- ``jobsim``: the full engine (``jobsim.Simulation``), keeping full run records.

Target (from the issue): jobsim/SimPy <= 1.0.

    python benchmarks/bench_core.py                 # 10,000 and 100,000 jobs
    python benchmarks/bench_core.py --quick         # 2,000 jobs
    python benchmarks/bench_core.py --sizes 50000 --memory
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import _common
import simpy

sys.path.insert(1, str(_common.REPO_ROOT))  # time this checkout's jobsim, not an installed one

SECOND = 1_000_000_000
WAIT_NS = 24 * 3600 * SECOND
MIN_NS, CAP_NS = SECOND, 3600 * SECOND
WAIT_S, MIN_S, CAP_S = 24 * 3600.0, 1.0, 3600.0
FAILURES = 3
EXPECTED_NS = WAIT_NS + sum(min(MIN_NS << (k - 1), CAP_NS) for k in range(1, FAILURES + 1))
START = "2025-01-01T00:00:00Z"
START_DT = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


def work(i: int, attempt: int) -> int:
    """The job's body, shared by all three implementations: fails on attempts 0-2."""
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
    retries = jobsim.Retries(attempts=FAILURES + 1, backoff="exponential", min="1s", max="1h")

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
    """Sanity check, not timing: both baselines agree, and finish at 24 h + 7 s."""
    by_heapq = run_heapq(n)
    by_simpy = [round(t * SECOND) for t in run_simpy(n)]
    assert by_heapq == by_simpy, "heapq and SimPy baselines disagree on completion times"
    assert set(by_heapq) == {EXPECTED_NS}, f"baselines: expected every job done at {EXPECTED_NS} ns"


def bench_size(n: int, repeat: int, with_jobsim: bool) -> dict[str, float]:
    """Median seconds per variant for ``n`` jobs; the sanity runs double as warm-up."""
    check_baselines(n)
    variants = {
        "heapq": _common.timed(lambda: run_heapq(n)),
        "SimPy": _common.timed(lambda: run_simpy(n)),
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
        print(f"#   n={n:,} {name:<6} runs: {spread} ({len(times)} rounds)")
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


def memory_rows(sizes: list[int], with_jobsim: bool) -> list[list[str]]:
    runners: dict[str, Callable[[int], object]] = {"heapq": run_heapq, "SimPy": run_simpy}
    if with_jobsim:
        runners["jobsim"] = run_jobsim
    rows = []
    for n in sizes:
        cells = [f"{n:,}"]
        for name in ("heapq", "SimPy", "jobsim"):
            runner = runners.get(name)
            try:
                cells.append("n/a" if runner is None else f"{_common.peak_bytes(runner, n) / n:,.0f} B")
            except Exception:  # reported by the timing run already
                cells.append("failed")
        rows.append(cells)
    return rows


def main() -> None:
    cli = _common.parser("jobs that wait 24 h, fail 3 times, then succeed: heapq, SimPy, jobsim")
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
    if args.memory:
        print("\npeak traced memory per job (tracemalloc, untimed run):\n")
        memory = memory_rows(sizes, missing is None)
        _common.print_table(["jobs", "heapq", "SimPy", "jobsim"], memory)


if __name__ == "__main__":
    main()
