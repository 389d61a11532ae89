"""Profiles: the semantics of a real system that a simulation reproduces.

A profile fixes what a user does not configure and what a user cannot change: the
default retry policy and its backoff, how ``RetryAfterError`` is clamped, the
longest sleep, the cron dialect, which features exist, whether steps are durable
(Inngest's memoized replay) or plain calls, and how the system answers faults —
a crashed worker, downtime, a duplicated delivery. The seven built-in profiles are
in ``_systems.py``, each citing ``reference/semantics.md``; they register through
the pluggy hook ``jobsim_profiles`` like any plugin's. ``"inngest"`` is the default
because the scenarios jobsim starts from are Inngest's.

When a ``Simulation`` is built, ``resolve`` checks every function against the
profile — options, cron syntax, retries — and refuses what the system cannot do
with ``UnsupportedFeature``, rather than simulating something that system never
does. Step kinds a system lacks are refused when job code calls them.

Beside it: ``_crashrule.py`` (``CrashRule``: how a system notices a dead worker), ``_features.py`` (the
features a profile may lack, and which a function uses) and ``_profilespec.py`` (a profile's name as text,
``NAME(option=value, ...)``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, get_args

from ._app import Function
from ._backoffs import AgendaBackoff, BullMQBackoff, QuirrelRetry, TriggerDevRetry
from ._crashrule import IMMEDIATE, CrashRule
from ._dialects import CronDialect
from ._events import Event
from ._failhooks import AttemptFailure
from ._features import FEATURES, features_of
from ._profilespec import parse_spec
from ._records import Run
from ._retries import CheckedPolicy, Retries, RetryPolicy, TableBackoff, with_attempts
from ._safe import shown
from ._time import resolve_retry_after
from .errors import InvalidArgument, PluginError, UnsupportedFeature

ANY_CRON = CronDialect(parser="cron", seconds=True)
"""A plugin profile's default dialect: 5 or 6 fields, Vixie's DOM/DOW rule, ISC across DST."""

MissedCron = Literal["all", "first", "first-and-due", "latest", "none"]
RepeatedIds = Literal["drop", "kept", "pending", "unless-failed", "runs"]
CronNext = Literal["clock", "start", "job", "end"]
IntervalRule = Literal["bullmq"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CronTask:
    """One function's own cron task options (``Profile.cron_tasks``): node-cron's ``TaskOptions`` are per
    ``cron.schedule``. ``None`` keeps the profile's ``cron_no_overlap``, ``cron_max_runs``, ``cron_jitter_ns``."""

    no_overlap: bool | None = None
    max_runs: int | None = None
    jitter_ns: int | None = None

    def __post_init__(self) -> None:
        if self.no_overlap is not None and not isinstance(self.no_overlap, bool):
            raise InvalidArgument.build("no_overlap", self.no_overlap, "CronTask.no_overlap must be True or False, "
                                                                       "or None for the profile's")  # fmt: skip
        for field in ("max_runs", "jitter_ns"):
            value = getattr(self, field)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise InvalidArgument.build(field, value, f"CronTask.{field} must be an int >= 0, or None for the "
                                                          "profile's")  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """A system's semantics; see the module docstring and ``_systems.py`` for the seven built in.

    The first six fields are all a plugin needs; the rest default to Inngest's answers.
    """

    name: str
    description: str
    default_retries: RetryPolicy
    retry_after_min_ns: int = 0
    retry_after_max_ns: int | None = None
    retry_after_precision_ns: int = 0
    """The instant a ``RetryAfterError`` names reaches the system truncated to this: inngest-py sends it as
    an ISO time to the millisecond (``transforms.to_iso_utc`` cuts the microseconds). 0: exact."""
    retry_after_clamp_grid_ns: int = 0
    """A retry-after below ``retry_after_min_ns`` or above ``retry_after_max_ns`` is counted from now
    truncated to this: Inngest clips it to ``now.Truncate(time.Second)`` + the bound (``headers.go``
    ``parseRetry``), so a 200 ms retry-after at 12:00:00.700 retries at 12:00:01. 0: from now."""
    max_sleep_ns: int | None = None
    max_steps: int | None = None
    """With durable steps: a run reaching this many steps fails at its next new one, without retries (Inngest's
    1,000: ``consts.DefaultMaxStepLimit``). ``None``: no limit."""
    max_step_output: int | None = None
    """With durable steps: the most bytes a step's output may take, as the SDK's answer carries it (its JSON in
    ``{"data": ...}``); a larger one fails the request, which is retried as any error (Inngest's 4 MiB:
    ``consts.MaxStepOutputSize``, ``GeneratorOpcode.Validate``). ``None``: no limit."""
    max_triggers: int | None = None
    """A function may have at most this many triggers, its events and cron schedules together; more are refused
    (Inngest's 10: ``consts.MaxTriggers``, checked by ``MultipleTriggers.Validate``). ``None``: no limit."""
    system: str = ""
    """The system's name in messages and tables (``"BullMQ"``); the profile name if empty."""
    durable_steps: bool = True
    """Inngest's replay model: completed steps are memoized and never re-run. Otherwise a
    step is a plain call and a retry runs the handler from the top (see ``_runtime.py``)."""
    checkpoints: bool = False
    """Without durable steps: waits (sleep, invoke) suspend and resume where they paused
    within an attempt (Trigger.dev's checkpoint/restore); a retry still starts over."""
    sleep_holds_slot_ns: int = 0
    """A sleep keeps the run's concurrency slot for this long into the wait, all of it when the wait is
    shorter: the process stays executing until the system has checkpointed it (Trigger.dev: 60 s into
    ``wait.for``/``wait.until``). A run that kept its slot through the whole wait goes on at once; one
    that gave it back asks for a slot again when it wakes. 0: the slot is given back as the sleep starts."""
    default_concurrency: int = 0
    """At most this many runs of a function that sets no ``concurrency=`` execute at once; the others wait
    for a slot, oldest first (Agenda's ``defaultConcurrency``, 5). 0: no limit."""
    max_concurrency: int = 0
    """At most this many runs of *all* functions execute at once, whatever each function's own limit: one
    worker process's cap (Agenda's ``maxConcurrency``, 20). 0: no limit."""
    lacks: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Feature key (``FEATURES``) -> why the system does not have it."""
    cron: CronDialect = ANY_CRON
    retries: Callable[[Function, RetryPolicy], RetryPolicy] | None = None
    """Turns the user's ``retries=`` into the system's policy, or refuses it."""
    max_attempts: int | None = None
    non_retriable: bool = True
    """``NonRetriableError`` fails at once (the system has an equivalent error class)."""
    retry_after: bool = True
    """``RetryAfterError`` sets the next delay (clamped to ``retry_after_*``)."""
    persistent: bool = True
    """Pending work survives ``sim.downtime``; without it, in-memory state is lost."""
    missed_cron: MissedCron = "all"
    """Cron ticks due while down: run ``all`` at the end, the ``first`` or the ``latest`` one, or ``none``.
    ``first-and-due``: the first runs late, and a tick due the very instant the system is back runs too, on
    time (Trigger.dev); with ``first``, that tick is the late run's next and never runs (BullMQ, Agenda)."""
    cron_next: CronNext = "clock"
    """When a cron schedule's next tick comes into being. ``clock``: every instant the schedule
    names delivers a tick, whether or not the last one's run has started. ``start``: a schedule
    keeps one pending job, and the next is made when that job starts (a worker takes it), due at
    the first instant strictly after the later of that start and the job's own scheduled time;
    the instants that pass while a job waits for a worker never run (BullMQ job schedulers).
    ``job``: a schedule is one job document with one next-run time, computed as each of its runs
    starts (the first instant strictly after that start); a retry overwrites it, and the document
    never runs twice at once: the instants a retry jumps over never run, and of those passing
    while a run holds the lock only the first runs, when it is released (Agenda, ``_jobdoc.py``).
    ``end``: a schedule is one job whose next repetition is made when its run ends (acknowledged or failed
    for good), due at the first match strictly after that run's *scheduled* time: runs never overlap, and the
    ticks that pass while one runs (or waits) all run, late, one after another as each ends (Quirrel: owl
    ``worker.ts`` computes ``nextExecutionDate`` from ``runAt`` and ``acknowledge.lua`` re-adds the job)."""
    cron_overlap: Literal["once", "each"] = "once"
    """Two or more cron schedules of one function due in the same second: ``once`` starts one run, the
    first schedule's (Inngest: "only one cron job will be run for each given second", guides/multiple-
    triggers); the others' ticks are skipped (trace: ``cron.missed``, outcome ``deduplicated``). ``each``:
    every schedule starts its own run (each is a scheduler, job or crontab entry of its own)."""
    interval: IntervalRule | None = None
    """How the system runs an interval schedule (``every=``): ``"bullmq"``, a job scheduler's ``every``
    (``_every.py``: the first job at once, one pending job, the next made when the current one starts);
    ``None``: it has none, and ``every=`` is refused."""
    crash: CrashRule = IMMEDIATE
    dedupe: str | None = "deduplicated"
    """Why a duplicated delivery starts no run; ``None`` when every delivery runs."""
    repeated_ids: RepeatedIds = "drop"
    """An event whose ``id`` repeats one taken before. The queue rules drop it whole (an add with a job id
    already taken is a no-op) while the id is taken: ``drop`` for 24 h (a plugin's profile's default);
    ``kept`` while the job exists, which is for ever here (BullMQ's ``jobId``: completed and failed jobs are
    kept by default, ``removeOnComplete``/``removeOnFail`` unset; Agenda's ``unique()`` finds the job's
    document, kept after it ran); ``pending`` until its job has run (Quirrel's ``id``: a no-op while the job
    is in the queue); ``unless-failed`` for 30 days unless the run it started failed (Trigger.dev's
    ``idempotencyKey``: ``shouldIdempotencyKeyBeCleared``; a cancelled run keeps it). ``runs``: the bus keeps
    it (``sim.events``, waits, cancellations, batches, debounces all see it) and only the run it would start is
    skipped, per function, while that function's run for the id is under 24 h old (Inngest: the run's
    idempotency key is function + event id, set when the run is made; runner.go ``Initialize``, executor.go
    ``idempotencyKey``, redis_state.go ``idempotencyCheck``)."""
    debounce_mode: Literal["leading", "trailing"] = "trailing"
    """The event a debounced run gets when ``Debounce(mode=None)``: the ``trailing`` (last) or ``leading`` (first)."""
    debounce_timeout_at_call: bool = False
    """``Debounce(timeout=...)`` is checked only as an event comes (Agenda's ``maxWait``): one at or after the
    first event + timeout runs the job at once; any earlier one pushes it to ``now + period``, even past that
    deadline, and nothing fires at the deadline itself. False: the run is never pushed past it (Inngest)."""
    debounce_job_delay_ns: int = 0
    """How long after its debounce period (or timeout) a debounced run starts: Inngest enqueues the job that
    starts it at ``now + ttl + 50 ms + 1 s`` and counts a capped ttl in whole seconds (``Debouncer``); an event
    after the ttl but before that job starts a new debounce. 0: the run starts when the period ends."""
    debounce_timeout_splits: bool = False
    """An event that would push a debounced run past ``first event + timeout`` leaves that run as it is (it
    starts at the time it had) and starts a new debounced run of its own (Trigger.dev's ``maxDelay``:
    debounceSystem.ts returns ``max_duration_exceeded`` and the trigger creates a new run). False: the run is
    pulled in to the deadline and the event joins it (Inngest)."""
    debounce_timeout_over_period: bool = False
    """A ``Debounce`` timeout must be longer than its period, or the function is refused (Trigger.dev:
    ``triggerTask.server.ts`` ``#validateDebounceWindow`` rejects ``maxDelay <= delay``: every trigger would
    make its own run). False: any timeout is taken."""
    future_ts: bool = False
    """An event whose ``ts`` is in the future starts its runs at that time (Inngest); else ``ts`` is data."""
    jcs: bool = False
    """Job code gets its events and memoized step outputs as the system's JCS pass (RFC 8785) writes them: every
    object's keys sorted, an integral float as an int (Inngest: ``driver.go : MarshalV1`` -> ``jcs.Transform``)."""
    singleton: bool = False
    """The system keeps one run of a function per key at a time, skipping or cancelling (Inngest's
    ``singleton``). False: ``singleton=`` is refused, with ``lacks["singleton"]`` as the reason when given
    (opt-in, so that a profile written before it existed refuses it rather than ignoring it)."""
    oldest_run_first: bool = False
    """Work waiting for a concurrency slot or a throttle goes in the order its *run* was created (less its
    priority), whenever that request of the run was queued: Inngest scores a queue item due now by its run
    ID's time (``pkg/execution/queue/item.go : QueueItem.Score``, "prioritize finishing older function runs"),
    so a run's next step goes ahead of newer runs' waiting work. False: in the order each request was queued."""
    cron_jitter_ns: int = 0
    """A cron tick is delivered at its time + U[0, this) (Vercel's precision)."""
    cron_no_overlap: bool = False
    """A cron tick that comes while its schedule's latest run has not ended is skipped, not queued (node-cron's
    ``noOverlap``: ``runner.ts`` ``heartBeat`` finds the last execution pending); a run ending at the tick's very
    instant has not ended yet (its timer was armed after the heartbeat's). A run lost with its process holds
    nothing. Trace: ``cron.missed``, outcome ``skipped``, reason ``overlap`` (``_nodetask.py``). False: every
    tick starts a run."""
    cron_max_runs: int = 0
    """A cron schedule ends for good when one of its runs *completes* and this many or more of its runs have
    started (node-cron's ``maxExecutions``: ``runCount`` counts every execution, the check follows a success
    only; the task is destroyed). A skipped tick starts nothing and counts nothing. Trace: ``cron.end``, reason
    ``max_executions``. 0: no limit."""
    cron_tasks: Mapping[str, CronTask] = dataclasses.field(default_factory=dict)
    """Function id -> options of its cron schedules over ``cron_no_overlap``, ``cron_max_runs`` and
    ``cron_jitter_ns`` (``jobsim.profile("node-cron", tasks={...})``; ``cron_task``). A function the
    simulation lacks, or one without ``cron=``, is refused when the ``Simulation`` is built."""
    max_duration_ns: int | None = None
    """An attempt that spends longer is killed and fails (Vercel's function duration)."""
    request_timeout_ns: int | None = None
    """With durable steps: the longest the system waits for one request to the SDK. A request whose code spends
    longer fails at its start + this, as a retryable attempt, while the code runs on to its end: its side effects
    happen, what it returned is lost (Inngest's 2 h, ``consts.MaxFunctionTimeout``: the HTTP driver's
    ``context.WithTimeout``; ``_reqtimeout.py``). ``None``: no limit."""
    failure_hook: Callable[[Run, BaseException | None, int], Event | None] | None = None
    """For a system whose failure hook is a callback, not an event: ``(failed run, its error, now)``
    -> the event the ``on_failure`` handler gets as ``ctx.event`` (``None``: the hook does not run);
    nothing is published on the bus. ``None``: Inngest's ``inngest/function.failed``, published,
    starting the handler."""
    attempt_failure_hook: Callable[[AttemptFailure], Event | None] | None = None
    """For a system whose failure listener fires on *every* failed attempt, retried or not (BullMQ's
    worker ``'failed'``, Agenda's ``'fail'``; ``_failhooks.py``): the event the ``on_failure`` handler
    gets as each attempt of a plain-call run fails (``None``: it does not run). Nothing is published on
    the bus, and ``failure_hook`` is not consulted. Only the runtime of a system without durable steps
    calls it; a run failed by jobsim itself (an unserializable return value) hears nothing."""
    poll_ns: int = 0
    """Due jobs are found only by a poll every this often, on a grid from the simulation's start (Agenda's
    ``processEvery``): a job starts when a poll finds it, which may be after it is due (``_polling.py``).
    0: every job starts the instant it is due."""
    configure: Callable[[Profile, dict[str, Any]], Profile] | None = None
    """Builds a variant of this (registered) profile from all its options (``jobsim.profile("agenda",
    process_every="1s")``; ``Profiles.configure``), named ``NAME(option=value, ...)`` so the name alone
    says it (a trace header, ``--profile``); ``None``: the profile takes no options."""
    options: tuple[tuple[str, str], ...] = ()
    """The options a variant was built with, canonical (``(("process_every", "1s"),)``); () for the profile itself."""
    fail_count_per_job: bool = False
    """A recurring (cron) function's failures add up over all its runs and number its retries
    (Agenda 6.2.2's ``failCount``, never reset on success): its retries are numbered from the
    failures of earlier runs on, and may already be exhausted when a run first fails."""
    doc: str = ""
    """The rules, with their sources (the docstring of the profile's definition)."""
    fault_kinds: tuple[str, ...] | None = None
    """The faults (``"fail"``, ``"crash"``, ``"downtime"``, ``"duplicate"``) a simulation of this system can inject,
    which ``js.faults(profile=...)`` draws from; ``None``: ``jobsim._faults``' table for the built-in profiles, else
    all four. A backend plugin whose own worker runs the jobs declares what it simulates (jobsim-dramatiq and -rq:
    ``("fail", "crash")``): the engine's downtime and duplicate delivery are refused for such jobs."""

    def __post_init__(self) -> None:
        _check_profile(self)

    def retry_after_delay(self, after: Any, now: int) -> int:
        """How long after ``now`` (the failed attempt's end) a ``RetryAfterError(after)`` retries."""
        at = now + resolve_retry_after(after, now)
        if self.retry_after_precision_ns:
            at -= at % self.retry_after_precision_ns
        delay, least, most = at - now, self.retry_after_min_ns, self.retry_after_max_ns
        if delay >= least and (most is None or delay <= most):
            return delay
        bound = least if delay < least or most is None else most
        grid = self.retry_after_clamp_grid_ns
        # a bound under the time past the grid's start (no minimum, a 1 s grid, at 12:00:00.500) is due already
        return max(0, (now - now % grid if grid else now) + bound - now)

    def cron_task(self, function: str) -> CronTask:
        """``function``'s cron task options, every field set: its ``cron_tasks`` entry, else the profile's."""
        own = self.cron_tasks.get(function, _NO_TASK)
        return CronTask(no_overlap=self.cron_no_overlap if own.no_overlap is None else own.no_overlap,
                        max_runs=self.cron_max_runs if own.max_runs is None else own.max_runs,
                        jitter_ns=self.cron_jitter_ns if own.jitter_ns is None else own.jitter_ns)  # fmt: skip

    @property
    def label(self) -> str:
        return self.system or self.name

    def refuse(self, function: str, feature: str, detail: str = "") -> UnsupportedFeature:
        """The error for a function using ``feature``, which this system lacks."""
        what = FEATURES.get(feature, feature)
        why = self.lacks.get(feature, "")
        return UnsupportedFeature(
            f"{self.label} cannot run function {function!r}: it uses {what}{detail}, which {self.label} does not have"
            + (f" — {why}" if why else ""),
            system=self.label, feature=feature, function=function,
        )  # fmt: skip


