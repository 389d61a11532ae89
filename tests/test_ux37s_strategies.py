"""js.cron_expressions(profile=...) and js.histories misuse (user trial 37, findings 2 and 3)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

import jobsim
from jobsim import strategies as js

PROFILES = ["inngest", "bullmq", "trigger.dev", "quirrel", "agenda", "node-cron", "vercel-cron", "vercel-cron-hobby"]


def accepted_by(profile: object, expr: str) -> None:
    app = jobsim.App("crons")
    app.function("f", cron=expr)(lambda ctx: None)
    with jobsim.Simulation(app, profile=profile):
        pass


@pytest.mark.parametrize("profile", PROFILES)
def test_every_draw_for_a_profile_is_accepted_by_it_without_failing_a_health_check(profile):
    """vercel-cron-hobby takes one minute and hour only: a filter over the default draws failed Hypothesis's
    filter_too_much health check, so those fields are built that way."""
    @settings(max_examples=80, deadline=None, database=None)
    @given(js.cron_expressions(profile=profile))
    def accepted(expr):
        accepted_by(profile, expr)

    accepted()


@pytest.mark.parametrize("kind", ["profile", "simulation"])
def test_profile_takes_a_profile_object_or_a_simulation_as_simulations_and_faults_do(kind):
    app = jobsim.App("crons")
    app.function("f", cron="0 9 * * *")(lambda ctx: None)
    with jobsim.Simulation(app, profile="vercel-cron-hobby") as sim:
        given_as = jobsim.profile("agenda", process_every="1s") if kind == "profile" else sim
        chosen = given_as if kind == "profile" else sim.profile

        @settings(max_examples=40, deadline=None, database=None)
        @given(js.cron_expressions(profile=given_as))
        def accepted(expr):
            accepted_by(chosen, expr)

        accepted()


@pytest.mark.parametrize(("profile", "descriptors"), [
    ("inngest", []),
    ("vercel-cron", []),
    ("bullmq", ["@annually", "@daily", "@hourly", "@monthly", "@weekly", "@yearly"]),
    ("quirrel", ["@daily", "@hourly", "@monthly", "@weekly", "@yearly"]),
    ("node-cron", ["@annually", "@daily", "@hourly", "@midnight", "@monthly", "@weekly", "@yearly"]),
])  # fmt: skip
def test_only_the_descriptors_the_profiles_parser_knows_are_drawn(profile, descriptors):
    seen = set()

    @settings(max_examples=300, deadline=None, database=None)
    @given(js.cron_expressions(profile=profile))
    def collect(expr):
        if expr.startswith("@"):
            seen.add(expr)

    collect()
    assert sorted(seen) == descriptors


def test_vercel_draws_restrict_one_day_field_and_hobby_one_minute_and_hour():
    @settings(max_examples=150, deadline=None, database=None)
    @given(js.cron_expressions(profile="vercel-cron-hobby"))
    def daily(expr):
        minute, hour, dom, _, dow = expr.split()
        assert minute.isdigit() and hour.isdigit()
        assert dom == "*" or dow == "*"

    daily()


def test_zones_never_put_a_descriptor_behind_tz_and_a_profile_without_tz_refuses_them():
    @settings(max_examples=200, deadline=None, database=None)
    @given(js.cron_expressions(zones=["Europe/Paris"], profile="inngest"))
    def zoned(expr):
        assert expr.startswith("TZ=Europe/Paris ") and "@" not in expr
        accepted_by("inngest", expr)

    zoned()
    with pytest.raises(jobsim.InvalidArgument, match=r"zones= writes Inngest's TZ= prefix, which Quirrel refuses; "
                                                     r"draw the zone apart and give it as the function's tz="):
        js.cron_expressions(zones=["Europe/Paris"], profile="quirrel")


def test_histories_failures_given_faults_is_an_invalid_argument_as_it_is_built():
    """The trial's js.histories(failures=js.faults(...)): a bare TypeError ('Value after * must be an iterable,
    not Fail') in generation before."""
    with pytest.raises(jobsim.InvalidArgument) as caught:
        js.histories(failures=js.faults(functions=["checkout"]))
    assert str(caught.value) == (
        "js.histories(failures=faults(functions=['checkout'])): faults() draws what faults= takes; pass it as "
        "faults=, and give failures= js.failure_patterns(...)")
