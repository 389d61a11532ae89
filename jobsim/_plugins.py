"""The plugin manager: built-in parts and ``jobsim`` entry points, loaded once per process.

Every plugin but the built-ins is registered by ``_register``: pluggy checks each hook's arguments, a hook name
no spec has (a misspelling, which pluggy keeps for ``check_pending``) is refused there too, and the plugin's hook
functions are then guarded (``_guarded``): an exception one raises, other than a jobsim error meant for the user,
or an answer of the wrong shape is a ``PluginError`` naming the plugin, since pluggy's traceback names none.
"""

from __future__ import annotations

import difflib
import functools
import importlib.metadata
import threading
import types
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from . import hooks
from ._safe import said, shown
from .errors import JobsimError, PluginError

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
                _register(pm, plugin, name)
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
                f"Fix its installation (reinstall {dist} from where it came{_checkout_hint(ep.name, dist)}) or pip "
                f"uninstall {dist}."
            ) from exc
        _register(pm, plugin, ep.name, f", or pip uninstall {dist}")


def _checkout_hint(name: str, dist: str) -> str:
    """``, e.g. pip install -e ...`` for one of the plugins a jobsim checkout holds (``plugins/jobsim-NAME``)."""
    from ._simtargets import _TARGETS  # the bundled plugins, by entry-point name

    bundled = name in _TARGETS and dist.replace("_", "-").lower() == f"jobsim-{name}"
    return f", e.g. pip install -e plugins/{dist} in a jobsim checkout" if bundled else ""


def _register(pm: pluggy.PluginManager, plugin: Any, name: str | None, other_fix: str = "") -> None:
    """``pm.register``, refusing a plugin registered already and one whose hooks pluggy or ``_unknown_hooks``
    refuse (nothing of it stays registered), then guarding its hooks. ``other_fix``: an installed one's way out."""
    key = name or pm.get_canonical_name(plugin)
    if pm.is_registered(plugin) or pm.get_plugin(key) is not None:
        raise _registered_twice(pm, plugin, key)
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise PluginError(f"{describe(key, plugin)} is invalid: {text}; fix the plugin{other_fix}") from exc
    unknown = _unknown_hooks(pm, plugin)
    if unknown:
        pm.unregister(plugin)
        raise PluginError(f"{describe(key, plugin)} implements {unknown}, which jobsim has no hook for: rename it "
                          f"(jobsim.hooks.JobsimSpec lists the hooks){other_fix}")  # fmt: skip
    _guard(pm, plugin)


def _guard(pm: pluggy.PluginManager, plugin: Any) -> None:
    """Replace each hook function of ``plugin`` (but ``_UNGUARDED``'s and pluggy wrappers) by ``_guarded``'s."""
    for caller in pm.get_hookcallers(plugin) or ():
        if caller.name not in _UNGUARDED:
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and not (impl.wrapper or impl.hookwrapper):
                    impl.function = _guarded(caller.name, impl)  # type: ignore[misc]  # Final to pluggy: its own


def _unknown_hooks(pm: pluggy.PluginManager, plugin: Any) -> str:
    """``jobsim_instal (did you mean jobsim_install?)``: the plugin's hook functions that no spec names (what
    ``pm.check_pending()`` would refuse, told for this plugin), or ``""``."""
    specs = sorted(name for name in vars(hooks.JobsimSpec) if name.startswith("jobsim_"))
    unknown = []
    for caller in pm.get_hookcallers(plugin) or ():
        if not caller.has_spec() and any(i.plugin is plugin and not i.optionalhook for i in caller.get_hookimpls()):
            close = difflib.get_close_matches(caller.name, specs, n=1, cutoff=0.6)
            unknown.append(caller.name + (f" (did you mean {close[0]}?)" if close else ""))
    return ", ".join(unknown)


