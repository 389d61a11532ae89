"""While a simulation that runs no Dramatiq broker is running, what would reach a Redis, RabbitMQ or Memcached
server says so instead.

A test that forgot ``jobsim.Simulation(broker)`` (it simulates a ``jobsim.App``, or another backend) would
otherwise ``actor.send`` into the broker's real Redis or RabbitMQ: a connection error at best; with a developer's
local Redis running, a message a real worker may run while the simulation sees nothing. Every send goes
through the broker's ``enqueue`` (``brokers/redis.py:150-186``, ``brokers/rabbitmq.py:356-401``; ``send``,
``send_with_options``, pipelines, groups), wrapped on both classes while such a simulation runs, with the other
calls that reach the server (``flush``, ``flush_all``, ``join``, ``get_queue_message_counts``) -- also
the ``RabbitmqBroker`` ``dramatiq.get_broker()`` makes when no global broker is set. So is ``Worker.start``
(``worker.py:105-116``) for a worker on such a broker, and so are the Redis and
Memcached results backends (``get_result``, ``_get``, ``_store``) and rate-limiter backends (``add``, ``incr``,
``decr``, ``incr_and_sum``, ``wait``, ``wait_notify``: a ``ConcurrentRateLimiter`` in job code of another
backend), which a simulation with that broker keeps in memory on its virtual clock. A ``StubBroker`` and the
stub backends (in memory, as Dramatiq's own tests use them) pass, and so does everything while a simulation
with Dramatiq brokers runs inside (it refuses what it was not given on its own) -- but for the waits that could
only hang: ``join`` on a ``StubBroker`` that no started ``dramatiq.Worker`` consumes (nothing takes its
messages: for ever, without ``timeout=``), and ``Worker.join()`` of a ``Worker`` not started (it would return
at once, having waited for nothing). A real ``Worker`` started on a ``StubBroker``, Dramatiq's own testing
pattern, runs and is joined as without jobsim: the test's clock is real here. A wrapper left in place by an
unusual closing order calls Dramatiq's own method once no guarded simulation runs.
"""

from __future__ import annotations

import sys
from typing import Any

from jobsim.errors import JobsimError
from jobsim.hooks import ClassGuard

_LIMITER = ("add", "incr", "decr", "incr_and_sum", "wait", "wait_notify")
_RESULTS = ("get_result", "_get", "_store")
_FIX = ("This simulation runs no Dramatiq broker: pass the broker (or its actors), e.g. jobsim.Simulation(broker) or "
        "jobsim.Simulation(broker, other_target)")  # fmt: skip


def _install(guard: ClassGuard) -> None:
    from ._patches import SERVER_CALLS, _broker_module, _network_backends

    for name, client, cls in (("redis", "redis", "RedisBroker"), ("rabbitmq", "pika", "RabbitmqBroker")):
        module = _broker_module(name, client)
        if module is not None:
            guard.wrap(getattr(module, cls), "enqueue", _refuse_enqueue, passes=_passes)
            for method in SERVER_CALLS:
                if hasattr(getattr(module, cls), method):
                    guard.wrap(getattr(module, cls), method, _refuse_server_call, passes=_passes)
    import dramatiq

    guard.wrap(dramatiq.Worker, "start", _refuse_start, passes=_passes)
    guard.wrap(dramatiq.Worker, "join", _refuse_worker_join, passes=_joins)
    from dramatiq.brokers.stub import StubBroker

    guard.wrap(StubBroker, "join", _refuse_stub_join, passes=_joins)
    for package, names in (("rate_limits", _LIMITER), ("results", _RESULTS)):
        for backend_class in _network_backends(package, package):
            for name in names:
                if name in vars(backend_class):
                    guard.wrap(backend_class, name, _refuse_backend(backend_class, package), passes=_passes)


GUARD = ClassGuard(_install)  # running simulations with no Dramatiq broker


def _passes(target: Any) -> bool:
    from dramatiq import Worker
    from dramatiq.brokers.stub import StubBroker

    if isinstance(target, Worker) and isinstance(target.broker, StubBroker):
        return True  # Dramatiq's own testing pattern: a real Worker on a StubBroker, in memory
    patches = sys.modules.get("jobsim_dramatiq._patches")  # a simulation with Dramatiq brokers, inside, refuses
    return patches is not None and patches.current() is not None  # on its own


def _joins(target: Any) -> bool:
    """A join that ends: on a ``StubBroker`` a started ``Worker`` consumes, or of a started ``Worker``."""
    from dramatiq import Worker

    from ._middleware import consumed, live_threads

    if isinstance(target, Worker) and live_threads(target):
        return True
    patches = sys.modules.get("jobsim_dramatiq._patches")  # a simulation with Dramatiq brokers, inside, refuses
    if patches is not None and patches.current() is not None:  # on its own
        return True
    return not isinstance(target, Worker) and consumed(target)


def _refuse_stub_join(broker: Any, _: str, queue_name: Any = None, *args: Any, **kwargs: Any) -> JobsimError:
    from ._middleware import described

    return JobsimError(
        f"broker.join({kwargs.get('queue_name', queue_name)!r}) on a StubBroker that is not part of this simulation "
        f"({described(broker)}), and that no started dramatiq.Worker consumes: nothing takes its messages, so it "
        f"would wait in real time, for ever without timeout=. {_FIX}"
    )


def _refuse_worker_join(worker: Any, *args: Any, **kwargs: Any) -> JobsimError:
    from ._middleware import described

    return JobsimError(
        "dramatiq.Worker(...).join() of a Worker that is not part of this simulation and not started, on "
        f"{described(worker.broker)}: it would return at once, having waited for nothing. {_FIX}"
    )


def _refuse_enqueue(broker: Any, _: str, message: Any, *args: Any, **kwargs: Any) -> JobsimError:
    return JobsimError(
        f"message {message.actor_name!r} was enqueued on a {type(broker).__name__} that is not part of this "
        f"simulation: it would go to the real server. {_FIX}"
    )


def _refuse_server_call(broker: Any, name: str, *args: Any, **kwargs: Any) -> JobsimError:
    return JobsimError(
        f"broker.{name}() on a {type(broker).__name__} that is not part of this simulation would reach the real "
        f"server (flush_all() would empty its queues). {_FIX}"
    )


def _refuse_start(worker: Any, *args: Any, **kwargs: Any) -> JobsimError:
    return JobsimError(
        f"a dramatiq.Worker was started on a {type(worker.broker).__name__} while a simulation that runs no Dramatiq "
        "broker is running: its threads would consume the real server in real time, unseen by the simulation. Pass "
        "the unstarted Worker (or its broker) instead, e.g. jobsim.Simulation(dramatiq.Worker(broker, "
        "worker_threads=2))"
    )


def _refuse_backend(backend_class: type, package: str) -> Any:
    what = "results" if package == "results" else "rate-limiter"

    def refusal(_: Any, name: str, *args: Any, **kwargs: Any) -> JobsimError:
        return JobsimError(
            f"{name}() on a {what} {backend_class.__name__} would reach the real server (a simulation with a "
            f"Dramatiq broker keeps the {what} backends in memory, on its virtual clock). {_FIX}"
        )

    return refusal
