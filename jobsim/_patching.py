"""Class attributes replaced while any HTTP sink is installed: how the client bridges hook in.

``jobsim._urllib3``, ``jobsim._aiohttp`` and ``jobsim._httpclient`` each replace a method or two of
their library's classes (or a module's global: urllib3's ``random``) for as long as at least one
simulation's sink is installed. Sinks may be installed at once (a
simulation inside another's test): the patch is applied when the first comes and restored exactly
when the last goes (an attribute the class only inherited is deleted again, not copied onto it), and
a request goes to the sink installed last.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._http import HttpSink

_ABSENT: Any = object()  # the class had no attribute of its own by that name
_UNPATCHED: Any = object()


class SinkPatches:
    """One bridge's patches and the sinks they serve."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._sinks: list[HttpSink] = []
        self._saved: dict[tuple[Any, str], Any] = {}

    def install(self, sink: HttpSink, patches: Callable[[], Iterable[tuple[Any, str, Any]]]) -> None:
        """Add ``sink``; the first one applies ``patches()``: (class or module, attribute name, replacement)."""
        with self.lock:
            if not self._sinks:
                for owner, name, replacement in patches():
                    self._saved[owner, name] = owner.__dict__.get(name, _ABSENT)
                    setattr(owner, name, replacement)
            self._sinks.append(sink)

    def uninstall(self, sink: HttpSink) -> None:
        with self.lock:
            if sink not in self._sinks:
                return
            self._sinks.remove(sink)
            if not self._sinks:
                for (owner, name), saved in self._saved.items():
                    if saved is _ABSENT:
                        delattr(owner, name)
                    else:
                        setattr(owner, name, saved)
                self._saved.clear()

    def sink(self) -> HttpSink | None:
        """The sink installed last, or ``None`` once all are gone (a request already on its way then)."""
        with self.lock:
            return self._sinks[-1] if self._sinks else None

    def sinks(self) -> list[HttpSink]:
        """The installed sinks, oldest first."""
        with self.lock:
            return list(self._sinks)

    def original(self, owner: Any, name: str) -> Any:
        """``owner.name`` as the library defines it, unpatched (the function, to call with the instance)."""
        with self.lock:
            saved = self._saved.get((owner, name), _UNPATCHED)
        if saved is _UNPATCHED:
            return getattr(owner, name)
        if saved is _ABSENT:  # inherited: the class it comes from
            return next(klass.__dict__[name] for klass in owner.__mro__[1:] if name in klass.__dict__)
        return saved


def left_pushed(sim: object, owners: Callable[[], dict[str, str]]) -> list[tuple[str, Any]]:
    """The ``jobsim.hooks.ProcessPatches`` still holding a world of ``sim`` (its ``sim``) after the simulation's
    plugins uninstalled: a plugin's uninstall that never called ``pop``, which would refuse every later simulation
    as if ``sim`` still ran. Only the patch sets pushed now are looked at (``ProcessPatches.pushed``), those made in
    a plugin's package (``owners()``, asked only then: top-level package to the plugin as errors name it), as
    (owner, patches)."""
    from .hooks import ProcessPatches

    held = [patches for patches in list(ProcessPatches.pushed) if getattr(patches.current, "sim", None) is sim]
    if not held:
        return []
    named = owners()
    found: list[tuple[str, Any]] = []
    for patches in held:
        owner = named.get(patches.module.partition(".")[0])
        if owner is not None:
            found.append((owner, patches))
    return found
