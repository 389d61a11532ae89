"""§3.3 ``process-order``: six steps, each with its own 5 attempts (1 s, 2 s, 4 s, 8 s)."""

from __future__ import annotations

from typing import Any

import pytest

import jobsim
from examples.shop import Shop
from examples.support import T0, at, events, mail, only, step_times

SIX_STEPS = [
    "validate-order",
    "reserve-inventory",
    "update-order-status",
    "send-confirmation-email",
    "trigger-fulfillment",
    "update-analytics",
]


def order(*items: tuple[str, int, float], order_id: str = "ord_1") -> dict[str, Any]:
    lines = [
        {"productId": f"prod_{v.split('_')[1].lower()}", "variantId": v, "quantity": q, "price": p}
        for v, q, p in items
    ]
    return {
        "orderId": order_id,
        "userId": "user_ada",
        "currency": "USD",
        "items": lines,
        "amount": round(sum(q * p for _, q, p in items), 2),
        "shippingAddress": {"line1": "12 St James's Square", "city": "London", "country": "GB"},
    }


@pytest.fixture
def stocked(shop: Shop) -> Shop:
    shop.db.add_user("user_ada", "ada@example.com", "Ada Lovelace", created_at=T0)
    shop.db.stock("var_tee", 5)
    shop.db.stock("var_mug", 2)
    shop.db.stock("var_ebook_DIGITAL", 100)
    return shop


def test_six_steps_in_order(stocked: Shop, sim: jobsim.Simulation) -> None:
    stocked.storefront(
        sim, "order/placed", order(("var_tee", 2, 24.0), ("var_ebook_DIGITAL", 1, 12.0))
    )
    sim.advance("5h")

    run = only(sim.runs("process-order"))
    assert list(run.steps) == SIX_STEPS
    assert (run.status, run.started_at, run.finished_at) == ("completed", T0, T0)
    assert run.output == {
        "success": True,
        "orderId": "ord_1",
        "stepsCompleted": [
            "validation",
            "inventory_reservation",
            "status_update",
            "confirmation_email",
            "fulfillment_triggered",
            "analytics_updated",
        ],
        "timestamp": "2025-03-03T00:00:00.000Z",
    }
    assert run.steps["validate-order"].output["inventoryChecks"] == [
        {"variantId": "var_tee", "requested": 2, "available": 5, "sufficient": True},
        {"variantId": "var_ebook_DIGITAL", "requested": 1, "available": 100, "sufficient": True},
    ]
    db = stocked.db
    assert db.inventory[("var_tee", "default")] == {
        "variantId": "var_tee",
        "available": 3,
        "reserved": 2,
        "warehouseId": "default",
    }
    assert [(m["variantId"], m["type"]) for m in db.inventory_movements] == [
        ("var_tee", "RESERVATION"),
        ("var_ebook_DIGITAL", "RESERVATION"),
    ]

    confirmation = only(mail(sim, "Order Confirmation #ord_1"))
    assert (confirmation.to, confirmation.sent_at) == (["ada@example.com"], T0)
    fulfillment = only(events(sim, "order/fulfillment/requested"))
    assert [i["variantId"] for i in fulfillment.data["items"]] == ["var_tee"]
    track = only(events(sim, "analytics/track"))
    assert track.data["properties"] == {
        "orderId": "ord_1",
        "amount": 60.0,
        "itemCount": 2,
        "orderType": "mixed",
    }

    shipped = only(sim.runs("fulfill-order"))
    assert (shipped.status, shipped.finished_at) == ("completed", at(hours=4))
    assert db.orders["ord_1"]["status"] == "COMPLETED"
    assert only(events(sim, "order/shipped")).ts == 1740960000000 + 4 * 3_600_000


def test_digital_only_order_skips_fulfillment(stocked: Shop, sim: jobsim.Simulation) -> None:
    stocked.storefront(sim, "order/placed", order(("var_ebook_DIGITAL", 1, 12.0)))
    sim.advance("1m")

    run = only(sim.runs("process-order"))
    assert list(run.steps) == [s for s in SIX_STEPS if s != "trigger-fulfillment"]
    assert events(sim, "order/fulfillment/requested") == []
    # Kept from the seed: an order with any digital item is "mixed", even an all-digital one.
    assert only(events(sim, "analytics/track")).data["properties"]["orderType"] == "mixed"


def test_each_step_retries_on_its_own_counter(stocked: Shop, sim: jobsim.Simulation) -> None:
    sim.fail("process-order", step="reserve-inventory", times=2)
    sim.fail("process-order", step="send-confirmation-email", times=1)
    stocked.storefront(sim, "order/placed", order(("var_tee", 1, 24.0)))
    sim.advance("1m")

    run = only(sim.runs("process-order"))
    assert step_times(run, "validate-order") == [at(0)]
    assert step_times(run, "reserve-inventory") == [at(0), at(1), at(3)]
    assert step_times(run, "update-order-status") == [at(3)]
    assert [a.number for a in run.steps["send-confirmation-email"].attempts] == [0, 1]
    assert step_times(run, "send-confirmation-email") == [at(3), at(4)]
    assert (run.status, run.finished_at) == ("completed", at(4))
    assert stocked.db.orders["ord_1"]["processingStartedAt"] == at(3)
    assert only(mail(sim, "Order Confirmation")).sent_at == at(4)


