"""``Simulation``'s first layer (``jobsim._simulation``): its targets and the functions it runs. Adopting apps and
the targets backend plugins adapt, holding those backends until it starts, declaring functions (``add_function``,
under a profile's flow control), finding one by id or object (``_function``) and what the bus and runs hold."""

from __future__ import annotations

import dataclasses
import inspect
import os
import sys
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import _plugins
from ._app import App, Function
from ._checks import is_async, keywords_checked, listed_ids, meant_id
from ._events import Event, check_triggers
from ._profiles import resolve_function
from ._records import Run
from ._retries import Retries
from ._safe import shown
from .errors import InvalidArgument, PluginError, UnsupportedFeature
from .hooks import Adapted

if TYPE_CHECKING:
    import datetime as dt

    import pluggy

    from . import _gc
    from ._aio import VirtualLoop
    from ._engine import Engine
    from ._events import Bus
    from ._kernel import Kernel
    from ._profiles import Profile, Profiles
    from ._selection import Selection
    from ._trace import Trace
    from ._wallclock import WallClock

RANDOM_STREAMS = ("function", "shared")
"""``Simulation(random_streams=...)``: per-function streams derived from the seed, or the one generator of old."""


class _Targets:
    """The targets and functions of a simulation; ``_simlife._Lifecycle``, ``_simfaults._Faults`` and
    ``jobsim._simulation.Simulation`` (which builds it all in ``__init__``) are the layers above."""

    if TYPE_CHECKING:  # set by Simulation.__init__, named for the methods of every layer (for mypy only:
        # real annotations would make typing.get_type_hints(Simulation) name types imported for checking)
        tz: dt.tzinfo
        profile: Profile
        profiles: Profiles
        kernel: Kernel
        trace: Trace
        engine: Engine
        bus: Bus
        wallclock: WallClock
        functions: dict[str, Function]
        apps: list[App]
        adapted: list[Adapted]
        _plugins: pluggy.PluginManager
        _own_worker: set[str]
        _app_targets: list[App]
        _given: list[Any]
        _selection: Selection | None
        _failure_handlers: dict[str, Function]
        _state: str
        _releases: list[Callable[[], None]]
        _loop: VirtualLoop | None
        _sends: _gc.Sends
        _undriven: int | None
        _undriven_runs: list[Any]
        _unread_quiet: bool
        _block_failed: bool
        _typos: list[str]
        _left_unread: set[tuple[str | None, str]]
        _warn_at: tuple[str, int] | None
        _where: str
        _role: str

        def now_ns(self) -> int: ...  # Simulation's own, with the driving calls (job code's clock, hot path)

    # -- targets and functions -----------------------------------------------------------------
    def _hold_backends(self) -> list[Callable[[], None]]:
        """Until it starts, the backends this simulation runs refuse their calls (``ClassGuard.hold``): a
        ``task.delay()`` made between building and starting it reached the real broker, unguarded."""
        where, releases = _caller_site(), []
        for impl in self._plugins.hook.jobsim_install.get_hookimpls():
            hold = getattr(impl.function, "_jobsim_hold", None)
            release = None if hold is None else hold(self, where)
            if release is not None:
                releases.append(release)
        return releases

    def _release_backends(self) -> None:
        releases, self._releases = getattr(self, "_releases", []), []  # a simulation half built has none
        for release in releases:
            release()

    def record_kinds(self) -> dict[str, Any]:
        """Trace record kinds and their timeline renderers, from every plugin."""
        kinds: dict[str, Any] = {}
        for contributed in reversed(self._plugins.hook.jobsim_record_kinds()):
            if not isinstance(contributed, Mapping) or not all(
                    isinstance(kind, str) and callable(draw) for kind, draw in contributed.items()):
                raise PluginError(f"a jobsim plugin's jobsim_record_kinds hook gave {shown(contributed)}; it must give "
                                  "a mapping of record kind to a renderer (data, names, tz) -> str")
            kinds.update(contributed)
        return kinds

    def _adopt(self, target: Any) -> None:
        if isinstance(target, App):
            self.apps.append(target)
            self._app_targets.append(target)
            self._add_functions(target.functions.values())
            return
        adapted = self._plugins.hook.jobsim_adapt(sim=self, target=target)
        if adapted is None:
            _refuse_plain(target)
            _refuse_unbuilt(target)
            installed = _plugins.plugin_names()
            have = f"installed plugins: {', '.join(installed)}" if installed else "no backend plugin is installed"
            missing = [f"pip install -e plugins/jobsim-{name} for {what}" for name, what in _TARGETS.items()
                       if name not in installed]  # fmt: skip
            where = f"; from a jobsim checkout: {', '.join(missing)}" if missing else ""
            takes = [what for name, what in _TARGETS.items() if name in installed]
            runs_it = ", ".join(takes) or "the jobsim.App whose app.function(...) declares it"
            job = (f"; a job function is no target: pass what runs it ({runs_it})"
                   if isinstance(target, types.FunctionType) else "")  # fmt: skip
            raise InvalidArgument.build("targets", target,
                                        f"a jobsim.App or a target a backend plugin adapts ({have}{where}){job}")
        if not isinstance(adapted, Adapted):
            raise PluginError(
                f"a jobsim plugin answered jobsim_adapt with {adapted!r}; it must return jobsim.hooks.Adapted"
            )
        functions = adapted.functions
        if isinstance(functions, (str, bytes)) or not isinstance(functions, Iterable) or not all(
                isinstance(fn, Function) for fn in functions):
            raise PluginError(f"the jobsim plugin for {adapted.backend!r} adapted {shown(target)} into "
                              f"Adapted(functions={shown(functions)}); functions must be jobsim.Function objects")
        self.adapted.append(adapted)
        if adapted.own_worker:
            self._own_worker.update(fn.id for fn in adapted.functions)
        for fn in adapted.functions:
            if fn.app not in self.apps:
                self.apps.append(fn.app)
        self._add_functions(adapted.functions)

    def _chosen_profile(self, profile: str | Profile | None) -> Profile:
        """``Simulation(profile=...)``: the profile named, else the targets' own (``own_profile``).

        A profile chooses the rules of the functions jobsim's engine runs: a ``jobsim.App``'s, and those of a
        plugin's target that is not ``own_worker`` (inngest-py's). A target whose plugin runs it on its own
        library's rules (a Celery app) follows none: a profile named for a simulation of such targets alone,
        and not theirs, would only be a label, so it is refused (an ``UnsupportedFeature``, which ``compare``
        turns into a row saying why)."""
        if profile is None:
            return self.profiles.get(own_profile(self.adapted))
        chosen = self.profiles.get(profile)
        adapted = self.adapted
        if self._app_targets or not adapted or not all(a.own_worker and a.profile for a in adapted):
            return chosen
        own = list(dict.fromkeys(str(a.profile) for a in adapted))
        if chosen.name.partition("(")[0] in own:  # theirs, or a variant of it
            return chosen
        given = [target for target in self._given if not isinstance(target, App)]
        named = " and ".join(filter(None, [", ".join(map(shown, given[:-1])), shown(given[-1])]))
        them, its = ("it", "its") if len(given) == 1 else ("them", "their")
        raise UnsupportedFeature(
            f"profile={chosen.name!r} cannot apply to the target{'s' if len(given) > 1 else ''} {named}: "
            f"{_own_rules(adapted)} whatever the profile (profiles choose the rules of jobsim.App functions, and "
            f"there are none here: simulate {them} under {_listed(own)}, {its} own)",
            system=chosen.label, feature="profile")  # fmt: skip

    def _add_functions(self, functions: Iterable[Function]) -> None:
        for fn in functions:
            self._check_new(fn)
            self.functions[fn.id] = fn

    def _check_new(self, fn: Function) -> None:
        check_triggers(fn.events, "events", list(fn.events))  # a backend plugin's trigger, as app.function's on=
        if fn.id in self.functions:
            other = self.functions[fn.id].app
            where = (f"in app {other.id!r} and in app {fn.app.id!r}" if other is not fn.app
                     else f"twice in app {fn.app.id!r}")  # fmt: skip
            raise InvalidArgument(f"function id {fn.id!r} is declared {where}; a simulation's function ids must "
                                  "be unique: rename one")  # fmt: skip
        handler = f"{fn.id}-failure" if fn.on_failure is not None else None
        owner = self.functions.get(fn.id.removesuffix("-failure")) if fn.id.endswith("-failure") else None
        if (handler is not None and handler in self.functions) or (owner is not None and owner.on_failure is not None):
            base = fn.id if handler is not None else fn.id.removesuffix("-failure")
            raise InvalidArgument(
                f"function id {base + '-failure'!r} is taken by the on_failure handler of function {base!r}, and "
                f"another function is declared with it: sim.runs({base + '-failure'!r}) and "
                f"sim.fail({base + '-failure'!r}) would mix the two; rename that function")  # fmt: skip

    def add_function(self, fn: Function, *, own_worker: bool = False) -> None:
        """Declare ``fn`` while the simulation runs, for a plugin whose target is ``Adapted(dynamic=True)``.

        jobsim-rq calls it the first time a queue enqueues a callable: RQ has no
        registry of job functions, so they are learnt from use. ``own_worker`` as in
        ``Adapted.own_worker``. The function's app must already be one of ``self.apps``.

        It is checked against the profile as the functions of the targets are when the simulation is built
        (``_profiles.resolve``): what the system lacks or limits (Inngest's 10 triggers, a debounce timeout
        not over its period, a cron expression its dialect refuses) raises the same ``UnsupportedFeature`` or
        ``InvalidArgument``, and the function is not added.
        """
        if not isinstance(fn, Function):  # a plugin's mistake, named here rather than as an AttributeError inside
            raise InvalidArgument.build("fn", fn, "a jobsim.Function(id=..., handler=..., app=...), the app one of "
                                        "the simulation's (its Adapted.functions' app)")
        self._check_new(fn)
        fn = self._limited(fn)
        policy, schedules = resolve_function(self.profile, fn, now=self.kernel.now, added=True)
        self.functions[fn.id] = fn
        self.engine._policies[fn.id] = policy
        if schedules:
            self.engine.schedules[fn.id] = schedules
        if own_worker:
            self._own_worker.add(fn.id)
        if fn.app not in self.apps:
            self.apps.append(fn.app)
        if self._state == "running":
            self.engine.add_function(fn)

    def _limited(self, fn: Function) -> Function:
        """``fn`` itself, or a copy under flow control when the profile limits every function's concurrency
        (``Profile.default_concurrency``, ``max_concurrency``: Agenda's 5 per definition and 20 per process)
        and ``fn`` has none of its own: the engine sends only functions with ``flow`` through ``_flowrt``.
        ``_function`` finds the copy from the declared function, so ``sim.runs(fn)`` works as before."""
        p = self.profile
        if fn.flow is None and (p.default_concurrency or p.max_concurrency):
            from ._flow import FlowControl

            return dataclasses.replace(fn, flow=FlowControl())
        return fn

    # -- results --------------------------------------------------------------------------------
    @property
    def events(self) -> list[Event]:
        """Every event accepted by the bus, in order, each with its virtual ``ts`` (ms)."""
        return list(self.bus.history)

    @keywords_checked("sim.runs()")
    def runs(self, function: Any = None) -> list[Run]:
        """Runs of one function (by id or object), or of every function in start order."""
        if function is None:
            return sorted((r for runs in self.engine.runs.values() for r in runs), key=lambda r: (r.start_ns, r.id))
        return list(self.engine.runs.get(self._function_id(function), ()))

    def _function_id(self, function: Any, argument: str = "function_id") -> str:
        """The id of ``function`` as ``_function`` finds it, or ``'<id>-failure'``, the on_failure handler of a
        simulated function, from the start: the handler is made when a run of its function first fails
        (``_failure_handler``), and ``sim.runs``, ``sim.fail`` and ``sim.crash_worker`` take its id before that (its
        runs and the faults armed for it are found by that id). The handler of a function the selection left out
        is refused as that function is."""
        if isinstance(function, str) and function not in self.functions and function.endswith("-failure"):
            owner = self.functions.get(function.removesuffix("-failure"))
            if owner is not None and owner.on_failure is not None:
                return function
            if owner is not None:  # the handler's id, of a function without one: say that, not only list the ids
                raise InvalidArgument.build(argument, function, "one of the simulated function ids: "
                                            f"{listed_ids(self.functions, function)}; {function!r} would be the "
                                            f"on_failure handler of function {owner.id!r}, which declares none "
                                            "(give it on_failure=... to have one)")  # fmt: skip
            selection = self._selection
            left_out = None if selection is None else selection.find(function.removesuffix("-failure"))
            if selection is not None and left_out is not None and left_out.on_failure is not None:
                raise selection.refuse(left_out, argument, function)  # the handler of a function left out
        return self._function(function, argument).id

    def _function(self, function: Any, argument: str = "function_id") -> Function:
        if isinstance(function, Function):
            known = self.functions.get(function.id)
            if known is function or (known is not None and known.handler is function.handler
                                     and known.app is function.app):  # ``_limited``'s copy of it
                return known
        if isinstance(function, str) and function in self.functions:
            return self.functions[function]
        for fn in self.functions.values():  # a backend's own object: its plugin keeps it in options["native"]
            native = fn.options.get("native")
            if native is not None and (native is function or native == function):
                return fn
        selection = self._selection
        left_out = None if selection is None else selection.find(function)
        if selection is not None and left_out is not None:  # it exists: say the test left it out, how to select it
            raise selection.refuse(left_out, argument, function)
        if isinstance(function, Function) and function.app not in self.apps:  # its id may be one of ours: say whose
            raise InvalidArgument.build(argument, function, f"it is a function of app {function.app.id!r}, which this "
                                        "simulation does not run (it runs " + ", ".join(repr(a.id) for a in self.apps)
                                        + "); pass that app to Simulation(...) too, or name one of the simulated "
                                        "function ids: " + listed_ids(self.functions))  # fmt: skip
        accepted = "one of the simulated function ids: " + listed_ids(self.functions, function)
        dynamic = sorted({a.backend for a in self.adapted if a.dynamic})
        meant = meant_id(function, self.functions) if dynamic and isinstance(function, str) else None
        if meant is not None:  # known already, spelt another way (RQ's ``module.name``): "do that first" would mislead
            namings = sorted({f"{a.backend} names a function {a.naming}" for a in self.adapted if a.naming})
            why = f" ({namings[0]})" if len(namings) == 1 else ""
            raise InvalidArgument.build(argument, function, f"did you mean {meant!r}?{why}; the simulated function "
                                        f"ids: {listed_ids(self.functions)}")  # fmt: skip
        if dynamic:  # e.g. jobsim-rq: a job function is declared when a queue first enqueues it
            listed = accepted if self.functions else "no function is known yet"
            accepted = (f"{listed}: {' and '.join(dynamic)} functions are only known once user code has used them "
                        "(enqueued or added a job of it, say); do that first, then name it")
            if not isinstance(function, str):  # a backend's own object: it may be declared on a target not passed
                accepted += (" -- or, if it is declared on a broker, app or queue this simulation was not given "
                             "(its functions are known from the start), pass that to jobsim.Simulation(...) too")
        raise InvalidArgument.build(argument, function, accepted)

    def _failure_handler(self, fn: Function) -> Function:
        handler = self._failure_handlers.get(fn.id)
        if handler is None:
            assert fn.on_failure is not None
            handler = dataclasses.replace(
                fn, id=f"{fn.id}-failure", handler=fn.on_failure, events=(), crons=(), every=None, flow=None,
                retries=Retries(attempts=1), on_failure=None,
                is_async=is_async(fn.on_failure),
            )  # fmt: skip
            self._failure_handlers[fn.id] = self.functions[handler.id] = handler
        return handler


