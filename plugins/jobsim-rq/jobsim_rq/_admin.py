"""The RQ calls a test makes on queues, registries and jobs besides enqueueing, answered from the simulation.

``queue.count``, ``queue.get_job_ids()``, the six registries, ``FailedJobRegistry.requeue``,
``job.delete()``, ``queue.empty()``: each reads or changes what RQ 3.0.0 keeps in Redis, which here is
the simulation's state at the reader's virtual instant (the queue lists in ``_pool.Line``, the
registries and result streams in ``_store.Store``). Each function follows the RQ method it
replaces, cited in its docstring; bad arguments raise ``jobsim.InvalidArgument``, and what the
simulation cannot do is refused with ``jobsim.UnsupportedFeature`` naming it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from rq.job import JobStatus

from jobsim.errors import InvalidArgument, UnsupportedFeature

if TYPE_CHECKING:
    from ._world import Held, RQWorld

_REGISTRY_NAMES = {"started": "StartedJobRegistry", "finished": "FinishedJobRegistry", "failed": "FailedJobRegistry",
                   "deferred": "DeferredJobRegistry", "scheduled": "ScheduledJobRegistry",
                   "canceled": "CanceledJobRegistry", "ready": "ReadyJobRegistry"}  # fmt: skip


# -- ranges as Redis takes them ---------------------------------------------------------------------
def _index(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument.build(name, value, "an int index, as Redis's LRANGE/ZRANGE take (negative: from the end)")
    return value


def redis_range(items: list[str], start: int, end: int) -> list[str]:
    """``LRANGE``/``ZRANGE key start end``: both ends inclusive, negative indexes count from the end."""
    n = len(items)
    s = start + n if start < 0 else start
    e = end + n if end < 0 else end
    s = max(s, 0)
    if s >= n or s > e:
        return []
    return items[s : min(e, n - 1) + 1]


def _job_id(job_or_id: Any, what: str) -> str:
    from rq.job import Job

    if isinstance(job_or_id, Job):
        return job_or_id.id
    if isinstance(job_or_id, str):
        return job_or_id
    raise InvalidArgument.build(what, job_or_id, "an rq Job or a job id (str)")


# -- queues -------------------------------------------------------------------------------------------
def queue_ids(world: RQWorld, queue: str) -> list[str]:
    """``LRANGE rq:queue:<name> 0 -1`` now. Ids stay in the list until a worker pops them, even a job whose
    key expired (a worker skips it then, ``rq/queue.py:1825-1828``) or one deleted with
    ``remove_from_queue=False``; a canceled or deleted job leaves it (``Queue.remove``)."""
    line = world.waiting.get(queue)
    line = world.unread.get(queue) if line is None else line
    return [] if line is None else line.ids(world.sim.now_ns())


def get_job_ids(world: RQWorld, queue: str, offset: Any, length: Any) -> list[str]:
    """``Queue.get_job_ids(offset, length)`` (``rq/queue.py:407-429``): ``length=0`` is empty, ``-1`` to the end."""
    offset, length = _index("offset", offset), _index("length", length)
    if length == 0:
        return []
    end = offset + (length - 1) if length >= 0 else length
    return redis_range(queue_ids(world, queue), offset, end)


def remove(world: RQWorld, queue: str, job_or_id: Any) -> int:
    """``Queue.remove`` (``rq/queue.py:509-524``): ``LREM key 1 id``, the job itself untouched."""
    job_id = _job_id(job_or_id, "job_or_id")
    held = world.jobs.get(job_id)
    if held is None:
        return 0
    return int(world.line(queue).discard(held))


def position(world: RQWorld, queue: str, job_or_id: Any) -> int | None:
    """``Queue.get_job_position`` (``rq/queue.py:380-405``): ``LPOS``, None when it is not in the list."""
    job_id = _job_id(job_or_id, "job_or_id")
    ids = queue_ids(world, queue)
    return ids.index(job_id) if job_id in ids else None


def empty(world: RQWorld, queue: str) -> int:
    """``Queue.empty`` (``rq/queue.py:299-330``): pops every id in the list and deletes each job's hash, results
    and dependents set -- registries are left as they are. Returns how many it popped."""
    now = world.sim.now_ns()
    popped = world.line(queue).clear(now)
    for held in popped:
        if held.gone_at is None or held.gone_at > now:
            drop(world, held, now, "empty")
        world.dependents.pop(held.job.id, None)
    return len(popped)


# -- registries ---------------------------------------------------------------------------------------
def registry_kind(registry: Any) -> str:
    from rq.registry import (
        CanceledJobRegistry,
        DeferredJobRegistry,
        FailedJobRegistry,
        FinishedJobRegistry,
        ReadyJobRegistry,
        ScheduledJobRegistry,
        StartedJobRegistry,
    )

    for cls, kind in ((StartedJobRegistry, "started"), (FinishedJobRegistry, "finished"),
                      (FailedJobRegistry, "failed"), (DeferredJobRegistry, "deferred"),
                      (ScheduledJobRegistry, "scheduled"), (CanceledJobRegistry, "canceled"),
                      (ReadyJobRegistry, "ready")):  # fmt: skip
        if isinstance(registry, cls):
            return kind
    raise UnsupportedFeature(
        f"{type(registry).__name__} is not one of RQ's job registries; jobsim-rq answers the started, finished, "
        "failed, deferred, scheduled and canceled registries of a queue", system="rq", feature=type(registry).__name__,
    )  # fmt: skip


def entries(world: RQWorld, registry: Any) -> dict[str, float]:
    return world.store.entries(registry.name, registry_kind(registry), world.sim.now_ns())


def registry_ids(world: RQWorld, registry: Any, start: Any, end: Any, desc: bool) -> list[str]:
    """``BaseRegistry.get_job_ids`` (``rq/registry.py:167-181``): ``ZRANGE`` by score, then id."""
    start, end = _index("start", start), _index("end", end)
    ids = world.store.ordered(registry.name, registry_kind(registry), world.sim.now_ns())
    return redis_range(ids[::-1] if desc else ids, start, end)


def contains(world: RQWorld, registry: Any, item: Any) -> bool:
    """``job in registry`` (``rq/registry.py:82-93, 399-411``)."""
    from rq.job import Job

    job_id = item.id if isinstance(item, Job) else item
    return job_id in entries(world, registry)


def expiration_time(world: RQWorld, registry: Any, job: Any) -> dt.datetime:
    """``BaseRegistry.get_expiration_time`` (``rq/registry.py:187-194``): the entry's score as a UTC datetime.
    Refused for the started registry, where RQ's own ``ZSCORE key job.id`` misses the ``job_id:execution_id``
    members and raises ``TypeError`` (checked on a real Redis)."""
    job_id = _job_id(job, "job")
    if registry_kind(registry) == "started":
        raise UnsupportedFeature(
            f"StartedJobRegistry.get_expiration_time(job) of RQ job {job_id}: RQ 3.0 reads ZSCORE of the bare job id, "
            "but the started registry's members are 'job_id:execution_id', so on a real Redis it finds no score and "
            "raises TypeError. Read the entry's score with get_expired_job_ids(timestamp) (RQ parses the members "
            "there) or check membership with `job in registry`", system="rq",
            feature="StartedJobRegistry.get_expiration_time",
        )  # fmt: skip
    score = entries(world, registry).get(job_id)
    if score is None:
        name = _REGISTRY_NAMES[registry_kind(registry)]
        raise InvalidArgument(f"RQ job {job_id} is not in the {name} of queue {registry.name!r} at "
                              f"{world.now().isoformat()}: it has no expiration time there")  # fmt: skip
    return dt.datetime.fromtimestamp(score, dt.timezone.utc)


def expired_ids(world: RQWorld, registry: Any, timestamp: Any) -> list[str]:
    """``get_expired_job_ids`` (``rq/registry.py:156-165``): ``ZRANGEBYSCORE key 0 timestamp`` (default: now)."""
    if timestamp is None:
        timestamp = world.sim.now_ns() // 1_000_000_000
    elif isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        raise InvalidArgument.build("timestamp", timestamp, "a Unix timestamp in seconds (int or float), or None")
    scored = sorted(entries(world, registry).items(), key=lambda e: (e[1], e[0]))
    return [job_id for job_id, score in scored if 0 <= score <= timestamp]


def scheduled_time(world: RQWorld, registry: Any, job_or_id: Any) -> dt.datetime:
    """``ScheduledJobRegistry.get_scheduled_time`` (``rq/registry.py:682-703``): ``NoSuchJobError`` if absent."""
    from rq.exceptions import NoSuchJobError

    job_id = _job_id(job_or_id, "job_or_id")
    score = entries(world, registry).get(job_id)
    if not score:
        raise NoSuchJobError(f"jobsim-rq: RQ job {job_id} is not in the ScheduledJobRegistry of queue "
                             f"{registry.name!r} at {world.now().isoformat()}")  # fmt: skip
    return dt.datetime.fromtimestamp(score, tz=dt.timezone.utc)


def started_cleanup(world: RQWorld, registry: Any, timestamp: Any) -> None:
    """``StartedJobRegistry.cleanup`` (``rq/registry.py:268-337``) called by the test: nothing to do unless an
    entry has expired, which means a worker died -- its handling is the live workers' maintenance run."""
    expired = expired_ids(world, registry, timestamp)
    if expired:
        raise UnsupportedFeature(
            f"StartedJobRegistry.cleanup() of queue {registry.name!r} would handle abandoned jobs {expired} in the "
            "test's process; in jobsim-rq the simulated workers' maintenance runs do that at their virtual instants "
            "(see 'Several workers and crashes' in plugins/jobsim-rq/README.md): advance the simulation instead",
            system="rq", feature="StartedJobRegistry.cleanup",
        )  # fmt: skip


