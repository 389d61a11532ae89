"""The README's smaller examples, run as written, and the concrete claims beside them.

The quick starts, the profiles/compare section, the property-based example and the
trace example have their own test_readme_*.py files; this one covers the rest of
"The API by example" and "Writing a backend plugin". Each block is read from the
README by its section heading, so an edit that breaks a block fails here. Blocks that
are fragments (decorators without a handler, calls on a `sim`) get the setup they
imply, and the assertions check what the text around them says they do.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import smtplib
import subprocess
import sys
import textwrap
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

import jobsim
from jobsim._cli import main
from jobsim._time import instant_ns, iso

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
UTC = dt.timezone.utc


def section(heading: str) -> str:
    return README.read_text().split(heading + "\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]


def python_blocks(heading: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", section(heading), re.S)


def decorated(app: jobsim.App, block: str) -> dict[str, Any]:
    """Give each decorator of a block of bare ``@app.function(...)`` lines a handler of its own."""
    handler = "def handler(ctx):\n    return len(ctx.events)\n"
    namespace: dict[str, Any] = {"app": app, "jobsim": jobsim, "alert_oncall": lambda ctx: ctx.event.data["error"]}
    chunks = [chunk for chunk in re.split(r"^(?=@)", block, flags=re.M) if chunk.strip()]
    assert chunks and all(chunk.startswith("@app.function(") for chunk in chunks)
    for chunk in chunks:
        exec(compile(chunk + handler, "README.md", "exec"), namespace)
    return namespace


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- Functions and triggers ---------------------------------------------------------------


def test_triggers_block_fires_as_its_comments_say():
    app = jobsim.App("acme")
    decorated(app, python_blocks("### Functions and triggers")[0])
    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.send("user/signup", {})
        sim.send("user/imported", {})
        sim.advance("7d")
        assert len(sim.runs("fan-out-a")) == 1
        assert [run.event.name for run in sim.runs("multi")] == ["user/signup", "user/imported"]
        daily = sim.runs("daily-report")
        # 09:00 New York is 14:00Z until 2025-03-08 and 13:00Z from 2025-03-09 (the README's DST bullet)
        assert [run.started_at for run in daily] == [at(f"2025-03-0{d}T14:00:00Z") for d in range(1, 8)]
        assert daily[0].event.name == "inngest/scheduled.timer"
        assert daily[0].event.data == {"cron": "0 9 * * *", "scheduledAt": "2025-03-01T14:00:00Z",
                                       "fireAt": "2025-03-01T14:00:00Z"}  # fmt: skip
        assert [run.started_at for run in sim.runs("weekly")] == [at("2025-03-07T11:00:00Z")]  # Friday 12:00 Paris
        assert len(sim.runs("hourly")) == 7 * 24


def prose(heading: str) -> str:
    """A section's text with its line breaks and indents folded into single spaces."""
    return " ".join(section(heading).split())


def test_wildcard_examples_match_and_refuse_as_the_text_says():
    text = prose("### Functions and triggers")
    examples = re.findall(r'\(?`on="([^"]+)"`: ([^;)]+)', text)
    assert [pattern for pattern, _ in examples] == ["app/*", "app/user.*"]
    for pattern, listed in examples:
        matched = re.findall(r"`([^`]+)`", listed.split(", not ")[0])
        unmatched = re.findall(r"`([^`]+)`", listed.split(", not ")[1]) if ", not " in listed else []
        app = jobsim.App("acme")
        app.function("f", on=pattern)(lambda ctx: ctx.event.name)
        with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
            for name in matched + unmatched:
                sim.send(name, {})
            sim.run_until_idle()
        assert [run.output for run in sim.runs("f")] == matched, pattern
    refused = re.search(r"A `\*` anywhere else \(([^)]+)\) is refused", text)[1]
    assert re.findall(r"`([^`]+)`", refused) == ["app/user.update*", "app/*.published", "report*s"]
    for pattern in re.findall(r"`([^`]+)`", refused):
        with pytest.raises(jobsim.InvalidArgument, match="puts a '\\*' where Inngest has no wildcard"):
            jobsim.App("acme").function("f", on=pattern)(lambda ctx: None)