def _flatten(targets: Iterable[Any]) -> Iterable[Any]:
    for target in targets:
        if isinstance(target, (list, tuple)):
            yield from _flatten(target)
        else:
            yield target


_TARGETS = {
    "celery": "a Celery app", "inngest": "inngest-py functions", "rq": "an RQ Queue or jobsim_rq.Worker",
    "apscheduler": "an APScheduler 3 scheduler", "bullmq": "bullmq Worker objects",
    "huey": "a Huey instance, consumer or task", "dramatiq": "a Dramatiq broker, actor or Worker",
    "arq": "arq WorkerSettings or a Worker",
}
"""What each backend plugin adapts, by its entry-point name: the install note for one not installed, and, for a
job function passed as a target, what to pass instead."""


_LIBRARIES = {"celery": "Celery", "rq": "RQ", "apscheduler": "APScheduler", "bullmq": "BullMQ", "huey": "Huey",
              "dramatiq": "Dramatiq", "arq": "arq"}  # fmt: skip
"""Whose rules a backend plugin's own worker follows, by ``Adapted.backend``: the refusal of a profile not theirs."""


def own_profile(adapted: Sequence[Adapted]) -> str:
    """The profile of a simulation not given one: that of the first target whose functions jobsim's engine runs
    (inngest-py's: they follow it), else the first target's own (which a Celery app, running on Celery's rules,
    does not follow: it rules the simulation's jobsim.App functions), else ``"inngest"``."""
    declared = [a for a in adapted if a.profile]
    engine_run = [a for a in declared if not a.own_worker]
    return str((engine_run or declared)[0].profile) if declared else "inngest"


