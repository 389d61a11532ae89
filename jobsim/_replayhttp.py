"""A replay's environment: the recorded HTTP responses served again (``RecordedHttp``, matched by method
and URL, identical requests in recorded order, with their recorded virtual latency), and the fakes a
redacted recording holds (``Keeps``), used to answer HTTP and to compare."""

from __future__ import annotations

import builtins
import difflib
from collections import defaultdict, deque
from collections.abc import Container
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import orjson

from ._codec import canonical
from ._redactkept import PhonesIn, pseudonyms_in
from ._redactpolicy import Redaction
from ._time import US
from ._trace import Trace

if TYPE_CHECKING:
    import httpx

    from ._httplost import AnswerLost, How
    from ._simulation import Simulation


class RecordedHttp:
    """A respx side effect answering each request with the next recorded response for its method and URL."""

    def __init__(self, sim: Simulation, calls: list[dict[str, Any]], redact: Redaction | None,
                 keep: frozenset[str] = frozenset(), phones: Container[str] = frozenset(),
                 legacy: bool = False) -> None:
        self.sim = sim
        self.redactor = redact.redactor(keep, phones) if redact is not None else None
        self.queues: dict[tuple[str, str], deque[dict[str, Any]]] = defaultdict(deque)
        self.excerpts = 0
        self.legacy = legacy
        for call in calls:
            self.queues[(str(call.get("method")), unquote_plus(str(call.get("url"))))].append(call)
        self.recorded = {f"{method} {url}": n for (method, url), queue in self.queues.items()
                         if (n := sum(not _unmatched(call) for call in queue))}  # fmt: skip
        """How many answers the recording holds for each request (``ReplayAdvice``)."""
        self.unmatched = {f"{method} {url}" for (method, url), queue in self.queues.items()
                          if any(_unmatched(call) for call in queue)}  # fmt: skip
        """The requests no route matched in the recording either."""

    def __call__(self, request: httpx.Request) -> Any:
        """The recorded answer (an ``httpx.Response``), None to let jobsim's providers or the unmatched check answer,
        or an ``answer_lost()`` side effect that ``_httpeffects`` answers as its own."""
        from ._bridges import cut_short
        from ._httptime import give_up, spend

        url = str(request.url)
        if self.redactor is not None:
            url = self.redactor.url(url)  # keeping the trace's fakes, which today's code sends again
        # decoded: redaction writes a fake into a URL in one spelling, httpx in its own
        queue = self.queues.get((request.method, unquote_plus(url)))
        if not queue:
            return None  # not recorded (any more): mail providers, then "unmatched", as without a recording
        call = queue.popleft()
        elapsed = int(call.get("elapsed") or 0)
        if call.get("lost") is not None:  # the server got it and its answer was lost (answer_lost): lost again
            return _lost_again(call, elapsed)
        cut = cut_short(call.get("error"))  # aiohttp's own timeout ended the call (jobsim._bridges)
        if _crashed(call) or cut is not None:  # a crash or the client cut the wait there: wait across that
            elapsed += US  # instant, so the same cut ends it (a float loop time keeps microseconds)
        if elapsed and self.sim.engine.x is not None:
            if "error" not in call:  # today's client may give up sooner than the recorded one did
                give_up(self.sim, request, None, elapsed, "the trace recorded")
            spend(self.sim, elapsed)
        if "error" in call:
            if _unmatched(call):
                return None
            raise _http_error(str(call["error"]), request) if cut is None else cut("replayed", request=request)
        response = call.get("response") or {"status": call.get("status", 200)}
        status = int(response.get("status", call.get("status", 200)))
        if call.get("mail") or (self.legacy and 200 <= status < 300 and self.sim.mail.provides(request)):
            return None  # jobsim's mail provider answered: it answers again, and the email reaches the outbox
        if "excerpt" in (response.get("body") or {}):
            self.excerpts += 1
        return _response(status, response)


_EITHER = " either (no route matched it there)"


class ReplayAdvice:
    """What an unmatched request's error says in a replay (``HttpSink._advice``), in place of the test's
    ``add one with sim.http.post(...)``: a replay's user holds no ``sim``. It says the recording has no response
    for the request (or answered it fewer times), names the closest recorded requests, and where a route goes:
    the ``--app`` module's ``jobsim_setup(sim)``. ``served``: the recorded answers, set once they are routed."""

    def __init__(self, http: str) -> None:
        self.http = http
        self.served: RecordedHttp | None = None

    def __call__(self, request: httpx.Request, closest: str) -> str:
        from ._http import _route_helper

        where = "the --app module's jobsim_setup(sim) (setup= of Simulation.replay)"
        fix = f"{closest}; fix that route in {where}, or add one there" if closest else f"add a route in {where}"
        return f"{self._missing(request)}; {fix}: {_route_helper(request)}.respond(200)"

    def notes(self, unmatched: list[httpx.Request]) -> list[str]:
        """The report's note on the requests no recorded response and no route answered, the first three named."""
        if not unmatched:
            return []
        first: dict[str, httpx.Request] = {}
        for request in unmatched:  # each request once (a retried one is sent again)
            first.setdefault(f"{request.method} {request.url}", request)
        first = {said: r for said, r in first.items() if not self._missing(r).endswith(_EITHER)}
        if not first:  # as in the recording: no change to point out
            return []
        named = "; ".join(f"{said}: {self._missing(r)}" for said, r in list(first.items())[:3])
        more = f"; and {len(first) - 3} more" if len(first) > 3 else ""
        count = sum(f"{request.method} {request.url}" in first for request in unmatched)
        return [f"{count} request(s) the replay had no answer for ({named}{more}): add routes in the --app "
                "module's jobsim_setup(sim) (setup= of Simulation.replay), e.g. def jobsim_setup(sim): "
                "sim.http.post(URL).respond(200, json={...})"]

    def _missing(self, request: httpx.Request) -> str:
        if self.http == "routes":
            return "the replay answers from the routes of jobsim_setup(sim) alone (--http routes)"
        recorded = {} if self.served is None else self.served.recorded
        url = str(request.url)
        if self.served is not None and self.served.redactor is not None:
            url = self.served.redactor.url(url)
        key = f"{request.method} {unquote_plus(url)}"
        times = recorded.get(key, 0)
        if self.served is not None and key in self.served.unmatched and not times:
            return f"the recording has no response for this request{_EITHER}"
        if times:
            return f"the recording answered this request {times} time(s), all used up"
        near = difflib.get_close_matches(f"{request.method} {unquote_plus(url)}", list(recorded), n=2, cutoff=0.6)
        if not recorded:
            return "the trace records no HTTP answers"  # a file of events, or code that made no requests
        return "the recording has no response for this request" + (
            f" (closest recorded: {' and '.join(near)})" if near else "")


