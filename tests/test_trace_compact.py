"""A job's own records (run.start, attempt, retry, sleep, run.end) are kept compact until the trace is read.

The engine appends them as flat tuples of their fields (``Trace._log``); reading the trace in
any way makes them ``(at, kind, data)`` rows once, in place. What a reader sees must be what the
engine recorded before: the same fields, in the same order, the same objects on a second read.
"""

import gc

import jobsim
from jobsim import NonRetriableError, Retries
from jobsim._time import SECOND, instant_ns

START = "2025-03-01T00:00:00Z"
T0 = instant_ns(START)
ONE = Retries(attempts=2, backoff="exponential", min="1s", max="1h")


def app_of_every_ending():
    app = jobsim.App("compact")
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("flaky once")
        return {"n": len(calls)}

    @app.function("ok", on="go", retries=ONE)
    def ok(ctx):
        ctx.step.sleep("nap", "5s")
        return ctx.step.run("call", flaky)

    @app.function("bad", on="go", retries=ONE)
    def bad(ctx):
        raise NonRetriableError("no way")

    @app.function("quiet", on="go")
    def quiet(ctx):
        return None

    return app


def fields(sim):
    return [(r.at - T0, r.kind, list(r.data.items())) for r in sim.trace if r.kind not in ("event", "advance")]


def test_compact_records_read_back_as_the_rows_the_engine_recorded():
    with jobsim.Simulation(app_of_every_ending(), start=START, seed=3) as sim:
        sim.send("go")
        sim.run_until_idle()
        ok, bad, quiet = (sim.runs(name)[0] for name in ("ok", "bad", "quiet"))
        s = SECOND
        assert fields(sim) == [
            (0, "run.start", [("function", "ok"), ("run", ok.id), ("n", 1), ("event", "go")]),
            (0, "run.start", [("function", "bad"), ("run", bad.id), ("n", 1), ("event", "go")]),
            (0, "run.start", [("function", "quiet"), ("run", quiet.id), ("n", 1), ("event", "go")]),
            (0, "attempt", [("function", "ok"), ("run", ok.id), ("step", "nap"), ("attempt", 0)]),
            (0, "sleep", [("function", "ok"), ("run", ok.id), ("step", "nap"), ("until", T0 + 5 * s)]),
            (0, "attempt", [("function", "bad"), ("run", bad.id), ("step", None), ("attempt", 0),
                            ("error", "NonRetriableError: no way")]),
            (0, "run.end", [("function", "bad"), ("run", bad.id), ("status", "failed"),
                            ("error", "NonRetriableError: no way")]),
            (0, "attempt", [("function", "quiet"), ("run", quiet.id), ("step", None), ("attempt", 0)]),
            (0, "run.end", [("function", "quiet"), ("run", quiet.id), ("status", "completed")]),  # output None
            (5 * s, "attempt", [("function", "ok"), ("run", ok.id), ("step", "call"), ("attempt", 0),
                                ("error", "RuntimeError: flaky once")]),
            (5 * s, "retry", [("function", "ok"), ("run", ok.id), ("step", "call"), ("attempt", 1),
                              ("at", T0 + 6 * s), ("delay", s)]),
            (6 * s, "attempt", [("function", "ok"), ("run", ok.id), ("step", "call"), ("attempt", 1)]),
            (6 * s, "attempt", [("function", "ok"), ("run", ok.id), ("step", None), ("attempt", 0)]),
            (6 * s, "run.end", [("function", "ok"), ("run", ok.id), ("status", "completed"), ("output", b'{"n":2}')]),
        ]  # fmt: skip
        assert ok.output == {"n": 2}


def test_a_trace_read_mid_run_keeps_its_rows_and_makes_rows_of_what_came_after():
    with jobsim.Simulation(app_of_every_ending(), start=START, seed=3) as sim:
        sim.send("go")
        sim.advance("1s")
        first = sim.trace.records
        assert all(type(r.data) is dict for r in first)
        sim.run_until_idle()
        again = sim.trace.records
        assert [r.data for r in again[:len(first)]] == [r.data for r in first]
        # made once, in place: the same dicts
        assert all(a.data is b.data for a, b in zip(again[:len(first)], first, strict=True))
        assert len(sim.trace) == len(again) and all(type(r.data) is dict for r in again)
        assert [r.kind for r in sim.trace.of("retry")] == ["retry"]


def test_a_job_s_records_hold_no_dict_until_the_trace_is_read_and_only_a_failures_stay_tracked():
    app = jobsim.App("core")

    def work(attempt):
        if attempt < 3:
            raise RuntimeError("transient failure")
        return attempt

    @app.function("job", on="job/start", retries=Retries(attempts=4, backoff="exponential", min="1s", max="1h"))
    def job(ctx):
        ctx.step.sleep("wait", "24h")
        ctx.step.run("work", work, ctx.attempt)

    with jobsim.Simulation(app, start=START, seed=1) as sim:
        for i in range(20):
            sim.send("job/start", {"i": i})
        sim.run_until_idle(max_time="3d")
        gc.collect()
        kept = [entry for entry in sim.trace._log if entry[1] != "advance"]
        assert len(kept) == 20 * 13  # event, run.start, sleep, 3 retries, 6 attempts, run.end
        assert not any(isinstance(field, dict) for entry in kept for field in entry)
        # an event's holds the event, and a failed attempt's its error: the record is also the run's own row
        # of that attempt (``Run._rows``), its ``Attempt`` made only if something reads ``run.attempts``
        own = [entry for entry in kept if entry[1] != "event" and not (entry[1] == "attempt" and entry[7])]
        assert len(own) == 20 * 9
        assert not any(gc.is_tracked(entry) for entry in own)  # the collector stops walking them
        assert sum(1 for r in sim.trace if r.kind == "attempt" and "error" in r.data) == 20 * 3


def test_sent_events_read_back_with_their_origin_sender_and_send_time():
    app = jobsim.App("events")

    @app.function("relay", on="go")
    def relay(ctx):
        ctx.step.send_event("tell", {"name": "told", "data": {"by": "relay"}})

    with jobsim.Simulation(app, start=START, seed=3) as sim:
        (first,) = sim.send("go", {"n": 1}, ts=(T0 // 1_000_000) - 5)
        sim.run_until_idle()
        (run,) = sim.runs("relay")
        told = sim.events[-1]
        assert [(r.at - T0, list(r.data.items())) for r in sim.trace.of("event")] == [
            (0, [("name", "go"), ("id", first), ("data", {"n": 1}), ("ts", T0 // 1_000_000 - 5), ("origin", "input")]),
            (0, [("name", "told"), ("id", told.id), ("data", {"by": "relay"}), ("ts", T0 // 1_000_000),
                 ("origin", "job"), ("function", "relay"), ("run", run.id)]),
        ]  # fmt: skip
    later_app = jobsim.App("later")
    later_app.function("noop", on="go")(lambda ctx: None)
    with jobsim.Simulation(later_app, start=START, profile="bullmq") as sim:
        (later,) = sim.send("other", {"n": 2}, delay="2s")
        sim.run_until_idle()
        assert [(r.at - T0, list(r.data.items())) for r in sim.trace.of("event")] == [
            (2 * SECOND, [("name", "other"), ("id", later), ("data", {"n": 2}), ("ts", T0 // 1_000_000 + 2000),
                          ("origin", "input"), ("sent", T0)]),
        ]  # fmt: skip