_NO_TASK = CronTask()


@dataclasses.dataclass(frozen=True, slots=True)
class Resolved:
    """What a profile makes of a set of functions: retry policies and bound cron schedules."""

    policies: dict[str, RetryPolicy]
    schedules: dict[str, tuple[Any, ...]]
    """Per function, its bound cron schedules, or its ``every=`` interval (``_every.Every``)."""


def resolve(profile: Profile, functions: Iterable[Function], *, now: int | None = None) -> Resolved:
    """Check every function against ``profile``; raise ``UnsupportedFeature`` for the first misfit.

    ``now``: when the simulation starts, which is when an ``every=`` scheduler is made (its end must not
    have passed).
    """
    functions = list(functions)
    if profile.cron_tasks:
        _check_cron_tasks(profile, {fn.id: fn for fn in functions})
    policies: dict[str, RetryPolicy] = {}
    schedules: dict[str, tuple[Any, ...]] = {}
    for fn in functions:
        policies[fn.id], found = resolve_function(profile, fn, now=now)
        if found:
            schedules[fn.id] = found
    return Resolved(policies, schedules)


def resolve_function(profile: Profile, fn: Function, *, now: int | None = None,
                     added: bool = False) -> tuple[RetryPolicy, tuple[Any, ...]]:
    """One function's checks (``resolve``'s, but for ``cron_tasks``), and its retry policy and bound schedules.

    ``Simulation.add_function`` calls it for a function a plugin declares while the simulation runs, so that
    it is refused as it would have been at build time (``added``: an ``every=`` end is checked against ``now``,
    when it was added). ``cron_tasks`` need no check then: they must name functions the simulation had when
    built, and a function added later cannot have one of their ids.
    """
    _check_triggers(profile, fn)
    _check_features(profile, fn)
    _check_debounce(profile, fn)
    schedules = _schedules(profile, fn, now, added)
    return _policy(profile, fn), schedules


