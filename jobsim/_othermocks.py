"""HTTP mocks of other libraries that a test has active while it drives job code.

responses patches ``requests.adapters.HTTPAdapter.send``, requests-mock ``requests.Session.send``
and pytest-httpx ``httpx.HTTPTransport.handle_request`` (and the async one): each sits above the
call jobsim's HTTP bridges replace (urllib3's ``_make_request``, httpcore's pools). A job's request
they answered never reached the sink: no route of ``sim.http`` was asked, nothing went into
``sim.http.calls`` or the trace, no virtual time was spent, and a request they did not know failed
with their own error (responses' "Connection refused by Responses"), retried as a network failure.
The test passed or failed on the other mock's answers, with nothing saying so.

For the length of each driving call, a patch of theirs found at one of those places is wrapped:
a call from job code that the mock answers (or fails) without the request reaching jobsim's
router is refused with ``UnsupportedFeature``, naming the mock, the request and the way out. A
mock that passes the request on (responses' ``add_passthru``, requests-mock's ``real_http=True``,
pytest-httpx's ``should_mock``) reaches the sink, and the call goes on as usual; so do the test's
own calls between driving calls, and calls from other threads.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from .errors import UnsupportedFeature

if TYPE_CHECKING:
    from ._host import Host

_REACHED: ContextVar[list[bool] | None] = ContextVar("jobsim_other_mock_reached", default=None)
"""Set while job code's request is inside another library's mock: jobsim's router marks it when reached."""

_MOCKS = (
    # (module, class, method, the mocking package, what the test has on, how to leave job code's requests to jobsim)
    ("requests.adapters", "HTTPAdapter", "send", "responses", "responses (@responses.activate, responses.RequestsMock)",
     "let responses pass them on (responses.add_passthru('{origin}')), or activate it only around the test's own "
     "requests"),
    ("requests.sessions", "Session", "send", "requests_mock", "requests-mock (the requests_mock fixture, "
     "requests_mock.Mocker)", "let requests-mock pass them on (no route of its own for them, "
     "and requests_mock.Mocker(real_http=True)), or keep it out of tests that drive jobs"),
    ("httpx._transports.default", "HTTPTransport", "handle_request", "pytest_httpx",
     "pytest-httpx (the httpx_mock fixture)", "let pytest-httpx pass them on "
     "(@pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != '{host}')), or keep httpx_mock out "
     "of tests that drive jobs"),
    ("httpx._transports.default", "AsyncHTTPTransport", "handle_async_request", "pytest_httpx",
     "pytest-httpx (the httpx_mock fixture)", "let pytest-httpx pass them on "
     "(@pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != '{host}')), or keep httpx_mock out "
     "of tests that drive jobs"),
)


def reached() -> None:
    """jobsim's router got the request: the mock it went through passed it on."""
    marks = _REACHED.get()
    if marks is not None:
        marks.append(True)


def guard(host: Host) -> list[tuple[type, str, Any, Any]]:
    """Wrap the other mocks active now, for one driving call; ``unguard`` puts them back after it."""
    wrapped: list[tuple[type, str, Any, Any]] = []
    for module_name, class_name, method, package, what, fix in _MOCKS:
        mocker = sys.modules.get(package)
        if mocker is None:  # the usual case: a dict look-up per place
            continue
        cls: Any = getattr(sys.modules.get(module_name), class_name, None)
        patched = vars(cls).get(method) if isinstance(cls, type) else None
        if patched is None or not _defined_in(patched, mocker):
            continue
        wrapper = _guard(host, patched, what, fix)
        setattr(cls, method, wrapper)
        wrapped.append((cls, method, patched, wrapper))
    return wrapped


def unguard(wrapped: list[tuple[type, str, Any, Any]]) -> None:
    for cls, method, patched, wrapper in reversed(wrapped):
        if vars(cls).get(method) is wrapper:
            setattr(cls, method, patched)


def _defined_in(function: Any, package: Any) -> bool:
    """``function`` is the mocking package's own code (not the library's, nor a wrapper that calls it)."""
    code = getattr(inspect.unwrap(function), "__code__", None)
    folder = os.path.dirname(getattr(package, "__file__", None) or "")
    return code is not None and bool(folder) and os.path.abspath(code.co_filename).startswith(folder + os.sep)


def _guard(host: Host, patched: Any, what: str, fix: str) -> Any:
    if inspect.iscoroutinefunction(patched):

        @functools.wraps(patched)
        async def guard_async(*args: Any, **kwargs: Any) -> Any:
            if not host.in_job_code():
                return await patched(*args, **kwargs)
            with _watched(args, what, fix):
                return await patched(*args, **kwargs)

        return guard_async

    @functools.wraps(patched)
    def guard(*args: Any, **kwargs: Any) -> Any:
        if not host.in_job_code():
            return patched(*args, **kwargs)
        with _watched(args, what, fix):
            return patched(*args, **kwargs)

    return guard


@contextlib.contextmanager
def _watched(args: tuple[Any, ...], what: str, fix: str) -> Iterator[None]:
    """Job code's call of the mock: refused unless the mock passed the request on to jobsim's sink."""
    marks: list[bool] = []
    token = _REACHED.set(marks)
    try:
        yield
    except BaseException as error:
        _REACHED.reset(token)
        _refuse_unless(marks, args, what, fix, error)
        raise
    _REACHED.reset(token)
    _refuse_unless(marks, args, what, fix, None)


def _refuse_unless(marks: list[bool], args: tuple[Any, ...], what: str, fix: str, error: BaseException | None) -> None:
    if marks:  # the mock passed the request on to jobsim's sink
        return
    request = next((arg for arg in args if hasattr(arg, "method") and hasattr(arg, "url")), None)
    import httpx

    url = httpx.URL(str(getattr(request, "url", "") or "https://example.com/"))
    method = str(getattr(request, "method", "GET") or "GET").upper()
    shown = f"{method} {url}"
    said = str(error).strip().splitlines()[0] if error is not None and str(error).strip() else ""
    how = "answered" if error is None else f"refused ({type(error).__name__}{': ' + said if said else ''})"
    helper = method.lower() if method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS") else None
    route = f"sim.http.{helper}({str(url.copy_with(query=None))!r})" if helper else f"sim.http.request({method!r}, ...)"
    origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
    raise UnsupportedFeature(
        f"jobsim: job code's request {shown} was {how} by {what}, which this test has active: it sits above "
        "jobsim's HTTP sink, so the request never reached sim.http (its routes, sim.http.calls, the trace and "
        f"virtual time all missed it). Answer job code's requests on the simulation ({route}.respond(...); "
        f"the `jobsim` fixture's jobsim.http) and {fix.format(origin=origin, host=url.host)}.",
        feature="another HTTP mock",
    ) from error
