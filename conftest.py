"""Shared configuration for jobsim's own test suite (tests/, examples/, plugins/*/tests).

The ``readme_files`` fixture reads a README section's quick start as files, and
``run_readme_files`` runs them with pytest as a user would; the rest of this module sets the
Hypothesis profiles:

* ``default``: Hypothesis's defaults, without the per-example deadline and the
  ``too_slow`` health check: a simulated history's cost varies with what was drawn,
  and two cores are shared in CI (both are wall-clock checks).
* ``ci`` (Hypothesis selects it when it detects CI; or ``--hypothesis-profile=ci``):
  Hypothesis's CI profile — derandomized, no example database, failures print their
  ``@reproduce_failure`` blob — without the "explain" phase, which re-runs a failing
  property hundreds of times to annotate it (40 s for the order-flow property).
* ``thorough``: 1,000 examples per property, to hunt bugs before a release:
  ``pytest examples -k property --hypothesis-profile=thorough``.

Property tests leave ``max_examples`` to the profile unless one example is costly.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import InvalidArgument

import jobsim

_NO_EXPLAIN = tuple(phase for phase in Phase if phase is not Phase.explain)

try:
    _CI = settings.get_profile("ci")
except InvalidArgument:  # Hypothesis before its built-in CI profile
    _CI = settings(derandomize=True, database=None, deadline=None, print_blob=True,
                   suppress_health_check=[HealthCheck.too_slow])  # fmt: skip

settings.register_profile("default", settings.get_profile("default"), deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])  # wall-clock: noisy on 2 shared cores
settings.register_profile("ci", _CI, phases=_NO_EXPLAIN)
settings.register_profile("thorough", deadline=None, max_examples=1_000, phases=_NO_EXPLAIN)
if os.environ.get("CI"):  # newer Hypothesis does this itself; --hypothesis-profile still wins
    settings.load_profile("ci")
elif settings().deadline is not None:
    # Hypothesis 6.117 reloads the current profile when it is registered again; before it (the dev extra allows
    # 6.100.1), the 200 ms deadline stayed, and properties on a loaded machine failed as "Unreliable test timings"
    settings.load_profile("default")


ROOT = Path(__file__).resolve().parent
README = ROOT / "README.md"


def pytest_report_header() -> str:
    return f"jobsim {jobsim.__version__} from {Path(jobsim.__file__).parent}"


def pytest_configure(config: pytest.Config) -> None:
    # .ci/run's Python matrix tests the installed wheel, running pytest from outside the checkout: had it imported
    # this directory's sources instead, a wheel missing a module or its package data would pass
    if os.environ.get("JOBSIM_TEST_INSTALLED") and Path(jobsim.__file__).resolve().is_relative_to(ROOT):
        raise pytest.UsageError(
            f"JOBSIM_TEST_INSTALLED is set, but jobsim was imported from this checkout ({jobsim.__file__}): "
            "install it (not editable) and run pytest from another directory, with this checkout's tests/ as argument"
        )


@pytest.fixture(autouse=True)
def quiet_inner_runs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner pytest runs of every test using ``pytester`` (here, examples/ and plugins/*/tests alike) have
    no ini file: pin pytest-asyncio's loop scope so they do not warn (the warning surfaced in the outer run's
    summary), and leave out pytest-benchmark (it warns inside an xdist worker) and pytest-randomly (it
    shuffled inner runs with a seed of their own: tests matching an inner run's lines in order failed in some
    orders only). Set after ``pytester``'s own setup, which clears ``PYTEST_ADDOPTS``; a test without
    ``pytester`` is left alone (no temporary directory for it)."""
    if "pytester" not in request.fixturenames:
        return
    request.getfixturevalue("pytester")
    options = ["-p", "no:benchmark", "-p", "no:randomly"]
    if importlib.util.find_spec("pytest_asyncio") is not None:
        options += ["-o", "asyncio_default_fixture_loop_scope=function"]
    monkeypatch.setenv("PYTEST_ADDOPTS", " ".join(options))


def _files(section: str) -> dict[str, str]:
    """A section's ```python blocks, keyed by the file name each block's first line gives (``# jobs.py``)."""
    out = {}
    for block in re.findall(r"```python\n(.*?)```", section, re.S):
        first, _, rest = block.partition("\n")
        out[first.removeprefix("# ").strip()] = rest
    return out


@pytest.fixture
def from_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test runs in the checkout's root, where the README runs its commands (`jobsim compare examples/scenarios`),
    wherever pytest was started (.ci/run's Python matrix starts it in a temp dir, to test the installed wheel)."""
    monkeypatch.chdir(ROOT)


@pytest.fixture
def readme_files() -> Callable[..., dict[str, str]]:
    """``readme_files("### Celery (jobsim-celery)")``: that section of the README as files;
    ``readme_files("## Example: async jobs", plugin="jobsim-rq")``: the section of the plugin's own README
    whose heading starts so."""

    def files(heading: str, plugin: str | None = None) -> dict[str, str]:
        if plugin is not None:
            text = (ROOT / "plugins" / plugin / "README.md").read_text()
            return _files(text.split(heading, 1)[1].split("\n## ", 1)[0])
        section = README.read_text().split(heading + "\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
        return _files(section)

    return files


@pytest.fixture
def run_readme_files(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``run_readme_files(files, plugin="jobsim-rq")``: a README example's ``jobs.py`` and ``test_jobs.py``,
    run by pytest in a fresh process as a user would, against this checkout's jobsim and ``plugin`` (the
    installed one may be another checkout's); its one test must pass."""

    def run(files: dict[str, str], plugin: str | None = None) -> None:
        assert sorted(files) == ["jobs.py", "test_jobs.py"]
        for name, source in files.items():
            pytester.makepyfile(**{name.removesuffix(".py"): source})
        paths = [str(ROOT)] + ([str(ROOT / "plugins" / plugin)] if plugin else [])
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
        result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
        outcomes = result.parseoutcomes()
        assert outcomes.get("passed") == 1 and not outcomes.get("failed") and not outcomes.get("errors"), (
            result.stdout.str()
        )

    return run
