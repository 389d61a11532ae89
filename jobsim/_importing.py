"""Real traffic in: a file of Inngest events or CloudEvents becomes a replayable trace.

Accepted, detected from the content (never the name), gzip or not:

- **Inngest JSON Lines**: one ``{"name": ..., "data": {...}, "id": ..., "ts": ms, "v": ..., "user": {...}}``
  per line (``name`` and ``data`` required; ``ts`` in milliseconds since the epoch);
- **CloudEvents JSON Lines**: one CloudEvents 1.0 JSON object per line
  (``specversion``, ``id``, ``source``, ``type`` required; ``time`` RFC 3339; ``data``
  a JSON object, or ``data_base64`` holding one under a JSON ``datacontenttype``; the
  ``dataversion`` extension becomes ``v``);
- **a JSON array** of either (the CloudEvents JSON *batch* format is one array);
- a jobsim trace, which is simply loaded.

Each event becomes an ``event`` record with ``origin: "input"`` at its own time
(``ts``/``time``); an event without one takes the time of the event before it (the
first: ``start``). Events are ordered by time, keeping file order among equal
times. An event without an id gets one (marked ``jobsimsynthid``) so the file is
valid CloudEvents, and a replay lets the bus make its own, as Inngest would.
"""

from __future__ import annotations

import io
import json
import os
import re
import warnings
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any, cast

import orjson

from ._checks import keywords_checked
from ._codec import from_cloudevent, rfc3339_ns
from ._drawspec import registered_profiles
from ._eventjson import has_wide_ints, loads_exact
from ._events import _FIRST_MS, _LAST_MS, DEDUPE_WINDOW, IMPORTED_IDS, ulid
from ._replayinputs import SYNTHESIZED_ID
from ._time import MS, Instant, format_duration, instant_ns, iso, zone
from ._trace import Trace
from ._tracefile import FIRST_AT, LAST_AT, _path
from ._tracereader import BOM, GZIP_ERRORS, UTF16_BOMS, gzip_damaged, gzip_errors, load, open_trace
from .errors import InvalidArgument, TraceError, TraceWarning

FORMATS = ("auto", "inngest", "cloudevents")
_LISTED = 20  # skipped lines named in the warning; the header counts them all
_INNGEST_KEYS = frozenset({"name", "data", "id", "ts", "v", "user"})
_CHUNK = 1 << 16
INTERNAL_PREFIX = "inngest/"
"""Names of the events Inngest makes itself (``consts.InternalNamePrefix``)."""
_INNGEST_TS = (315_532_800_000, 4_102_444_800_000)
"""1980-01-01 and 2100-01-01 in ms: Inngest refuses an event whose ``ts`` is not between them (``pkg/event/event.go :
Validate``, "timestamp is before Jan 1, 1980" / "after Jan 1, 2100"), so no export of its events holds one; a ``ts``
in seconds (today's ~1.7e9 reads as January 1970) or in microseconds is a file written by hand."""


def read_any(path: str | os.PathLike[str], *, strict: bool = False) -> Trace:
    """A trace file as it is, or a file of events imported into a trace."""
    if _is_trace(_path(path)):
        return load(path, strict=strict)
    return import_events(path)


def _is_trace(path: Path) -> bool:
    with open_trace(path) as f, gzip_errors(path):
        for raw in f:
            raw = raw.removeprefix(BOM)
            if raw.startswith(UTF16_BOMS):
                return False  # events written by PowerShell: imported, decoded
            if raw.strip() and not raw.startswith(b"#"):
                try:
                    first = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    return True  # let the trace reader report it, with its line number
                # a jobsim record ("k") but not the header: a broken trace, which the reader reports as one
                return isinstance(first, dict) and "k" in first and "name" not in first and "specversion" not in first
    return True


