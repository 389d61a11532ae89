"""Which library should back the wall-clock bridge: freezegun or time-machine?

The bridge makes ``datetime.now()`` and ``time.time()`` inside job code follow the
virtual clock: it is started once per simulation, moved before every item the engine
runs, and each patched call made by job code goes through it. So three costs matter:

  (a, b) start + stop, once per simulation (freezegun walks every loaded module);
  (c)    one move of the clock, once per engine item;
  (d)    one patched ``time.time()`` / ``datetime.now()`` call in job code.

freezegun's start walks ``sys.modules``, so the script first imports jobsim's own
dependencies and pytest, then N generated modules (each does ``from datetime import
datetime``, ``import time`` and defines a few functions and attributes). Every
number is a median of interleaved rounds; ratios are against time-machine.

    python benchmarks/bench_wallclock.py                  # 2,000 then 5,000 generated modules
    python benchmarks/bench_wallclock.py --modules 3000   # a single size
    python benchmarks/bench_wallclock.py --quick          # 200 modules, fewer operations
"""

from __future__ import annotations

import datetime as dt
import importlib
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import _common
import freezegun
import freezegun.config
import time_machine
from _common import clock, fmt_ratio, fmt_time

DEST = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
DEST_NS = 1_735_689_600 * 1_000_000_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
STEP = dt.timedelta(seconds=1)
REAL_MODULES = (
    "asyncio", "concurrent.futures", "decimal", "email.mime.text", "json", "logging",
    "sqlite3", "uuid", "zoneinfo",
    "cronsim", "faker", "httpx", "orjson", "pluggy", "respx", "hypothesis", "pytest",
)  # fmt: skip
PACKAGE = "wallclock_synth"
TEMPLATE = '''"""Generated module {i}: what an application module typically holds."""
from datetime import datetime, timedelta, timezone
import time

NAME = "mod_{i:05d}"
RETRY_DELAY = timedelta(seconds={i} % 60)
LIMITS = {{"max": {i}, "min": 0}}


def utcnow():
    return datetime.now(timezone.utc)


def stamp():
    return time.time()


def describe(value):
    return f"{{NAME}}: {{value!r}}"


class Record:
    def __init__(self, value):
        self.value = value
        self.created = utcnow()
'''


# ----------------------------------------------------------------- module set-up


def import_real_modules() -> list[str]:
    """Import what a jobsim test process loads; return the names that are missing."""
    missing = []
    for name in REAL_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def import_generated(root: Path, start: int, stop: int) -> None:
    """Write modules ``start..stop-1`` of the generated package under ``root``; import them."""
    package = root / PACKAGE
    package.mkdir(exist_ok=True)
    (package / "__init__.py").touch()
    for i in range(start, stop):
        (package / f"mod_{i:05d}.py").write_text(TEMPLATE.format(i=i))
    importlib.invalidate_caches()
    for i in range(start, stop):
        importlib.import_module(f"{PACKAGE}.mod_{i:05d}")


def loaded() -> tuple[int, int]:
    """Modules in ``sys.modules`` and the attributes freezegun's scan hashes."""
    modules = [m for m in list(sys.modules.values()) if m is not None]
    return len(modules), sum(len(dir(m)) for m in modules)


# ----------------------------------------------------------------- the clocks


@contextmanager
def frozen(ignore_nothing: bool = False) -> Iterator[Any]:
    """freezegun frozen at DEST; ``ignore_nothing`` empties the global ignore list."""
    if ignore_nothing:
        freezegun.configure(default_ignore_list=[])
    freezer = freezegun.freeze_time(DEST)
    try:
        yield freezer.start()
    finally:
        freezer.stop()
        freezegun.config.reset_config()


@contextmanager
def travelling() -> Iterator[time_machine.Traveller]:
    travel = time_machine.travel(DEST, tick=False)
    try:
        yield travel.start()
    finally:
        travel.stop()


@contextmanager
def real() -> Iterator[None]:
    yield


