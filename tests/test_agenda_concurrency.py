"""Agenda's implicit concurrency: ``defaultConcurrency`` 5 per definition, ``maxConcurrency`` 20 per process.

agenda@6.2.2 ``packages/agenda/src/index.ts``: ``DefaultOptions`` (28-37) gives ``defaultConcurrency: 5``
and ``maxConcurrency: 20``; ``define()`` sets ``concurrency: options?.concurrency || defaultConcurrency``
(751). ``JobProcessor.runOrRetry`` (557-575) runs a job only while its definition runs fewer than its
concurrency and the process fewer than ``maxConcurrency``, else puts it back in the local queue; a job's end
re-processes the queue at once (``setImmediate(jobProcessing)``, 706). So with no ``concurrency=`` at all,
the sixth job of a name found by one poll waits for the first to end.

The simulations start at a poll (jobsim starts Agenda with the simulation): polls fall at :00, :05, ...
"""

from __future__ import annotations

import time

import pytest
from _readme import run_block

import jobsim
from jobsim import AgendaBackoff, InvalidArgument
from jobsim._time import iso
from jobsim.invariants import retries_respect_policy

START = "2026-03-02T00:00:00Z"


def hms(ns: int) -> str:
    return iso(ns)[11:19]


def starts(sim, function):
    return [hms(run.start_ns) for run in sim.runs(function)]


def busy_app(names=("job",), spend=3.0, **options):
    """One function per name, on the event of that name, each run spending ``spend`` seconds."""
    app = jobsim.App("a")
    for name in names:

        @app.function(name, on=name, **options)
        def job(ctx):
            time.sleep(spend)
            return "ok"

    return app


def queued(sim):
    return [(r.data["function"], r.data["n"], r.data["reason"], hms(r.at)) for r in sim.trace.of("run.queued")
            if r.data["reason"] != "poll"]  # fmt: skip


def test_a_definition_without_concurrency_runs_five_at_once():
    with jobsim.Simulation(busy_app(), start=START, profile="agenda") as sim:
        sim.advance("1s")
        for _ in range(7):
            sim.send("job")  # agenda.now() x 7 at 00:00:01; the 00:00:05 poll locks all seven
        sim.advance("1m")
    # five run at the poll; the sixth and seventh start as the first two end (3 s later)
    assert starts(sim, "job") == ["00:00:05"] * 5 + ["00:00:08"] * 2
    assert queued(sim) == [("job", 6, "concurrency", "00:00:05"), ("job", 7, "concurrency", "00:00:05")]
    assert [run.status for run in sim.runs("job")] == ["completed"] * 7
    waits = [line for line in sim.timeline().splitlines() if "a concurrency slot" in line]
    assert len(waits) == 2 and "job#6" in waits[0]


def test_each_definition_has_its_own_five():
    with jobsim.Simulation(busy_app(("a", "b")), start=START, profile="agenda") as sim:
        for _ in range(6):
            sim.send("a")
            sim.send("b")
        sim.advance("1m")
    assert starts(sim, "a") == starts(sim, "b") == ["00:00:00"] * 5 + ["00:00:03"]


def test_the_process_runs_twenty_jobs_at_once_whatever_their_definitions():
    names = [f"f{k}" for k in range(5)]
    with jobsim.Simulation(busy_app(names), start=START, profile="agenda") as sim:
        for name in names:
            for _ in range(5):  # each definition is within its own five: only maxConcurrency holds any back
                sim.send(name)
        sim.advance("1m")
    assert [starts(sim, name) for name in names[:4]] == [["00:00:00"] * 5] * 4
    assert starts(sim, "f4") == ["00:00:03"] * 5  # the last five asked, after twenty were running
    assert {reason for _, _, reason, _ in queued(sim)} == {"concurrency"}


