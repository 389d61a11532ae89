"""Traces that exercise every path of the default redaction, for the byte-for-byte save test.

``corpus(folder)`` returns ``{name: (trace, redact)}``: the recorded example app under
several policies, a trace in the benchmark's shape (the same ``HttpCall``, ``Email``
and nested objects reused record after record), a trace of awkward records (phone
numbers and names in free text, JSON kept in strings, card objects, display names,
proxy headers, a plugin's kind, event extension attributes, shouted names, strings
longer than the per-string cache takes), and an already-pseudonymized trace read back
from a file and saved again. ``save_all`` writes them; ``test_trace_save_golden``
compares the files with the ones jobsim 707c1bb (before the save speed-up) wrote.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
from _traceapp import build, record

import jobsim
from jobsim import Redaction, Trace
from jobsim._email import Email
from jobsim._http import HttpCall

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_trace  # benchmarks/ is no package: its builder is shared, not copied

SECOND = 1_000_000_000
START_NS = 1_740_960_000 * SECOND
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Zoë", "Frances", "Ken", "Margaret", "Seán"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Ångström", "O'Brien", "Thompson", "Jean-Luc", "Backus"]
AT = dt.datetime(2025, 3, 3, tzinfo=dt.timezone.utc)


def shop(stories: int, pool: int = 17) -> Trace:
    """The benchmark's trace (``benchmarks/bench_trace.py``), small: 25 records a story, 53 people, ``pool``
    pooled calls and emails, and names with accents and apostrophes."""
    trace: Trace = bench_trace.build(stories * 25, people=53, pool=pool, names=(FIRST, LAST))
    return trace


def awkward() -> Trace:
    """Records that take the redaction's rarer paths, several of them repeated (and shared) on purpose."""
    trace = Trace()
    add = trace.add
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    order = {"number": "A-1001", "total": 99.5}
    shared = {"customer": {"name": "Ada Lovelace", "email": "ada@gmail.com", "phone": "+1 415 555 0100"},
              "card": card, "order": order, "tags": ["VIP", "Ada"], "note": "call Ada at (415) 555-0100"}  # fmt: skip
    long_text = ("Dear Ada Lovelace, " + "your order ships soon. " * 30 + "Call +44 20 7946 0958 or write to "
                 "ada@gmail.com. token=abc123secret&x=1 Bearer abcdefghijklmnop")  # fmt: skip
    raw_json = orjson.dumps({"user": {"name": "Grace Hopper", "email": "grace@navy.mil"}, "password": "hunter2"})
    request = httpx.Request("POST", "https://hooks.example.com/in?sig=deadbeef&u=grace%40navy.mil",
                            content=raw_json, headers={"X-Forwarded-For": "203.0.113.7, 10.0.0.1",
                                                       "Content-Type": "application/json",
                                                       "Cookie": "session=abc", "X-Trace": "Grace"})  # fmt: skip
    response = httpx.Response(201, text="created for GRACE HOPPER at 2001:db8::1", request=request,
                              headers={"Set-Cookie": "id=1", "X-Real-IP": "198.51.100.4"})  # fmt: skip
    call = HttpCall(request=request, response=response, at=AT)
    email = Email(sender="Acme <noreply@acme.com>", to=["Grace Hopper <grace@navy.mil>", "ops@example.com"],
                  cc=["linus@kernel.org"], subject="ADA LOVELACE and Grace: your card ending 4242",
                  text=long_text, html="<p>Hi Grace, call 415-555-0199 ext. 12</p>", sent_at=AT, provider="smtp",
                  message_id="<m1@acme.com>", headers={"X-Forwarded-For": "192.0.2.9", "Reply-To": "grace@navy.mil"},
                  template_data={"first_name": "Grace", "username": "ghopper", "street": "1 Navy Way"})  # fmt: skip
    for i in range(40):
        at = START_NS + i * SECOND
        add(at, "event", {"name": "order/paid", "id": f"pay-{i}", "data": shared, "ts": at // 1_000_000,
                          "origin": "input", "user": {"email": "ada@gmail.com", "ip": "203.0.113.9"},
                          "attributes": {"partnerid": "Grace", "contact_name": "Seán O'Brien"}})  # fmt: skip
        add(at, "event", {"name": "raw/webhook", "id": f"raw-{i}", "ts": None, "origin": "input",
                          "data": {"body": raw_json.decode(), "list": "[1, 2]", "mixed": [card, "Ada", i],
                                   "name": "Edsger Dijkstra", "mobile": f"+1 212 555 01{i % 10}{i % 7}",
                                   "address": "10 Downing St", "login": "edsger", "ip": "192.0.2.1"}})  # fmt: skip
        add(at, "http", {"method": "POST", "url": str(request.url), "status": 201, "call": call, "function": "hook",
                         "run": f"r{i}", "mail": i % 2 == 0})  # fmt: skip
        add(at, "http", {"method": "GET", "url": f"https://api.example.com/u?email=ada%40gmail.com&n={i}",
                         "error": "ConnectError: refused for ada@gmail.com", "function": "hook", "run": f"r{i}"})
        add(at, "email", {"provider": "smtp", "to": list(email.to), "subject": email.subject, "email": email,
                          "function": "mail", "run": f"r{i}"})  # fmt: skip
        add(at, "attempt", {"function": "hook", "run": f"r{i}", "step": f"notify-ada@gmail.com-{i}", "attempt": i,
                            "error": f"ValueError: bad phone +49 30 901820{i:02d} for Zoë Ångström, "
                                     f"see https://u:p4ss@api.example.com/x?token=t{i}"})  # fmt: skip
        add(at, "run.end", {"function": "hook", "run": f"r{i}", "status": "completed",
                            "output": orjson.dumps({"customer": shared["customer"], "raw": raw_json.decode(),
                                                    "n": i, "names": ["Ada", "ADA", "Alan Turing"]})})  # fmt: skip
        add(at, "fault", {"function": "hook", "step": "x", "error": "TimeoutError: slow for Grace"})
        add(at, "fault.armed", {"fault": "fail", "error": {"message": "Ada's card declined"}, "message": "Dr Ada"})
        add(at, "cancel", {"function": "hook", "run": f"r{i}", "reason": "event", "key": {"email": "ada@gmail.com"},
                           "id": "cancel-ada@gmail.com"})  # fmt: skip
        add(at, "plugin.thing", {"who": {"full_name": "Barbara Liskov", "email": "barbara@mit.edu"},
                                 "text": "Barbara said hi", "secret_key": "s3cr3t", "n": i})  # fmt: skip
        add(at, "retry", {"function": "hook", "run": f"r{i}", "step": "crm", "attempt": 1, "at": at + 1})
        add(at, "advance", {"until": at + SECOND, "idle": True})
    return trace


