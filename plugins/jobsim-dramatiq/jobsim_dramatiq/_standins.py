"""The in-memory stand-ins ``DramatiqWorld`` keeps for Dramatiq's server backends while the simulation runs.

A rate-limiter ``RedisBackend``/``MemcachedBackend`` answers from its own ``StubBackend`` (``limiter``),
whose writes are kept by virtual instant (``versions``, ``_limiters.Versions``); a results ``StubBackend``
reads the simulation's entries (``stub_entries``), or, used by no simulated broker's ``Results``, a store of
its own (``stub_store``, ``_results.ResultStore``). ``_patches`` installs the calls that reach them.
A mixin of ``DramatiqWorld`` (``_world``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from ._limiters import Versions

if TYPE_CHECKING:
    from jobsim import Simulation

    from ._results import ResultStore
    from ._world import DramatiqWorld


class StandIns:
    """Part of ``DramatiqWorld``: its rate-limiter and results ``StubBackend`` stand-ins, by backend object."""

    sim: Simulation
    limiters: dict[int, tuple[Any, Any]]
    stub_versions: dict[int, Versions]
    stand_ins: dict[int, Any]
    stub_results: list[tuple[dict[str, Any], dict[str, Any]]]
    stub_stores: dict[int, tuple[Any, ResultStore]]

    def limiter(self, backend: Any) -> Any:
        """The in-memory stand-in for the server rate-limiter ``backend``: a ``StubBackend`` (``_patches``)."""
        entry = self.limiters.get(id(backend))
        if entry is None or entry[0] is not backend:
            from dramatiq.rate_limits.backends import StubBackend

            entry = self.limiters[id(backend)] = (backend, StubBackend())
            self.stand_ins[id(entry[1])] = backend
        return entry[1]

    def stands_in_for_redis(self, stub: Any) -> bool:
        """``stub`` answers for a ``RedisBackend`` (whose ``wait_notify`` leaves an event list behind)."""
        backend = self.stand_ins.get(id(stub))
        return backend is not None and type(backend).__name__ == "RedisBackend" and self.limiter(backend) is stub

    def versions(self, stub: Any, monotonic_origin_ns: int) -> Versions:
        """The writes of the rate-limiter ``StubBackend`` ``stub`` by virtual instant (``_limiters``)."""
        entry = self.stub_versions.get(id(stub))
        if entry is None or entry.backend is not stub:
            entry = self.stub_versions[id(stub)] = Versions(stub, self.sim.now_ns, monotonic_origin_ns)
        return entry

    def stub_entries(self, backend: Any) -> dict[str, Any]:
        """The simulation's entries for a results ``StubBackend``: one map per ``results`` dict, which Dramatiq
        declares on the class (``results/backends/stub.py:39``), so every instance reads what any other stored."""
        shared = backend.results
        for results, entries in self.stub_results:
            if results is shared:
                return entries
        self.stub_results.append((shared, {}))
        return self.stub_results[-1][1]

    def stub_store(self, backend: Any) -> ResultStore:
        """The store a results ``StubBackend`` no simulated broker's ``Results`` uses reads (``_patches``)."""
        entry = self.stub_stores.get(id(backend))
        if entry is None or entry[0] is not backend:
            from ._results import ResultStore

            entry = self.stub_stores[id(backend)] = (backend, ResultStore(cast("DramatiqWorld", self), backend))
        return entry[1]
