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

from typing import Any

from jobsim.errors import JobsimError
from jobsim.hooks import ClassGuard


def _install(guard: ClassGuard) -> None:
    import inngest

    for name in ("send", "send_sync"):
        guard.wrap(inngest.Inngest, name, _refusal)


GUARD = ClassGuard(_install)  # running simulations with no inngest-py function


def _refusal(client: Any, name: str, events: Any, *args: Any, **kwargs: Any) -> JobsimError:
    names = [getattr(e, "name", "?") for e in (events if isinstance(events, list) else [events])]
    return JobsimError(
        f"inngest client {getattr(client, 'app_id', '?')!r} is not part of this simulation: {name} would send "
        f"{names} to its real event API ({getattr(client, '_event_api_origin', '?')}). This simulation runs no "
        "inngest-py function: pass the functions (and their client), e.g. jobsim.Simulation([fn, ...], client) "
        "or jobsim.Simulation([fn, ...], client, other_target); while a simulation runs inngest-py functions, "
        "every client's send goes to its event bus"
    )
