"""Event names that differ from a trigger only by case: ``on="user.Signup"`` while ``"user.signup"`` is sent.

Inngest matches an event to a trigger by exact string comparison (``EventTrigger.MatchesAnyPattern``:
``slices.Contains`` over the event name and its wildcard prefixes), so such a function never runs for
those events, and nothing fails. The simulation keeps that behaviour; when it closes, ``Simulation``
warns (``TriggerWarning``) for each trigger that no sent event matched, or each name sent that started
no function, where the other differs from it only by case.

Waits and cancellations match names exactly too (a pause's ``Event`` is compared as it is): a
``step.wait_for_event(..., event="Cart/paid")`` that timed out while ``"cart/paid"`` was sent, or a
``Cancel(event="Cart/abandoned")`` that did not cancel a run while ``"cart/abandoned"``, which meets its
``match``, was sent, is named so too (``case_only_unheard``).
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._events import Event, triggers_of
from ._flow import CANCEL_TIMEOUT, Cancel

if TYPE_CHECKING:
    from ._records import Run
    from ._simulation import Simulation
    from ._trace import Record


def case_only_misses(sent: Sequence[Event], by_trigger: Mapping[str, Sequence[Any]],
                     awaited: Collection[str] = (), sim: Simulation | None = None, *, typos: bool = True) -> list[str]:
    """The warnings for the events ``sent`` against ``by_trigger`` (trigger -> the functions listening, each
    with an ``id``): one for each name that started no function and is a typo of a trigger nothing matched
    (``_typo_misses``), and one for each (name, trigger) pair equal but for case where the name started no function
    (and is none of the names ``awaited`` by a wait or a cancellation, which it may have been sent for) or the
    trigger matched no name sent. Events are counted only when there is something to say (typos only with
    ``typos``: not inside a Hypothesis test, whose drawn names are its own business). With ``sim``, the
    waits and cancellations of its runs that missed a name so are named after them (``case_only_unheard``)."""
    names = {event.name for event in sent}
    return [*_trigger_misses(sent, names, by_trigger, awaited),
            *(_typo_misses(sent, names, by_trigger, awaited) if typos else ()),
            *(case_only_unheard(sim, names, by_trigger) if sim is not None else ())]


def _in_a_word(name: str, meant: str) -> bool:
    """Whether the one edit between ``name`` and ``meant`` falls in a word of 4 letters or more (``sigup`` of
    ``signup``), not in a short one (``sent/a`` and ``sent/b``, ``v1``/``v2``: names of their own)."""
    split = [re.split(r"[^0-9A-Za-z]+", text) for text in (name, meant)]
    if len(split[0]) != len(split[1]):
        return False
    return all(a == b or max(len(a), len(b)) >= 4 for a, b in zip(*split, strict=True))


def _typo_misses(sent: Sequence[Event], names: Collection[str], by_trigger: Mapping[str, Sequence[Any]],
                 awaited: Collection[str]) -> list[str]:
    """One warning for each name sent that started no function, is not ``awaited``, and is a certain typo
    (``_checks.one_typo``: a letter left out, added, changed or swapped; no digits) of a trigger that matched no
    name sent: ``sim.send("user/sigup")`` to a function ``on="user/signup"`` left the outbox empty, and the test
    said only that. Case alone is ``_trigger_misses``'s; a wildcard trigger is no one name to be meant."""
    from ._checks import one_typo

    unmatched = [trigger for trigger in by_trigger if not trigger.endswith("*")]
    if not unmatched:
        return []
    heard = {pattern for name in names for pattern in triggers_of(name) if pattern in by_trigger}
    unmatched = [trigger for trigger in unmatched if trigger not in heard]
    out: list[str] = []
    counts: Counter[str] = Counter()
    for name in sorted(names):
        if name in awaited or any(pattern in by_trigger for pattern in triggers_of(name)):
            continue
        meant = one_typo(name, unmatched)
        if meant is None or meant.casefold() == name.casefold() or not _in_a_word(name, meant):
            continue
        counts = counts or Counter(event.name for event in sent)
        listening = by_trigger[meant]
        who = (f"function {listening[0].id!r} listens" if len(listening) == 1 else
               f"functions {', '.join(repr(fn.id) for fn in listening)} listen")
        out.append(f"{_counted(counts[name], 'event', name)} sent and started no function, while {who} to "
                   f"{meant!r}, which matched no event sent: a typo? Event names match exactly; send {meant!r} (or "
                   f"add on={name!r} to the function)")
    return out


