"""What jobsim-arq replaces process-wide while a simulation with arq workers runs.

* ``ArqRedis.execute_command`` and ``ArqRedis.pipeline``: every arq pool answers from the
  simulated keyspace (``_client``, ``_redis``); each pool used is noted, so that once the simulation closes it
  says so instead of connecting to the Redis of its settings (``ArqWorld.uninstall``, ``_ClosedPool``);
* ``ArqRedis.enqueue_job``: arq's own, then the simulation records the job's run
  (``ArqWorld.enqueued``) -- or, for ``None`` (the id exists, ``connections.py:156-160``), a duplicate;
* ``create_pool`` (``arq``, ``arq.connections``, ``arq.worker``): a pool that never connects;
* ``timestamp_ms`` (``arq.utils``, bound by name in ``connections``, ``jobs``, ``worker``) and
  ``arq.worker.time``: the virtual clock, also between driving calls (a test's ``enqueue_job``
  scores its job at the simulation's instant, not the real one; ``utils.py:29-30``);
* ``arq.connections.uuid4``: job ids drawn from the simulation's seed, so they repeat (job code's from its
  function's own stream, ``sim.rng_for``);
* ``arq.worker.poll``: a simulated worker's main loop keeps its poll timer where ``_loop`` can skip idle polls;
* ``arq.jobs.poll``: ``Job.result()`` awaited by the test (not by job code) advances the simulation
  ``poll_delay`` at a time instead of sleeping (``jobs.py:104-125``, ``utils.py:101-109``).

One simulation with arq workers may run at a time in a process.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import math
import uuid
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from jobsim.errors import JobsimError
from jobsim.hooks import ProcessPatches

if TYPE_CHECKING:
    from ._world import ArqWorld

_PATCHES: ProcessPatches[ArqWorld] = ProcessPatches(
    "arq workers", "jobsim-arq routes every ArqRedis to the simulated Redis and arq's clock to the virtual one"
)


def push(world: ArqWorld) -> None:
    _PATCHES.push(world, _patch)


def pop(world: ArqWorld) -> None:
    _PATCHES.pop(world)


def active() -> ArqWorld | None:
    return _PATCHES.current


def world() -> ArqWorld:
    current = _PATCHES.current
    if current is None:  # pragma: no cover - the patches are only in place while a world is
        raise JobsimError("no simulation with arq workers is running")
    return current


def _patch(w: ArqWorld) -> None:
    import arq
    import arq.connections
    import arq.jobs
    import arq.utils
    import arq.worker

    from . import _client

    redis_cls = arq.connections.ArqRedis
    original_enqueue = redis_cls.enqueue_job
    _PATCHES.set(redis_cls, "execute_command", _client.execute_command)
    _PATCHES.set(redis_cls, "pipeline", _client.pipeline)
    _PATCHES.set(redis_cls, "enqueue_job", _enqueue_job(original_enqueue))
    for module in (arq, arq.connections, arq.worker):
        _PATCHES.set(module, "create_pool", create_pool)
    for module in (arq.utils, arq.connections, arq.jobs, arq.worker):
        _PATCHES.set(module, "timestamp_ms", w.timestamp_ms)
    _PATCHES.set(arq.worker, "time", w.time)
    _PATCHES.set(arq.connections, "uuid4", w.uuid4)
    _PATCHES.set(arq.jobs, "poll", _poll(arq.utils.poll))
    _PATCHES.set(arq.jobs.Job, "result", _result(arq.jobs.Job.result))
    _PATCHES.set(arq.worker, "poll", w.worker_poll)
    for name in ("run", "async_run", "run_check"):
        _PATCHES.set(arq.worker.Worker, name, _refused_run(name))
    _PATCHES.set(arq.worker.Worker, "close", _close(arq.worker.Worker.close, w))
    _PATCHES.set(arq.worker.Worker, "main", _main(arq.worker.Worker.main, w))


def _enqueue_job(original: Any) -> Any:
    async def enqueue_job(pool: Any, function: str, *args: Any, **kwargs: Any) -> Any:
        """``ArqRedis.enqueue_job`` (``connections.py:119-181``), then the run is recorded. A function object given
        instead of its name is refused: arq would pickle it and the worker fail the job ('function <function
        charge at 0x...> not found', ``worker.py:530-535``), looking up names only."""
        if not isinstance(function, str):
            from jobsim.errors import InvalidArgument

            name = getattr(function, "__qualname__", None) or getattr(function, "name", None)
            hint = f"enqueue_job({name!r}, ...)" if isinstance(name, str) else "enqueue_job('function_name', ...)"
            raise InvalidArgument.build("enqueue_job(function)", function, f"the job function's name, a string: "
                                        f"{hint} (the worker looks functions up by name and would fail the job "
                                        "with 'function ... not found')")  # fmt: skip
        job_try = kwargs.get("_job_try")
        if job_try is not None and (isinstance(job_try, bool) or not isinstance(job_try, int | float)
                                    or math.isnan(job_try)):  # fmt: skip
            from jobsim.errors import InvalidArgument

            raise InvalidArgument.build("enqueue_job(_job_try=...)", job_try, "the try to count this job as, an int "
                                        "(the worker compares it with its own count: a string would crash it), or "
                                        "None")  # fmt: skip
        _check_timing(kwargs)
        world()._function(function)  # declared first: one the simulation refuses is not written to Redis either
        job = await original(pool, function, *args, **kwargs)
        world().enqueued(pool, job, function, args, kwargs)
        return job

    enqueue_job.__doc__ = original.__doc__
    return enqueue_job


def _check_timing(kwargs: dict[str, Any]) -> None:
    """``_defer_by``/``_expires`` as arq's ``to_ms`` takes them (``utils.py``: ``td * 1000`` rounded, so a string
    fails with a bare "type str doesn't define __round__ method"), ``_defer_until`` as ``to_unix_ms`` does."""
    from jobsim.errors import InvalidArgument

    for name in ("_defer_by", "_expires"):
        value = kwargs.get(name)
        if value is not None and not isinstance(value, dt.timedelta) and (
                isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)):
            raise InvalidArgument.build(f"enqueue_job({name}=...)", value, "seconds (an int or float) or a "
                                        "datetime.timedelta, or None (arq multiplies it by 1000 and rounds it)")
    until = kwargs.get("_defer_until")
    if until is not None and not isinstance(until, dt.datetime):
        raise InvalidArgument.build("enqueue_job(_defer_until=...)", until, "a datetime.datetime (aware; a naive one "
                                    "is read in the machine's local zone, as arq does), or None")


