"""A person-readable timeline of a simulation, rendered from its trace."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from ._email import addressees
from ._httpadvice import UNMATCHED, jobsim_first
from ._safe import said, shown
from ._time import MS, format_duration, to_datetime, zone_name
from ._trace import Record, Trace
from .errors import PluginError

if TYPE_CHECKING:
    from ._simulation import Simulation

_MAX_DATA = 80
_CRON_EVENT = "inngest/scheduled.timer"
"""``_engine.CRON_EVENT``, the event of a cron function's runs: Inngest's own name, said on its profiles only."""


def render(sim: Simulation, tz: dt.tzinfo) -> str:
    return render_trace(sim.trace, tz, seed=sim.seed, profile=sim.profile.name, kinds=sim.record_kinds())


def render_trace(trace: Trace, tz: dt.tzinfo, *, seed: Any, profile: Any, kinds: Mapping[str, Any]) -> str:
    """The timeline of any trace: a simulation's, or one read from a file (``jobsim show``)."""
    names: dict[str, str] = {}
    for record in trace.of("run.start", "run.queued", "run.skipped", "cancel"):  # a run may be cancelled unstarted
        names.setdefault(record.data["run"], f"{record.data['function']}#{record.data.get('n', '?')}")
    zone_name = getattr(tz, "key", None) or str(tz)
    head = f"jobsim timeline · {zone_name} · seed {seed} · profile {profile}"
    lines = [head, "-" * len(head)]
    # by time, then in the order written: job code that spends time (time.sleep, a slow
    # response) writes a retry decided at +10 s before records other runs write at +0 s
    rows: list[tuple[str, str, str]] = []
    idle = _never_ran(trace)
    inngest = str(profile).startswith("inngest")  # elsewhere a cron run is started by a tick, not that event
    for record in sorted(trace, key=_shown_at):
        text = describe(record, names, tz, kinds)
        if record.kind == "run.start" and text is not None:
            if not inngest and record.data.get("event") == _CRON_EVENT and text.endswith(_CRON_EVENT):
                text = text[: -len(_CRON_EVENT)] + "its cron tick"
            if record.data.get("run") in idle:
                text = text.replace(" started by ", " queued by ", 1) + idle[record.data["run"]]
        if text is not None:
            if "\n" in text or "\r" in text:  # an event name, an error message: one record stays one line
                text = text.replace("\r", "\\r").replace("\n", "\\n")
            rows.append((*_stamp(_shown_at(record), tz), text))
    # a zone whose abbreviations differ in width (Berlin's CET in winter, CEST in summer): pad each to the
    # widest, so the kinds stay in one column across a DST change
    width = max((len(zone) for _, zone, _ in rows), default=0)
    lines.extend(f"{when}{zone:<{width}}  {text}" for when, zone, text in rows)
    if len(lines) == 2:
        lines.append("(nothing happened)")
    return "\n".join(lines)


def _shown_at(record: Record) -> int:
    """The instant a record's line is stamped and ordered at: its own, but a failed attempt's end (its record is
    made at its start; job code that spent virtual time, ``time.sleep(30)`` then an HTTP call, failed after the
    call, and its line came before it)."""
    if record.kind == "attempt":
        data = record.data
        if "end" in data and "error" in data and type(data["end"]) is int:
            return data["end"]
    return record.at


def _never_ran(trace: Trace) -> dict[str, str]:
    """The runs the trace made that no request reached (no attempt, step or end of theirs follows: the test sent
    the event and closed, or a cancel came first), with the words their line ends with: their ``run.start``
    said "started by" for a run that never started."""
    made: dict[str, None] = {}
    for record in trace:
        run = record.data.get("run")
        if not isinstance(run, str):
            continue
        if record.kind == "run.start":
            made[run] = None
        elif record.kind not in ("run.queued", "cancel") and run in made:
            del made[run]
    owner = trace._owner
    still = owner is not None and getattr(owner, "_state", "closed") == "running"
    words = " (not run yet)" if still else " (it never ran)"
    return dict.fromkeys(made, words)


