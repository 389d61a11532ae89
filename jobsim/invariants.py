"""Invariants people check on background jobs, as assertion helpers with messages that tell the story.

Each helper raises ``Violation`` (an ``AssertionError`` and a ``jobsim.JobsimError``)
listing every offending key, email, event or attempt with its virtual time, and
returns what it counted so a test can assert more. They read only what a finished
simulation exposes — ``sim.runs()``, ``run.attempts``, ``sim.mail.outbox``,
``sim.events``, ``sim.trace`` — and work in any test, with or without Hypothesis::

    invariants.exactly_once(sim.mail.outbox, key="subject", expected=[...], what="confirmation")
    invariants.no_email_after(sim, "send-reminder", statuses=("cancelled",))
    invariants.retries_respect_policy(sim)
    invariants.every_event_handled(sim, "send-batch-notifications", once=True)
"""

from __future__ import annotations

import datetime as dt
import sys
import weakref
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, get_args

from ._checks import check_callable, keywords_checked
from ._email import Email, addressees
from ._events import Event
from ._records import Attempt, Run, RunStatus
from ._safe import shown
from ._simulation import Simulation
from ._time import format_duration, instant_ns, iso
from .errors import InvalidArgument, JobsimError, NonRetriableError, RetryAfterError, StepError, WorkerCrashed

__all__ = [
    "Violation",
    "at_least_once",
    "at_most_once",
    "every_event_handled",
    "exactly_once",
    "no_email_after",
    "no_email_after_event",
    "retries_respect_policy",
]

KeyFn = Callable[[Any], Hashable]
_SHOWN = 10
"""At most this many offending keys (and items per key) are listed; the rest are counted."""


class Violation(JobsimError, AssertionError):
    """An invariant does not hold; the message lists every offender (up to ten) with its virtual time."""


# -- keys and descriptions -------------------------------------------------------------------------
def _key_fn(key: str | KeyFn, argument: str = "key") -> KeyFn:
    """A callable, or a dotted path into the item: ``"data.orderId"``, ``"to.0"``, ``"subject"``."""
    if callable(key):
        check_callable(argument, key, 1, "a callable taking one effect and returning its key")
        return key
    if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
        raise InvalidArgument.build(argument, key, "a dotted path such as 'data.orderId' or 'subject', or a callable")
    parts = key.split(".")

    def read(item: Any) -> Hashable:
        value = item
        for part in parts:
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, (list, tuple)) and part.isdigit():
                value = value[int(part)] if int(part) < len(value) else None
            else:
                value = getattr(value, part, None)
            if value is None:
                return None
        return value if isinstance(value, Hashable) else _Shown(value)

    return read


class _Shown(str):
    """The key of an unhashable value (a list, a dict): its repr, holding the value for the hint below."""

    value: Any

    def __new__(cls, value: Any) -> _Shown:
        text = super().__new__(cls, repr(value))
        text.value = value
        return text


def _whole_list_hint(key: str | KeyFn, groups: dict[Hashable, list[Any]], missing: list[Hashable]) -> list[str]:
    """``key="to"`` reads an email's whole list of addressees: an expected address is then "missing" beside
    a key ``"['a@example.com']"``, which says nothing of why. Name the path to one element."""
    for read in groups:
        if (isinstance(key, str) and isinstance(read, _Shown) and isinstance(read.value, list)
                and any(m in read.value for m in missing)):  # fmt: skip
            return [f"  key={key!r} reads a whole list from each effect ({read}); key={key + '.0'!r} keys "
                        "by its first element, or pass a callable"]  # fmt: skip
    return []


_STATUSES = get_args(RunStatus)


def _sim(sim: Any, *needs: str) -> Any:
    """The simulation an invariant reads (``sim=None`` raised AttributeError deep inside).

    Checked by what the invariant uses, so a stand-in holding hand-written runs still works.
    """
    if isinstance(sim, Simulation) or all(hasattr(sim, name) for name in needs):
        return sim
    raise InvalidArgument.build("sim", sim, "a jobsim.Simulation (the one the history ran in)")


