"""The README's property-based example, run as a user would, and the failure it says a broken variant prints."""

import os
import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
NO_EXPLAIN = """\
from hypothesis import Phase, settings

settings.register_profile("readme", phases=[Phase.generate, Phase.shrink], database=None)
settings.load_profile("readme")
"""


def section() -> str:
    return README.read_text().split("### Property-based tests (Hypothesis)", 1)[1].split("\n### ", 1)[0]


def example() -> str:
    block = re.findall(r"```python\n(.*?)```", section(), re.S)[0]
    first, _, source = block.partition("\n")
    assert first == "# test_checkout_property.py"
    return source


def test_the_section_follows_the_fault_sections():
    text = README.read_text()
    headings = re.findall(r"^### (.+)$", text, re.M)
    after = headings[headings.index("Fault injection") + 1 : headings.index("Fault injection") + 3]
    assert after == ["Profiles, faults and compare", "Property-based tests (Hypothesis)"]


@pytest.fixture(autouse=True)
def this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """The subprocess imports the jobsim under test, not whichever one is installed."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def test_the_example_passes_as_written(pytester):
    pytester.makeconftest(NO_EXPLAIN)
    pytester.makepyfile(test_checkout_property=example())
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_without_idempotency_it_fails_and_prints_the_reproduction_the_readme_shows(pytester):
    broken = "\n".join(line for line in example().splitlines() if "idempotency=" not in line)
    pytester.makeconftest(NO_EXPLAIN)
    pytester.makepyfile(test_checkout_property=broken)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "--hypothesis-seed=0")
    result.assert_outcomes(failed=1)
    shown = re.findall(r"```\n(jobsim\.invariants\.Violation.*?)```", section(), re.S)[0].splitlines()
    printed = [line.removeprefix("E").strip() for line in result.outlines]
    violation, reproduction = shown[:5], shown[shown.index("...") + 1 :]
    for line in violation + reproduction:
        # Hypothesis >= 6.16x says "Failing test case:" where older versions say "Falsifying example:"
        variants = {line.strip(), line.strip().replace("Falsifying example:", "Failing test case:")}
        assert variants & set(printed), line
