"""The plugin contract: pluggy hook specifications for project ``jobsim``.

A plugin is a module (or object) with functions marked ``@jobsim.hooks.hookimpl``,
published under the ``jobsim`` entry-point group::

    [project.entry-points.jobsim]
    celery = "jobsim_celery.plugin"

jobsim loads entry points the first time a ``Simulation`` is built (``import
jobsim`` imports no plugin and no backend). A plugin that fails to import raises
``jobsim.errors.PluginError`` naming the entry point, its module and the reason.
A plugin that is not installed (a plugin's own tests) is registered by hand with
``register(plugin, name=...)`` and removed with ``unregister(plugin)``; registering
one that is registered already (an installed plugin, loaded from its entry point)
is a ``PluginError``.

jobsim's own parts use the same hooks: the built-in profiles are registered by
``jobsim_profiles``, the mail and HTTP sinks install through ``jobsim_install``
and ``jobsim_uninstall``, and the timeline learns how to draw each trace record
kind through ``jobsim_record_kinds``. Hook names are prefixed ``jobsim_`` so a
misspelt implementation fails at registration: ``@hookimpl def jobsim_instal(sim)``
is a ``PluginError`` naming the plugin and ``jobsim_install``, as is a hook whose
arguments the spec does not have. A hook that raises (but a jobsim error, such as
``InvalidArgument`` for a malformed target, which passes as raised), or answers
``jobsim_adapt`` or ``jobsim_profiles`` with the wrong type, raises ``PluginError``
naming the plugin and the hook, chained to the original error (``jobsim_unread`` and
``jobsim_uninstall`` excepted: the close calls them one by one).

Order: pluggy calls implementations last-registered first. Entry-point plugins
register after the built-ins, so their ``jobsim_install`` runs first; jobsim calls
``jobsim_uninstall`` in the reverse order of ``jobsim_install``.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import importlib
import inspect
import random
import sys
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import pluggy

from ._aio import PumpedLoop, PumpedWorld
from ._blocking import LoopHolder, gate_while_blocked
from ._execution import StoppableExecution
from ._logged import LogWatch
from ._safe import shown
from ._time import iso
from ._unread import PendingTurn, Unread
from .errors import BudgetExceeded, InvalidArgument, JobsimError

if TYPE_CHECKING:
    from ._app import Function
    from ._events import Event
    from ._profiles import Profile
    from ._simulation import Simulation

__all__ = [
    "Adapted", "ClassGuard", "Escaped", "LogWatch", "LoopHolder", "PendingTurn", "ProcessPatches", "PumpedLoop",
    "PumpedWorld", "RecordRenderer", "StoppableExecution", "Unread", "attempt_budget", "end_run", "escapes",
    "gate_while_blocked", "guard_hooks", "hookimpl", "hookspec", "note_test_enqueue", "note_test_turn", "output_bytes",
    "planned_instant", "refusing_handler", "register", "target_rng", "unregister", "warn_outside",
]

W = TypeVar("W")

_GUARDS: weakref.WeakSet[ClassGuard] = weakref.WeakSet()
"""Every ``ClassGuard`` made (``ClassGuard.release_unstarted``)."""

hookspec = pluggy.HookspecMarker("jobsim")
hookimpl = pluggy.HookimplMarker("jobsim")

RecordRenderer = Callable[[dict[str, Any], dict[str, str], Any], "str | None"]
"""``(data, run_names, tz) -> text``: one timeline line for a record, or None to hide it."""


def register(plugin: object, name: str | None = None) -> None:
    """Register ``plugin`` (a module or object with ``@hookimpl`` functions) by hand, for the simulations built
    from now on: a plugin's own tests, or one that is not installed. An installed plugin is loaded from its
    ``jobsim`` entry point already: registering it again, or any plugin twice, or under a name another has, is a
    ``PluginError`` saying so. Undo it with ``unregister`` (in a ``finally``, or a fixture's teardown)."""
    from . import _plugins

    _plugins.register(plugin, name)


def unregister(plugin: object) -> None:
    """Remove a plugin ``register`` registered."""
    from . import _plugins

    _plugins.unregister(plugin)


def output_bytes(value: Any) -> bytes:
    """A run's output as a plugin stores it (``run._payload``): JSON bytes, with keys and values JSON
    cannot hold (a ``datetime``, an object a task returned) written as their ``str``. What orjson refuses even
    so (an int past 64 bits, nesting past 254 levels, a ``str`` that raises) is written by the standard library's
    encoder, or else as its ``repr``: the run keeps an output rather than losing it to a ``TypeError``. The
    standard library's text is a ``Wide``, which ``run.output`` reads back with it: an int past 64 bits stays
    that int (orjson would read it as a float); a saved trace holds it as a float, as it does every output."""
    import orjson

    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str)
    except TypeError:
        import json

        from ._events import Wide

        try:
            return Wide(json.dumps(value, default=str, separators=(",", ":")).encode())
        except Exception:  # RecursionError, a circular list, a key or str() that raises
            return orjson.dumps(shown(value))