def _own_rules(adapted: Sequence[Adapted]) -> str:
    """``a Celery app runs on Celery's rules``; each backend once, in the order of the targets."""
    clauses: list[str] = []
    for backend in dict.fromkeys(a.backend for a in adapted):
        what, library = _TARGETS.get(backend, f"the {backend} target"), _LIBRARIES.get(backend, backend)
        verb = ("run " if what.endswith("s") else "runs ") if not clauses else ""  # "bullmq Worker objects run"
        clauses.append(f"{what} {verb}on {library}'s" + (" rules" if not clauses else ""))
    return ", ".join(clauses[:-1]) + (" and " if len(clauses) > 1 else "") + clauses[-1]


def _listed(names: Sequence[str]) -> str:
    """``'celery'`` or ``'dramatiq', 'huey' or 'celery'``."""
    quoted = [repr(name) for name in names]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else quoted[0]


def _refuse_plain(target: Any) -> None:
    """Slips no backend plugin answers, named for what they are rather than with the plugins' install notes:
    ``None`` (a ``jobsim_app`` fixture or factory without its ``return``), a class in place of its instance, and
    the module that holds the app."""
    if target is None:
        raise InvalidArgument.build("targets", target, "a jobsim.App; None is what a jobsim_app fixture or a "
                                    "factory without `return app` gives")  # fmt: skip
    if isinstance(target, type):  # `Simulation(Celery)`: the plugin for it is installed; the install note misleads
        what = "jobsim.App" if issubclass(target, App) else f"{target.__module__}.{target.__qualname__}"
        raise InvalidArgument.build("targets", target, f"an instance, not the class: pass the {what} your code "
                                    f"uses (the x of `x = {target.__qualname__}(...)`)")  # fmt: skip
    if isinstance(target, types.ModuleType):
        apps = [name for name, value in vars(target).items() if isinstance(value, App)]
        if apps:
            raise InvalidArgument.build("targets", target, "a jobsim.App, not the module holding it: pass "
                                        + " or ".join(f"{target.__name__}.{name}" for name in apps))  # fmt: skip


