"""The README's trace example, run as written, printing what the README says it prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def section() -> str:
    text = README.read_text()
    return text.split("### Traces: record, replay, diff", 1)[1].split("\n### ", 1)[0]


def test_the_example_runs_and_prints_the_report_shown(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", section(), re.S)
    assert len(blocks) == 1 and blocks[0].startswith("# traces_demo.py\n")
    (tmp_path / "traces_demo.py").write_text(blocks[0])
    done = subprocess.run([sys.executable, "traces_demo.py"], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = section().split("Step 3 prints:\n\n```\n", 1)[1].split("```", 1)[0]
    assert done.stdout == shown
    assert (tmp_path / "welcome.jobsim.jsonl.gz").exists()


def test_the_file_lines_shown_are_lines_of_the_file_the_example_writes(tmp_path):
    """The sample of ``welcome.jobsim.jsonl.gz`` (``...`` elides) is what the example writes: ids, fields, order."""
    import gzip

    (block,) = re.findall(r"```python\n(.*?)```", section(), re.S)
    (tmp_path / "traces_demo.py").write_text(block)
    done = subprocess.run([sys.executable, "traces_demo.py"], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = gzip.decompress((tmp_path / "welcome.jobsim.jsonl.gz").read_bytes()).decode().splitlines()
    shown = section().split("Events are CloudEvents 1.0:\n\n```\n", 1)[1].split("```", 1)[0].splitlines()
    assert shown[0].startswith('{"k":"header"') and shown[-1].startswith('{"k":"end"')
    for line in shown:  # the run id was an older id scheme's and the header lacked start_time
        pattern = ".*".join(map(re.escape, line.split("...")))
        assert any(re.fullmatch(pattern, real) for real in written), line
