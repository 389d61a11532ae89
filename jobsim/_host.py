"""What a simulation offers to the parts plugged into it (sinks, plugins, recorders).

A sink never reaches into the engine: it is handed a ``Host`` and uses only this.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any, Protocol


class Host(Protocol):
    """The simulation as seen by a sink."""

    rng: random.Random
    """The simulation's seeded generator for draws made outside any function's runs."""

    tz: dt.tzinfo
    """The zone timelines are displayed in."""

    def now_ns(self) -> int:
        """Virtual time as job code sees it now (epoch ns, UTC), execution time included."""
        ...

    def consume(self, ns: int) -> None:
        """Job code spends ``ns`` of virtual time (a sleep, a slow HTTP response)."""
        ...

    def job_rng(self) -> random.Random:
        """The generator for a draw made now: the running function's own stream while its job code runs, else
        ``rng``; with ``rng``, the only sources of randomness allowed."""
        ...

    def in_job_code(self) -> bool:
        """Job code of this simulation is running on the calling thread (a library's draw follows the seed)."""
        ...

    def driving(self) -> bool:
        """A driving call of this simulation is under way, on any thread: what is sent now, job code sent."""
        ...

    def record(self, kind: str, **fields: Any) -> None:
        """Append a record of ``kind`` to the trace, stamped with ``now_ns()``."""
        ...

    def unread_work(self) -> list[str]:
        """One sentence per queue holding work, due now, that no simulated worker reads (``jobsim_unread``; a queue
        ``sim.leave_unread`` named is left out): why an expected email may never have been sent."""
        ...
