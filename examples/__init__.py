"""jobsim's examples: the seed's scenarios as a small shop (``examples.shop``) and its tests.

``jobsim run examples`` simulates ``app`` (the default shop) from ``jobsim_options``
and plays ``jobsim_traffic``: a generated week of traffic for the run's seed.
``jobsim replay TRACE --app examples`` opens the shop with ``jobsim_setup`` and
delivers each recorded input event with ``jobsim_deliver``.
"""

from __future__ import annotations

from typing import Any

from .shop import app, build_shop, shop
from .traffic import generate_week, open_shop, play_week, replay, third_parties

jobsim_options = {"start": "2025-03-03T00:00:00Z", "tz": "America/New_York"}


def jobsim_traffic(sim: Any) -> None:
    """The week of ``sim.seed``, through the default shop."""
    play_week(sim, shop, seed=sim.seed)


def jobsim_setup(sim: Any) -> None:
    """``jobsim replay --app examples``: the shop as it opens (stock, admins), before any event."""
    open_shop(shop, sim.now)


def jobsim_deliver(sim: Any, event: Any) -> None:
    """``jobsim replay --app examples``: an input event arrives as the web app sends it, rows first."""
    shop.db.apply(event.name, dict(event.data), sim.now)
    sim.send(event)


__all__ = [
    "app",
    "build_shop",
    "generate_week",
    "jobsim_deliver",
    "jobsim_options",
    "jobsim_setup",
    "jobsim_traffic",
    "open_shop",
    "play_week",
    "replay",
    "shop",
    "third_parties",
]
