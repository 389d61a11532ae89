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


def test_a_name_sent_that_started_nothing_and_is_a_typo_of_a_trigger_nothing_matched_is_named() -> None:
    """``sim.send("user/sigup")``: the test saw only an empty outbox (user trial L)."""
    messages, runs = closed(app_on(welcome="user/signup", orders="order/*"), "user/sigup", "user/sigup", "order/plced")
    assert messages == [
        "2 events named 'user/sigup' were sent and started no function, while function 'welcome' listens to "
        "'user/signup', which matched no event sent: a typo? Event names match exactly; send 'user/signup' (or add "
        "on='user/sigup' to the function)"
    ]  # 'order/plced' started 'orders' (a wildcard): no typo to name
    assert runs == {"welcome": 0, "orders": 1}


def test_no_typo_is_named_when_the_trigger_was_sent_too_or_the_names_differ_more() -> None:
    app = app_on(welcome="user/signup", v1="order/v1")
    assert closed(app, "user/signup", "user/sigup")[0] == []  # the right spelling reached its listener
    assert closed(app, "user/deleted", "order/v2", "user/sgnp")[0] == []  # unlike any, a digit, two edits
    assert closed(app_on(listener="sent/b", other="user/usr"), "sent/a", "user/us")[0] == []  # in a short word


def test_a_function_listening_to_both_spellings_is_not_said_never_to_have_run() -> None:
    # what the second message advises ("or add on='Order/placed' to the function"), done
    messages, runs = closed(app_on(charge=["order/placed", "Order/placed"]), "order/placed")  # type: ignore[arg-type]
    assert runs == {"charge": 1}
    assert messages == []


