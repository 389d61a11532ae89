"""The README's inngest-py quick start, run as a user would: three files and pytest."""

from __future__ import annotations

import re
from pathlib import Path

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"


def quick_start_files() -> dict[str, str]:
    section = README.read_text().split("### inngest-py (jobsim-inngest)", 1)[1].split("\n## ", 1)[0]
    files = {}
    for block in re.findall(r"```python\n(.*?)```", section, re.S):
        first, _, rest = block.partition("\n")
        files[first.removeprefix("# ").strip()] = rest
    return files


def test_quick_start_passes_as_written(pytester, monkeypatch):
    files = quick_start_files()
    assert sorted(files) == ["conftest.py", "jobs.py", "test_jobs.py"]
    for name, source in files.items():
        pytester.makepyfile(**{name.removesuffix(".py"): source})
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # this checkout's jobsim, as the rest of the suite
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
