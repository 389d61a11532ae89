"""Live conformance: the scenario of ``bullmq_scenario.py`` on a real bullmq Worker and Redis vs the simulation.

Skipped, with the reason, only when ``redis-server`` is not installed. Redis runs on a free loopback port
and is stopped by pid (``conftest.py``); the worker runs in a subprocess for 3.5 s (``bullmq_live_worker.py``).

Checked: the same processings in the same order (job name and ``attemptsMade`` at each start), the same calls of
the worker's loop with the same outcomes (which fetches took a job; each ``BZPOPMIN``'s timeout, as bullmq computed
it, and whether it popped a marker or timed out), the same final states, and each start's time after the job
scheduler's upsert. The simulation predicts bullmq-python's own timing,
which is not the backoff's: a worker with no job due blocks in ``BZPOPMIN`` for a *whole* number of seconds
(``worker.py:355-361`` ceils the timeout, since its blocking connection never reports ``canDoubleTimeout``), so
the second retry, due 500 ms after the failure at 0.3 s, starts at the first wake-up after it, 1.4 s, exactly as
predicted. What the simulation cannot know is the real run's own latency: each processing costs the real worker a
few Redis round trips the simulation spends no time on (3-10 ms idle, up to 90 ms on a loaded machine), and a
timed-out ``BZPOPMIN`` returns after its timeout by up to 100 ms (Redis notices it in its event loop, ``hz 10``),
more on a loaded machine. The real worker records the instants of its calls and the simulation replays the time
between them that it does not predict (``replayed``): then each start must come within ``TOLERANCE`` of the
prediction, and no replayed span may exceed ``UNPREDICTED`` (a longer one would be a wait the simulation should
have predicted).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import bullmq_scenario as scenario
import pytest
from bullmq import Queue, QueueEvents, Worker
from bullmq_support import NOWHERE, START, T0, run

import jobsim

pytestmark = pytest.mark.live

HERE = Path(__file__).parent
TOLERANCE = 0.01  # s: the replayed instants are measured to the millisecond
UNPREDICTED = 0.3  # s: the most a replayed round trip or wake-up latency may take (measured: up to 0.11 s loaded)


Replay = tuple[list[float], list[float], list[float], list[float]]  # scenario.LATENCY, SPENT, PRE_CALL, WAKE


def predicted(replay: Replay | None = None, until: float = 3.5) -> tuple[list[dict], list[float], dict[str, str],
                                                                         list[dict]]:  # fmt: skip
    """The scenario in the simulation for ``until`` s: its processings, BZPOPMIN time-outs, final states and the
    worker's calls (``scenario.watch``); ``replay``: the real run's time outside what the simulation predicts
    (``replayed``)."""
    scenario.LOG.clear()
    scenario.CALLS.clear()
    latency, spent, pre_call, wake = replay or ([], [], [], [])
    # CALLS[0] is the upsert, made at once here: the replayed calls are the worker's
    scenario.LATENCY, scenario.SPENT, scenario.PRE_CALL, scenario.WAKE = latency, spent, [0.0, *pre_call], [0.0, *wake]
    scenario.BEFORE_FETCH = False
    worker = Worker(scenario.QUEUE, scenario.process, {"autorun": False, "connection": NOWHERE})
    scenario.watch(worker)
    queue = Queue(scenario.QUEUE, {"connection": NOWHERE})
    try:
        with jobsim.Simulation(worker, start=START) as sim:
            run(scenario.produce(queue))
            sim.advance(f"{until}s")
            polls = [(ns - sim.start_ns) / 1e9 for ns in sim.bullmq.polls]
            states = {job_id: sim.bullmq.state(job_id) for job_id in ("1", "2", "3", "4", "5")}
    finally:
        scenario.LATENCY, scenario.SPENT, scenario.PRE_CALL, scenario.WAKE, scenario.BEFORE_FETCH = [], [], [], [], True
    log = [{**e, "t": round(e["t"] - T0, 6)} for e in scenario.LOG]
    return log, polls, states, since(scenario.CALLS[1:], T0)  # the upsert's instant is the test's: T0


def since(calls: list[dict], t0: float, ndigits: int = 6) -> list[dict]:
    """``calls`` (``scenario.CALLS``) with their instants counted from ``t0``."""
    return [{**c, **{k: round(c[k] - t0, ndigits) for k in ("t", "done") if k in c}} for c in calls]


def test_the_simulation_predicts_bullmq_pythons_timing():
    log, polls, states, calls = predicted()
    assert [(e["name"], e["attempt"], e["t"]) for e in log] == [
        ("flaky", 0, 0.0),  # fails: due again at 0.25 (exponential: 2^0 * 250 ms)
        ("plain", 0, 0.0),  # the wait list (FIFO) before prioritized jobs
        ("tick", 0, 0.1),  # the scheduler's first job, added at once; it schedules the next at +2 s
        ("high", 0, 0.2),  # prioritized: lower number first
        ("flaky", 1, 0.3),  # promoted by the fetch at 0.3 (due 0.25); fails: due at 0.8 (2^1 * 250 ms)
        ("low", 0, 0.3),
        ("flaky", 2, 1.4),  # nothing due at 0.4: the worker blocks ceil(0.8 - 0.4) = 1 s, wakes at 1.4
        ("delayed", 0, 1.5),  # due at 1.2, promoted with flaky at 1.4, behind it
        ("tick", 0, 2.6),  # due at 2.0; the worker blocked ceil(2.0 - 1.6) = 1 s from 1.6
    ]  # fmt: skip
    assert polls[:2] == [1.4, 2.6]
    waits = [(c["t"], c["timeout"], c.get("done"), c.get("marker")) for c in calls if c["call"] == "waitForJob"]
    assert waits == [
        (0.4, 1, 0.4, True), (0.4, 1, 0.4, True),  # markers left by the adds: popped at once
        (0.4, 1, 1.4, False),  # timed out
        (1.6, 1, 1.6, True), (1.6, 1, 2.6, False),
        (2.7, 5, 2.7, True), (2.7, 5, None, None),  # drainDelay (nothing is delayed); cut by the close at 3.5 s
    ]  # fmt: skip
    assert [c["call"] for c in calls[:4]] == ["moveToActive", "moveToDelayed", "moveToActive", "moveToCompleted"]
    assert states == {"1": "completed", "2": "completed", "3": "completed", "4": "completed", "5": "completed"}


def live(redis_url: str, seconds: str, scenario_module: str = "bullmq_scenario") -> dict:
    """What ``bullmq_live_worker.py`` printed after running ``scenario_module`` on a real Worker for ``seconds``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, str(HERE / "bullmq_live_worker.py"), redis_url, seconds, scenario_module]
    done = subprocess.run(command, cwd=HERE, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def assert_same_outcome(observed: dict, expected: dict) -> None:
    assert observed["log"] == expected["log"]
    assert observed["adds"] == expected["adds"]
    assert observed["events"] == expected["events"]  # QueueEvents' payloads, field by field, in stream order
    assert observed["states"] == expected["states"]


def replayed(log: list[dict], calls: list[dict]) -> Replay:
    """The real worker's time outside what the simulation predicts (a processing takes ``WORK``, a failure none, a
    timed-out ``BZPOPMIN`` its timeout, any other call no time), as the simulation replays it (``predicted``).
    Walking the real worker's calls (``scenario.watch``, instants counted from the job scheduler's upsert, the
    simulation's start): a processing starts ``LATENCY`` after the return of the fetch that took it, and takes
    ``SPENT`` longer than predicted, until the next call; any other call is sent ``PRE_CALL`` after the return of
    the one before, and returns ``WAKE`` later than predicted."""
    latency: list[float] = []
    spent: list[float] = []
    pre_call: list[float] = []
    wake: list[float] = []
    anchor, n = 0.0, 0
    for c in calls:
        gap = max(0.0, c["t"] - anchor)
        if len(spent) < len(latency):  # the call after a processing
            spent.append(gap)
            gap = 0.0
        pre_call.append(gap)
        if "done" not in c:  # a wait cut by the close
            break
        timed_out = c["call"] == "waitForJob" and not c["marker"]
        wake.append(max(0.0, c["done"] - c["t"] - (c["timeout"] if timed_out else 0)))
        anchor = max(anchor, c["done"])
        if c.get("job") and n < len(log):
            latency.append(max(0.0, log[n]["t"] - anchor))
            anchor = log[n]["t"] + (0.0 if scenario.fails(log[n]) else scenario.WORK)
            n += 1
    return latency, spent, pre_call, wake


def test_a_real_bullmq_worker_does_what_the_simulation_predicts(redis_url):
    """The order of the first processings hangs on 50 ms: the first retry is due 0.25 s after the first failure,
    between the fetches the simulation makes at 0.2 s and 0.3 s; the scheduler's second job is due 2 s after the
    upsert, which a late run reaches without waiting. Each call costs the real worker a Redis round trip the
    simulation spends no time on (up to 90 ms measured with four busy loops on two cores, where the run took the
    retry before ``high`` in 3 runs out of 4), and a timed-out ``BZPOPMIN`` returns up to 100 ms after its timeout
    (Redis's event loop, ``hz 10``), more on a loaded machine. So the real run comes first, recording each call of
    the worker's loop (``scenario.watch``): when it was sent (the instant a fetch promotes delayed jobs at, or a
    retry's backoff counts from), when it returned, what it returned; the simulation replays the real worker's time
    outside what it predicts (``replayed``), from the job scheduler's upsert (the adds before it took round trips
    too: the delayed job is due some milliseconds earlier than replayed, 200 ms before the fetch that takes it).
    Then the simulation must make the same calls with the same outcomes (each fetch's job or none, each wait's
    timeout, computed by bullmq from the simulated due times, and its marker or time-out), the same processings in
    the same order, each start within ``TOLERANCE`` of the real one, the same final states; and no replayed span
    may exceed ``UNPREDICTED``."""
    observed = live(redis_url, "3.5")
    origin = observed["calls"][0]["t"]  # upsertJobScheduler
    real = [{**e, "t": round(e["t"] - origin, 3)} for e in observed["log"]]
    calls = since(observed["calls"][1:], origin, 3)
    spans = replayed(real, calls)
    expected, _, states, sim_calls = predicted(spans, until=3.5 + observed["t0"] - origin)
    print("observed", real, "calls", calls)

    def outcome(calls: list[dict]) -> list[tuple]:
        return [(c["call"], c.get("job"), c.get("timeout"), c.get("marker")) for c in calls if "done" in c]

    assert [(e["name"], e["attempt"]) for e in real] == [(e["name"], e["attempt"]) for e in expected], expected
    assert outcome(calls) == outcome(sim_calls), (calls, sim_calls)
    for r, p in zip(real, expected, strict=True):
        assert abs(r["t"] - p["t"]) <= TOLERANCE, (r, p, real, expected)
    assert max(s for kind in spans for s in kind) <= UNPREDICTED, (spans, calls)
    assert observed["states"] == states


def test_a_worker_blocked_after_a_late_processing_wakes_for_the_next_delayed_job():
    """Found by replaying measured gaps (before ``replayed``): ``delayed`` ends at 1.743 s and the worker blocks
    ``ceil(2.0 - 1.743)`` = 1 s for the scheduler's second job, due at 2.0 s (the real worker took it at ~2.8 s).
    The ``BZPOPMIN`` timer is due at 2.7430000000000003 s of loop time; the workers' loop parked for the 3e-16 s
    left, ran the timer but not the worker it woke, and never ran again: no processing followed in 12 s (1 replay
    in 12 hit it). ``jobsim._aio._KernelSelector`` now treats a timeout under half a nanosecond as none."""
    scenario.LOG.clear()
    scenario.LATENCY = [0.024, 0.011, 0.017, 0.012, 0.015, 0.012, 0.012, 0.012, 0.028]
    worker = Worker(scenario.QUEUE, scenario.process, {"autorun": False, "connection": NOWHERE})
    try:
        with jobsim.Simulation(worker, start=START) as sim:
            run(scenario.produce(Queue(scenario.QUEUE, {"connection": NOWHERE})))
            sim.advance("12s")
    finally:
        scenario.LATENCY = []
    assert [e["name"] for e in scenario.LOG][-2:] == ["delayed", "tick"]


def predicted_dedup() -> tuple[dict, list[float]]:
    """The deduplication scenario in the simulation: processings, adds, QueueEvents' events and final states."""
    import bullmq_dedup_scenario as dedup

    dedup.reset()
    worker = Worker(dedup.QUEUE, dedup.process, {"autorun": False, "connection": NOWHERE})
    queue = Queue(dedup.QUEUE, {"connection": NOWHERE})
    with jobsim.Simulation(worker, start=START) as sim:
        dedup.listen(QueueEvents(dedup.QUEUE, {"connection": NOWHERE, "lastEventId": "0"}))
        run(dedup.produce(queue))
        sim.advance("6s")
        states = {job_id: run(queue.getJobState(job_id)) for job_id in dedup.JOB_IDS}
        starts = [round((a.start_ns - sim.start_ns) / 1e9, 3) for r in sim.runs(dedup.QUEUE) for a in r.attempts]
    return {"log": dedup.LOG, "adds": dedup.ADDS, "events": dedup.EVENTS, "states": states}, sorted(starts)


def test_the_simulation_predicts_deduplication_and_queue_events():
    expected, starts = predicted_dedup()
    assert [tuple(e) for e in expected["log"]] == [
        ("simple", {"n": 1}), ("throttle", {"n": 1}), ("keep", {"n": 1}),
        ("debounce", {"n": 2}),  # the second add replaced the first while it was delayed
        ("keep", {"n": 3}),  # the last add made while job 6 was active, added when it completed
        ("late", {}), ("simple", {"n": 4}), ("throttle", {"n": 2}),
    ]  # fmt: skip
    assert starts == [0.0, 0.4, 1.9, 2.3, 2.7, 4.2, 4.6, 5.0]  # two processings take 1.5 s
    assert dict(map(tuple, expected["adds"])) == {
        "simple": "1", "simple duplicate": "1", "throttle": "3", "debounce": "4", "debounce again": "5",
        "throttle key": "3", "keep": "6", "late": "7", "simple while active": "1", "keep while active": "6",
        "keep while active, last": "6", "throttle key after its ttl": None, "simple after it completed": "12",
        "throttle after its ttl": "13"}  # fmt: skip
    assert ["removed", {"jobId": "4", "prev": "delayed"}] in expected["events"]
    assert expected["states"]["10"] == "completed" and expected["states"]["9"] == "unknown"


def test_a_real_bullmq_worker_deduplicates_and_emits_the_events_the_simulation_predicts(redis_url):
    expected, _ = predicted_dedup()
    # until settled, not for 3.4 s: its last job ends 3.2 s in, and a loaded machine left it unfinished or the last
    # events unread (bullmq_dedup_scenario.py)
    assert_same_outcome(live(redis_url, "settled", "bullmq_dedup_scenario"), expected)


def predicted_admin() -> dict:
    """The admin scenario in the simulation: processings, what each admin call returned, QueueEvents' events, the
    final states, then ``finish`` (obliterate) after the listener closed -- the order the live run follows."""
    import bullmq_admin_scenario as admin

    admin.reset()
    worker = Worker(admin.QUEUE, admin.process, {"autorun": False, "connection": NOWHERE})
    queue = Queue(admin.QUEUE, {"connection": NOWHERE})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jobsim.PendingWorkWarning)  # finish() adds a job after the obliterate, unrun
        with jobsim.Simulation(worker, start=START) as sim:
            events = QueueEvents(admin.QUEUE, {"connection": NOWHERE, "lastEventId": "0"})
            admin.listen(events)
            run(admin.produce(queue))
            sim.advance("3s")
            states = {job_id: run(queue.getJobState(job_id)) for job_id in admin.JOB_IDS}
            run(events.close())
            run(admin.finish(queue))
    return {"log": admin.LOG, "adds": admin.ADDS, "events": admin.EVENTS, "states": states}


