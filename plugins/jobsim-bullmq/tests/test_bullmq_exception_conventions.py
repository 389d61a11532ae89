"""jobsim-bullmq's exceptions follow jobsim's conventions: copied, pickled and built the same way.

jobsim's own exceptions follow these conventions (``tests/test_exception_conventions.py`` in the
repository): each keeps its type, message and fields through ``pickle`` (protocols 0 and the default)
and ``copy``/``deepcopy``, and refuses a misspelt keyword with ``jobsim.MisspeltKeyword`` naming it (not
Python's bare ``TypeError``). A ``JobFailed`` is a run's error, which the trace and a result backend keep.
"""

from __future__ import annotations

import copy
import importlib
import pickle
import pkgutil
from collections.abc import Callable
from typing import Any

import jobsim_bullmq
import pytest
from jobsim_bullmq._world import JobFailed

import jobsim

# each exception the plugin defines, the arguments it is built with (positional, keywords)
BUILT: dict[type[BaseException], tuple[tuple[Any, ...], dict[str, Any]]] = {
    JobFailed: (("job stalled: its lock expired",), {}),
}


def _defined() -> set[type[BaseException]]:
    """Every exception class a module of the plugin defines."""
    found = set()
    for info in pkgutil.walk_packages(jobsim_bullmq.__path__, "jobsim_bullmq."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == info.name:
                found.add(value)
    return found


def test_every_exception_the_plugin_defines_is_in_the_table() -> None:
    assert _defined() == set(BUILT)  # a new exception gets its line in BUILT


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, BaseException):
        return type(left) is type(right) and str(left) == str(right)
    return bool(left == right)


COPIES: dict[str, Callable[[Any], Any]] = {
    "pickle": lambda error: pickle.loads(pickle.dumps(error)),
    "pickle-0": lambda error: pickle.loads(pickle.dumps(error, protocol=0)),
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
}
CASES = [(cls, *built) for cls, built in BUILT.items()]
IDS = [cls.__name__ for cls in BUILT]


@pytest.mark.parametrize("how", list(COPIES))
@pytest.mark.parametrize("cls, args, kwargs", CASES, ids=IDS)
def test_a_copy_or_an_unpickled_exception_keeps_its_type_message_and_fields(
        cls: type[BaseException], args: tuple[Any, ...], kwargs: dict[str, Any], how: str) -> None:  # fmt: skip
    error = cls(*args, **kwargs)
    clone = COPIES[how](error)
    assert type(clone) is cls
    assert str(clone) == str(error)
    fields = {key: value for key, value in vars(error).items() if not key.startswith("__")}
    assert set(fields) <= set(vars(clone))
    for key, value in fields.items():
        assert _same(value, vars(clone)[key]), key
    for key, value in kwargs.items():  # the fields, by their names
        assert _same(value, getattr(clone, key)), key


@pytest.mark.parametrize("cls, args, kwargs", CASES, ids=IDS)
def test_a_misspelt_keyword_is_refused_naming_it(cls: type[BaseException], args: tuple[Any, ...],
                                                 kwargs: dict[str, Any]) -> None:  # fmt: skip
    with pytest.raises(jobsim.errors.MisspeltKeyword) as info:
        cls(*args, **kwargs, mesage="declined")
    assert str(info.value).startswith(f"{cls.__name__}() got an unknown keyword argument mesage='declined'")
