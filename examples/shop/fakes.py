"""Realistic payloads for the shop's events, from a seeded Faker instance.

Each ``Fakes`` owns its own ``Faker`` seeded with ``seed_instance`` (never the
global ``Faker.seed``), so two instances with the same seed produce the same data.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from faker import Faker

from .db import iso

PRODUCTS = [
    ("prod_tee", "Organic Cotton Tee", 24.0),
    ("prod_mug", "Stoneware Mug", 18.5),
    ("prod_cap", "Canvas Cap", 21.0),
    ("prod_ebook", "Field Guide (eBook)", 12.0),
    ("prod_socks", "Wool Socks", 14.0),
    ("prod_tote", "Market Tote", 29.0),
]


def variant_of(product_id: str) -> str:
    """Variant ids of digital products contain ``DIGITAL`` (the seed's test for them)."""
    return f"var_{product_id[5:]}{'_DIGITAL' if product_id == 'prod_ebook' else ''}"


class Fakes:
    def __init__(self, seed: int) -> None:
        self.faker = Faker("en_US")
        self.faker.seed_instance(seed)
        self._n = 0

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self.faker.hexify('^^^^^^')}{self._n}"

    def user(self) -> dict[str, Any]:
        first, last = self.faker.first_name(), self.faker.last_name()
        email = f"{first}.{last}@{self.faker.free_email_domain()}".lower()
        return {
            "userId": self._id("user"),
            "email": email,
            "name": f"{first} {last}",
            "source": self.faker.random_element(["web", "web", "mobile", "api"]),
        }

    def items(self, *, max_items: int = 3) -> list[dict[str, Any]]:
        count = self.faker.random_int(1, max_items)
        picked = self.faker.random_sample(PRODUCTS, length=count)
        return [
            {
                "productId": pid,
                "variantId": variant_of(pid),
                "quantity": self.faker.random_int(1, 3),
                "price": price,
            }
            for pid, _, price in picked
        ]

    def order(self, user_id: str) -> dict[str, Any]:
        items = self.items()
        return {
            "orderId": self._id("ord"),
            "userId": user_id,
            "currency": "USD",
            "items": items,
            "amount": round(sum(i["price"] * i["quantity"] for i in items), 2),
            "shippingAddress": {
                "line1": self.faker.street_address(),
                "city": self.faker.city(),
                "state": self.faker.state_abbr(),
                "postalCode": self.faker.zipcode(),
                "country": "US",
            },
        }

    def cart(self, user_id: str, at: dt.datetime) -> dict[str, Any]:
        items = [
            {"productId": pid, "name": name, "price": price}
            for pid, name, price in self.faker.random_sample(
                PRODUCTS, length=self.faker.random_int(1, 3)
            )
        ]
        return {
            "cartId": self._id("cart"),
            "userId": user_id,
            "items": items,
            "abandonedAt": iso(at),
        }

    def notification(self, user_id: str) -> dict[str, Any]:
        return {
            "userId": user_id,
            "title": self.faker.catch_phrase(),
            "body": self.faker.sentence(nb_words=8),
        }