def escapes(exc: BaseException | None) -> bool:
    """True for an exception that must leave a plugin's worker instead of failing the job that raised it:
    jobsim's own errors (a budget, a refused call) stop the test as in any simulation, and so do
    KeyboardInterrupt and the other ``BaseException``s that are not ``SystemExit``. A plugin whose
    backend treats some ``BaseException`` as a job failure (Dramatiq's interrupts) excepts those itself.
    ``UnmatchedRequest`` does not escape: it is a network failure the job meets (an ``httpx.ConnectError``), which
    the backend retries as jobsim's own functions do, and the pytest fixture lists at teardown (it stopped the
    test at once under a plugin's worker, where the README promises a retry)."""
    if isinstance(exc, _unmatched_request()):
        return False
    return isinstance(exc, JobsimError) or (exc is not None and not isinstance(exc, Exception | SystemExit))


def _unmatched_request() -> type[BaseException] | tuple[()]:
    """``jobsim._http.UnmatchedRequest`` once the HTTP sink is loaded (none can have been raised before)."""
    http = sys.modules.get("jobsim._http")
    return http.UnmatchedRequest if http is not None else ()


def warn_outside(message: str | Warning, category: type[Warning] | None, *packages: Any) -> None:
    """Warn at the first caller outside jobsim, asyncio and ``packages`` (modules: the plugin's package, its
    library's): the test's ``sim.advance(...)`` line for a warning raised while the simulation drives a worker,
    rather than a line of the plugin or the library that pytest's summary would otherwise name."""
    import asyncio
    import os

    dirs = tuple(os.path.dirname(m.__file__) + os.sep for m in (sys.modules[__package__], asyncio, *packages)
                 if getattr(m, "__file__", None))  # fmt: skip
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(dirs):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level + 1)


def refusing_handler(message: str) -> Callable[[Any], None]:
    """The handler of a ``Function`` a plugin's own worker runs: reached through jobsim events
    instead, it raises ``JobsimError(message)``, which says what runs the job."""

    def handler(ctx: Any) -> None:
        raise JobsimError(message)

    return handler


def end_run(sim: Simulation, run: Any, status: str, at: int, error: BaseException | None = None,
            **fields: Any) -> None:
    """A plugin's own worker ends ``run`` at ``at``: its status, end and error set, and its ``run.end``
    record written as the engine writes one -- the error as ``Class: message`` (safe from a ``__str__``
    that raises), else the output the plugin stored (``run._payload``, ``output_bytes``) -- with the
    plugin's own ``fields`` added (``why=``, ``dead_lettered=``)."""
    from ._safe import said

    run.status, run.end_ns, run.error = status, at, error
    data: dict[str, Any] = {"function": run.function.id, "run": run.id, "status": status}
    if error is not None:
        data["error"] = said(error)
    elif run._payload is not None:
        data["output"] = run._payload
    data.update(fields)
    sim.trace.add(at, "run.end", data)


def attempt_budget(run: Any, at: int, knob: str, limit: int, *, noun: str, forever: str, bound: str) -> None:
    """Stop the simulation when ``run`` is about to retry after ``limit`` attempts: a job the library
    retries without end (or 10**9 times) never lets ``run_until_idle`` go idle, and each attempt costs
    real milliseconds, so it would look like a hang. Call it where the plugin schedules the retry.

    ``knob`` names the plugin's setting (``"jobsim_rq.MAX_ATTEMPTS_PER_RUN"``), ``noun`` what the
    library calls a run's function (``"task"``, ``"actor"``, ``"job"``), ``forever`` the configuration
    that retries without end, ``bound`` the option that ends it."""
    made = len(run.attempts)
    if made >= limit:
        raise BudgetExceeded(
            f"{noun} {run.function.id!r} (id {run.id}) asked to retry after {made:,} attempts, the last at "
            f"{iso(at)}; {'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun} that retries forever ({forever}) never "
            "lets the simulation go idle. "
            f"Give it {bound}, or raise {knob} (now {limit:,}) if that many retries are the point."
        )


