"""The README's Celery quick start, run as a user would: its files and pytest."""

from __future__ import annotations

import os
from pathlib import Path

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[3]


def test_quick_start_passes_as_written(pytester, monkeypatch, readme_files):
    files = readme_files("### Celery (jobsim-celery)")
    assert sorted(files) == ["tasks.py", "test_tasks.py"]
    for name, source in files.items():
        pytester.makepyfile(**{name.removesuffix(".py"): source})
    # this checkout's jobsim and jobsim-celery, as the rest of the suite (the installed plugin may be another
    # checkout's: the example would test that one)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(ROOT / "plugins" / "jobsim-celery")]))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    ok = outcomes.get("passed", 0) >= 1 and not outcomes.get("failed") and not outcomes.get("errors")
    assert ok, result.stdout.str()
