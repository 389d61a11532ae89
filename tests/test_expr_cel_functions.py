"""CEL beyond the operators in if_exp / Cancel / Batch if_: ``in``, ``size``, ``has``, string functions, macros,
as Inngest's expression engine evaluates them (facts and sources: ``jobsim/_celfuncs.py``'s docstring)."""

from __future__ import annotations

import pytest

import jobsim
from jobsim._expr import compile_expression, split_strings

CANDIDATE = jobsim.Event("c", {
    "tags": ["a", "b"], "title": "héllo", "n": 5, "flag": True, "nothing": None, "m": {"k": 1},
    "items": [{"sku": "x", "q": 2}, {"q": 1}], "status": "200", "email": "Ann@Example.COM",
    "from": "shop", "class": "gold", "import": 1, "def": 2, "pass": True, "lambda": "l", "async": {"id": 7},
    "nums": [1, 2.0], "bools": [True],
})  # fmt: skip


def holds(expression: str, candidate: jobsim.Event = CANDIDATE) -> bool:
    return compile_expression(expression)(jobsim.Event("e", {"n": 5}), candidate)


@pytest.mark.parametrize(("expression", "expected"), [
    # in: a list's element by CEL's ==, a map's string key
    ("'a' in async.data.tags", True),
    ("'z' in async.data.tags", False),
    ("1 in async.data.bools", False),  # a bool is no number
    ("true in async.data.bools", True),
    ("2 in async.data.nums", True),  # numbers equal across int and double
    ("'k' in async.data.m", True),
    ("'x' in async.data.m", False),
    ("1 in async.data.m", False),  # a JSON object's keys are strings: another key is absent, not an error
    ("async.data.title in ['héllo', 'x']", True),
    ("event.data.n in [async.data.n]", True),
    ("'a' in async.data.title", False),  # no overload for string in string: an error at evaluation
    ("'a' in async.data.missing", False),  # handleUnknownCall: false
    ("async.data.missing in ['a']", False),
    ("(async.data.missing in ['a']) == false", True),  # a concrete false, not an unknown
    ("'a' in [async.data.missing]", False),  # a list holding an unknown is unknown
    # size: code points of a string, a list's or a map's length; of an unknown 0
    ("size(async.data.title) == 5", True),
    ("async.data.title.size() == 5", True),
    ("size(async.data.tags) == 2 && async.data.tags.size() == 2", True),
    ("size(async.data.m) == 1", True),
    ("size(async.data.title) == 6", False),  # 6 UTF-8 bytes, 5 code points
    ("size(async.data.n) == 0", False),  # no overload for a number: an error, no match
    ("size(async.data.n) >= 0", False),
    ("size(async.data.nothing) > 0", False),  # null: an error too (Inngest's own test)
    ("size(async.data.missing) == 0", True),  # handleUnknownCall: size of an unknown is 0
    ("async.data.missing.size() == 0", True),
    # has: true if present (even null); of a missing field unknown, so its negation is false too
    ("has(async.data.tags)", True),
    ("has(async.data.nothing)", True),
    ("has(async.data.missing)", False),
    ("!has(async.data.missing)", False),
    ("has(async.data.missing) == false", False),
    ("has(async.data.missing) || async.data.flag", True),
    ("has(async.data.m.k) && has(async.data.missing.k) == false", False),
    # string functions: receiver and argument strings, else an error; of a missing receiver false
    ("async.data.title.startsWith('hé')", True),
    ("async.data.title.startsWith('llo')", False),
    ("async.data.title.endsWith('llo')", True),
    ("async.data.title.endsWith('hé')", False),
    ("async.data.title.contains('ll')", True),
    ("async.data.title.contains('x')", False),
    ("async.data.title.matches('^h.l+o$')", True),
    ("async.data.title.matches('^x')", False),
    ("async.data.status.matches('\\\\d+')", True),
    ("async.data.status.matches('\\\\++|0{2}')", True),  # an escaped '+' repeated is no possessive quantifier
    ("async.data.n.startsWith('5')", False),
    ("!async.data.n.startsWith('5')", False),  # ! of an error: false (handleUnknownCall)
    ("async.data.title.contains(async.data.n)", False),
    ("async.data.missing.contains('x')", False),
    ("async.data.missing.contains('x') == false", True),
    ("!async.data.missing.endsWith('x')", True),
    # macros: CEL's comprehensions over a list's elements or a map's keys
    ("async.data.tags.exists(t, t == 'b')", True),
    ("async.data.tags.exists(t, t == 'z')", False),
    ("async.data.tags.all(t, size(t) == 1)", True),
    ("async.data.items.all(i, i.q > 1)", False),
    ("async.data.items.exists_one(i, i.q > 1)", True),
    ("async.data.items.exists(i, has(i.sku))", True),
    ("async.data.items.all(i, has(i.sku))", False),  # inside a macro a missing field makes has() false
    ("async.data.items.filter(i, i.q > 1).size() == 1", True),
    ("async.data.items.map(i, i.q) == [2, 1]", True),
    ("async.data.m.exists(k, k == 'k')", True),
    ("async.data.missing.exists(t, t == 'a')", False),  # Inngest's own test
    ("async.data.n.exists(t, t == 'a')", False),  # no overload: an error
    ("async.data.tags.exists(t, t.q)", False),  # a predicate that is no bool: an error
    # conversions and Inngest's own functions
    ("int(async.data.status) == 200", True),
    ("int(async.data.title) == 0", False),
    ("double(async.data.status) == 200.0", True),
    ("lowercase(async.data.email) == 'ann@example.com'", True),
    ("uppercase(async.data.title) == 'HÉLLO'", True),
    ("lowercase(async.data.n) == '5'", False),
    ("lowercase(async.data.missing) == false", True),  # handleUnknownCall: false
])  # fmt: skip
def test_cel_functions_as_inngest_evaluates_them(expression, expected):
    assert holds(expression) is expected