def test_every_cron_descriptor_the_triggers_block_names_fires_off_inngest_and_is_refused_on_it():
    block = python_blocks("### Functions and triggers")[0]
    (comment,) = re.findall(r'cron="0 \* \* \* \*"\)\s+# (.*\n\s+# .*)', block)
    assert comment.endswith("not on Inngest (below)")
    daily = {"@yearly": 0, "@annually": 0, "@monthly": 0, "@weekly": 1, "@daily": 2, "@midnight": 2, "@hourly": 48}
    assert sorted(re.findall(r"@[a-z]+", comment)) == sorted(daily)
    for descriptor, count in daily.items():  # 2025-03-01 is a Saturday: two days hold one Sunday midnight
        app = jobsim.App("acme")
        app.function("c", cron=descriptor)(lambda ctx: None)
        with jobsim.Simulation(app, start="2025-03-01T00:00:00Z", profile="node-cron") as sim:  # knows all seven
            sim.advance("2d")
        assert len(sim.runs("c")) == count, descriptor
        with pytest.raises(jobsim.UnsupportedFeature, match="Inngest refuses @descriptors"):
            jobsim.Simulation(app, start="2025-03-01T00:00:00Z").start()


def fired_at(expr: str, start: str, span: str, profile: str = "inngest") -> list[str]:
    new_york = ZoneInfo("America/New_York")
    app = jobsim.App("acme")
    app.function("c", cron=expr, tz="America/New_York")(lambda ctx: None)
    with jobsim.Simulation(app, start=start, profile=profile) as sim:
        sim.advance(span)
    return [f"{run.started_at.astimezone(new_york):%m-%d %H:%M %Z}" for run in sim.runs("c")]


CRON_PARSER_PROFILES = ["bullmq", "trigger.dev", "quirrel", "agenda"]


def test_the_dst_bullets_hold_on_each_profile_they_name():
    from jobsim._cron import CronSchedule

    text = prose("### Functions and triggers")
    assert ("does not fire that day, as on node-cron; Debian/ISC cron fires it at 03:00 EDT. The cron-parser systems "
            "(BullMQ, Trigger.dev, Quirrel, Agenda) fire it shifted by the gap, at 03:30 EDT, when the search for the "
            "next run starts before 03:00 EDT. A search from 03:00 EDT or later, or from a shifted run, finds the next "
            "day, so `*/20 2 * * *` runs at 03:00 EDT only.") in text  # fmt: skip
    gap = ("30 2 * * *", "2025-03-08T12:00:00Z", "2d")
    every_20 = ("*/20 2 * * *", "2025-03-08T12:00:00Z", "2d")
    for profile in ["inngest", "node-cron"]:
        assert fired_at(*gap, profile) == ["03-10 02:30 EDT"], profile
        assert fired_at(*every_20, profile) == ["03-10 02:00 EDT", "03-10 02:20 EDT", "03-10 02:40 EDT"], profile
    for profile in CRON_PARSER_PROFILES:
        assert fired_at(*gap, profile) == ["03-09 03:30 EDT", "03-10 02:30 EDT"], profile
        assert fired_at(*every_20, profile) == ["03-09 03:00 EDT", "03-10 02:00 EDT", "03-10 02:20 EDT",
                                                "03-10 02:40 EDT"], profile  # fmt: skip
    isc = CronSchedule.parse("30 2 * * *", "America/New_York").bound("isc")
    assert iso(isc.next_after(instant_ns("2025-03-08T12:00:00Z"))) == "2025-03-09T07:00:00.000Z"  # 03:00 EDT

    assert ("fires twice, at 01:30 EDT and 01:30 EST (the cron-parser systems, ISC cron and node-cron: once, at "
            "01:30 EDT); a wildcard-hour schedule (`0 * * * *`) fires at both 01:00s (node-cron: at the first "
            "only)") in text  # fmt: skip
    twice = ("30 1 * * *", "2025-11-01T12:00:00Z", "1d")
    assert fired_at(*twice) == ["11-02 01:30 EDT", "11-02 01:30 EST"]
    for profile in [*CRON_PARSER_PROFILES, "node-cron"]:
        assert fired_at(*twice, profile) == ["11-02 01:30 EDT"], profile
    isc = CronSchedule.parse("30 1 * * *", "America/New_York").bound("isc")
    assert isc.fires_between(instant_ns("2025-11-01T12:00:00Z"), instant_ns("2025-11-02T12:00:00Z")) == [
        instant_ns("2025-11-02T05:30:00Z")]  # 01:30 EDT only
    hourly = ("0 * * * *", "2025-11-02T04:30:00Z", "2h")  # 00:30 EDT to 01:30 EST
    assert fired_at(*hourly) == ["11-02 01:00 EDT", "11-02 01:00 EST"]
    assert fired_at(*hourly, "node-cron") == ["11-02 01:00 EDT"]

    assert "A schedule fires strictly after the instant the simulation starts." in text
    assert fired_at("0 9 * * *", "2025-03-06T14:00:00Z", "1d") == ["03-07 09:00 EST"]