def requeue(world: RQWorld, registry: Any, job_or_id: Any, at_front: Any) -> Any:
    """``BaseRegistry.requeue`` (``rq/registry.py:196-231``), which ``job.requeue()`` calls on the failed registry.

    The entry is removed (``ZREM``; nothing removed: ``InvalidJobOperation`` -- always so for the started
    registry, whose members are ``job_id:execution_id``), ``started_at``/``ended_at`` cleared and the job
    queued on its origin queue with ``_enqueue_job`` (``status`` ``queued``, ``enqueued_at`` now, ``ttl``
    applied again; ``retries_left`` is not reset). Given the ``Job`` itself, RQ requeues it even once its key
    has expired while the entry stayed (a canceled or deferred job's ``ttl``): ``job.save()`` writes the hash
    back, so the job exists again and runs. Its jobsim run is open again: ``queued``, then a new
    attempt, then a new end.
    """
    from rq.exceptions import InvalidJobOperation, NoSuchJobError
    from rq.job import Job
    from rq.queue import Queue

    if not isinstance(at_front, bool):
        raise InvalidArgument.build("at_front", at_front, "True or False")
    kind = registry_kind(registry)
    job_id = _job_id(job_or_id, "job_or_id")
    held = world.jobs.get(job_id)
    if held is None or (not isinstance(job_or_id, Job) and world.gone(held)):
        raise NoSuchJobError(f"No such job: {Job.key_for(job_id)}"
                             + (f" ({world.missing(held)})" if held is not None else ""))  # fmt: skip
    now = world.sim.now_ns()
    if kind == "started" or job_id not in world.store.entries(registry.name, kind, now):
        raise InvalidJobOperation(f"jobsim-rq: RQ job {job_id} is not in the {_REGISTRY_NAMES[kind]} of queue "
                                  f"{registry.name!r} at {world.now().isoformat()}, so it cannot be requeued "
                                  "from it")  # fmt: skip
    job = held.job
    if world.status(job) == JobStatus.STARTED and not world.gone(held):  # a Repeat run, still in the finished one
        raise UnsupportedFeature(
            f"{_REGISTRY_NAMES[kind]}.requeue() of RQ job {job_id} ({job.func_name}) while it runs (a repeat of a "
            "Repeat job is still in the finished registry): RQ queues it again while its work horse runs on, so it "
            "would run twice at once and end twice, which jobsim-rq does not model. Requeue it once it has ended",
            system="rq", feature="requeue a started job",
        )  # fmt: skip
    world.store.remove(now, registry.name, kind, job_id)
    if world.gone(held):  # a Job whose key expired (a canceled or deferred job's ttl): _enqueue_job saves it again
        held.gone_at, held.gone_why = None, ""
    if held.due_timer is not None:  # requeued from the scheduled registry: the scheduler will not see it again
        world.sim.kernel.cancel(held.due_timer)
        held.due_timer = None
    held.due = None
    job.started_at = job.ended_at = None
    job._exc_info = ""
    run = held.run
    run.status, run.end_ns, run.error = "queued", None, None
    world.record("rq.requeue", function=run.function.id, run=job_id, queue=registry.name, registry=kind)
    origin = job.origin
    queue = held.queue if held.queue.name == origin else world.queues.get(origin)
    if queue is None or isinstance(queue, str):
        queue = Queue(origin, connection=job.connection, serializer=job.serializer)
    held.queue = queue
    return world.push(queue, job, at_front=at_front)


