"""Shared configuration for jobsim's own test suite (tests/, examples/, plugins/*/tests).

The ``readme_files`` fixture reads a README section's quick start as files; the
rest of this module sets the Hypothesis profiles:

* ``default``: Hypothesis's defaults, without the per-example deadline and the
  ``too_slow`` health check: a simulated history's cost varies with what was drawn,
  and two cores are shared in CI (both are wall-clock checks).
* ``ci`` (Hypothesis selects it when it detects CI; or ``--hypothesis-profile=ci``):
  Hypothesis's CI profile — derandomized, no example database, failures print their
  ``@reproduce_failure`` blob — without the "explain" phase, which re-runs a failing
  property hundreds of times to annotate it (40 s for the order-flow property).
* ``thorough``: 1,000 examples per property, to hunt bugs before a release:
  ``pytest examples -k property --hypothesis-profile=thorough``.

Property tests leave ``max_examples`` to the profile unless one example is costly.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import InvalidArgument

_NO_EXPLAIN = tuple(phase for phase in Phase if phase is not Phase.explain)

try:
    _CI = settings.get_profile("ci")
except InvalidArgument:  # Hypothesis before its built-in CI profile
    _CI = settings(derandomize=True, database=None, deadline=None, print_blob=True,
                   suppress_health_check=[HealthCheck.too_slow])  # fmt: skip

settings.register_profile("default", settings.get_profile("default"), deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])  # wall-clock: noisy on 2 shared cores
settings.register_profile("ci", _CI, phases=_NO_EXPLAIN)
settings.register_profile("thorough", deadline=None, max_examples=1_000, phases=_NO_EXPLAIN)
if os.environ.get("CI"):  # newer Hypothesis does this itself; --hypothesis-profile still wins
    settings.load_profile("ci")


README = Path(__file__).resolve().parent / "README.md"


@pytest.fixture
def readme_files() -> Callable[[str], dict[str, str]]:
    """``readme_files("### Celery (jobsim-celery)")``: that section's ```python blocks,
    keyed by the file name each block's first line gives (``# tasks.py``)."""

    def files(heading: str) -> dict[str, str]:
        section = README.read_text().split(heading + "\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
        out = {}
        for block in re.findall(r"```python\n(.*?)```", section, re.S):
            first, _, rest = block.partition("\n")
            out[first.removeprefix("# ").strip()] = rest
        return out

    return files
