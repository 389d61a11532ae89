"""Replay: a recording's inputs into today's code, and each comparison mode catching its change."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import re
import time

import httpx
import pytest
from _imports import import_from
from _traceapp import START, build, record

import jobsim
from jobsim import traces
from jobsim._time import SECOND, instant_ns

T0 = instant_ns(START)


@pytest.fixture(scope="module")
def recorded() -> jobsim.Simulation:
    return record(build())


@pytest.fixture(scope="module")
def trace_file(recorded, tmp_path_factory):
    return recorded.trace.save(tmp_path_factory.mktemp("traces") / "welcome.jobsim.jsonl")


def test_replaying_the_same_code_gives_the_same_story(recorded):
    result = jobsim.Simulation.replay(recorded.trace, build())
    assert result.same, result.report()
    assert result.inputs == 3 and result.stopped is None
    sim = result.simulation
    assert [r.status for r in sim.runs("welcome")] == ["completed", "skipped", "completed"]  # signup-ada repeats
    assert [(a.step, a.number, (a.start_ns - T0) // SECOND) for a in sim.runs("welcome")[0].attempts][:2] == [
        ("crm", 0, 0), ("crm", 1, 10)]  # the recorded 500, served again: the same retry, 10 s later
    assert [m.to for m in sim.mail.outbox] == [["ada.lovelace@gmail.com"], ["grace@navy.mil"]]
    assert sim.kernel.now == recorded.kernel.now


def test_replaying_a_redacted_file_feeds_the_fakes_and_still_compares_equal(trace_file):
    result = jobsim.Simulation.replay(trace_file, build())
    assert result.same, result.report()
    recipients = [m.to[0] for m in result.simulation.mail.outbox]
    assert all(r.endswith(("@example.com", "@example.net", "@example.org")) for r in recipients)
    report = result.report()
    assert report.splitlines()[0] == f"jobsim replay of {trace_file}"
    assert "  same     welcome  3 runs, 2 emails, 5 http calls, 2 events emitted" in report
    assert report.endswith("same: 3 function(s), recorded and replayed agree on runs, outputs, emails, http, "
                           "events, timing")  # fmt: skip


@pytest.mark.parametrize(("change", "mode", "label", "path", "values", "note", "differing"), [
    ({"fails": True}, "runs", "run #1", "status", ("completed", "failed"), "differs", ["welcome", "audit"]),
    ({"output_extra": {"v": 2}}, "outputs", "run #1", "v", (None, 2), "only in the replay", ["welcome"]),
    ({"subject": "Hello {name}"}, "emails", "email #1 of run #1", "subject",
     ("Welcome, Ada Lovelace!", "Hello Ada Lovelace"), "differs", ["welcome"]),
    ({"plan": "pro"}, "http", "http call #1 of run #1", "request.body.json.plan", ("free", "pro"), "differs",
     ["welcome"]),
    ({"emitted": "user/greeted"}, "events", "event #1 of run #1", "type", ("user/welcomed", "user/greeted"),
     "differs", ["welcome"]),
    ({"pause": "2h"}, "timing", "sleep step 'pause' of run #1 ends", "at",
     ("2025-03-03T11:00:10.000+01:00", "2025-03-03T12:00:10.000+01:00"), "1h later in the replay",
     ["welcome", "audit"]),
])  # fmt: skip
def test_each_comparison_mode_reports_its_first_divergence(recorded, change, mode, label, path, values, note,
                                                           differing):
    result = jobsim.Simulation.replay(recorded.trace, build(**change), compare=mode)
    assert not result.same
    assert [d.function for d in result.divergences] == differing  # earliest first: the change, then what follows
    divergence = result.first("welcome")
    assert (divergence.mode, divergence.label, divergence.path, divergence.note) == (mode, label, path, note)
    assert (divergence.recorded, divergence.replayed) == values
    hide = {"tolerance": "1h"} if mode == "timing" else {"ignore": ["*:**"]}  # 'at' is never ignored
    hidden = jobsim.Simulation.replay(recorded.trace, build(**change), compare=mode, **hide)
    # every field ignored, a record stays in its function's run: a run or call only one side has still differs
    # (the failing welcome starts no audit run), as no field says it was there
    assert all(d.note.startswith(("missing from", "only in")) and not d.path for d in hidden.divergences)
    assert hidden.first("welcome") is None, hidden.report()
    if mode == "runs":  # the placing fields named too: no record is in a run, the runs compare as none
        everything = ["*:**", "*:function", "*:run"]
        assert jobsim.Simulation.replay(recorded.trace, build(**change), compare=mode, ignore=everything).same


def test_the_report_shows_the_first_divergence_per_function(recorded):
    result = jobsim.Simulation.replay(recorded.trace, build(subject="Hello {name}"), compare="emails,runs")
    lines = result.report().splitlines()
    assert lines[3:] == [
        "compared: emails, runs",
        "",
        "  DIFFERS  welcome  emails: email #1 of run #1 at 2025-03-03T10:00:10.000+01:00: differs",
        '                        subject: recorded "Welcome, Ada Lovelace!"',
        '                                 replayed "Hello Ada Lovelace"',
        "  same     audit    2 runs",
        "  same     digest   1 run",
        "",
        "DIFFERS: 1 of 3 function(s) (emails 1)",
    ]
    with pytest.raises(AssertionError, match="DIFFERS  welcome  emails"):
        result.assert_same()


def test_timing_within_the_tolerance_is_the_same(recorded):
    slower = build(retry_min="12s")
    strict = jobsim.Simulation.replay(recorded.trace, slower, compare="timing")
    divergence = strict.first("welcome")
    assert (divergence.label, divergence.note) == ("retry 1 due step 'crm' of run #1", "2s later in the replay")
    assert strict.first("audit").label == "run.start of run #1"
    assert jobsim.Simulation.replay(recorded.trace, build(retry_min="12s"), compare="timing", tolerance="2s").same


def test_a_timing_divergence_is_not_printed_at_the_instant_it_was_decided(recorded):
    # "sleep step 'pause' of run #1 ends at 10:00:10: 1h later" read as if the sleep ended at 10:00:10, the instant
    # it began; the two times it ends at are on the lines below
    lines = jobsim.Simulation.replay(recorded.trace, build(pause="2h"), compare="timing").report().splitlines()
    assert lines[5:8] == [
        "  DIFFERS  welcome  timing: sleep step 'pause' of run #1 ends: 1h later in the replay",
        '                        at: recorded "2025-03-03T11:00:10.000+01:00"',
        '                            replayed "2025-03-03T12:00:10.000+01:00"',
    ]


def test_ignored_paths_are_left_out_on_both_sides(recorded):
    changed = {"subject": "Hello {name}", "output_extra": {"generatedAt": "now"}}
    result = jobsim.Simulation.replay(recorded.trace, build(**changed), compare="emails,outputs",
                                      ignore=["email:subject", "run.end:output.generatedAt", "email:nope"])  # fmt: skip
    assert result.same, result.report()
    assert result.comparison.notes == ["--ignore 'email:nope' matched nothing"]
    deep = jobsim.Simulation.replay(recorded.trace, build(**changed), compare="emails,outputs",
                                    ignore=["*:**.subject", "*:**.generatedAt"])  # fmt: skip
    assert deep.same, deep.report()


def test_recorded_faults_are_armed_again(recorded):
    result = jobsim.Simulation.replay(recorded.trace, build())
    audit = result.simulation.runs("audit")[0]
    assert next((a.step, type(a.error).__name__, str(a.error)) for a in audit.attempts) == (
        "log", "TimeoutError", "audit log slow")
    without = jobsim.Simulation.replay(recorded.trace, build(), faults=False, compare="runs,timing")
    assert [(d.function, d.label) for d in without.divergences] == [("audit", "retry 1 due step 'log' of run #1")]


def test_routes_instead_of_recorded_responses(recorded):
    result = jobsim.Simulation.replay(recorded.trace, build(), http="routes", compare="runs")
    divergence = result.first("welcome")
    assert (divergence.label, divergence.path, divergence.replayed) == ("run #1", "status", "failed")
    assert result.first("welcome").replayed == "failed"

    def up(sim):
        sim.http.post(url__startswith="https://crm.example.com").respond(200, json={"contact": 1})

    assert jobsim.Simulation.replay(recorded.trace, build(), http="routes", setup=up, compare="runs").same


def test_recorded_latency_is_spent_again_in_virtual_time(tmp_path):
    app = jobsim.App("slow")

    @app.function("fetch", on="go")
    def fetch(ctx):
        return ctx.step.run("get", lambda: httpx.get("https://api.example.com/slow").status_code)

    with jobsim.Simulation(app, start=START) as sim:
        sim.http.get("https://api.example.com/slow").mock(side_effect=jobsim.delayed("2.5s", 204))
        sim.send("go")
        sim.run_until_idle()
    result = jobsim.Simulation.replay(sim.trace.save(tmp_path / "slow.jobsim.jsonl"), app)
    assert result.same, result.report()
    run = result.simulation.runs("fetch")[0]
    assert (run.output, run.finished_at - run.started_at) == (204, dt.timedelta(seconds=2.5))


def test_a_recorded_answer_later_than_todays_timeout_times_out_in_the_replay(tmp_path):
    """The partner answered in 15 s; today's code waits 10 s: the replay's client gives up at 10 s, as it would
    against that partner (and as aiohttp's already did), instead of getting the answer at 15 s."""
    def build_app(wait: float) -> jobsim.App:
        app = jobsim.App("partner")

        @app.function("notify", on="go", retries=0)
        def notify(ctx):
            return httpx.post("https://partner.example.com/hook", timeout=wait).status_code

        return app

    with jobsim.Simulation(build_app(30), start=START) as sim:
        sim.http.post("https://partner.example.com/hook").mock(side_effect=jobsim.delayed("15s", 200))
        sim.send("go")
        sim.run_until_idle()
    trace = sim.trace.save(tmp_path / "partner.jobsim.jsonl")
    assert jobsim.Simulation.replay(trace, build_app(30)).same
    result = jobsim.Simulation.replay(trace, build_app(10), compare="runs")
    assert not result.same
    run = result.simulation.runs("notify")[0]
    assert (run.status, type(run.error).__name__, run.finished_at - run.started_at) == (
        "failed", "ReadTimeout", dt.timedelta(seconds=10))
    assert "the trace recorded an answer after 15s, later than the client's read timeout (10s)" in str(run.error)


def test_the_order_of_sends_and_advances_at_one_instant_is_kept():
    app = jobsim.App("order")
    seen = []

    @app.function("a", on="a")
    def a(ctx):
        seen.append("a")

    @app.function("b", on="b")
    def b(ctx):
        seen.append("b")

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("b")
        sim.advance(0)
        sim.send("a")
        sim.advance(0)
    assert seen == ["b", "a"]
    seen.clear()
    assert jobsim.Simulation.replay(sim.trace, app).same
    assert seen == ["b", "a"]


def test_setup_and_deliver_hooks():
    app = jobsim.App("store")
    rows: dict[str, str] = {}

    @app.function("greet", on="user/created")
    def greet(ctx):
        return f"hello {rows[ctx.event.data['id']]}"

    with jobsim.Simulation(app, start=START) as sim:
        rows["u1"] = "Ada"
        sim.send("user/created", {"id": "u1"})
        sim.run_until_idle()
    rows.clear()
    missing = jobsim.Simulation.replay(sim.trace, app, compare="runs")
    assert missing.first("greet").replayed == "failed"

    calls = []

    def setup(s):
        calls.append("setup")

    def deliver(s, event):
        calls.append(event.name)
        rows[event.data["id"]] = "Ada"
        s.send(event)

    assert jobsim.Simulation.replay(sim.trace, app, setup=setup, deliver=deliver).same
    assert calls == ["setup", "user/created"]


@pytest.mark.parametrize("delayed", [False, True])
def test_a_send_the_deliver_hook_makes_that_is_refused_is_raised_not_a_stop(delayed):
    """The caller's deliver passing a bad argument to jobsim (InvalidArgument) was caught as the replayed code
    stopping (``stopped``, ``same`` False): their bug, raised to them as any other error of their deliver."""
    app = jobsim.App("store")

    @app.function("greet", on="user/created")
    def greet(ctx):
        return "hello"

    with jobsim.Simulation(app, start=START, profile="bullmq") as sim:  # a send with a delay: sent again at arrival
        sim.send("user/created", {"id": "u1"}, delay="1m" if delayed else None)
        sim.run_until_idle()

    def deliver(s, event):
        s.send(event, delay="-5s")

    with pytest.raises(jobsim.InvalidArgument, match=r"^delay='-5s' is not valid: "):
        jobsim.Simulation.replay(sim.trace, app, deliver=deliver)
    with pytest.raises(ZeroDivisionError):  # and any other error of the deliver's is the caller's, as before
        jobsim.Simulation.replay(sim.trace, app, deliver=lambda s, event: 1 / 0)


def test_a_replay_that_runs_away_stops_with_the_reason(recorded):
    app = jobsim.App("loop")

    @app.function("welcome", on="user/created")
    def welcome(ctx):
        ctx.step.send_event("again", {"name": "user/created", "data": {}})

    result = jobsim.Simulation.replay(recorded.trace, app, compare="runs")
    assert not result.same and result.stopped.startswith("BudgetExceeded: run-away simulation")
    assert "STOPPED: BudgetExceeded" in result.report()


def test_replay_needs_the_app_and_sensible_options(recorded, tmp_path):
    with pytest.raises(jobsim.InvalidArgument, match=r"replay needs the code to replay into: "
                                                     r"Simulation.replay\(trace, app\)"):
        jobsim.Simulation.replay(recorded.trace)
    for kwargs, message in [({"compare": "colour"}, "compare='colour' is not valid: one or more of runs, outputs"),
                            ({"http": "live"}, "http='live' is not valid"),
                            ({"ignore": [""]}, "ignore='' is not valid"),
                            ({"tolerance": "soon"}, "tolerance='soon' is not valid"),
                            ({"setup": 3}, "setup=3 is not valid")]:  # fmt: skip
        with pytest.raises(jobsim.InvalidArgument, match=message):
            jobsim.Simulation.replay(recorded.trace, build(), **kwargs)
    with pytest.raises(jobsim.InvalidArgument, match="trace=42 is not valid"):
        jobsim.Simulation.replay(42, build())
    with pytest.raises(jobsim.errors.TraceError, match="no such file"):
        jobsim.Simulation.replay(tmp_path / "missing.jobsim.jsonl", build())


def test_replay_result_as_data_and_saved(recorded, tmp_path):
    result = jobsim.Simulation.replay(recorded.trace, build(plan="pro"), compare="http")
    data = result.to_dict()
    assert data["same"] is False and data["inputs"] == 3
    assert data["runs"]["welcome"] == {"completed": 2, "skipped": 1}
    first = data["comparison"]["functions"]["welcome"]["first"]
    assert (first["mode"], first["path"], first["recorded"], first["replayed"]) == (
        "http", "request.body.json.plan", "free", "pro")
    path = result.save(tmp_path / "replayed.jobsim.jsonl")
    assert len(jobsim.Trace.load(path)) == len(result.replayed)


def test_diff_of_two_traces(recorded, tmp_path):
    a = recorded.trace.save(tmp_path / "a.jobsim.jsonl")
    b = record(build(subject="Hi {name}")).trace.save(tmp_path / "b.jobsim.jsonl")
    assert traces.compare(a, a).same
    comparison = traces.compare(a, b)
    assert [d.mode for d in comparison.divergences] == ["emails", "http"]
    assert comparison.first("welcome").note == "differs"
    assert "subject: A " in comparison.report() and "B " in comparison.report()


def test_a_diff_of_two_files_says_which_file_is_late_not_the_replay(recorded, tmp_path):
    a = recorded.trace.save(tmp_path / "a.jobsim.jsonl")
    b = record(build(retry_min="12s")).trace.save(tmp_path / "b.jobsim.jsonl")
    divergence = traces.compare(a, b, compare="timing").first("welcome")
    assert (divergence.label, divergence.note) == ("retry 1 due step 'crm' of run #1", "2s later in B")
    report = traces.compare(a, b, compare="timing").report()
    assert "replay" not in report
    # the times of a timing divergence are in the report's zone, like the line above them
    assert "    at: A \"2025-03-03T10:00:10.000+01:00\"\n" in report


def test_crashes_downtime_and_duplicate_deliveries_are_armed_again():
    app = jobsim.App("ops")

    @app.function("tick", cron="*/10 * * * *")
    def tick(ctx):
        return ctx.step.run("work", lambda: ctx.event.data["scheduledAt"])

    with jobsim.Simulation(app, start=START, profile="vercel-cron") as sim:
        sim.downtime("2025-03-03T09:15:00Z", "2025-03-03T09:35:00Z")
        sim.duplicate_delivery("tick", at="2025-03-03T09:40:00Z", times=1)
        sim.advance("1h")
    armed = [r.data["fault"] for r in sim.trace.of("fault.armed")]
    assert armed == ["downtime", "duplicate"]
    ticks = [r.data.get("status") for r in sim.trace.of("run.end")]
    result = jobsim.Simulation.replay(sim.trace, app)
    assert result.same, result.report()
    assert [r.data.get("status") for r in result.replayed.of("run.end")] == ticks
    without = jobsim.Simulation.replay(sim.trace, app, faults=False, compare="runs")
    assert not without.same and without.first("tick") is not None

    worker = jobsim.App("worker")

    @worker.function("slow", on="go")
    def slow(ctx):
        return ctx.step.run("nap", lambda: time.sleep(30) or "rested")

    with jobsim.Simulation(worker, start=START) as crashed:
        crashed.send("go")
        crashed.crash_worker(at="2025-03-03T09:00:10Z", function="slow")
        crashed.run_until_idle()
    assert [r.data["fault"] for r in crashed.trace.of("fault.armed")] == ["crash"]
    again = jobsim.Simulation.replay(crashed.trace, worker)
    assert again.same, again.report()
    assert len(again.simulation.runs("slow")[0].attempts) == len(crashed.runs("slow")[0].attempts) > 1


def test_a_recording_where_nothing_ran_still_compares(tmp_path):
    """Today's code starting a run the recording did not have is a difference, not "nothing to compare"."""

    def app(on):
        a = jobsim.App("quiet")
        a.function("listener", on=on)(lambda ctx: "heard")
        return a

    with jobsim.Simulation(app("other/event")) as sim:
        sim.send("user/created", {"id": 1})
        sim.run_until_idle()
    assert sim.runs() == []
    trace = jobsim.Trace.load(sim.trace.save(tmp_path / "quiet.jobsim.jsonl"))
    assert jobsim.Simulation.replay(trace, app("other/event")).same
    assert not jobsim.Simulation.replay(trace, app("user/created")).same


def test_ignore_paths_take_list_indices_as_reports_print_them():
    from jobsim._traceignore import Ignore

    assert Ignore.parse("run.end:output.items[0].p").path == Ignore.parse("run.end:output.items.0.p").path
    assert Ignore.parse("http:request.body.json.items[*].sku").path == ("request", "body", "json", "items", "*", "sku")


def test_work_a_recording_left_due_at_its_last_instant_stays_pending_in_the_replay(tmp_path):
    """An event sent after the last advance never ran in the recording; replaying it must not run it either."""

    def app():
        a = jobsim.App("late")
        a.function("listener", on="user/created")(lambda ctx: "heard")
        return a

    with pytest.warns(jobsim.PendingWorkWarning, match=r"1 item\(s\) of work due that never ran \(listener\)"), \
            jobsim.Simulation(app()) as sim:
        sim.send("user/created", {"id": 1})
        sim.advance("1h")
        sim.send("user/created", {"id": 2})  # the test stops here: this run is queued, never started
    assert [r.status for r in sim.runs("listener")] == ["completed", "queued"]
    trace = jobsim.Trace.load(sim.trace.save(tmp_path / "late.jobsim.jsonl"))
    again = jobsim.Simulation.replay(trace, app())
    assert again.same, again.report()
    assert [r.status for r in again.simulation.runs("listener")] == ["completed", "queued"]
    further = jobsim.Simulation.replay(trace, app(), until="1m")  # asked to go on: now it runs
    assert [r.status for r in further.simulation.runs("listener")] == ["completed", "completed"]
    assert further.same, further.report()  # at the recording's instant, but after it stopped: not compared


NEVER_DRIVEN = """
import jobsim

app = jobsim.App("forgetful")
app.function("listener", on="user/created")(lambda ctx: "heard")
"""


def test_a_recording_that_never_drove_replays_with_what_it_sent_still_queued(tmp_path, monkeypatch, capsys):
    """A test that sends and makes no driving call (no advance, advance_to or run_until_idle) left its run queued;
    the replay drove to the recording's end and ran it: DIFFERS, recorded "pending" replayed "completed", exit 1."""
    from jobsim._cli import main

    import_from(tmp_path, monkeypatch)
    monkeypatch.syspath_prepend(tmp_path)
    (tmp_path / "never_driven_app.py").write_text(NEVER_DRIVEN)
    app = importlib.import_module("never_driven_app").app
    with pytest.warns(jobsim.PendingWorkWarning, match=r"1 item\(s\) of work due that never ran \(listener\)"), \
            jobsim.Simulation(app, start=START) as sim:
        sim.send("user/created", {"id": 1})  # and no driving call
    assert [r.status for r in sim.runs("listener")] == ["queued"]
    path = sim.trace.save(tmp_path / "nodrive.jobsim.jsonl")
    again = jobsim.Simulation.replay(path, app)
    assert again.same, again.report()
    assert [r.status for r in again.simulation.runs("listener")] == ["queued"]
    assert again.simulation.kernel.now == T0 and again.inputs == 1
    assert "  same     listener  1 run" in again.report()
    assert main(["replay", str(path), "--app", f"{tmp_path / 'never_driven_app.py'}:app"]) == 0
    assert "same: 1 function(s), recorded and replayed agree" in capsys.readouterr().out
    further = jobsim.Simulation.replay(path, app, until="1m")  # asked to go on: now it runs
    assert [r.status for r in further.simulation.runs("listener")] == ["completed"]
    assert further.same, further.report()  # after the recording stopped: not compared


def test_a_recording_with_no_events_and_no_driving_call_replays_with_nothing_run(tmp_path):
    """A schedule due at the recording's start (BullMQ's every=) never fired in it: nor does it in the replay."""

    def app():
        a = jobsim.App("idle")
        a.function("tick", every="1h")(lambda ctx: "tick")
        return a

    with jobsim.Simulation(app(), start=START, profile="bullmq") as sim:
        pass
    assert len(sim.trace) == 0 and sim.runs() == []
    for trace in (sim.trace, sim.trace.save(tmp_path / "idle.jobsim.jsonl")):  # its clock, then its end line
        again = jobsim.Simulation.replay(trace, app())
        assert again.same, again.report()
        assert again.simulation.runs() == [] and len(again.replayed) == 0
        further = jobsim.Simulation.replay(trace, app(), until="1m")
        assert [r.status for r in further.simulation.runs("tick")] == ["completed"]
        assert further.same, further.report()


def test_until_compares_up_to_the_recording_end_and_tells_what_happened_after(tmp_path):
    """A run the recording left sleeping completes in a replay with until=: that was a DIFFERS (recorded
    "pending", replayed "completed", exit 1), though the recording knows nothing after its end."""

    def app(nudge="nudged"):
        a = jobsim.App("reminders")

        @a.function("remind", on="cart/updated")
        def remind(ctx):
            ctx.step.sleep("wait", "2h")
            return ctx.step.run("nudge", lambda: nudge)

        return a

    with jobsim.Simulation(app(), start=START) as sim:
        sim.send("cart/updated", {"cartId": "c1"})
        sim.advance("1h")  # the recording stops while the run sleeps
    path = sim.trace.save(tmp_path / "rec.jobsim.jsonl")
    result = jobsim.Simulation.replay(path, app(), until="3h")
    assert [run.status for run in result.simulation.runs("remind")] == ["completed"]
    assert result.same, result.report()
    [note] = [note for note in result.notes if "past the recording's end" in note]
    assert note.startswith("the replay went on 3h past the recording's end (until=, --until) and is compared only "
                           "up to 2025-03-03T10:00:00.000Z")  # fmt: skip
    assert "after it, runs ended (remind: 1 completed)" in note
    # what the recording did hold is still compared: a change before its end differs
    changed = jobsim.Simulation.replay(path, app(), until="3h", compare="runs")
    assert changed.same
    with jobsim.Simulation(app(), start=START) as short:
        short.send("cart/updated", {"cartId": "c1"})
        short.advance("3h")  # recorded to the end: the output is compared
    assert not jobsim.Simulation.replay(short.trace, app(nudge="changed"), until="1h").same


def smtp_app() -> jobsim.App:
    import smtplib
    from email.message import EmailMessage

    app = jobsim.App("mailer")

    @app.function("receipt", on="order/paid", retries=jobsim.Retries(attempts=3, min="1m"))
    def receipt(ctx):
        def send():
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = "shop@acme.test", "ada@gmail.com", "Your receipt"
            message.set_content("Thanks!")
            with smtplib.SMTP("smtp.acme.test", 587) as smtp:
                smtp.send_message(message)
            return "sent"

        return ctx.step.run("send", send)

    return app


def test_smtp_faults_are_recorded_and_armed_again(tmp_path):
    """``sim.mail.smtp_fail`` is an input like ``sim.fail``: the trace holds it and a replay arms it again."""
    with jobsim.Simulation(smtp_app(), start=START) as sim:
        sim.mail.smtp_fail(times=1, code=451, message="4.3.0 Mailbox of <ada@gmail.com> busy", on="RCPT")
        sim.send("order/paid", {"order": 1})
        sim.run_until_idle()
    assert [a.error is None for a in sim.runs("receipt")[0].attempts] == [False, True, True]
    path = sim.trace.save(tmp_path / "smtp.jobsim.jsonl")
    armed = [line for line in path.read_text().splitlines() if line.startswith('{"k":"fault.armed"')]
    assert len(armed) == 1 and '"fault":"smtp"' in armed[0] and '"on":"RCPT"' in armed[0]
    assert "ada@gmail.com" not in armed[0]  # the refusal's text is redacted like any other
    result = jobsim.Simulation.replay(jobsim.Trace.load(path), smtp_app())
    assert result.same, result.report()
    run = result.simulation.runs("receipt")[0]
    assert [a.error is None for a in run.attempts] == [False, True, True] and len(result.simulation.mail.outbox) == 1
    without = jobsim.Simulation.replay(jobsim.Trace.load(path), smtp_app(), faults=False, compare="runs,timing")
    assert [(d.function, d.label) for d in without.divergences] == [("receipt", "retry 1 due step 'send' of run #1")]


def test_faults_job_code_armed_are_armed_once_in_a_replay(tmp_path):
    """A fault job code arms is not an input: the replay's job code arms it again, so the trace's record of it
    must not be armed too (sim.fail's fault applied twice: 3 attempts of 'pay' where the recording had 2)."""
    app, current = jobsim.App("chaos"), {}

    @app.function("chaos", on="chaos")
    def chaos(ctx):
        current["sim"].fail("pay", times=1, error=ConnectionError("db down"))
        current["sim"].mail.smtp_fail(times=1, code=451)

    @app.function("pay", on="pay")
    def pay(ctx):
        return ctx.step.run("charge", lambda: "paid")

    with jobsim.Simulation(app, start=START) as sim:
        current["sim"] = sim
        sim.send("chaos")
        sim.advance("1m")
        sim.send("pay")
        sim.advance("10m")
    chaos_run = sim.runs("chaos")[0].id
    assert [r.data.get("run") for r in sim.trace if r.kind == "fault.armed"] == [chaos_run, chaos_run]
    assert [a.error is None for a in sim.runs("pay")[0].attempts] == [False, True, True]  # failed once, then its step
    path = sim.trace.save(tmp_path / "chaos.jobsim.jsonl")
    result = jobsim.Simulation.replay(jobsim.Trace.load(path), app, setup=lambda again: current.update(sim=again))
    assert result.same, result.report()
    assert [a.error is None for a in result.simulation.runs("pay")[0].attempts] == [False, True, True]
    replayed = result.simulation  # each fault armed once, by the replay's job code: none from the trace
    assert [r.data.get("run") for r in replayed.trace if r.kind == "fault.armed"] == [replayed.runs("chaos")[0].id] * 2


def test_a_trace_saved_before_job_code_armed_faults_named_their_run_arms_them_once_too(tmp_path):
    """Such a trace records a fault job code armed like one the test armed (no `run`): the replay's job code
    arms it again at the same instant, so the recorded one is not armed a second time; the test's own are."""
    app, current = jobsim.App("chaos"), {}

    @app.function("chaos", on="chaos")
    def chaos(ctx):
        current["sim"].fail("pay", times=1, error=ConnectionError("db down"))

    @app.function("pay", on="pay")
    def pay(ctx):
        return ctx.step.run("charge", lambda: "paid")

    with jobsim.Simulation(app, start=START) as sim:
        current["sim"] = sim
        sim.send("chaos")
        sim.advance("1m")
        sim.fail("pay", times=1, error=ConnectionError("db down"))  # the test's own, the same fault
        sim.send("pay")
        sim.advance("10m")
    assert [a.error is None for a in sim.runs("pay")[0].attempts] == [False, False, True, True]
    lines = [json.loads(line) for line in sim.trace.save(tmp_path / "new.jobsim.jsonl").read_text().splitlines()]
    armed = [line for line in lines if line["k"] == "fault.armed"]
    assert [line.get("run") for line in armed] == [sim.runs("chaos")[0].id, None]
    del armed[0]["run"]  # as traces were written before job code's arming named its run
    old = tmp_path / "old.jobsim.jsonl"
    old.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = jobsim.Simulation.replay(jobsim.Trace.load(old), app, setup=lambda again: current.update(sim=again))
    assert result.same, result.report()
    assert [a.error is None for a in result.simulation.runs("pay")[0].attempts] == [False, False, True, True]
    kinds = [(r.data.get("run") is None) for r in result.simulation.trace if r.kind == "fault.armed"]
    assert kinds == [False, True]  # job code's arming, then the test's from the trace: neither twice


def test_recorded_responses_are_found_for_urls_holding_pseudonymized_phone_numbers(tmp_path):
    app = jobsim.App("lookup")

    @app.function("lookup", on="user/created")
    def lookup(ctx):
        phone = ctx.event.data["phone"]
        return ctx.step.run("carrier", lambda: httpx.get(
            "https://api.numbers.example/lookup", params={"phone": phone}).json()["carrier"])

    with jobsim.Simulation(app, start=START) as sim:
        sim.http.get("https://api.numbers.example/lookup").respond(200, json={"carrier": "Acme Mobile"})
        sim.send("user/created", {"phone": "+1 415 555 0100"})
        sim.run_until_idle()
    path = sim.trace.save(tmp_path / "lookup.jobsim.jsonl")
    assert "555" not in path.read_text().split('"k":"http"')[1].split('"request"')[0]  # the URL holds the fake
    result = jobsim.Simulation.replay(jobsim.Trace.load(path), app)
    assert result.same, result.report()
    assert result.simulation.runs("lookup")[0].output == "Acme Mobile"


def test_what_a_replay_cannot_reproduce_of_http_is_named_once_in_the_report(tmp_path):
    """A body over 64 KiB is kept as a digest and an excerpt; an exception neither httpx's nor a builtin
    comes back as ``httpx.ConnectError`` with the recorded text (README, "Replay")."""

    class Boom(Exception):
        pass

    app = jobsim.App("probe")

    @app.function("f", on="go", retries=jobsim.Retries(attempts=3, min="1s"))
    def f(ctx):
        return ctx.step.run("call", lambda: len(httpx.get("https://api.example.com/x").raise_for_status().content))

    with jobsim.Simulation(app, start=START) as sim:
        sim.http.get("https://api.example.com/x").mock(
            side_effect=[Boom("custom failure"), httpx.Response(200, json={"data": "x" * 70_000})])
        sim.send("go", {})
        sim.run_until_idle()
    assert sim.runs("f")[0].output == 70_011
    result = jobsim.Simulation.replay(jobsim.Trace.load(sim.trace.save(tmp_path / "big.jobsim.jsonl")), app)
    attempts = result.simulation.runs("f")[0].attempts
    error = attempts[0].error
    assert (type(error).__name__, str(error)) == ("ConnectError", "Boom: custom failure (replayed)")
    assert result.simulation.runs("f")[0].output == 1024  # the excerpt
    note = ("1 recorded HTTP response(s) had a body over 64 KiB, which a trace keeps only as a digest and its "
            "first 1 KiB: the replay answered with that excerpt")
    assert result.notes == [note] and result.report().count(note) == 1
    assert result.first("f").path == ""


def resend_app() -> jobsim.App:
    app = jobsim.App("notify")

    @app.function("f", on="go")
    def f(ctx):
        return ctx.step.run("send", lambda: httpx.post("https://api.resend.com/emails", json={
            "from": "a@acme.test", "to": ["b@example.com"], "subject": "hi", "text": "x"},
            headers={"Authorization": "Bearer re_test_0123456789"}).raise_for_status().json()["id"])

    return app


def test_a_route_the_test_put_on_a_mail_provider_answers_again_instead_of_the_provider(tmp_path):
    """The recording says who answered a provider's URL: jobsim's provider (the email lands in the
    outbox again) or the test's own route (its recorded response, and no email)."""
    with jobsim.Simulation(resend_app(), start=START) as sim:
        sim.http.post("https://api.resend.com/emails").respond(200, json={"id": "from-my-route"})
        sim.send("go", {})
        sim.run_until_idle()
    assert sim.runs("f")[0].output == "from-my-route" and sim.mail.outbox == []
    result = jobsim.Simulation.replay(jobsim.Trace.load(sim.trace.save(tmp_path / "routed.jobsim.jsonl")),
                                      resend_app())  # fmt: skip
    assert result.same, result.report()
    assert result.simulation.runs("f")[0].output == "from-my-route" and result.simulation.mail.outbox == []


def test_provider_answers_are_marked_and_older_files_without_the_mark_still_replay(tmp_path):
    def recorded(**options):
        with jobsim.Simulation(resend_app(), start=START, **options) as sim:
            sim.send("go", {})
            sim.run_until_idle()
        return sim.trace.save(tmp_path / "provider.jobsim.jsonl").read_text()

    text = recorded()
    assert '"minor":2' in text and text.count('"mail":true') == 1
    path = tmp_path / "new.jobsim.jsonl"
    path.write_text(text)
    assert len(jobsim.Simulation.replay(jobsim.Trace.load(path), resend_app()).simulation.mail.outbox) == 1
    # written by jobsim before the mark (minor 0): every provider 2xx was its own, every draw from one stream
    text = recorded(random_streams="shared").replace(',"random_streams":"shared"', "")
    old = tmp_path / "old.jobsim.jsonl"
    old.write_text(text.replace('"minor":2', '"minor":0').replace(',"mail":true', ""))
    result = jobsim.Simulation.replay(jobsim.Trace.load(old), resend_app())
    assert result.same and len(result.simulation.mail.outbox) == 1


def test_a_run_cancelled_before_its_first_request_is_compared_as_a_run():
    def story(cancel: bool) -> jobsim.Trace:
        app = jobsim.App("shop")

        @app.function("remind", on="order/created", cancel_on=[jobsim.Cancel("order/cancelled", match="data.orderId")])
        def remind(ctx):
            ctx.step.sleep("wait", "1h")

        with jobsim.Simulation(app, start=START) as sim:
            sim.send("order/created", {"orderId": "o1"})
            if cancel:  # the same instant: the run is cancelled before its first request
                sim.send("order/cancelled", {"orderId": "o1"})
            sim.run_until_idle()
        return sim.trace

    cancelled, completed = story(True), story(False)
    assert traces.compare(cancelled, story(True)).same
    (divergence,) = traces.compare(cancelled, completed, compare=["runs"]).divergences
    assert (divergence.label, divergence.note, divergence.path) == ("run #1", "differs", "status")
    assert (divergence.recorded, divergence.replayed) == ("cancelled", "completed")


async def _async_setup(sim):
    sim.http.get("https://x.test").respond(200)


def test_replay_hooks_ignore_lists_and_function_ids_are_checked_up_front(recorded):
    # setup/deliver of the wrong arity raised TypeError mid-replay; an async setup never ran (its
    # coroutine was dropped); ignore=None raised "'NoneType' object is not iterable"; first([]) raised
    # "unhashable type"
    for kwargs, message in [({"setup": lambda: None}, r"^setup=<function .* is not valid: a function taking the sim"),
                            ({"setup": _async_setup}, r"^setup=<function _async_setup .* an `async def` would"),
                            ({"deliver": lambda sim: None}, r"^deliver=<function .* is not valid: a function \(sim, "),
                            ({"ignore": None}, r"^ignore=None is not valid: a 'KIND:PATH' string or a list of them"),
                            ({"ignore": 3}, r"^ignore=3 is not valid: a 'KIND:PATH' string")]:  # fmt: skip
        with pytest.raises(jobsim.InvalidArgument, match=message):
            jobsim.Simulation.replay(recorded.trace, build(), **kwargs)
    with pytest.raises(jobsim.InvalidArgument, match=r"^ignore=None is not valid"):
        traces.compare(recorded.trace, recorded.trace, ignore=None)
    result = jobsim.Simulation.replay(recorded.trace, build())
    with pytest.raises(jobsim.InvalidArgument, match=r"^function=\[\] is not valid: a function id"):
        result.first([])
    assert result.first("welcome") is None


def test_first_refuses_a_function_id_no_trace_declares_and_accepts_one_that_never_ran(recorded):
    # first("welcom") returned None, reading as "no divergence": a typo made `assert ... is None` pass
    result = jobsim.Simulation.replay(recorded.trace, build(subject="Hello {name}"))
    with pytest.raises(jobsim.InvalidArgument, match=r"^function='welcom' is not valid: one of the compared "
                                                     r"function ids: .*'audit', 'digest', 'welcome'$"):  # fmt: skip
        result.first("welcom")
    with pytest.raises(jobsim.InvalidArgument, match=r"^function='welcom' is not valid"):
        traces.compare(recorded.trace, result.replayed).first("welcom")
    app = jobsim.App("quiet")
    app.function("ran", on="go")(lambda ctx: 1)
    app.function("idle", on="never")(lambda ctx: 2)
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert jobsim.Simulation.replay(sim.trace, app).first("idle") is None  # declared, never ran: nothing differs
    assert traces.compare(sim.trace, sim.trace).first("idle") is None


@pytest.mark.parametrize("profile", ["", False, 0, []])
def test_a_falsy_profile_is_refused_not_read_as_the_recorded_one(recorded, profile):
    # `profile or header["profile"]` replayed under the recorded profile whatever empty value was given
    with pytest.raises(jobsim.InvalidArgument, match=rf"^profile={re.escape(repr(profile))} is not valid: one of "):
        jobsim.Simulation.replay(recorded.trace, build(), profile=profile)


def test_a_recording_cut_right_after_its_header_says_so_not_seq_minus_one(trace_file, tmp_path):
    """A file cut after its header line read "compared only up to A's last record (seq -1)", and the summary
    "neither A nor B holds a run (files of input events only?)" of a B full of runs."""
    whole = trace_file.read_bytes()
    cut = tmp_path / "header-only.jobsim.jsonl"
    cut.write_bytes(whole[: whole.index(b"\n") + 1])
    with pytest.warns(jobsim.errors.TraceWarning, match="no 'end' line after line 1"):
        diff = traces.compare(cut, trace_file)
    assert "both are compared only up to A's header: A stops there, before its first record, so nothing that " \
           "happened is a difference" in diff.notes
    assert diff.report().endswith("nothing to compare: A holds no record, only its header (it was cut there); "
                                  "record it again, or compare a whole copy")
    with pytest.warns(jobsim.errors.TraceWarning):
        result = jobsim.Simulation.replay(jobsim.Trace.load(cut), build())
    assert "seq -1" not in result.report()
    assert "the replay is compared only up to the recording's header" in result.notes[1]


def test_a_recording_cut_off_anywhere_replays_the_same_up_to_its_cut(trace_file, tmp_path):
    """A replay of unchanged code into a recording cut off (a crash while it was written) ran on past
    the cut: the runs the recording had in flight read 'pending' there and 'completed' in the replay,
    and work the recording never got to read 'only in the replay', so the replay differed (exit 1) with
    nothing changed. A file that stopped at a line's end (no 'end' line) had no note in the report either.
    Now the replay is compared up to the recording's last record, and a note says so."""
    whole = trace_file.read_bytes()
    ends = [i + 1 for i, byte in enumerate(whole) if byte == ord("\n")]
    assert len(ends) > 12
    cuts = [(ends[n], "no 'end' line") for n in range(1, len(ends) - 1, 3)]  # at a line's end
    cuts += [(ends[n] + 25, "is cut off") for n in range(2, len(ends) - 2, 3)]  # in the middle of a line
    differed = []
    for size, said in cuts:
        cut = tmp_path / f"cut{size}.jobsim.jsonl"
        cut.write_bytes(whole[:size])
        with pytest.warns(jobsim.errors.TraceWarning):
            trace = jobsim.Trace.load(cut)
        result = jobsim.Simulation.replay(trace, build())
        last = len(trace) - 1
        assert result.notes[0].startswith("the recording is incomplete (") and said in result.notes[0]
        assert f"the replay is compared only up to the recording's last record (seq {last}, at " in result.notes[1]
        if not result.same:
            differed.append((size, result.report()))
        with pytest.warns(jobsim.errors.TraceWarning):
            diff = traces.compare(trace_file, cut)
        assert diff.same and any(f"both are compared only up to B's last record (seq {last}" in n for n in diff.notes)
    assert differed == []
    changed = tmp_path / "changed.jobsim.jsonl"  # what the recording holds is still compared
    changed.write_bytes(whole[: ends[len(ends) // 2]])
    with pytest.warns(jobsim.errors.TraceWarning):
        assert not jobsim.Simulation.replay(changed, build(plan="pro")).same


def _two_signups(extra_for: str | None = None, drop_for: str | None = None) -> jobsim.App:
    """Two runs side by side, each calling the CRM then the mailer; today's code may add a call to one run
    (``extra_for``: that user's run) or drop the mailer call of one."""
    app = jobsim.App("aligned")

    @app.function("signup", on="user/created")
    def signup(ctx):
        email = ctx.event.data["email"]
        ctx.step.run("crm", lambda: httpx.post("https://crm.test/contacts", json={"email": email}).status_code)
        if email == extra_for:
            ctx.step.run("audit", lambda: httpx.post("https://audit.test/log", json={"email": email}).status_code)
        ctx.step.sleep("pause", "1m")
        if email != drop_for:
            ctx.step.run("mail", lambda: httpx.post("https://mail.test/send", json={"to": email}).status_code)

    return app


def _record_two_signups() -> jobsim.Trace:
    with jobsim.Simulation(_two_signups(), start=START) as sim:
        sim.http.route(host__regex=r".*\.test").mock(return_value=httpx.Response(200))
        sim.send("user/created", {"email": "ada@example.com"})
        sim.send("user/created", {"email": "bob@example.com"})
        sim.run_until_idle()
    return sim.trace


def _routes(sim):
    sim.http.route(host="audit.test").mock(return_value=httpx.Response(200))


def test_a_call_added_to_one_run_is_reported_in_that_run_not_as_another_run_s_call():
    """Items were paired over the function's whole sequence: the audit call a new step added to run #1 was
    reported as 'http call #2 (run #2): url differs' (run #2's CRM call, recorded, beside run #1's audit
    call, replayed), a run that changed in nothing."""
    trace = _record_two_signups()
    first = jobsim.Simulation.replay(trace, _two_signups(extra_for="ada@example.com"), setup=_routes)
    http = first.comparison.functions["signup"].divergences["http"]
    assert (http.label, http.note, http.recorded, http.replayed["url"]) == (
        "http call #2 of run #1", "only in the replay", None, "https://audit.test/log")
    timing = first.comparison.functions["signup"].divergences["timing"]
    assert (timing.label, timing.note) == ("attempt 0 step 'audit' of run #1", "only in the replay")
    second = jobsim.Simulation.replay(trace, _two_signups(extra_for="bob@example.com"), setup=_routes)
    http = second.comparison.functions["signup"].divergences["http"]
    assert (http.label, http.note, http.replayed["url"]) == ("http call #2 of run #2", "only in the replay",
                                                              "https://audit.test/log")  # fmt: skip
    dropped = jobsim.Simulation.replay(trace, _two_signups(drop_for="ada@example.com"))
    http = dropped.comparison.functions["signup"].divergences["http"]
    assert (http.label, http.note, http.recorded["url"], http.replayed) == (
        "http call #2 of run #1", "missing from the replay", "https://mail.test/send", None)


def test_a_field_one_side_lacks_reads_absent_not_null(recorded):
    """An output field added today was shown as 'recorded null': the same words as a field recorded as null."""
    result = jobsim.Simulation.replay(recorded.trace, build(output_extra={"tier": "gold", "coupon": None}),
                                      compare="outputs")  # fmt: skip
    first = result.first("welcome")
    assert (first.path, first.note, first.recorded, first.replayed) == ("tier", "only in the replay", None, "gold")
    assert first.describe()[1:] == ["    tier: recorded (absent)", '          replayed "gold"',
                                    "    and coupon differs too"]  # the other field added: named, not hidden
    dropped = jobsim.Simulation.replay(record(build(output_extra={"tier": "gold"})).trace, build(),
                                       compare="outputs").first("welcome")  # fmt: skip
    assert dropped.note == "missing from the replay"
    assert dropped.describe()[1:] == ['    tier: recorded "gold"', "          replayed (absent)"]


def test_the_first_divergence_is_the_earliest_on_either_side_and_says_both_times():
    """Run #1 made a call at 09:00 in place of the one recorded on day 3, run #2 an extra one at 09:10: the
    report led with run #2 (its divergence dated by its replayed time, run #1's by its recorded one), and
    printed run #1's as 'at' day 3 only, with no word of the replayed call's own time."""
    from jobsim._tracediff import compare_lines

    day = 86_400 * SECOND

    def story(calls):
        lines = [{"k": "run.start", "seq": n, "at": T0, "function": "f", "run": f"r{n}", "event": "e"} for n in (1, 2)]
        lines += [{"k": "http", "seq": 10 + i, "at": T0 + at, "function": "f", "run": run, "method": "GET",
                   "url": url, "status": 200} for i, (run, url, at) in enumerate(calls)]  # fmt: skip
        return lines

    recorded = story([("r1", "https://a.test/", 0), ("r2", "https://a.test/", 0),
                      ("r1", "https://late.test/", 3 * day)])  # fmt: skip
    replayed = story([("r1", "https://a.test/", 0), ("r1", "https://new.test/", 0), ("r2", "https://a.test/", 0),
                      ("r2", "https://extra.test/", 600 * SECOND)])  # fmt: skip
    first = compare_lines(recorded, replayed, compare="http").first("f")
    assert (first.label, first.path, first.recorded, first.replayed) == (
        "http call #2 of run #1", "url", "https://late.test/", "https://new.test/")
    assert first.describe()[0] == ("http: http call #2 of run #1 at 2025-03-06T09:00:00.000Z (replayed: at "
                                   "2025-03-03T09:00:00.000Z): differs")


def test_a_recorded_smtp_size_limit_is_set_again_by_the_replay():
    import smtplib
    from email.message import EmailMessage

    app = jobsim.App("mailer")

    @app.function("send", on="go", retries=0)
    def send(ctx):
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@acme.test", "b@example.com", "report"
        message.set_content("x" * 5_000)
        with smtplib.SMTP("smtp.example.com") as smtp:
            smtp.send_message(message)

    with jobsim.Simulation(app, start=START) as sim:
        sim.mail.smtp_size_limit(1_000)
        sim.send("go")
        sim.run_until_idle()
    assert sim.runs("send")[0].status == "failed" and sim.mail.outbox == []
    result = jobsim.Simulation.replay(sim.trace, app)
    assert result.same, result.report()  # the replay's server refused it too (it was delivered there)


def test_the_report_says_a_scheduled_function_gets_no_input_event():
    app = jobsim.App("shop")

    @app.function("welcome", on="user/signup")
    def welcome(ctx):
        return ctx.event.data["id"]

    @app.function("nightly", cron="0 3 * * *")
    def nightly(ctx):
        return "swept"

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.send("user/signup", {"id": 1})
        sim.advance("1d")
    report = jobsim.Simulation.replay(sim.trace, app).report()
    # it said "1 input event into welcome, nightly": no event reaches a cron function
    assert "replayed: 1 input event into welcome (on their schedules: nightly) · " in report, report


def _signup_app(*functions: str) -> jobsim.App:
    app = jobsim.App("signups")
    for function in functions:
        app.function(function, on="user/created")(lambda ctx: "done")
    return app


def test_a_function_today_lacks_is_named_in_a_note_with_a_new_one_of_a_near_name():
    """Its row read 'missing from the replay' with no word on why, as if the function had stopped running."""
    with jobsim.Simulation(_signup_app("welcome", "audit"), start=START) as sim:
        sim.send("user/created", {"email": "ada@example.com"})
        sim.run_until_idle()
    result = jobsim.Simulation.replay(sim.trace, _signup_app("welcome-email", "other"))
    assert not result.same
    assert [note for note in result.notes if "today's app" in note] == [
        "'welcome' ran in the recording and is not a function of today's app (removed, or renamed: is "
        "'welcome-email', new today, its new name?): its recorded runs are missing from the replay",
        "'audit' ran in the recording and is not a function of today's app (removed or renamed): its recorded runs "
        "are missing from the replay",
    ]
    unchanged = jobsim.Simulation.replay(sim.trace, _signup_app("welcome", "audit"))
    assert unchanged.same and not [note for note in unchanged.notes if "today's app" in note]
    selected = jobsim.Simulation.replay(sim.trace, _signup_app("welcome", "audit"), functions=["welcome"])
    assert not [note for note in selected.notes if "today's app" in note]  # left out by the selection, not gone


def test_code_of_another_app_is_named_as_such_before_the_functions_it_lacks():
    """--app naming the wrong module: one 'removed or renamed' note per function, never that the apps differ."""
    with jobsim.Simulation(_signup_app("welcome", "audit"), start=START) as sim:
        sim.send("user/created", {"email": "ada@example.com"})
        sim.run_until_idle()
    billing = jobsim.App("billing")
    billing.function("invoice", on="order/paid")(lambda ctx: "done")
    result = jobsim.Simulation.replay(sim.trace, billing)
    assert result.notes[0] == ("the recording is of app 'signups' and the code replayed is app 'billing': none of "
                               "the recording's functions is declared today; is --app (app=) the recording's code?")
    assert sum("today's app" in note for note in result.notes) == 2
    renamed = jobsim.Simulation.replay(sim.trace, _signup_app("welcome-email", "other"))  # the same app: no such note
    assert not [note for note in renamed.notes if "the recording is of app" in note]


def _runs_of(events: list[str]) -> jobsim.Trace:
    app = jobsim.App("aligned")

    @app.function("report", on=["manual", "tick"])
    def report(ctx):
        return ctx.event.data["n"]

    with jobsim.Simulation(app, start=START) as sim:
        for n, name in enumerate(events):
            sim.send(name, {"n": n if name == "manual" else name})
            sim.advance("1h")
    return sim.trace


def test_a_run_one_side_lacks_leaves_the_later_runs_lined_up_by_what_started_them():
    """Runs were compared by their place within the function: a run the replay lacks (a Celery task the test's own
    delay() started) shifted every later one, and the report blamed the beat runs, which were the same."""
    result = jobsim.traces.compare(_runs_of(["manual", "tick", "tick", "tick"]), _runs_of(["tick", "tick", "tick"]))
    report = result.functions["report"]
    assert report.counts["runs"] == (4, 3)
    assert report.divergences["runs"].label.startswith("run #1") and "missing" in str(report.divergences["runs"])
    assert [d.label.split(" of ")[-1].split(" at ")[0] for d in report.divergences.values()] == ["run #1"] * len(
        report.divergences)  # outputs and timing of run #1 alone: runs #2-#4 line up with the replay's #1-#3
    same = jobsim.traces.compare(_runs_of(["tick", "manual"]), _runs_of(["tick", "manual"]))
    assert same.same
