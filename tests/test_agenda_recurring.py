"""Agenda 6.2.2: a recurring job is one document, so a retry takes the place of the ticks it jumps over.

agenda@6.2.2 ``packages/agenda/src/Job.ts``: ``run`` computes ``nextRunAt`` (the first cron
match strictly after ``lastRunAt``) as each run starts (612-623); ``handleRetry`` overwrites it
with ``now + delay`` (569-570), sooner or later than that match; exhausted retries leave it
(546-566). A locked (running) document is skipped by the lock query
(``MongoJobRepository.getNextJobToRun``). ``jobsim/_jobdoc.py`` models it; every tick held back
is a ``cron.missed`` record (outcome "skipped", with its reason) that ``compare`` counts lost.
"""

from __future__ import annotations

import time

import pytest
from _readme import run_block

import jobsim
from jobsim import AgendaBackoff, UnsupportedFeature
from jobsim._time import iso
from jobsim.invariants import retries_respect_policy

START = "2026-03-01T23:59:00Z"  # the first */5 tick is 00:00


def five_minutely(script, retries, *, profile="agenda", advance="23m", play=None, **options):
    """A */5 job whose k-th call does ``script[k] = (outcome, seconds it spends)``: 'x' raises."""
    app = jobsim.App("erp")
    calls = iter(script)

    @app.function("sync", cron="*/5 * * * *", retries=retries, **options)
    def sync(ctx):
        outcome, spend = next(calls, ("ok", 0))
        if spend:
            time.sleep(spend)
        if outcome == "x":
            raise ConnectionError("ERP is down")
        return "ok"

    sim = jobsim.Simulation(app, start=START, profile=profile)
    with sim:
        if play is not None:
            play(sim)
        sim.advance(advance)
        retries_respect_policy(sim)
    return sim


def runs(sim, function="sync"):
    """Each run as (its tick, its status, its attempts' starts)."""
    return [(r.event.data["scheduledAt"][11:16] if "scheduledAt" in r.event.data else "event", r.status,
             [a.started_at.strftime("%H:%M:%S") for a in r.attempts]) for r in sim.runs(function)]  # fmt: skip


def skipped(sim):
    """Each tick held back as (tick, reason, until)."""
    return [(r.data["scheduled"][11:16], r.data["reason"], iso(r.data["until"])[11:19] if "until" in r.data else None)
            for r in sim.trace.of("cron.missed")]  # fmt: skip


def lines(sim, *needles):
    return [line.split("UTC  ", 1)[1] for line in sim.timeline().splitlines() if any(n in line for n in needles)]


# -- a retry later than the next tick --------------------------------------------------------------------


def test_a_retry_ten_minutes_later_takes_the_place_of_the_ticks_it_jumps_over():
    sim = five_minutely([("x", 0)], AgendaBackoff("constant", "10m", max_retries=3))
    # 00:00 fails: handleRetry sets nextRunAt = 00:10, overwriting the 00:05 computed at 00:00.
    # The retry at 00:10 is the job's run then; its Job.run computes 00:15 (strictly after 00:10).
    assert runs(sim) == [
        ("00:00", "completed", ["00:00:00", "00:10:00"]),
        ("00:15", "completed", ["00:15:00"]),
        ("00:20", "completed", ["00:20:00"]),
    ]
    assert skipped(sim) == [("00:05", "retry", "00:10:00"), ("00:10", "ran", None)]
    assert lines(sim, "skips") == [
        "cron      sync skips its 03-02 00:05:00 tick: sync#1's retry, due 2026-03-02 00:10:00 UTC, takes the "
        "job's nextRunAt",
        "cron      sync skips its 03-02 00:10:00 tick: sync#1 ran at this instant (its attempt 1); the job's next "
        "run is the first tick after",
    ]


def test_a_retry_later_than_several_ticks_skips_all_of_them_and_they_are_not_run_at_the_retry():
    sim = five_minutely([("x", 0), ("x", 0)], AgendaBackoff("linear", "7m", max_retries=3))
    # failCount 1: 7 m (00:07); failCount 2: 14 m (00:21): ticks 00:05, 00:10, 00:15, 00:20 never run
    assert runs(sim) == [("00:00", "completed", ["00:00:00", "00:07:00", "00:21:00"])]
    assert skipped(sim) == [("00:05", "retry", "00:07:00"), ("00:10", "retry", "00:21:00"),
                            ("00:15", "retry", "00:21:00"), ("00:20", "retry", "00:21:00")]  # fmt: skip
    assert [r.data["scheduled"][11:16] for r in sim.trace.of("cron")] == ["00:00"]


