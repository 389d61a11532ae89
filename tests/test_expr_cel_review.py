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


@pytest.mark.parametrize(("expression", "expected"), [
    (r"'\?' == '?'", True),  # CEL's \? and \` are the character, Python keeps the backslash
    (r"'\`' == '`'", True),
    (r"'\X41' == 'A'", True),  # \X is \x in CEL
    (r"'\101\x41\u0041\U00000041' == 'AAAA'", True),
    (r"'\\d' == r'\d'", True),
    (r"async.data.s.matches('\\w+')", True),
    (r"async.data.s.matches(r'^\w+$')", True),
    (r"b'\x41\101' == b'AA'", True),
    ("\"it\\'s\" == \"it's\"", True),
])  # fmt: skip
def test_cel_string_escapes_are_read_as_cel_reads_them(expression: str, expected: bool) -> None:
    assert holds(expression) is expected


@pytest.mark.parametrize(("expression", "why"), [
    (r"async.data.s.matches('\d+')", r"\d in the literal '\d+' is not a CEL escape"),  # Python kept it as \d
    (r"'\1' == 'x'", "not a CEL escape"),  # CEL's octal escapes have three digits
    (r"'\8' == 'x'", "not a CEL escape"),
    (r"'\N{DIGIT ONE}' == '1'", "not a CEL escape"),
    (r"'\ud800' == 'x'", "not a valid code point"),
    (r"b'\u00e9' == b'x'", "no escape of a bytes literal"),
    ("u'x' == 'x'", "prefix is r (raw), b (bytes) or br"),
    ("rb'x' == b'x'", "prefix is r (raw), b (bytes) or br"),
])  # fmt: skip
def test_what_cel_go_refuses_in_a_string_literal_is_refused(expression: str, why: str) -> None:
    with pytest.raises(jobsim.InvalidArgument, match="if_exp=") as info:
        compile_expression(expression)
    assert why in str(info.value)


@pytest.mark.parametrize(("text", "pattern", "expected"), [
    ("hello", r"o\\z", True),  # RE2's end of text; Python's re refused \z
    ("hello\n", "o$", False),  # RE2's $ without (?m) is the end of the text; Python's also matched before a final \n
    ("hello\n", "(?m)o$", True),
    ("hello", "^[[:alpha:]]+$", True),  # a POSIX class; Python read [[:alpha:] as a set of '[:alph'
    ("hello", "[[:digit:]]", False),
    (":", "[[:alpha:]]", False),
    ("x1", "^[[:alpha:]][[:digit:]]$", True),
    ("É", "(?i)é", True),  # RE2 folds case in Unicode; a pattern-wide re.ASCII folded ASCII only
    ("é", r"^\\w", False),  # ... while \w stays ASCII
    ("é", r"^[\\w]", False),
    ("a b", r"a\\sb", True),
    ("a.b", r"^\\Qa.b\\E$", True),  # \Q...\E quotes
    ("axb", r"^\\Qa.b\\E$", False),
    ("ab", "(?<first>a)b", True),  # Go's named group
    ("a[b", "[[]", True),
    ("xhelloy", "hello", True),  # an unanchored search, as RE2's MatchString
])  # fmt: skip
def test_matches_reads_re2_syntax_as_re2_does(text: str, pattern: str, expected: bool) -> None:
    candidate = jobsim.Event("c", {"s": text})
    assert compile_expression(f"async.data.s.matches('{pattern}')")(candidate, candidate) is expected
    assert compile_expression("async.data.s.matches(async.data.p)")(candidate, jobsim.Event("c", {
        "s": text, "p": pattern.replace("\\\\", "\\")})) is expected  # fmt: skip


@pytest.mark.parametrize(("pattern", "why"), [
    ("a{1001}", "over RE2's limit of 1000"),
    ("a{2,1001}", "over RE2's limit of 1000"),
    ("(?x)a b", "RE2's flags are i, m, s and U only"),  # Python's verbose flag, accepted before
    ("(?a)a", "RE2's flags are i, m, s and U only"),
    ("(?U)a+", "ungreedy"),
    ("[[:^alpha:]]", "negated POSIX class"),
    ("[[:letter:]]", "no POSIX class RE2 knows"),
])  # fmt: skip
def test_a_pattern_re2_refuses_or_python_cannot_match_alike_is_refused(pattern: str, why: str) -> None:
    with pytest.raises(jobsim.InvalidArgument, match="matches\\(\\) pattern") as info:
        compile_expression(f"async.data.s.matches('{pattern}')")
    assert why in str(info.value)
    candidate = jobsim.Event("c", {"s": "a", "p": pattern})
    assert compile_expression("async.data.s.matches(async.data.p)")(candidate, candidate) is False  # an error
    assert compile_expression("!async.data.s.matches(async.data.p)")(candidate, candidate) is False


