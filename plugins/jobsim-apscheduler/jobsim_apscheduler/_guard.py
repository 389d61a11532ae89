"""While a simulation runs, ``scheduler.start()`` of a scheduler it was not given says so instead of starting
a real one.

A test that forgot ``jobsim.Simulation(scheduler)`` (it simulates a ``jobsim.App``, another backend, or another
scheduler of the app) and starts that scheduler would otherwise run its jobs on a real thread or loop in real
time, beside a simulation that sees none of them (a ``BlockingScheduler`` never returns). Every scheduler
starts through ``BaseScheduler.start`` (``schedulers/base.py:176-219``; ``BackgroundScheduler``,
``BlockingScheduler`` and ``AsyncIOScheduler`` call it before their thread or loop), wrapped while a simulation
runs; the schedulers a simulation drives pass. A wrapper left in place by an unusual closing order calls
APScheduler's own method once no guarded simulation runs.

Before a simulation that drives schedulers starts (built, not yet ``with sim:``), while no simulation runs,
``start()`` of any scheduler is refused too (``ClassGuard.hold``, as every backend's guard does): the scheduler
the simulation was given would start for real, in real time, and the simulation would then drive a running one.
"""

from __future__ import annotations

from typing import Any

from jobsim.errors import JobsimError
from jobsim.hooks import ClassGuard


def _install(guard: ClassGuard) -> None:
    from apscheduler.schedulers.base import BaseScheduler

    guard.wrap(BaseScheduler, "start", _refusal, passes=_driven)


GUARD = ClassGuard(_install)  # every running simulation


def _driven(scheduler: Any) -> bool:
    from . import _patches

    world = _patches.active()
    return world is not None and any(d.scheduler is scheduler for d in world.driven)


def _refusal(scheduler: Any, _: str, *args: Any, **kwargs: Any) -> JobsimError:
    from . import _patches

    which = "no APScheduler scheduler" if _patches.active() is None else "other schedulers but not this one"
    return JobsimError(
        f"{type(scheduler).__name__}.start() was called while a simulation that runs {which} is running: it would "
        "run its jobs on a real thread or loop, in real time, unseen by the simulation. Pass the unstarted "
        "scheduler instead, e.g. jobsim.Simulation(scheduler) or jobsim.Simulation(scheduler, other_target): "
        "the simulation starts it in virtual time"
    )
