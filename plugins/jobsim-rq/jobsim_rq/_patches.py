"""The RQ methods that talk to Redis, replaced while a simulation with RQ queues runs.

Only these are replaced, on the classes themselves (so queues and jobs made anywhere
in user code follow), and each falls back to RQ's own method for a job the
simulation does not hold:

* ``Queue.create_job``: a job without ``job_id`` gets a seeded uuid4 instead of a
  random one, so the same seed gives the same ids; everything else is RQ's.
* ``Queue.enqueue_job``, ``Queue._enqueue_job``, ``Queue.schedule_job``: the job goes
  to the simulated worker's queue or to the scheduler, not to Redis; ``Queue.enqueue_many``
  (which writes through a pipeline) follows RQ's order with them (``RQWorld.enqueue_many``).
* ``rq.queue.now``/``rq.job.now`` (``rq.utils.now``, the only clock RQ reads for
  ``enqueue_in``, ``enqueued_at``/``started_at`` and retry times): the virtual clock.
* ``Queue.enqueue_in`` and ``Retry.__init__``: RQ's own, with bad values (``Retry(max=0)``,
  a negative interval, ``job_timeout=0``...) raised as ``jobsim.InvalidArgument`` naming
  them (still a ``ValueError``, as RQ raises).
* ``Job.set_status``/``get_status``/``refresh``: the state of a simulated job lives on the ``Job``
  object, not in a Redis hash -- but for ``meta``: ``save_meta`` writes it to the store at the
  writer's instant, the worker runs with the meta saved when it starts the job, and ``get_meta()``,
  ``refresh()`` and ``Job.fetch`` read it back there (``Store.meta``), as from the hash. The deprecated
  ``Job.result`` property is ``return_value()`` (its fallback reads the hash's ``result`` field).
* ``Result.all``/``fetch_latest``/``count``/``delete_all``: the job's result stream as the worker saved
  it, at the reader's instant (``_store.py``, ``_storepatches``); so ``job.results()``, ``job.latest_result()``,
  ``job.return_value()`` and the deprecated ``job.exc_info`` are RQ's own code.
* ``Job.cancel``: the job leaves its queue or the scheduler and its run ends ``cancelled``
  (``RQWorld.cancel``); ``Job.delete`` (``_admin.delete``); ``Job.requeue`` is RQ's own, through the
  replaced ``FailedJobRegistry.requeue``.
* ``Queue.count``/``get_job_ids``/``remove``/``get_job_position``/``empty``/``delete`` and the registries'
  reads, ``requeue`` and ``remove`` (``rq/registry.py``): answered by ``_admin`` from the simulation at the
  reader's instant; their ``add`` and ``ScheduledJobRegistry.schedule`` are refused by name (``_storepatches``).
* ``Job.fetch``: a job the simulation holds is that same ``Job`` object (``NoSuchJobError``
  once its key expired), so RQ helpers that fetch first -- ``send_stop_job_command`` --
  work on it.
* ``rq.command.send_command`` (the pub/sub publish every ``send_*_command`` ends in): a
  command for a simulated worker (by its name) goes to it (``stop-job``; the others are refused).
* ``redis.connection.AbstractConnection.connect``: a connection opened for an RQ call (a read
  or write the simulation does not model: ``Queue.all()``, ``job.get_executions()``, worker keys) is
  refused with an ``UnsupportedFeature`` naming the RQ call, instead of a ``redis.ConnectionError``
  after redis-py's retries (or an answer from a real Redis that knows nothing of the simulation);
  Redis used by anything else is left as it is.
* ``rq.job.asyncio`` (the module ``Job._execute`` reads): ``asyncio.run(coroutine)`` of an
  ``async def`` job function (``rq/job.py:1540-1541``) runs on the simulation's virtual
  loop instead of a real one, so ``asyncio.sleep`` spends virtual time.

One simulation with RQ queues may run at a time in a process (the patches are global).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from jobsim.errors import InvalidArgument, UnsupportedFeature
from jobsim.hooks import ProcessPatches

from ._storepatches import _queue_patches, _registry_patches, _result_patches

if TYPE_CHECKING:
    from ._world import RQWorld

_PATCHES: ProcessPatches[RQWorld] = ProcessPatches(
    "RQ queues", "jobsim-rq replaces RQ's Queue/Job methods"
)


def current() -> RQWorld | None:
    return _PATCHES.current


def push(world: RQWorld) -> None:
    _PATCHES.push(world, _patch)


def _patch(world: RQWorld) -> None:
    import rq.command
    import rq.job
    import rq.queue
    import rq.repeat
    from redis.connection import AbstractConnection

    Queue, Job = rq.queue.Queue, rq.job.Job
    patches: dict[tuple[Any, str], Any] = {
        (Queue, "create_job"): _create_job(Queue.create_job, world),
        (Queue, "enqueue_job"): _enqueue_job(world),
        (Queue, "_enqueue_job"): _internal_enqueue(Queue._enqueue_job, world),
        (Queue, "schedule_job"): _schedule_job(world),
        (Queue, "enqueue_many"): _enqueue_many(world),
        (Job, "set_status"): _set_status(Job.set_status, world),
        (Job, "get_status"): _get_status(Job.get_status, world),
        (Job, "result"): _result(vars(Job)["result"], world),
        (Job, "cancel"): _cancel(Job.cancel, world),
        (Job, "delete"): _delete(Job.delete, world),
        (Job, "refresh"): _refresh(Job.refresh, world),
        (Job, "exists"): _exists(Job.exists, world),
        (Job, "fetch_many"): _fetch_many(Job.fetch_many, world),
        (Job, "save_meta"): _save_meta(Job.save_meta, world),
        (Job, "get_meta"): _get_meta(Job.get_meta, world),
        (Queue, "enqueue_in"): _enqueue_in(Queue.enqueue_in),
        (rq.job.Retry, "__init__"): _retry_init(rq.job.Retry.__init__),
        (rq.repeat.Repeat, "__init__"): _repeat_init(rq.repeat.Repeat.__init__),
        (rq.queue, "now"): world.now,
        (rq.job, "now"): world.now,
        (rq.job, "asyncio"): _Asyncio(world),
        (Job, "fetch"): _fetch(Job.fetch, world),
        (rq.command, "send_command"): _send_command(rq.command.send_command, world),
        (AbstractConnection, "connect"): _connect(AbstractConnection.connect),
    }
    patches.update(_queue_patches(world))
    patches.update(_registry_patches(world))
    patches.update(_result_patches(world))
    for (owner, name), replacement in patches.items():
        _PATCHES.set(owner, name, replacement)


def pop(world: RQWorld) -> None:
    _PATCHES.pop(world)


class _Asyncio:
    """What ``rq.job`` sees as ``asyncio`` while a simulation runs: the real module, but ``run``.

    RQ's ``Job._execute`` calls the job function and, if it returned a coroutine, runs it with
    ``asyncio.run`` (``rq/job.py:1540-1541``). For a job the simulated worker is executing,
    ``run`` drives it on the simulation's virtual loop (``RQWorld.run_coroutine``); anything
    else (``job.perform()`` called by the test itself) gets the real ``asyncio.run``.
    """

    def __init__(self, world: RQWorld) -> None:
        self._world = world

    def run(self, main: Any, *, debug: bool | None = None) -> Any:
        return self._world.run_coroutine(main, debug=debug)

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


_TIMEOUTS = "an int of seconds, a string of digits with an optional unit d/h/m/s ('1h', '23m'), or None"


def _timeouts_help(value: Any) -> str:
    """What parse_timeout reads, and for a ``timedelta`` what to write instead (``int()`` of one is a TypeError)."""
    if not isinstance(value, dt.timedelta):
        return _TIMEOUTS
    seconds = value.total_seconds()
    shown = int(seconds) if seconds == int(seconds) else seconds
    units = next((f"'{int(seconds // size)}{unit}'" for size, unit in ((86400, "d"), (3600, "h"), (60, "m"))
                  if seconds >= size and seconds % size == 0), f"'{shown}s'")
    return f"{_TIMEOUTS}; RQ reads no timedelta: write {shown} (its seconds) or {units}"


def _unreadable_timeout(kwargs: dict[str, Any]) -> tuple[str, Any] | None:
    """The first of ``create_job``'s timeouts and ttls that RQ's ``parse_timeout`` (``rq/utils.py:430-447``)
    cannot read, as (keyword, value): ``timeout`` is named ``job_timeout``, as ``Queue.enqueue`` takes it."""
    from rq.exceptions import TimeoutFormatError
    from rq.utils import parse_timeout

    for keyword in ("timeout", "result_ttl", "ttl", "failure_ttl"):
        value = kwargs.get(keyword)
        try:
            parse_timeout(value)
        except (ValueError, TypeError, AssertionError, OverflowError, TimeoutFormatError):
            # enqueue's job_timeout reaches create_job as timeout: named as the caller wrote it
            return ("job_timeout" if keyword == "timeout" else keyword), value
    return None


def _create_job(original: Any, world: RQWorld) -> Any:
    from rq import Retry
    from rq.exceptions import TimeoutFormatError

    def create_job(self: Any, func: Any, *args: Any, **kwargs: Any) -> Any:
        if len(args) < 9 and kwargs.get("job_id") is None:  # job_id is create_job's 10th parameter
            kwargs["job_id"] = world.new_id()
        retry = kwargs.get("retry")
        if retry is not None and not isinstance(retry, Retry):  # RQ: 'int' object has no attribute 'max'
            name = getattr(func, "__qualname__", func)
            why = InvalidArgument.build("retry", retry, "an rq.Retry(max=..., interval=...), or None")
            raise InvalidArgument(f"RQ refused the job {name!r} on queue {self.name!r}: {why}")
        try:
            job = original(self, func, *args, **kwargs)
        except InvalidArgument:
            raise
        except (ValueError, TypeError, AssertionError, OverflowError, TimeoutFormatError) as exc:
            # RQ's own checks: job_timeout=0, ttl <= 0, a bad job_id, on_failure=...; parse_timeout's bare
            # AssertionError (NaN), OverflowError (inf), TimeoutFormatError ('abc') and TypeError (a timedelta's
            # int()) named with the option
            name = getattr(func, "__qualname__", func)
            unreadable = _unreadable_timeout(kwargs)
            if unreadable is None and (isinstance(exc, TypeError) or not isinstance(exc, ValueError)):
                raise
            cause = exc if unreadable is None else InvalidArgument.build(*unreadable, _timeouts_help(unreadable[1]))
            raise InvalidArgument(f"RQ refused the job {name!r} on queue {self.name!r}: {cause}") from exc
        if callable(func):  # what the test names in sim.runs(func), also when RQ cannot import it back
            job._jobsim_callable = func
        return job

    return create_job


def _enqueue_in(original: Any) -> Any:
    def enqueue_in(self: Any, time_delta: Any, func: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(time_delta, dt.timedelta):
            raise InvalidArgument.build("time_delta", time_delta, "a datetime.timedelta for Queue.enqueue_in "
                                        "(RQ adds it to rq.utils.now(), rq/queue.py:1252)")  # fmt: skip
        try:
            return original(self, time_delta, func, *args, **kwargs)
        except OverflowError as exc:  # rq.utils.now() + time_delta past datetime.max
            raise InvalidArgument.build("time_delta", time_delta, "a datetime.timedelta that, added to now, stays "
                                        "within year 9999 (RQ adds it to rq.utils.now(), rq/queue.py:1252)") from exc

    return enqueue_in


def check_retry_intervals(job: Any, queue: Any) -> None:
    """An enqueue-time ``Retry(max, interval=[])`` (``queue.enqueue(..., retry=...)``, or ``Job.create(...,
    retry=...)`` then ``queue.enqueue_job(job)``): ``Job.get_retry_interval`` would index ``[][0]`` in the work
    horse at the job's first failure (``rq/job.py:1760-1773``), a bare IndexError."""
    from rq import Retry

    if job.retry_intervals != [] or not job.retries_left:
        return
    retry = Retry(max=job.retries_left, interval=[], enqueue_at_front=job.enqueue_at_front_on_retry)
    why = InvalidArgument.build("retry", retry, "a Retry with at least one interval: RQ takes the job's "
                                "retry interval from the list (Job.get_retry_interval, rq/job.py:1760-1773) "
                                "and raises IndexError at its first failure on an empty one; "
                                "Retry(max=..., interval=0) retries at once")  # fmt: skip
    raise InvalidArgument(f"RQ refused the job {job.func_name!r} on queue {queue.name!r}: {why}")