def _statuses(value: Any, argument: str = "statuses") -> Sequence[str]:
    """Run statuses; a typo ('complete') would otherwise match no run and pass or fail for the wrong reason."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple, set, frozenset)) or not all(s in _STATUSES for s in items):
        raise InvalidArgument.build(argument, value, "run statuses among " + ", ".join(map(repr, _STATUSES)))
    return tuple(items)


def _expected(value: Any) -> list[Hashable]:
    """Expected keys: a list of them (a str would be read as its characters)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidArgument.build("expected", value, "a list (or set) of the keys that must occur")
    try:
        return list(dict.fromkeys(value))
    except TypeError:  # [[]] or [([],)]: a key that cannot be hashed
        raise InvalidArgument.build("expected", value, "a list of hashable keys") from None


def describe(item: Any) -> str:
    """One line per effect, with its virtual time where it has one."""
    if isinstance(item, Email):
        return f"email {addressees(item.to, item.cc, item.bcc)} {item.subject!r} at {_stamp(item.sent_at)}"
    if isinstance(item, Event):
        stamp = "" if item.ts is None else f" at {iso(item.ts * 1_000_000)}"
        return f"event {item.name} id={item.id!r}{stamp} {_short(dict(item.data))}"
    if isinstance(item, Run):
        end = "" if item.end_ns is None else f", ended {iso(item.end_ns)}"
        return f"run {item.function_id} {item.id} {item.status} (started {iso(item.start_ns)}{end})"
    at = getattr(item, "at", None)
    request = getattr(item, "request", None)
    if request is not None and isinstance(at, dt.datetime):
        return f"http {request.method} {request.url} at {_stamp(at)}"
    return _short(item)


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _short(value: Any, limit: int = 120) -> str:
    text = shown(value)  # a row whose repr raises or recurses still gets its line
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _violation(title: str, lines: list[str], count: int, hint: list[str] | None = None) -> Violation:
    """Raised by each helper itself, so Hypothesis tells one invariant's failures from another's."""
    more = [f"  … and {count - _SHOWN} more"] if count > _SHOWN else []
    return Violation("\n".join([title, *lines, *more, *(hint or [])]))


def _check_what(what: Any) -> None:
    if not isinstance(what, str):  # shown in the violation's title, only when one is raised: checked first
        raise InvalidArgument.build("what", what, "a str naming the effects in the message, such as 'confirmation'")


def _grouped(effects: Iterable[Any], key: str | KeyFn) -> dict[Hashable, list[Any]]:
    if isinstance(effects, (str, bytes)) or not isinstance(effects, Iterable):
        raise InvalidArgument.build("effects", effects, "an iterable of effects (emails, events, HTTP calls, rows)")
    read = _key_fn(key)
    groups: dict[Hashable, list[Any]] = defaultdict(list)
    for item in effects:
        groups[read(item)].append(item)
    if isinstance(key, str) and list(groups) == [None]:  # a misspelt path: every effect would share the key None
        items = groups[None]
        raise InvalidArgument.build("key", key, f"it read nothing (None) from every one of the {len(items)} "
                                    f"effect(s), e.g. {describe(items[0])}; a dotted path into each effect, such as "
                                    "'data.orderId' or 'subject', or a callable")  # fmt: skip
    return dict(groups)


def _listing(groups: dict[Hashable, list[Any]], keys: list[Hashable]) -> list[str]:
    lines = []
    for key in keys[:_SHOWN]:
        items = groups.get(key, [])
        lines.append(f"  {shown(key)}: {len(items)} time(s)" if items else f"  {shown(key)}: missing")
        lines += [f"      {describe(item)}" for item in items[:_SHOWN]]
    return lines


# -- counting effects per key ----------------------------------------------------------------------------
@keywords_checked("invariants.exactly_once()")
def exactly_once(effects: Iterable[Any], key: str | KeyFn, *, expected: Iterable[Hashable] | None = None,
                 what: str = "effect") -> dict[Hashable, Any]:  # fmt: skip
    """Each key occurs once among ``effects`` (and every ``expected`` key occurs); returns key -> effect.

    ``key`` is a dotted path into each effect (``"data.orderId"``, ``"subject"``,
    ``"to.0"``) or a callable. Without ``expected`` only duplicates are violations.
    """
    __tracebackhide__ = True
    _check_what(what)
    wanted = [] if expected is None else _expected(expected)
    groups = _grouped(effects, key)
    missing = [k for k in wanted if k not in groups]
    broken = [k for k, items in groups.items() if len(items) > 1] + missing
    if broken:
        title = f"exactly once per key ({what}): {len(broken)} key(s) broken"
        hint = _whole_list_hint(key, groups, missing)
        raise _violation(title, _listing(groups, broken), len(broken), hint)
    return {k: items[0] for k, items in groups.items()}


