"""A job function the simulation refuses to declare (``Simulation.add_function``) is registered nowhere: the
plugin's own tables did not keep it, so the next enqueue of it is refused again rather than run."""

from __future__ import annotations

import pytest

import jobsim

START = "2025-03-01T00:00:00Z"


def greet() -> str:
    return "hi"


def test_a_job_function_whose_id_another_app_has_is_refused_at_every_enqueue(queue):
    other = jobsim.App("shop")
    other.function(f"{__name__}.greet", on="shop/greet")(lambda ctx: None)  # RQ names the job by func_name
    with jobsim.Simulation(other, queue, start=START) as sim:
        world = sim.rq
        for _ in range(2):  # the second enqueue found it in the plugin's table and ran it
            with pytest.raises(jobsim.InvalidArgument, match=rf"function id '{__name__}.greet' is declared in app "
                                                             r"'shop' and in app 'rq'"):  # fmt: skip
                queue.enqueue(greet)
        assert f"{__name__}.greet" not in world.functions and f"{__name__}.greet" not in world.app.functions
        sim.run_until_idle()
    assert sim.runs(f"{__name__}.greet") == []
