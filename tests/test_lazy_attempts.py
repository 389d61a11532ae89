"""``run.attempts`` and a step's ``attempts``: made when read, the same objects in both lists.

The engine records an attempt as a row of its run (``Run._rows``) and makes its ``Attempt`` only when
something reads the run's or a step's attempts; from then on it appends made attempts to both lists.
"""

import gc

import jobsim
from jobsim import Attempt

START = "2025-01-01T00:00:00Z"


def flaky_app():
    app = jobsim.App("a")

    def work(attempt):
        if attempt < 2:
            raise RuntimeError(f"try {attempt}")
        return attempt

    @app.function("job", on="go", retries=jobsim.Retries(attempts=4, backoff="constant", min="1m"))
    def job(ctx):
        ctx.step.sleep("wait", "1h")
        ctx.step.run("work", work, ctx.attempt)
        return "done"

    return app


def attempts_alive():
    return sum(1 for o in gc.get_objects() if type(o) is Attempt)


def shape(attempts):
    return [(a.step, a.number, a.start_ns, a.end_ns, type(a.error).__name__ if a.error else None) for a in attempts]


def test_no_attempt_is_made_until_something_reads_them():
    # a run's attempts are kept as rows of numbers and strings: most runs' attempts are never read, and an
    # Attempt (a tracked object) a request had cost ~2% of the core benchmark's instructions
    gc.collect()
    before = attempts_alive()
    with jobsim.Simulation(flaky_app(), start=START) as sim:
        sim.send("go", {})
        sim.run_until_idle()
        (run,) = sim.runs("job")
        assert run.status == "completed"
        assert attempts_alive() == before
        assert len(run.attempts) == 5  # the sleep's request, the two failures, the success, the return
        assert attempts_alive() == before + 5


def test_a_steps_attempts_are_the_runs_own_objects_whichever_list_is_read_first():
    for first in ("run", "step"):
        with jobsim.Simulation(flaky_app(), start=START) as sim:
            sim.send("go", {})
            sim.run_until_idle()
            (run,) = sim.runs("job")
            if first == "step":
                work = run.steps["work"].attempts
            everything = run.attempts
            work = run.steps["work"].attempts
            wait = run.steps["wait"].attempts
        assert [a.step for a in everything] == ["wait", "work", "work", "work", None]
        assert [a.number for a in everything] == [0, 0, 1, 2, 0]
        assert all(any(a is b for b in everything) for a in work + wait)
        assert work == everything[1:4] and wait == everything[:1]
        assert [str(a.error) for a in work] == ["try 0", "try 1", "None"]


def test_a_list_read_while_the_run_goes_on_keeps_growing_and_keeps_a_systems_appends_in_order():
    with jobsim.Simulation(flaky_app(), start=START) as sim:
        sim.send("go", {})
        sim.advance("30m")  # sleeping: one attempt so far
        (run,) = sim.runs("job")
        attempts = run.attempts
        steps = run.steps["wait"].attempts
        assert shape(attempts) == [("wait", 0, sim.start_ns, sim.start_ns, None)]
        mine = Attempt(9, None, sim.start_ns, sim.start_ns, None)  # as a backend system records its own
        run.attempts.append(mine)
        sim.advance("30m30s")  # woken: "work" fails once, its retry is due in a minute
        assert [a.step for a in attempts] == ["wait", None, "work"]  # the same list, grown as the run went on
        assert attempts[1] is mine
        sim.run_until_idle()
        assert attempts is run.attempts and steps is run.steps["wait"].attempts
        assert [a.step for a in attempts] == ["wait", None, "work", "work", "work", None]
        assert [a.number for a in run.steps["work"].attempts] == [0, 1, 2]
        assert run.steps["work"].attempts[0] is attempts[2]


def test_attempts_given_to_a_run_replace_the_recorded_ones():
    with jobsim.Simulation(flaky_app(), start=START) as sim:
        sim.send("go", {})
        sim.run_until_idle()
        (run,) = sim.runs("job")
        work = run.steps["work"]
        run.attempts = []
        assert run.attempts == [] and len(work.attempts) == 3  # the step's were made before the run's went
        work.attempts = [work.attempts[-1]]
        assert [a.number for a in work.attempts] == [2]


def test_attempts_and_trace_records_tell_the_same_story_lazily_or_not():
    def story(read_early):
        with jobsim.Simulation(flaky_app(), start=START) as sim:
            sim.send("go", {})
            sim.send("go", {})
            if read_early:
                for run in sim.runs("job"):
                    _ = run.attempts  # from now on the engine makes each attempt as it ends
            sim.run_until_idle()
            runs = [shape(run.attempts) + [shape(r.attempts) for r in run.steps.values()] for run in sim.runs("job")]
            return runs, [(r.at, r.kind, r.data) for r in sim.trace.records]

    assert story(True) == story(False)


def test_a_shallow_copy_of_a_run_shares_its_attempts_and_adds_none_to_its_steps():
    import copy

    with jobsim.Simulation(flaky_app(), start=START) as sim:
        sim.send("go", {})
        sim.run_until_idle()
        (run,) = sim.runs("job")
        snapshot = copy.copy(run)  # before anything read the attempts: they are still rows
        copied, own = snapshot.attempts, run.attempts
        assert copied is own and len(own) == 5
        assert snapshot.steps is run.steps
        assert [a.number for a in run.steps["work"].attempts] == [0, 1, 2]  # each once, not once per copy
        assert all(any(a is b for b in own) for a in run.steps["work"].attempts)
