"""The README's inngest-py quick start, run as a user would: three files and pytest."""

from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[3]


def test_quick_start_passes_as_written(pytester, monkeypatch, readme_files):
    files = readme_files("### inngest-py (jobsim-inngest)")
    assert sorted(files) == ["conftest.py", "jobs.py", "test_jobs.py"]
    for name, source in files.items():
        pytester.makepyfile(**{name.removesuffix(".py"): source})
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # this checkout's jobsim, as the rest of the suite
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
