"""A run whose code spends virtual time (``time.sleep`` in a job) ends when its sleep does, on every profile: the
clock reaches that end in ``run_until_idle``, a sleep past the horizon is named in its ``BudgetExceeded``, and cron
runs that outlast their interval this way are stopped 7 days in as overlapping (user trial, session 38: on the
profiles that announce nothing at a run's end -- bullmq, trigger.dev, quirrel, ... -- ``run_until_idle`` returned
at once with the run done an hour ahead of the clock, a 31-year sleep passed silently, and an every-minute cron
sleeping 90 s was simulated for the whole year)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

import jobsim
from jobsim._profiles import builtin_profiles
from jobsim.errors import BudgetExceeded

START = "2025-03-01T00:00:00Z"
PROFILES = sorted(profile.name for profile in builtin_profiles())


CRON_ONLY = {"node-cron", "vercel-cron", "vercel-cron-hobby"}  # no events: the run is a daily tick's


def _sleeper(seconds: float, cron: bool = False) -> jobsim.App:
    app = jobsim.App("a")

    @app.function("s", **({"cron": "0 0 * * *"} if cron else {"on": "s"}))
    def s(ctx):
        time.sleep(seconds)
        return "slept"

    return app


@pytest.mark.parametrize("profile", PROFILES)
def test_run_until_idle_reaches_the_end_of_a_sleep_in_job_code(profile):
    cron = profile in CRON_ONLY
    with jobsim.Simulation(_sleeper(60, cron), start=START, profile=profile) as sim:  # Vercel kills it at 5 min
        if cron:
            sim.advance("1d")  # the tick at 03-02 00:00; Vercel calls the path some seconds (Hobby: minutes) later
            for _ in range(3600):
                if sim.runs("s"):
                    break
                sim.advance("1s")
        else:
            sim.send("s")
        sim.run_until_idle()
        (run,) = sim.runs("s")
        assert (run.status, run.output) == ("completed", "slept")
        assert run.finished_at - run.started_at == dt.timedelta(minutes=1)
        assert sim.now == run.finished_at


@pytest.mark.parametrize("profile", ["bullmq", "quirrel", "trigger.dev"])
def test_a_sleep_past_the_horizon_is_named(profile):
    with jobsim.Simulation(_sleeper(1e9), start=START, profile=profile) as sim:
        sim.send("s")
        named = r"(?s)Job code slept past .* in one call .*function 's' .*11574d1h46m40s"
        with pytest.raises(BudgetExceeded, match=named):
            sim.run_until_idle()


@pytest.mark.parametrize("profile", ["inngest", "bullmq"])
def test_cron_runs_that_outlast_their_interval_in_code_are_stopped_as_overlapping(profile):
    app = jobsim.App("a")

    @app.function("m", cron="* * * * *")
    def m(ctx):
        time.sleep(90)

    with jobsim.Simulation(app, start=START, profile=profile) as sim:
        sim.advance("3m")
        overlap = r"7d after it began.*\nCron runs overlap: .*\n  'm' \('\* \* \* \* \*'\): 2 runs in flight"
        with pytest.raises(BudgetExceeded, match=overlap):
            sim.run_until_idle()
        assert len(sim.runs("m")) < 11_000  # 7 days of minutes, not the year's 527,000


def test_what_an_attempt_decides_is_settled_as_its_code_runs_ahead_of_the_clock():
    """As the README says (*The wall clock follows the simulation*): 30 s into a 60 s sleep the run is completed,
    its end 60 s on; the clock still reaches that end."""
    with jobsim.Simulation(_sleeper(60), start=START) as sim:
        sim.send("s")
        sim.advance("30s")
        (run,) = sim.runs("s")
        assert (run.status, run.output, run.finished_at - run.started_at) == ("completed", "slept",
                                                                              dt.timedelta(minutes=1))  # fmt: skip
        sim.run_until_idle()
        assert sim.now == run.finished_at