def test_schedules_due_in_one_second_start_one_run_on_inngest_each_elsewhere_and_agenda_refuses_two():
    text = prose("### Functions and triggers")
    assert "except on `agenda`, which refuses a second schedule on one function (`UnsupportedFeature`" in text

    def runs(profile: str) -> list[tuple[str, str]]:
        app = jobsim.App("acme")
        app.function("c", cron=["0 * * * *", "*/30 * * * *"])(lambda ctx: ctx.event.data["cron"])
        with jobsim.Simulation(app, start="2025-03-06T00:00:00Z", profile=profile) as sim:
            sim.advance("61m")
            assert sim.profile.cron_overlap == ("once" if profile == "inngest" else "each")
            missed = [(m.data["cron"], m.data["outcome"]) for m in sim.trace.of("cron.missed")]
        assert missed == ([("*/30 * * * *", "deduplicated")] if profile == "inngest" else [])
        return [(f"{run.started_at:%H:%M}", run.output) for run in sim.runs("c")]

    assert runs("inngest") == [("00:30", "*/30 * * * *"), ("01:00", "0 * * * *")]
    for profile in ["bullmq", "trigger.dev", "quirrel", "node-cron"]:
        assert runs(profile) == [("00:30", "*/30 * * * *"), ("01:00", "0 * * * *"), ("01:00", "*/30 * * * *")]
    with pytest.raises(jobsim.UnsupportedFeature, match="more than one cron schedule"):
        runs("agenda")


# --- Durable steps -------------------------------------------------------------------------


def test_race_mode_block_runs_as_written_and_charges_twice_at_once():
    namespace: dict[str, Any] = {}
    exec(compile(python_blocks("### Parallel steps: race mode")[0], "README.md", "exec"), namespace)
    run = namespace["run"]
    assert namespace["charges"] == [0, 1] and run.finished_at == at("2025-03-01T00:00:00Z")
    retry = namespace["sim"].trace.of("retry")[0]
    assert (retry.data["step"], retry.data["at"] - run.start_ns) == ("charge", 10 * 10**9)


def test_durable_steps_block_confirms_a_paid_order_and_expires_an_unpaid_one():
    app = jobsim.App("acme")
    namespace = {"app": app, "jobsim": jobsim, "reserve": lambda items: {"reserved": items},
                 "release": lambda reserved: None}  # fmt: skip
    exec(compile(python_blocks("### Durable steps (Inngest's model)")[0], "README.md", "exec"), namespace)
    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.send("order/placed", {"orderId": "o1", "items": ["a"]})
        sim.send("order/placed", {"orderId": "o2", "items": ["b"]})
        sim.advance("2h")  # past the 1 h cool-off: both wait for a payment
        sim.send("payment/received", {"orderId": "o1"})
        sim.run_until_idle()
        paid, unpaid = sim.runs("process-order")
        assert (paid.output, paid.finished_at) == ({"status": "confirmed"}, at("2025-03-01T02:00:00Z"))
        assert list(paid.steps) == ["reserve-inventory", "cool-off", "payment", "notify"]
        assert (unpaid.output, unpaid.finished_at) == ({"status": "expired"}, at("2025-03-02T01:00:00Z"))  # 1h + 24h
        assert list(unpaid.steps) == ["reserve-inventory", "cool-off", "payment", "release"]
        assert [e.name for e in sim.events][-1] == "order/confirmed"


def test_an_async_step_without_await_fails_with_the_message_quoted():
    text = section("### Durable steps (Inngest's model)")
    quoted = re.search(r"``(step 'charge' was called without `await`) \.\.\.``", text)
    app = jobsim.App("acme")

    @app.function("pay", on="go", retries=0)
    async def pay(ctx):
        ctx.step.run("charge", lambda: 1)

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.send("go", {})
        sim.run_until_idle()
        assert quoted and str(sim.runs("pay")[0].attempts[0].error).startswith(quoted[1])


