"""Acme's shop: the seed's Inngest functions (§3.1-§3.6, Advanced Pattern #1) on jobsim.

``build_shop()`` returns a fresh ``Shop`` (app + in-memory database + mailer); ``app``
is the App of a default shop, for the command line (``jobsim run examples``).
"""

from __future__ import annotations

import httpx

import jobsim

from . import background, batching, orders, reminders, reports, signup, welcome
from .core import Shop
from .db import Store
from .mailer import Resend

__all__ = ["Shop", "app", "build_shop", "shop"]

MODULES = (welcome, reports, orders, signup, reminders, batching, background)


def build_shop(app_id: str = "shop", *, http: httpx.Client | None = None) -> Shop:
    """A new shop whose functions use a new, empty database.

    ``http`` shares one client between shops (a new client costs ~20 ms of TLS setup,
    which adds up over the hundreds of shops a property test builds).
    """
    http = httpx.Client(timeout=30) if http is None else http
    shop = Shop(app=jobsim.App(app_id), db=Store(), http=http, resend=Resend("re_test_key", http))
    for module in MODULES:
        module.register(shop)
    return shop


shop = build_shop()
app = shop.app
