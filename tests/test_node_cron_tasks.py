"""node-cron's task options ``noOverlap`` and ``maxExecutions`` (jobsim/_nodetask.py), at exact virtual times.

Read from node-cron 4.6.0 (npm, ``dist/_shared.js``: ``Runner.start``'s ``heartBeat`` and ``runTask``,
``InlineScheduledTask``'s ``onMaxExecutions``). The golden cases are what the real node-cron did under mocked
timers (``tests/gen_node_cron_tasks_golden.py`` wrote ``tests/data/node_cron_tasks_golden.json``; this test
runs offline); the others are traced by hand from the source.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest
from _readme import run_block
from hypothesis import given, settings
from hypothesis import strategies as st

import jobsim
from jobsim import traces
from jobsim._profiles import CronTask
from jobsim._profilespec import split_names
from jobsim._time import instant_ns, iso

START = "2026-03-02T00:00:00Z"
GOLDEN = json.loads((Path(__file__).with_name("data") / "node_cron_tasks_golden.json").read_text())


def task_app(expr, sleeps, fails=(False,), is_async=False, app=None, name="report"):
    """``report`` on ``expr``; execution k sleeps ``sleeps[k % len]`` seconds, then raises if ``fails[k % len]``
    (``is_async``: an ``async def`` that awaits ``asyncio.sleep``, as the Node task awaits its timer). ``app``,
    ``name``: declare it there under that name (a second task of one process)."""
    app = app or jobsim.App("ops")
    count = [0]

    def next_execution():
        k = count[0]
        count[0] += 1
        return sleeps[k % len(sleeps)], fails[k % len(fails)]

    if is_async:
        @app.function(name, cron=expr)
        async def report_async(ctx):
            seconds, fail = next_execution()
            await asyncio.sleep(seconds)
            if fail:
                raise RuntimeError("boom")
    else:
        @app.function(name, cron=expr)
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


ONE = [case for case in GOLDEN["cases"] if "tasks" not in case]
SEVERAL = [case for case in GOLDEN["cases"] if "tasks" in case]


def jobsim_options(opts):
    """node-cron's ``TaskOptions`` as jobsim's task options."""
    return {"no_overlap": opts.get("noOverlap", False), "max_executions": opts.get("maxExecutions", 0),
            "max_random_delay": f"{opts.get('maxRandomDelay', 0)}ms"}  # fmt: skip


@pytest.mark.parametrize("is_async", [False, True], ids=["def", "async"])
@pytest.mark.parametrize("case", ONE, ids=[c["name"] for c in ONE])
def test_matches_real_node_cron(case, is_async):
    assert GOLDEN["start"] == START and GOLDEN["node-cron"] == "4.6.0"
    opts = case["options"]
    app = task_app(case["expr"], [ms / 1000 for ms in case["sleep"]], case["fail"], is_async)
    with jobsim.Simulation(app, start=START, profile=jobsim.profile("node-cron", **jobsim_options(opts))) as sim:
        if "delays" in case:  # the draws node-cron's Math.random was made to give, in the order runTask asks
            draws = Draws(case["delays"], opts["maxRandomDelay"])
            sim.engine.rng_for = lambda _id: draws
        sim.advance(f"{case['minutes']}m")
    matches_task(sim, "report", opts, case["events"], case["minutes"])


@pytest.mark.parametrize("is_async", [False, True], ids=["def", "async"])
@pytest.mark.parametrize("spelling", ["tasks", "defaults"])
@pytest.mark.parametrize("case", SEVERAL, ids=[c["name"] for c in SEVERAL])
def test_tasks_with_their_own_options_match_real_node_cron(case, spelling, is_async):
    # several cron.schedule calls in one process, each with its own options: "tasks" gives every function its
    # own; "defaults" gives the first task's as the profile's options and the others only what differs
    app = jobsim.App("ops")
    for task in case["tasks"]:
        task_app(task["expr"], [ms / 1000 for ms in task["sleep"]], task["fail"], is_async, app, task["name"])
    own = {task["name"]: jobsim_options(task["options"]) for task in case["tasks"]}
    if spelling == "tasks":
        profile = jobsim.profile("node-cron", tasks=own)
    else:
        first, *others = own
        profile = jobsim.profile("node-cron", **own[first], tasks={
            name: {k: v for k, v in own[name].items() if v != own[first][k]} for name in others})
    with jobsim.Simulation(app, start=START, profile=profile) as sim:
        rng_for = sim.engine.rng_for
        timed = {t["name"]: TimedDraws(sim, t["delays_at"], t["options"]["maxRandomDelay"])
                 for t in case["tasks"] if "delays_at" in t}  # fmt: skip
        sim.engine.rng_for = lambda fn_id: timed[fn_id] if fn_id in timed else rng_for(fn_id)
        sim.advance(f"{case['minutes']}m")
    for task in case["tasks"]:
        events = [e[:3] for e in case["events"] if e[3] == task["name"]]
        matches_task(sim, task["name"], task["options"], events, case["minutes"])
    assert len({len(sim.runs(task["name"])) for task in case["tasks"]}) > 1  # the options made them differ


def matches_task(sim, name, opts, events, minutes):
    """Function ``name``'s runs and records in ``sim`` are what node-cron's task did (``events``)."""
    __tracebackhide__ = True
    horizon = instant_ns(START) + minutes * 60 * 10**9
    ms = 10**6

    def of(*names):
        return [(e[1] * ms, e[2] * ms) for e in events if e[0] in names]

    runs = sim.runs(name)
    assert [(instant_ns(r.event.data["scheduledAt"]), r.start_ns) for r in runs] == of("call")
    ended = [(instant_ns(r.event.data["scheduledAt"]), r.end_ns) for r in runs
             if r.end_ns is not None and r.end_ns <= horizon]  # fmt: skip
    assert ended == sorted(of("execution:finished", "execution:failed"), key=lambda e: (e[1], e[0]))
    assert [r.status for r in runs if r.end_ns is not None and r.end_ns <= horizon] == [
        "failed" if e[0] == "execution:failed" else "completed"
        for e in sorted((e for e in events if e[0] in ("execution:finished", "execution:failed")),
                        key=lambda e: (e[2], e[1]))]  # fmt: skip
    overlaps = [slot for slot, _ in of("execution:overlap")]
    missed = [r for r in sim.trace.of("cron.missed") if r.data["function"] == name]
    if opts.get("noOverlap"):  # each overlap is a skipped tick, recorded
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
    ends = [r for r in sim.trace.of("cron.end") if r.data["function"] == name]
    assert [e.at for e in ends] == [at for _, at in reached[:1]]  # once: the task is destroyed by the first
    assert [e.data["limit"] for e in ends] == [opts.get("maxExecutions")] * len(ends)
    assert [at for _, at in of("task:destroyed")] == [e.at for e in ends]


class Draws:
    """Stands for a function's random stream: ``randrange(n)`` gives the golden case's delays in order."""

    def __init__(self, delays, most):
        self.delays = iter(delays)
        self.most = most

    def randrange(self, n):
        assert n == self.most
        return next(self.delays)


class TimedDraws:
    """A function's random stream giving the delay a golden case set for the tick being drawn for (``delays_at``:
    seconds from the start -> ms)."""

    def __init__(self, sim, delays_at, most):
        self.sim, self.delays_at, self.most = sim, delays_at, most

    def randrange(self, n):
        assert n == self.most
        return self.delays_at[str((self.sim.kernel.now - instant_ns(START)) // 10**9)]


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
    refused = (r"profile 'inngest' has no option 'no_overlap'; it takes request_timeout" if name == "inngest" else
               rf"profile '{name}' takes no options, got no_overlap=True; profiles that take options: 'agenda', "
               "'inngest', 'node-cron'")  # fmt: skip
    with pytest.raises(jobsim.InvalidArgument, match=refused):
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


# -- per-task options (tasks=) ------------------------------------------------------------------------------------


def two_tasks(sleep=150):
    """``report`` and ``sync``, each every minute, each execution ``sleep`` seconds."""
    app = task_app("* * * * *", [sleep])
    return task_app("* * * * *", [sleep], app=app, name="sync")


def test_task_options_override_the_profiles():
    # the profile's noOverlap and maxExecutions 2 for both; sync's own: overlapping allowed, limit 1
    profile = jobsim.profile("node-cron", no_overlap=True, max_executions=2,
                             tasks={"sync": {"no_overlap": False, "max_executions": 1}})  # fmt: skip
    with jobsim.Simulation(two_tasks(), start=START, profile=profile) as sim:
        sim.advance("10m")
    assert [f"{r.started_at:%H:%M}" for r in sim.runs("report")] == ["00:01", "00:04"]
    assert [f"{r.started_at:%H:%M}" for r in sim.runs("sync")] == ["00:01", "00:02", "00:03"]
    assert {r.data["function"] for r in sim.trace.of("cron.missed")} == {"report"}
    assert [(e.data["function"], hms(e.at), e.data["limit"], e.data["runs"]) for e in sim.trace.of("cron.end")] == [
        ("sync", "00:03:30", 1, 3), ("report", "00:06:30", 2, 2)]


def test_a_task_of_its_own_alone_needs_no_profile_option():
    # only sync has options: report runs every tick, as without any
    profile = jobsim.profile("node-cron", tasks={"sync": {"no_overlap": True}})
    with jobsim.Simulation(two_tasks(), start=START, profile=profile) as sim:
        sim.advance("6m")
    assert len(sim.runs("report")) == 6 and len(sim.runs("sync")) == 2
    assert {r.data["function"] for r in sim.trace.of("cron.missed")} == {"sync"}


def test_random_delay_per_task():
    # report waits up to 30 s; sync, told 0 over the profile's 30 s, starts on every tick
    delays = []
    for profile in (jobsim.profile("node-cron", tasks={"report": {"max_random_delay": "30s"}}),
                    jobsim.profile("node-cron", max_random_delay="30s", tasks={"sync": {"max_random_delay": 0}})):
        with jobsim.Simulation(two_tasks(sleep=1), start=START, seed=3, profile=profile) as sim:
            sim.advance("5m30s")
        late = [r.start_ns - instant_ns(r.event.data["scheduledAt"]) for r in sim.runs("report")]
        assert len(late) == 5 and all(0 <= d < 30 * 10**9 for d in late) and any(late)
        assert [r.start_ns - instant_ns(r.event.data["scheduledAt"]) for r in sim.runs("sync")] == [0] * 5
        delays.append(late)
    assert delays[0] == delays[1]  # the profile's delay or its own: drawn from the function's stream alike


def test_task_options_name_the_profile_canonically():
    p = jobsim.profile("node-cron", max_executions=3, tasks={
        "sync": {"max_random_delay": "1500ms", "no_overlap": "true"}, "report": {"max_executions": "0"}, "x": {}})
    assert p.name == ('node-cron(max_executions=3, tasks={"report": {"max_executions": 0}, "sync": '
                      '{"max_random_delay": "1s500ms", "no_overlap": true}})')
    assert jobsim.profile(p.name) == p  # the name alone brings them back (a trace header, --profile)
    assert jobsim.profile("node-cron", max_executions=3, tasks={
        "report": {"max_executions": 0}, "sync": {"no_overlap": True, "max_random_delay": 1.5}}).name == p.name
    assert (p.cron_task("sync").no_overlap, p.cron_task("sync").max_runs, p.cron_task("sync").jitter_ns) == (
        True, 3, 1_500_000_000)
    assert p.cron_task("report").max_runs == 0 and p.cron_task("other").max_runs == 3
    assert p.description.endswith("; maxExecutions 3; per task: report maxExecutions none; sync noOverlap, "
                                  "maxRandomDelay 1s500ms")  # fmt: skip
    assert jobsim.profile("node-cron", tasks={}).name == jobsim.profile("node-cron", tasks={"a": {}}).name == \
        "node-cron"
    assert jobsim.profile("node-cron(tasks={'report': {'no_overlap': True}})").name == \
        'node-cron(tasks={"report": {"no_overlap": true}})'  # a Python literal is read too
    assert jobsim.profile(p, tasks={"a,b": {"no_overlap": True}}).name == \
        'node-cron(max_executions=3, tasks={"a,b": {"no_overlap": true}})'  # tasks= replaces the variant's
    assert split_names('inngest,node-cron(tasks={"a,b": {"no_overlap": true}, "c)": {}}),agenda') == [
        "inngest", 'node-cron(tasks={"a,b": {"no_overlap": true}, "c)": {}})', "agenda"]


TASK_OPTIONS = st.fixed_dictionaries({}, optional={
    "no_overlap": st.booleans(), "max_executions": st.integers(0, 10**6),
    "max_random_delay": st.integers(0, 10**9).map(lambda ms: f"{ms}ms")})  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.text(min_size=1).filter(str.strip), TASK_OPTIONS, max_size=4), st.booleans())
def test_any_tasks_survive_the_profile_name(tasks, no_overlap):
    # ids with quotes, commas, brackets, backslashes: the name alone gives the same profile back, and a list of
    # profile names (--profiles) keeps it whole
    profile = jobsim.profile("node-cron", no_overlap=no_overlap, tasks=tasks)
    assert jobsim.profile(profile.name) == profile
    assert split_names(f"inngest,{profile.name},agenda") == ["inngest", profile.name, "agenda"]
    for fn_id, own in tasks.items():
        task = profile.cron_task(fn_id)
        assert task.no_overlap == own.get("no_overlap", no_overlap)
        assert task.max_runs == own.get("max_executions", 0)
        assert task.jitter_ns == int(own.get("max_random_delay", "0ms")[:-2]) * 10**6


def test_task_options_trace_round_trip(tmp_path):
    profile = jobsim.profile("node-cron", no_overlap=True, tasks={"sync": {"no_overlap": False,
                                                                           "max_executions": 1}})  # fmt: skip
    with jobsim.Simulation(two_tasks(), start=START, profile=profile) as sim:
        sim.advance("10m")
    path = sim.trace.save(tmp_path / "tasks.jobsim.jsonl")
    loaded = traces.load(path, strict=True)
    assert loaded.header["profile"] == ('node-cron(no_overlap=true, tasks={"sync": {"max_executions": 1, '
                                        '"no_overlap": false}})')  # fmt: skip
    again = jobsim.Simulation.replay(path, two_tasks())
    assert again.same, again.report()
    assert again.simulation.profile == profile
    assert [r.data for r in again.simulation.trace.of("cron.missed", "cron.end")] == [
        r.data for r in sim.trace.of("cron.missed", "cron.end")]
    assert [r.data["function"] for r in sim.trace.of("cron.end")] == ["sync"]


@pytest.mark.parametrize(("tasks", "match"), [
    ("nope", r"tasks='nope' is not valid: a dict of function id to that function's task options, e\.g\. "
             r"\{'nightly-report': \{'no_overlap': True, 'max_executions': 3\}\}"),
    (["report"], r"tasks=\['report'\] is not valid: a dict of function id"),
    ({3: {}}, r"tasks=\{3: \{\}\} is not valid: .*; 3 is not a function id \(a non-empty string\)"),
    ({"report": True}, r"tasks\['report'\]=True is not valid: a dict of task options such as \{'no_overlap': "
                       r"True\}: no_overlap \(noOverlap"),
    ({"report": {"timezone": "UTC"}}, r"^tasks\['report'\] has no option 'timezone' \(timezone is tz= on the "
                                      r"function; .*\); a task takes no_overlap \(noOverlap: True or False"),
    ({"report": {"noOverlap": True}}, r"^tasks\['report'\] has no option 'noOverlap' \(write no_overlap\)"),
    ({"report": {"tasks": {}}}, r"has no option 'tasks' \(tasks= is the profile's own option, not a task's\)"),
    ({"report": {"no_overlap": "yes"}}, r"^tasks\['report'\]\['no_overlap'\]='yes' is not valid: True or False "
                                        r"\(node-cron's noOverlap\)"),
    ({"report": {"max_executions": -1}}, r"^tasks\['report'\]\['max_executions'\]=-1 is not valid: a whole "
                                         r"number of executions >= 1"),
    ({"report": {"max_random_delay": "1.5ms"}}, r"^tasks\['report'\]\['max_random_delay'\]='1.5ms' is not valid: "
                                                r".*fraction of a millisecond"),
])  # fmt: skip
def test_bad_task_options_refused(tasks, match):
    with pytest.raises(jobsim.InvalidArgument, match=match):
        jobsim.profile("node-cron", tasks=tasks)


def test_bad_tasks_in_a_profile_name_refused():
    with pytest.raises(jobsim.InvalidArgument, match=r"tasks='\{report: 1\}' is not valid: a dict of function id"):
        jobsim.profile("node-cron(tasks={report: 1})")
    with pytest.raises(jobsim.InvalidArgument, match=r"has no option 'task' .*; it takes no_overlap .*, and tasks "
                                                     r"\(per function id, those options for its cron schedules alone"):
        jobsim.profile("node-cron", task={"report": {}})


def test_task_options_for_a_function_the_simulation_lacks_are_refused():
    profile = jobsim.profile("node-cron", tasks={"reprot": {"no_overlap": True}})
    with pytest.raises(jobsim.InvalidArgument, match=re.escape(
            f"profile {profile.name!r} gives task options to function 'reprot', which this simulation does not "
            "have; its cron functions: 'report', 'sync'. Name one of them in tasks=, or drop it")):
        jobsim.Simulation(two_tasks(), start=START, profile=profile)


def test_task_options_for_a_function_without_cron_are_refused():
    app = two_tasks()

    @app.function("welcome", on="user/signup")
    def welcome(ctx):
        pass

    profile = jobsim.profile("node-cron", tasks={"welcome": {"no_overlap": True}})
    with pytest.raises(jobsim.InvalidArgument, match=re.escape(
            "gives task options to function 'welcome', which has no cron schedule (only on=['user/signup']): task "
            "options apply to the schedules of a cron= function (here 'report', 'sync'); drop 'welcome' from "
            "tasks=")):
        jobsim.Simulation(app, start=START, profile=profile)
    # a plugin's profile runs events, and every=: the same refusal
    plugin = jobsim.Profile(name="mine", description="a plugin's", default_retries=jobsim.Retries(1),
                            interval="bullmq", cron_tasks={"tick": CronTask(no_overlap=True)})  # fmt: skip
    other = jobsim.App("other")

    @other.function("tick", every="1m")
    def tick(ctx):
        pass

    with pytest.raises(jobsim.InvalidArgument, match=r"'tick', which has no cron schedule \(an every= interval\)"):
        jobsim.Simulation(other, start=START, profile=plugin)


def test_a_plugin_profile_with_cron_tasks():
    plugin = jobsim.Profile(name="mine", description="a plugin's", default_retries=jobsim.Retries(1),
                            cron_tasks={"sync": CronTask(no_overlap=True)})  # fmt: skip
    with jobsim.Simulation(two_tasks(), start=START, profile=plugin) as sim:
        sim.advance("4m")
    assert (len(sim.runs("report")), len(sim.runs("sync"))) == (4, 2)
    with pytest.raises(jobsim.InvalidArgument, match=r"Profile.cron_tasks must be a mapping of function id to "):
        jobsim.Profile(name="bad", description="", default_retries=jobsim.Retries(1),
                       cron_tasks={"sync": {"no_overlap": True}})
    with pytest.raises(jobsim.InvalidArgument, match=r"max_runs=-1 is not valid: CronTask.max_runs must be an int "
                                                     r">= 0, or None for the profile's"):
        CronTask(max_runs=-1)
    with pytest.raises(jobsim.InvalidArgument, match=r"CronTask.no_overlap must be True or False"):
        CronTask(no_overlap=1)


def test_readme_blocks_run_as_written():
    run_block("max_executions=2)) as sim:", claim="node-cron's task options: `noOverlap`, `maxExecutions`")
    run_block('tasks={"sync"', claim="Per task: node-cron takes options per `cron.schedule` call")
