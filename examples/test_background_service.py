"""Advanced Implementation Pattern #1: the seed's retrying service, in virtual time.

``execute`` waits ``min(1000 * 2**retries, 10000)`` ms before each retry: 2 s, 4 s,
8 s, then 10 s. Inside a jobsim function those ``asyncio.sleep`` calls are virtual,
and the items of a chunk retry concurrently, as under ``Promise.allSettled``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

import jobsim
from examples.shop import Shop
from examples.shop.background import BackgroundJobsService, ServiceConfig
from examples.shop.core import SUPPLIER_STOCK_URL
from examples.support import T0, at, only


def supplier(sim: jobsim.Simulation, sku: str, *responses: httpx.Response) -> None:
    route = sim.http.get(SUPPLIER_STOCK_URL.format(sku=sku))
    if len(responses) == 1:
        route.mock(return_value=responses[0])
    else:
        route.mock(side_effect=list(responses))


def calls(sim: jobsim.Simulation, sku: str) -> list[Any]:
    return [
        c.at for c in sim.http.calls if str(c.request.url) == SUPPLIER_STOCK_URL.format(sku=sku)
    ]


def ok(available: int) -> httpx.Response:
    return httpx.Response(200, json={"available": available})


DOWN = httpx.Response(500, text="upstream timeout")


def test_retries_wait_2s_4s_8s_and_the_batch_waits_for_its_slowest_item(
    shop: Shop, sim: jobsim.Simulation
) -> None:
    supplier(sim, "SKU-A", DOWN, DOWN, DOWN, ok(7))
    supplier(sim, "SKU-B", ok(3))
    sim.send("inventory/sync_requested", {"skus": ["SKU-A", "SKU-B"]})
    sim.advance("1m")

    assert calls(sim, "SKU-A") == [at(0), at(2), at(6), at(14)]
    assert calls(sim, "SKU-B") == [at(0)]
    run = only(sim.runs("sync-supplier-stock"))
    fetch = run.steps["fetch-stock-levels"]
    assert (fetch.started_at, fetch.finished_at) == (T0, at(14))
    assert (run.status, run.finished_at) == ("completed", at(14))
    batch = run.output["batch"]
    assert batch["success"] is True
    assert batch["data"] == [{"sku": "SKU-A", "available": 7}, {"sku": "SKU-B", "available": 3}]
    assert (batch["duration"], batch["timestamp"]) == (14_000, "2025-03-03T00:00:14.000Z")
    # The seed's metrics: every retry is an error, so the error rate can pass 100 %.
    assert batch["metrics"] == {
        "operations": 2,
        "errors": 3,
        "avgDuration": 7000.0,
        "errorRate": "150.00%",
        "cacheSize": 0,
    }
    assert shop.db.inventory[("SKU-A", "default")]["available"] == 7


def test_an_item_that_keeps_failing_is_dropped_and_the_batch_still_succeeds(
    sim: jobsim.Simulation,
) -> None:
    supplier(sim, "SKU-A", DOWN)
    supplier(sim, "SKU-B", ok(3))
    sim.send("inventory/sync_requested", {"skus": ["SKU-A", "SKU-B"]})
    sim.advance("1m")

    assert calls(sim, "SKU-A") == [
        at(0),
        at(2),
        at(6),
        at(14),
    ]  # maxRetries=3: 4 calls, no wait after the last
    batch = only(sim.runs("sync-supplier-stock")).output["batch"]
    # Kept from the seed: execute() never rejects, so executeBatch counts no error.
    assert (batch["success"], batch["error"], batch["data"]) == (
        True,
        None,
        [{"sku": "SKU-B", "available": 3}],
    )
    assert only(sim.runs("sync-supplier-stock")).output["updated"] == 1


def test_the_delay_is_capped_at_10s(sim: jobsim.Simulation) -> None:
    supplier(sim, "SKU-A", DOWN)
    sim.send("inventory/sync_requested", {"skus": ["SKU-A"], "maxRetries": 5})
    sim.advance("1m")

    assert calls(sim, "SKU-A") == [at(0), at(2), at(6), at(14), at(24), at(34)]
    assert only(sim.runs("sync-supplier-stock")).finished_at == at(34)


def test_chunks_of_batch_size_run_one_after_the_other(sim: jobsim.Simulation) -> None:
    supplier(sim, "SKU-A", DOWN, ok(1))
    supplier(sim, "SKU-B", ok(2))
    supplier(sim, "SKU-C", ok(3))
    sim.send("inventory/sync_requested", {"skus": ["SKU-A", "SKU-B", "SKU-C"], "batchSize": 2})
    sim.advance("1m")

    assert (calls(sim, "SKU-A"), calls(sim, "SKU-B"), calls(sim, "SKU-C")) == (
        [at(0), at(2)],
        [at(0)],
        [at(2)],
    )
    assert only(sim.runs("sync-supplier-stock")).finished_at == at(2)


def test_config_is_validated_like_the_seeds_schema() -> None:
    assert ServiceConfig() == ServiceConfig(
        enabled=True, max_retries=3, timeout=15_000, batch_size=50, debug=False
    )
    with pytest.raises(ValueError, match=r"max_retries=11 is out of range 0..10"):
        BackgroundJobsService(max_retries=11)
    with pytest.raises(ValueError, match=r"timeout=999 is out of range 1000..60000"):
        BackgroundJobsService(timeout=999)


def test_outside_jobsim_the_same_service_really_sleeps_but_not_with_zero_retries() -> None:
    async def boom(_: int) -> int:
        raise RuntimeError("no")

    result = asyncio.run(BackgroundJobsService(max_retries=0).execute("op", 1, boom))
    assert (result.success, result.error, result.retries) == (False, "no", 0)


def test_an_error_without_a_message_is_reported_as_such() -> None:
    """``error.message`` of an ``Error``, even ``""``: ``"Operation failed"`` is only for thrown non-Errors."""

    async def boom(_: int) -> int:
        raise RuntimeError()

    result = asyncio.run(BackgroundJobsService(max_retries=0).execute("op", 1, boom))
    assert (result.success, result.error) == (False, "")


def test_the_batch_keeps_the_results_javascript_finds_truthy() -> None:
    """``result.value.data`` is tested as JavaScript does: ``{}`` and ``[]`` are kept, ``0`` and ``""`` dropped."""
    values: dict[int, Any] = {0: {}, 1: [], 2: 0, 3: "", 4: {"n": 4}, 5: False, 6: 0.5}

    async def fetch(n: int) -> Any:
        return values[n]

    result = asyncio.run(BackgroundJobsService(max_retries=0).execute_batch("op", list(values), fetch))
    assert result.data == [{}, [], {"n": 4}, 0.5]
