"""What every function of the shop shares: the app, the database, the mailer, settings."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import httpx

import jobsim

from .db import Store
from .mailer import Resend

APP_URL = "https://shop.example.com"
ANALYTICS_BATCH_URL = "https://api.analytics-service.com/batch"
SLACK_WEBHOOK_URL = "https://hooks.slack.com/services/T000SHOP/B000JOBS/XXXXXXXXXXXXXXXX"
MAILCHIMP_LIST_URL = "https://us21.api.mailchimp.com/3.0/lists/{list}/members"
SUPPLIER_STOCK_URL = "https://supplier.example.com/stock/{sku}"
REPORT_TZ = "America/New_York"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Shop:
    """One shop: a ``jobsim.App`` whose functions close over this database and mailer.

    Build a fresh one per test (``build_shop()``) so that no state leaks between tests.
    ``http`` is the one ``httpx.Client`` every function uses, as a real app keeps one
    (a new client per request would build a new TLS context each time, ~20 ms).
    """

    app: jobsim.App
    db: Store
    http: httpx.Client
    resend: Resend
    analytics_api_key: str = "test-analytics-key"

    def storefront(self, sim: jobsim.Simulation, name: str, data: dict[str, object]) -> None:
        """What the web app does: write the database, then send the event."""
        self.db.apply(name, data, sim.now)
        sim.send(name, data)


def utcnow() -> dt.datetime:
    """``new Date()``: virtual inside job code (jobsim's wall-clock bridge)."""
    return dt.datetime.now(dt.timezone.utc)


def js_number(value: float) -> str:
    """A number as a JavaScript template literal writes it: ``${24}`` and ``${24.0}`` are ``24``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"js_number() takes an int or a float, not {value!r}")
    if isinstance(value, int):
        return str(value)
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"  # -0 too
    if 1e-6 <= abs(value) < 1e21:  # fixed notation there, with the shortest digits that read back the same
        digits = Decimal(repr(value))
        return format(digits.to_integral_value() if value.is_integer() else digits, "f")
    mantissa, exponent = repr(value).split("e")
    return f"{mantissa}e{'+' if int(exponent) > 0 else '-'}{abs(int(exponent))}"
