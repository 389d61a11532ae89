"""Properties of a worker over drawn workloads (Hypothesis): whatever the jobs, max_jobs and poll_delay, no more
than max_jobs run at once, every attempt starts on the worker's poll grid at or after its job's score, a retried
job's next try starts on the first poll at or after its Retry defer, every job ends once the simulation is idle,
and the same seed gives the same trace."""

from __future__ import annotations

import asyncio

from arq import Retry, create_pool
from arq.worker import func
from arq_jobs import NOWHERE, START
from hypothesis import given, settings
from hypothesis import strategies as st

import jobsim
from jobsim._time import SECOND

jobs = st.lists(
    st.tuples(st.integers(0, 20), st.sampled_from([0, 0.25, 1, 3.5]), st.sampled_from([None, 0.4, 2, 7]),
              st.sampled_from([None, 0.3, 1.5])),
    min_size=1, max_size=10,
)  # fmt: skip  (enqueued at s, body length, _defer_by, Retry defer on the first try or None)


async def body(ctx, seconds, retry_defer):
    if retry_defer is not None and ctx["job_try"] == 1:
        raise Retry(defer=retry_defer)
    await asyncio.sleep(seconds)


def play(drawn, max_jobs, poll_delay, seed):
    options = {"functions": [func(body, name="body")], "redis_settings": NOWHERE, "max_jobs": max_jobs,
               "poll_delay": poll_delay}  # fmt: skip
    with jobsim.Simulation(options, start=START, seed=seed) as sim:
        pool = asyncio.run(create_pool(NOWHERE))
        scores = {}
        for at, seconds, defer, retry_defer in sorted(drawn, key=lambda d: d[0]):
            sim.advance_to(sim.start_ns // SECOND + at)
            job = asyncio.run(pool.enqueue_job("body", seconds, retry_defer, _defer_by=defer))
            scores[job.job_id] = (sim.now_ns(), sim.now_ns() + round((defer or 0) * SECOND))
        sim.run_until_idle()
        runs = sim.runs("body")
        trace = [(r.at, r.kind, sorted(r.data.items())) for r in sim.trace]
    return sim, runs, scores, trace


@settings(max_examples=40, deadline=None)
@given(drawn=jobs, max_jobs=st.integers(1, 3), poll_delay=st.sampled_from([0.5, 1, 2]), seed=st.integers(0, 3))
def test_the_worker_keeps_to_its_grid_its_slots_and_the_defers(drawn, max_jobs, poll_delay, seed):
    sim, runs, scores, _ = play(drawn, max_jobs, poll_delay, seed)
    step = round(poll_delay * SECOND)
    assert len(runs) == len(drawn) and all(r.status == "completed" for r in runs)
    spans = [(a.start_ns, a.end_ns, r.id, a.number) for r in runs for a in r.attempts]
    retries = {x.data["run"]: x.data["at"] for x in sim.trace.of("retry")}

    def held(p, me):  # attempts holding a slot at the poll at p: jobs end just after a poll at their instant
        return sum(1 for s, e, run_id, n in spans if s <= p <= e and (run_id, n) != me)

    for start, _end, run_id, number in spans:
        assert (start - sim.start_ns) % step == 0  # a job only ever starts at a poll
        assert held(start, (run_id, number)) < max_jobs
        enqueued, due = scores[run_id] if number == 0 else (None, retries[run_id])
        assert start >= due - 1_000_000  # never before its score (a whole millisecond)
        assert enqueued is None or start > enqueued  # the poll at the instant the test enqueued it had run
        for p in range(start - step, due - 1, -step):  # each poll it was due at and not taken: every slot held
            if p != enqueued:  # that instant's poll ran before the test enqueued it
                assert held(p, (run_id, number)) >= max_jobs
    for r in runs:
        assert len(r.attempts) == (2 if r.event.data["args"][1] is not None else 1)


@settings(max_examples=10, deadline=None)
@given(drawn=jobs, seed=st.integers(0, 3))
def test_the_same_seed_gives_the_same_trace(drawn, seed):
    assert play(drawn, 2, 0.5, seed)[3] == play(drawn, 2, 0.5, seed)[3]
