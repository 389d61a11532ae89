"""One simulation's Celery side (``sim.celery``): the apps, their workers, runs by task id, crashes.

Installing patches a Celery app for the life of the simulation and restores it on
close: ``send_task`` (publish to the simulated worker; after the close, a refusal: ``_closed``),
``producer_or_acquire`` (never connect to a broker), the result backend (``SimulatedBackend``),
``control.revoke`` (the worker's revoked set), ``task_always_eager`` (forced off —
eager mode is exactly what the simulation replaces), and each task's body (fault
injection from ``sim.fail``, crash points, capturing the return value).
"""

from __future__ import annotations

import dataclasses
import random
import signal as _signal
import uuid
from typing import TYPE_CHECKING, Any

from celery.exceptions import TaskRevokedError
from celery.platforms import signals as celery_signals
from celery.utils.nodenames import default_nodename
from celery.utils.time import maybe_iso8601
from celery.worker import state as worker_state

import jobsim
from jobsim._checks import init_keywords_checked, keywords_checked
from jobsim._events import Event
from jobsim._records import Attempt, Run
from jobsim._time import MS, instant_ns, iso
from jobsim.errors import InjectedFault, InvalidArgument, JobsimError, UnsupportedFeature
from jobsim.hooks import (
    Adapted,
    Escaped,
    end_run,
    note_test_enqueue,
    output_bytes,
    planned_instant,
    refusing_handler,
    target_rng,
)

from . import _closed, _lifecycle, _patches, _taskcheck
from ._backend import SimulatedBackend, backend_class
from ._beat import Beat
from ._broker import Publisher, producer_or_acquire
from ._crashes import KINDS, Crashes, CrashPlan
from ._revoking import Revoking
from ._visibility import Redelivery, visibility
from ._worker import Held, ProcessTerminated, Worker

if TYPE_CHECKING:
    from collections.abc import Callable

    from jobsim import Simulation

KILLING = ("SIGTERM", "SIGKILL", "SIGQUIT", "SIGHUP", "SIGABRT", "SIGALRM", "SIGUSR2")
"""Signals a prefork pool process dies of: their default action ends the process, and the
pool child neither handles nor ignores them (``concurrency/prefork.py``: WORKER_SIGRESET
resets SIGTERM and SIGHUP to the default, WORKER_SIGIGNORE ignores SIGINT; billiard
installs the soft time limit's handler on SIGUSR1)."""


@init_keywords_checked("CeleryTarget()")
@dataclasses.dataclass(slots=True)
class CeleryTarget:
    """A Celery app with worker options, e.g. ``CeleryTarget(app, beat=False, concurrency=4, queues=["emails"])``.

    ``Simulation(app)`` is ``CeleryTarget(app)``: one worker consuming the queues ``celery worker`` reads
    without ``-Q`` (``task_queues``, else ``task_default_queue``),
    no concurrency limit (``app.conf.worker_concurrency`` when set), beat running
    ``app.conf.beat_schedule``.
    """

    app: Any
    _: dataclasses.KW_ONLY
    beat: bool = True
    concurrency: int | None = None
    queues: tuple[str, ...] | list[str] | None = None
    hostname: str = "celery@jobsim"


