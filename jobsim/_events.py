"""Events: Inngest's payload shape, and the fake bus every event goes through."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import sys
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, Generic, TypeVar

import orjson

from ._checks import closest_keyword, keyword_error

# the aliased names are re-exported: _steps, _simulation, hooks and jobsim-inngest import them from here
from ._eventjson import _WIDE as _WIDE
from ._eventjson import JSON_OPTIONS
from ._eventjson import Wide as Wide
from ._eventjson import canonical as canonical
from ._eventjson import json_copy as json_copy
from ._eventjson import through_doubles as through_doubles
from ._safe import shown
from ._time import _FIRST_SECONDS, DAY, MAX_NS, MS, SECOND, iso
from .errors import InvalidArgument

DEDUPE_WINDOW = DAY
"""Events with the same ``id`` sent within 24 h start no functions again (Inngest)."""

_FIRST_MS, _LAST_MS = _FIRST_SECONDS * 1000, MAX_NS // MS
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class Event:
    """An event: ``Event(name, data=None, *, id=None, user=None, ts=None, v=None)``.

    ``ts`` is milliseconds since the epoch, as in Inngest; the bus fills it with
    the virtual time of sending when not given. The event is accepted when sent
    whatever its ``ts``; on Inngest a future ``ts`` delays the *runs* it starts
    (``Profile.future_ts``). ``id`` is the idempotency id: a second event with the
    same ``id`` within 24 h is dropped. The bus fills a missing ``id`` with a
    ULID-shaped id that is deterministic for the simulation.
    """

    name: str
    data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    id: str | None = dataclasses.field(default=None, kw_only=True)
    user: Mapping[str, Any] | None = dataclasses.field(default=None, kw_only=True)
    ts: int | None = dataclasses.field(default=None, kw_only=True)
    v: str | None = dataclasses.field(default=None, kw_only=True)

    def __init__(self, name: str, data: Mapping[str, Any] | None = None, *, id: str | None = None,
                 user: Mapping[str, Any] | None = None, ts: int | None = None, v: str | None = None,
                 **unknown: Any) -> None:
        # ``**unknown`` rather than a wrapper: events are made on the hot path (every send, cron tick,
        # invoke), and an empty ``**`` costs nothing measurable where a wrapper's frame costs a third
        if unknown:
            key, value = next(iter(unknown.items()))
            raise keyword_error("Event()", key, value, EVENT_FIELDS)
        set_ = object.__setattr__
        set_(self, "name", name)
        set_(self, "data", data)
        set_(self, "id", id)
        set_(self, "user", user)
        set_(self, "ts", ts)
        set_(self, "v", v)
        self.__post_init__()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidArgument.build("name", self.name, "an event name is a non-empty string such as 'user/created'")
        if self.data is None:
            object.__setattr__(self, "data", {})
        elif type(self.data) is not dict and not isinstance(self.data, Mapping):
            raise InvalidArgument.build("data", self.data, "event data is a mapping (a dict)")
        if self.id is not None and not isinstance(self.id, str):
            raise InvalidArgument.build("id", self.id, "an event id is a string")
        if self.ts is not None and (
            isinstance(self.ts, bool) or not isinstance(self.ts, int) or not _FIRST_MS <= self.ts <= _LAST_MS
        ):  # a ts no datetime can show failed later, in the timeline and at trace.save
            raise InvalidArgument.build("ts", self.ts, "milliseconds since the epoch, as an int (years 1 to 9999)"
                                        + _ts_hint(self.ts))
        if self.user is not None and not isinstance(self.user, Mapping):
            raise InvalidArgument.build("user", self.user, "the event's user is a mapping (a dict), or None")
        if self.v is not None and not isinstance(self.v, str):
            raise InvalidArgument.build("v", self.v, "the event's version is a string such as '2024-01-01.1', or None")

    def to_dict(self) -> dict[str, Any]:
        """Inngest's JSON payload."""
        out: dict[str, Any] = {"name": self.name, "data": dict(self.data)}
        for key in ("id", "user", "ts", "v"):
            value = getattr(self, key)
            if value is not None:
                out[key] = dict(value) if key == "user" else value
        return out

    @classmethod
    def coerce(cls, value: Any, data: Any = None, **fields: Any) -> Event:
        """``"name"``, ``("name", data)``, a dict in Inngest's shape, or an ``Event``."""
        if isinstance(value, Event):
            if data is not None or fields:
                raise InvalidArgument("pass either an Event or a name with data, not both")
            return value
        if isinstance(value, Mapping):
            if data is not None or fields:  # the dict's own data/id would win: what was passed beside it was lost
                raise InvalidArgument("pass either an event dict or a name with data, not both: put data, id, user, "
                                      "ts and v in the dict, e.g. {'name': 'user/created', 'data': {...}, 'id': ...}")
            known = {"name", "data", "id", "user", "ts", "v"}
            unknown = set(value) - known
            if unknown:
                accepted = f"unknown keys {sorted(unknown)}; accepted: {sorted(known)}"
                raise InvalidArgument.build("event", dict(value), accepted)
            if "name" not in value:
                raise InvalidArgument.build("event", dict(value), "an event dict needs a 'name', e.g. "
                                            "{'name': 'user/created', 'data': {...}}")
            return cls(**value)
        if isinstance(value, str):
            return cls(value, data, **fields)
        return cls._foreign(value, data, fields)

    @classmethod
    def _foreign(cls, value: Any, data: Any, fields: Mapping[str, Any]) -> Event:
        """Another library's event (``inngest.Event``), as an installed plugin converts it (``hooks.jobsim_event``)."""
        from ._plugins import manager

        converted = manager().hook.jobsim_event(value=value)
        if isinstance(converted, Event):
            if data is not None or fields:
                raise InvalidArgument("pass either an event or a name with data, not both")
            return converted
        kind, own = type(value), ""
        if kind.__name__ == "Event":  # inngest.Event without jobsim-inngest: "an Event" would not say what is wrong
            library = kind.__module__.partition(".")[0]
            exported = getattr(sys.modules.get(library), "Event", None) is kind
            name = f"{library}.Event" if exported else f"{kind.__module__}.{kind.__qualname__}"
            own = (f" ({name} is not jobsim.Event, and no installed jobsim plugin converts it: send "
                   "jobsim.Event(name, data) or {'name': ..., 'data': ...}"
                   + (", or install jobsim-inngest (plugins/jobsim-inngest)" if library == "inngest" else "") + ")")
        raise InvalidArgument.build(
            "event", value, "an event name with data, a jobsim.Event, or a dict like {'name': ..., 'data': ...}" + own
        )




