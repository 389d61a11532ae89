"""Timeline lines of what a run did (an HTTP call, an email, an event) name that run.

Two runs that interleave wrote lines a reader could not tell apart; the ``http``,
``email`` and ``event`` records have always carried the ``function`` and ``run`` of
the job code that made them, and the timeline now shows it as ``signup#2: ...``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson
import pytest
from _traceapp import build, record

import jobsim
from jobsim import traces
from jobsim._cli import main

CRM = "https://crm.example.com/contacts"
RESEND = "https://api.resend.com/emails"
RESEND_AUTH = {"Authorization": "Bearer re_123"}
PREFIX = re.compile(r"^(.{29}(?:http|email|event) +)\S+#\d+: ")  # stamp, kind, then "signup#2: "


def signup_app() -> jobsim.App:
    app = jobsim.App("interleave")

    @app.function("signup", on="user/created")
    def signup(ctx: Any) -> None:
        user = ctx.event.data
        ctx.step.run("crm", lambda: httpx.post(CRM, json={"email": user["email"]}).status_code)
        mail = {"from": "hi@acme.test", "to": [user["email"]], "subject": f"Welcome, {user['name']}", "text": "hi"}
        ctx.step.run("mail", lambda: httpx.post(RESEND, json=mail, headers=RESEND_AUTH).status_code)
        ctx.step.send_event("announce", {"name": "user/welcomed", "data": {"email": user["email"]}})

    return app


def said(timeline: str, *kinds: str) -> list[str]:
    """The lines of those kinds, without their time stamps."""
    return [line[29:] for line in timeline.splitlines()[2:] if line[29:39].strip() in kinds]


def test_two_interleaving_runs_each_name_their_http_calls_emails_and_events() -> None:
    with jobsim.Simulation(signup_app(), start="2025-03-03T09:00:00Z") as sim:
        sim.http.post(CRM).respond(201)
        sim.send("user/created", {"email": "ada@example.com", "name": "Ada"})
        sim.send("user/created", {"email": "grace@example.com", "name": "Grace"})
        sim.run_until_idle()
    lines = said(sim.timeline(), "http", "email", "event")
    assert lines == [
        'event     user/created {"email":"ada@example.com","name":"Ada"}',  # the test's: no run
        'event     user/created {"email":"grace@example.com","name":"Grace"}',
        f"http      signup#1: POST {CRM} -> 201",
        f"http      signup#2: POST {CRM} -> 201",
        "email     signup#1: resend to ada@example.com: 'Welcome, Ada'",
        f"http      signup#1: POST {RESEND} -> 200",
        "email     signup#2: resend to grace@example.com: 'Welcome, Grace'",
        f"http      signup#2: POST {RESEND} -> 200",
        'event     signup#1: user/welcomed {"email":"ada@example.com"}',
        'event     signup#2: user/welcomed {"email":"grace@example.com"}',
    ]
    # the names are the runs' own: the email to Grace is the run Grace's event started
    grace = next(run for run in sim.runs("signup") if run.event.data["name"] == "Grace")
    assert [r.data["run"] for r in sim.trace.of("email") if r.data["to"] == ["grace@example.com"]] == [grace.id]


def test_a_request_and_an_email_the_test_sends_itself_name_no_run() -> None:
    with jobsim.Simulation(signup_app(), start="2025-03-03T09:00:00Z") as sim:
        sim.http.post(CRM).respond(201)
        sim.http.get(CRM).respond(200)
        sim.send("user/created", {"email": "ada@example.com", "name": "Ada"})
        sim.run_until_idle()  # a run has just made calls: the test's own, after it, are still no run's
        httpx.get(CRM)
        httpx.post(RESEND, json={"from": "hi@acme.test", "to": ["ops@acme.test"], "subject": "Test", "text": "t"},
                   headers=RESEND_AUTH)
    assert said(sim.timeline(), "http", "email")[-3:] == [
        f"http      GET {CRM} -> 200",
        "email     resend to ops@acme.test: 'Test'",
        f"http      POST {RESEND} -> 200",
    ]
    assert [("run" in r.data) for r in sim.trace.of("http", "email")] == [True] * 3 + [False] * 3


def test_the_run_of_each_call_email_and_event_survives_save_and_load(tmp_path, capsys) -> None:
    sim = record(build())
    made = {r.seq: r.data["run"] for r in sim.trace.of("http", "email", "event") if "run" in r.data}
    assert len({r.kind for r in sim.trace if r.seq in made}) == 3  # job code made calls, emails and events
    for redact in (True, False):  # a run id is no personal data: redaction keeps it
        loaded = jobsim.Trace.load(sim.trace.save(tmp_path / f"t{redact}.jobsim.jsonl", redact=redact))
        assert {r.seq: r.data["run"] for r in loaded.of("http", "email", "event") if "run" in r.data} == made
    assert main(["show", str(tmp_path / "tFalse.jobsim.jsonl")]) == 0
    assert capsys.readouterr().out.splitlines()[2:] == sim.timeline().splitlines()[2:]


def without_runs(path: Any, to: Any) -> Any:
    """The trace at ``path`` with no ``run`` on its http, email and event lines: one saved before they named it."""
    out = []
    for line in path.read_bytes().splitlines():
        obj = orjson.loads(line)
        if obj["k"] in ("http", "email", "event", "event.dropped"):
            obj.pop("run", None)
        out.append(orjson.dumps(obj))
    to.write_bytes(b"\n".join(out) + b"\n")
    return to


def test_a_trace_whose_lines_name_no_run_shows_replays_and_diffs_as_before(tmp_path, capsys) -> None:
    path = record(build()).trace.save(tmp_path / "now.jobsim.jsonl")
    old = without_runs(path, tmp_path / "old.jobsim.jsonl")

    assert main(["show", str(path)]) == 0
    now_lines = capsys.readouterr().out.splitlines()
    assert main(["show", str(old)]) == 0
    old_lines = capsys.readouterr().out.splitlines()
    named = [line for line in now_lines if PREFIX.match(line)]
    assert {line[29:39].strip() for line in named} == {"http", "email", "event"}  # not vacuous: they name runs
    assert old_lines == [PREFIX.sub(r"\1", line) for line in now_lines]  # the old file's, as they always read

    assert jobsim.Simulation.replay(jobsim.Trace.load(old), build()).same
    assert traces.compare(path, old).same and traces.compare(old, path).same


def dupes() -> jobsim.App:
    app = jobsim.App("dupes")

    @app.function("notify", on="go")
    def notify(ctx: Any) -> None:
        ctx.step.send_event("once", {"name": "user/notified", "id": "n-1", "data": {}})
        ctx.step.send_event("again", {"name": "user/notified", "id": "n-1", "data": {}})  # the same id: dropped

    return app


KEPT = "duplicate id: the job it named is kept, so the id stays taken"  # BullMQ keeps its jobs, and their ids


def test_an_event_job_code_sent_that_the_bus_drops_names_its_run_too() -> None:
    # a queue's profile drops a repeated id whole (Inngest keeps it: the test below)
    with jobsim.Simulation(dupes(), start="2025-03-03T09:00:00Z", profile="bullmq") as sim:
        sim.send("go")
        sim.send("go", id="go-1")
        sim.send("go", id="go-1")  # the test's own duplicate: dropped, no run's
        sim.run_until_idle()
    assert said(sim.timeline(), "event") == [
        "event     go {}",
        "event     go {}",
        f"event     go id='go-1' dropped: {KEPT}",
        "event     notify#1: user/notified {}",
        f"event     notify#1: user/notified id='n-1' dropped: {KEPT}",  # one worker: no interleaving
        f"event     notify#2: user/notified id='n-1' dropped: {KEPT}",
        f"event     notify#2: user/notified id='n-1' dropped: {KEPT}",
    ]


def test_on_inngest_a_repeated_id_job_code_sent_is_an_event_of_its_run_and_skips_runs() -> None:
    app = dupes()
    app.function("log", on="user/notified")(lambda ctx: None)
    with jobsim.Simulation(app, start="2025-03-03T09:00:00Z") as sim:
        sim.send("go")
        sim.send("go", id="go-1")
        sim.send("go", id="go-1")  # the test's own repeat: a run of notify is skipped
        sim.run_until_idle()
    timeline = sim.timeline()
    assert said(timeline, "event") == [
        "event     go {}", "event     go {}", "event     go {}",
        "event     notify#1: user/notified {}", "event     notify#2: user/notified {}",
        "event     notify#1: user/notified {}", "event     notify#2: user/notified {}",
    ]
    assert said(timeline, "skipped") == [
        "skipped   notify#3: event id 'go-1' already started a run in the last 24h",
        "skipped   log#2: event id 'n-1' already started a run in the last 24h",
        "skipped   log#3: event id 'n-1' already started a run in the last 24h",
        "skipped   log#4: event id 'n-1' already started a run in the last 24h",
    ]


def test_a_retry_line_gives_the_delay_between_the_stamps_it_shows() -> None:
    """A retry due 10 s after an attempt at 11.881000500 is due at 21.881000 (a backend's microseconds): the line
    said "+9s999ms" beside the stamps 11.881 and 21.881."""
    import datetime

    from jobsim._time import MS, SECOND, instant_ns
    from jobsim._timeline import BUILTIN_KINDS as KINDS

    base = instant_ns("2025-03-01T09:00:00Z")

    def line(at: int, delay: int) -> str:
        return KINDS["retry"]({"at": at, "delay": delay, "attempt": 2, "function": "flaky"}, {}, datetime.timezone.utc)

    assert line(base + 21_881_000_000, 10 * SECOND - 500).endswith("attempt 2 at 09:00:21.881 (+10s)")
    assert line(base + 36_888_784_125, 36_888_784_125).endswith("at 09:00:36.888 (+36s888ms)")  # a jittered one
    assert line(base + 2 * MS + 400, 400).endswith("(+400ns)")  # under a millisecond: as it is


def test_a_run_no_request_reached_is_queued_not_started(tmp_path, capsys) -> None:
    """The test sent and closed without driving: the line said "started by" for a run that never started."""
    app = jobsim.App("undriven")
    app.function("welcome", on="user/created")(lambda ctx: ctx.step.run("send", lambda: "sent"))

    def runs(timeline: str) -> list[str]:
        return [line[29:] for line in timeline.splitlines() if " by user/created" in line]

    with pytest.warns(jobsim.PendingWorkWarning), jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.send("user/created", {"email": "a@b.c"})
        sim.advance(0)
        sim.send("user/created", {"email": "d@e.f"})
        assert runs(sim.timeline())[1] == "run       welcome#2 queued by user/created (not run yet)"
    assert [(run.status, len(run.attempts)) for run in sim.runs("welcome")] == [("completed", 2), ("queued", 0)]
    assert runs(sim.timeline()) == ["run       welcome#1 started by user/created",
                                    "run       welcome#2 queued by user/created (it never ran)"]
    assert main(["show", str(sim.trace.save(tmp_path / "t.jobsim.jsonl", redact=False))]) == 0
    assert runs(capsys.readouterr().out) == runs(sim.timeline())


def test_a_failed_attempt_is_shown_where_it_failed_after_what_its_code_did(tmp_path, capsys) -> None:
    """The attempt record is made at the attempt's start; job code that spent virtual time (``time.sleep``) and
    made an HTTP call failed after it, and its failure's line came before the call's. The record keeps ``end``,
    through a saved file too."""
    import time

    app = jobsim.App("a")

    @app.function("f", on="go", retries=0)
    def f(ctx: Any) -> None:
        time.sleep(30)
        httpx.post("https://hooks.example.com/x", json={})
        time.sleep(30)
        raise RuntimeError("boom")

    @app.function("quick", on="go", retries=0)
    def quick(ctx: Any) -> None:
        raise RuntimeError("at once")

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.http.route(method="POST", url="https://hooks.example.com/x").respond(200)
        sim.send("go")
        sim.run_until_idle()
        timeline = sim.timeline()
        slow, fast = sorted(sim.trace.of("attempt"), key=lambda r: r.data["function"] != "f")
    assert slow.at == 1_740_787_200 * 10**9 and slow.data["end"] == slow.at + 60 * 10**9
    assert "end" not in fast.data  # no time spent: no field
    lines = [line[:23] + line[27:] for line in timeline.splitlines()[2:]]
    assert lines.index("2025-03-01 00:00:30.000  http      f#1: POST https://hooks.example.com/x -> 200") < lines.index(
        "2025-03-01 00:01:00.000  attempt   f#1 function body attempt 0 failed: RuntimeError: boom"
    )
    assert "2025-03-01 00:00:00.000  attempt   quick#1 function body attempt 0 failed: RuntimeError: at once" in lines
    path = sim.trace.save(tmp_path / "t.jsonl")
    assert main(["show", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[2:] == timeline.splitlines()[2:]
