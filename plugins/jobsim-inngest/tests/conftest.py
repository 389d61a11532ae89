"""Shared fixtures for jobsim-inngest's tests: a fresh inngest-py client per test.

When inngest-py is not installed (the root test command run without
``pip install -e plugins/jobsim-inngest``), this directory is not collected.
"""

from __future__ import annotations

import importlib.util

import pytest

if importlib.util.find_spec("inngest") is None:
    collect_ignore_glob = ["test_*.py"]
else:

    @pytest.fixture
    def client():  # type: ignore[no-untyped-def]
        import inngest

        return inngest.Inngest(app_id="shop", is_production=False)
