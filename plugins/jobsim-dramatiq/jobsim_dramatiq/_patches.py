"""What jobsim-dramatiq replaces process-wide while a simulation with Dramatiq brokers runs.

Dramatiq reads the clock, draws randomness and makes ids in a few module-level places;
each is pointed at the simulation, so the same seed gives the same history and every
instant is virtual -- also for calls made from the test between driving calls
(``actor.send`` builds its message there):

* ``current_millis`` (``dramatiq/common.py:75-77``), imported by name into the brokers
  (delay ETAs, ``brokers/stub.py:112``, ``brokers/redis.py:174``), the worker (when a
  delayed message is due, ``worker.py:351``) and ``AgeLimit`` (``middleware/age_limit.py:51``):
  every ``dramatiq.*`` module's binding reads virtual milliseconds;
* ``time.time()`` in ``dramatiq/message.py:84`` (``message_timestamp``, which ``AgeLimit``
  compares) and ``middleware/retries.py:112`` (``requeue_timestamp``);
* ``uniform`` in ``dramatiq/common.py:64,67``: ``compute_backoff``'s jitter draws from the
  simulation's seeded generator (the stream of the actor whose message is processed,
  ``sim.job_rng()``; ``sim.rng`` outside job code);
* ``uuid4`` for message ids (``message.py:58-60``), group barriers (``composition.py:286``)
  and Redis message ids (``brokers/redis.py:168``): drawn from the seed;
* ``dramatiq.asyncio.get_event_loop_thread`` (``asyncio.py:42-69``): an ``async def``
  actor of a broker with the ``AsyncIO`` middleware runs on jobsim's virtual event loop;
* ``time.monotonic`` in the in-memory rate limiter backend (``rate_limits/backends/stub.py:85,90``),
  so limiters and barriers on a ``StubBackend`` expire in virtual time, and its ``add``/``incr``/
  ``decr``/``incr_and_sum``/``_put`` keep each write at its virtual instant (``_limiters.Versions``: a
  mutex held across a ``time.sleep`` is held then); ``time.time`` in ``rate_limits/window.py``, so a
  ``WindowRateLimiter``'s buckets are the virtual seconds, also when the test acquires it;
* ``Worker.start`` is refused for a broker the simulation runs, and ``enqueue`` on a
  ``RedisBroker``/``RabbitmqBroker`` it does not run is refused instead of reaching a
  server; so are ``enqueue`` and ``join`` on a ``StubBroker`` it does not run (a test that forgot to
  pass a second broker): no simulated worker takes its messages, so they would wait in that broker's
  own queues, unseen, and ``join`` would wait for them in real time -- for ever, as nothing takes them,
  or, with a real ``Worker`` on it, for retries and delays due on the simulation's clock, which stands
  still between driving calls. ``Worker.join()`` of a ``Worker`` the simulation does not run, on any
  broker, is refused unless its threads are running (``DramatiqWorld.join_worker``).

One simulation with Dramatiq brokers may run at a time in a process (the patches are global).
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jobsim._time import MS, SECOND
from jobsim.errors import UnsupportedFeature
from jobsim.hooks import ProcessPatches

if TYPE_CHECKING:
    from ._world import DramatiqWorld

_PATCHES: ProcessPatches[DramatiqWorld] = ProcessPatches(
    "Dramatiq brokers", "jobsim-dramatiq replaces Dramatiq's clock, ids and jitter"
)


def current() -> DramatiqWorld | None:
    return _PATCHES.current


def push(world: DramatiqWorld) -> None:
    _PATCHES.push(world, _patch)


def pop(world: DramatiqWorld) -> None:
    _PATCHES.pop(world)


_set = _PATCHES.set


def _patch(world: DramatiqWorld) -> None:
    import dramatiq.asyncio
    import dramatiq.common
    import dramatiq.composition
    import dramatiq.message
    import dramatiq.middleware.retries
    import dramatiq.rate_limits.backends.stub
    import dramatiq.rate_limits.window
    import dramatiq.worker
    from dramatiq.results.backends import StubBackend

    clock = _Time(world)
    _set(dramatiq.common, "uniform", lambda a, b: world.sim.job_rng().uniform(a, b))
    _set(dramatiq.message, "uuid", _Uuid(world))
    _set(dramatiq.message, "time", clock)
    _set(dramatiq.middleware.retries, "time", clock)
    _set(dramatiq.composition, "uuid4", world.new_uuid)
    _set(dramatiq.rate_limits.backends.stub, "time", clock)
    limiter_stub = dramatiq.rate_limits.backends.stub.StubBackend
    _set(limiter_stub, "_get", lambda self, key, *, default=None: world.versions(self, clock.origin).get(key, default))
    _set(limiter_stub, "_put", lambda self, key, value, ttl: world.versions(self, clock.origin).put(key, value, ttl))
    for name, call in _limiter_calls(world, clock).items():
        _set(limiter_stub, name, call)
    _set(dramatiq.rate_limits.window, "time", clock)  # the window's buckets: int(time.time()), window.py:53-55
    _set(dramatiq.asyncio, "get_event_loop_thread", world.event_loop_thread(dramatiq.asyncio.get_event_loop_thread))
    _set(dramatiq.worker.Worker, "start", _refuse_start(dramatiq.worker.Worker.start, world))
    _set(dramatiq.worker.Worker, "join", _worker_join(dramatiq.worker.Worker.join, world))
    from dramatiq.brokers.stub import StubBroker

    _set(StubBroker, "enqueue", _refuse_stub_enqueue(StubBroker.enqueue, world))
    _set(StubBroker, "join", _refuse_stub_join(StubBroker.join, world))
    for name in ("stop", "pause", "resume"):
        _set(dramatiq.worker.Worker, name, _refuse_control(name, getattr(dramatiq.worker.Worker, name), world))
    original_millis = dramatiq.common.current_millis
    for name, module in list(sys.modules.items()):
        if name.startswith("dramatiq.") and getattr(module, "current_millis", None) is original_millis:
            _set(module, "current_millis", world.current_millis)
    redis_module = _broker_module("redis", "redis")
    if redis_module is not None:
        _set(redis_module, "uuid4", world.new_uuid)
        _set(redis_module.RedisBroker, "enqueue", _guard(redis_module.RedisBroker.enqueue, world))
    rabbit_module = _broker_module("rabbitmq", "pika")
    if rabbit_module is not None:
        _set(rabbit_module.RabbitmqBroker, "enqueue", _guard(rabbit_module.RabbitmqBroker.enqueue, world))
    for module in (redis_module, rabbit_module):
        if module is not None:
            broker_class = module.RedisBroker if module is redis_module else module.RabbitmqBroker
            for name in SERVER_CALLS:
                if hasattr(broker_class, name):
                    _set(broker_class, name, _refuse_server_call(name, world, getattr(broker_class, name)))
    for backend_class in _network_backends("rate_limits", "rate limiter"):
        for name in ("add", "incr", "decr", "incr_and_sum", "wait_notify"):
            _set(backend_class, name, _in_memory_limiter(world, name))
        if backend_class.__name__ == "RedisBackend":
            _set(backend_class, "wait", lambda self, key, timeout: world.threads.wait(
                world.limiter(self), key, timeout, redis=True))  # fmt: skip
        else:  # Memcached: Dramatiq has no blocking wait there (the base class's NotImplementedError)
            _set(backend_class, "wait", _refuse_limiter_wait(backend_class))
    for backend_class in _network_backends("results", "results"):
        for name in ("get_result", "_get", "_store"):
            _set(backend_class, name, _refuse_result_backend(backend_class, name))
    _set(StubBackend, "_get", lambda self, message_key: world.stub_store(self).get(message_key))
    _set(StubBackend, "_store", lambda self, message_key, result, ttl: world.stub_store(self).store(
        message_key, result, ttl))  # fmt: skip
    _set(StubBackend, "get_result", lambda self, message, *, block=False, timeout=None: world.stub_store(
        self).get_result_polling(message, block=block, timeout=timeout))  # fmt: skip
    import dramatiq.actor
    import dramatiq.broker

    getter = _get_broker(dramatiq.broker.get_broker, world)
    for module in (dramatiq, dramatiq.broker, dramatiq.actor, dramatiq.composition, dramatiq.message):
        if "get_broker" in vars(module):
            _set(module, "get_broker", getter)


class _Time:
    """The ``time`` module as Dramatiq's modules above see it: ``time()`` and ``monotonic()`` are virtual.

    ``monotonic()`` starts from the real one at the simulation's start and moves with virtual time: an
    in-memory rate limiter or barrier that outlives the simulation keeps expiry times its next users (on
    the real clock) can still reach."""

    def __init__(self, world: DramatiqWorld) -> None:
        self._now = world.sim.now_ns
        self.origin = time.monotonic_ns() - world.sim.now_ns()

    def time(self) -> float:
        return self._now() / SECOND

    def monotonic(self) -> float:
        return (self.origin + self._now()) / SECOND

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class _Uuid:
    """The ``uuid`` module as ``dramatiq.message`` sees it: ``uuid4()`` is drawn from the simulation's seed."""

    def __init__(self, world: DramatiqWorld) -> None:
        self.uuid4 = world.new_uuid

    def __getattr__(self, name: str) -> Any:
        return getattr(uuid, name)