def waited(match: str | None = None, if_exp: Any = None, trigger: Any = None, candidate: Any = None) -> Any:
    """What a wait_for_event started by ``trigger`` data returns for a ``candidate`` sent a second later."""
    app = jobsim.App("acme")

    @app.function("w", on="start", retries=0)
    def w(ctx):
        got = ctx.step.wait_for_event("p", event="pay", match=match, if_exp=if_exp, timeout="1h")
        return None if got is None else got.data

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.send("start", trigger or {})
        sim.advance("1s")
        sim.send("pay", candidate or {})
        sim.run_until_idle()
    run = sim.runs("w")[0]
    return run.output if run.status == "completed" else run.error


def test_the_wait_for_event_examples_and_rules_hold():
    text = prose("### Durable steps (Inngest's model)")
    (example,) = re.findall(r'`if_exp=` takes a CEL-style expression \(`"(.*?)"`\)', text)
    pro = {"userId": "u1", "plan": "pro"}
    assert waited(if_exp=example, trigger={"userId": "u1"}, candidate=pro) == pro
    assert waited(if_exp=example, trigger={"userId": "u1"}, candidate={"userId": "u1", "plan": "free"}) is None
    assert waited(if_exp=lambda event, candidate: candidate.data["plan"] == "pro", candidate=pro) == pro
    roots = re.search(r"`match` is a path into the event that starts with (.*?), optionally after `event\.`", text)[1]
    assert re.findall(r"`(\w+)`", roots) == ["data", "user", "id", "name", "ts", "v"]
    for root in ["data", "user", "id", "name", "ts", "v"]:
        assert not isinstance(waited(match=f"{root}.x" if root in ("data", "user") else root), Exception), root
    assert waited(match="event.data.userId", trigger={"userId": "u1"}, candidate={"userId": "u1"}) == {"userId": "u1"}
    assert isinstance(waited(match="async.data.userId"), jobsim.InvalidArgument)
    # unknowns, as in Inngest's pkg/expressions/unknown.go: a field both events lack pairs nothing
    assert "neither `match` nor `==` pairs two events that both lack the field" in text
    assert waited(match="data.userId") is None and waited(if_exp="event.data.x == async.data.x") is None
    assert waited(if_exp="async.data.x == null") == {} and waited(if_exp="async.data.x != 5") == {}
    assert waited(if_exp="async.data.x != null") is None
    assert waited(if_exp="async.data.x < -5") == {} and waited(if_exp="5 < async.data.x") is None
    assert waited(if_exp="async.data.x < 1", candidate={"x": None}) == {"x": None}  # null stands for 0
    assert waited(if_exp="async.data.x >= ''", candidate={"x": None}) == {"x": None}  # and for ""


# --- Retries ---------------------------------------------------------------------------------


def test_an_int_retries_counts_retries_and_retry_after_is_clamped():
    assert "so `retries=3`\nmeans `Retries(attempts=4)`" in section("### Retries")
    app = jobsim.App("acme")

    @app.function("plain", on="go", retries=3)
    def plain(ctx):
        raise RuntimeError("down")

    @app.function("after", on="go", retries=2)
    def after(ctx):
        raise jobsim.RetryAfterError("100ms" if ctx.attempt == 0 else "48h")

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.send("go", {})
        sim.run_until_idle()
        assert len(sim.runs("plain")[0].attempts) == 4
        starts = [a.started_at for a in sim.runs("after")[0].attempts]
        assert [b - a for a, b in itertools.pairwise(starts)] == [dt.timedelta(seconds=1), dt.timedelta(hours=24)]


# --- Flow control ----------------------------------------------------------------------------


def test_flow_control_block_builds_and_its_quoted_timeline_lines_are_printed():
    text = section("### Flow control")
    app = jobsim.App("acme")
    decorated(app, python_blocks("### Flow control")[0])
    debounce_line = re.search(r"`(debounce  sync-doc#2 .*?)`", text)[1]
    skipped_line = re.search(r"`(skipped   alert#3: .*?)`", text)[1]
    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.send("doc/edited", {"docId": "d1"})  # run #1: one edit, then quiet
        sim.advance("1h")
        for _ in range(12):  # a steady stream: every 100 s, so only the 20 m timeout fires run #2
            sim.send("doc/edited", {"docId": "d1"})
            sim.advance("100s")
        for _ in range(5):  # limit=10 per hour lets 2 through at once
            sim.send("alert/raised", {"service": "search"})
        sim.run_until_idle()
        assert [run.status for run in sim.runs("alert")] == ["completed"] * 2 + ["skipped"] * 3
        timeline = [line.split("  ", 1)[1].strip() for line in sim.timeline().splitlines()[2:]]
        assert debounce_line in timeline
        assert skipped_line in timeline


