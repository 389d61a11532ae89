"""A result backend that lives in the simulation: Celery's key/value backend over a dict, in virtual time.

Why not ``cache+memory://``: Celery's memory cache is one process-wide LRU shared by
every app, so two simulations with the same seed (hence the same task ids) would read
each other's results. This backend belongs to one simulation.

It subclasses Celery's ``KeyValueStoreBackend``, so everything above storage is
Celery's own code: result meta encoding, ``GroupResult.save``/``restore``, and chords
through ``on_chord_part_return`` with an atomic counter (``implements_incr = True``,
the path Celery's Redis and memcached backends take, never the ``chord_unlock``
polling task). ``expire`` honours ``result_expires`` in virtual time, and a result
becomes visible at the virtual instant its task finished (see ``_visible``).

``AsyncResult.get()`` on a result that is not ready does not poll (a real backend
would block the test forever): it raises ``JobsimError`` saying to advance time.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, Any

from celery import states
from celery.backends.base import E_CHORD_NO_BACKEND, E_NO_BACKEND, KeyValueStoreBackend
from celery.backends.rpc import E_NO_CHORD_SUPPORT

from jobsim._time import SECOND, iso
from jobsim.errors import JobsimError

if TYPE_CHECKING:
    from jobsim import Simulation


_GONE: Any = object()  # a deleted key, or none written yet


class SimulatedBackend(KeyValueStoreBackend):  # type: ignore[misc]
    """``KeyValueStoreBackend`` over a dict whose keys expire in virtual time."""

    implements_incr = True
    supports_autoexpire = True  # like Redis: no celery.backend_cleanup beat entry
    supports_native_join = False
    persistent = True
    thread_safe = True  # so ``app._backend_cache`` holds it for every thread

    def __init__(self, app: Any, sim: Simulation) -> None:
        self._sim = sim
        self._data: dict[bytes, list[tuple[int, Any]]] = {}  # key -> (written at, value), in time order
        self._expires_at: dict[bytes, int] = {}
        self._expired: dict[bytes, tuple[int, float]] = {}  # key -> when its expiry removed it, after how long
        self._ttl: dict[bytes, float] = {}
        self._chord_parts: set[tuple[Any, Any, Any]] = set()  # (group, task id, group index) counted in a chord
        self._kept: dict[bytes, Any] = {}  # header results stored for their chord only (ignore_result=True)
        self._joining = False
        self._kept_ids: set[str] = set()
        super().__init__(app=app, url="jobsim://")

    def as_uri(self, include_password: bool = False) -> str:
        return "jobsim://"

    # -- storage ------------------------------------------------------------------------
    # A task body runs in one go while its own clock moves on (``time.sleep(30)`` inside
    # it), so Celery's tracer writes the result at the instant the task *finished*, which
    # may still be ahead of the test or of another task. Each write is kept with that
    # instant and a read sees the newest write at or before its own ``now``: a task that
    # runs 30 s is PENDING for 30 s, as on a worker.
    def _visible(self, key: bytes) -> Any:
        versions = self._data.get(key)
        if versions:
            now = self._sim.now_ns()
            for at, value in reversed(versions):
                if at <= now:
                    return value
        return _GONE

    def _write(self, key: bytes, value: Any) -> None:
        self._expired.pop(key, None)
        versions = self._data.setdefault(key, [])
        bisect.insort(versions, (self._sim.now_ns(), value), key=lambda version: version[0])
        floor = self._sim.kernel.now  # no reader is ever earlier: older writes are forgotten
        keep = next((i for i in range(len(versions) - 1, -1, -1) if versions[i][0] <= floor), 0)
        del versions[:keep]

    def _live(self, key: bytes) -> bool:
        deadline = self._expires_at.get(key)
        if deadline is not None and self._sim.now_ns() >= deadline:
            self._data.pop(key, None)
            self._expires_at.pop(key, None)
            self._expired[key] = (deadline, self._ttl.pop(key, 0.0))
        return self._visible(key) is not _GONE

    def get(self, key: bytes) -> Any:
        value = self._visible(key) if self._live(key) else None
        return self._kept.get(key) if value is None and self._joining else value

    def mget(self, keys: list[bytes]) -> list[Any]:
        return [self.get(key) for key in keys]

    def set(self, key: bytes, value: Any) -> None:
        self._write(key, value)
        if self.expires:
            self._expire(key, self.expires)

    def delete(self, key: bytes) -> None:
        self._write(key, _GONE)
        self._expires_at.pop(key, None)

    def incr(self, key: bytes) -> int:
        value = int(self.get(key) or 0) + 1
        self._write(key, value)
        return value

    def expire(self, key: bytes, value: Any) -> None:
        if self._live(key):
            self._expire(key, value)

    def _expire(self, key: bytes, seconds: Any) -> None:
        if seconds:
            self._expires_at[key] = self._sim.now_ns() + round(float(seconds) * SECOND)
            self._ttl[key] = float(seconds)
        else:
            self._expires_at.pop(key, None)

    # -- chords: name the culprit as Redis does ----------------------------------------------
    def is_cached(self, task_id: str) -> bool:
        """Whether ``task_id``'s result is stored: how a failed chord finds the header task to blame.

        Celery's generic chord code (``KeyValueStoreBackend.on_chord_part_return``) names
        the culprit only if ``is_cached`` says its result is at hand; base backends cache
        nothing but successes, so a failed chord would read ``ChordError("KeyError(...)")``.
        Redis, the backend this one stands for, reads every header result from its own
        store and raises ``ChordError("Dependency <id> raised KeyError(...)")``
        (``backends/redis.py: _unpack_chord_result``, confirmed with a real worker) —
        with every result in this dict, the generic code gives that same message.
        """
        key = self.get_key_for_task(task_id)
        return self._live(key) or (self._joining and key in self._kept)

    # -- chords: count header tasks in virtual-time order ---------------------------------
    later: Any = None  # ``Worker.later`` of the app's simulated worker, set when the simulation starts

    def on_chord_part_return(self, request: Any, state: str, result: Any, **kwargs: Any) -> Any:
        """Celery's ``on_chord_part_return``, at the virtual instant the header task finished.

        Bodies run in one go, so a header task that sleeps 30 s reports before the one
        that starts next at the same instant and takes no time. Counted as it comes, the
        instant task would read the counter before the slow task's increment (a write
        30 s ahead) and the slow one would not see the instant one's: neither reaches
        the chord's size, and the body never runs. Redis counts them in the order they
        finish, so the part return of a task whose body spent time waits until then.

        A task is counted once, as Redis's script does (Celery 5.7, ``backends/redis.py:
        CHORD_PART_RETURN_LUA``): a hard time limit reports the task twice
        (``Request.on_failure``, then ``on_timeout``), which the generic code counted
        twice, firing the chord early, and then failed it again with ``GroupResult ...
        no longer exists``.

        Redis also keeps each header task's result in the chord's own list, and the body
        gets it from there, so a header task with ``ignore_result=True`` (whose result is
        never stored as its own) still gives it: here it is kept for the chord's join
        (``_kept``), and nowhere else.
        """
        member = (request.group, request.id, request.group_index)
        if member in self._chord_parts:  # counted already: Redis's part-return script (SADD of tid:index) skips it
            return None
        self._chord_parts.add(member)
        key = self.get_key_for_task(request.id)
        if self.get(key) is None:
            meta = self._get_result_meta(self.encode_result(result, state), state, None, request)  # as store_result
            self._kept[key] = self.encode(dict(meta, task_id=request.id))
            self._kept_ids.add(request.id)
        if self.later is None or self._sim.now_ns() <= self._sim.kernel.now:
            return self._part_returned(request, state, result, **kwargs)
        return self.later(self._sim.now_ns(), self._part_returned, request, state, result, **kwargs)

    def _part_returned(self, request: Any, state: str, result: Any, **kwargs: Any) -> Any:
        self._joining = True  # the chord's join reads the results kept for it
        try:
            return super().on_chord_part_return(request, state, result, **kwargs)
        finally:
            self._joining = False
            for task_id in self._kept_ids:  # get_task_meta caches a SUCCESS it read: not the kept ones
                self._cache.pop(task_id, None)

    # -- never block a test ------------------------------------------------------------
    def wait_for(self, task_id: str, timeout: Any = None, interval: float = 0.5, no_ack: bool = True,
                 on_interval: Any = None) -> Any:  # fmt: skip
        meta = self.get_task_meta(task_id)
        if meta["status"] in states.READY_STATES:
            return meta
        expired = self._expired.get(self.get_key_for_task(task_id))
        if expired is not None:
            raise JobsimError(
                f"the result of task {task_id} expired at {iso(expired[0])} (result_expires: {expired[1]:g} s after it "
                f"was stored), so at virtual time {iso(self._sim.now_ns())} it reads PENDING and a real .get() would "
                "wait forever: read it before then, or raise app.conf.result_expires"
            )  # fmt: skip
        unread = _unconsumed(self._sim, task_id)
        if unread is not None:
            raise JobsimError(f"the result of task {task_id} will never be ready: {unread}")
        raise JobsimError(
            f"the result of task {task_id} is not ready at virtual time {iso(self._sim.now_ns())} "
            f"(state {meta['status']}): advance the simulation first, e.g. sim.run_until_idle(), "
            "then call .get() (a simulated backend never waits in real time)"
        )

    def readable(self) -> SimulatedBackend:
        """A backend over the same results that reads them: ``sim.celery.result`` when the app's own refuses to."""
        view: SimulatedBackend = SimulatedBackend.__new__(SimulatedBackend)
        view.__dict__.update(self.__dict__)  # the same dicts: one store
        return view


