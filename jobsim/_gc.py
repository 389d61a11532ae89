"""Keeping CPython's cyclic garbage collector off data that is known to live long.

jobsim builds large collections of long-lived containers: a simulation's run
records, attempts and trace rows, or the records of a trace file read back. The
generational collector walks every tracked container again at each full collection,
and a full collection comes each time the survivors grow by a quarter, so a growing
heap of records costs walk after walk that can never find garbage in it: 4.4 of the
9.7 s of the 100,000-job benchmark were the collector, which freed nothing.

``gc.freeze()`` moves every tracked object to a permanent generation that no
collection walks, and ``gc.unfreeze()`` moves them all to the oldest generation. On
CPython with the GIL both are list splices that visit nothing (3.8-3.13; 3.14's
incremental collector marks the young objects in one pass, no traversal). Freezing
*everything* is what makes them cheap and also what makes them blunt, so the rules are:

- only when nothing is frozen yet (``gc.get_freeze_count() == 0``): ``unfreeze()``
  releases every frozen object, and a process that froze its own (a pre-forking
  server, a benchmark's fixtures) must keep them frozen. CPython 3.12 (3.12.1
  checked) keeps 375 tuples of its own frozen (back after any ``unfreeze`` and
  collection), so there jobsim never freezes;
- always unfreeze before handing control back, so frozen objects are frozen only
  while jobsim works (this also thaws anything job code itself froze meanwhile);
- not on free-threaded builds or other interpreters, where the calls walk the heap
  or do nothing.

Cyclic garbage that happens to be frozen is not lost: after ``unfreeze()`` it sits
in the oldest generation and the next full collection frees it.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import sysconfig
from collections.abc import Callable, Iterator
from typing import Any

PROMOTE = sys.implementation.name == "cpython" and not sysconfig.get_config_var("Py_GIL_DISABLED")
"""Whether ``gc.freeze()``/``gc.unfreeze()`` move objects without walking the heap here."""


def may_freeze() -> bool:
    """True when jobsim may freeze and unfreeze: a GIL CPython with nothing frozen."""
    return PROMOTE and gc.get_freeze_count() == 0


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector off while a trace is converted, on again after.

    A million records are millions of containers, and every full collection walks
    all of them again (4.4 of the 7 s loading a million records took, measured);
    JSON data cannot hold reference cycles, so there is nothing for it to find.
    Reference counting frees everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def promote_all() -> None:
    """Move every tracked object to the oldest generation without visiting any.

    For data just built that cannot hold cycles (a trace read from a file): a young
    collection would walk all of it and find nothing.
    """
    if may_freeze():
        gc.freeze()
        gc.unfreeze()


FREEZE_AFTER = 4096
"""Kernel items between two ``Freezer.tick`` calls of a driving call (short calls never freeze)."""

GROWTH = 8
"""A long call runs a full collection once what it froze since the last may be this many times what that one left."""

YOUNG_THRESHOLD = 50_000
"""CPython's young-generation threshold during a loop of sends, and while driving time does not freeze.

