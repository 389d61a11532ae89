"""What a trace says each function did, per comparison mode (``Story``, its ``Item`` values), and the
names the comparison shares: ``COMPARISONS`` (the modes, listed in ``_tracediff``), ``OUTSIDE`` and
``SYSTEM`` (the 'functions' of what no job did), ``MISSING`` (a field one side lacks)."""

from __future__ import annotations

import dataclasses
import difflib
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

COMPARISONS = ("runs", "outputs", "emails", "http", "events", "timing")
OUTSIDE = "(outside jobs)"
"""The 'function' of emails and HTTP calls made by test code, not by a job."""
SYSTEM = "(jobsim)"
"""The 'function' of events jobsim itself emits (``inngest/function.failed``)."""


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()



@dataclasses.dataclass(slots=True)
class Item:
    """One element of a function's sequence for one mode."""

    value: Any
    at: int | None
    label: str
    run: int | None = None
    """The number of the run it belongs to within its function (``None``: made outside a run)."""


@dataclasses.dataclass(slots=True)
class _Run:
    n: int
    event: str | None
    at: int
    status: str | None = "pending"
    error: str | None = None
    output: Any = MISSING
    reason: str | None = None
    run_id: str = ""


class Story:
    """What a trace says each function did, per comparison mode."""

    def __init__(self, lines: Iterable[dict[str, Any]], numbers: dict[str, int] | None = None) -> None:
        """``numbers``: run id -> the number its run goes by (``aligned_numbers``: the recorded run it lines up
        with); a run not in it is numbered by its place, as without."""
        self.numbers = numbers or {}
        self.runs: dict[str, list[_Run]] = defaultdict(list)
        self.items: dict[str, dict[str, list[Item]]] = {mode: defaultdict(list) for mode in COMPARISONS}
        self.by_id: dict[str, _Run] = {}
        self._numbers: dict[tuple[str, str, int | None], int] = {}
        self.records = 0
        for line in lines:
            self.records += 1
            handler = _READERS.get(line["k"])
            if handler is not None:
                handler(self, line)
        for fn, runs in self.runs.items():
            for run in runs:
                value: dict[str, Any] = {"event": run.event, "status": run.status}
                if run.error is not None:
                    value["error"] = run.error
                if run.reason is not None:
                    value["reason"] = run.reason
                self.items["runs"][fn].append(Item(value, run.at, f"run #{run.n}", run.n))
                output = None if run.output is MISSING else run.output
                self.items["outputs"][fn].append(Item(output, run.at, f"run #{run.n}", run.n))

    def functions(self) -> set[str]:
        return {fn for per_fn in self.items.values() for fn, items in per_fn.items() if items}

    def _run(self, line: dict[str, Any]) -> _Run | None:
        run_id = line.get("run")
        return self.by_id.get(run_id) if isinstance(run_id, str) else None

    def _label(self, line: dict[str, Any], what: str, fn: str, mode: str) -> tuple[str, int | None]:
        """``http call #2 of run #1`` and the run's number: numbered within its run, as the runs' items
        are compared (``_tracediff._first``); one made outside a run, within its function (``email #3``)."""
        run = self._run(line)
        n = None if run is None else run.n
        key = (mode, fn, n)
        number = self._numbers[key] = self._numbers.get(key, 0) + 1
        return f"{what} #{number}" + (f" of run #{n}" if n is not None else ""), n

    # -- readers, one per record kind ---------------------------------------------------------------
    def _start(self, line: dict[str, Any]) -> None:
        run_id, fn = line.get("run"), str(line.get("function"))
        if not isinstance(run_id, str):
            return
        run = self.by_id.get(run_id)
        if run is None:  # first seen queued, skipped or started: its place in the order
            n = self.numbers.get(run_id) or len(self.runs[fn]) + 1
            run = self.by_id[run_id] = _Run(n, line.get("event"), line["at"], run_id=run_id)
            self.runs[fn].append(run)
        if line["k"] == "run.skipped":
            run.status, run.reason = "skipped", line.get("reason")
        elif line["k"] == "run.start":
            self._timing(line, fn, "run.start", line["at"])

    def _cancel(self, line: dict[str, Any]) -> None:
        """A run cancelled before its first request has no other record of its start (``trigger``: its event)."""
        if "trigger" in line:
            self._start({**line, "event": line["trigger"]})

    def _end(self, line: dict[str, Any]) -> None:
        run = self._run(line)
        if run is None:
            return
        status = line.get("status")  # None: ignored ('*:**'), shown as null rather than "None"
        run.status = None if status is None else str(status)
        run.error = line.get("error")
        run.output = line.get("output", MISSING)
        self._timing(line, str(line.get("function")), "run.end", line["at"])

    def _timing(self, line: dict[str, Any], fn: str, what: str, at: Any, then: str = "") -> None:
        run = self._run(line)
        step = line.get("step")
        label = what + (f" step {step!r}" if step else "") + (f" of run #{run.n}" if run else "") + then
        self.items["timing"][fn].append(Item({"what": label, "at": at}, line["at"], label,
                                             None if run is None else run.n))  # fmt: skip

    def _attempt(self, line: dict[str, Any]) -> None:
        self._timing(line, str(line.get("function")), f"attempt {line.get('attempt')}", line["at"])

    def _retry(self, line: dict[str, Any]) -> None:
        self._timing(line, str(line.get("function")), f"retry {line.get('attempt')} due", line.get("next_at"))

    def _until(self, line: dict[str, Any]) -> None:
        self._timing(line, str(line.get("function")), line["k"], line.get("until"), " ends")  # sleep step 'x' ... ends

    def _email(self, line: dict[str, Any]) -> None:
        fn = str(line.get("function") or OUTSIDE)
        value = {k: v for k, v in line.items() if k not in ("k", "seq", "at", "function", "run", "message_id")}
        self.items["emails"][fn].append(Item(value, line["at"], *self._label(line, "email", fn, "emails")))

    def _http(self, line: dict[str, Any]) -> None:
        fn = str(line.get("function") or OUTSIDE)
        request = line.get("request") or {}
        value: dict[str, Any] = {"method": line.get("method"), "url": line.get("url")}
        sent = {}
        content_type = (request.get("headers") or {}).get("content-type")
        if content_type is not None:
            sent["content-type"] = content_type
        if "body" in request:
            sent["body"] = request["body"]
        value["request"] = sent
        if "status" in line:
            value["status"] = line["status"]
        if "error" in line:
            value["error"] = str(line["error"]).partition(":")[0]
        if "lost" in line:
            value["lost"] = line["lost"]
        self.items["http"][fn].append(Item(value, line["at"], *self._label(line, "http call", fn, "http")))

    def _event(self, line: dict[str, Any]) -> None:
        origin = line.get("origin", "input")
        if origin == "input":
            return
        fn = str(line.get("function") or SYSTEM) if origin == "job" else SYSTEM
        ce = line.get("ce") or {}
        value = {"type": ce.get("type"), "data": ce.get("data")}
        if line["k"] == "event.dropped":
            value["dropped"] = True
        self.items["events"][fn].append(Item(value, line["at"], *self._label(line, "event", fn, "events")))


