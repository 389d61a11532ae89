"""A task the simulation refuses to declare (``Simulation.add_function``: its name is a ``jobsim.App`` function's
id) is registered nowhere: jobsim-huey's own tables did not keep it, so enqueueing it again is refused again
rather than run."""

from __future__ import annotations

import pytest

import jobsim

START = "2025-03-01T00:00:00Z"


def test_a_task_declared_inside_the_simulation_under_a_jobsim_function_id_is_refused_at_every_enqueue(memory_huey):
    h = memory_huey
    shop = jobsim.App("shop")
    shop.function("greet", on="shop/greet")(lambda ctx: None)
    ran: list[str] = []
    with jobsim.Simulation(shop, h, start=START) as sim:

        @h.task()  # declared after the build: on its first enqueue
        def greet() -> None:
            ran.append("greet")

        for _ in range(2):  # the second call found it in the plugin's table and ran it
            refused = "function id 'greet' is declared in app 'shop' and in app"
            with pytest.raises(jobsim.InvalidArgument, match=refused):
                greet()
            sim.run_until_idle()
        assert "greet" not in sim.huey.functions and "greet" not in sim.huey.app.functions
    assert ran == [] and sim.runs("greet") == []


def test_a_pipeline_whose_next_task_is_refused_is_refused_at_the_enqueue_before_anything_runs(memory_huey):
    """The next task was declared when the first had run and the consumer enqueued it: the refusal went to
    Huey's log ("Unhandled error during execution"), the first task ran, the pipeline stopped silently."""
    h = memory_huey
    shop = jobsim.App("shop")
    shop.function("greet", on="shop/greet")(lambda ctx: None)
    ran: list[str] = []

    @h.task()
    def first() -> None:
        ran.append("first")

    with jobsim.Simulation(shop, h, start=START) as sim:

        @h.task()
        def greet(_value: object) -> None:
            ran.append("greet")

        with pytest.raises(jobsim.InvalidArgument, match="function id 'greet' is declared in app 'shop' and in app"):
            h.enqueue(first.s().then(greet))
        sim.run_until_idle()
    assert ran == [] and sim.runs("first") == []