def test_the_simulation_predicts_the_admin_calls():
    expected = predicted_admin()
    assert [tuple(e) for e in expected["log"]] == [
        ("f", 0),  # the wait list first: 1 was cleaned, the promoted jobs went in behind f
        ("d30", 0),  # retries the failed f: LPUSH, behind d60
        ("d60", 0),  # obliterate refused (d60 itself is active), the queue paused and resumed
        ("f", 1),  # attemptsMade kept by retryJobs: it succeeds this time
        ("p5b", 0),  # changed to priority 1; cleans the completed jobs
        ("p5", 0),  # priority 2 with lifo: ahead of p2, added with priority 2 before
        ("p2", 0),
        ("b", 0),  # moved out of wait with priority 3; cleans p5b (grace 0.39 s), retries the completed p5, p2
        ("p5", 1), ("p2", 1),  # retryJobs pushes them to wait in finishedOn order
    ]  # fmt: skip
    assert dict(map(tuple, expected["adds"])) == {
        "changePriority of a removed job": "TypeError: Missing key for job 9. changePriority",
        "getCountsPerPriority": {"0": 2, "1": 1, "2": 2, "3": 1, "5": 0},
        "clean wait, limit 1": ["1"], "promoteJobs": None, "clean delayed": [], "retryJobs failed": None,
        "obliterate while active": "Exception: Cannot obliterate queue with active jobs",
        "paused after the refusal": True, "clean completed": ["7", "6", "8"],
        "clean completed, grace 0.39 s": ["4"], "retryJobs completed": None,
        "counts after obliterate": dict.fromkeys(
            ("active", "completed", "delayed", "failed", "prioritized", "waiting", "waiting-children"), 0),
        "paused after obliterate": False, "add after obliterate": "1", "trimEvents(5) of 2 entries": 0,
        "trimEvents(0)": 2}  # fmt: skip
    events = expected["events"]
    assert len(events) == 52
    assert [e for e in events if e[0] in ("cleaned", "paused", "resumed", "removed")] == [
        ["removed", {"jobId": "9", "prev": "wait"}], ["cleaned", {"count": "1"}], ["cleaned", {"count": "0"}],
        ["paused", {}], ["resumed", {}], ["cleaned", {"count": "3"}], ["cleaned", {"count": "1"}]]  # fmt: skip
    assert [e[1]["jobId"] for e in events if e[0] == "waiting" and "prev" in e[1]] == ["7", "6", "8", "3", "5"]
    assert expected["states"] == {"1": "unknown", "2": "completed", "3": "completed", "4": "unknown",
                                  "5": "completed", "6": "unknown", "7": "unknown", "8": "unknown"}  # fmt: skip