@keywords_checked("traces.import_events()")  # its warnings' stacklevel=3 counts the wrapper's frame
def import_events(
    path: str | os.PathLike[str],
    *,
    format: str = "auto",
    start: Instant | None = None,
    tz: str = "UTC",
    seed: int = 0,
    profile: str = "inngest",
    skip_invalid: bool = False,
) -> Trace:
    """Read a file of Inngest events or CloudEvents into a trace of input events.

    ``format``: ``"auto"`` (per event: CloudEvents have ``specversion``),
    ``"inngest"`` or ``"cloudevents"`` (then every event must be one). ``start``:
    the virtual start (default: the first event's time); the header also gets
    ``tz``, ``seed`` and ``profile`` for the replay.

    A line that is not JSON or not a valid event stops the import with a ``TraceError``
    naming it, unless ``skip_invalid``: a production export often holds a few (a line cut
    by a log rotation, an event of another schema), and the rest is still worth
    replaying. Then each skipped line is listed in one ``TraceWarning`` (and in
    ``trace.warnings``) and counted in the header's ``source.skipped``.
    """
    if format not in FORMATS:
        raise InvalidArgument.build("format", format, "one of " + ", ".join(map(repr, FORMATS)))
    zone(tz)
    registered_profiles().get(profile)  # the replay would refuse it later, far from the typo
    if isinstance(seed, bool) or not isinstance(seed, int) or not -(1 << 63) <= seed < 1 << 64:
        raise InvalidArgument.build("seed", seed, "an int within 64 bits, as Simulation(seed=) takes")
    if not isinstance(skip_invalid, bool):  # a truthy 'no' skipped invalid lines it was meant to stop at
        raise InvalidArgument.build("skip_invalid", skip_invalid, "True (skip invalid lines, listing them) or False")
    source = _path(path)
    events: list[tuple[int | None, int, dict[str, Any]]] = []
    kinds: set[str] = set()
    ignored: dict[str, int] = {}
    skipped: list[TraceError] = []
    cut: list[str] = []
    internal: dict[str, list[int]] = {}
    for line, item, obj in _objects(source, cut):
        if isinstance(obj, dict) and obj.get("k") == "header" and obj.get("format") == "jobsim-trace":
            raise TraceError("this is a jobsim trace already, not a file of events to import: replay, diff or "
                             "show it as it is", path=str(source), line=line)  # never skipped  # fmt: skip
        if item is None and _api_page(obj):  # the whole export in one wrapper: no event to skip it for
            raise TraceError(_api_page(obj), path=str(source), line=line)
        try:
            if isinstance(obj, TraceError):
                raise obj
            kind, data = _event(obj, format, source, line, item)
        except TraceError as exc:
            if not skip_invalid:
                message = str(exc).removeprefix(f"{exc.path}:{exc.line}: ")
                raise TraceError(f"{message}; to import the other events and list the lines skipped: jobsim "
                                 "import --skip-invalid (import_events(..., skip_invalid=True))",
                                 path=exc.path, line=exc.line) from None  # fmt: skip
            skipped.append(exc)
            continue
        if str(data.get("name", "")).startswith(INTERNAL_PREFIX):  # Inngest's own: the replay makes its own
            internal.setdefault(data["name"], []).append(line)
            continue
        kinds.add(kind)
        at = data.pop("_at")
        for key in data.pop("_ignored", ()):
            ignored.setdefault(key, line)
        events.append((at, line, data))
    if not events:
        also = f" ({len(skipped)} invalid line(s) skipped, the first: {skipped[0]})" if skipped else ""
        also += f" ({_internal(internal)})" if internal else ""
        # a cut gzip stream or a cut only line read as an empty file: say it was cut, not that it holds nothing
        also += "".join(f"; {where.removesuffix(': the events before it were imported')}, before any whole event"
                        for where in cut)  # fmt: skip
        raise TraceError("no events in the file: expected Inngest events or CloudEvents, one JSON object per "
                         f"line{also}", path=str(source))  # fmt: skip
    start_ns = instant_ns(start, "start", tz=zone(tz)) if start is not None else _first_time(events)
    trace = Trace()
    previous = start_ns
    placed: list[tuple[int, int, dict[str, Any]]] = []
    for at, line, data in events:
        at = previous if at is None else at
        previous = at
        if data.get("ts") is None:
            data["ts"] = at // MS
        if data.get("id") in (None, ""):
            data["id"] = ulid(at // MS, IMPORTED_IDS | line)
            data["attributes"] = {**(data.get("attributes") or {}), SYNTHESIZED_ID: True}
        placed.append((at, line, data))
    notes = _order_and_repeats(placed)
    if start is None and all(at is None for at, _, _ in events):  # a hand-written file: say where its time came from
        sent = "the event is" if len(events) == 1 else f"all {len(events)} are"
        notes.append(f"no event has a time ('ts' or 'time'): {sent} sent at {iso(start_ns)}, jobsim's default "
                     "start; for another, import the file with `jobsim import FILE --start TIME -o TRACE` "
                     "(import_events(..., start=...))")  # fmt: skip
    if internal:
        notes.append(_internal(internal))
    placed.sort(key=lambda item: (item[0], item[1]))
    span = _long_span(placed)
    if span:
        notes.append(span)
    if placed[0][0] < start_ns:
        raise InvalidArgument(f"start={iso(start_ns)} is after the first event ({iso(placed[0][0])}, line "
                              f"{placed[0][1]}); give a start at or before it, or none")  # fmt: skip
    for at, _, data in placed:
        trace.add(at, "event", data)
    described = "+".join(sorted(kinds))
    trace.header = {"k": "header", "format": "jobsim-trace", "version": 1, "start": start_ns,
                    "start_time": iso(start_ns), "tz": tz, "seed": seed, "profile": profile, "clock": "ns",
                    "source": {"import": described, "file": source.name, "events": len(placed)}}  # fmt: skip
    if skipped:
        trace.header["source"]["skipped"] = len(skipped)
        shown = "; ".join(str(exc) for exc in skipped[:_LISTED])
        more = f"; and {len(skipped) - _LISTED} more" if len(skipped) > _LISTED else ""
        message = f"skipped {len(skipped)} invalid line(s): {shown}{more}"
        trace.warnings.append(message)
        warnings.warn(message, TraceWarning, stacklevel=3)
    for message in notes:
        trace.warnings.append(message)
        warnings.warn(f"{source}: {message}", TraceWarning, stacklevel=3)
    for message in cut:
        trace.truncated = True
        trace.warnings.append(message)
        warnings.warn(f"{source}: {message}", TraceWarning, stacklevel=3)
    trace.path = source
    trace.complete = False
    if ignored:
        fields = ", ".join(f"{key!r} (first on line {line})" for key, line in ignored.items())
        message = f"fields Inngest events do not have were ignored: {fields}"
        trace.warnings.append(message)
        warnings.warn(f"{source}: {message}", TraceWarning, stacklevel=3)
    return trace


def _internal(internal: dict[str, list[int]]) -> str:
    """Why events named ``inngest/...`` were left out: Inngest makes them itself (a run's failure or end, a
    cron tick, an invocation) and refuses them from any sender (``pkg/event/inbound.go : NormalizeInbound``,
    ``ErrInternalEventName``); replayed as inputs, a function triggered by ``inngest/function.failed`` ran
    for yesterday's failures as well as for those today's code has."""
    count = sum(len(lines) for lines in internal.values())
    names = ", ".join(f"{len(lines)} {name}" for name, lines in internal.items())
    first = min(line for lines in internal.values() for line in lines)
    return (f"left out {count} event(s) Inngest makes itself ({names}; the first on line {first}): the replay "
            "makes its own as today's code runs, and Inngest accepts no 'inngest/' event from a sender")


def _order_and_repeats(placed: list[tuple[int, int, dict[str, Any]]]) -> list[str]:
    """What the import changes or the replay will drop, said once each: events out of time
    order (replayed sorted), and ids given more than once (the first in 24 h starts runs)."""
    notes = []
    late = [(line, at, prev) for (prev, _, _), (at, line, _) in pairwise(placed) if at < prev]
    if late:
        line, at, prev = late[0]
        notes.append(f"{len(late)} event(s) come before the line above them in time (the first: line {line}, "
                     f"{iso(at)}, after {iso(prev)}); they are replayed in time order")  # fmt: skip
    # as Inngest will see them: in time order, a repeat within 24 h of the id's last run-starting event starts none
    # a CloudEvent is the same event as another when source and id both match (CloudEvents 1.0, "id"); an Inngest
    # event, which has no source, by its id alone (its key's source is None)
    kept: dict[tuple[Any, str], tuple[int, list[int]]] = {}  # key -> (when it was last accepted, its lines)
    repeated: dict[tuple[Any, str], list[int]] = {}  # key -> the lines of its first accepted event with repeats dropped
    for at, line, data in sorted(placed, key=lambda item: (item[0], item[1])):
        key = (data.get("source"), data["id"])
        last = kept.get(key)
        if last is not None and at - last[0] < DEDUPE_WINDOW:
            last[1].append(line)
            repeated.setdefault(key, last[1])
        else:
            kept[key] = (at, [line])
    if repeated:
        (source, ident), found = next(iter(repeated.items()))
        named = repr(ident) if source is None else f"{ident!r} from source {source!r}"
        # an earlier line later in time is the repeat: say which line is replayed, or "lines 3, 1" reads backwards
        kept_line = f": line {found[0]}, the earliest in time, is the one that starts runs" if found[0] > min(found) \
            else ""
        notes.append(f"{len(repeated)} event id(s) are given more than once (the first: {named} on lines "
                     f"{', '.join(map(str, found[:5]))}{kept_line}); Inngest starts no run for a repeat within "
                     "24 h of the first (it still resumes waits and cancels runs), so a replay runs it "
                     "once")  # fmt: skip
    return notes


_LONG_SPAN = 366 * 24 * 3600 * 10**9
"""How long a span of events the import names: past it, a stray timestamp is likelier than a year's traffic."""


def _long_span(placed: list[tuple[int, int, dict[str, Any]]]) -> str:
    """A note when the events, in time order, span more than a year: a replay simulates all of it, every cron tick
    on the way (one event dated 2099 among a day's made a replay of a five-minute cron run for hours and take
    gigabytes). Names the span's ends and its largest gap, where a stray timestamp most likely is."""
    first, last = placed[0], placed[-1]
    if last[0] - first[0] <= _LONG_SPAN:
        return ""
    before, after = max(pairwise(placed), key=lambda pair: pair[1][0] - pair[0][0])  # the first of equal gaps
    gap = after[0] - before[0]
    return (f"the events span {format_duration(last[0] - first[0])}, from line {first[1]} ({iso(first[0])}) to line "
            f"{last[1]} ({iso(last[0])}), the largest gap {format_duration(gap)} between line {before[1]} "
            f"({iso(before[0])}) and line {after[1]} ({iso(after[0])}): a replay simulates all of it, with every "
            "cron tick on the way; if a timestamp there is stray, fix or drop its line, or replay with --until")


def _first_time(events: list[tuple[int | None, int, dict[str, Any]]]) -> int:
    times = [at for at, _, _ in events if at is not None]
    if times:
        return min(times)
    from ._simulation import DEFAULT_START

    return instant_ns(DEFAULT_START)


def _objects(path: Path, cut: list[str]) -> Iterator[tuple[int, int | None, Any]]:
    """(line number, index in the array or None, JSON value) for each event: one per line, or the items of one
    top-level array.

    A line that is not JSON comes as a ``TraceError`` in place of its value, for the caller to
    raise or skip. An export cut off while it was written is read as the trace reader reads a
    cut recording: a last line without its line end that is not JSON, or a gzip stream that ends
    early, is said in ``cut`` and the events before it are kept. A UTF-8 byte order mark (what
    Windows tools write first) is skipped."""
    chunks = []
    with open_trace(path) as f:
        try:  # read1: what a gzip stream cut off decompresses to before its cut is kept (read() dropped it)
            read1 = cast("io.BufferedIOBase", f).read1
            while chunk := read1(_CHUNK):
                chunks.append(chunk)
        except GZIP_ERRORS as exc:
            if not chunks:
                raise TraceError(f"the gzip stream is damaged or cut off ({exc})", path=str(path)) from None
            if not isinstance(exc, EOFError):
                raise TraceError(gzip_damaged(exc, b"".join(chunks).count(b"\n")), path=str(path)) from None
            broken: BaseException | None = exc
        else:
            broken = None
    data = b"".join(chunks).removeprefix(BOM)
    if data.startswith(UTF16_BOMS):  # PowerShell 5's `>` writes UTF-16: every line was 'malformed'
        try:
            data = data.decode("utf-16").encode()
        except UnicodeDecodeError as exc:
            raise TraceError(f"the file starts as UTF-16 but does not decode as it ({exc})", path=str(path)) from None
    text = data.lstrip()
    if text.startswith(b"["):
        try:
            items = loads_exact(data)
        except orjson.JSONDecodeError as exc:
            raise TraceError(f"the file is a JSON array that does not parse: {exc}", path=str(path)) from None
        if not isinstance(items, list):
            raise TraceError("the file starts with '[' but is not one JSON array", path=str(path))
        for index, (line, item) in enumerate(zip(_item_lines(data.decode("utf-8", "replace")), items, strict=True)):
            yield line, index, item
        return
    page = _whole_page(text)
    if page is not None:  # a page pretty-printed (`curl ... | jq .`) read line by line was 'malformed line 1: {'
        yield 1 + len(data[: len(data) - len(text)].splitlines()), None, page
        return
    lines = data.splitlines()
    loads = loads_exact if has_wide_ints(data) else orjson.loads  # an int past 64 bits kept: once a file, not a line
    ended = broken is None and data.endswith((b"\n", b"\r"))
    for number, raw in enumerate(lines, start=1):
        if not raw.strip() or raw.lstrip().startswith(b"#"):
            continue
        try:
            yield number, None, loads(raw)
        except orjson.JSONDecodeError as exc:
            if number == len(lines) and not ended:
                lines = lines[: number - 1]
                if broken is None:
                    cut.append(f"line {number} is cut off (the export did not finish): the events before it were "
                               "imported")  # fmt: skip
                break
            preview = raw.decode("utf-8", "replace")[:80]
            yield number, None, TraceError(f"malformed line: {exc}: {preview!r}", path=str(path), line=number)
    if broken is not None:
        after = f"after line {len(lines)}" if lines else "before its first line ends"
        cut.append(f"the gzip stream ends early {after} ({broken}): the events before it were imported")


def _whole_page(text: bytes) -> dict[str, Any] | None:
    """A file that is one API page written over several lines (``_api_page``), else ``None``."""
    if not text.startswith(b"{") or b"\n" not in text.rstrip() or b'"data"' not in text:
        return None
    try:
        obj = loads_exact(text)
    except orjson.JSONDecodeError:
        return None
    return obj if _api_page(obj) else None


def _item_lines(text: str) -> Iterator[int]:
    """The line each item of a top-level JSON array starts on, so that errors and warnings about a
    batch name the line to look at, as for JSON Lines (an array written one event per line has its
    first on line 2). Only the boundaries are read here (the standard library's decoder steps from
    item to item); the values are orjson's, parsed once before."""
    decoder, space = json.JSONDecoder(), re.compile(r"[\s,]*")
    index, line, counted = text.index("[") + 1, 1, 0
    while True:
        index = space.match(text, index).end()  # type: ignore[union-attr]  # matches the empty string too
        if index >= len(text) or text[index] == "]":
            return
        line += text.count("\n", counted, index)
        counted = index
        yield line
        _, index = decoder.raw_decode(text, index)


def _event(obj: Any, format: str, path: Path, line: int, item: int | None = None) -> tuple[str, dict[str, Any]]:
    def fail(message: str) -> TraceError:  # an array's item by its index too: all of a one-line array is line 1
        where = "" if item is None else f"the array's item [{item}]: "
        return TraceError(where + message, path=str(path), line=line)

    if not isinstance(obj, dict):
        raise fail(f"expected an event (a JSON object), got {type(obj).__name__}")
    is_ce = "specversion" in obj
    if format == "cloudevents" and not is_ce:
        raise fail("not a CloudEvent: it has no 'specversion' (use --from inngest or auto for Inngest events)")
    if format == "inngest" and is_ce:
        raise fail("a CloudEvent in a file of Inngest events (use --from cloudevents or auto)")
    try:
        return ("cloudevents", _cloudevent(obj)) if is_ce else ("inngest", _inngest(obj))
    except ValueError as exc:
        raise fail(str(exc)) from None


_CE_CONTEXT = frozenset({"specversion", "id", "source", "type", "time", "datacontenttype", "dataschema", "subject"})
_CE_NAME = re.compile(r"[a-z0-9]+")


def _cloudevent(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("specversion") != "1.0":
        raise ValueError(f"CloudEvents specversion {obj.get('specversion')!r} is not supported (only '1.0')")
    for name in ("id", "source", "type"):
        if not isinstance(obj.get(name), str) or not obj[name]:
            raise ValueError(f"a CloudEvent needs a non-empty string {name!r} (CloudEvents 1.0, required attributes)")
    if "data_base64" in obj:
        obj = _decoded(obj)
    for name, value in obj.items():
        if name in _CE_CONTEXT or name == "data":
            continue
        if not _CE_NAME.fullmatch(name):
            raise ValueError(f"extension attribute {name!r} is not a CloudEvents 1.0 name (lowercase a-z and 0-9 only)")
        if isinstance(value, (dict, list)) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(
                f"extension attribute {name!r} holds {type(value).__name__} {value!r}; CloudEvents 1.0 extension "
                "values are strings, integers or booleans (put structured values into 'data')"
            )
    data = from_cloudevent(obj)
    data["_at"] = None if obj.get("time") is None else rfc3339_ns(obj["time"])
    if data["_at"] is not None and not FIRST_AT <= data["_at"] <= LAST_AT:  # 0001-01-01: Go's zero time
        raise ValueError(f"time {obj['time']!r} is outside what a trace's virtual clock holds (64-bit nanoseconds, "
                         f"{iso(FIRST_AT)} to {iso(LAST_AT)}); fix or drop its 'time' (an event without one is "
                         "sent at the time of the event before it)")  # fmt: skip
    data["origin"] = "input"
    data["source"] = obj["source"]
    if isinstance(data.get("attributes"), dict):
        data["attributes"].pop("datacontenttype", None)
    return data


def _decoded(obj: dict[str, Any]) -> dict[str, Any]:
    """A CloudEvent whose ``data_base64`` holds JSON, with it as ``data``; else a ValueError saying why not
    (``_cloudevents.data_base64``'s rules, as a trace's events are read: ``InvalidArgument`` is a ValueError)."""
    from ._cloudevents import data_base64

    out = {key: value for key, value in obj.items() if key != "data_base64"}
    out["data"] = data_base64(obj, "data" in obj)
    return out


def _api_page(obj: Any) -> str:
    """The error for a page of a REST API (Inngest's ``GET /v1/events``) saved whole, ``{"data": [...], ...}``, or
    ``""``. Refused even with ``skip_invalid``: it holds every event, and "import the other events" left none."""
    if not isinstance(obj, dict) or "name" in obj or "specversion" in obj or not isinstance(obj.get("data"), list):
        return ""
    return (f"neither an Inngest event (a non-empty 'name') nor a CloudEvent ('specversion'), but an object whose "
            f"'data' is a list of {len(obj['data'])} item(s), as an API's page of events (Inngest's GET /v1/events) "
            f"wraps them: import the items, one per line: jq -c '.data[]' PAGE.json > events.jsonl")


def _inngest(obj: dict[str, Any]) -> dict[str, Any]:
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("neither an Inngest event (a non-empty 'name') nor a CloudEvent ('specversion')")
    data = obj.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"the event's data must be a JSON object, got {type(data).__name__}")
    ts = obj.get("ts")
    if ts == 0 and type(ts) is int:  # Go's zero value: Inngest gives such an event the time it receives it
        ts = None
    if ts is not None and (isinstance(ts, bool) or not isinstance(ts, int)):
        raise ValueError(f"'ts' must be milliseconds since the epoch (an integer), got {ts!r}")
    if ts is not None and not _FIRST_MS <= ts <= _LAST_MS:  # a ULID or a datetime of it failed with a traceback
        hint = " (microseconds or nanoseconds?)" if ts > _LAST_MS else ""
        raise ValueError(f"'ts' {ts} is past the years 1 to 9999 in milliseconds since the epoch{hint}")
    if ts is not None and not _INNGEST_TS[0] <= ts < _INNGEST_TS[1]:
        early = ts < _INNGEST_TS[0]
        unit, scale = ("seconds", 1000) if early else ("microseconds", 1 / 1000)
        meant = ts * scale
        hint = (f": were these {unit}? (as {unit}, {iso(int(meant) * MS)}; multiply 'ts' by 1000)" if early else
                f": were these {unit}? (as {unit}, {iso(int(meant) * MS)}; divide 'ts' by 1000)"
                ) if _INNGEST_TS[0] <= meant < _INNGEST_TS[1] else ""  # fmt: skip
        raise ValueError(f"'ts' {ts} is {iso(ts * MS)} in milliseconds since the epoch, which Inngest refuses "
                         f"(\"timestamp is {'before' if early else 'after'} Jan 1, {1980 if early else 2100}\"), so "
                         f"no export of its events holds it{hint}")  # fmt: skip
    event_id = obj.get("id")
    if event_id is not None and not isinstance(event_id, str):
        raise ValueError(f"'id' must be a string, got {event_id!r}")
    user = obj.get("user")
    if user is not None and not isinstance(user, dict):
        raise ValueError(f"'user' must be a JSON object, got {type(user).__name__}")
    out: dict[str, Any] = {"name": name, "id": event_id, "data": data, "ts": ts, "origin": "input"}
    if obj.get("v") is not None:
        out["v"] = str(obj["v"])
    if user is not None:
        out["user"] = user
    out["_at"] = None if ts is None else ts * MS
    out["_ignored"] = sorted(set(obj) - _INNGEST_KEYS)  # an export's extras (received_at, ...)
    return out