@keywords_checked("invariants.at_least_once()")
def at_least_once(effects: Iterable[Any], key: str | KeyFn, *, expected: Iterable[Hashable],
                  what: str = "effect") -> dict[Hashable, list[Any]]:  # fmt: skip
    """Every ``expected`` key occurs at least once among ``effects``; returns key -> effects."""
    __tracebackhide__ = True
    _check_what(what)
    wanted = _expected(expected)
    groups = _grouped(effects, key)
    missing = [k for k in wanted if k not in groups]
    if missing:
        title = f"at least once per key ({what}): {len(missing)} key(s) never happened"
        raise _violation(title, _listing(groups, missing), len(missing), _whole_list_hint(key, groups, missing))
    return groups


@keywords_checked("invariants.at_most_once()")
def at_most_once(effects: Iterable[Any], key: str | KeyFn, *, what: str = "effect") -> dict[Hashable, Any]:
    """No key occurs twice among ``effects``; returns key -> effect."""
    __tracebackhide__ = True
    _check_what(what)
    groups = _grouped(effects, key)
    broken = [k for k, items in groups.items() if len(items) > 1]
    if broken:  # its own title: "exactly once" named a check the test never asked for
        title = f"at most once per key ({what}): {len(broken)} key(s) occurred more than once"
        raise _violation(title, _listing(groups, broken), len(broken))
    return {k: items[0] for k, items in groups.items()}


# -- nothing after the end -------------------------------------------------------------------------
def _email_origins(sim: Any) -> dict[str, tuple[int, str | None]]:
    """message id -> (virtual ns it was sent, run id that sent it or None) from the trace."""
    return {r.data.get("message_id"): (r.at, r.data.get("run")) for r in sim.trace.of("email")}


@keywords_checked("invariants.no_email_after()")
def no_email_after(sim: Any, function: Any, *, statuses: Sequence[str] = ("cancelled", "completed"),
                   related: Callable[[Email, Run], bool] | None = None) -> None:  # fmt: skip
    """No email goes out after a run of ``function`` ended with one of ``statuses``.

    A run's emails are those its own code sent (the trace attributes them), plus, with
    ``related(email, run)``, emails sent by other functions on its behalf (an
    ``email/send`` event handled elsewhere, say). Catches code that keeps running past
    a cancellation or a timeout, and mail that outlives the decision to send it.
    """
    __tracebackhide__ = True
    sim = _sim(sim, "runs", "trace", "mail", "_function")
    statuses = _statuses(statuses)
    if related is not None:
        check_callable("related", related, 2, "a function (email, run) -> bool")
    fn = sim._function(function, "function")
    origins = _email_origins(sim)
    late = []
    for run in sim.runs(fn):
        if run.status not in statuses or run.end_ns is None:
            continue
        for email in sim.mail.outbox:
            at, owner = origins.get(email.message_id, (None, None))
            sent = at if at is not None else _ns(email.sent_at)
            mine = owner == run.id or (related is not None and related(email, run))
            if mine and sent > run.end_ns:
                late.append(f"  {describe(email)}: {format_duration(sent - run.end_ns)} after {describe(run)}")
    if late:
        title = f"no email after a {'/'.join(statuses)} run of {fn.id!r}: {len(late)} email(s) sent after"
        raise _violation(title, late[:_SHOWN], len(late))


def _ns(moment: dt.datetime) -> int:
    return instant_ns(moment)


