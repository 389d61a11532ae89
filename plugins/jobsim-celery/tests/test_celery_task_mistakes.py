"""Mistakes in an app's ``@app.task`` decorations, refused as the simulation is built, and a message of a task
the app does not register, warned about as the worker discards it."""

from __future__ import annotations

import re
import warnings

import pytest
from jobsim_celery import CeleryUnregisteredTaskWarning

import jobsim
from jobsim.errors import InvalidArgument

START = "2025-03-01T00:00:00Z"

HERE = __name__


def test_two_functions_under_one_task_name_are_refused_naming_both(app):
    @app.task(name="emails.send")
    def send_welcome(to):
        return f"welcome {to}"

    @app.task(name="emails.send")
    def send_receipt(to):
        return f"receipt {to}"

    where = f"{HERE}:test_two_functions_under_one_task_name_are_refused_naming_both.<locals>"
    with pytest.raises(InvalidArgument) as info:
        jobsim.Simulation(app, start=START)
    assert str(info.value) == (
        f"Celery task name 'emails.send' is registered by two functions, {where}.send_welcome and "
        f"{where}.send_receipt: Celery keeps one (the first its lazy registration evaluates, an order that can "
        "change between runs) and runs its body for both, with only a DuplicateTaskNameWarning. Give each its own "
        "name= in @app.task")  # fmt: skip


def test_a_duplicate_name_on_an_app_finalized_earlier_is_refused_too(app):
    @app.task(name="emails.send")
    def send_welcome(to):
        return to

    app.finalize()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Celery's DuplicateTaskNameWarning, at the decoration now

        @app.task(name="emails.send")
        def send_receipt(to):
            return to

    with pytest.raises(InvalidArgument, match=r"^Celery task name 'emails\.send' is registered by two functions, "
                       rf"{HERE}:.*\.send_welcome and another function, decorated after the app was finalized "
                       r"\(Celery's DuplicateTaskNameWarning names it\): "):  # fmt: skip
        jobsim.Simulation(app, start=START)


def test_a_task_of_an_app_built_again_is_refused_saying_shared_false_not_another_name():
    """A function that builds a fresh app (a ``jobsim.Scenario``'s ``build()``, once per profile) with the default
    ``@app.task(shared=True)``: the first build's task joins the second app too, both ``build.<locals>.bill``. The
    message said "Give each its own name=", which cannot help (it is one function, made twice): the real cause and
    fix are said now -- ``shared=False``, or one app -- in whichever order Celery registered the two."""
    import celery
    from celery import _state

    def build():
        app = celery.Celery("t", broker="redis://127.0.0.1:1/0", backend="redis://127.0.0.1:1/1",
                            set_as_current=False)  # fmt: skip

        @app.task(name="t.bill")
        def bill():
            return "billed"

        return app

    before = set(_state._on_app_finalizers)
    try:
        with jobsim.Simulation(build(), start=START):
            pass
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Celery's DuplicateTaskNameWarning, as the second app is finalized
            with pytest.raises(InvalidArgument) as info:
                jobsim.Simulation(build(), start=START)
    finally:
        _state._on_app_finalizers.intersection_update(before)
    where = f"{HERE}:test_a_task_of_an_app_built_again_is_refused_saying_shared_false_not_another_name.<locals>"
    assert str(info.value) == (
        f"Celery task name 't.bill' is registered by two functions, both {where}.build.<locals>.bill: the same "
        "function made again (a function that builds a fresh Celery app, such as a jobsim.Scenario's build(), "
        "called once per profile), and @app.task's default shared=True adds the task of every app built before to "
        "each later one (connect_on_app_finalize). Celery keeps one (the first registered, in an order that can "
        "change between runs) and runs its body -- with the state its own call captured -- for both, with only a "
        "DuplicateTaskNameWarning. Decorate with @app.task(shared=False), or build the app once")  # fmt: skip


