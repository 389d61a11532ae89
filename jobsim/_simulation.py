"""``jobsim.Simulation``: the one front door that wires kernel, engine, bus, sinks and clock."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import random
import sys
import types
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import _gc, _plugins
from ._aio import FOREVER, VirtualLoop
from ._app import App, Function
from ._casing import case_only_misses
from ._checks import TestAssertion, check_fault_error, is_async, keywords_checked
from ._events import (
    Bus,
    Event,
    check_send_fields,
    check_triggers,
    check_ts_units,
    coerce_events,
    json_copy,
    plain_event,
    sent_data,
)
from ._kernel import DEFAULT_MAX_CHAIN, DEFAULT_MAX_ITEMS, Kernel
from ._othermocks import guard as guard_other_mocks
from ._othermocks import unguard as unguard_other_mocks
from ._profiles import Profile, Profiles, resolve
from ._records import Run
from ._retries import Retries
from ._safe import shown
from ._time import MAX_NS, Duration, Instant, duration_ns, format_duration, instant_ns, iso, to_datetime, zone
from ._trace import RESERVED_FIELDS, RESERVED_KINDS, Trace, describe_error, event_fields
from ._wallclock import WallClock
from .errors import (
    BudgetExceeded,
    FaultWarning,
    InvalidArgument,
    JobsimError,
    KeyWarning,
    PendingWorkWarning,
    PluginError,
    TriggerWarning,
    UnsupportedFeature,
)
from .hooks import Adapted

if TYPE_CHECKING:
    from ._replay import ReplayResult
    from ._selection import Selection

DEFAULT_START = "2025-01-01T00:00:00Z"
_LONG_SLEEP = ("check the sleep's length: time.sleep and asyncio.sleep take seconds (not milliseconds), and a long "
               "wait belongs in a step, ctx.step.sleep(...) or ctx.step.wait_for_event(...), which frees the worker")
MAX_SPENDS = 250_000
"""How often one attempt's code may spend virtual time (``time.sleep``, ``asyncio.sleep``): a poll every second
for almost three days, far past any worker's time limit; a fraction of a second of real time (sync code)."""
RANDOM_STREAMS = ("function", "shared")
"""``Simulation(random_streams=...)``: per-function streams derived from the seed, or the one generator of old."""
MAX_DUPLICATES = 10_000
"""``duplicate_delivery(times=...)`` at most: the copies of one delivery are runs made at once, uncounted by budgets."""

