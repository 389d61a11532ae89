"""The order of a Celery app's tasks in the simulation, and `jobsim run`'s table of them."""

from __future__ import annotations

import jobsim
from jobsim._cli import summary

START = "2025-03-01T00:00:00Z"


def _tasks(app):
    @app.task(name="shop.send_receipt")
    def send_receipt():
        return 1

    @app.task(name="billing.charge")
    def charge():
        return 2

    return send_receipt, charge


def test_the_app_s_tasks_come_first_by_name_then_celery_s_own(app):
    # Celery registers its own tasks (and @shared_task ones) from a set of callbacks, whose order changes from process
    # to process: app.tasks' order interleaves them with the app's. The simulation's order is the same in every process.
    _tasks(app)
    with jobsim.Simulation(app, start=START) as sim:
        ids = list(sim.functions)
    assert ids[:2] == ["billing.charge", "shop.send_receipt"]
    assert ids[2:] == sorted(ids[2:]) and all(fn_id.startswith("celery.") for fn_id in ids[2:])
    assert "celery.chord_unlock" in ids and "celery.backend_cleanup" in ids


def test_jobsim_run_s_table_leaves_out_celery_s_own_tasks_unless_they_ran(app):
    send_receipt, _ = _tasks(app)
    with jobsim.Simulation(app, start=START) as sim:
        send_receipt.delay()
        app.tasks["celery.backend_cleanup"].delay()
        sim.run_until_idle()
        table = summary(sim)
    functions = [line.split()[0] for line in table.splitlines()[2:-2]]
    # the app's tasks always (billing.charge never ran), Celery's own only when they ran
    assert functions == ["billing.charge", "shop.send_receipt", "celery.backend_cleanup"]
    assert "celery.chord_unlock" not in table


def test_a_task_registered_inside_the_simulation_comes_after_celery_s_own_as_the_readme_says(app):
    _tasks(app)
    with jobsim.Simulation(app, start=START) as sim:
        @app.task(name="audit.log")
        def log():
            return 3

        log.delay()
        sim.run_until_idle()
        ids = list(sim.functions)
    assert ids[:2] == ["billing.charge", "shop.send_receipt"] and ids[-1] == "audit.log"
    assert all(fn_id.startswith("celery.") for fn_id in ids[2:-1])
