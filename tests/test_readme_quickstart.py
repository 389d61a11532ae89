"""The README's quick start, run as a user would: three files and pytest."""

import re
from pathlib import Path

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parent.parent / "README.md"


def quick_start_files() -> dict[str, str]:
    text = README.read_text()
    section = text.split("## Quick start in your project", 1)[1].split("\n## ", 1)[0]
    files = {}
    for block in re.findall(r"```python\n(.*?)```", section, re.S):
        first, _, rest = block.partition("\n")
        files[first.removeprefix("# ").strip()] = rest
    return files


def test_quick_start_passes_as_written(pytester):
    files = quick_start_files()
    assert sorted(files) == ["conftest.py", "jobs.py", "test_jobs.py"]
    for name, source in files.items():
        pytester.makepyfile(**{name.removesuffix(".py"): source})
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