def _stamp(ns: int, tz: dt.tzinfo) -> tuple[str, str]:
    """The instant (with its trailing space) and the zone's abbreviation, apart: the caller pads the latter."""
    moment = to_datetime(ns, tz)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d} ", moment.tzname() or ""


def _short(value: Any) -> str:
    try:
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=shown).decode()
    except TypeError:  # what JSON cannot hold even with repr as default: an int past 64 bits, a recursive dict
        text = shown(value, _MAX_DATA)  # a repr that raises or recurses too deep: the timeline still draws
    return text if len(text) <= _MAX_DATA else text[: _MAX_DATA - 1] + "…"


def describe(
    record: Record, names: dict[str, str], tz: dt.tzinfo, kinds: Mapping[str, Any] | None = None
) -> str | None:
    kinds = BUILTIN_KINDS if kinds is None else kinds
    handler = kinds.get(record.kind)
    if handler is None:
        return f"{record.kind:<9} {_short(record.data)}"
    try:
        return handler(record.data, names, tz)
    except Exception as exc:  # a plugin's renderer: its error would break every timeline (and the pytest report)
        raise PluginError(f"the timeline renderer of record kind {record.kind!r} ({shown(handler)}) raised "
                          f"{said(exc)} on record {record.seq} ({_short(record.data)})") from exc


def _clip(text: str, limit: int = 160) -> str:
    """The first line of ``text``, cut at ``limit``; jobsim's unmatched-request sentence first when a client's
    error quotes it deep inside (requests' ``Max retries exceeded with url: ...`` hid it past the cut)."""
    text = jobsim_first(text) if UNMATCHED in text else text
    first = text.splitlines()[0] if text else text
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _run(d: dict[str, Any], names: dict[str, str]) -> str:
    return str(names.get(d.get("run", ""), d.get("function", "?")))


def _by(d: dict[str, Any], names: dict[str, str]) -> str:
    """``"send-welcome-email#1: "`` before what a run did (an email, an HTTP call, an event), at the column
    where every other line names its run; nothing for what the test or jobsim itself did (no ``run`` field)."""
    return f"{_run(d, names)}: " if d.get("run") is not None else ""


def _step(d: dict[str, Any]) -> str:
    return f" step {d['step']!r}" if d.get("step") else ""