@keywords_checked("invariants.no_email_after_event()")
def no_email_after_event(sim: Any, event: str, *, key: str | KeyFn, email_key: KeyFn,
                         emails: Iterable[Email] | None = None) -> None:  # fmt: skip
    """No email about a key goes out after the first ``event`` carrying that key was sent.

    ``key`` reads the key from each such event (``"data.cartId"``); ``email_key(email)``
    reads it from each email (``None``: not about any key). ``emails`` narrows the
    outbox (say, to reminder emails). E.g. no cart reminder after ``cart/completed``.
    """
    __tracebackhide__ = True
    sim = _sim(sim, "trace", "events", "mail")
    if not isinstance(event, str) or not event:
        raise InvalidArgument.build("event", event, "an event name such as 'cart/completed'")
    read = _key_fn(key)
    check_callable("email_key", email_key, 1, "a callable taking an Email and returning its key (or None)")
    checked = sim.mail.outbox if emails is None else _emails(emails)
    sent_at = {r.data.get("id"): r.at for r in sim.trace.of("event") if r.data.get("name") == event}
    cutoffs: dict[Hashable, tuple[int, Event]] = {}
    for item in sim.events:
        if item.name == event and item.id in sent_at:
            cutoffs.setdefault(read(item), (sent_at[item.id], item))
    origins = _email_origins(sim)
    late = []
    for email in checked:
        cutoff = cutoffs.get(email_key(email))
        if cutoff is None:
            continue
        sent = origins.get(email.message_id, (_ns(email.sent_at), None))[0]
        if sent > cutoff[0]:
            late.append(f"  {describe(email)}: {format_duration(sent - cutoff[0])} after {describe(cutoff[1])}")
    if late:
        title = f"no email after {event}: {len(late)} email(s) sent after their key's {event}"
        raise _violation(title, late[:_SHOWN], len(late))


def _emails(emails: Any) -> list[Email]:
    """``emails=``: some of the outbox, checked before ``email_key`` is called on each."""
    accepted = "a list of jobsim.Email, such as sim.mail.outbox or the part of it the check is about"
    if isinstance(emails, (str, bytes, Mapping)) or not isinstance(emails, Iterable):
        raise InvalidArgument.build("emails", emails, accepted)
    items = list(emails)
    for item in items:
        if not isinstance(item, Email):
            raise InvalidArgument.build("emails", emails, f"{accepted}; it holds {shown(item, 200)}")
    return items


