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
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._events import Event, triggers_of
from ._flow import CANCEL_TIMEOUT

if TYPE_CHECKING:
    from ._simulation import Simulation


def case_only_misses(sent: Sequence[Event], by_trigger: Mapping[str, Sequence[Any]],
                     awaited: Collection[str] = (), sim: Simulation | None = None) -> list[str]:
    """The warnings for the events ``sent`` against ``by_trigger`` (trigger -> the functions listening, each
    with an ``id``): one for each (name, trigger) pair equal but for case where the name started no function
    (and is none of the names ``awaited`` by a wait or a cancellation, which it may have been sent for) or the
    trigger matched no name sent. Events are counted only when there is something to say. With ``sim``, the
    waits and cancellations of its runs that missed a name so are named after them (``case_only_unheard``)."""
    names = {event.name for event in sent}
    return [*_trigger_misses(sent, names, by_trigger, awaited),
            *(case_only_unheard(sim, names, by_trigger) if sim is not None else ())]


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
    if not listened:
        return []
    folded: dict[str, list[str]] = {}
    for name in names:
        folded.setdefault(name.casefold(), []).append(name)
    near = {heard: sorted(name for name in folded.get(heard.casefold(), ()) if name != heard) for heard in listened}
    near = {heard: others for heard, others in near.items() if others}
    if not near:
        return []

    def reached(name: str) -> bool:  # the name has listeners of its own: a function it starts, a wait, a Cancel
        return name in listened or any(by_trigger.get(p) for p in triggers_of(name))

    near = {heard: [name for name in others if not (heard in names and reached(name))]
            for heard, others in near.items()}  # fmt: skip
    near = {heard: others for heard, others in near.items() if others}
    if not near:
        return []
    spellings = {*near, *(name for others in near.values() for name in others)}
    runs = [run for fn_id in cancels for run in sim.engine.runs.get(fn_id, ()) if run.status != "skipped"]
    starts: dict[int, str | None] = {id(run): run.event.id for run in runs}
    sent: list[tuple[int, int, str, str]] = []  # (seq, at, name, id) of the events named either way
    at_seq: dict[str | None, int] = {}  # a run's trigger event id -> its record's seq
    waits: dict[tuple[str, str], tuple[str, str, str, int]] = {}  # (run, step) -> (function, step, name, seq)
    run_waits: set[tuple[str, str]] = set()  # (run, name) of every wait for either spelling
    timed_out: list[tuple[str, str, str, str, int, int]] = []  # (function, run, step, name, from seq, to seq)
    ended: dict[str, int] = {}  # run id -> the seq it ended at
    created: dict[str, int] = {}  # run id -> when it was made, and its cancellations began to listen (a run a
    # throttle or a future ts holds is made, as its first record says, before it starts: ``run.start_ns``)
    fired: set[str] = set()  # runs a cancel_on cancelled
    wanted = set(starts.values())
    for seq, at, kind, data in sim.trace:
        if kind == "event":
            if data["name"] in spellings:
                sent.append((seq, at, data["name"], data["id"]))
            if data["id"] in wanted:
                at_seq.setdefault(data["id"], seq)
        elif kind == "wait" and data["event"] in spellings:
            run_waits.add((data["run"], data["event"]))
            if data["event"] in near:
                waits[data["run"], data["step"]] = (data["function"], data["step"], data["event"], seq)
        elif kind == "wait.end":
            wait = waits.pop((data["run"], data["step"]), None)
            if wait is not None and data["event"] is None:
                timed_out.append((wait[0], data["run"], wait[1], wait[2], wait[3], seq))
        elif kind == "run.queued" or kind == "run.start":
            created.setdefault(data["run"], at)
        elif kind == "run.end" or kind == "cancel":
            ended.setdefault(data["run"], seq)
            if kind == "cancel" and data.get("reason") == "cancel_on":
                fired.add(data["run"])
    missed: dict[tuple[str, ...], tuple[set[str], set[str]]] = {}  # (kind, function, what, heard, name) -> runs, events

    seqs = [item[0] for item in sent]

    def between(first: int, end: int) -> list[tuple[int, int, str, str]]:  # the events sent after first, before end
        return sent[bisect.bisect_right(seqs, first):bisect.bisect_left(seqs, end)]

    for function, run_id, step, heard, first, end in timed_out:
        window = between(first, end)
        if any(name == heard for _, _, name, _ in window):
            continue  # the right spelling arrived: its match is why the wait timed out
        for _, _, name, event_id in window:
            if (name in near[heard] and (run_id, name) not in run_waits  # not a run waiting for both spellings
                    and not any(cancel.event == name for cancel in cancels.get(function, ()))):  # nor cancelled by it
                runs_ids, events = missed.setdefault(("wait", function, step, heard, name), (set(), set()))
                runs_ids.add(run_id)
                events.add(event_id)
    by_id = {event.id: event for event in sim.bus.history if event.name in spellings}
    for run in runs:
        fn_cancels = cancels[run.function.id]
        if run.id in fired:
            continue
        first = at_seq.get(starts[id(run)], -1)
        end = ended.get(run.id, _OPEN)
        for cancel in fn_cancels:
            if cancel.event not in near:
                continue
            since = min(created.get(run.id, run.start_ns), run.start_ns)
            until = since + (CANCEL_TIMEOUT if cancel.timeout_ns is None else cancel.timeout_ns)
            for _, at, name, event_id in between(first, end):
                if (name not in near[cancel.event] or at < since or at > until
                        or any(other.event == name for other in fn_cancels)  # both spellings on purpose: a
                        or (run.id, name) in run_waits):  # Cancel of each, or a wait for the other  # fmt: skip
                    continue
                if not _meets(cancel.checks, run.event, by_id.get(event_id)):
                    continue
                key = ("cancel", run.function.id, " and meets its match" if cancel.checks else "", cancel.event, name)
                runs_ids, events = missed.setdefault(key, (set(), set()))
                runs_ids.add(run.id)
                events.add(event_id)
                break  # spelt right, it would have cancelled the run: the run would have heard no more
    out = []
    for (kind, function, what, heard, name), (runs_ids, events) in sorted(missed.items()):
        count, many = len(runs_ids), len(runs_ids) > 1
        them = "them" if len(events) > 1 else "it"
        sent_text = f"{_counted(len(events), 'event', name)} sent"
        if kind == "wait":
            out.append(f"step.wait_for_event({what!r}, event={heard!r}) of function {function!r} timed out in "
                       f"{count} run{'s' if many else ''} while {sent_text} as it waited, which it matches but "
                       f"for case: event names match exactly, case included, so the wait never heard {them}; "
                       f"write event={name!r} (or send {heard!r})")
        else:
            out.append(f"{count} run{'s' if many else ''} of function {function!r} {'were' if many else 'was'} not "
                       f"cancelled by cancel_on=Cancel(event={heard!r}) while {sent_text}, which it matches but "
                       f"for case{what}: event names match exactly, case included, so "
                       f"{'they' if many else 'it'} went on; write Cancel(event={name!r}) (or send {heard!r})")
    return out


def _meets(checks: Sequence[Any], mine: Event, event: Event | None) -> bool:
    """Whether ``event`` meets a cancellation's checks against the run's event (one that cannot be evaluated
    does not: no warning on a guess)."""
    if event is None:
        return False
    try:
        return all(check(mine, event) for check in checks)
    except Exception:
        return False