def test_without_the_document_other_systems_run_the_tick_beside_the_pending_retry():
    sim = five_minutely([("x", 0)], jobsim.BullMQBackoff(2, "fixed", "10m"), profile="bullmq")
    assert [t for t, _, _ in runs(sim)] == ["00:00", "00:05", "00:10", "00:15", "00:20"]
    assert sim.trace.of("cron.missed") == []


# -- a retry sooner than the next tick -------------------------------------------------------------------


def test_a_retry_sooner_than_the_next_tick_runs_and_the_tick_still_runs():
    sim = five_minutely([("x", 0)], AgendaBackoff("constant", "2m", max_retries=3))
    # the retry's Job.run at 00:02 computes 00:05 again: nothing is lost
    assert runs(sim)[:2] == [("00:00", "completed", ["00:00:00", "00:02:00"]), ("00:05", "completed", ["00:05:00"])]
    assert skipped(sim) == []


def test_a_retry_sooner_than_the_tick_that_runs_past_it_holds_the_tick_until_it_ends():
    # 00:00 fails; retry at 00:01 runs 6 minutes (lastRunAt 00:01 -> nextRunAt 00:05) and ends well at
    # 00:07: the document was locked at 00:05, so the 00:05 tick runs once, overdue, at the first poll after
    # the lock is released (the 00:07:00 poll looked before the run's end saved it): 00:07:05; its run
    # computes 00:10
    sim = five_minutely([("x", 0), ("ok", 360)], AgendaBackoff("constant", "1m", max_retries=3))
    assert runs(sim) == [
        ("00:00", "completed", ["00:00:00", "00:01:00"]),
        ("00:05", "completed", ["00:07:05"]),
        ("00:10", "completed", ["00:10:00"]),
        ("00:15", "completed", ["00:15:00"]),
        ("00:20", "completed", ["00:20:00"]),
    ]
    assert skipped(sim) == []
    (late,) = [r for r in sim.trace.of("cron") if r.data.get("late")]
    assert (iso(late.at), late.data["scheduled"], late.data["held_by"]) == (
        "2026-03-02T00:07:00.000Z", "2026-03-02T00:05:00.000Z", sim.runs("sync")[0].id,
    )  # fmt: skip
    assert lines(sim, "fires late") == [
        "cron      sync fires late for its 03-02 00:05:00 tick (*/5 * * * *): sync#1 held the job's lock until now"
    ]


def test_a_long_attempt_that_fails_into_a_retry_loses_the_tick_it_was_holding():
    # 00:00 runs until 00:12 and fails: the retry (00:13) replaces the 00:05 computed at 00:00;
    # the 00:10 tick finds the job locked
    sim = five_minutely([("x", 720)], AgendaBackoff("constant", "1m", max_retries=3))
    assert runs(sim)[:2] == [("00:00", "completed", ["00:00:00", "00:13:00"]), ("00:15", "completed", ["00:15:00"])]
    assert skipped(sim) == [("00:05", "retry", "00:13:00"), ("00:10", "locked", "00:12:00")]
    assert lines(sim, "00:10:00 tick") == [
        "cron      sync skips its 03-02 00:10:00 tick: sync#1 holds the job's lock until 2026-03-02 00:12:00 UTC "
        "(a job never runs twice at once)"
    ]


# -- exhausted retries -----------------------------------------------------------------------------------


def test_exhausted_retries_leave_the_schedule_running_from_the_last_attempt():
    # maxRetries 1: 00:00 fails (failCount 1, retry at 00:10), the retry fails (failCount 2 > 1: null,
    # nextRunAt stays 00:15 as computed when the retry started); 00:15 fails (failCount 3: no retry)
    sim = five_minutely([("x", 0), ("x", 0), ("x", 0)], AgendaBackoff("constant", "10m", max_retries=1))
    assert runs(sim) == [
        ("00:00", "failed", ["00:00:00", "00:10:00"]),
        ("00:15", "failed", ["00:15:00"]),
        ("00:20", "completed", ["00:20:00"]),
    ]
    assert skipped(sim) == [("00:05", "retry", "00:10:00"), ("00:10", "ran", None)]
    retried = [r.data["attempt"] for r in sim.trace.of("retry")]
    assert retried == [1]


