"""singleton=Singleton(mode, key): one run per key at a time, Inngest's way.

Sources (inngest/inngest): pkg/execution/executor/executor.go : schedule (the ``req.Function.Singleton``
block: the key is handled after the rate limit; ``skip`` marks the new run ``SkipReasonSingleton`` with the
holder as ``SkipExistingRunID``; ``cancel`` calls ``e.Cancel`` on the holder with the new run's event id),
pkg/execution/singleton/singleton.go (``SingletonKey``: no key is the function's id, a ``false`` result is no
singleton; ``singleton``: skip reads the holder, cancel gets-and-deletes it),
pkg/execution/state/redis_state/lua/queue/enqueue.lua (the key is taken as the run's first item is
enqueued) and dequeue.lua (freed with the run's last item, however the run ended),
pkg/inngest/function.go : Function.Validate ("Batching and singletons are mutually exclusive").
"""

import pytest

import jobsim
from jobsim import Batch, Cancel, InvalidArgument, RateLimit, Singleton, Throttle, UnsupportedFeature
from jobsim._time import MINUTE, SECOND, instant_ns

START = "2025-03-01T00:00:00Z"
T0 = instant_ns(START)
HOUR = 60 * MINUTE


def sync_app(watch=None, **options):
    """``sync`` sleeps 1 h between two steps; ``watch`` listens to a lifecycle event."""
    app = jobsim.App("a")
    heard = []

    @app.function("sync", on="user/changed", **options)
    def sync(ctx):
        ctx.step.run("pull", lambda: None)
        ctx.step.sleep("settle", "1h")
        if ctx.event.data.get("fail"):
            raise ValueError("boom")
        return ctx.event.data.get("i")

    if watch is not None:

        @app.function("watch", on=watch)
        def watch_fn(ctx):
            heard.append(dict(ctx.event.data))

    return app, heard


def at(ns):
    return None if ns is None else (ns - T0) // SECOND


def test_skip_mode_skips_a_run_while_one_runs_and_the_key_is_free_once_it_ends():
    app, _ = sync_app(singleton=Singleton(mode="skip"))
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("user/changed", {"i": 1})
        sim.advance("10m")
        sim.send("user/changed", {"i": 2})  # #1 sleeps, still holding the key
        sim.advance("2h")
        sim.send("user/changed", {"i": 3})  # #1 ended at 1h: free again
        sim.run_until_idle()
        timeline = sim.timeline()
    first, second, third = sim.runs("sync")
    assert [r.status for r in (first, second, third)] == ["completed", "skipped", "completed"]
    assert (at(second.start_ns), at(second.end_ns), second.attempts) == (600, 600, [])
    assert (at(first.end_ns), at(third.start_ns), at(third.end_ns)) == (3600, 2 * 3600 + 600, 3 * 3600 + 600)
    (skipped,) = sim.trace.of("run.skipped")
    assert skipped.at == T0 + 10 * MINUTE
    assert skipped.data["reason"] == "singleton" and skipped.data["existing"] == first.id
    assert skipped.data["key"] is None
    assert "skipped   sync#2: sync#1 holds its singleton key" in timeline


