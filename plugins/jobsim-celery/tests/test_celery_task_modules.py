"""Tasks a real worker knows although the test never imported them, or registered after the Simulation was built.

``celery worker`` and ``celery beat`` call ``app.loader.init_worker()`` as they start
(``celery/worker/worker.py``, ``celery/apps/beat.py``), which imports the modules of
``include``/``imports`` and sends ``import_modules``, on which ``autodiscover_tasks``
imports each package's ``tasks`` module (``celery/loaders/base.py:
import_default_modules``). A test that sends those tasks by name must see them run.
"""

from __future__ import annotations

import sys
import textwrap

import celery
import jobsim_celery
import pytest

import jobsim

START = "2025-03-01T00:00:00Z"


@pytest.fixture
def package(tmp_path, monkeypatch):
    """Write a throwaway package of task modules on sys.path; forget its modules afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(name: str, source: str) -> None:
        path = tmp_path.joinpath(*name.split("."))
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(tmp_path).parents:
            if parent.parts:
                tmp_path.joinpath(parent, "__init__.py").touch()
        path.with_suffix(".py").write_text(textwrap.dedent(source))
        written.append(name.split(".")[0])

    yield write
    for name in list(sys.modules):
        if name.split(".")[0] in written:
            del sys.modules[name]


def test_tasks_of_include_modules_run_as_on_a_worker(package):
    package("billing_include.tasks", """
        import billing_include.app as m
        @m.app.task(shared=False)
        def charge(amount):
            return amount * 2
    """)
    package("billing_include.app", """
        import celery
        app = celery.Celery("billing", broker="redis://127.0.0.1:1/0", backend="redis://127.0.0.1:1/1",
                            include=["billing_include.tasks"], set_as_current=False)
    """)
    from billing_include.app import app  # the tasks module is not imported by the test

    with jobsim.Simulation(app, start=START) as sim:
        result = app.send_task("billing_include.tasks.charge", (21,))
        sim.run_until_idle()
        assert result.state == "SUCCESS" and result.get() == 42
        assert [r.status for r in sim.runs("billing_include.tasks.charge")] == ["completed"]


def test_autodiscovered_shared_tasks_run_as_on_a_worker(package):
    package("shop_auto.orders.tasks", """
        from celery import shared_task
        @shared_task
        def ship(order):
            return f"shipped {order}"
    """)
    state = celery._state  # type: ignore[attr-defined]
    finalizers, current = set(state._on_app_finalizers), state._tls.current_app
    # current: the shared task binds to it
    app = celery.Celery("shop_auto", broker="redis://127.0.0.1:1/0", backend="redis://127.0.0.1:1/1")
    app.autodiscover_tasks(["shop_auto.orders"])
    try:
        with jobsim.Simulation(app, start=START) as sim:
            result = app.send_task("shop_auto.orders.tasks.ship", ("o-1",))
            sim.run_until_idle()
            assert result.get() == "shipped o-1"
    finally:  # a shared task joins every app finalized later in the process: keep it to this test
        state._on_app_finalizers.clear()
        state._on_app_finalizers.update(finalizers)
        state._set_current_app(current)


def test_a_task_registered_inside_the_simulation_runs_and_is_listed(app):
    with jobsim.Simulation(app, start=START) as sim:
        early = app.send_task("late.greet", ("ada",), countdown=5)  # sent by name before its module is imported

        @app.task(name="late.greet", bind=True, autoretry_for=(OSError,), retry_backoff=2, retry_jitter=False)
        def greet(self, who):
            if self.request.retries == 0:
                raise OSError("smtp down")
            return f"hi {who}"

        now = greet.delay("bob")
        sim.run_until_idle()
        assert early.get() == "hi ada" and now.get() == "hi bob"
        runs = sim.runs(greet)
        assert [r.id for r in runs] == [now.id, early.id]  # the one sent first got its run when it arrived
        assert [[a.number for a in r.attempts] for r in runs] == [[0, 1], [0, 1]]
        assert [a.started_at.second for a in runs[1].attempts] == [5, 7]


def test_a_name_no_module_registers_is_still_discarded_as_unregistered(app):
    """As ``Consumer.on_unknown_task``: NotRegistered stored, and ``task_unknown`` sent (it was not)."""
    from celery.signals import task_unknown

    unknown = []

    def on_unknown(sender=None, name=None, id=None, exc=None, message=None, **kwargs):
        unknown.append((name, id, repr(exc), message.headers["task"]))

    task_unknown.connect(on_unknown, weak=False)
    try:
        with jobsim.Simulation(app, start=START) as sim:
            result = app.send_task("reports.nighlty")
            with pytest.warns(jobsim_celery.CeleryUnregisteredTaskWarning, match="task 'reports.nighlty'"):
                sim.run_until_idle()
            assert result.state == "FAILURE" and type(result.result).__name__ == "NotRegistered"
            assert "received unregistered task 'reports.nighlty': message discarded" in sim.timeline()
    finally:
        task_unknown.disconnect(on_unknown)
    assert unknown == [("reports.nighlty", result.id, "KeyError('reports.nighlty')", "reports.nighlty")]


def test_a_task_a_task_sends_by_name_before_its_module_is_imported_is_named_after_its_sender(app):
    # its run is made when the message arrives: it is still the sender's, not a call of the test's (apply_async),
    # which a replay's note would tell the user to make again in jobsim_setup
    @app.task(name="shop.order")
    def order():
        app.send_task("late.receipt")

        @app.task(name="late.receipt")
        def receipt():
            return "sent"

    with jobsim.Simulation(app, start=START) as sim:
        order.delay()
        sim.run_until_idle()
        starts = [(d["function"], d["event"]) for _, kind, d in sim.trace._rows if kind == "run.start"]
        assert starts == [("shop.order", "apply_async"), ("late.receipt", "shop.order#1")]
        assert sim.runs("late.receipt")[0]._cause is sim.runs(order)[0]  # counted in its chain (max_chain)
