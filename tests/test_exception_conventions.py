"""Every exception jobsim raises or exports is built, copied and pickled the same way.

Each is constructible with its documented arguments, keeps its message and its fields through
``pickle`` (Celery's result backend and multiprocessing pickle exceptions) and ``copy.copy``, and
refuses a misspelt keyword with a ``MisspeltKeyword`` naming it (not Python's bare ``TypeError``).
``UnmatchedRequest`` did neither: a copy or an unpickling called ``__init__`` with its message as the
request (``AttributeError: 'str' object has no attribute 'method'``), and ``exhaustd=True`` was a bare
``TypeError``.
"""

from __future__ import annotations

import importlib
import pickle
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
    jobsim.RequestTimedOut: (("context deadline exceeded",), {"step": "charge", "limit_ns": 7, "spent_ns": 9}),
    jobsim.StepOutputTooLarge: (("step output size is greater than the limit",), {"step": "a", "size": 9, "limit": 8}),
    jobsim.BudgetExceeded: (("still scheduling work",), {}),
    jobsim.errors.PluginError: (("plugin 'x' failed",), {}),
    jobsim.InjectedFault: (("injected",), {}),
    jobsim.StepError: (("charge", KeyError("card")), {}),
    jobsim.NonRetriableError: (("card declined",), {}),
    jobsim.StepMisuse: (("nested step",), {}),
    jobsim.errors.MisspeltKeyword: (("unknown keyword",), {}),
    jobsim.errors.MisbuiltError: (("RetryAfterError(None): jobsim's order",), {}),
    jobsim.errors.CalendarOverflow: (("cron '0 9 * * *': its next tick falls outside the years 1 to 9999",), {}),
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
    if isinstance(left, httpx.Request):
        return (left.method, left.url, left.read()) == (right.method, right.url, right.read())
    if isinstance(left, BaseException):
        return type(left) is type(right) and str(left) == str(right)
    return bool(left == right)


@pytest.mark.parametrize("cls", list(BUILT), ids=lambda cls: cls.__name__)
def test_the_exception_follows_the_conventions(cls: type[BaseException]) -> None:
    testing.check_exception_conventions(cls, *BUILT[cls], same=_same)


@pytest.mark.parametrize("cls, args, kwargs", [(cls, *b) for cls, more in EXTRA.items() for b in more])
def test_its_other_forms_survive_copies_too(cls: type[BaseException], args: tuple[Any, ...],
                                           kwargs: dict[str, Any]) -> None:  # fmt: skip
    testing.check_exception_conventions(cls, args, kwargs, same=_same, keywords=False)


# -- the checks plugins use (jobsim.testing), on exceptions that break each convention ---------------------------

class BuiltFromFields(Exception):
    def __init__(self, at: int, signum: int) -> None:
        super().__init__(f"killed by signal {signum} at {at}")
        self.at, self.signum = at, signum


class LosesAField(Exception):
    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code

    def __reduce__(self) -> Any:
        return (type(self), (str(self),))  # without its code


class LosesAnArg(Exception):
    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message, detail)

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self) -> Any:
        return (type(self), (self.args[0],))  # without its detail, kept in args only


class BareKeywords(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)


class Keeps(Exception):
    def __init__(self, message: str, **extra: Any) -> None:  # takes any keyword: a misspelt one too
        super().__init__(message)
        self.extra = extra


@pytest.mark.parametrize("cls, args, kwargs, problem", [
    (BuiltFromFields, (), {"at": 5, "signum": 15}, "BuiltFromFields does not survive pickle: TypeError("),
    (BareKeywords, ("x",), {}, "BareKeywords(..., mesage='declined') raised TypeError("),
    (Keeps, ("x",), {}, "Keeps(..., mesage='declined') took the misspelt keyword"),
], ids=["no __reduce__", "bare TypeError", "keyword taken"])
def test_the_check_names_the_convention_an_exception_breaks(cls: type[BaseException], args: tuple[Any, ...],
                                                          kwargs: dict[str, Any], problem: str) -> None:  # fmt: skip
    with pytest.raises(AssertionError) as info:
        testing.check_exception_conventions(cls, args, kwargs)
    assert str(info.value).startswith(problem)


def test_the_check_compares_fields_after_each_copy() -> None:
    with pytest.raises(AssertionError, match=r"^LosesAField after pickle differs: field 'code', keyword 'code'$"):
        testing.check_exception_conventions(LosesAField, ("boom",), {"code": 7}, keywords=False)
    testing.check_exception_conventions(LosesAField, ("boom",), keywords=False)  # code 0 is what it rebuilds
    with pytest.raises(AssertionError, match=r"^LosesAnArg after pickle differs: args \('boom', ''\) \(was "):
        testing.check_exception_conventions(LosesAnArg, ("boom", "card"), keywords=False)


def test_exception_classes_lists_those_a_package_and_its_modules_define() -> None:
    found = testing.exception_classes(jobsim)
    assert {jobsim.JobsimError, jobsim.StepMisuse, jobsim.TriggerWarning, MissingStep, SleepTooLong} <= found
    assert _public_exceptions() <= found
    assert httpx.ConnectError not in found and all(cls.__module__.startswith("jobsim.") for cls in found)
def test_unmatched_requests_misspelt_keyword_names_the_one_meant() -> None:
    with pytest.raises(errors.MisspeltKeyword) as info:
        jobsim.UnmatchedRequest(REQUEST, exhaustd=True)
    assert str(info.value) == ("UnmatchedRequest() got an unknown keyword argument exhaustd=True (did you mean "
                               "exhausted=?); accepted: request, exhausted, test_code, closest, advice")
    assert info.value.__suppress_context__  # no bare TypeError shown under it


def test_an_unpickled_unmatched_request_is_still_the_network_failure_job_code_catches() -> None:
    clone = pickle.loads(pickle.dumps(jobsim.UnmatchedRequest(REQUEST, exhausted=True)))
    assert isinstance(clone, httpx.ConnectError) and isinstance(clone, jobsim.JobsimError)
    assert (clone.request.method, str(clone.request.url), clone.exhausted, clone.test_code) == (
        "POST", "https://api.example.com/charges", True, False)
    assert str(clone).startswith("jobsim: the route for POST https://api.example.com/charges has used up its")


def test_an_unmatched_request_rebuilt_from_its_args_as_celerys_result_backend_does_keeps_its_message() -> None:
    """Celery's result backend stores a failed task's exception as type, module and ``args`` and rebuilds it with
    ``cls(*args)`` (``exception_to_python``): ``result.get()`` raised ``Exception("<class ...>([...])")`` instead."""
    error = jobsim.UnmatchedRequest(REQUEST, closest="closest: the route (host='api.example.com')")
    rebuilt = type(error)(*error.args)
    assert type(rebuilt) is jobsim.UnmatchedRequest and isinstance(rebuilt, httpx.ConnectError)
    assert str(rebuilt) == str(error) and rebuilt.args == error.args
    testing.check_exception_conventions(jobsim.UnmatchedRequest, error.args, keywords=False)
    with pytest.raises(RuntimeError):
        rebuilt.request  # noqa: B018 -- as httpx's own errors built without one
