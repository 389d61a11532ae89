"""Concurrency shared across functions (scope="env"/"account") and two limits on one function.

Inngest names an env or account queue by the key's *value* (``util.ConcurrencyKey(scope,
scopeID, evaluated)``), so every function whose key gives that value shares it, each checking
the queue against its own limit; a function may have two limits, and a step runs only with a
slot in both (``consts.MaxConcurrencyLimits``).
"""

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_flow_concurrency import peak

import jobsim
from jobsim import Concurrency
from jobsim._time import SECOND, instant_ns, to_datetime

START = "2025-03-01T00:00:00Z"
T0 = instant_ns(START)
OPENAI = Concurrency(1, key='"openai"', scope="account")


def secs(ns):
    return (ns - T0) / SECOND


def starts(sim, fn):
    return [secs(r.start_ns) for r in sim.runs(fn)]


def test_an_account_limit_is_shared_by_every_function_whose_key_gives_the_same_value():
    app = jobsim.App("a")

    @app.function("summarize", on="doc", concurrency=OPENAI)
    def summarize(ctx):
        ctx.step.run("llm", time.sleep, 10)

    @app.function("translate", on="doc", concurrency=OPENAI)
    def translate(ctx):
        ctx.step.run("llm", time.sleep, 4)

    @app.function("index", on="doc", concurrency=Concurrency(1, key='"search"', scope="account"))
    def index(ctx):
        ctx.step.run("put", time.sleep, 3)

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("doc")
        sim.send("doc")
        sim.run_until_idle()
    # one "openai" slot for both functions, oldest request first: summarize#1 0-10 and
    # translate#1 (queued at 0, after it) 10-14, then summarize#2 14-24, translate#2 24-28;
    # "search" is another queue: index runs 0-3 and 3-6 beside them
    assert starts(sim, "summarize") == [0, 14]
    assert starts(sim, "translate") == [10, 24]
    assert starts(sim, "index") == [0, 3]
    llm = [(a.start_ns, a.end_ns) for fn in ("summarize", "translate") for r in sim.runs(fn) for a in r.attempts
           if a.step == "llm"]  # fmt: skip
    assert peak(llm) == 1
    assert "translate#1 waits for a concurrency slot" in sim.timeline()


def test_function_scope_keeps_the_same_key_apart_and_env_and_account_are_separate_queues():
    app = jobsim.App("a")
    limits = {"own-a": Concurrency(1, key='"openai"'), "own-b": Concurrency(1, key='"openai"'),
              "env": Concurrency(1, key='"openai"', scope="env"), "account": OPENAI}  # fmt: skip
    for name, limit in limits.items():
        app.function(name, on="go", concurrency=limit)(lambda ctx: ctx.step.run("work", time.sleep, 5))

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.send("go")
        sim.run_until_idle()
    assert {name: starts(sim, name) for name in limits} == {name: [0, 5] for name in limits}


def test_functions_sharing_a_queue_each_check_it_against_their_own_limit():
    app = jobsim.App("a")

    @app.function("bulk", on="go", concurrency=Concurrency(3, key="event.data.tenant", scope="env"))
    def bulk(ctx):
        ctx.step.run("work", time.sleep, 10)

    @app.function("careful", on="go", concurrency=Concurrency(1, key="event.data.tenant", scope="env"))
    def careful(ctx):
        ctx.step.run("work", time.sleep, 10)

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go", {"tenant": "acme"})
        sim.send("go", {"tenant": "acme"})
        sim.run_until_idle()
    # at 0: bulk#1 takes slot 1 of 3; careful#1 finds 1 busy, its limit is 1: queued; bulk#2
    # (a new request) queues behind it, oldest first. At 10 bulk#1 frees the queue: careful#1
    # runs (busy 1 of its 1), then bulk#2 fits under 3 and runs too; careful#2 waits for 0 busy
    assert starts(sim, "bulk") == [0, 10]
    assert starts(sim, "careful") == [10, 20]