class Simulation:
    """A deterministic world in virtual time for the given targets.

    ``Simulation(*targets, start=..., seed=0, profile="inngest", tz="UTC")``. A
    target is a ``jobsim.App`` (or a list of them). Use it as a context manager, or
    call ``start()``/``close()``; the pytest fixture ``jobsim`` does it for you.

    ``functions=[...]`` simulates only those of the targets' functions (ids, or the
    objects ``@app.function`` returned), ``exclude_functions=[...]`` all but those: the
    others never run, and events sent to them stay on the bus (``_selection.py``).

    ``random_streams="function"`` (the default): each function draws from its own
    generator derived from the seed (``rng_for``); ``"shared"``: every draw from
    ``sim.rng``, as traces of format minor < 2 were recorded (their replay sets it).
    """

    @keywords_checked("Simulation()")
    def __init__(
        self,
        *targets: Any,
        start: Instant = DEFAULT_START,
        seed: int = 0,
        profile: str | Profile | None = None,
        tz: str | dt.tzinfo | None = "UTC",
        max_chain: int = DEFAULT_MAX_CHAIN,
        functions: Any = None,
        exclude_functions: Any = None,
        random_streams: str = "function",
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or not -(1 << 63) <= seed < 1 << 64:
            # the trace header holds it as a JSON number: past 64 bits, trace.save could not write it
            raise InvalidArgument.build("seed", seed, "an int within 64 bits")
        self.tz = zone(tz)
        self.seed = seed
        self.random_streams = _check_random_streams(random_streams)
        self.rng = random.Random(seed)  # draws made outside any function's runs (and every draw when "shared")
        self._streams: dict[str, random.Random] = {}  # function id -> its own stream (``rng_for``)
        self._plugins = _plugins.manager()
        self.profiles = Profiles()
        for contributed in self._plugins.hook.jobsim_profiles():
            self.profiles.register_all(contributed)
        self.start_ns = instant_ns(start, "start", tz=self.tz)
        self.kernel = Kernel(self.start_ns)
        self.trace = Trace(self)
        self.max_chain = _check_budget("max_chain", max_chain)
        self.functions: dict[str, Function] = {}
        self.apps: list[App] = []
        self.adapted: list[Adapted] = []
        self._own_worker: set[str] = set()  # functions a plugin's own worker runs (see Adapted.own_worker)
        self._app_targets: list[App] = []  # the apps given as targets: a function declared on one later is refused
        for target in _flatten(targets):
            if isinstance(target, App) and target in self._app_targets:  # `[app, app]` (a plugin names its own)
                raise InvalidArgument(f"Simulation() got the app {target.id!r} twice; give each app once")
            self._adopt(target)
        self._selection: Selection | None = None
        if functions is not None or exclude_functions is not None:
            from ._selection import select

            self._selection = select(self.functions, functions, exclude_functions, self._own_worker)
        if profile is None:
            profile = next((a.profile for a in self.adapted if a.profile), "inngest")
        self.profile = self.profiles.get(profile)
        self.functions = {fn_id: self._limited(fn) for fn_id, fn in self.functions.items()}
        if not self.functions and not any(a.dynamic for a in self.adapted):
            backends = sorted({a.backend for a in self.adapted})  # e.g. an inngest-py client alone
            raise InvalidArgument("Simulation() got no functions: " + (
                f"the {' and '.join(backends)} target(s) passed bring none; pass the functions themselves too"
                if backends else "pass a jobsim.App with at least one @app.function"))  # fmt: skip
        # UnsupportedFeature for what the system lacks
        resolved = resolve(self.profile, self.functions.values(), now=self.start_ns)
        from ._engine import Engine

        self.wallclock = WallClock(self.now_ns, self.consume, seed, self._job_code_rng, self.start_ns)
        self.engine = Engine(self)
        self.engine._policies.update(resolved.policies)
        self.engine.schedules.update(resolved.schedules)
        p = self.profile
        if (not p.durable_steps or p.cron_jitter_ns or p.max_duration_ns is not None or p.cron_next in ("start", "end")
                or p.interval is not None or p.cron_no_overlap or p.cron_max_runs or p.cron_tasks):  # fmt: skip
            self._system()
        self.bus = Bus(dedupe=p.repeated_ids == "drop")
        self._loop: VirtualLoop | None = None
        self._failure_handlers: dict[str, Function] = {}
        self._state = "new"
        self._sends = _gc.Sends()
        self._undriven: int | None = None  # when the test first sent since its last driving call (``close`` warns)
        self._warn_at: tuple[str, int] | None = None  # (file, line) to warn at when closed; else the caller's
        self._where = ""  # where it was started (file:line in function), for "already running" errors
        self._role = ""  # who runs it, when not the test itself: the pytest plugin names its fixture's
        self._drawn_as = ""  # its targets as code, when strategies.simulations() drew it (apply's reproduction)
        self._delayed_ids = 0  # ids given to delayed sends (``jobsim._delay``)
        self._spender: Any = None  # the execution that last spent virtual time, and how often (``consume``)
        self._spends = 0
        self._until = MAX_NS  # where the driving call under way ends (``_drive``)
        self._overslept: list[tuple[Run, int, int]] = []  # (run, from, ns): job code's spends that end past it
        self._install_sinks()
        self._releases = self._hold_backends()

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

    def _install_sinks(self) -> None:
        from ._http import HttpSink
        from ._mail import MailSink

        self.mail = MailSink(self)
        self.http = HttpSink(self, self.mail)

    def _adopt(self, target: Any) -> None:
        if isinstance(target, App):
            self.apps.append(target)
            self._app_targets.append(target)
            self._add_functions(target.functions.values())
            return
        adapted = self._plugins.hook.jobsim_adapt(sim=self, target=target)
        if adapted is None:
            _refuse_plain(target)
            installed = _plugins.plugin_names()
            have = f"installed plugins: {', '.join(installed)}" if installed else "no backend plugin is installed"
            raise InvalidArgument.build(
                "targets", target,
                f"a jobsim.App or a target a backend plugin adapts ({have}; "
                "from a jobsim checkout: pip install -e plugins/jobsim-celery for a Celery app, "
                "pip install -e plugins/jobsim-inngest for inngest-py functions, "
                "pip install -e plugins/jobsim-rq for RQ queues, "
                "pip install -e plugins/jobsim-apscheduler for an APScheduler 3 scheduler, "
                "pip install -e plugins/jobsim-bullmq for bullmq Worker objects, "
                "pip install -e plugins/jobsim-huey for a Huey instance, consumer or task, "
                "pip install -e plugins/jobsim-dramatiq for a Dramatiq broker, actor or Worker, "
                "pip install -e plugins/jobsim-arq for arq WorkerSettings or a Worker)",
            )  # fmt: skip
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

    def _add_functions(self, functions: Iterable[Function]) -> None:
        for fn in functions:
            check_triggers(fn.events, "events", list(fn.events))  # a backend plugin's trigger, as app.function's on=
            if fn.id in self.functions:
                other = self.functions[fn.id].app
                where = (f"in app {other.id!r} and in app {fn.app.id!r}" if other is not fn.app
                         else f"twice in app {fn.app.id!r}")  # fmt: skip
                raise InvalidArgument(f"function id {fn.id!r} is declared {where}; a simulation's function ids must "
                                      "be unique: rename one")  # fmt: skip
            self.functions[fn.id] = fn

    def add_function(self, fn: Function, *, own_worker: bool = False) -> None:
        """Declare ``fn`` while the simulation runs, for a plugin whose target is ``Adapted(dynamic=True)``.

        jobsim-rq calls it the first time a queue enqueues a callable: RQ has no
        registry of job functions, so they are learnt from use. ``own_worker`` as in
        ``Adapted.own_worker``. The function's app must already be one of ``self.apps``.
        """
        if not isinstance(fn, Function):  # a plugin's mistake, named here rather than as an AttributeError inside
            raise InvalidArgument.build("fn", fn, "a jobsim.Function, such as app.function(...)(handler) returns")
        self._add_functions([fn])
        fn = self.functions[fn.id] = self._limited(fn)
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

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> Simulation:
        if self._state == "running":  # `with jobsim:` in a test: the fixture's simulation is started already
            raise JobsimError("this simulation is running already: use it as it is (the `jobsim` fixture's is "
                              "started for the test and closed after it), or create a new Simulation for another "
                              "run")  # fmt: skip
        if self._state != "new":
            raise JobsimError(f"this simulation is {self._state}; create a new Simulation for another run")
        self._refuse_late_functions()
        for app in self.apps:
            other = app._simulation
            if other is not None and other._role:
                raise JobsimError(
                    f"app {app.id!r} is already running in {other._role} ({other!r}): a test that takes the "
                    "`jobsim` fixture uses that simulation (options by @pytest.mark.jobsim(...)); to build your own "
                    "jobsim.Simulation of the app, leave the fixture out of the test's arguments"
                )
            if other is not None:
                raise JobsimError(
                    f"app {app.id!r} is already running in another simulation ({other!r}, started {other._where}); "
                    "close that one first (one a module- or session-scoped fixture keeps holds its apps until its "
                    "scope ends: give it an App of its own, or build it per test)"
                )
        self._release_backends()  # its own patches take the backends' calls from here
        for app in self.apps:
            app._simulation = self
        self._where = _caller_site()
        for fn in self.functions.values():
            self.engine.add_function(fn)
        self._state = "running"
        try:
            self._plugins.hook.jobsim_install(sim=self)
            for adapted in self.adapted:
                if adapted.install is not None:
                    adapted.install(self)
        except BaseException:
            self.close()
            raise
        return self

    def _refuse_late_functions(self) -> None:
        """A function declared on a target app after this simulation was built from it is not in the simulation
        (it took the app's functions then): it would never run, and its events would start nothing, silently."""
        left_out = self._selection.left_out if self._selection is not None else {}
        for app in self._app_targets:
            late = [fn_id for fn_id in app.functions if fn_id not in self.functions and fn_id not in left_out]
            if late:
                raise JobsimError(
                    f"function(s) {', '.join(map(repr, late))} were declared on app {app.id!r} after this Simulation "
                    "was built from it, so it does not have them and they would never run: declare every function "
                    "before building the Simulation, or build a new one"
                )

    def close(self) -> None:
        if self._state != "running":
            self._release_backends()  # one never started: the backends are the test's again
            return
        x = self.engine.x
        if x is not None:  # closing inside a driving call would pull the loop and the apps from under it
            raise JobsimError(
                f"sim.close() was called from job code (function {x.run_.function.id!r}); close the simulation "
                "from the test (`with jobsim.Simulation(app) as sim:` closes it when the block ends)"
            )
        for app in self.apps:
            if app._simulation is self:
                app._simulation = None
        for adapted in reversed(self.adapted):
            if adapted.uninstall is not None:
                adapted.uninstall(self)
        for impl in self._plugins.hook.jobsim_uninstall.get_hookimpls():  # reverse of install order
            impl.function(sim=self)
        if self._loop is not None:
            self._loop.close()
        self.wallclock.close()
        self._sends.end()
        self._state = "closed"
        self._warn_unfired_faults()
        self._warn_blind_keys()
        self._warn_case_only_names()
        self._warn_undriven()

    def _warn_undriven(self) -> None:
        """The test sent events and closed without driving the clock: the runs they queued never ran.

        Only work due by now counts (a delayed send, a future ``ts``, is the test's business),
        and not inside a Hypothesis test (``apply(..., then=None)`` stops there on purpose).
        """
        if self._undriven is None or _in_hypothesis():
            return
        now = self.kernel.now
        due = [t for t in self.kernel.pending() if not t.recurring and t.due <= now]
        if not due:
            return
        owners = ", ".join(dict.fromkeys(t.owner for t in due))
        self._warn(
            f"the simulation closed at {iso(now)} with {len(due)} item(s) of work due that never ran ({owners}), "
            "queued by sim.send after the last driving call: send only queues, and runs start at the next "
            "sim.advance(...) or sim.run_until_idle(); call one before asserting (advance(0) runs what is due now)",
            PendingWorkWarning,
        )  # fmt: skip

    def _warn_unfired_faults(self) -> None:
        """A ``sim.fail`` aimed at a step it can never reach: the test passes without its failure path.

        Only likely mistakes warn (``FaultWarning``): the step is one that runs no code (a
        sleep, a wait, an invoke), or the function ran but never a step of that id (a typo;
        not inside a Hypothesis test, where drawn faults often aim at steps a history does
        not reach). A fault left over because its function never ran, or its step had
        already completed, may be the test's intent.
        """
        for (function_id, step), queue in self.engine.faults.items():
            if function_id is None or step is None or not any(entry[0] for entry in queue):
                continue  # the crash/downtime hook, a function-level fault, or used up
            kinds = {key: record.kind for run in self.engine.runs.get(function_id, ()) for key, record in
                     run.steps.items()}  # fmt: skip
            kind = kinds.get(step)
            if kind in _FAULTABLE or not any(run.attempts for run in self.engine.runs.get(function_id, ())):
                continue
            if kind is None:
                if _in_hypothesis():  # a drawn fault for a step this history does not reach: the search's business
                    continue
                ran = ", ".join(map(repr, sorted(kinds))) or "none"
                hint = f"no step of that id ran (a typo?); its steps that ran: {ran}"
            else:
                hint = f"it is a {kind} step, which runs no code (sim.fail reaches step.run and step.send_event steps)"
            self._warn(f"sim.fail({function_id!r}, step={step!r}) never fired: {hint}", FaultWarning)

    def _warn_blind_keys(self) -> None:
        """A flow-control key path that read nothing on any of 2 or more events (a typo: ``event.data.userID``):
        they all shared one key, as on Inngest, so a debounce dropped work or a batch merged users (``KeyWarning``).
        One event is no evidence, and an event that gave a value says the path exists. Not inside a Hypothesis
        test, where drawn events may all lack an optional field."""
        if _in_hypothesis():
            return
        for watch in self.engine.flowrt.watches:
            if not watch.valued and watch.events >= 2:
                self._warn(watch.message(), KeyWarning)

    def _warn_case_only_names(self) -> None:
        """Events sent as ``user.signup`` to a function ``on="user.Signup"``: it never ran (``TriggerWarning``)."""
        awaited = {*self.engine.waiters, *(cancel.event for fn in self.functions.values() if fn.flow is not None
                                           for cancel in fn.flow.cancel_on)}  # fmt: skip
        for message in case_only_misses(self.bus.history, self.engine.by_event, awaited, sim=self):
            self._warn(message, TriggerWarning)

    def _warn(self, message: str, category: type[Warning]) -> None:
        """Warn at the test's line: the caller outside jobsim (its ``with`` or ``close()``), or ``_warn_at``, where
        the pytest plugin points its fixture's warnings (the test's ``def``; the caller there is pytest's teardown)."""
        if self._warn_at is None:
            warnings.warn(message, category, stacklevel=_outside_jobsim())
        else:
            warnings.warn_explicit(message, category, *self._warn_at)

    def __enter__(self) -> Simulation:
        return self.start()

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        if exc_type is not None:  # the block failed: what it left queued is not the news
            self._undriven = None
        self.close()

    def _require_running(self, what: str) -> None:
        if self._state != "running":
            hint = (
                "use `with jobsim.Simulation(app) as sim:` or call sim.start() first"
                if self._state == "new"
                else "it is closed"
            )
            raise JobsimError(f"sim.{what}() needs a running simulation: {hint}")

    # -- host services (for sinks and plugins) -----------------------------------------------
    def now_ns(self) -> int:
        """Virtual time as job code sees it: the execution's own clock while code runs."""
        return self.engine.now()

    def rng_for(self, function_id: str) -> random.Random:
        """The generator of the draws made for function ``function_id``'s runs: its retry jitter, the jitter of
        its schedule, the ids its job code's emails and HTTP answers get. Each function has its own, seeded
        from the seed and its id (a string seed is hashed with SHA-512: the same in every process), so that
        one function drawing more (an extra retry, an extra email) moves no other function's draws, and a
        replay of yesterday's trace against changed code shows no noise in the functions nobody changed.
        With ``random_streams="shared"`` every function draws from ``sim.rng``, as before trace minor 2."""
        rng = self._streams.get(function_id)
        if rng is None:
            rng = self.rng if self.random_streams == "shared" else random.Random(f"jobsim:{self.seed}:{function_id}")
            self._streams[function_id] = rng
        return rng

    def job_rng(self) -> random.Random:
        """The generator for a draw made now: the stream of the function whose job code is running
        (``rng_for``), else ``sim.rng`` (test code, a broker's own draws)."""
        return self._job_code_rng() or self.rng

    def _job_code_rng(self) -> random.Random | None:
        """The running function's stream while job code runs, else None: ``uuid.uuid4()`` in job code."""
        x = self.engine.x
        return None if x is None else self.rng_for(x.run_.function.id)

    def in_job_code(self) -> bool:
        """Job code is running on the calling thread: an execution is under way in a driving call on it."""
        return self.engine.x is not None and self.wallclock.drives_this_thread()

    def driving(self) -> bool:
        """A driving call is under way (``advance``, ``run_until_idle``...), on any thread."""
        return self.wallclock.active()

    def consume(self, ns: int) -> None:
        """Job code spends ``ns`` of virtual time (``time.sleep``, a slow response)."""
        x = self.engine.x
        if x is None:
            raise JobsimError("virtual time can only be spent by job code while it runs; use sim.advance() in tests")
        if x.now + ns > MAX_NS:  # time.sleep(1e20) or jobsim.delayed(10**30): no datetime could show the end
            spent = ("tried to wait forever (asyncio.sleep(math.inf), or as long)" if ns >= FOREVER else
                     f"tried to spend {format_duration(ns)} of virtual time")  # fmt: skip
            raise InvalidArgument(f"job code {spent} from {iso(x.now)} "
                                  f"(time.sleep, jobsim.delayed, asyncio.sleep): it must end by {iso(MAX_NS)}, "
                                  f"the last instant a datetime can show (function {x.run_.function.id!r}, run "
                                  f"{x.run_.id}); {_LONG_SLEEP}")
        if x.now + ns > self._until and len(self._overslept) < 10:  # named if run_until_idle stops short of it
            self._oversleep(x.run_, x.now, ns)
        if self._spender is x:
            self._spends += 1
            if self._spends > MAX_SPENDS:
                raise self._endless(x)
        else:
            self._spender, self._spends = x, 1
        system = self.engine.system
        if system is not None and system.watching and x.run_.function.id not in self._own_worker:
            # a crash, a downtime or a duration limit may cut it short
            system.spend(x, ns)
        x.now += ns
        self.wallclock.move(x.now)

    def _endless(self, x: Any) -> BudgetExceeded:
        """A budget instead of a hang: ``while not ready(): time.sleep(1)`` waiting for what never comes
        ran one attempt to the year 9999 a second at a time (hours of real time). Raised in job code,
        it fails that attempt, which is retried like one a worker's time limit killed."""
        return BudgetExceeded(
            f"job code of function {x.run_.function.id!r} (run {x.run_.id}) spent virtual time {MAX_SPENDS:,} times "
            f"in one attempt (time.sleep, asyncio.sleep, jobsim.delayed), from {iso(x.start)} to {iso(x.now)}: a loop "
            "waiting for something that never comes? Bound the loop (or sleep longer between checks)"
        )

    def record(self, kind: str, **fields: Any) -> None:
        """Add a record; made while job code runs, it names that function and run.

        ``kind`` is a dotted name (declare new kinds with the ``jobsim_record_kinds``
        hook so timelines can draw them); ``k``, ``seq`` and ``at`` are not field
        names, because every trace line carries them itself.
        """
        if not isinstance(kind, str) or not kind or kind in RESERVED_KINDS:
            raise InvalidArgument.build("kind", kind, "a non-empty record kind such as 'celery.task' "
                                        f"(not {' or '.join(map(repr, RESERVED_KINDS))})")
        if RESERVED_FIELDS.intersection(fields):
            raise InvalidArgument(f"sim.record({kind!r}) got field(s) {sorted(RESERVED_FIELDS.intersection(fields))}: "
                                  "'k', 'seq' and 'at' are taken by every trace line; rename them")
        x = self.engine.x
        if x is not None:
            fields.setdefault("function", x.run_.function.id)
            fields.setdefault("run", x.run_.id)
        self.trace.add(self.now_ns(), kind, fields)

    def loop(self) -> VirtualLoop:
        if self._loop is None:
            self._loop = VirtualLoop(self.now_ns, self.consume)
        return self._loop

    # -- driving time ----------------------------------------------------------------------
    @property
    def now(self) -> dt.datetime:
        """The simulation's current virtual time (aware, UTC)."""
        return to_datetime(self.kernel.now)

    @keywords_checked("sim.advance()")
    def advance(self, by: Duration, *, max_items: int = DEFAULT_MAX_ITEMS) -> None:
        """Run everything due in the next ``by`` of virtual time."""
        __tracebackhide__ = True  # a driving frame: pytest shows the test's line (see Simulation._drive)
        self._require_running("advance")
        until = self.kernel.now + duration_ns(by, "by")
        if until > MAX_NS:
            raise InvalidArgument.build("by", by, f"a duration that ends by {iso(MAX_NS)}, the last instant a "
                                        f"datetime can show (the simulation is at {iso(self.kernel.now)})")
        self._drive(until, max_items=max_items, what="advance")

    @keywords_checked("sim.advance_to()")
    def advance_to(self, at: Instant, *, max_items: int = DEFAULT_MAX_ITEMS) -> None:
        """Run everything due up to the instant ``at``; naive times are read in ``tz``."""
        __tracebackhide__ = True  # a driving frame: pytest shows the test's line (see Simulation._drive)
        self._require_running("advance_to")
        self._drive(instant_ns(at, "at", tz=self.tz), max_items=max_items, what="advance_to")

    @keywords_checked("sim.run_until_idle()")
    def run_until_idle(self, max_time: Duration = "366d", *, max_items: int = DEFAULT_MAX_ITEMS) -> None:
        """Run until no one-off work is pending (recurring cron ticks do not count).

        Stops with ``BudgetExceeded`` if work is still pending ``max_time`` from now.
        """
        __tracebackhide__ = True  # a driving frame: pytest shows the test's line (see Simulation._drive)
        self._require_running("run_until_idle")
        horizon = duration_ns(max_time, "max_time")
        deadline = min(self.kernel.now + horizon, MAX_NS)  # a huge max_time means "no limit"
        self._drive(deadline, max_items=max_items, what="run_until_idle", stop_when_idle=True)
        if not self.kernel.idle:
            pending = [t for t in self.kernel.pending() if not t.recurring]
            lines = "\n".join(f"  {t.owner}: next at {_when(t.due)}" for t in pending[:10])
            raise BudgetExceeded(
                f"run_until_idle(max_time={format_duration(horizon)!r}) reached {iso(deadline)} with "
                f"{len(pending)} item(s) of work still pending:\n{lines}\n"
                "A run sleeping or retrying past the horizon does this, as do a delayed send and a run that "
                "starts at its event's future ts; raise max_time= if that is expected."
                + self._oversleeps(deadline, horizon)
            )

    def _oversleep(self, run: Run, start: int, ns: int) -> None:
        if not self._overslept or self._overslept[-1][0] is not run:  # the call that crossed the end, once a run
            self._overslept.append((run, start, ns))

    def _oversleeps(self, deadline: int, horizon: int) -> str:
        """The sleeps in job code that ran past ``deadline`` (``time.sleep(1e9)``): each ends its attempt
        there, so its run is the work still pending; named with its length and how to get past it."""
        slept = [(run, start, ns) for run, start, ns in self._overslept if start + ns > deadline]
        if not slept:
            return ""
        lines = "".join(f"\n  function {run.function.id!r} (run {run.id}): {format_duration(ns)} from {iso(start)} "
                        f"to {iso(start + ns)}" for run, start, ns in slept)  # fmt: skip
        end = max(start + ns for _, start, ns in slept)
        needed = format_duration(end - (deadline - horizon))  # from where run_until_idle began
        return (f"\nJob code slept past {iso(deadline)} in one call (time.sleep, asyncio.sleep, jobsim.delayed): "
                f"its attempt goes on at least until the sleep ends:{lines}\nTo wait for it, raise the horizon "
                f"(run_until_idle(max_time={needed!r}) or more) or sim.advance(...) past it; else {_LONG_SLEEP}")

    def _drive(self, until: int, *, max_items: int, what: str, stop_when_idle: bool = False) -> None:
        # pytest leaves hidden frames out of a failure's traceback and parses no source for them. An error that
        # leaves a driving call (an assert in a route's side effect, BudgetExceeded) passed through eight of
        # jobsim's frames, from the test's `history.apply(sim)` down; Hypothesis has pytest format the traceback
        # of each failing example it shrinks and explains, and parsing those files took 30 of a property's 46 s.
        __tracebackhide__ = True
        _check_budget("max_items", max_items)
        x = self.engine.x
        if x is not None:  # re-entering the kernel from a request would run other work inside it
            raise JobsimError(
                f"sim.{what}() was called from job code (function {x.run_.function.id!r}); drive time from the "
                "test. In job code, time.sleep(...) spends virtual time and ctx.step.sleep(...) suspends the run"
            )
        if until < self.kernel.now:
            raise InvalidArgument(
                f"time can't go backwards: {what}() to {iso(until)} but the simulation is at {iso(self.kernel.now)}"
            )
        self.trace.add(self.kernel.now, "advance", {"until": until, "idle": stop_when_idle})  # replayed as is
        self._undriven = None
        self._until, self._overslept = until, []
        self._sends.end()
        guarded = guard_other_mocks(self)  # responses, requests-mock, pytest-httpx: job code must reach sim.http
        try:
            self.wallclock.activate()
            try:
                self.kernel.run(until, stop_when_idle=stop_when_idle, max_items=max_items,
                                max_chain=self.max_chain, what=what)  # fmt: skip
            except TestAssertion as failed:  # an assert in a route's side effect: the test's own failure
                raise failed.error from None
            finally:
                self.wallclock.deactivate()
        finally:
            if guarded:
                unguard_other_mocks(guarded)

    # -- events --------------------------------------------------------------------------------
    def send(self, event: Any, data: Any = None, *, delay: Duration | None = None, **fields: Any) -> list[str]:
        """Send events onto the bus at the current virtual time; returns their ids.

        Runs they trigger are queued at this instant and execute on the next
        ``advance``/``run_until_idle`` (``advance(0)`` runs what is due now). With
        ``delay``, the event is sent that much later (a delayed job: ``jobsim._delay``).
        """
        if self._state != "running":
            self._require_running("send")
        if fields:
            check_send_fields("sim.send()", fields)
        if self._undriven is None and self.engine.x is None:  # the test's send, not job code's
            self._undriven = self.kernel.now
        self._sends.add(len(event) if isinstance(event, (list, tuple)) else 1)  # a loop of them: ``_gc.Sends``
        if delay is not None:
            from ._delay import send_later

            return send_later(self, event, data, delay, fields)
        return self._emit(event, data, **fields) if fields else self._emit(event, data)  # no copy of an empty **

    def _emit(self, event: Any, data: Any = None, *, _origin: str = "input", _by: Any = None,
              _sent: int | None = None, **fields: Any) -> list[str]:  # fmt: skip
        current, ids = self.engine.x, []
        now = self.kernel.now if current is None else current.now  # ``engine.now()``
        if type(event) is str and (data is None or type(data) is dict) and not fields and event.strip():
            # sim.send("name", {...}): copied here (an empty dict too: the event gets a fresh one), made without
            # Event()'s checks of fields it does not have (no ts: nothing for check_ts_units)
            events = [plain_event(event, sent_data(data) if data else {})]
        else:
            if type(event) is str and (data is None or type(data) is dict) and "user" not in fields:
                events = [Event(event, json_copy("data", data) if data else {}, **fields)]
            else:
                events = coerce_events(event, data, fields)
            check_ts_units(events, now)
        x = current if _by is None else _by  # job code sent it (else a test or the traffic: an input)
        # job code that spent time first (time.sleep, a slow response) sends at its own clock: the event
        # reaches functions, waits and cancellations then, not at the instant its request began
        later = x is not None and now > self.kernel.now
        for item in events:
            accepted = self.bus.accept(item, now)
            if accepted is None:
                dropped = event_fields(item, _origin, x, now, _sent)
                if self.bus.pending(item):
                    dropped["pending"] = True
                self.trace.add(now, "event.dropped", dropped)
                ids.append(item.id or "")  # the bus gave it an id if it had none
            elif x is None:  # ``trace.add(now, "event", event_fields(...))``, compact (``_trace._EXPAND``)
                self.engine._row((now, "event", accepted, _origin, None, None, _sent))
                ids.append(accepted.id or "")
                self.engine.publish(accepted)
            else:
                run = x.run_
                self.engine._row((now, "event", accepted, "job", run.function.id, run.id, None))
                ids.append(accepted.id or "")
                self.engine.causes[id(accepted)] = run  # runs it starts follow x's in a chain
                if later:
                    self.kernel.schedule(now, self.engine.publish, accepted, owner=run.function.id)
                else:
                    self.engine.publish(accepted)
        return ids

    @property
    def events(self) -> list[Event]:
        """Every event accepted by the bus, in order, each with its virtual ``ts`` (ms)."""
        return list(self.bus.history)

    # -- results --------------------------------------------------------------------------------
    @keywords_checked("sim.runs()")
    def runs(self, function: Any = None) -> list[Run]:
        """Runs of one function (by id or object), or of every function in start order."""
        if function is None:
            return sorted((r for runs in self.engine.runs.values() for r in runs), key=lambda r: (r.start_ns, r.id))
        return list(self.engine.runs.get(self._function(function).id, ()))

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
                                        "function ids: " + ", ".join(map(repr, self.functions)))  # fmt: skip
        accepted = "one of the simulated function ids: " + ", ".join(map(repr, self.functions))
        dynamic = sorted({a.backend for a in self.adapted if a.dynamic})
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

    @keywords_checked("sim.fail()")
    def fail(self, function_id: Any, step: str | None = None, *, times: int = 1, error: Any = None) -> None:
        """Make the next ``times`` attempts of that function (or of its ``step``) fail with ``error``."""
        if self._state == "closed":  # armed before start is fine; after close it could never fire
            raise JobsimError("sim.fail() needs a simulation that is not closed: it is closed")
        fn = self._function(function_id)
        if step is not None and (not isinstance(step, str) or not step):
            raise InvalidArgument.build("step", step, "a step id (a non-empty string), or None for the function")
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise InvalidArgument.build("times", times, "an int >= 1")
        check_fault_error("error", error, error)  # one that fails each attempt as asked, not a TypeError
        self.engine.add_fault(fn.id, step, times, error)
        self._armed(self.now_ns(), {"fault": "fail", "function": fn.id, "step": step, "times": times,
                                    "error": describe_error(error)})  # fmt: skip

    def _armed(self, at: int, data: dict[str, Any]) -> None:
        """The ``fault.armed`` record of a fault; armed by job code rather than the test, it names that ``run``
        (as ``sim.record`` does, which ``sim.mail.smtp_fail`` records with): a replay arms again only the faults
        from outside the jobs, since today's job code arms its own (it was armed twice, once by each)."""
        x = self.engine.x
        if x is not None:
            data["run"] = x.run_.id
        self.trace.add(at, "fault.armed", data)

    @classmethod
    def replay(cls, trace: Any, *targets: Any, **options: Any) -> ReplayResult:
        """Replay a recorded trace's input events into ``targets`` (today's code) and compare.

        ``trace`` is a ``jobsim.Trace`` or a path (a ``.jobsim.jsonl[.gz]`` trace, or a
        JSON Lines file of Inngest events or CloudEvents). Options: ``compare``,
        ``ignore``, ``tolerance``, ``setup``, ``deliver``, ``http``, ``faults``,
        ``seed``, ``profile``, ``redact`` -- see :func:`jobsim.traces.replay`.
        """
        from ._replay import replay

        return replay(trace, *targets, **options)

    # -- faults beyond sim.fail (the profile decides how the system answers) ------------------------
    @keywords_checked("sim.crash_worker()")
    def crash_worker(self, at: Instant | None = None, function: Any = None) -> None:
        """Kill the worker running the attempt in flight at ``at`` (default: now).

        The attempt in flight is the first one — of ``function`` (an id or a
        ``Function``), or of any function — whose code is spending virtual time
        across ``at`` (``time.sleep``, a delayed HTTP answer), else the first one
        that starts at or after ``at``, which dies before its code runs. It never
        reports; what happens next is the profile's (Inngest retries the step with
        earlier steps memoized, BullMQ re-runs the stalled job after its lock
        expires, Agenda after 10 minutes, node-cron and Vercel lose the run, ...).
        Backend plugins answer it for their own workers (``jobsim_crash_worker``):
        jobsim-celery kills its Celery worker as ``sim.celery.crash_worker`` does.
        """
        at_ns = self._fault_instant(at, "at")
        fn_id = None if function is None else self._function(function, "function").id
        claimed = any(self._plugins.hook.jobsim_crash_worker(sim=self, at=at_ns, function=fn_id))
        if fn_id is None or not claimed:  # a backend plugin's worker is not the engine's
            self._system().arm_crash(at_ns, fn_id)
        self._armed(self.kernel.now, {"fault": "crash", "when": at_ns, "function": fn_id})

    def _refuse_for_own_workers(self, fault: str, fn_id: str | None) -> None:
        """A fault the engine cannot apply to functions a plugin's own worker runs is refused, not ignored."""
        hit = [a for a in self.adapted if a.own_worker and (fn_id is None or any(f.id == fn_id for f in a.functions))]
        if hit:
            backend = hit[0].backend
            raise UnsupportedFeature(
                f"sim.{fault}() is not simulated for {backend} functions (their worker is the plugin's own); "
                f"sim.crash_worker(...) is, if the {backend} plugin simulates crashes (see its README)"
                + (", or name a function= that jobsim's engine runs" if fault == "duplicate_delivery" else ""),
                system=backend, feature=fault,
            )

    @keywords_checked("sim.downtime()")
    def downtime(self, start: Instant, end: Instant) -> None:
        """The system is down in ``[start, end)``: nothing starts, in-flight attempts die.

        A persistent system runs what was due when it is back (missed cron ticks per
        its profile: all, the first, the latest); one without persistence (node-cron,
        Vercel Cron) loses its in-flight and pending runs and every tick due meanwhile.
        Windows may not overlap.
        """
        self._refuse_for_own_workers("downtime", None)
        start_ns = self._fault_instant(start, "start")
        end_ns = instant_ns(end, "end", tz=self.tz)
        if end_ns <= start_ns:
            raise InvalidArgument(f"downtime end={end!r} is not after start={start!r}; give start < end")
        self._system().arm_downtime(start_ns, end_ns)
        self._armed(self.kernel.now, {"fault": "downtime", "start": start_ns, "end": end_ns})

    @keywords_checked("sim.duplicate_delivery()")
    def duplicate_delivery(self, function: Any = None, at: Instant | None = None, times: int = 1) -> None:
        """Deliver the next cron tick or event start of ``function`` (any, by default) ``times`` extra times.

        The delivery is the first at or after ``at`` (default: now). Only a system
        that does not deduplicate runs the copies (Vercel Cron: "can occasionally
        fire more than once"); the others drop them, and the trace says why.
        """
        at_ns = self._fault_instant(at, "at")
        fn_id = None if function is None else self._function(function, "function").id
        self._refuse_for_own_workers("duplicate_delivery", fn_id)
        if isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= MAX_DUPLICATES:
            # each copy is a run made inside one delivery, which no max_items budget sees: a huge count would hang
            raise InvalidArgument.build("times", times, f"an int from 1 to {MAX_DUPLICATES:,}: how many extra "
                                        "deliveries (each copy is a run, made at once)")  # fmt: skip
        self._system().arm_duplicate(at_ns, fn_id, times)
        self._armed(self.kernel.now, {"fault": "duplicate", "when": at_ns, "function": fn_id, "times": times})

    def _fault_instant(self, at: Instant | None, name: str) -> int:
        now = self.kernel.now
        if at is None:
            return now
        ns = instant_ns(at, name, tz=self.tz)
        if ns < now:
            raise InvalidArgument(
                f"time can't go backwards: {name}={at!r} is before the simulation's now, {iso(now)}"
            )
        return ns

    def _system(self) -> Any:
        """The runtime of the profile's rules and of armed faults (``_runtime.py``), made on first need."""
        system = self.engine.system
        if system is None:
            from ._runtime import SystemRuntime

            system = SystemRuntime(self)
        return system

    if not TYPE_CHECKING:  # a type checker seeing __getattr__ would accept any attribute name
        def __getattr__(self, name: str) -> Any:
            """Reached only for a missing attribute: say so, naming the usual cause when it is one.

            In ``def test_x(jobsim)`` the fixture shadows the module, so ``jobsim.timeout()`` or
            ``jobsim.Event(...)`` is looked up here; plain "no attribute" hides why.
            """
            __tracebackhide__ = True  # the test's line is the one to show, not this one
            import jobsim

            message = f"'Simulation' object has no attribute {name!r}"
            if not name.startswith("_") and name in jobsim.__all__:
                message += (": in a test that takes the `jobsim` fixture, `jobsim` is the simulation, not the "
                            f"module; import the name instead: `from jobsim import {name}`")
            raise AttributeError(message, name=name, obj=self)

    @keywords_checked("sim.timeline()")
    def timeline(self, tz: str | dt.tzinfo | None = None) -> str:
        """A readable story of everything that happened, in ``tz`` (default: the simulation's)."""
        from ._timeline import render

        return render(self, zone(tz) if tz is not None else self.tz)

    def __repr__(self) -> str:
        profile = getattr(self, "profile", None)  # a repr must work on a half-built simulation too
        return (
            f"<Simulation at {iso(self.kernel.now)} seed={self.seed} profile={profile.name if profile else None!r} "
            f"functions={list(self.functions)} {getattr(self, '_state', 'new')}>"
        )


