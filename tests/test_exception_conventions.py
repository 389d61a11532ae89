"""Every exception jobsim raises or exports is built, copied and pickled the same way.

Each is constructible with its documented arguments, keeps its message and its fields through
``pickle`` (Celery's result backend and multiprocessing pickle exceptions) and ``copy.copy``, and
refuses a misspelt keyword with a ``MisspeltKeyword`` naming it (not Python's bare ``TypeError``).
``UnmatchedRequest`` did neither: a copy or an unpickling called ``__init__`` with its message as the
request (``AttributeError: 'str' object has no attribute 'method'``), and ``exhaustd=True`` was a bare
``TypeError``.
"""

from __future__ import annotations

import copy
import importlib
import pickle
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import jobsim
from jobsim import errors, invariants, strategies, testing
from jobsim._engine import SleepTooLong
from jobsim._records import MissingStep
from jobsim._selection import FunctionNotSimulated
from jobsim._steps import TooManySteps, UnserializableOutput

REQUEST = httpx.Request("POST", "https://api.example.com/charges", json={"amount": 5})

# each exception, the arguments it is documented with (positional, keywords)
BUILT: dict[type[BaseException], tuple[tuple[Any, ...], dict[str, Any]]] = {
    jobsim.JobsimError: (("boom",), {}),
    jobsim.InvalidArgument: (("x=1 is not valid: a str",), {}),
    jobsim.UnsupportedFeature: (("no batches on BullMQ",), {"system": "BullMQ", "feature": "batch"}),
    jobsim.WorkerCrashed: (("the worker died",), {}),
    jobsim.BudgetExceeded: (("still scheduling work",), {}),
    jobsim.errors.PluginError: (("plugin 'x' failed",), {}),
    jobsim.InjectedFault: (("injected",), {}),
    jobsim.StepError: (("charge", KeyError("card")), {}),
    jobsim.NonRetriableError: (("card declined",), {}),
    jobsim.StepMisuse: (("nested step",), {}),
    jobsim.errors.MisspeltKeyword: (("unknown keyword",), {}),
    jobsim.RetryAfterError: (("30s", "slow down"), {}),
    jobsim.errors.TraceError: (("bad line",), {"path": "run.jobsim.jsonl", "line": 3}),
    jobsim.UnmatchedRequest: ((REQUEST,), {"test_code": True, "closest": "route 'charges' misses it by its host"}),
    testing.ServerUnavailable: (("redis-server is not on PATH",), {}),
    invariants.Violation: (("2 emails for one order",), {}),
    strategies.InvalidArgument: (("max_size=0 is not valid",), {}),
    MissingStep: (("run has no step 'chrage'",), {}),
    FunctionNotSimulated: (("function 'x' was left out",), {}),
    UnserializableOutput: (("step 'a' returned a socket",), {}),
    TooManySteps: (("1,000 steps",), {}),
    SleepTooLong: (("a sleep past a year",), {}),
}
EXTRA = {jobsim.UnmatchedRequest: [((REQUEST,), {"exhausted": True})]}  # the other message it builds


def _public_exceptions() -> set[type[BaseException]]:
    found = set()
    for name in ("jobsim", "jobsim.errors", "jobsim.testing", "jobsim.invariants", "jobsim.traces", "jobsim.hooks",
                 "jobsim.strategies"):  # fmt: skip
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", ()):
            value = getattr(module, attr)
            if isinstance(value, type) and issubclass(value, BaseException) and not issubclass(value, Warning):
                found.add(value)
    return found


def test_every_public_exception_is_in_the_table() -> None:
    assert _public_exceptions() - set(BUILT) == set()  # a new exception gets its line in BUILT


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, BaseException):
        return type(left) is type(right) and str(left) == str(right)
    if isinstance(left, httpx.Request):
        return (left.method, left.url, left.read()) == (right.method, right.url, right.read())
    return bool(left == right)


CASES = [(cls, *built) for cls, built in BUILT.items()] + [(cls, *b) for cls, more in EXTRA.items() for b in more]
COPIES: dict[str, Callable[[Any], Any]] = {
    "pickle": lambda error: pickle.loads(pickle.dumps(error)),
    "pickle-0": lambda error: pickle.loads(pickle.dumps(error, protocol=0)),
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
}


@pytest.mark.parametrize("how", list(COPIES))
@pytest.mark.parametrize("cls, args, kwargs", CASES, ids=[case[0].__name__ for case in CASES])
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
    for key, value in kwargs.items():  # the documented fields, by their names
        assert _same(value, getattr(clone, key)), key


@pytest.mark.parametrize("cls, args, kwargs", list(CASES[: len(BUILT)]), ids=[cls.__name__ for cls in BUILT])
def test_a_misspelt_keyword_is_refused_naming_it(cls: type[BaseException], args: tuple[Any, ...],
                                                 kwargs: dict[str, Any]) -> None:  # fmt: skip
    with pytest.raises(errors.MisspeltKeyword) as info:
        cls(*args, **kwargs, mesage="declined")
    assert str(info.value).startswith(f"{cls.__name__}() got an unknown keyword argument mesage='declined'")


def test_unmatched_requests_misspelt_keyword_names_the_one_meant() -> None:
    with pytest.raises(errors.MisspeltKeyword) as info:
        jobsim.UnmatchedRequest(REQUEST, exhaustd=True)
    assert str(info.value) == ("UnmatchedRequest() got an unknown keyword argument exhaustd=True (did you mean "
                               "exhausted=?); accepted: request, exhausted, test_code, closest")
    assert info.value.__suppress_context__  # no bare TypeError shown under it


def test_an_unpickled_unmatched_request_is_still_the_network_failure_job_code_catches() -> None:
    clone = pickle.loads(pickle.dumps(jobsim.UnmatchedRequest(REQUEST, exhausted=True)))
    assert isinstance(clone, httpx.ConnectError) and isinstance(clone, jobsim.JobsimError)
    assert (clone.request.method, str(clone.request.url), clone.exhausted, clone.test_code) == (
        "POST", "https://api.example.com/charges", True, False)
    assert str(clone).startswith("jobsim: the route for POST https://api.example.com/charges has used up its")