def target_rng(sim: Simulation, name: str) -> random.Random:
    """The stream a plugin draws from for its target ``name`` outside job code (the id of a message the test
    sends): a function's own stream (``sim.rng_for(name)``) when ``name`` is one's id, else one seeded the same
    way from ``name`` -- a task sent by a name no task of the app has, a queue no worker serves -- which
    ``sim.rng_for``, taking simulated functions only, refuses. ``sim.rng`` under ``random_streams="shared"``.

    A ``name`` that is the id of a function of a ``jobsim.App`` the test passed (``@app.function("emails")``
    and a Celery task sent as ``"emails"`` that the Celery app does not have) is no plugin's target: it gets a
    stream of its own (seeded from ``"jobsim-target:<seed>:<name>"``), so the plugin's draws move none of that
    function's. Every other name's stream is as before."""
    return sim._target_stream(name)


class Escaped:
    """The first jobsim error raised where a backend's own code catches and logs it (a Celery signal receiver, an
    APScheduler listener, a Dramatiq middleware hook), raised in the test instead.

    ``keep(error)`` holds it and schedules a timer due at once on the kernel, ahead of anything else due then, which
    raises it: the driving call running stops there, or, for an error of a call the test made between driving
    calls, the next one does. Errors kept before it is raised are dropped (the first is the news); ``error`` is the
    one held, if any. ``owner`` names the timer in a budget's report.
    """

    def __init__(self, sim: Simulation, owner: str) -> None:
        self._sim = sim
        self._owner = owner
        self.error: BaseException | None = None

    def keep(self, error: BaseException) -> None:
        if self.error is not None:
            return
        self.error = error
        from ._kernel import URGENT

        self._sim.kernel.schedule(self._sim.kernel.now, self._raise, priority=URGENT, owner=self._owner)

    def _raise(self) -> None:
        error, self.error = self.error, None
        if error is not None:
            raise error


def note_test_enqueue(sim: Simulation, run: Any) -> None:
    """A plugin's enqueue has queued ``run`` (a jobsim ``Run``) for a worker, due now. Made by the test (between
    driving calls), it only queues, as ``sim.send`` does: if the simulation closes with the run still ``queued``
    and work due that no driving call let run, it warns (``jobsim.PendingWorkWarning``), since
    ``sim.mail.outbox == []`` would pass for that reason. Job code's enqueues (inside a driving call) are not the
    test's: nothing is noted. A run the test then drops (a flushed queue, a deleted job) is no longer ``queued``."""
    if not sim.kernel.running:
        sim._undriven_runs.append(run)


def note_test_turn(sim: Simulation, timer: Any, describe: Callable[[], str | None]) -> None:
    """``note_test_enqueue`` for a backend whose test calls queue no run of their own but make due now a turn of the
    backend's loop (``timer``, a kernel timer) that will start work (APScheduler's ``wakeup()`` after the test's
    ``add_job``). As the simulation closes, before the backend uninstalls, ``describe()`` names the work that turn
    would start (``"report (apscheduler job)"``), or gives None if there is none any more; if there is, and
    ``timer`` is still pending and due, it warns (``jobsim.PendingWorkWarning``). From job code (inside a driving
    call) nothing is noted."""
    if not sim.kernel.running:
        sim._undriven_runs.append(PendingTurn(timer, describe))


def planned_instant(sim: Simulation, at: Any, what: str, name: str = "at") -> int:
    """The instant (epoch ns) a plugin's ``at=`` names for ``what`` (``"a crash"``): now when None, an
    ISO string or datetime read in the simulation's zone, refused when it is already past (inside job code,
    "now" is that code's instant)."""
    from ._time import instant_ns, iso
    from .errors import InvalidArgument

    now = sim.now_ns()
    at_ns = now if at is None else instant_ns(at, name, tz=sim.tz)
    if at_ns < now:
        raise InvalidArgument(f"{name}={at!r} is in the past: the simulation is at {iso(now)}; {what} can only be "
                              "planned now or ahead")  # fmt: skip
    return at_ns


_MISSING: Any = object()


