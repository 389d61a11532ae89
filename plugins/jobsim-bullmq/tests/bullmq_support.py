"""What jobsim-bullmq's tests share (imported by name: every plugin's tests have a ``conftest`` module, and
``from conftest import ...`` finds whichever of them pytest loaded last)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

START = "2025-03-01T00:00:00Z"
T0 = 1740787200  # START as a Unix timestamp
NOWHERE = "redis://127.0.0.1:1/0"  # a port nothing listens on: in a simulation nothing may reach it


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run producer code (``queue.add``...) from a sync test: it completes at once in a simulation."""
    return asyncio.run(coroutine)