def _retry_init(original: Any) -> Any:
    def __init__(self: Any, max: int, interval: Any = 0, enqueue_at_front: bool = False) -> None:
        """RQ's ``Retry.__init__`` (``rq/job.py:1916-1947``); its ValueError raised as ``InvalidArgument``."""
        if isinstance(max, bool) or not isinstance(max, int):
            raise InvalidArgument.build("Retry(max=...)", max, "an int >= 1: how many times RQ retries the job")
        if not isinstance(interval, int | Iterable) or isinstance(interval, bool | str):
            raise InvalidArgument.build("Retry(interval=...)", interval,
                                        "seconds as an int >= 0, or a list of them (e.g. [10, 30, 60])")  # fmt: skip
        try:
            original(self, max, interval, enqueue_at_front)
        except ValueError as exc:
            raise InvalidArgument(f"Retry(max={max!r}, interval={interval!r}) is refused by RQ: {exc}") from exc

    return __init__


def _repeat_init(original: Any) -> Any:
    def __init__(self: Any, times: int, interval: Any = 0) -> None:
        """RQ's ``Repeat.__init__`` (``rq/repeat.py:31-57``); its ValueError/TypeError raised as ``InvalidArgument``."""
        if isinstance(times, bool) or not isinstance(times, int):
            raise InvalidArgument.build("Repeat(times=...)", times, "an int >= 1: how many times RQ runs the job again")
        if isinstance(interval, Iterable) and not isinstance(interval, str):
            interval = list(interval)
        values = interval if isinstance(interval, list) else [interval]
        if any(isinstance(i, bool) or not isinstance(i, int) for i in values):
            raise InvalidArgument.build("Repeat(interval=...)", interval,
                                        "seconds as an int >= 0, or a list of them (e.g. [60, 300])")  # fmt: skip
        try:
            original(self, times, interval)
        except ValueError as exc:
            raise InvalidArgument(f"Repeat(times={times!r}, interval={interval!r}) is refused by RQ: {exc}") from exc

    return __init__


