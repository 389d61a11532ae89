"""jobsim-bullmq's exceptions follow jobsim's conventions (``jobsim.testing.check_exception_conventions``): copied,
pickled and built the same way.

jobsim's own exceptions follow these conventions (``tests/test_exception_conventions.py`` in the
repository): each keeps its type, message and fields through ``pickle`` (protocols 0 and the default)
and ``copy``/``deepcopy``, and refuses a misspelt keyword with ``jobsim.MisspeltKeyword`` naming it (not
Python's bare ``TypeError``). A ``JobFailed`` is a run's error, which the trace and a result backend keep.
"""

from __future__ import annotations

from typing import Any

import jobsim_bullmq
import pytest
from jobsim_bullmq._world import JobFailed

from jobsim.testing import check_exception_conventions, exception_classes

# each exception the plugin defines, the arguments it is built with (positional, keywords)
BUILT: dict[type[BaseException], tuple[tuple[Any, ...], dict[str, Any]]] = {
    JobFailed: (("job stalled: its lock expired",), {}),
}


def test_every_exception_the_plugin_defines_is_in_the_table() -> None:
    # a new exception gets its line in BUILT; warnings (BullMQCronWarning) are plain UserWarnings, exempt as jobsim's
    # own are (tests/test_exception_conventions.py)
    assert {cls for cls in exception_classes(jobsim_bullmq) if not issubclass(cls, Warning)} == set(BUILT)


@pytest.mark.parametrize("cls", list(BUILT), ids=lambda cls: cls.__name__)
def test_the_exception_follows_jobsims_conventions(cls: type[BaseException]) -> None:
    check_exception_conventions(cls, *BUILT[cls])
