"""The RQ methods that talk to Redis, replaced while a simulation with RQ queues runs.

Only these are replaced, on the classes themselves (so queues and jobs made anywhere
in user code follow), and each falls back to RQ's own method for a job the
simulation does not hold:

* ``Queue.create_job``: a job without ``job_id`` gets a seeded uuid4 instead of a
  random one, so the same seed gives the same ids; everything else is RQ's.
* ``Queue.enqueue_job``, ``Queue._enqueue_job``, ``Queue.schedule_job``: the job goes
  to the simulated worker's queue or to the scheduler, not to Redis.
* ``rq.queue.now``/``rq.job.now`` (``rq.utils.now``, the only clock RQ reads for
  ``enqueue_in``, ``enqueued_at``/``started_at`` and retry times): the virtual clock.
* ``Queue.enqueue_in`` and ``Retry.__init__``: RQ's own, with bad values (``Retry(max=0)``,
  a negative interval, ``job_timeout=0``...) raised as ``jobsim.InvalidArgument`` naming
  them (still a ``ValueError``, as RQ raises).
* ``Job.set_status``/``get_status``/``return_value``/``save_meta``/``get_meta``: the
  state of a simulated job lives on the ``Job`` object, not in a Redis hash. The deprecated
  ``Job.result`` property is ``return_value()`` and ``Job.exc_info`` the last failed attempt's
  traceback (with RQ's warnings); ``latest_result()`` and
  ``results()`` (``Result`` objects from a Redis stream) are refused by name.
* ``Job.cancel``: the job leaves its queue or the scheduler and its run ends ``cancelled``
  (``RQWorld.cancel``); ``Job.delete``/``Job.requeue`` are refused by name.
* ``Job.fetch``: a job the simulation holds is that same ``Job`` object (``NoSuchJobError``
  once its key expired), so RQ helpers that fetch first -- ``send_stop_job_command`` --
  work on it.
* ``rq.command.send_command`` (the pub/sub publish every ``send_*_command`` ends in): a
  command for a simulated worker (by its name) goes to it (``stop-job``; the others are refused).
* ``redis.connection.AbstractConnection.connect``: a connection opened for an RQ call (a read
  or write the simulation does not model: ``job.refresh()``, ``queue.count``, registries) is
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
import traceback
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from jobsim.errors import InvalidArgument, UnsupportedFeature
from jobsim.hooks import ProcessPatches

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
    from redis.connection import AbstractConnection

    Queue, Job = rq.queue.Queue, rq.job.Job
    patches: dict[tuple[Any, str], Any] = {
        (Queue, "create_job"): _create_job(Queue.create_job, world),
        (Queue, "enqueue_job"): _enqueue_job(world),
        (Queue, "_enqueue_job"): _internal_enqueue(Queue._enqueue_job, world),
        (Queue, "schedule_job"): _schedule_job(world),
        (Job, "set_status"): _set_status(Job.set_status, world),
        (Job, "get_status"): _get_status(Job.get_status, world),
        (Job, "return_value"): _return_value(Job.return_value, world),
        (Job, "result"): _result(vars(Job)["result"], world),
        (Job, "exc_info"): _exc_info(vars(Job)["exc_info"], world),
        (Job, "latest_result"): _unsimulated_read(Job.latest_result, world),
        (Job, "results"): _unsimulated_read(Job.results, world),
        (Job, "cancel"): _cancel(Job.cancel, world),
        (Job, "delete"): _unsimulated_write(Job.delete, world, "to drop a job that has not run, cancel it: "
                                            "job.cancel()"),
        (Job, "requeue"): _unsimulated_write(Job.requeue, world, "to run a failed job again, enqueue a new job, "
                                             "or give it retry=Retry(...)"),
        (Job, "save_meta"): _save_meta(Job.save_meta, world),
        (Job, "get_meta"): _get_meta(Job.get_meta, world),
        (Queue, "enqueue_in"): _enqueue_in(Queue.enqueue_in),
        (rq.job.Retry, "__init__"): _retry_init(rq.job.Retry.__init__),
        (rq.queue, "now"): world.now,
        (rq.job, "now"): world.now,
        (rq.job, "asyncio"): _Asyncio(world),
        (Job, "fetch"): _fetch(Job.fetch, world),
        (rq.command, "send_command"): _send_command(rq.command.send_command, world),
        (AbstractConnection, "connect"): _connect(AbstractConnection.connect),
    }
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


def _create_job(original: Any, world: RQWorld) -> Any:
    def create_job(self: Any, func: Any, *args: Any, **kwargs: Any) -> Any:
        if len(args) < 9 and kwargs.get("job_id") is None:  # job_id is create_job's 10th parameter
            kwargs["job_id"] = world.new_id()
        try:
            return original(self, func, *args, **kwargs)
        except InvalidArgument:
            raise
        except ValueError as exc:  # RQ's own checks: job_timeout=0, ttl <= 0, a bad job_id, on_failure=...
            name = getattr(func, "__qualname__", func)
            raise InvalidArgument(f"RQ refused the job {name!r} on queue {self.name!r}: {exc}") from exc

    return create_job


def _enqueue_in(original: Any) -> Any:
    def enqueue_in(self: Any, time_delta: Any, func: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(time_delta, dt.timedelta):
            raise InvalidArgument.build("time_delta", time_delta, "a datetime.timedelta for Queue.enqueue_in "
                                        "(RQ adds it to rq.utils.now(), rq/queue.py:1252)")  # fmt: skip
        return original(self, time_delta, func, *args, **kwargs)

    return enqueue_in


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


def _return_value(original: Any, world: RQWorld) -> Any:
    def return_value(self: Any, refresh: bool = False) -> Any:
        """The value of the job's last successful run (``None`` until then, or once its result expired)."""
        if world.owns(self):
            return world.return_value(self, refresh)
        return original(self, refresh)

    return return_value