def _enqueue_job(world: RQWorld) -> Any:
    def enqueue_job(self: Any, job: Any, pipeline: Any = None, at_front: bool = False, unique: bool = False) -> Any:
        return world.enqueue(self, job, at_front=at_front, pipeline=pipeline, unique=unique)

    return enqueue_job


def _internal_enqueue(original: Any, world: RQWorld) -> Any:
    def _enqueue_job(self: Any, job: Any, pipeline: Any = None, at_front: bool = False, unique: bool = False) -> Any:
        if not world.owns(job):
            return world.enqueue(self, job, at_front=at_front, pipeline=pipeline, unique=unique)
        return world.push(self, job, at_front=at_front)

    return _enqueue_job


def _enqueue_many(world: RQWorld) -> Any:
    def enqueue_many(self: Any, job_datas: Any, pipeline: Any = None, group_id: Any = None) -> list[Any]:
        return world.enqueue_many(self, job_datas, pipeline=pipeline, group_id=group_id)

    return enqueue_many


def _schedule_job(world: RQWorld) -> Any:
    def schedule_job(self: Any, job: Any, datetime: Any, pipeline: Any = None, unique: bool = False) -> Any:
        return world.schedule(self, job, datetime, pipeline=pipeline, unique=unique)

    return schedule_job