SECONDS_LIKE_MS = (100_000_000, 100_000_000_000)
"""An event ``ts`` from ``1e8`` to ``1e11`` ms is 1970-01-02 to 1973-03-03; sent while the clock is past
those days it is a time in seconds (``int(time.time())``, ``datetime.timestamp()``), not a day of 1971."""


def check_ts_units(events: Iterable[Event], now_ns: int) -> None:
    """Refuse an event whose ``ts`` was written in seconds, sent by a simulation past 1973.

    Taken as milliseconds it is a day of 1971: on Inngest a future ``ts`` would start
    its runs at once instead of then, and a debounce would drop the event as older than
    the one it holds, in silence. Events replayed at their own 1970s time (an import of
    such a file) are not refused: the simulation's clock is then in those days too.
    """
    if now_ns < SECONDS_LIKE_MS[1] * MS:
        return
    for event in events:
        ts = event.ts
        if ts is not None and SECONDS_LIKE_MS[0] <= ts < SECONDS_LIKE_MS[1]:
            raise InvalidArgument.build(
                "ts", ts, f"an event's ts is milliseconds since the epoch, as on Inngest; {ts} reads as seconds "
                f"({iso(ts * SECOND)}), while as milliseconds it is {iso(ts * MS)} and the simulation is at "
                f"{iso(now_ns)}: give ts={ts * 1000} (e.g. sim.now_ns() // 1_000_000 for now)"
            )


def check_triggers(names: Iterable[str], argument: str, given: Any) -> None:
    """Refuse a ``*`` anywhere but where Inngest has wildcards: ending the name, right after ``/`` or ``.``.

    Inngest refuses mid-word and mid-pattern wildcards (``app/user.update*``, ``app/*.published``);
    taken as a plain name, such a trigger would match no event, and its function would never run.
    """
    for name in names:
        if "*" in name and not (is_wildcard(name) and name.count("*") == 1 and len(name) > 2):
            raise InvalidArgument.build(
                argument, given, f"{name!r} puts a '*' where Inngest has no wildcard: a wildcard ends the name, "
                "right after a '/' or '.', e.g. on='app/*' (every app/... event) or on='app/user.*'; mid-word and "
                "mid-pattern wildcards ('app/user.update*', 'app/*.published') are not supported"
            )


