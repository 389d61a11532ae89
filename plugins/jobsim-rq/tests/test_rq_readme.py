"""The README's RQ quick start, run as a user would: its files and pytest."""

from __future__ import annotations

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
