"""The trace: every step of a simulation's story, in order, in virtual time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple


class Record(NamedTuple):
    """One thing that happened: ``seq`` orders records, ``at`` is epoch ns (virtual)."""

    seq: int
    at: int
    kind: str
    data: dict[str, Any]


KINDS = (
    "event", "event.dropped", "cron", "run.start", "attempt", "retry", "sleep",
    "wait", "wait.end", "invoke", "run.end", "email", "http", "fault",
)  # fmt: skip


class Trace:
    """Ordered records; ``sim.trace``."""

    __slots__ = ("records",)

    def __init__(self) -> None:
        self.records: list[Record] = []

    def add(self, at: int, kind: str, data: dict[str, Any]) -> None:
        records = self.records
        records.append(Record(len(records), at, kind, data))

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def of(self, *kinds: str) -> list[Record]:
        return [r for r in self.records if r.kind in kinds]
