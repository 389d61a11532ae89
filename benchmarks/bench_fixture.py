"""Per-test cost of the ``jobsim`` pytest fixture in a process with 2,000+ modules loaded.

Target (from the issue): median under 1 ms per test for the fixture's setup plus
teardown, in a real project. "Real project" here means the process has imported
what a jobsim test run loads (pytest, httpx, respx, hypothesis, ...) plus N
generated application modules (``bench_wallclock``'s template), and the tests run
under the real pytest machinery with every installed plugin loaded.

Three measurements, each against a baseline taken in the same run:

1. **pytest's own phase durations.** One in-process ``pytest.main`` session holds T
   plain tests (``def test_i(): pass``) and T tests using the fixture, each sending
   one event and advancing 1 s. The figure is the median over tests of (setup +
   teardown duration), fixture tests minus plain tests, taken from the test
   reports; the call phase (send + advance) is reported apart.
2. **Whole sessions.** Interleaved ``pytest.main`` sessions of T plain tests, T
   tests that only take the fixture, and T tests that also send + advance; the
   difference from the plain session, divided by T, includes everything the
   plugin adds per test (fixture resolution, marker merge, the makereport hook).
3. **Direct.** ``Simulation(app)`` + ``start()`` + ``close()`` with no pytest at all,
   before and after the generated modules are imported (nothing in the fixture
   should scan ``sys.modules``, so the ratio should stay near 1).

    python benchmarks/bench_fixture.py                 # 2,000 modules, 500 tests per variant
    python benchmarks/bench_fixture.py --modules 5000 --tests 1000
    python benchmarks/bench_fixture.py --quick         # 200 modules, 100 tests
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common  # before anything that may import freezegun
from _common import clock, fmt_ratio, fmt_time

sys.path.insert(1, str(_common.REPO_ROOT))  # time this checkout's jobsim, not an installed one

import pytest
from bench_wallclock import import_generated, import_real_modules, loaded

import jobsim

TARGET = 1e-3
CONFTEST = """
import pytest
import jobsim

app = jobsim.App("bench")

@app.function("hello", on="hello")
def hello(ctx):
    return ctx.step.run("greet", lambda: "hi")

@pytest.fixture
def jobsim_app():
    return app
