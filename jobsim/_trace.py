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



class Trace:
    """Ordered records; ``sim.trace``."""

    __slots__ = ("_rows", "add")

    def __init__(self) -> None:
        self._rows: list[tuple[int, str, dict[str, Any]]] = []

        def add(at: int, kind: str, data: dict[str, Any], _append: Any = self._rows.append) -> None:
            _append((at, kind, data))

        self.add = add  # a closure: the hot path pays one call, no attribute lookups

    @property
    def records(self) -> list[Record]:
        return list(self)

    def __iter__(self) -> Iterator[Record]:
        for seq, (at, kind, data) in enumerate(self._rows):
            yield Record(seq, at, kind, data)

    def __len__(self) -> int:
        return len(self._rows)

    def of(self, *kinds: str) -> list[Record]:
        return [r for r in self if r.kind in kinds]
