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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, get_args

from ._backoffs import AgendaBackoff, BullMQBackoff, QuirrelRetry, TriggerDevRetry
from ._cron import CronSchedule
from ._dialects import CronDialect
from ._retries import CheckedPolicy, Retries, RetryPolicy, TableBackoff, with_attempts
from ._safe import shown
from .errors import InvalidArgument, PluginError, UnsupportedFeature

if TYPE_CHECKING:
    from ._app import Function
    from ._events import Event
    from ._failhooks import AttemptFailure
    from ._records import Run

ANY_CRON = CronDialect(parser="cron", seconds=True)
"""A plugin profile's default dialect: 5 or 6 fields, Vixie's DOM/DOW rule, ISC across DST."""

MissedCron = Literal["all", "first", "latest", "none"]
CronNext = Literal["clock", "start"]
CrashThen = Literal["fail", "rerun", "lose"]

FEATURES: dict[str, str] = {
    "events": "event triggers (on=)",
    "batch": "event batching (batch=)",
    "debounce": "debouncing (debounce=)",
    "debounce.timeout": "a debounce timeout (Debounce(timeout=...))",
    "debounce.leading": "a debounce run with the first event (Debounce(mode='leading'))",
    "throttle": "throttling (throttle=)",
    "rate_limit": "a lossy rate limit (rate_limit=)",
    "idempotency": "idempotency keys (idempotency=)",
    "concurrency": "a concurrency limit (concurrency=)",
    "concurrency.key": "per-key concurrency (Concurrency(key=...))",
    "concurrency.limit": "a concurrency limit above 1",
    "priority": "priorities (priority=)",
    "cancel_on": "cancellation by event (cancel_on=)",
    "timeouts": "run timeouts (timeout= / timeouts=)",
    "on_failure": "a failure handler (on_failure=)",
    "retries": "retries (retries=)",
    "step.sleep": "ctx.step.sleep / ctx.step.sleep_until",
    "step.wait_for_event": "ctx.step.wait_for_event",
    "step.invoke": "ctx.step.invoke",
    "send.delay": "a delayed send (send(..., delay=...))",
}
"""Every feature a profile may lack, as messages name it."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CrashRule:
    """How a system notices that the worker running an attempt died, and what it does then.

    The worker last showed it was alive at ``r``: the attempt's start, then every
    ``renew_ns`` (a lock renewal, a heartbeat). The system notices at ``r +
    lease_ns``, or, when it scans periodically (``scan_ns``, on a grid starting
    at the simulation's start), at the first scan at or after that; ``two_pass``
    scanners mark a job on one scan and act on the next, so never before the first
    scan after ``r`` plus one period. Scans do not run while the system is down.
    At one instant a renewal comes before a scan, and a lock expiring at a scan's
    instant is already gone (the real order is a race; this one is documented).

    Then: ``"fail"`` — the attempt failed with ``reason`` and the retry policy
    decides; ``"rerun"`` — the job runs again from the start without consuming an
    attempt, at most ``max_reruns`` times (then it fails with ``reason``);
    ``"lose"`` — nothing ever notices: the run is lost. ``rerun_cron``: a run started
    by a cron tick re-runs however often it crashes (BullMQ exempts job-scheduler jobs
    from ``maxStalledCount``). ``final``: the failure after too many re-runs is not
    retried, whatever attempts are left (BullMQ's deferred ``UnrecoverableError``).
    """

    lease_ns: int = 0
    renew_ns: int = 0
    scan_ns: int = 0
    two_pass: bool = False
    then: CrashThen = "fail"
    max_reruns: int | None = None
    rerun_cron: bool = False
    final: bool = False
    reason: str = "the worker died mid-request; the connection dropped"
    recovery: str = "noticed at once"

    def noticed_at(self, started: int, crashed: int, origin: int, up_at: Callable[[int], int]) -> int:
        """When the system notices a worker that started an attempt at ``started`` and died at ``crashed``.

        ``up_at(t)`` is the first instant at or after ``t`` when the system is up.
        """
        alive = started if not self.renew_ns else started + (crashed - started) // self.renew_ns * self.renew_ns
        due = up_at(alive + self.lease_ns)
        if not self.scan_ns:
            return max(due, crashed)
        scan = self._scan_at(due, origin, up_at)
        if self.two_pass:
            scan = max(scan, self._scan_at(alive, origin, up_at) + self.scan_ns)
        return max(scan, crashed)

    def _scan_at(self, t: int, origin: int, up_at: Callable[[int], int]) -> int:
        """The first scan at or after ``t`` that runs (the system is up)."""
        period = self.scan_ns
        while True:
            scan = origin + -(-(t - origin) // period) * period
            up = up_at(scan)
            if up == scan:
                return scan
            t = up


IMMEDIATE = CrashRule()


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
    max_sleep_ns: int | None = None
    system: str = ""
    """The system's name in messages and tables (``"BullMQ"``); the profile name if empty."""
    durable_steps: bool = True
    """Inngest's replay model: completed steps are memoized and never re-run. Otherwise a
    step is a plain call and a retry runs the handler from the top (see ``_runtime.py``)."""
    checkpoints: bool = False
    """Without durable steps: waits (sleep, invoke) suspend and resume where they paused
    within an attempt (Trigger.dev's checkpoint/restore); a retry still starts over."""
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
    """Cron ticks due while down: run ``all`` at the end, the ``first`` or the ``latest`` one, or ``none``."""
    cron_next: CronNext = "clock"
    """When a cron schedule's next tick comes into being. ``clock``: every instant the schedule
    names delivers a tick, whether or not the last one's run has started. ``start``: a schedule
    keeps one pending job, and the next is made when that job starts (a worker takes it), due at
    the first instant strictly after the later of that start and the job's own scheduled time;
    the instants that pass while a job waits for a worker never run (BullMQ job schedulers)."""
    crash: CrashRule = IMMEDIATE
    dedupe: str | None = "deduplicated"
    """Why a duplicated delivery starts no run; ``None`` when every delivery runs."""
    debounce_mode: Literal["leading", "trailing"] = "trailing"
    """The event a debounced run gets when ``Debounce(mode=None)``: the ``trailing`` (last) or ``leading`` (first)."""
    future_ts: bool = False
    """An event whose ``ts`` is in the future starts its runs at that time (Inngest); else ``ts`` is data."""
    cron_jitter_ns: int = 0
    """A cron tick is delivered at its time + U[0, this) (Vercel's precision)."""
    max_duration_ns: int | None = None
    """An attempt that spends longer is killed and fails (Vercel's function duration)."""
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
    fail_count_per_job: bool = False
    """A recurring (cron) function's failures add up over all its runs and number its retries
    (Agenda 6.2.2's ``failCount``, never reset on success): its retries are numbered from the
    failures of earlier runs on, and may already be exhausted when a run first fails."""
    doc: str = ""
    """The rules, with their sources (the docstring of the profile's definition)."""

    def __post_init__(self) -> None:
        _check_profile(self)

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
            system=self.label, feature=feature,
        )  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class Resolved:
    """What a profile makes of a set of functions: retry policies and bound cron schedules."""

    policies: dict[str, RetryPolicy]
    schedules: dict[str, tuple[CronSchedule, ...]]


def resolve(profile: Profile, functions: Iterable[Function]) -> Resolved:
    """Check every function against ``profile``; raise ``UnsupportedFeature`` for the first misfit."""
    policies: dict[str, RetryPolicy] = {}
    schedules: dict[str, tuple[CronSchedule, ...]] = {}
    for fn in functions:
        for feature in features_of(fn):
            if feature in profile.lacks:
                raise profile.refuse(fn.id, feature)
        if fn.crons:
            schedules[fn.id] = tuple(
                profile.cron.bind(s, system=profile.label, function=fn.id, tz_option=fn.options.get("tz"))
                for s in fn.crons
            )
        policies[fn.id] = _policy(profile, fn)
    return Resolved(policies, schedules)


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
        )  # fmt: skip


