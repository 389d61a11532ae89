"""``inngest.Inngest.send``/``send_sync`` onto jobsim's bus while a simulation runs.

inngest-py functions do not know their client (``create_function`` returns a
``Function`` without a reference to it), and job code usually reaches a client
through a module global, so the interception is on the class: every client —
passed to ``Simulation`` or not — sends to the bus while an inngest simulation
runs, and nothing reaches the network (no HTTP request is even built). The patch
is installed when the first simulation with inngest targets starts and removed
when the last one closes; while several run, an event goes to the simulation whose
job code is executing, else to the one started last.

The routing state is process-wide because the patched class is; it holds only
running simulations and the two original methods.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import inngest

import jobsim

from ._events import events_from_inngest

if TYPE_CHECKING:
    from jobsim import Simulation


class _Router:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sims: list[Simulation] = []
        self.original: dict[str, Any] = {}

    def attach(self, sim: Simulation) -> None:
        with self._lock:
            if not self.sims:
                self.original = {name: inngest.Inngest.__dict__[name] for name in ("send", "send_sync")}
                inngest.Inngest.send = _send  # type: ignore[method-assign]
                inngest.Inngest.send_sync = _send_sync  # type: ignore[method-assign]
            self.sims.append(sim)

    def detach(self, sim: Simulation) -> None:
        with self._lock:
            if sim in self.sims:
                self.sims.remove(sim)
            if not self.sims and self.original:
                for name, method in self.original.items():
                    if inngest.Inngest.__dict__.get(name) in (_send, _send_sync):  # not re-patched by someone else
                        setattr(inngest.Inngest, name, method)
                self.original = {}

    def emit(self, events: Any) -> list[str]:
        sims = self.sims
        if not sims:  # pragma: no cover - the patch is removed with the last simulation
            raise jobsim.JobsimError("inngest client send intercepted with no simulation running")
        sim = next((s for s in reversed(sims) if s.engine.x is not None), sims[-1])
        return sim._emit(events_from_inngest(events))


ROUTER = _Router()


def _send_sync(self: inngest.Inngest, events: Any, *, skip_middleware: bool = False) -> list[str]:
    """``Inngest.send_sync`` inside a jobsim simulation: onto the bus, returns the event ids."""
    return ROUTER.emit(events)


async def _send(self: inngest.Inngest, events: Any, *, skip_middleware: bool = False) -> list[str]:
    """``Inngest.send`` inside a jobsim simulation: onto the bus, returns the event ids."""
    return ROUTER.emit(events)
