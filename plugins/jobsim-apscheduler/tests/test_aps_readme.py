"""The READMEs' APScheduler examples, run as a user would: their files and pytest."""

from __future__ import annotations

import os
import re
from pathlib import Path

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[3]
PLUGIN = ROOT / "plugins" / "jobsim-apscheduler"


def _run(pytester, monkeypatch, files):
    assert sorted(files) == ["jobs.py", "test_jobs.py"]
    for name, source in files.items():
        pytester.makepyfile(**{name.removesuffix(".py"): source})
    # this checkout's jobsim and jobsim-apscheduler (the installed plugin may be another checkout's)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(PLUGIN)]))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1 and not outcomes.get("failed") and not outcomes.get("errors"), (
        result.stdout.str()
    )


def test_the_main_readme_example_passes_as_written(pytester, monkeypatch, readme_files):
    _run(pytester, monkeypatch, readme_files("### APScheduler (jobsim-apscheduler)"))


def _plugin_files(heading: str) -> dict[str, str]:
    readme = (PLUGIN / "README.md").read_text()
    section = readme.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
    files = {}
    for block in re.findall(r"```python\n(.*?)```", section, re.S):
        first, _, rest = block.partition("\n")
        files[first.removeprefix("# ").strip()] = rest
    return files


def test_the_plugin_readme_example_passes_as_written(pytester, monkeypatch):
    _run(pytester, monkeypatch, _plugin_files("## Example: misfires and coalescing"))


def test_the_plugin_readme_asyncio_example_passes_as_written(pytester, monkeypatch):
    _run(pytester, monkeypatch, _plugin_files("## Example: an AsyncIOScheduler, as a FastAPI app keeps it"))