class ProcessPatches(Generic[W]):
    """A backend library patched process-wide while one simulation drives it (a plugin's ``_patches.py``).

    ``ProcessPatches("Huey instances", "jobsim-huey replaces Huey's clock and ids")``; then
    ``push(world, patch)`` at ``jobsim_install`` makes ``world`` (the plugin's state for that
    simulation) ``current`` and calls ``patch(world)``, which replaces what it must with ``set``.
    A second simulation while one runs is refused with a ``JobsimError`` that says so: the patches
    are global, and two worlds would answer each other's calls. If ``patch`` raises, everything set
    so far is restored. ``pop(world)`` at ``jobsim_uninstall`` restores every attribute, the last set
    first, as it was (one that was inherited, not the owner's own, is deleted again).
    """

    pushed: ClassVar[set[ProcessPatches[Any]]] = set()
    """Every patch set pushed now, whatever its plugin: the close finds there one its plugin left pushed
    (``jobsim._patching.left_pushed``)."""

    def __init__(self, what: str, why: str) -> None:
        self._what, self._why = what, why
        self.current: W | None = None
        self._saved: list[tuple[Any, str, Any]] = []
        self.module: str = sys._getframe(1).f_globals.get("__name__", "")  # the plugin's module that made it

    def push(self, world: W, patch: Callable[[W], None] | None = None) -> None:
        if self.current is not None:
            sim = getattr(self.current, "sim", None)  # a world names its simulation: where it was started is said
            if sim is not None and getattr(sim, "_state", None) == "closed":  # nothing holds them: a plugin's bug
                raise JobsimError(f"ProcessPatches({self._what!r}) is still pushed by a simulation that has closed "
                                  f"({held_by(sim)}): the plugin that pushed it did not call pop(world) as it "
                                  "uninstalled; call it in its jobsim_uninstall (or Adapted.uninstall), which runs "
                                  "even when the simulation fails")  # fmt: skip
            holder = f" ({held_by(sim)})" if sim is not None else ""
            raise JobsimError(f"another simulation with {self._what} is running in this process{holder}; close it "
                              f"before starting this one ({self._why} process-wide while a simulation runs; one a "
                              "module- or session-scoped fixture keeps holds them until its scope ends: use that "
                              "simulation in the test, or build it per test)")
        self.current = world
        ProcessPatches.pushed.add(self)
        try:
            if patch is not None:
                patch(world)
        except BaseException:
            self.pop(world)
            raise

    def set(self, owner: Any, name: str, value: Any) -> None:
        """``setattr(owner, name, value)``, undone by ``pop`` (a descriptor is kept as the owner holds it)."""
        self._saved.append((owner, name, vars(owner).get(name, _MISSING)))
        setattr(owner, name, value)

    def pop(self, world: W) -> None:
        if self.current is not world:
            return
        for owner, name, original in reversed(self._saved):
            _put_back(owner, name, original)
        self._saved.clear()
        self.current = None
        ProcessPatches.pushed.discard(self)


def _put_back(owner: Any, name: str, own: Any) -> None:
    """``owner.name`` as it was: its own value set again, or deleted when it had none (inherited, or new)."""
    if own is _MISSING:
        delattr(owner, name)
    else:
        setattr(owner, name, own)