class AppRuntime:
    """One Celery app inside a simulation: its worker, beat, backend and the patches to undo."""

    def __init__(self, world: CeleryWorld, target: CeleryTarget) -> None:
        self.app = app = target.app
        if not isinstance(target.hostname, str) or not target.hostname.rpartition("@")[2]:  # '' or 'w1@': no host
            raise InvalidArgument.build("hostname", target.hostname, "the worker's node name, as `celery worker -n` "
                                        "takes it: 'w1@box', or 'w1' (read as 'celery@w1')")  # fmt: skip
        self.hostname = default_nodename(target.hostname)  # `-n w1` names the worker celery@w1
        if not isinstance(target.beat, bool):
            raise InvalidArgument.build("beat", target.beat, "True (run app.conf.beat_schedule) or False")
        concurrency = target.concurrency
        if concurrency is not None and (isinstance(concurrency, bool) or not isinstance(concurrency, int)
                                        or concurrency < 1):  # fmt: skip
            raise InvalidArgument.build("concurrency", concurrency, "an int >= 1, or None for no limit")
        self.concurrency = concurrency if concurrency is not None else _conf_concurrency(app)
        self.queues = None if target.queues is None else frozenset(_queue_names(target.queues))
        self.consumed: frozenset[str] | None = None  # the queues the worker reads, known once it started
        self.beat_enabled = target.beat
        try:  # read by the worker and beat as they start; a name zoneinfo does not know stops both
            app.timezone  # noqa: B018
        except (KeyError, ValueError) as exc:  # zoneinfo's ZoneInfoNotFoundError is a KeyError
            raise InvalidArgument.build(
                "app.conf.timezone", app.conf.timezone, "an IANA time zone name such as 'Europe/Berlin' or "
                f"'America/New_York' (a real worker and beat would not start either: {type(exc).__name__})",
            ) from exc
        if app.conf.task_protocol != 2:  # as_task_v1 takes other arguments, and its messages another worker path
            raise UnsupportedFeature(
                f"app.conf.task_protocol={app.conf.task_protocol!r} is not simulated by jobsim-celery, which builds "
                "and reads messages of Celery's protocol 2 (the default since Celery 4.0; a Celery 4+ worker reads "
                "both): set app.conf.task_protocol = 2 for the simulation",
                system="Celery", feature="task_protocol",
            )  # fmt: skip
        # what `celery worker` and `celery beat` do as they start (Loader.init_worker): import the modules of
        # `include`/`imports` and run `autodiscover_tasks`, whose tasks a test may only send by name. Once per
        # app, as a worker process does it once (Django's fixup runs its system checks there)
        if not getattr(app.loader, "_jobsim_imported", False):
            app.loader.import_default_modules()
            app.loader._jobsim_imported = True
        # reading app.tasks finalizes the app: autodiscovered and shared tasks are in. Celery registers its own
        # tasks and @shared_task ones from a set of callbacks (celery._state._on_app_finalizers), in an order that
        # changes from process to process: sorted, the app's tasks first, so that sim.functions, the trace's
        # header and `jobsim run`'s table are the same in every run
        pending = _taskcheck.check_pending(app)  # before app.tasks evaluates them: two functions of one name, ...
        self.tasks = dict(sorted(app.tasks.items(), key=lambda item: (_builtin(item[0]), item[0])))
        _taskcheck.check_tasks(app, self.tasks, pending)
        self.functions: dict[str, jobsim.Function] = {}
        self.fapp = jobsim.App(f"celery:{app.main or 'app'}")
        for name in self.tasks:
            self.declare(name)
        self.publisher = Publisher(world, self)
        self.visibility = visibility(app, 0)  # the broker's redelivery of unacknowledged messages (_visibility)
        self.unacked: dict[Any, tuple[int, Held]] = {}  # delivery tag -> (fetched, newest copy) of held ETA messages
        self.scans: dict[int, dict[Any, int]] = {}  # instant -> {delivery tag: eta} to look at then
        self.worker: Worker | None = None
        self.beat: Beat | None = None
        self.saved: dict[str, Any] = {}
        self.wrapped: list[tuple[Any, str, Any]] = []

    def declare(self, name: str, add: Callable[[jobsim.Function], None] | None = None) -> jobsim.Function:
        """Task ``name``'s function; ``add`` (``sim.add_function``, for a task registered after the build) is
        called before it is recorded here, so a function the simulation refuses is registered nowhere."""
        task = self.app.tasks[name]
        # native: sim.runs(task) finds it; builtin: `jobsim run`'s table leaves it out when it never ran
        options = {"celery": True, "native": task, "builtin": _builtin(name)}
        fn = jobsim.Function(id=name, handler=_not_an_event_handler(name), app=self.fapp, options=options)
        if add is not None:
            add(fn)
        self.tasks[name] = task
        self.fapp.functions[name] = fn
        self.functions[name] = fn
        return fn

    def consumes(self, queue: str) -> bool:
        """The worker reads ``queue``: the queues it consumes (``_lifecycle.queues``), or before it set them up
        (a task sent by a ``celeryd_init``/``worker_init`` handler) those of ``-Q``, if given."""
        if self.consumed is None:
            return self.queues is None or queue in self.queues
        return queue in self.consumed