async def create_pool(settings_: Any = None, *, retry: int = 0, job_serializer: Any = None,
                      job_deserializer: Any = None, default_queue_name: str | None = None,
                      expires_extra_ms: int | None = None) -> Any:  # fmt: skip
    """``arq.create_pool`` in a simulation: the same ``ArqRedis`` settings, no connection and no ``PING``
    (``connections.py:220-299``); its commands answer from the simulated Redis."""
    from arq.connections import ArqRedis
    from arq.constants import default_queue_name as default_queue
    from arq.constants import expires_extra_ms as default_extra

    return ArqRedis(job_serializer=job_serializer, job_deserializer=job_deserializer,
                    default_queue_name=default_queue if default_queue_name is None else default_queue_name,
                    expires_extra_ms=default_extra if expires_extra_ms is None else expires_extra_ms)  # fmt: skip


_TIMEOUT: contextvars.ContextVar[float | None] = contextvars.ContextVar("jobsim_arq_result_timeout", default=None)
"""The ``timeout=`` of the ``Job.result()`` the test awaits (None: it waits for ever, and the test's poll refuses
to wait on a job nothing will run)."""


def _result(real: Any) -> Any:
    async def result(job: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        token = _TIMEOUT.set(timeout)
        try:
            return await real(job, timeout, **kwargs)
        finally:
            _TIMEOUT.reset(token)

    result.__doc__ = real.__doc__
    return result


def _poll(real: Any) -> Any:
    async def poll(step: float = 0.5) -> AsyncGenerator[float, None]:
        """``arq.utils.poll`` for ``Job.result()``: on the workers' loop (job code awaiting another job) arq's own,
        elsewhere (the test) the simulation advances from poll to poll, so the result is seen at the poll after it
        was stored, as a real client sees it.

        Polls before the simulation's next pending item are skipped, in one ``sim.advance``: nothing but a kernel
        item (a worker's pump, a cron tick) changes what a poll reads (``jobs.py:104-125``: the result key and the
        queue's score), so each would read what the last one read. The jump stops at the first poll at or after
        that item, or at the first one past the ``timeout=`` (where ``result()`` gives up), whichever comes first:
        a job deferred by a day is awaited in a few steps, not 172,800."""
        w = active()
        loop = asyncio.get_running_loop()
        if w is None or loop is w.loop:
            async for delay in real(step):
                yield delay
            return
        sim = w.sim
        start = sim.now_ns()
        wait = dt.timedelta(seconds=step) if step > 0 else dt.timedelta(microseconds=1)
        step_ns = wait // dt.timedelta(microseconds=1) * 1000
        timeout = _TIMEOUT.get()
        while True:
            yield (sim.now_ns() - start) / 1e9
            if timeout is None and not w.busy():
                raise JobsimError(
                    "Job.result() with no timeout would wait forever: no simulated arq worker has a job queued or "
                    "running (is the job on a queue no worker reads, _queue_name=...?); pass timeout=, or enqueue it "
                    "to a queue of a worker the simulation runs"
                )  # fmt: skip
            polls = 1
            now, due = sim.now_ns(), sim.kernel.next_due()
            if due is not None and due > now + step_ns:
                polls = -(-(due - now) // step_ns)  # the first poll at or after the next item
                if timeout is not None:  # ... or the first past the timeout, if sooner
                    past = int(timeout * 1e9) - (now - start)
                    polls = min(polls, max(1, past // step_ns + 1))
            sim.advance(wait * polls)

    return poll


def _refused_run(name: str) -> Any:
    def refused(worker: Any, *args: Any, **kwargs: Any) -> Any:
        from jobsim.errors import UnsupportedFeature

        raise UnsupportedFeature(
            f"Worker.{name}() inside a simulation: jobsim-arq runs the worker of the WorkerSettings (or Worker) "
            "passed to Simulation(...) itself, on the virtual clock; enqueue jobs and drive time with "
            "sim.advance(...) or sim.run_until_idle(), then read results (job.result(), sim.runs(...))",
            system="arq", feature=f"Worker.{name}",
        )  # fmt: skip

    return refused


def _main(original: Any, w: ArqWorld) -> Any:
    async def main(worker: Any) -> None:
        """``Worker.main`` (``worker.py:345-380``): the simulation runs it on the workers' loop; awaited anywhere
        else (``await worker.main()``, as arq's own tests drive a burst worker) it would be a second worker loop
        on the simulated Redis, taking jobs outside virtual time, and its polls would wait for a clock that does
        not move: refused as ``run_check`` is."""
        if w.loop is None or asyncio.get_running_loop() is not w.loop:
            _refused_run("main")(worker)
        await original(worker)

    return main


def _close(original: Any, w: ArqWorld) -> Any:
    async def close(worker: Any) -> None:
        """``Worker.close`` (``worker.py:866-878``) as the simulation calls it, on the workers' loop, when it closes.
        Awaited by the test on its own loop, arq's would cancel the running jobs (``handle_sig``) and then fail
        gathering the worker's tasks, which belong to the other loop: refused before it touches anything."""
        loop = w.loop
        if loop is None or loop.is_closed() or asyncio.get_running_loop() is loop or not any(
                d.worker is worker for d in w.driven):  # fmt: skip
            await original(worker)
            return
        from jobsim.errors import UnsupportedFeature

        raise UnsupportedFeature(
            "worker.close() was awaited by the test for an arq worker this simulation runs: the simulation closes "
            "it itself when it closes, as on SIGTERM (jobs still running are cancelled, on_shutdown runs, "
            "worker.py:852-878); leave the `with` block (or call sim.close()) instead, after driving time with "
            "sim.advance(...) / sim.run_until_idle() as far as the test needs",
            system="arq", feature="Worker.close",
        )  # fmt: skip

    return close


def new_uuid(rng: Any) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)