def test_shared_concurrency_block_runs_as_written():
    block = next(b for b in python_blocks("### Flow control") if 'scope="account"' in b)
    namespace: dict[str, Any] = {}
    exec(compile(block, "README.md", "exec"), namespace)  # its own assert: translate waits for summarize's call
    sim = namespace["sim"]
    assert [run.status for fn in ("summarize", "translate") for run in sim.runs(fn)] == ["completed"] * 2


# --- Driving time ----------------------------------------------------------------------------


def test_driving_time_block_runs_as_written(capsys):
    app = jobsim.App("acme")

    @app.function("send-welcome-email", on="user/created")
    def welcome(ctx):
        return ctx.event.data["email"]

    namespace = {"app": app, "jobsim": jobsim}
    exec(compile(python_blocks("### Driving time")[0], "README.md", "exec"), namespace)
    sim = namespace["sim"]
    assert (sim.now, sim.seed) == (at("2025-03-10T13:00:00Z"), 7)  # 09:00 EDT: -05:00 there was 10:00 local
    assert sim.now.astimezone(sim.tz).hour == 9
    assert [e.name for e in sim.events] == ["user/created", "order/paid"]
    assert sim.runs("send-welcome-email")[0].output == "ada@example.com"
    assert "send-welcome-email#1 completed" in capsys.readouterr().out


def test_driving_time_future_ts_block_starts_the_reminder_five_minutes_later():
    app = jobsim.App("acme")

    @app.function("remind", on="reminder/scheduled")
    def remind(ctx):
        return ctx.event.data["user"]

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        block = textwrap.dedent(python_blocks("### Driving time")[1])  # indented under its bullet
        exec(compile(block, "README.md", "exec"), {"sim": sim, "jobsim": jobsim})
        sim.run_until_idle()
    run = sim.runs("remind")[0]
    assert (run.output, run.started_at) == ("u1", at("2025-03-01T00:05:00Z"))


# --- Fault injection -------------------------------------------------------------------------


def test_fault_injection_block_fails_the_body_once_and_the_step_twice():
    app = jobsim.App("shop")

    @app.function("process-order", on="order/placed", retries=jobsim.Retries(attempts=5, backoff="constant", min="1s"))
    def process_order(ctx):
        ctx.step.run("reserve-inventory", lambda: "reserved")
        smtp_send("ops@shop.test")

    def smtp_send(to):
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "shop@shop.test", to, "order"
        message.set_content("placed")
        with smtplib.SMTP("smtp.example.com") as smtp:
            smtp.send_message(message)

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        exec(compile(python_blocks("### Fault injection")[0], "README.md", "exec"), {"sim": sim})
        sim.send("order/placed", {})
        sim.run_until_idle()
        run = sim.runs("process-order")[0]
        attempts = [(a.step, type(a.error).__name__ if a.error else None) for a in run.attempts]
        assert attempts == [
            (None, "ConnectionError"),  # the body's fault comes first: no step has run yet
            ("reserve-inventory", "InjectedFault"),
            ("reserve-inventory", "InjectedFault"),
            ("reserve-inventory", None),
            (None, "SMTPDataError"),  # smtp_fail(times=2, code=451)
            (None, "SMTPDataError"),
            (None, None),  # the body's fourth attempt of five: each counter is its own
        ]
        assert run.status == "completed"
        assert [email.to for email in sim.mail.outbox] == [["ops@shop.test"]]


# --- Profiles: crash, downtime, duplicate delivery --------------------------------------------


def test_profile_fault_calls_run_as_written_under_bullmq_and_vercel_cron():
    block = next(b for b in python_blocks("### Profiles, faults and compare") if "sim.duplicate_delivery(" in b)
    outcomes = {}
    for profile in ("bullmq", "vercel-cron"):
        app = jobsim.App("billing")

        @app.function("nightly-billing", cron="0 9 * * *")
        def nightly_billing(ctx):
            ctx.step.run("send-receipts", time.sleep, 20)

        @app.function("daily-digest", cron="0 7 * * *")
        def daily_digest(ctx):
            return "digest"

        with jobsim.Simulation(app, start="2025-03-03T00:00:00Z", profile=profile) as sim:
            exec(compile(block, "README.md", "exec"), {"sim": sim})
            sim.advance_to("2025-03-04T08:00:00Z")
            outcomes[profile] = [run.status for run in sim.runs("nightly-billing")], len(sim.runs("daily-digest"))
    # BullMQ runs the 09:00 tick when it is back at 10:00 (the crash aimed at 09:00:10 takes that attempt, which
    # the stalled-job check re-runs) and drops the duplicated digest; Vercel Cron loses the tick but runs the copy.
    assert outcomes == {"bullmq": (["completed"], 2), "vercel-cron": ([], 3)}