def _registered_twice(pm: pluggy.PluginManager, plugin: Any, key: str) -> PluginError:
    """A plugin registered again (the same object) or a name taken: pluggy's bare ``ValueError`` listed every
    plugin. An installed plugin registered by hand as well (a test, the README's demo) would run its hooks twice."""
    held = pm.get_name(plugin)
    if held is not None:
        how, advice = _how(held)
        again = f" (as {key!r})" if key != held else ""
        return PluginError(
            f"{describe(held, plugin)} is already registered {how}: do not register it again{again}; {advice}"
        )
    how, _ = _how(key)
    return PluginError(f"a jobsim plugin named {key!r} is already registered {how} ({describe(key, pm.get_plugin(key))}"
                       f"), so {describe(None, plugin)} cannot take that name: if it is the same plugin, it is loaded "
                       "already; else register it under another name")  # fmt: skip


def _how(name: str) -> tuple[str, str]:
    """How the plugin registered as ``name`` came (its entry point, or by hand), and what to do instead."""
    eps = [ep for ep in importlib.metadata.entry_points(group="jobsim") if ep.name == name]
    if not eps:
        return "by hand", ("register it once, and unregister it when done (jobsim.hooks.unregister, in a finally or "
                           "a fixture's teardown)")  # fmt: skip
    dist = getattr(eps[0].dist, "name", None) or "its distribution"
    advice = "jobsim loads installed plugins itself, and jobsim.hooks.register is for one that is not"
    return f"from its entry point ({dist} is installed)", advice


def describe(name: str | None, plugin: Any) -> str:
    """``jobsim plugin 'tinyq' (jobsim_tinyq.plugin)``: a plugin as errors name it, a module by its name and an
    object by its class (by that alone when registered without a name of its own)."""
    if isinstance(plugin, types.ModuleType):
        where = plugin.__name__
    else:
        cls = plugin if isinstance(plugin, type) else type(plugin)
        where = f"{cls.__module__}.{cls.__qualname__}"
    if name is None or name in (where, str(id(plugin))):
        return f"jobsim plugin {where}"
    return f"jobsim plugin {name!r} ({where})"


_UNGUARDED = frozenset({"jobsim_unread", "jobsim_uninstall"})
"""Hooks whose implementations the close calls one by one (``_unread.ask`` words each failure itself; every
``jobsim_uninstall`` must run, whoever raised): what they raise reaches the close as the plugin raised it."""


def _guarded(hook: str, impl: Any) -> Callable[..., Any]:
    """The hook function of ``impl``, as pluggy (or jobsim, by keyword) calls it, whose exceptions and wrong
    answers are ``PluginError``s naming the plugin. Jobsim errors pass as raised: an ``InvalidArgument`` for a
    malformed target, a ``ProcessPatches`` refusal, are the plugin's word to the user."""
    function, check = impl.function, _ANSWERS.get(hook)

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            answer = function(*args, **kwargs)
            return answer if check is None else check(answer, describe(impl.plugin_name, impl.plugin))
        except JobsimError:
            raise
        except Exception as exc:
            who = describe(impl.plugin_name, impl.plugin)
            raise PluginError(f"{who}: {hook} raised {said(exc)}; fix the plugin or report it to its authors (the "
                              "original error, with its traceback, is chained to this one)") from exc  # fmt: skip

    return call


class Contributed(list[Any]):
    """A plugin's ``jobsim_profiles`` answer, with the plugin that gave it (``source``): a profile name two
    plugins give, or a plugin and the built-ins, is refused naming them (``Profiles.register``)."""

    def __init__(self, items: Iterable[Any], source: str) -> None:
        super().__init__(items)
        self.source = source


def _adapted(answer: Any, who: str) -> Any:
    if answer is None or isinstance(answer, hooks.Adapted):
        return answer
    raise PluginError(f"{who} answered jobsim_adapt with {shown(answer, 200)}; it must return jobsim.hooks.Adapted "
                      "for a target it takes, else None")  # fmt: skip


def _profiles(answer: Any, who: str) -> Any:
    from ._profiles import Profile

    if answer is None:
        return None
    if isinstance(answer, Profile):
        upper = answer.name.upper()
        raise PluginError(f"{who}: jobsim_profiles gave the jobsim.Profile {answer.name!r} itself; it must give a "
                          f"list of jobsim.Profile objects ([{upper}], not {upper})")  # fmt: skip
    given = list(answer) if isinstance(answer, Iterable) and not isinstance(answer, (str, bytes)) else None
    wrong = [answer] if given is None else [p for p in given if not isinstance(p, Profile)][:1]
    if wrong:
        among = "" if given is None else " among its profiles"
        raise PluginError(f"{who}: jobsim_profiles gave {shown(wrong[0], 200)}{among}; it must give a list of "
                          "jobsim.Profile objects")  # fmt: skip
    return Contributed(given or (), who)


