"""The plugin README's revoke(terminate=True) example, run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_terminate_example_runs_as_written(capsys):
    section = README.read_text().split("## `revoke(terminate=True)`", 1)[1]
    (block,) = re.findall(r"```python\n(.*?)```", section, re.S)
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "running since 2025-03-01T00:00:15" in out and "sim.celery.revoke(task_id" in out