class ClassGuard:
    """Backend methods refused while a simulation that does not run the backend is running (a plugin's
    ``_guard.py``): a test that forgot to pass its queue is told so instead of reaching the real server.

    ``GUARD = ClassGuard(install)``; the first ``add(sim)`` calls ``install(GUARD)`` (the backend is imported
    then, not with the plugin), which calls ``wrap(owner, name, refusal, passes)`` for each method. While
    any simulation added is running (``active``), a call of a wrapped method raises ``refusal(obj, name,
    *args, **kwargs)`` (the error to raise; a coroutine method stays one) unless ``passes(obj)``. If
    ``install`` raises, what it wrapped is restored. A simulation built to run the backend and not started yet
    is held (``hold``, by ``guard_hooks``): while no simulation runs, the wrapped methods refuse for it too,
    saying it has not started. ``remove(sim)`` of the last one restores every method,
    the last wrapped first, as it was (an inherited one is deleted again), unless something else patched it
    since: that patch is left alone (a wrapper it puts back later calls the method it wrapped, as it does
    while no simulation added is running). Removing a simulation never added changes nothing.
    """

    def __init__(self, install: Callable[[ClassGuard], None]) -> None:
        self._install = install
        self._running: list[object] = []
        self._busy: list[object] = []  # every simulation running in the process, whatever it runs (``started``)
        self._unstarted: list[tuple[weakref.ref[Any], str, str]] = []  # (simulation, library, where it was built)
        self._saved: list[tuple[type, str, Any, Any]] = []  # owner, name, the owner's own value, the wrapper
        self._installed = False
        _GUARDS.add(self)

    @property
    def active(self) -> bool:
        """A simulation added is running, or, while none runs, one held is not started yet: wrapped methods
        refuse (what ``passes`` lets through aside)."""
        return bool(self._running) or (bool(self._unstarted) and not self._busy)

    def add(self, sim: object) -> None:
        self._join(self._running, sim)

    def _join(self, members: list[Any], member: Any) -> None:
        members.append(member)
        try:
            self._settle()
        except BaseException:  # the install failed (and was undone): it is not counted
            members.remove(member)
            raise

    def remove(self, sim: object) -> None:
        if sim in self._running:
            self._running.remove(sim)
        self._settle()

    def started(self, sim: object) -> None:
        """Any simulation starts (``guard_hooks``), before its plugins patch the backend: the holds of unstarted
        ones step aside while it runs (a running simulation's own patches, or its guard, take the calls), so no
        patch of it is made over theirs."""
        self._join(self._busy, sim)

    def stopped(self, sim: object) -> None:
        """A simulation closed, after its plugins gave the backend back."""
        if sim in self._busy:
            self._busy.remove(sim)
        self._settle()

    def hold(self, sim: object, library: str, where: str) -> None:
        """``sim`` runs the backend and is built, not started: until it starts (``release``), or is closed or
        collected, the wrapped methods refuse -- while no simulation runs -- with a ``JobsimError`` saying so, as
        the call would reach the real backend. Held by weak reference: a simulation dropped unstarted holds
        nothing."""
        self._join(self._unstarted, (weakref.ref(sim), library, where))

    def release(self, sim: object) -> None:
        """``sim`` starts or closes: it no longer holds the backend's calls."""
        self._unstarted = [entry for entry in self._unstarted if entry[0]() not in (sim, None)]
        self._settle()

    @staticmethod
    def release_unstarted() -> None:
        """Every guard lets go of the simulations built and never started (the pytest plugin, after each test):
        one a failed test built stays alive in ``sys.last_traceback`` until the next failure, and held the
        backend for every later test in the process, live tests of the real broker included."""
        for guard in list(_GUARDS):
            if guard._unstarted:
                guard._unstarted = []
                guard._settle()

    def _settle(self) -> None:
        """Wrapped while ``active``, given back as soon as not."""
        if self.active and not self._installed:
            self._installed = True
            try:
                self._install(self)
            except BaseException:
                self._restore()
                raise
        elif not self.active and self._installed:
            self._restore()

    def _held(self) -> tuple[str, str] | None:
        """``(library, where)`` of an unstarted simulation still alive; the garbage among them (a dropped
        simulation waits in reference cycles for the collector) is collected first, and lets go."""
        if any(ref() is not None for ref, _library, _where in self._unstarted):
            gc.collect()
        self._unstarted = [entry for entry in self._unstarted if entry[0]() is not None]
        self._settle()
        return self._unstarted[0][1:] if self._unstarted else None

    def _refusal(self, refusal: Callable[..., BaseException], obj: Any, name: str, *args: Any,
                 **kwargs: Any) -> BaseException | None:
        """What a refused call raises: the plugin's refusal while a guarded simulation runs, else the one of a
        simulation built and not started (None: it was only garbage, and the call goes through)."""
        if self._running:
            return refusal(obj, name, *args, **kwargs)
        held = self._held()
        if held is None:
            return None
        library, where = held
        return JobsimError(
            f"{type(obj).__name__}.{name}() was called while a jobsim.Simulation that runs this {library} code "
            f"(built {where}) has not started: nothing is simulated yet, and the call would reach the real "
            f"{library} backend. Start the simulation first (`with sim:` or sim.start()), then call it; or close "
            "the simulation (sim.close()) to use the backend for real"
        )  # fmt: skip

    def wrap(self, owner: type, name: str, refusal: Callable[..., BaseException],
             passes: Callable[[Any], bool] | None = None) -> None:
        """Wrap the method ``name`` of ``owner`` (its own or inherited); the wrapper is marked ``_jobsim_guard``."""
        original = inspect.getattr_static(owner, name)
        replacement = self._guarded(original, name, refusal, passes)
        replacement._jobsim_guard = True
        self._saved.append((owner, name, vars(owner).get(name, _MISSING), replacement))
        setattr(owner, name, replacement)

    def _guarded(self, original: Any, name: str, refusal: Callable[..., BaseException],
                 passes: Callable[[Any], bool] | None) -> Any:
        def refused(obj: Any) -> bool:
            return self.active and not (passes is not None and passes(obj))

        if inspect.iscoroutinefunction(original):

            @functools.wraps(original)
            async def guarded_coroutine(obj: Any, *args: Any, **kwargs: Any) -> Any:
                if refused(obj):
                    error = self._refusal(refusal, obj, name, *args, **kwargs)
                    if error is not None:
                        raise error
                return await original(obj, *args, **kwargs)

            return guarded_coroutine

        @functools.wraps(original)
        def guarded(obj: Any, *args: Any, **kwargs: Any) -> Any:
            if refused(obj):
                error = self._refusal(refusal, obj, name, *args, **kwargs)
                if error is not None:
                    raise error
            return original(obj, *args, **kwargs)

        return guarded

    def _restore(self) -> None:
        for owner, name, own, replacement in reversed(self._saved):
            if vars(owner).get(name) is replacement:  # else something else patched it since: leave theirs
                _put_back(owner, name, own)
        self._saved.clear()
        self._installed = False


