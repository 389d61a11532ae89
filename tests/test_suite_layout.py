"""The layout of jobsim's own test suite: one `pytest` from the repository root collects every test path."""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself depends on tomli before 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_no_two_test_modules_of_the_testpaths_share_a_file_name():
    # the test directories have no __init__.py and pytest imports in its default "prepend" mode, by base name: a
    # second tests/test_x.py under another test path stops `pytest` at collection with "import file mismatch"
    paths = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["testpaths"]
    where = defaultdict(list)
    for testpath in paths:
        for module in sorted((ROOT / testpath).rglob("*.py")):
            if module.name.startswith("test_") or module.name == "conftest.py":
                where[module.name].append(str(module.relative_to(ROOT)))
    shared = {name: places for name, places in where.items() if len(places) > 1 and name != "conftest.py"}
    assert shared == {}, f"rename them, e.g. test_<plugin>_{next(iter(shared), '')}: {shared}"
