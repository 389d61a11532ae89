"""Expressions (if_exp, Cancel/Batch if_, inngest-py's TriggerEvent expression) are CEL, not Python: the
translation to Python must not accept Python's spellings nor mix bools with numbers as Python does."""

from __future__ import annotations

import re

import pytest

import jobsim
from jobsim._expr import compile_expression


@pytest.mark.parametrize(("expression", "word", "cel"), [
    ("event.data.plan == 'pro' and async.data.ok", "and", "&&"),  # CEL: a syntax error
    ("event.data.a == 1 or event.data.b == 2", "or", "||"),
    ("not async.data.cancelled", "not", "!"),
    ("async.data.ok == True", "True", "true"),  # CEL: an undeclared name
    ("async.data.ok != False", "False", "false"),
    ("async.data.reason == None", "None", "null"),
])  # fmt: skip
def test_python_spellings_are_refused_naming_the_cel_one(expression, word, cel):
    spelled = re.escape(cel)
    with pytest.raises(jobsim.InvalidArgument, match=rf"'{word}' is Python, not CEL.*CEL writes '{spelled}'"):
        compile_expression(expression)


def test_the_words_inside_string_literals_are_data():
    holds = compile_expression("async.data.note == 'not and or True' && async.data.word == \"None\"")
    assert holds(jobsim.Event("e", {}), jobsim.Event("c", {"note": "not and or True", "word": "None"}))


def test_a_chained_comparison_is_refused():
    """CEL reads ``1 < x < 5`` as ``(1 < x) < 5``: a bool and a number, an error at each evaluation on Inngest."""
    with pytest.raises(jobsim.InvalidArgument, match=r"CEL reads 'a < b < c' as '\(a < b\) < c'.*a < b && b < c"):
        compile_expression("1 < async.data.total < 5")


@pytest.mark.parametrize(("expression", "holds"), [
    ("async.data.flag == 1", False),  # CEL: true == 1 is false (bool and int are apart)
    ("async.data.flag != 1", True),
    ("async.data.zero == false", False),
    ("async.data.flag > 0", False),  # no overload for a bool and a number: an error, no match
    ("async.data.flag < 2", False),
    ("async.data.flag == true", True),
    ("async.data.zero < 1", True),  # numbers among themselves as before
    ("async.data.one == 1.0", True),
    ("async.data.nothing < true", True),  # null against a bool compares false with it
])  # fmt: skip
def test_bools_are_not_numbers(expression, holds):
    candidate = jobsim.Event("c", {"flag": True, "zero": 0, "one": 1, "nothing": None})
    assert compile_expression(expression)(jobsim.Event("e", {}), candidate) is holds


@pytest.mark.parametrize("expression", ["1 < async.data.total < 5", "async.data.a == 1 <= 2"])
def test_a_chained_comparison_is_refused_by_jobsim_not_said_to_be_refused_by_inngest(expression):
    """Inngest declares ``==``, ``<``... as ``(any, any) -> bool`` with type guards off
    (``pkg/expressions/exprenv/overloads.go``): it compiles ``(1 < x) < 5`` (an error at each evaluation, never
    a match) and ``(x == 3) == true`` (CEL's reading of ``x == 3 == true``, which jobsim now evaluates so). jobsim
    refuses a chain that orders a bool against a non-bool, whose Python reading differs, and says so without
    claiming Inngest does, pointing at the parenthesized form."""
    with pytest.raises(jobsim.InvalidArgument) as caught:
        compile_expression(expression)
    message = str(caught.value)
    assert "Inngest accepts" in message and "Inngest refuses" not in message
    assert "'(a == b) == c'" in message
    event = jobsim.Event("e", {"x": 3})
    assert compile_expression("(event.data.x == 3) == true")(event, event) is True


@pytest.mark.parametrize(("expression", "holds"), [
    ("event.data.ones == async.data.flags", False),  # [1] and [true]: CEL compares the elements, 1 == true false
    ("event.data.ones != async.data.flags", True),
    ("event.data.map == async.data.flagmap", False),  # {"a": 1} and {"a": true}
    ("event.data.ones == async.data.doubles", True),  # [1] and [1.0]: numbers still equal across int and double
    ("event.data.flags == async.data.flags", True),
])  # fmt: skip
def test_bools_are_not_numbers_inside_lists_and_maps_either(expression, holds):
    """Python's ``[1] == [True]`` and ``{"a": 1} == {"a": True}`` hold; CEL's list and map equality compares the
    elements with its own ``==``, where a bool equals no number."""
    event = jobsim.Event("e", {"ones": [1], "flags": [True], "map": {"a": 1}})
    candidate = jobsim.Event("c", {"flags": [True], "flagmap": {"a": True}, "doubles": [1.0]})
    assert compile_expression(expression)(event, candidate) is holds


def test_a_cancellations_condition_is_told_the_functions_jobsim_reads_not_uint():
    """Inngest's restrictive policy lets a cancellation call ``int``, ``uint`` and ``double``; jobsim reads no
    ``uint``, so the refusal of another function names ``uint()`` as unread, and ``uint()`` itself is refused."""
    with pytest.raises(jobsim.InvalidArgument) as caught:
        jobsim.Cancel("stop", if_exp="size(async.data.ids) > 0")
    assert str(caught.value) == (
        "if_exp='size(async.data.ids) > 0' is not valid: size() in a cancellation's condition: Inngest validates it "
        "with DefaultRestrictiveValidationPolicy (pkg/expressions/validation.go), which refuses macros and every "
        "function but the conversions int(), double() and uint() (which jobsim does not read); keep to int(), "
        "double(), comparisons, '&&', '||', '!' and 'in'")
    with pytest.raises(jobsim.InvalidArgument, match=r"^if_exp='uint\(event.data.x\) > 1' is not valid: unknown "
                       r"function uint\(\) with 1 argument\(s\); functions: "):  # fmt: skip
        jobsim.Cancel("stop", if_exp="uint(event.data.x) > 1")
    jobsim.Cancel("stop", if_exp="int(event.data.x) > 1 && double(async.data.y) < 2.5")
