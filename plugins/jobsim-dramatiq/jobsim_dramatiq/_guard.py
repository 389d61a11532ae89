"""While a simulation that runs no Dramatiq broker is running, enqueue on a Redis or RabbitMQ broker says so
instead of reaching the server.

A test that forgot ``jobsim.Simulation(broker)`` (it simulates a ``jobsim.App``, or another backend) would
otherwise ``actor.send`` into the broker's real Redis or RabbitMQ: a connection error at best; with a developer's
local Redis running, a message a real worker may run while the simulation sees nothing. Every send goes
through the broker's ``enqueue`` (``brokers/redis.py:150-186``, ``brokers/rabbitmq.py:356-401``; ``send``,
``send_with_options``, pipelines, groups), wrapped on both classes while such a simulation runs -- also
the ``RabbitmqBroker`` ``dramatiq.get_broker()`` makes when no global broker is set. A ``StubBroker``
(in memory, as Dramatiq's own tests use it) passes, and so does any broker while a simulation with Dramatiq
brokers runs inside (it refuses brokers it was not given on its own). A wrapper left in place by an unusual
closing order calls Dramatiq's own method once no guarded simulation runs.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from jobsim.errors import JobsimError

_guarded: list[Any] = []  # running simulations with no Dramatiq broker
_saved: list[tuple[type, Any]] = []


def guard(sim: Any) -> None:
    from ._patches import _broker_module

    if not _saved:
        for name, client, cls in (("redis", "redis", "RedisBroker"), ("rabbitmq", "pika", "RabbitmqBroker")):
            module = _broker_module(name, client)
            if module is not None:
                owner = getattr(module, cls)
                original = owner.__dict__["enqueue"]
                _saved.append((owner, original))
                owner.enqueue = _refusing(original)
    _guarded.append(sim)


def unguard(sim: Any) -> None:
    if sim in _guarded:
        _guarded.remove(sim)
    if _guarded:
        return
    for owner, original in _saved:
        if getattr(owner.__dict__.get("enqueue"), "_jobsim_guard", False):  # else something else patched it since
            owner.enqueue = original  # type: ignore[attr-defined]
    _saved.clear()


def _refusing(original: Any) -> Any:
    @functools.wraps(original)
    def enqueue(self: Any, message: Any, *, delay: int | None = None) -> Any:
        patches = sys.modules.get("jobsim_dramatiq._patches")
        if not _guarded or (patches is not None and patches.current() is not None):
            return original(self, message, delay=delay)
        raise JobsimError(
            f"message {message.actor_name!r} was enqueued on a {type(self).__name__} that is not part of this "
            "simulation: it would go to the real server. This simulation runs no Dramatiq broker: pass the broker "
            "(or its actors), e.g. jobsim.Simulation(broker) or jobsim.Simulation(broker, other_target)"
        )

    enqueue._jobsim_guard = True  # type: ignore[attr-defined]
    return enqueue
