"""What the nine distributions declare, checked against the repository, without building them (``.ci/run`` builds the
nine sdists and wheels and runs the core's tests and each plugin's against them).

The core and the eight plugins under ``plugins/`` are installed from this repository, never from PyPI, where
"jobsim" is an unrelated project (a job manager simulator, 1.5.1) and no "jobsim-*" plugin exists.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import jobsim

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself depends on tomli before 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())
PROJECTS = [ROOT, *PLUGINS]
PYPI_JOBSIM = Version("1.5.1")  # the unrelated "jobsim" on PyPI: no requirement of ours may admit it
LOWEST = ROOT / ".ci" / "lowest.txt"


def pyproject(project: Path) -> dict[str, Any]:
    return tomllib.loads((project / "pyproject.toml").read_text())


def package(project: Path) -> str:
    (pattern,) = pyproject(project)["tool"]["setuptools"]["packages"]["find"]["include"]
    return str(pattern).removesuffix("*")


def requirements(project: Path) -> list[Requirement]:
    return [Requirement(text) for text in pyproject(project)["project"]["dependencies"]]


def floor(requirement: Requirement) -> Version | None:
    """The lowest version a requirement admits, when it names one (``>=``)."""
    lows = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
    return max(lows) if lows else None


def test_there_are_the_eight_plugins_the_readme_lists():
    assert [p.name for p in PLUGINS] == ["jobsim-apscheduler", "jobsim-arq", "jobsim-bullmq", "jobsim-celery",
                                         "jobsim-dramatiq", "jobsim-huey", "jobsim-inngest", "jobsim-rq"]  # fmt: skip


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name if p != ROOT else "jobsim")
def test_each_distribution_ships_its_license_and_its_type_marker(project):
    # the sdists and wheels carried no license text at all (license = { text = "MIT" } and no LICENSE file)
    data = pyproject(project)
    meta = data["project"]
    assert meta["license"] == "MIT" and meta["license-files"] == ["LICENSE"]
    assert (project / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    (setuptools,) = [Requirement(r) for r in data["build-system"]["requires"] if Requirement(r).name == "setuptools"]
    assert floor(setuptools) is not None and floor(setuptools) >= Version("77")  # the first to read license-files
    name = package(project)
    assert (project / name / "py.typed").is_file() and data["tool"]["setuptools"]["package-data"][name] == ["py.typed"]
    assert meta["requires-python"] == ">=3.10"
    classifiers = meta["classifiers"]
    assert "Typing :: Typed" in classifiers and not [c for c in classifiers if c.startswith("License ::")]
    pythons = [c for c in classifiers if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    versions = [c.rsplit(" :: ", 1)[1] for c in pythons]
    assert versions and versions[0] == "3.10" and versions == [f"3.{n}" for n in range(10, 10 + len(versions))]


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name if p != ROOT else "jobsim")
def test_the_sdist_leaves_out_the_tests_it_cannot_run(project):
    # setuptools packed tests/test_*.py by default, without the tests/_*.py helpers and the conftest.py they import
    manifest = (project / "MANIFEST.in").read_text().splitlines()
    assert "prune tests" in manifest
    assert ("graft examples" in manifest) == (project == ROOT)  # `jobsim run examples` from an unpacked sdist


def test_each_plugin_requires_the_core_series_it_ships_with():
    # "jobsim>=0.1" let pip install PyPI's unrelated jobsim 1.5.1 beside a plugin installed on its own
    core = Version(pyproject(ROOT)["project"]["version"])
    assert Version(jobsim.__version__) == core
    for plugin in PLUGINS:
        (wanted,) = [r for r in requirements(plugin) if r.name == "jobsim"]
        assert core in wanted.specifier, plugin.name
        assert Version(f"{core.major}.{core.minor + 1}") not in wanted.specifier, plugin.name  # it reads jobsim._*
        assert PYPI_JOBSIM not in wanted.specifier, plugin.name
        init = (plugin / package(plugin) / "__init__.py").read_text()
        declared = re.findall(r'^__version__ = "([^"]+)"', init, re.M)
        assert declared in ([], [pyproject(plugin)["project"]["version"]]), plugin.name


# The lowest release of each backend the plugin's own tests (less the live ones) pass on: measured for celery,
# arq, apscheduler and huey on Python 3.10 from the installed wheels (2026-12-01); the others are the releases
# the suite runs on. A floor below it lets pip pick a release the plugin breaks on.
MEASURED = {"jobsim-apscheduler": ("apscheduler", "3.11.2"), "jobsim-arq": ("arq", "0.26.3"),
            "jobsim-bullmq": ("bullmq", "3.4.4"), "jobsim-celery": ("celery", "5.7.0"),
            "jobsim-dramatiq": ("dramatiq", "2.2.1"), "jobsim-huey": ("huey", "3.5.0"),
            "jobsim-inngest": ("inngest", "0.5.19"), "jobsim-rq": ("rq", "3.0.0")}  # fmt: skip


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda p: p.name)
def test_each_plugin_admits_no_backend_release_older_than_it_was_measured_on(plugin):
    # celery>=5.3 admitted 5.3.0-5.6.3, on which jobsim_celery fails at import (celery.app.base._OMITTED is 5.7's);
    # apscheduler>=3.11 admitted 3.11.0 and 3.11.1, on which a run in a DST change's repeated hour hangs
    backend, lowest = MEASURED[plugin.name]
    (wanted,) = [r for r in requirements(plugin) if r.name == backend]
    assert floor(wanted) == Version(lowest), (plugin.name, str(wanted))


def test_no_extra_names_a_distribution_that_no_index_has():
    # jobsim[celery] asked PyPI for "jobsim-celery": no such project (anyone could register one)
    extras = pyproject(ROOT)["project"]["optional-dependencies"]
    for name, wanted in extras.items():
        for requirement in map(Requirement, wanted):
            assert not requirement.name.startswith("jobsim"), (name, str(requirement))


def test_every_extra_a_readme_names_exists():
    declared = {project: set(pyproject(project)["project"].get("optional-dependencies", {})) for project in PROJECTS}
    readmes = [ROOT / "README.md", ROOT / "examples" / "README.md", *(p / "README.md" for p in PLUGINS)]
    named = 0
    for readme in readmes:
        text = readme.read_text()
        for target, wanted in re.findall(r"(?<![\w/])((?:\.|jobsim|plugins/jobsim-\w+))\[([\w,-]+)\]", text):
            project = ROOT if target in (".", "jobsim") else ROOT / target
            assert set(wanted.split(",")) <= declared[project], (readme, target, wanted)
            named += 1
    assert named >= 4  # .[dev], .[hypothesis], jobsim-celery[solar,live], ...


def test_the_lowest_versions_ci_can_install_are_the_floors_pyproject_declares():
    # measured: cronsim 2.6 refuses 6-field crons, httpx 0.27 writes {"a": 1} and takes json=NaN, hypothesis
    # 6.100.0 shrinks to other than the simplest history; the floors were raised to what passes
    pins = dict(re.findall(r"^([\w-]+)==(\S+)", LOWEST.read_text(), re.M))
    core = pyproject(ROOT)["project"]
    wanted = requirements(ROOT) + [Requirement(r) for r in core["optional-dependencies"]["hypothesis"]]
    floors = {r.name: str(floor(r)) for r in wanted if floor(r) is not None}
    assert pins == floors
    # jobsim.strategies names the extra's floor when Hypothesis is missing
    assert f"pip install 'hypothesis>={floors['hypothesis']}'" in (ROOT / "jobsim" / "strategies.py").read_text()


def test_the_public_classes_type_hints_resolve_at_run_time():
    """Tools that read annotations at run time (``typing.get_type_hints``: pydantic, autodoc, DI containers)
    got a NameError for ``Simulation`` once its layers named, for mypy, attributes of types imported only for
    it, and for ``Function`` and ``Profile``, whose fields named such types."""
    import inspect
    import typing

    classes = [getattr(jobsim, name) for name in jobsim.__all__ if inspect.isclass(getattr(jobsim, name))]
    assert len(classes) > 30
    for cls in classes:
        try:
            typing.get_type_hints(cls)
        except TypeError as error:  # Python 3.10's typing cannot evaluate a dataclass's KW_ONLY (fixed in 3.11)
            assert sys.version_info < (3, 11) and "_KW_ONLY" in str(error), error
    assert typing.get_type_hints(jobsim.Simulation) == {}
    assert "flow" in typing.get_type_hints(jobsim.Function)


def test_the_reference_notes_the_code_and_readme_cite_are_in_the_repository_and_sdist():
    # the README and docstrings cited reference/semantics.md, which lived outside the repository (user trial)
    texts = [ROOT / "README.md", ROOT / "examples" / "README.md", *(ROOT / "jobsim").glob("*.py")]
    cited = {name for path in texts for name in re.findall(r"reference/(\w+\.md)", path.read_text())}
    assert cited >= {"semantics.md", "traces.md", "virtual_time.md"}
    assert sorted(name for name in cited if not (ROOT / "docs" / "reference" / name).is_file()) == []
    assert "graft docs" in (ROOT / "MANIFEST.in").read_text().splitlines()