def _ts_hint(ts: Any) -> str:
    """How to make ``Event(ts=...)``'s milliseconds of a datetime or float someone passed."""
    if isinstance(ts, dt.datetime):
        return ("; from a datetime dt: ts=int(dt.timestamp() * 1000), dt aware (timestamp() reads a naive one in "
                "the machine's zone)")
    return "; from time.time()'s float seconds: ts=int(time.time() * 1000)" if isinstance(ts, float) else ""


EVENT_FIELDS = ("name", "data", "id", "user", "ts", "v")
SEND_FIELDS = ("id", "user", "ts", "v")
"""The keyword arguments ``send(name, data, ...)`` passes on to the ``Event`` (``delay`` is its own)."""


def check_send_fields(where: str, fields: Mapping[str, Any]) -> None:
    """A misspelt keyword of ``sim.send``/``app.send`` (``dealy=``) is named as theirs, not as ``Event.__init__``'s."""
    for key in fields:
        if key not in SEND_FIELDS:
            close = closest_keyword(key, ("data", "delay", *SEND_FIELDS))  # dta=, payload=: data=
            hint = f" (did you mean {close}=?)" if close else ""
            raise InvalidArgument(f"{where} got an unknown keyword argument {key}={shown(fields[key])}{hint}; "
                                  "accepted: data, delay, id, user, ts, v")


_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # 10-bit chunks -> 2 characters
_MASK40, _MASK80 = (1 << 40) - 1, (1 << 80) - 1


DELAYED_IDS, IMPORTED_IDS, RUN_IDS = 1 << 40, 1 << 41, 1 << 42
"""The namespaces of ``ulid``'s counters, one bit above 40 bits of count each: ids the bus gives events (a bare
count), delayed sends, runs, events an import gave an id. The suffix is a bijection of the counter, so ids of
different namespaces never coincide, even made in one millisecond: a simulation's first event and its first run
had the same id, where Inngest's (random ULIDs) never share one."""


def ulid(ms: int, counter: int) -> str:
    """A ULID-shaped id (48-bit ms time, 80-bit suffix) from a counter, never from randomness.

    Sorted by time like a ULID; the suffix scrambles the counter so ids don't look alike, one to one (an odd
    multiplier modulo 2**80): distinct counters below 2**80 give distinct ids, and each kind of id counts in a
    namespace of its own (``RUN_IDS``...).
    The 128-bit value ``ms << 80 | suffix`` is written as 26 Crockford base-32 characters,
    most significant first: 10 for the time (``_time_part``) and 16 for the suffix, 10
    bits at a time. The two parts are cut apart first, so no operation touches a 128-bit
    integer (0.6 µs an id instead of 1.25 µs).
    """
    suffix = counter * 0x9E3779B97F4A7C15 & _MASK80
    hi, lo = suffix >> 40, suffix & _MASK40
    p = _PAIRS
    return "".join((
        _time_part(ms),
        p[hi >> 30], p[hi >> 20 & 1023], p[hi >> 10 & 1023], p[hi & 1023],
        p[lo >> 30], p[lo >> 20 & 1023], p[lo >> 10 & 1023], p[lo & 1023],
    ))  # fmt: skip


@functools.lru_cache(maxsize=1)
def _time_part(ms: int) -> str:
    """The 10 characters of a ULID's time (the top one carries 3 bits). Kept for the last ``ms``:
    ids made at one instant (a run's event and the run, a loop of sends) share it."""
    p = _PAIRS
    return "".join((
        _CROCKFORD[ms >> 45], p[ms >> 35 & 1023], p[ms >> 25 & 1023], p[ms >> 15 & 1023], p[ms >> 5 & 1023],
        _CROCKFORD[ms & 31],
    ))  # fmt: skip


_new, _set = object.__new__, object.__setattr__
_NAME, _DATA, _ID, _USER, _TS, _V = (Event.__dict__[field].__set__ for field in EVENT_FIELDS)
"""Each field's slot set directly, as ``object.__setattr__`` does once it has found the slot (a third less time)."""


