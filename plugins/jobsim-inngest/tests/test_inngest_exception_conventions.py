"""jobsim-inngest's exceptions follow jobsim's conventions (``jobsim.testing.check_exception_conventions``): copied,
pickled and built the same way.

jobsim's own exceptions follow these conventions (``tests/test_exception_conventions.py`` in the
repository): each keeps its type, message and fields through ``pickle`` (protocols 0 and the default)
and ``copy``/``deepcopy``, and refuses a misspelt keyword with ``jobsim.MisspeltKeyword`` naming it (not
Python's bare ``TypeError``). ``Bubble`` and ``Abort`` were built from the error they carry,
so a copy or an unpickling called ``__init__`` with no argument (``TypeError``).
"""

from __future__ import annotations

from typing import Any

import inngest
import jobsim_inngest
import pytest
from inngest._internal import errors as inngest_errors
from jobsim_inngest._cel import CelError
from jobsim_inngest._config import ConfigError
from jobsim_inngest._errors import Abort, Bubble, UnreadableResponse, Unsupported
from jobsim_inngest._middleware import MiddlewareError

from jobsim.testing import check_exception_conventions, exception_classes

# each exception the plugin defines, the arguments it is built with (positional, keywords)
BUILT: dict[type[BaseException], tuple[tuple[Any, ...], dict[str, Any]]] = {
    Bubble: ((inngest.NonRetriableError("card declined"),), {}),
    Abort: ((inngest_errors.OutputUnserializableError("returned unserializable data"),), {}),
    UnreadableResponse: (("step \"a\" returned NaN",), {"read": "error reading generator opcode response"}),
    Unsupported: (("step.ai is not simulated",), {}),
    ConfigError: (("inngest function 'x': its option y is not valid",), {}),
    MiddlewareError: (("an async hook on a sync function",), {}),
    CelError: (("no such overload: -",), {}),
}


def test_every_exception_the_plugin_defines_is_in_the_table() -> None:
    assert exception_classes(jobsim_inngest) == set(BUILT)  # a new exception gets its line in BUILT


@pytest.mark.parametrize("cls", list(BUILT), ids=lambda cls: cls.__name__)
def test_the_exception_follows_jobsims_conventions(cls: type[BaseException]) -> None:
    check_exception_conventions(cls, *BUILT[cls])
