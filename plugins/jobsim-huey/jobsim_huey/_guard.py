"""While a simulation that runs no Huey is running, Huey's enqueue, consumer start and storage calls say so instead
of reaching the real storage.

A test that forgot ``jobsim.Simulation(huey)`` (it simulates a ``jobsim.App``, or another backend) would
otherwise call a task into the Huey's real storage: a ``redis.ConnectionError`` at best; with a developer's
local Redis running, or a ``SqliteHuey``'s file, a task written there that a real consumer may run while the
simulation sees nothing. Every enqueue goes through ``Huey.enqueue`` (``api.py:304-325``: task calls,
``schedule``, pipelines, ``huey.enqueue``), every consumer through ``Consumer.start`` (``consumer.py:400-425``;
``run`` calls it), results, revocations and ``lock_task`` locks through
``Huey.put``/``put_result``/``put_if_empty``/``get_raw``/``delete`` (``api.py:378-402``), and what reads or
changes the storage directly: ``pending``/``scheduled``/``all_results`` and their counts (``len(huey)`` too),
``is_revoked``, ``is_locked`` (and ``TaskLock.is_locked``), ``flush``, ``RateLimit.current_usage``, and the
consumer's ``dequeue``/``read_schedule``/``add_schedule`` (``api.py:373-376, 686-775, 1075-1142``); all are
wrapped while such a simulation runs. An immediate-mode Huey (``immediate=True``: in memory, inline) and a
simulation with Hueys running inside pass through. A wrapper left in place by an unusual closing order calls
Huey's own method once no guarded simulation runs.
"""

from __future__ import annotations

import sys
from typing import Any

from jobsim.errors import JobsimError
from jobsim.hooks import ClassGuard

# what else reaches the storage, by what it is for (api.py:378-402, 686-775; TaskLock, RateLimit, api.py:1064-1142)
_STORAGE = {
    "a result read or stored, a revocation, a lock_task lock": ("put", "put_result", "put_if_empty", "get_raw",
                                                                 "delete"),
    "a look at its queue, schedule, results, revocations or locks": ("pending", "pending_count", "scheduled",
                                                                     "scheduled_count", "all_results",
                                                                     "result_count", "is_revoked", "is_locked"),
    "emptying it": ("flush",),
    "a consumer's own work": ("dequeue", "read_schedule", "add_schedule"),
}  # fmt: skip


def _install(guard: ClassGuard) -> None:
    from huey.api import Huey, RateLimit, TaskLock
    from huey.consumer import Consumer

    guard.wrap(Huey, "enqueue", _refuse_enqueue, passes=_passes)
    guard.wrap(Consumer, "start", _refuse_start, passes=_passes)
    for what, names in _STORAGE.items():
        for name in names:
            guard.wrap(Huey, name, _refuse_storage(f"huey.{name}()", what), passes=_passes)
    for name in ("is_locked", "locked"):  # huey.lock_task(name).is_locked(), its alias
        refusal = _refuse_storage(f"huey.lock_task(...).{name}()", "a lock_task lock")
        guard.wrap(TaskLock, name, refusal, passes=_passes)
    guard.wrap(RateLimit, "current_usage", _refuse_storage("huey.rate_limit(...).current_usage()", "a rate limit"),
               passes=_passes)


GUARD = ClassGuard(_install)  # running simulations with no Huey


def _huey_of(obj: Any) -> Any:
    """The Huey of a Huey, a Consumer (``.huey``), a TaskLock or a RateLimit (``._huey``)."""
    return getattr(obj, "_huey", None) or getattr(obj, "huey", obj)


def _passes(obj: Any) -> bool:
    huey = _huey_of(obj)
    patches = sys.modules.get("jobsim_huey._patches")  # a simulation with Hueys, inside, refuses on its own
    return bool(huey.immediate) or (patches is not None and patches.current() is not None)


def _refuse_enqueue(huey: Any, _: str, task: Any, *args: Any, **kwargs: Any) -> JobsimError:
    return JobsimError(
        f"Huey {huey.name!r} ({type(huey).__name__}) is not part of this simulation: enqueueing task "
        f"{getattr(task, 'name', task)!r} would write to its real storage. This simulation runs no Huey: pass it, "
        "e.g. jobsim.Simulation(huey) or jobsim.Simulation(huey.create_consumer(workers=2), other_target)"
    )


def _refuse_storage(call: str, what: str) -> Any:
    def refusal(obj: Any, *args: Any, **kwargs: Any) -> JobsimError:
        huey = _huey_of(obj)
        return JobsimError(
            f"Huey {huey.name!r} ({type(huey).__name__}) is not part of this simulation: {call} ({what}) would "
            "reach its real storage. This simulation runs no Huey: pass it, e.g. jobsim.Simulation(huey) or "
            "jobsim.Simulation(huey, other_target)"
        )

    return refusal


def _refuse_start(consumer: Any, *args: Any, **kwargs: Any) -> JobsimError:
    return JobsimError(
        f"a huey Consumer was started for Huey {consumer.huey.name!r} while a simulation that runs no Huey is "
        "running: its threads would consume the real storage in real time. Pass the unstarted consumer to the "
        "simulation instead, e.g. jobsim.Simulation(huey.create_consumer(workers=2)), and drop consumer.run()/start()"
    )