def test_a_shared_task_of_another_app_under_the_same_name_is_named_as_shared(app):
    """Two different functions under one name, one of them a shared task of another app: both are named, and why
    the other app's is here at all."""
    import celery
    from celery import _state

    before = set(_state._on_app_finalizers)
    try:
        other = celery.Celery("other", set_as_current=False)

        @other.task(name="emails.send")
        def send_receipt(to):
            return to

        @app.task(name="emails.send")
        def send_welcome(to):
            return to

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(InvalidArgument) as info:
                jobsim.Simulation(app, start=START)
    finally:
        _state._on_app_finalizers.intersection_update(before)
    where = f"{HERE}:test_a_shared_task_of_another_app_under_the_same_name_is_named_as_shared.<locals>"
    assert str(info.value) == (
        f"Celery task name 'emails.send' is registered by two functions, {where}.send_receipt and {where}."
        "send_welcome, one a shared task of another app (@app.task's default shared=True, or @shared_task, adds it "
        "to every app finalized later): Celery keeps one (the first its lazy registration evaluates, an order that "
        "can change between runs) and runs its body for both, with only a DuplicateTaskNameWarning. Give each its "
        "own name= in @app.task")  # fmt: skip


def test_near_misses_of_task_options_are_refused_with_the_option_meant(app):
    @app.task(name="b", bind=True, max_retry=3, retry_backof=5, tenant="acme")  # tenant: a custom attribute
    def b(self):
        return 1

    with pytest.raises(InvalidArgument) as info:
        jobsim.Simulation(app, start=START)
    assert str(info.value) == (
        f"Celery task 'b' ({HERE}:test_near_misses_of_task_options_are_refused_with_the_option_meant.<locals>.b) "
        "has options Celery does not know, close to its own: max_retry=3 (did you mean 'max_retries'?), "
        "retry_backof=5 (did you mean 'retry_backoff'?). Celery keeps an unknown option as a custom task attribute "
        "and nothing reads it (a misspelt retry option means no retries); spell it as Celery does, or give a custom "
        "attribute a name not so close to one")  # fmt: skip


def test_an_option_in_another_case_or_one_typo_away_is_refused_too(app):
    @app.task(name="d", maxRetries=3, defaultRetryDelay=5, rate_limt="1/s")  # inngest-py's or BullMQ's spelling
    def d():
        return 1

    with pytest.raises(InvalidArgument, match=r"maxRetries=3 \(did you mean 'max_retries'\?\), defaultRetryDelay=5 "
                       r"\(did you mean 'default_retry_delay'\?\), rate_limt='1/s' \(did you mean 'rate_limit'\?\)"):
        jobsim.Simulation(app, start=START)


def test_custom_task_attributes_are_accepted(app):
    @app.task(name="c", bind=True, tenant="acme", max_retries=2, retry_backoff=5, autoretry_for=[ValueError])
    def c(self):
        return self.tenant

    with jobsim.Simulation(app, start=START) as sim:
        result = c.delay()
        sim.run_until_idle()
        assert result.get() == "acme"


@pytest.mark.parametrize(("key", "value", "fix"), [
    ("autoretry_for", ConnectionError, "a tuple: autoretry_for=(ConnectionError,)"),
    ("dont_autoretry_for", "ValueError", "a tuple of exception classes"),
    ("autoretry_for", (ConnectionError, "x"), "a tuple of exception classes"),
])  # fmt: skip
def test_autoretry_for_not_a_tuple_of_exceptions_is_refused_naming_the_task(app, key, value, fix):
    @app.task(name="a", **{key: value})
    def a():
        raise ConnectionError("x")

    message = (f"Celery task 'a' ({HERE}:test_autoretry_for_not_a_tuple_of_exceptions_is_refused_naming_the_task."
               f"<locals>.a): {key}={value!r} is not valid: Celery takes {fix} (it calls tuple({key}) as the app is "
               "finalized, and except-clauses catch exception classes only)")  # fmt: skip
    with pytest.raises(InvalidArgument, match=f"^{re.escape(message)}$"):
        jobsim.Simulation(app, start=START)


def test_a_misspelt_send_task_name_warns_with_the_registered_name(app):
    @app.task(name="billing.charge")
    def charge(order):
        return order

    with jobsim.Simulation(app, start=START) as sim:
        result = app.send_task("billing.chrage", args=(1,))
        with pytest.warns(CeleryUnregisteredTaskWarning) as caught:
            sim.run_until_idle()
        assert result.state == "FAILURE"
        app.send_task("billing.chrage", args=(2,))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sim.run_until_idle()  # once per task name
    assert [str(w.message) for w in caught] == [
        "Celery app 'tests' received a message of task 'billing.chrage', which it does not register: did you mean "
        "'billing.charge'? a worker discards it (\"Received unregistered task\") and its result is a NotRegistered "
        "failure, in the simulation too. Send a registered name, or pass the app that registers it to the "
        "Simulation"]  # fmt: skip
    assert caught[0].filename == __file__
