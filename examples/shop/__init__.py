"""Acme's shop: the seed's Inngest functions (§3.1-§3.6, Advanced Pattern #1) on jobsim.

``build_shop()`` returns a fresh ``Shop`` (app + in-memory database + mailer); ``app``
is the App of a default shop, for the command line (``jobsim run examples``).
"""

from __future__ import annotations

from typing import Any

import httpx

import jobsim

from . import background, orders, reminders, reports, signup, welcome
from . import batching as batching_module
from .core import Shop
from .db import Store
from .mailer import Resend

__all__ = ["Shop", "app", "batching_supported", "build_shop", "shop"]

MODULES = (welcome, reports, orders, signup, reminders, batching_module, background)


def batching_supported() -> bool:
    """Whether the installed jobsim simulates ``batch=`` (flow control) yet."""
    probe = jobsim.App("batching-probe")

    @probe.function("probe", on="probe/event", batch=jobsim.Batch(max_size=2, timeout="1s"))
    def _probe(ctx: Any) -> None: ...

    try:
        with jobsim.Simulation(probe):
            return True
    except jobsim.InvalidArgument:
        return False


def build_shop(app_id: str = "shop", *, batching: bool = True) -> Shop:
    """A new shop whose functions use a new, empty database.

    ``batching=False`` leaves out the two batched functions (§3.6), for a jobsim
    that does not simulate ``batch=`` yet.
    """
    http = httpx.Client(timeout=30)
    shop = Shop(app=jobsim.App(app_id), db=Store(), http=http, resend=Resend("re_test_key", http))
    for module in MODULES:
        if batching or module is not batching_module:
            module.register(shop)
    return shop


shop = build_shop(batching=batching_supported())
app = shop.app
