"""``jobsim.Simulation``: the one front door that wires kernel, engine, bus, sinks and clock.

The class is built in layers (``_simtargets``: targets and functions; ``_simlife``: start, close and its
warnings; ``_simfaults``: the faults a test arms); this last one builds it all and holds the host services
and the driving calls (``advance``, ``run_until_idle``, ``send``), on every job's path."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _gc, _plugins
from ._aio import FOREVER, VirtualLoop, _Process
from ._app import App
from ._checks import TestAssertion, keywords_checked
from ._events import (
    DEDUPE_WINDOW,
    Bus,
    Event,
    check_send_fields,
    check_ts_units,
    coerce_events,
    json_copy,
    plain_event,
    sent_data,
)
from ._kernel import DEFAULT_MAX_CHAIN, DEFAULT_MAX_ITEMS, LAST, Kernel
from ._othermocks import guard as guard_other_mocks
from ._othermocks import unguard as unguard_other_mocks
from ._profiles import Profile, Profiles, resolve
from ._records import Run
from ._simfaults import MAX_DUPLICATES as MAX_DUPLICATES  # its home before the split
from ._simfaults import _Faults
from ._simtargets import RANDOM_STREAMS as RANDOM_STREAMS  # its home before the split
from ._simtargets import _check_budget, _check_random_streams, _flatten
from ._threadwaits import guard as guard_thread_waits
from ._threadwaits import real_wait
from ._threadwaits import unguard as unguard_thread_waits
from ._time import MAX_NS, Duration, Instant, duration_ns, format_duration, instant_ns, iso, to_datetime, zone
from ._trace import RESERVED_FIELDS, RESERVED_KINDS, Trace, check_record, event_fields
from ._unread import messages
from ._wallclock import WallClock, check_clock_classes
from .errors import BudgetExceeded, InvalidArgument, JobsimError

if TYPE_CHECKING:
    from ._app import Function
    from ._replay import ReplayResult
    from ._selection import Selection
    from .hooks import Adapted

DEFAULT_START = "2025-01-01T00:00:00Z"
_LONG_SLEEP = ("check the sleep's length: time.sleep and asyncio.sleep take seconds (not milliseconds), and a long "
               "wait belongs in a step, ctx.step.sleep(...) or ctx.step.wait_for_event(...), which frees the worker")
MAX_SPENDS = 250_000
"""How often one attempt's code may spend virtual time (``time.sleep``, ``asyncio.sleep``): a poll every second
for almost three days, far past any worker's time limit; a fraction of a second of real time (sync code)."""


class _Default(str):
    """A default value told apart from the same value given (``max_time is _DEFAULT_HORIZON``)."""

    __slots__ = ()


_DEFAULT_HORIZON = _Default("366d")
"""run_until_idle's default ``max_time``."""
_OVERLAP_WINDOW = 7 * 24 * 3600 * 10**9
"""With the default horizon, how long run_until_idle runs never idle before it looks for overlapping cron runs."""
_DAY = 24 * 3600 * 10**9
"""How often run_until_idle's default horizon counts the runs not finished (``_Watch``)."""
_SELF_BACKLOG = 10_000
"""Runs not finished, most started by runs of their own function, above which growth over two days stops it."""
_ID_WINDOWS = {"kept": MAX_NS, "pending": MAX_NS, "unless-failed": 30 * 24 * 3600 * 10**9}
"""How long an event id stays taken, by ``Profile.repeated_ids`` (else a day): for ever while the job exists
(BullMQ keeps every job, Quirrel's until it has run), Trigger.dev's idempotency keys 30 days."""


def _in_flight(run: Run, now: int) -> bool:
    """Not finished: queued, running, sleeping, waiting or due to retry, or done but ending later (its code
    slept: ``time.sleep`` in job code ends an attempt at once, where the sleep does)."""
    return not run.done or (run.end_ns is not None and run.end_ns > now)


def _made_by_own(run: Run, links: int = 3) -> bool:
    """Whether a run of ``run``'s function is among the ``links`` runs that started it, one from the next (an
    event sent, an invoke, a task queued): a function that starts itself, or two that start each other."""
    cause = run._cause
    while cause is not None and links:
        if cause.function is run.function:
            return True
        cause, links = cause._cause, links - 1
    return False