def test_underscore_async_is_no_name() -> None:
    # jobsim spells CEL's async _async for Python's parser: the user's own _async was read as async
    with pytest.raises(jobsim.InvalidArgument, match="unknown name '_async'"):
        compile_expression("_async.data.n == 5")
    assert holds("async.data.n == 5 && async.data._async == null")


@pytest.mark.parametrize("expression", [
    "!" * 3000 + "true",  # Python's parser raised RecursionError
    "async" + ".a" * 3000 + " == null",
    "async.data.tags" + ".map(x, x)" * 150 + " == []",  # compiled, then RecursionError at each evaluation
    "!" * 450 + "true",
])  # fmt: skip
def test_an_expression_nested_too_deep_is_refused(expression: str) -> None:
    with pytest.raises(jobsim.InvalidArgument, match=r"if_exp=.* nested too deeply for jobsim"):
        compile_expression(expression)


def test_an_expression_nested_as_deep_as_allowed_evaluates_under_a_deep_stack() -> None:
    from jobsim._celsyntax import MAX_FRAMES

    deepest = [
        "!" * (MAX_FRAMES - 1) + "true",
        "async.data.tags" + ".map(x, x)" * ((MAX_FRAMES - 10) // 5) + " == []",
        "async" + ".a" * (MAX_FRAMES - 3) + " == null",
        "lowercase(" * ((MAX_FRAMES - 10) // 4) + "async.data.s" + ")" * ((MAX_FRAMES - 10) // 4) + " == 'hello'",
    ]
    checks = [compile_expression(expression) for expression in deepest]

    def nest(depth: int) -> list[bool]:  # the caller's stack: 500 frames, half the default limit
        return nest(depth - 1) if depth else [check(CANDIDATE, CANDIDATE) for check in checks]

    assert nest(500) == [False, False, True, True]


@pytest.mark.parametrize(("expression", "holds"), [("async.data.s == '''hello'''", True),
                                                  ('async.data.s == """hello"""', True),
                                                  ("'''it's''' == \"it's\"", True),
                                                  ("'''it's''' == 'x'", False)])  # fmt: skip
def test_a_triple_quoted_literal_is_read_as_cel_reads_it(expression: str, holds: bool) -> None:
    # it was refused as unread (session 25); CEL's lexer reads it as one literal, quotes inside it included
    assert compile_expression(expression)(CANDIDATE, jobsim.Event("c", {"s": "hello"})) is holds


def test_a_cancellations_condition_refuses_negating_a_field() -> None:
    # DefaultRestrictiveValidationPolicy refuses math functions, '-_' (negation) among them; -5 is a literal
    with pytest.raises(jobsim.InvalidArgument, match="'-' of a field in a cancellation's condition"):
        jobsim.Cancel(event="x", if_exp="-async.data.n < 5")
    jobsim.Cancel(event="x", if_exp="async.data.n > -5 && async.data.n != -1.5")
    assert holds("-async.data.n < 0")  # elsewhere (if_exp of a wait) it is read


@pytest.mark.parametrize(("text", "lower", "upper"), [
    ("Ann@Example.COM", "ann@example.com", "ANN@EXAMPLE.COM"),
    ("ΟΔΟΣ", "οδοσ", "ΟΔΟΣ"),  # Go maps each code point: no final sigma (Python: οδος)
    ("İstanbul", "istanbul", "İSTANBUL"),  # simple mapping: İ -> i (Python: i + combining dot)
    ("straße", "straße", "STRAßE"),  # ß has no simple uppercase (Python: STRASSE)
    ("ﬁle", "ﬁle", "ﬁLE"),
    ("ᾳ", "ᾳ", "ᾼ"),
])  # fmt: skip
def test_lowercase_and_uppercase_are_gos(text: str, lower: str, upper: str) -> None:
    # Inngest's lowercase/uppercase are strings.ToLower/ToUpper (exprenv/overloads.go): simple case mappings
    candidate = jobsim.Event("c", {"s": text})
    check = compile_expression(f"lowercase(async.data.s) == '{lower}' && uppercase(async.data.s) == '{upper}'")
    assert check(candidate, candidate) is True


@pytest.mark.parametrize(("text", "expected"), [
    ("1.5", 1.5),
    ("-Inf", float("-inf")),
    ("0x1p-2", 0.25),  # Go reads hex floats; Python's float() refused them
    (" 1.5", None),  # Go refuses what Python's float() took: whitespace, non-ASCII digits, out of range
    ("1.5\n", None),
    ("١٢", None),
    ("1e400", None),
])  # fmt: skip
def test_double_of_a_string_is_gos_parse_float(text: str, expected: float | None) -> None:
    # cel-go's double(string) is strconv.ParseFloat(s, 64), an error (no match) when it fails
    candidate = jobsim.Event("c", {"s": text})
    if expected is None:
        assert compile_expression("double(async.data.s) > 0.0")(candidate, candidate) is False  # an error
        assert compile_expression("double(async.data.s) == 0.0")(candidate, candidate) is False
    else:
        candidate = jobsim.Event("c", {"s": text, "x": expected})
        assert compile_expression("double(async.data.s) == async.data.x")(candidate, candidate) is True


def test_a_pattern_from_the_event_with_a_huge_count_or_many_brackets_is_an_error_not_a_crash() -> None:
    # int() of a 5,000-digit count raised ValueError (Python's int string limit) out of the evaluation
    for pattern in ["a{" + "9" * 5_000 + "}", "a{1," + "9" * 5_000 + "}"]:
        candidate = jobsim.Event("c", {"s": "a", "p": pattern})
        assert compile_expression("async.data.s.matches(async.data.p)")(candidate, candidate) is False
    import time

    candidate = jobsim.Event("c", {"s": "a", "p": "[" + "[:" * 50_000})  # each '[:' searched to the end
    started = time.process_time()
    assert compile_expression("async.data.s.matches(async.data.p)")(candidate, candidate) is False
    assert time.process_time() - started < 1.0


@pytest.mark.parametrize(("expression", "expected"), [
    ("-async.data.missing == false", True),  # '-_' of an unknown is false (handleUnknownCall's default)
    ("-async.data.missing", False),
    ("-async.data.missing < 0", False),  # false < 0: no such overload, an error: false
    ("-async.data.missing == null", False),
    ("-async.data.missing != 1", True),
    ("-(-async.data.missing) == false", False),  # -false: no such overload; an error == false is false
    ("-async.data.n == -5", True),
])  # fmt: skip
def test_negating_a_missing_field_gives_false_as_inngest_does(expression: str, expected: bool) -> None:
    # it gave an unknown, which '== false' did not hold against
    assert holds(expression) is expected


@pytest.mark.parametrize(("expression", "expected"), [
    ("async.data.items.exists(event, event > 2)", True),  # the item, not the run's event
    ("async.data.items.all(event, event > 2)", False),
    ("async.data.items.exists(async, async == 3) && async.data.n == 5", True),  # async again outside the macro
    ("async.data.items.filter(event, event > 1) == [3]", True),
    ("async.data.items.exists(event, event.data.n == 5)", False),  # event.data of an item: none
    ("async.data.items.exists(x, x > event.data.n)", True),  # another name: event is still the run's event (n=1)
])  # fmt: skip
def test_a_macro_variable_named_event_or_async_shadows_it_inside_the_body(expression: str, expected: bool) -> None:
    # cel-go's checker and interpreter look a comprehension's variable up first; jobsim refused the name
    event, candidate = jobsim.Event("e", {"n": 1}), jobsim.Event("c", {"n": 5, "items": [1, 3]})
    assert compile_expression(expression)(event, candidate) is expected


def test_a_macro_variable_named_as_the_accumulator_is_refused_as_cel_go_refuses_it() -> None:
    with pytest.raises(jobsim.InvalidArgument, match="iteration variable overwrites accumulator variable"):
        compile_expression("async.data.items.exists(__result__, __result__ > 1)")
