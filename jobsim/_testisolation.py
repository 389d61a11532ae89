"""What jobsim's pytest plugin undoes between tests, free of pytest: a simulation built and never started
lets go of its backend (``release_unstarted``), and the jobsim modules a pytester test imported stay the
ones every later test uses (``keep_jobsim_modules``).

Nothing here imports the rest of jobsim: the plugin imports nothing of jobsim eagerly."""

from __future__ import annotations

import sys
import types
from collections.abc import Collection


def release_unstarted() -> None:
    """A simulation the test built and never started guards its backend no longer (``ClassGuard.release_unstarted``).
    No guard exists while ``jobsim.hooks`` is not imported, and the plugin imports nothing of jobsim eagerly."""
    hooks = sys.modules.get("jobsim.hooks")
    if hooks is not None:
        hooks.ClassGuard.release_unstarted()


def keep_jobsim_modules(fixturenames: Collection[str]) -> None:
    """Put back in ``sys.modules`` the jobsim modules a pytester test imported first, which its snapshot dropped.

    pytester gives each test the ``sys.modules`` it started with, so a module of jobsim's that the test
    loaded (the HTTP sink, loaded at the first simulation) was imported a second time by a later test, while
    the ``jobsim`` package (and objects made from the first copy: ``jobsim.delayed``, a sink) kept the first.
    Two copies of one module do not know each other's classes and context variables: an aiohttp timeout was
    recorded as jobsim's internal ``Abandoned``, ``delayed`` found no simulation. One copy is kept.
    ``fixturenames``: the test's; nothing to do unless it uses ``pytester`` (or ``testdir``).
    """
    if "pytester" not in fixturenames and "testdir" not in fixturenames:
        return
    packages = [(name, module) for name, module in list(sys.modules.items())
                if name.partition(".")[0].startswith("jobsim") and hasattr(module, "__path__")]  # and the plugins'
    for name, package in packages:
        for attribute, value in list(vars(package).items()):
            full = f"{name}.{attribute}"
            if isinstance(value, types.ModuleType) and value.__name__ == full and full not in sys.modules:
                sys.modules[full] = value