def virtual_millis(ns: int) -> int:
    """``current_millis()`` (``int(time() * 1000)``) at the virtual instant ``ns``: whole milliseconds, floored."""
    return ns // MS


def _refuse_start(original: Any, world: DramatiqWorld) -> Any:
    def start(self: Any) -> None:
        if world.owns(self.broker):
            raise UnsupportedFeature(
                "dramatiq.Worker(...).start() was called for a broker this simulation runs: its threads would consume "
                "the messages in real time. The simulation is the worker: drop worker.start() (and worker.join(); "
                "use sim.run_until_idle() or broker.join(queue)), or pass the unstarted Worker to jobsim.Simulation "
                "to simulate its worker_threads and queues",
                system="dramatiq", feature="Worker.start",
            )  # fmt: skip
        from dramatiq.brokers.stub import StubBroker

        if not isinstance(self.broker, StubBroker):  # a real Worker on a StubBroker: Dramatiq's own testing pattern
            raise UnsupportedFeature(
                f"dramatiq.Worker(...).start() was called for a {type(self.broker).__name__} that this simulation "
                "does not run: its threads would consume the real server in real time. Pass that broker (or the "
                "unstarted Worker) to jobsim.Simulation too",
                system="dramatiq", feature="Worker.start on another broker",
            )  # fmt: skip
        original(self)

    return start


