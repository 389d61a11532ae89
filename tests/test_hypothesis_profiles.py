"""The Hypothesis profile conftest.py loads for this suite."""

from __future__ import annotations

from hypothesis import settings


def test_the_loaded_profile_has_no_deadline() -> None:
    # conftest.py registers "default" again without the per-example deadline; Hypothesis before 6.117 kept the
    # profile it had loaded (200 ms) until it was loaded again, which .ci/run's lowest versions (6.100.1) run
    assert settings().deadline is None
