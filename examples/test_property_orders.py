"""§3.3 ``process-order``, property-based: whatever fails, no order's stock is reserved twice.

Each example is a fresh shop with a little stock and a few orders arriving within a
minute — some delivered twice, as a retried webhook does — while a drawn failure
pattern breaks the six steps, the compensation steps and the function body with
retried errors, ``NonRetriableError`` and ``RetryAfterError``. Whatever happens:

* each order line is reserved at most once, and stock is conserved (what is held is
  exactly what the orders still holding it asked for);
* a cancelled order holds nothing;
* each order gets at most one confirmation, and exactly one if its run completed;
* every retry waited what the policy says.

This property found a real race in the seed's flow: two runs of a duplicated
``order/placed`` both validated the PENDING order, then both reserved its stock.
The shop now claims the order in the same write as the reservation.
"""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

import jobsim
from examples.shop import Shop, build_shop
from examples.support import START, T0, Storefront
from examples.traffic import third_parties
from jobsim import invariants
from jobsim import strategies as js

HTTP = httpx.Client(timeout=30)  # one TLS context for every example's shop
STOCK = 4
VARIANTS = ("var_tee", "var_mug", "var_ebook_DIGITAL")
PLACES = {
    "process-order": [
        "validate-order", "reserve-inventory", "update-order-status", "send-confirmation-email",
        "trigger-fulfillment", "update-analytics", "release-inventory", "cancel-order", None,
    ]
}  # fmt: skip


def order(number: int, lines: list[tuple[str, int]]) -> dict[str, Any]:
    items = [{"productId": f"prod_{v.split('_')[1]}", "variantId": v, "quantity": q, "price": 10.0} for v, q in lines]
    return {"orderId": f"ord_{number}", "userId": "user_ada", "currency": "USD", "items": items,
            "amount": 10.0 * sum(q for _, q in lines)}  # fmt: skip


def placed(number: int, lines: list[tuple[str, int]], at: Any, duplicate_after: Any) -> list[tuple[Any, str, Any]]:
    """One order's story: placed at ``at``, and delivered again ``duplicate_after`` later."""
    data = order(number, lines)
    story = [(at, "order/placed", data)]
    if duplicate_after is not None:
        story.append((at + duplicate_after, "order/placed", data))
    return story


lines = st.lists(st.tuples(st.sampled_from(VARIANTS), st.integers(1, 3)), min_size=1, max_size=2,
                 unique_by=lambda line: line[0])  # fmt: skip
stories = st.lists(
    st.builds(placed, st.integers(1, 3), lines, js.durations(0, "1m"), st.none() | js.durations(0, "3s")),
    min_size=1, max_size=3, unique_by=lambda story: story[0][2]["orderId"],
)  # fmt: skip
order_streams = stories.map(lambda all_: js.EventStream.at(event for story in all_ for event in story))


def open_shop() -> Shop:
    shop = build_shop(http=HTTP)
    shop.db.add_user("user_ada", "ada@example.com", "Ada Lovelace", created_at=T0)
    for variant in VARIANTS:
        shop.db.stock(variant, STOCK)
    return shop


def check_orders(sim: jobsim.Simulation, shop: Shop) -> None:
    db = shop.db
    reservations = [m for m in db.inventory_movements if m["type"] == "RESERVATION"]
    invariants.at_most_once(reservations, key=lambda m: (m["referenceId"], m["variantId"]), what="reservation")
    released = {(m["referenceId"], m["variantId"]) for m in db.inventory_movements if m["type"] == "RELEASE"}
    held = [m for m in reservations if (m["referenceId"], m["variantId"]) not in released]
    for variant in VARIANTS:
        row = db.inventory[(variant, "default")]
        assert row["available"] + row["reserved"] == STOCK, row
        assert row["reserved"] == sum(m["quantity"] for m in held if m["variantId"] == variant), (row, held)
    assert not [m for m in held if db.orders[m["referenceId"]]["status"] == "CANCELLED"], held

    confirmations = [m for m in sim.mail.outbox if m.subject.startswith("Order Confirmation #")]
    completed = {run.event.data["orderId"] for run in sim.runs("process-order") if run.status == "completed"}
    by_order = invariants.at_most_once(confirmations, key=lambda m: m.subject.split("#")[1], what="confirmation")
    assert completed <= set(by_order), (completed, sorted(by_order))
    invariants.retries_respect_policy(sim, "process-order")


@settings(deadline=None)
@given(data=st.data(), history=js.histories(events=order_streams, failures=js.failure_patterns(PLACES)))
def test_no_order_reserves_its_stock_twice_whatever_fails(data: st.DataObject, history: js.History) -> None:
    shop = open_shop()
    sim = data.draw(js.simulations(shop.app, start=START), label="sim")
    with sim:
        third_parties(sim)
        history.apply(sim, send=Storefront(shop).send, targets="shop.app")
        check_orders(sim, shop)