def _set_status(original: Any, world: RQWorld) -> Any:
    def set_status(self: Any, status: Any, pipeline: Any = None) -> None:
        if world.owns(self):
            self._status = status
            return
        original(self, status, pipeline)

    return set_status


def _get_status(original: Any, world: RQWorld) -> Any:
    def get_status(self: Any, refresh: bool = True) -> Any:
        if world.owns(self):
            held = world.jobs[self.id]
            if refresh and world.gone(held):  # HGET finds no key: rq/job.py:432-437
                from rq.exceptions import InvalidJobOperation

                raise InvalidJobOperation(f"Failed to retrieve status for job: {self.id} ({world.missing(held)})")
            return world.status(self)
        return original(self, refresh)

    return get_status


def _result(original: property, world: RQWorld) -> property:
    def result(self: Any) -> Any:
        """``Job.result`` (``rq/job.py:905-940``): the latest ``Result``'s value if it is a success, else
        the job hash's ``result`` field, which the worker fills only on success (``rq/worker/base.py:1587``):
        for a simulated job, ``return_value()`` -- the value as the serializer saved it, from the ``Result``
        cached on the Job (``_cached_result``), not the object the job returned."""
        from rq.results import Result

        if not world.owns(self):
            return original.__get__(self, type(self))
        warnings.warn("job.result is deprecated, use job.return_value instead.", DeprecationWarning, stacklevel=2)
        if world.return_value(self, False) is None:
            return None
        if not self._cached_result:
            self._cached_result = self.latest_result()
        cached = self._cached_result
        return cached.return_value if cached is not None and cached.type == Result.Type.SUCCESSFUL else None

    return property(result)


