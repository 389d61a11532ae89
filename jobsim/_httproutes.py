"""Routes checked when declared: ``checked_route`` builds every route of ``sim.http`` as a ``_Route``.

respx checks little when a route is declared: a misspelt pattern is a KeyError from deep in
respx.patterns, a wrong side effect or status fails only when a request arrives, inside the
job. Here pattern names, lookups and values, side effects, statuses and return values raise
``InvalidArgument`` at the test's line, naming what they accept. What a side-effect *function*
does can only be seen when it is called: ``_httpeffects`` calls it as respx would and names what
respx would only assert on (an ``async def`` reached from a sync client, a result that is not a
response).
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import respx
from respx.patterns import Lookup, M, PathPattern, Pattern

from ._checks import keywords_checked
from ._httpeffects import call_side_effect, check_exception_class
from ._httplost import answer_lost, check_one_body
from ._httptime import delayed, timeout
from .errors import InvalidArgument

_PATTERNS = ", ".join(sorted(Pattern.registry))
_STATUS = "an int status code from 100 to 599"
_SIDE_EFFECT = ("a function taking the request (returning an httpx.Response, or None to pass "
                "the request on), an exception instance or class, an httpx.Response, or a list "
                "of those")
_SCALARS: dict[str, tuple[type, str]] = {
    "method": (str, "an HTTP method such as 'POST'"), "scheme": (str, "a scheme such as 'https'"),
    "host": (str, "a host name such as 'api.example.com'"),
    "path": (str, "a path such as '/v1/orders'"), "port": (int, "a port number (int)"),
}


def _check_status(name: str, status: Any) -> None:
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise InvalidArgument.build(name, status, _STATUS)


def _check_pattern(pattern: Any) -> None:
    if not isinstance(pattern, Pattern):
        raise InvalidArgument.build("pattern", pattern, "a respx pattern such as "
                                    "respx.patterns.M(host='api.example.com'); or pass lookups "
                                    f"as keywords, one of: {_PATTERNS}")


def _check_lookup(key: str, value: Any) -> None:
    """One keyword of ``route(...)``: a respx pattern name, optional ``__lookup``, a value it takes."""
    name, _, rest = key.partition("__")
    kind = Pattern.registry.get(name)
    if kind is None:
        close = difflib.get_close_matches(name, Pattern.registry, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InvalidArgument.build(key, value, f"{name!r} is not a respx pattern{hint}; accepted "
                                    f"patterns: {_PATTERNS}, each with an optional lookup suffix "
                                    "such as host__regex")
    lookups = [lookup.value for lookup in kind.lookups]
    lookup = rest.rpartition("__")[2] if issubclass(kind, PathPattern) else rest
    if rest and not issubclass(kind, PathPattern) and lookup not in lookups:
        raise InvalidArgument.build(key, value, f"the {name} pattern takes the lookups "
                                    f"{', '.join(lookups)}, as {name}__<lookup>")
    _check_scalar(key, name, lookup or lookups[0], value)
    try:
        M(**{key: value})
    except Exception as error:  # respx raises anything from AssertionError to re.error here
        raise InvalidArgument.build(key, value, f"respx's {name} pattern refused it "
                                    f"({type(error).__name__}: {error})") from None


def _check_url_scheme(key: str, value: Any) -> None:
    """``get("api.example.com/x")``: respx reads a URL without a scheme as a path, ``/api.example.com/x``,
    that no request has; every call would then fail as unmatched although a route was declared for it."""
    if not isinstance(value, str) or "://" in value or value.startswith("/"):
        return
    host = re.split(r"[/?#]", value, maxsplit=1)[0]
    if "." in host or host == "localhost" or re.fullmatch(r"[^:]+:\d+", host):
        raise InvalidArgument.build(key, value, f"it has no scheme, so respx reads it as the path '/{value}', "
                                    f"which no request has; write 'https://{value}' (or http://), or a path "
                                    "starting with '/' to match it on any host")  # fmt: skip


def _check_scalar(key: str, name: str, lookup: str, value: Any) -> None:
    """Values respx would accept but that can never match (``port='443'``, ``host=5``)."""
    if name not in _SCALARS:
        return
    kind, wanted = _SCALARS[name]
    if lookup == Lookup.IN.value:
        items = value if isinstance(value, (list, tuple, set, frozenset)) else None
        if items is None or not all(isinstance(item, kind) and not isinstance(item, bool)
                                    for item in items):
            raise InvalidArgument.build(key, value, f"a list of values, each {wanted}")
        for item in items:
            _check_matchable(key, name, value, item)
    elif lookup == Lookup.REGEX.value:
        if not isinstance(value, (str, re.Pattern)):
            raise InvalidArgument.build(key, value, "a regular expression (str or re.Pattern)")
    elif isinstance(value, bool) or not isinstance(value, kind):
        raise InvalidArgument.build(key, value, wanted)
    else:
        _check_matchable(key, name, value, value)


def _check_matchable(key: str, name: str, value: Any, item: Any) -> None:
    """A host, scheme or port of the right type that no request has: respx compares them with the
    request's ``url.host`` (a name in lower case, an IPv6 address as written; without scheme, port or path),
    ``url.scheme`` and ``url.port``."""
    problem = ""
    if name == "host":
        if not item:
            problem = "a host name such as 'api.example.com', not empty"
        elif "://" in item or "/" in item:
            problem = (f"{item!r} is more than a host; give the host alone (host='api.example.com'), "
                       "or the whole address as url=")
        elif re.fullmatch(r"[^:\[\]]+:\d+", item):
            host, _, port = item.rpartition(":")
            problem = f"a request's host has no port; write host={host!r}, port={port}"
        elif bracketed := re.fullmatch(r"\[([^\[\]]*)\](?::(\d+))?", item):  # as in a URL: the host has none
            host, port = bracketed.groups()
            problem = (f"a request's host is an IPv6 address without brackets; write host={host!r}"
                       + (f", port={port}" if port else ""))
        elif item != item.lower() and ":" not in item:  # httpx keeps an IPv6 address as written ('FE80::1')
            problem = f"a request's host is in lower case; write host={item.lower()!r}"
    elif name == "scheme" and not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", item):
        problem = "a scheme such as 'https', without '://'"
    elif name == "port" and not 0 <= item <= 65535:
        problem = "a port number from 0 to 65535"
    if problem:
        raise InvalidArgument.build(key, value, f"{problem} (no request would match)")


def _check_side_effect(effect: Any) -> None:
    if effect is None or isinstance(effect, Iterator):  # an iterator is left unread
        return
    items = effect if isinstance(effect, Sequence) and not isinstance(effect, (str, bytes)) else [
        effect]
    if not items:  # respx reads an empty list as no side effect, and answers every request with 200
        raise InvalidArgument.build("side_effect", effect, "at least one answer; an empty list would answer "
                                    "every request with respx's default 200; for no answer, leave the route out")
    for item in items:
        if item is delayed or item is timeout or item is answer_lost:  # respx would call it with the request
            raise InvalidArgument.build("side_effect", effect, f"jobsim.{item.__name__} is a function that makes a "
                                        f"side effect: call it, side_effect=jobsim.{item.__name__}(...)")
        if not (isinstance(item, (httpx.Response, Exception)) or (
                isinstance(item, type) and issubclass(item, Exception)) or (
                callable(item) and not isinstance(item, type))):
            status = type(item) is int and 100 <= item <= 599  # side_effect=[500, 200]: statuses, not answers
            hint = f"; a status code alone is no answer: write httpx.Response({item})" if status else ""
            raise InvalidArgument.build("side_effect", effect, _SIDE_EFFECT + hint)
        if isinstance(item, type):
            check_exception_class(effect, item)
        elif callable(item) and not isinstance(item, (httpx.Response, Exception)):
            _check_takes_request(effect, item)


def _check_takes_request(effect: Any, fn: Any) -> None:
    """respx calls a side-effect function as ``fn(request, **path_params)``: one that cannot take
    the request would raise TypeError inside the job, at its first request, as a failed attempt."""
    try:
        inspect.signature(fn).bind_partial(None)
    except ValueError:  # no signature (a builtin): let it through
        return
    except TypeError as error:
        raise InvalidArgument.build("side_effect", effect, f"a function taking the request ({error})") from None


def _check_response(name: str, response: Any) -> None:
    if response is not None and not isinstance(response, httpx.Response):
        raise InvalidArgument.build(name, response, "an httpx.Response (or None); for a status "
                                    "code alone use .respond(status)")


_ROUTE_RETURN_VALUE: property = respx.Route.return_value  # type: ignore[assignment]
_ROUTE_SIDE_EFFECT: property = respx.Route.side_effect  # type: ignore[assignment]


class _Route(respx.Route):
    """respx's route, checking what a test declares on it at the line that declares it."""

    def _set_return_value(self, return_value: httpx.Response | None) -> None:
        _check_response("return_value", return_value)
        _ROUTE_RETURN_VALUE.__set__(self, return_value)

    def _set_side_effect(self, side_effect: Any) -> None:
        _check_side_effect(side_effect)
        _ROUTE_SIDE_EFFECT.__set__(self, side_effect)

    # respx's own getters; the setters check first (``mock()`` and ``%`` go through them too)
    return_value = property(_ROUTE_RETURN_VALUE.fget, _set_return_value)
    side_effect = property(_ROUTE_SIDE_EFFECT.fget, _set_side_effect)

    @keywords_checked("route.mock()")
    def mock(self, return_value: httpx.Response | None = None, *,
             side_effect: Any = None) -> respx.Route:
        # both checked before either is set: a refused call leaves the route as it was
        _check_response("return_value", return_value)
        _check_side_effect(side_effect)
        return super().mock(return_value, side_effect=side_effect)

    def respond(self, status_code: int = 200, **kwargs: Any) -> respx.Route:
        _check_status("status_code", status_code)
        check_one_body("respond", kwargs)
        # httpx encodes json= and checks content= when the response is built, which respx does at each
        # request: a body it cannot send would fail there, inside the job, as a TypeError or ValueError
        try:
            httpx.Response(status_code, **kwargs)
            return super().respond(status_code, **kwargs)
        except (TypeError, ValueError, AttributeError, RecursionError) as error:  # text=3 has no .encode; json=
            # nested past the interpreter's recursion limit cannot be encoded either
            name, value = next(iter(kwargs.items())) if len(kwargs) == 1 else ("respond", kwargs)
            raise InvalidArgument.build(name, value, "what httpx.Response accepts: json= plain JSON data "
                                        f"(no NaN or infinity), content= str or bytes ({error})") from None

    def __mod__(self, response: int | dict[str, Any] | httpx.Response) -> respx.Route:
        if isinstance(response, dict):
            _check_status("status_code", response.get("status_code", 200))
            check_one_body("response", response)
            try:
                httpx.Response(**{"status_code": 200, **response})
            except (TypeError, ValueError, AttributeError, RecursionError) as error:  # json=nan, text=3, too deep
                raise InvalidArgument.build("response", response, "keyword arguments of "
                                            f"httpx.Response ({error})") from None
        elif not isinstance(response, httpx.Response) and (
                isinstance(response, bool) or not isinstance(response, int)
                or not 100 <= response <= 599):
            raise InvalidArgument.build("response", response, f"{_STATUS}, a dict of "
                                        "httpx.Response arguments or an httpx.Response")
        # respx fills in the dict it is given (status_code): the test's own dict is left as it was
        return super().__mod__(dict(response) if isinstance(response, dict) else response)

    def _call_side_effect(self, effect: Any, request: httpx.Request, **kwargs: Any) -> Any:
        # respx's own call, with the checks it lacks (async effects from sync clients, results)
        return call_side_effect(self, effect, request, kwargs)


def checked_route(patterns: tuple[Any, ...], name: str | None, lookups: dict[str, Any]) -> respx.Route:
    """The route ``sim.http.route(*patterns, name=name, **lookups)`` declares, checked first."""
    if name is not None and (not isinstance(name, str) or not name):  # respx keys its routes by name
        raise InvalidArgument.build("name", name, "a non-empty str naming the route (sim.http[name] finds it), "
                                    "or None")  # fmt: skip
    for pattern in patterns:
        _check_pattern(pattern)
    for key, value in lookups.items():
        if key == "url" and value is not None and not value:  # respx reads '' (0, [], False) as no pattern
            raise InvalidArgument.build("url", value, "a URL (str, re.Pattern or httpx.URL); an empty one would "
                                        "route every request: leave url out (None) to mean any URL")
        if key != "url" or value is not None:
            _check_lookup(key, value)
        if key in ("url", "url__eq", "url__startswith"):
            _check_url_scheme(key, value)
        if key.endswith("__in") and isinstance(value, (list, set, frozenset)):
            lookups[key] = tuple(value)  # respx hashes patterns: a list would fail in add()
    return _Route(*patterns, **lookups)