def _event(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return f"event     {_by(d, names)}{d['name']} {_short(d.get('data', {}))}"


def _dropped(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    event = f"event     {_by(d, names)}{d['name']} id={d['id']!r} dropped"
    if d.get("pending"):
        return f"{event}: a delayed send of that id is still pending"
    return f"{event}: {_TAKEN.get(str(d.get('taken')), 'duplicate id within 24h')}"


_TAKEN = {"kept": "duplicate id: the job it named is kept, so the id stays taken",
          "pending": "duplicate id: the job it named has not run yet",
          "unless-failed": "duplicate id within 30 days, and the run it started did not fail"}
"""Why an event was dropped, by the profile's ``repeated_ids`` (``Bus.why_dropped``)."""


def _cron(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    expr = d["cron"]
    if d.get("tz") and d["tz"] != zone_name(tz) and "TZ=" not in expr:  # "0 9 * * *" firing at 14:00 UTC
        expr = f"{expr} in {d['tz']}"
    if d.get("released"):  # one repetition at a time (Quirrel): the run before it has just ended
        return f"cron      {d['function']} fires late for its {_hm(d['scheduled'], tz)} tick ({expr}): " \
               f"{names.get(d['held_by'], d['function'])} has ended, and the next repetition is made now"
    if d.get("held_by"):  # one job document (Agenda): the run that locked it has just ended
        return f"cron      {d['function']} fires late for its {_hm(d['scheduled'], tz)} tick ({expr}): " \
               f"{names.get(d['held_by'], d['function'])} held the job's lock until now"
    if d.get("late"):
        return f"cron      {d['function']} fires late for its {_hm(d['scheduled'], tz)} tick ({expr})"
    return f"cron      {d['function']} fires ({expr})"


def _hm(when: str, tz: dt.tzinfo) -> str:
    """An ISO instant of the trace as a short local time (with its zone when the clocks show it twice)."""
    moment = dt.datetime.fromisoformat(when.replace("Z", "+00:00")).astimezone(tz)
    return moment.strftime("%m-%d %H:%M:%S") + repeated_zone(moment)


def repeated_zone(moment: dt.datetime) -> str:
    """``" EDT"`` when ``moment``'s wall time happens twice (01:30 on a fall-back night), else ``""``: a tick
    named "01:30:00" alone could be either, while the line's own stamp always names its zone."""
    other = moment.replace(fold=1 - moment.fold)
    return f" {moment.tzname()}" if other.utcoffset() != moment.utcoffset() else ""


def _instant(ns: int, tz: dt.tzinfo) -> str:
    """A later instant a line names, with its milliseconds when it has them ("down until 09:00:00"
    for 09:00:00.250 misled: the line itself is printed at 09:00:00.250)."""
    at = to_datetime(ns, tz)
    ms = f".{at.microsecond // 1000:03d}" if at.microsecond else ""
    return at.strftime("%Y-%m-%d %H:%M:%S") + ms + at.strftime(" %Z")


def _missed(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    if d["outcome"] == "caught-up":  # first-missed policies: the late run stands for this tick too
        return f"cron      {d['function']} skips its {_hm(d['scheduled'], tz)} tick: the late run just now stands " \
               "for it, and the schedule resumes after it"
    if d["outcome"] == "deduplicated":  # another of its schedules ticked this second (profile.cron_overlap)
        return f"cron      {d['function']} skips its {_hm(d['scheduled'], tz)} tick ({d['cron']}): its " \
               f"{d['by']} schedule ticked this second, and one run starts per second"
    if d["outcome"] == "held":  # one repetition at a time (profile.cron_next == "end")
        return f"cron      {d['function']} holds its {_hm(d['scheduled'], tz)} tick: {_run(d, names)} has not " \
               "ended; the next repetition is made when it does, and runs then"
    if d["outcome"] == "skipped" and "next" in d:  # an every= scheduler's job started late (``_every.py``)
        count = d.get("count", 1)
        ticks = f"its {_hm(d['scheduled'], tz)} tick" if count == 1 else \
            f"{count} ticks, {_hm(d['scheduled'], tz)} to {_hm(d['last'], tz)}"
        return f"cron      {d['function']} skips {ticks}: its {_hm(d['behind'], tz)} job started late; the next is " \
               f"{_hm(d['next'], tz)} ({d['cron']})"
    if d["outcome"] == "skipped" and d.get("reason") == "overlap":  # node-cron's noOverlap (``_nodetask.py``)
        going = f"its {_hm(d['waiting'], tz)} tick still waits out its random delay" if "waiting" in d else \
            f"{_run(d, names)} is still running"
        return f"cron      {d['function']} skips its {_hm(d['scheduled'], tz)} tick: {going} (noOverlap: the tick " \
               "is dropped, not queued)"
    if d["outcome"] == "skipped" and d.get("reason") == "destroyed":  # maxExecutions cancels a random delay
        return f"cron      {d['function']} drops its {_hm(d['scheduled'], tz)} tick, waiting out its random delay: " \
               f"{_run(d, names)} reached maxExecutions and the task is destroyed"
    if d["outcome"] == "skipped" and "reason" in d:  # one job document (profile.cron_next == "job")
        return f"cron      {d['function']} skips its {_hm(d['scheduled'], tz)} tick: {_held(d, names, tz)}"
    if d["outcome"] == "skipped":  # one pending job per schedule (profile.cron_next == "start")
        why = "has just started (the next is due strictly after)" if d["started"] else "has not started yet"
        job = _hm(d["behind"], tz)
        return f"cron      {d['function']} skips its {_hm(d['scheduled'], tz)} tick: its {job} job {why}"
    why = "lost: the system was down" if d["outcome"] == "lost" else "the system is down"
    return f"cron      {d['function']} misses its {_hm(d['scheduled'], tz)} tick ({why})"


def _cron_end(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    """An every= scheduler makes no more jobs (``_every.py``)."""
    if d["reason"] == "max_executions":  # node-cron's maxExecutions (``_nodetask.py``)
        return f"cron      {d['function']} ends its schedule: {_run(d, names)} completed, execution {d['runs']} " \
               f"of maxExecutions {d['limit']}; the task is destroyed ({d['cron']})"
    if d["reason"] == "limit":
        return f"cron      {d['function']} ends its schedule: the job just started is its last (limit {d['limit']})"
    return f"cron      {d['function']} ends its schedule: its end {_hm(d['end'], tz)} has passed ({d['cron']})"
def _held(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    """Why a job document (Agenda, ``_jobdoc.py``) holds a tick back: its one nextRunAt is elsewhere."""
    run, reason = _run(d, names), d["reason"]
    until = _instant(d["until"], tz) if d.get("until") is not None else "?"
    if reason == "retry":
        return f"{run}'s retry, due {until}, takes the job's nextRunAt"
    if reason == "ran":
        which = f"its attempt {d['attempt']}" if d.get("attempt") else "its run"
        return f"{run} ran at this instant ({which}); the job's next run is the first tick after"
    if reason == "locked":
        return f"{run} holds the job's lock until {until} (a job never runs twice at once)"
    if reason == "overdue":
        return f"the job's overdue {_hm(d['tick'], tz)} tick runs when {run} releases the lock, {until}"
    if reason == "crashed":
        return f"{run}'s worker died holding the job's lock; the job runs again when the lock expires"
    if reason == "waiting":
        tick = _hm(d["tick"], tz) if d.get("tick") else "earlier"
        return f"{run} has not started; the job's nextRunAt is still its {tick} tick"
    return str(reason)


def _recover(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    if d["then"] == "jam":  # a queue, not a run
        return f"recover   {d['function']}: {d['how']}; its queue never runs a job again"
    then = {"rerun": "runs it again from the start", "fail": "fails the attempt", "lose": "loses the run"}.get(
        d["then"], d["then"])
    how = d["how"]
    if "first" in d:  # Quirrel's stale checker (``Runtime._scan``)
        first = _run({"function": d["first_function"], "run": d["first"]}, names)
        how += f" found {d['found']} stale jobs and reported only the first, {first}, {d['found']} times"
    return f"recover   {_run(d, names)}: {how}; the system {then}"


def _start(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return f"run       {_run(d, names)} started by {d['event']}"


def _attempt(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str | None:
    if "error" not in d:
        return None  # successes show up as the step or run that completed
    where = _step(d) or " function body"
    return f"attempt   {_run(d, names)}{where} attempt {d['attempt']} failed: {_clip(d['error'])}"


def _refused(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    """A request whose job code met a refusal (``UnsupportedFeature``): the driving call raised it, the run stopped
    where it was (no attempt, no retry)."""
    return f"refused   {_run(d, names)} attempt {d['attempt']}, stopped here: {_clip(d['error'])}"


def _request_timeout(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    """The instant the system stopped waiting for a request (``_reqtimeout``); its attempt's line says the error."""
    where = _step(d) or " function body"
    return (f"timeout   {_run(d, names)}{where} attempt {d['attempt']}: no answer after "
            f"{format_duration(d['limit'])}, the request is failed; its code runs on until "
            f"{_instant(d['until'], tz)}, " + (
                "where jobsim's budget stops it (BudgetExceeded: it never returned, a loop that never ends?)"
                if d.get("dropped") == "budget" else
                f"and {_DROPPED.get(str(d.get('dropped')), 'its answer')} is dropped"))


_DROPPED = {"done": "the step's output", "failed": "the step's error", "returned": "the function's return value",
            "error": "its error", "sleep": "its sleep", "wait": "its wait", "invoke": "its invoke",
            "parallel": "its parallel steps", "crash": "its worker's crash"}  # fmt: skip


def _retry(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    """The due time to the millisecond, as the line that runs it is stamped ("at 12:00:36 (+36s888ms784125ns)"
    for a jittered retry of 12:00:36.888 misled and read as noise); a jitter's nanoseconds stay in the trace. The
    delay is the one between the stamps shown (under a millisecond apart: as it is)."""
    due = to_datetime(d["at"], tz)
    at = due.strftime("%H:%M:%S") + (f".{due.microsecond // 1000:03d}" if due.microsecond else "")
    # the difference of the two stamps the reader sees (both to the millisecond): a retry due 10 s after an attempt
    # at 11.881000500 is due at 21.881000 (Huey's microseconds) and read "+9s999ms" beside 11.881 and 21.881
    due_ns, delay = d["at"], d["delay"]
    if delay >= MS:
        delay = due_ns - due_ns % MS - (due_ns - delay - (due_ns - delay) % MS)
    line = f"retry     {_run(d, names)}{_step(d)} attempt {d['attempt']} at {at} (+{format_duration(delay)})"
    if d.get("poll") is not None:  # Agenda: found by a later poll (``_polling.py``)
        line += f", found by the poll at {_instant(d['poll'], tz)}"
    return line


def _sleep(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    until = _instant(d["until"], tz)  # with its milliseconds: a run a debounce started at 13:00:01.050 sleeps to .050
    return f"sleep     {_run(d, names)}{_step(d)} until {until}"


def _wait(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    until = _instant(d["until"], tz)
    return f"wait      {_run(d, names)}{_step(d)} for {d['event']} until {until}"


def _wait_end(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    outcome = "timed out" if d["event"] is None else f"got event {d['event']}"
    return f"wait      {_run(d, names)}{_step(d)} {outcome}"


def _invoke(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return f"invoke    {_run(d, names)}{_step(d)} -> {names.get(d['child'], d['target'])}"


def _invoke_timeout(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return f"invoke    {_run(d, names)}{_step(d)} timed out waiting for {names.get(d['child'], d['target'])}"


def _parallel(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    steps = ", ".join(repr(s) for s in d["steps"])
    return f"parallel  {_run(d, names)} starts {steps} ({d['mode']})"


def _end(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    tail = f": {_clip(d['error'])}" if d.get("error") else ""
    return f"run       {_run(d, names)} {d['status']}{tail}"


def _email(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    email = d.get("email")  # in memory: the Email itself; read from a file: its summary's fields
    cc, bcc = (email.cc, email.bcc) if email is not None else (d.get("cc", ()), d.get("bcc", ()))
    to = addressees(d.get("to", ()), cc, bcc)
    return f"email     {_by(d, names)}{d.get('provider', '?')} {to}: {d.get('subject', '')!r}"


def _http(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    outcome = d.get("status") if d.get("status") is not None else _clip(str(d.get("error")))
    if str(outcome).startswith("UnmatchedRequest: "):  # its message repeats the URL and the fix: say it once
        used_up = "has used up its side_effect list" in str(outcome)
        outcome = ("its route's side_effect list was used up" if used_up else "no route matched") \
            + " (UnmatchedRequest)"
    elif d.get("lost") is not None:  # its message retells the answer: say it once
        outcome = f"{str(outcome).partition(':')[0]} (answer lost: the server answered {d['lost']})"
    return f"http      {_by(d, names)}{d.get('method')} {d.get('url')} -> {outcome}"


def _fault(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    kind = d.get("fault")
    if kind is None:  # sim.fail()
        return f"fault     {d['function']}{_step(d)} injected {d['error']}"
    if kind == "downtime":
        if d["phase"] == "begins":
            return f"fault     the system goes down until {_instant(d['end'], tz)}"
        return "fault     the system is back up"
    if kind == "duplicate":
        what = f"its {_hm(d['scheduled'], tz)} tick" if "scheduled" in d else f"event {d.get('event')}"
        extra = f"{d['times']} extra time(s)"
        if d["outcome"] == "delivered":
            return f"fault     {d['function']} gets {what} delivered {extra}"
        return f"fault     {d['function']} gets {what} delivered {extra}: dropped ({d['outcome']})"
    why = "the system went down" if d.get("cause") == "downtime" else "crash"
    return f"fault     {why}: the worker running {_run(d, names)}{_step(d)} died"


def _queued(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    if d["reason"] == "ts":
        return f"queued    {_run(d, names)} starts at its event's ts, {_instant(d['until'], tz)}"
    if d["reason"] == "downtime":
        return f"queued    {_run(d, names)} waits for the system to be back up, {_instant(d['until'], tz)}"
    if d["reason"] == "poll":  # Agenda's processEvery (``_polling.py``)
        return f"queued    {_run(d, names)} waits for the poll that finds it, {_instant(d['until'], tz)}"
    why = "the throttle" if d["reason"] == "throttle" else "a concurrency slot"
    return f"queued    {_run(d, names)} waits for {why}"


def _skipped(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    if d["reason"] == "idempotency":
        return f"skipped   {_run(d, names)}: idempotency key {d['key']!r} already ran in the last 24h"
    if d["reason"] == "singleton":  # Inngest's SkipReasonSingleton
        key = "" if d.get("key") is None else f" {d['key']!r}"
        holder = names.get(d.get("existing", ""), "another run")
        return f"skipped   {_run(d, names)}: {holder} holds its singleton key{key}"
    if d["reason"] == "event_id":
        return f"skipped   {_run(d, names)}: event id {d['key']!r} already started a run in the last 24h"
    key = "" if d.get("key") is None else f" (key {d['key']!r})"
    if d["reason"] == "key_error":
        return f"skipped   {_run(d, names)}: its {d.get('option')} key failed to evaluate (Inngest makes no run)"
    return f"skipped   {_run(d, names)}: over its rate limit{key}"


def _batch(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    key = "" if d.get("key") is None else f", key {d['key']!r}"
    return f"batch     {_run(d, names)} gets {d['size']} event(s) ({d['why']}{key})"


def _debounce(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    key = "" if d.get("key") is None else f", key {d['key']!r}"
    why = f"quiet for {format_duration(d['period'])}" if d.get("why") == "quiet" and "period" in d else d.get("why")
    which = d.get("gets", "last")  # "first": a leading debounce (Trigger.dev's default) keeps the first payload
    return f"debounce  {_run(d, names)} gets the {which} of {d['size']} event(s) ({why}{key})"


def _cancel(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    reason = d["reason"]
    if reason == "cancel_on":
        return f"cancel    {_run(d, names)} by event {d['event']} (id {d['id']!r})"
    if reason == "singleton":  # a singleton in mode 'cancel': the new run takes the key
        key = "" if d.get("key") is None else f" {d['key']!r}"
        newer = names.get(d.get("by", ""), "a new run")
        return f"cancel    {_run(d, names)}: {newer} takes its singleton key{key} (event {d['event']})"
    why = "did not start within timeouts.start" if reason == "timeouts.start" else "ran past its timeout"
    return f"cancel    {_run(d, names)} {why}"


def _hidden(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> None:
    """Records a replay needs (how the test drove the clock, faults it armed) but a reader does not."""
    return None


BUILTIN_KINDS: dict[str, Callable[[dict[str, Any], dict[str, str], dt.tzinfo], str | None]] = {
    "event": _event, "event.dropped": _dropped, "cron": _cron, "run.start": _start,
    "attempt": _attempt, "retry": _retry, "sleep": _sleep, "wait": _wait, "wait.end": _wait_end,
    "invoke": _invoke, "invoke.timeout": _invoke_timeout, "run.end": _end, "email": _email, "http": _http,
    "fault": _fault, "run.queued": _queued, "run.skipped": _skipped, "batch": _batch, "debounce": _debounce,
    "cancel": _cancel, "parallel": _parallel, "cron.missed": _missed, "cron.end": _cron_end, "recover": _recover,
    "advance": _hidden, "fault.armed": _hidden, "request.timeout": _request_timeout, "refused": _refused,
}  # fmt: skip
