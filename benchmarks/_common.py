"""Helpers shared by the benchmarks: interleaved repetitions, medians, tables.

Every benchmark compares variants measured in the same process: each round runs
every variant once (in a rotated order), and the report is the median of the
rounds. Nothing here asserts on absolute times.

The clock is captured when this module is imported and kept inside a tuple:
freezegun rebinds every module attribute that *is* ``time.perf_counter`` while
time is frozen, but it never looks inside tuples, so timings stay real. Import
this module while no freeze is active.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_CLOCK = (time.perf_counter,)
REPO_ROOT = Path(__file__).resolve().parent.parent
MIN_REPEAT = 5


def clock() -> float:
    """Real seconds from ``perf_counter``, even while freezegun is active."""
    return _CLOCK[0]()


def timed(fn: Callable[[], object]) -> Callable[[], float]:
    """Wrap ``fn`` so that calling it returns the seconds it took.

    The result is released after the clock stops, so tearing it down is not timed.
    """

    def run() -> float:
        start = _CLOCK[0]()
        result = fn()
        elapsed = _CLOCK[0]() - start
        del result
        return elapsed

    return run


def interleaved(
    variants: Mapping[str, Callable[[], float]], *, repeat: int = MIN_REPEAT, warmup: int = 1
) -> dict[str, list[float]]:
    """Run every variant once per round, ``warmup + repeat`` rounds; keep the timed rounds.

    Each variant returns the seconds it measured (see :func:`timed`), so a variant can
    keep its own set-up out of the measurement. The order rotates every round.
    """
    names = list(variants)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(warmup + repeat):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            elapsed = variants[name]()
            if round_no >= warmup:
                samples[name].append(elapsed)
    return samples


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def fmt_time(seconds: float) -> str:
    """``0.0123`` -> ``'12.3 ms'``; picks s, ms, µs or ns, three significant digits."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            value = seconds / scale
            return f"{value:.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"
    raise AssertionError("unreachable")


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}x"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A Markdown table with right-aligned columns (pasteable into the README)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark shares."""
    cli = argparse.ArgumentParser(description=description)
    cli.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    cli.add_argument(
        "--repeat", type=int, default=MIN_REPEAT, help=f"timed rounds (at least {MIN_REPEAT})"
    )
    return cli


def parse(cli: argparse.ArgumentParser) -> argparse.Namespace:
    args = cli.parse_args()
    if args.repeat < MIN_REPEAT:
        cli.error(f"--repeat {args.repeat!r}: need at least {MIN_REPEAT} rounds for a median")
    return args


def banner(*packages: str) -> None:
    """Print the interpreter, machine load and the versions of ``packages``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
    except OSError:
        load = "n/a"
    print(
        f"# Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, load {load}"
    )
    found = []
    for name in packages:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} (not installed)")
    if found:
        print("# " + ", ".join(found))
    print(f"# argv: {' '.join(sys.argv[1:]) or '(defaults)'}")


def peak_bytes(runner: Callable[[int], object], n: int) -> int:
    """Peak traced allocation while ``runner(n)`` runs and its result is alive (untimed)."""
    gc.collect()
    tracemalloc.start()
    try:
        result = runner(n)
        _, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        tracemalloc.stop()
    return peak
