"""A job the simulation refuses to declare (``Simulation.add_function``: its id is a ``jobsim.App`` function's) is
registered nowhere: jobsim-apscheduler's own tables did not keep it, so adding it again is refused again rather
than run."""

from __future__ import annotations

import pytest

import jobsim

START = "2025-03-01T00:00:00Z"


def test_a_job_added_inside_the_simulation_under_a_jobsim_function_id_is_refused_at_every_add(scheduler):
    shop = jobsim.App("shop")
    shop.function("greet", on="shop/greet")(lambda ctx: None)
    ran: list[str] = []

    def tick() -> None:
        ran.append("tick")

    scheduler.add_job(tick, "interval", minutes=1, id="tick")
    with jobsim.Simulation(shop, scheduler, start=START) as sim:
        for _ in range(2):  # the second add found it in the plugin's table and ran it
            refused = "function id 'greet' is declared in app 'shop' and in app"
            with pytest.raises(jobsim.InvalidArgument, match=refused):
                scheduler.add_job(lambda: ran.append("greet"), "interval", seconds=30, id="greet")
            assert scheduler.get_job("greet") is None
        sim.advance("90s")
        assert "greet" not in sim.apscheduler.functions and "greet" not in sim.apscheduler.app.functions
    assert ran == ["tick"] and sim.runs("greet") == []
