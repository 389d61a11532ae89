"""Side-effect functions of HTTP routes: the shapes respx itself only fails on deep inside.

Each case here was a bare ``AssertionError`` or ``TypeError`` raised from inside respx (or a
``RuntimeError`` from contextlib), with nothing naming the route or the fix.
"""

from __future__ import annotations

import asyncio
import gc
import re
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import jobsim
from jobsim._http import HttpSink
from jobsim.errors import InvalidArgument

from ._fakehost import FakeHost

URL = "https://api.example.com/charge"
RESULT = "it must return an httpx.Response, or None to pass the request on"


@pytest.fixture
def sink(host: FakeHost) -> Iterator[HttpSink]:
    http = HttpSink(host)
    http.install()
    yield http
    http.uninstall()


def sync_get(url: str = URL) -> httpx.Response:
    with httpx.Client() as client:
        return client.get(url)


def async_get(url: str = URL) -> httpx.Response:
    async def get() -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.get(url)

    return asyncio.run(get())


async def charge(request: httpx.Request) -> httpx.Response:
    return httpx.Response(201, json={"id": "ch_1"})


def async_message(effect: object, name: str = "") -> str:
    route = f"route {name!r}" if name else "route"
    return (
        f"jobsim: the side_effect {effect!r} of the {route} for GET {URL} is async (it returned a "
        "coroutine), but the job sent the request with a sync httpx.Client, which cannot await it; "
        "use httpx.AsyncClient in async job code, or make the side effect a plain def"
    )


# -- async side effects and sync clients --------------------------------------------------


def test_an_async_side_effect_called_from_a_sync_client_names_the_route_and_the_fix(
    sink: HttpSink, host: FakeHost
) -> None:
    sink.get(URL, name="charge").mock(side_effect=charge)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(InvalidArgument) as error:
            sync_get()
        gc.collect()
    assert str(error.value) == async_message(charge, "charge")
    assert error.value.__cause__ is None and error.value.__context__ is None
    # the coroutine jobsim refused was closed, not left for Python to warn about
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == []
    assert sink.calls[0].error is error.value
    assert host.kinds("http")[0]["error"] == f"InvalidArgument: {async_message(charge, 'charge')}"


def test_any_callable_returning_an_awaitable_counts_as_async(sink: HttpSink) -> None:
    class Charger:
        async def __call__(self, request: httpx.Request) -> httpx.Response:
            return httpx.Response(202)

    charger = Charger()
    sink.get(URL).mock(side_effect=[charger, charger])
    with pytest.raises(InvalidArgument, match=re.escape(async_message(charger))):
        sync_get()
    assert async_get().status_code == 202


def test_async_side_effects_answer_async_clients_and_sync_ones_answer_both(sink: HttpSink) -> None:
    def plain(request: httpx.Request) -> httpx.Response:
        return httpx.Response(203, json={"path": request.url.path})

    sink.get(URL).mock(side_effect=charge)
    sink.get("https://api.example.com/plain").mock(side_effect=plain)
    assert (async_get().status_code, async_get().json()) == (201, {"id": "ch_1"})
    assert [
        (r.status_code, r.json())
        for r in (sync_get("https://api.example.com/plain"), async_get("https://api.example.com/plain"))
    ] == [(203, {"path": "/plain"}), (203, {"path": "/plain"})]


def test_an_async_side_effect_returning_none_passes_the_request_on(sink: HttpSink) -> None:
    async def maybe(request: httpx.Request) -> httpx.Response | None:
        return None

    sink.get(URL).mock(side_effect=maybe)
    sink.route(host="api.example.com").respond(205)
    assert async_get().status_code == 205


def test_a_sync_job_with_an_async_side_effect_fails_its_attempts_with_the_message() -> None:
    app = jobsim.App("shop")

    @app.function("charge", on="order/placed", retries=jobsim.Retries(attempts=2, backoff="constant", min="10s"))
    def charge_order(ctx: Any) -> int:
        return ctx.step.run("charge", lambda: sync_get().status_code)

    @app.function("charge-async", on="order/placed", retries=jobsim.Retries(attempts=1))
    async def charge_async(ctx: Any) -> int:
        async def call() -> int:
            async with httpx.AsyncClient() as client:
                return (await client.get(URL)).status_code

        return await ctx.step.run("charge", call)

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.http.get(URL).mock(side_effect=charge)
        sim.send("order/placed")
        sim.run_until_idle()
    [run] = sim.runs("charge")
    assert run.status == "failed"
    assert [(a.number, a.step, a.started_at.isoformat(), str(a.error)) for a in run.attempts] == [
        (0, "charge", "2025-03-01T00:00:00+00:00", async_message(charge)),
        (1, "charge", "2025-03-01T00:00:10+00:00", async_message(charge)),
        (0, None, "2025-03-01T00:00:10+00:00", f"step 'charge' failed: InvalidArgument: {async_message(charge)}"),
    ]
    [ok] = sim.runs("charge-async")
    assert (ok.status, ok.output) == ("completed", 201)


# -- what a side effect returns ------------------------------------------------------------


# an async side effect called from a sync client is refused before it returns or raises anything
KINDS = pytest.mark.parametrize(
    ("asynchronous", "send"),
    [(False, sync_get), (False, async_get), (True, async_get)],
    ids=["def-sync-client", "def-async-client", "async-def-async-client"],
)


