"""The simulated worker: Celery's own consumer strategy, ``Request`` and tracer, run in virtual time.

Each message goes through the steps of ``celery/worker/strategy.py: default`` and
``celery/worker/consumer/consumer.py``:

1. **receive** — a ``Request`` (the task's own ``Request`` class, via
   ``create_request_cls``) is built from the message; an expired or revoked one is
   discarded at once (``req.revoked()`` marks it REVOKED in the backend);
2. **ETA** — a request with ``eta`` waits on the timer (the message stays
   *unacknowledged* meanwhile, which matters when the worker crashes);
3. **rate limit** — tasks with ``rate_limit`` pass through a per-task token bucket
   of capacity 1 in arrival order (``_limit_task``/``_schedule_bucket_request``;
   ``kombu.utils.limits.TokenBucket``), re-done here on the virtual clock;
4. **pool** — ``req.execute_using_pool(pool)``: revoked/expired check again, then the
   pool runs ``trace_task_ret`` exactly like the solo pool (``apply_target``), and
   ``Request.on_success``/``on_failure`` decide acks, rejects, requeues,
   ``reject_on_worker_lost`` and ``retry_on_worker_lost`` as Celery does. With
   ``worker_concurrency`` set, at most that many executions overlap in virtual time.

While a task body runs, jobsim's execution context is set, so ``time.sleep`` spends
virtual time, the wall clock reads virtual time, and emails and HTTP calls are
attributed to the run. Retries are whatever the task does: ``self.retry`` and
``autoretry_for`` publish a new message for the same task id (``retries + 1``,
``countdown`` computed by Celery), which arrives back here.
"""

from __future__ import annotations

import collections
import contextlib
import numbers
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from billiard.einfo import ExceptionInfo, ExceptionWithTraceback
from celery import _state, signals
from celery._state import _set_task_join_will_block, _task_stack, task_join_will_block
from celery.app.trace import trace_task_ret
from celery.exceptions import (
    Ignore,
    NotRegistered,
    Reject,
    Retry,
    SoftTimeLimitExceeded,
    TaskRevokedError,
    TimeLimitExceeded,
    WorkerLostError,
)
from celery.utils.imports import symbol_by_name
from celery.utils.time import rate
from celery.worker import state as worker_state
from celery.worker.request import create_request_cls
from kombu.message import Message

import jobsim_celery
from jobsim._steps import Execution
from jobsim._time import SECOND, instant_ns, iso
from jobsim.errors import InvalidArgument, _keywords_named
from jobsim.hooks import StoppableExecution, attempt_budget

from ._expiry import virtual_expiry
from ._taskcheck import warn_unregistered

if TYPE_CHECKING:
    from ._world import AppRuntime, CeleryWorld


@_keywords_named
class ProcessTerminated(BaseException):
    """Raised inside a task body at the virtual instant ``revoke(terminate=True)`` kills its pool process.

    A ``BaseException``, so the body's ``except Exception`` cannot swallow it and Celery's
    tracer lets it through without storing a result or sending ``task_postrun``, as with
    a process that is gone (``finally`` blocks do run, which a killed process would not).
    """

    def __init__(self, at: int, signum: int) -> None:
        super().__init__(f"pool process killed with signal {signum} at {iso(at)}")
        self.at = at
        self.signum = signum

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled (Celery's result backend, billiard's pool) and copied by what it was built from: ``args`` holds
        # only the message, which ``__init__`` cannot take back
        return type(self), (self.at, self.signum), self.__dict__


@_keywords_named
class TimeLimitKilled(BaseException):
    """Raised inside a task body at the virtual instant its hard ``time_limit`` kills the pool process.

    A ``BaseException`` for the same reason as ``ProcessTerminated``; ``Pool.apply_async``
    catches it and reports ``TimeLimitExceeded`` as billiard's timeout handler does.
    """

    def __init__(self, at: int, limit: float) -> None:
        super().__init__(f"hard time limit ({limit}s) exceeded at {iso(at)}")
        self.at = at
        self.limit = limit

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.at, self.limit), self.__dict__  # as ``ProcessTerminated``'s


