"""A minimal ``jobsim._host.Host`` for testing sinks without the engine."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

START_NS = 1_740_787_200 * 1_000_000_000  # 2025-03-01T00:00:00Z


class FakeHost:
    """Virtual time is a settable int; ``consume`` adds to it; records go to a list."""

    def __init__(self, seed: int = 0, now_ns: int = START_NS) -> None:
        self.rng = random.Random(seed)
        self.tz: dt.tzinfo = dt.timezone.utc
        self.now = now_ns
        self.records: list[tuple[str, dict[str, Any]]] = []
        self.unread: list[str] = []  # what unread_work answers

    def now_ns(self) -> int:
        return self.now

    def consume(self, ns: int) -> None:
        self.now += ns

    def job_rng(self) -> random.Random:
        return self.rng

    def in_job_code(self) -> bool:
        return False

    def driving(self) -> bool:
        return True  # requests reach the sink as job code's would

    def record(self, kind: str, **fields: Any) -> None:
        self.records.append((kind, fields))

    def unread_work(self) -> list[str]:
        return list(self.unread)

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        """The fields of each record of ``kind``, without the objects sinks attach for saving."""
        attached = ("call", "email")  # the HttpCall / Email a saved trace summarises
        return [{k: v for k, v in fields.items() if k not in attached}
                for recorded, fields in self.records if recorded == kind]