"""
BODIES = {
    "plain": ("", "pass"),
    "fixture": ("jobsim", "pass"),
    "fixture+work": ("jobsim", 'jobsim.send("hello"); jobsim.advance("1s")'),
}
FILES = {name: f"test_{name.replace('+', '_')}.py" for name in BODIES}


# ----------------------------------------------------------------- the generated project


def write_project(root: Path, tests: int) -> None:
    """A rootdir with the app in conftest.py and one test file per variant."""
    ini = "[pytest]\n"
    if importlib.util.find_spec("pytest_asyncio") is not None:
        ini += "asyncio_default_fixture_loop_scope = function\n"
    (root / "pytest.ini").write_text(ini)
    (root / "conftest.py").write_text(CONFTEST)
    for name, (args, body) in BODIES.items():
        lines = [f"def test_{i:05d}({args}):\n    {body}\n" for i in range(tests)]
        (root / FILES[name]).write_text("\n".join(lines))


class Durations:
    """A pytest plugin that keeps every report's duration by (file, test, phase)."""

    def __init__(self) -> None:
        self.seconds: dict[tuple[str, str, str], float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        path, _, test = report.nodeid.partition("::")
        self.seconds[(path, test, report.when)] = report.duration


def run_session(root: Path, files: list[str], plugin: Any = None) -> None:
    """``pytest.main`` in this process, quietly; forgets the imported test modules after."""
    args = [*(str(root / f) for f in files), "-q", "-p", "no:cacheprovider", f"--rootdir={root}"]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            code = pytest.main(args, plugins=[plugin] if plugin else [])
    finally:
        for name in ["conftest", *(f.removesuffix(".py") for f in files)]:
            sys.modules.pop(name, None)
    if code != 0:
        raise SystemExit(f"pytest session failed ({code}):\n{out.getvalue()[-3000:]}")


# ----------------------------------------------------------------- 1. phase durations


def bench_phases(root: Path, repeat: int) -> dict[str, dict[str, float]]:
    """Median per-test seconds of setup+teardown and of call, per variant (median of sessions)."""
    per_session: dict[str, dict[str, list[float]]] = {
        name: {"setup+teardown": [], "call": []} for name in ("plain", "fixture+work")
    }
    for _ in range(repeat + 1):  # the first session warms up and is dropped
        durations = Durations()
        run_session(root, [FILES["plain"], FILES["fixture+work"]], durations)
        for name, phases in per_session.items():
            tests = {t for (p, t, _) in durations.seconds if p == FILES[name]}
            st = [durations.seconds[(FILES[name], t, "setup")]
                  + durations.seconds[(FILES[name], t, "teardown")] for t in tests]  # fmt: skip
            phases["setup+teardown"].append(statistics.median(st))
            phases["call"].append(statistics.median(durations.seconds[(FILES[name], t, "call")]
                                                    for t in tests))  # fmt: skip
    return {
        name: {phase: _common.median(values[1:]) for phase, values in phases.items()}
        for name, phases in per_session.items()
    }


# ----------------------------------------------------------------- 2. whole sessions


def bench_sessions(root: Path, tests: int, repeat: int) -> dict[str, float]:
    """Median seconds per test of a whole session, per variant (interleaved rounds)."""

    def session(name: str) -> Callable[[], float]:
        def run() -> float:
            start = clock()
            run_session(root, [FILES[name]])
            return (clock() - start) / tests

        return run

    samples = _common.interleaved({name: session(name) for name in BODIES}, repeat=repeat)
    return {name: _common.median(times) for name, times in samples.items()}


# ----------------------------------------------------------------- 3. direct


def bench_direct(repeat: int, ops: int) -> dict[str, float]:
    """Median seconds per operation of building, starting and closing a Simulation."""
    app = jobsim.App("direct")

    @app.function("hello", on="hello")
    def hello(ctx: Any) -> Any:
        return ctx.step.run("greet", lambda: "hi")

    def build(n: int) -> float:
        start = clock()
        for _ in range(n):
            jobsim.Simulation(app, seed=0)
        return (clock() - start) / n

    def lifecycle(n: int) -> float:
        start = clock()
        for _ in range(n):
            sim = jobsim.Simulation(app, seed=0)
            sim.start()
            sim.close()
        return (clock() - start) / n

    def with_work(n: int) -> float:
        start = clock()
        for _ in range(n):
            sim = jobsim.Simulation(app, seed=0)
            sim.start()
            sim.send("hello")
            sim.advance("1s")
            sim.close()
        return (clock() - start) / n

    variants = {
        "Simulation()": lambda: build(ops),
        "Simulation() + start() + close()": lambda: lifecycle(ops),
        "... + send() + advance('1s')": lambda: with_work(ops),
    }
    samples = _common.interleaved(variants, repeat=repeat)
    return {name: _common.median(times) for name, times in samples.items()}


# ----------------------------------------------------------------- report


def main() -> None:
    cli = _common.parser("per-test cost of the jobsim pytest fixture with 2,000+ modules loaded")
    cli.add_argument("--modules", type=int, default=2_000, help="generated modules to import")
    cli.add_argument("--tests", type=int, default=500, help="tests per variant")
    args = _common.parse(cli)
    modules, tests = (200, 100) if args.quick else (args.modules, args.tests)
    ops = 200 if args.quick else 1_000
    _common.banner("pytest", "pytest-asyncio", "pytest-xdist", "respx", "time-machine")
    print(f"# jobsim from {jobsim.__file__}")
    missing = import_real_modules()
    if missing:
        print(f"# not installed (skipped): {', '.join(missing)}")

    before = bench_direct(args.repeat, ops)
    root = Path(tempfile.mkdtemp(prefix="jobsim-bench-fixture-"))
    try:
        sys.path.insert(0, str(root))
        import_generated(root, 0, modules)
        count, _ = loaded()
        print(f"# {modules:,} generated modules imported; {count:,} modules in sys.modules")
        after = bench_direct(args.repeat, ops)
        project = root / "project"
        project.mkdir()
        write_project(project, tests)
        phases = bench_phases(project, args.repeat)
        sessions = bench_sessions(project, tests, args.repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report(before, after, phases, sessions, modules, tests, args.repeat)


def report(
    before: dict[str, float], after: dict[str, float], phases: dict[str, dict[str, float]],
    sessions: dict[str, float], modules: int, tests: int, repeat: int,
) -> None:  # fmt: skip
    overhead = phases["fixture+work"]["setup+teardown"] - phases["plain"]["setup+teardown"]
    print(f"\n1. pytest phase durations, {tests} tests per variant, median of {repeat} sessions")
    print("   (median over tests in a session; fixture tests send one event and advance 1 s)\n")
    _common.print_table(
        ["variant", "setup+teardown", "call"],
        [[name, fmt_time(p["setup+teardown"]), fmt_time(p["call"])] for name, p in phases.items()],
    )
    print(f"\n   fixture setup+teardown per test: {fmt_time(overhead)} "
          f"({fmt_ratio(overhead / TARGET)} of the 1 ms target)")  # fmt: skip

    plain = sessions["plain"]
    print(f"\n2. whole pytest sessions, seconds per test, median of {repeat} interleaved rounds\n")
    rows = [[name, fmt_time(t), fmt_time(t - plain), fmt_ratio(t / plain)]
            for name, t in sessions.items()]  # fmt: skip
    _common.print_table(["variant", "per test", "minus plain", "vs plain"], rows)

    print(f"\n3. direct, no pytest: per operation, 0 vs {modules:,} generated modules imported\n")
    rows = [[name, fmt_time(b), fmt_time(after[name]), fmt_ratio(after[name] / b)]
            for name, b in before.items()]  # fmt: skip
    _common.print_table(["operation", "before", "after", "after/before"], rows)
    verdict = "meets" if overhead < TARGET else "MISSES"
    print(f"\ntarget: fixture setup+teardown < 1 ms per test (median): {fmt_time(overhead)}, "
          f"{verdict} it")  # fmt: skip


if __name__ == "__main__":
    main()