def _check_triggers(profile: Profile, fn: Function) -> None:
    count, most = len(fn.events) + len(fn.crons), profile.max_triggers
    if most is None or count <= most:
        return
    raise UnsupportedFeature(
        f"{profile.label} cannot run function {fn.id!r}: it has {count} triggers ({len(fn.events)} event(s), "
        f"{len(fn.crons)} cron schedule(s)); {profile.label} allows at most {most} per function: split it into "
        "functions, or match several event names with one wildcard (on='app/*')",
        system=profile.label, feature="triggers", function=fn.id,
    )  # fmt: skip


def _check_features(profile: Profile, fn: Function) -> None:
    for feature in features_of(fn):
        if feature in profile.lacks or (feature == "singleton" and not profile.singleton):
            raise profile.refuse(fn.id, feature)


def _schedules(profile: Profile, fn: Function, now: int | None, added: bool = False) -> tuple[Any, ...]:
    """``fn``'s cron schedules bound to the profile's dialect, or its ``every=`` interval checked; () for none."""
    if fn.every is not None:
        if profile.interval is None:
            raise profile.refuse(fn.id, "every")
        if now is not None:
            fn.every.check_made_at(fn.id, now, added=added)
    if fn.crons:
        return tuple(profile.cron.bind(s, system=profile.label, function=fn.id, tz_option=fn.options.get("tz"))
                     for s in fn.crons)
    return () if fn.every is None else (fn.every,)