class CeleryExecution(StoppableExecution):
    """An execution whose clock stops where ``revoke(terminate=True)`` reaches it (``cut``) or a time limit fires.

    A body spending virtual time across that instant stops there, and what ``stopped``
    returns is raised from the call that spent it (``jobsim.hooks.StoppableExecution``).
    A kill stays armed: a killed process runs no further, so code that caught it stops
    again at its next call that spends time. The soft time limit fires once, as the
    ``SIGUSR1`` billiard sends does: code that catches ``SoftTimeLimitExceeded`` runs on,
    up to the hard limit.
    """

    __slots__ = ("cut_at", "hard_at", "hard_limit", "signum", "soft_at", "terminated", "timed_out")

    def __init__(self, engine: Any, run: Any, attempt: int, start: int) -> None:
        self.signum = 0
        self.terminated = False
        self.timed_out = False
        self.cut_at: int | None = None
        self.soft_at: int | None = None
        self.hard_at: int | None = None
        self.hard_limit = 0.0
        super().__init__(engine, run, attempt, start)

    def stopped(self, at: int) -> BaseException:
        if self.cut_at is not None and at >= self.cut_at:
            self.terminated = True
            return ProcessTerminated(at, self.signum)
        self.engine.move_clock(at)  # a handler of SoftTimeLimitExceeded, or billiard's report, reads this instant
        if self.hard_at is not None and at >= self.hard_at:  # a kill at the soft instant leaves no time to run
            self.timed_out = True
            return TimeLimitKilled(at, self.hard_limit)
        self.soft_at = None
        self._rearm()
        return SoftTimeLimitExceeded()  # type: ignore[no-any-return]  # celery is untyped

    def cut(self, at: int, signum: int) -> None:
        """Plan the kill at ``at`` (the earliest plan wins)."""
        if self.cut_at is None or at < self.cut_at:
            self.cut_at, self.signum = at, signum
            self._rearm()

    def limit(self, soft: float | None, hard: float | None) -> None:
        """Arm the prefork pool's time limits, in seconds from now (``None``/0: none).

        billiard's ``TimeoutHandler`` (``celery/concurrency/asynpool.py: on_timeout_set``,
        ``_on_soft_timeout``) times the soft limit from the start and, once it fired, the
        hard one ``hard - soft`` later — so with both set the kill comes at ``max(soft, hard)``.
        """
        now = self.now
        self.soft_at = now + round(soft * SECOND) if soft else None
        if hard:
            self.hard_limit = hard
            self.hard_at = now + round(max(hard, soft or 0) * SECOND)
        self._rearm()

    def _rearm(self) -> None:
        stops = [t for t in (self.cut_at, self.soft_at, self.hard_at) if t is not None]
        self.stop_at = min(stops) if stops else None


@_keywords_named
class WorkerCrash(BaseException):
    """Raised from inside a task body to kill the worker before it reports (``sim.celery.crash_worker``)."""

    def __init__(self, plan: Any, at: int) -> None:
        super().__init__(f"worker crashed at {iso(at)}")
        self.plan = plan
        self.at = at

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.plan, self.at), self.__dict__  # as ``ProcessTerminated``'s


class Held:
    """A message as the worker holds it: from receipt until it is acknowledged, rejected or lost."""

    __slots__ = ("acked", "fetched", "message", "queue", "req", "requeued", "rt", "run", "timer")

    def __init__(self, rt: AppRuntime, message: Message, queue: str, run: Any, fetched: int) -> None:
        self.rt = rt
        self.message = message
        self.queue = queue
        self.run = run
        self.fetched = fetched
        self.req: Any = None
        self.timer: Any = None
        self.acked = False
        self.requeued = False

    @property
    def task_id(self) -> str:
        return self.message.headers["id"]  # type: ignore[no-any-return]

    def __repr__(self) -> str:  # what a test printing sim.celery.unconsumed reads
        return f"<celery message {self.message.headers['task']}[{self.task_id}] on queue {self.queue!r}>"


class Bucket:
    """``kombu.utils.limits.TokenBucket(fill_rate, capacity=1)`` on the virtual clock, with its FIFO."""

    __slots__ = ("contents", "fill_rate", "stamp", "tokens")

    def __init__(self, fill_rate: float, now: int) -> None:
        self.fill_rate = fill_rate
        self.tokens = 1.0
        self.stamp = now
        self.contents: collections.deque[Held] = collections.deque()

    def _refill(self, now: int) -> float:
        if self.tokens < 1:
            self.tokens = min(1.0, self.tokens + self.fill_rate * (now - self.stamp) / SECOND)
        self.stamp = now
        return self.tokens

    def can_consume(self, now: int) -> bool:
        if self._refill(now) >= 1:
            self.tokens -= 1
            return True
        return False

    def expected_ns(self, now: int) -> int:
        return max(1, round((1 - self._refill(now)) / self.fill_rate * SECOND))


