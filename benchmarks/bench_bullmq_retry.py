"""What a BullMQ job retried thousands of times costs in a simulation: peak memory and CPU, one run a process.

A bullmq-python job (``attempts: 10**9``, a fixed 1 s backoff) whose processor always raises is retried until
``--attempts`` attempts (``jobsim_bullmq.MAX_ATTEMPTS_PER_RUN`` is set to it), where the simulation stops with
``BudgetExceeded``. Without ``stackTraceLimit`` bullmq-python keeps every failure's stack trace on the job and
parses the whole list at each fetch (``Job.fromJSON``) and writes it whole at each failure (``moveToFailed``):
its CPU grows with the square of the attempts, as on a real Redis. The simulation itself must keep only
linear memory: each attempt's error is kept (``run.attempts``), and its traceback's frames held that
attempt's ``Job`` with its own copy of the list until ``_runs._release_frames`` cleared them.

Prints one line: attempts reached, ``stackTraceLimit``, CPU (``time.process_time``), wall time and the
process's peak RSS (``ru_maxrss``, so one run per process). Needs jobsim-bullmq (``plugins/jobsim-bullmq``).

    PYTHONPATH=.:plugins/jobsim-bullmq python benchmarks/bench_bullmq_retry.py --attempts 2000
    PYTHONPATH=.:plugins/jobsim-bullmq python benchmarks/bench_bullmq_retry.py --attempts 10000 --limit 1

``--gate`` measures instead what the plugin's blocking-call gate costs (``jobsim_bullmq._patches._gated``, which
wraps every simulated Redis command: ``jobsim.hooks.gate_while_blocked``): the same run with the gate and with the
commands unwrapped, interleaved in this process (``--repeat`` rounds after a warm-up, the order rotating:
``_common.interleaved``), CPU medians and their ratio; a run before them counts the commands sent (none of this
job's are ever held: nothing blocks). The attempts reached are checked to be the same both ways. With ``--jobs N``
the workload is ``N`` jobs added together whose processor returns at once (no error to format, no backoff): the
commands are a larger share of the work.

    PYTHONPATH=.:plugins/jobsim-bullmq python benchmarks/bench_bullmq_retry.py --gate --attempts 2000 --limit 1
    PYTHONPATH=.:plugins/jobsim-bullmq python benchmarks/bench_bullmq_retry.py --gate --jobs 2000

A 1 % effect is below what those CPU medians resolve here (one variant's rounds spread by ±20 % at load 1):
``--only gated`` / ``--only unwrapped`` runs one simulation for callgrind, which counts its instructions alone:

    PYTHONHASHSEED=0 PYTHONPATH=.:plugins/jobsim-bullmq valgrind --tool=callgrind --collect-atstart=no \
        --toggle-collect=functools_reduce python3.11 benchmarks/bench_bullmq_retry.py --gate --only gated \
        --attempts 300 --limit 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import time
from collections.abc import Callable
from typing import Any

NOWHERE = "redis://127.0.0.1:1/0"


async def always_fails(job: Any, token: str) -> Any:
    raise ConnectionError("not yet")


async def succeeds(job: Any, token: str) -> Any:
    return job.data["n"]


def simulate(attempts: int, limit: int | None) -> tuple[int, float, float]:
    """One simulation up to ``attempts``: the attempts reached, its CPU and wall seconds."""
    import jobsim_bullmq
    from bullmq import Queue, Worker

    import jobsim

    jobsim_bullmq.MAX_ATTEMPTS_PER_RUN = attempts
    queue = Queue("q", {"connection": NOWHERE})
    worker = Worker("q", always_fails, {"autorun": False, "connection": NOWHERE})
    opts: dict[str, object] = {"attempts": 10**9, "backoff": {"type": "fixed", "delay": 1000}}
    if limit is not None:
        opts["stackTraceLimit"] = limit
    cpu, wall = time.process_time(), time.perf_counter()
    with jobsim.Simulation(worker, start="2025-03-01T00:00:00Z") as sim:
        asyncio.run(queue.add("poll", {}, opts))
        with contextlib.suppress(jobsim.BudgetExceeded):
            sim.run_until_idle()
        reached = len(sim.runs("q")[0].attempts)
    return reached, time.process_time() - cpu, time.perf_counter() - wall


def simulate_jobs(jobs: int) -> tuple[int, float, float]:
    """``--jobs``: ``jobs`` jobs added at once that succeed at once: the runs completed, CPU and wall seconds."""
    from bullmq import Queue, Worker

    import jobsim

    queue = Queue("q", {"connection": NOWHERE})
    worker = Worker("q", succeeds, {"autorun": False, "connection": NOWHERE})
    cpu, wall = time.process_time(), time.perf_counter()
    with jobsim.Simulation(worker, start="2025-03-01T00:00:00Z") as sim:
        asyncio.run(queue.addBulk([{"name": "n", "data": {"n": n}} for n in range(jobs)]))
        sim.run_until_idle()
        done = sum(run.status == "completed" for run in sim.runs("q"))
    return done, time.process_time() - cpu, time.perf_counter() - wall


def gate_overhead(workload: Callable[[], tuple[int, float, float]], what: str, repeat: int) -> None:
    """``--gate``: the run with the commands gated (the plugin as it is) and unwrapped, interleaved."""
    import statistics

    from _common import interleaved
    from jobsim_bullmq import _patches

    gated = _patches._gated
    sent = [0]

    def counting(command: Any, world: Any) -> Any:
        wrapped = gated(command, world)
        if wrapped is command:
            return command

        async def count(*args: Any, **kwargs: Any) -> Any:
            sent[0] += 1
            return await wrapped(*args, **kwargs)

        return count

    gates: dict[str, Callable[[Any, Any], Any]] = {"gated": gated, "unwrapped": lambda command, world: command}
    _patches._gated = counting
    reached = workload()[0]

    def variant(gate: Callable[[Any, Any], Any]) -> Callable[[], float]:
        def run() -> float:
            _patches._gated = gate  # type: ignore[assignment]
            got, spent, _ = workload()
            assert got == reached, (got, reached)
            return spent

        return run

    try:
        cpu = interleaved({name: variant(gate) for name, gate in gates.items()}, repeat=repeat)
    finally:
        _patches._gated = gated
    on, off = statistics.median(cpu["gated"]), statistics.median(cpu["unwrapped"])
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"{what}={reached} commands={sent[0]} ({sent[0] / reached:.1f} each) "
          f"gated/unwrapped CPU={on / off:.3f} (overhead {on - off:+.3f} s, {(on - off) / sent[0] * 1e6:+.2f} us a "
          f"command; medians of {repeat}: gated {on:.2f} s, unwrapped {off:.2f} s) load {load} "
          f"rounds {[round(a / b, 3) for a, b in zip(cpu['gated'], cpu['unwrapped'], strict=True)]} "
          f"({_patches.__file__})")  # fmt: skip


def only(workload: Callable[[], tuple[int, float, float]], variant: str) -> None:
    """``--gate --only VARIANT``: one measured run inside ``functools.reduce``, after a small one that does the lazy
    imports, so that ``valgrind --tool=callgrind --collect-atstart=no --toggle-collect=functools_reduce`` counts the
    instructions of that run alone (instruction counts do not feel the machine's load)."""
    import functools

    from jobsim_bullmq import _patches

    if variant == "unwrapped":
        _patches._gated = lambda command, world: command
    simulate(2, 1)
    simulate_jobs(2)
    reached = functools.reduce(lambda _, __: workload(), [None], (0, 0.0, 0.0))[0]
    print(f"{variant}: {reached} ({_patches.__file__})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attempts", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=None, help="the job's stackTraceLimit (default: none)")
    parser.add_argument("--gate", action="store_true", help="the gate's cost: gated and unwrapped, interleaved")
    parser.add_argument("--repeat", type=int, default=5, help="with --gate: timed rounds (at least 5)")
    parser.add_argument("--jobs", type=int, default=0, help="with --gate: N jobs that succeed at once instead")
    parser.add_argument("--only", choices=("gated", "unwrapped"), help="with --gate: one run, for callgrind")
    args = parser.parse_args()
    if args.gate:
        if args.repeat < 5:
            parser.error(f"--repeat {args.repeat!r}: need at least 5 rounds for a median")

        def workload() -> tuple[int, float, float]:
            return simulate_jobs(args.jobs) if args.jobs else simulate(args.attempts, args.limit)

        if args.only:
            only(workload, args.only)
        else:
            gate_overhead(workload, "jobs" if args.jobs else f"stackTraceLimit={args.limit} attempts", args.repeat)
        return

    import jobsim_bullmq

    reached, cpu, wall = simulate(args.attempts, args.limit)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"attempts={reached} stackTraceLimit={args.limit} cpu={cpu:.1f}s wall={wall:.1f}s peak_rss={peak:.0f}MB "
          f"({jobsim_bullmq.__file__})")


if __name__ == "__main__":
    main()
