"""``Simulation.add_function`` (a plugin declaring a function while the simulation runs) checks the function
against the profile as building a Simulation checks its targets' functions (``_profiles.resolve``): the same
errors for what the system lacks or limits, the same retry policy and the same cron binding."""

from __future__ import annotations

from typing import Any

import pytest

import jobsim
from jobsim import _plugins
from jobsim.hooks import Adapted, hookimpl


class Dynamic:
    """A pretend backend whose job functions are only known once used (as RQ's)."""


class _DynamicPlugin:
    @hookimpl
    def jobsim_adapt(self, sim, target):
        if not isinstance(target, Dynamic):
            return None
        return Adapted(backend="dynamic", functions=[], own_worker=True, dynamic=True)


@pytest.fixture(autouse=True)
def _dynamic_plugin():
    plugin = _DynamicPlugin()
    _plugins.register(plugin, name="add-function-test")
    yield
    _plugins.unregister(plugin)


def _function(**options: Any) -> jobsim.Function:
    app = jobsim.App("late")
    return app.function(id="f", **options)(lambda ctx: None)


def _build_error(profile: str, options: dict[str, Any]) -> BaseException:
    app = jobsim.App("late")
    app.function(id="f", **options)(lambda ctx: None)
    with pytest.raises(jobsim.JobsimError) as built:
        jobsim.Simulation(app, profile=profile)
    return built.value


REFUSED = [
    ("inngest", {"on": [f"shop/e{i}" for i in range(11)]}),  # max_triggers = 10
    ("inngest", {"on": "x", "debounce": jobsim.Debounce("10s", mode="leading")}),  # a feature Inngest lacks
    ("trigger.dev", {"on": "x", "debounce": jobsim.Debounce("10s", timeout="5s")}),  # timeout not over the period
    ("inngest", {"cron": "0 12 * * 7"}),  # robfig/cron refuses day-of-week 7
    ("inngest", {"on": "x", "retries": 30}),  # over max_attempts
    ("vercel-cron", {"cron": "0 0 1 * 1"}),  # both day fields restricted
    ("vercel-cron", {"on": "x"}),  # no event triggers
    ("bullmq", {"cron": "TZ=Europe/Paris 0 * * * *"}),  # cron-parser has no TZ= prefix
    ("quirrel", {"on": "x", "retries": 5}),  # no default retry schedule
]


@pytest.mark.parametrize(("profile", "options"), REFUSED, ids=[f"{p}-{i}" for i, (p, _) in enumerate(REFUSED)])
def test_a_function_added_later_is_refused_as_at_build_time(profile, options):
    expected = _build_error(profile, options)
    with jobsim.Simulation(Dynamic(), profile=profile) as sim:
        with pytest.raises(type(expected)) as added:
            sim.add_function(_function(**options), own_worker=True)
        assert str(added.value) == str(expected)
        assert "f" not in sim.functions and "f" not in sim._own_worker  # not half added
        fixed = _function(cron="0 12 * * *") if profile == "vercel-cron" else _function(on="y")
        sim.add_function(fixed)  # the same id, fixed, is welcome
        assert sim.functions["f"] is fixed


@pytest.mark.parametrize("profile", ["inngest", "bullmq", "agenda", "trigger.dev"])
def test_a_function_added_later_gets_the_profiles_retry_policy(profile):
    app = jobsim.App("late")
    app.function(id="f", on="x", retries=5)(lambda ctx: None)
    built = jobsim.Simulation(app, profile=profile)
    expected = built.engine.policy(built.functions["f"])
    with jobsim.Simulation(Dynamic(), profile=profile) as sim:
        sim.add_function(_function(on="x", retries=5))
        assert sim.engine.policy(sim.functions["f"]) == expected


@pytest.mark.parametrize(("profile", "cron", "tz"), [
    ("node-cron", "0 0 1 * 1", None),  # node-cron: day-of-month AND day-of-week (no Monday the 1st in 40 days)
    ("node-cron", "0 0 1 * 1", "America/New_York"),
    ("inngest", "0 0 1 * 1", None),  # robfig: OR
])  # fmt: skip
def test_a_cron_function_added_later_ticks_in_the_profiles_dialect(profile, cron, tz):
    app = jobsim.App("late")
    app.function(id="f", cron=cron, tz=tz)(lambda ctx: None)
    with jobsim.Simulation(app, profile=profile) as built:
        built.advance(by="40d")
        expected = [r.start_ns for r in built.runs("f")]
    with jobsim.Simulation(Dynamic(), profile=profile) as sim:
        sim.add_function(_function(cron=cron, tz=tz))
        sim.advance(by="40d")
        assert [r.start_ns for r in sim.runs("f")] == expected
    if profile == "node-cron":
        assert expected == []


def test_an_every_function_added_after_its_end_is_refused():
    every = jobsim.Every("1h", end="2025-01-02T00:00:00Z")
    with jobsim.Simulation(Dynamic(), profile="bullmq", start="2025-01-01T00:00:00Z") as sim:
        sim.add_function(_function(every=every))  # made before its end: welcome
        sim.advance(by="2d")
        with pytest.raises(jobsim.InvalidArgument, match=r"end 2025-01-02.* is before the time the function was "
                           r"added 2025-01-03.*give a later end, or add it earlier"):
            sim.add_function(jobsim.App("later").function(id="g", every=every)(lambda ctx: None))
    with jobsim.Simulation(Dynamic(), profile="inngest") as sim, pytest.raises(jobsim.UnsupportedFeature):
        sim.add_function(_function(every="1h"))  # Inngest has no every= interval


class _HalfSecondLater:
    """A user's own RetryPolicy whose delay is a float: jobsim wraps such a policy to name it (``CheckedPolicy``)."""

    attempts = 2

    def delay_ns(self, retry, rng):
        return 1.5

    def __repr__(self):
        return "_HalfSecondLater()"


def _fails(ctx):
    raise RuntimeError("down")


def test_a_users_own_retry_policy_on_a_function_added_later_is_checked_as_at_build_time():
    app = jobsim.App("late")
    app.function(id="f", on="x", retries=_HalfSecondLater())(_fails)
    with jobsim.Simulation(app) as built, pytest.raises(jobsim.InvalidArgument) as expected:
        built.send("x")
        built.run_until_idle()
    with jobsim.Simulation(Dynamic()) as sim, pytest.raises(jobsim.InvalidArgument) as added:
        sim.add_function(jobsim.App("late").function(id="f", on="x", retries=_HalfSecondLater())(_fails))
        sim.send("x")
        sim.run_until_idle()
    assert "delay_ns(1, rng) returned 1.5" in str(added.value) and str(added.value) == str(expected.value)
