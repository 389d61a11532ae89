"""A BullMQ worker process killed mid-job (``sim.crash_worker(function=<queue>)``, ``sim.bullmq.crash_worker``).

A killed process runs no more code: no ``moveToFailed``, no lock release, no lock
renewal. Here, every task of the worker -- its ``run()`` loop, its fetches, its
processors and the tasks they spawned, its lock-renewal and stalled-check timers -- stops
where it is (``WorkerLoop.freeze``: none takes another step), its ``BZPOPMIN`` is dropped
(Redis drops a closed client's blocking call), and the jobs it was processing stay in
``active`` holding their locks. What follows is bullmq's, through the store:

* each lock expires ``lockDuration`` (30 s) after the worker last took or renewed it
  (``moveToActive-11.lua:128-131``, ``extendLocks-1.lua``; renewals ran every
  ``lockRenewTime``, 15 s);
* a live worker of the queue -- the restarted one, started ``restart`` later (a process
  supervisor; default at once), or another -- runs ``moveStalledJobsToWait`` every
  ``stalledInterval`` (30 s) from its start (``timer.py``: the first check one interval
  after ``run()``). A check marks the active jobs; the next check that finds a marked job
  without its lock moves it back to wait with a ``stalled`` event
  (``moveStalledJobsToWait-9.lua:123-179``), and past ``maxStalledCount`` (1) stalls a
  non-scheduler job gets ``defa`` and fails when next fetched with
  ``"job stalled more than allowable limit"`` (``worker.py:444-447``);
* with no live worker, nothing happens: the job stays active.

The crash hits, at ``at``, the first simulated worker of the queue with a job in flight; if
none has one then, the first of them to start a job at or after ``at`` dies as its processor
is called (the job was fetched and locked, its code does not run). ``function=None`` names
no BullMQ queue: jobsim's engine crashes its own functions and BullMQ is untouched.

The restarted worker is a new ``Worker(name, processor, opts)`` with the same processor,
options and event listeners (``worker.on(...)``), a worker id drawn from the simulation's
seed; ``sim.bullmq.workers`` lists the live ones. A crash lands between two turns of the
workers' loop. A crash at an instant a processor's blocking call (``time.sleep``) holds the loop
kills the worker then: nothing its job does after the call reaches Redis (its commands wait for the
call's end, ``_patches._gated``, and are dropped with its tasks). If that job was the only one in
flight, the call dies with the process and the restarted worker starts at ``at``; if another
worker of the simulation had a job in flight, the loop -- the one process they share -- stays
blocked until the call's end, and the restarted worker's first turn comes then.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from typing import TYPE_CHECKING, Any

from jobsim._kernel import URGENT
from jobsim._time import duration_ns
from jobsim.errors import InvalidArgument, WorkerCrashed
from jobsim.hooks import planned_instant, target_rng

if TYPE_CHECKING:
    from ._world import BullMQWorld


@dataclasses.dataclass(eq=False)
class CrashPlan:
    at: int  # ns
    queue: str
    restart: int | None  # ns after the crash; None: never
    done: bool = False


class Crashes:
    """The crash plans of one simulation."""

    def __init__(self, world: BullMQWorld) -> None:
        self.world = world
        self.sim = world.sim
        self.armed: list[CrashPlan] = []  # plans waiting for a job of their queue to start
        self.restarts = 0

    def plan(self, at: Any = None, queue: Any = None, restart: Any = "0s") -> CrashPlan:
        world = self.world
        at_ns = planned_instant(self.sim, at, "a crash")
        name = queue if isinstance(queue, str) else getattr(queue, "name", None)
        if name not in world.functions or not any(w.name == name for w in world.all_workers):
            known = ", ".join(sorted({repr(w.name) for w in world.all_workers}))
            raise InvalidArgument.build("queue", queue,
                                        f"the name of a queue a simulated BullMQ worker reads ({known})")  # fmt: skip
        restart_ns = None if restart is None else duration_ns(restart, "restart")
        return self.plan_ns(at_ns, str(name), restart_ns)

    def plan_ns(self, at_ns: int, name: str, restart_ns: int | None) -> CrashPlan:
        plan = CrashPlan(at_ns, name, restart_ns)
        self.sim.kernel.schedule(at_ns, self._due, plan, owner=f"bullmq crash of queue {name!r}", priority=URGENT)
        return plan

    def _due(self, plan: CrashPlan) -> None:
        """At ``plan.at``: kill the first worker of the queue with a job in flight, or wait for the next start."""
        for worker in self.world.workers:
            if worker.name == plan.queue and worker.jobs:
                self.kill(worker, plan)
                return
        self.armed.append(plan)

    def on_start(self, worker: Any) -> bool:
        """A processor is being called on ``worker``: True if an armed crash kills the worker now."""
        for plan in self.armed:
            if plan.queue == worker.name and not plan.done:
                self.armed.remove(plan)
                self.kill(worker, plan)
                return True
        return False

    # -- the kill ----------------------------------------------------------------------------------
    def kill(self, worker: Any, plan: CrashPlan) -> None:
        world = self.world
        loop = world.loop
        assert loop is not None
        plan.done = True
        root = world.runners.get(worker)
        tasks = {t for t in asyncio.all_tasks(loop) if not t.done() and _descends(loop, t, root)}
        loop.freeze(tasks)
        for future, (q, timer, task) in list(world.store.blocked.items()):
            if task in tasks:  # the dead client's BZPOPMIN
                if timer is not None:
                    timer.cancel()
                if future in q.waiters:
                    q.waiters.remove(future)
                world.store.blocked.pop(future, None)
        now = world.now_ns()
        jobs = []
        for job, _token in sorted(worker.jobs, key=lambda jt: str(jt[0].id)):
            held = world.jobs.get((worker.qualifiedName, job.id))
            if held is None:
                continue
            jobs.append(held.run.id)
            world.orphans.add((worker.qualifiedName, held.run.id))
            loop.disown(held)
            if held.started is not None:
                world.end_attempt(held, WorkerCrashed(f"the BullMQ worker of queue {worker.name!r} was killed"))
        world.workers.remove(worker)
        world.listened = {w.qualifiedName for w in world.workers}
        if loop.blocked_until() is not None and not any(w.jobs for w in world.workers):
            loop.unblock()  # the blocking call was this worker's job's (no other job is in flight): it dies here
        restart = None if plan.restart is None else now + plan.restart
        world.record("bullmq.crash", function=worker.name, queue=worker.name, jobs=jobs, restart=restart)
        if plan.restart == 0:
            self._restart(worker)
        elif plan.restart is not None:
            self.sim.kernel.schedule(now + plan.restart, self._restart, worker,
                                     owner=f"bullmq restart of queue {worker.name!r}", priority=URGENT)  # fmt: skip
        world.poke()

    def _restart(self, dead: Any) -> None:
        """A process supervisor starts the worker again: the same processor, options and listeners."""
        from bullmq import Worker

        world = self.world
        self.restarts += 1
        processor = world.originals[dead]
        worker = Worker(dead.name, processor, dict(dead.opts))
        # the queue's own stream: restarting another queue's worker renames none of this queue's (the plugin's
        # numbered generators, counted across queues, under random_streams="shared")
        rng = (random.Random(f"jobsim-bullmq-restart:{self.sim.seed}:{self.restarts}")
               if self.sim.random_streams == "shared" else target_rng(self.sim, dead.name))  # fmt: skip
        worker.id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
        worker._callbacks = dead._callbacks  # the listeners the process registers at start
        world.workers.append(worker)
        world.all_workers.append(worker)
        world.listened.add(worker.qualifiedName)
        world.start_worker(worker)


def _descends(loop: Any, task: Any, root: Any) -> bool:
    seen = 0
    while task is not None and seen < 10_000:
        if task is root:
            return True
        task = loop.creators.get(task)
        seen += 1
    return False
