"""CEL expressions as a demanding user writes them: what a review of the CEL functions found (each test failed
before its fix). Facts: cel-go v0.27.0 ``parser/unescape.go`` (string escapes), Go's ``regexp/syntax`` (RE2)."""

from __future__ import annotations

import pytest

import jobsim
from jobsim._expr import compile_expression

CANDIDATE = jobsim.Event("c", {"n": 5, "s": "hello"})


def holds(expression: str) -> bool:
    return compile_expression(expression)(jobsim.Event("e", {"n": 5}), CANDIDATE)


@pytest.mark.parametrize("expression", [
    "async.__class__ != null",  # the Python class of jobsim.Event
    "async.__dataclass_fields__ != null",
    "async.__post_init__ != null",
    "has(async.__class__)",
])  # fmt: skip
def test_an_events_python_attributes_are_no_fields(expression: str) -> None:
    # Inngest's event is a map of name, data, id, user, ts, v: anything else is a missing field
    assert holds(expression) is False
    assert holds("async.__class__ == null") is True  # a missing field equals null (unknown.go)
    assert holds("async.name == 'c' && async.data.n == 5 && async.user == null") is True
