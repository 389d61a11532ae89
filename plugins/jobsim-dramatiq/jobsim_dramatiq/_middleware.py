"""A broker's middleware in the simulation: which run as they are, which get a virtual helper, which are refused.

Dramatiq's middleware is where its semantics live (``middleware/*.py``), so the simulation calls
the user's middleware list itself, through the broker's ``emit_before``/``emit_after``, at the
virtual instant each hook fires (``_worker``). What they need from the outside world is swapped
for the length of the simulation and given back when it closes:

* ``TimeLimit``/``ShutdownNotifications``: their ``manager`` (a thread raising exceptions in
  worker threads) becomes one that arms the actor's virtual clock (``_execution``);
* ``Results``: the backend object's reads and writes go to an in-memory store on the virtual
  clock with the backend's own expiry rule (``_results``);
* ``GroupCallbacks``: a Redis or Memcached rate-limiter backend is replaced by Dramatiq's own
  in-memory ``StubBackend``, whose clock is virtual while the simulation runs (``_patches``);
  a ``StubBackend`` is kept as it is;
* ``AsyncIO``: no event-loop thread is started; ``async def`` actors run on jobsim's loop;
* ``Prometheus`` (metrics only) and the ``_WorkerMiddleware`` a stopped ``Worker`` left behind
  are set aside: the first would export metrics over HTTP from a forked process, the second
  would start consumer threads when a queue is declared.

Refused, with the fix: a middleware of your own that needs worker processes or threads (it has
``forks``, or overrides a process, worker or thread boot/shutdown hook, which the simulation
never emits because it starts none), gevent, and a ``Worker`` running on the broker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobsim.errors import UnsupportedFeature

if TYPE_CHECKING:
    from ._broker import SimBroker
    from ._world import DramatiqWorld

README = "plugins/jobsim-dramatiq/README.md"
THREAD_HOOKS = (
    "after_process_boot", "before_worker_boot", "after_worker_boot", "before_worker_shutdown",
    "after_worker_shutdown", "after_consumer_thread_boot", "before_consumer_thread_shutdown",
    "after_worker_thread_boot", "before_worker_thread_shutdown",
)  # fmt: skip


def check(broker: Any) -> None:
    """Refuse, naming the fix, what the simulation cannot run on this broker."""
    from dramatiq.threading import is_gevent_active

    if is_gevent_active():
        raise UnsupportedFeature(
            "gevent's monkey patching is active: Dramatiq then times actors out and notifies shutdowns with gevent "
            "timers and greenlets (middleware/time_limit.py:142-189), which jobsim-dramatiq does not simulate. Run "
            "the tests without gevent's monkey patching",
            system="dramatiq", feature="gevent",
        )  # fmt: skip
    for middleware in broker.middleware:
        _check_one(middleware)


def _check_one(middleware: Any) -> None:
    from dramatiq.middleware import Middleware

    kind = type(middleware)
    name = f"{kind.__module__}.{kind.__qualname__}"
    if kind.__name__ == "_WorkerMiddleware" and kind.__module__ == "dramatiq.worker":
        alive = live_threads(middleware.worker)
        if alive:
            raise UnsupportedFeature(
                f"a dramatiq Worker is running on this broker ({len(alive)} live thread(s)): it would consume the "
                "messages in real time. Stop it (worker.stop()) before the simulation, or do not start it: the "
                "simulation is the worker",
                system="dramatiq", feature="running Worker",
            )  # fmt: skip
        return
    if kind.__module__.split(".", 1)[0] == "dramatiq":
        return
    hooks = [hook for hook in THREAD_HOOKS if _defined_outside_dramatiq(kind, hook, Middleware)]
    forks = middleware.forks
    if hooks or forks:
        needs = ", ".join(hooks + (["forks"] if forks else []))
        raise UnsupportedFeature(
            f"middleware {name} needs worker processes or threads ({needs}): jobsim-dramatiq calls every "
            "middleware's message hooks (enqueue, delay, process, skip, ack, nack) at their virtual instants, but "
            "starts no process or thread, so those hooks would never run. Build the broker under test without "
            f"it (broker.middleware.remove(...)), or move what it does to a message hook; see {README}",
            system="dramatiq", feature=f"middleware {kind.__qualname__}",
        )  # fmt: skip


def _defined_outside_dramatiq(kind: type, hook: str, base: type) -> bool:
    for klass in kind.__mro__:
        if hook in vars(klass):
            return klass is not base and klass.__module__.split(".", 1)[0] != "dramatiq"
    return False


def install(world: DramatiqWorld, sb: SimBroker) -> None:
    """Swap what the middleware needs from outside for virtual stand-ins (see the module docstring)."""
    from dramatiq.middleware import GroupCallbacks, ShutdownNotifications, TimeLimit
    from dramatiq.rate_limits.backends import StubBackend
    from dramatiq.results import Results

    from ._execution import VirtualShutdown, VirtualTimeouts
    from ._results import ResultStore

    check(sb.broker)
    middleware = sb.broker.middleware
    for index in range(len(middleware) - 1, -1, -1):
        kind = type(middleware[index])
        if kind.__module__ in ("dramatiq.worker", "dramatiq.middleware.prometheus"):
            sb.set_aside.append((index, middleware.pop(index)))
    for mw in middleware:
        if isinstance(mw, TimeLimit):
            sb.swaps.append((mw, "manager", mw.manager))
            mw.manager = VirtualTimeouts(world, mw.manager)
        elif isinstance(mw, ShutdownNotifications):
            sb.swaps.append((mw, "manager", mw.manager))
            mw.manager = VirtualShutdown(world, mw.manager)
        elif isinstance(mw, GroupCallbacks) and not isinstance(mw.rate_limiter_backend, StubBackend):
            sb.swaps.append((mw, "rate_limiter_backend", mw.rate_limiter_backend))
            mw.rate_limiter_backend = StubBackend()
        elif isinstance(mw, Results) and all(store.backend is not mw.backend for store in sb.stores):
            store = ResultStore(world, mw.backend)
            store.install()
            sb.stores.append(store)


def uninstall(sb: SimBroker) -> None:
    """Give everything back (never raises)."""
    for owner, name, original in reversed(sb.swaps):
        setattr(owner, name, original)
    sb.swaps.clear()
    for store in sb.stores:
        store.uninstall()
    sb.stores.clear()
    for index, mw in reversed(sb.set_aside):
        sb.broker.middleware.insert(index, mw)
    sb.set_aside.clear()


def has_asyncio(broker: Any) -> bool:
    from dramatiq.middleware import AsyncIO

    return any(isinstance(mw, AsyncIO) for mw in broker.middleware)


def live_threads(worker: Any) -> list[Any]:
    """The threads of a ``dramatiq.Worker`` that are alive, its worker and consumer threads: none when it was never
    started, or was stopped (``worker.py:105-188``)."""
    return [t for t in (*worker.workers, *worker.consumers.values()) if t.is_alive()]


def consumed(broker: Any) -> bool:
    """Whether a started ``dramatiq.Worker`` consumes ``broker``: ``Worker.start`` put its ``_WorkerMiddleware`` on
    the broker (``worker.py:105-116``), and its threads are alive."""
    return any(type(mw).__name__ == "_WorkerMiddleware" and type(mw).__module__ == "dramatiq.worker"
               and live_threads(mw.worker) for mw in broker.middleware)  # fmt: skip


def described(broker: Any) -> str:
    """A broker as a message names it: its class and address, and its actors (a ``StubBroker`` has no URL)."""
    actors = ", ".join(repr(name) for name in sorted(broker.actors))
    return f"{type(broker).__name__} at {id(broker):#x}, " + (f"actors {actors}" if actors else "no actors")