# --- Mail outbox -----------------------------------------------------------------------------


def test_mail_assertions_block_and_exactly_one_rule():
    app = jobsim.App("acme")

    @app.function("mail", on="go")
    def mail(ctx):
        for subject, body in [("Welcome!", "hello"), ("Order 1", "your receipt"), ("Order 2", "your receipt")]:
            ctx.step.run(subject, send, "ada@example.com", subject, body)

    def send(to, subject, body):
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "hi@acme.test", to, subject
        message.set_content(body)
        with smtplib.SMTP("smtp.example.com") as smtp:
            smtp.send_message(message)

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.send("go", {})
        sim.run_until_idle()
        namespace = {"sim": sim}
        exec(compile(python_blocks("### Mail outbox")[0], "README.md", "exec"), namespace)
        assert namespace["email"].subject == "Welcome!"
        with pytest.raises(AssertionError, match="expected exactly 1 email"):
            sim.mail.assert_sent(containing="receipt")
        assert len(sim.mail.assert_sent(to="ADA@example.com", subject=re.compile("Order"), count=2)) == 2


def test_the_smtp_delay_block_runs_as_written_and_the_retry_sends_twice():
    block = python_blocks("### Mail outbox")[1]
    assert 'smtp_delay("1m", on="DATA")' in block
    namespace = {"app": jobsim.App("acme"), "jobsim": jobsim}
    exec(compile(block, "README.md", "exec"), namespace)
    sim = namespace["sim"]
    second = sim.runs("send-receipt")[0].attempts[1]
    assert second.error is None
    assert [email.sent_at for email in sim.mail.outbox] == [sim.runs("send-receipt")[0].attempts[0].started_at,
                                                            second.started_at]  # queued at once, both times
    assert "worker.jobsim.test" in section("### Mail outbox")


def test_the_aiosmtplib_block_runs_as_written_and_the_retry_gets_past_the_refused_starttls():
    pytest.importorskip("aiosmtplib")
    block = python_blocks("### Mail outbox")[2]
    assert "await aiosmtplib.send(" in block
    namespace = {"app": jobsim.App("acme"), "jobsim": jobsim}
    exec(compile(block, "README.md", "exec"), namespace)
    sim = namespace["sim"]
    assert str(sim.runs("send-invoice")[0].attempts[0].error) == "(454, '4.7.0 TLS not available')"
    assert [record.data["subject"] for record in sim.trace.of("email")] == ["Your invoice"]
    assert "outside 2.0 to 5.1" in section("### Mail outbox")
    from jobsim._aiosmtp import VERIFIED
    assert VERIFIED == ((2, 0), (5, 1))  # the range the README names


# --- HTTP sink -------------------------------------------------------------------------------


def test_http_routes_block_answers_500_then_a_timeout_then_a_slow_200():
    app = jobsim.App("acme")

    @app.function("charge", on="go", retries=jobsim.Retries(attempts=4, backoff="constant", min="10s"))
    def charge(ctx):
        ctx.step.run("hook", lambda: httpx.post("https://hooks.example.com/x").json())
        return ctx.step.run("charge", lambda: httpx.post("https://api.example.com/charge", timeout=5)
                            .raise_for_status().status_code)  # fmt: skip

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        routes = python_blocks("### HTTP sink")[0]
        exec(compile(routes, "README.md", "exec"), {"sim": sim, "httpx": httpx, "jobsim": jobsim})
        sim.send("go", {})
        sim.run_until_idle()
        run = sim.runs("charge")[0]
        tries = [(a.started_at.time().isoformat(), a.finished_at.time().isoformat(), type(a.error).__name__)
                 for a in run.attempts if a.step == "charge"]  # fmt: skip
        assert tries == [("00:00:00", "00:00:00", "HTTPStatusError"),
                         ("00:00:10", "00:00:15", "ReadTimeout"),  # jobsim.timeout(): the client's 5 s
                         ("00:00:25", "00:00:27", "NoneType")]  # jobsim.delayed("2s", 200)  # fmt: skip
        assert run.output == 200