def _worker_join(original: Any, world: DramatiqWorld) -> Any:
    def join(self: Any) -> None:
        from ._middleware import live_threads

        if not world.owns(self.broker) and live_threads(self):  # a real Worker started on another broker
            return original(self)  # type: ignore[no-any-return]
        world.join_worker(self)  # refuses a Worker it does not run: not started, it would wait for nothing
        return None

    return join


def _refuse_stub_enqueue(original: Any, world: DramatiqWorld) -> Any:
    def enqueue(self: Any, message: Any, *, delay: int | None = None) -> Any:
        if world.owns(self):  # an adopted broker's own enqueue is shadowed on the instance; a subclass's super()
            return world.enqueue(self, message, delay=delay)
        from ._middleware import described

        raise UnsupportedFeature(
            f"message {message.actor_name!r} was enqueued on a StubBroker that this simulation does not run "
            f"({described(self)}): no simulated worker takes it, so it would wait in that broker's own queue, "
            "unseen by sim.runs(...), and broker.join() would wait for it in real time. Pass that broker (or its "
            "actors) to jobsim.Simulation too, e.g. jobsim.Simulation(broker, other_broker)",
            system="dramatiq", feature="enqueue on another StubBroker",
        )  # fmt: skip

    enqueue.__wrapped__ = original  # type: ignore[attr-defined]
    return enqueue