def _check_cron_tasks(profile: Profile, functions: dict[str, Function]) -> None:
    """Every function given its own cron task options is one of the simulation's, with a cron schedule."""
    crons = ", ".join(repr(fn_id) for fn_id, fn in sorted(functions.items()) if fn.crons) or "none"
    for fn_id in profile.cron_tasks:
        fn = functions.get(fn_id)
        if fn is None:
            raise InvalidArgument(f"profile {profile.name!r} gives task options to function {fn_id!r}, which this "
                                  f"simulation does not have; its cron functions: {crons}. Name one of them in "
                                  "tasks=, or drop it")  # fmt: skip
        if not fn.crons:
            has = "an every= interval" if fn.every is not None else f"only on={list(fn.events)!r}"
            raise InvalidArgument(f"profile {profile.name!r} gives task options to function {fn_id!r}, which has no "
                                  f"cron schedule ({has}): task options apply to the schedules of a cron= function "
                                  f"(here {crons}); drop {fn_id!r} from tasks=")  # fmt: skip


def _check_debounce(profile: Profile, fn: Function) -> None:
    debounce = fn.flow.debounce if fn.flow is not None else None
    if not profile.debounce_timeout_over_period or debounce is None or debounce.timeout_ns is None \
            or debounce.timeout_ns > debounce.period_ns:
        return
    raise UnsupportedFeature(
        f"{profile.label} cannot run function {fn.id!r}: Debounce(period={debounce.period!r}, "
        f"timeout={debounce.timeout!r}): {profile.label} rejects a trigger whose maxDelay is not longer than its "
        "delay (every trigger would make its own run); give a timeout longer than the period",
        system=profile.label, feature="debounce.timeout", function=fn.id,
    )  # fmt: skip


