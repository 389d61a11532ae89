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
from inngest._internal import middleware_lib, net
from inngest._internal.client_lib import SendEventsResult

import jobsim

from ._events import events_from_inngest
from ._middleware import raise_if

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
    """``Inngest.send_sync`` inside a jobsim simulation: onto the bus, returns the event ids.

    As in inngest-py (``client.py : send_sync``), the client's middleware sees the
    events first (``before_send_events``, which may change them) and the result after
    (``after_send_events``), unless ``skip_middleware``.
    """
    batch = events if isinstance(events, list) else [events]
    if skip_middleware or not self.middleware:
        return ROUTER.emit(batch)
    manager = _manager(self)
    raise_if(manager.before_send_events_sync(batch))
    ids = ROUTER.emit(batch)
    raise_if(manager.after_send_events_sync(SendEventsResult(ids=ids)))
    return ids


async def _send(self: inngest.Inngest, events: Any, *, skip_middleware: bool = False) -> list[str]:
    """``Inngest.send`` inside a jobsim simulation: onto the bus, returns the event ids."""
    batch = events if isinstance(events, list) else [events]
    if skip_middleware or not self.middleware:
        return ROUTER.emit(batch)
    manager = _manager(self)
    raise_if(await manager.before_send_events(batch))
    ids = ROUTER.emit(batch)
    raise_if(await manager.after_send_events(SendEventsResult(ids=ids)))
    return ids


def _manager(client: inngest.Inngest) -> Any:
    """The client's middleware, fresh, as ``MiddlewareManager.from_client`` makes them (without the SDK's
    own ``LoggerMiddleware``, which only toggles its log filter)."""
    manager = middleware_lib.MiddlewareManager(client, None, net.ServerTimings())
    for m in client.middleware:
        manager.add(m)
    return manager
