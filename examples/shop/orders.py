"""§3.3 MULTI-STEP FUNCTION: ``process-order`` on ``order/placed``, six steps.

Each step has its own retry counter (5 attempts, exponential from 1 s, at most
10 min apart). The seed stops there: a step that keeps failing fails the run.
This port adds the compensation the seed's ``order/cancelled`` event is made for:
once a step has failed for good, ``release-inventory`` (if this run reserved any)
and ``cancel-order`` run, and the run fails without further retries. And it makes
``reserve-inventory`` one all-or-nothing write that also claims the order
(``reservedBy``): ``test_property_orders.py`` found two races in the seed's
validate-then-reserve, where the seed ignores ``updateMany``'s count. Two runs of a
duplicated ``order/placed`` both validated the PENDING order and both reserved its
stock; and concurrent orders all validated against the same stock, so the last one
was "reserved" although nothing was left (oversold).

``fulfill-order`` (not in the seed, which sends ``order/fulfillment/requested``
to no one) ships physical orders 4 hours later and marks them ``COMPLETED``, the
status the daily report counts.
"""

from __future__ import annotations

from typing import Any

import jobsim
from jobsim.errors import StepError

from .core import Shop, utcnow
from .db import iso

STEPS_COMPLETED = [
    "validation",
    "inventory_reservation",
    "status_update",
    "confirmation_email",
    "fulfillment_triggered",
    "analytics_updated",
]


def is_digital(item: dict[str, Any]) -> bool:
    return "DIGITAL" in (item.get("variantId") or "")