def _stamped(event: Event, id: str | None, ts: int | None) -> Event:
    """A copy of a validated event with the bus's id and ts: ``Event(...)`` without checking it again."""
    out = _new(Event)
    _NAME(out, event.name)
    _DATA(out, event.data)
    _ID(out, id)
    _USER(out, event.user)
    _TS(out, ts)
    _V(out, event.v)
    return out


def plain_event(name: str, data: dict[str, Any]) -> Event:
    """``Event(name, data)`` for a ``name`` known to be a non-empty ``str`` and ``data`` a dict the caller
    made (``sent_data``): what ``sim.send("name", {...})`` sends, without checking fields it does not have."""
    out = _new(Event)
    _NAME(out, name)
    _DATA(out, data)
    _ID(out, None)
    _USER(out, None)
    _TS(out, None)
    _V(out, None)
    return out


def sent_data(data: dict[str, Any]) -> Any:
    """``json_copy("data", data)``; a dict flat enough that the copy is ``dict(data)`` (``_flat_copy``) is
    copied so, without the JSON round trip (checking costs half the trip's time, at 1 item and at 20)."""
    copied = _flat_copy(data)
    return json_copy("data", data) if copied is None else copied


def as_sent(event: Event) -> Event:
    """The event as the bus keeps it: ``data`` and ``user`` copied through JSON at send time.

    Inngest serializes an event when it is sent, so a test that reuses one dict for
    several sends (``payload["n"] = i; sim.send("x", payload)``) sends several
    events, and a dict changed after sending changes no event. Job code gets its own
    copy (``for_run``). The copy also refuses what JSON
    cannot carry (a set, an object) here, naming it, instead of at ``trace.save``.
    Datetimes become ISO strings, as a step's output does (``_stepdata.dump``).
    """
    data, user = event.data, event.user
    copied = json_copy("data", data) if data else {}  # even {}: the caller's empty dict is not the event's
    out = _stamped(event, event.id, event.ts)
    _set(out, "data", copied)
    if user is not None:
        _set(out, "user", json_copy("user", user))
    return out


def for_run(event: Event, jcs: bool = False) -> Event:
    """Job code's own copy of an event that starts its run (Inngest hands each request the stored event).

    Job code that changes ``ctx.event.data`` then changes neither the run's event
    (``run.event``, which waits, cancellations and ``function.failed`` read), nor the
    event's other runs (fan-out), nor ``sim.events``, nor the trace. ``refresh`` gives
    each later request of the run a fresh ``data`` again, as Inngest does. ``jcs``: the profile's
    requests are written through JCS (``Profile.jcs``, ``canonical``).
    """
    data, user = event.data, event.user
    copied = _flat_copy(data, jcs)  # what as_sent (and canonical) make of it, without the round trip
    if copied is not None and (user is None or (user := _flat_copy(user, jcs)) is not None):
        own = _new(Event)  # ``_stamped``, inline, with the copies
        _NAME(own, event.name)
        _DATA(own, copied)
        _ID(own, event.id)
        _USER(own, user)
        _TS(own, event.ts)
        _V(own, event.v)
        return own
    try:
        own = as_sent(event)  # the same JSON copy the bus made of what was sent
    except InvalidArgument:  # not JSON (a plugin's own event): shared, as before
        return event
    if jcs:  # as the request writes it (``canonical``): sorted keys, an integral float an int
        _set(own, "data", canonical(own.data))
        if own.user is not None:
            _set(own, "user", canonical(own.user))
    return own


_SCALARS = frozenset((str, int, float, bool, type(None)))
_SAFE = 1 << 53


def _flat_copy(value: Any, jcs: bool = False) -> dict[str, Any] | None:
    """``json_copy(value)`` (then ``canonical`` of it if ``jcs``) made as ``dict(value)`` when that is what it
    is: a dict of ASCII keys to values its JSON round trip keeps as they are (None, bools, ints within 53 bits,
    finite floats, ASCII strings), the common case of an event's data. ``None`` for any other value."""
    if type(value) is not dict:
        return None
    floats = False
    for key, item in value.items():
        if type(key) is not str or not key.isascii():
            return None
        kind = type(item)
        if kind is str:
            if not item.isascii():
                return None
        elif kind is int:
            if not -_SAFE <= item <= _SAFE:
                return None
        elif kind is float:
            if item - item != 0.0:  # NaN or an infinity: json_copy refuses it
                return None
            floats = True
        elif item is not None and kind is not bool:
            return None
    if jcs and (floats or len(value) > 1):  # ASCII keys: code points sort as JCS's UTF-16 units do
        return canonical(value)  # type: ignore[no-any-return]
    return dict(value)