def test_a_holder_whose_code_sleeps_keeps_its_key_to_its_end_in_skip_mode_and_cancel_mode_starts_beside_it():
    """``time.sleep(10)`` in a handler without steps: the run is done at once, ending 10 s later; the key was
    freed at once, so five runs a second apart all ran (user trial O)."""
    import time

    ran = {}
    for mode in ("skip", "cancel"):
        app = jobsim.App("a")
        app.function("f", on="x", singleton=Singleton(mode=mode))(lambda ctx: time.sleep(10))
        with jobsim.Simulation(app, start=START) as sim:
            for _ in range(5):
                sim.send("x")
                sim.advance("1s")
            sim.advance("20s")
            sim.send("x")  # after the holder's end: the key is free
            sim.advance("1m")
        ran[mode] = [(run.status, (run.start_ns - T0) // SECOND) for run in sim.runs("f")]
    assert ran["skip"] == [("completed", 0), *[("skipped", s) for s in range(1, 5)], ("completed", 25)]
    assert ran["cancel"] == [("completed", s) for s in (0, 1, 2, 3, 4, 25)]


def test_the_key_separates_runs_and_a_false_key_is_no_singleton():
    app, _ = sync_app(singleton=Singleton(mode="skip", key="event.data.user"))
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("user/changed", {"user": "u1", "i": 1})
        sim.send("user/changed", {"user": "u2", "i": 2})  # another key: runs alongside
        sim.send("user/changed", {"user": 1.0, "i": 3})
        sim.send("user/changed", {"user": "1", "i": 4})  # "1" and 1.0 are one key, as for every flow key
        sim.send("user/changed", {"user": "u1", "i": 5})  # u1 is held
        sim.send("user/changed", {"i": 6})  # no user: CEL false, ErrNotASingleton: runs as no singleton
        sim.send("user/changed", {"i": 7})
        sim.run_until_idle()
    runs = sim.runs("sync")
    assert [r.status for r in runs] == ["completed", "completed", "completed", "skipped", "skipped",
                                        "completed", "completed"]  # fmt: skip
    assert [s.data["key"] for s in sim.trace.of("run.skipped")] == ["1", "u1"]
    assert [s.data["existing"] for s in sim.trace.of("run.skipped")] == [runs[2].id, runs[0].id]
    assert [at(r.end_ns) for r in runs] == [3600, 3600, 3600, 0, 0, 3600, 3600]


def test_cancel_mode_cancels_the_holder_and_starts_the_new_run():
    app, heard = sync_app(watch="inngest/function.cancelled", singleton=Singleton(mode="cancel", key="event.data.user"))
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("user/changed", {"user": "u1", "i": 1})
        sim.advance("10m")
        sim.send("user/changed", {"user": "u1", "i": 2}, id="evt-2")
        sim.run_until_idle()
        timeline = sim.timeline()
    first, second = sim.runs("sync")
    assert (first.status, at(first.end_ns)) == ("cancelled", 600)
    assert (second.status, at(second.start_ns), at(second.end_ns), second.output) == ("completed", 600, 4200, 2)
    (cancel,) = sim.trace.of("cancel")
    assert cancel.at == T0 + 10 * MINUTE
    assert {k: cancel.data[k] for k in ("run", "reason", "event", "id", "key", "by")} == {
        "run": first.id, "reason": "singleton", "event": "user/changed", "id": "evt-2", "key": "u1",
        "by": second.id,
    }  # fmt: skip
    # the cancel is the executor's e.Cancel: finalized as Cancelled, announced like any cancellation
    (data,) = heard
    assert data["run_id"] == first.id and data["_inngest"] == {"status": "Cancelled"}
    assert "cancel    sync#1: sync#2 takes its singleton key 'u1' (event user/changed)" in timeline
    # the trace names the cancelled run before the new one starts
    kinds = [(r.kind, r.data["run"]) for r in sim.trace.of("cancel", "run.start")
             if r.at == T0 + 10 * MINUTE and r.data["function"] == "sync"]
    assert kinds == [("cancel", first.id), ("run.start", second.id)]


def test_cancel_mode_with_nothing_running_cancels_nothing():
    app, _ = sync_app(singleton=Singleton(mode="cancel"))
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("user/changed", {"i": 1})
        sim.advance("2h")
        sim.send("user/changed", {"i": 2})
        sim.run_until_idle()
    assert [r.status for r in sim.runs("sync")] == ["completed", "completed"]
    assert list(sim.trace.of("cancel")) == []


@pytest.mark.parametrize("how", ["failed", "cancel_on"])
def test_a_run_that_fails_or_is_cancelled_frees_its_key(how):
    app, _ = sync_app(singleton=Singleton(mode="skip"), retries=0, cancel_on=[Cancel("user/deleted")])
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("user/changed", {"i": 1, "fail": how == "failed"})
        sim.advance("30m")
        if how == "cancel_on":
            sim.send("user/deleted", {})
        else:
            sim.advance("40m")  # failed at 1h
        sim.send("user/changed", {"i": 2})
        sim.run_until_idle()
    first, second = sim.runs("sync")
    assert first.status == ("failed" if how == "failed" else "cancelled")
    assert second.status == "completed" and list(sim.trace.of("run.skipped")) == []


def test_a_run_holds_its_key_from_when_it_is_scheduled_while_the_throttle_holds_it():
    """enqueue.lua takes the key with the run's first queue item, before the throttle lets it start."""
    app, _ = sync_app(singleton=Singleton(mode="skip", key="event.data.user"), throttle=Throttle(1, "1m"))
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("user/changed", {"user": "a", "i": 1})  # starts at 0
        sim.send("user/changed", {"user": "b", "i": 2})  # throttled until 60 s
        sim.advance("1s")
        sim.send("user/changed", {"user": "b", "i": 3})  # b is held by the queued run
        sim.run_until_idle()
    runs = sim.runs("sync")
    assert [r.status for r in runs] == ["completed", "completed", "skipped"]
    assert [at(r.start_ns) for r in runs] == [0, 60, 1]
    assert sim.trace.of("run.skipped")[0].data["existing"] == runs[1].id


def test_the_rate_limit_is_checked_before_the_singleton():
    """executor.go : schedule checks the rate limit first: a run it skips never looks at the key."""
    app, _ = sync_app(singleton=Singleton(mode="cancel"), rate_limit=RateLimit(1, "1m"))
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("user/changed", {"i": 1})
        sim.advance("10s")
        sim.send("user/changed", {"i": 2})  # over the rate limit: skipped, #1 not cancelled
        sim.run_until_idle()
    first, second = sim.runs("sync")
    assert (first.status, second.status) == ("completed", "skipped")
    assert [s.data["reason"] for s in sim.trace.of("run.skipped")] == ["rate_limit"]


@pytest.mark.parametrize(("timeout", "fails_at"), [("2h", 2 * HOUR), (None, 365 * 24 * HOUR)])
def test_an_invoke_whose_run_is_skipped_waits_out_its_timeout(timeout, fails_at):
    """runner.go fails the invoker of a rate-limited run at once, but on ErrFunctionSkipped (a singleton's
    skip) it returns without a word: the caller's invoke pause expires at its timeout, a year without one
    (opcode.go : InvokeFunctionOpts.Expires, ``AddDate(1, 0, 0)``)."""
    app, _ = sync_app(singleton=Singleton(mode="skip"))

    @app.function("caller", on="go", retries=0)
    def caller(ctx):
        try:
            ctx.step.invoke("call", function="sync", data={"i": 9}, timeout=timeout)
        except jobsim.StepError as exc:
            return f"{exc.step_id}: {exc.error}"
        return "ran"

    with jobsim.Simulation(app, start=START) as sim:  # 2025-03-01 + 1 year: 365 days
        sim.send("user/changed", {"i": 1})
        sim.send("go", {})
        sim.run_until_idle()
    (run,) = sim.runs("caller")
    assert sim.runs("sync")[1].status == "skipped"
    assert (run.output, run.end_ns - T0) == ("call: invoked function 'sync' timed out", fails_at)


# -- validation ---------------------------------------------------------------------------------


def test_bad_singletons_are_refused_with_the_fix():
    with pytest.raises(InvalidArgument, match=r"mode.*'skip' .*or 'cancel'"):
        Singleton(mode="drop")
    with pytest.raises(InvalidArgument, match=r"mode.*'skip'"):
        Singleton()
    with pytest.raises(InvalidArgument, match=r"dotted path rooted at 'event'"):
        Singleton(mode="skip", key="data.user")
    with pytest.raises(InvalidArgument, match=r"a jobsim.Singleton\(...\)"):
        sync_app(singleton="skip")
    with pytest.raises(InvalidArgument, match="Batching and singletons are mutually exclusive"):
        sync_app(singleton=Singleton(mode="skip"), batch=Batch(2, "5s"))


@pytest.mark.parametrize(("profile", "system"), [("bullmq", "BullMQ"), ("agenda", "Agenda"),
                                                 ("trigger.dev", "Trigger.dev")])  # fmt: skip
def test_other_profiles_refuse_a_singleton(profile, system):
    app = jobsim.App("a")
    app.function("f", on="go", singleton=Singleton(mode="skip"))(lambda ctx: None)
    with pytest.raises(UnsupportedFeature) as info:
        jobsim.Simulation(app, profile=profile)
    assert info.value.feature == "singleton"
    assert f"{system} cannot run function 'f': it uses one run at a time per key (singleton=)" in str(info.value)


def test_a_profile_that_does_not_say_refuses_a_singleton():
    """``Profile.singleton`` is opt-in: a plugin's profile written before it refuses rather than ignores it."""
    from jobsim._profiles import resolve

    app = jobsim.App("a")
    fn = app.function("f", on="go", singleton=Singleton(mode="skip"))(lambda ctx: None)
    profile = jobsim.Profile(name="mine", description="a system of mine", default_retries=jobsim.Retries(attempts=1))
    with pytest.raises(UnsupportedFeature, match=r"mine cannot run function 'f': it uses one run at a time"):
        resolve(profile, [fn])


def test_a_debounced_run_meets_the_singleton_when_its_debounce_fires():
    """Inngest schedules a debounced run when its debounce fires (the job enqueued at ttl + 50 ms + 1 s), and
    only then does ``schedule`` reach the singleton block: the key is that of the event the run gets."""
    from jobsim import Debounce

    app, _ = sync_app(singleton=Singleton(mode="skip"), debounce=Debounce("10s"))
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("user/changed", {"i": 1})  # runs at 11.05 s, sleeps 1 h
        sim.advance("5m")
        sim.send("user/changed", {"i": 2})  # fires at 5 m 11.05 s: #1 holds the key
        sim.run_until_idle()
    first, second = sim.runs("sync")
    assert (first.status, first.start_ns - T0) == ("completed", 11_050_000_000)
    assert (second.status, second.end_ns - T0) == ("skipped", 5 * MINUTE + 11_050_000_000)
    assert second.event.data == {"i": 2}


def test_a_run_waiting_for_its_events_future_ts_holds_the_key_already():
    """executor.go : schedule enqueues a run whose event ts is ahead at that time, and enqueue.lua takes the
    key then: a second event before the first run starts is skipped."""
    app, _ = sync_app(singleton=Singleton(mode="skip"))
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("user/changed", {"i": 1}, ts=(T0 + 10 * MINUTE) // 1_000_000)
        sim.advance("1m")
        sim.send("user/changed", {"i": 2})
        sim.run_until_idle()
    first, second = sim.runs("sync")
    assert (first.status, at(first.start_ns), second.status, at(second.end_ns)) == ("completed", 600, "skipped", 60)


def test_a_saved_trace_keeps_the_singleton_records_and_their_timeline(tmp_path):
    import datetime as dt

    from jobsim._timeline import render_trace

    app, _ = sync_app(singleton=Singleton(mode="cancel"))
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("user/changed", {"i": 1})
        sim.advance("10m")
        sim.send("user/changed", {"i": 2})
        sim.run_until_idle()
        sim.trace.save(tmp_path / "t.jsonl")
    loaded = jobsim.Trace.load(tmp_path / "t.jsonl")
    (cancel,) = loaded.of("cancel")
    assert (cancel.data["reason"], cancel.data["by"]) == ("singleton", sim.runs("sync")[1].id)
    text = render_trace(loaded, dt.timezone.utc, seed=None, profile="inngest", kinds=sim.record_kinds())
    assert "cancel    sync#1: sync#2 takes its singleton key (event user/changed)" in text
