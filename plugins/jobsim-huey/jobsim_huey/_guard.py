"""While a simulation that runs no Huey is running, Huey's enqueue and consumer start say so instead of reaching
the real storage.

A test that forgot ``jobsim.Simulation(huey)`` (it simulates a ``jobsim.App``, or another backend) would
otherwise call a task into the Huey's real storage: a ``redis.ConnectionError`` at best; with a developer's
local Redis running, or a ``SqliteHuey``'s file, a task written there that a real consumer may run while the
simulation sees nothing. Every enqueue goes through ``Huey.enqueue`` (``api.py:304-325``: task calls,
``schedule``, pipelines, ``huey.enqueue``), every consumer through ``Consumer.start`` (``consumer.py:400-425``;
``run`` calls it), and results, revocations and ``lock_task`` locks through
``Huey.put``/``put_result``/``put_if_empty``/``get_raw``/``delete`` (``api.py:378-402``); all are wrapped while
such a simulation runs. An immediate-mode Huey (``immediate=True``: in memory, inline) and a simulation with
Hueys running inside pass through. A wrapper left in place by an unusual closing order calls Huey's own method
once no guarded simulation runs.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from jobsim.errors import JobsimError

_guarded: list[Any] = []  # running simulations with no Huey
# the key-value calls of the result store, revocation and locks (api.py:378-402; TaskLock, api.py:1088-1100)
_STORAGE = ("put", "put_result", "put_if_empty", "get_raw", "delete")
_saved: list[tuple[Any, str, Any]] = []


def guard(sim: Any) -> None:
    from huey.api import Huey
    from huey.consumer import Consumer

    if not _saved:
        wrapped = [(Huey, "enqueue", _refuse_enqueue), (Consumer, "start", _refuse_start)]
        wrapped += [(Huey, name, _refuse_storage(name)) for name in _STORAGE]
        for owner, name, refuse in wrapped:
            original = owner.__dict__[name]
            _saved.append((owner, name, original))
            setattr(owner, name, _wrap(original, refuse))
    _guarded.append(sim)


def unguard(sim: Any) -> None:
    if sim in _guarded:
        _guarded.remove(sim)
    if _guarded:
        return
    for owner, name, original in _saved:
        if getattr(owner.__dict__.get(name), "_jobsim_guard", False):  # else something else patched it since
            setattr(owner, name, original)
    _saved.clear()


def _passes(huey: Any) -> bool:
    patches = sys.modules.get("jobsim_huey._patches")  # a simulation with Hueys, inside, refuses on its own
    return not _guarded or huey.immediate or (patches is not None and patches.current() is not None)


def _wrap(original: Any, refuse: Any) -> Any:
    @functools.wraps(original)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        huey = getattr(self, "huey", self)  # a Consumer has its Huey
        if _passes(huey):
            return original(self, *args, **kwargs)
        refuse(self, huey, *args)
        return None

    guarded._jobsim_guard = True  # type: ignore[attr-defined]
    return guarded


def _refuse_enqueue(_: Any, huey: Any, task: Any) -> None:
    raise JobsimError(
        f"Huey {huey.name!r} ({type(huey).__name__}) is not part of this simulation: enqueueing task "
        f"{getattr(task, 'name', task)!r} would write to its real storage. This simulation runs no Huey: pass it, "
        "e.g. jobsim.Simulation(huey) or jobsim.Simulation(huey.create_consumer(workers=2), other_target)"
    )


def _refuse_storage(name: str) -> Any:
    def refuse(_: Any, huey: Any, *args: Any) -> None:
        raise JobsimError(
            f"Huey {huey.name!r} ({type(huey).__name__}) is not part of this simulation: huey.{name}() (a result read "
            "or stored, a revocation, a lock_task lock) would reach its real storage. This simulation runs no Huey: "
            "pass it, e.g. jobsim.Simulation(huey) or jobsim.Simulation(huey, other_target)"
        )

    return refuse


def _refuse_start(_: Any, huey: Any) -> None:
    raise JobsimError(
        f"a huey Consumer was started for Huey {huey.name!r} while a simulation that runs no Huey is running: its "
        "threads would consume the real storage in real time. Pass the unstarted consumer to the simulation instead, "
        "e.g. jobsim.Simulation(huey.create_consumer(workers=2)), and drop consumer.run()/start()"
    )