# -- waits and cancellations: they match names exactly too -------------------------------------------------------
def closed_driven(app: jobsim.App, *sends: tuple[str, str, dict[str, Any]]) -> tuple[list[str], jobsim.Simulation]:
    """The TriggerWarning messages of a simulation that sends each ``(after, name, data)`` in turn, then runs idle."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with jobsim.Simulation(app, start=START) as sim:
            for after, name, data in sends:
                sim.advance(after)
                sim.send(name, data)
            sim.run_until_idle()
    return [str(w.message) for w in caught if w.category is jobsim.TriggerWarning], sim


def checkout_app(waits_for: str = "Cart/paid", match: str | None = None, *, cancel: str | None = None,
                 cancel_match: str | None = None) -> jobsim.App:  # fmt: skip
    app = jobsim.App("a")
    options: dict[str, Any] = {}
    if cancel is not None:
        options["cancel_on"] = [jobsim.Cancel(event=cancel, match=cancel_match)]

    @app.function("checkout", on="cart/opened", **options)
    def checkout(ctx: Any) -> Any:
        paid = ctx.step.wait_for_event("paid", event=waits_for, timeout="1h", match=match)
        ctx.step.sleep("settle", "2h")
        return paid is not None

    return app


OPENED = ("0s", "cart/opened", {"cart": 1})


def test_a_wait_that_timed_out_while_its_name_was_sent_but_for_case_is_named() -> None:
    messages, sim = closed_driven(checkout_app(), OPENED, ("10m", "cart/paid", {"cart": 1}),
                                  ("10m", "cart/paid", {"cart": 2}))
    assert messages == [
        "step.wait_for_event('paid', event='Cart/paid') of function 'checkout' timed out in 1 run while 2 events "
        "named 'cart/paid' were sent as it waited, which it matches but for case: event names match exactly, case "
        "included, so the wait never heard them; write event='cart/paid' (or send 'Cart/paid')"
    ]
    assert [run.output for run in sim.runs("checkout")] == [False]  # exact matching is kept


def test_the_runs_whose_wait_missed_a_name_so_are_counted_in_one_message() -> None:
    messages, _ = closed_driven(checkout_app(), OPENED, ("0s", "cart/opened", {"cart": 2}), ("10m", "cart/paid", {}))
    assert messages == [
        "step.wait_for_event('paid', event='Cart/paid') of function 'checkout' timed out in 2 runs while 1 event "
        "named 'cart/paid' was sent as it waited, which it matches but for case: event names match exactly, case "
        "included, so the wait never heard it; write event='cart/paid' (or send 'Cart/paid')"
    ]


def test_a_wait_that_heard_its_own_spelling_or_timed_out_before_the_other_is_not_named() -> None:
    resolved, sim = closed_driven(checkout_app(), OPENED, ("10m", "cart/paid", {}), ("1m", "Cart/paid", {}))
    assert (resolved, sim.runs("checkout")[0].output) == ([], True)
    after, _ = closed_driven(checkout_app(), OPENED, ("2h", "cart/paid", {}))  # sent after the timeout
    assert after == []


def test_a_wait_whose_right_spelling_arrived_but_did_not_match_is_not_named() -> None:
    # its match is why it timed out: the other spelling is no evidence then
    messages, sim = closed_driven(checkout_app(match="data.cart"), OPENED, ("10m", "Cart/paid", {"cart": 2}),
                                  ("1m", "cart/paid", {"cart": 1}))
    assert (messages, sim.runs("checkout")[0].output) == ([], False)


def test_a_run_waiting_for_both_spellings_is_not_named_for_the_one_it_did_not_need() -> None:
    app = jobsim.App("a")

    @app.function("checkout", on="cart/opened")
    def checkout(ctx: Any) -> Any:
        return ctx.step.parallel([lambda: ctx.step.wait_for_event("new", event="cart/paid", timeout="1h"),
                                  lambda: ctx.step.wait_for_event("old", event="Cart/paid", timeout="1h")])

    messages, sim = closed_driven(app, OPENED, ("10m", "cart/paid", {}))
    assert messages == []
    assert [event is None for event in sim.runs("checkout")[0].output] == [False, True]


def test_both_spellings_in_use_each_reaching_listeners_are_not_named() -> None:
    app = checkout_app()  # waits for 'Cart/paid'
    app.function("receipt", on="cart/paid")(lambda ctx: None)
    messages, _ = closed_driven(app, OPENED, ("1m", "Cart/paid", {}), OPENED, ("1m", "cart/paid", {}))
    assert messages == []
    # 'Cart/paid' never sent: 'cart/paid' reaching its own function does not explain the wait's spelling
    messages, _ = closed_driven(app, OPENED, ("1m", "cart/paid", {}))
    assert len(messages) == 1 and "write event='cart/paid' (or send 'Cart/paid')" in messages[0]


def test_a_cancellation_that_never_fired_while_its_name_was_sent_but_for_case_is_named() -> None:
    app = checkout_app(cancel="Cart/abandoned", cancel_match="data.cart")
    messages, sim = closed_driven(app, OPENED, ("0s", "cart/opened", {"cart": 2}), ("5m", "Cart/paid", {}),
                                  ("1m", "cart/abandoned", {"cart": 1}), ("1m", "cart/abandoned", {"cart": 3}))
    assert messages == [
        "1 run of function 'checkout' was not cancelled by cancel_on=Cancel(event='Cart/abandoned') while 1 event "
        "named 'cart/abandoned' was sent, which it matches but for case and meets its match: event names match "
        "exactly, case included, so it went on; write Cancel(event='cart/abandoned') (or send 'Cart/abandoned')"
    ]  # cart 3 matches no run: no evidence
    assert [run.status for run in sim.runs("checkout")] == ["completed", "completed"]


def test_a_cancellation_that_fired_or_listens_to_both_spellings_is_not_named() -> None:
    fired, sim = closed_driven(checkout_app(cancel="Cart/abandoned"), OPENED, ("1m", "cart/abandoned", {}),
                               ("1m", "Cart/abandoned", {}))
    assert (fired, sim.runs("checkout")[0].status) == ([], "cancelled")
    app = jobsim.App("a")

    @app.function("checkout", on="cart/opened", cancel_on=[
        jobsim.Cancel(event="Cart/abandoned"), jobsim.Cancel(event="cart/abandoned", match="data.cart")])
    def checkout(ctx: Any) -> None:
        ctx.step.sleep("settle", "2h")

    # its own 'cart/abandoned' cancellation heard the event and chose not to cancel (another cart)
    both, sim = closed_driven(app, OPENED, ("1m", "cart/abandoned", {"cart": 2}))
    assert (both, sim.runs("checkout")[0].status) == ([], "completed")
    ended, _ = closed_driven(checkout_app(waits_for="x", cancel="Cart/abandoned"), OPENED,
                             ("4h", "cart/abandoned", {}))  # after the run ended
    assert ended == []


def test_a_cancellation_past_its_timeout_is_not_named() -> None:
    app = jobsim.App("a")

    @app.function("checkout", on="cart/opened", cancel_on=[jobsim.Cancel(event="Cart/abandoned", timeout="10m")])
    def checkout(ctx: Any) -> None:
        ctx.step.sleep("settle", "2h")

    late, _ = closed_driven(app, OPENED, ("30m", "cart/abandoned", {}))
    assert late == []  # it had stopped listening
    early, _ = closed_driven(app, OPENED, ("5m", "cart/abandoned", {}))
    assert len(early) == 1 and "write Cancel(event='cart/abandoned') (or send 'Cart/abandoned')" in early[0]


def test_a_run_listening_to_the_other_spelling_by_a_wait_or_a_cancellation_is_not_named() -> None:
    """Both spellings in one run on purpose, across a wait and a cancellation: the function's own
    ``Cancel(event='cart/paid')`` heard the event (another cart: no cancel) while its wait for 'Cart/paid' timed
    out; a run's wait for 'cart/abandoned' heard the event its ``Cancel(event='Cart/abandoned')`` did not."""
    app = jobsim.App("a")

    @app.function("checkout", on="cart/opened", cancel_on=[jobsim.Cancel(event="cart/paid", match="data.cart")])
    def checkout(ctx: Any) -> None:
        ctx.step.wait_for_event("paid", event="Cart/paid", timeout="1h")
        ctx.step.sleep("settle", "2h")

    messages, sim = closed_driven(app, OPENED, ("10m", "cart/paid", {"cart": 2}))
    assert (messages, [run.status for run in sim.runs("checkout")]) == ([], ["completed"])
    app = jobsim.App("a")

    @app.function("checkout", on="cart/opened", cancel_on=[jobsim.Cancel(event="Cart/abandoned")])
    def checkout_waiting(ctx: Any) -> Any:
        abandoned = ctx.step.wait_for_event("abandoned", event="cart/abandoned", timeout="1h")
        ctx.step.sleep("settle", "2h")
        return abandoned is not None

    messages, sim = closed_driven(app, OPENED, ("10m", "cart/abandoned", {"cart": 1}))
    assert (messages, [run.output for run in sim.runs("checkout")]) == ([], [True])