class Pool:
    """The prefork pool's ``apply_async``, minus the process: runs ``trace_task_ret`` for the app.

    Time limits (``time_limit``/``soft_time_limit`` of the task, of ``apply_async`` or
    ``task_time_limit``/``task_soft_time_limit``, passed here by ``Request.execute_using_pool``)
    are the default prefork pool's: ``SoftTimeLimitExceeded`` is raised in the body at the soft
    limit, and at the hard one the process is killed and billiard reports
    ``TimeLimitExceeded`` (``billiard/pool.py: on_hard_timeout``).
    """

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.outcome: tuple[Any, ...] | None = None

    def apply_async(self, target: Any, args: tuple[Any, ...] = (), kwargs: Any = None, callback: Any = None,
                    accept_callback: Any = None, error_callback: Any = None, timeout_callback: Any = None,
                    soft_timeout: float | None = None, timeout: float | None = None, **_: Any) -> None:  # fmt: skip
        if accept_callback is not None:
            accept_callback(os.getpid(), time.monotonic())
        x = self.worker.sim.engine.x
        for option, limit in (("soft_time_limit", soft_timeout), ("time_limit", timeout)):
            if limit and (isinstance(limit, bool) or not isinstance(limit, numbers.Real)):
                raise InvalidArgument.build(
                    f"{option} of task {args[0]!r}", limit, f"a number of seconds (the task's {option}=, "
                    f"apply_async({option}=...) or app.conf.task_{option}): a real worker's pool cannot arm a timer "
                    "with it",
                )  # fmt: skip
        if (soft_timeout or timeout) and isinstance(x, CeleryExecution):
            x.limit(soft_timeout, timeout)
        try:
            self.outcome = ret = target(*args, app=self.worker.app)
        except TimeLimitKilled as killed:
            self._hard_timeout(killed.limit, error_callback, timeout_callback)
            return
        if callback is not None:
            callback(ret)

    def _hard_timeout(self, limit: float, error_callback: Any, timeout_callback: Any) -> None:
        """``billiard.pool.TimeoutHandler.on_hard_timeout``: the job's result is set to
        ``TimeLimitExceeded`` (which calls ``Request.on_failure``), then ``Request.on_timeout(soft=False)``
        runs: FAILURE is stored, ``task_failure`` is sent and ``acks_late`` messages are acked or
        requeued by ``acks_on_timeout``."""
        try:
            raise TimeLimitExceeded(limit)
        except TimeLimitExceeded:
            einfo = ExceptionInfo()
        self.outcome = (1, einfo, 0.0)
        if error_callback is not None:
            error_callback(einfo)
        if timeout_callback is not None:
            timeout_callback(soft=False, timeout=limit)

    def terminate_job(self, pid: int, signal: Any = None) -> None:
        """``Request.terminate`` kills the pool process here; the body already stopped at that instant."""