def corpus(folder: Path, **options: Any) -> dict[str, tuple[Trace, Any]]:
    """Every trace to save and the ``redact=`` to save it with (``folder`` holds the pseudonymized round trip);
    ``options`` go to the example app's Simulation."""
    sim = record(build(), **options)
    out: dict[str, tuple[Trace, Any]] = {
        "app": (sim.trace, None),
        "app-kept": (sim.trace, Redaction(keep_domains=("navy.mil",), fields={"plan": "drop", "email": "keep"})),
        "app-secrets": (sim.trace, Redaction(pseudonymize=False)),
        "shop": (shop(120), None),
        "shop-plain": (shop(30), False),
        "awkward": (awkward(), None),
        "awkward-key": (awkward(), Redaction(key="team secret", keep_domains=("acme.com",), headers=("x-trace",))),
        "awkward-secrets": (awkward(), Redaction(pseudonymize=False)),
    }
    folder.mkdir(parents=True, exist_ok=True)
    first = sim.trace.save(folder / "app.first.jobsim.jsonl")
    out["app-again"] = (jobsim.Trace.load(first), None)
    odd = awkward().save(folder / "awkward.first.jobsim.jsonl")
    out["awkward-again"] = (jobsim.Trace.load(odd), None)
    return out


def save_all(folder: Path, **options: Any) -> dict[str, bytes]:
    """Each corpus trace saved, its file's bytes without the header line (which names the jobsim version)."""
    files = {}
    for name, (trace, redact) in corpus(folder, **options).items():
        path = trace.save(folder / f"{name}.jobsim.jsonl", redact=redact)
        files[name] = _HTTPX_AGENT.sub(b"python-httpx/0.28.1", path.read_bytes().split(b"\n", 1)[1])
    return files


# The example app's calls go out with httpx's own User-Agent, which names the installed httpx: the hashes were taken
# with 0.28.1, and a newer httpx (0.29.0 on 2026-12-02) changed those headers' bytes and nothing else
_HTTPX_AGENT = re.compile(rb"python-httpx/[0-9][0-9A-Za-z.+-]*")