# -- retries ------------------------------------------------------------------------------------------
class _Extreme:
    """A stand-in random generator that always draws its lowest (or highest) value.

    ``policy.delay_ns(k, _Extreme(False))`` is the shortest delay the policy allows
    before retry k, ``_Extreme(True)`` the longest: the bounds of any jitter.
    """

    def __init__(self, high: bool) -> None:
        self.high = high

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        low, top = (0, start) if stop is None else (start, stop)
        return low + ((top - 1 - low) // step) * step if self.high else low

    def randint(self, a: int, b: int) -> int:
        return b if self.high else a

    def random(self) -> float:
        return 1.0 - 2.0**-53 if self.high else 0.0

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a

    def getrandbits(self, k: int) -> int:
        return (1 << k) - 1 if self.high else 0


def _bounds(sim: Any, run: Run, failed: Attempt, retry: int) -> tuple[int, int]:
    """The shortest and longest delay allowed before retry ``retry``, by the policy or ``failed``'s RetryAfterError."""
    error = failed.error
    profile = sim.profile
    if isinstance(error, RetryAfterError) and getattr(profile, "retry_after", True):  # else the policy's delay
        delay = profile.retry_after_delay(error.after, failed.end_ns)
        return delay, delay
    policy = sim.engine.policy(run.function)
    try:
        return policy.delay_ns(retry, _Extreme(False)), policy.delay_ns(retry, _Extreme(True))
    except AttributeError as exc:
        raise JobsimError(f"retries_respect_policy() cannot bound the delays of {policy!r}: {exc}") from None


def _where(attempt: Attempt) -> str:
    return f"step {attempt.step!r}" if attempt.step else "the function body"


def _job_failures(sim: Any, runs: Iterable[Run]) -> dict[int, int]:
    """``id(attempt)`` -> its failure's number in its job's lifetime, where the profile counts that way.

    Agenda 6.2.2 (``profile.fail_count_per_job``): the runs of a cron function are one job
    document whose ``failCount`` numbers its retries and is never reset, so failure k of
    the function's cron runs (in the order the attempts ran; a crash is no failure) is
    followed by retry k, or by none once k exceeds ``maxRetries``.
    """
    if not getattr(sim.profile, "fail_count_per_job", False):
        return {}
    from ._engine import CRON_EVENT

    failures: dict[str, list[tuple[int, int, int, Attempt]]] = defaultdict(list)
    for i, run in enumerate(runs):
        if run.events and run.events[0].name == CRON_EVENT:
            for j, a in enumerate(run.attempts):
                if a.error is not None and not isinstance(a.error, WorkerCrashed):
                    failures[run.function.id].append((a.start_ns, i, j, a))
    return {id(a): k for attempts in failures.values() for k, (*_, a) in enumerate(sorted(attempts), 1)}


def _run_retries(sim: Any, run: Run, parallel: Mapping[str, list[tuple[int, list[str], str]]],
                 numbers: Mapping[int, int] | None = None) -> list[str]:  # fmt: skip
    """Every way ``run``'s attempts break its retry policy.

    A failed attempt's retry is the run's next attempt, except around
    ``ctx.step.parallel`` groups. Their steps retry on their own counters side by
    side, so the next attempt may be a sibling's and the retry is the step's own next
    attempt; a grouped step with no later attempt of its own, whose failure is not
    the run's last one, ended because the run did (a sibling failed it). And the
    request that plans a group is no attempt of its own (each step is one): when it
    retried a failure outside steps, the retry is the ``parallel`` record's instant.
    In ``mode="race"`` each step's end starts a request of its own (Inngest enqueues a
    discovery per finished step), and each retries on its own counter: requests overlap,
    so the retry of a failure is a later attempt numbered one more, of whatever step that
    request met (``_race_retries``). A failure outside steps may be overtaken by a
    sibling's first request (number 0) that carries the run on, and a retry due only
    after the run ended never ran: neither is giving up.
    """
    attempts = sim.engine.policy(run.function).attempts
    groups = parallel.get(run.id, [])
    grouped = {key for _, keys, _ in groups for key in keys}
    races = any(mode == "race" for _, _, mode in groups)
    problems = []
    order = run.attempts
    retries = _race_retries(sim, run, grouped, groups) if races else {}
    for i, failed in enumerate(order):
        after = order[i + 1] if i + 1 < len(order) else None
        if failed.step is not None and failed.step in grouped:
            after = next((a for a in order[i + 1:] if a.step == failed.step), None)
            if after is None and any(a.error is not None for a in order[i + 1:]):
                continue
        elif failed.step is None and failed.error is not None and after is not None and after.step in grouped \
                and after.number == 0 and not _overtaken(sim, run, failed, after, groups, races):
            planned = next(at for at, keys, _ in groups if after.step in keys)  # the retry planned the group
            after = Attempt(failed.number + 1, None, planned, planned, None)
        elif races:
            after = retries.get(id(failed))
            if after is None and failed.error is not None and (failed.step is None or _ended_first(sim, run, failed)):
                # no retry was due (overtaken, or the run ended first): only the attempt's number is checked
                failed = Attempt(failed.number, failed.step, failed.start_ns, failed.end_ns, None)
        problems += _attempt_problems(sim, run, failed, after, attempts, (numbers or {}).get(id(failed)))
    return [f"  {describe(run)}: {problem}" for problem in problems]


def _race_retries(
    sim: Any, run: Run, grouped: set[str], groups: list[tuple[int, list[str], str]]
) -> dict[int, Attempt]:
    """id() of each failed attempt of a run with a race-mode group -> its retry, where one ran.

    Two requests may fail the same step side by side and retry on their own counters
    (each is its own Inngest queue item); a retry replays the run and runs whatever is
    new by then, so it may be another step's attempt, a sleep, wait or invoke it
    planned, or the body's -- never a grouped ``step.run`` (those are targeted requests
    on counters of their own). So a failure's retry is a later attempt numbered one
    more that no other failure took: first each failure takes the fitting one (within
    the policy's delay; the earliest, then the same step), then the failures left take
    what is left, to be reported. Delays of one attempt number share their bounds, so
    taking the earliest fitting retry in the order they failed pairs them as well as
    any order could. A retry that planned a group (its sleeps, waits, invokes) is one request:
    the failure that takes one of the group's attempts takes them all.
    """
    targeted = {key for key in grouped if getattr(run.steps.get(key), "kind", "run") in ("run", "send_event")}
    group_of = {key: index for index, (_, keys, _) in enumerate(groups) for key in keys}
    pool = [a for a in run.attempts if a.step not in targeted]
    failures = sorted((a for a in pool if a.error is not None and not isinstance(a.error, WorkerCrashed)
                       and not _final(sim, a.error)), key=lambda a: a.end_ns)  # fmt: skip
    late_ok = _waited(sim, run)
    taken: dict[int, Attempt] = {}
    claimed: set[int] = set()
    for fitting in (True, False):
        for failed in failures:
            if id(failed) in taken:
                continue
            low, high = _bounds(sim, run, failed, failed.number + 1)
            high = sys.maxsize if late_ok else high  # queues (concurrency, throttle) may start a retry later
            later = [a for a in pool if a.number == failed.number + 1 and a.start_ns >= failed.end_ns
                     and id(a) not in claimed and (not fitting or low <= a.start_ns - failed.end_ns <= high)]
            after = min(later, key=lambda a: (a.start_ns, a.step != failed.step), default=None)
            if after is not None:
                taken[id(failed)] = after
                group = group_of.get(after.step or "")
                claimed.update(id(a) for a in pool if a is after or (
                    group is not None and group_of.get(a.step or "") == group
                    and a.start_ns == after.start_ns and a.number == after.number))  # fmt: skip
    return taken


def _overtaken(
    sim: Any, run: Run, failed: Attempt, after: Attempt, groups: list[tuple[int, list[str], str]], races: bool
) -> bool:
    """Whether the group ``after`` belongs to was planned, in race mode, before ``failed``'s retry could
    be due: a sibling's own request (number 0) planned it, not the retry."""
    if not races:
        return False
    planned = next(at for at, keys, _ in groups if after.step in keys)
    return planned - failed.end_ns < _bounds(sim, run, failed, failed.number + 1)[0]


def _ended_first(sim: Any, run: Run, failed: Attempt) -> bool:
    """Whether ``run`` ended before ``failed``'s retry was due: an overlapping request ended it."""
    if run.end_ns is None:
        return False
    latest = failed.end_ns + _bounds(sim, run, failed, failed.number + 1)[1]
    return _waited(sim, run) or run.end_ns <= latest


_QUEUED: weakref.WeakKeyDictionary[Any, tuple[int, frozenset[str]]] = weakref.WeakKeyDictionary()
"""Per simulation: its trace's length when last read, and the runs flow control held back by then."""


def _waited(sim: Any, run: Run) -> bool:
    """Whether flow control held a request of ``run`` back: a ``run.queued`` record of it for a
    concurrency slot or the throttle. Its retry (or its end) may then come later than the policy's
    delay. Asked of the trace, not of the function's settings: a function that could queue (every
    Agenda function has a concurrency) but never did must still retry on time."""
    if run.function.flow is None:
        return False
    trace = sim.trace
    seen = _QUEUED.get(sim)
    if seen is None or seen[0] != len(trace):
        held = frozenset(r.data["run"] for r in trace.of("run.queued") if r.data.get("reason") in _HELD)
        seen = _QUEUED[sim] = (len(trace), held)
    return run.id in seen[1]


_HELD = ("concurrency", "throttle")


def _final(sim: Any, error: BaseException) -> bool:
    """Whether a failure with ``error`` is never retried (a replayed step failure, a NonRetriableError)."""
    return isinstance(error, StepError) or (  # a StepError replays a step's end
        # Agenda has no such error class: there a NonRetriableError is retried like any error
        isinstance(error, NonRetriableError) and getattr(sim.profile, "non_retriable", True)
    )


def _parallel_steps(sim: Any) -> dict[str, list[tuple[int, list[str], str]]]:
    """Run id -> ``(when, step keys, mode)`` of each ``ctx.step.parallel`` group it planned (``parallel`` records)."""
    trace = getattr(sim, "trace", None)
    groups: dict[str, list[tuple[int, list[str], str]]] = defaultdict(list)
    if trace is not None:
        for record in trace.of("parallel"):
            groups[record.data["run"]].append((record.at, record.data["steps"], record.data["mode"]))
    return groups


def _attempt_problems(sim: Any, run: Run, failed: Attempt, after: Attempt | None, attempts: int,
                      number: int | None = None) -> list[str]:  # fmt: skip
    """``number``: the failure's number when the job counts failures over its lifetime (``_job_failures``)."""
    where = _where(failed)
    retry = failed.number + 1 if number is None else number
    out = []
    if failed.number >= attempts:
        out.append(f"{where} ran attempt {failed.number} but the policy allows {attempts} attempt(s)")
    if failed.error is None or (after is None and run.status != "failed"):
        return out  # a success, or a failure whose retry has not run yet (or the run was cancelled)
    if isinstance(failed.error, WorkerCrashed):
        return out  # what follows a crash is the system's recovery (stall checks, lock expiry), not a retry delay
    final = _final(sim, failed.error)
    if after is not None and after.number == failed.number + 1:
        out += _retry_problems(sim, run, failed, after, final, retry)
    elif not final and retry < attempts:
        left = attempts - retry
        out.append(f"{where} gave up after attempt {failed.number} failed at {iso(failed.end_ns)} "
                   f"({type(failed.error).__name__}) with {left} attempt(s) left")  # fmt: skip
    return out


def _retry_problems(sim: Any, run: Run, failed: Attempt, after: Attempt, final: bool, retry: int) -> list[str]:
    if final:
        return [f"{_where(failed)} was retried at {iso(after.start_ns)} after a {type(failed.error).__name__}"]
    if retry >= sim.engine.policy(run.function).attempts:
        return [f"{_where(failed)} was retried at {iso(after.start_ns)} though it was failure {retry} of its job "
                f"and the policy allows {sim.engine.policy(run.function).attempts - 1} retries"]
    low, high = _bounds(sim, run, failed, retry)
    gap = after.start_ns - failed.end_ns
    if getattr(sim.engine.policy(run.function), "from_scheduled", False) and not isinstance(
        failed.error, RetryAfterError
    ):  # Quirrel: the delay counts from when the failed attempt was due; one already past runs at once
        scheduled = _scheduled(sim, run, failed)
        gap = after.start_ns - scheduled
        if failed.end_ns - scheduled >= low and after.start_ns == failed.end_ns:
            return []
    late_ok = _waited(sim, run)  # queues (concurrency, throttle) may start a retry later
    if low <= gap and (gap <= high or late_ok):
        return []
    if low <= gap and _found_by_poll(sim, failed.end_ns, low, high, after.start_ns):
        return []
    base = after.start_ns - gap  # the instant the policy's delay counts from
    if _held_by_downtime(sim, base + low, base + high, after.start_ns):
        return []
    allowed = format_duration(low) if low == high else f"{format_duration(low)}..{format_duration(high)}"
    return [f"{_where(failed)} attempt {after.number} started {format_duration(gap)} after attempt "
            f"{failed.number} failed at {iso(failed.end_ns)}; the policy allows {allowed}"]  # fmt: skip


def _scheduled(sim: Any, run: Run, failed: Attempt) -> int:
    """When ``failed`` was due, which Quirrel's offsets count from (``owl : retry.ts``): the run's
    creation for its first attempt, the due time of the retry that planned it for the others
    (``retry`` records) — not its start, which a ``sim.downtime`` can push later (the run then
    waits from a ``run.queued`` record of reason ``downtime``)."""
    trace = getattr(sim, "trace", None)
    if failed.number == 0:
        due = run.start_ns
        if trace is not None:
            due = min((r.at for r in trace.of("run.queued") if r.data["run"] == run.id), default=due)
        return min(due, failed.start_ns)
    if trace is not None:
        for record in trace.of("retry"):
            data = record.data
            if data["run"] == run.id and data["attempt"] == failed.number and data.get("step") == failed.step:
                return min(int(data["at"]), failed.start_ns)
    return failed.start_ns


def _found_by_poll(sim: Any, failed: int, low: int, high: int, started: int) -> bool:
    """Whether a retry due ``low..high`` after a failure at ``failed`` started at the poll that found it,
    on a system that finds jobs by polling (``profile.poll_ns``, Agenda's processEvery: ``jobsim._polling``):
    the first poll after ``failed`` and at or after ``due - processEvery``, when it is later than the due time."""
    polls = getattr(getattr(getattr(sim, "engine", None), "system", None), "polls", None)
    if polls is None or polls.at_or_after(started) != started:
        return False
    return bool(polls.start(failed, failed + low, True) <= started <= polls.start(failed, failed + high, True))


def _held_by_downtime(sim: Any, earliest: int, latest: int, started: int) -> bool:
    """Whether a retry due in ``[earliest, latest]`` fell in a ``sim.downtime`` window and
    started when the system came back: in ``[start, end)`` nothing starts, and a persistent
    system holds what was due until ``end`` (``jobsim._runtime``)."""
    trace = getattr(sim, "trace", None)
    if trace is None:
        return False
    for record in trace.of("fault.armed"):
        if record.data.get("fault") == "downtime":
            start, end = record.data["start"], record.data["end"]
            if start <= latest and earliest < end and started == end:
                return True
    return False


@keywords_checked("invariants.retries_respect_policy()")
def retries_respect_policy(sim: Any, function: Any = None) -> None:
    """Every retry waited what the retry policy says, no step ran more attempts than allowed,
    a ``NonRetriableError`` was never retried, and nothing gave up with attempts left.

    The delay before retry k must lie within the policy's bounds (its jitter's extremes;
    exactly the clamped delay for a ``RetryAfterError``), measured from the end of the
    failed attempt — from its start for policies that count from the scheduled time
    (Quirrel's offsets). For functions with flow control a retry may start later (it
    queued); one due during a ``sim.downtime`` window starts when the window ends; on a
    system that finds jobs by polling (Agenda's ``processEvery``) one may start at the
    poll that finds it, later than it is due. An
    attempt a worker crash ended is followed by the system's recovery, not by a retry
    delay, so it is not checked.
    """
    __tracebackhide__ = True
    sim = _sim(sim, "runs", "engine", "profile")
    runs = sim.runs() if function is None else sim.runs(function)
    parallel = _parallel_steps(sim)
    numbers = _job_failures(sim, runs)
    problems = [line for run in runs for line in _run_retries(sim, run, parallel, numbers)]
    if problems:
        raise _violation(f"retries respect the policy: {len(problems)} violation(s)", problems[:_SHOWN], len(problems))


# -- events and their handlers --------------------------------------------------------------------------
def _names(value: Any, argument: str) -> set[str] | None:
    if value is None:
        return None
    if not isinstance(value, (str, list, tuple, set, frozenset)):  # 3 raised "'int' object is not iterable"
        raise InvalidArgument.build(argument, value, "an event name or a list of them")
    items = [value] if isinstance(value, str) else list(value)
    if not items or not all(isinstance(n, str) and n for n in items):  # [[]]: set() raised "unhashable type"
        raise InvalidArgument.build(argument, value, "an event name or a list of them")
    return set(items)


@keywords_checked("invariants.every_event_handled()")
def every_event_handled(
    sim: Any,
    function: Any = None,
    *,
    event: str | Iterable[str] | None = None,
    statuses: Sequence[str] | None = ("completed",),
    once: bool = False,
) -> dict[str, list[Run]]:
    """Every event was handled by every function subscribed to it: some run of that function
    got the event (alone or in a batch) and ended with one of ``statuses`` (None: any).

    ``function`` (an id or a list) and ``event`` (a name or a list) narrow the check;
    with ``once``, an event in two runs of one function is a violation too (a batch
    that handed an event out twice). Debounced, rate-limited and idempotent functions
    drop events by design: leave them out. Returns event id -> the runs that got it.
    """
    __tracebackhide__ = True
    sim = _sim(sim, "runs", "functions", "events", "_function")
    if statuses is not None:
        statuses = _statuses(statuses)
    if not isinstance(once, bool):
        raise InvalidArgument.build("once", once, "True or False")
    chosen = [f.id for f in sim.functions.values() if f.events] if function is None else (
        list(function) if isinstance(function, (list, tuple, set, frozenset)) else [function])  # fmt: skip
    fns = [sim._function(f, "function") for f in chosen]
    wanted = _names(event, "event")
    runs_of: dict[str, list[Run]] = defaultdict(list)
    for fn in fns:
        for run in sim.runs(fn):
            for item in run.events:
                runs_of[f"{fn.id}\0{item.id}"].append(run)
    problems: list[str] = []
    handled: dict[str, list[Run]] = {}
    for item in sim.events:
        for fn in fns:
            if not fn.listens_to(item.name) or (wanted is not None and item.name not in wanted):
                continue
            runs = runs_of.get(f"{fn.id}\0{item.id}", [])
            handled.setdefault(item.id, []).extend(runs)
            done = [r for r in runs if statuses is None or r.status in statuses]
            if not done:
                why = "no run got it" if not runs else "its run(s) ended " + ", ".join(r.status for r in runs)
                problems.append(f"  {describe(item)}: not handled by {fn.id!r} ({why})")
            elif once and len(runs) > 1:
                problems.append(f"  {describe(item)}: handled {len(runs)} times by {fn.id!r} "
                                f"(runs {', '.join(r.id for r in runs)})")  # fmt: skip
    if problems:
        title = f"every event handled by every subscribed function: {len(problems)} violation(s)"
        raise _violation(title, problems[:_SHOWN], len(problems))
    return handled
