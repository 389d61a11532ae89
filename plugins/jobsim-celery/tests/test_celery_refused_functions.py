"""A task the simulation refuses to declare (``Simulation.add_function``: its name is a ``jobsim.App`` function's
id) is registered nowhere: jobsim-celery's own tables did not keep it, so sending it again is refused again
rather than run."""

from __future__ import annotations

import re

import pytest
from celery import chain, chord, group

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


def _canvases():
    """Each way a canvas reaches a task, as ``(label, send(first, greet), where the error says it is)``."""
    return [
        ("chain", lambda a, b: chain(a.s(), b.s()).apply_async(), "the chain after task 'first'"),
        ("pipe", lambda a, b: (a.s() | b.s()).delay(), "the chain after task 'first'"),
        ("link", lambda a, b: a.apply_async(link=b.s()), "a link= callback of task 'first'"),
        ("link_error", lambda a, b: a.apply_async(link_error=b.si()), "a link_error= errback of task 'first'"),
        ("signature link", lambda a, b: a.s().set(link=b.s()).delay(), "a link= callback of task 'first'"),
        ("group", lambda a, b: group(a.s(), b.s()).apply_async(), "this group"),
        ("group of a generator", lambda a, b: group(s for s in (a.s(), b.s())).delay(), "this group"),
        ("chord body", lambda a, b: chord([a.s(), a.s()], b.s()).apply_async(), "this chord"),
        ("chord header", lambda a, b: chord([a.s(), b.s()], a.s()).apply_async(), "this chord"),
        ("nested", lambda a, b: chain(a.s(), group(a.s(), chain(a.s(), b.s()))).apply_async(),
         "the chain after task 'first'"),
        ("group in a chain", lambda a, b: chain(group(a.s(), a.s()), b.s()).apply_async(), "this chord"),
    ]


@pytest.mark.parametrize(("send", "where"), [case[1:] for case in _canvases()], ids=[c[0] for c in _canvases()])
def test_a_canvas_reaching_a_refused_task_is_refused_whole_before_anything_is_sent(app, send, where):
    """The refused task used to be declared only when its own turn came: the tasks before it ran, then its
    send failed inside the worker (Celery's tracer only warns) or half a group was sent."""
    shop = jobsim.App("shop")
    shop.function("greet", on="shop/greet")(lambda ctx: None)
    ran: list[str] = []

    @app.task(name="first")
    def first(*args):
        ran.append("first")
        return 1

    with jobsim.Simulation(shop, app, start=START) as sim:

        @app.task(name="greet")  # registered after the build: declared when a canvas first reaches it
        def greet(*args):
            ran.append("greet")

        refused = (f"task 'greet' in {where} is refused by the simulation, so nothing was sent: function id "
                   "'greet' is declared in app 'shop' and in app 'celery:tests'; a simulation's function ids "
                   "must be unique: rename one")
        with pytest.raises(jobsim.InvalidArgument, match=re.escape(refused)):
            send(first, greet)
        sim.run_until_idle()
        assert [r.kind for r in sim.trace if r.kind.startswith("celery.")] == []
        assert app.backend._data == {}  # nothing stored: no result, no chord counter
        assert all("greet" not in rt.functions for rt in sim.celery.apps)
    assert ran == [] and sim.runs("first") == [] and sim.runs("greet") == []


def test_a_canvas_of_tasks_registered_inside_the_simulation_runs_whole(app):
    """Declaring a canvas's tasks at its first send changes nothing for tasks the simulation accepts."""
    with jobsim.Simulation(app, start=START) as sim:

        @app.task(name="double")
        def double(x):
            return 2 * x

        @app.task(name="total")
        def total(xs):
            return sum(xs)

        result = chain(double.s(1), group(double.s(), double.s()), total.s()).apply_async()
        sim.run_until_idle()
        assert result.get() == 8
        assert [len(sim.runs(name)) for name in ("double", "total")] == [3, 1]
    assert not any(hasattr(cls.apply_async, "__wrapped__") for cls in (group, chord))  # unwrapped when it closes