def test_an_exhausted_retry_that_ran_past_the_next_tick_runs_that_tick_when_it_ends():
    # the retry starts 00:10 (nextRunAt 00:15), runs 7 minutes and fails for good at 00:17:
    # the recurring time stands (no retry overwrites it), so the 00:15 tick runs at the first poll after
    # 00:17, 00:17:05
    sim = five_minutely([("x", 0), ("x", 420)], AgendaBackoff("constant", "10m", max_retries=1))
    assert runs(sim) == [
        ("00:00", "failed", ["00:00:00", "00:10:00"]),
        ("00:15", "completed", ["00:17:05"]),
        ("00:20", "completed", ["00:20:00"]),
    ]
    assert skipped(sim) == [("00:05", "retry", "00:10:00"), ("00:10", "ran", None)]


# -- one document: no overlap, a crash holds the lock --------------------------------------------------------


def test_a_run_longer_than_the_interval_never_overlaps_and_runs_one_overdue_tick():
    sim = five_minutely([("ok", 720)], None)  # 00:00 runs until 00:12
    assert runs(sim) == [
        ("00:00", "completed", ["00:00:00"]),
        ("00:05", "completed", ["00:12:05"]),  # overdue: the first poll after the lock is released; next: 00:15
        ("00:15", "completed", ["00:15:00"]),
        ("00:20", "completed", ["00:20:00"]),
    ]
    assert skipped(sim) == [("00:10", "overdue", "00:12:00")]
    assert lines(sim, "00:10:00 tick") == [
        "cron      sync skips its 03-02 00:10:00 tick: the job's overdue 03-02 00:05:00 tick runs when sync#1 "
        "releases the lock, 2026-03-02 00:12:00 UTC"
    ]


def test_a_tick_due_as_the_overdue_one_runs_is_not_a_second_run():
    sim = five_minutely([("ok", 600)], None)  # 00:00 runs until 00:10: the 00:05 tick runs at the 00:10:05 poll
    assert [(t, starts) for t, _, starts in runs(sim)][:3] == [
        ("00:00", ["00:00:00"]), ("00:05", ["00:10:05"]), ("00:15", ["00:15:00"]),
    ]  # fmt: skip
    assert skipped(sim) == [("00:10", "overdue", "00:10:00")]
    assert "the job's overdue 03-02 00:05:00 tick runs when sync#1 releases the lock" in sim.timeline()


def test_every_tick_until_the_lock_is_released_is_skipped_for_the_overdue_one():
    sim = five_minutely([("ok", 900)], None)  # 00:00 runs until 00:15: 00:05 runs then (its poll), 00:10, 00:15 never
    assert [(t, starts) for t, _, starts in runs(sim)] == [
        ("00:00", ["00:00:00"]), ("00:05", ["00:15:05"]), ("00:20", ["00:20:00"]),
    ]  # fmt: skip
    assert skipped(sim) == [("00:10", "overdue", "00:15:00"), ("00:15", "overdue", "00:15:00")]


def test_an_attempt_ending_on_the_tick_holds_nothing_back_and_the_next_poll_runs_the_tick():
    # 00:00 ends at 00:05:00: unlocked when 00:05 is due, not held (no skipped tick); the 00:05:00 poll looked
    # before the end saved the job, so the 00:05:05 poll runs it
    sim = five_minutely([("ok", 300)], None)
    assert [(t, starts) for t, _, starts in runs(sim)][:2] == [("00:00", ["00:00:00"]), ("00:05", ["00:05:05"])]
    assert skipped(sim) == []


def test_a_crashed_run_holds_the_lock_until_its_re_run():
    def crash(sim):
        sim.crash_worker(at="2026-03-02T00:00:30Z")

    sim = five_minutely([("ok", 60)], None, play=crash)
    # the 23:59:55 poll locked the 00:00 tick ahead of time (nextScanAt 00:00:00), so the lock expires at
    # 00:09:55 (lockLifetime 10 min) and the poll then re-runs the job: 00:05 is lost; the re-run's Job.run
    # computes 00:10, which runs on time
    assert runs(sim)[:2] == [("00:00", "completed", ["00:00:00", "00:09:55"]), ("00:10", "completed", ["00:10:00"])]
    assert skipped(sim) == [("00:05", "crashed", None)]
    assert "sync#1's worker died holding the job's lock; the job runs again when the lock expires" in sim.timeline()


