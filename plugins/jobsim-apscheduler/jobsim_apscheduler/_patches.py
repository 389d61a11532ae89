"""What jobsim-apscheduler replaces process-wide while a simulation with a scheduler runs.

The id of a job added without ``id=``: ``Job.__init__`` takes ``uuid4().hex`` (``job.py:65``); while
a simulation runs it is drawn from the simulation's seed, so runs and traces are named the same
every time. And the ``random`` module the triggers draw their jitter from: ``BaseTrigger._apply_jitter``
(``triggers/base.py:21-35``, cron and date triggers) and ``IntervalTrigger.get_next_fire_time``
(``triggers/interval.py:87-88``) call ``random.uniform(0, jitter)`` on the global module.
While a simulation runs they draw from a ``random.Random`` seeded from the simulation's seed,
so the same seed gives the same fire times. Everything else is patched on the scheduler
instance itself (``_world.APSWorld._patch``).

While an ``AsyncIOScheduler`` is driven, ``apscheduler.executors.asyncio.run_coroutine_job`` is
also jobsim's (``_asyncio._run_coroutine_job``, set and given back by ``_asyncio.AsyncSide``): for
the simulation's jobs it runs APScheduler's own one run time at a time, for any other scheduler's
it is APScheduler's own.

One simulation with APScheduler schedulers may run at a time in a process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobsim.errors import JobsimError

if TYPE_CHECKING:
    from ._world import APSWorld

_active: APSWorld | None = None
_saved: list[tuple[Any, str, Any]] = []


def push(world: APSWorld) -> None:
    global _active
    if _active is not None:
        raise JobsimError(
            "another simulation with an APScheduler scheduler is running in this process; close it before starting "
            "this one (jobsim-apscheduler seeds the triggers' jitter process-wide while a simulation runs)"
        )
    import apscheduler.job
    import apscheduler.triggers.base
    import apscheduler.triggers.interval

    for module in (apscheduler.triggers.base, apscheduler.triggers.interval):
        _saved.append((module, "random", module.random))
        module.random = world.rng
    _saved.append((apscheduler.job, "uuid4", apscheduler.job.uuid4))
    apscheduler.job.uuid4 = world.new_uuid
    _active = world


def active() -> APSWorld | None:
    """The world of the simulation that has schedulers running in this process, if any."""
    return _active


def pop(world: APSWorld) -> None:
    global _active
    if _active is not world:
        return
    for module, name, original in _saved:
        setattr(module, name, original)
    _saved.clear()
    _active = None
