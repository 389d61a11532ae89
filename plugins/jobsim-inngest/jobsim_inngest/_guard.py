"""While a simulation that runs no inngest-py function is running, ``Inngest.send``/``send_sync`` say so.

A test that forgot to pass its inngest-py functions (it simulates a ``jobsim.App``, or
another backend) would otherwise send the events over HTTP to the client's event API:
the local dev server (``http://127.0.0.1:8288``; one running would start real runs) or,
with ``is_production=True``, Inngest Cloud with the client's event key. Both methods are
wrapped while such a simulation runs; a wrapper left in place by an unusual closing order
calls inngest-py's own method once no guarded simulation runs, and a simulation with
inngest-py functions started inside a guarded one routes both to its bus (``_send``),
as it does otherwise.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from jobsim.errors import JobsimError

_NAMES = ("send", "send_sync")
_guarded: list[Any] = []  # running simulations with no inngest-py function
_saved: dict[str, Any] = {}


def guard(sim: Any) -> None:
    import inngest

    if not _saved:
        for name in _NAMES:
            original = _saved[name] = inngest.Inngest.__dict__[name]
            setattr(inngest.Inngest, name, _refusing(name, original))
    _guarded.append(sim)


def unguard(sim: Any) -> None:
    if sim in _guarded:
        _guarded.remove(sim)
    if _guarded or not _saved:
        return
    import inngest

    for name, original in _saved.items():
        if getattr(inngest.Inngest.__dict__.get(name), "_jobsim_guard", False):  # else something patched it since
            setattr(inngest.Inngest, name, original)
    _saved.clear()


def _refusing(name: str, original: Any) -> Any:
    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def refuse_async(self: Any, events: Any, *args: Any, **kwargs: Any) -> Any:
            if not _guarded:
                return await original(self, events, *args, **kwargs)
            raise _refusal(self, name, events)

        refuse: Any = refuse_async
    else:

        @functools.wraps(original)
        def refuse_sync(self: Any, events: Any, *args: Any, **kwargs: Any) -> Any:
            if not _guarded:
                return original(self, events, *args, **kwargs)
            raise _refusal(self, name, events)

        refuse = refuse_sync
    refuse._jobsim_guard = True
    return refuse


def _refusal(client: Any, name: str, events: Any) -> JobsimError:
    names = [getattr(e, "name", "?") for e in (events if isinstance(events, list) else [events])]
    return JobsimError(
        f"inngest client {getattr(client, 'app_id', '?')!r} is not part of this simulation: {name} would send "
        f"{names} to its real event API ({getattr(client, '_event_api_origin', '?')}). This simulation runs no "
        "inngest-py function: pass the functions (and their client), e.g. jobsim.Simulation([fn, ...], client) "
        "or jobsim.Simulation([fn, ...], client, other_target); while a simulation runs inngest-py functions, "
        "every client's send goes to its event bus"
    )