def _trigger_misses(sent: Sequence[Event], names: Collection[str], by_trigger: Mapping[str, Sequence[Any]],
                    awaited: Collection[str]) -> list[str]:
    folded: dict[str, list[str]] = {}
    for trigger in by_trigger:
        folded.setdefault(trigger.casefold(), []).append(trigger)
    matched: set[str] = set()
    near: dict[tuple[str, str], str] = {}  # (name, trigger) -> the trigger as the name spells it
    for name in names:
        for pattern in triggers_of(name):
            if pattern in by_trigger:
                matched.add(pattern)
            for trigger in folded.get(pattern.casefold(), ()):
                if trigger != pattern:
                    near[name, trigger] = pattern
    out: list[str] = []
    counts = Counter(event.name for event in sent) if near else Counter()
    for (name, trigger), spelt in sorted(near.items()):
        started = [fn for pattern in triggers_of(name) for fn in by_trigger.get(pattern, ())]
        if trigger in matched and (started or name in awaited):
            continue  # both spellings in use, each reaching its listeners: the test's business
        listening = by_trigger[trigger]
        if all(any(fn is other for other in started) for fn in listening):
            continue  # on=["order/placed", "Order/placed"]: every listener ran for the name by its other trigger
        who = (f"function {listening[0].id!r} listens" if len(listening) == 1 else
               f"functions {', '.join(repr(fn.id) for fn in listening)} listen")
        count = counts[name]
        events = f"{count} event{'s' if count > 1 else ''} named {name!r} {'were' if count > 1 else 'was'} sent"
        stem = spelt.removesuffix("*")
        respelt = trigger.removesuffix("*") + name[len(stem):]  # the name as the trigger spells it
        if trigger not in matched:
            they, them = "it" if len(listening) == 1 else "they", "them" if count > 1 else "it"
            out.append(f"{who} to {trigger!r}, which matched no event sent, while {events}, which it matches but for "
                       f"case: event names match exactly, case included, so {they} never ran for {them}; "
                       f"write on={spelt!r} (or send {respelt!r})")
        else:
            out.append(f"{events} and started no function, while {who} to {trigger!r}, which matches it but for "
                       f"case: event names match exactly, case included; send {respelt!r} (or add "
                       f"on={spelt!r} to the function)")
    return out


_OPEN = 1 << 62
"""The end of a run still live at the close, as a trace position: after every record."""

_Sent = tuple[int, int, str, str]
"""An event named either way, as the trace has it: (seq, at, name, id)."""

_Missed = dict[tuple[str, str, str, str], tuple[set[str], set[str]]]
"""(function, step or match clause, name listened for, name sent) -> the runs that missed it, the events missed."""


def _counted(count: int, what: str, name: str) -> str:
    """``1 event named 'x' was`` / ``2 events named 'x' were``."""
    return f"{count} {what}{'s' if count > 1 else ''} named {name!r} {'were' if count > 1 else 'was'}"


def case_only_unheard(sim: Simulation, names: Collection[str], by_trigger: Mapping[str, Sequence[Any]]) -> list[str]:
    """The warnings for waits that timed out and cancellations that cancelled nothing while a name equal to
    theirs but for case was sent (in the wait's window; in a run's life, meeting the cancellation's checks).

    Not warned: a window in which the right spelling arrived too (the wait's ``match`` is why it timed out);
    a run that also listens for the name sent (a wait for it in the same run, a ``Cancel`` of it in the same
    function: both spellings on purpose); and both spellings in use, the one listened for sent too while the
    other reached listeners of its own (as for triggers). The trace is read only when some name sent differs
    from one listened for by case alone."""
    cancels = {fn.id: fn.flow.cancel_on for fn in sim.functions.values() if fn.flow is not None and fn.flow.cancel_on}
    listened = {*sim.engine.waiters, *(cancel.event for found in cancels.values() for cancel in found)}
    near = _near_spellings(listened, names, by_trigger)
    if not near:
        return []
    runs = [run for fn_id in cancels for run in sim.engine.runs.get(fn_id, ()) if run.status != "skipped"]
    scan = _Scan.read(sim.trace, near, {run.event.id for run in runs})
    return [*_unheard_cancels(scan, near, cancels, runs, sim.bus.history),  # 'cancel' messages came first
            *_unheard_waits(scan, near, cancels)]


