"""A Dramatiq worker process dying with unacknowledged messages, and how each broker gets them back.

``sim.crash_worker(at=..., function=...)`` and ``sim.dramatiq.crash_worker(at=..., worker=..., restart=...)``
kill a simulated worker process (``kill -9``, the OOM killer, a lost host); ``stop_worker(timeout=...)`` whose
timeout a running message outlives ends the same way for that message (``Worker.stop`` gives up on its thread,
``join_all``, ``worker.py:161``, and the process exits). Every message the process fetched and had not acked
is unacknowledged on the broker: the one each thread was running, the ones waiting in its work queue for a
thread, the delayed ones its delay-queue consumers held (prefetch). What happens to them is the broker's:

* **RedisBroker** (``brokers/redis.py``, ``brokers/redis/dispatch.lua``). A fetch ``SADD``s each message id
  to the worker's ``__acks__.<worker id>.<queue>`` set (``dispatch.lua:158-167``); every dispatch command of a
  worker ``ZADD``s its heartbeat (``dispatch.lua:56-58``), so a dead worker's last heartbeat is (within one
  poll) the instant it died. Each command other than ``ack``/``nack`` runs maintenance with probability
  ``maintenance_chance`` in ``MAINTENANCE_SCALE`` = 1,000,000 (``random.randint(1, 1_000_000) <=
  maintenance_chance``, ``brokers/redis.py:238-242``; default 1000, i.e. 0.1 %, ``redis.py:41``).
  Maintenance on a command for queue ``Q`` finds the workers whose heartbeat is ``<= now -
  heartbeat_timeout`` (default 60,000 ms, ``redis.py:49``) and ``RPUSH``es the ids of their ``Q`` acks set
  back on ``Q`` -- the back of the queue -- if the message is still stored (``dispatch.lua:110-124``).
  Only ``Q``'s set: a delay queue's messages come back with a command on ``<Q>.DQ``. Here the commands
  are the live consumers' polls of ``Q`` -- each live worker consuming ``Q`` polls it once per its
  ``worker_timeout`` (the cap of an idle consumer's backoff, ``redis.py:366-371``), from the instant the
  dead worker's heartbeat expires -- and every enqueue on ``Q``; each draws from the simulation's seeded
  generator (``sim.rng``), so the same seed gives the same redelivery instant. ``maintenance_chance >=
  1_000_000`` always maintains (no draw): redelivery at the first poll at or after the heartbeat expiry,
  i.e. exactly ``heartbeat_timeout`` after the death if a worker consumes ``Q`` then; ``<= 0`` never (the
  messages stay in the dead worker's acks set, as on Redis).
* **RabbitmqBroker**: the process's connection closes with it, and RabbitMQ requeues every message it had
  delivered on that connection and not acked -- its prefetch (``basic_qos(prefetch_count=...)``,
  ``brokers/rabbitmq.py:527``) -- at once, with ``redelivered`` set, at its original place: the front of
  the queue, in delivery order.
* **StubBroker**: refused. Its queues are ``queue.Queue`` objects in the process that runs the ``Worker``
  (``brokers/stub.py``): a dying worker process takes the broker and every message on it along, and a
  ``Consumer.requeue`` that is a no-op (``broker.py:359-366``) has no redelivery to reproduce. Simulate the
  broker you deploy (a ``RedisBroker``/``RabbitmqBroker`` built in the test connects to nothing here).

A redelivered message is the same message: same ``message_id``, the same ``options`` (``retries`` is
unchanged: Retries never saw a failure), the same run, whose next attempt runs it again; the attempt the
crash cut short ends with ``jobsim.WorkerCrashed``. A supervisor starts a new process (a new worker name,
``worker-1-r1``, with the dead one's settings) ``restart`` after the crash (default: at once; the ``dramatiq``
CLI itself does not respawn a dead worker process, ``cli.py:672-692``: that is systemd's or Kubernetes' job).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from jobsim._checks import listed_ids
from jobsim._kernel import URGENT
from jobsim._time import MS, duration_ns, iso
from jobsim.errors import InvalidArgument, UnsupportedFeature
from jobsim.hooks import planned_instant

if TYPE_CHECKING:
    from ._broker import Parcel, SimBroker
    from ._execution import DramatiqExecution
    from ._worker import Item, SimWorker
    from ._world import DramatiqWorld

MAINTENANCE_SCALE = 1_000_000  # brokers/redis.py:36


@dataclasses.dataclass(eq=False)
class CrashPlan:
    """A crash to come: at ``at``, of ``worker`` or of the worker running a message of ``function``."""

    at: int
    function: str | None
    worker: SimWorker | None
    restart: int | None
    done: bool = False


@dataclasses.dataclass(eq=False)
class DeadAcks:
    """A dead worker's acks set for one queue on Redis: its messages, and when its heartbeat counts as expired."""

    worker: str
    queue: str
    parcels: list[Parcel]
    died: int
    expires: int  # died (whole ms) + heartbeat_timeout: from then a maintenance run requeues them