def _result(original: property, world: RQWorld) -> property:
    def result(self: Any) -> Any:
        """``Job.result`` (``rq/job.py:905-940``): the latest ``Result``'s value if it is a success, else
        the job hash's ``result`` field, which the worker fills only on success (``rq/worker/base.py:1587``):
        for a simulated job, ``return_value()``."""
        if not world.owns(self):
            return original.__get__(self, type(self))
        warnings.warn("job.result is deprecated, use job.return_value instead.", DeprecationWarning, stacklevel=2)
        return world.return_value(self, False)

    return property(result)


def _exc_info(original: property, world: RQWorld) -> property:
    def exc_info(self: Any) -> Any:
        """``Job.exc_info`` (``rq/job.py:866-881``): the latest ``Result``'s ``exc_string`` if it is a failure
        (one awaiting its retry too), as the worker formats it (``traceback.format_exception``), else the
        job's ``_exc_info``."""
        if not world.owns(self):
            return original.__get__(self, type(self))
        warnings.warn("job.exc_info is deprecated, use job.latest_result() instead.", DeprecationWarning, stacklevel=2)
        held = world.jobs[self.id]
        attempts = held.run.attempts
        error = attempts[-1].error if attempts and not world.gone(held) else None
        if error is None:
            return self._exc_info
        return "".join(traceback.format_exception(type(error), error, error.__traceback__))

    return property(exc_info)


def _unsimulated_read(original: Any, world: RQWorld) -> Any:
    def read(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not world.owns(self):
            return original(self, *args, **kwargs)
        raise UnsupportedFeature(
            f"Job.{original.__name__}() reads RQ's result stream in Redis, which jobsim-rq does not simulate "
            f"(job {self.id}); read the outcome with job.return_value(), job.get_status(), or the run: "
            "sim.runs(...) / sim.rq.job(id) (run.output, run.error)"
        )

    return read


def _cancel(original: Any, world: RQWorld) -> Any:
    def cancel(self: Any, pipeline: Any = None, enqueue_dependents: bool = False,
               remove_from_dependencies: bool = False) -> Any:  # fmt: skip
        if not world.owns(self):
            return original(self, pipeline, enqueue_dependents, remove_from_dependencies)
        return world.cancel(self, pipeline=pipeline, enqueue_dependents=enqueue_dependents,
                            remove_from_dependencies=remove_from_dependencies)  # fmt: skip

    return cancel


def _unsimulated_write(original: Any, world: RQWorld, instead: str) -> Any:
    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not world.owns(self):
            return original(self, *args, **kwargs)
        raise UnsupportedFeature(
            f"Job.{original.__name__}() of RQ job {self.id} is not simulated by jobsim-rq (it would write to Redis "
            f"and change nothing in the simulation); {instead}", system="rq", feature=f"Job.{original.__name__}",
        )  # fmt: skip

    write.__name__ = original.__name__
    return write


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
            "the workers and scheduler, job statuses, results and meta are; see 'What is not modelled' in "
            "plugins/jobsim-rq/README.md). Read the simulation instead: job.get_status(), job.return_value(), "
            "sim.runs(...), sim.rq.job(id)", system="rq", feature=call,
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
        if not world.owns(self):
            original(self)

    return save_meta


def _get_meta(original: Any, world: RQWorld) -> Any:
    def get_meta(self: Any, refresh: bool = True) -> Any:
        if world.owns(self):
            return self.meta
        return original(self, refresh)

    return get_meta


def _fetch(original: Any, world: RQWorld) -> Any:
    def fetch(cls: Any, id: str, connection: Any = None, serializer: Any = None) -> Any:
        """``Job.fetch`` (``rq/job.py:700-716``) of a job the simulation holds: the ``Job`` itself."""
        held = world.jobs.get(id) if isinstance(id, str) else None
        if held is None:
            return original.__func__(cls, id, connection, serializer)
        return world.job(id)

    return classmethod(fetch)


def _send_command(original: Any, world: RQWorld) -> Any:
    def send_command(connection: Any, worker_name: str, command: str, **kwargs: Any) -> None:
        if world.pool.by_name(worker_name) is None:
            return original(connection, worker_name, command, **kwargs)  # type: ignore[no-any-return]
        world.command(command, kwargs)

    return send_command
