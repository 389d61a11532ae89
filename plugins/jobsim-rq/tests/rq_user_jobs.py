"""Job functions of ``test_rq_user_scenarios.py``: RQ finds a job's function by its import path."""

from __future__ import annotations

import httpx
from rq_log import LOG


def remind_cart(cart_id: str) -> str:
    LOG.append(cart_id)
    return f"reminded {cart_id}"


def deliver_webhook(url: str, payload: dict) -> int:
    return httpx.post(url, json=payload, timeout=5).raise_for_status().status_code


def gateway_down(order_id: str) -> None:
    raise ConnectionError(f"gateway down for {order_id}")


def reserve(order_id: str) -> str:
    return f"reserved {order_id}"


def charge(order_id: str) -> str:
    return f"charged {order_id}"
