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
import difflib
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, get_args

from ._app import listened_events
from ._checks import check_callable, keywords_checked
from ._describe import describe
from ._email import Email
from ._events import Event
from ._records import Run, RunStatus
from ._retrycheck import job_failures, parallel_steps, run_retries
from ._safe import shown
from ._simulation import Simulation
from ._time import format_duration, instant_ns
from .errors import InvalidArgument, JobsimError, UnsupportedFeature

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
    sim = _sim(sim, "runs", "trace", "mail", "_function_id")
    statuses = _statuses(statuses)
    if related is not None:
        check_callable("related", related, 2, "a function (email, run) -> bool")
    fid = sim._function_id(function, "function")  # an on_failure handler's id too, before its first run
    origins = _email_origins(sim)
    late = []
    for run in sim.runs(fid):
        if run.status not in statuses or run.end_ns is None:
            continue
        for email in sim.mail.outbox:
            at, owner = origins.get(email.message_id, (None, None))
            sent = at if at is not None else _ns(email.sent_at)
            mine = owner == run.id or (related is not None and related(email, run))
            if mine and sent > run.end_ns:
                late.append(f"  {describe(email)}: {format_duration(sent - run.end_ns)} after {describe(run)}")
    if late:
        title = f"no email after a {'/'.join(statuses)} run of {fid!r}: {len(late)} email(s) sent after"
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
    _known_events(sim, [event], "event")
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
    delay, so it is not checked. The runs of a backend plugin's own worker (arq, Celery,
    RQ, ...) are left out: their backend's code decides their retries; a check of only
    such runs, or of a function such a worker runs, raises ``UnsupportedFeature``.
    """
    __tracebackhide__ = True
    sim = _sim(sim, "runs", "engine", "profile")
    runs = _policy_runs(sim, sim.runs() if function is None else sim.runs(function), function)
    parallel = parallel_steps(sim)
    numbers = job_failures(sim, runs)
    problems = [line for run in runs for line in run_retries(sim, run, parallel, numbers)]
    if problems:
        raise _violation(f"retries respect the policy: {len(problems)} violation(s)", problems[:_SHOWN], len(problems))


def _policy_runs(sim: Any, runs: list[Run], function: Any) -> list[Run]:
    """The runs whose retries jobsim's engine decided by a ``jobsim.Retries`` policy. A backend plugin's own worker
    (arq's ``Retry``/``max_tries``, Celery's ``retry()``, ...) decides those of its jobs itself: checked against
    the engine's default policy, every retry would be a violation. Refused when only such runs are left, as a
    check of nothing would pass, and when ``function`` names such a function (even before it has runs)."""
    own: set[str] = getattr(sim, "_own_worker", set())
    kept = [run for run in runs if run.function.id not in own]
    named = None if function is None or not hasattr(sim, "_function_id") else sim._function_id(function)
    if named not in own and (kept or not runs):  # a function named: refused even before it has runs
        return kept
    names = repr(named) if named is not None else ", ".join(sorted({repr(run.function.id) for run in runs}))
    raise UnsupportedFeature(
        f"invariants.retries_respect_policy() checks jobsim's own retry policies (jobsim.Retries), but the runs of "
        f"{names} are run by a backend plugin's own worker, whose code decides their retries (arq's Retry and "
        "max_tries, Celery's retry(), ...); check those runs' attempts yourself (run.attempts, the 'retry' records "
        "of sim.trace)"
        + ("" if function is None else f"; function={function!r}"))


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


def _known_events(sim: Any, names: Iterable[str], argument: str) -> None:
    """Refuse an event name that no event of the simulation had and no function triggers on or cancels by, when it is
    a near miss of one that did (``'cart/complete'``, ``'Order/placed'``, ``'order/*'``): the check would find nothing
    to check and pass. A name unlike any is let through: a generated history may simply not have sent it."""
    sent = {item.name for item in sim.events}
    functions = getattr(sim, "functions", {}).values()  # a stand-in for no_email_after_event may have none (``_sim``)
    known = sent | listened_events(functions)
    for name in names:
        close = [] if name in known else difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        if close:
            raise InvalidArgument.build(
                argument, name, f"the name of an event (did you mean {close[0]!r}?): no event had this name and no "
                f"function triggers on it or is cancelled by it, so the check would find nothing to check and pass; "
                f"events seen: {', '.join(map(repr, sorted(sent))) or 'none'}"
            )


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
    if wanted is not None:
        _known_events(sim, wanted, "event")
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
