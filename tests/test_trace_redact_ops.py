"""The default save's redaction does less work per record, counted in calls rather than timed.

``Trace.save`` of the benchmark's trace (``_redactcorpus.shop``) is traced with ``sys.setprofile``:
the Python functions of the redactor (``jobsim._redact`` and its parts, ``jobsim._secrets``) it calls and the
regex methods it runs, per record. Before the event lines were made already redacted, recorded
outputs decoded once per distinct JSON and the writer called each kind's field table directly,
the same save made 4.63 redactor calls and 1.11 regex calls a record (at 777b71f; 3.91 and 0.76
after; the same once each kind's learner is called directly, without ``learn``'s branches); the bounds below
fail there. What the shortcuts write is checked byte for
byte against the slow path in ``test_trace_save_same_bytes``; here, that they are taken.
"""

from __future__ import annotations

import io
import sys
from collections import Counter
from typing import Any

import orjson
import pytest
from _redactcorpus import START_NS, shop

from jobsim import Redaction, Trace, _codec, _tracefile
from jobsim._redact import Redactor

_COUNTED = ("/jobsim/_redact.py", "/jobsim/_redactfakes.py", "/jobsim/_redactlearn.py", "/jobsim/_redacttext.py",
            "/jobsim/_redactkept.py", "/jobsim/_redactpolicy.py", "/jobsim/_secrets.py")


def _calls(trace: Trace, policy: Redaction | None) -> Counter[str]:
    """Redactor functions and regex methods called while ``trace`` is written with ``policy``."""
    _tracefile.write(trace, io.BytesIO(), policy)  # first: Faker's name lists loaded, the key's fingerprint made
    calls: Counter[str] = Counter()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename.endswith(_COUNTED):
            calls[frame.f_code.co_name] += 1
        elif event == "c_call" and getattr(arg, "__qualname__", "").startswith("Pattern."):
            calls["regex"] += 1

    sys.setprofile(profile)
    try:
        _tracefile.write(trace, io.BytesIO(), policy)
    finally:
        sys.setprofile(None)
    return calls


@pytest.fixture(autouse=True)
def builtin_key(monkeypatch):
    monkeypatch.delenv("JOBSIM_REDACT_KEY", raising=False)


def test_the_default_save_makes_fewer_redactor_and_regex_calls_per_record():
    trace = shop(200)  # 5,000 records in the benchmark's proportions
    calls = _calls(trace, Redaction())
    records = len(trace)
    python = sum(n for name, n in calls.items() if name != "regex")
    assert python / records < 4.2, calls.most_common(12)  # 4.63 before, 3.91 after
    assert calls["regex"] / records < 0.9, calls.most_common(12)  # 1.11 before, 0.76 after (islower, _shortest)
    assert calls["_ce"] == 0  # every event's line made redacted, once (event_line), not rewritten after
    assert calls["apply"] == 0  # the writer calls each kind's table itself
    assert calls["learn"] == 0  # ... and each kind's learner (``Redactor.learners``), not learn's branches
    assert calls["_learn_event"] == calls["event_line"]
    assert calls["event_line"] == sum(1 for _, kind, _ in trace._rows if kind == "event")


def test_runs_returning_the_same_json_are_decoded_learned_and_rewritten_once(tmp_path):
    """Outputs are recorded as JSON bytes: equal bytes are decoded to one object per save, which the
    redactor reads and rewrites once (by identity), and each record still writes it."""
    trace = Trace()
    output = {"customer": {"name": "Ada Lovelace", "email": "ada@gmail.com"}, "items": [{"sku": "mug"}]}
    for i in range(30):
        trace.add(START_NS + i, "run.end", {"function": "f", "run": f"r{i}", "status": "completed",
                                            "output": orjson.dumps(output)})  # fmt: skip
    calls = _calls(trace, Redaction())
    assert calls["_dict"] == 3  # the output, its customer and its item: once each, not 30 times
    written = [orjson.loads(line) for line in trace.save(tmp_path / "t.jobsim.jsonl").read_bytes().splitlines()]
    outputs = [line["output"] for line in written[1:-1]]
    assert len(outputs) == 30 and all(out == outputs[0] for out in outputs)
    assert outputs[0]["customer"]["email"] != "ada@gmail.com" and "Ada" not in outputs[0]["customer"]["name"]


def _events() -> list[tuple[str, dict[str, Any]]]:
    """Events of every shape ``event_line`` meets: data a dict, a list, a string, None or missing; a user or
    none; a job's event; a dropped one still pending; an id that is no string; a version; no time."""
    person = {"name": "Grace Hopper", "email": "grace@navy.mil", "phone": "+1 415 555 0100"}
    return [
        ("event", {"name": "user/created", "id": "evt-Grace-1", "data": person, "ts": 1_741_000_000_000,
                   "origin": "input", "user": {"email": "ada@gmail.com", "name": "Ada Lovelace"}}),
        ("event", {"name": "a", "id": "01J-token=abc", "data": [person, "call +1 212 555 0100"], "ts": None,
                   "origin": "job", "function": "fn", "run": "r1", "v": "2024-01"}),
        ("event", {"name": "b", "id": "b1", "data": "Dear Grace, Bearer abcdefghijklmnop", "ts": 5}),
        ("event", {"name": "c", "id": "c1", "data": None, "ts": 5, "origin": "system"}),
        ("event", {"name": "d", "id": "d1", "ts": 5}),
        ("event", {"name": "e", "id": 17, "data": {}, "ts": 5, "sent": 12}),
        ("event.dropped", {"name": "f", "id": "grace@navy.mil", "data": {"email": "grace@navy.mil"}, "ts": 5,
                           "pending": "p1", "user": "Grace"}),
    ]  # fmt: skip


@pytest.mark.parametrize("policy", [Redaction(), Redaction(pseudonymize=False),
                                    Redaction(key="k", fields={"b": "drop"})])
def test_an_event_line_made_redacted_is_the_line_redacted_after_it_was_made(policy):
    events = _events()
    lines = []
    for make in ("event_line", "apply_line"):
        redactor: Redactor = policy.redactor()
        for kind, data in events:
            redactor.learn(kind, data)
        if make == "event_line":
            lines.append([redactor.event_line(seq, 10, kind, data) for seq, (kind, data) in enumerate(events)])
        else:
            lines.append([redactor.apply_line(kind, _codec.encode(seq, 10, kind, data))
                          for seq, (kind, data) in enumerate(events)])  # fmt: skip
    assert orjson.dumps(lines[0]) == orjson.dumps(lines[1])  # the same keys in the same order, the same values
    assert lines[0][0]["ce"]["data"]["email"] != "grace@navy.mil" or not policy.pseudonymize
    assert events[0][1]["data"]["email"] == "grace@navy.mil"  # the recorded event untouched
