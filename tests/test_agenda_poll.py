"""Agenda 6.2.2 finds jobs only by polling, every ``processEvery`` (default 5 s): jobsim/_polling.py.

agenda@6.2.2 ``packages/agenda/src/JobProcessor.ts``: ``start()`` polls at once and then on
``setInterval(processEvery)`` (98-118); each poll locks every job with ``nextRunAt <= now +
processEvery`` (``jobQueueFilling`` 382-447, ``MongoJobRepository.getNextJobToRun``) and starts it
at its ``nextRunAt``, by a timer when that is ahead (``jobProcessing`` 454-551). With MongoDB no
notification channel wakes the processor (``MongoBackend.ts``: "uses polling"; ``Job.save`` 416-419),
and a run's own saves (``saveJobState``) never do. So a job lockable from ``since`` with
``nextRunAt = due`` starts at ``max(due, first poll >= max(since, due - processEvery))``.

The simulations start at a poll (jobsim starts Agenda with the simulation): polls fall at :00, :05, ...
"""

from __future__ import annotations

import time

import pytest
from _readme import run_block

import jobsim
from jobsim import AgendaBackoff, InvalidArgument
from jobsim._time import SECOND, iso
from jobsim.invariants import Violation, retries_respect_policy

START = "2026-03-02T00:00:00Z"


def hms(ns: int) -> str:
    return iso(ns)[11:23]


def job_app(retries=None, spend=(), fails=0, **options):
    """``job`` on "go": the k-th attempt spends ``spend[k]`` seconds; the first ``fails`` attempts raise."""
    app = jobsim.App("a")
    calls = []

    @app.function("job", on="go", retries=retries, **options)
    def job(ctx):
        k = len(calls)
        calls.append(k)
        if k < len(spend) and spend[k]:
            time.sleep(spend[k])
        if k < fails:
            raise ConnectionError("down")
        return "ok"

    return app


def starts(sim, function="job"):
    """Each run's attempts' start times."""
    return [[hms(a.start_ns) for a in run.attempts] for run in sim.runs(function)]


def lines(sim, *needles):
    return [line.split("UTC  ", 1)[1] for line in sim.timeline().splitlines() if any(n in line for n in needles)]


# -- (a) agenda.now() and agenda.schedule(when) -------------------------------------------------------------


def test_agenda_now_starts_at_the_next_poll():
    with jobsim.Simulation(job_app(), start=START, profile="agenda") as sim:
        sim.send("go")  # at 00:00:00, the instant of the first poll: it finds the job (jobsim's choice at a tie)
        sim.advance("1s")
        sim.send("go")  # at 00:00:01: nothing looks until the poll at 00:00:05
        sim.advance("1m")
    assert starts(sim) == [["00:00:00.000"], ["00:00:05.000"]]
    second = sim.runs("job")[1]
    assert (hms(second.start_ns), second.status) == ("00:00:05.000", "completed")
    (queued,) = sim.trace.of("run.queued")
    assert (hms(queued.at), queued.data["reason"], hms(queued.data["until"])) == (
        "00:00:01.000", "poll", "00:00:05.000")  # fmt: skip
    assert lines(sim, "queued") == ["queued    job#2 waits for the poll that finds it, 2026-03-02 00:00:05 UTC"]


def test_process_every_sets_the_poll_grid():
    profile = jobsim.profile("agenda", process_every="1s")
    with jobsim.Simulation(job_app(), start=START, profile=profile) as sim:
        sim.advance("1500ms")
        sim.send("go")
        sim.advance("1m")
    assert starts(sim) == [["00:00:02.000"]]
    assert sim.profile.name == "agenda(process_every=1s)"


def test_a_job_scheduled_later_runs_on_time_once_a_poll_can_see_it_ahead():
    with jobsim.Simulation(job_app(), start=START, profile="agenda") as sim:
        sim.advance("1s")
        sim.send("go", delay="3s")  # nextRunAt 00:00:04: the 00:00:05 poll is the first to look
        sim.send("go", delay="6s")  # nextRunAt 00:00:07: locked by the 00:00:05 poll, started by its timer
        sim.send("go", delay="10s")  # nextRunAt 00:00:11: locked by the 00:00:10 poll
        sim.advance("1m")
    assert sorted(starts(sim)) == [["00:00:05.000"], ["00:00:07.000"], ["00:00:11.000"]]
    assert [hms(r.data["until"]) for r in sim.trace.of("run.queued")] == ["00:00:05.000"]