def test_two_limits_a_step_runs_only_with_a_slot_in_both():
    app = jobsim.App("a")

    @app.function("sync", on="go", concurrency=[Concurrency(2), Concurrency(1, key="event.data.user")])
    def sync(ctx):
        ctx.step.run("work", time.sleep, 10)

    with jobsim.Simulation(app, start=START) as sim:
        for user in ["a", "a", "b", "c"]:
            sim.send("go", {"user": user})
        sim.run_until_idle()
    # two at a time in all, one per user: a#1 and b at 0 (a#2 waits for user a, c for the
    # function's 2); at 10 both finish: a#2 (queued first) and c take the two slots
    assert [(r.event.data["user"], secs(r.start_ns)) for r in sim.runs("sync")] == [
        ("a", 0), ("a", 10), ("b", 0), ("c", 10),
    ]  # fmt: skip


def test_a_function_limit_and_a_shared_limit_together():
    app = jobsim.App("a")
    limits = [Concurrency(5), OPENAI]

    @app.function("chat", on="go", concurrency=limits)
    def chat(ctx):
        ctx.step.run("prepare", time.sleep, 1)
        ctx.step.run("llm", time.sleep, 2)

    @app.function("embed", on="go", concurrency=OPENAI)
    def embed(ctx):
        ctx.step.run("llm", time.sleep, 2)

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    # every request takes an "openai" slot, as on Inngest (a limit counts steps executing code,
    # whatever they call): chat's prepare 0-1, embed's llm (queued at 0) 1-3, chat's llm
    # (queued at 1) 3-5, then embed's final request (queued at 3) at 5
    chat_run, embed_run = sim.runs("chat")[0], sim.runs("embed")[0]
    assert [(a.step, secs(a.start_ns), secs(a.end_ns)) for a in chat_run.attempts] == [
        ("prepare", 0, 1), ("llm", 3, 5), (None, 5, 5),
    ]  # fmt: skip
    assert [(a.step, secs(a.start_ns)) for a in embed_run.attempts] == [("llm", 1), (None, 5)]


@settings(max_examples=40, deadline=None)
@given(
    jobs=st.lists(
        st.tuples(
            st.integers(0, 20),  # arrives at (s)
            st.sampled_from(["x", "y"]),  # which function
            st.sampled_from(["a", "b", "c"]),  # tenant: the shared limit's key
            st.lists(st.integers(1, 9), min_size=1, max_size=3),  # step durations (s)
        ),
        min_size=1,
        max_size=14,
    ),
    own=st.integers(1, 3),
    shared=st.integers(1, 3),
)
def test_no_queue_is_ever_over_its_limit_and_every_step_runs(jobs, own, shared):
    app = jobsim.App("a")
    for name in ("x", "y"):
        limits = [Concurrency(own), Concurrency(shared, key="event.data.tenant", scope="account")]

        @app.function(name, on=f"go.{name}", concurrency=limits)
        def job(ctx):
            for k, seconds in enumerate(ctx.event.data["steps"]):
                ctx.step.run(f"s{k}", time.sleep, seconds)

    with jobsim.Simulation(app, start=START) as sim:
        for arrive, name, tenant, steps in sorted(jobs):
            sim.advance_to(to_datetime(T0 + arrive * SECOND))
            sim.send(f"go.{name}", {"tenant": tenant, "steps": steps})
        sim.run_until_idle()
    busy = {}
    for name in ("x", "y"):
        for run in sim.runs(name):
            assert run.status == "completed"
            for a in run.attempts:
                if a.end_ns > a.start_ns:
                    busy.setdefault(("fn", name), []).append((a.start_ns, a.end_ns))
                    busy.setdefault(("tenant", run.event.data["tenant"]), []).append((a.start_ns, a.end_ns))
    assert sum(len(v) for k, v in busy.items() if k[0] == "fn") == sum(len(steps) for *_, steps in jobs)
    for (kind, _), intervals in busy.items():
        assert peak(intervals) <= (own if kind == "fn" else shared)