def test_a_queued_runs_cancellation_listens_from_its_creation_not_from_its_start() -> None:
    """A run held by a throttle is created, and listens for its cancellation, when its event arrives; it starts
    an hour later. Its ``Cancel(timeout="10m")`` stopped listening 10 minutes after the event, so the other
    spelling sent after the run started is no evidence (it was named: the window ran from the start); the
    other spelling sent while it waited, queued, would have cancelled it (it was not named)."""

    def throttled(**cancel: Any) -> jobsim.App:
        app = jobsim.App("a")

        @app.function("checkout", on="cart/opened", throttle=jobsim.Throttle(1, "1h"),
                      cancel_on=[jobsim.Cancel(event="Cart/abandoned", **cancel)])  # fmt: skip
        def checkout(ctx: Any) -> None:
            ctx.step.sleep("settle", "1h")

        return app

    late, sim = closed_driven(throttled(timeout="10m"), OPENED, ("0s", "cart/opened", {"cart": 2}),
                              ("65m", "cart/abandoned", {}))
    assert (late, [run.status for run in sim.runs("checkout")]) == ([], ["completed", "completed"])
    _, sim = closed_driven(throttled(timeout="10m"), OPENED, ("0s", "cart/opened", {"cart": 2}),
                           ("65m", "Cart/abandoned", {}))
    assert [run.status for run in sim.runs("checkout")] == ["completed", "completed"]  # the spelling is not why
    queued, sim = closed_driven(throttled(match="data.cart"), OPENED, ("0s", "cart/opened", {"cart": 2}),
                                ("30m", "cart/abandoned", {"cart": 2}))
    assert queued == [
        "1 run of function 'checkout' was not cancelled by cancel_on=Cancel(event='Cart/abandoned') while 1 event "
        "named 'cart/abandoned' was sent, which it matches but for case and meets its match: event names match "
        "exactly, case included, so it went on; write Cancel(event='cart/abandoned') (or send 'Cart/abandoned')"
    ]
    first, second = sim.runs("checkout")
    assert second.start_ns - first.start_ns == 3600 * 10**9  # it waited, queued, while the event was sent
    _, sim = closed_driven(throttled(match="data.cart"), OPENED, ("0s", "cart/opened", {"cart": 2}),
                           ("30m", "Cart/abandoned", {"cart": 2}))
    assert [run.status for run in sim.runs("checkout")] == ["completed", "cancelled"]  # spelt right, it would have


