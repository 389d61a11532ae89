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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import time

NOWHERE = "redis://127.0.0.1:1/0"


async def always_fails(job, token):
    raise ConnectionError("not yet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attempts", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=None, help="the job's stackTraceLimit (default: none)")
    args = parser.parse_args()

    import jobsim_bullmq
    from bullmq import Queue, Worker

    import jobsim

    jobsim_bullmq.MAX_ATTEMPTS_PER_RUN = args.attempts
    queue = Queue("q", {"connection": NOWHERE})
    worker = Worker("q", always_fails, {"autorun": False, "connection": NOWHERE})
    opts: dict[str, object] = {"attempts": 10**9, "backoff": {"type": "fixed", "delay": 1000}}
    if args.limit is not None:
        opts["stackTraceLimit"] = args.limit
    cpu, wall = time.process_time(), time.perf_counter()
    with jobsim.Simulation(worker, start="2025-03-01T00:00:00Z") as sim:
        asyncio.run(queue.add("poll", {}, opts))
        with contextlib.suppress(jobsim.BudgetExceeded):
            sim.run_until_idle()
        reached = len(sim.runs("q")[0].attempts)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"attempts={reached} stackTraceLimit={args.limit} cpu={cpu:.1f}s wall={wall:.1f}s peak_rss={peak:.0f}MB "
          f"({jobsim_bullmq.__file__})")


if __name__ == "__main__":
    main()
