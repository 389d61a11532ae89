"""Text jobsim scans with regular expressions costs time linear in its length.

A regular-expression scan (``finditer``, ``findall``, ``sub``) tries every start; a pattern
whose first run can take the rest of a long run of its characters, then backtrack through
it, makes that quadratic. Five such scans turned long input into what looked like a hang:
redacting an address followed by a 20,000-character token (10 s; 200,000: about 17 min),
a duration of 8,000 digits (10 s), a multipart ``Content-Type`` with a long word, an
SMTP path of quotes (exponential: 60 quotes, hours), and an ``if=`` expression with an
unclosed string of escaped quotes (8,000 characters: 0.4 s; 32,000: 6 s). Each is rewritten to scan once; the
rewrites find exactly what the patterns found (the equivalence tests below, and
``test_trace_save_same_bytes``).
"""

import re
import subprocess
import sys
import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

from jobsim._expr import split_strings
from jobsim._mailfields import _PARAM
from jobsim._secrets import EMAIL, SHORT_TEXT, email_matches, email_sub

LONG = 200_000


def test_long_input_is_scanned_in_linear_time():
    """Each input here takes the quadratic scans minutes to hours; linear ones, milliseconds. A subprocess with a
    generous limit (its import alone is most of the time) tells the two apart without timing anything closely."""
    program = textwrap.dedent(f"""
        import jobsim
        import jobsim._expr
        from jobsim._mailfields import _params
        from jobsim._secrets import email_sub
        from jobsim._smtp import _path
        from jobsim._time import duration_ns

        token = "a" * {LONG}
        assert email_sub(lambda m: "<fake>", "ada@example.com " + token) == "<fake> " + token
        assert email_sub(lambda m: "<fake>", "a%40" * ({LONG} // 4)).count("<fake>") == 0
        assert _params("multipart/form-data; " + token) == {{}}
        assert _path("TO:<" + '"' * {LONG}) is None
        try:
            duration_ns("1" * {LONG})
        except jobsim.InvalidArgument as error:
            assert len(str(error)) < 2_000, "the value is shown once, cut short"
        else:
            raise AssertionError("a duration of digits without a unit was taken")
        try:
            jobsim._expr.compile_expression('event.data.a == "' + '\\\\"' * ({LONG} // 2))
        except jobsim.InvalidArgument:
            pass
        else:
            raise AssertionError("an unclosed string literal was taken")
        # CEL names and numbers read for Python (keywords, reserved words, '1.size()'), adjacent literals
        for source in ["." + " " * {LONG} + "x", "1" * {LONG} + ".", ". " * ({LONG} // 2), "'a' " * ({LONG} // 4)]:
            try:
                jobsim._expr.cel_as_python(source, "if_exp")
            except jobsim.InvalidArgument:
                pass
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


def _texts(*pieces: str) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(pieces), max_size=20).map("".join)


_TEXTS = _texts("a", "Z", "1", "é", "@", "%40", "%4", ".", "-", "+", "_", " ", ".com", ".de", "x@y")


@settings(max_examples=1_000, deadline=None)
@given(_TEXTS)
def test_email_matches_finds_what_the_pattern_finds(text):
    assert [m.span() for m in email_matches(text)] == [m.span() for m in EMAIL.finditer(text)]
    for whole in (text, text + " " * SHORT_TEXT, "a." * SHORT_TEXT + text):  # short ones go to EMAIL.sub itself
        assert email_sub(lambda m: f"<{m.group(0)}>", whole) == EMAIL.sub(lambda m: f"<{m.group(0)}>", whole)


_PARAM_SCANNED_FROM_EVERY_START = re.compile(r'(\w+)\*?="((?:[^"\\]|\\.)*)"|(\w+)=([^;\s]+)')


@settings(max_examples=1_000, deadline=None)
@given(_texts("a", "b", "1", "é", "=", '"', "\\", ";", " ", "*", "x=y", 'n="v"'))
def test_a_content_type_parameter_is_found_where_the_pattern_without_the_word_start_found_it(header):
    assert _PARAM.findall(header) == _PARAM_SCANNED_FROM_EVERY_START.findall(header)


def test_a_long_duration_is_shown_once_in_every_message():
    """The bare-number message cut the value short (above), but its siblings each repeated the whole value: a
    duration of 20,000 characters ending in a bare number, or in upper case, gave a message of 30,000-50,000."""
    import jobsim
    from jobsim._time import duration_ns

    for value in ["1s" * 10_000 + "1", "1s " * 7_000 + "1", "5 Minutes" * 3_000, "5 minutes" * 3_000 + "1"]:
        try:
            duration_ns(value)
        except jobsim.InvalidArgument as error:
            assert len(str(error)) < 2_000, (len(value), len(str(error)))
        else:
            raise AssertionError(f"{value[:20]!r}... was taken")


_STRINGS_SCANNED_FROM_EVERY_QUOTE = re.compile(r"""("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')""")


@settings(max_examples=2_000, deadline=None)
@given(_texts("a", "=", " ", '"', "'", "\\", "\n", "\r", "é", '\\"', "\\'", "\\\n", "\\\\", '"x"', "'y'"))
def test_an_expression_is_split_where_the_string_pattern_split_it(expr):
    """``split_strings`` (an ``if=`` expression's code and string literals) gives what ``re.split`` gave with the
    pattern it replaced, which took quadratic time on an unclosed literal of escaped quotes (8,000 characters: 1 s)."""
    assert split_strings(expr) == _STRINGS_SCANNED_FROM_EVERY_QUOTE.split(expr)