def test_a_runs_cancellation_listens_only_after_its_event_and_counts_only_runs_that_were_made() -> None:
    """The other spelling sent at the run's instant but before its event is no evidence (the run did not exist
    yet); a run its idempotency key skipped never listened; a run cancelled for another reason (a singleton)
    after it missed the other spelling is named all the same."""
    sent_first, _ = closed_driven(checkout_app(waits_for="x", cancel="Cart/abandoned"), ("0s", "cart/abandoned", {}),
                                  OPENED)
    assert sent_first == []

    def sleeper(**options: Any) -> jobsim.App:
        app = jobsim.App("a")

        @app.function("checkout", on="cart/opened", cancel_on=[jobsim.Cancel(event="Cart/abandoned")], **options)
        def checkout(ctx: Any) -> None:
            ctx.step.sleep("settle", "2h")

        return app

    skipped, sim = closed_driven(sleeper(idempotency="event.data.cart"), OPENED, OPENED, ("1m", "cart/abandoned", {}))
    assert [run.status for run in sim.runs("checkout")] == ["completed", "skipped"]
    assert len(skipped) == 1 and skipped[0].startswith("1 run of function 'checkout' was not cancelled")
    replaced, sim = closed_driven(sleeper(singleton=jobsim.Singleton(mode="cancel")), OPENED,
                                  ("1m", "cart/abandoned", {}), ("1m", "cart/opened", {"cart": 2}))
    assert [run.status for run in sim.runs("checkout")] == ["cancelled", "completed"]
    assert len(replaced) == 1 and replaced[0].startswith("1 run of function 'checkout' was not cancelled")


def test_each_name_listened_for_is_named_only_with_its_own_other_spelling() -> None:
    """Two waits each miss their own other spelling, both sent in each window: each is named once, with its own;
    and a name sent that has a wait of its own, with the wait's spelling sent too, is both spellings in use."""
    app = checkout_app()  # waits for 'Cart/paid'

    @app.function("ship", on="cart/opened")
    def ship(ctx: Any) -> None:
        ctx.step.wait_for_event("shipped", event="Order/shipped", timeout="1h")

    messages, _ = closed_driven(app, OPENED, ("10m", "cart/paid", {}), ("1m", "order/shipped", {}))
    assert [message.split(" timed out")[0] for message in messages] == [
        "step.wait_for_event('paid', event='Cart/paid') of function 'checkout'",
        "step.wait_for_event('shipped', event='Order/shipped') of function 'ship'",
    ]
    assert "write event='cart/paid'" in messages[0] and "write event='order/shipped'" in messages[1]

    @app.function("refund", on="cart/refunded")
    def refund(ctx: Any) -> None:
        ctx.step.wait_for_event("paid", event="cart/paid", timeout="1h")

    # 'Cart/paid' sent before the checkout's wait, 'cart/paid' heard by the refund's while the checkout's waited
    in_use, sim = closed_driven(app, ("0s", "Cart/paid", {}), OPENED, ("1m", "cart/refunded", {}),
                                ("1m", "cart/paid", {}))
    assert [run.output for run in sim.runs("checkout")] == [False]  # it timed out
    assert not any("'Cart/paid'" in message for message in in_use)