@pytest.mark.parametrize("field", ["from", "class", "import", "def", "pass", "lambda", "async"])
def test_python_keywords_are_valid_cel_field_names(field):
    value = CANDIDATE.data[field]
    literal = repr(value).lower() if isinstance(value, bool) else repr(value)
    if isinstance(value, dict):
        assert holds(f"async.data.{field}.id == 7")
        assert holds(f"has(async.data.{field}.id)")
        return
    assert holds(f"async.data.{field} == {literal}")
    assert not holds(f"async.data.{field} != {literal}")
    assert holds(f"event.data.{field} == null")  # the run's event lacks it: unknown, which equals null


def test_a_keyword_field_is_a_field_in_a_macro_and_in_a_match_index():
    event = jobsim.Event("e", {"from": "shop"})
    check = compile_expression("event.data.from == async.data.from && async.data.tags.exists(for_, for_ == 'a')")
    assert check(event, CANDIDATE)
    assert check.mine == ("data", "from") and check.theirs == ("data", "from")  # type: ignore[attr-defined]


@pytest.mark.parametrize(("expression", "message"), [
    ("event.data.x == if", r"'if' is a reserved word in CEL"),
    ("event.data.items.exists(while, while > 1)", r"'while' is a reserved word in CEL"),
    ("event.data.in == 1", r"'\.in' is a syntax error in CEL.*write \['in'\]"),
    ("event.data.null == 1", r"'\.null' is a syntax error in CEL"),
    ("event.data.true", r"'\.true' is a syntax error in CEL"),
])  # fmt: skip
def test_cel_reserved_words_are_refused_clearly(expression, message):
    with pytest.raises(jobsim.InvalidArgument, match=message):
        compile_expression(expression)


def test_reserved_words_are_valid_field_names_as_cel_go_reads_them():
    """cel-go refuses reserved words as identifiers only (``parser.go : reservedIds``, "valid field names")."""
    assert holds("async.data.if == 1 || has(async.data.if) == false || async.data.else == null")


@pytest.mark.parametrize("expression", [
    "async.data.a == 'x' 'y'", "async.data.a == 'x''y'", "async.data.a == \"x\" 'y'", "'a' r'b' == async.data.a",
])
def test_adjacent_string_literals_are_refused(expression):
    with pytest.raises(jobsim.InvalidArgument, match=r"two string literals side by side.*syntax error in CEL"):
        compile_expression(expression)


