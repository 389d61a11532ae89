"""§3.5 ``send-cart-abandonment-reminder``: a reminder 24 h later, unless the cart completes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import jobsim
from examples.shop import Shop
from examples.shop.core import js_number
from examples.shop.db import iso
from examples.support import T0, at, mail, only, step_times

ITEMS = [
    {"productId": "prod_tee", "name": "Organic Cotton Tee", "price": 24.0},
    {"productId": "prod_mug", "name": "Stoneware Mug", "price": 18.5},
]


def cart(cart_id: str = "cart_1", abandoned_at: dt.datetime = T0) -> dict[str, Any]:
    return {
        "cartId": cart_id,
        "userId": "user_ada",
        "items": ITEMS,
        "abandonedAt": iso(abandoned_at),
    }


REMINDER_STEPS = ["wait-24-hours", "check-cart-status", "get-user-email", "send-reminder-email"]
"""The steps of a reminder that goes out, in order."""


@pytest.fixture(autouse=True)
def ada(shop: Shop) -> None:
    shop.db.add_user("user_ada", "ada@example.com", "Ada Lovelace", created_at=T0)


def test_reminder_goes_out_exactly_24h_later(shop: Shop, sim: jobsim.Simulation) -> None:
    shop.storefront(sim, "cart/abandoned", cart())
    sim.advance("23h59m59s")
    assert mail(sim, "Did you forget something?") == []
    assert only(sim.runs("send-cart-abandonment-reminder")).status == "waiting"
    sim.advance("1s")

    run = only(sim.runs("send-cart-abandonment-reminder"))
    assert list(run.steps) == REMINDER_STEPS
    assert run.steps["wait-24-hours"].output is None
    assert (run.status, run.finished_at) == ("completed", at(hours=24))
    email = only(mail(sim, "Did you forget something?"))
    assert (email.to, email.sent_at) == (["ada@example.com"], at(hours=24))
    assert email.text == (
        "Hi Ada Lovelace, you left 2 item(s) in your cart:\n"
        "- Organic Cotton Tee ($24)\n- Stoneware Mug ($18.5)\n"
        "Total: $42.50\nhttps://shop.example.com/cart/cart_1"
    )
    assert run.output == {
        "success": True,
        "cartId": "cart_1",
        "userId": "user_ada",
        "reminderSentAt": "2025-03-04T00:00:00.000Z",
        "itemsCount": 2,
    }


def test_the_reminder_is_due_24h_after_abandoned_at_not_after_the_event(
    shop: Shop, sim: jobsim.Simulation
) -> None:
    """The seed sleeps until ``abandonedAt`` + 24 h: a late webhook does not push the reminder back."""
    sim.advance("2h")
    shop.storefront(sim, "cart/abandoned", cart(abandoned_at=T0))
    sim.advance("21h59m59s")
    assert mail(sim, "Did you forget something?") == []
    sim.advance("1s")

    run = only(sim.runs("send-cart-abandonment-reminder"))
    assert (run.started_at, run.status, run.finished_at) == (at(hours=2), "completed", at(hours=24))
    assert only(mail(sim, "Did you forget something?")).sent_at == at(hours=24)


def test_a_webhook_later_than_24h_reminds_at_once(shop: Shop, sim: jobsim.Simulation) -> None:
    """``sleepUntil`` a time already past returns at once; so does the wait here."""
    sim.advance("30h")
    shop.storefront(sim, "cart/abandoned", cart(abandoned_at=T0))
    sim.run_until_idle()

    run = only(sim.runs("send-cart-abandonment-reminder"))
    assert list(run.steps) == REMINDER_STEPS
    assert (run.status, run.finished_at) == ("completed", at(hours=30))
    assert only(mail(sim, "Did you forget something?")).sent_at == at(hours=30)


def test_cart_completed_before_the_reminder_sends_nothing(
    shop: Shop, sim: jobsim.Simulation
) -> None:
    shop.storefront(sim, "cart/abandoned", cart())
    sim.advance("3h")
    shop.storefront(
        sim, "cart/completed", {"cartId": "cart_1", "userId": "user_ada", "orderId": "ord_1"}
    )
    sim.advance("3d")

    run = only(sim.runs("send-cart-abandonment-reminder"))
    assert (run.status, run.finished_at) == ("completed", at(hours=3))
    assert run.output == {"skipped": True, "reason": "cart_completed"}
    assert list(run.steps) == ["wait-24-hours"]
    assert run.steps["wait-24-hours"].output["data"]["cartId"] == "cart_1"
    assert mail(sim, "Did you forget something?") == []


def test_another_cart_completing_does_not_stop_the_reminder(
    shop: Shop, sim: jobsim.Simulation
) -> None:
    shop.storefront(sim, "cart/abandoned", cart("cart_1"))
    sim.advance("1h")
    sim.send("cart/completed", {"cartId": "cart_2", "userId": "user_ada"})
    sim.advance("1d")

    assert only(mail(sim, "Did you forget something?")).sent_at == at(hours=24)


def test_a_completion_without_event_is_caught_by_the_status_check(
    shop: Shop, sim: jobsim.Simulation
) -> None:
    """The seed's check of the cart's status still runs after the wait times out."""
    shop.storefront(sim, "cart/abandoned", cart())
    sim.advance("2h")
    shop.db.carts["cart_1"]["status"] = "COMPLETED"  # completed by a path that sent no event
    sim.advance("1d")

    run = only(sim.runs("send-cart-abandonment-reminder"))
    assert list(run.steps) == ["wait-24-hours", "check-cart-status"]
    assert (run.output, run.finished_at) == (
        {"skipped": True, "reason": "cart_completed"},
        at(hours=24),
    )
    assert mail(sim, "Did you forget something?") == []


def test_two_abandoned_carts_get_one_reminder_each(shop: Shop, sim: jobsim.Simulation) -> None:
    shop.storefront(sim, "cart/abandoned", cart("cart_1"))
    sim.advance("90m")
    shop.storefront(sim, "cart/abandoned", cart("cart_2", abandoned_at=at(minutes=90)))
    sim.advance("2d")

    reminders = mail(sim, "Did you forget something?")
    assert [(m.sent_at, m.text.splitlines()[-1]) for m in reminders] == [
        (at(hours=24), "https://shop.example.com/cart/cart_1"),
        (at(hours=25, minutes=30), "https://shop.example.com/cart/cart_2"),
    ]


def test_the_seeds_three_attempts_retry_on_inngests_backoff_table(
    shop: Shop, sim: jobsim.Simulation
) -> None:
    """``retries: { attempts: 3 }`` and no backoff: Inngest's table, 15 s then 30 s, each + U[0, 30 s)."""
    sim.fail("send-cart-abandonment-reminder", step="get-user-email", times=5)
    shop.storefront(sim, "cart/abandoned", cart())
    sim.advance("25h")

    run = only(sim.runs("send-cart-abandonment-reminder"))
    first, second, third = step_times(run, "get-user-email")
    assert first == at(hours=24)
    assert dt.timedelta(seconds=15) <= second - first < dt.timedelta(seconds=45)
    assert dt.timedelta(seconds=30) <= third - second < dt.timedelta(seconds=60)
    assert all((t - first) % dt.timedelta(milliseconds=1) == dt.timedelta(0) for t in (second, third))
    assert (run.status, run.finished_at) == ("failed", third)
    assert mail(sim, "Did you forget something?") == []


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (24.0, "24"),
        (18.5, "18.5"),
        (7, "7"),
        (-0.0, "0"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e-5, "0.00001"),
        (1e-6, "0.000001"),
        (1.5e-7, "1.5e-7"),
        (1e21, "1e+21"),
        (123456789012345680000.0, "123456789012345680000"),
        (float("nan"), "NaN"),
        (float("-inf"), "-Infinity"),
    ],
)
def test_prices_are_written_as_javascript_writes_numbers(value: float, text: str) -> None:
    """The seed's ``${item.price}``: ``String(24)`` is ``"24"``, where Python's ``str(24.0)`` is ``"24.0"``."""
    assert js_number(value) == text