def test_a_job_that_job_code_creates_at_the_instant_its_poll_started_it_waits_for_the_next_poll():
    app = jobsim.App("a")

    @app.function("first", on="go")
    def first(ctx):
        app.send("next")  # agenda.now() from a job the 00:00:05 poll started: that poll has already looked
        time.sleep(2)
        app.send("next")  # at 00:00:07

    @app.function("second", on="next")
    def second(ctx):
        return "ok"

    with jobsim.Simulation(app, start=START, profile="agenda") as sim:
        sim.advance("1s")
        sim.send("go")
        sim.advance("1m")
    assert starts(sim, "first") == [["00:00:05.000"]]
    assert starts(sim, "second") == [["00:00:10.000"], ["00:00:10.000"]]


# -- (b) a retry sooner than processEvery -----------------------------------------------------------------


def retried(spend):
    """A job whose first attempt spends ``spend`` seconds and fails; its retry is due 2 s later."""
    app = job_app(AgendaBackoff("constant", "2s", max_retries=1), spend=[spend], fails=1)
    with jobsim.Simulation(app, start=START, profile="agenda") as sim:
        sim.send("go")
        sim.advance("1m")
        retries_respect_policy(sim)
    return sim


def test_a_retry_sooner_than_process_every_starts_at_the_poll_that_finds_it():
    # fails at 00:00:00, due 00:00:02: the poll at 00:00:00 started the attempt (its query ran before), so
    # the next poll, 00:00:05, finds the retry overdue
    sim = retried(0)
    assert starts(sim) == [["00:00:00.000", "00:00:05.000"]]
    (retry,) = sim.trace.of("retry")
    assert (hms(retry.data["at"]), hms(retry.data["poll"])) == ("00:00:02.000", "00:00:05.000")  # nextRunAt, poll
    assert lines(sim, "retry ") == ["retry     job#1 attempt 1 at 00:00:02 (+2s), found by the poll at "
                                    "2026-03-02 00:00:05 UTC"]  # fmt: skip
    # fails at 00:00:01, due 00:00:03: no poll in between; the 00:00:05 poll finds it overdue
    assert starts(retried(1)) == [["00:00:00.000", "00:00:05.000"]]
    # fails at 00:00:03.500, due 00:00:05.500: the 00:00:05 poll finds it ahead, its timer starts it on time
    sim = retried(3.5)
    assert starts(sim) == [["00:00:00.000", "00:00:05.500"]]
    assert "poll" not in sim.trace.of("retry")[0].data


# -- (c) a retry later than processEvery ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delay", "spend", "expected"),
    [
        # 00:00:05.250 + 7 s = 00:00:12.250 (locked by the 00:00:10 poll), 00:00:12.500 + 7 s = 00:00:19.500
        ("7s", 0.25, ["00:00:05.000", "00:00:12.250", "00:00:19.500"]),
        # exactly processEvery: due 00:00:10, the 00:00:10 poll locks it (nextRunAt <= nextScanAt) and runs it
        ("5s", 0, ["00:00:05.000", "00:00:10.000", "00:00:15.000"]),
    ],
)  # fmt: skip
def test_a_retry_later_than_process_every_starts_on_time(delay, spend, expected):
    app = job_app(AgendaBackoff("constant", delay, max_retries=2), spend=[spend, spend], fails=2)
    with jobsim.Simulation(app, start=START, profile="agenda") as sim:
        sim.advance("1s")
        sim.send("go")  # agenda.now() at 00:00:01: the first attempt starts at the 00:00:05 poll
        sim.advance("1m")
        retries_respect_policy(sim)
    assert starts(sim) == [expected]
    assert ["poll" in r.data for r in sim.trace.of("retry")] == [False, False]


def test_the_invariant_still_catches_a_retry_that_started_neither_when_due_nor_at_its_poll():
    app = job_app(AgendaBackoff("constant", "2s", max_retries=1), fails=1)
    with jobsim.Simulation(app, start=START, profile="agenda") as sim:
        sim.send("go")
        sim.advance("1m")
    retry = sim.runs("job")[0].attempts[1]
    assert hms(retry.start_ns) == "00:00:05.000"
    retry.start_ns += SECOND  # 00:00:06: not a poll, and later than the one that found it
    with pytest.raises(Violation, match=r"attempt 1 started 6s after attempt 0 failed .*; the policy allows 2s"):
        retries_respect_policy(sim)