def _near_spellings(listened: Collection[str], names: Collection[str],
                    by_trigger: Mapping[str, Sequence[Any]]) -> dict[str, list[str]]:
    """Each name ``listened`` for (by a wait or a ``Cancel``) -> the ``names`` sent that equal it but for case,
    sorted, less those with listeners of their own while it was sent too (both spellings in use); none empty."""
    if not listened:
        return {}
    folded: dict[str, list[str]] = {}
    for name in names:
        folded.setdefault(name.casefold(), []).append(name)
    near = {heard: sorted(name for name in folded.get(heard.casefold(), ()) if name != heard) for heard in listened}
    near = {heard: others for heard, others in near.items() if others}
    if not near:
        return {}

    def reached(name: str) -> bool:  # the name has listeners of its own: a function it starts, a wait, a Cancel
        return name in listened or any(by_trigger.get(p) for p in triggers_of(name))

    near = {heard: [name for name in others if not (heard in names and reached(name))]
            for heard, others in near.items()}  # fmt: skip
    return {heard: others for heard, others in near.items() if others}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Scan:
    """What one pass over the trace says about the names spelt either way and the runs a ``Cancel`` listens in."""

    spellings: set[str]  # the names listened for and those sent for them
    sent: list[_Sent]  # the events named so, in trace order
    seqs: list[int]  # their seqs
    at_seq: dict[str | None, int]  # a run's trigger event id -> its record's seq
    run_waits: set[tuple[str, str]]  # (run, name) of every wait for either spelling
    timed_out: list[tuple[str, str, str, str, int, int]]  # (function, run, step, name, from seq, to seq)
    ended: dict[str, int]  # run id -> the seq it ended at
    created: dict[str, int]  # run id -> when it was made, and its cancellations began to listen (a run a
    # throttle or a future ts holds is made, as its first record says, before it starts: ``run.start_ns``)
    fired: set[str]  # runs a cancel_on cancelled

    @classmethod
    def read(cls, trace: Iterable[Record], near: Mapping[str, Sequence[str]], wanted: Collection[str | None]) -> _Scan:
        """Read ``trace`` for the names in ``near`` and the runs whose trigger events' ids are ``wanted``."""
        scan = cls(spellings={*near, *(name for others in near.values() for name in others)}, sent=[], seqs=[],
                   at_seq={}, run_waits=set(), timed_out=[], ended={}, created={}, fired=set())
        waits: dict[tuple[str, str], tuple[str, str, str, int]] = {}  # (run, step) -> (function, step, name, seq)
        for seq, at, kind, data in trace:
            if kind == "event":
                if data["name"] in scan.spellings:
                    scan.sent.append((seq, at, data["name"], data["id"]))
                    scan.seqs.append(seq)
                if data["id"] in wanted:
                    scan.at_seq.setdefault(data["id"], seq)
            elif kind == "wait" and data["event"] in scan.spellings:
                scan.run_waits.add((data["run"], data["event"]))
                if data["event"] in near:
                    waits[data["run"], data["step"]] = (data["function"], data["step"], data["event"], seq)
            elif kind == "wait.end":
                wait = waits.pop((data["run"], data["step"]), None)
                if wait is not None and data["event"] is None:
                    scan.timed_out.append((wait[0], data["run"], wait[1], wait[2], wait[3], seq))
            elif kind == "run.queued" or kind == "run.start":
                scan.created.setdefault(data["run"], at)
            elif kind == "run.end" or kind == "cancel":
                scan.ended.setdefault(data["run"], seq)
                if kind == "cancel" and data.get("reason") == "cancel_on":
                    scan.fired.add(data["run"])
        return scan

    def between(self, first: int, end: int) -> list[_Sent]:
        """The events sent after the record ``first``, before the record ``end``."""
        return self.sent[bisect.bisect_right(self.seqs, first):bisect.bisect_left(self.seqs, end)]


def _note(missed: _Missed, key: tuple[str, str, str, str], run_id: str, event_id: str) -> None:
    runs_ids, events = missed.setdefault(key, (set(), set()))
    runs_ids.add(run_id)
    events.add(event_id)