def _cancel(original: Any, world: RQWorld) -> Any:
    def cancel(self: Any, pipeline: Any = None, enqueue_dependents: bool = False,
               remove_from_dependencies: bool = False) -> Any:  # fmt: skip
        if not world.owns(self):
            return original(self, pipeline, enqueue_dependents, remove_from_dependencies)
        return world.cancel(self, pipeline=pipeline, enqueue_dependents=enqueue_dependents,
                            remove_from_dependencies=remove_from_dependencies)  # fmt: skip

    return cancel


def _connect(original: Any) -> Any:
    def connect(self: Any) -> None:
        call = _rq_call(sys._getframe(1))
        if call is None:
            return original(self)  # type: ignore[no-any-return]  # the application's own use of Redis
        # Even a reachable Redis would answer from outside the simulation (queue.count of a real, empty
        # queue); with none, redis-py retries with backoff for seconds and then raises ConnectionError.
        where = f"{getattr(self, 'host', '?')}:{getattr(self, 'port', '?')}"
        raise UnsupportedFeature(
            f"RQ's {call}() reached for Redis at {where}, which jobsim-rq does not simulate (only enqueueing, "
            "the workers and scheduler, jobs, queue lists, registries and results are; see 'What is not modelled' "
            "in plugins/jobsim-rq/README.md). Read the simulation instead: job.get_status(), job.latest_result(), "
            "queue.count, the queue's registries, sim.runs(...), sim.rq.job(id)", system="rq", feature=call,
        )  # fmt: skip

    return connect


def _rq_call(frame: Any) -> str | None:
    """The RQ function user code called to open this connection (``Queue.count``), if RQ opened it.

    Above redis-py's own frames comes either RQ code -- then the outermost frame of that run of RQ
    frames is the call user code made -- or anything else (a job's own use of Redis, even while RQ's
    ``Job.perform`` runs further down the stack), which is not RQ's."""
    def module(f: Any) -> str:
        return f.f_globals.get("__name__", "")  # type: ignore[no-any-return]

    def is_rq(f: Any) -> bool:
        return module(f) == "rq" or module(f).startswith("rq.")

    while frame is not None and (module(frame) == "redis" or module(frame).startswith("redis.")):
        frame = frame.f_back
    if frame is None or not is_rq(frame):
        return None
    while frame.f_back is not None and is_rq(frame.f_back):
        frame = frame.f_back
    code = frame.f_code
    call = getattr(code, "co_qualname", None)  # 3.11+
    if call is None:  # 3.10: the bare name, with the class of self/cls in front
        owner = frame.f_locals.get("self", frame.f_locals.get("cls"))
        owner = owner if isinstance(owner, type) or owner is None else type(owner)
        call = code.co_name if owner is None else f"{owner.__name__}.{code.co_name}"
    return call


def _save_meta(original: Any, world: RQWorld) -> Any:
    def save_meta(self: Any) -> None:
        """``HSET meta`` (``rq/job.py:1200-1203``): in the job's hash at this instant (the job's clock in job code)."""
        if not world.owns(self):
            original(self)
            return
        world.store.save_meta(world.sim.now_ns(), self, whole_job=False)

    return save_meta