def _unmatched(call: dict[str, Any]) -> bool:
    """No route matched the recorded call: the replay's request goes unmatched again."""
    return str(call.get("error")).startswith("UnmatchedRequest")


def _lost_again(call: dict[str, Any], elapsed: int) -> AnswerLost:
    """``answer_lost()`` answering what the server answered (jobsim's mail provider answers again, so the email
    reaches the outbox), the client meeting what it met instead, as long after."""
    import httpx

    from ._httplost import AnswerLost

    name = str(call.get("error")).partition(":")[0]
    how: How = "reset" if name in ("ReadError", "ConnectionResetError") else "closed" if name in (
        "RemoteProtocolError", "RemoteDisconnected") else "timeout"
    return AnswerLost(None if call.get("mail") else httpx.Response(int(call["lost"])), how, elapsed, None)


def _crashed(call: dict[str, Any]) -> bool:
    """The recorded call ended when the worker died (``sim.crash_worker``, ``sim.downtime``), not with an answer.

    Such a call's ``elapsed`` ends exactly at the crash, and job code is cut only by a crash
    *inside* the time it spends; files written before the error was recorded as itself hold
    jobsim's internal ``Suspend: ('crash', ...)``.
    """
    error = call.get("error")
    return isinstance(error, str) and error.startswith(("WorkerCrashed: ", "Suspend: ('crash', "))


class Keeps:
    """The fakes a redacted recording holds, per policy: found once, used to answer HTTP and to compare.

    ``phones``: the phone numbers in its free text (fakes too), looked for when first needed.
    """

    def __init__(self, recorded: Trace) -> None:
        self.recorded = recorded
        self.found: dict[str, frozenset[str]] = {}
        self.phones = PhonesIn(lambda: (data for _, _, data in recorded._rows))

    def __call__(self, policy: Redaction) -> frozenset[str]:
        key = orjson.dumps(policy.describe()).decode()
        if key not in self.found:
            self.found[key] = pseudonyms_in(((kind, data) for _, kind, data in self.recorded._rows), policy)
        return self.found[key]


def serve_recorded_http(sim: Simulation, recorded: Trace, keeps: Keeps) -> RecordedHttp | None:
    calls = [canonical("http", data) for _, kind, data in recorded._rows if kind == "http"]
    if not calls:
        return None
    info = (recorded.header or {}).get("redaction")
    policy = None
    if recorded._owner is None and isinstance(info, dict) and info.get("policy") is not None:
        policy = Redaction.from_header(info)  # a redacted recording holds redacted URLs: match like for like
    keep = keeps(policy) if policy is not None else frozenset()
    header = recorded.header or {}
    legacy = recorded._owner is None and header.get("version") == 1 and (header.get("minor") or 0) < 1
    served = RecordedHttp(sim, calls, policy, keep, keeps.phones, legacy)
    sim.http.route(name="jobsim-recorded-responses").mock(side_effect=served)
    return served


def _response(status: int, recorded: dict[str, Any]) -> httpx.Response:
    import base64

    import httpx

    skip = ("content-length", "content-encoding", "transfer-encoding")
    headers: list[tuple[str, str]] = []
    for name, value in (recorded.get("headers") or {}).items():
        if name not in skip:
            headers += [(name, str(v)) for v in (value if isinstance(value, list) else [value])]
    body = recorded.get("body") or {}
    if "json" in body:
        content = orjson.dumps(body["json"])
    elif "text" in body:
        content = str(body["text"]).encode()
    elif "base64" in body:
        content = base64.b64decode(body["base64"])
    else:
        content = str(body.get("excerpt", "")).encode()
    return httpx.Response(status, headers=headers, content=content)


def _http_error(text: str, request: httpx.Request) -> BaseException:
    import httpx

    name, _, message = text.partition(": ")
    cls = getattr(httpx, name, None)
    if isinstance(cls, type) and issubclass(cls, httpx.RequestError):
        return cls(message, request=request)
    builtin = getattr(builtins, name, None)
    if isinstance(builtin, type) and issubclass(builtin, Exception):
        try:
            return builtin(message)
        except Exception:
            pass
    return httpx.ConnectError(f"{text} (replayed)", request=request)