@pytest.mark.parametrize("profile", ["bullmq", "trigger.dev", "agenda"])
def test_other_profiles_refuse_a_shared_limit_and_two_limits_by_name(profile):
    app = jobsim.App("a")
    app.function("shared", on="go", concurrency=OPENAI)(lambda ctx: None)
    with pytest.raises(jobsim.UnsupportedFeature, match="a concurrency limit shared across functions"):
        jobsim.Simulation(app, start=START, profile=profile)
    app = jobsim.App("b")
    app.function("two", on="go", concurrency=[Concurrency(1), Concurrency(1)])(lambda ctx: None)
    with pytest.raises(jobsim.UnsupportedFeature, match="two concurrency limits on one function"):
        jobsim.Simulation(app, start=START, profile=profile)


@settings(max_examples=60, deadline=None)
@given(
    jobs=st.lists(
        st.tuples(
            st.integers(0, 30),  # arrives at (s)
            st.sampled_from(["x", "y", "z"]),  # which function
            st.sampled_from(["a", "b"]),  # tenant
            st.lists(st.integers(0, 6), min_size=1, max_size=3),  # step durations (s); 0 runs no time
            st.integers(-60, 60),  # priority (s)
            st.booleans(),  # the first step fails once
        ),
        min_size=1,
        max_size=16,
    ),
    cancels=st.lists(st.tuples(st.integers(0, 60), st.sampled_from(["a", "b"])), max_size=3),
    limits=st.tuples(st.integers(1, 3), st.integers(1, 2), st.integers(1, 2)),
)
def test_every_run_ends_with_shared_limits_priorities_retries_cancellations_and_timeouts(jobs, cancels, limits):
    """Liveness with everything that moves a request between queues: no run is left queued forever,
    and no queue ever holds more requests than the smallest limit among those running in it."""
    own, tenant_limit, global_limit = limits
    app = jobsim.App("a")
    shared = [Concurrency(tenant_limit, key="event.data.tenant", scope="account"),
              Concurrency(global_limit, key='"global"', scope="env")]  # fmt: skip
    configs = {"x": [Concurrency(own), shared[0]], "y": [shared[0], shared[1]], "z": [shared[1]]}
    for name, config in configs.items():

        @app.function(name, on=f"go.{name}", concurrency=config, priority="int(event.data.priority)", retries=1,
                      cancel_on=[jobsim.Cancel("stop", match="data.tenant")], timeout="2m")  # fmt: skip
        def job(ctx):
            for k, seconds in enumerate(ctx.event.data["steps"]):
                ctx.step.run(f"s{k}", time.sleep, seconds)

    timeline = sorted([(at, 0, ("go", name, tenant, steps, priority, fail))
                       for at, name, tenant, steps, priority, fail in jobs]
                      + [(at, 1, ("stop", tenant)) for at, tenant in cancels])  # fmt: skip
    with jobsim.Simulation(app, start=START) as sim:
        for at, _, what in timeline:
            sim.advance_to(to_datetime(T0 + at * SECOND))
            if what[0] == "stop":
                sim.send("stop", {"tenant": what[1]})
                continue
            _, name, tenant, steps, priority, fail = what
            if fail:
                sim.fail(name, step="s0")
            sim.send(f"go.{name}", {"tenant": tenant, "steps": steps, "priority": priority})
        sim.run_until_idle()
    busy: dict[Any, list[tuple[int, int]]] = {}
    for name in configs:
        for run in sim.runs(name):
            assert run.status in ("completed", "failed", "cancelled"), (name, run.status)
            tenant = run.event.data["tenant"]
            queues = {"x": [("x",), ("t", tenant)], "y": [("t", tenant), ("g",)], "z": [("g",)]}[name]
            for a in run.attempts:
                if a.end_ns > a.start_ns:
                    for queue in queues:
                        busy.setdefault(queue, []).append((a.start_ns, a.end_ns))
    bound = {"x": own, "t": tenant_limit, "g": global_limit}
    for queue, intervals in busy.items():
        assert peak(intervals) <= bound[queue[0]], queue