def _unheard_waits(scan: _Scan, near: Mapping[str, Sequence[str]],
                   cancels: Mapping[str, Sequence[Cancel]]) -> list[str]:
    """The warnings for the waits that timed out while a name equal to theirs but for case was sent as they
    waited, and not their own spelling (their ``match`` is why then)."""
    missed: _Missed = {}
    for function, run_id, step, heard, first, end in scan.timed_out:
        window = scan.between(first, end)
        if any(name == heard for _, _, name, _ in window):
            continue  # the right spelling arrived: its match is why the wait timed out
        for _, _, name, event_id in window:
            if (name in near[heard] and (run_id, name) not in scan.run_waits  # not a run waiting for both spellings
                    and not any(cancel.event == name for cancel in cancels.get(function, ()))):  # nor cancelled by it
                _note(missed, (function, step, heard, name), run_id, event_id)
    return [_wait_message(*key, *found) for key, found in sorted(missed.items())]


def _wait_message(function: str, step: str, heard: str, name: str, runs: set[str], events: set[str]) -> str:
    return (f"step.wait_for_event({step!r}, event={heard!r}) of function {function!r} timed out in {len(runs)} "
            f"run{'s' if len(runs) > 1 else ''} while {_counted(len(events), 'event', name)} sent as it waited, "
            f"which it matches but for case: event names match exactly, case included, so the wait never heard "
            f"{'them' if len(events) > 1 else 'it'}; write event={name!r} (or send {heard!r})")


def _unheard_cancels(scan: _Scan, near: Mapping[str, Sequence[str]], cancels: Mapping[str, Sequence[Cancel]],
                     runs: Sequence[Run], history: Sequence[Event]) -> list[str]:
    """The warnings for the ``runs`` (of the functions with ``cancels``) that a ``Cancel`` did not cancel while
    a name equal to its event's but for case was sent that, spelt right, would have (``_would_cancel``)."""
    by_id = {event.id: event for event in history if event.name in scan.spellings}
    missed: _Missed = {}
    for run in runs:
        if run.id in scan.fired:
            continue
        fn_cancels = cancels[run.function.id]
        for cancel in fn_cancels:
            if cancel.event not in near:
                continue
            found = _would_cancel(scan, run, cancel, near[cancel.event], fn_cancels, by_id)
            if found is not None:
                what = " and meets its match" if cancel.checks else ""
                _note(missed, (run.function.id, what, cancel.event, found[2]), run.id, found[3])
    return [_cancel_message(*key, *found) for key, found in sorted(missed.items())]


def _would_cancel(scan: _Scan, run: Run, cancel: Cancel, others: Collection[str], fn_cancels: Sequence[Cancel],
                  by_id: Mapping[str | None, Event]) -> _Sent | None:
    """The first event sent while ``cancel`` listened in ``run`` (from its creation, within its timeout, until
    the run ended), named as one of the ``others``, that meets its checks: spelt right, it would have cancelled
    the run, which would have heard no more. Names the run listens to as well are passed over (both spellings
    on purpose: a ``Cancel`` of each among ``fn_cancels``, or a wait for the other)."""
    since = min(scan.created.get(run.id, run.start_ns), run.start_ns)
    until = since + (CANCEL_TIMEOUT if cancel.timeout_ns is None else cancel.timeout_ns)
    for sent in scan.between(scan.at_seq.get(run.event.id, -1), scan.ended.get(run.id, _OPEN)):
        _, at, name, event_id = sent
        if (name in others and since <= at <= until and not any(other.event == name for other in fn_cancels)
                and (run.id, name) not in scan.run_waits and _meets(cancel.checks, run.event, by_id.get(event_id))):
            return sent
    return None


def _cancel_message(function: str, what: str, heard: str, name: str, runs: set[str], events: set[str]) -> str:
    many = len(runs) > 1
    return (f"{len(runs)} run{'s' if many else ''} of function {function!r} {'were' if many else 'was'} not "
            f"cancelled by cancel_on=Cancel(event={heard!r}) while {_counted(len(events), 'event', name)} sent, "
            f"which it matches but for case{what}: event names match exactly, case included, so "
            f"{'they' if many else 'it'} went on; write Cancel(event={name!r}) (or send {heard!r})")


def _meets(checks: Sequence[Any], mine: Event, event: Event | None) -> bool:
    """Whether ``event`` meets a cancellation's checks against the run's event (one that cannot be evaluated
    does not: no warning on a guess)."""
    if event is None:
        return False
    try:
        return all(check(mine, event) for check in checks)
    except Exception:
        return False