_NUMBERS = {"retry_after_min_ns": (0, False), "cron_jitter_ns": (0, False), "retry_after_max_ns": (0, True),
            "max_sleep_ns": (1, True), "max_duration_ns": (1, True), "max_attempts": (1, True)}
"""Int fields: the least value, and whether ``None`` (no limit) is allowed."""
_BOOLS = ("durable_steps", "checkpoints", "non_retriable", "retry_after", "persistent", "future_ts",
          "fail_count_per_job")
_CHOICES: dict[str, tuple[Any, ...]] = {"missed_cron": get_args(MissedCron), "cron_next": get_args(CronNext),
                                        "debounce_mode": ("leading", "trailing")}


def _check_profile(p: Profile) -> None:
    """A plugin's ``Profile(...)`` is checked where it is built, not when a retry or a sleep first reads a
    field deep inside the engine (``max_sleep_ns="1d"`` failed there as a TypeError inside job code)."""
    def bad(field: str, accepted: str) -> InvalidArgument:
        return InvalidArgument.build(field, getattr(p, field), f"Profile.{field} must be {accepted}")

    if not isinstance(p.name, str) or not p.name.strip():
        raise bad("name", "a non-empty string such as 'my-system'")
    for field in ("description", "system", "doc"):
        if not isinstance(getattr(p, field), str):
            raise bad(field, "a string")
    attempts = getattr(p.default_retries, "attempts", None)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1 \
            or not callable(getattr(p.default_retries, "delay_ns", None)):
        raise bad("default_retries", "a retry policy: an int attempts >= 1 and a delay_ns(retry, rng) method "
                                     "(jobsim.Retries, TableBackoff, ...)")
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
    _check_parts(p, bad)


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
    for field in ("retries", "failure_hook", "attempt_failure_hook"):
        if getattr(p, field) is not None and not callable(getattr(p, field)):
            raise bad(field, "a callable, or None")


