"""A realistic virtual week of the shop's traffic, deterministic per seed.

``generate_week(seed, start)`` returns ``(offset_seconds, event_name, data)`` tuples,
sorted by offset from ``start``: signups (some starting a 7-day trial, some of those
subscribing), carts (most checked out, some abandoned and a few of those recovered
within a day), orders, and in-app notifications. ``replay`` plays them through a
shop in a simulation, writing the storefront's rows before each event as the web
app would. ``play_week`` does it all for a simulation of a fresh shop.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from .shop import Shop
from .shop.core import ANALYTICS_BATCH_URL, MAILCHIMP_LIST_URL, SLACK_WEBHOOK_URL
from .shop.db import iso, parse_time
from .shop.fakes import PRODUCTS, Fakes, variant_of

Traffic = list[tuple[int, str, dict[str, Any]]]

DAY = 86_400
HOUR = 3_600
TRIAL_DAYS = 7


def generate_week(seed: int, start: str | dt.datetime = "2025-03-03T00:00:00Z") -> Traffic:
    """Seven days of traffic from ``start``; the same seed always gives the same list."""
    origin = parse_time(start)
    fakes, rng = Fakes(seed), random.Random(seed)
    out: Traffic = []
    users: list[tuple[int, dict[str, Any]]] = []
    for day in range(7):
        for _ in range(rng.randint(4, 9)):
            at = day * DAY + _daytime(rng)
            user = fakes.user()
            users.append((at, user))
            out.append((at, "user/created", user))
            if rng.random() < 0.5:
                _trial(out, rng, origin, at, user)
        for _ in range(rng.randint(6, 14)):
            at = day * DAY + _daytime(rng)
            if customer := _customer(rng, users, at):
                _cart(out, rng, fakes, origin, at, customer)
        for _ in range(rng.randint(3, 8)):
            at = day * DAY + _daytime(rng)
            if customer := _customer(rng, users, at):
                _notifications(out, rng, fakes, at, customer)
    return sorted((e for e in out if e[0] < 7 * DAY), key=lambda e: e[0])


def _customer(
    rng: random.Random, users: list[tuple[int, dict[str, Any]]], at: int
) -> dict[str, Any] | None:
    """Someone who had signed up before ``at``."""
    known = [user for signed_up, user in users if signed_up < at]
    return rng.choice(known) if known else None


def _daytime(rng: random.Random) -> int:
    """Seconds into a day, busier in the US afternoon and evening (UTC 13:00-04:00)."""
    hour = rng.choice([13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 0, 1, 2, 3, 9, 11])
    return hour * HOUR + rng.randrange(HOUR)


def _trial(
    out: Traffic, rng: random.Random, origin: dt.datetime, at: int, user: dict[str, Any]
) -> None:
    started = at + rng.randint(60, 900)
    ends = origin + dt.timedelta(seconds=started, days=TRIAL_DAYS)
    out.append((started, "trial/started", {"userId": user["userId"], "trialEndsAt": iso(ends)}))
    if rng.random() < 0.5:
        out.append(
            (
                started + rng.randint(1 * HOUR, TRIAL_DAYS * DAY - HOUR),
                "subscription/activated",
                {"userId": user["userId"], "plan": rng.choice(["starter", "pro"])},
            )
        )


def _cart(
    out: Traffic,
    rng: random.Random,
    fakes: Fakes,
    origin: dt.datetime,
    at: int,
    user: dict[str, Any],
) -> None:
    cart = fakes.cart(user["userId"], origin + dt.timedelta(seconds=at))
    if rng.random() < 0.7:
        _checkout(out, fakes, at + rng.randint(120, 1800), cart)
        return
    out.append((at, "cart/abandoned", cart))
    if rng.random() < 0.3:
        _checkout(out, fakes, at + rng.randint(HOUR, 20 * HOUR), cart)


def _checkout(out: Traffic, fakes: Fakes, at: int, cart: dict[str, Any]) -> None:
    order = fakes.order(cart["userId"])
    order["items"] = [
        {
            "productId": i["productId"],
            "variantId": variant_of(i["productId"]),
            "quantity": 1,
            "price": i["price"],
        }
        for i in cart["items"]
    ]
    order["amount"] = round(sum(i["price"] for i in cart["items"]), 2)
    out.append((at, "order/placed", order))
    out.append(
        (
            at + 1,
            "cart/completed",
            {"cartId": cart["cartId"], "userId": cart["userId"], "orderId": order["orderId"]},
        )
    )


def _notifications(
    out: Traffic, rng: random.Random, fakes: Fakes, at: int, user: dict[str, Any]
) -> None:
    for k in range(rng.randint(1, 4)):
        out.append(
            (at + k * rng.randint(2, 12), "notification/send", fakes.notification(user["userId"]))
        )


def third_parties(sim: Any) -> None:
    """The APIs the shop calls besides Resend (which jobsim answers itself), all up."""
    sim.http.post(SLACK_WEBHOOK_URL).respond(200, text="ok")
    sim.http.post(MAILCHIMP_LIST_URL.format(list="all_users")).respond(
        200, json={"status": "subscribed"}
    )
    sim.http.post(ANALYTICS_BATCH_URL).respond(200, json={"success": True})


def open_shop(shop: Shop, at: dt.datetime, *, stock: int = 1_000) -> None:
    """Stock the warehouse and add the two admins who get the daily report."""
    for product_id, _, _ in PRODUCTS:
        shop.db.stock(variant_of(product_id), stock)
    shop.db.add_user("admin_1", "ops@acme.com", "Ops", role="ADMIN", created_at=at)
    shop.db.add_user("admin_2", "ceo@acme.com", "CEO", role="ADMIN", created_at=at)


def play_week(sim: Any, shop: Shop, *, seed: int) -> None:
    """Everything at once: the third-party APIs, a stocked shop, the week of ``seed``."""
    third_parties(sim)
    open_shop(shop, sim.now)
    replay(sim, shop, generate_week(seed, sim.now))


def replay(sim: Any, shop: Shop, traffic: Traffic) -> None:
    """Send each event at its offset from ``sim.now``, the storefront's rows first."""
    origin = sim.now
    for offset, name, data in traffic:
        sim.advance_to(origin + dt.timedelta(seconds=offset))
        shop.storefront(sim, name, data)
