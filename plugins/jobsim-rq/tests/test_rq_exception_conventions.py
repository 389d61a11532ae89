"""jobsim-rq's exceptions follow jobsim's conventions (``jobsim.testing.check_exception_conventions``): copied,
pickled and built the same way.

jobsim's own exceptions follow these conventions (``tests/test_exception_conventions.py`` in the
repository): each keeps its type, message and fields through ``pickle`` (protocols 0 and the default)
and ``copy``/``deepcopy``, and refuses a misspelt keyword with ``jobsim.MisspeltKeyword`` naming it (not
Python's bare ``TypeError``). ``HorseKilled`` is the error RQ records for a job whose work horse was killed.
"""

from __future__ import annotations

from typing import Any

import jobsim_rq
import pytest
from jobsim_rq._execution import HorseKilled

from jobsim.testing import check_exception_conventions, exception_classes

# each exception the plugin defines, the arguments it is built with (positional, keywords)
BUILT: dict[type[BaseException], tuple[tuple[Any, ...], dict[str, Any]]] = {
    HorseKilled: (("Job stopped by user, work-horse terminated.",), {}),
}


def test_every_exception_the_plugin_defines_is_in_the_table() -> None:
    assert exception_classes(jobsim_rq) == set(BUILT)  # a new exception gets its line in BUILT


@pytest.mark.parametrize("cls", list(BUILT), ids=lambda cls: cls.__name__)
def test_the_exception_follows_jobsims_conventions(cls: type[BaseException]) -> None:
    check_exception_conventions(cls, *BUILT[cls])