def test_an_unknown_route_pattern_raises_the_message_quoted():
    block = python_blocks("### HTTP sink")[1]
    call, *comment = block.splitlines()
    quoted = " ".join(line.removeprefix("# ") for line in comment)
    app = jobsim.App("acme")
    app.function("noop", on="go")(lambda ctx: None)
    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim, pytest.raises(jobsim.InvalidArgument) as raised:
        exec(compile(call, "README.md", "exec"), {"sim": sim})
    assert f"InvalidArgument: {raised.value}" == quoted


def test_the_requests_block_runs_as_written_with_urllib3s_own_waits():
    block = python_blocks("### HTTP sink")[2]
    assert "requests.Session()" in block
    namespace = {"app": jobsim.App("acme"), "jobsim": jobsim}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["sim"].runs("notify-partner")[0].output == 200


def test_the_aiohttp_block_runs_as_written_with_aiohttps_own_sock_read():
    aiohttp = pytest.importorskip("aiohttp")
    if not hasattr(aiohttp, "SocketTimeoutError"):
        pytest.skip(f"the block names SocketTimeoutError, which aiohttp {aiohttp.__version__} calls ServerTimeoutError")
    block = python_blocks("### HTTP sink")[3]
    assert "aiohttp.ClientSession(" in block
    namespace = {"app": jobsim.App("acme"), "jobsim": jobsim}
    exec(compile(block, "README.md", "exec"), namespace)
    sim = namespace["sim"]
    assert [(str(c.request.url), c.elapsed.total_seconds()) for c in sim.http.calls] == [
        ("https://ups.example.com/quote", 2.0), ("https://dhl.example.com/quote", 3.0),
        ("https://fedex.example.com/quote", 5.0)]  # fmt: skip
    assert sim.http.calls[0].request.content == b'{"order": 7}'


def test_the_urllib_block_runs_as_written_with_the_standard_librarys_own_redirect_and_http_error():
    block = python_blocks("### HTTP sink")[4]
    assert "urllib.request.urlopen(" in block
    namespace = {"app": jobsim.App("acme"), "jobsim": jobsim}
    exec(compile(block, "README.md", "exec"), namespace)
    sim = namespace["sim"]
    assert [call.request.extensions["jobsim_client"] for call in sim.http.calls] == ["http.client"] * 4


def test_the_answer_lost_block_runs_as_written_a_retried_webhook_with_one_key():
    block = python_blocks("### HTTP sink")[5]
    assert "answer_lost(partner, times=1)" in block
    namespace = {"app": jobsim.App("acme"), "jobsim": jobsim}
    exec(compile(block, "README.md", "exec"), namespace)
    sim = namespace["sim"]
    assert sim.http["partner"].call_count == 2
    assert [record.data.get("lost") for record in sim.trace if record.kind == "http"] == [200, None]


# --- Timeline --------------------------------------------------------------------------------


def test_the_timeline_shown_is_what_such_a_run_prints():
    shown = section("### Timeline").split("```\n", 1)[1].split("```", 1)[0]
    app = jobsim.App("acme")
    sends = []

    @app.function("send-welcome-email", on="user/created",
                  retries=jobsim.Retries(attempts=3, backoff="exponential", min="1s", max="1h"))  # fmt: skip
    def welcome(ctx):
        ctx.step.run("send", send)
        ctx.step.sleep("wait", "1h")
        ctx.step.run("follow-up", time.sleep, 5)

    def send():
        sends.append(1)
        if len(sends) == 1:
            raise RuntimeError("smtp down")
        mail = {"from": "welcome@acme.test", "to": ["ada@example.com"], "subject": "Welcome to Acme!", "text": "Hi"}
        return httpx.post("https://api.resend.com/emails", json=mail, headers={"Authorization": "Bearer re_1"}).json()

    @app.function("process-user-signup", on="user/created")
    def signup(ctx):  # runs beside the welcome: each line of a call, email or event names its run
        ctx.step.run("crm", lambda: httpx.post("https://crm.example.com/contacts").status_code)
        ctx.step.send_event("profile", {"name": "user/profile/create", "data": ctx.event.data})

    with jobsim.Simulation(app, start="2025-03-07T00:00:00Z", seed=7, tz="America/New_York") as sim:
        sim.http.post("https://crm.example.com/contacts").respond(201)
        sim.send("user/created", {"email": "ada@example.com"})
        sim.run_until_idle()
        assert sim.timeline() + "\n" == shown