def fresh(value: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a bus event's (JSON) ``data``/``user`` for one request: shallow when it is flat."""
    scalars = _SCALARS
    for item in value.values():
        if type(item) not in scalars:
            try:
                return orjson.loads(orjson.dumps(value, option=JSON_OPTIONS))  # type: ignore[no-any-return]
            except TypeError:
                try:  # an int past 64 bits, as the server's double of a wider one can be (``json_copy``)
                    return json.loads(json.dumps(value))  # type: ignore[no-any-return]
                except (TypeError, ValueError):  # not JSON (a plugin's own event): a shallow copy, as before
                    break
    return dict(value)


def refresh(own: list[Event], sent: list[Event], jcs: bool = False) -> None:
    """A later request of a run: its copies of the events get their data as sent again.

    A copy still equal to what was sent is kept (comparing costs ~40 ns, copying ~600):
    job code rarely changes its event. Only a reference kept from an earlier request
    (in a global) and changed in this one would tell the difference.
    """
    for mine, event in zip(own, sent, strict=True):
        if mine is not event and (mine.data != event.data or mine.user != event.user):
            data, user = fresh(event.data), None if event.user is None else fresh(event.user)
            _set(mine, "data", canonical(data) if jcs else data)
            _set(mine, "user", canonical(user) if jcs and user is not None else user)


def coerce_events(event: Any, data: Any, fields: Mapping[str, Any]) -> list[Event]:
    """What ``send`` takes (one event, a name with data, or a list of events) as checked events."""
    if isinstance(event, (list, tuple)):
        if data is not None or fields:
            raise InvalidArgument("pass a list of events, or one event name with data, not both")
        if len(event) == 2 and isinstance(event[0], str) and isinstance(event[1], Mapping) and "name" not in event[1]:
            # ("order/paid", {...}) read as two events, the second a dict without a name: say what was meant
            raise InvalidArgument.build("event", event, f"a tuple or list is read as several events, so {event[0]!r} "
                                        f"and its data were two events, the second without a name; send a name with "
                                        f"its data as two arguments: send({event[0]!r}, {{...}})")
        return [as_sent(Event.coerce(item)) for item in event]
    return [as_sent(Event.coerce(event, data, **fields))]


def is_wildcard(trigger: str) -> bool:
    """An Inngest wildcard trigger: ``app/*``, ``app/user.*`` (a ``*`` ending the name, right after ``/`` or ``.``)."""
    return trigger.endswith(("/*", ".*"))


def triggers_of(name: str) -> list[str]:
    """The triggers an event named ``name`` matches: the name, then a wildcard over each prefix that ends
    at a ``/`` or ``.`` (``app/user.created`` -> ``app/user.created``, ``app/*``, ``app/user.*``), as
    Inngest's docs define them (guides/multiple-triggers, "Wildcard event triggers")."""
    out = [name]
    for at, char in enumerate(name[:-1]):
        if char == "/" or char == ".":
            out.append(name[: at + 1] + "*")
    return out


_K = TypeVar("_K", bound=Hashable)


class Recent(dict[_K, int], Generic[_K]):
    """key -> when it was last noted, forgetting what was noted a window or more ago: ids remembered for a
    deduplication window, so a replay of a week keeps a day of them, not every one it met."""

    __slots__ = ("_noted", "_window")

    def __init__(self, window: int = DEDUPE_WINDOW) -> None:
        super().__init__()
        self._window = window
        self._noted: deque[tuple[int, _K]] = deque()  # (at, key), in the order they were noted

    def note(self, key: _K, at: int, now: int) -> None:
        """``key`` seen ``at``; the keys last noted ``window`` or more before ``now`` are dropped (``now`` never
        goes back, and a key's window starts from its latest note)."""
        self[key] = at
        noted = self._noted
        noted.append((at, key))
        expired = now - self._window
        while noted and noted[0][0] <= expired:
            then, old = noted.popleft()
            if self.get(old) == then:  # else the key was noted again since: that entry is later in ``noted``
                del self[old]


class Bus:
    """Every event of a simulation, in order, with deduplication by id (unless ``dedupe`` is False: Inngest
    keeps a repeated id's event and skips only the runs it would start, ``Engine.repeated``)."""

    def __init__(self, dedupe: bool = True, window: int = DEDUPE_WINDOW,
                 holds: Callable[[str], bool] | None = None, rule: str = "drop") -> None:
        """``window``: how long a taken id stays taken; ``holds``: asked of an id taken within the window, whether
        what took it holds it still (Quirrel's job until it has run, Trigger.dev's key until its run failed);
        None: for the whole window (``Profile.repeated_ids``)."""
        self.dedupe = dedupe
        self.history: list[Event] = []
        self.dropped: list[Event] = []
        self._seen: Recent[str] = Recent(window)  # id -> when it was taken, for the window
        self._window = window
        self._holds = holds
        self.rule = rule
        """``Profile.repeated_ids``: a dropped event's record names it (``taken``) unless it is the 24 h ``drop``."""
        self._held: set[str] = set()  # ids delayed sends claimed when added (``hold``); ``_seen`` has when
        self._counter = 0

    def hold(self, event: Event, now: int) -> bool:
        """Claim a delayed event's id when it is added; ``False`` if the id is taken: the add is a
        no-op, and the event is kept in ``dropped`` as a duplicate ``accept`` refuses is.

        A queue claims a job's id when the job is added, not when it becomes due: BullMQ's
        ``jobId`` (an add with an existing id is ignored), Trigger.dev's ``idempotencyKey``,
        Quirrel's ``id``. So a second send with that id, plain or delayed, is the duplicate,
        whenever it comes while the first is pending; ``release`` lets the first one in.
        """
        key = event.id
        if key is None:
            return True
        seen = self._seen.get(key)
        if key in self._held or (seen is not None and self._taken(key, seen, now)):
            self._drop(event, now)
            return False
        self._seen.note(key, now, now)
        self._held.add(key)
        return True

    def release(self, event: Event) -> None:
        """A held event is due: its claim ends, so ``accept`` takes it (and not a copy sent meanwhile)."""
        key = event.id
        if key in self._held:
            self._held.discard(key)
            self._seen.pop(key, None)  # a claim held longer than a day has left ``_seen`` already

    def accept(self, event: Event, now: int) -> Event | None:
        """Stamp the event with its id and ts and keep it; ``None`` if it is a duplicate within 24 h
        (never when the bus does not ``dedupe``).

        ``event`` is the sender's own copy, seen by no one yet (``Simulation._emit`` makes one of
        every event sent, ``as_sent``): it is stamped in place, not copied again. A duplicate is
        left as it came.
        """
        ms = now // MS
        self._counter += 1
        key = event.id
        if not key:  # None, or "": Inngest's ``if e.ID == ""`` (and BullMQ's jobId "") gives it a fresh id
            _ID(event, ulid(ms, self._counter))
        elif self.dedupe:
            seen = self._seen.get(key)
            if (seen is not None and self._taken(key, seen, now)) or (self._held and key in self._held):
                self._drop(event, now)
                return None
            self._seen.note(key, now, now)
        if event.ts is None:
            _TS(event, ms)
        self.history.append(event)
        return event

    def _taken(self, key: str, seen: int, now: int) -> bool:
        """The id ``key``, taken ``seen``, is taken still: within the window, and held by what took it."""
        return now - seen < self._window and (self._holds is None or self._holds(key))

    def why_dropped(self, event: Event, dropped: dict[str, Any]) -> dict[str, Any]:
        """``dropped`` (an ``event.dropped`` record's fields) with why the id was taken: a delayed send of it still
        pending, or the profile's rule when it is not the 24 h one."""
        if self.pending(event):
            dropped["pending"] = True
        elif self.rule != "drop":
            dropped["taken"] = self.rule
        return dropped

    def pending(self, event: Event) -> bool:
        """Whether ``event``'s id is held by a delayed send still pending (why a drop was a duplicate)."""
        return bool(self._held) and event.id in self._held

    def _drop(self, event: Event, now: int) -> None:
        self.dropped.append(event if event.ts is not None else dataclasses.replace(event, ts=now // MS))

    def named(self, names: Iterable[str]) -> list[Event]:
        wanted = set(names)
        return [e for e in self.history if e.name in wanted]
