"""TriggerWarning: events sent under a name that differs from a trigger only by case are named when a simulation closes.

Inngest compares event names exactly (``EventTrigger.MatchesAnyPattern``), so ``on="user.Signup"`` never runs
for ``"user.signup"``: the simulation keeps that, and only the warning is new (it was silent).
"""

from __future__ import annotations

import warnings
from typing import Any

import jobsim

START = "2025-03-01T00:00:00Z"


def closed(app: jobsim.App, *names: str) -> tuple[list[str], dict[str, int]]:
    """The TriggerWarning messages closing a simulation that sent ``names`` gives, and each function's run count."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with jobsim.Simulation(app, start=START) as sim:
            for name in names:
                sim.send(name)
            sim.run_until_idle()
    runs = {fn: len(sim.runs(fn)) for fn in app.functions}
    return [str(w.message) for w in caught if w.category is jobsim.TriggerWarning], runs


def app_on(**triggers: str) -> jobsim.App:
    app = jobsim.App("a")
    for function_id, trigger in triggers.items():
        app.function(function_id, on=trigger)(lambda ctx: None)
    return app


def test_a_trigger_no_event_matched_but_for_case_is_named_with_the_name_sent() -> None:
    messages, runs = closed(app_on(welcome="user.Signup"), "user.signup", "user.signup")
    assert messages == [
        "function 'welcome' listens to 'user.Signup', which matched no event sent, while 2 events named "
        "'user.signup' were sent, which it matches but for case: event names match exactly, case "
        "included, so it never ran for them; write on='user.signup' (or send 'user.Signup')"
    ]
    assert runs == {"welcome": 0}  # exact matching is kept, as on Inngest


def test_of_two_functions_whose_triggers_differ_by_case_the_one_that_never_ran_is_named() -> None:
    messages, runs = closed(app_on(audit="user.signup", welcome="user.Signup"), "user.signup")
    assert messages == [
        "function 'welcome' listens to 'user.Signup', which matched no event sent, while 1 event named "
        "'user.signup' was sent, which it matches but for case: event names match exactly, case "
        "included, so it never ran for it; write on='user.signup' (or send 'user.Signup')"
    ]
    assert runs == {"audit": 1, "welcome": 0}


def test_a_name_sent_that_started_nothing_but_for_case_is_named_with_the_trigger() -> None:
    messages, runs = closed(app_on(charge="order/placed"), "order/placed", "Order/placed")
    assert messages == [
        "1 event named 'Order/placed' was sent and started no function, while function 'charge' listens to "
        "'order/placed', which matches it but for case: event names match exactly, case included; "
        "send 'order/placed' (or add on='Order/placed' to the function)"
    ]
    assert runs == {"charge": 1}


def test_a_wildcard_trigger_that_matches_but_for_case_is_named_too() -> None:
    messages, runs = closed(app_on(etl="App/*"), "app/user.created")
    assert messages == [
        "function 'etl' listens to 'App/*', which matched no event sent, while 1 event named 'app/user.created' was "
        "sent, which it matches but for case: event names match exactly, case included, so it never ran "
        "for it; write on='app/*' (or send 'App/user.created')"
    ]
    assert runs == {"etl": 0}


def test_names_that_each_reach_a_listener_and_unrelated_names_do_not_warn() -> None:
    app = app_on(audit="user.signup", welcome="user.Signup", etl="app/*", receipt="cart/paid")

    @app.function("checkout", on="cart/opened")
    def checkout(ctx: Any) -> None:
        ctx.step.wait_for_event("paid", event="Cart/paid", timeout="1h")

    messages, runs = closed(app, "user.signup", "user.Signup", "app/x", "cart/opened", "cart/paid", "Cart/paid",
                            "other/thing")
    assert messages == []  # 'Cart/paid' started no function, but a wait listened for it
    assert runs == {"audit": 1, "welcome": 1, "etl": 1, "receipt": 1, "checkout": 1}


def test_a_function_listening_to_both_spellings_is_not_said_never_to_have_run() -> None:
    # what the second message advises ("or add on='Order/placed' to the function"), done
    messages, runs = closed(app_on(charge=["order/placed", "Order/placed"]), "order/placed")  # type: ignore[arg-type]
    assert runs == {"charge": 1}
    assert messages == []