def test_a_real_bullmq_queue_cleans_retries_promotes_reprioritizes_and_obliterates_as_predicted(redis_url):
    expected = predicted_admin()
    assert_same_outcome(live(redis_url, "3", "bullmq_admin_scenario"), expected)


async def _int_ids(queue: Queue) -> tuple[list[object], dict[str, int]]:
    ids = [(await queue.add("x", {}, {"jobId": j})).id for j in (42, 42, "42", 7)]
    counts = await queue.getJobCounts("waiting", "completed")
    return ids, counts


@pytest.mark.filterwarnings("ignore::jobsim.PendingWorkWarning")  # reads the ids of jobs it never runs
def test_a_real_queue_keys_an_int_job_id_as_its_string_as_predicted(redis_url):
    """``jobId: 42`` and ``"42"`` are one job on Redis (``prefix .. jobId``); the first add returns the Lua number, a
    duplicate the string. The simulation made two jobs of them."""
    async def real():
        queue = Queue("jobsim-live-ids", {"connection": redis_url})
        try:
            return await _int_ids(queue)
        finally:
            await queue.close()

    with jobsim.Simulation(Worker("jobsim-live-ids", scenario.process, {"autorun": False, "connection": NOWHERE}),
                           start=START):  # fmt: skip
        predicted = run(_int_ids(Queue("jobsim-live-ids", {"connection": NOWHERE})))
    assert predicted == ([42, "42", "42", 7], {"waiting": 2, "completed": 0})
    assert run(real()) == predicted