def _policy(profile: Profile, fn: Function) -> RetryPolicy:
    user = fn.retries
    if user is None:
        return profile.default_retries
    _check_attempts(profile, fn, user)
    if profile.retries is not None:
        policy = profile.retries(fn, user)
    elif isinstance(user, Retries) and user.uses_profile_backoff:
        policy = with_attempts(profile.default_retries, user.attempts)
    else:
        policy = user
    _check_attempts(profile, fn, policy)
    return policy if type(policy) in _OWN_POLICIES else CheckedPolicy(policy, fn.id)


_OWN_POLICIES = (Retries, TableBackoff, BullMQBackoff, TriggerDevRetry, QuirrelRetry, AgendaBackoff)
"""jobsim's policies, whose delays are right by construction; any other is a ``CheckedPolicy``."""


def _check_attempts(profile: Profile, fn: Function, policy: RetryPolicy) -> None:
    if policy.attempts > 1 and "retries" in profile.lacks:
        raise profile.refuse(fn.id, "retries", f" ({policy.attempts} attempts)")
    if profile.max_attempts is not None and policy.attempts > profile.max_attempts:
        raise UnsupportedFeature(
            f"{profile.label} cannot run function {fn.id!r}: {policy.attempts} attempts; {profile.label} allows "
            f"at most {profile.max_attempts} (the first included)", system=profile.label, feature="retries",
            function=fn.id,
        )  # fmt: skip


