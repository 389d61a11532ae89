"""``jobsim.answer_lost``: the request reaches the server, its answer never reaches the client.

The case idempotency keys exist for. The server got the request and acted on it (the card was
charged, the email queued, the webhook's receiver stored the event); then the answer was lost on
the way back: the client waited its read timeout, or the connection was reset or closed under it.
The job cannot tell this from a request that never arrived, so it retries, and only the same
``Idempotency-Key`` keeps the provider from acting twice.

How it works. ``AnswerLost`` is a respx side effect, usable wherever ``delayed``/``timeout`` are (alone,
in a ``side_effect`` list, returned by a side-effect function). Called, it marks the request
(``request.extensions[KEY]``) and gives the server's answer: the one it was given, what a function
standing for the server returns, or, with none, ``None``: respx passes the request on to whatever
answers it without this route (the test's later routes, jobsim's mail providers, the test's own respx
routes), so an email sent through Resend lands in the outbox. Once the sink's router has the answer,
``lose`` (called by ``_http._Router`` inside the request's resolution) takes it from the client: the
call is recorded with the error the client got and, in ``HttpCall.lost``, the answer it never saw.
A request nothing answers stays unmatched: it never reached a server, so there is no answer to lose.

What the client gets, by ``how``, each as its own library raises it (the bridges map httpx's errors):

- ``"timeout"``: nothing comes; after the client's read timeout (``after=`` instead, if given) httpx's
  ``ReadTimeout``, requests' ``ReadTimeout``, ``TimeoutError`` from ``http.client``/``urlopen``,
  aiohttp's ``SocketTimeoutError`` (``sock_read``; its ``total`` if that ends the wait first);
- ``"reset"``: the connection is reset before the answer arrives (``after=`` in, at once by default):
  ``httpx.ReadError``; a ``ConnectionResetError`` where the other clients meet it (requests'
  ``ConnectionError`` from urllib3's ``ProtocolError('Connection aborted.')``, aiohttp's ``ClientOSError``);
- ``"closed"``: the server closes the connection without answering: ``httpx.RemoteProtocolError``,
  ``http.client.RemoteDisconnected`` (through requests, a ``ConnectionError``), aiohttp's
  ``ServerDisconnectedError``.

``times=n`` loses the answers of the route's first ``n`` calls through this side effect and delivers
the rest (counted per simulation and route, so one value can be shared by tests and routes).
"""

from __future__ import annotations

import errno
import http.client
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import httpx

from ._checks import check_callable, keyword_error
from ._safe import said, shown
from ._time import Duration, duration_ns, format_duration, instant_ns, iso
from .errors import InvalidArgument, JobsimError, UnsupportedFeature

if TYPE_CHECKING:
    import respx

    from ._host import Host

__all__ = ["BODY", "KEY", "AnswerLost", "answer_lost", "lose", "refuse_pass_through", "same_key", "status_response"]

How = Literal["timeout", "reset", "closed"]
HOWS: tuple[How, ...] = ("timeout", "reset", "closed")
KEY = "jobsim_answer_lost"
"""``request.extensions`` key of a request whose answer an ``AnswerLost`` side effect takes: ``(it, route)``."""
Server = Callable[[httpx.Request], "httpx.Response | None"]
BODY = ("json", "text", "html", "content", "headers")
"""What ``httpx.Response`` takes beside a status code, given to ``answer_lost`` or ``delayed`` as keywords."""


def check_one_body(name: str, arguments: dict[str, Any]) -> None:
    """httpx.Response sends the first body of content=, text=, html=, json= and drops the rest without a word."""
    bodies = [key for key in ("content", "text", "html", "json") if arguments.get(key) is not None]
    if len(bodies) > 1:
        raise InvalidArgument.build(name, arguments, f"one body, not {' and '.join(f'{key}=' for key in bodies)}: "
                                    f"httpx would send {bodies[0]}= alone and drop the others")  # fmt: skip


def status_response(where: str, response: Any, body: dict[str, Any], keywords: tuple[str, ...], accepted: str,
                    example: str) -> Any:
    """``response``, an int status made an ``httpx.Response`` holding ``body`` (``json=``, ``headers=``, ...):
    a body keyword misspelt, a status outside 100-599, or a body beside anything but a status is refused,
    naming ``where`` and what it takes (``keywords``, ``accepted``, ``example``)."""
    for key, value in body.items():
        if key not in BODY:
            raise keyword_error(f"{where}()", key, value, (*keywords, *BODY))
    if isinstance(response, int) and not isinstance(response, bool):
        if not 100 <= response <= 599:  # httpx builds any int, then fails far from here
            raise InvalidArgument.build("response", response, accepted)
        check_one_body("body", body)
        try:
            return httpx.Response(response, **body)
        except (TypeError, ValueError, AttributeError, RecursionError) as error:  # json=nan, headers=3: httpx's own
            name, value = next(iter(body.items())) if len(body) == 1 else ("body", body)  # error, from deep inside
            raise InvalidArgument.build(name, value, "what httpx.Response accepts: json= plain JSON data (no NaN or "
                                        "infinity), content= str or bytes, headers= a dict or a list of (name, "
                                        f"value) pairs of str ({said(error)})") from None
    if body:
        given = ", ".join(f"{key}=" for key in body)
        raise InvalidArgument(f"{where}() got {given} beside response={shown(response)}: a body or headers go "
                              f"with a status code, {example}")
    return response


