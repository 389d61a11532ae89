"""BACKGROUND JOBS - Advanced Implementation Pattern #1 (#2-#5 are the same class).

``BackgroundJobsService`` is the seed's ``BACKGROUNDJOBSService1``, line for line:
``execute`` retries a handler up to ``maxRetries`` times, waiting
``min(1000 * 2**retries, 10000)`` ms before each retry (2 s, 4 s, 8 s, 10 s, ...),
and ``executeBatch`` runs the inputs in chunks of ``batchSize``, each chunk
concurrently (``Promise.allSettled`` becomes ``asyncio.gather``).

Inside a jobsim function its ``asyncio.sleep`` waits and ``time.time()`` reads are
virtual, so the minutes of backoff of a batch cost nothing and land at exact times.

Kept from the seed, on purpose: the timeout's ``AbortController`` is never handed to
the handler (a hung handler is never aborted), and ``executeBatch`` counts only
*rejected* items as errors. ``execute`` never rejects, so a batch whose items all
failed still reports ``success: true`` with fewer ``data``.

``sync-supplier-stock`` (this port's) uses it to fetch stock levels from a flaky
supplier API and update the inventory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import httpx

from .core import SUPPLIER_STOCK_URL, Shop
from .db import WAREHOUSE, iso

I = TypeVar("I")  # noqa: E741
O = TypeVar("O")  # noqa: E741


def now_ms() -> int:
    """``Date.now()``."""
    return int(time.time() * 1000)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ServiceConfig:
    """The seed's ``ConfigSchema`` (zod), with its defaults and bounds."""

    enabled: bool = True
    max_retries: int = 3
    timeout: int = 15_000
    batch_size: int = 50
    debug: bool = False

    def __post_init__(self) -> None:
        for name, low, high in (
            ("max_retries", 0, 10),
            ("timeout", 1000, 60_000),
            ("batch_size", 1, 1000),
        ):
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name}={value!r} is out of range {low}..{high}")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ProcessResult(Generic[O]):
    success: bool
    data: O | None = None
    error: str | None = None
    duration: int
    retries: int
    timestamp: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "timestamp": iso(self.timestamp)}


def js_truthy(value: Any) -> bool:
    """JavaScript's truthiness: ``{}`` and ``[]`` are true there, only ``0``, ``""``, ``NaN``, null are false."""
    if value is None or value is False or value == "":
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == value and value != 0  # NaN != NaN
    return True


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class BackgroundJobsService:
    """``new BACKGROUNDJOBSService1(config)``."""

    def __init__(self, **config: Any) -> None:
        self.config = ServiceConfig(**config)
        self.cache: dict[str, tuple[Any, int]] = {}
        self.metrics = {"operations": 0, "errors": 0, "avgDuration": 0.0}

    async def execute(
        self, operation: str, input: I, handler: Callable[[I], Awaitable[O]]
    ) -> ProcessResult[O]:
        start = now_ms()
        self.metrics["operations"] += 1
        retries = 0
        while retries <= self.config.max_retries:
            try:
                result = await handler(input)
                duration = now_ms() - start
                ops = self.metrics["operations"]
                self.metrics["avgDuration"] = (
                    self.metrics["avgDuration"] * (ops - 1) + duration
                ) / ops
                return ProcessResult(
                    success=True, data=result, duration=duration, retries=retries, timestamp=_now()
                )
            except Exception as error:
                retries += 1
                self.metrics["errors"] += 1
                if retries > self.config.max_retries:
                    return ProcessResult(
                        success=False,
                        # `error instanceof Error ? error.message : "Operation failed"`: whatever Python
                        # raises is an Error, so its message, even an empty one.
                        error=str(error),
                        duration=now_ms() - start,
                        retries=retries - 1,
                        timestamp=_now(),
                    )
                delay = min(1000 * 2**retries, 10_000)
                await asyncio.sleep(delay / 1000)
        return ProcessResult(
            success=False,
            error="Max retries exceeded",
            duration=now_ms() - start,
            retries=retries,
            timestamp=_now(),
        )

    async def execute_batch(
        self, operation: str, inputs: list[I], handler: Callable[[I], Awaitable[O]]
    ) -> ProcessResult[list[O]]:
        start = now_ms()
        results: list[O] = []
        errors: list[str] = []
        size = self.config.batch_size
        for i in range(0, len(inputs), size):
            chunk = inputs[i : i + size]
            settled = await asyncio.gather(
                *(self.execute(operation, x, handler) for x in chunk), return_exceptions=True
            )
            for result in settled:
                if isinstance(result, BaseException):
                    errors.append(str(result) or "Batch item failed")
                elif result.success and result.data is not None and js_truthy(result.data):
                    results.append(result.data)
        return ProcessResult(
            success=not errors,
            data=results,
            error=f"{len(errors)} items failed" if errors else None,
            duration=now_ms() - start,
            retries=0,
            timestamp=_now(),
        )

    async def get_cached_or_fetch(
        self, key: str, fetcher: Callable[[], Awaitable[O]], ttl_ms: int = 60_000
    ) -> O:
        cached = self.cache.get(key)
        if cached and now_ms() < cached[1]:
            return cached[0]  # type: ignore[no-any-return]
        data = await fetcher()
        self.cache[key] = (data, now_ms() + ttl_ms)
        return data

    def get_metrics(self) -> dict[str, Any]:
        ops, errors = self.metrics["operations"], self.metrics["errors"]
        rate = f"{errors / ops * 100:.2f}%" if ops > 0 else "0%"
        return {**self.metrics, "errorRate": rate, "cacheSize": len(self.cache)}


def register(shop: Shop) -> None:
    app, db = shop.app, shop.db

    async def fetch_level(sku: str) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=15) as client:
            response = await client.get(SUPPLIER_STOCK_URL.format(sku=sku))
        response.raise_for_status()
        return {"sku": sku, "available": response.json()["available"]}

    @app.function("sync-supplier-stock", on="inventory/sync_requested")
    async def sync_supplier_stock(ctx: Any) -> dict[str, Any]:
        skus, batch_size = ctx.event.data["skus"], ctx.event.data.get("batchSize", 50)
        service = BackgroundJobsService(
            max_retries=ctx.event.data.get("maxRetries", 3), batch_size=batch_size
        )

        async def fetch_stock_levels() -> dict[str, Any]:
            result = await service.execute_batch("fetch-stock", skus, fetch_level)
            return {**result.to_json(), "metrics": service.get_metrics()}

        fetched = await ctx.step.run("fetch-stock-levels", fetch_stock_levels)

        def update_inventory() -> int:
            for level in fetched["data"]:
                row = db.inventory.setdefault(
                    (level["sku"], WAREHOUSE),
                    {
                        "variantId": level["sku"],
                        "available": 0,
                        "reserved": 0,
                        "warehouseId": WAREHOUSE,
                    },
                )
                row["available"] = level["available"]
            return len(fetched["data"])

        updated = await ctx.step.run("update-inventory", update_inventory)
        return {"requested": len(skus), "updated": updated, "batch": fetched}