With CPython's default of 700, a loop of 100,000 sends (100,000 queued runs) or a
long driving call starts a collection every 700 allocations, and the older
generations are rescanned again and again (``Sends``, ``Freezer``). ``raise_threshold`` leaves a process
that disabled the collector (threshold 0) or set a higher threshold as it is.
"""


def raise_threshold() -> tuple[int, int, int] | None:
    """Raise the young threshold to ``YOUNG_THRESHOLD``; the old thresholds, or None if unchanged.

    Unchanged when the process turned the collector off (threshold 0) or set a higher one.
    """
    threshold = gc.get_threshold()
    if 0 < threshold[0] < YOUNG_THRESHOLD:
        gc.set_threshold(YOUNG_THRESHOLD, threshold[1], threshold[2])
        return threshold
    return None


SEND_LOOP = 64
"""Events sent in a row, with no driving call between, that make a loop of sends (``Sends``)."""


class Sends:
    """A test's loop of ``sim.send`` calls: the young threshold raised from its ``SEND_LOOP``-th event on.

    Each send queues a run that lives as long as the simulation, so a loop of 100,000
    sends at CPython's default threshold pays 9 full collections walking the growing
    queue (0.9-1.6 s of a 2.5 s loop, measured), and a threshold raised only inside
    each ``send`` call changes nothing (the collection comes at the next allocation
    after it). So the raise lasts from the loop's ``SEND_LOOP``-th event until the
    simulation next drives time or closes (``end``): a handful of sends never touch it.
    A simulation left running and never closed keeps it raised, as it keeps its sinks
    and clock patches installed (the running simulation is reachable from them).
    """

    __slots__ = ("count", "saved")

    def __init__(self) -> None:
        self.count = 0
        self.saved: tuple[int, ...] | None = None  # None: not raised; (): left as it was (already high, or off)

    def add(self, events: int) -> None:
        if self.saved is None:
            self.count += events
            if self.count >= SEND_LOOP:
                self.saved = raise_threshold() or ()

    def end(self) -> None:
        """The loop is over (a driving call, or ``close``): the threshold as it was before it."""
        saved, self.saved, self.count = self.saved, None, 0
        if saved:
            gc.set_threshold(*saved)


class _Books:
    """What freezing kept from CPython's count since the last full collection.

    CPython runs a full collection once the objects moved to the oldest generation
    exceed a quarter of what the last one left. Thawed objects get there without
    being counted, so ``Freezer`` keeps that count here and applies the rule itself.
    """

    thawed = 0  # about how many objects: at most a young generation's worth per frozen collection
    base = 0  # tracked objects after jobsim's last full collection
    full = -1  # CPython's count of full collections then: a change means one ran on its own
    # (``Freezer`` adds those that ran while everything was frozen: they walked none of it)

    @classmethod
    def settle(cls) -> None:
        """Run the full collection the thawed objects have made due, if any (nothing may be frozen)."""
        full = gc.get_stats()[-1]["collections"]
        if full != cls.full:  # one ran since: it walked what was thawed before it, and the heap changed
            cls.full, cls.thawed, cls.base = full, 0, cls.tracked()
        if cls.thawed > cls.base // 4:
            cls.collect()

    @staticmethod
    def tracked() -> int:
        """How many objects the collector tracks, counted without building a list (nothing may be frozen)."""
        gc.freeze()
        count = gc.get_freeze_count()
        gc.unfreeze()
        return count

    @classmethod
    def collect(cls) -> None:
        """A full collection, then the count of what it left (nothing may be frozen)."""
        gc.collect()
        cls.base = cls.tracked()
        cls.full, cls.thawed = gc.get_stats()[-1]["collections"], 0


class Freezer:
    """A driving call's collector policy: ``tick()`` every ``FREEZE_AFTER`` items, ``thaw()`` at the end.

    A simulation's records live as long as the simulation. Without this, every
    young collection moves them up and each older collection walks them again,
    over and over, while the run goes on (4.4 of 9.7 s at 100,000 jobs, freeing
    nothing). From the first tick, a ``gc.callbacks`` hook freezes what survives
    each collection right after it: the young objects it just checked, and the
    older ones. Later collections then walk only what is new, and they still free
    the cycles job code drops as they happen. A cycle still in use when a
    collection ran is frozen with the survivors; if it is dropped later, it waits
    for the next full collection. A later tick runs one once the objects frozen
    since the last one may be ``GROWTH`` (8) times what that one left: such garbage
    stays within that many times the live data, and a long call that grows its
    heap less than that pays no full walk (CPython's own rule, a quarter, pays
    about five walks of the final heap).

    Thawed objects land in the oldest generation without CPython counting them
    (``_Books``). The full collection CPython's rule then makes due runs at the
    first tick of the next long call: a loop of large simulations frees each
    finished one as CPython would, and a single large run pays no extra walk.

    Until the first tick, and for the whole call where freezing is not possible
    (``may_freeze``, which walks the frozen objects and so is asked once, at the
    first tick), the young threshold is raised to ``YOUNG_THRESHOLD`` instead: the
    cheaper remedy, for calls too short to freeze and processes that cannot.
    """

    __slots__ = ("_callback", "_callbacks", "_saved", "collections", "started")

    def __init__(self) -> None:
        self.started = False
        self.collections = 0  # collections frozen since this call's start or its last full collection
        self._callback: Callable[[str, dict[str, int]], None] | None = None
        self._callbacks: list[Any] = gc.callbacks  # the very list the hook goes in, even if rebound later
        self._saved = raise_threshold()

    def tick(self) -> None:
        if self._callback is not None:
            if self.collections * gc.get_threshold()[0] > GROWTH * _Books.base:
                self._collect()
            return
        if self.started:
            return
        self.started = True
        if may_freeze():
            self._restore()  # young collections at the usual pace: each one's survivors are frozen
            _Books.settle()
            self._callback = self._collected
            self._callbacks.append(self._callback)

    def _restore(self) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def _collected(self, phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            if self.collections and info["generation"] == len(gc.get_threshold()) - 1:
                _Books.full += 1  # a full collection that walked none of what is frozen
            gc.freeze()
            self.collections += 1

    def _unhook(self) -> None:
        with contextlib.suppress(ValueError):  # job code may have emptied gc.callbacks
            self._callbacks.remove(self._callback)

    def _collect(self) -> None:
        """The full collection a long call has made due: thaw, collect, and go on freezing."""
        self._unhook()
        gc.unfreeze()
        _Books.collect()
        self.collections = 0
        self._callbacks.append(self._callback)

    def thaw(self) -> None:
        self._restore()
        if self._callback is None:
            return
        self._unhook()
        self._callback = None
        if self.collections:
            gc.unfreeze()
            _Books.thawed += self.collections * gc.get_threshold()[0]
