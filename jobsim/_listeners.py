"""The runs that events of one name may reach, filed by the value their condition compares.

Two things hold a run until an event matches: a wait (``step.wait_for_event``: the event resumes the run)
and a cancellation (``cancel_on``: the event cancels it). Each is a ``Listener``: the run, the checks that
must all hold (``(the run's event, the candidate) -> bool``), and where ``Listeners`` filed it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._expr import Keyed, key_of

if TYPE_CHECKING:
    from ._events import Event
    from ._records import Run


class Listener:
    __slots__ = ("checks", "filed", "run")

    def __init__(self, run: Run, checks: Sequence[Callable[[Event, Event], bool]]) -> None:
        self.run = run
        self.checks = checks
        self.filed: tuple[tuple[str, ...], Any] | None = None  # (path into the candidate, value): see Listeners

    def matches(self, event: Event) -> bool:
        """Whether ``event`` meets every check (the first one first: see ``Listeners``)."""
        mine = self.run.event
        return all(check(mine, event) for check in self.checks)


L = TypeVar("L", bound=Listener)


class Listeners(Generic[L]):
    """The listeners for events of one name, in the order they started listening.

    One whose first check is ``Keyed`` (``match=``, or an ``if_exp`` that needs ``event.<a> ==
    async.<b>``) is filed under its run's value at ``<a>``, so an event is checked against the listeners filed
    under its own value at ``<b>`` and the unfiled ones only: with 10,000 runs waiting for their own
    ``order/created``, each order checked all of them (quadratic in the traffic). The first check is pure and
    the others run only after it held, so a listener that is not checked would not have matched, and the ones
    that are checked go in the order they started listening, as before.
    """

    __slots__ = ("_filed", "_order", "_seq", "_unfiled")

    def __init__(self) -> None:
        self._order: dict[L, int] = {}
        self._seq = 0
        self._unfiled: dict[L, None] = {}
        self._filed: dict[tuple[str, ...], dict[Any, dict[L, None]]] = {}

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self) -> Iterator[L]:
        return iter(self._order)

    def __contains__(self, listener: object) -> bool:
        return listener in self._order

    def append(self, listener: L) -> None:
        self._seq += 1
        self._order[listener] = self._seq
        first = listener.checks[0] if listener.checks else None
        if isinstance(first, Keyed):
            try:
                value = key_of(listener.run.event, first.mine)
            except TypeError:  # a list or a map: checked against every event
                pass
            else:
                listener.filed = (first.theirs, value)
                self._filed.setdefault(first.theirs, {}).setdefault(value, {})[listener] = None
                return
        self._unfiled[listener] = None

    def remove(self, listener: L) -> None:
        del self._order[listener]
        if listener.filed is None:
            del self._unfiled[listener]
            return
        theirs, value = listener.filed
        values = self._filed[theirs]
        same = values[value]
        del same[listener]
        if not same:
            del values[value]
            if not values:
                del self._filed[theirs]

    def candidates(self, event: Event) -> list[L]:
        """The listeners ``event`` may match, in the order they started listening."""
        found = list(self._unfiled)
        if not self._filed:
            return found
        for theirs, values in self._filed.items():
            try:
                same = values.get(key_of(event, theirs))
            except TypeError:  # the event's value is a list or a map: every listener filed on that path
                found.extend(listener for same in values.values() for listener in same)
                continue
            if same:
                found.extend(same)
        found.sort(key=self._order.__getitem__)
        return found