def _get_meta(original: Any, world: RQWorld) -> Any:
    def get_meta(self: Any, refresh: bool = True) -> Any:
        """``HGET meta`` with ``refresh`` (``rq/job.py:450-463``): what was saved by this instant, ``{}`` once the
        job's key is gone; without, the ``meta`` this ``Job`` holds."""
        if not world.owns(self):
            return original(self, refresh)
        if refresh:
            held = world.jobs[self.id]
            self.meta = {} if world.gone(held) else world.store.meta(self, world.sim.now_ns())
        return self.meta

    return get_meta


def _fetch(original: Any, world: RQWorld) -> Any:
    def fetch(cls: Any, id: str, connection: Any = None, serializer: Any = None) -> Any:
        """``Job.fetch`` (``rq/job.py:700-716``) of a job the simulation holds: the ``Job`` itself. Any other id is
        not in the simulated Redis: ``NoSuchJobError`` as ``Job.fetch`` raises for a missing key."""
        if not isinstance(id, str):
            raise InvalidArgument.build("id", id, "a job id (str)")
        held = world.jobs.get(id)
        if held is None:
            from rq.exceptions import NoSuchJobError

            raise NoSuchJobError(f"No such job: {cls.key_for(id)} (jobsim-rq: no job with this id was enqueued in "
                                 "this simulation)")  # fmt: skip
        return world.job(id)

    return classmethod(fetch)


def _send_command(original: Any, world: RQWorld) -> Any:
    def send_command(connection: Any, worker_name: str, command: str, **kwargs: Any) -> None:
        if world.pool.by_name(worker_name) is None:
            return original(connection, worker_name, command, **kwargs)  # type: ignore[no-any-return]
        world.command(command, kwargs)

    return send_command


def _refresh(original: Any, world: RQWorld) -> Any:
    def refresh(self: Any) -> None:
        """``Job.refresh`` (``rq/job.py:1076-1085``): re-reads the hash, ``NoSuchJobError`` once it is gone. The
        simulation keeps a simulated job's other fields on the ``Job`` itself; its ``meta`` is re-read as saved
        by this instant (``Store.meta``): what job code saved, not what it only set on its own ``Job``."""
        if not world.owns(self):
            return original(self)  # type: ignore[no-any-return]
        if world.gone(world.jobs[self.id]):
            from rq.exceptions import NoSuchJobError

            raise NoSuchJobError(f"No such job: {self.key} ({world.missing(world.jobs[self.id])})")
        self.meta = world.store.meta(self, world.sim.now_ns())

    return refresh


def _delete(original: Any, world: RQWorld) -> Any:
    def delete(self: Any, pipeline: Any = None, remove_from_queue: bool = True,
               delete_dependents: bool = False) -> None:  # fmt: skip
        if not world.owns(self):
            return original(self, pipeline, remove_from_queue, delete_dependents)  # type: ignore[no-any-return]
        from ._admin import delete as simulated

        simulated(world, self, pipeline=pipeline, remove_from_queue=remove_from_queue,
                  delete_dependents=delete_dependents)  # fmt: skip

    return delete


def _exists(original: Any, world: RQWorld) -> Any:
    def exists(cls: Any, job_id: str, connection: Any = None) -> bool:
        """``Job.exists`` (``rq/job.py:686-699``): the job's key is there (enqueued here, not expired or deleted)."""
        held = world.jobs.get(job_id) if isinstance(job_id, str) else None
        return held is not None and not world.gone(held)

    return classmethod(exists)


def _fetch_many(original: Any, world: RQWorld) -> Any:
    def fetch_many(cls: Any, job_ids: Any, connection: Any = None, serializer: Any = None) -> list[Any]:
        """``Job.fetch_many`` (``rq/job.py:718-749``): each job, or None where its key is missing."""
        from rq.exceptions import NoSuchJobError

        out = []
        for job_id in job_ids:
            try:
                out.append(cls.fetch(job_id))
            except NoSuchJobError:
                out.append(None)
        return out

    return classmethod(fetch_many)
