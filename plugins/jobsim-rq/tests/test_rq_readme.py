"""The READMEs' RQ examples, run as a user would: their files and pytest."""

from __future__ import annotations

import os
import re
from pathlib import Path

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[3]


def test_quick_start_passes_as_written(pytester, monkeypatch, readme_files):
    files = readme_files("### RQ (jobsim-rq)")
    assert sorted(files) == ["jobs.py", "test_jobs.py"]
    for name, source in files.items():
        pytester.makepyfile(**{name.removesuffix(".py"): source})
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # this checkout's jobsim, as the rest of the suite
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1 and not outcomes.get("failed") and not outcomes.get("errors"), (
        result.stdout.str()
    )


def test_the_plugin_readme_example_passes_as_written(pytester, monkeypatch):
    run_plugin_readme_section(pytester, monkeypatch, "## Example: async jobs")


def test_the_plugin_readme_workers_example_passes_as_written(pytester, monkeypatch):
    run_plugin_readme_section(pytester, monkeypatch, "## Example: two workers and a lost one")


def run_plugin_readme_section(pytester, monkeypatch, heading: str) -> None:
    readme = (ROOT / "plugins" / "jobsim-rq" / "README.md").read_text()
    section = readme.split(heading, 1)[1].split("\n## ", 1)[0]
    files = {}
    for block in re.findall(r"```python\n(.*?)```", section, re.S):
        first, _, rest = block.partition("\n")
        files[first.removeprefix("# ").strip()] = rest
    assert sorted(files) == ["jobs.py", "test_jobs.py"]
    for name, source in files.items():
        pytester.makepyfile(**{name.removesuffix(".py"): source})
    # this checkout's jobsim and jobsim-rq (the installed plugin may be another checkout's)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(ROOT / "plugins" / "jobsim-rq")]))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1 and not outcomes.get("failed") and not outcomes.get("errors"), (
        result.stdout.str()
    )