_Hook = Callable[["Simulation"], None]


def guard_hooks(library: str, guard: str, *, world: str | None = None,
                runs: Callable[[Simulation], bool] | None = None, every: bool = False) -> tuple[_Hook, _Hook]:
    """The ``jobsim_install``/``jobsim_uninstall`` pair of a plugin that guards its backend with a ``ClassGuard``::

        jobsim_install, jobsim_uninstall = guard_hooks("acme", "jobsim_acme._guard:GUARD",
                                                       world="jobsim_acme._world:AcmeWorld")

    Install adds the simulation to the guard (``"module:name"``, imported then) once ``library`` is in
    ``sys.modules`` (nothing of it exists before), unless the simulation runs the backend: ``sim.<library>`` is
    a ``world`` (``"module:class"``; while that module is not imported, no simulation runs the backend), or
    ``runs(sim)``. Without either, every simulation is added. Uninstall removes it, if the guard's module was
    imported at all. Every simulation's start and close is told to the guard (``started``/``stopped``), and a
    simulation built to run the backend is held by it until it starts (``Simulation()`` finds ``hold`` on the
    install hook). With ``every=True`` a simulation that runs the backend is added too, for a guard whose
    ``passes`` lets that simulation's own objects through (an APScheduler simulation refuses ``start()`` of the
    schedulers it does not drive): ``world``/``runs`` then only say which simulations are held until they start.
    Assign the pair at module level under these names: pluggy registers them by name.
    """
    guard_module, guard_name = _reference(guard, "guard", "jobsim_acme._guard:GUARD")
    world_module, world_class = _reference(world, "world", "jobsim_acme._world:AcmeWorld") if world else ("", "")

    def runs_backend(sim: Simulation) -> bool:
        module = sys.modules.get(world_module) if world_module else None
        if module is not None and isinstance(getattr(sim, library, None), getattr(module, world_class)):
            return True
        return runs is not None and runs(sim)

    @hookimpl
    def jobsim_install(sim: Simulation) -> None:
        if library in sys.modules:
            guarding = getattr(importlib.import_module(guard_module), guard_name)
            guarding.started(sim)
            if every or not runs_backend(sim):
                guarding.add(sim)

    @hookimpl
    def jobsim_uninstall(sim: Simulation) -> None:
        module = sys.modules.get(guard_module)
        if module is not None:
            guarding = getattr(module, guard_name)
            guarding.remove(sim)
            guarding.stopped(sim)

    def hold(sim: Simulation, where: str) -> Callable[[], None] | None:
        """A simulation built to run the backend, not started yet: the guard refuses the backend's calls until it
        starts (they would reach the real backend). Gives the release to call when it starts or closes."""
        if library not in sys.modules or not runs_backend(sim):
            return None
        held = getattr(importlib.import_module(guard_module), guard_name)
        held.hold(sim, library, where)
        return lambda: held.release(sim)

    jobsim_install._jobsim_hold = hold  # type: ignore[attr-defined]  # Simulation() finds it on the hookimpl
    jobsim_install.__doc__ = (f"A simulation that does not run {library} gets ``{guard}`` while it runs: what "
                              "that module wraps is refused (its docstring says what and why).")
    jobsim_uninstall.__doc__ = f"The simulation is closing: ``{guard}`` lets go of it."
    return jobsim_install, jobsim_uninstall