# -- (d) a recurring job's next tick ----------------------------------------------------------------------


def test_a_tick_whose_job_was_unlocked_less_than_process_every_before_it_starts_at_the_next_poll():
    app = jobsim.App("erp")
    spend = iter([58, 0, 0])

    @app.function("sync", cron="* * * * *")
    def sync(ctx):
        time.sleep(next(spend, 0))

    # started 2 s past the minute: polls at :02, :07, ... :57
    with jobsim.Simulation(app, start="2026-03-02T00:00:02Z", profile="agenda") as sim:
        sim.advance("3m")
    # 00:01 is found ahead by the 00:00:57 poll; it runs until 00:01:58, so the 00:02 tick's job is unlocked
    # 2 s before it is due: the 00:02:02 poll finds it, late; its Job.run computes 00:03, found ahead again
    assert starts(sim, "sync") == [["00:01:00.000"], ["00:02:02.000"], ["00:03:00.000"]]
    late = [r for r in sim.trace.of("run.queued") if r.data["reason"] == "poll"]
    assert [(hms(r.at), hms(r.data["until"])) for r in late] == [("00:02:00.000", "00:02:02.000")]


# -- (e) a job unlocked after its nextRunAt: the overdue tick ---------------------------------------------


def test_the_overdue_tick_starts_at_the_first_poll_after_the_lock_is_released():
    app = jobsim.App("erp")
    script = iter([("x", 0), ("ok", 362.5)])

    @app.function("sync", cron="*/5 * * * *", retries=AgendaBackoff("constant", "1m", max_retries=3))
    def sync(ctx):
        outcome, spend = next(script, ("ok", 0))
        time.sleep(spend)
        if outcome == "x":
            raise ConnectionError("ERP is down")

    with jobsim.Simulation(app, start="2026-03-01T23:59:00Z", profile="agenda") as sim:
        sim.advance("12m")
    # 00:00 fails; its retry (00:01) holds the lock until 00:07:02.500, past the 00:05 it computed: that tick
    # is overdue when the lock is released, and the next poll, 00:07:05, runs it; its Job.run computes 00:10
    assert starts(sim, "sync") == [["00:00:00.000", "00:01:00.000"], ["00:07:05.000"], ["00:10:00.000"]]
    (late,) = [r for r in sim.trace.of("cron") if r.data.get("late")]
    assert (hms(late.at), late.data["scheduled"]) == ("00:07:02.500", "2026-03-02T00:05:00.000Z")
    assert lines(sim, "queued") == ["queued    sync#2 waits for the poll that finds it, 2026-03-02 00:07:05 UTC"]


# -- the grid, crashes, concurrency, debounce -------------------------------------------------------------


def test_after_a_downtime_the_restarted_processor_polls_at_once_and_from_then_on():
    with jobsim.Simulation(job_app(), start=START, profile="agenda") as sim:
        sim.downtime("2026-03-02T00:00:10Z", "2026-03-02T00:00:12.500Z")
        sim.advance("11s")
        sim.send("go")  # while down: starts when it is back, at the restart's own poll
        sim.advance("2s")
        sim.send("go")  # 00:00:13: the restarted processor polls at 12.5, 17.5, ...
        sim.advance("1m")
    assert starts(sim) == [["00:00:12.500"], ["00:00:17.500"]]
    assert [r.data["reason"] for r in sim.trace.of("run.queued")] == ["downtime", "poll"]


