"""The seed's eight Inngest functions, option for option, as ``examples/shop`` defines them.

One row per function of ``shared/seed/000_dc0edb0a6d935c35.txt`` (§3.1-§3.6): its id,
its trigger, its retries and its batch, as the seed writes them (read as
``examples/README.md`` says: ``attempts`` counts every attempt, and an exponential
backoff without ``minTimeout`` starts at the seed client's 1 s). The port's own
additions are listed apart, so that a change to either shows here.
"""

from __future__ import annotations

from typing import Any

import pytest

import jobsim
from examples.shop import Shop

SEED_FUNCTIONS: dict[str, dict[str, Any]] = {
    # §3.1: on 'user/created', retries { attempts: 3, backoff: 'exponential', minTimeout: '1s', maxTimeout: '1h' }
    "send-welcome-email": {
        "on": "user/created",
        "retries": jobsim.Retries(attempts=3, backoff="exponential", min="1s", max="1h"),
    },
    # §3.2: cron '0 9 * * *', timezone 'America/New_York', retries { attempts: 2, backoff: 'exponential' }
    "daily-report": {
        "cron": "0 9 * * *",
        "tz": "America/New_York",
        "retries": jobsim.Retries(attempts=2, backoff="exponential", min="1s", max="1h"),
    },
    # §3.3: on 'order/placed', retries { attempts: 5, backoff: 'exponential', maxTimeout: '10m' }
    "process-order": {
        "on": "order/placed",
        "retries": jobsim.Retries(attempts=5, backoff="exponential", min="1s", max="10m"),
    },
    # §3.4: on 'user/created', no retries (the profile's: Inngest's 5 attempts on its table)
    "process-user-signup": {"on": "user/created", "retries": None},
    # §3.5: on 'cart/abandoned', retries { attempts: 3 }
    "send-cart-abandonment-reminder": {"on": "cart/abandoned", "retries": jobsim.Retries(attempts=3)},
    # §3.5: on 'trial/started', no retries
    "send-trial-expiration-reminder": {"on": "trial/started", "retries": None},
    # §3.6: on 'notification/send', batchEvents { maxSize: 100, timeout: '30s', key }, retries { attempts: 3 }
    "send-batch-notifications": {
        "on": "notification/send",
        "retries": jobsim.Retries(attempts=3),
        "batch": (100, "30s", "event.data.userId"),  # the seed's 'event.user.id': examples/README.md
    },
    # §3.6: on 'analytics/track', batchEvents { maxSize: 1000, timeout: '1m' }, no retries
    "batch-analytics-events": {"on": "analytics/track", "retries": None, "batch": (1000, "1m", None)},
}

PORT_ADDITIONS = {
    "send-email",
    "create-user-profile",
    "subscribe-to-mailing-list",
    "post-slack-notification",
    "initialize-user-settings",
    "fulfill-order",
    "sync-supplier-stock",
}


def test_the_shop_serves_the_seeds_functions_and_the_ports_consumers(shop: Shop) -> None:
    assert set(shop.app.functions) == set(SEED_FUNCTIONS) | PORT_ADDITIONS


@pytest.mark.parametrize("function_id", list(SEED_FUNCTIONS))
def test_each_seed_function_keeps_the_seeds_options(shop: Shop, function_id: str) -> None:
    seed = SEED_FUNCTIONS[function_id]
    fn = shop.app.functions[function_id]
    assert (fn.options["on"], fn.options["cron"], fn.options["tz"]) == (
        seed.get("on"),
        seed.get("cron"),
        seed.get("tz"),
    )
    assert fn.retries == seed["retries"]
    batch = fn.flow.batch if fn.flow is not None else None
    assert (None if batch is None else (batch.max_size, batch.timeout, batch.key)) == seed.get("batch")
    flow = {} if fn.flow is None else {
        name: value
        for name in ("debounce", "throttle", "rate_limit", "priority", "idempotency", "timeouts")
        if (value := getattr(fn.flow, name)) is not None
    } | {name: value for name in ("concurrency", "cancel_on") if (value := getattr(fn.flow, name))}
    # The seed sets no other flow control; the port adds one idempotency key (README, race 3).
    assert set(flow) == ({"idempotency"} if function_id == "send-cart-abandonment-reminder" else set())
