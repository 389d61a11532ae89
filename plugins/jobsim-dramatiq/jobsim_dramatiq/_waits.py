"""Waits the test makes on Dramatiq (``broker.join``, ``get_result(block=True)``): they run the simulation.

A real wait blocks the test while a worker does the work in real time; here the wait drives
virtual time forward, one instant with work at a time, until what it waits for holds -- so it
returns at the virtual instant the real one would, and costs no real time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jobsim._time import DAY, SECOND, duration_ns, format_duration, iso, to_datetime
from jobsim.errors import BudgetExceeded, InvalidArgument, JobsimError

if TYPE_CHECKING:
    from jobsim import Simulation

    from ._broker import SimBroker
    from ._world import DramatiqWorld

WAIT_HORIZON = 366 * DAY  # a wait with no timeout gives up after this much virtual time


def join(world: DramatiqWorld, sb: SimBroker, queue_name: str, *, timeout: Any, fail_fast: bool | None) -> None:
    """``broker.join(queue_name)``: run the simulation until every message enqueued on the queue and its delay
    queue was acked or dead-lettered (``brokers/stub.py:146-196``).

    ``timeout`` (ms, virtual) raises ``QueueJoinTimeout`` as the broker does (``0``, falsy, is none). On a
    ``StubBroker`` ``fail_fast`` (default: the broker's ``fail_fast_default``, True) re-raises the exception of
    a message dead-lettered on that queue (``stub.py:192-194``). A queue whose messages no simulated worker
    consumes is an error, not a hang."""
    from dramatiq.errors import QueueJoinTimeout, QueueNotFound

    sim = world.sim
    sim._require_running("dramatiq.join")
    if sb.kind == "stub" and queue_name not in sb.broker.queues:
        raise QueueNotFound(queue_name)  # brokers/stub.py:170-176
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)):
        raise InvalidArgument.build("timeout", timeout, "a number of milliseconds (Dramatiq's unit, as broker.join "
                                    "takes it: timeout=5_000 for 5 s), or None")  # fmt: skip
    # `deadline = timeout and time.monotonic() + timeout / 1000` (stub.py:178, redis.py:226, rabbitmq.py:499): 0 is
    # no timeout at all
    within = None if not timeout else duration_ns(timeout / 1000, "timeout")
    start = sim.kernel.now
    if not wait_until(sim, lambda: sb.unacked[queue_name] <= 0, within, f"broker.join({queue_name!r})"):
        if within is not None and sim.kernel.now >= start + within:
            raise QueueJoinTimeout(queue_name)
        raise JobsimError(
            f"broker.join({queue_name!r}) would wait forever: {sb.unacked[queue_name]} message(s) on it are "
            "neither acked nor dead-lettered, and nothing is pending in the simulation that could change that (no "
            "running simulated worker consumes the queue?)"
        )
    should_fail = fail_fast if fail_fast is not None else getattr(sb.broker, "fail_fast_default", False)
    if sb.kind == "stub" and should_fail:
        for message in sb.broker.dead_letters_by_queue[queue_name]:
            raise (message._exception or Exception("Message failed with unknown error")) from None


def wait_until(sim: Simulation, ready: Callable[[], bool], within: int | None, what: str) -> bool:
    """From the test: run the simulation, instant by instant, until ``ready()`` or ``within`` ns have passed.

    With no ``within``, a wait still pending after ``WAIT_HORIZON`` of virtual time (an actor retried for
    ever, ``max_retries=None``) raises ``BudgetExceeded`` instead of running on for ever; with nothing left
    that could make ``ready()`` true, it returns False at once."""
    if sim.engine.x is not None:
        raise JobsimError(f"{what} was called from actor code; a blocking wait belongs in the test")
    deadline = sim.kernel.now + (WAIT_HORIZON if within is None else within)
    while not ready():
        due = sim.kernel.next_due()
        if due is None:
            return False
        if due > deadline:
            if within is None:
                raise BudgetExceeded(
                    f"{what} was still waiting after {format_duration(WAIT_HORIZON)} of virtual time (next work at "
                    f"{iso(due)}): a message retried for ever? Pass timeout="
                )
            sim.advance_to(instant(deadline))
            return ready()
        sim.advance_to(instant(due))
    return True


def instant(ns: int) -> str:
    """Epoch ns as an ISO instant ``advance_to`` reads to the nanosecond."""
    return to_datetime(ns - ns % SECOND).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % SECOND:09d}+00:00"