def _reference(value: str, argument: str, example: str) -> tuple[str, str]:
    module, _, name = value.partition(":")
    if not module or not name:
        raise InvalidArgument(f"{argument}={value!r} is not valid: name a module and an attribute, e.g. {example!r}")
    return module, name


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Adapted:
    """What a plugin returns when it claims a target passed to ``Simulation(...)``.

    ``functions`` are ``jobsim.Function`` objects (build them with a ``jobsim.App``)
    whose handlers call the backend's code; a function whose ``options["native"]`` is
    the backend's own object (a Celery task, an inngest-py function) can be named by
    that object in ``sim.runs(...)``/``sim.fail(...)``. ``install(sim)`` and ``uninstall(sim)``
    run when the simulation starts and closes, for interception that belongs to
    this one target (routing the backend client's ``send`` to ``sim``'s bus, say).
    ``backend`` names the system for messages (``"celery"``, ``"inngest-py"``): a non-empty str, required
    (``TypeError`` otherwise, which the hook's caller reports as a ``PluginError`` naming the plugin).
    ``profile`` is the profile this target runs under unless the user passes one; for an ``own_worker``
    target, which runs on its library's rules whatever the profile, the only one a simulation of such
    targets alone accepts (another is refused: it would be a label).
    """

    backend: str
    functions: Sequence[Function]
    install: Callable[[Simulation], None] | None = None
    uninstall: Callable[[Simulation], None] | None = None
    profile: str | None = None
    own_worker: bool = False
    """True when the plugin executes its functions itself rather than through the
    engine's request loop (jobsim-celery runs Celery's own worker code): jobsim's
    crash and downtime machinery then leaves them alone, and the plugin answers
    ``jobsim_crash_worker`` for them."""
    fault_hint: str = ""
    """For an ``own_worker`` target: what to do instead of the engine's faults it refuses (``sim.downtime()``,
    ``sim.duplicate_delivery()``, ``sim.crash_worker()`` without ``function=`` when no engine function could be
    hit), appended to those refusals (jobsim-apscheduler: pause and resume the scheduler); empty, they point at
    ``sim.crash_worker(...)``."""
    naming: str = ""
    """How the backend names its functions, for the error that names the id a test probably meant
    (``sim.runs("charge")`` for ``"jobs.charge"``): jobsim-rq's ``"by its module and name"``."""
    dynamic: bool = False
    """True when the target's functions are only known once user code uses them
    (jobsim-rq: any callable a queue enqueues). ``functions`` may then be empty, and
    the plugin declares each one with ``Simulation.add_function`` when it first appears, before it records
    the function in its own tables: a function the simulation refuses is then registered nowhere."""

    def __post_init__(self) -> None:
        if not isinstance(self.backend, str) or not self.backend:
            raise TypeError(f"Adapted(backend={shown(self.backend, 200)}): backend must be a non-empty str naming "
                            "the backend system ('celery', 'inngest-py'), which jobsim's messages give")  # fmt: skip


