"""For tests that write a module into a temporary folder and import it: forget it afterwards."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest


def import_from(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Give the test its own ``sys.path``; at its end, drop the modules it imported from ``folder``.

    ``sys.modules`` itself must stay the same dict. The tests used to replace it with a copy
    (``monkeypatch.setattr(sys, "modules", dict(sys.modules))``), but the import system keeps
    the original, so the first import of a module that C code looks up there (``asyncio``,
    pulled in by a jobsim plugin loaded during such a test) failed with ``KeyError: 'asyncio'``.
    """
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(_Sweep(folder), "armed", True)  # undone at the end of the test: the sweep


class _Sweep:
    """Removes, when disarmed, the modules loaded from ``folder`` (``monkeypatch`` disarms it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = os.path.realpath(folder) + os.sep
        self._armed = False

    @property
    def armed(self) -> bool:
        return self._armed

    @armed.setter
    def armed(self, value: bool) -> None:
        if self._armed and not value:
            for name, module in list(sys.modules.items()):
                path = getattr(module, "__file__", None)
                if path and os.path.realpath(path).startswith(self.folder):
                    del sys.modules[name]
        self._armed = value