def _refuse_unbuilt(target: Any) -> None:
    """Simulation's own slips that ``js.simulations`` takes or names itself: a factory of the app (a
    ``jobsim_app`` fixture returning ``make_app``), and the app's name or import path."""
    if isinstance(target, str):
        raise InvalidArgument.build("targets", target, "a jobsim.App itself, not its name or import path: import "
                                    "it (from jobs import app) and pass app")  # fmt: skip
    if isinstance(target, types.FunctionType) and _builds_with_no_arguments(target):
        call = f"{target.__name__}()" if target.__name__.isidentifier() else "it"
        raise InvalidArgument.build("targets", target, f"a jobsim.App, not a function that builds one: call {call} "
                                    "and pass what it returns (js.simulations takes such a function)")  # fmt: skip


def _builds_with_no_arguments(function: types.FunctionType) -> bool:
    try:
        inspect.signature(function).bind()
    except (TypeError, ValueError):
        return False
    return True


def _caller_site() -> str:
    """``at FILE:LINE in FUNCTION`` of the first caller outside the jobsim package (a test's ``with``, a fixture)."""
    here = os.path.dirname(__file__)
    frame: Any = sys._getframe(1)
    while frame is not None and os.path.dirname(frame.f_code.co_filename) == here:
        frame = frame.f_back
    if frame is None:
        return "by jobsim"
    return f"at {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


def _check_random_streams(value: Any) -> str:
    if value not in RANDOM_STREAMS:
        raise InvalidArgument.build(
            "random_streams", value,
            "'function' (each function draws from its own stream derived from the seed: the default) or "
            "'shared' (one stream for every draw, as traces of format minor < 2 were recorded with)")  # fmt: skip
    return str(value)


def _check_budget(name: str, value: Any) -> int:
    """``max_items``/``max_chain``: a positive int, else the budget would stop (or never stop) a run-away."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument.build(name, value, "an int >= 1 (how much work counts as a run-away)")
    return value
