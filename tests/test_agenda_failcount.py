"""Agenda 6.2.2: a recurring job's failCount runs across its runs and numbers its retries.

Semantics §5.2 and agenda@6.2.2 ``packages/agenda/src/Job.ts``: ``fail()`` does
``failCount++``, ``handleRetry`` passes ``attempt: failCount`` to the backoff
(``utils/backoff.ts``: ``attempt > maxRetries`` -> ``null``, no retry), and a success
leaves ``failCount`` as it is (the reset came with PR #1727, after 6.2.2). A recurring
job is one job document, so its failures add up from run to run.
"""

from _readme import run_block

import jobsim
from jobsim import AgendaBackoff
from jobsim.invariants import retries_respect_policy

START = "2026-03-02T00:00:00Z"


def hourly(outcomes, retries, profile="agenda"):
    """An hourly job whose k-th call fails when ``outcomes[k]`` is 'x'; its runs' attempt times."""
    app = jobsim.App("a")
    calls = iter(outcomes)

    @app.function("sync", cron="0 * * * *", retries=retries)
    def sync(ctx):
        if next(calls) == "x":
            raise ConnectionError("ERP is down")
        return "ok"

    with jobsim.Simulation(app, start=START, profile=profile) as sim:
        sim.advance("4h30m")
        retries_respect_policy(sim)  # the invariant counts Agenda's retries the same way
    return [
        (run.status, [a.started_at.strftime("%H:%M:%S") for a in run.attempts]) for run in sim.runs("sync")
    ]


def test_the_backoff_of_a_recurring_job_starts_from_its_lifetime_failcount():
    # runs at 01:00..04:00; exponential 10 s x2, maxRetries 3: delays 10 s, 20 s, 40 s, then null (each
    # retry is at least processEvery, 5 s, ahead, so a poll locks it in time and it starts on time)
    got = hourly(["x", "ok", "x", "ok", "x", "x", "ok"], AgendaBackoff(delay="10s", max_retries=3))
    assert got == [
        ("completed", ["01:00:00", "01:00:10"]),  # failCount 1: retry after 10 s
        ("completed", ["02:00:00", "02:00:20"]),  # failCount 2 (not reset by the success): 20 s
        ("failed", ["03:00:00", "03:00:40"]),  # failCount 3: 40 s; its failure is failCount 4 > 3: no retry
        ("completed", ["04:00:00"]),
    ]


def test_retries_sooner_than_process_every_start_at_the_next_poll():
    # exponential 1 s x2: each retry is due 1, 2 and 4 s after a failure at the top of the hour; the poll at
    # that instant has already looked, so the 5 s poll after it starts each
    got = hourly(["x", "ok", "x", "ok", "x", "x", "ok"], AgendaBackoff(delay="1s", max_retries=3))
    assert got[:3] == [("completed", ["01:00:00", "01:00:05"]), ("completed", ["02:00:00", "02:00:05"]),
                       ("failed", ["03:00:00", "03:00:05"])]  # fmt: skip


def test_once_failcount_passes_max_retries_a_recurring_job_is_never_retried_again():
    got = hourly(["x", "ok", "x", "ok", "x"], AgendaBackoff("constant", "30s", max_retries=1))
    assert got == [
        ("completed", ["01:00:00", "01:00:30"]),  # failCount 1 -> retry; failCount 2 would be the next
        ("failed", ["02:00:00"]),  # failCount 2 > maxRetries 1: the failure is final at once
        ("completed", ["03:00:00"]),
        ("failed", ["04:00:00"]),  # failCount 3: still no retry, hours later
    ]


def test_a_crash_rerun_does_not_count_as_a_failure():
    """Agenda re-runs a crashed job when its lock expires (10 min), without fail(): failCount stays."""
    app = jobsim.App("a")
    calls = iter(["x", "ok", "x", "ok"])

    @app.function("sync", cron="0 * * * *", retries=AgendaBackoff("linear", "10s", max_retries=3))
    def sync(ctx):
        import time

        time.sleep(1)
        if next(calls) == "x":
            raise ConnectionError("ERP is down")

    with jobsim.Simulation(app, start=START, profile="agenda") as sim:
        sim.crash_worker(at="2026-03-02T01:00:00.500Z")  # inside the 01:00 run's first attempt
        sim.advance("2h30m")
        retries_respect_policy(sim)
    got = [[a.started_at.strftime("%H:%M:%S") for a in run.attempts] for run in sim.runs("sync")]
    # The 01:00 tick was locked by the 00:59:55 poll (nextScanAt = 01:00:00; a timer starts it at 01:00):
    # lockedAt 00:59:55, so the poll at 01:09:55 finds the lock expired (lockedAt <= now - 10 min) and
    # re-runs the job; it fails at 01:09:56: failCount 1 (10 s, 01:10:06, found ahead by the 01:10:05
    # poll); the retry succeeds; 02:00 fails: failCount 2, linear 10 s + 10 s
    assert got == [["01:00:00", "01:09:55", "01:10:06"], ["02:00:00", "02:00:21"]]


def test_one_off_jobs_each_start_from_failcount_zero():
    app = jobsim.App("a")
    fails = {"a": 2, "b": 1}

    # delays of 10 s and more: each retry is found ahead by a 5 s poll and starts exactly on time
    @app.function("sync", on="sync/run", retries=AgendaBackoff(delay="10s", max_retries=3))
    def sync(ctx):
        key = ctx.event.data["key"]
        if fails[key]:
            fails[key] -= 1
            raise ConnectionError("down")

    with jobsim.Simulation(app, start=START, profile="agenda") as sim:
        sim.send("sync/run", {"key": "a"})
        sim.run_until_idle()
        sim.send("sync/run", {"key": "b"})
        sim.run_until_idle()
    offsets = [[(a.start_ns - run.start_ns) // 1_000_000 for a in run.attempts] for run in sim.runs("sync")]
    assert offsets == [[0, 10_000, 30_000], [0, 10_000]]  # "b" is a new job document: its retry is attempt 1


def test_other_systems_count_retries_per_run():
    got = hourly(["x", "ok", "x", "ok"], jobsim.Retries(4, "exponential", "1s"), profile="bullmq")
    assert got[:2] == [("completed", ["01:00:00", "01:00:01"]), ("completed", ["02:00:00", "02:00:01"])]


def test_the_readme_example_runs_as_written():
    run_block("failCount")
