"""``jobsim.answer_lost`` and ``jobsim.delayed`` refuse, where they are written, what would fail inside the job.

``answer_lost(200, json={"amount": nan})`` was httpx's bare ``ValueError`` (``headers=3`` a ``TypeError``), and a
server function that cannot take the request, or an ``async def`` one, failed each attempt with a ``TypeError``
(the coroutine never awaited) inside the job instead of at the line that armed it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

import jobsim

_HTTPX = ("what httpx.Response accepts: json= plain JSON data (no NaN or infinity), content= str or bytes, "
          "headers= a dict or a list of (name, value) pairs of str")


@pytest.mark.parametrize("make, message", [
    (lambda: jobsim.answer_lost(200, json={"amount": float("nan")}),
     f"json={{'amount': nan}} is not valid: {_HTTPX} (ValueError: Out of range float values are not JSON compliant"),
    (lambda: jobsim.answer_lost(200, headers=3),
     f"headers=3 is not valid: {_HTTPX} (TypeError: 'int' object is not iterable"),
    (lambda: jobsim.delayed("1s", 200, json=[float("inf")]),
     f"json=[inf] is not valid: {_HTTPX} (ValueError: Out of range float values are not JSON compliant"),
])  # fmt: skip
def test_a_body_httpx_cannot_build_is_named_where_it_is_given(make: Any, message: str) -> None:
    with pytest.raises(jobsim.InvalidArgument) as info:
        make()
    assert str(info.value).startswith(message) and str(info.value).endswith(")")  # 3.13's json adds ": nan"


async def _async_server(request: Any) -> None:
    return None


@pytest.mark.parametrize("server, why", [
    (lambda: None, "a function taking the request and returning the server's response (too many positional "
                   "arguments)"),
    (_async_server, "a function taking the request and returning the server's response, a plain function: jobsim "
                    "calls it without awaiting, so an `async def` would give back a coroutine that never runs"),
])  # fmt: skip
def test_a_server_function_of_the_wrong_shape_is_refused_where_it_is_given(server: Any, why: str) -> None:
    with pytest.raises(jobsim.InvalidArgument, match=rf"^response=<function .*> is not valid: {re.escape(why)}$"):
        jobsim.answer_lost(server)


def test_a_server_function_that_takes_the_request_is_still_taken() -> None:
    lost = jobsim.answer_lost(lambda request: None, times=1)
    assert lost.times == 1
