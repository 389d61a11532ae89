"""cancel_on filed under its match value, like waits (test_wait_index.py): an event checks only the cancellations
it can match, with the same outcome; a run's cancellations stop listening when it ends."""

import random

import pytest

import jobsim
from jobsim import Cancel, _expr
from jobsim._time import SECOND, instant_ns

START = "2025-03-01T00:00:00Z"
T0 = instant_ns(START)
FINISHED = "inngest/function.finished"

KEYED = [
    {"match": "data.userId"},
    {"if_exp": "event.data.userId == async.data.userId"},
    {"if_exp": "async.data.userId == event.data.userId && async.data.amount > 0"},
]


def sleeper(ctx):
    ctx.step.sleep("wait", ctx.event.data.get("sleep", "1d"))
    return "done"


def listening(sim):
    return sum(len(cancellers) for cancellers in sim.engine.cancellers.values())


@pytest.mark.parametrize("cancel", KEYED, ids=["match", "if_exp", "if_exp-and"])
def test_each_deletion_checks_only_the_cancellation_of_its_own_user_not_every_live_run(monkeypatch, cancel):
    # 300 users' reminders listen for their own user/deleted: checking every live run's cancel_on for each
    # deletion made ~45,000 comparisons (quadratic in the traffic); now one or two per deletion
    users = 300
    app = jobsim.App("shop")
    app.function("remind", on="user/created", cancel_on=[Cancel("user/deleted", **cancel)])(sleeper)
    calls = []
    compare = _expr._compare
    monkeypatch.setattr(_expr, "_compare", lambda *args: calls.append(1) or compare(*args))
    with jobsim.Simulation(app, start=START) as sim:
        for u in range(users):
            sim.send("user/created", {"userId": f"u{u}"})
        sim.advance("1s")
        for u in reversed(range(users)):
            sim.send("user/deleted", {"userId": f"u{u}", "amount": 5})
        sim.run_until_idle()
    assert [run.status for run in sim.runs("remind")] == ["cancelled"] * users
    ids = {event.data["userId"]: event.id for event in sim.events if event.name == "user/deleted"}
    assert [record.data["id"] for record in sim.trace.of("cancel")] == [ids[f"u{u}"] for u in reversed(range(users))]
    assert len(calls) <= 2 * users


# run-side value, candidate value (absent: the field is missing)
ABSENT = object()
VALUES = [ABSENT, None, "u1", "u2", 1, 1.0, 2, True, ["u1"], {"id": "u1"}, ""]
KINDS = [
    [{"match": "data.userId"}],
    [{"if_exp": "event.data.userId == async.data.userId"}],
    [{"if_exp": "async.data.userId == event.data.userId && async.data.userId != 2"}],
    [{"if_exp": lambda event, candidate: candidate.data.get("userId") in ("u1", 1)}],
    [{"if_exp": "event.data.userId == async.data.userId || async.data.userId == 'u2'"}],
    [{"if_exp": "event.data.userId == async.data.userId && async.data.n > 3"}, {"if_exp": "async.data.userId == 'u2'"}],
]
SLEEPS = [630, 1830, 7230]  # seconds: between the cancel events (one a minute), so no run ends at one


def _data(value):
    return {} if value is ABSENT else {"userId": value}


def _expected(runs, candidates, cancels):
    """Brute force, as the engine did before filing: each candidate, every live run's cancel_on in the order
    the runs were created, those past their timeout skipped; a run that completed before it never matches."""
    live, ends = list(range(len(runs))), []
    for c, (at, value) in enumerate(candidates):
        candidate = jobsim.Event("c", {"n": c, **_data(value)})
        for r in list(live):
            mine, kind, sleep = runs[r]
            if sleep < at:
                live.remove(r)
                continue
            for cancel in cancels[kind]:
                if cancel.timeout_ns is not None and at * SECOND > cancel.timeout_ns:
                    continue
                if all(check(jobsim.Event("r", _data(mine)), candidate) for check in cancel.checks):
                    live.remove(r)
                    ends.append((r, c))
                    break
    return ends


