"""The client libraries the HTTP sink bridges, each patched only once job code has imported it.

httpx goes through respx (``jobsim._http``); ``http.client`` (and so ``urllib.request``), urllib3
(requests, botocore) and aiohttp each have a bridge module that patches a method or two of the
library while a sink is installed (``BRIDGES``). Importing aiohttp and urllib3 only to patch them
made the first simulation of every process start about twice as slowly, whether job code used them
or not (``benchmarks/bench_http_start.py``). So a library is bridged when it is there:

- at a sink's ``install``, if the library is imported already;
- else the moment it is imported while any sink is installed. A finder at the front of
  ``sys.meta_path`` (``_Watch``), there only while a sink is installed, lets the other finders
  find the watched module and wraps its loader (``_Announcing``): right after the library's own
  code ran, and before the ``import`` statement returns, the bridge is applied for every installed
  sink, in the order they were installed (the last one answers, ``jobsim._patching``). The module
  keeps the library's own loader (``__loader__``, ``__spec__.loader``).

The last sink's ``uninstall`` takes the finder out of ``sys.meta_path``; each bridge restores its
library exactly (``SinkPatches``). What the sink must know of a client without importing it lives
here too: ``Abandoned`` and ``cut_short``.
"""

from __future__ import annotations

import importlib
import sys
import threading
import warnings
from types import ModuleType
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from ._http import HttpSink

__all__ = ["AIOHTTP_CLOSED", "AIOHTTP_TOTAL", "BRIDGES", "Abandoned", "cut_short", "install", "uninstall"]

BRIDGES = {"http.client": "jobsim._httpclient", "urllib3": "jobsim._urllib3", "aiohttp": "jobsim._aiohttp"}
"""Library module -> the jobsim module that bridges it (its ``install(sink)``/``uninstall(sink)``)."""
AIOHTTP_TOTAL = "aiohttp's total timeout"
AIOHTTP_CLOSED = "jobsim: the client closed the connection before the answer came"


class Abandoned(BaseException):
    """Ends a request's resolution when its client stopped waiting for the answer (aiohttp's own timeout,
    a cancelled task): the call records ``error``, what the client got, at the instant it gave up.

    A ``BaseException``, as ``CancelledError`` is: nothing between the wait and the recording catches it.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


def cut_short(error: object) -> type[httpx.TransportError] | None:
    """The phase (as httpx's error) in which aiohttp gave up on a recorded call, if its ``error``
    (``"Class: message"``) says it did (``Abandoned``); else None. A replay raises that error a moment after
    the instant, so the same timeout of the same phase cuts the replayed call short at the same instant."""
    name, _, message = error.partition(": ") if isinstance(error, str) else ("", "", "")
    if name == "ConnectionTimeoutError" or (name == "ServerTimeoutError" and message.startswith("Connection")):
        return httpx.ConnectTimeout
    if name in ("SocketTimeoutError", "ServerTimeoutError") or (
            name == "TimeoutError" and message.startswith(AIOHTTP_TOTAL)):  # fmt: skip
        return httpx.ReadTimeout
    return httpx.ReadError if name == "ClientConnectionError" and message == AIOHTTP_CLOSED else None


class _Bridges:
    """The installed sinks, the bridges loaded, and the import watch while a library is still missing."""

    def __init__(self) -> None:
        self.lock = threading.RLock()  # reentrant: applying a bridge imports modules, which pass the watch
        self.sinks: list[HttpSink] = []
        self.watch: _Watch | None = None

    def install(self, sink: HttpSink) -> None:
        with self.lock:
            if sink in self.sinks:
                return
            self.sinks.append(sink)
            missing = False
            for library in BRIDGES:
                if _imported(library):
                    _bridge(library).install(sink)
                else:
                    missing = True
            if missing and self.watch is None:
                self.watch = _Watch(self)
                sys.meta_path.insert(0, self.watch)

    def uninstall(self, sink: HttpSink) -> None:
        with self.lock:
            if sink not in self.sinks:
                return
            self.sinks.remove(sink)
            for name in BRIDGES.values():
                bridge = sys.modules.get(name)
                if bridge is not None:
                    bridge.uninstall(sink)
            if not self.sinks and self.watch is not None:
                if self.watch in sys.meta_path:
                    sys.meta_path.remove(self.watch)
                self.watch = None

    def imported(self, library: str) -> None:
        """``library`` has just been imported: bridge it for every installed sink, oldest first."""
        with self.lock:
            if not self.sinks:
                return
            try:
                bridge = _bridge(library)
                for sink in self.sinks:
                    bridge.install(sink)
            except Exception as error:  # raising here would undo the library's import (the job's import fails)
                warnings.warn(f"jobsim: {library} was imported while a simulation runs, but its bridge to sim.http "
                              f"failed ({type(error).__name__}: {error}); its requests are not simulated",
                              RuntimeWarning, stacklevel=2)  # fmt: skip


_ACTIVE = _Bridges()


def install(sink: HttpSink) -> None:
    """Bridge every client library to ``sink``: those imported now, and the others once imported."""
    _ACTIVE.install(sink)


def uninstall(sink: HttpSink) -> None:
    """Stop bridging to ``sink``; the last sink gone, every library is restored and the watch removed."""
    _ACTIVE.uninstall(sink)


def _imported(library: str) -> bool:
    """``library`` is in ``sys.modules`` and done running (not half-imported by some thread right now)."""
    module = sys.modules.get(library)
    return module is not None and not getattr(getattr(module, "__spec__", None), "_initializing", False)


def _bridge(library: str) -> Any:
    module: ModuleType = importlib.import_module(BRIDGES[library])
    return module


class _Watch:
    """A ``sys.meta_path`` finder for the libraries in ``BRIDGES``: it finds nothing itself, but hands the
    spec the other finders find for one with a loader that applies the bridge after the module has run."""

    def __init__(self, bridges: _Bridges) -> None:
        self._bridges = bridges
        self._finding = threading.local()  # a finder that asks importlib.util.find_spec would come back here

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in BRIDGES or getattr(self._finding, "on", False):
            return None
        self._finding.on = True
        try:
            spec = _find_elsewhere(self, fullname, path, target)
        finally:
            self._finding.on = False
        if spec is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Announcing(spec.loader, fullname, self._bridges)
        return spec


def _find_elsewhere(watch: _Watch, fullname: str, path: Any, target: Any) -> Any:
    """The spec the finders after ``watch`` find, as the import system would ask them."""
    for finder in list(sys.meta_path):
        find = getattr(finder, "find_spec", None)
        if finder is watch or find is None:
            continue
        spec = find(fullname, path, target)
        if spec is not None:
            return spec
    return None


class _Announcing:
    """The library's loader, telling ``_Bridges`` once the module has run. Everything else is the loader's."""

    def __init__(self, loader: Any, library: str, bridges: _Bridges) -> None:
        self._loader = loader
        self._library = library
        self._bridges = bridges

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader  # the module and its spec keep the library's own loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        self._bridges.imported(self._library)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)