_NUMBERS = {"retry_after_min_ns": (0, False), "cron_jitter_ns": (0, False), "retry_after_max_ns": (0, True),
            "debounce_job_delay_ns": (0, False), "sleep_holds_slot_ns": (0, False), "cron_max_runs": (0, False),
            "default_concurrency": (0, False), "max_concurrency": (0, False),
            "retry_after_precision_ns": (0, False), "retry_after_clamp_grid_ns": (0, False),
            "max_sleep_ns": (1, True), "max_duration_ns": (1, True), "max_attempts": (1, True),
            "max_steps": (1, True), "max_triggers": (1, True), "request_timeout_ns": (1, True),
            "max_step_output": (1, True)}
"""Int fields: the least value, and whether ``None`` (no limit) is allowed."""
_BOOLS = ("durable_steps", "checkpoints", "non_retriable", "retry_after", "persistent", "future_ts",
          "fail_count_per_job", "debounce_timeout_at_call", "debounce_timeout_splits", "oldest_run_first",
          "debounce_timeout_over_period", "singleton", "cron_no_overlap")
_CHOICES: dict[str, tuple[Any, ...]] = {"missed_cron": get_args(MissedCron), "cron_next": get_args(CronNext),
                                        "debounce_mode": ("leading", "trailing"), "cron_overlap": ("once", "each"),
                                        "repeated_ids": get_args(RepeatedIds)}


def _check_profile(p: Profile) -> None:
    """A plugin's ``Profile(...)`` is checked where it is built, not when a retry or a sleep first reads a
    field deep inside the engine (``max_sleep_ns="1d"`` failed there as a TypeError inside job code)."""
    def bad(field: str, accepted: str) -> InvalidArgument:
        return InvalidArgument.build(field, getattr(p, field), f"Profile.{field} must be {accepted}")

    _check_texts(p, bad)
    _check_scalars(p, bad)
    _check_parts(p, bad)


def _check_texts(p: Profile, bad: Callable[[str, str], InvalidArgument]) -> None:
    """The name, the other texts and the default retry policy."""
    if not isinstance(p.name, str) or not p.name.strip():
        raise bad("name", "a non-empty string such as 'my-system'")
    for field in ("description", "system", "doc"):
        if not isinstance(getattr(p, field), str):
            raise bad(field, "a string")
    kinds = ("fail", "crash", "downtime", "duplicate")  # jobsim._faults.FAULT_KINDS
    if p.fault_kinds is not None and (not isinstance(p.fault_kinds, tuple) or not p.fault_kinds
                                      or not all(kind in kinds for kind in p.fault_kinds)):
        raise bad("fault_kinds", "None, or a non-empty tuple of " + ", ".join(map(repr, kinds)))
    attempts = getattr(p.default_retries, "attempts", None)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1 \
            or not callable(getattr(p.default_retries, "delay_ns", None)):
        raise bad("default_retries", "a retry policy: an int attempts >= 1 and a delay_ns(retry, rng) method "
                                     "(jobsim.Retries, TableBackoff, ...)")