def features_of(fn: Function) -> list[str]:
    """The feature keys (``FEATURES``) a function's declaration uses."""
    used = []
    if fn.events:
        used.append("events")
    if fn.on_failure is not None:
        used.append("on_failure")
    if fn.timeout_ns is not None:
        used.append("timeouts")
    flow = fn.flow
    if flow is None:
        return used
    for name in ("batch", "debounce", "throttle", "rate_limit", "cancel_on", "timeouts"):
        if getattr(flow, name):
            used.append(name)
    if flow.debounce is not None and flow.debounce.timeout_ns is not None:
        used.append("debounce.timeout")
    if flow.debounce is not None and flow.debounce.mode == "leading":
        used.append("debounce.leading")
    if flow.idempotency is not None:
        used.append("idempotency")
    if flow.priority is not None:
        used.append("priority")
    if flow.concurrency is not None:
        used.append("concurrency")
        if flow.concurrency.key is not None:
            used.append("concurrency.key")
        if flow.concurrency.limit > 1:
            used.append("concurrency.limit")
    return used


class Profiles:
    """Registered profiles by name (the pluggy hook ``jobsim_profiles`` feeds this)."""

    def __init__(self) -> None:
        self._by_name: dict[str, Profile] = {}

    def register_all(self, contributed: Any) -> None:
        """What one plugin's ``jobsim_profiles`` hook gave: a list of profiles (``None``: nothing)."""
        if contributed is None:
            return
        if isinstance(contributed, (str, bytes, Profile)) or not isinstance(contributed, Iterable):
            raise PluginError(f"a jobsim plugin's jobsim_profiles hook gave {shown(contributed)}; it must give a list "
                              "of jobsim.Profile objects")
        for profile in contributed:
            self.register(profile)

    def register(self, profile: Profile) -> None:
        if not isinstance(profile, Profile):  # a plugin's jobsim_profiles hook gave something else
            raise PluginError(f"a jobsim plugin's jobsim_profiles hook gave {shown(profile)}; it must give "
                              "jobsim.Profile objects")
        self._by_name[profile.name] = profile

    def get(self, name: str | Profile) -> Profile:
        if isinstance(name, Profile):
            return name
        try:
            return self._by_name[name]
        except (KeyError, TypeError):
            raise InvalidArgument.build(
                "profile", name, "one of " + ", ".join(repr(n) for n in sorted(self._by_name))
            ) from None

    def names(self) -> list[str]:
        return sorted(self._by_name)


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


__all__ = ["CrashRule", "Profile", "Profiles", "Resolved", "builtin_profiles", "resolve"]
