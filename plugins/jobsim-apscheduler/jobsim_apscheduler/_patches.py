"""What jobsim-apscheduler replaces process-wide while a simulation with a scheduler runs.

The id of a job added without ``id=``: ``Job.__init__`` takes ``uuid4().hex`` (``job.py:65``); while
a simulation runs it is drawn from the seed first (``_draws.job_init``), so runs and traces are named
the same every time. And the ``random`` module the triggers draw their jitter from:
``BaseTrigger._apply_jitter`` (``triggers/base.py:21-35``, cron and date triggers) and
``IntervalTrigger.get_next_fire_time`` (``triggers/interval.py:87-88``) call
``random.uniform(0, jitter)`` on the global module. While a simulation runs they draw from the
stream of the job whose trigger draws (``_draws.Jitter``), so the same seed gives the same fire
times, and one job's draws move no other's. Everything else is patched on the scheduler
instance itself (``_world.APSWorld._patch``).

While an ``AsyncIOScheduler`` is driven, ``apscheduler.executors.asyncio.run_coroutine_job`` is
also jobsim's (``_asyncio._run_coroutine_job``, set and given back by ``_asyncio.AsyncSide``): for
the simulation's jobs it runs APScheduler's own one run time at a time, for any other scheduler's
it is APScheduler's own.

One simulation with APScheduler schedulers may run at a time in a process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobsim.hooks import ProcessPatches

from ._draws import Jitter, job_init

if TYPE_CHECKING:
    from ._world import APSWorld

_PATCHES: ProcessPatches[APSWorld] = ProcessPatches(
    "an APScheduler scheduler", "jobsim-apscheduler seeds the triggers' jitter"
)


def push(world: APSWorld) -> None:
    _PATCHES.push(world, _patch)


def _patch(world: APSWorld) -> None:
    import apscheduler.job
    import apscheduler.triggers.base
    import apscheduler.triggers.interval

    jitter = Jitter(world.draws)
    for module in (apscheduler.triggers.base, apscheduler.triggers.interval):
        _PATCHES.set(module, "random", jitter)
    _PATCHES.set(apscheduler.job.Job, "__init__", job_init(apscheduler.job.Job.__init__, world.draws))


def active() -> APSWorld | None:
    """The world of the simulation that has schedulers running in this process, if any."""
    return _PATCHES.current


def pop(world: APSWorld) -> None:
    _PATCHES.pop(world)
