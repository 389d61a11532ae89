"""Keys and priorities as a demanding user writes them: what a review of the CEL functions found (each test
failed before its fix)."""

from __future__ import annotations

import pytest
from jobsim_inngest._cel import compile_value

import jobsim

EVENT = jobsim.Event("go", {"tags": ["a", "b"], "n": 5, "m": {"k": 1}})


@pytest.mark.parametrize("expression", [
    "event.__class__",
    "event.__class__.__name__",
    "event['__class__']['__init__']['__globals__']",  # the module's globals: sys, os.environ through them
    "event.__class__.__init__.__globals__.__name__",
    "event.data.__class__",
    "event.data.tags.__len__",
])  # fmt: skip
def test_a_key_reaches_no_python_attribute(expression: str) -> None:
    # Inngest's event is a map of name, data, id, user, ts, v: anything else is a missing field, false
    assert compile_value(expression, "key")(EVENT) is False
    assert compile_value(f"size({expression})", "key")(EVENT) == 0


@pytest.mark.parametrize(("expression", "value"), [
    ("event.data.tags[0]", "a"),
    ("event.data.tags[1] + '-' + event.name", "b-go"),
    ("event.data.tags[2]", False),  # past the end: no such element
    ("size(event.data.tags[0])", 1),
    ("event.name", "go"),
    ("event.data.m.k", 1.0),
])  # fmt: skip
def test_a_key_indexes_a_list(expression: str, value: object) -> None:
    assert compile_value(expression, "key")(EVENT) == value


def test_a_key_on_async_names_async() -> None:
    with pytest.raises(jobsim.InvalidArgument, match=r"unknown name 'async'; .* \(a key reads the event only\)"):
        compile_value("async.data.user", "key")
    with pytest.raises(jobsim.InvalidArgument, match="unknown name '_async'"):
        compile_value("_async.data.user", "key")


@pytest.mark.parametrize("expression", ["event" + ".a" * 3000, "event.data.n" + " + 1" * 3000])
def test_a_key_nested_too_deep_is_refused(expression: str) -> None:
    # a RecursionError out of Python's parser (or at each evaluation) before
    with pytest.raises(jobsim.InvalidArgument, match=r"key=.* nested too deeply for jobsim"):
        compile_value(expression, "key")


@pytest.mark.parametrize(("expression", "values"), [
    (r"event.data.s == '\\' ? 'yes' : 'no'", ["yes", "no"]),  # '\\': one backslash; its second quote closes it
    (r'event.data.s == "\\" ? "yes" : "no"', ["yes", "no"]),
    (r"event.data.s == 'a\\' ? 'yes' : 'no'", ["no", "no"]),
    (r"event.data.s.endsWith('\\') ? event.data.s + '?' : 'b:c'", ["\\?", "b:c"]),
    ("event.data.s == '?:' ? 1 : 2", [2, 2]),
    ("event.data.n > 1 ? event.data.n > 3 ? 'big' : 'mid' : 'small'", ["big", "small"]),  # nested in the middle
])  # fmt: skip
def test_a_conditional_after_a_literal_ending_in_an_escaped_backslash_is_split_there(expression, values) -> None:
    # the scan for ' ? ' read the quote after '\\' as escaped: the literal ran on, the conditional was refused
    events = [jobsim.Event("go", {"s": "\\", "n": 5}), jobsim.Event("go", {"s": "x", "n": 0})]
    assert [compile_value(expression, "key")(event) for event in events] == values


@pytest.mark.parametrize(("expression", "values"), [
    ("event.data.n > 1 ? 'x' : 'y' // why? because: z", ["x", "y"]),  # a comment's '?' and ':' are no operators
    ("event.data.n > 1 ? 'x' // is it? yes: x\n : 'y'", ["x", "y"]),
    ("event.data.n > 1 ? '''it's: ok''' : 'y'", ["it's: ok", "y"]),  # a triple-quoted literal's quote and ':'
    ("event.data.n > 1 ? r'a\\' : 'b:c'", ["a\\", "b:c"]),  # a raw literal's backslash escapes nothing
    ("event.data.n > 1 ? \"\"\"a\"b?\"\"\" : 'c'", ['a"b?', "c"]),
])  # fmt: skip
def test_a_conditional_is_split_outside_comments_and_all_literals(expression: str, values: list[object]) -> None:
    # _split_conditional scanned the text before normalize(): a comment's '?'/':' split the conditional there, and a
    # triple-quoted or raw literal ended where a plain one would (each gave "unknown name" or "not valid")
    events = [jobsim.Event("go", {"n": 5}), jobsim.Event("go", {"n": 0})]
    assert [compile_value(expression, "key")(event) for event in events] == values


def test_a_map_literal_in_a_branch_is_refused_as_a_whole() -> None:
    # its ':' was read as the conditional's: the error named the fragment "{'a'"
    with pytest.raises(jobsim.InvalidArgument) as caught:
        compile_value("event.data.n > 1 ? {'a': 1}['a'] : 2", "key")
    assert "{'a': 1}['a']" in str(caught.value)