class JobsimSpec:
    """Hook specifications; plugins implement any subset."""

    @hookspec
    def jobsim_profiles(self) -> Sequence[Profile]:  # type: ignore[empty-body]
        """Return the profiles this plugin brings, in a list, each under a name of its own (``Profile.name``): a
        name a built-in profile has, or another plugin's profile, is a ``PluginError`` naming the plugins."""

    @hookspec(firstresult=True)
    def jobsim_adapt(self, sim: Simulation, target: Any) -> Adapted | None:
        """Claim ``target`` (a Celery app, a list of inngest-py functions, ...).

        Return an ``Adapted`` for targets this plugin understands and ``None`` for
        anything else; the first non-None answer wins. Raise ``InvalidArgument``
        for a target that is yours but malformed, naming what to fix.
        """

    @hookspec(firstresult=True)
    def jobsim_event(self, value: Any) -> Event | None:
        """An event object of this plugin's library (``inngest.Event``) as the ``jobsim.Event`` it stands for.

        Asked only for a value ``sim.send`` (or a core ``step.send_event``) does not know
        itself: not a ``jobsim.Event``, dict or name. Return ``None`` for anything else; the
        first non-None answer wins. Raise ``InvalidArgument`` for an event of yours that
        cannot be sent (the library's own encoding fails), naming what to fix.
        """

    @hookspec
    def jobsim_install(self, sim: Simulation) -> None:
        """The simulation is starting: install interception (patch clients, routers)."""

    @hookspec
    def jobsim_uninstall(self, sim: Simulation) -> None:
        """The simulation is closing: remove what ``jobsim_install`` installed. Never raise."""

    @hookspec
    def jobsim_crash_worker(self, sim: Simulation, at: int, function: str | None) -> bool | None:
        """``sim.crash_worker(at=..., function=...)`` was called (``at`` in epoch ns).

        A plugin whose worker runs ``function`` (or, for ``None``, any of its functions)
        plans the crash its own way and returns True. jobsim's engine crashes its own
        attempt in flight unless a plugin claimed the named function.
        """

    @hookspec
    def jobsim_unread(self, sim: Simulation) -> Sequence[Unread] | None:
        """The simulation is closing (asked before ``jobsim_uninstall``): the work this plugin's broker holds on
        queues no simulated worker reads, one ``Unread`` per message or job, only what is due by now (a message
        whose ETA or delay is still ahead is the test's business, as for ``sim.send``). The simulation warns
        (``jobsim.UnreadQueueWarning``) unless the test left the queue unread on purpose (``sim.leave_unread``).
        Never raise: a plugin that raises (or answers something else than ``Unread`` items) still lets the others
        warn and the simulation release its backends, then the close raises ``PluginError`` naming it."""

    @hookspec(firstresult=True)
    def jobsim_queue_name(self, queue: Any) -> str | None:
        """A queue object of this plugin's library (a BullMQ ``Queue``) as the name its ``Unread`` items give it
        (``"app:emails"`` under another prefix), for ``sim.leave_unread(queue)``. Return ``None`` for anything
        else; the first non-None answer wins. Without an answer, the object's ``name`` is taken."""

    @hookspec
    def jobsim_record_kinds(self) -> Mapping[str, RecordRenderer]:  # type: ignore[empty-body]
        """Trace record kinds this plugin adds (``sim.record(kind, **data)``), with timeline renderers."""


def held_by(sim: Simulation) -> str:
    """``<Simulation ...>, started at FILE:LINE in FUNCTION`` (or the fixture whose it is): a running simulation as
    a plugin's refusal names the one that holds what it needs (a scheduler, a broker, the process-wide patches)."""
    return f"{sim!r}, {sim._role or 'started ' + sim._where}"


def near_miss(given: str, names: Sequence[str], synonyms: Mapping[str, str] | None = None) -> str | None:
    """The one of a library's own option ``names`` that ``given`` was surely meant as, else None: another system's
    word for it (``synonyms``, by lower case: ``max_retries`` for arq's ``max_tries``), one typo from it
    (``jobsim._checks.one_typo``), the same but for case and underscores (``retryDelay``), or a close
    misspelling (difflib, 0.8). For options a library keeps without a word whatever their name (a Huey task's,
    arq's settings): a name that is none of these is the app's own and is left alone."""
    import difflib

    from ._checks import one_typo

    lowered = given.lower()
    squashed = lowered.replace("_", "")
    return ((synonyms or {}).get(lowered) or one_typo(given, names)
            or next((name for name in names if name.replace("_", "").lower() == squashed), None)
            or next(iter(difflib.get_close_matches(lowered, names, n=1, cutoff=0.8)), None))  # fmt: skip


class HeldBy:
    """``held_by(sim)`` told later, as a refusal made at ``sim``'s close is raised (a Celery app's or BullMQ
    queue's sends after it): ``str()`` gives it while ``sim`` lives, kept only weakly, else what it was at the
    start (``started at FILE:LINE in FUNCTION``, or the fixture whose it was)."""

    __slots__ = ("_sim", "_told")

    def __init__(self, sim: Simulation) -> None:
        import weakref

        self._sim = weakref.ref(sim)
        self._told = sim._role or f"started {sim._where}"

    def __str__(self) -> str:
        sim = self._sim()
        return self._told if sim is None else held_by(sim)