def test_a_downtime_armed_while_jobs_wait_for_a_poll_starts_them_at_the_restarts_poll():
    """The restart polls at once (``JobProcessor`` constructor), so a job waiting for a poll of the old grid
    after the downtime starts at the restart, not at that old poll, which no longer happens."""
    app = job_app(retries=AgendaBackoff("constant", "1s", max_retries=1), fails=1)
    with jobsim.Simulation(app, start=START, profile=jobsim.profile("agenda", process_every="1m")) as sim:
        sim.send("go")  # at once (sent as Agenda starts): attempt 0 fails, the retry (due 00:00:01) waits for 00:01
        sim.advance("30s")
        sim.send("go")  # agenda.now() at 00:00:30: waits for the poll at 00:01
        sim.downtime("2026-03-02T00:00:40Z", "2026-03-02T00:00:50Z")  # armed after both began to wait
        sim.advance("2m")
        retries_respect_policy(sim)  # it reads the polls as they are now: the old poll would be a violation
    assert starts(sim) == [["00:00:00.000", "00:00:50.000"], ["00:00:50.000"]]
    assert [(hms(r.at), r.data["run"] == sim.runs("job")[1].id, hms(r.data["until"]))
            for r in sim.trace.of("run.queued")] == [("00:00:30.000", True, "00:01:00.000"),
                                                     ("00:00:30.000", True, "00:00:50.000")]  # fmt: skip
    assert [r.data["poll"] for r in sim.trace.of("retry")] == [60 * SECOND + sim.start_ns]  # as computed then


def test_a_crashed_jobs_lock_expires_at_the_poll_that_locked_it_plus_ten_minutes():
    app = jobsim.App("b")

    @app.function("billing", cron="0 9 * * *")
    def billing(ctx):
        time.sleep(20)

    profile = jobsim.profile("agenda", process_every="1m")
    with jobsim.Simulation(app, start="2026-03-02T00:00:30Z", profile=profile) as sim:
        sim.crash_worker(at="2026-03-02T09:00:10Z")
        sim.advance("10h")
    # polls at :30 each minute; the 08:59:30 poll locked the 09:00 job (nextScanAt 09:00:30): its lock expires
    # at 09:09:30, when a poll re-runs it
    assert [hms(r.at) for r in sim.trace.of("recover")] == ["09:09:30.000"]
    assert starts(sim, "billing") == [["09:00:00.000", "09:09:30.000"]]


def test_a_job_found_by_a_poll_waits_for_a_concurrency_slot_after_it():
    app = job_app(spend=[3, 0], concurrency=1)
    with jobsim.Simulation(app, start=START, profile="agenda") as sim:
        sim.advance("1s")
        sim.send("go")
        sim.send("go")
        sim.advance("1m")
    # both locked by the 00:00:05 poll; the second starts as the first ends (runOrRetry's re-processing)
    assert starts(sim) == [["00:00:05.000"], ["00:00:08.000"]]
    assert [(r.data["reason"], hms(r.at)) for r in sim.trace.of("run.queued")] == [
        ("poll", "00:00:01.000"), ("poll", "00:00:01.000"), ("concurrency", "00:00:05.000")]  # fmt: skip


def test_a_debounced_job_is_saved_at_the_last_call():
    def debounced(period):
        with jobsim.Simulation(job_app(debounce=jobsim.Debounce(period)), start=START, profile="agenda") as sim:
            sim.advance("1s")
            sim.send("go")  # nowDebounced at 00:00:01: nextRunAt 00:00:01 + period
            sim.advance("1m")
        return starts(sim)

    assert debounced("2s") == [["00:00:05.000"]]  # due 00:00:03: the 00:00:05 poll finds it
    assert debounced("10s") == [["00:00:11.000"]]  # due 00:00:11: the 00:00:10 poll finds it ahead


def test_a_debounce_timeout_is_agendas_max_wait_checked_only_when_a_call_comes():
    """``MongoJobRepository.saveJob`` (agenda@6.2.2, 733-746) reads ``maxWait`` only as a call saves the job:
    a call at or after ``debounceStartedAt + maxWait`` sets ``nextRunAt = now``, any earlier one ``now +
    delay`` -- which may fall past ``first + maxWait``; no timer fires at the deadline."""
    def debounced(*calls):
        app = job_app(debounce=jobsim.Debounce("10s", timeout="15s"))
        with jobsim.Simulation(app, start=START, profile="agenda") as sim:
            for at in calls:
                sim.advance_to(f"2026-03-02T00:00:{at:02d}Z")
                sim.send("go", {"at": at})
            sim.advance("1m")
        return starts(sim), [r.event.data for r in sim.runs("job")]

    # the call at 00:00:08: nextRunAt 00:00:18, past 00:00:15; the 00:00:15 poll finds it ahead
    assert debounced(0, 8) == ([["00:00:18.000"]], [{"at": 8}])
    assert debounced(0, 8, 14) == ([["00:00:24.000"]], [{"at": 14}])  # 14 s after the first: pushed on again
    # 00:00:15 is maxWait after the first call: nextRunAt = now, and the poll at that instant sees it
    assert debounced(0, 8, 15) == ([["00:00:15.000"]], [{"at": 15}])