def registry_remove(world: RQWorld, registry: Any, job: Any, delete_job: Any) -> int:
    """``BaseRegistry.remove`` (``rq/registry.py:137-154``): ``ZREM``, then ``job.delete()`` with
    ``delete_job=True`` (fetching it first for an id: ``NoSuchJobError`` if its key is gone)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    job_id = _job_id(job, "job")
    kind = registry_kind(registry)
    now = world.sim.now_ns()
    removed = int(job_id in world.store.entries(registry.name, kind, now))
    world.store.remove(now, registry.name, kind, job_id)
    if delete_job:
        held = world.jobs.get(job_id)
        if held is None or (not isinstance(job, Job) and world.gone(held)):
            raise NoSuchJobError(f"No such job: {Job.key_for(job_id)}")
        delete(world, held.job if not isinstance(job, Job) else job, pipeline=None, remove_from_queue=True,
               delete_dependents=False)  # fmt: skip
    return removed


# -- deleting a job -------------------------------------------------------------------------------------
def delete(world: RQWorld, job: Any, *, pipeline: Any, remove_from_queue: Any, delete_dependents: Any) -> None:
    """``Job.delete`` (``rq/job.py:1415-1450``): out of its queue (unless ``remove_from_queue=False``) and of the
    registry its status puts it in (``_remove_from_registries``), ``delete_dependents=True`` deletes the
    dependents still waiting for it (each with ``remove_from_queue=False``, ``rq/job.py:1452-1467``), then
    the hash, the dependents set and the result stream go. A job that had not run ends ``cancelled``. A job whose key is
    already gone (deleted, expired) raises ``InvalidJobOperation``, as ``_fetch_status`` does in RQ 3.0.

    A running job is refused: RQ would delete it while its work horse runs on and saves it again at the end."""
    if pipeline is not None:
        raise UnsupportedFeature(f"job.delete(pipeline=...) of RQ job {job.id}: jobsim-rq does not simulate Redis "
                                 "pipelines; call job.delete() without one", system="rq",
                                 feature="delete(pipeline=)")  # fmt: skip
    for name, value in (("remove_from_queue", remove_from_queue), ("delete_dependents", delete_dependents)):
        if not isinstance(value, bool):
            raise InvalidArgument.build(name, value, "True or False")
    held = world.jobs[job.id]
    if world.gone(held):  # _remove_from_registries -> _fetch_status(): HGET finds no key (rq/job.py:432-437, 1359)
        from rq.exceptions import InvalidJobOperation

        raise InvalidJobOperation(f"Failed to retrieve status for job: {job.id} ({world.missing(held)})")
    status = world.status(job)
    if status == JobStatus.STARTED:
        raise UnsupportedFeature(
            f"job.delete() of RQ job {job.id} ({job.func_name}) while it runs: RQ deletes its key while the work "
            "horse runs on and saves it again as it ends, which jobsim-rq does not model. Stop it first "
            "(sim.rq.stop(job, at=...)), or delete it once it has ended", system="rq", feature="delete a started job",
        )  # fmt: skip
    now = world.sim.now_ns()
    if remove_from_queue:
        world.line(job.origin or held.queue.name).discard(held)
    from ._store import held_kind

    kind = held_kind(held, status)
    if kind is not None:
        world.store.remove(now, job.origin or held.queue.name, kind, job.id)
    if delete_dependents:
        for dependent in list(world.dependents.get(job.id, ())):
            if not world.gone(dependent):
                delete(world, dependent.job, pipeline=None, remove_from_queue=False, delete_dependents=False)
    world.dependents.pop(job.id, None)
    if held.gone_at is None or held.gone_at > now:
        drop(world, held, now, "delete")


def drop(world: RQWorld, held: Held, now: int, how: str) -> None:
    """The job's hash and result stream are deleted at ``now`` (``DEL``): reads raise as for an expired key, the
    scheduler and the workers skip it, and its run, if it was waiting, ends ``cancelled``."""
    job, run = held.job, held.run
    world.store.delete_results(now, job.id)
    if held.due_timer is not None:
        world.sim.kernel.cancel(held.due_timer)
        held.due_timer = None
    world._persist(held)
    held.gone_at, held.gone_why = now, "job.delete()" if how == "delete" else "queue.empty()"
    world.record("rq.delete", function=run.function.id, run=job.id, queue=held.queue.name, how=how,
                 status=str(job._status.value))  # fmt: skip
    if run.status in ("queued", "waiting", "retrying"):
        run.status, run.end_ns = "cancelled", now
        world.sim.trace.add(now, "run.end", {"function": run.function.id, "run": run.id, "status": "cancelled",
                                             "rq": "deleted"})  # fmt: skip