class CeleryWorld(Revoking, Crashes, Redelivery):
    """``sim.celery``: every Celery app of one simulation (revokes sent in ``_revoking``, crashes in ``_crashes``)."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.apps: list[AppRuntime] = []
        self.ids = random.Random(f"jobsim-celery-ids:{sim.seed}")
        self.runs: dict[str, Run] = {}
        self.pending: dict[str, Held] = {}  # task id -> newest message not yet received
        self.values: dict[str, Any] = {}
        self.plans: list[CrashPlan] = []
        self.revoked_ids: set[str] = set()
        self.cuts: dict[str, tuple[int, int]] = {}  # task id -> (instant, signum) of a revoke(terminate=True) to come
        self.spans: dict[str, tuple[int, int]] = {}  # task id -> (start, end) of its last body, run in one go
        self.fatal: JobsimError | None = None  # raised in a task body, re-raised once the body is over
        self.escaped = Escaped(sim, "celery: a jobsim error a signal receiver raised")  # outside a task
        self.killed: dict[str, Held] = {}  # task id -> the message whose body stopped at its cut, until the revoke
        self.unconsumed: list[Held] = []
        self.senders: dict[str, tuple[str, Run | None]] = {}  # task id -> (origin, cause) of a task sent by name
        # before its module registered it: its run is made when the message arrives, its sender's gone by then
        self.executing: Held | None = None
        self.ran: Held | None = None  # the message whose body the tracer last called (a deduplicated copy's is not)
        self.beat_entry: str | None = None  # the beat entry being sent, for run labels
        self._requests: list[Any] = []
        self._installed = False

    # -- adapting -------------------------------------------------------------------------
    def adopt(self, target: CeleryTarget) -> Adapted:
        if any(rt.app is target.app for rt in self.apps):
            raise InvalidArgument(f"Celery app {target.app.main!r} is passed to this Simulation twice")
        rt = AppRuntime(self, target)
        self.apps.append(rt)
        return Adapted(
            backend="celery", functions=list(rt.functions.values()),
            install=lambda sim: self.install(rt), uninstall=lambda sim: self.uninstall(rt), profile="celery",
            own_worker=True,
        )  # fmt: skip

    def new_id(self, task: str | None = None) -> str:
        """A uuid4-shaped id for a message of ``task`` (a task name), drawn from that task's own stream
        (``sim.rng_for``): a task that sends more moves no other task's ids. An id of no one task (a chord's
        when Celery gives none) and every id under ``random_streams="shared"`` come from the plugin's own."""
        sim = self.sim
        rng = self.ids if task is None or sim.random_streams == "shared" else target_rng(sim, task)
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def install(self, rt: AppRuntime) -> None:
        app = rt.app
        if getattr(app, "_jobsim_world", None) is not None:
            raise JobsimError(f"Celery app {app.main!r} is already running in another simulation; close that one first")
        if not self._installed:
            _patches.push(self)
            self._installed = True
        own = app.__dict__.get("send_task")
        _closed.reopen(app)  # a closed simulation's refusals of connections and remote control
        rt.saved = {
            "send_task": None if _closed.is_closed(own) else own,  # a closed simulation's refusal: not kept
            "producer_or_acquire": app.__dict__.get("producer_or_acquire"),
            "backend_cache": app._backend_cache,
            "conf_class": _patches.no_eager(app),  # task_always_eager reads False, however it is set
            "revoke": app.control.__dict__.get("revoke"),
        }
        app._jobsim_world = self
        app.send_task = rt.publisher.send_task
        app.producer_or_acquire = producer_or_acquire
        app._backend_cache = backend_class(app)(app, self.sim)
        app.control.revoke = self._revoker(rt)
        for task in rt.tasks.values():
            self._wrap(rt, task)
        rt.worker = Worker(self, rt)
        rt.visibility.origin = self.sim.kernel.now  # the worker starts polling: kombu's first restore_visible
        app._backend_cache.later = rt.worker.later
        beat = bool(rt.beat_enabled and app.conf.beat_schedule)
        rt.consumed = _lifecycle.started(rt, beat)
        if beat:
            rt.beat = Beat(self, rt)
            rt.beat.start()

    def uninstall(self, rt: AppRuntime) -> None:
        app = rt.app
        if not rt.saved:  # install refused it before patching (running in another simulation): that one's, untouched
            return
        _lifecycle.stopping(rt)
        for task, attr, original in reversed(rt.wrapped):
            if original is None:
                task.__dict__.pop(attr, None)
            else:
                setattr(task, attr, original)
            task.__trace__ = None
        rt.wrapped.clear()
        for name in ("send_task", "producer_or_acquire"):
            if rt.saved.get(name) is None:
                app.__dict__.pop(name, None)
            else:
                setattr(app, name, rt.saved[name])
        if rt.saved.get("send_task") is None:  # sending after the close would reach the real broker
            app.send_task = _closed.closed_send_task(app, self.sim)
            _closed.refuse_after(app, self.sim)  # and so would its connections and remote control
        if rt.saved.get("revoke") is None:
            app.control.__dict__.pop("revoke", None)
        else:
            app.control.revoke = rt.saved["revoke"]
        app._backend_cache = rt.saved.get("backend_cache")
        _patches.eager_back(app, rt.saved["conf_class"])
        app._jobsim_world = None
        if all(getattr(other.app, "_jobsim_world", None) is not self for other in self.apps):
            self._cleanup_worker_state()
            _patches.pop(self)
            self._installed = False

    def _cleanup_worker_state(self) -> None:
        """Celery's worker keeps process-wide sets; leave none of this simulation's ids in them."""
        for task_id in list(self.runs) + [h.task_id for h in self.unconsumed]:
            worker_state.revoked.discard(task_id)
            worker_state.successful_requests.discard(task_id)
            worker_state.requests.pop(task_id, None)
        for req in self._requests:
            worker_state.active_requests.discard(req)
            worker_state.reserved_requests.discard(req)
            worker_state.scheduled_requests.discard(req)
        self._requests.clear()

    def track(self, req: Any) -> None:
        self._requests.append(req)

    def keep(self, error: BaseException) -> None:
        """A jobsim error a signal receiver raised, which Celery's ``Signal.send`` logged and went on from
        (``_patches``): it stops the test. Sent while a task runs (``task_prerun``, ``task_postrun``,
        ``task_success``, ``task_failure``, ``task_retry``, a publish from the task), it is raised once the body is
        over (``world.fatal``, as a body's own); else (``task_received``, ``task_revoked``, a publish from the test
        or beat, the worker's start-up signals) by a timer due at once: the driving call running, or the next one,
        raises it. The first one is kept."""
        if not isinstance(error, JobsimError):  # escapes() also takes BaseExceptions, which send does not catch
            return
        if self.executing is not None:
            if self.fatal is None:
                self.fatal = error
            return
        self.escaped.keep(error)

    def _wrap(self, rt: AppRuntime, task: Any) -> None:
        attr = "_orig_run" if "_orig_run" in task.__dict__ else "run"
        inner = getattr(task, attr)
        world = self

        def body(*args: Any, **kwargs: Any) -> Any:
            request = task.request
            held = world.executing
            if held is None or request.called_directly or request.id != held.task_id:
                return inner(*args, **kwargs)  # called as a plain function, not as this message's body
            world.ran = held
            fault = world.sim.engine.take_fault(task.name, None)
            try:
                if fault is not None:
                    raise _unretried(task, fault)
                value = inner(*args, **kwargs)
            except ProcessTerminated:
                raise
            except BaseException:
                world._maybe_crash(task.name)
                raise
            world._maybe_crash(task.name)
            world.values[request.id] = value
            return value

        body.__wrapped__ = inner  # type: ignore[attr-defined]
        rt.wrapped.append((task, attr, task.__dict__.get(attr)))
        setattr(task, attr, body)
        task.__trace__ = None  # the tracer caches the body it calls; rebuild it around ours

    def _revoker(self, rt: AppRuntime) -> Any:
        def revoke(task_id: Any, destination: Any = None, terminate: bool = False, signal: Any = None,
                   **kwargs: Any) -> None:  # fmt: skip
            """``app.control.revoke``: the worker runs its ``revoke`` command at the caller's virtual instant."""
            ids = _task_ids(task_id)
            signum = _signum(signal) if terminate else 0
            self._revoke_at(rt, ids, self.sim.now_ns(), bool(terminate), signum)

        return revoke

    @keywords_checked("sim.celery.revoke()")
    def revoke(self, task: Any, *, at: Any = None, terminate: bool = False, signal: Any = None) -> None:
        """Revoke ``task`` (a task id, an ``AsyncResult``, a ``Run``, or a list) at ``at`` (default: now).

        ``app.control.revoke`` called by the test revokes *now*; this plans a revoke
        ahead, which ``terminate=True`` needs for a task that will be running then: a
        task body runs to its end in one go when it starts, so its kill at ``at`` must
        be known before it starts (see the README, "revoke(terminate=True)").
        """
        ids = _task_ids(getattr(task, "id", task) if not isinstance(task, (list, tuple, set)) else
                        [getattr(t, "id", t) for t in task])  # fmt: skip
        at_ns = planned_instant(self.sim, at, "a revoke")  # inside a task body: from that body's instant
        if not isinstance(terminate, bool):
            raise InvalidArgument.build("terminate", terminate, "True or False")
        signum = _signum(signal) if terminate else 0
        self._revoke_at(self._app_of(ids[0]), ids, at_ns, terminate, signum)

    # -- the broker side -------------------------------------------------------------------
    def published(self, rt: AppRuntime, message: Any, queue: str, parent: Any) -> None:
        headers = message.headers
        task_id, name = headers["id"], headers["task"]
        now = self.sim.now_ns()
        run = self.runs.get(task_id)
        fn = self._function(rt, name)
        if run is None and fn is not None:
            run = self._new_run(fn, task_id, headers, parent, now)
        elif run is None:
            self.senders[task_id] = self._sender(headers, parent)
        eta = headers.get("eta")
        self.record("celery.send", task=name, id=task_id, run=task_id if run else None, queue=queue,
                    retries=headers.get("retries", 0), eta=None if eta is None else _ns(eta, rt.app),
                    **_expires(headers, rt.app))  # fmt: skip
        held = Held(rt, message, queue, run, now)
        if not rt.consumes(queue):
            self.unconsumed.append(held)
            return
        self.pending[task_id] = held
        self.sim.kernel.schedule(now, self._receive, rt, held, owner=name)
        if run is not None and (eta is None or _ns(eta, rt.app) <= now):  # an ETA ahead is the test's business
            note_test_enqueue(self.sim, run)  # the test's delay() only queues, as sim.send's (PendingWorkWarning)

    def _receive(self, rt: AppRuntime, held: Held) -> None:
        if self.pending.get(held.task_id) is held:
            del self.pending[held.task_id]
        if held.run is None:
            held.run = self.runs.get(held.task_id)
        if held.run is None:  # sent by name before a module registering the task was imported
            fn = self._function(rt, held.message.headers["task"])
            if fn is not None:
                held.run = self._new_run(fn, held.task_id, held.message.headers, None, self.sim.now_ns(),
                                         sender=self.senders.pop(held.task_id, None))  # fmt: skip
        assert rt.worker is not None
        rt.worker.receive(held)

    def _function(self, rt: AppRuntime, name: str) -> jobsim.Function | None:
        """The simulated function of task ``name``, declared now if the task was registered on the app after the
        Simulation was built (a module of tasks imported inside the ``with``): a real worker runs it too."""
        fn = rt.functions.get(name)
        if fn is None and name in rt.app.tasks:
            fn = rt.declare(name, add=lambda fn: self.sim.add_function(fn, own_worker=True))
            self._wrap(rt, rt.tasks[name])
        return fn

    def _new_run(self, fn: jobsim.Function, task_id: str, headers: dict[str, Any], parent: Any, now: int, *,
                 sender: tuple[str, Run | None] | None = None) -> Run:  # fmt: skip
        origin, cause = sender if sender is not None else self._sender(headers, parent)
        data = {"task": fn.id, "id": task_id, "args": headers.get("argsrepr"), "kwargs": headers.get("kwargsrepr")}
        run = Run(fn, task_id, [Event("celery/task", data, id=task_id, ts=now // MS)], now)
        if cause is not None:  # a task that queues itself forever stops after max_chain runs
            self.sim.engine.descend(run, cause=cause)
        self.runs[task_id] = run
        runs = self.sim.engine.runs[fn.id]
        runs.append(run)
        self.record("run.start", function=fn.id, run=task_id, n=len(runs), event=origin)
        return run

    def _sender(self, headers: dict[str, Any], parent: Any) -> tuple[str, Run | None]:
        """What sent a message (the run's label) and the run that did, read as it is sent."""
        return self._origin(headers, parent), None if parent is None else self.runs.get(parent.request.id)

    def _origin(self, headers: dict[str, Any], parent: Any) -> str:
        if headers.get("celery_beat_task") and self.beat_entry is not None:
            return f"beat entry {self.beat_entry!r}"
        if parent is not None:
            parent_run = self.runs.get(parent.request.id)
            if parent_run is not None:
                n = self.sim.engine.runs[parent_run.function.id].index(parent_run) + 1
                return f"{parent_run.function.id}#{n}"
        return "apply_async"

    # -- outcomes -----------------------------------------------------------------------------
    def attempt(self, held: Held, x: Any, error: BaseException | None, end: int | None = None) -> None:
        run = held.run
        end = x.now if end is None else end
        run.attempts.append(Attempt(x.attempt, None, x.start, end, error))
        data: dict[str, Any] = {"function": run.function.id, "run": run.id, "step": None, "attempt": x.attempt}
        if error is not None:
            data["error"] = f"{type(error).__name__}: {error}"
        if held.message.delivery_info.get("redelivered"):
            data["redelivered"] = True
        self.sim.trace.add(x.start, "attempt", data)
        run.status = "running"

    def retrying(self, held: Held, x: Any, retry: Any) -> None:
        run = held.run
        nxt = self.pending.get(run.id)
        run.status = "retrying"
        if nxt is None:
            return  # Retry raised by hand without a new message: Celery leaves it in RETRY too
        eta = nxt.message.headers.get("eta")
        at = x.now if eta is None else _ns(eta, nxt.rt.app)
        self.sim.trace.add(x.now, "retry", {"function": run.function.id, "run": run.id, "step": None,
                                            "attempt": nxt.message.headers.get("retries", 0),
                                            "at": at, "delay": max(0, at - x.now)})  # fmt: skip

    def finish(self, run: Run, status: str, at: int, error: BaseException | None, value: Any) -> None:
        if value is not None:
            run._payload = output_bytes(value)
        end_run(self.sim, run, status, at, error)

    def take_value(self, held: Held) -> Any:
        return self.values.pop(held.task_id, None)

    def revoked(self, held: Held, reason: str, signum: int = 0) -> None:
        assert held.rt.worker is not None
        held.rt.worker.held.discard(held)
        now = self.sim.now_ns()
        extra: dict[str, object] = {"signum": signum, "signal": _signal.Signals(signum).name} if signum else {}
        if reason == "expired":
            extra.update(_expires(held.message.headers, held.rt.app))
        self.record("celery.revoked", task=held.message.headers["task"], id=held.task_id, reason=reason,
                    run=held.task_id if held.run is not None else None, **extra)
        if held.run is not None and not held.run.done:
            self.finish(held.run, "cancelled", now, TaskRevokedError(reason), None)

    def record(self, kind: str, **data: Any) -> None:
        self.sim.trace.add(self.sim.now_ns(), kind, data)

    def _name_of(self, task_id: str) -> str | None:
        run = self.runs.get(task_id)
        return None if run is None else run.function.id

    # -- crashes --------------------------------------------------------------------------------
    @keywords_checked("sim.celery.crash_worker()")
    def crash_worker(self, at: Any = None, function: Any = None, *, kind: str = "worker") -> None:
        """Kill the worker, as ``kill -9`` would, while a task runs (see the README for what follows)."""
        if kind not in KINDS:
            raise InvalidArgument.build(
                "kind", kind, "'worker' (the whole worker node dies) or 'process' (one pool process)"
            )
        name = None if function is None else self._task_name(function)
        at_ns = None if at is None else instant_ns(at, "at", tz=self.sim.tz)
        now = self.sim.kernel.now
        if at_ns is not None and at_ns < now:
            raise InvalidArgument(
                f"at={at!r} is in the past: the simulation is at {iso(now)}; a crash can only be planned ahead"
            )
        if kind == "process" and at_ns is not None and name is None:
            raise InvalidArgument("kind='process' kills the pool process running a task: give function= too")
        plan = CrashPlan(at=at_ns, function=name, kind=kind)
        self.plans.append(plan)
        if at_ns is not None and name is None:
            self.sim.kernel.schedule(at_ns, self._crash_timer, plan, owner="celery crash", priority=0)

    # -- helpers for users ------------------------------------------------------------------------
    @keywords_checked("sim.celery.result()")
    def result(self, task: Any) -> Any:
        """The ``AsyncResult`` of a run or task id, read from the simulated result backend."""
        task_id = getattr(task, "id", task)
        for rt in self.apps:
            if task_id in self.runs and self.runs[task_id].function.id in rt.functions:
                backend = rt.app.backend
                if isinstance(backend, SimulatedBackend):  # NoResultBackend refuses to read: the simulation may
                    backend = backend.readable()
                return rt.app.AsyncResult(task_id, backend=backend)
        raise InvalidArgument.build("task", task, "a Run or a task id of this simulation")

    def __repr__(self) -> str:
        return f"<jobsim Celery world apps={[rt.app.main for rt in self.apps]} runs={len(self.runs)}>"


def _unretried(task: Any, fault: BaseException) -> BaseException:
    """``sim.fail``'s default ``InjectedFault`` where the task's ``autoretry_for`` does not list it fails the task at
    once: say so, and what to give ``sim.fail`` to exercise the retries (a user's ``error=`` is left as it is)."""
    retry_for = tuple(getattr(task, "autoretry_for", None) or ())
    try:
        if type(fault) is not InjectedFault or not retry_for or isinstance(fault, retry_for):
            return fault
    except TypeError:  # not classes: Celery's own autoretry fails on it too
        return fault
    names = [c.__qualname__ if c.__module__ == "builtins" else f"{c.__module__}.{c.__qualname__}" for c in retry_for]
    listed = f"({names[0]},)" if len(names) == 1 else f"({', '.join(names)})"
    return InjectedFault(
        f"{fault}; the task's autoretry_for={listed} does not retry it: to exercise its retries, give sim.fail an "
        f"error it lists, e.g. error={names[0]}('down')"
    )


def _task_ids(task_id: Any) -> list[str]:
    ids = [task_id] if isinstance(task_id, str) else list(task_id) if isinstance(task_id, (list, tuple, set)) else None
    if not ids or not all(isinstance(one, str) and one for one in ids):
        raise InvalidArgument.build("task_id", task_id, "a task id (str), an AsyncResult, or a list of them")
    return ids


def _signum(signal: Any) -> int:
    """Celery's ``platforms.signals.signum`` (``'TERM'``, ``'SIGKILL'``, ``9``), kept to killing signals."""
    try:
        signum = celery_signals.signum(signal or "SIGTERM")
        name = _signal.Signals(signum).name
    except (TypeError, AttributeError, ValueError):
        raise InvalidArgument.build(
            "signal", signal, "an uppercase signal name ('SIGTERM', 'TERM', 'KILL') or its number, as Celery reads it"
        ) from None
    if name in KILLING:
        return int(signum)
    why = {
        "SIGUSR1": "a prefork pool process handles SIGUSR1 by raising SoftTimeLimitExceeded inside the task, "
                   "and time limits are not simulated",
        "SIGINT": "a prefork pool process ignores SIGINT (WORKER_SIGIGNORE): the task would run on although "
                  "already marked REVOKED, which is not simulated",
    }.get(name, f"{name} does not end a pool process (its default action is not to terminate)")  # fmt: skip
    raise UnsupportedFeature(f"revoke(terminate=True, signal={signal!r}): {why}; jobsim simulates the signals a "
                             f"pool process dies of: {', '.join(KILLING)}")  # fmt: skip


def _ns(eta: str, app: Any) -> int:
    from celery.utils.time import maybe_make_aware

    return instant_ns(maybe_make_aware(maybe_iso8601(eta), app.conf.timezone))


def _expires(headers: dict[str, Any], app: Any) -> dict[str, int]:
    """A message's ``expires`` for its trace records: ``{"expires": ns}``, or nothing when it has none."""
    expires = headers.get("expires")
    return {} if expires is None else {"expires": _ns(expires, app)}


def _conf_concurrency(app: Any) -> int | None:
    """``app.conf.worker_concurrency`` read as ``WorkController.setup_instance`` reads it (Celery 5.7).

    A string of digits (set from an environment variable) is that number. Unset, ``0``
    and ``"auto"`` size the pool from the machine's CPUs there; here they mean no limit,
    so that a simulation's history does not depend on the machine. What Celery would
    only log a warning about (another string, a negative number) is refused.
    """
    from celery.utils.sysinfo import is_auto_concurrency

    value = app.conf.worker_concurrency
    if isinstance(value, str) and not is_auto_concurrency(value):
        try:
            value = int(value)
        except ValueError:
            value = None if not value.strip() else value
    if value is None or value == 0 or (isinstance(value, str) and is_auto_concurrency(value)):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument.build(
            "app.conf.worker_concurrency", value, "an int >= 1 (or a string of digits); 0, None or 'auto' for the "
            "machine's CPU count on a real worker, no limit in jobsim. A fixed pool size for the simulation: "
            "CeleryTarget(app, concurrency=N)")  # fmt: skip
    return value


def _queue_names(queues: Any) -> list[str]:
    if isinstance(queues, str):  # as `celery worker -Q celery,emails` splits it (celery.utils.text.str_to_list)
        names = [name.strip() for name in queues.split(",") if name.strip()]
        if not names:
            raise InvalidArgument.build("queues", queues, "queue names (or kombu Queues), e.g. ['celery', 'emails']")
        return names
    names = []
    if not isinstance(queues, (list, tuple, set, frozenset)):
        raise InvalidArgument.build("queues", queues, "queue names (or kombu Queues), e.g. ['celery', 'emails']")
    for queue in queues:
        name = getattr(queue, "name", queue)
        if not isinstance(name, str) or not name:
            raise InvalidArgument.build("queues", queues, "queue names (or kombu Queues), e.g. ['celery', 'emails']")
        names.append(name)
    return names


def _not_an_event_handler(name: str) -> Any:
    return refusing_handler(f"Celery task {name!r} runs from delay()/apply_async()/beat, not from jobsim events")


def _builtin(name: str) -> bool:
    """Whether ``name`` is one of Celery's own tasks (``celery.chord_unlock``, ``celery.backend_cleanup``, ...:
    celery/app/builtins.py names each ``celery.<what>``)."""
    return name.startswith("celery.")
