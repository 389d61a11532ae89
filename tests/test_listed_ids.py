"""An error naming the function ids one may give lists at most 20 of them and counts the rest; the id meant
may be past that cut, so a misspelt id is then matched against all of them ("did you mean ...?")."""

from __future__ import annotations

import argparse

import pytest

import jobsim
from jobsim._checks import listed_ids
from jobsim._cli_select import selection
from jobsim.errors import InvalidArgument

START = "2025-03-01T00:00:00Z"
FIRST = ", ".join(repr(f"f{n:02}") for n in range(20))
CUT = f"{FIRST}, ... and 5 more (did you mean 'send-welcome-email'?)"


def many() -> jobsim.App:
    app = jobsim.App("many")
    for n in range(24):
        app.function(f"f{n:02}", on="go")(lambda ctx: None)
    app.function("send-welcome-email", on="go")(lambda ctx: None)  # the 25th: past the cut
    return app


def test_a_misspelt_id_past_the_cut_is_guessed_by_sim_runs_and_rng_for():
    with jobsim.Simulation(many(), start=START) as sim:
        for call in (sim.runs, sim.rng_for):
            with pytest.raises(InvalidArgument) as info:
                call("send-welcom-email")
            assert str(info.value).endswith(f"one of the simulated function ids: {CUT}")


def test_the_functions_selection_cuts_its_list_too():
    """``functions=`` listed all 25 ids, where ``sim.runs`` listed 20."""
    with pytest.raises(InvalidArgument) as info:
        jobsim.Simulation(many(), start=START, functions=["send-welcom-email"])
    assert f"known function ids: {CUT}" in str(info.value)


def test_the_functions_flag_cuts_its_list_too():
    args = argparse.Namespace(functions="send-welcom-email", exclude_functions=None)
    with pytest.raises(InvalidArgument) as info:
        selection(args, many())
    assert str(info.value).endswith(f"known function ids: {CUT}")


def test_a_short_list_is_whole_and_guesses_nothing():
    """Every id is shown: the one meant is there to see (and the messages tests pin stay as they were)."""
    assert listed_ids(["a", "b"], "bb") == "'a', 'b'"
    assert listed_ids([f"f{n:02}" for n in range(25)], 3) == f"{FIRST}, ... and 5 more"  # an object: no guess


def _played(sim: jobsim.Simulation) -> None:
    sim.send("go")
    sim.run_until_idle()


def test_a_trace_comparisons_first_cuts_its_list_and_guesses():
    """``TraceComparison.first`` (and ``ReplayResult.first``) of a misspelt id: the 25 compared ids, cut at 20."""
    with jobsim.Simulation(many(), start=START) as recorded:
        _played(recorded)
    result = jobsim.Simulation.replay(recorded.trace, many())
    for first in (result.comparison.first, result.first):
        with pytest.raises(InvalidArgument) as info:
            first("send-welcom-email")
        assert str(info.value) == ("function='send-welcom-email' is not valid: one of the compared function ids: "
                                   + CUT)


def test_compare_cuts_the_scenarios_function_list_and_guesses():
    scenario = jobsim.Scenario(name="many", description="25 functions", build=many, play=_played,
                               functions=["send-welcom-email"])  # fmt: skip
    with pytest.raises(InvalidArgument) as info:
        jobsim.compare(scenario, ["inngest"])
    assert str(info.value) == ("functions=['send-welcom-email'] is not valid: ids of functions the scenario's "
                               f"build() declares: {CUT} (unknown: 'send-welcom-email')")


def test_a_crash_of_an_unknown_function_cuts_its_list_and_guesses():
    with jobsim.Simulation(many(), start=START) as sim, pytest.raises(InvalidArgument) as info:
        sim.crash_worker(function="send-welcom-email")
    assert str(info.value) == f"function='send-welcom-email' is not valid: one of the simulated function ids: {CUT}"
