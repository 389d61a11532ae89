"""Event names that differ from a trigger only by case: ``on="user.Signup"`` while ``"user.signup"`` is sent.

Inngest matches an event to a trigger by exact string comparison (``EventTrigger.MatchesAnyPattern``:
``slices.Contains`` over the event name and its wildcard prefixes), so such a function never runs for
those events, and nothing fails. The simulation keeps that behaviour; when it closes, ``Simulation``
warns (``TriggerWarning``) for each trigger that no sent event matched, or each name sent that started
no function, where the other differs from it only by case.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from ._events import Event, triggers_of


def case_only_misses(sent: Sequence[Event], by_trigger: Mapping[str, Sequence[Any]],
                     awaited: Collection[str] = ()) -> list[str]:
    """The warnings for the events ``sent`` against ``by_trigger`` (trigger -> the functions listening, each
    with an ``id``): one for each (name, trigger) pair equal but for case where the name started no function
    (and is none of the names ``awaited`` by a wait or a cancellation, which it may have been sent for) or the
    trigger matched no name sent. Events are counted only when there is something to say."""
    folded: dict[str, list[str]] = {}
    for trigger in by_trigger:
        folded.setdefault(trigger.casefold(), []).append(trigger)
    names = {event.name for event in sent}
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