class _Watch:
    """run_until_idle's default horizon, while it is never idle: each day it counts the runs not finished (those
    still open at the last count and those made since, so a year of checks costs little more than the runs), and
    stops it when

    - every 7 days: all that is pending is cron runs it started that overlap (``_overlapping_crons``), or the runs
      not finished grew over each of the last two 7-day windows (``backlog``): simulating the rest of the year
      cannot end either;
    - each day: the runs not finished grew over each of the last two days to ``_SELF_BACKLOG`` or more, the
      second day by at least half as many as the first, most of them started by a run of their own function
      (``multiplying``): a function whose runs each start more of
      its own than finish (sending its own event twice under a throttle) made 2.4 million runs and took a minute
      to reach the 7-day rule."""

    __slots__ = ("began", "daily", "open", "seen", "sim", "timer")

    def __init__(self, sim: Simulation, began: int) -> None:
        self.sim, self.began = sim, began
        self.seen: dict[str, int] = {}  # runs counted, by function (its list of runs only grows)
        self.open: list[Run] = []
        self.daily = [self.count()]
        self.timer = self.schedule()

    def schedule(self) -> Any:  # recurring: the check is no work of its own
        return self.sim.kernel.schedule(self.began + len(self.daily) * _DAY, self.check, owner="run_until_idle",
                                        priority=LAST, recurring=True)  # fmt: skip

    def count(self) -> int:
        now = self.sim.kernel.now
        fresh: list[Run] = []
        for fid, runs in self.sim.engine.runs.items():
            seen = self.seen.get(fid, 0)
            if seen < len(runs):
                fresh += runs[seen:]
                self.seen[fid] = len(runs)
        self.open = [run for run in itertools.chain(self.open, fresh) if _in_flight(run, now)]
        return len(self.open)

    def check(self) -> None:
        sim, daily = self.sim, self.daily
        daily.append(self.count())
        weekly = (len(daily) - 1) % (_OVERLAP_WINDOW // _DAY) == 0
        found = self.multiplying()
        if weekly and not found:
            found = sim._overlapping_crons(self.began, self.open) or self.backlog(daily[:: _OVERLAP_WINDOW // _DAY])
        if found:
            now = sim.kernel.now
            raise BudgetExceeded(
                f"run_until_idle() stopped at {iso(now)}, {format_duration(now - self.began)} after it began, never "
                f"having been idle, rather than simulate the rest of its default max_time={str(_DEFAULT_HORIZON)!r}:"
                f"\n{found}\nPass max_time= to wait longer all the same.")
        self.timer = self.schedule()

    def _most(self, runs: list[Run]) -> str:
        by_function: dict[str, int] = {}
        for run in runs:
            by_function[run.function.id] = by_function.get(run.function.id, 0) + 1
        return ", ".join(f"{fid!r} {n:,}" for fid, n in sorted(by_function.items(), key=lambda kv: (-kv[1], kv[0]))[:3])

    def backlog(self, counts: list[int]) -> str:
        """Work made faster than it finishes: the runs not finished grew over each of the last two 7-day windows
        (a backend's periodic task that outlasts its interval on one worker, whose queue only grows; a cron
        function's runs that retry longer than its interval). Named by the functions with the most unfinished."""
        if len(counts) < 3 or not counts[-1] > counts[-2] > counts[-3]:
            return ""
        window = format_duration(_OVERLAP_WINDOW)
        return (f"Work piles up: the runs not finished grew from {counts[-3]:,} to {counts[-2]:,} to {counts[-1]:,} "
                f"over the last two {window} windows (most: {self._most(self.open)}), so runs are made faster than "
                "they finish (a periodic task or cron function that outlasts its interval on too few workers?) and "
                "it is never idle; stop at a time instead (sim.advance('1d'), sim.advance_to(...)), or add workers "
                "or make the runs shorter than the interval.")

    def multiplying(self) -> str:
        """Runs that start more runs of their own function than finish: the runs not finished grew over each of the
        last two days to ``_SELF_BACKLOG`` or more (the second day by at least half as many as the first: a finite
        crawl's backlog grows, then its growth slows as it reaches the pages without links), over half of them
        started by a run of their own function (an event it sent on its own trigger, its invoke, a task it
        queued), or by one that a run of it started (``_made_by_own``)."""
        counts = self.daily
        if len(counts) < 3 or counts[-1] < _SELF_BACKLOG:
            return ""
        if not 2 * (counts[-1] - counts[-2]) >= counts[-2] - counts[-3] > 0:
            return ""
        own = [run for run in self.open if _made_by_own(run)]
        if 2 * len(own) <= len(self.open):
            return ""
        return (f"Runs multiply: the runs not finished grew from {counts[-3]:,} to {counts[-2]:,} to {counts[-1]:,} "
                f"over the last two days, {len(own):,} of them started by a run of their own function, directly or not "
                f"({self._most(own)}): each run starts more of its own (events it sends on its own trigger, "
                "invokes, tasks it queues) than a throttle, a concurrency limit or the workers let finish, so it is "
                "never idle; stop at a time instead (sim.advance('1d'), sim.advance_to(...)), or have each run "
                "start fewer.")


class Simulation(_Faults):
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
        self._target_streams: dict[str, random.Random] = {}  # a plugin's target named as a test's function is
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
        self._given: list[Any] = []  # every target as given (``_testreport.app_spec``: which of them a module holds)
        for target in _flatten(targets):
            self._given.append(target)
            if isinstance(target, App) and target in self._app_targets:  # `[app, app]` (a plugin names its own)
                raise InvalidArgument(f"Simulation() got the app {target.id!r} twice; give each app once")
            self._adopt(target)
        self._selection: Selection | None = None
        if functions is not None or exclude_functions is not None:
            from ._selection import select

            self._selection = select(self.functions, functions, exclude_functions, self._own_worker)
        self.profile = self._chosen_profile(profile)  # refuses one that no target would follow
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
        self.bus = Bus(dedupe=p.repeated_ids != "runs", window=_ID_WINDOWS.get(p.repeated_ids, DEDUPE_WINDOW),
                       holds=self._id_holds(p.repeated_ids), rule=p.repeated_ids)
        self._loop: VirtualLoop | None = None
        self._failure_handlers: dict[str, Function] = {}
        self._state = "new"
        self._sends = _gc.Sends()
        self._undriven: int | None = None  # when the test first sent since its last driving call (``close`` warns)
        self._undriven_runs: list[Any] = []  # runs a backend's enqueue by the test queued since then (``hooks``)
        self._id_runs: dict[str, list[Run]] = {}  # event id -> the runs its events started, built as asked
        self._id_indexed: dict[str, int] = {}  # function id -> how many of its runs ``_id_runs`` holds
        self._unread_quiet = False  # no UnreadQueueWarning at close (a failed block or test, a replay)
        self._block_failed = False  # the `with` block or the test failed: close raises nothing of its own
        self._typos: list[str] = []  # sim.fail steps that are typos of steps that ran, in a Hypothesis test
        self._left_unread: set[tuple[str | None, str]] = set()  # (backend or None, queue): ``sim.leave_unread``
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

    def _install_sinks(self) -> None:
        from ._http import HttpSink
        from ._mail import MailSink

        self.mail = MailSink(self)
        self.http = HttpSink(self, self.mail)

    # -- the driving calls' guard (plugins call it too) -----------------------------------------
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

    def rng_for(self, function_id: Any) -> random.Random:
        """The generator of the draws made for function ``function_id``'s runs: its retry jitter, the jitter of
        its schedule, the ids its job code's emails and HTTP answers get. Each function has its own, seeded
        from the seed and its id (a string seed is hashed with SHA-512: the same in every process), so that
        one function drawing more (an extra retry, an extra email) moves no other function's draws, and a
        replay of yesterday's trace against changed code shows no noise in the functions nobody changed.
        With ``random_streams="shared"`` every function draws from ``sim.rng``, as before trace minor 2.

        ``function_id``: a simulated function's id, or the object ``@app.function`` (or a plugin's task) is;
        another is refused (``InvalidArgument`` listing the ids), as a misspelled one gave a stream nothing draws
        from. A plugin's stream for a name that may be no function's: ``jobsim.hooks.target_rng``."""
        return self._stream(self._function_id(function_id))

    def _stream(self, name: str) -> random.Random:
        """``rng_for`` without the check: the engine's draws, for functions it runs, and ``hooks.target_rng``."""
        rng = self._streams.get(name)
        if rng is None:
            rng = self.rng if self.random_streams == "shared" else random.Random(f"jobsim:{self.seed}:{name}")
            self._streams[name] = rng
        return rng

    def _target_stream(self, name: str) -> random.Random:
        """``hooks.target_rng``: ``_stream(name)``, unless ``name`` is the id of a function of a ``jobsim.App``
        the test passed (never a plugin's target): then a stream of the target's own, seeded from
        ``"jobsim-target:<seed>:<name>"``, so what the plugin draws for it moves none of that function's draws."""
        fn = self.functions.get(name)
        if fn is None or self.random_streams == "shared" or not any(fn.app is app for app in self._app_targets):
            return self._stream(name)
        rng = self._target_streams.get(name)
        if rng is None:
            rng = self._target_streams[name] = random.Random(f"jobsim-target:{self.seed}:{name}")
        return rng

    def job_rng(self) -> random.Random:
        """The generator for a draw made now: the stream of the function whose job code is running
        (``rng_for``), else ``sim.rng`` (test code, a broker's own draws)."""
        return self._job_code_rng() or self.rng

    def _job_code_rng(self) -> random.Random | None:
        """The running function's stream while job code runs, else None: ``uuid.uuid4()`` in job code."""
        x = self.engine.x
        return None if x is None else self._stream(x.run_.function.id)

    def in_job_code(self) -> bool:
        """Job code is running on the calling thread: an execution is under way in a driving call on it."""
        return self.engine.x is not None and self.wallclock.drives_this_thread()

    def driving(self) -> bool:
        """A driving call is under way (``advance``, ``run_until_idle``...), on any thread."""
        return self.wallclock.active()

    def unread_work(self) -> list[str]:
        """Host service (``sim.mail.assert_sent``'s note): the ``UnreadQueueWarning`` sentences for what waits, due
        now, on queues no simulated worker reads; asked of the plugins whatever the warning at close will do."""
        if self._state != "running":
            return []
        try:
            answers = self._plugins.hook.jobsim_unread(sim=self)
        except Exception:  # a plugin's bug must not hide the assertion it would add to
            return []
        return messages((item for answer in answers for item in answer or ()), self._left_unread)

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
        check_record(kind, fields)  # one of jobsim's own kinds without its fields: its saved file would not load
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

    def _id_holds(self, rule: str) -> Callable[[str], bool] | None:
        """``Bus``'s ``holds`` for the profile's ``repeated_ids``: whether the job an event id took holds it still."""
        if rule == "pending":  # Quirrel: while its job is in the queue (not yet run to its end)
            return lambda key: any(not run.done for run in self._runs_of_id(key))
        if rule == "unless-failed":  # Trigger.dev: cleared once the run failed (a cancelled one keeps it)
            return self._unless_failed
        return None

    def _unless_failed(self, key: str) -> bool:
        runs = self._runs_of_id(key)
        return not runs or not all(run.status in ("failed", "lost") for run in runs)

    def _runs_of_id(self, key: str) -> list[Run]:
        """The runs events with id ``key`` started. Asked only of an id sent again: the index is built at the first
        such send and then takes in only the runs started since (a run's events never change), so a replay that
        repeats thousands of ids costs one pass over the runs, not one per repeat."""
        index, indexed = self._id_runs, self._id_indexed
        for fn_id, runs in self.engine.runs.items():
            done = indexed.get(fn_id, 0)
            if done == len(runs):
                continue
            for run in itertools.islice(runs, done, None):
                for event_id in {event.id for event in run.events if event.id is not None}:
                    index.setdefault(event_id, []).append(run)
            indexed[fn_id] = len(runs)
        return index.get(key, [])

    @keywords_checked("sim.run_until_idle()")
    def run_until_idle(self, max_time: Duration = _DEFAULT_HORIZON, *, max_items: int = DEFAULT_MAX_ITEMS) -> None:
        """Run until no one-off work is pending (the next cron tick does not count; the runs of ticks passed on
        the way do, so cron runs that outlast their interval are never idle).

        Stops with ``BudgetExceeded`` if work is still pending ``max_time`` from now. With the default
        ``max_time``, also when it is never idle and simulating the rest of the year cannot end it (``_Watch``):
        cron runs this call started that overlap, work that piles up, runs that multiply.
        """
        __tracebackhide__ = True  # a driving frame: pytest shows the test's line (see Simulation._drive)
        self._require_running("run_until_idle")
        horizon = duration_ns(max_time, "max_time")
        began = self.kernel.now
        deadline = min(began + horizon, MAX_NS)  # a huge max_time means "no limit"
        watch = _Watch(self, began) if max_time is _DEFAULT_HORIZON and deadline > began + _OVERLAP_WINDOW else None
        try:
            self._drive(deadline, max_items=max_items, what="run_until_idle", stop_when_idle=True)
        finally:
            if watch is not None:
                self.kernel.cancel(watch.timer)
        if not self.kernel.idle:
            pending = [t for t in self.kernel.pending() if not t.recurring]
            lines = "\n".join(f"  {t.owner}: next at {_when(t.due)}" for t in pending[:10])
            overlap = self._overlapping_crons(began)
            raise BudgetExceeded(
                f"run_until_idle(max_time={format_duration(horizon)!r}) reached {iso(deadline)} with "
                f"{len(pending)} item(s) of work still pending:\n{lines}\n"
                + (overlap or "A run sleeping or retrying past the horizon does this, as do a delayed send and a run "
                              "that starts at its event's future ts; raise max_time= if that is expected.")
                + self._oversleeps(deadline, horizon)
            )

    def _overlapping_crons(self, began: int, pending: list[Run] | None = None) -> str:
        """run_until_idle waits for the runs the cron ticks it passes start (only the next tick is not waited
        for): a cron function whose runs outlast its interval always has one in flight and is never idle. Named
        when every run still pending (``pending``: the runs not finished, else found here) is a cron run started
        during the call, two or more of one function."""
        from ._engine import CRON_EVENT

        if pending is None:
            pending = [run for runs in self.engine.runs.values() for run in runs if _in_flight(run, self.kernel.now)]
        if not pending or any(run.event.name != CRON_EVENT or run.start_ns < began for run in pending):
            return ""
        by_function: dict[str, list[Run]] = {}
        for run in pending:
            by_function.setdefault(run.function.id, []).append(run)
        named = [(fid, runs) for fid, runs in by_function.items() if len(runs) >= 2]
        if not named:
            return ""
        lines = "".join(
            f"\n  {fid!r} ({', '.join(repr(c.expr) for c in runs[0].function.crons)}): {len(runs)} runs in flight, "
            f"started from {iso(min(r.start_ns for r in runs))} to {iso(max(r.start_ns for r in runs))}"
            for fid, runs in named)  # fmt: skip
        return (f"Cron runs overlap: each run outlasts the interval to the next tick (it sleeps, waits or retries "
                f"longer), so a run is always in flight:{lines}\nrun_until_idle does not wait for the next tick, but "
                f"it does wait for the runs the ticks it passes start, so it is never idle; stop at a time instead "
                f"(sim.advance('1h'), sim.advance_to(...)), or make the runs shorter than the interval.")

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
            who = f"job code (function {x.run_.function.id!r})"
            if isinstance(x, _Process) and x.current.get() is None:  # a worker loop's own code: its placeholder run
                who = "a worker's own code while no job of it runs (a hook or listener on its event loop)"
            raise JobsimError(
                f"sim.{what}() was called from {who}; drive time from the "
                "test. In job code, time.sleep(...) spends virtual time and ctx.step.sleep(...) suspends the run"
            )
        if self.kernel.running:  # a backend's hook, signal receiver or callback that the simulation itself runs
            raise JobsimError(
                f"sim.{what}() was called while the simulation was running its work (from a hook, signal receiver, "
                "middleware or callback of a backend, which the simulation calls at a virtual instant); drive time "
                "from the test, between driving calls"
            )
        if until < self.kernel.now:
            raise InvalidArgument(
                f"time can't go backwards: {what}() to {iso(until)} but the simulation is at {iso(self.kernel.now)}"
            )
        limit = real_wait()  # a bad JOBSIM_REAL_WAIT: refused before the call does anything
        check_clock_classes()  # mock.patch("datetime.datetime"): refused before the call does anything
        self.trace.add(self.kernel.now, "advance", {"until": until, "idle": stop_when_idle})  # replayed as is
        self._undriven, self._undriven_runs = None, []
        self._until, self._overslept = until, []
        self._sends.end()
        guard_thread_waits(self, limit)  # threading.Event().wait() in job code: refused, not a test hung for ever
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
            unguard_thread_waits(self)
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
                self.trace.add(now, "event.dropped", self.bus.why_dropped(item, event_fields(item, _origin, x, now,
                                                                                             _sent)))
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

    # -- traces ----------------------------------------------------------------------------------
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


def _when(ns: int) -> str:
    """An instant for a message; work due past the last instant a datetime can show is due never."""
    return iso(ns) if ns <= MAX_NS else f"never (past {iso(MAX_NS)})"