class Worker:
    """One worker consuming the queues of one Celery app that ``AppRuntime.consumes`` says it reads."""

    def __init__(self, world: CeleryWorld, rt: AppRuntime) -> None:
        self.world = world
        self.rt = rt
        self.app = rt.app
        self.sim = world.sim
        self.kernel = world.sim.kernel
        self.hostname = rt.hostname
        self.concurrency = rt.concurrency
        self.pool = Pool(self)
        self.slots: list[int] = []  # end times of executions that hold a pool slot
        self.waiting: collections.deque[Held] = collections.deque()
        self.held: set[Held] = set()
        self.buckets: dict[str, Bucket | None] = {}
        self._request_classes: dict[str, Any] = {}
        self.unregistered_warned: set[str] = set()  # task names warned about (_taskcheck.warn_unregistered)
        self.rate_limits = not self.app.conf.worker_disable_rate_limits
        if self.rate_limits:  # a worker reads every task's rate_limit as it starts (Consumer.reset_rate_limits)
            for task in rt.tasks.values():
                _fill_rate(task)

    # -- 1. receive -------------------------------------------------------------------
    def receive(self, held: Held) -> None:
        now = self.kernel.now
        self.sim.wallclock.move(now)
        held.fetched = now
        self.held.add(held)
        name = held.message.headers["task"]
        task = self.app.tasks.get(name)
        if task is None:
            self._unregistered(held, name)
            return
        req = held.req = self._request_cls(task)(
            held.message, on_ack=self._acker(held), on_reject=self._rejecter(held), app=self.app,
            hostname=self.hostname, eventer=None, task=task, connection_errors=(),
            body=held.message.body, headers=held.message.headers, decoded=False, utc=self.app.uses_utc_timezone(),
        )  # fmt: skip
        self.world.track(req)
        if (req.expires or req.id in worker_state.revoked) and req.revoked():
            self.world.revoked(held, "expired" if req.expires and req.id not in self.world.revoked_ids else "revoked")
            return
        signals.task_received.send(sender=self, request=req)
        if req.eta is not None:
            eta = instant_ns(req.eta)
            held.run.status = "queued"
            held.timer = self.kernel.schedule(max(eta, now), self._eta_due, held, owner=f"{name} (eta)")
            self.world.holding_eta(held, max(eta, now))  # unacknowledged until then: the broker may send it again
            return
        self._admit(held)

    def _eta_due(self, held: Held) -> None:
        held.timer = None
        self._admit(held)

    def _unregistered(self, held: Held, name: str) -> None:
        """``Consumer.on_unknown_task``: reject the message, store ``NotRegistered`` as the result, send
        ``task_unknown`` (``exc`` is the ``KeyError`` of the worker's lookup of the task's strategy)."""
        self._forget(held, acked=True)
        self.app.backend.mark_as_failure(held.task_id, NotRegistered(name))
        self.world.record("celery.unregistered", task=name, id=held.task_id)
        if name not in self.unregistered_warned:
            self.unregistered_warned.add(name)
            warn_unregistered(self.rt, name)
        signals.task_unknown.send(sender=self, message=held.message, exc=KeyError(name), name=name, id=held.task_id)

    # -- 2. rate limits ---------------------------------------------------------------------
    def _admit(self, held: Held) -> None:
        bucket = self._bucket(held.req.task) if self.rate_limits else None
        if bucket is None:
            self._to_pool(held)
            return
        bucket.contents.append(held)
        self._drain(bucket)

    def _bucket(self, task: Any) -> Bucket | None:
        if task.name not in self.buckets:
            fill = _fill_rate(task)
            self.buckets[task.name] = Bucket(fill, self.kernel.now) if fill else None
        return self.buckets[task.name]

    def _drain(self, bucket: Bucket) -> None:
        """``Consumer._schedule_bucket_request``: release in order while tokens last, then wait."""
        while bucket.contents:
            now = self.kernel.now
            if bucket.can_consume(now):
                self._to_pool(bucket.contents.popleft())
                continue
            head = bucket.contents[0]
            head.timer = self.kernel.schedule(now + bucket.expected_ns(now), self._drain, bucket,
                                              owner=f"{head.req.task.name} (rate limit)")  # fmt: skip
            return

    # -- 3. the pool -------------------------------------------------------------------------
    def _to_pool(self, held: Held) -> None:
        held.timer = None
        now = self.kernel.now
        if self.concurrency is not None:
            self.slots = [end for end in self.slots if end > now]
            if len(self.slots) >= self.concurrency:
                self.waiting.append(held)
                if len(self.waiting) == 1:
                    self.kernel.schedule(min(self.slots), self._free_slot, owner="celery pool")
                return
        self._execute(held)

    def _free_slot(self) -> None:
        now = self.kernel.now
        self.slots = [end for end in self.slots if end > now]
        while self.waiting and len(self.slots) < self.concurrency:  # type: ignore[operator]
            self._execute(self.waiting.popleft())
        if self.waiting:
            self.kernel.schedule(min(self.slots), self._free_slot, owner="celery pool")

    def _execute(self, held: Held) -> None:
        run, req = held.run, held.req
        engine = self.sim.engine
        start = self.kernel.now
        x = CeleryExecution(engine, run, req.request_dict.get("retries", 0) or 0, start)
        planned = self.world.cuts.get(held.task_id)
        if planned is not None and planned[0] >= start:
            x.cut(*planned)
        self.pool.outcome = None
        self.world.ran = None
        crash: WorkerCrash | None = None
        with self._executing(held, x):
            try:
                req.execute_using_pool(self.pool)
            except (TaskRevokedError, ProcessTerminated):
                pass
            except WorkerCrash as exc:
                crash = exc
        if self.concurrency is not None:
            self.slots.append(x.now if crash is None else crash.at)  # a dead process frees its slot as it dies
        if x.now > start:  # the body spent virtual time: the worker reports then, and the clock gets there
            if not x.terminated:
                self.world.spans[held.task_id] = (start, x.now)
            self.kernel.schedule(x.now, _reported, owner=f"{req.task.name} (running)")
        if req._already_revoked:
            self.world.revoked(held, "expired" if req.id not in self.world.revoked_ids else "revoked")
        elif x.terminated:
            self.world.terminating(held, x)
        elif crash is not None:
            self.world.crashed(held, x, crash)
        else:
            self._settle(held, x)

    def later(self, at: int, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Call ``fn`` at ``at`` as the running task's worker would then: in its context.

        For what is reported once a body that spent virtual time has ended (a chord's
        part return, ``_backend``): from the tracer, the task and its request are current
        again, so a chord body it sends has it as parent, and an errback called inline
        runs as its code (its sleeps and HTTP calls are the task's); from the pool (a
        hard time limit's ``Request.on_failure``/``on_timeout``), no task is current.
        """
        held = self.world.executing
        if held is None:  # pragma: no cover - only what runs for a message's execution defers
            fn(*args, **kwargs)
            return
        task = self.app.current_worker_task
        request = None if task is None else task.request
        self.kernel.schedule(at, self._later, held, task, request, fn, args, kwargs,
                             owner=f"{held.message.headers['task']} (reporting)")  # fmt: skip

    def _later(self, held: Held, task: Any, request: Any, fn: Callable[..., Any], args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> None:  # fmt: skip
        engine = self.sim.engine
        now = self.kernel.now
        x = CeleryExecution(engine, held.run, held.req.request_dict.get("retries", 0) or 0, now)
        with self._executing(held, x):
            if task is not None:
                _task_stack.push(task)
                task.request_stack.push(request)
            try:
                fn(*args, **kwargs)
            finally:
                if task is not None:
                    task.request_stack.pop()
                    _task_stack.pop()
        if x.now > now:  # an errback called inline spent time: results it wrote are readable then
            self.kernel.schedule(x.now, _reported, owner=f"{held.message.headers['task']} (reporting)")

    @contextlib.contextmanager
    def _executing(self, held: Held, x: CeleryExecution) -> Iterator[None]:
        """Job code of ``held`` runs in ``x``: the engine's execution, the clock at its start, result.get()
        forbidden inside a task as a worker forbids it, the task's app current; all put back after. A fatal
        error the pool noted (``world.fatal``) is raised once the body ended without one of its own."""
        engine = self.sim.engine
        blocks = task_join_will_block()
        engine.x = x
        engine.move_clock(x.now)
        _set_task_join_will_block(True)
        self.world.executing = held
        apps = self._make_current()
        try:
            yield
        finally:
            _restore_apps(apps)
            engine.x = None
            self.world.executing = None
            _set_task_join_will_block(blocks)
        if self.world.fatal is not None:
            fatal, self.world.fatal = self.world.fatal, None
            raise fatal

    def _make_current(self) -> tuple[Any, Any]:
        """The app is current and default in a worker's pool process (``concurrency/prefork.py:
        process_initializer``), so canvas, ``@shared_task`` and ``current_app`` in task code resolve to it
        there, also for an app made with ``set_as_current=False``; returns what to restore."""
        saved = (getattr(_state._tls, "current_app", None), _state.default_app)
        self.app.set_current()
        _state.set_default_app(self.app)
        return saved

    # -- 4. outcomes ---------------------------------------------------------------------------
    def _settle(self, held: Held, x: Execution) -> None:
        failed, value, _ = self.pool.outcome or (1, None, None)
        if not failed and self.world.ran is not held and held.message.delivery_info.get("redelivered"):
            # worker_deduplicate_successful_tasks (acks_late, a persistent backend): Celery's tracer found the
            # task SUCCESS already and returned without calling the body (celery/app/trace.py, build_tracer)
            self._forget(held)
            self.world.record("celery.deduplicated", task=held.message.headers["task"], id=held.task_id,
                              run=held.task_id if held.run is not None else None)  # fmt: skip
            return
        if not failed:
            self._forget(held)
            self.world.attempt(held, x, None)
            self.world.finish(held.run, "completed", x.now, None, self.world.take_value(held))
            return
        exc = value.exception if isinstance(value, ExceptionInfo) else value
        if isinstance(exc, ExceptionWithTraceback):
            exc = exc.exc
        if isinstance(exc, Retry):
            self._forget(held)
            self.world.attempt(held, x, exc.exc if exc.exc is not None else exc)
            attempt_budget(held.run, x.now, "jobsim_celery.MAX_ATTEMPTS_PER_RUN", jobsim_celery.MAX_ATTEMPTS_PER_RUN,
                           noun="task", forever="max_retries=None", bound="max_retries=")
            self.world.retrying(held, x, exc)
        elif isinstance(exc, Ignore):
            self._forget(held)
            self.world.attempt(held, x, exc)
            self.world.finish(held.run, "skipped", x.now, exc, None)
        elif (isinstance(exc, Reject) and exc.requeue) or held.requeued:
            self.world.attempt(held, x, exc)  # on_reject already put the message back (also acks_on_timeout=False)
            # on SQS each requeue waits wait_time_seconds, so a task that always rejects never trips max_chain
            attempt_budget(held.run, x.now, "jobsim_celery.MAX_ATTEMPTS_PER_RUN", jobsim_celery.MAX_ATTEMPTS_PER_RUN,
                           noun="task", forever="Reject(requeue=True) on every delivery, or acks_on_timeout=False",
                           bound="a delivery it does not requeue (Reject(requeue=False))")
        else:
            self._forget(held)
            self.world.attempt(held, x, exc)
            self.world.finish(held.run, "failed", x.now, exc, None)

    def _forget(self, held: Held, acked: bool = False) -> None:
        self.held.discard(held)
        held.acked = held.acked or acked

    def _acker(self, held: Held) -> Any:
        def on_ack(logger: Any, errors: Any) -> None:
            held.acked = True
            self.world.settled(held)

        return on_ack

    def _rejecter(self, held: Held) -> Any:
        def on_reject(logger: Any, errors: Any, requeue: bool) -> None:
            held.acked = True  # no longer the worker's: gone, or back on the queue
            self.world.settled(held)
            self.held.discard(held)
            if requeue:
                held.requeued = True
                self.world.redeliver(held, self.sim.now_ns())

        return on_reject

    def _request_cls(self, task: Any) -> Any:
        cls = self._request_classes.get(task.name)
        if cls is None:
            base = symbol_by_name(task.Request)
            cls = create_request_cls(base, task, self.pool, self.hostname, None, trace=trace_task_ret, app=self.app)
            cls = virtual_expiry(cls)
            self._request_classes[task.name] = cls
        return cls

    # -- crashes -----------------------------------------------------------------------------
    def lose_process(self, held: Held, error: WorkerLostError) -> None:
        """A pool process died under the task: ``Request.on_failure(WorkerLostError)`` decides."""
        try:
            raise error
        except WorkerLostError:
            einfo = ExceptionInfo()
        held.req.on_failure(einfo)

    def abandon(self) -> list[Held]:
        """The whole worker died: everything it held and had not acknowledged goes back to the broker."""
        lost = [h for h in self.held if not h.acked]
        for held in list(self.held):
            if held.timer is not None:
                self.kernel.cancel(held.timer)
                held.timer = None
        for bucket in self.buckets.values():
            if bucket is not None:
                bucket.contents.clear()
        self.waiting.clear()
        self.held.clear()
        return lost


def _restore_apps(saved: tuple[Any, Any]) -> None:
    _state._set_current_app(saved[0])
    _state.set_default_app(saved[1])


def _fill_rate(task: Any) -> float:
    """``rate(task.rate_limit)``, tokens per second, or ``InvalidArgument`` where Celery's ``rate`` fails (a real
    worker does not start: ``Consumer.reset_rate_limits``)."""
    limit = getattr(task, "rate_limit", None)
    try:
        fill = rate(limit)
    except (KeyError, ValueError, TypeError):
        fill = None
    if not isinstance(fill, numbers.Real) or isinstance(fill, bool) or fill < 0:
        raise InvalidArgument.build(
            f"rate_limit of task {task.name!r}", limit, "tasks per second as a number, or a string such as '10/s', "
            "'100/m' or '1000/h' (also task_default_rate_limit and task_annotations); a real worker would not start",
        )  # fmt: skip
    return float(fill)


def _reported() -> None:
    """The instant a task that spent virtual time finishes: its result becomes readable (``_backend``)."""
