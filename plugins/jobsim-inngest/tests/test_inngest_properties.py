"""Properties over many generated histories: per-step budgets, backoff bounds, determinism."""

from __future__ import annotations

import datetime as dt

import inngest
from hypothesis import given, settings
from hypothesis import strategies as st
from inngest_support import Flaky, simulate

from jobsim._time import SECOND

TABLE = [15, 30, 60, 120, 300, 600, 1200, 2400, 3600, 7200]


def build(failures: list[int], retries: int):
    client = inngest.Inngest(app_id="prop", is_production=False)
    steps = [Flaky(n, value=i) for i, n in enumerate(failures)]

    @client.create_function(fn_id="chain", trigger=inngest.TriggerEvent(event="go"), retries=retries)
    def chain(ctx: inngest.ContextSync) -> list:
        out = [ctx.step.run(f"s{i}", step) for i, step in enumerate(steps)]
        ctx.step.sleep("rest", dt.timedelta(minutes=5))
        return out

    return chain


@settings(max_examples=40, deadline=None)
@given(failures=st.lists(st.integers(0, 6), min_size=1, max_size=4), retries=st.integers(0, 5),
       seed=st.integers(0, 2**32))  # fmt: skip
def test_a_run_completes_iff_every_step_fails_fewer_times_than_its_own_budget(failures, retries, seed):
    chain = build(failures, retries)
    with simulate(chain, seed=seed) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("prop-chain")[0]
    assert (run.status == "completed") == all(n <= retries for n in failures)
    for record in sim.trace.of("retry"):  # every delay is its table entry plus less than 30 s
        base = TABLE[min(record.data["attempt"] - 1, 9)] * SECOND
        assert base <= record.data["delay"] < base + 30 * SECOND


def test_the_same_seed_gives_the_same_story():
    def story(seed):
        chain = build([3, 1, 2], 4)
        with simulate(chain, seed=seed) as sim:
            sim.send("go")
            sim.run_until_idle()
        return sim.timeline(), [(r.at, r.kind, repr(sorted(r.data.items()))) for r in sim.trace]

    assert story(9) == story(9)
    assert story(9) != story(10)
