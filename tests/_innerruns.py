"""The pytester tests' inner pytest runs: what they must not load or warn about."""

from __future__ import annotations

import importlib.util

import pytest


def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest-randomly, where installed, shuffled inner runs too (a seed of their own each time): the tests that
    # match an inner run's output lines in order failed in some orders only
    options = ["-p", "no:benchmark", "-p", "no:randomly"]
    if importlib.util.find_spec("pytest_asyncio") is not None:
        options += ["-o", "asyncio_default_fixture_loop_scope=function"]
    monkeypatch.setenv("PYTEST_ADDOPTS", " ".join(options))


@pytest.fixture(autouse=True)
def quiet_inner_runs(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner runs have no ini file: pin pytest-asyncio's loop scope so it does not warn, and
    leave pytest-benchmark out (it warns inside an xdist worker) and pytest-randomly (the files'
    order stands). After ``pytester``, which clears ``PYTEST_ADDOPTS``. A module of pytester tests
    only imports it to use it (``from _innerruns import ...``).
    """
    _quiet(monkeypatch)


@pytest.fixture
def quiet_inner_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same for the few pytester tests of a module whose other tests need no ``pytester`` (the autouse
    fixture would give every one of them a temporary directory): ``@pytest.mark.usefixtures("quiet_inner_run")``."""
    _quiet(monkeypatch)
