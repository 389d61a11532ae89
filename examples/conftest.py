"""Fixtures for the examples: a fresh shop and a started simulation per test.

``sim`` works with or without jobsim's pytest plugin; ``jobsim_app`` tells the
plugin's ``jobsim`` fixture what to simulate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import jobsim
from examples.shop import Shop, build_shop
from examples.support import simulate


@pytest.fixture
def shop() -> Shop:
    return build_shop()


@pytest.fixture
def jobsim_app(shop: Shop) -> jobsim.App:
    return shop.app


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


@pytest.fixture
def sim(request: pytest.FixtureRequest, shop: Shop) -> Iterator[jobsim.Simulation]:
    """A started simulation of a fresh shop at ``START``.

    Like the plugin's ``jobsim`` fixture: a failing test prints the timeline, and a
    passing one fails if a request matched no HTTP route.
    """
    with simulate(shop) as sim:
        yield sim
        if request.node.stash.get(_FAILED, False):
            print(sim.timeline())
        elif sim.http.unmatched:
            pytest.fail(sim.http.format_unmatched(), pytrace=False)
