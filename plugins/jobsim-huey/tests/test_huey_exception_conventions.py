"""jobsim-huey defines no exception of its own: one it adds gets the conventions' test the other plugins have.

jobsim's exceptions (``tests/test_exception_conventions.py`` in the repository) and those of the plugins that
define some (``test_<plugin>_exception_conventions.py``) keep their type, message and fields through
``pickle`` and ``copy``, and refuse a misspelt keyword with ``jobsim.MisspeltKeyword``.
"""

from __future__ import annotations

import importlib
import pkgutil

import jobsim_huey


def test_the_plugin_defines_no_exception_of_its_own() -> None:
    defined = set()
    for info in pkgutil.walk_packages(jobsim_huey.__path__, "jobsim_huey."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == info.name:
                defined.add(value.__name__)
    assert defined == set()  # a new one: copy a plugin's test_*_exception_conventions.py and give it its line
