"""The core benchmark's workload (``benchmarks/bench_core.py``), counted in Python calls instead of timed.

A count does not depend on the machine's load: a change that adds calls to every request
shows here, where a 2% slower benchmark would be lost in the noise.
"""

import collections
import gc
import subprocess
import sys

import pytest

import jobsim

START = "2025-01-01T00:00:00Z"


def work(i, attempt):
    if attempt < 3:
        raise RuntimeError("transient failure")
    return i


def python_calls_while_running(jobs):
    """Python-level calls (``sys.setprofile``'s "call" events) made by run_until_idle for ``jobs`` core jobs."""
    app = jobsim.App("bench")

    @app.function("job", on="job/start", retries=jobsim.Retries(attempts=4, backoff="exponential", min="1s", max="1h"))
    def job(ctx):
        ctx.step.sleep("wait", "24h")
        ctx.step.run("work", work, ctx.event.data["i"], ctx.attempt)

    counts = collections.Counter()

    def count(frame, event, arg):
        counts[event] += 1

    with jobsim.Simulation(app, start=START, seed=1) as sim:
        for i in range(jobs):
            sim.send("job/start", {"i": i})
        sys.setprofile(count)
        try:
            sim.run_until_idle(max_time="3d")
        finally:
            sys.setprofile(None)
        assert [r.status for r in sim.runs("job")] == ["completed"] * jobs
    return counts["call"]


def test_a_core_job_costs_at_most_145_python_calls_across_its_six_requests():
    # 208 before session 17's cuts: records appended as rows, the step key made inline, the policy and rng
    # caches read inline, the run's event copied without a JSON round trip when it is flat, said() and
    # failure() without a helper's frame, and no Python __init__ for a request's Timer, Attempt, ctx,
    # Suspend and ctx.step (the kernel and the engine set their fields): 139
    python_calls_while_running(5)  # lazy imports and first-use caches
    per_job = (python_calls_while_running(60) - python_calls_while_running(20)) / 40
    assert per_job <= 145, f"{per_job} Python calls a job (139 in session 17)"


def test_the_engine_makes_a_requests_ctx_step_with_every_field_step_init_sets():
    # _request sets a Step's fields itself (a Python __init__ is a frame per request): a field added to
    # Execution.__init__ and not there would be missing from every sync handler's ctx.step
    from jobsim._steps import Execution, Step

    app, seen = jobsim.App("a"), []

    @app.function("f", on="go")
    def f(ctx):
        x = ctx.step
        seen.append((x, {slot: getattr(x, slot) for slot in Execution.__slots__ if hasattr(x, slot)}))

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
        x, fields = seen[0]
        made = Step(sim.engine, x.run_, x.attempt, x.start)
        assert type(x) is Step and fields == {slot: getattr(made, slot) for slot in Execution.__slots__
                                              if hasattr(made, slot)}


def tracked_objects_kept(jobs, alive):
    """Objects the cyclic collector tracks, kept alive by a finished simulation of ``jobs`` core jobs.

    The simulation goes into ``alive``: something keeps the last one made until the next replaces it, and
    one freed while another is counted would be counted against it."""
    app = jobsim.App("bench")

    @app.function("job", on="job/start", retries=jobsim.Retries(attempts=4, backoff="exponential", min="1s", max="1h"))
    def job(ctx):
        ctx.step.sleep("wait", "24h")
        ctx.step.run("work", work, ctx.event.data["i"], ctx.attempt)

    gc.collect()
    before = len(gc.get_objects())
    sim = jobsim.Simulation(app, start=START, seed=1)
    with sim:
        for i in range(jobs):
            sim.send("job/start", {"i": i})
        sim.run_until_idle(max_time="3d")
    gc.collect()
    kept = len(gc.get_objects()) - before
    assert len(sim.runs("job")) == jobs  # the records are all still there
    alive.append(sim)
    return kept


def test_a_finished_core_job_keeps_at_most_26_objects_the_collector_walks():
    # every one of them is walked again by each collection that reaches its generation: 43 a job before
    # session 18, which made a job's trace records compact tuples of strings and numbers (untracked) and
    # dropped a fired sleep's timer from its run: 27 (the run, its steps, 6 attempts and their lists, 2
    # events, the 3 failures' exceptions with their traceback and frame, the sent event's record); session
    # 21 keeps a run's attempts as rows until they are read (the 3 rows of numbers and strings stop being
    # tracked, the 3 with an error stay): 24
    alive = []
    tracked_objects_kept(5, alive)
    per_job = (tracked_objects_kept(60, alive) - tracked_objects_kept(20, alive)) / 40
    assert per_job <= 26, f"{per_job} tracked objects kept a job (24 in session 21)"


def python_calls_per_send(sends):
    """Python-level calls made by ``sends`` of ``sim.send("job/start", {"i": i})``, each starting a run."""
    app = jobsim.App("bench")

    @app.function("job", on="job/start")
    def job(ctx):
        return ctx.event.data["i"]

    counts = collections.Counter()

    def count(frame, event, arg):
        counts[event] += 1

    with jobsim.Simulation(app, start=START, seed=1) as sim:
        sys.setprofile(count)
        try:
            for i in range(sends):
                sim.send("job/start", {"i": i})
        finally:
            sys.setprofile(None)
        sim.run_until_idle()
    return counts["call"]


def test_a_send_that_starts_a_run_costs_under_17_python_calls():
    # 21 before session 19's cuts: sim.send("name", {...}) makes its Event without Event()'s checks of the
    # fields it lacks and skips check_ts_units (no ts), flat data is copied without the JSON round trip,
    # and the engine's now() and subscribers() are read inline
    python_calls_per_send(5)  # lazy imports and first-use caches
    per_send = (python_calls_per_send(60) - python_calls_per_send(20)) / 40
    assert per_send < 17, f"{per_send} Python calls a send (16.025 in session 19: one raise of the gc threshold)"


@pytest.mark.skipif(sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11),
                    reason="CPython 3.11 quickens a function at its 8th call only (3.12 counts loop iterations too)")
def test_the_kernels_loop_is_adaptive_before_its_first_driving_call():
    # Kernel.run is called once per driving call: without the warm-up at import, a process's first seven
    # simulations ran its whole loop as generic bytecode (403,052 -> 380,037 instructions a core job). Asked in
    # a fresh interpreter: in this one, earlier tests' simulations have called run more than 8 times
    probe = ("import dis, jobsim._kernel as k; "
             "print(next(dis.get_instructions(k.Kernel.run, adaptive=True)).opname)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["RESUME_QUICK"]


def test_the_request_path_classes_have_no_getattr_hook():
    """A ``__getattr__`` on a class makes CPython 3.11 load every attribute of its instances unspecialized: one on
    ``Step`` (for misspelt methods) made the core workload 10-15% slower, since a request reads ``self``'s fields
    all the time. Unknown step methods are told as the failure is recorded instead (``step_method_error``)."""
    from jobsim._execution import Execution
    from jobsim._steps import AsyncStep, Step

    for cls in (Step, AsyncStep, Execution):
        assert not any("__getattr__" in vars(base) for base in cls.__mro__ if base is not object), cls
