"""The READMEs' Huey examples, run as a user would: their files and pytest."""

from __future__ import annotations

import os
import re
from pathlib import Path

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[3]


def run_files(pytester, monkeypatch, files: dict[str, str]) -> None:
    assert sorted(files) == ["jobs.py", "test_jobs.py"]
    for name, source in files.items():
        pytester.makepyfile(**{name.removesuffix(".py"): source})
    # this checkout's jobsim and jobsim-huey (the installed plugin may be another checkout's)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(ROOT / "plugins" / "jobsim-huey")]))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1 and not outcomes.get("failed") and not outcomes.get("errors"), (
        result.stdout.str()
    )


def test_the_quick_start_passes_as_written(pytester, monkeypatch, readme_files):
    run_files(pytester, monkeypatch, readme_files("### Huey (jobsim-huey)"))


def test_the_plugin_readme_example_passes_as_written(pytester, monkeypatch):
    readme = (ROOT / "plugins" / "jobsim-huey" / "README.md").read_text()
    section = readme.split("## Example: retries, a pipeline, a periodic task", 1)[1].split("\n## ", 1)[0]
    files = {}
    for block in re.findall(r"```python\n(.*?)```", section, re.S):
        first, _, rest = block.partition("\n")
        files[first.removeprefix("# ").strip()] = rest
    run_files(pytester, monkeypatch, files)
