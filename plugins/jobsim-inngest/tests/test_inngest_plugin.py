"""The plugin's wiring: entry point, import costs, targets, the pytest fixture."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import inngest
import pytest

import jobsim


def test_the_distribution_registers_the_jobsim_entry_point():
    points = {e.name: e.value for e in importlib.metadata.entry_points(group="jobsim")}
    assert points.get("inngest") == "jobsim_inngest.plugin"
    assert "inngest" in jobsim._plugins.plugin_names()


def test_neither_import_jobsim_nor_a_plain_simulation_imports_inngest_py():
    code = (
        "import sys, jobsim\n"
        "before = 'inngest' in sys.modules\n"
        "app = jobsim.App('a')\n"
        "app.function('f', on='x')(lambda ctx: None)\n"
        "with jobsim.Simulation(app) as sim:\n"
        "    sim.send('x'); sim.run_until_idle()\n"
        "print(before, 'inngest' in sys.modules, 'jobsim_inngest.plugin' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "True"]  # the plugin is loaded, inngest-py is not


def test_an_unclaimed_target_lists_the_inngest_plugin():
    with pytest.raises(jobsim.InvalidArgument) as info:
        jobsim.Simulation(object())
    assert "installed plugins: " in str(info.value) and "inngest" in str(info.value)


def test_functions_keep_inngest_pys_fully_qualified_ids(client):
    other = inngest.Inngest(app_id="billing", is_production=False)
    a = client.create_function(fn_id="sync", trigger=inngest.TriggerEvent(event="x"))(lambda ctx: None)
    b = other.create_function(fn_id="sync", trigger=inngest.TriggerEvent(event="x"))(lambda ctx: None)
    with jobsim.Simulation([a, b], client, other) as sim:
        assert list(sim.functions) == ["shop-sync", "billing-sync"]
        assert sim.functions["shop-sync"].options["inngest"] is a
        assert sim.profile.name == "inngest"
        sim.send("x")
        sim.run_until_idle()
        assert "run       shop-sync#1 completed" in sim.timeline()


_client = inngest.Inngest(app_id="shop", is_production=False)


@_client.create_function(fn_id="greet", trigger=inngest.TriggerEvent(event="user/created"))
def _greet(ctx: inngest.ContextSync) -> str:
    ctx.step.sleep("wait", 60_000)
    return f"hello {ctx.event.data['name']}"


@pytest.fixture
def jobsim_app():
    return [_greet, _client]


@pytest.mark.jobsim(start="2025-03-01T09:00:00Z", seed=3)
def test_the_jobsim_pytest_fixture_simulates_inngest_functions(jobsim):
    jobsim.send("user/created", {"name": "ada"})
    jobsim.advance("1m")
    (run,) = jobsim.runs(_greet.id)
    assert run.output == "hello ada" and run.finished_at.isoformat() == "2025-03-01T09:01:00+00:00"


def test_runs_and_fail_take_the_inngest_function_itself():
    """``sim.runs(onboarding)`` as well as ``sim.runs(onboarding.id)``: a user holds the function, not its id."""
    client = inngest.Inngest(app_id="shop", is_production=False)

    @client.create_function(fn_id="job", trigger=inngest.TriggerEvent(event="go"), retries=0)
    def job(ctx: inngest.ContextSync) -> str:
        return "done"

    @client.create_function(fn_id="not-simulated", trigger=inngest.TriggerEvent(event="go"))
    def other(ctx: inngest.ContextSync) -> None:
        return None

    with jobsim.Simulation(job, client, start="2025-03-01T00:00:00Z") as sim:
        sim.fail(job, times=1)
        client.send_sync([inngest.Event(name="go"), inngest.Event(name="go")])
        sim.run_until_idle()
        assert sim.runs(job) == sim.runs(job.id)
        assert [r.status for r in sim.runs(job)] == ["failed", "completed"]
        with pytest.raises(jobsim.InvalidArgument, match=r"one of the simulated function ids: 'shop-job'"):
            sim.runs(other)


def test_a_client_without_its_functions_is_refused_naming_what_is_missing():
    """``Simulation(client)`` alone was told to "pass a jobsim.App with at least one @app.function",
    advice for jobsim's own API that an inngest-py user cannot follow."""
    client = inngest.Inngest(app_id="shop", is_production=False)
    with pytest.raises(jobsim.InvalidArgument, match=r"Simulation\(\) got no functions: the inngest-py target\(s\) "
                       r"passed bring none; pass the functions themselves too"):
        jobsim.Simulation(client)
