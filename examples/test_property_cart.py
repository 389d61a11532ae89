"""§3.5 cart reminder, property-based: at most one reminder per cart, never after the cart completed.

Each example abandons a few carts within two hours — some twice, as a retried
webhook does — completes some of them any time up to 30 hours later (often within a
minute of the 24-hour reminder, where the races are), and breaks the reminder's
steps with a drawn failure pattern. Whatever happens, a cart gets at most one
reminder, none after its ``cart/completed``, and every retry waits what the policy
says. (The delivery function ``send-email`` is not broken here: a reminder it is
still retrying when the cart completes is delivered late, by design.)

The seed's reminder checked the cart's status in one step and sent the email two
steps later; a failing ``get-user-email`` is retried 15-45 s later, and a cart
completed meanwhile still got its reminder. ``test_the_seeds_single_status_check_*``
keeps that variant, and pins the minimal history Hypothesis shrinks it to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import jobsim
from examples.shop import Shop, build_shop
from examples.shop.db import iso
from examples.support import START, T0, Storefront
from examples.traffic import third_parties
from jobsim import invariants
from jobsim import strategies as js

HTTP = httpx.Client(timeout=30)
REMINDER = "send-cart-abandonment-reminder"
SUBJECT = "Did you forget something?"
ITEMS = [{"productId": "prod_tee", "name": "Organic Cotton Tee", "price": 24.0}]
PLACES = {REMINDER: ["check-cart-status", "get-user-email", "send-reminder-email", None]}


def cart_story(cart: str, abandoned_at: dt.timedelta, resent_after: dt.timedelta | None,
               completed_after: dt.timedelta | None) -> list[tuple[Any, str, dict[str, Any]]]:  # fmt: skip
    """One cart: abandoned, maybe abandoned again (a retried webhook), maybe completed."""
    abandoned = {"cartId": cart, "userId": "user_ada", "items": ITEMS}
    story: list[tuple[Any, str, dict[str, Any]]] = [(abandoned_at, "cart/abandoned", abandoned)]
    if resent_after is not None:
        story.append((abandoned_at + resent_after, "cart/abandoned", abandoned))
    if completed_after is not None:
        story.append((abandoned_at + completed_after, "cart/completed", {"cartId": cart, "userId": "user_ada"}))
    return story


carts = st.lists(
    st.builds(cart_story, st.sampled_from(["cart_1", "cart_2", "cart_3"]), js.durations(0, "2h"),
              st.none() | js.durations(0, "1h"), st.none() | js.durations(0, "30h", near=["24h"])),
    min_size=1, max_size=3, unique_by=lambda story: story[0][2]["cartId"],
)  # fmt: skip
cart_streams = carts.map(lambda stories: js.EventStream.at(event for story in stories for event in story))


def open_shop() -> Shop:
    shop = build_shop(http=HTTP)
    shop.db.add_user("user_ada", "ada@example.com", "Ada Lovelace", created_at=T0)
    return shop


def cart_of(email: jobsim.Email) -> str:
    return email.text.rsplit("/", 1)[-1]  # the reminder ends with the cart's URL


def check_reminders(sim: jobsim.Simulation) -> None:
    reminders = [m for m in sim.mail.outbox if m.subject == SUBJECT]
    invariants.at_most_once(reminders, key=cart_of, what="cart reminder")
    invariants.no_email_after_event(sim, "cart/completed", key="data.cartId", email_key=cart_of, emails=reminders)
    invariants.retries_respect_policy(sim, REMINDER)


def reminder_property(make_shop: Callable[[], Shop]) -> Callable[..., None]:
    """The property, for the shop ``make_shop`` builds (the real one, or a broken variant)."""

    @given(data=st.data(), history=js.histories(events=cart_streams, failures=js.failure_patterns(PLACES)))
    def reminders_are_sent_once_and_never_after_completion(data: st.DataObject, history: js.History) -> None:
        shop = make_shop()
        sim = data.draw(js.simulations(shop.app, start=START), label="sim")
        with sim:
            third_parties(sim)
            history.apply(sim, send=Storefront(shop).send, targets="shop.app")
            check_reminders(sim)

    return reminders_are_sent_once_and_never_after_completion


test_reminders_are_sent_once_and_never_after_completion = settings(deadline=None)(reminder_property(open_shop))


# -- the seed's variant, caught and shrunk ---------------------------------------------------------------------------
def seed_variant_shop() -> Shop:
    """The shop, with the seed's reminder: the cart's status is checked once, two steps before sending."""
    shop = open_shop()
    app, db = shop.app, shop.db
    del app.functions[REMINDER]

    @app.function(REMINDER, on="cart/abandoned", retries=jobsim.Retries(attempts=3), idempotency="event.data.cartId")
    def send_cart_abandonment_reminder(ctx: Any) -> dict[str, Any]:
        cart_id, user_id = ctx.event.data["cartId"], ctx.event.data["userId"]
        if ctx.step.wait_for_event("wait-24-hours", event="cart/completed", match="data.cartId", timeout="24h"):
            return {"skipped": True, "reason": "cart_completed"}
        cart = ctx.step.run("check-cart-status", lambda: None if db.carts[cart_id]["status"] == "COMPLETED"
                            else db.carts[cart_id])  # fmt: skip
        if not cart:
            return {"skipped": True, "reason": "cart_completed"}
        user = ctx.step.run("get-user-email", lambda: {"email": db.users[user_id]["email"], "name": "Ada"})
        ctx.step.run("send-reminder-email", lambda: app.send("email/send", {
            "to": user["email"], "template": "cart_reminder", "subject": SUBJECT,
            "data": {"userName": user["name"], "itemCount": 1, "itemList": "- Organic Cotton Tee ($24)",
                     "total": "24.00", "cartUrl": f"https://shop.example.com/cart/{cart_id}"},
        }))  # fmt: skip
        return {"success": True, "reminderSentAt": iso(dt.datetime.now(dt.timezone.utc))}

    return shop


PINNED = settings(derandomize=True, database=None, deadline=None, max_examples=300,
                  phases=[Phase.generate, Phase.shrink])  # fmt: skip
"""Fixed generation and no example database: the same search, the same shrink, on every machine."""

REPRODUCTION = """\
# jobsim reproduction · seed 0 · profile inngest — paste into a test:
with jobsim.Simulation(shop.app, start='2025-03-03T00:00:00.000Z', seed=0) as sim:
    sim.fail('send-cart-abandonment-reminder', step='get-user-email')
    storefront.send(sim, jobsim.Event('cart/abandoned', {'cartId': 'cart_1', 'userId': 'user_ada', 'items': [{'productId': 'prod_tee', 'name': 'Organic Cotton Tee', 'price': 24.0}]}))
    sim.advance('1d')
    storefront.send(sim, jobsim.Event('cart/completed', {'cartId': 'cart_1', 'userId': 'user_ada'}))
    sim.run_until_idle()"""  # noqa: E501


def test_the_seeds_single_status_check_is_caught_and_shrunk_to_a_minimal_history() -> None:
    prop = PINNED(reminder_property(seed_variant_shop))
    try:
        prop()
    except invariants.Violation as error:
        caught = error
    else:
        raise AssertionError("the seed's reminder passed the property")
    headline = "no email after cart/completed: 1 email(s) sent after their key's cart/completed"
    assert str(caught).splitlines()[0] == headline
    assert REPRODUCTION in caught.__notes__


def test_the_printed_reproduction_replays_the_failure_as_a_regular_test() -> None:
    shop = seed_variant_shop()
    storefront = Storefront(shop)
    with jobsim.Simulation(shop.app, start=START, seed=0) as sim:
        third_parties(sim)
        code = REPRODUCTION.split("\n", 2)[2]  # the body of the `with` block
        exec(compile("if True:\n" + code, "<reproduction>", "exec"),
             {"jobsim": jobsim, "sim": sim, "storefront": storefront})  # fmt: skip
        reminder = [m for m in sim.mail.outbox if m.subject == SUBJECT]
        # the failed get-user-email is retried 15-45 s later: after the cart completed, at 1d exactly
        assert [m.sent_at for m in reminder] == [T0 + dt.timedelta(days=1, seconds=33, milliseconds=49)]
        try:
            check_reminders(sim)
        except invariants.Violation as error:
            assert "33s49ms after event cart/completed" in str(error)
        else:
            raise AssertionError("the reproduction did not fail the invariant")