def test_inventory_short_retries_validation_then_cancels_the_order(
    stocked: Shop, sim: jobsim.Simulation
) -> None:
    stocked.storefront(sim, "order/placed", order(("var_tee", 1, 24.0), ("var_mug", 3, 18.5)))
    sim.advance("1h")

    run = only(sim.runs("process-order"))
    assert step_times(run, "validate-order") == [at(0), at(1), at(3), at(7), at(15)]
    assert (
        str(run.steps["validate-order"].attempts[-1].error)
        == "Insufficient inventory for items: var_mug"
    )
    assert list(run.steps) == ["validate-order", "cancel-order"]
    assert (run.status, run.finished_at) == ("failed", at(15))
    assert isinstance(run.error, jobsim.NonRetriableError)
    assert str(run.error) == "Order ord_1 cancelled: Insufficient inventory for items: var_mug"
    assert stocked.db.orders["ord_1"]["status"] == "CANCELLED"
    cancelled = only(events(sim, "order/cancelled"))
    assert cancelled.data == {
        "orderId": "ord_1",
        "userId": "user_ada",
        "refundAmount": 79.5,
        "reason": "Insufficient inventory for items: var_mug",
    }
    assert cancelled.ts == 1740960015000
    assert stocked.db.inventory[("var_mug", "default")]["available"] == 2
    assert stocked.db.inventory_movements == []
    assert mail(sim, "Order Confirmation") == []


def test_stock_arriving_between_retries_saves_the_order(
    stocked: Shop, sim: jobsim.Simulation
) -> None:
    stocked.storefront(sim, "order/placed", order(("var_mug", 3, 18.5)))
    sim.advance("2s")  # attempts at 0 s and 1 s have failed; the next is at 3 s
    stocked.db.stock("var_mug", 10)
    sim.advance("1m")

    run = only(sim.runs("process-order"))
    assert step_times(run, "validate-order") == [at(0), at(1), at(3)]
    assert (run.status, run.finished_at) == ("completed", at(3))
    assert stocked.db.inventory[("var_mug", "default")]["available"] == 9


def test_a_later_step_failing_for_good_releases_the_inventory(
    stocked: Shop, sim: jobsim.Simulation
) -> None:
    sim.fail("process-order", step="send-confirmation-email", times=5)
    stocked.storefront(sim, "order/placed", order(("var_tee", 2, 24.0)))
    sim.advance("5h")

    run = only(sim.runs("process-order"))
    assert step_times(run, "send-confirmation-email") == [at(0), at(1), at(3), at(7), at(15)]
    assert list(run.steps) == [
        "validate-order",
        "reserve-inventory",
        "update-order-status",
        "send-confirmation-email",
        "release-inventory",
        "cancel-order",
    ]
    assert (run.status, run.finished_at) == ("failed", at(15))
    db = stocked.db
    assert db.inventory[("var_tee", "default")]["available"] == 5
    assert db.inventory[("var_tee", "default")]["reserved"] == 0
    assert [m["type"] for m in db.inventory_movements] == ["RESERVATION", "RELEASE"]
    assert [h["status"] for h in db.order_status_history] == ["PROCESSING", "CANCELLED"]
    assert events(sim, "order/fulfillment/requested") == []
    assert sim.runs("fulfill-order") == []


def test_a_duplicate_order_event_does_not_cancel_the_order(
    stocked: Shop, sim: jobsim.Simulation
) -> None:
    placed = order(("var_tee", 1, 24.0))
    stocked.storefront(sim, "order/placed", placed)
    sim.advance("1m")
    sim.send("order/placed", placed)  # a retried webhook, with a new event id
    sim.advance("1m")

    first, second = sim.runs("process-order")
    assert first.status == "completed"
    assert step_times(second, "validate-order") == [at(60), at(61), at(63), at(67), at(75)]
    assert (
        str(second.error)
        == "Order ord_1 not processed: Order ord_1 is in PROCESSING state, expected PENDING"
    )
    assert second.steps["cancel-order"].output == {"cancelled": False}
    assert stocked.db.orders["ord_1"]["status"] == "PROCESSING"
    assert events(sim, "order/cancelled") == []


def test_the_analytics_event_is_posted_in_the_next_minute_batch(
    stocked: Shop, sim: jobsim.Simulation
) -> None:
    stocked.storefront(sim, "order/placed", order(("var_tee", 1, 24.0)))
    sim.advance("5m")

    post = only([c for c in sim.http.calls if c.request.url.host == "api.analytics-service.com"])
    assert post.at == at(60)
