"""The plugin manager: built-in parts and ``jobsim`` entry points, loaded once per process."""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from . import hooks
from .errors import PluginError

if TYPE_CHECKING:
    from ._profiles import Profile
    from ._simulation import Simulation

_lock = threading.Lock()
_manager: pluggy.PluginManager | None = None
_pending: list[tuple[Any, str | None]] = []
"""Plugins registered ``when_built`` before the manager was: registered when it is."""


class _Builtins:
    """jobsim's own parts, registered through the same hooks plugins use."""

    @hooks.hookimpl
    def jobsim_profiles(self) -> Sequence[Profile]:
        from ._profiles import builtin_profiles

        return builtin_profiles()

    @hooks.hookimpl
    def jobsim_install(self, sim: Simulation) -> None:
        sim.mail.install()
        sim.http.install()

    @hooks.hookimpl
    def jobsim_uninstall(self, sim: Simulation) -> None:
        sim.http.uninstall()
        sim.mail.uninstall()

    @hooks.hookimpl
    def jobsim_record_kinds(self) -> dict[str, hooks.RecordRenderer]:
        from ._timeline import BUILTIN_KINDS

        return dict(BUILTIN_KINDS)


def manager() -> pluggy.PluginManager:
    """The process-wide plugin manager; entry points load on first use."""
    global _manager
    with _lock:
        if _manager is None:
            pm = pluggy.PluginManager("jobsim")
            pm.add_hookspecs(hooks.JobsimSpec)
            pm.register(_Builtins(), name="jobsim.builtins")
            _load_entry_points(pm)
            for plugin, name in _pending:
                pm.register(plugin, name=name)
            _pending.clear()
            _manager = pm
        return _manager


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    for ep in sorted(importlib.metadata.entry_points(group="jobsim"), key=lambda e: e.name):
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        dist = getattr(ep.dist, "name", None) or "the distribution that declares it"
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(
                f"jobsim plugin {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}. "
                f"Fix its installation (reinstall {dist} from where it came, e.g. pip install -e plugins/{dist} in a "
                f"jobsim checkout) or pip uninstall {dist}."
            ) from exc
        try:
            pm.register(plugin, name=ep.name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"jobsim plugin {ep.name!r} ({ep.value}) is invalid: {exc}") from exc


def register(plugin: Any, name: str | None = None, *, when_built: bool = False) -> None:
    """Register a plugin object by hand (tests, or a plugin that is not installed).

    ``when_built``: if no simulation has built the manager yet, register the plugin when
    one does, rather than build it now. Building it imports every installed backend
    plugin (jobsim-celery imports Celery): the pytest plugin registers its note-taker this
    way, so a test run that never simulates does not pay for them at startup.
    """
    with _lock:
        if when_built and _manager is None:
            _pending.append((plugin, name))
            return
    manager().register(plugin, name=name)


def unregister(plugin: Any) -> None:
    with _lock:
        if _manager is None:  # still waiting for the manager: nothing to build for
            _pending[:] = [(p, n) for p, n in _pending if p is not plugin]
            return
    manager().unregister(plugin)


def registered(kind: type) -> list[Any]:
    """The registered plugins that are instances of ``kind``, waiting ones included, without building anything."""
    with _lock:
        plugins = [p for p, _ in _pending] if _manager is None else list(_manager.get_plugins())
    return [p for p in plugins if isinstance(p, kind)]


def plugin_names() -> list[str]:
    """The names of the backend plugins: those that adapt targets (the pytest plugin's note-taker of started
    simulations, registered without a name, showed as a number among them)."""
    return sorted(n for n, p in manager().list_name_plugin()
                  if n != "jobsim.builtins" and p is not None and hasattr(p, "jobsim_adapt"))  # fmt: skip
