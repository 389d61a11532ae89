"""Shared fixtures for jobsim-inngest's tests: a fresh inngest-py client per test."""

from __future__ import annotations

import pytest

inngest = pytest.importorskip(
    "inngest", reason="jobsim-inngest needs inngest-py: pip install -e plugins/jobsim-inngest"
)


@pytest.fixture
def client() -> inngest.Inngest:
    return inngest.Inngest(app_id="shop", is_production=False)