@KINDS
@pytest.mark.parametrize(
    "returned",
    [0, "", {}, [], 500, httpx.Request("GET", "https://other.example.com/")],
    ids=["zero", "empty-str", "empty-dict", "empty-list", "status", "other-request"],
)
def test_a_side_effect_returning_anything_but_a_response_or_none_is_a_clear_error(
    sink: HttpSink, send: Callable[[], httpx.Response], returned: object, asynchronous: bool
) -> None:
    # falsy values got past respx's own check, and async side effects had none: AssertionError

    def plain(request: httpx.Request) -> object:
        return returned

    async def awaited(request: httpx.Request) -> object:
        return returned

    effect = awaited if asynchronous else plain
    sink.get(URL).mock(side_effect=effect)
    with pytest.raises(InvalidArgument) as caught:
        send()
    assert str(caught.value) == (
        f"jobsim: the side_effect {effect!r} of the route for GET {URL} returned {returned!r}: {RESULT}"
    )
    assert caught.value.__cause__ is None  # respx's SideEffectError wrapper is not in the job's traceback


def test_a_returned_exception_says_to_raise_it(sink: HttpSink) -> None:
    def outage(request: httpx.Request) -> object:
        return httpx.ConnectError("down")

    sink.get(URL).mock(side_effect=outage)
    with pytest.raises(InvalidArgument) as caught:
        sync_get()
    assert str(caught.value) == (
        f"jobsim: the side_effect {outage!r} of the route for GET {URL} returned "
        f"ConnectError('down'): {RESULT}; to fail the request, raise the exception instead"
    )


# -- what a side effect raises ---------------------------------------------------------------


@KINDS
def test_a_stop_iteration_from_a_side_effect_is_not_a_used_up_list(
    sink: HttpSink, send: Callable[[], httpx.Response], asynchronous: bool
) -> None:
    # was a RuntimeError from contextlib (sync client) or "has used up its side_effect list" (async)
    answers: Iterator[httpx.Response] = iter([])

    def plain(request: httpx.Request) -> httpx.Response:
        return next(answers)

    async def awaited(request: httpx.Request) -> httpx.Response:
        return next(answers)

    effect = awaited if asynchronous else plain
    sink.get(URL).mock(side_effect=effect)
    with pytest.raises(InvalidArgument) as caught:
        send()
    assert str(caught.value) == (
        f"jobsim: the side_effect {effect!r} of the route for GET {URL} raised StopIteration (an iterator "
        "it reads ran out?), which respx cannot tell from its own side_effect list running out; return a "
        "response, or raise an httpx error such as httpx.ConnectError"
    )
    assert sink.unmatched == []


@pytest.mark.parametrize("send", [sync_get, async_get], ids=["sync", "async"])
def test_errors_a_side_effect_raises_reach_the_job_as_raised(
    sink: HttpSink, send: Callable[[], httpx.Response]
) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise KeyError("customer")

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down", request=request)

    sink.get(URL).mock(side_effect=[broken, down])
    with pytest.raises(KeyError, match="customer"):
        send()
    with pytest.raises(httpx.ConnectError, match=r"^down$"):
        send()
    assert [type(call.error).__name__ for call in sink.calls] == ["KeyError", "ConnectError"]


def test_path_parameters_the_function_cannot_take_are_named(sink: HttpSink) -> None:
    # respx passes each named group of the pattern as a keyword: a TypeError in the job, blaming nobody
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200)

    def with_slug(request: httpx.Request, slug: str) -> httpx.Response:
        return httpx.Response(200, json={"slug": slug})

    def with_route(request: httpx.Request, route: Any) -> httpx.Response:
        return httpx.Response(200, json={"calls": route.call_count})

    sink.get(url__regex=r"^https://api\.example\.com/orders/(?P<slug>\w+)$").mock(side_effect=answer)
    with pytest.raises(InvalidArgument) as caught:
        sync_get("https://api.example.com/orders/o1")
    assert str(caught.value) == (
        f"jobsim: the side_effect {answer!r} of the route for GET https://api.example.com/orders/o1 cannot "
        "take what respx passes it: the request and the path parameters its pattern captured (slug='o1') "
        "(got an unexpected keyword argument 'slug'); give it a parameter for each, or **kwargs"
    )
    sink.get(url__regex=r"^https://api\.example\.com/orders/(?P<slug>\w+)$").mock(side_effect=with_slug)
    assert sync_get("https://api.example.com/orders/o2").json() == {"slug": "o2"}
    sink.get(URL).mock(side_effect=with_route)  # respx's route= keyword still reaches it
    assert [sync_get().json(), async_get().json()] == [{"calls": 0}, {"calls": 1}]


@pytest.mark.parametrize(
    ("effect", "refusal"),
    [
        (
            httpx.HTTPStatusError,
            "TypeError: HTTPStatusError.__init__() missing 1 required positional argument: 'message'",
        ),
        (UnicodeDecodeError, "TypeError: function takes exactly 5 arguments (0 given)"),
    ],
)
def test_an_exception_class_respx_cannot_build_is_refused_where_declared(
    sink: HttpSink, effect: type[Exception], refusal: str
) -> None:
    route = sink.get(URL).respond(204)
    with pytest.raises(InvalidArgument) as caught:
        route.mock(side_effect=[httpx.Response(500), effect])
    assert str(caught.value) == (
        f"side_effect=[<Response [500 Internal Server Error]>, {effect!r}] is not valid: an exception class "
        "respx can build (it calls the class with no arguments, or with a message and the request for "
        f"httpx's request errors); {effect.__name__} refused ({refusal}); pass an instance instead, or a "
        "function taking the request that raises it"
    )
    assert sync_get().status_code == 204
    route.mock(side_effect=[httpx.ReadTimeout, KeyError])  # classes it can build are still fine
    with pytest.raises(httpx.ReadTimeout, match=r"^Mock Error$"):
        sync_get()
    with pytest.raises(KeyError):
        sync_get()
