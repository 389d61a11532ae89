"""The jobsim plugin for inngest-py: claims inngest-py functions and clients.

Targets (``jobsim.Simulation(*targets)`` flattens lists, so each arrives alone):

* an ``inngest.Function`` (``client.create_function(...)``, sync or async): becomes a
  ``jobsim.Function`` with the same id (inngest-py's fully qualified ``fn.id``,
  ``"<app_id>-<fn_id>"``), the function's options translated by ``_config`` and
  its handler run with an inngest-py ``ctx`` by ``_context``;
* an ``inngest.Inngest`` client (optional): its serializer and logger are used for
  the functions of its ``app_id``. Without one, outputs pass through unchanged, as
  with a client that has no serializer, and ``ctx.logger`` is inngest-py's default
  logger.

While a simulation with inngest targets runs, ``Inngest.send``/``send_sync`` of
every client goes to the simulation's bus (``_send``).

This module is imported by every ``jobsim.Simulation`` (entry point), so it does
not import inngest-py: a target can only be an inngest-py object if inngest-py
is already imported.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import types
import weakref
from typing import TYPE_CHECKING, Any

from jobsim.hooks import Adapted, guard_hooks, hookimpl

if TYPE_CHECKING:
    import inngest

    from jobsim import App, Event, Simulation

BACKEND = "inngest-py"
_UNSET: Any = object()


class SimState:
    """What the plugin knows about one simulation: its inngest-py clients, apps and functions."""

    def __init__(self) -> None:
        self.clients: list[inngest.Inngest] = []
        self.apps: dict[str, App] = {}
        self.inngest_functions: dict[str, inngest.Function[Any]] = {}
        self.attached = False

    def client_for(self, app_id: str) -> inngest.Inngest | None:
        return next((c for c in self.clients if c.app_id == app_id), None)


_STATES: weakref.WeakKeyDictionary[Simulation, SimState] = weakref.WeakKeyDictionary()


def state_of(sim: Simulation) -> SimState:
    state = _STATES.get(sim)
    if state is None:
        state = _STATES[sim] = SimState()
    return state


@dataclasses.dataclass(eq=False)
class Binding:
    """One inngest-py function in one simulation: what its handler wrapper needs at run time."""

    fn: Any
    app_id: str
    state: SimState
    _client: Any = dataclasses.field(default=_UNSET, repr=False)

    def client(self) -> Any:
        """The client of this function's app; looked up once, when job code first runs (targets are all known)."""
        if self._client is _UNSET:
            self._client = self.state.client_for(self.app_id)
        return self._client

    def serialize(self, value: Any, output_type: Any) -> Any:
        client = self.client()
        return value if client is None else client._serialize(value, output_type)

    def deserialize(self, value: Any, output_type: Any) -> Any:
        client = self.client()
        return value if client is None else client._deserialize(value, output_type)


@hookimpl
def jobsim_event(value: Any) -> Event | None:
    """``sim.send(inngest.Event(...))``: the event as inngest-py's client would send it (``_events.from_inngest``)."""
    inngest_module = sys.modules.get("inngest")
    if inngest_module is None or not isinstance(value, inngest_module.Event):
        return None
    from ._events import from_inngest

    return from_inngest(value, "event")


@hookimpl
def jobsim_adapt(sim: Simulation, target: Any) -> Adapted | None:
    inngest_module = sys.modules.get("inngest")
    if inngest_module is None:
        return None
    if isinstance(target, inngest_module.Function):
        return _adapt_function(sim, target)
    if isinstance(target, inngest_module.Inngest):
        state = state_of(sim)
        if target not in state.clients:
            state.clients.append(target)
        return _adapted(sim, [])
    return None


# a simulation that runs no inngest-py function refuses Inngest.send/send_sync while it runs (_guard)
jobsim_install, jobsim_uninstall = guard_hooks("inngest", "jobsim_inngest._guard:GUARD", runs=_STATES.__contains__)


def _adapted(sim: Simulation, functions: list[Any]) -> Adapted:
    return Adapted(backend=BACKEND, functions=functions, install=_install, uninstall=_uninstall, profile="inngest")


def _install(sim: Simulation) -> None:
    state = state_of(sim)
    _check_clients(state)
    if not state.attached:
        from ._send import ROUTER

        ROUTER.attach(sim)
        state.attached = True