def per_op(ops: int, body: Callable[[int], float]) -> Callable[[], float]:
    """A variant: seconds per operation, from ``body(ops)``, which returns the seconds its
    ``ops`` operations took (so starting and stopping a clock can stay out of it)."""
    return lambda: body(ops) / ops


# ----------------------------------------------------------------- (a, b) start + stop


def freezegun_start_stop(ops: int) -> float:
    start = clock()
    for _ in range(ops):
        freezer = freezegun.freeze_time(DEST)
        freezer.start()
        freezer.stop()
    return clock() - start


def time_machine_start_stop(ops: int) -> float:
    start = clock()
    for _ in range(ops):
        travel = time_machine.travel(DEST, tick=False)
        travel.start()
        travel.stop()
    return clock() - start


def bench_start_stop(repeat: int, quick: bool) -> dict[str, float]:
    """Median seconds per start+stop pair; the first freezegun pair is timed alone."""
    first = freezegun_start_stop(1)  # fills freezegun's module-attribute cache
    variants = {
        "freezegun": per_op(3 if quick else 10, freezegun_start_stop),
        "time-machine": per_op(200 if quick else 2000, time_machine_start_stop),
    }
    samples = _common.interleaved(variants, repeat=repeat)
    return {"first freezegun": first} | {k: _common.median(v) for k, v in samples.items()}


# ----------------------------------------------------------------- (c) one move