class Crashes:
    """One simulation's planned crashes, and the Redis acks sets dead workers left behind."""

    def __init__(self, world: DramatiqWorld) -> None:
        self.world = world
        self.sim = world.sim
        self.plans: list[CrashPlan] = []
        self.pending: dict[tuple[SimBroker, str], list[DeadAcks]] = {}
        self.timers: dict[tuple[SimBroker, str], Any] = {}
        self.polls: dict[tuple[SimBroker, str], dict[SimWorker, int]] = {}

    # -- planning ---------------------------------------------------------------------------------
    def plan(self, at: Any, function: Any, worker: Any, restart: Any) -> None:
        """Plan a crash (``DramatiqWorld.crash_worker``): checked now, applied when its instant comes."""
        world = self.world
        at_ns = planned_instant(self.sim, at, "a crash")
        fn_id = None
        if function is not None:
            fn_id = self.sim._function(function, "function").id
            if fn_id not in world.functions:
                raise InvalidArgument.build("function", function, "a Dramatiq actor of this simulation: "
                                            + listed_ids(sorted(world.functions)))  # fmt: skip
        if worker is not None and (worker not in world.workers or worker.dead):
            raise InvalidArgument.build("worker", worker, "one of sim.dramatiq.workers (a live simulated worker)")
        restart_ns = None if restart is None else duration_ns(restart, "restart")
        targets = [worker] if worker is not None else [w for w in world.workers if not w.dead]
        stub = [w for w in targets if w.sb.kind == "stub"]
        if fn_id is not None:
            stub = [w for w in stub if w.sb.broker is world.functions[fn_id].options["broker"]]
        elif worker is None and len(stub) < len(targets):
            stub = []  # any actor's message: on the brokers that can redeliver it (``arm``)
        if stub:
            raise UnsupportedFeature(
                f"sim.crash_worker(...) of a Dramatiq worker on a StubBroker ({stub[0].name}): a StubBroker's queues "
                "live in the worker's own process, so a crash takes the broker and its messages with it, and its "
                "consumer cannot requeue (Consumer.requeue is a no-op): there is no redelivery to simulate. Build the "
                "broker under test as the RedisBroker or RabbitmqBroker you deploy (nothing connects in a "
                "simulation); see plugins/jobsim-dramatiq/README.md",
                system="dramatiq", feature="crash_worker",
            )  # fmt: skip
        plan = CrashPlan(at_ns, fn_id, worker, restart_ns)
        for target in targets:  # a body already run past the crash cannot be cut short any more
            for item in target.running:
                x = item.x
                if x is None or x.killed or not x.start <= at_ns < x.now:
                    continue
                if worker is None and fn_id is not None and item.parcel.held.run.function.id != fn_id:
                    continue
                raise UnsupportedFeature(
                    f"a crash at {iso(at_ns)} would hit actor {item.proxy.actor_name!r} (message "
                    f"{item.proxy.message_id}) on {target.name}, running since {iso(x.start)}: jobsim ran its body "
                    f"to its end ({iso(x.now)}) when it started, so it cannot be stopped part-way now. Plan the crash "
                    "before that message starts",
                    system="dramatiq", feature="crash_worker",
                )  # fmt: skip
        self.plans.append(plan)
        if worker is not None:  # that worker dies at ``at``, busy or idle
            self.doom(worker, at_ns, plan)

    def arm(self, worker: SimWorker, item: Item, x: DramatiqExecution) -> None:
        """At an execution's start (``SimWorker._begin``): the death it meets, if any. A worker already doomed
        kills it at its death; a plan for its actor at or before its start kills it before its code runs (no
        attempt of that actor was in flight at the crash instant); a later plan where its code reaches it."""
        if worker.dies_at is not None:
            x.kill(worker.dies_at)
        fn_id = item.parcel.held.run.function.id
        for plan in self.plans:
            if plan.done or plan.worker is not None or (plan.function is not None and plan.function != fn_id):
                continue
            if plan.function is None and worker.sb.kind == "stub":
                continue
            x.kill(max(plan.at, x.start))

    def killed(self, worker: SimWorker, item: Item, x: DramatiqExecution) -> None:
        """``x`` met a death (``arm``): the plan it fulfils dooms its worker at that instant."""
        at = x.now
        if worker.dies_at is not None and worker.dies_at <= at:
            return
        fn_id = item.parcel.held.run.function.id
        chosen = None
        for plan in self.plans:
            if plan.done or plan.worker is not None or (plan.function is not None and plan.function != fn_id):
                continue
            if max(plan.at, x.start) == at:
                plan.done = True
                chosen = chosen or plan
        if chosen is None:  # a stop's timeout (``SimWorker.arm_stop``): SimWorker.stop scheduled the death
            return
        for other in worker.running:  # executions that started before the plan was bound to this worker
            ox = other.x
            if other is not item and ox is not None and not ox.killed and ox.now > at:
                raise UnsupportedFeature(
                    f"the crash of {worker.name} at {iso(at)} (sim.crash_worker(function={chosen.function!r})) would "
                    f"cut short actor {other.proxy.actor_name!r} (message {other.proxy.message_id}), whose body jobsim "
                    f"already ran to {iso(ox.now)}: crash that worker by name (sim.dramatiq.crash_worker(worker=...)) "
                    "before that message starts",
                    system="dramatiq", feature="crash_worker",
                )  # fmt: skip
        self.doom(worker, at, chosen)

    def doom(self, worker: SimWorker, at: int, plan: CrashPlan) -> None:
        """``worker`` dies at ``at``: executions starting before then are killed there; its death is a kernel
        item ahead of anything else at that instant (an ack due then does not happen)."""
        if worker.dies_at is not None and worker.dies_at <= at:
            return
        worker.dies_at = at
        for item in worker.running:
            if item.x is not None and item.x.now > at:
                item.x.kill(at)
        self.sim.kernel.schedule(at, self._die, worker, plan, owner=f"dramatiq {worker.name} (crash)",
                                 priority=URGENT)  # fmt: skip

    def _die(self, worker: SimWorker, plan: CrashPlan) -> None:
        if worker.dead or worker.dies_at != self.sim.kernel.now:
            return
        for other in self.plans:  # the same crash, planned twice
            if not other.done and other.at <= self.sim.kernel.now and other.worker is worker:
                other.done = True
        plan.done = True
        unacked = worker.die()
        sb = worker.sb
        if plan.restart is None:
            sb.workers.remove(worker)
            sb.crashed.append(worker)
            restart = None
        else:
            restart = self.world.restart(worker, self.sim.kernel.now + plan.restart)
        self.lose(worker, unacked, "crash", restart=restart)

    # -- what the broker does with a dead process's unacked messages ------------------------------------------
    def lose(self, worker: SimWorker, parcels: list[Parcel], how: str, *, restart: str | None = None) -> None:
        """``parcels`` (fetched by ``worker``, never acked) are unacknowledged on the broker from now."""
        sb, now = worker.sb, self.sim.kernel.now
        by_queue: dict[str, list[Parcel]] = {}
        for parcel in sorted(parcels, key=lambda p: p.seq):
            by_queue.setdefault(parcel.queue, []).append(parcel)
            parcel.held.run.status = "queued"
        data: dict[str, Any] = {"worker": worker.name, "what": how, "unacked": len(parcels), "restart": restart}
        if sb.kind == "redis":
            timeout = int(sb.broker.heartbeat_timeout)
            expires = (now // MS + timeout) * MS
            data.update(expires=expires, chance=int(sb.broker.maintenance_chance))
            self.world.record("dramatiq.crash", **data)
            for queue, lost in sorted(by_queue.items()):
                key = (sb, queue)
                self.pending.setdefault(key, []).append(DeadAcks(worker.name, queue, lost, now, expires))
                self._schedule(key)
            return
        self.world.record("dramatiq.crash", **data)
        for queue, lost in sorted(by_queue.items()):  # RabbitMQ: the connection closed, requeued in place, at once
            backlog = sb.backlog(queue)
            for parcel in reversed(lost):
                backlog.push(parcel, front=True)
            for parcel in lost:
                self._redelivered(parcel, worker.name, "connection closed: RabbitMQ requeued it (redelivered)")
        for queue in sorted(by_queue):
            sb.offer(queue)

    def _redelivered(self, parcel: Parcel, worker: str, how: str, **extra: Any) -> None:
        run = parcel.held.run
        self.world.record("dramatiq.redeliver", function=run.function.id, run=run.id, queue=parcel.queue,
                          worker=worker, how=how, **extra)  # fmt: skip

    # -- Redis maintenance ---------------------------------------------------------------------------------
    def _schedule(self, key: tuple[SimBroker, str]) -> None:
        """The next poll of the queue by a live worker, from the first heartbeat expiry on."""
        sb, queue = key
        timer = self.timers.pop(key, None)
        if timer is not None:
            self.sim.kernel.cancel(timer)
        pending = self.pending.get(key)
        chance = int(sb.broker.maintenance_chance)
        if not pending or chance <= 0:
            return
        polls = self.polls.setdefault(key, {})
        live = [w for w in sb.workers if w.consumes(queue)]
        for gone in [w for w in polls if w not in live]:
            del polls[gone]
        if not live:
            return  # a worker starting on the queue pokes it again (``poke``)
        first = max(min(d.expires for d in pending), self.sim.kernel.now)
        for w in live:
            polls[w] = max(polls.get(w, first), first)
        at = min(polls.values())
        self.timers[key] = self.sim.kernel.schedule(at, self._poll, key, owner=f"dramatiq {queue} (redis polls)")

    def _poll(self, key: tuple[SimBroker, str]) -> None:
        """Live consumers of the queue poll it (``do_fetch``); each poll may run maintenance."""
        self.timers.pop(key, None)
        now = self.sim.kernel.now
        polls = self.polls.get(key, {})
        for worker in sorted(polls, key=lambda w: w.name):
            if polls[worker] > now or not worker.consumes(key[1]):
                continue
            polls[worker] = now + int(worker.worker_timeout) * MS
            if self._maintains(key[0]):
                self._maintain(key, f"a poll by {worker.name}")
                break
        self._schedule(key)

    def _maintains(self, sb: SimBroker) -> bool:
        """``_should_do_maintenance`` (``brokers/redis.py:238-242``), drawn from ``sim.rng``."""
        chance = int(sb.broker.maintenance_chance)
        if chance >= MAINTENANCE_SCALE:
            return True
        return chance > 0 and self.sim.rng.randint(1, MAINTENANCE_SCALE) <= chance

    def _maintain(self, key: tuple[SimBroker, str], by: str) -> None:
        """``dispatch.lua:110-124``: the acks sets of the queue's dead workers, oldest heartbeat first, go back
        to the end of the queue (``RPUSH``)."""
        sb, queue = key
        now = self.sim.kernel.now
        pending = self.pending.get(key, [])
        due = sorted((d for d in pending if d.expires <= now), key=lambda d: (d.died, d.worker))
        if not due:
            return
        self.pending[key] = [d for d in pending if d.expires > now]
        backlog = sb.backlog(queue)
        for dead in due:
            for parcel in dead.parcels:
                backlog.push(parcel)
                self._redelivered(parcel, dead.worker, f"Redis maintenance ({by}) requeued it",
                                  died=dead.died)  # fmt: skip
        sb.offer(queue)

    def enqueued(self, sb: SimBroker, queue: str) -> None:
        """An enqueue on ``queue`` is a dispatch command too: it may run maintenance (``redis.py:259-276``), before
        its own ``RPUSH`` (``dispatch.lua:110-150``). At the enqueue's instant (in actor code, the actor's), in a
        kernel item scheduled ahead of the message's arrival."""
        key = (sb, queue)
        if self.pending.get(key):
            self.sim.kernel.schedule(self.sim.now_ns(), self._enqueue_maintenance, key,
                                     owner=f"dramatiq {queue} (redis enqueue)")  # fmt: skip

    def _enqueue_maintenance(self, key: tuple[SimBroker, str]) -> None:
        pending = self.pending.get(key)
        now = self.sim.kernel.now
        if pending and any(d.expires <= now for d in pending) and self._maintains(key[0]):
            self._maintain(key, "an enqueue")
            self._schedule(key)

    def poke(self, sb: SimBroker) -> None:
        """A worker started: it polls the queues with dead workers' messages too."""
        for key in [k for k in self.pending if k[0] is sb]:
            self._schedule(key)

    def flushed(self, sb: SimBroker, queue: str) -> None:
        """``broker.flush``'s ``purge`` deletes the queue's message hash: a dead worker's acks set then points at
        nothing, and maintenance requeues none of it (``hexists``, ``dispatch.lua:119``): those runs are lost."""
        for dead in self.pending.pop((sb, queue), []):
            for parcel in dead.parcels:
                self.world.lost(parcel, f"broker.flush({queue!r}) deleted it while {dead.worker}'s acks set held it")
        self._schedule((sb, queue))
