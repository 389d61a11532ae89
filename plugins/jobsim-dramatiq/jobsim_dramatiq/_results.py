"""The ``Results`` middleware's backend in virtual time.

``Results.after_process_message`` stores an actor's return value (``store_results=True``) and
``after_nack`` the exception of a message that failed for good (``results/middleware.py:94-117``),
each for ``result_ttl`` ms (default 10 minutes, ``:25, 76``). The backend object the user built
keeps its own key (``build_message_key``) and encoder, but while the simulation runs its store is
an in-memory map on the virtual clock, with that backend's expiry rule:

* ``RedisBackend``: ``PEXPIRE`` ``ttl`` ms (``results/backends/redis.py:105-110``): gone ``ttl`` ms
  after it was stored;
* ``StubBackend``: ``monotonic() + int(ttl / 1000)`` (``results/backends/stub.py:48-51``), whole
  seconds truncated, and read while ``now < expiration``: a ``result_ttl`` under 1000 ms is never
  readable, exactly as with the real stub backend. Its ``results`` dict is a class attribute
  (``stub.py:39``), so every ``StubBackend`` reads what any other stored: here every instance reads
  the simulation's one map (``DramatiqWorld.stub_entries``), also one no simulated broker uses
  (``Message.get_result(backend=StubBackend())``, through ``_patches``). Not across simulations:
  message ids are drawn from the seed, so a later simulation's ids are an earlier one's;
* ``MemcachedBackend``: ``time=int(ttl / 1000)`` seconds (``results/backends/memcached.py:64-68``),
  ``0`` meaning no expiry.

Reading: ``get_result(message)`` raises ``ResultMissing`` until the value is stored (at the virtual
instant the actor's processing ended) and after it expired. ``block=True`` from the test waits in
virtual time, driving the simulation: on Redis with ``BRPOPLPUSH`` for ``int(timeout / 1000)``
whole seconds (``redis.py:84-96``: a timeout under a second does not wait at all), on the others by
Dramatiq's own polling loop with its backoff (``results/backend.py:103-125``), whose sleeps are
virtual. From actor code a blocking read of a result not there yet is refused: the actor's body runs
in one go, so no other message can make progress while it waits.

After the simulation: ``get_result`` of a message it ran raises ``JobsimError`` (``closed``): its result lived
in the simulation's store, and the backend's own read would go to a server that may not exist, or to a real one
that never had it. Other messages' reads are the backend's own.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from jobsim._time import MS, SECOND
from jobsim.errors import JobsimError, UnsupportedFeature

if TYPE_CHECKING:
    from ._world import DramatiqWorld

METHODS = ("_store", "_get", "get_result")
# the ids of the messages closed simulations ran, per backend object (``closed``)
_CLOSED: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


class ResultStore:
    """The results of one backend object, each ``(data, stored_at, expires_at)`` in virtual ns."""

    def __init__(self, world: DramatiqWorld, backend: Any) -> None:
        self.world = world
        self.backend = backend
        self.rule = _rule(backend)
        # a StubBackend's results live in a class attribute: all its instances share them (``stub_entries``)
        self.entries: dict[str, tuple[bytes, int, int | None]] = (
            world.stub_entries(backend) if self.rule == "stub" else {})  # fmt: skip

    def install(self) -> None:
        own = self.backend.__dict__
        own["_store"], own["_get"] = self.store, self.get
        if self.rule == "redis":
            own["get_result"] = self.get_result_redis
        else:
            own["get_result"] = self.get_result_polling

    def uninstall(self) -> None:
        for name in METHODS:
            self.backend.__dict__.pop(name, None)
        closed = _CLOSED.setdefault(self.backend, set())
        closed.update(self.world.deliveries)
        self.backend.__dict__["get_result"] = _closed(self.backend, closed)

    def store(self, message_key: str, result: Any, ttl: int) -> None:
        now = self.world.sim.now_ns()
        if self.rule == "redis":
            expires: int | None = now + int(ttl * MS)
        else:
            seconds = int(ttl / 1000)
            expires = None if self.rule == "memcached" and seconds == 0 else now + seconds * SECOND
        try:
            data = self.backend.encoder.encode(result)
        except Exception as exc:  # emit_after logs it (broker.py:123-129): get_result raises ResultMissing for ever
            item = self.world.current
            run = getattr(getattr(getattr(item, "parcel", None), "held", None), "run", None)
            text = f"{type(exc).__name__}: {exc}"
            self.world.record("dramatiq.result_not_stored", run=getattr(run, "id", None),
                              function=getattr(getattr(run, "function", None), "id", None),
                              error=text if len(text) <= 200 else text[:199] + "…")  # fmt: skip
            raise
        self.entries[message_key] = (data, now, expires)

    def visible(self, message_key: str) -> bytes | None:
        entry = self.entries.get(message_key)
        if entry is None:
            return None
        data, stored, expires = entry
        now = self.world.sim.now_ns()
        if now < stored or (expires is not None and now >= expires):
            return None
        return data

    def get(self, message_key: str) -> Any:
        from dramatiq.results.backend import Missing

        data = self.visible(message_key)
        return Missing if data is None else self.backend.encoder.decode(data)

    def get_result_redis(self, message: Any, *, block: bool = False, timeout: int | None = None) -> Any:
        """``RedisBackend.get_result`` (``results/backends/redis.py:65-103``) on the virtual clock."""
        from dramatiq.results import ResultMissing, ResultTimeout
        from dramatiq.results.backend import DEFAULT_TIMEOUT

        key = self.backend.build_message_key(message)
        if block:
            seconds = int((DEFAULT_TIMEOUT if timeout is None else timeout) / 1000)
            self.refuse_in_actor(key)
            if seconds:
                self.world.wait_until(lambda: self.visible(key) is not None, seconds * SECOND, "get_result(block=True)")
            data = self.visible(key)
            if data is None:
                raise ResultTimeout(message)
        else:
            data = self.visible(key)
            if data is None:
                raise ResultMissing(message)
        return self.backend.unwrap_result(self.backend.encoder.decode(data))

    def get_result_polling(self, message: Any, *, block: bool = False, timeout: int | None = None) -> Any:
        """``ResultBackend.get_result`` itself: its ``time.monotonic``/``time.sleep`` are virtual (``Sleeper``)."""
        import dramatiq.results.backend as base

        if block:
            self.refuse_in_actor(self.backend.build_message_key(message))
        saved = base.time
        base.time = Sleeper(self.world)
        try:
            return base.ResultBackend.get_result(self.backend, message, block=block, timeout=timeout)
        finally:
            base.time = saved

    def refuse_in_actor(self, key: str) -> None:
        x = self.world.sim.engine.x
        if x is not None and self.visible(key) is None:
            raise UnsupportedFeature(
                f"get_result(block=True) was called from actor code ({x.run_.function.id!r}) for a result that is not "
                "stored yet: the actor's body runs in one go in jobsim-dramatiq, so no other message can make progress "
                "while it waits. Chain the work instead (a pipeline, on_success, a group completion callback), or wait "
                "for results from the test",
                system="dramatiq", feature="get_result(block=True) in an actor",
            )  # fmt: skip


class Sleeper:
    """``time`` as ``dramatiq.results.backend`` sees it during a blocking ``get_result`` from the test."""

    def __init__(self, world: DramatiqWorld) -> None:
        self.world = world

    def monotonic(self) -> float:
        return self.world.sim.now_ns() / SECOND

    def sleep(self, seconds: float) -> None:
        self.world.sim.advance(round(seconds * SECOND) / SECOND)


def _rule(backend: Any) -> str:
    from dramatiq.results.backends import StubBackend

    from ._world import BACKEND, README

    for name, module, rule in (("RedisBackend", "redis", "redis"), ("MemcachedBackend", "memcached", "memcached")):
        cls = _backend_class(module, name)
        if cls is not None and isinstance(backend, cls):
            return rule
    if isinstance(backend, StubBackend):
        return "stub"
    raise UnsupportedFeature(
        f"the Results middleware's backend is a {type(backend).__qualname__}: jobsim-dramatiq keeps results in "
        "virtual time for Dramatiq's StubBackend, RedisBackend and MemcachedBackend (each with its own expiry rule) "
        f"and does not know where this one stores them. Use one of those for the test; see {README}",
        system=BACKEND, feature=f"results backend {type(backend).__qualname__}",
    )  # fmt: skip


def _backend_class(module: str, name: str) -> Any:
    import importlib
    import sys

    full = f"dramatiq.results.backends.{module}"
    if full not in sys.modules:  # a backend object of that kind exists only once its module was imported
        return None
    return getattr(importlib.import_module(full), name)


def _closed(backend: Any, ids: set[str]) -> Any:
    """``backend.get_result`` once a simulation that ran it has closed: refused for its messages, the backend's
    own for any other (a later simulation installs its store over it)."""
    kind = type(backend)

    def get_result(message: Any, *, block: bool = False, timeout: int | None = None) -> Any:
        if getattr(message, "message_id", None) in ids:
            raise JobsimError(
                f"message {message.message_id} ({message.actor_name!r}) was run by a simulation that has closed, "
                f"and {kind.__name__}.get_result would read it from the real backend: its result was stored in the "
                "simulation. Read it inside the `with` block (get_result(block=True) runs the simulation until it "
                "is stored), or its run in sim.runs(...)"
            )
        return kind.get_result(backend, message, block=block, timeout=timeout)

    return get_result
