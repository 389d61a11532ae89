"""A task the simulation refuses to declare (``Simulation.add_function``: its name is a ``jobsim.App`` function's
id) is registered nowhere: jobsim-celery's own tables did not keep it, so sending it again is refused again
rather than run."""

from __future__ import annotations

import pytest

import jobsim

START = "2025-03-01T00:00:00Z"


def test_a_task_registered_inside_the_simulation_under_a_jobsim_function_id_is_refused_at_every_send(app):
    shop = jobsim.App("shop")
    shop.function("greet", on="shop/greet")(lambda ctx: None)
    ran: list[str] = []
    with jobsim.Simulation(shop, app, start=START) as sim:

        @app.task(name="greet")  # registered after the build: declared when first sent
        def greet() -> None:
            ran.append("greet")

        for _ in range(2):  # the second send found it in the plugin's table and ran it
            refused = "function id 'greet' is declared in app 'shop' and in app"
            with pytest.raises(jobsim.InvalidArgument, match=refused):
                greet.delay()
            sim.run_until_idle()
        assert all("greet" not in rt.functions and "greet" not in rt.tasks for rt in sim.celery.apps)
    assert ran == [] and sim.runs("greet") == []
