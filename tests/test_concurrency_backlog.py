"""A backlog of runs taking one concurrency slot in turns is finite work, not a run-away chain (user trial X).

Runs sent together take the slot step by step; after a step that spends virtual time, every run's last request
waits for the slot at one instant, and each grant came one link after the request that freed the slot: 5,000
runs made a chain of 10,000 items, stopped as a function triggering itself forever. A grant now runs a request
at the depth it had as it began to wait.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

import jobsim


def _backlog(n: int, max_chain: int) -> jobsim.Simulation:
    app = jobsim.App("backlog")

    @app.function("worker", on="item", concurrency=1)
    def worker(ctx: Any) -> int:
        ctx.step.run("work", time.sleep, 30)
        return 1

    sim = jobsim.Simulation(app, start="2025-03-01T00:00:00Z", max_chain=max_chain)
    with sim:
        for _ in range(n):
            sim.send("item")
        sim.run_until_idle()
    return sim


def test_a_backlog_longer_than_the_chain_budget_runs_to_its_end():
    sim = _backlog(150, max_chain=200)  # 150 last requests at one instant: a chain of 300 before
    runs = sim.runs("worker")
    assert [run.status for run in runs] == ["completed"] * 150
    ends = {run.finished_at for run in runs}
    assert ends == {dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc) + 150 * dt.timedelta(seconds=30)}  # steps in turn


def test_a_function_triggering_itself_behind_a_concurrency_limit_is_still_stopped():
    app = jobsim.App("loop")

    @app.function("again", on="go", concurrency=1)
    def again(ctx: Any) -> None:
        ctx.step.send_event("next", {"name": "go", "data": {}})

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z", max_chain=500) as sim:
        sim.send("go")
        with pytest.raises(jobsim.BudgetExceeded, match="a chain of 500 items, each scheduled by the one before"):
            sim.run_until_idle()
