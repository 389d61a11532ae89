"""jobsim-huey defines no exception of its own: one it adds gets the conventions' test the other plugins have.

jobsim's exceptions (``tests/test_exception_conventions.py`` in the repository) and those of the plugins that
define some (``test_<plugin>_exception_conventions.py``) keep their type, message and fields through
``pickle`` and ``copy``, and refuse a misspelt keyword with ``jobsim.MisspeltKeyword``.
"""

from __future__ import annotations

import jobsim_huey

from jobsim.testing import exception_classes


def test_the_plugin_defines_no_exception_of_its_own() -> None:
    assert exception_classes(jobsim_huey) == set()  # a new one gets the conventions' test the other plugins have