@dataclass(frozen=True, slots=True, eq=False)
class AnswerLost:
    """Side effect: the server answers ``answer``; the client never gets it (module docstring)."""

    answer: httpx.Response | Server | None
    how: How
    after_ns: int | None
    times: int | None

    def __call__(self, request: httpx.Request, route: respx.Route | None = None,
                 **params: Any) -> httpx.Response | None:
        request.extensions[KEY] = (self, route)
        answer = self.answer
        if answer is None or isinstance(answer, httpx.Response):
            return answer
        result = answer(request)
        if result is None or isinstance(result, httpx.Response):
            return result
        raise InvalidArgument(
            f"jobsim: answer_lost({answer!r}) for {request.method} {request.url}: the function standing for the server "
            f"returned {shown(result)}; it must return the httpx.Response the server sends (the one the client will "
            "never get), or None to let the request go on to whatever answers it without this route")


def answer_lost(response: httpx.Response | int | Server | None = None, *, how: How = "timeout",
                after: Duration | None = None, times: int | None = None, **body: Any) -> AnswerLost:
    """A respx side effect: the server gets the request and answers it, the client never gets the answer.

    ``response`` is what the server sends: an ``httpx.Response``, a status code (with ``json=``,
    ``text=``, ``html=``, ``content=`` or ``headers=``, as ``route.respond`` takes them), a function
    taking the request and returning the response (a fake of the provider, which records what it did),
    or ``None`` (the default): whatever answers the request without this route answers it (a mail
    provider's URL: the provider, so the email is sent). ``how`` is what the client meets instead:
    ``"timeout"`` (its read timeout, or ``after``), ``"reset"`` or ``"closed"`` (after ``after``, at once
    by default). ``times``: only the first ``times`` calls lose their answer, the rest get it::

        sim.http.post(url).mock(side_effect=[answer_lost(200, json={"id": "ch_1"}), httpx.Response(200)])
        sim.http.post(url).mock(side_effect=answer_lost(fake_provider, times=1))
    """
    accepted = ("an httpx.Response, a status code from 100 to 599, a function taking the request and returning "
                "the server's response, or None (whatever answers the request without this route)")
    response = status_response("answer_lost", response, body, ("response", "how", "after", "times"), accepted,
                               "answer_lost(200, json={...})")
    if isinstance(response, BaseException) or (isinstance(response, type) and issubclass(response, BaseException)):
        raise InvalidArgument.build("response", response, f"{accepted}; an exception means no server answered: "
                                    "use jobsim.timeout() or the exception itself as the side effect")
    elif response is not None and not isinstance(response, httpx.Response) and (
            not callable(response) or isinstance(response, type)):
        raise InvalidArgument.build("response", response, accepted)
    elif callable(response) and not isinstance(response, httpx.Response):  # called in the job: checked here
        check_callable("response", response, 1, "a function taking the request and returning the server's response")
    if not isinstance(how, str) or how not in HOWS:
        raise InvalidArgument.build("how", how, "one of " + ", ".join(map(repr, HOWS)))
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise InvalidArgument.build("times", times, "an int >= 1, or None to lose every answer")
    return AnswerLost(response, how, None if after is None else duration_ns(after, "after"), times)


