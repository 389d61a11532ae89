"""CEL arithmetic, map literals, string(), comments, triple-quoted and raw literals and comparison chains in
``if_exp`` (``jobsim._celarith``, ``jobsim._cellex``), as Inngest evaluates them (``pkg/expressions/unknown.go``,
``exprenv/overloads.go``, cel-go v0.27.0 ``common/types``). Every case here was refused before (a generic "expected
a CEL-like expression") or read otherwise."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import jobsim
from jobsim._expr import compile_expression

EVENT = jobsim.Event("e", {"n": 5, "amount": 2.5, "s": "ab", "nums": [1, 2], "nested": {"k": 3}, "nothing": None})
INT_MAX, INT_MIN = 2**63 - 1, -(2**63)


def holds(expression: str, **options: bool) -> bool:
    return compile_expression(expression, **options)(EVENT, EVENT)


@pytest.mark.parametrize("expression", [
    "1 + 2 == 3", "5 - 7 == -2", "6 * 7 == 42", "7 / 2 == 3", "7 % 3 == 1",
    "-7 / 2 == -3", "7 / -2 == -3", "-7 % 3 == -1", "7 % -3 == 1",  # Go truncates toward zero; % keeps a's sign
    "1.5 + 1.5 == 3.0", "1.0 / 4.0 == 0.25", "2.0 * -1.5 == -3.0",
    "1 + 2 * 3 == 7", "(1 + 2) * 3 == 9", "10 - 2 - 3 == 5", "2 * 3 % 4 == 2", "-2 * 3 == -6", "100 / 10 / 5 == 2",
    "1 + 1 > 1", "1 + 2 in [3]",  # arithmetic binds tighter than comparisons and 'in'
    "'a' + 'b' == 'ab'", "[1] + [2] == [1, 2]", "event.data.nums + [3] == [1, 2, 3]",
    "-(1 + 2) == -3", "-event.data.n == -5.0",
])  # fmt: skip
def test_arithmetic_on_literals_and_fields(expression: str) -> None:
    assert holds(expression) is True


@pytest.mark.parametrize(("expression", "expected"), [
    ("event.data.n * 2 == 10", False),  # an event's 5 is a JSON double: double * int is no such overload
    ("event.data.n * 2.0 == 10.0", True),
    ("event.data.amount * 2.0 == 5.0", True),
    ("event.data.n - 1.0 == 4.0", True),
    ("event.data.n + 1 == '51'", True),  # two types: Inngest joins their %v
    ("event.data.n + 1.0 == 6.0", True),
    ("event.data.nested.k / 2.0 == 1.5", True),
    ("event.data.nums[0] * 3.0 == 3.0", True),
    ("event.data.nums.map(x, x * 2.0) == [2.0, 4.0]", True),  # an event list's numbers are doubles in a macro too
    ("event.data.nums.map(x, x * 2) == [2, 4]", False),
    ("[1, 2].map(x, x * 2) == [2, 4]", True),  # a literal list's are ints
    ("int(event.data.n) * 2 == 10", True),
    ("size(event.data.s) * 2 == 4", True),
])  # fmt: skip
def test_an_events_numbers_are_doubles_in_arithmetic(expression: str, expected: bool) -> None:
    assert holds(expression) is expected


@pytest.mark.parametrize(("expression", "expected"), [
    ("1 + 1.0 == '11'", True), ("'a' + 1 == 'a1'", True), ("true + 1 == 'true1'", True),
    ("1.5 + 1 == '1.51'", True), ("null + 'a' == 'NULL_VALUEa'", True), ("1000000.0 + 'x' == '1e+06x'", True),
    ("true + true == 'truetrue'", False), ("true + true == true", False),  # one type, no Adder: an error
    ("'a' + b'ab' == 'a[97 98]'", True), ("b'' + 1 == '[]1'", True),  # Go's %v of a []byte: its byte values
])  # fmt: skip
def test_plus_of_two_types_joins_their_go_strings(expression: str, expected: bool) -> None:
    assert holds(expression) is expected


@pytest.mark.parametrize(("expression", "expected"), [
    ("event.data.missing + 1 == 1", True),  # handleUnknownCall: '+' gives the other operand
    ("'x' + event.data.missing == 'x'", True),
    ("event.data.missing + event.data.other == false", True),  # both unknown: false
    ("event.data.missing - 1 == false", True),  # any other arithmetic: the concrete false
    ("event.data.missing * 2 > 0", False),  # false > 0: an error
    ("-event.data.missing == false", True),
    ("-event.data.missing < 5", False),  # was true: the unknown itself is less than anything
    ("event.data.nothing - 1 == -1", False),  # null arithmetic: an error (no zero value for '-')
    ("event.data.nothing + 'a' == 'NULL_VALUEa'", True),
])  # fmt: skip
def test_a_missing_field_or_null_under_arithmetic(expression: str, expected: bool) -> None:
    assert holds(expression) is expected


@pytest.mark.parametrize(("expression", "expected"), [
    ("1 / 0 == 0", False), ("1 / 0 != 0", True),  # an error, which '!=' answers true as for an unknown
    ("1 % 0 == 0", False),
    (f"{INT_MAX} + 1 > 0", False), (f"{INT_MAX} + 1 != 0", True),
    (f"{INT_MAX} + 1 < 0", True),  # handleUnknownCall: an error on the left of '<' is less than anything
    (f"-{INT_MAX} - 2 > 0", False), (f"{INT_MAX} * 2 > 0", False), (f"0 < {INT_MAX} * 2", False),
    ("-9223372036854775808 / -1 > 0", False), ("-9223372036854775808 % -1 == 0", False),
    ("-(-9223372036854775807 - 1) > 0", False),  # negating int64's minimum overflows
    (f"-9223372036854775808 == -{INT_MAX} - 1", True),  # the minimum is an int literal
    ("1.0 / 0.0 == double('inf')", True), ("-1.0 / 0.0 == double('-inf')", True),
    ("0.0 / 0.0 == 0.0 / 0.0", False), ("0.0 / 0.0 != 0.0 / 0.0", True),  # NaN
    ("1.0 / -0.0 < 0.0", True),
    ("event.data.amount / 0.0 > 1e308", True),
])  # fmt: skip
def test_overflow_and_division_by_zero(expression: str, expected: bool) -> None:
    assert holds(expression) is expected


@pytest.mark.parametrize(("expression", "why"), [
    ("'a' * 2 == 'aa'", "no overload of '*' for (string, int)"),
    ("1 - 1.0 == 0.0", "no overload of '-' for (int, double)"),
    ("1.5 % 2.0 == 1.5", "no overload of '%' for (double, double)"),
    ("event.data.n % 2.0 == 1.0", "no overload of '%' for (dyn, double)"),
    ("-'a' == 'a'", "no overload of '-' for (string)"),
    ("-true == false", "no overload of '-' for (bool)"),
    ("(1 + 2) * 'a' == 1", "no overload of '*' for (dyn, string)"),
    ("(1 - 2) * 2.0 == 1.0", "no overload of '*' for (int, double)"),
    ("size(1 - 2) == 0", "no overload of size for a int"),
    ("[1] - [1] == []", "no overload of '-' for (list, list)"),
    ("9223372036854775808 == 0", "outside CEL's int64 range"),
    ("1e400 > 0.0", "beyond float64's range"),
])  # fmt: skip
def test_a_literal_type_error_is_refused_at_compile_time(expression: str, why: str) -> None:
    with pytest.raises(jobsim.InvalidArgument, match="if_exp=") as caught:
        compile_expression(expression)
    assert why in str(caught.value)


@pytest.mark.parametrize("expression", ["event.data.a + 1 == async.data.b", "event.data.a * 2 > 1",
                                        "event.data.a % 2 == 0", "'x' + event.data.s == async.data.s",
                                        "string(event.data.a) == async.data.a"])  # fmt: skip
def test_a_cancellations_condition_refuses_arithmetic_and_string(expression: str) -> None:
    # validation.go : DefaultRestrictiveValidationPolicy: mathFnNames are refused, typeConvFnNames are int, uint, double
    with pytest.raises(jobsim.InvalidArgument, match="DefaultRestrictiveValidationPolicy"):
        compile_expression(expression, "if_exp", restricted=True)
    assert compile_expression(expression)  # a wait's if_exp takes it


@given(st.integers(INT_MIN, INT_MAX), st.integers(INT_MIN, INT_MAX), st.sampled_from("+-*/%"))
def test_int_arithmetic_is_go_int64_arithmetic(a: int, b: int, op: str) -> None:
    """Within int64 the result is Go's (division truncates toward zero, % takes the dividend's sign); outside it, or
    a division by zero, an error: no match for '==' against any value, and a match for '!='."""
    exact = {"+": a + b, "-": a - b, "*": a * b}.get(op)
    if op in "/%" and b != 0:
        quotient = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
        exact = quotient if op == "/" else a - b * quotient
    left = f"({a}) {op} ({b})"
    if exact is None or not INT_MIN <= exact <= INT_MAX:
        assert holds(f"{left} == 0") is False and holds(f"{left} != 0") is True and holds(f"{left} > 0") is False
    else:
        assert holds(f"{left} == ({exact})") is True and holds(f"{left} != ({exact})") is False


@given(st.floats(allow_nan=False, width=64), st.floats(allow_nan=False, width=64), st.sampled_from("+-*/"))
def test_double_arithmetic_is_ieee(a: float, b: float, op: str) -> None:
    import math

    if op == "/" and b == 0:
        exact = math.nan if a == 0 else math.copysign(math.inf, a) * math.copysign(1.0, b)
    else:
        exact = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else 0.0}[op]
    event = jobsim.Event("e", {"a": a, "b": b, "x": exact})
    same = compile_expression(f"async.data.a {op} async.data.b == async.data.x")(event, event)
    assert same is (exact == exact)  # NaN equals nothing


@pytest.mark.parametrize(("expression", "expected"), [
    ("{'a': 1}['a'] == 1", True), ("{'a': 1}.a == 1", True), ("{'a': 1}['b'] == 1", False),
    ("{'a': 1}['b'] == null", True),  # an error (no such key) against null: true, as for an unknown
    ("'a' in {'a': 1}", True), ("'b' in {'a': 1}", False), ("1 in {1: 'x'}", True), ("1.0 in {1: 'x'}", True),
    ("true in {1: 'x'}", False), ("1 in {true: 'x'}", False), ("true in {true: 'x'}", True),
    ("{1: 'x'}[1] == 'x'", True), ("{1: 'x'}[1.0] == 'x'", True), ("{-1: 'x'}[-1] == 'x'", True),
    ("size({'a': 1, 'b': 2}) == 2", True), ("{'a': 1}.size() == 1", True), ("size({}) == 0", True),
    ("{'a': 1} == {'a': 1}", True), ("{'a': 1} == {'a': 2}", False), ("{'a': 1, 'a': 2} == {'a': 2}", True),
    ("{'a': 1, 'b': 2}.all(k, k in ['a', 'b'])", True), ("{'a': 1}['a'] * 2 == 2", True),  # ints stay ints
    ("{'a': event.data.s}.a == 'ab'", True), ("{'a': event.data.n}.a * 2.0 == 10.0", True),
    ("size({'a': event.data.missing}) == 0", True),  # a value unknown: the map is unknown, size 0
    ("has({'a': 1}.a)", True), ("event.data.s in {'ab': 1}", True),
])  # fmt: skip
def test_map_literals(expression: str, expected: bool) -> None:
    assert holds(expression) is expected


@pytest.mark.parametrize(("expression", "why"), [
    ("{event.data.s: 1} == {}", "keys are string, int or bool literals"),
    ("{1.5: 1} == {}", "keys are string, int or bool literals"),
    ("{null: 1} == {}", "keys are string, int or bool literals"),
    ("{true: 1, 1: 2} == {}", "two keys in CEL"),
    ("size({'a': 1}) == size(1)", "no overload of size"),
])  # fmt: skip
def test_map_literals_jobsim_cannot_read_are_refused(expression: str, why: str) -> None:
    with pytest.raises(jobsim.InvalidArgument, match="if_exp=") as caught:
        compile_expression(expression)
    assert why in str(caught.value)


@pytest.mark.parametrize(("expression", "expected"), [
    ("string(1) == '1'", True), ("string(-5) == '-5'", True), ("string(true) == 'true'", True),
    ("string('x') == 'x'", True), ("string(1.5) == '1.5'", True), ("string(1000000.0) == '1e+06'", True),
    ("string(0.0001) == '0.0001'", True), ("string(0.00001) == '1e-05'", True), ("string(2.0) == '2'", True),
    ("string(event.data.n) == '5'", True),  # the JSON double 5
    ("string(1.0 / 0.0) == '+Inf'", True), ("string(b'abc') == 'abc'", True), ("string(b'\\xff') == ''", False),
    ("string(event.data.nums) == ''", False), ("string(event.data.nothing) == ''", False),  # errors
    ("string(event.data.missing) == false", True),  # handleUnknownCall: false
])  # fmt: skip
def test_string_conversion(expression: str, expected: bool) -> None:
    assert holds(expression) is expected


@pytest.mark.parametrize("expression", ["string(null) == ''", "string([1]) == ''", "string({}) == ''"])
def test_string_of_a_literal_it_cannot_convert_is_refused(expression: str) -> None:
    with pytest.raises(jobsim.InvalidArgument, match="no overload of string"):
        compile_expression(expression)


@pytest.mark.parametrize(("expression", "expected"), [
    ("event.data.n == 5.0 // a comment", True),
    ("// first line\nevent.data.n == 5.0", True),
    ("event.data.n == 5.0 // it's a comment with a quote\n&& event.data.s == 'ab'", True),
    ("event.data.n == 5.0 // 'closed' \"too\"\n&& event.data.s == 'x'", False),
    ("event.data.s + '//' == 'ab//'", True),  # inside a literal it is no comment
    ("event.data.n == 5.0\n  && event.data.s == 'ab'", True),  # a line break is whitespace
    ("event.data.n ==\t5.0\r\n&& true", True),
    ("'''a'b''' == \"a'b\"", True), ('"""x\ny""" == \'x\\ny\'', True), ("'''\\n''' == '\\n'", True),
    ("'''a''' + '''b''' == 'ab'", True), ("b'''ab''' == b'ab'", True),
    ("r'a\\' == 'a\\\\'", True),  # a raw literal's backslash escapes nothing, not even its closing quote
    ('r"\\" + "x" == "\\\\x"', True), ("r'''\\d+''' == '\\\\d+'", True), ("R'it\"s' == 'it\"s'", True),
    ("br'\\x' == b'\\\\x'", True), ("r'a\\nb'.size() == 4", True),
])  # fmt: skip
def test_comments_line_breaks_triple_quoted_and_raw_literals(expression: str, expected: bool) -> None:
    assert holds(expression) is expected


@pytest.mark.parametrize(("expression", "why"), [
    ("'''abc == 'x'", "never closed"), ("'''a\\\nb''' == 'x'", "backslash before a line break"),
    ("rb'x' == b'x'", "prefix is r (raw), b (bytes) or br"), ("~event.data.b", "'~' is no CEL operator"),
])  # fmt: skip
def test_lexical_errors_are_refused(expression: str, why: str) -> None:
    with pytest.raises(jobsim.InvalidArgument, match="if_exp=") as caught:
        compile_expression(expression)
    assert why in str(caught.value)


@pytest.mark.parametrize(("expression", "expected"), [
    ("event.data.s in ['ab'] == true", True),  # (x in list) == true, as CEL's grammar nests it
    ("event.data.s in ['zz'] == false", True),
    ("event.data.n == 5.0 == true", True), ("event.data.n == 4.0 == false", True),
    ("event.data.n == 5.0 == 5.0", False),  # (true) == 5.0: CEL's reading, not Python's chain
    ("1 < 2 == true", True), ("1 == 1 != false", True), ("1 == 1 in [true]", True), ("1 < 2 < true", False),
    ("!event.data.missing == true", False),  # (!unknown) == true: '!' binds tighter than '=='
    ("!false == true", True), ("!(1 == 2)", True), ("!!true", True),
])  # fmt: skip
def test_comparison_chains_nest_as_cel_reads_them(expression: str, expected: bool) -> None:
    assert holds(expression) is expected


@pytest.mark.parametrize("expression", ["1 < event.data.n < 10", "event.data.a == 1 <= 2", "1 < 2 > 0"])
def test_a_chain_ordering_a_bool_against_a_non_bool_is_still_refused(expression: str) -> None:
    with pytest.raises(jobsim.InvalidArgument, match="CEL reads 'a < b < c' as '\\(a < b\\) < c'"):
        compile_expression(expression)


def test_arithmetic_in_a_wait_for_event_matches_in_a_simulation() -> None:
    app = jobsim.App("a")

    @app.function("checkout", on="order")
    def checkout(ctx):
        got = ctx.step.wait_for_event("paid", event="pay", timeout="1h",
                                      if_exp="async.data.cents / 100.0 >= event.data.total * 1.0 - 0.5")
        return got and got.data["cents"]

    with jobsim.Simulation(app) as sim:
        sim.send("order", {"total": 10})
        sim.advance("1s")
        sim.send("pay", {"cents": 900})
        sim.send("pay", {"cents": 960})
        sim.run_until_idle()
    assert sim.runs("checkout")[0].output == 960


BIG = jobsim.Event("e", {"id": 2**53 + 1, "ids": [2**53 + 1]})


@pytest.mark.parametrize(("expression", "expected"), [
    ("event.data.id == 9007199254740993", True),  # the JSON double 2**53 against the int: cel-go's compareDoubleInt
    ("event.data.id != 9007199254740993", False),  # converts the int to a double, 2**53 too
    ("event.data.id < 9007199254740993", False), ("event.data.id >= 9007199254740993", True),
    ("9007199254740993 <= event.data.id", True), ("9007199254740993 > event.data.id", False),
    ("9007199254740993 in event.data.ids", True), ("event.data.ids == [9007199254740993]", True),
    ("9007199254740993 == 9007199254740992.0", True), ("9007199254740993 == 9007199254740994.0", False),
    ("event.data.id == 9007199254740995", False), ("event.data.id < 9007199254740995", True),
])  # fmt: skip
def test_int_against_double_compares_as_two_doubles(expression: str, expected: bool) -> None:
    """An event's large integer ID (above 2**53) is a rounded double in Inngest, and cel-go compares an int with a
    double by converting the int (``common/types/compare.go``): the ID written in full still equals it."""
    assert compile_expression(expression)(BIG, BIG) is expected