class NoResultBackend(SimulatedBackend):
    """The backend of an app that configures none, where Celery uses ``DisabledBackend``
    (``celery/backends/base.py``): whatever reads a result — ``result.get()``, ``.state``,
    ``GroupResult.join`` — raises ``NotImplementedError("No result backend is configured.")``,
    and a chord (or a group chained to a task, which Celery upgrades to one) is refused at
    its call with ``NotImplementedError("Starting chords requires a result backend ...")``,
    as in production; a test of such an app must not read results production cannot.
    (Celery's own ``.state`` there is an ``AttributeError`` about ``_get_task_meta_for``.)
    The worker's writes are kept all the same, for ``sim.celery.result(run)``.
    """

    def ensure_chords_allowed(self) -> None:
        raise NotImplementedError(E_CHORD_NO_BACKEND.strip())

    def _disabled(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(E_NO_BACKEND.strip() + " (jobsim: sim.celery.result(run) reads the result a "
                                  "simulation kept anyway; configure result_backend if production reads them)")

    get_task_meta = get_state = get_status = get_result = get_traceback = _disabled
    get_task_meta_for = wait_for = get_many = _disabled


class RpcResultBackend(SimulatedBackend):
    """``result_backend = "rpc://"``: Celery's ``RPCBackend`` refuses chords (``backends/rpc.py:
    ensure_chords_allowed``), also a group chained to a task, which Celery upgrades to one; the rest reads
    as the simulation's key/value backend (the RPC backend's own limits, such as results readable only by
    the client that sent the task, are not simulated)."""

    def ensure_chords_allowed(self) -> None:
        raise NotImplementedError(E_NO_CHORD_SUPPORT.strip())


def backend_class(app: Any) -> type[SimulatedBackend]:
    """The simulated stand-in for the app's ``result_backend``."""
    if not has_result_backend(app):
        return NoResultBackend
    scheme = str(app.conf.result_backend).split(":", 1)[0].lower()
    return RpcResultBackend if scheme == "rpc" else SimulatedBackend


def has_result_backend(app: Any) -> bool:
    """Whether ``app`` configures a result backend: Celery uses ``DisabledBackend`` for none or ``disabled``."""
    backend = app.conf.result_backend
    return bool(backend) and str(backend).split(":", 1)[0].lower() != "disabled"


def _unconsumed(sim: Any, task_id: str) -> str | None:
    """Why a task whose message waits in a queue no simulated worker reads never runs, and the fix; else None.
    (``run_until_idle`` cannot help it: "advance the simulation first" sent the user round in circles.)"""
    held = next((h for h in getattr(getattr(sim, "celery", None), "unconsumed", ()) if h.task_id == task_id), None)
    if held is None:
        return None
    read = sorted(held.rt.consumed if held.rt.consumed is not None else held.rt.queues or ())
    shown = ", ".join(map(repr, read)) or "none"
    return (f"its message waits in queue {held.queue!r}, and the simulated worker reads only {shown} (as "
            f"`celery worker` without -Q {held.queue} would): let it read that queue too, "
            f"jobsim.Simulation(jobsim_celery.CeleryTarget(app, queues={[*read, held.queue]!r})) (-Q), or route "
            "the task to a queue it reads; sim.celery.unconsumed lists such messages")
