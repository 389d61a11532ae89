"""While a simulation runs, ``scheduler.start()`` of a scheduler it was not given says so instead of starting
a real one.

A test that forgot ``jobsim.Simulation(scheduler)`` (it simulates a ``jobsim.App``, another backend, or another
scheduler of the app) and starts that scheduler would otherwise run its jobs on a real thread or loop in real
time, beside a simulation that sees none of them (a ``BlockingScheduler`` never returns). Every scheduler
starts through ``BaseScheduler.start`` (``schedulers/base.py:176-219``; ``BackgroundScheduler``,
``BlockingScheduler`` and ``AsyncIOScheduler`` call it before their thread or loop), wrapped while a simulation
runs; the schedulers a simulation drives pass. A wrapper left in place by an unusual closing order calls
APScheduler's own method once no guarded simulation runs.
"""

from __future__ import annotations

import functools
from typing import Any

from jobsim.errors import JobsimError

_guarded: list[Any] = []  # running simulations
_saved: list[Any] = []


def guard(sim: Any) -> None:
    from apscheduler.schedulers.base import BaseScheduler

    if not _saved:
        original = BaseScheduler.__dict__["start"]
        _saved.append(original)
        BaseScheduler.start = _refusing(original)
    _guarded.append(sim)


def unguard(sim: Any) -> None:
    if sim in _guarded:
        _guarded.remove(sim)
    if _guarded or not _saved:
        return
    from apscheduler.schedulers.base import BaseScheduler

    if getattr(BaseScheduler.__dict__.get("start"), "_jobsim_guard", False):  # else something else patched it since
        BaseScheduler.start = _saved[0]
    _saved.clear()


def _refusing(original: Any) -> Any:
    @functools.wraps(original)
    def start(self: Any, *args: Any, **kwargs: Any) -> Any:
        from . import _patches

        world = _patches.active()
        if not _guarded or (world is not None and any(d.scheduler is self for d in world.driven)):
            return original(self, *args, **kwargs)
        which = "no APScheduler scheduler" if world is None else "other schedulers but not this one"
        raise JobsimError(
            f"{type(self).__name__}.start() was called while a simulation that runs {which} is running: it would "
            "run its jobs on a real thread or loop, in real time, unseen by the simulation. Pass the unstarted "
            "scheduler instead, e.g. jobsim.Simulation(scheduler) or jobsim.Simulation(scheduler, other_target): "
            "the simulation starts it in virtual time"
        )

    start._jobsim_guard = True  # type: ignore[attr-defined]
    return start