def _check_scalars(p: Profile, bad: Callable[[str, str], InvalidArgument]) -> None:
    """The int, bool and closed-choice fields (``_NUMBERS``, ``_BOOLS``, ``_CHOICES``)."""
    for field, (least, optional) in _NUMBERS.items():
        value = getattr(p, field)
        if (value is None and not optional) or (value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < least)):
            unit = " of nanoseconds" if field.endswith("_ns") else ""
            raise bad(field, f"an int >= {least}{unit}" + (", or None for no limit" if optional else ""))
    for field in _BOOLS:
        if not isinstance(getattr(p, field), bool):
            raise bad(field, "True or False")
    for field, choices in _CHOICES.items():
        if not isinstance(getattr(p, field), str) or getattr(p, field) not in choices:
            raise bad(field, "one of " + ", ".join(map(repr, choices)))


def _check_parts(p: Profile, bad: Callable[[str, str], InvalidArgument]) -> None:
    """The fields holding objects and callables."""
    if not isinstance(p.lacks, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in p.lacks.items()):
        raise bad("lacks", "a mapping of feature key (see FEATURES) to the reason the system lacks it")
    if p.dedupe is not None and not isinstance(p.dedupe, str):
        raise bad("dedupe", "a string saying why a duplicated delivery starts no run, or None")
    if not isinstance(p.cron, CronDialect):
        raise bad("cron", "a jobsim._dialects.CronDialect")
    if not isinstance(p.crash, CrashRule):
        raise bad("crash", "a CrashRule")
    if not isinstance(p.cron_tasks, Mapping) or not all(isinstance(k, str) and k and isinstance(v, CronTask)
                                                        for k, v in p.cron_tasks.items()):
        raise bad("cron_tasks", "a mapping of function id to jobsim._profiles.CronTask")
    for field in ("retries", "failure_hook", "attempt_failure_hook"):
        if getattr(p, field) is not None and not callable(getattr(p, field)):
            raise bad(field, "a callable, or None")
    if p.request_timeout_ns is not None and not p.durable_steps:
        raise bad("request_timeout_ns", "None on a profile without durable steps (durable_steps=False): it bounds one "
                                        "request of Inngest's replay model; a plain-call system's limit on an "
                                        "attempt is max_duration_ns")  # fmt: skip