def register(shop: Shop) -> None:
    app, db = shop.app, shop.db

    @app.function(
        "process-order",
        on="order/placed",
        retries=jobsim.Retries(attempts=5, backoff="exponential", min="1s", max="10m"),
    )
    def process_order(ctx: Any) -> dict[str, Any]:
        event = ctx.event.data
        order_id, user_id, amount, items = (
            event["orderId"],
            event["userId"],
            event["amount"],
            event["items"],
        )

        def validate_order() -> dict[str, Any]:
            order = db.orders.get(order_id)
            if order is None:
                raise RuntimeError(f"Order {order_id} not found")
            if order["status"] != "PENDING":
                raise RuntimeError(
                    f"Order {order_id} is in {order['status']} state, expected PENDING"
                )
            checks = [
                {
                    "variantId": i.get("variantId"),
                    "requested": i["quantity"],
                    "available": db.available(i.get("variantId")),
                    "sufficient": db.available(i.get("variantId")) >= i["quantity"],
                }
                for i in items
            ]
            short = [c["variantId"] for c in checks if not c["sufficient"]]
            if short:
                raise RuntimeError(f"Insufficient inventory for items: {', '.join(short)}")
            return {"order": order, "inventoryChecks": checks, "isValid": True}

        def reserve_inventory() -> dict[str, Any]:
            # One write claims the order and reserves every line, or nothing: since
            # validate-order, a concurrent run (another order, or this order's duplicated
            # event) may have taken the stock or the order itself.
            outcome = db.reserve_order(order_id, ctx.run_id, items)
            if outcome == "taken":
                raise jobsim.NonRetriableError(f"Order {order_id} is already being processed")
            if isinstance(outcome, list):
                raise RuntimeError(f"Insufficient inventory for items: {', '.join(outcome)}")
            return {"success": True, "reservations": len(items)}

        def update_order_status() -> dict[str, Any]:
            return db.set_order_status(
                order_id, "PROCESSING", "Inventory reserved, order processing started", utcnow()
            )

        def send_confirmation_email() -> None:
            user = db.find_user(user_id)
            if not user or not user.get("email"):
                return  # the seed: "User has no email, skipping confirmation email"
            app.send(
                "email/send",
                {
                    "to": user["email"],
                    "template": "order_confirmation",
                    "subject": f"Order Confirmation #{order_id}",
                    "data": {
                        "orderId": order_id,
                        "orderDate": iso(utcnow()),
                        "amount": amount,
                        "items": items,
                        "customerName": user.get("name"),
                    },
                    "metadata": {"userId": user_id, "orderId": order_id},
                },
            )

        def trigger_fulfillment() -> None:
            app.send(
                "order/fulfillment/requested",
                {
                    "orderId": order_id,
                    "items": [i for i in items if not is_digital(i)],
                    "shippingAddress": event.get("shippingAddress"),
                },
            )

        def update_analytics() -> None:
            app.send(
                "analytics/track",
                {
                    "userId": user_id,
                    "event": "order_processed",
                    "properties": {
                        "orderId": order_id,
                        "amount": amount,
                        "itemCount": len(items),
                        # sic: the seed calls an all-digital order "mixed"
                        "orderType": "mixed" if any(is_digital(i) for i in items) else "physical",
                    },
                    "timestamp": iso(utcnow()),
                },
            )

        reserved = False
        try:
            ctx.step.run("validate-order", validate_order)
            ctx.step.run("reserve-inventory", reserve_inventory)
            reserved = True
            ctx.step.run("update-order-status", update_order_status)
            ctx.step.run("send-confirmation-email", send_confirmation_email)
            if any(not is_digital(i) for i in items):
                ctx.step.run("trigger-fulfillment", trigger_fulfillment)
            ctx.step.run("update-analytics", update_analytics)
        except StepError as exc:
            cancelled = compensate(ctx, shop, event, reserved=reserved, reason=str(exc.error))
            outcome = "cancelled" if cancelled else "not processed"
            raise jobsim.NonRetriableError(f"Order {order_id} {outcome}: {exc.error}") from exc
        return {
            "success": True,
            "orderId": order_id,
            "stepsCompleted": STEPS_COMPLETED,
            "timestamp": iso(utcnow()),
        }

    @app.function("fulfill-order", on="order/fulfillment/requested")
    def fulfill_order(ctx: Any) -> dict[str, Any] | None:
        order_id = ctx.event.data["orderId"]
        ctx.step.sleep("wait-for-carrier-pickup", "4h")

        def mark_shipped() -> dict[str, Any] | None:
            if db.orders[order_id]["status"] == "CANCELLED":
                return None
            db.set_order_status(order_id, "COMPLETED", "Shipped", utcnow())
            shipped = {
                "orderId": order_id,
                "trackingNumber": f"1Z{order_id.upper()[-10:]}",
                "carrier": "UPS",
                "shippedAt": iso(utcnow()),
            }
            app.send("order/shipped", shipped)
            return shipped

        return ctx.step.run("mark-shipped", mark_shipped)


def compensate(ctx: Any, shop: Shop, event: dict[str, Any], *, reserved: bool, reason: str) -> bool:
    """Undo what this run did, then tell everyone: ``order/cancelled``. Whether it cancelled."""
    db, order_id = shop.db, event["orderId"]

    def release_inventory() -> int:
        for item in event["items"]:
            db.release(item.get("variantId"), item["quantity"])
            db.add_movement(item.get("variantId"), "RELEASE", item["quantity"], order_id)
        return len(event["items"])

    def cancel_order() -> dict[str, Any]:
        order = db.orders.get(order_id)
        # Only an order this run owns: claimed by this run, or still PENDING and claimed by
        # no one. A duplicate `order/placed` must not cancel the order another run is processing.
        holder = None if order is None else order.get("reservedBy")
        owned = holder == ctx.run_id if holder is not None else order is not None and order["status"] == "PENDING"
        if not owned:
            return {"cancelled": False}
        db.set_order_status(order_id, "CANCELLED", reason, utcnow())
        shop.app.send(
            "order/cancelled",
            {
                "orderId": order_id,
                "userId": event["userId"],
                "reason": reason,
                "refundAmount": event["amount"],
            },
        )
        return {"cancelled": True}

    if reserved:
        ctx.step.run("release-inventory", release_inventory)
    return bool(ctx.step.run("cancel-order", cancel_order)["cancelled"])
