"""The READMEs' BullMQ examples, run as a user would: their files and pytest."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[3]


def _run(pytester, monkeypatch, files):
    assert sorted(files) == ["jobs.py", "test_jobs.py"]
    for name, source in files.items():
        pytester.makepyfile(**{name.removesuffix(".py"): source})
    # this checkout's jobsim and jobsim-bullmq (the installed plugin may be another checkout's)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(ROOT / "plugins" / "jobsim-bullmq")]))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1 and not outcomes.get("failed") and not outcomes.get("errors"), (
        result.stdout.str()
    )


@pytest.mark.parametrize("number", [1, 2])
def test_the_plugin_readme_examples_pass_as_written(pytester, monkeypatch, number):
    readme = (ROOT / "plugins" / "jobsim-bullmq" / "README.md").read_text()
    sections = readme.split("## Example:")[1:]
    assert len(sections) == 2
    section = sections[number - 1].split("\n## ", 1)[0]
    files = {}
    for block in re.findall(r"```python\n(.*?)```", section, re.S):
        first, _, rest = block.partition("\n")
        files[first.removeprefix("# ").strip()] = rest
    _run(pytester, monkeypatch, files)


def test_quick_start_passes_as_written(pytester, monkeypatch, readme_files):
    _run(pytester, monkeypatch, readme_files("### BullMQ for Python (jobsim-bullmq)"))
