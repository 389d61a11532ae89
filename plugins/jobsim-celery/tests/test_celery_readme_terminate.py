"""The plugin README's revoke(terminate=True) example, run as written."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_terminate_example_runs_as_written():
    section = README.read_text().split("## `revoke(terminate=True)`", 1)[1]
    (block,) = re.findall(r"```python\n(.*?)```", section, re.S)
    # its own process: the example's @app.task is a shared task, which Celery would register into every
    # app this test process makes afterwards (a DuplicateTaskNameWarning in the other tests)
    done = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "running since 2025-03-01T00:00:15" in done.stdout and "sim.celery.revoke(task_id" in done.stdout
