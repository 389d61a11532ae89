"""Properties of a consumer over drawn workloads (Hypothesis): whatever the workers, the storage and the tasks,
no worker runs two tasks at once, at most ``workers`` bodies run at any instant, every task ends once the
simulation is idle, a task never starts before it was enqueued or before its eta, and the same seed gives
the same trace."""

from __future__ import annotations

import itertools
import time

from huey import MemoryHuey, RedisHuey
from huey_support import START, T0_NS
from hypothesis import given, settings
from hypothesis import strategies as st

import jobsim
from jobsim._time import SECOND

tasks = st.lists(
    st.tuples(st.integers(0, 30), st.sampled_from([0, 0.5, 2, 7]), st.booleans(), st.sampled_from([None, 0, 3, 12])),
    min_size=1, max_size=12,
)  # fmt: skip  (enqueued at s, body length, fails once, schedule delay)


def play(storage: str, workers: int, drawn: list, seed: int) -> tuple[list, list]:
    h = MemoryHuey("prop-memory") if storage == "memory" else RedisHuey("prop-redis", host="127.0.0.1", port=1)

    @h.task(retries=1, retry_delay=2, context=True)
    def body(seconds, fails, task=None):
        time.sleep(seconds)
        if fails and task.retries:
            raise ValueError("once")

    enqueued = {}
    with jobsim.Simulation(h.create_consumer(workers=workers), start=START, seed=seed) as sim:
        for at, seconds, fails, delay in sorted(drawn, key=lambda d: d[0]):
            sim.advance_to(T0_NS // SECOND + at)
            result = body(seconds, fails) if delay is None else body.schedule((seconds, fails), delay=delay)
            enqueued[result.id] = (sim.now_ns(), delay)
        sim.run_until_idle()
        runs = sim.runs(body)
        executing = {(r.data["run"], r.at): r.data["worker"] for r in sim.trace.of("huey.signal")
                     if r.data["signal"] == "executing"}  # fmt: skip
        spans = [(executing[(run.id, a.start_ns)], a.start_ns, a.end_ns, run.id) for run in runs for a in run.attempts]
        assert all(run.status == "completed" for run in runs) and len(runs) == len(drawn)
        for run in runs:
            at, delay = enqueued[run.id]
            assert run.attempts[0].start_ns >= at + (delay or 0) * SECOND
        return spans, [(r.at, r.kind, sorted(r.data.items())) for r in sim.trace]


@settings(max_examples=30, deadline=None)
@given(storage=st.sampled_from(["memory", "redis"]), workers=st.integers(1, 3), drawn=tasks, seed=st.integers(0, 5))
def test_workers_never_overlap_and_the_seed_decides_the_history(storage, workers, drawn, seed):
    spans, trace = play(storage, workers, drawn, seed)
    by_worker: dict[str, list] = {}
    for worker, start, end, _run in spans:
        by_worker.setdefault(worker, []).append((start, end))
    assert len(by_worker) <= workers
    for intervals in by_worker.values():
        intervals.sort()
        assert all(a_end <= b_start for (_s, a_end), (b_start, _e) in itertools.pairwise(intervals))
    instants = sorted({start for _w, start, _e, _r in spans})
    for instant in instants:  # bodies running at each start instant (one worker may run zero-length ones in turn)
        running = [s for s in spans if s[1] <= instant < s[2]]
        assert len({s[0] for s in running}) == len(running) <= workers
    assert play(storage, workers, drawn, seed)[1] == trace


def test_the_profiles_fault_kinds_are_those_a_simulation_of_huey_tasks_accepts():
    """The profile declared no fault kinds, so ``js.faults(profile="huey")`` drew crashes, downtimes and duplicate
    deliveries, which a simulation of Huey tasks refuses (``sim.huey.stop_consumer`` plays those): a property over
    "any fault" failed on the refusal."""
    from jobsim.testing import accepted_fault_kinds, check_fault_kinds

    huey = MemoryHuey("fault-kinds")

    @huey.task()
    def send():
        return 1

    def simulate():
        return jobsim.Simulation(huey, start=START)

    check_fault_kinds(simulate, "send")
    assert accepted_fault_kinds(simulate, "send") == ("fail",)
