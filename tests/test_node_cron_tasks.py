"""node-cron's task options ``noOverlap`` and ``maxExecutions`` (jobsim/_nodetask.py), at exact virtual times.

Read from node-cron 4.6.0 (npm, ``dist/_shared.js``: ``Runner.start``'s ``heartBeat`` and ``runTask``,
``InlineScheduledTask``'s ``onMaxExecutions``). The golden cases are what the real node-cron did under mocked
timers (``tests/gen_node_cron_tasks_golden.py`` wrote ``tests/data/node_cron_tasks_golden.json``; this test
runs offline); the others are traced by hand from the source.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

import jobsim
from jobsim import traces
from jobsim._time import instant_ns, iso

START = "2026-03-02T00:00:00Z"
GOLDEN = json.loads((Path(__file__).with_name("data") / "node_cron_tasks_golden.json").read_text())


def task_app(expr, sleeps, fails=(False,), is_async=False):
    """``report`` on ``expr``; execution k sleeps ``sleeps[k % len]`` seconds, then raises if ``fails[k % len]``
    (``is_async``: an ``async def`` that awaits ``asyncio.sleep``, as the Node task awaits its timer)."""
    app = jobsim.App("ops")
    count = [0]

    def next_execution():
        k = count[0]
        count[0] += 1
        return sleeps[k % len(sleeps)], fails[k % len(fails)]

    if is_async:
        @app.function("report", cron=expr)
        async def report_async(ctx):
            seconds, fail = next_execution()
            await asyncio.sleep(seconds)
            if fail:
                raise RuntimeError("boom")
    else:
        @app.function("report", cron=expr)
        def report(ctx):
            seconds, fail = next_execution()
            time.sleep(seconds)
            if fail:
                raise RuntimeError("boom")

    return app


def simulate(app, advance, **options):
    with jobsim.Simulation(app, start=START, profile=jobsim.profile("node-cron", **options)) as sim:
        sim.advance(advance)
    return sim


def hms(ns):
    return iso(ns)[11:19]


def starts(sim):
    return [(r.event.data["scheduledAt"][11:19], hms(r.start_ns)) for r in sim.runs("report")]


def skipped(sim):
    return [r.data["scheduled"][11:19] for r in sim.trace.of("cron.missed") if r.data.get("reason") == "overlap"]


# -- golden: the real node-cron under mocked timers ----------------------------------------------------------


@pytest.mark.parametrize("is_async", [False, True], ids=["def", "async"])
@pytest.mark.parametrize("case", GOLDEN["cases"], ids=[c["name"] for c in GOLDEN["cases"]])
def test_matches_real_node_cron(case, is_async):
    assert GOLDEN["start"] == START and GOLDEN["node-cron"] == "4.6.0"
    opts = case["options"]
    options = {"no_overlap": opts.get("noOverlap", False), "max_executions": opts.get("maxExecutions", 0),
               "max_random_delay": f"{opts.get('maxRandomDelay', 0)}ms"}  # fmt: skip
    app = task_app(case["expr"], [ms / 1000 for ms in case["sleep"]], case["fail"], is_async)
    with jobsim.Simulation(app, start=START, profile=jobsim.profile("node-cron", **options)) as sim:
        if "delays" in case:  # the draws node-cron's Math.random was made to give, in the order runTask asks
            draws = Draws(case["delays"], opts["maxRandomDelay"])
            sim.engine.rng_for = lambda _id: draws
        sim.advance(f"{case['minutes']}m")
    horizon = instant_ns(START) + case["minutes"] * 60 * 10**9
    ms = 10**6

    def of(*names):
        return [(e[1] * ms, e[2] * ms) for e in case["events"] if e[0] in names]

    runs = sim.runs("report")
    assert [(instant_ns(r.event.data["scheduledAt"]), r.start_ns) for r in runs] == of("call")
    ended = [(instant_ns(r.event.data["scheduledAt"]), r.end_ns) for r in runs
             if r.end_ns is not None and r.end_ns <= horizon]  # fmt: skip
    assert ended == sorted(of("execution:finished", "execution:failed"), key=lambda e: (e[1], e[0]))
    assert [r.status for r in runs if r.end_ns is not None and r.end_ns <= horizon] == [
        "failed" if e[0] == "execution:failed" else "completed"
        for e in sorted((e for e in case["events"] if e[0] in ("execution:finished", "execution:failed")),
                        key=lambda e: (e[2], e[1]))]  # fmt: skip
    overlaps = [slot for slot, _ in of("execution:overlap")]
    missed = sim.trace.of("cron.missed")
    if options["no_overlap"]:  # each overlap is a skipped tick, recorded
        assert [instant_ns(r.data["scheduled"]) for r in missed if r.data["reason"] == "overlap"] == overlaps
    else:  # the event is emitted, but the tick runs (or waits)
        assert set(overlaps) <= {slot for slot, _ in of("execution:started")}
        assert [r for r in missed if r.data["reason"] == "overlap"] == []
    # a tick whose wait the task's destruction cancelled: started (beforeRun), never called though its longest
    # wait was over by the horizon
    most = opts.get("maxRandomDelay", 0) * ms
    never = sorted({slot for slot, _ in of("execution:started") if slot + most < horizon}
                   - {slot for slot, _ in of("call")})  # fmt: skip
    assert [instant_ns(r.data["scheduled"]) for r in missed if r.data["reason"] == "destroyed"] == never
    reached = of("execution:maxReached")
    ends = sim.trace.of("cron.end")
    assert [e.at for e in ends] == [at for _, at in reached[:1]]  # once: the task is destroyed by the first
    assert [at for _, at in of("task:destroyed")] == [e.at for e in ends]


class Draws:
    """Stands for a function's random stream: ``randrange(n)`` gives the golden case's delays in order."""

    def __init__(self, delays, most):
        self.delays = iter(delays)
        self.most = most

    def randrange(self, n):
        assert n == self.most
        return next(self.delays)


# -- hand-traced from runner.ts -------------------------------------------------------------------------------


def test_no_overlap_skips_and_never_queues():
    # 150 s job every minute: 00:01 runs to 00:03:30; 00:02 and 00:03 find it pending and are dropped; 00:04 runs
    sim = simulate(task_app("* * * * *", [150]), "10m", no_overlap=True)
    assert starts(sim) == [("00:01:00", "00:01:00"), ("00:04:00", "00:04:00"), ("00:07:00", "00:07:00"),
                           ("00:10:00", "00:10:00")]  # fmt: skip
    assert skipped(sim) == ["00:02:00", "00:03:00", "00:05:00", "00:06:00", "00:08:00", "00:09:00"]
    first = sim.runs("report")[0]
    assert sim.trace.of("cron.missed")[0].data == {
        "function": "report", "cron": "* * * * *", "scheduled": "2026-03-02T00:02:00.000Z", "outcome": "skipped",
        "reason": "overlap", "run": first.id}
    without = simulate(task_app("* * * * *", [150]), "10m")
    assert len(without.runs("report")) == 10 and without.trace.of("cron.missed") == []


def test_a_run_ending_at_the_tick_is_still_pending():
    # the heartbeat's timer was armed before the job's: at 00:03:00 the 00:01 run (120 s) has not settled
    sim = simulate(task_app("* * * * *", [120]), "6m", no_overlap=True)
    assert skipped(sim) == ["00:02:00", "00:03:00", "00:05:00", "00:06:00"]
    sim = simulate(task_app("* * * * *", [119.999]), "6m", no_overlap=True)
    assert skipped(sim) == ["00:02:00", "00:04:00", "00:06:00"]


def test_max_executions_counts_starts_and_stops_on_success():
    # maxExecutions 1, 150 s job, no noOverlap: 00:02 and 00:03 still start (runCount 2, 3); the 00:01 run's
    # end at 00:03:30 destroys the task; 00:04 on never ticks, unrecorded
    sim = simulate(task_app("* * * * *", [150]), "10m", max_executions=1)
    assert [s for s, _ in starts(sim)] == ["00:01:00", "00:02:00", "00:03:00"]
    (end,) = sim.trace.of("cron.end")
    assert hms(end.at) == "00:03:30"
    assert end.data == {"function": "report", "cron": "* * * * *", "reason": "max_executions", "limit": 1,
                        "runs": 3, "run": sim.runs("report")[0].id}  # fmt: skip
    assert sim.trace.of("cron.missed") == []


def test_failures_count_but_do_not_stop():
    # execute() returns before the maxExecutions check when the task throws: 2 failures, then a success stops it
    sim = simulate(task_app("* * * * *", [5], fails=(True, True, False)), "10m", max_executions=2)
    assert [r.status for r in sim.runs("report")] == ["failed", "failed", "completed"]
    assert hms(sim.trace.of("cron.end")[0].at) == "00:03:05"
    always = simulate(task_app("* * * * *", [5], fails=(True,)), "10m", max_executions=2)
    assert len(always.runs("report")) == 10 and always.trace.of("cron.end") == []


def test_skipped_ticks_count_nothing():
    # noOverlap + maxExecutions 2, 90 s job: 00:01 (1), 00:02 skipped, 00:03 (2) ends 00:04:30 -> destroyed
    sim = simulate(task_app("* * * * *", [90]), "10m", no_overlap=True, max_executions=2)
    assert [s for s, _ in starts(sim)] == ["00:01:00", "00:03:00"]
    assert skipped(sim) == ["00:02:00", "00:04:00"]
    assert hms(sim.trace.of("cron.end")[0].at) == "00:04:30"


def test_each_schedule_is_a_task():
    app = jobsim.App("ops")

    @app.function("report", cron=["* * * * *", "*/2 * * * *"])
    def report(ctx):
        time.sleep(90)

    sim = simulate(app, "4m", no_overlap=True)
    got = [(r.event.data["cron"], r.event.data["scheduledAt"][11:16]) for r in sim.runs("report")]
    assert got == [("* * * * *", "00:01"), ("*/2 * * * *", "00:02"), ("* * * * *", "00:03"), ("*/2 * * * *", "00:04")]


def test_a_downtime_restarts_the_tasks():
    # the process restarts after the downtime: a destroyed task is scheduled afresh, its count from 0
    app = task_app("* * * * *", [10])
    with jobsim.Simulation(app, start=START, profile=jobsim.profile("node-cron", max_executions=1)) as sim:
        sim.downtime("2026-03-02T00:03:30Z", "2026-03-02T00:04:30Z")
        sim.advance("7m")
    assert [s for s, _ in starts(sim)] == ["00:01:00", "00:05:00"]
    assert [hms(e.at) for e in sim.trace.of("cron.end")] == ["00:01:10", "00:05:10"]


def test_a_lost_run_holds_nothing():
    # report#1 dies at 00:01:30 with its process: no pending promise is left, so 00:02 runs; 00:03 finds report#2
    app = task_app("* * * * *", [150])
    with jobsim.Simulation(app, start=START, profile=jobsim.profile("node-cron", no_overlap=True)) as sim:
        sim.crash_worker(at="2026-03-02T00:01:30Z", function="report")
        sim.advance("3m")
    assert [(s, r.status != "lost") for (s, _), r in zip(starts(sim), sim.runs("report"), strict=True)] == [
        ("00:01:00", False), ("00:02:00", True)]
    assert skipped(sim) == ["00:03:00"]


def test_the_limit_is_checked_when_the_run_ends():
    # maxExecutions 3, 150 s job: runCount is 3 (00:01, 00:02, 00:03) when report#1 ends at 00:03:30
    sim = simulate(task_app("* * * * *", [150]), "10m", max_executions=3)
    assert len(sim.runs("report")) == 3
    (end,) = sim.trace.of("cron.end")
    assert (hms(end.at), end.data["runs"], end.data["run"]) == ("00:03:30", 3, sim.runs("report")[0].id)
    # a 60 s job ends at 00:02:00 as the 00:02 tick starts execution 2: the heartbeat came first, so 2 >= 2
    sim = simulate(task_app("* * * * *", [60]), "10m", max_executions=2)
    assert [s for s, _ in starts(sim)] == ["00:01:00", "00:02:00"]
    assert [(hms(e.at), e.data["runs"]) for e in sim.trace.of("cron.end")] == [("00:02:00", 2)]


def test_timeline_says_why():
    sim = simulate(task_app("* * * * *", [150]), "8m", no_overlap=True, max_executions=2)
    text = sim.timeline()
    assert "report skips its 03-02 00:02:00 tick: report#1 is still running (noOverlap: the tick is dropped, " \
           "not queued)" in text
    assert "report ends its schedule: report#2 completed, execution 2 of maxExecutions 2; the task is destroyed " \
           "(* * * * *)" in text


def test_trace_round_trip(tmp_path):
    sim = simulate(task_app("* * * * *", [150]), "10m", no_overlap=True, max_executions=2)
    loaded = traces.load(sim.trace.save(tmp_path / "tasks.jobsim.jsonl"), strict=True)
    assert loaded.header["profile"] == "node-cron(no_overlap=true, max_executions=2)"
    assert [r.data for r in loaded.of("cron.missed", "cron.end")] == [
        r.data for r in sim.trace.of("cron.missed", "cron.end")]
    again = jobsim.Simulation.replay(tmp_path / "tasks.jobsim.jsonl", task_app("* * * * *", [150]))
    assert again.same, again.report()  # the header's profile name brings the options back
    assert again.simulation.profile.cron_no_overlap and again.simulation.profile.cron_max_runs == 2
    assert skipped(again.simulation) == skipped(sim)


# -- maxRandomDelay: a delay drawn from the seed, so checked against runTask's rules rather than instants ---------


def delayed(sleep, seeds, **options):
    app = task_app("* * * * *", [sleep])
    for seed in seeds:
        with jobsim.Simulation(app, start=START, seed=seed, profile=jobsim.profile("node-cron", **options)) as sim:
            sim.advance("8m")
        yield sim


def test_random_delay_is_whole_ms_below_the_maximum_and_seeded():
    first = []
    for sim in delayed(10, range(5), max_random_delay="30s"):
        runs = sim.runs("report")
        delays = [r.start_ns - instant_ns(r.event.data["scheduledAt"]) for r in runs]
        assert [r.event.data["scheduledAt"][11:16] for r in runs][:7] == [f"00:0{m}" for m in range(1, 8)]
        assert all(0 <= d < 30 * 10**9 and d % 10**6 == 0 for d in delays)
        first.append(delays[0])
    assert len(set(first)) == 5  # each seed draws its own
    again = next(delayed(10, [0], max_random_delay="30s"))
    assert again.runs("report")[0].start_ns - instant_ns(START) - 60 * 10**9 == first[0]


def test_no_overlap_counts_the_delay_as_pending():
    # the heartbeat checks the last tick's promise, which covers runTask's random delay and then the run
    waited = 0
    for sim in delayed(10, range(8), max_random_delay="90s", no_overlap=True):
        runs = {instant_ns(r.event.data["scheduledAt"]): r for r in sim.runs("report")}
        last = None
        for minute in range(1, 7):  # each of these ticks has started by 00:08 (delays < 90 s)
            tick = instant_ns(START) + minute * 60 * 10**9
            skipped = [r.data for r in sim.trace.of("cron.missed") if instant_ns(r.data["scheduled"]) == tick]
            busy = last is not None and (last.start_ns > tick or last.end_ns >= tick)
            assert bool(skipped) == busy and (tick in runs) != busy, (sim.seed, iso(tick))
            if skipped and last.start_ns > tick:
                assert instant_ns(skipped[0]["waiting"]) == instant_ns(last.event.data["scheduledAt"])
                assert "run" not in skipped[0]
                waited += 1
            elif skipped:
                assert skipped[0]["run"] == last.id
            last = runs.get(tick, last)
    assert waited  # the seeds cover a tick skipped while the last one still waited


def test_destroying_the_task_cancels_the_latest_delay():
    # maxExecutions 1, a 65 s job, delays up to 50 s: if the 00:02 tick still waits when the 00:01 run completes,
    # stop() clears jitterTimeout and it never runs; if it started first, it runs (runCount 2) and the task ends
    cancelled = 0
    for sim in delayed(65, range(12), max_random_delay="50s", max_executions=1):
        first, *rest = sim.runs("report")
        (end,) = sim.trace.of("cron.end")
        assert end.at == first.end_ns
        dropped = [r.data for r in sim.trace.of("cron.missed")]
        if rest:
            assert [r.event.data["scheduledAt"][11:16] for r in rest] == ["00:02"] and rest[0].start_ns <= end.at
            assert dropped == [] and end.data["runs"] == 2
        else:
            assert dropped == [{"function": "report", "cron": "* * * * *", "scheduled": "2026-03-02T00:02:00.000Z",
                                "outcome": "skipped", "reason": "destroyed", "run": first.id}]  # fmt: skip
            cancelled += 1
            assert "report drops its 03-02 00:02:00 tick, waiting out its random delay: report#1 reached " \
                   "maxExecutions and the task is destroyed" in sim.timeline()
    assert 0 < cancelled < 12


# -- the options ------------------------------------------------------------------------------------------------


def test_profile_options_and_name():
    p = jobsim.profile("node-cron", no_overlap=True, max_executions=3)
    assert p.name == "node-cron(no_overlap=true, max_executions=3)"
    assert p.cron_no_overlap and p.cron_max_runs == 3
    assert jobsim.profile(p.name) == p
    assert jobsim.profile("node-cron", no_overlap=False, max_executions=0).name == "node-cron"
    assert jobsim.profile("node-cron(no_overlap=TRUE)").cron_no_overlap
    delay = jobsim.profile("node-cron", max_random_delay="1500ms")
    assert (delay.name, delay.cron_jitter_ns) == ("node-cron(max_random_delay=1s500ms)", 1_500_000_000)
    assert jobsim.profile("node-cron", max_random_delay=0).name == "node-cron"


@pytest.mark.parametrize(("options", "match"), [
    ({"no_overlap": "yes"}, r"no_overlap='yes'.*True or False \(node-cron's noOverlap\)"),
    ({"max_executions": -1}, r"max_executions=-1.*maxExecutions\), or 0 for no limit"),
    ({"max_executions": 2.5}, r"max_executions=2.5"),
    ({"max_executions": True}, r"max_executions=True"),
    ({"timezone": "UTC"}, r"has no option 'timezone' \(timezone is tz= on the function"),
    ({"process_every": "1s"}, r"has no option 'process_every' \(Agenda's"),
    ({"maxExecutions": 2}, r"has no option 'maxExecutions' \(write max_executions\)"),
    ({"max_random_delay": "1.5ms"}, r"whole milliseconds.*fraction of a millisecond"),
    ({"max_random_delay": "soon"}, r"max_random_delay='soon'.*\{maxRandomDelay: 5000\} is '5s'"),
])  # fmt: skip
def test_bad_options_refused(options, match):
    with pytest.raises(jobsim.InvalidArgument, match=match):
        jobsim.profile("node-cron", **options)


@pytest.mark.parametrize("name", ["inngest", "bullmq", "trigger.dev", "quirrel", "vercel-cron"])
def test_other_profiles_refuse_them(name):
    with pytest.raises(jobsim.InvalidArgument, match=rf"profile '{name}' takes no options, got no_overlap=True; "
                                                     "profiles that take options: 'agenda', 'node-cron'"):
        jobsim.profile(name, no_overlap=True)
    with pytest.raises(jobsim.InvalidArgument, match=r"'max_executions' \(max_executions: node-cron's task option"):
        jobsim.profile("agenda", max_executions=2)


def test_singleton_refusal_names_the_option():
    app = jobsim.App("ops")

    @app.function("report", cron="* * * * *", singleton=jobsim.Singleton(mode="skip"))
    def report(ctx):
        pass

    with pytest.raises(jobsim.UnsupportedFeature, match=r"no_overlap=True"):
        jobsim.Simulation(app, start=START, profile="node-cron")


def test_a_plugin_profile_with_durable_steps_gets_them_too():
    # the fields are the profile's, not node-cron's: a profile that needs no other system rule still applies them
    plugin = jobsim.Profile(name="mine", description="a plugin's", default_retries=jobsim.Retries(1),
                            cron_no_overlap=True, cron_max_runs=2)  # fmt: skip
    app = task_app("* * * * *", [90])
    with jobsim.Simulation(app, start=START, profile=plugin) as sim:
        sim.advance("10m")
    assert [s for s, _ in starts(sim)] == ["00:01:00", "00:03:00"] and skipped(sim) == ["00:02:00", "00:04:00"]
    with pytest.raises(jobsim.InvalidArgument, match=r"Profile.cron_max_runs must be an int >= 0"):
        jobsim.Profile(name="bad", description="", default_retries=jobsim.Retries(1), cron_max_runs=-1)
    with pytest.raises(jobsim.InvalidArgument, match=r"Profile.cron_no_overlap must be True or False"):
        jobsim.Profile(name="bad", description="", default_retries=jobsim.Retries(1), cron_no_overlap="yes")