def moves(ops: int) -> dict[str, Callable[[], float]]:
    """One variant per way of moving the clock forward by one second, ``ops`` times."""
    aware = [DEST + k * STEP for k in range(1, ops + 1)]
    naive = [moment.replace(tzinfo=None) for moment in aware]
    stamps = [DEST_NS + k * 1_000_000_000 for k in range(1, ops + 1)]

    def fg_move_to(n: int) -> float:
        with frozen() as factory:
            start = clock()
            for moment in aware:
                factory.move_to(moment)
            return clock() - start

    def fg_move_to_from_ns(n: int) -> float:
        with frozen() as factory:
            start = clock()
            for ns in stamps:
                factory.move_to(EPOCH + dt.timedelta(microseconds=ns // 1000))
            return clock() - start

    def fg_tick(n: int) -> float:
        with frozen() as factory:
            start = clock()
            for _ in range(n):
                factory.tick(STEP)
            return clock() - start

    def fg_set(n: int) -> float:
        with frozen() as factory:
            start = clock()
            for moment in naive:
                factory.time_to_freeze = moment
            return clock() - start

    def tm_shift(n: int) -> float:
        with travelling() as traveller:
            start = clock()
            for _ in range(n):
                traveller.shift(STEP)
            return clock() - start

    def tm_set(n: int) -> float:
        with travelling() as traveller:
            start = clock()
            for ns in stamps:
                traveller._destination_timestamp_ns = ns
            return clock() - start

    def tm_move_to(n: int) -> float:
        with travelling() as traveller:
            start = clock()
            for moment in aware[:n]:
                traveller.move_to(moment)
            return clock() - start

    return {
        "freezegun factory.move_to(datetime)": per_op(ops, fg_move_to),
        "freezegun factory.move_to(datetime from int ns)": per_op(ops, fg_move_to_from_ns),
        "freezegun factory.tick(timedelta)": per_op(ops, fg_tick),
        "freezegun factory.time_to_freeze = datetime (private)": per_op(ops, fg_set),
        "time-machine traveller.shift(timedelta)": per_op(ops, tm_shift),
        "time-machine traveller._destination_timestamp_ns = ns (private)": per_op(ops, tm_set),
        "time-machine traveller.move_to(datetime)": per_op(ops // 10, tm_move_to),
    }


# ----------------------------------------------------------------- (d) one patched call

CALLS: dict[str, Callable[[], Callable[[], object]]] = {
    # resolved while patched: freezegun swaps the module attributes themselves
    "time.time()": lambda: time.time,
    "datetime.now()": lambda: dt.datetime.now,
    "datetime.now(timezone.utc)": lambda: lambda: dt.datetime.now(dt.timezone.utc),
}
MODES: dict[str, Callable[[], Any]] = {
    "real": real,
    "freezegun": frozen,
    "freezegun ignore=[]": lambda: frozen(ignore_nothing=True),
    "time-machine": travelling,
}


def calls(ops: int) -> dict[str, Callable[[], float]]:
    """One variant per (call, clock mode): ``ops`` calls of the patched function."""

    def variant(call: str, mode: str) -> Callable[[], float]:
        def body(n: int) -> float:
            with MODES[mode]():
                fn = CALLS[call]()
                start = clock()
                for _ in range(n):
                    fn()
                return clock() - start

        return per_op(ops, body)

    return {f"{call}|{mode}": variant(call, mode) for call in CALLS for mode in MODES}


# ----------------------------------------------------------------- report


def report_moves(medians: dict[str, float]) -> None:
    base = medians["time-machine traveller.shift(timedelta)"]
    rows = [[name, fmt_time(t), fmt_ratio(t / base)] for name, t in medians.items()]
    _common.print_table(["(c) move the clock forward 1 s", "per move", "vs tm shift"], rows)


def report_calls(medians: dict[str, float]) -> None:
    others = [mode for mode in MODES if mode != "time-machine"]
    rows = []
    for call in CALLS:
        cells = [fmt_time(medians[f"{call}|{mode}"]) for mode in MODES]
        tm = medians[f"{call}|time-machine"]
        rows.append([call, *cells, *(fmt_ratio(medians[f"{call}|{m}"] / tm) for m in others)])
    _common.print_table(["(d) one call", *MODES, *(f"{m} / tm" for m in others)], rows)
    print(
        "\n'freezegun ignore=[]': freezegun.configure(default_ignore_list=[]), process-wide;"
        " it skips the caller-frame inspection that every patched time.time() pays."
    )


def bench_phase(repeat: int, quick: bool) -> list[str]:
    """Measure (a)-(d) with the modules loaded now; print (c), (d); return the (a, b) row."""
    modules, attributes = loaded()
    print(f"\n## {modules:,} modules loaded ({attributes:,} module attributes)\n")
    pairs = bench_start_stop(repeat, quick)
    ops = 5_000 if quick else 50_000
    move = _common.interleaved(moves(ops), repeat=repeat)
    report_moves({k: _common.median(v) for k, v in move.items()})
    print()
    call = _common.interleaved(calls(ops), repeat=repeat)
    report_calls({k: _common.median(v) for k, v in call.items()})
    fg, tm = pairs["freezegun"], pairs["time-machine"]
    return [f"{modules:,}", f"{attributes:,}", fmt_time(fg), fmt_time(tm), fmt_ratio(fg / tm),
            fmt_time(pairs["first freezegun"])]  # fmt: skip


def main() -> None:
    cli = _common.parser("freezegun vs time-machine for the wall-clock bridge")
    cli.add_argument(
        "--modules", default="2000,5000", help="generated modules to load, comma-separated sizes"
    )
    args = _common.parse(cli)
    sizes = [int(s.replace("_", "")) for s in args.modules.split(",")]
    sizes = [200] if args.quick else sorted(sizes)
    _common.banner("freezegun", "time-machine")
    missing = import_real_modules()
    if missing:
        print(f"# not installed, skipped: {', '.join(missing)}")
    sys.dont_write_bytecode = True
    root = Path(tempfile.mkdtemp(prefix="bench_wallclock_"))
    sys.path.insert(0, str(root))
    rows, done = [], 0
    try:
        for size in sizes:
            import_generated(root, done, size)
            done = size
            rows.append(bench_phase(args.repeat, args.quick))
    finally:
        shutil.rmtree(root)
    print("\n## (a, b) start + stop, once per simulation\n")
    headers = ["modules", "attributes", "freezegun", "time-machine", "freezegun/tm", "first fg"]
    _common.print_table(headers, rows)
    print("\n'first fg': the first freezegun start+stop after the modules were imported (one run).")


if __name__ == "__main__":
    main()
