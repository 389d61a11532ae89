"""jobsim-celery's exceptions follow jobsim's conventions (``jobsim.testing.check_exception_conventions``): copied,
pickled and built the same way.

jobsim's own exceptions follow these conventions (``tests/test_exception_conventions.py`` in the
repository): each keeps its type, message and fields through ``pickle`` (protocols 0 and the default)
and ``copy``/``deepcopy``, and refuses a misspelt keyword with ``jobsim.MisspeltKeyword`` naming it (not
Python's bare ``TypeError``). Celery pickles exceptions
between processes (its result backend, billiard's pool): ``ProcessTerminated``, ``TimeLimitKilled``
and ``WorkerCrash`` were built from their fields, so a copy or an unpickling called ``__init__`` with
the message alone (``TypeError: missing 1 required positional argument``).
"""

from __future__ import annotations

from typing import Any

import jobsim_celery
import pytest
from jobsim_celery._worker import ProcessTerminated, TimeLimitKilled, WorkerCrash

from jobsim.testing import check_exception_conventions, exception_classes

AT = 1_740_787_200 * 10**9  # 2025-03-01T00:00:00Z

# each exception the plugin defines, the arguments it is built with (positional, keywords)
BUILT: dict[type[BaseException], tuple[tuple[Any, ...], dict[str, Any]]] = {
    ProcessTerminated: ((), {"at": AT, "signum": 15}),
    TimeLimitKilled: ((), {"at": AT, "limit": 2.5}),
    WorkerCrash: ((), {"plan": "the crash planned at 00:00", "at": AT}),
}


def test_every_exception_the_plugin_defines_is_in_the_table() -> None:
    # a new exception gets its line in BUILT; warnings (CeleryUnregisteredTaskWarning) are plain UserWarnings, exempt
    # as jobsim's
    assert {cls for cls in exception_classes(jobsim_celery) if not issubclass(cls, Warning)} == set(BUILT)


@pytest.mark.parametrize("cls", list(BUILT), ids=lambda cls: cls.__name__)
def test_the_exception_follows_jobsims_conventions(cls: type[BaseException]) -> None:
    check_exception_conventions(cls, *BUILT[cls])
