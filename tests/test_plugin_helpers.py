"""The helpers jobsim.hooks gives backend plugins (each plugin had its own copy)."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from _deep import nested

from jobsim.errors import JobsimError
from jobsim.hooks import escapes, output_bytes, refusing_handler


def test_output_bytes_is_json_with_what_json_cannot_hold_as_text():
    when = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
    assert orjson.loads(output_bytes({1: when, "n": [1, 2.5]})) == {"1": "2025-03-01T00:00:00+00:00", "n": [1, 2.5]}


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("half-built")

    __str__ = __repr__


@pytest.mark.parametrize(("value", "stored"), [
    (10**30, b"1000000000000000000000000000000"),  # past 64 bits: orjson's TypeError, and the run had no output
    ({"n": -(10**20), "at": dt.date(2025, 3, 1)}, b'{"n":-100000000000000000000,"at":"2025-03-01"}'),
    (_Unprintable(), b'"<_Unprintable object (its repr raised RuntimeError)>"'),
    (nested(300), None),  # past orjson's 254 levels
])  # fmt: skip
def test_output_bytes_keeps_an_output_orjson_refuses(value, stored):
    out = output_bytes(value)
    assert out == stored if stored is not None else out.startswith(b'{"a":{"a":{"a":')


def test_a_refusing_handler_raises_its_message_when_an_event_reaches_it():
    with pytest.raises(JobsimError, match=r"^task 'x' runs from beat$"):
        refusing_handler("task 'x' runs from beat")(None)


@pytest.mark.parametrize(
    ("error", "leaves"),
    [
        (JobsimError("a budget"), True), (KeyboardInterrupt(), True), (GeneratorExit(), True),
        (ValueError("job code"), False), (SystemExit(2), False), (None, False),
    ],
)  # fmt: skip
def test_escapes_lets_jobsims_own_errors_and_interrupts_leave_a_plugins_worker(error, leaves):
    assert escapes(error) is leaves
