"""Delayed sends: ``sim.send(..., delay="10m")`` and ``app.send(..., delay=...)``.

A delayed job is how BullMQ (``queue.add(name, data, {delay})``, reference §2.1),
Trigger.dev (``trigger(id, payload, {delay})``, §3.1), Quirrel (``enqueue({delay})``,
§4.1) and Agenda (``schedule(when, name, data)``, §5.1) defer work: the job exists at
once and becomes runnable at ``now + delay``. jobsim sends the event at that instant,
so flow control, downtime and the trace see it when it becomes due; the trace record of
a test's delayed event also keeps ``sent``, the instant of the call, where a replay sends
it again with the same delay (``_replayinputs._delayed_inputs``). Inngest has no delay on
send (§1.1: "use step.sleep"), and the cron-only systems have no events: both refuse it.

On a system that finds jobs by polling (Agenda, ``_polling.py``) the job was saved at the call:
a poll between the call and the due time may lock it ahead and start it on time, else the
first poll after the due time starts it (``_deliver`` tells the runtime when it was saved).

The event is checked and copied as JSON at the call, as a plain send does, so bad
data fails where it is written; its id is given then too (the call returns it, as
BullMQ's ``add`` returns the job), and claimed at once (``Bus.hold``): another send
with that id while it is pending, or a delayed send of an id seen in the last 24 h, is
the duplicate, as an add with a taken ``jobId`` is on BullMQ. Job code that delays a
send is still the run that caused it: the event's trace record names it and run-away
chains are counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._events import DELAYED_IDS, Event, check_ts_units, coerce_events, ulid
from ._time import MAX_NS, MS, Duration, duration_ns, format_duration, iso
from ._trace import event_fields
from .errors import InvalidArgument, UnsupportedFeature

if TYPE_CHECKING:
    from ._simulation import Simulation


def send_later(sim: Simulation, event: Any, data: Any, delay: Duration, fields: dict[str, Any]) -> list[str]:
    """Queue ``event`` (as ``send`` takes it) for ``delay`` from the caller's virtual now; returns its ids."""
    ns = duration_ns(delay, "delay")
    profile = sim.profile
    why = profile.lacks.get("send.delay") or profile.lacks.get("events")
    if why:
        raise UnsupportedFeature(
            f"{profile.label} cannot send an event later (send(..., delay={delay!r})): {why}",
            system=profile.label, feature="send.delay",
        )  # fmt: skip
    events = coerce_events(event, data, fields)
    x = sim.engine.x
    now = sim.now_ns()
    check_ts_units(events, now)
    due = now + ns
    if due > MAX_NS:  # delay=10**30: no instant could show when it is due (nor its id, a ULID of it)
        raise InvalidArgument.build("delay", delay, f"a duration that ends by {iso(MAX_NS)}, the last instant a "
                                    f"datetime can show (the simulation is at {iso(now)})")
    stamped = []
    for item in events:
        # counted with an id given or not: a replay re-sends a test's delayed event with the id it got, and the
        # ids given to job code's delayed sends after it must not change
        sim._delayed_ids += 1
        if not item.id:  # the id a queue gives at add time (for "" too); every id is claimed at add time below
            item = Event(item.name, item.data, id=ulid(due // MS, DELAYED_IDS | sim._delayed_ids), user=item.user,
                         ts=item.ts, v=item.v)  # fmt: skip
        stamped.append(item)
    owner = f"{x.run_.function.id} (send, delay {format_duration(ns)})" if x is not None else \
        f"sim.send(delay={format_duration(ns)})"
    sent = None if x is not None else now  # a test's: an input the replay sends again at this instant
    held = []
    for item in stamped:  # its id is claimed now, as a queue's add does (``Bus.hold``)
        if sim.bus.hold(item, now):
            held.append(item)
        else:  # the id is taken: the add does nothing (recorded as sent now, so a replay drops it again)
            sim.trace.add(now, "event.dropped", sim.bus.why_dropped(item, event_fields(item, "input", x, now)))
    if held:
        sim.kernel.schedule(due, _deliver, sim, held, x, sent, now, owner=owner)
    return [item.id or "" for item in stamped]


def _deliver(sim: Simulation, events: list[Event], x: Any, sent: int | None, saved: int) -> None:
    for item in events:
        sim.bus.release(item)
    system = sim.engine.system
    if system is None or system.polls is None:
        sim._emit(events, _by=x, _sent=sent)
        return
    with system.saved(saved, None if x is None else x.run_):  # Agenda's schedule() saved the job then
        sim._emit(events, _by=x, _sent=sent)