@pytest.mark.parametrize(("expression", "message"), [
    ("size(1) == 1", "no overload of size for a int"),
    ("size(true) == 1", "no overload of size for a bool"),
    ("'a' in 1", "no overload of in for a int"),
    ("'a' in 'abc'", "no overload of in for a string"),
    ("1.startsWith('a')", "no overload of startsWith for a int"),
    ("async.data.a.contains(1)", "no overload of contains for a int"),
    ("async.data.a.endsWith(null)", "no overload of endsWith for a null"),
    ("5.exists(x, x == 1)", "no overload of exists for a int"),
    ("lowercase(3) == '3'", "no overload of lowercase for a int"),
    ("size([1, 2]) == 'x'.size()", None),  # accepted: both well typed
])  # fmt: skip
def test_a_literal_of_the_wrong_type_is_refused_as_inngests_type_check_does(expression, message):
    if message is None:
        compile_expression(expression)
        return
    with pytest.raises(jobsim.InvalidArgument, match=f"{message}.*Inngest's type check refuses the expression"):
        compile_expression(expression)


@pytest.mark.parametrize("pattern", ["(?=a)", "(?!a)", "(?<=a)b", "(?<!a)b", "(a)\\\\1", "(?P<x>a)(?P=x)", "a\\\\Z",
                                     "\\\\pL", "(?>a)", "(a", "a*+", "a{2}+", "(?#c)a"])  # fmt: skip
def test_a_literal_pattern_re2_lacks_or_reads_differently_is_refused(pattern):
    with pytest.raises(jobsim.InvalidArgument, match=r"matches\(\) pattern .*RE2"):
        compile_expression(f"async.data.title.matches('{pattern}')")


def test_a_pattern_from_the_event_re2_lacks_is_an_error_and_no_match():
    candidate = jobsim.Event("c", {"title": "ab", "bad": "(?=a)", "good": "^a"})
    assert holds("async.data.title.matches(async.data.good)", candidate)
    assert not holds("async.data.title.matches(async.data.bad)", candidate)
    assert not holds("!async.data.title.matches(async.data.bad)", candidate)


def test_regex_classes_are_ascii_as_in_re2():
    assert not holds("async.data.title.matches('^\\\\w+$')")  # é is no \\w in RE2
    assert holds("async.data.title.matches('^h')")


@pytest.mark.parametrize(("expression", "message"), [
    ("event.data.x.foo()", r"unknown method \.foo\(\)"),
    ("now() > 1", r"unknown function now\(\)"),
    ("size(event.data.a, 1) == 1", r"unknown function size\(\) with 2"),
    ("has(event) ", r"has\(\) takes one field selection"),
    ("has(event.data['a'])", r"has\(\) takes one field selection"),
    ("event.data.items.exists(1, true)", r"\.exists\(\) takes a variable name"),
    ("event.data.items.exists(x, y == 1)", r"unknown name 'y'"),
    ("event.data.items.exists(x, x == 1) && x == 1", r"unknown name 'x'"),
])  # fmt: skip
def test_malformed_calls_are_refused_naming_the_problem(expression, message):
    with pytest.raises(jobsim.InvalidArgument, match=message):
        compile_expression(expression)


@pytest.mark.parametrize("expression", [
    "size(event.data.tags) > 0", "event.data.title.contains('x')", "has(event.data.x)",
    "event.data.tags.exists(t, t == 'a')",
])
def test_a_cancellation_condition_keeps_to_inngests_restrictive_policy(expression):
    """``pkg/inngest/function.go : Validate`` checks a cancellation's ``if`` with
    ``DefaultRestrictiveValidationPolicy``: no macros, no function but ``int``/``uint``/``double``."""
    with pytest.raises(jobsim.InvalidArgument, match="DefaultRestrictiveValidationPolicy"):
        jobsim.Cancel("stop", if_exp=expression)
    jobsim.Cancel("stop", if_exp="event.data.plan in ['a', 'b'] && int(async.data.n) > 1")
    compile_expression(expression)  # a wait's condition: Inngest only logs the policy's verdict


def test_a_batch_condition_reads_the_functions_too():
    batch = jobsim.Batch(5, "1s", if_="size(event.data.tags) > 1 && 'a' in event.data.tags")
    assert batch.if_fn(CANDIDATE, CANDIDATE)  # type: ignore[misc]
    assert not batch.if_fn(jobsim.Event("c", {"tags": ["b"]}), jobsim.Event("c", {"tags": ["b"]}))  # type: ignore[misc]


def test_non_ascii_outside_literals_is_refused():
    with pytest.raises(jobsim.InvalidArgument, match="outside a string literal; CEL identifiers are ASCII"):
        compile_expression("event.data.café == 1")
    assert holds("async.data.title == 'héllo'")


def test_split_strings_is_still_what_it_was():
    assert split_strings("a == 'x' 'y' && \"q\\\"\"") == ["a == ", "'x'", " ", "'y'", " && ", '"q\\""', ""]