def test_a_tick_whose_run_waits_for_a_concurrency_slot_holds_the_next_back():
    """Agenda's concurrency is per definition: an agenda.now() job of the same name can hold the slot."""

    def busy(sim):
        sim.advance("4m")  # 00:03
        sim.send("sync/now")  # runs 00:03-00:11 (its own document)

    sim = five_minutely([("ok", 0), ("ok", 480)], None, play=busy, on="sync/now", concurrency=1, advance="19m")
    # the 00:05 tick's run waits for the slot until 00:11: nextRunAt is still 00:05 at 00:10, and
    # the run at 00:11 computes 00:15
    assert runs(sim) == [
        ("00:00", "completed", ["00:00:00"]),
        ("event", "completed", ["00:03:00"]),
        ("00:05", "completed", ["00:11:00"]),
        ("00:15", "completed", ["00:15:00"]),
        ("00:20", "completed", ["00:20:00"]),
    ]
    assert skipped(sim) == [("00:10", "waiting", None)]
    assert "sync#3 has not started; the job's nextRunAt is still its 03-02 00:05:00 tick" in sim.timeline()


# -- documents of their own ----------------------------------------------------------------------------------


def test_a_run_started_by_an_event_is_a_document_of_its_own():
    def once(sim):
        sim.advance("2m")
        sim.send("sync/now")  # 00:01: fails, retried at 00:11; the */5 document is not affected

    sim = five_minutely([("ok", 0), ("x", 0)], AgendaBackoff("constant", "10m", max_retries=1), play=once,
                        on="sync/now")  # fmt: skip
    assert [len(r.attempts) for r in sim.runs("sync")] == [1, 2, 1, 1, 1, 1]
    assert skipped(sim) == []


def test_a_downtime_while_a_retry_is_pending_misses_nothing_more_than_the_retry_took():
    def down(sim):
        sim.downtime("2026-03-02T00:12:00Z", "2026-03-02T00:20:00Z")

    sim = five_minutely([("x", 0)], AgendaBackoff("constant", "30m", max_retries=1), play=down, advance="40m")
    # nextRunAt is the retry's (00:30) all along: no tick is "down", nothing runs late at 00:20
    assert runs(sim)[:2] == [("00:00", "completed", ["00:00:00", "00:30:00"]), ("00:35", "completed", ["00:35:00"])]
    assert [(t, why) for t, why, _ in skipped(sim)] == [
        ("00:05", "retry"), ("00:10", "retry"), ("00:15", "retry"), ("00:20", "retry"), ("00:25", "retry"),
        ("00:30", "ran"),
    ]  # fmt: skip


# -- what the profile refuses, and compare ----------------------------------------------------------------------


def test_two_schedules_on_one_function_are_refused():
    app = jobsim.App("erp")
    app.function("sync", cron=["0 * * * *", "30 * * * *"])(lambda ctx: None)
    with pytest.raises(UnsupportedFeature) as info:
        jobsim.Simulation(app, profile="agenda")
    assert str(info.value) == (
        "Agenda cannot run function 'sync': it uses more than one cron schedule (cron=[...]), which Agenda does "
        "not have — every() keeps one job document per name (type 'single', upserted by name), so a second "
        "interval replaces the first; give each schedule a function of its own"
    )
    assert info.value.feature == "cron.several"
    jobsim.Simulation(app, profile="bullmq")  # one job scheduler per schedule there


def test_compare_counts_the_ticks_a_retry_took_as_lost():
    calls = []

    def build():
        calls.clear()
        app = jobsim.App("erp")

        @app.function("sync", cron="*/5 * * * *", retries=jobsim.Retries(2, "constant", min="10m"))
        def sync(ctx):
            calls.append(1)
            if len(calls) == 1:
                raise ConnectionError("ERP is down")

        return app

    scenario = jobsim.Scenario(name="flaky-sync", description="the 00:00 sync fails; its retry comes 10 min later",
                               build=build, play=lambda sim: sim.advance_to("2026-03-02T00:22:00Z"), start=START)
    result = jobsim.compare(scenario, profiles=["inngest", "bullmq", "agenda"])
    counts = {o.profile: (o.runs, o.completed, o.failed, o.lost) for o in result.outcomes}
    assert counts == {"inngest": (5, 5, 0, 0), "bullmq": (5, 5, 0, 0), "agenda": (3, 3, 0, 2)}


def test_the_readme_example_runs_as_written():
    run_block('"retry"', claim="An Agenda recurring job is one document")