@pytest.mark.parametrize("seed", range(6))
def test_filed_and_unfiled_cancellations_end_the_runs_a_scan_of_every_one_would(seed):
    # values that only look alike (1 and 1.0, null and a missing field, lists and maps that cannot be filed),
    # cancellations that cannot be filed (a callable, an expression with no equality), two on one function,
    # timeouts (one at exactly a candidate's instant: it still cancels), runs that completed before a candidate
    rnd = random.Random(seed)
    timeouts = [rnd.choice([None, "20m", "45m"]) for _ in KINDS]
    cancels = [[Cancel("candidate", timeout=timeout, **options) for options in kind]
               for kind, timeout in zip(KINDS, timeouts, strict=True)]
    runs = [(rnd.choice(VALUES), rnd.randrange(len(KINDS)), rnd.choice(SLEEPS)) for _ in range(40)]
    candidates = [(60 * (c + 1), rnd.choice(VALUES)) for c in range(30)]
    app = jobsim.App("a")
    for kind, cancel_on in enumerate(cancels):
        app.function(f"kind{kind}", on=f"start/{kind}", cancel_on=cancel_on, retries=0)(sleeper)
    with jobsim.Simulation(app, start=START) as sim:
        for r, (value, kind, sleep) in enumerate(runs):
            sim.send(f"start/{kind}", {"r": r, "sleep": f"{sleep}s", **_data(value)})
        for c, (at, value) in enumerate(candidates):
            sim.advance_to(T0 // SECOND + at)
            sim.send("candidate", {"n": c, **_data(value)})
        sim.run_until_idle()
    by_run = {run.event.data["r"]: run for run in sim.runs()}
    ends = [(by_run[r], c) for r, c in _expected(runs, candidates, cancels)]
    assert ends, "the seed gives no match: pick another"
    cancelled = {run for run, _ in ends}
    assert {run for run in by_run.values() if run.status == "cancelled"} == cancelled
    assert {run.status for run in by_run.values() if run not in cancelled} == {"completed"}
    # the runs one candidate cancels, in the order they were created, each by that candidate
    ids = {event.data["n"]: event.id for event in sim.events if event.name == "candidate"}
    assert [(record.data["run"], record.data["id"]) for record in sim.trace.of("cancel")] == [
        (run.id, ids[c]) for run, c in ends]
    assert listening(sim) == 0


def test_a_run_that_ended_stops_listening_for_its_cancellations():
    # every run's cancel_on stayed registered after it ended until an event of that name came: a week of
    # reminders that were never cancelled kept one entry per run, each checked by the next such event
    app = jobsim.App("a")
    cancel_on = [Cancel("user/deleted", match="data.userId"), Cancel("account/closed")]
    app.function("remind", on="user/created", cancel_on=cancel_on, timeout="1h")(sleeper)

    @app.function("charge", on="user/charged", cancel_on=cancel_on, retries=0)
    def charge(ctx):
        raise RuntimeError("card declined")

    with jobsim.Simulation(app, start=START) as sim:
        for u in range(50):
            sim.send("user/created", {"userId": f"u{u}", "sleep": "30m"})  # completes
            sim.send("user/charged", {"userId": f"u{u}"})  # fails
        sim.send("user/created", {"userId": "late", "sleep": "2h"})  # its timeout cancels it
        sim.run_until_idle()
        assert listening(sim) == 0 and sim.engine.cancellers == {}
        sim.send("user/created", {"userId": "live-1"})
        sim.send("user/created", {"userId": "live-2"})
        sim.advance("1m")
        assert listening(sim) == 4  # two cancellations of each live run
        sim.send("user/deleted", {"userId": "live-1"})
        assert listening(sim) == 2
    statuses = [run.status for run in sim.runs()]
    assert statuses.count("completed") == 50 and statuses.count("failed") == 50
    assert statuses[-3:] == ["cancelled", "cancelled", "sleeping"]


def test_a_run_cancelled_by_a_lifecycle_event_cancels_the_runs_that_listen_for_its_own():
    # a cancels b through its function.finished, and b's function.finished cancels c: the scan took the list of
    # function.finished cancellations off while it ran, so b's event was not even published and c completed
    app = jobsim.App("a")
    app.function("a", on="start", cancel_on=[Cancel("kill")])(sleeper)
    app.function("b", on="start", cancel_on=[Cancel(FINISHED, if_exp="async.data.function_id == 'a'")])(sleeper)
    app.function("c", on="start", cancel_on=[Cancel(FINISHED, if_exp="async.data.function_id == 'b'")])(sleeper)
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("start", {})
        sim.advance("1m")
        sim.send("kill", {})
        sim.run_until_idle()
    assert [(run.function.id, run.status, run.end_ns - T0) for run in sim.runs()] == [
        ("a", "cancelled", 60 * SECOND), ("b", "cancelled", 60 * SECOND), ("c", "cancelled", 60 * SECOND)]
    assert [(r.data["function"], r.data["event"]) for r in sim.trace.of("cancel")] == [
        ("a", "kill"), ("b", FINISHED), ("c", FINISHED)]
    assert [e.data["function_id"] for e in sim.events if e.name == FINISHED] == ["a", "b"]


def test_function_finished_is_published_while_a_live_run_listens_for_it_not_for_the_run_that_ended():
    # the run's own cancel_on outlived it, so its function.finished was published for nothing to hear
    app = jobsim.App("a")
    app.function("watch", on="start", cancel_on=[Cancel(FINISHED, if_exp="async.data.function_id == 'x'")])(sleeper)
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("start", {"sleep": "1h"})
        sim.send("start", {"sleep": "2h"})
        sim.run_until_idle()
    assert [e.data["run_id"] for e in sim.events if e.name == FINISHED] == [sim.runs()[0].id]


def test_match_and_if_exp_together_are_refused_naming_the_one_expression_to_write():
    """jobsim required both, silently; Inngest takes one (the TypeScript types allow one, the SDK sends match)."""
    message = ("got match='data.oid' and if_exp='async.data.amt > 100': give one of them; Inngest takes either a match "
               "or an if expression, not both (both in one: "
               "if_exp=\"event.data.oid == async.data.oid && (async.data.amt > 100)\")")
    with pytest.raises(jobsim.InvalidArgument) as caught:
        Cancel("order/paid", match="data.oid", if_exp="async.data.amt > 100")
    assert str(caught.value) == "Cancel() " + message
    app = jobsim.App("both")

    @app.function("wait", on="order/placed", retries=0)
    def wait(ctx):
        return ctx.step.wait_for_event("paid", event="order/paid", timeout="1h", match="data.oid",
                                       if_exp="async.data.amt > 100")

    with jobsim.Simulation(app) as sim:
        sim.send("order/placed", {"oid": 1})
        sim.run_until_idle()
    run = sim.runs("wait")[0]
    assert run.status == "failed" and len(run.attempts) == 1
    assert str(run.error) == "ctx.step.wait_for_event() " + message
