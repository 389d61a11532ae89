"""Which simulations a test started itself: to close the ones it left running, and for ``--jobsim-trace-dir``.

The pytest plugin registers one :class:`Started` in jobsim's plugin manager (when the
first simulation builds it: building it imports every backend plugin), so
``Simulation.start()`` calls one more ``jobsim_install`` implementation under pytest
(under a microsecond). While a test runs (setup, call,
teardown), every simulation that starts is noted by weak reference: noting one must
not keep it, or its apps' objects, alive. Simulations a fixture of a wider scope
starts (``scope="module"``, ...) are not the test's: the plugin sets them aside with
:meth:`Started.outside`.

A simulation the test left running would hold its apps (``app._simulation``) for the
rest of the session, and every later test that simulates them would fail with "already
running in another simulation", far from the cause: :meth:`Started.left_running`
lists them at the end of the test's teardown, for the plugin to close and warn about.
A running simulation cannot be collected (its apps hold it), so the weak references
find every one.

A failing test's simulations are then the ones it still holds (a local of the failed
test, a fixture's) and, even if nothing holds it any more, the last one it started: a
helper that builds, runs and drops its simulation is the usual way a test ends up
with none in hand, and a Hypothesis test's last example is the one that failed.
Garbage is collected first, so which of the dropped ones are gone does not depend on
when the collector last ran.
"""

from __future__ import annotations

import contextlib
import gc
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .hooks import hookimpl

if TYPE_CHECKING:
    from ._simulation import Simulation


class Started:
    """A plugin of jobsim's manager that notes the simulations started while a test runs."""

    def __init__(self) -> None:
        self._refs: list[weakref.ref[Simulation]] | None = None
        self._last: Simulation | None = None

    def begin(self) -> None:
        """A test starts: note what starts from now on."""
        self._refs, self._last = [], None

    def left_running(self) -> list[Simulation]:
        """The simulations the test started that are still running, for the plugin to close and name."""
        return [sim for sim in (ref() for ref in self._refs or ()) if sim is not None and sim._state == "running"]

    def end(self) -> None:
        """The test is over: forget its simulations (the last one is let go here)."""
        self._refs, self._last = None, None

    @contextlib.contextmanager
    def outside(self) -> Iterator[None]:
        """What starts in here is not the test's (a wider-scoped fixture's setup): neither saved nor closed."""
        refs, self._refs = self._refs, None
        try:
            yield
        finally:
            self._refs = refs

    @hookimpl(trylast=True)  # after every plugin installed: a start that failed never reaches here
    def jobsim_install(self, sim: Simulation) -> None:
        refs = self._refs
        if refs is not None:  # outside a test (a session fixture's own setup): not a test's to save
            refs.append(weakref.ref(sim))
            self._last = sim

    def simulations(self) -> list[Simulation]:
        """The ones the test still holds, and the last one it started, in the order they started."""
        refs = self._refs or []
        if len(refs) > 1:
            gc.collect()  # a dropped simulation sits in reference cycles until the collector runs
        found = (ref() for ref in refs)
        return [sim for sim in found if sim is not None]