_READERS = {
    "run.start": Story._start, "run.queued": Story._start, "run.skipped": Story._start, "run.end": Story._end,
    "cancel": Story._cancel,
    "attempt": Story._attempt, "retry": Story._retry, "sleep": Story._until, "wait": Story._until,
    "email": Story._email, "http": Story._http, "event": Story._event, "event.dropped": Story._event,
}  # fmt: skip


def aligned_numbers(recorded: Story, replayed: Story) -> dict[str, int] | None:
    """The numbers the replayed runs go by, lined up with the recorded ones by what started them (their event:
    ``apply_async``, ``beat entry 'nightly'``, an event name), per function; None when every function's runs
    started the same way in the same order (numbered by their place, they line up already).

    Runs are compared run #n against run #n. Numbered by their place alone, a run the replay lacks (a Celery
    task the test's own ``delay()`` started) shifted every later one: each beat run was compared with the run
    before it, and the report blamed runs that were the same. A run lined up with none gets a number past
    the recording's, so it is one side's alone."""
    numbers: dict[str, int] = {}
    for fn, theirs in replayed.runs.items():
        ours = recorded.runs.get(fn, [])
        left, right = [run.event for run in ours], [run.event for run in theirs]
        if left == right:
            continue
        matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
        fresh = max((run.n for run in ours), default=0)
        paired: dict[int, int] = {}
        for block in matcher.get_matching_blocks():
            for k in range(block.size):
                paired[block.b + k] = ours[block.a + k].n
        for j, run in enumerate(theirs):
            n = paired.get(j)
            if n is None:
                fresh += 1
                n = fresh
            numbers[run.run_id] = n
    return numbers or None
