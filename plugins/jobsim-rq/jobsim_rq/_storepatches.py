"""RQ's queue lists, registries and result streams, answered from the simulation while it runs (``_patches``).

``Queue.count``/``get_job_ids``/``remove``/``get_job_position``/``empty``/``delete``, the registries'
reads, ``requeue`` and ``remove`` (``rq/registry.py``), and ``Result.all``/``fetch_latest``/``count``/
``delete_all`` (``rq/results.py``) read and write Redis in RQ. Here they are answered by ``_admin`` and
``_store`` at the reader's instant; a registry's ``add`` and ``ScheduledJobRegistry.schedule`` are refused
by name. ``_patches._patch`` installs what these functions return, with RQ's other replaced methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobsim.errors import InvalidArgument, UnsupportedFeature

if TYPE_CHECKING:
    from ._world import RQWorld


def _queue_patches(world: RQWorld) -> dict[tuple[Any, str], Any]:
    """``Queue`` reads and writes of its Redis list (``rq/queue.py:299-556``), answered by ``_admin``."""
    from rq.queue import Queue

    from . import _admin

    def count(self: Any) -> int:
        """``Queue.count`` (``rq/queue.py:454-457``): ``LLEN``; ``len(queue)`` and ``is_empty()`` read it."""
        return len(_admin.queue_ids(world, self.name))

    def get_job_ids(self: Any, offset: int = 0, length: int = -1) -> list[str]:
        return _admin.get_job_ids(world, self.name, offset, length)

    def remove(self: Any, job_or_id: Any, pipeline: Any = None) -> int:
        if pipeline is not None:
            raise UnsupportedFeature("queue.remove(job, pipeline=...): jobsim-rq does not simulate Redis pipelines; "
                                     "call it without one", system="rq", feature="Queue.remove(pipeline=)")  # fmt: skip
        return _admin.remove(world, self.name, job_or_id)

    def get_job_position(self: Any, job_or_id: Any) -> int | None:
        return _admin.position(world, self.name, job_or_id)

    def empty(self: Any) -> int:
        return _admin.empty(world, self.name)

    def delete(self: Any, delete_jobs: bool = True) -> None:
        """``Queue.delete`` (``rq/queue.py:332-344``): ``empty()`` if ``delete_jobs``, then the list goes (jobs
        left in it keep their keys but no worker will see them)."""
        if delete_jobs:
            _admin.empty(world, self.name)
        world.line(self.name).clear(world.sim.now_ns())

    return {(Queue, "count"): property(count), (Queue, "get_job_ids"): get_job_ids, (Queue, "remove"): remove,
            (Queue, "get_job_position"): get_job_position, (Queue, "empty"): empty,
            (Queue, "delete"): delete}  # fmt: skip


def _registry_patches(world: RQWorld) -> dict[tuple[Any, str], Any]:
    """The registries (``rq/registry.py``) read from ``_store`` at the reader's instant; cleanup is applied at
    each read, so the registries' own ``cleanup()`` has nothing left to do."""
    from rq import registry as r

    from . import _admin

    def contains(self: Any, item: Any) -> bool:
        return _admin.contains(world, self, item)

    def get_job_count(self: Any, cleanup: bool = True) -> int:
        return len(_admin.entries(world, self))

    def get_job_ids(self: Any, start: int = 0, end: int = -1, desc: bool = False, cleanup: bool = True) -> list[str]:
        return _admin.registry_ids(world, self, start, end, desc)

    def get_expiration_time(self: Any, job: Any) -> Any:
        return _admin.expiration_time(world, self, job)

    def get_expired_job_ids(self: Any, timestamp: float | None = None) -> list[str]:
        return _admin.expired_ids(world, self, timestamp)

    def requeue(self: Any, job_or_id: Any, at_front: bool = False) -> Any:
        return _admin.requeue(world, self, job_or_id, at_front)

    def remove(self: Any, job: Any, pipeline: Any = None, delete_job: bool = False) -> int:
        if pipeline is not None:
            raise UnsupportedFeature("registry.remove(job, pipeline=...): jobsim-rq does not simulate Redis "
                                     "pipelines; call it without one", system="rq",
                                     feature="registry.remove(pipeline=)")  # fmt: skip
        return _admin.registry_remove(world, self, job, delete_job)

    def add(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise UnsupportedFeature(
            f"{type(self).__name__}.add() writes RQ's sorted set directly; in jobsim-rq a registry holds what the "
            "simulated workers, scheduler and your enqueue/cancel/requeue/delete calls put there",
            system="rq", feature=f"{type(self).__name__}.add",
        )  # fmt: skip

    def cleanup(self: Any, timestamp: float | None = None, exception_handlers: list[Any] | None = None) -> None:
        """Expired finished/failed entries are already gone at every read (``_store.Store.entries``)."""

    def ready_cleanup(self: Any, timestamp: float | None = None,
                      exception_handlers: list[Any] | None = None) -> list[Any]:  # fmt: skip
        return []  # dependents go straight to their queue: the ready registry is always empty here

    def started_cleanup(self: Any, timestamp: float | None = None, exception_handlers: list[Any] | None = None) -> None:
        _admin.started_cleanup(world, self, timestamp)

    def job_and_execution_ids(self: Any, start: int = 0, end: int = -1, desc: bool = False,
                              cleanup: bool = True) -> list[tuple[str, str]]:  # fmt: skip
        """``StartedJobRegistry.get_job_and_execution_ids`` (``rq/registry.py:377-397``)."""
        return [(job_id, world.execution_id(job_id, world.jobs[job_id].calls))
                for job_id in get_job_ids(self, start, end, desc)]  # fmt: skip

    def get_scheduled_time(self: Any, job_or_id: Any) -> Any:
        return _admin.scheduled_time(world, self, job_or_id)

    def get_jobs_to_schedule(self: Any, timestamp: int | None = None, chunk_size: int = 1000) -> list[str]:
        return _admin.expired_ids(world, self, timestamp)[:chunk_size]

    def refused(name: str, instead: str) -> Any:
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            raise UnsupportedFeature(f"{type(self).__name__}.{name}() is not simulated by jobsim-rq; {instead}",
                                     system="rq", feature=f"{type(self).__name__}.{name}")  # fmt: skip

        return method

    patches: dict[tuple[Any, str], Any] = {
        (r.BaseRegistry, "__contains__"): contains, (r.StartedJobRegistry, "__contains__"): contains,
        (r.BaseRegistry, "get_job_count"): get_job_count, (r.BaseRegistry, "get_job_ids"): get_job_ids,
        (r.BaseRegistry, "get_expiration_time"): get_expiration_time,
        (r.BaseRegistry, "get_expired_job_ids"): get_expired_job_ids, (r.BaseRegistry, "requeue"): requeue,
        (r.BaseRegistry, "remove"): remove, (r.StartedJobRegistry, "remove"): refused(
            "remove", "its entries are executions: they leave as the simulated job ends"),
        (r.StartedJobRegistry, "get_job_and_execution_ids"): job_and_execution_ids,
        (r.StartedJobRegistry, "cleanup"): started_cleanup, (r.ReadyJobRegistry, "cleanup"): ready_cleanup,
        (r.ScheduledJobRegistry, "get_scheduled_time"): get_scheduled_time,
        (r.ScheduledJobRegistry, "get_jobs_to_schedule"): get_jobs_to_schedule,
        (r.ScheduledJobRegistry, "schedule"): refused("schedule", "schedule a job with queue.enqueue_at/enqueue_in"),
        (r.ScheduledJobRegistry, "remove_jobs"): refused("remove_jobs", "cancel or delete the jobs instead"),
    }
    for cls in (r.BaseRegistry, r.FinishedJobRegistry, r.FailedJobRegistry, r.DeferredJobRegistry):
        patches[(cls, "cleanup")] = cleanup
    for cls in (r.BaseRegistry, r.StartedJobRegistry, r.FailedJobRegistry, r.DeferredJobRegistry,
                r.ReadyJobRegistry):  # fmt: skip
        patches[(cls, "add")] = add
    return patches


def _result_patches(world: RQWorld) -> dict[tuple[Any, str], Any]:
    """The result stream of a simulated job (``rq/results.py``), which ``job.results()``, ``job.latest_result()``,
    ``return_value()`` and the deprecated ``result``/``exc_info`` read in RQ."""
    from rq.results import Result

    originals = {name: vars(Result)[name].__func__ for name in ("all", "fetch_latest", "count", "delete_all")}

    def all(cls: Any, job: Any, serializer: Any = None) -> list[Any]:
        """``Result.all`` (``rq/results.py:162-172``): every result kept (the last 10), newest first."""
        if not world.owns(job):
            return originals["all"](cls, job, serializer)  # type: ignore[no-any-return]
        return world.store.results(job, world.sim.now_ns())

    def fetch_latest(cls: Any, job: Any, serializer: Any = None, timeout: int = 0) -> Any:
        """``Result.fetch_latest`` (``rq/results.py:236-262``). With ``timeout`` it would block until a result
        comes; a result already there is returned at once, and waiting for one is refused (the test, not
        Redis, moves virtual time)."""
        if not world.owns(job):
            return originals["fetch_latest"](cls, job, serializer, timeout)
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 0:
            raise InvalidArgument.build("timeout", timeout, "seconds to block for a result, an int >= 0")
        results = world.store.results(job, world.sim.now_ns())
        if results:
            return results[0]
        if timeout:
            raise UnsupportedFeature(
                f"job.latest_result(timeout={timeout}) of RQ job {job.id}: it has no result yet, and blocking for one "
                "would need virtual time to pass inside this call; advance the simulation (sim.advance(...), "
                "sim.run_until_idle()) and then call job.latest_result()", system="rq",
                feature="latest_result(timeout=)",
            )  # fmt: skip
        return None

    def count(cls: Any, job: Any) -> int:
        if not world.owns(job):
            return originals["count"](cls, job)  # type: ignore[no-any-return]
        return len(world.store.results(job, world.sim.now_ns()))

    def delete_all(cls: Any, job: Any) -> None:
        if not world.owns(job):
            return originals["delete_all"](cls, job)  # type: ignore[no-any-return]
        world.store.delete_results(world.sim.now_ns(), job.id)

    return {(Result, "all"): classmethod(all), (Result, "fetch_latest"): classmethod(fetch_latest),
            (Result, "count"): classmethod(count), (Result, "delete_all"): classmethod(delete_all)}  # fmt: skip