def test_a_definition_s_own_concurrency_replaces_the_default_and_the_process_cap_still_holds():
    app = busy_app(("wide",), concurrency=30)
    with jobsim.Simulation(app, start=START, profile="agenda") as sim:
        for _ in range(25):
            sim.send("wide")
        sim.advance("1m")
    assert starts(sim, "wide") == ["00:00:00"] * 20 + ["00:00:03"] * 5

    narrow = busy_app(("narrow",), concurrency=1)
    with jobsim.Simulation(narrow, start=START, profile="agenda") as sim:
        for _ in range(3):
            sim.send("narrow")
        sim.advance("1m")
    assert starts(sim, "narrow") == ["00:00:00", "00:00:03", "00:00:06"]


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("agenda(default_concurrency=2)", ["00:00:00"] * 2 + ["00:00:03"] * 2),
        (jobsim.profile("agenda", max_concurrency=3), ["00:00:00"] * 3 + ["00:00:03"]),
        ("agenda(default_concurrency=5, max_concurrency=20)", ["00:00:00"] * 4),  # Agenda's defaults: plain agenda
    ],
)  # fmt: skip
def test_the_two_limits_are_profile_options(profile, expected):
    with jobsim.Simulation(busy_app(), start=START, profile=profile) as sim:
        for _ in range(4):
            sim.send("job")
        sim.advance("1m")
    assert starts(sim, "job") == expected


def test_option_values_name_the_variant():
    assert jobsim.profile("agenda", default_concurrency=2).name == "agenda(default_concurrency=2)"
    both = jobsim.profile("agenda", process_every="1s", max_concurrency=50)
    assert both.name == "agenda(process_every=1s, max_concurrency=50)"
    assert (both.poll_ns, both.max_concurrency, both.default_concurrency) == (1_000_000_000, 50, 5)
    assert jobsim.profile("agenda", max_concurrency=20).name == "agenda"
    # a variant of a variant keeps the options it had
    assert jobsim.profile(both, default_concurrency=1).name == (
        "agenda(process_every=1s, default_concurrency=1, max_concurrency=50)")  # fmt: skip


@pytest.mark.parametrize("value", [0, -1, True, "five", 2.5, None])
def test_a_limit_that_is_not_a_whole_number_of_jobs_is_refused(value):
    with pytest.raises(InvalidArgument, match=r"max_concurrency.*whole number of jobs >= 1 \(Agenda's maxConcurrency"):
        jobsim.profile("agenda", max_concurrency=value)


def test_an_unknown_option_names_the_three_it_takes():
    with pytest.raises(InvalidArgument, match=r"no option 'concurrency'.*process_every.*default_concurrency.*"
                                              r"max_concurrency"):  # fmt: skip
        jobsim.profile("agenda", concurrency=3)


def test_the_declared_function_object_still_finds_its_runs():
    app = jobsim.App("a")

    @app.function("job", on="go")
    def job(ctx):
        return 1

    with jobsim.Simulation(app, start=START, profile="agenda") as sim:
        sim.fail(job)  # the object @app.function returned, not the simulation's limited copy
        sim.send("go")
        sim.send("go")
        sim.advance("10s")
    assert [run.status for run in sim.runs(job)] == ["failed", "completed"]  # Agenda retries nothing by default
    assert sim.runs(job) == sim.runs("job")


def test_other_profiles_set_no_implicit_limit():
    with jobsim.Simulation(busy_app(), start=START) as sim:  # inngest: no concurrency unless configured
        for _ in range(30):
            sim.send("job")
        sim.advance("1m")
    assert starts(sim, "job") == ["00:00:00"] * 30
    assert sim.runs("job")[0].function.flow is None  # and the engine's fast path, untouched


def test_a_retry_held_back_by_the_default_concurrency_satisfies_the_retry_invariant():
    app = jobsim.App("a")
    failed = []

    @app.function("job", on="go", retries=AgendaBackoff("constant", "5s", max_retries=1))
    def job(ctx):
        if ctx.event.data["k"] == 0 and not failed:
            failed.append(1)
            raise ConnectionError("down")
        time.sleep(20)
        return "ok"

    with jobsim.Simulation(app, start=START, profile="agenda") as sim:
        for k in range(6):
            sim.send("go", {"k": k})
        sim.advance("2m")
        retries_respect_policy(sim)  # its retry started later than 5 s: a concurrency slot held it, not a bug
    first = sim.runs("job")[0]
    # fails at once; due 00:00:05, locked by that poll, but five 20 s jobs hold the five slots until 00:00:20
    assert [hms(a.start_ns) for a in first.attempts] == ["00:00:00", "00:00:20"]


def test_the_readme_example_runs_as_written():
    run_block("defaultConcurrency, 5", claim="Agenda limits concurrency even when you don't")
