"""An RQ simulation's trace saves and loads: its own record kinds use no field a trace line reserves."""

from __future__ import annotations

import datetime as dt

from rq import Repeat, Retry

import jobsim

START = "2025-03-01T00:00:00Z"


def fails() -> None:
    raise ValueError("down")


def works() -> str:
    return "ok"


def test_a_trace_with_scheduled_retried_and_repeated_jobs_saves_and_loads(queue, tmp_path):
    """``rq.schedule`` and ``rq.repeat`` records name their due instant ``due`` (as ``arq.enqueued`` does):
    a field named ``at`` made ``sim.trace.save`` raise ``TraceError`` for any job with a delay."""
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(fails, retry=Retry(max=1, interval=5))
        queue.enqueue_in(dt.timedelta(seconds=9), works)
        queue.enqueue(works, repeat=Repeat(times=1, interval=60))
        sim.run_until_idle()
        timeline = sim.timeline()
    assert "scheduled on queue 'default' for 2025-03-01 00:00:05" in timeline
    assert "scheduled on queue 'default' for 2025-03-01 00:00:09" in timeline
    assert "repeats (Repeat): scheduled again for 2025-03-01 00:01:00" in timeline
    path = tmp_path / "rq.jsonl"
    sim.trace.save(path)
    loaded = jobsim.Trace.load(path)
    due = [r.data["due"] for r in loaded.of("rq.schedule", "rq.repeat")]
    # the enqueue_in, the retry, the repeat (scheduled, then told)
    assert [d // 1_000_000_000 - 1740787200 for d in due] == [9, 5, 60, 60]
    assert len(loaded.records) == len(sim.trace.records)