# -- costs and options --------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["inngest", "bullmq", "quirrel"])  # Trigger.dev draws its factor R
def test_systems_that_do_not_poll_start_a_job_when_it_is_due(profile):
    app = job_app(jobsim.Retries(2, "constant", "2s"), fails=1)
    with jobsim.Simulation(app, start=START, profile=profile) as sim:
        sim.advance("1s")
        sim.send("go")
        sim.advance("1m")
    assert starts(sim) == [["00:00:01.000", "00:00:03.000"]]
    assert sim.trace.of("run.queued") == [] and not sim.profile.poll_ns


def test_profile_options_are_validated():
    assert jobsim.profile("agenda") is jobsim.profile("agenda", process_every="5s")  # the default: Agenda itself
    assert jobsim.profile("agenda", process_every="1500ms").name == "agenda(process_every=1s500ms)"
    assert jobsim.profile("agenda(process_every=1s)", process_every="2s").poll_ns == 2 * SECOND
    with pytest.raises(InvalidArgument, match=r"process_every='0s' is not valid: a duration greater than zero in "
                                              r"whole milliseconds"):  # fmt: skip
        jobsim.profile("agenda", process_every="0s")
    with pytest.raises(InvalidArgument, match=r"process_every='1\.5ms' is not valid: .* \(this one has a fraction"):
        jobsim.profile("agenda", process_every="1.5ms")
    with pytest.raises(InvalidArgument, match=r"profile 'agenda' has no option 'every'; it takes process_every"):
        jobsim.profile("agenda", every="1s")
    with pytest.raises(InvalidArgument, match=r"profile 'bullmq' takes no options, got process_every='1s'; profiles "
                                              r"that take options: 'agenda', 'inngest', 'node-cron'$"):  # fmt: skip
        jobsim.profile("bullmq", process_every="1s")
    with pytest.raises(InvalidArgument, match=r"profile='agenda\(process_every\)' is not valid: NAME\(option=value"):
        jobsim.Simulation(job_app(), profile="agenda(process_every)")
    with pytest.raises(InvalidArgument, match=r"profile='agend\(process_every=1s\)' is not valid: one of 'agenda'"):
        jobsim.Simulation(job_app(), profile="agend(process_every=1s)")


def test_a_variant_by_name_survives_a_trace_round_trip_and_a_replay(tmp_path):
    with jobsim.Simulation(job_app(), start=START, profile="agenda(process_every=2s)") as sim:
        sim.advance("1s")
        sim.send("go")
        sim.advance("1m")
    assert starts(sim) == [["00:00:02.000"]]
    path = tmp_path / "run.jobsim.jsonl"
    sim.trace.save(path)
    result = jobsim.Simulation.replay(str(path), job_app())
    assert result.simulation.profile.name == "agenda(process_every=2s)"
    assert result.same and starts(result.simulation) == [["00:00:02.000"]]


def test_compare_takes_variants_by_name():
    def build():
        return job_app()

    def play(sim):
        sim.advance("1s")
        sim.send("go")
        sim.advance("1m")

    scenario = jobsim.Scenario(name="poll", description="one agenda.now()", build=build, play=play, start=START)
    result = jobsim.compare(scenario, "agenda,agenda(process_every=500ms),inngest")
    assert [o.profile for o in result.outcomes] == ["agenda", "agenda(process_every=500ms)", "inngest"]
    assert [hms(o.simulation.runs("job")[0].start_ns) for o in result.outcomes] == [
        "00:00:05.000", "00:00:01.000", "00:00:01.000"]  # fmt: skip
    assert result.of("agenda(process_every = 500ms)") is result.outcomes[1]
    with pytest.raises(InvalidArgument, match=r"process_every='-1s' is not valid"):
        jobsim.compare(scenario, ["agenda(process_every=-1s)"])


def test_the_readme_example_runs_as_written():
    run_block("process_every", claim="Agenda finds jobs by polling, every `processEvery`")
