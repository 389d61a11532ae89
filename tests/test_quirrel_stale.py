"""Quirrel's stale checker, as owl (quirrel-dev/owl) runs it.

``src/worker/request.lua`` hands a job out: ``ZADD processing <now>`` and, per queue, ``HINCRBY
soft-block <queue> 1``; an exclusive queue's jobs are blocked while that count is not ``"0"``.
``src/shared/acknowledge.lua`` gives it back (``HINCRBY ... -1``). A job whose worker died is
acknowledged only by the stale checker (``src/shared/stale-checker.ts``), once a minute, for jobs
``processing`` for 60 minutes. Its loop reads ``staleJobs[0]`` on every pass: with several stale jobs
it reports the first one once per stale job and never the others.
"""

from __future__ import annotations

import time

from _readme import run_block

import jobsim
from jobsim import QuirrelRetry, WorkerCrashed
from jobsim._time import iso

START = "2025-03-03T09:00:00Z"


def hms(ns: int) -> str:
    return iso(ns)[11:19]


def app_of(*specs):
    """Functions on "go", each (id, options); each attempt sleeps 20 s."""
    app = jobsim.App("q")
    for fn_id, options in specs:

        @app.function(fn_id, on="go", **options)
        def work(ctx):
            time.sleep(20)
            return "ok"

    return app


def attempts(sim, fn_id):
    return [(run.status, [hms(a.start_ns) for a in run.attempts]) for run in sim.runs(fn_id)]


def recovers(sim):
    return [(hms(r.at), r.data["function"], r.data["then"]) for r in sim.trace.of("recover")]


def test_an_exclusive_queue_stays_blocked_by_a_dead_job_until_the_stale_checker_acknowledges_it():
    with jobsim.Simulation(app_of(("f", {"concurrency": 1})), start=START, profile="quirrel") as sim:
        sim.send("go")
        sim.send("go")  # waits: f is exclusive
        sim.crash_worker(at="2025-03-03T09:00:10Z")
        sim.run_until_idle()
    # soft-block stays 1 until acknowledge.lua runs for the dead job, at the 10:00 check
    assert attempts(sim, "f") == [("failed", ["09:00:00"]), ("completed", ["10:00:00"])]
    assert recovers(sim) == [("10:00:00", "f", "fail")]


def test_a_non_exclusive_queue_never_waits_for_the_stale_checker():
    with jobsim.Simulation(app_of(("f", {})), start=START, profile="quirrel") as sim:
        sim.send("go")
        sim.crash_worker(at="2025-03-03T09:00:10Z")
        sim.advance("15s")
        sim.send("go")
        sim.run_until_idle()
    assert attempts(sim, "f") == [("failed", ["09:00:00"]), ("completed", ["09:00:15"])]


def test_of_several_stale_jobs_found_by_one_check_only_the_first_is_reported_the_others_are_lost():
    app = app_of(("late", {"retries": QuirrelRetry(["10s"])}), ("early", {"retries": QuirrelRetry(["10s"])}))
    with jobsim.Simulation(app, start=START, profile="quirrel") as sim:
        sim.send("go")  # both start at 09:00:00 and sleep 20 s
        sim.crash_worker(at="2025-03-03T09:00:10Z", function="late")
        sim.crash_worker(at="2025-03-03T09:00:10Z", function="early")
        sim.run_until_idle()
    # same score (09:00:00): ZRANGEBYSCORE orders members queue:id, so "early" comes first; it is reported
    # (failed, then retried: runAt + 10 s is long past) and "late" is never retried
    assert attempts(sim, "early") == [("completed", ["09:00:00", "10:00:00"])]
    assert attempts(sim, "late") == [("lost", ["09:00:00"])]
    lost = sim.runs("late")[0]
    assert isinstance(lost.error, WorkerCrashed)
    assert "reported only the first of the 2 stale jobs it found (early " in str(lost.error)
    assert recovers(sim) == [("10:00:00", "early", "fail"), ("10:00:00", "late", "lose")]
    assert "recover   late#1: the stale checker found 2 stale jobs and reported only the first, early#1, 2 " \
           "times; the system loses the run" in sim.timeline()  # fmt: skip