def _flatten(targets: Iterable[Any]) -> Iterable[Any]:
    for target in targets:
        if isinstance(target, (list, tuple)):
            yield from _flatten(target)
        else:
            yield target




_FAULTABLE = ("run", "send_event")
"""The step kinds ``sim.fail(function, step=...)`` can fail (``Execution.fault``)."""


def _refuse_plain(target: Any) -> None:
    """Two slips no backend plugin answers, named for what they are rather than with the plugins' install notes:
    ``None`` (a ``jobsim_app`` fixture or factory without its ``return``), and the module that holds the app."""
    if target is None:
        raise InvalidArgument.build("targets", target, "a jobsim.App; None is what a jobsim_app fixture or a "
                                    "factory without `return app` gives")  # fmt: skip
    if isinstance(target, types.ModuleType):
        apps = [name for name, value in vars(target).items() if isinstance(value, App)]
        if apps:
            raise InvalidArgument.build("targets", target, "a jobsim.App, not the module holding it: pass "
                                        + " or ".join(f"{target.__name__}.{name}" for name in apps))  # fmt: skip


def _in_hypothesis() -> bool:
    """Inside a Hypothesis test (without importing Hypothesis when nobody has)."""
    in_test = getattr(sys.modules.get("hypothesis.control"), "currently_in_test_context", None)  # Hypothesis >= 6.x
    return in_test is not None and bool(in_test())


def _outside_jobsim() -> int:
    """The ``stacklevel`` of the first caller outside the jobsim package (the test's ``with`` or ``close()``)."""
    here = os.path.dirname(__file__)
    frame, level = sys._getframe(2), 2  # the caller of the function that warns
    while frame.f_back is not None and os.path.dirname(frame.f_code.co_filename) == here:
        frame, level = frame.f_back, level + 1
    return level


def _caller_site() -> str:
    """``at FILE:LINE in FUNCTION`` of the first caller outside the jobsim package (a test's ``with``, a fixture)."""
    here = os.path.dirname(__file__)
    frame: Any = sys._getframe(1)
    while frame is not None and os.path.dirname(frame.f_code.co_filename) == here:
        frame = frame.f_back
    if frame is None:
        return "by jobsim"
    return f"at {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


def _when(ns: int) -> str:
    """An instant for a message; work due past the last instant a datetime can show is due never."""
    return iso(ns) if ns <= MAX_NS else f"never (past {iso(MAX_NS)})"


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