def lose(host: Host, counts: dict[tuple[int, int], int], request: httpx.Request, answer: httpx.Response) -> None:
    """The sink's router has ``answer`` for ``request``: if an ``AnswerLost`` marked it, spend the time the
    client waits and raise what it meets (``answer`` is then the call's ``lost``); else return."""
    marked = request.extensions.pop(KEY, None)
    if marked is None:
        return
    lost, route = marked
    key = (id(route), id(lost))
    if lost.times is not None and counts.get(key, 0) >= lost.times:
        return  # its answers are delivered from now on
    counts[key] = counts.get(key, 0) + 1
    from ._httptime import client_limit, spend

    told = (f"jobsim.answer_lost(): the server got the request and answered {answer.status_code} "
            f"{answer.reason_phrase}".rstrip() + ", but the answer never reached the client")
    if lost.how == "timeout":
        after_ns, source = lost.after_ns, "answer_lost(after=...)"
        if after_ns is None:
            seconds = (request.extensions.get("timeout") or {}).get("read")
            if seconds is None:
                raise JobsimError(
                    f"{told} ({request.method} {request.url}), and the client has no read timeout (timeout=None): "
                    "it would wait forever, as it would in production; give the client a timeout, or pass "
                    "answer_lost(..., after='30s') to choose how long it waits")
            after_ns, source = round(seconds * 1e9), "the client's read timeout"
        spend(host, after_ns)
        raise httpx.ReadTimeout(f"timed out: {told}; it waited {format_duration(after_ns)} ({source})",
                                request=request)
    if lost.after_ns:
        cut = client_limit(request, None, lost.after_ns)  # the client's read timeout runs out first
        if cut is not None:
            spend(host, cut[1])
            raise httpx.ReadTimeout(f"timed out: {told}; the connection's {lost.how} was due after "
                                    f"{format_duration(lost.after_ns)}, later than the client's read timeout "
                                    f"({format_duration(cut[1])})", request=request)
        spend(host, lost.after_ns)
    raise _dropped(request, lost.how, told)


def _dropped(request: httpx.Request, how: How, told: str) -> BaseException:
    """What the client meets where the connection ends without the answer: httpx's error, or the socket's
    (or ``http.client``'s) where that is what the client's own library sees and wraps."""
    client = request.extensions.get("jobsim_client", "httpx")
    if how == "reset":
        if client == "httpx":
            return httpx.ReadError(f"[Errno {errno.ECONNRESET}] Connection reset by peer ({told})", request=request)
        return ConnectionResetError(errno.ECONNRESET, f"Connection reset by peer ({told})")
    if client == "urllib3":  # what http.client raises under urllib3 when the server hangs up
        return http.client.RemoteDisconnected(f"Remote end closed connection without response ({told})")
    return httpx.RemoteProtocolError(f"Server disconnected without sending a response. ({told})", request=request)


def refuse_pass_through(request: httpx.Request) -> None:
    """An ``answer_lost()`` without an answer passed the request on to a ``pass_through()`` route."""
    if request.extensions.pop(KEY, None) is not None:
        raise UnsupportedFeature(
            f"jobsim: answer_lost() passed {request.method} {request.url} on to a pass_through() route: jobsim cannot "
            "take a real server's answer from the client; give answer_lost() the answer the server sends "
            "(answer_lost(200, json=...)) or a function standing for the server",
            feature="answer_lost to the network") from None


# -- the assertion ---------------------------------------------------------------------------------------


def same_key(calls: Iterable[Any], route: respx.Route, name: str, header: str, count: int | None,
             tz: Any) -> str:
    """``HttpSink.assert_same_idempotency_key``: the one key every request ``route`` matches carried."""
    __tracebackhide__ = True
    matched = [call for call in calls if route.pattern is None or route.pattern.match(call.request)]
    keys = [call.request.headers.get(header) for call in matched]
    problems = []
    if count is not None and len(matched) != count:
        problems.append(f"expected exactly {count} request(s), found {len(matched)}")
    elif count is None and len(matched) < 2:
        problems.append(f"expected a request and its retries (2 or more), found {len(matched)}; "
                        "pass count= to say how many")
    if any(key is None for key in keys):
        problems.append(f"{sum(key is None for key in keys)} carried no {header} header")
    elif len(set(keys)) > 1:
        problems.append(f"they carried {len(set(keys))} different {header} values: if they are one request and "
                        "its retries, a retry made a new key, so the provider cannot tell it from a new request; if "
                        "they came from different runs (two events, each its own request), each has its own key by "
                        "design: give the route a pattern that matches one run's requests (its order's id in the "
                        "path or body) and assert on it")
    if problems:
        lines = [f"jobsim: the requests of the route {name}: " + "; ".join(problems) + "."]
        lines += [f"  {iso(instant_ns(call.at), tz)}  {call.request.method} {call.request.url}  {header}: "
                  f"{shown(key) if key is not None else '(none)'}  -> {_outcome(call)}"
                  for call, key in zip(matched, keys, strict=True)]
        if not matched:
            lines.append("  (no request reached it)")
        raise AssertionError("\n".join(lines))
    return str(keys[0])


def _outcome(call: Any) -> str:
    if call.lost is not None:
        return f"{type(call.error).__name__} (the server answered {call.lost.status_code}; the answer was lost)"
    if call.response is not None:
        return str(call.response.status_code)
    return type(call.error).__name__
