"""The README's frame, checked against the repository: the two opening commands, Examples, Benchmarks, Layout, Status.

These sections name files, extras, scripts and measured figures rather than run code, so
each test reads the section and checks that what it names exists and says the same.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TIMES, DASH = "\u00d7", "\u2013"  # the README writes ratios as 3.23\u00d7 and ranges as 3.2\u20134.2


def extras(project: Path) -> set[str]:
    """The optional-dependency names a ``pyproject.toml`` declares (tomllib is 3.11+; jobsim runs on 3.10)."""
    text = (project / "pyproject.toml").read_text()
    table = text.split("[project.optional-dependencies]\n", 1)[1].split("\n[", 1)[0] if "optional-dep" in text else ""
    return set(re.findall(r"^([\w-]+) = \[", table, re.M))


def part(start: str, end: str | None = None) -> str:
    """The README's text from the line ``start`` up to the line ``end`` (or the end)."""
    text = README.read_text().split(f"\n{start}\n", 1)[1]
    return text if end is None else text.split(f"\n{end}\n", 1)[0]


def opening_commands() -> list[str]:
    (block,) = re.findall(r"```bash\n(.*?)```", README.read_text().split("\n---\n", 1)[0], re.S)
    return block.strip().splitlines()


def installs(command: str) -> list[str]:
    """The ``-e`` targets of a pip command, as written (``plugins/jobsim-celery[solar,live]``)."""
    return [target.strip("'") for target in re.findall(r"-e (\S+)", command)]


def test_the_opening_commands_install_what_exists_and_what_ci_installs():
    first, second = opening_commands()
    assert first == "pip install -e '.[dev]' && jobsim run examples"
    assert second.endswith("&& python -m pytest -n 2")
    targets = installs(second)
    assert targets[0] == ".[dev]"
    for target in targets:
        path, _, wanted = target.partition("[")
        assert set(filter(None, wanted.rstrip("]").split(","))) <= extras(ROOT / path), target
    plugins = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())
    assert sorted(Path(t.partition("[")[0]).name for t in targets[1:]) == plugins  # every plugin, once
    ci = (ROOT / ".ci" / "run").read_text()
    ci_targets = [t for line in ci.splitlines() if "pip install" in line for t in installs(line)]
    assert sorted(ci_targets) == sorted(targets)
    assert "--no-deps arq==0.28.0 -e plugins/jobsim-arq" in second and "--no-deps 'arq==0.28.0'" in ci
    assert "python3 -m pytest -n 2" in ci


def test_the_redis_backed_plugins_named_are_those_with_a_live_redis_run():
    text = " ".join(README.read_text().split("\n---\n", 1)[0].split())
    named = re.search(r"the live conformance runs of the Redis-backed ones \(([^)]+)\)", text)[1]
    layout = part("## Layout", "## Status")
    live = sorted(re.findall(r"jobsim-(\w+)/\s+\w+.*live Redis run", layout))
    assert sorted(name.lower() for name in named.split(", ")) == live == [
        "arq", "bullmq", "celery", "dramatiq", "huey", "rq"]  # fmt: skip


def test_the_layout_names_files_that_exist_and_every_public_module():
    layout = part("## Layout", "## Status").split("```", 2)[1]
    named = re.findall(r"(?:^|\s)((?:jobsim/|plugins/|tests/|examples/|benchmarks/)?[\w-]+(?:\.py|/))(?=\s|$)",
                       layout, re.M)  # fmt: skip
    modules = {name for name in named if name.endswith(".py") and "/" not in name}
    for name in modules:
        assert (ROOT / "jobsim" / name).is_file(), name
    for name in named:  # a file named with its folder: tests/test_packaging.py
        assert "/" not in name.rstrip("/") or (ROOT / name).exists(), name
    for folder in ("jobsim/", "plugins/", "tests/", "examples/", "benchmarks/"):
        assert folder in named and (ROOT / folder).is_dir()
    plugins = {name.rstrip("/") for name in named if name.startswith("jobsim-")}
    assert plugins == {p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists()}
    public = {p.name for p in (ROOT / "jobsim").glob("*.py") if not p.name.startswith("_")}
    assert public <= modules, f"public modules the Layout does not name: {sorted(public - modules)}"
    assert "_systems.py    the seven profiles" in layout


def test_examples_and_benchmarks_name_what_the_folders_hold():
    examples = " ".join(part("## Examples", "## Benchmarks").split())
    assert "See `examples/README.md`." in examples and (ROOT / "examples" / "README.md").is_file()
    shop = (ROOT / "examples" / "README.md").read_text()
    for claim, seed in [("six-step order processing", "Order processing in six steps"),
                        ("five-way signup fan-out", "one event turns into five jobs")]:  # fmt: skip
        assert claim in examples and seed in shop
    benchmarks = " ".join(part("## Benchmarks", "## Layout").split())
    scripts = sorted(p.name for p in (ROOT / "benchmarks").glob("bench_*.py"))
    described = {
        "the core workload against SimPy": "bench_core.py",
        "the wall-clock bridge against freezegun": "bench_wallclock.py",
        "the fixture's per-test cost": "bench_fixture.py",
        "batching 1,000,000 events": "bench_batch.py",
        "writing and reading a 1,000,000-record trace file": "bench_trace.py",
        "the first simulation's start": "bench_http_start.py",
        "the replay of an imported shop day at two sizes": "bench_replay.py",
        "a Celery task retried for ever up to the attempt budget": "bench_celery_retry.py",
        "a BullMQ job retried thousands of times": "bench_bullmq_retry.py",
    }
    assert all(claim in benchmarks for claim in described) and sorted(described.values()) == scripts
    figures = (ROOT / "benchmarks" / "README.md").read_text()
    for script in scripts:  # "benchmarks/README.md has the figures": of every script
        assert f"## `{script}`" in figures, script


def test_the_status_quotes_the_benchmark_figures():
    status = " ".join(part("## Status").split())
    figures = (ROOT / "benchmarks" / "README.md").read_text()
    latest = re.search(rf"\(the latest full run: ([\d.]+){TIMES} and ([\d.]+){TIMES}\)", status)
    core = figures.split("### Core workload", 1)[1].split("\n### ", 1)[0]
    last_run = core.split("\nSession ")[-1]
    assert re.findall(rf"\*\*([\d.]+){TIMES}\*\*", last_run) == [latest[2], latest[1]]  # 10,000 jobs, then 100,000
    ranges = re.search(rf"is ([\d.]+){DASH}([\d.]+){TIMES} slower .* at 100,000 jobs and ([\d.]+){DASH}([\d.]+){TIMES} "
                       "at 10,000", status)
    low, high, low10, high10 = (float(x) for x in ranges.groups())
    assert low <= float(latest[1]) <= high and low10 <= float(latest[2]) <= high10  # the latest run is in the range


def test_every_link_to_a_section_names_a_heading():
    text = README.read_text()
    text_outside_code = re.sub(r"```.*?```", "", text, flags=re.S)
    anchors = {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
               for heading in re.findall(r"^#{2,4} (.*)$", text_outside_code, re.M)}  # fmt: skip
    links = re.findall(r"\]\(#([^)]+)\)", text_outside_code)
    assert len(links) >= 30 and [link for link in links if link not in anchors] == []