class Profiles:
    """Registered profiles by name (the pluggy hook ``jobsim_profiles`` feeds this)."""

    def __init__(self) -> None:
        self._by_name: dict[str, Profile] = {}
        self._sources: dict[str, str | None] = {}  # name -> the plugin that gave it (None: the built-ins, or unsaid)

    @classmethod
    def registered(cls) -> Profiles:
        """The profiles a ``Simulation`` knows: the built-ins and every plugin's."""
        from . import _plugins

        registry = cls()
        for group in _plugins.manager().hook.jobsim_profiles():
            registry.register_all(group)
        return registry

    def register_all(self, contributed: Any) -> None:
        """What one plugin's ``jobsim_profiles`` hook gave: a list of profiles (``None``: nothing)."""
        if contributed is None:
            return
        if isinstance(contributed, (str, bytes, Profile)) or not isinstance(contributed, Iterable):
            raise PluginError(f"a jobsim plugin's jobsim_profiles hook gave {shown(contributed)}; it must give a list "
                              "of jobsim.Profile objects")
        source = getattr(contributed, "source", None)  # the plugin that gave it (``_plugins.Contributed``)
        for profile in contributed:
            self.register(profile, source)

    def register(self, profile: Profile, source: str | None = None) -> None:
        """``profile`` under its name; ``source`` names the plugin that gave it. A name already given to another
        profile is refused: the built-ins' (the plugin's profile was dropped silently, the built-in won) or
        another plugin's (which one won depended on the order pluggy called them in)."""
        if not isinstance(profile, Profile):  # a plugin's jobsim_profiles hook gave something else
            raise PluginError(f"a jobsim plugin's jobsim_profiles hook gave {shown(profile)}; it must give "
                              "jobsim.Profile objects")
        known = self._by_name.get(profile.name)
        if known is not None and known is not profile:
            raise _clash(profile.name, [(known, self._sources.get(profile.name)), (profile, source)])
        self._by_name[profile.name] = profile
        self._sources[profile.name] = source

    def get(self, name: str | Profile, argument: str = "profile") -> Profile:
        """A profile by name, or by ``NAME(option=value, ...)`` for a variant (``configure``); an unknown one is
        an ``InvalidArgument`` naming ``argument`` (the CLI's ``--profile``)."""
        if isinstance(name, Profile):
            return name
        found = self._by_name.get(name) if isinstance(name, str) else None
        if found is not None:
            return found
        spec = parse_spec(name, argument) if isinstance(name, str) else None
        if spec is not None and spec[0] in self._by_name:
            return self.configure(spec[0], spec[1])
        hint = self._close(spec[0] if spec is not None else name) if isinstance(name, str) else ""
        raise InvalidArgument.build(argument, name, "one of " + ", ".join(repr(n) for n in sorted(self._by_name))
                                    + " (a profile that takes options also as NAME(option=value), e.g. "
                                    "'agenda(process_every=1s)')" + hint)  # fmt: skip

    def _close(self, name: str) -> str:
        """``; did you mean 'trigger.dev'?`` for a name spelt with other case or separators ('Inngest',
        'trigger-dev', 'node_cron', 'Vercel Cron') or misspelt a little; else ``""``."""
        import difflib

        folded = {re.sub(r"[\s._-]", "", known.lower()): known for known in sorted(self._by_name)}
        key = re.sub(r"[\s._-]", "", name.lower())
        close = folded.get(key) or next((folded[k] for k in difflib.get_close_matches(key, folded, n=1, cutoff=0.75)),
                                        None)
        return f"; did you mean {close!r}?" if close else ""

    def configure(self, name: str | Profile, options: Mapping[str, Any]) -> Profile:
        """``name`` (a profile, or a variant of one) with ``options`` on top of those it has."""
        base = self.get(name)
        if not options:
            return base
        root_name = base.name.partition("(")[0]
        root = self._by_name.get(root_name, base)
        if root.configure is None:
            given = ", ".join(f"{key}={shown(value)}" for key, value in options.items())
            takes = sorted(p.name for p in self._by_name.values() if p.configure is not None)
            raise InvalidArgument(
                f"profile {base.name!r} takes no options, got {given}; "
                + ("profiles that take options: " + ", ".join(map(repr, takes)) if takes else "no profile takes any")
            )  # fmt: skip
        return root.configure(root, {**dict(base.options), **options})

    def names(self) -> list[str]:
        return sorted(self._by_name)


def _clash(name: str, givers: list[tuple[Profile, str | None]]) -> PluginError:
    """Two profiles named ``name``, each with the plugin that gave it (None: the built-ins, or a caller that
    did not say)."""
    builtin = {id(p) for p in builtin_profiles()}
    plugins = [source or "a jobsim plugin" for profile, source in givers if id(profile) not in builtin]
    if len(plugins) == 1:
        return PluginError(f"{plugins[0]} gives a profile named {name!r}, the name of a built-in jobsim profile, which "
                           "a plugin's profile cannot replace: give it a name of its own (Profile(name=...)), and "
                           "name that in Adapted(profile=...)")  # fmt: skip
    if plugins[0] == plugins[1]:
        return PluginError(f"{plugins[0]} gives two profiles named {name!r}: give each a name of its own")
    return PluginError(f"{plugins[0]} and {plugins[1]} both give a profile named {name!r}; a profile name must be "
                       "one plugin's: rename the profile of one of them, or uninstall one of the plugins")  # fmt: skip


def profile(name: str | Profile, /, **options: Any) -> Profile:
    """The profile ``name`` (any registered one, plugins' too), with ``options`` if it takes any.

    ``jobsim.profile("agenda", process_every="1s")`` is Agenda polling every second; its name,
    ``"agenda(process_every=1s)"``, is accepted wherever a profile name is (``Simulation(profile=...)``,
    ``--profile``, ``jobsim compare --profiles``, a trace header). Unknown options, or values the system
    does not accept, raise ``InvalidArgument``.
    """
    return Profiles.registered().configure(name, options)


def builtin_profiles() -> list[Profile]:
    from ._systems import BUILTIN

    return list(BUILTIN)


_BUILTIN_NAMES = ("INNGEST", "BULLMQ", "TRIGGER_DEV", "QUIRREL", "AGENDA", "NODE_CRON_PROFILE", "VERCEL_CRON",
                  "VERCEL_CRON_HOBBY")  # fmt: skip


def __getattr__(name: str) -> Any:
    """``INNGEST`` and the other built-ins, from ``_systems.py`` (which imports this module)."""
    if name not in _BUILTIN_NAMES:
        raise AttributeError(f"module 'jobsim._profiles' has no attribute {name!r}")
    from . import _systems

    return getattr(_systems, name)


__all__ = ["CronTask", "Profile", "Profiles", "Resolved", "builtin_profiles", "profile", "resolve", "resolve_function"]