_ANSWERS: dict[str, Callable[[Any, str], Any]] = {"jobsim_adapt": _adapted, "jobsim_profiles": _profiles}
"""The hooks whose answers are checked where the plugin that gave them is known."""


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
    _register(manager(), plugin, name)


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


# -- closing: who failed to uninstall ---------------------------------------------------------------
def _module_of(plugin: Any) -> str:
    return getattr(plugin, "__name__", None) or type(plugin).__module__


def hook_owner(impl: Any) -> str:
    """``the jobsim plugin 'NAME' (MODULE)``: who a hook implementation is, as the close's errors name it."""
    return f"the jobsim plugin {impl.plugin_name!r} ({_module_of(impl.plugin)})"


def adapted_owner(pm: pluggy.PluginManager, adapted: hooks.Adapted) -> str:
    """The plugin whose ``Adapted`` this is, by its ``uninstall``: the registered plugin it is a method of, else
    the one whose module (then package) defines it; else the backend it names, and that module."""
    uninstall = adapted.uninstall
    module = getattr(uninstall, "__module__", None) or type(uninstall).__module__
    owner, package = getattr(uninstall, "__self__", None), module.partition(".")[0]
    adapting = [(name, plugin) for name, plugin in pm.list_name_plugin() if hasattr(plugin, "jobsim_adapt")]
    ranked = sorted((0 if plugin is owner else 1 if _module_of(plugin) == module else 2, name, _module_of(plugin))
                    for name, plugin in adapting
                    if plugin is owner or _module_of(plugin).partition(".")[0] == package != "jobsim")  # fmt: skip
    if ranked:
        return f"the jobsim plugin {ranked[0][1]!r} ({ranked[0][2]})"
    return f"the jobsim plugin of backend {adapted.backend!r} ({module})"


def package_owners(pm: pluggy.PluginManager) -> dict[str, str]:
    """Each plugin's top-level package (``jobsim_huey``; a test module for a plugin made in a test), and the
    plugin as errors name it: where ``jobsim._patching.left_pushed`` looks for its ``ProcessPatches``."""
    owners: dict[str, str] = {}
    for name, plugin in pm.list_name_plugin():
        root = _module_of(plugin).partition(".")[0] if plugin is not None else "jobsim"
        if root != "jobsim":
            owners.setdefault(root, f"the jobsim plugin {name!r} ({_module_of(plugin)})")
    return owners


def uninstall_failed(raised: list[tuple[str, str, BaseException]], left: list[tuple[str, str]]) -> PluginError:
    """The one error ``close`` raises, once everything is released, for the plugins whose uninstall failed:
    ``raised`` (who, where, the exception: chained from the first), ``left`` (who, the ``ProcessPatches`` its
    uninstall left pushed, which jobsim popped)."""
    told = [f"{who}: its {where} raised {type(error).__name__}: {error}" for who, where, error in raised]
    told += [f"{who} left {patches} pushed: its uninstall did not call pop(world)" for who, patches in left]
    fixes, still = [], ""
    if raised:
        fixes.append("Adapted.uninstall and the jobsim_uninstall hook must not raise: undo what install did, and let "
                     "nothing escape")  # fmt: skip
        still = ", but what that plugin patched may still be patched"
    if left:
        fixes.append("what a plugin pushes on a jobsim.hooks.ProcessPatches at install, its uninstall must pop: "
                     "PATCHES.pop(world); jobsim popped it now, restoring what it set")  # fmt: skip
    error = PluginError(
        f"uninstall failed as the simulation closed: {'; '.join(told)}. The simulation is closed and everything "
        f"else released (the other plugins, jobsim's HTTP and mail sinks, wall clock and loop){still}; report it to "
        f"the plugin's authors ({'; '.join(fixes)})"
    )
    if raised:
        error.__cause__ = raised[0][2]
    return error