# --- Errors ----------------------------------------------------------------------------------


def test_the_cron_error_quoted_is_the_message():
    quoted = re.search(r"e\.g\. `(cron expression .*?), \.\.\.`", section("### Errors"), re.S)[1].replace("\n", " ")
    app = jobsim.App("acme")
    with pytest.raises(jobsim.InvalidArgument) as raised:
        app.function("bad", cron="61 * * * *")(lambda ctx: None)
    assert str(raised.value).startswith(quoted)
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, jobsim.JobsimError)


# --- Command line ----------------------------------------------------------------------------


def documented_commands() -> list[tuple[str, set[str]]]:
    """Every `jobsim SUBCOMMAND ... --flag` the README shows, with its flags."""
    text = README.read_text()
    lines: list[tuple[str, str]] = []
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        # a command line is shown in a code block; prose may start a line with "jobsim publishes ..."
        shown = re.match(r"(?:\$ )?jobsim ([a-z]+)\b(?! ·)(.*)$", line) if in_code else None  # not a timeline's title
        if shown:
            lines.append((shown[1], shown[2]))
        elif lines and re.match(r"\s+\[--", line):  # a synopsis continued on the next line
            lines.append((lines[-1][0], line))
    lines += re.findall(r"`jobsim ([a-z]+)\b([^`]*)`", text.replace("\n", " "))  # inline synopses
    out: dict[str, set[str]] = {}
    for command, rest in lines:
        out.setdefault(command, set()).update(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", rest.split("#", 1)[0]))
    return sorted(out.items())


def test_every_command_and_flag_the_readme_shows_exists(capsys):
    commands = dict(documented_commands())
    assert {"run", "show", "replay", "diff", "import", "scan", "redact", "compare", "profiles"} <= set(commands)
    assert {"--seed", "--start", "--days", "--tz", "--no-timeline", "--save", "--no-redact"} <= commands["run"]
    for command, flags in commands.items():
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0
        usage = capsys.readouterr().out
        for flag in flags:
            assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", usage), f"jobsim {command} has no {flag}"


# --- Writing a backend plugin ----------------------------------------------------------------


def test_plugin_demo_runs_as_written(tmp_path):
    blocks = python_blocks("### Writing a backend plugin")
    assert len(blocks) == 1 and blocks[0].startswith("# plugin_demo.py\n")
    (tmp_path / "plugin_demo.py").write_text(blocks[0])
    done = subprocess.run([sys.executable, "plugin_demo.py"], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_the_shop_week_commands_say_what_the_readme_says(tmp_path, monkeypatch, capsys):
    lead = "The example shop's week, from\nthe command line:\n\n```\n"
    block = section("### Traces: record, replay, diff").split(lead, 1)[1]
    commands = [line.partition("#")[::2] for line in block.split("```", 1)[0].splitlines()]
    assert len(commands) == 4
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.chdir(tmp_path)
    said = []
    for command, _ in commands:
        code = main(command.split()[1:])
        said.append((code, capsys.readouterr().out.splitlines()[-1]))
    (run_code, run_last), (replay_code, replay_last), (run3_code, _), (diff_code, _) = said
    saved = re.search(r"\.\.\. (trace saved to .*\))", commands[0][1])[1]
    assert (run_code, run_last) == (0, saved)
    replay_said = re.search(r'exit (\d): "(.*), \.\.\."', commands[1][1])
    assert replay_code == int(replay_said[1]) and replay_last.startswith(replay_said[2] + ", ")
    assert run3_code == 0
    assert diff_code == int(re.search(r"exit (\d)", commands[3][1])[1]) == 1


# --- Errors ------------------------------------------------------------------------------------------


def test_errors_block_runs_as_written_and_its_numbers_are_the_codes():
    from jobsim._checks import JOB_ERRORS
    from jobsim._simulation import MAX_SPENDS

    (block,) = python_blocks("### Errors")
    namespace: dict[str, Any] = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert [type(a.error) for a in namespace["run"].attempts] == [SystemExit, SystemExit]
    text = " ".join(section("### Errors").split())
    assert f"spends virtual time {MAX_SPENDS:,} times" in text
    assert "any `Exception`" in text and "`SystemExit`, `GeneratorExit` and `asyncio.CancelledError`" in text
    assert [cls.__name__ for cls in JOB_ERRORS] == ["Exception", "SystemExit", "GeneratorExit", "CancelledError"]