def test_the_first_is_the_job_handed_out_earliest():
    app = jobsim.App("q")
    for fn_id in ("a", "b"):

        @app.function(fn_id, on=f"go-{fn_id}")
        def work(ctx):
            time.sleep(60)

    with jobsim.Simulation(app, start=START, profile="quirrel") as sim:
        sim.crash_worker(at="2025-03-03T09:00:45Z", function="a")
        sim.crash_worker(at="2025-03-03T09:00:45Z", function="b")
        sim.advance("10s")
        sim.send("go-b")  # handed out at 09:00:10
        sim.advance("30s")
        sim.send("go-a")  # handed out at 09:00:40
        sim.run_until_idle()
    # stale from 10:00:10 and 10:00:40: the check at 10:01 finds both, b (the lower score) first, though
    # "a" sorts first by name
    assert recovers(sim) == [("10:01:00", "b", "fail"), ("10:01:00", "a", "lose")]
    assert [r.status for r in sim.runs("b")] == ["failed"] and [r.status for r in sim.runs("a")] == ["lost"]


def test_every_exclusive_queue_among_several_stale_jobs_is_blocked_for_good(tmp_path):
    app = app_of(("a", {"concurrency": 1, "retries": QuirrelRetry(["10s"])}), ("b", {}), ("c", {"concurrency": 1}))
    with jobsim.Simulation(app, start=START, profile="quirrel") as sim:
        sim.send("go")
        sim.downtime("2025-03-03T09:00:10Z", "2025-03-03T09:05:00Z")  # all three workers die at 09:00:10
        sim.advance("2h")
        sim.send("go")
        sim.advance("1h")
    # a is reported 3 times: its queue's soft-block goes 1 - 3 = -2; c's stays 1; b's queue is not exclusive
    assert attempts(sim, "a") == [("queued", ["09:00:00"]), ("queued", [])]  # its retry never gets the queue
    assert attempts(sim, "b") == [("lost", ["09:00:00"]), ("completed", ["11:00:00"])]
    assert attempts(sim, "c") == [("lost", ["09:00:00"]), ("queued", [])]
    assert recovers(sim) == [("10:00:00", "a", "fail"), ("10:00:00", "b", "lose"), ("10:00:00", "c", "lose"),
                             ("10:00:00", "a", "jam"), ("10:00:00", "c", "jam")]  # fmt: skip
    assert "recover   c: the stale checker left its exclusive queue's soft-block count off zero; its queue never " \
           "runs a job again" in sim.timeline()  # fmt: skip
    saved = sim.trace.save(tmp_path / "stale.jsonl")
    assert [r.data["then"] for r in jobsim.Trace.load(saved).of("recover")] == ["fail", "lose", "lose", "jam", "jam"]


def test_a_single_stale_job_is_reported_once_and_blocks_nothing():
    app = app_of(("a", {"concurrency": 1}), ("b", {"concurrency": 1}))
    with jobsim.Simulation(app, start=START, profile="quirrel") as sim:
        sim.send("go")
        sim.crash_worker(at="2025-03-03T09:00:10Z", function="a")
        sim.advance("2h")
        sim.send("go")
        sim.advance("1h")
    assert attempts(sim, "a") == [("failed", ["09:00:00"]), ("completed", ["11:00:00"])]
    assert [r.status for r in sim.runs("b")] == ["completed", "completed"]


def test_no_system_without_a_failure_hook_publishes_inngest_s_failure_event():
    app = jobsim.App("q")
    heard = []

    @app.function("boom", cron="0 9 * * *")
    def boom(ctx):
        raise RuntimeError("no")

    @app.function("listener", on="inngest/function.failed")
    def listener(ctx):
        heard.append(ctx.event.data)

    with jobsim.Simulation(app, start="2025-03-03T08:00:00Z", profile="quirrel") as sim:
        sim.advance("3h")
    assert [run.status for run in sim.runs("boom")] == ["failed"]
    assert heard == [] and [e.name for e in sim.events] == []
    with jobsim.Simulation(app, start="2025-03-03T08:00:00Z") as sim:  # Inngest does publish it
        sim.advance("3h")
    assert len(heard) == 1 and heard[0]["function_id"] == "boom"

    cron_only = jobsim.App("v")
    cron_only.function("boom", cron="0 9 * * *")(boom.handler)
    with jobsim.Simulation(cron_only, start="2025-03-03T08:00:00Z", profile="vercel-cron", seed=3) as sim:
        sim.advance("3h")
    assert [run.status for run in sim.runs("boom")] == ["failed"] and [e.name for e in sim.events] == []


def test_the_readme_example_runs_as_written():
    run_block("sync-crm", claim="Quirrel's stale checker reports one job per check")
