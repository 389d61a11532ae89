"""Properties of several workers and crashes, over drawn setups (Hypothesis).

Whatever the workers, their queues, the jobs and the crashes (with a supervisor restarting dead
workers): no worker runs two jobs at once, no job runs twice at once, every job ends ``finished``
or ``failed`` once the simulation is idle, and the same seed gives the same trace.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from typing import Any

import redis
from hypothesis import example, given
from hypothesis import strategies as st
from jobsim_rq import Worker
from rq import Queue, Retry
from rq.job import JobStatus

import jobsim

QUEUES = {name: Queue(name, connection=redis.Redis(host="127.0.0.1", port=1)) for name in "abc"}
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)


def sleeps(seconds: int) -> None:
    time.sleep(seconds)


def raises(seconds: int) -> None:
    time.sleep(seconds)
    raise ValueError("no")


workers = st.lists(
    st.tuples(st.lists(st.sampled_from("abc"), min_size=1, max_size=3, unique=True), st.integers(1, 2),
              st.sampled_from([600, 60, 5]), st.sampled_from([420, 20])),
    min_size=1, max_size=3,
)  # fmt: skip
jobs = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from([sleeps, raises]), st.integers(0, 200), st.integers(0, 300),
              st.sampled_from([None, (1, 0), (2, 5), (1, 100)])),
    min_size=1, max_size=10,
)  # fmt: skip
crashes = st.lists(
    st.tuples(st.integers(0, 400), st.sampled_from(["worker", "horse"]), st.none() | st.integers(0, 5),
              st.sampled_from([0, 30])),
    max_size=3,
)  # fmt: skip


def simulate(setup: Any, seed: int = 0) -> tuple[jobsim.Simulation, list[Any]]:
    specs_drawn, jobs_drawn, crashes_drawn = setup
    specs = [Worker([QUEUES[q] for q in names], count=count, maintenance_interval=interval, worker_ttl=ttl)
             for names, count, interval, ttl in specs_drawn]  # fmt: skip
    read = sorted({q for names, *_ in specs_drawn for q in names})
    held = []
    with jobsim.Simulation(specs, start="2025-03-01T00:00:00Z", seed=seed) as sim:
        for queue_index, func, seconds, delay, retry in jobs_drawn:
            queue = QUEUES[read[queue_index % len(read)]]
            options = {} if retry is None else {"retry": Retry(max=retry[0], interval=retry[1])}
            if delay:
                held.append(queue.enqueue_in(dt.timedelta(seconds=delay), func, seconds, **options))
            else:
                held.append(queue.enqueue(func, seconds, **options))
        names = sim.rq.workers
        for offset, kind, worker, restart in crashes_drawn:
            name = None if worker is None else names[worker % len(names)]
            sim.rq.crash_worker(at=T0 + dt.timedelta(seconds=offset), worker=name, kind=kind, restart=restart)
        sim.run_until_idle(max_time="30d")
    return sim, held


# found by this test: a retry due at 2 s on a queue only a busy worker reads, other workers idle
LOOPED = ([(["a"], 1, 600, 420), (["a", "c", "b"], 1, 600, 420), (["a"], 1, 600, 420)],
          [(0, sleeps, 0, 0, None)] * 4 + [(1, raises, 2, 0, (1, 0)), (2, sleeps, 0, 2, None), (2, sleeps, 1, 1, None)],
          [])  # fmt: skip
# two crashes planned for the same instant and the same worker are one crash (there were two replacements)
TWICE = ([(["a"], 1, 600, 420)], [(0, sleeps, 1, 1, None), (0, sleeps, 1, 1, None), (0, sleeps, 2, 0, None)],
         [(1, "worker", 0, 0), (1, "worker", None, 0)])  # fmt: skip


@given(st.tuples(workers, jobs, crashes))
@example(LOOPED)
@example(TWICE)
def test_workers_run_one_job_at_a_time_and_every_job_ends(setup):
    sim, held = simulate(setup)
    worker_of = {(r.data["run"], r.data["attempt"]): r.data["worker"] for r in sim.trace.records if r.kind == "attempt"}
    spans: dict[str, list[tuple[int, int]]] = {}
    for run in sim.runs():
        attempts = sorted((a.start_ns, a.end_ns) for a in run.attempts)
        assert all(end <= start for (_, end), (start, _) in itertools.pairwise(attempts)), run
        for a in run.attempts:
            spans.setdefault(worker_of[(run.id, a.number)], []).append((a.start_ns, a.end_ns))
    for worker, intervals in spans.items():
        intervals.sort()
        assert all(end <= start for (_, end), (start, _) in itertools.pairwise(intervals)), (worker, intervals)
    assert {job.get_status(refresh=False) for job in held} <= {JobStatus.FINISHED, JobStatus.FAILED}


@given(st.tuples(workers, jobs, crashes))
def test_the_same_setup_and_seed_give_the_same_trace(setup):
    def trace(seed: int) -> list[tuple]:
        sim, _ = simulate(setup, seed)
        return [(r.kind, r.at, sorted((k, repr(v)) for k, v in r.data.items() if k not in ("run",))) for r in
                sim.trace.records]  # fmt: skip

    assert trace(4) == trace(4)
