"""The text of an unmatched request's error that is jobsim's, not the code's: the advice after
``jobsim: no route matches POST https://...;`` (how a test adds a route, the closest route and what it
wants, how a replay adds one) changes with the caller and with jobsim's version. Comparing two traces
(``replay``, ``jobsim diff``) reads such errors without it, and a report puts jobsim's sentence first
when a client quoted it deep inside its own (requests' ``Max retries exceeded with url: ...``)."""

from __future__ import annotations

import re

UNMATCHED = "jobsim: no route matches"
"""The stable start of the message: what the request was (method and URL) follows, then ``;`` and the advice."""

_ADVICE = re.compile(r"(jobsim: no route matches \S+ \S+?);.*?\.respond\(200\)"
                     r"(?: \(sent by the test itself.*?\.pass_through\(\)\))?", re.DOTALL)  # fmt: skip
_QUOTED = re.compile(r"jobsim: no route matches \S+ \S+?;.*?\.respond\(200\)", re.DOTALL)


def advice_free(text: str) -> str:
    """``text`` with the advice of each unmatched request's message it holds left out: ``...; add one with
    sim.http.post('https://x').respond(200)`` and ``...; closest: ...; fix that route, ...`` read the same."""
    return _ADVICE.sub(r"\1", text) if UNMATCHED in text else text


def jobsim_first(error: str) -> str:
    """A trace's ``"Type: message"`` of a client's error that quotes jobsim's unmatched-request message deep
    inside (requests' ``ConnectionError: HTTPSConnectionPool(...): Max retries exceeded with url: ...``), with
    that message first, so that a report cut at 100 characters still says it: ``ConnectionError: jobsim: no
    route matches POST https://x; ... (in HTTPSConnectionPool(...): Max retries exceeded ...: …)``."""
    name, colon, message = error.partition(": ")
    found = _QUOTED.search(message) if colon and name.replace(".", "_").isidentifier() else None
    if found is None or found.start() == 0:
        return error
    return f"{name}: {found.group(0)} (in {message.replace(found.group(0), '…')})"