def _check_clients(state: SimState) -> None:
    """Refuse what would not run as inngest-py runs it for lack of the function's client.

    Function middleware is built with the function's client (``middleware(client, raw_request)``)
    and runs after the client's own. A client is found only when passed to ``Simulation``
    (functions do not know theirs); one in the handler's module with middleware or a
    serializer would be silently left out, so it is named with the fix.
    """
    from ._config import ConfigError

    for fn_id, fn in state.inngest_functions.items():
        local_id = fn.local_id
        app_id = fn_id[: -len(local_id) - 1] if fn_id.endswith(f"-{local_id}") else fn_id
        if state.client_for(app_id) is not None:
            continue
        fix = f"pass the client too, e.g. jobsim.Simulation([{local_id.replace('-', '_')}, client])"
        if fn._middleware:
            names = ", ".join(getattr(m, "__name__", repr(m)) for m in fn._middleware)
            raise ConfigError(
                f"inngest function {fn_id!r} has middleware ({names}) but the simulation has no client of app "
                f"{app_id!r}: inngest-py builds middleware with the client and runs the client's middleware first; "
                f"{fix}"
            )
        for client in _nearby_clients(fn, app_id):
            lost = [f"middleware ({', '.join(getattr(m, '__name__', repr(m)) for m in client.middleware)})"]
            lost = lost if client.middleware else []
            if client._serializer is not None:
                lost.append(f"serializer ({type(client._serializer).__name__})")
            if lost:
                raise ConfigError(
                    f"inngest function {fn_id!r}: its client {app_id!r} is not passed to the simulation, so its "
                    f"{' and '.join(lost)} would not run; {fix}"
                )


def _nearby_clients(fn: Any, app_id: str) -> list[Any]:
    """``inngest.Inngest`` clients of ``app_id`` that the function's handlers reach by name (module globals,
    closures), directly or as an attribute of a module they reach (``import app.clients as clients``,
    ``@clients.inngest_client.create_function``): where ``@client.create_function`` puts them."""
    import inngest

    found: list[Any] = []
    for handler in (fn._handler, fn._opts.on_failure):
        if handler is None:
            continue
        handler = inspect.unwrap(handler)
        values = list(getattr(handler, "__globals__", {}).values())
        values += [cell.cell_contents for cell in getattr(handler, "__closure__", None) or () if _filled(cell)]
        values += [inner for value in values if isinstance(value, types.ModuleType) for inner in vars(value).values()]
        for value in values:
            if isinstance(value, inngest.Inngest) and value.app_id == app_id and value not in found:
                found.append(value)
    return found


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


def _uninstall(sim: Simulation) -> None:
    state = state_of(sim)
    if state.attached:
        from ._send import ROUTER

        ROUTER.detach(sim)
        state.attached = False


def _adapt_function(sim: Simulation, fn: Any) -> Adapted:
    import jobsim

    from ._config import ConfigError, options
    from ._context import EMPTY, make_handler
    from ._errors import error_body

    state = state_of(sim)
    local_id = fn.local_id
    app_id = fn.id[: -len(local_id) - 1] if fn.id.endswith(f"-{local_id}") else fn.id
    app = state.apps.get(app_id)
    if app is None:
        app = state.apps[app_id] = jobsim.App(app_id)
    if fn.id in app.functions:
        _refuse_twice(fn, state.inngest_functions.get(fn.id))
    binding = Binding(fn, app_id, state)
    kwargs = options(fn, sim.seed)
    crons, event_if = kwargs.pop("_crons"), kwargs.pop("_event_if", None)
    if fn._opts.on_failure is not None:
        kwargs["on_failure"] = make_handler(binding, fn._opts.on_failure, EMPTY)
    handler = make_handler(binding, fn._handler, fn._output_type)
    try:
        declared = app.function(fn.id, **kwargs)(handler)
    except jobsim.InvalidArgument as exc:
        message = str(exc).removeprefix(f"function {fn.id!r}: ")
        raise ConfigError(f"inngest function {fn.id!r}: {message}") from None
    options_ = {**declared.options, "inngest": fn, "native": fn, "error_body": error_body,
                "step_ids": "counter"}  # a reused id is id:n by inngest-py's counter alone (_parse_step_id)
    changes: dict[str, Any] = {"options": options_}
    if event_if is not None:
        changes["event_if"] = event_if
    if crons:
        changes["crons"] = crons  # the same schedules, jittered where the trigger asks for it
    declared = app.functions[fn.id] = dataclasses.replace(declared, **changes)
    state.inngest_functions[fn.id] = fn
    return _adapted(sim, [declared])


def _refuse_twice(fn: Any, first: Any) -> None:
    """A second function of the same id: the same object again, or another one given the same ``fn_id``."""
    import jobsim

    if first is None or first is fn:
        raise jobsim.InvalidArgument(f"inngest function {fn.id!r} was passed to the simulation twice")
    raise jobsim.InvalidArgument(
        f"inngest functions {_python_name(first)} and {_python_name(fn)} both have the id {fn.id!r} (fn_id="
        f"{fn.local_id!r}): inngest's serve() keeps one function per id, the last one given, and the other would "
        "never run. Give each its own fn_id"
    )  # fmt: skip


def _python_name(fn: Any) -> str:
    handler = getattr(fn, "_handler", None)
    module, name = getattr(handler, "__module__", None), getattr(handler, "__qualname__", None)
    return f"{module}:{name}" if module and name else repr(fn)
