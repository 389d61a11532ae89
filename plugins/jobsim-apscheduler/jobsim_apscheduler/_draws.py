"""Whose stream each of APScheduler's random draws comes from, while a simulation runs.

* **Trigger jitter.** ``BaseTrigger._apply_jitter`` (cron, date) and
  ``IntervalTrigger.get_next_fire_time`` call ``random.uniform(0, jitter)`` on the module
  ``random`` (``triggers/base.py:21-35``, ``triggers/interval.py:87-88``). That name is a
  :class:`Jitter`: the draw comes from the stream of the job whose trigger draws
  (``sim.rng_for(job id)``, a job's id being its function's), found by the caller's
  ``self`` -- the trigger -- among the driven schedulers' jobs (a combining trigger's
  parts too), or, for the trigger ``reschedule_job`` builds before any job holds it, the
  job being rescheduled.
* **Ids of jobs added without one.** ``Job.__init__`` takes ``uuid4().hex`` (``job.py:65``):
  here the id is drawn before, from a stream of the job's callable (its reference,
  ``module:qualname``), so adding a job of another callable renames none of this one's.

So one job firing more often, or a job added, moves no other job's jitter or id. A trigger
no driven job holds (another scheduler's), and every draw under
``random_streams="shared"``, come from the plugin's own generators, as before.
"""

from __future__ import annotations

import random
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from jobsim.hooks import target_rng

if TYPE_CHECKING:
    from ._world import APSWorld


class Draws:
    """The streams of one simulation's APScheduler draws (``APSWorld.draws``)."""

    def __init__(self, world: APSWorld) -> None:
        self.world = world
        self.shared = world.sim.random_streams == "shared"
        self._triggers: dict[int, tuple[Any, str]] = {}  # id(trigger) -> (trigger, job id): found before
        self._rescheduling: list[str] = []  # the job ``reschedule_job`` is building a trigger for
        self._ids: dict[str, random.Random] = {}  # callable reference -> the stream of its jobs' ids

    def jitter_rng(self, trigger: Any) -> random.Random:
        job_id = None if self.shared else self._job_of(trigger)
        return self.world.rng if job_id is None else target_rng(self.world.sim, job_id)

    def _job_of(self, trigger: Any) -> str | None:
        known = self._triggers.get(id(trigger))
        if known is not None and known[0] is trigger:
            return known[1]
        for job in self._jobs():
            held = job.trigger
            if held is trigger or any(part is trigger for part in getattr(held, "triggers", ())):
                self.note(trigger, job.id)
                return str(job.id)
        return self._rescheduling[-1] if self._rescheduling else None

    def _jobs(self) -> Iterator[Any]:
        for driven in self.world.driven:
            scheduler = driven.scheduler
            yield from (job for job, _store, _replace in scheduler._pending_jobs)
            for store in scheduler._jobstores.values():
                yield from store.get_all_jobs()

    def note(self, trigger: Any, job_id: str) -> None:
        """``trigger`` is job ``job_id``'s (``_real_add_job``: before the job is in any store)."""
        self._triggers[id(trigger)] = (trigger, job_id)

    def rescheduling(self, method: Callable[..., Any]) -> Callable[..., Any]:
        """``scheduler.reschedule_job``, its new trigger's first draw on the rescheduled job's stream."""

        def reschedule_job(job_id: str, *args: Any, **kwargs: Any) -> Any:
            self._rescheduling.append(job_id)
            try:
                return method(job_id, *args, **kwargs)
            finally:
                self._rescheduling.pop()

        return reschedule_job

    def job_id(self, func: Any) -> str:
        """The ``uuid4().hex`` ``Job.__init__`` would take, for a job of ``func`` added without an id."""
        if self.shared:
            rng = self.world.ids
        else:
            ref = _reference(func)
            rng = self._ids.get(ref) or self._ids.setdefault(
                ref, random.Random(f"jobsim-apscheduler-ids:{self.world.sim.seed}:{ref}"))
        return uuid.UUID(int=rng.getrandbits(128), version=4).hex


class Jitter:
    """Stands in for the ``random`` module in APScheduler's trigger modules: each attribute is the drawing
    trigger's job's stream's (the trigger is the caller's ``self``)."""

    def __init__(self, draws: Draws) -> None:
        self._draws = draws

    def __getattr__(self, name: str) -> Any:
        trigger = sys._getframe(1).f_locals.get("self")
        return getattr(self._draws.jitter_rng(trigger), name)


def job_init(original: Callable[..., None], draws: Draws) -> Callable[..., None]:
    def __init__(job: Any, scheduler: Any, id: Any = None, **kwargs: Any) -> None:
        """APScheduler's own ``Job.__init__``; a job added without an id gets one drawn from its callable's stream."""
        original(job, scheduler, id or draws.job_id(kwargs.get("func")), **kwargs)

    return __init__


def _reference(func: Any) -> str:
    """A callable as APScheduler names it (``module:qualname``; a textual reference as given), never by address."""
    if isinstance(func, str):
        return func
    target = getattr(func, "func", func)  # a functools.partial: its function
    module = getattr(target, "__module__", None) or type(target).__module__
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}:{name}"