def _refuse_stub_join(original: Any, world: DramatiqWorld) -> Any:
    def join(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        if world.owns(self) and "join" in vars(self):  # a subclass's super(): the simulated broker's own
            return vars(self)["join"](queue_name, *args, **kwargs)
        from ._middleware import described

        raise UnsupportedFeature(
            f"broker.join({queue_name!r}) on a StubBroker that this simulation does not run ({described(self)}): "
            "no simulated worker takes its messages, so it would wait in real time -- for ever without timeout= "
            "(or, with a real Worker on it, for delays and retries due on the simulation's clock, which stands "
            "still while the test waits). Pass that broker (or its actors) to jobsim.Simulation too, e.g. "
            "jobsim.Simulation(broker, other_broker), and join it there",
            system="dramatiq", feature="join on another StubBroker",
        )  # fmt: skip

    join.__wrapped__ = original  # type: ignore[attr-defined]  # inspect.signature: the broker's own (_broker_join)
    return join


def _refuse_control(name: str, original: Any, world: DramatiqWorld) -> Any:
    def control(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not world.simulates(self):
            return original(self, *args, **kwargs)
        fix = ("plan it with sim.dramatiq.stop_worker(at=..., worker=..., timeout=...)" if name == "stop" else
               "plan a stop and a start instead: sim.dramatiq.stop_worker(at=...), sim.dramatiq.start_worker(at=...)")
        raise UnsupportedFeature(
            f"dramatiq.Worker(...).{name}() of a Worker this simulation runs: its threads are simulated, in virtual "
            f"time, so this call from the test would change nothing; {fix}",
            system="dramatiq", feature=f"Worker.{name}",
        )  # fmt: skip

    control.__name__ = name
    return control


def _broker_module(name: str, client: str) -> Any:
    """``dramatiq.brokers.<name>``, imported if its client library is installed: a broker of it made during the
    simulation (``dramatiq.get_broker()`` makes a ``RabbitmqBroker``) must meet the guard too."""
    import importlib
    import importlib.util

    if f"dramatiq.brokers.{name}" not in sys.modules and importlib.util.find_spec(client) is None:
        return None
    return importlib.import_module(f"dramatiq.brokers.{name}")


def _get_broker(original: Any, world: DramatiqWorld) -> Any:
    def get_broker() -> Any:
        """``dramatiq.get_broker()``: with no global broker set it would make a ``RabbitmqBroker`` on
        127.0.0.1:5672 (``broker.py:38-70``), which a simulation cannot reach: refused, with the fix."""
        import dramatiq.broker

        if dramatiq.broker.global_broker is None:
            raise UnsupportedFeature(
                "dramatiq.get_broker() was called with no global broker set (an actor declared without broker=, or a "
                "pipeline/group built without broker=): Dramatiq would make a RabbitmqBroker on 127.0.0.1:5672. Call "
                "dramatiq.set_broker(broker) with the broker under test, or pass broker= where it is used",
                system="dramatiq", feature="default broker",
            )  # fmt: skip
        return original()

    return get_broker


def _network_backends(package: str, what: str) -> list[type]:
    """Dramatiq's ``results`` or ``rate_limits`` backends that talk to a server (``RedisBackend``,
    ``MemcachedBackend``), of the client libraries installed."""
    import importlib
    import importlib.util

    found = []
    for module_name, class_name, client in (("redis", "RedisBackend", "redis"),
                                            ("memcached", "MemcachedBackend", "pylibmc")):  # fmt: skip
        qualified = f"dramatiq.{package}.backends.{module_name}"
        if qualified in sys.modules or importlib.util.find_spec(client) is not None:
            found.append(getattr(importlib.import_module(qualified), class_name))
    return found


def _in_memory_limiter(world: DramatiqWorld, name: str) -> Any:
    """A Redis or Memcached rate-limiter backend's ``name`` (``rate_limits/backend.py:22-110``) while the
    simulation runs: answered by that backend object's own in-memory ``StubBackend`` (``DramatiqWorld.limiter``),
    Dramatiq's, whose clock is virtual here -- so ``ConcurrentRateLimiter``, ``WindowRateLimiter`` and
    ``BucketRateLimiter`` in actor code limit in virtual time instead of reaching a server."""

    def answer(self: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(world.limiter(self), name)(*args, **kwargs)

    answer.__name__ = name
    return answer


def _limiter_calls(world: DramatiqWorld, clock: _Time) -> dict[str, Callable[..., Any]]:
    """A rate-limiter ``StubBackend``'s calls while the simulation runs: a body that has spent time first waits for
    the simulation to reach its instant (``_blocking``); the store keeps each write at its instant
    (``_limiters.Versions``); ``wait``/``wait_notify`` block and wake in virtual time."""
    threads = world.threads

    def add(self: Any, key: str, value: Any, ttl: Any) -> bool:
        threads.catch_up()
        return world.versions(self, clock.origin).apply(key, "add", value, None, ttl)

    def incr(self: Any, key: str, amount: Any, maximum: Any, ttl: Any) -> bool:
        threads.catch_up()
        return world.versions(self, clock.origin).apply(key, "incr", amount, maximum, ttl)

    def decr(self: Any, key: str, amount: Any, minimum: Any, ttl: Any) -> bool:
        threads.catch_up()
        return world.versions(self, clock.origin).apply(key, "decr", amount, minimum, ttl)

    def incr_and_sum(self: Any, key: str, keys: Any, amount: Any, maximum: Any, ttl: Any) -> bool:
        threads.catch_up()
        return world.versions(self, clock.origin).incr_and_sum(key, keys, amount, maximum, ttl)

    def wait(self: Any, key: str, timeout: Any) -> bool:
        return threads.wait(self, key, timeout, redis=False)

    def wait_notify(self: Any, key: str, ttl: Any) -> None:
        threads.notify(self, key, ttl, redis=world.stands_in_for_redis(self))

    return {"add": add, "incr": incr, "decr": decr, "incr_and_sum": incr_and_sum, "wait": wait,
            "wait_notify": wait_notify}  # fmt: skip


def _refuse_limiter_wait(backend_class: type) -> Any:
    def wait(self: Any, key: str, timeout: int) -> Any:
        raise UnsupportedFeature(
            f"wait() on a {backend_class.__name__} rate-limiter backend (a blocking Barrier.wait): Dramatiq supports "
            "blocking barriers only on its StubBackend and RedisBackend (barrier.py:68-70; this backend's wait raises "
            "NotImplementedError). Use one of those, a group completion callback (group.add_completion_callback), "
            "or Barrier.wait(block=False)",
            system="dramatiq", feature="rate limiter wait",
        )  # fmt: skip

    return wait


def _refuse_result_backend(backend_class: type, name: str) -> Any:
    """A read or write of a server results backend this simulation does not run. The backends of the simulated
    brokers answer from their own instance (``_results.ResultStore.install``), so only the others reach this.
    The usual way here: ``Message.get_result()`` without ``backend=`` reads the *global* broker's backend
    (``message.py:163-165``), which is not the simulated one when the broker under test was never ``set_broker``."""

    def refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
        import dramatiq.broker
        from dramatiq.results import Results

        hint = ""
        results = [m for m in getattr(dramatiq.broker.global_broker, "middleware", ()) if isinstance(m, Results)]
        if results and results[0].backend is self:
            hint = (" (Message.get_result() without backend= reads the global broker's backend, and the global "
                    "broker is not the one under test)")  # fmt: skip
        raise UnsupportedFeature(
            f"{name}() on the results {backend_class.__name__} of a broker this simulation does not run, so it would "
            f"reach a real server{hint}: pass backend=<the simulated broker>.get_results_backend() to get_result, "
            "or dramatiq.set_broker(<the broker under test>), or pass that broker to jobsim.Simulation too",
            system="dramatiq", feature="results backend of another broker",
        )  # fmt: skip

    refuse.__name__ = name
    return refuse


SERVER_CALLS = ("flush", "flush_all", "join", "get_queue_message_counts")
"""Broker methods besides ``enqueue`` that talk to the server: a simulated broker's are shadowed on the instance
(``DramatiqWorld._shadow``), so the class's are reached only for a broker the simulation does not run."""


def _refuse_server_call(name: str, world: DramatiqWorld, original: Any) -> Any:
    def refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
        if world.owns(self) and name in vars(self):  # a subclass's super(): the simulated broker's own
            return vars(self)[name](*args, **kwargs)
        raise UnsupportedFeature(
            f"broker.{name}() on a {type(self).__name__} that this simulation does not run would reach the real "
            "server: pass that broker (or its actors) to jobsim.Simulation too",
            system="dramatiq", feature=f"{name} on another broker",
        )  # fmt: skip

    refuse.__name__ = name
    refuse.__wrapped__ = original  # type: ignore[attr-defined]  # inspect.signature: the broker's own (_shadow)
    return refuse


def _guard(original: Any, world: DramatiqWorld) -> Any:
    def enqueue(self: Any, message: Any, *, delay: int | None = None) -> Any:
        if world.owns(self):  # an adopted broker's own enqueue is shadowed on the instance; a subclass's super()
            return world.enqueue(self, message, delay=delay)
        raise UnsupportedFeature(
            f"message {message.actor_name!r} was enqueued on a {type(self).__name__} that this simulation does not "
            "run, so it would go to a real server: pass that broker (or its actors) to jobsim.Simulation too",
            system="dramatiq", feature="enqueue on another broker",
        )  # fmt: skip

    return enqueue
