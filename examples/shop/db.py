"""The seed's Prisma database, as a small in-memory store.

Rows are plain dicts with the seed's camelCase column names, so a step can return
one as is (step outputs are JSON round-tripped, as on Inngest). Methods are named
after the Prisma queries they replace.

Who writes what: the storefront (the web app around the jobs) creates users,
orders and carts and then sends the event (``apply``); the job functions update
statuses, reserve inventory and store reports.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

Row = dict[str, Any]

WAREHOUSE = "default"


def parse_time(value: str | dt.datetime) -> dt.datetime:
    """An ISO-8601 string (``Z`` accepted) or a datetime, as an aware datetime."""
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def iso(when: dt.datetime) -> str:
    """``new Date().toISOString()``: UTC, milliseconds, ``Z``."""
    return (
        when.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


class Store:
    """Users, orders, inventory, carts, reports: what the seed's functions read and write."""

    def __init__(self) -> None:
        self.users: dict[str, Row] = {}
        self.orders: dict[str, Row] = {}
        self.inventory: dict[tuple[str, str], Row] = {}
        self.inventory_movements: list[Row] = []
        self.order_status_history: list[Row] = []
        self.carts: dict[str, Row] = {}
        self.reports: list[Row] = []
        self.profiles: dict[str, Row] = {}
        self.settings: dict[str, Row] = {}

    # -- the storefront's writes -------------------------------------------------

    def add_user(
        self,
        user_id: str,
        email: str,
        name: str | None = None,
        *,
        role: str = "USER",
        created_at: dt.datetime,
        email_verified: bool = True,
    ) -> Row:
        row = {
            "id": user_id,
            "email": email,
            "name": name,
            "role": role,
            "emailVerified": email_verified,
            "subscriptionStatus": None,
            "createdAt": created_at,
        }
        self.users[user_id] = row
        return row

    def stock(self, variant_id: str, available: int) -> None:
        row = self.inventory.setdefault(
            (variant_id, WAREHOUSE),
            {"variantId": variant_id, "available": 0, "reserved": 0, "warehouseId": WAREHOUSE},
        )
        row["available"] += available

    def add_order(self, order: Row, *, created_at: dt.datetime, status: str = "PENDING") -> Row:
        row = {
            "id": order["orderId"],
            "userId": order["userId"],
            "status": status,
            "total": order["amount"],
            "currency": order.get("currency", "USD"),
            "items": [dict(i) for i in order["items"]],
            "createdAt": created_at,
            "processingStartedAt": None,
        }
        self.orders[row["id"]] = row
        return row

    def add_cart(
        self, cart_id: str, user_id: str, items: list[Row], *, status: str = "ABANDONED"
    ) -> Row:
        row = {
            "id": cart_id,
            "userId": user_id,
            "status": status,
            "items": [dict(i) for i in items],
        }
        self.carts[cart_id] = row
        return row

    def apply(self, name: str, data: Row, at: dt.datetime) -> None:
        """What the storefront writes just before it sends event ``name``."""
        if name == "user/created":
            self.add_user(data["userId"], data["email"], data.get("name"), created_at=at)
        elif name == "order/placed":
            self.add_order(data, created_at=at)
        elif name == "cart/abandoned":
            self.add_cart(data["cartId"], data["userId"], data["items"])
        elif name == "cart/completed" and data["cartId"] in self.carts:
            self.carts[data["cartId"]]["status"] = "COMPLETED"
        elif name == "subscription/activated" and data["userId"] in self.users:
            self.users[data["userId"]]["subscriptionStatus"] = "ACTIVE"
        elif name == "trial/started" and data["userId"] in self.users:
            self.users[data["userId"]]["subscriptionStatus"] = "TRIALING"

    # -- the functions' reads and writes --------------------------------------

    def find_user(self, user_id: str) -> Row | None:
        return self.users.get(user_id)

    def admin_emails(self) -> list[str]:
        return [
            u["email"] for u in self.users.values() if u["role"] == "ADMIN" and u["emailVerified"]
        ]

    def available(self, variant_id: str | None) -> int:
        row = self.inventory.get((variant_id or "", WAREHOUSE))
        return row["available"] if row else 0

    def reserve(self, variant_id: str | None, quantity: int) -> int:
        """``inventory.updateMany(where available >= quantity)``: how many rows it updated."""
        row = self.inventory.get((variant_id or "", WAREHOUSE))
        if row is None or row["available"] < quantity:
            return 0
        row["available"] -= quantity
        row["reserved"] += quantity
        return 1

    def release(self, variant_id: str | None, quantity: int) -> None:
        row = self.inventory[(variant_id or "", WAREHOUSE)]
        row["available"] += quantity
        row["reserved"] -= quantity

    def reserve_order(self, order_id: str, owner: str, items: list[Row]) -> str | list[str]:
        """One transaction: claim the PENDING order for ``owner`` and reserve every line, or nothing.

        Returns ``"reserved"``, ``"mine"`` (``owner`` already holds it: an earlier attempt
        reserved, then died before reporting), ``"taken"`` (another run holds the order,
        or it is no longer PENDING), or the variants now short of stock.
        """
        order = self.orders.get(order_id)
        holder = None if order is None else order.get("reservedBy")
        if holder is not None:
            return "mine" if holder == owner else "taken"
        if order is None or order["status"] != "PENDING":
            return "taken"
        needed: dict[str | None, int] = {}
        for item in items:
            needed[item.get("variantId")] = needed.get(item.get("variantId"), 0) + item["quantity"]
        short = [str(variant) for variant, quantity in needed.items() if self.available(variant) < quantity]
        if short:
            return short
        for item in items:
            self.reserve(item.get("variantId"), item["quantity"])
            self.add_movement(item.get("variantId"), "RESERVATION", item["quantity"], order_id)
        order["reservedBy"] = owner
        return "reserved"

    def add_movement(self, variant_id: str | None, kind: str, quantity: int, order_id: str) -> None:
        """``inventoryMovement.create``."""
        self.inventory_movements.append(
            {
                "variantId": variant_id,
                "warehouseId": WAREHOUSE,
                "type": kind,
                "quantity": quantity,
                "referenceType": "order",
                "referenceId": order_id,
                "reason": f"{kind.capitalize()} for order {order_id}",
            }
        )

    def set_order_status(self, order_id: str, status: str, note: str, at: dt.datetime) -> Row:
        order = self.orders[order_id]
        order["status"] = status
        if status == "PROCESSING":
            order["processingStartedAt"] = at
        self.order_status_history.append(
            {"orderId": order_id, "status": status, "note": note, "at": at}
        )
        return order

    def sales_between(self, start: dt.datetime, end: dt.datetime) -> Row:
        """The four queries of the daily report's ``Promise.all``."""
        done = [
            o
            for o in self.orders.values()
            if o["status"] == "COMPLETED" and start <= o["createdAt"] <= end
        ]
        sold: dict[str, int] = {}
        for order in done:
            for item in order["items"]:
                sold[item["productId"]] = sold.get(item["productId"], 0) + item["quantity"]
        top = sorted(sold.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        return {
            "orders": len(done),
            "revenue": round(sum(o["total"] for o in done), 2),
            "newCustomers": sum(1 for u in self.users.values() if start <= u["createdAt"] <= end),
            "topProducts": [{"productId": p, "_sum": {"quantity": q}} for p, q in top],
        }
