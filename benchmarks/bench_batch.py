"""Batching throughput: 1,000,000 events through ``batch=Batch(max_size=100, timeout="30s")``.

Workload: events arrive in ticks of 10,000 per virtual second (1,000,000 events =
100 s of traffic), each for one of 1,000 users picked with a heavy skew, so busy
users fill batches of 100 and quiet ones wait out the 30 s timeout. The batch key
is the user; the handler adds up ``len(ctx.events)``.

Three variants run in the same process, interleaved:

- ``heapq``: a bare batcher (a dict of open batches and a heap of timeouts, integer
  ns), the floor any batcher in Python pays;
- ``jobsim batched``: the full simulation: bus, trace, flow control, runs;
- ``jobsim unbatched``: the same events through a function without ``batch=`` (one
  run per event), at a tenth of the size: the core engine's per-event cost.

Both jobsim variants are checked untimed first: every event lands in exactly one
batch, and the batches match the bare batcher's, run for run.

    python benchmarks/bench_batch.py                  # 1,000,000 events
    python benchmarks/bench_batch.py --quick          # 100,000 events
    python benchmarks/bench_batch.py --events 300000
"""

from __future__ import annotations

import heapq
import itertools
import sys
from typing import Any

import _common

sys.path.insert(1, str(_common.REPO_ROOT))  # time this checkout's jobsim, not an installed one

SECOND = 1_000_000_000
START = "2025-01-01T00:00:00Z"
START_NS = 1_735_689_600 * SECOND
PER_TICK = 10_000
USERS = 1_000
MAX_SIZE, TIMEOUT_NS = 100, 30 * SECOND
GOLDEN = 0.6180339887498949


def user_of(i: int) -> str:
    """A deterministic, heavily skewed user for event ``i`` (low numbers are busy)."""
    return f"u{int(USERS * ((i * GOLDEN) % 1.0) ** 3)}"


def workload(n: int) -> list[tuple[int, str]]:
    """``(tick, user)`` of every event; event ``i`` arrives at tick ``i // PER_TICK``."""
    return [(i // PER_TICK, user_of(i)) for i in range(n)]


# ----------------------------------------------------------------- bare heapq


def run_heapq(events: list[tuple[int, str]]) -> list[tuple[int, str, int]]:
    """``(start ns, user, size)`` of every batch, from a dict of open batches and a heap of timeouts."""
    open_: dict[str, list[Any]] = {}  # user -> [first ns, events, live]
    heap: list[tuple[int, int, str, list[Any]]] = []
    seq = itertools.count()
    done: list[tuple[int, str, int]] = []

    def flush(now: int, user: str, batch: list[Any]) -> None:
        batch[2] = False
        done.append((now, user, len(batch[1])))

    for index, (tick, user) in enumerate(events):
        now = START_NS + tick * SECOND
        while heap and heap[0][0] <= now:
            due, _, key, batch = heapq.heappop(heap)
            if batch[2]:
                del open_[key]
                flush(due, key, batch)
        batch = open_.get(user)
        if batch is None:
            batch = open_[user] = [now, [index], True]
            heapq.heappush(heap, (now + TIMEOUT_NS, next(seq), user, batch))
            continue
        batch[1].append(index)
        if len(batch[1]) >= MAX_SIZE:
            del open_[user]
            flush(now, user, batch)
    while heap:
        due, _, key, batch = heapq.heappop(heap)
        if batch[2]:
            flush(due, key, batch)
    return done


# ----------------------------------------------------------------- jobsim


def run_jobsim(events: list[tuple[int, str]], batched: bool) -> Any:
    """The events through a full ``jobsim.Simulation``; returns it, finished."""
    import jobsim

    app = jobsim.App("bench")
    options: dict[str, Any] = {}
    if batched:
        options["batch"] = jobsim.Batch(max_size=MAX_SIZE, timeout="30s", key="event.data.userId")
    counted = [0]

    @app.function("digest", on="note/send", **options)
    def digest(ctx: Any) -> int:
        counted[0] += len(ctx.events)
        return len(ctx.events)

    sim = jobsim.Simulation(app, start=START, seed=1)
    send = sim.send
    with sim:
        tick = 0
        for i, (at, user) in enumerate(events):
            if at != tick:
                sim.advance(at - tick)
                tick = at
            send("note/send", {"userId": user, "i": i})
        sim.run_until_idle(max_time="1d", max_items=50_000_000)
    sim.counted = counted[0]  # type: ignore[attr-defined]
    return sim


def check_jobsim(events: list[tuple[int, str]], batched: bool) -> str | None:
    """Run once, untimed: ``None`` if every event ran once (in the bare batcher's batches)."""
    try:
        sim = run_jobsim(events, batched)
        runs = sim.runs("digest")
        assert sim.counted == len(events), f"{sim.counted:,} events handled, not {len(events):,}"
        assert all(r.status == "completed" for r in runs), "a run did not complete"
        seen = sorted(e.data["i"] for r in runs for e in r.events)
        assert seen == list(range(len(events))), "an event was lost or ran twice"
        if batched:
            got = sorted((r.start_ns, r.event.data["userId"], len(r.events)) for r in runs)
            assert got == sorted(run_heapq(events)), "jobsim's batches differ from the bare batcher's"
    except Exception as exc:  # report it and keep timing the baseline
        return f"{type(exc).__name__}: {exc}"
    return None


# ----------------------------------------------------------------- driver


def main() -> None:
    cli = _common.parser("1,000,000 events through a batched function (max 100, 30 s)")
    cli.add_argument("--events", type=int, default=1_000_000, help="events through the batched function")
    args = _common.parse(cli)
    n = 100_000 if args.quick else args.events
    small = max(n // 10, PER_TICK)
    _common.banner()
    import jobsim

    print(f"# jobsim from {jobsim.__file__}")
    print(f"# workload: {n:,} events, {PER_TICK:,} per virtual second, {USERS:,} skewed users, "
          f"Batch(max_size={MAX_SIZE}, timeout=30s, key=user); medians of {args.repeat} rounds")  # fmt: skip
    big, little = workload(n), workload(small)
    batches = run_heapq(big)
    full = sum(1 for _, _, size in batches if size == MAX_SIZE)
    print(f"# {len(batches):,} batches: {full:,} full, {len(batches) - full:,} closed by the timeout")
    variants = {"heapq": _common.timed(lambda: run_heapq(big))}
    sizes = {"heapq": n}
    for name, events, batched in (("jobsim batched", big, True), ("jobsim unbatched", little, False)):
        failure = check_jobsim(events, batched)
        if failure is None:
            variants[name] = _common.timed(lambda events=events, batched=batched: run_jobsim(events, batched))
            sizes[name] = len(events)
        else:
            print(f"# {name} FAILED its untimed check: {failure}")
    samples = _common.interleaved(variants, repeat=args.repeat, warmup=0)
    rates = {name: sizes[name] / _common.median(times) for name, times in samples.items()}
    print()
    rows = [
        [name, f"{sizes[name]:,}", _common.fmt_time(_common.median(samples[name])), f"{rates[name]:,.0f}",
         _common.fmt_ratio(rates["heapq"] / rates[name])]
        for name in samples
    ]  # fmt: skip
    _common.print_table(["variant", "events", "time", "events/s", "heapq/variant"], rows)
    if "jobsim batched" in rates and "jobsim unbatched" in rates:
        gain = rates["jobsim batched"] / rates["jobsim unbatched"]
        print(f"\nbatched vs unbatched jobsim: {gain:.2f}x the events per second")


if __name__ == "__main__":
    main()
