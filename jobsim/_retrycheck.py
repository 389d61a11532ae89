"""What ``invariants.retries_respect_policy`` checks, run by run (``run_retries``): each failed attempt's
retry against the retry policy's bounds (its jitter's extremes), around parallel steps and races, downtime,
polling and flow control. ``parallel_steps`` reads the parallel groups from the trace, ``job_failures``
numbers failures per job where the profile counts that way (Agenda)."""

from __future__ import annotations

import sys
import weakref
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard

from ._describe import describe
from ._records import Attempt, Run
from ._time import format_duration, iso
from .errors import JobsimError, NonRetriableError, RetryAfterError, StepError, WorkerCrashed


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
    if _retry_after(error, sim):  # else the policy's delay
        delay = profile.retry_after_delay(error.after, failed.end_ns)
        return delay, delay
    policy = sim.engine.policy(run.function)
    try:
        return policy.delay_ns(retry, _Extreme(False)), policy.delay_ns(retry, _Extreme(True))
    except AttributeError as exc:
        raise JobsimError(f"retries_respect_policy() cannot bound the delays of {policy!r}: {exc}") from None


def _retry_after(error: BaseException | None, sim: Any) -> TypeGuard[RetryAfterError]:
    """Whether ``error`` sets the retry's delay: a ``RetryAfterError`` on a profile that reads it (Quirrel has no
    such error class, ``profile.retry_after`` false: there it is a plain failure, retried at the policy's offset)."""
    return isinstance(error, RetryAfterError) and bool(getattr(sim.profile, "retry_after", True))


def _where(attempt: Attempt) -> str:
    return f"step {attempt.step!r}" if attempt.step else "the function body"


def job_failures(sim: Any, runs: Iterable[Run]) -> dict[int, int]:
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


def run_retries(sim: Any, run: Run, parallel: Mapping[str, list[tuple[int, list[str], str]]],
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
    more that no other failure took. The failures are paired with the retries that
    fit them (within the policy's delay, or a ``RetryAfterError``'s) as a maximum
    matching (``_pair``): the greedy pairing, each failure taking its earliest fitting
    retry in the order they failed, can take the one retry that fits a later failure
    when their bounds differ (a policy's jitter range beside a ``RetryAfterError``'s
    exact delay). The failures left unpaired then take what is left, to be reported. A
    retry that planned a group (its sleeps, waits, invokes) is one request: the failure
    that takes one of the group's attempts takes them all.
    """
    targeted = {key for key in grouped if getattr(run.steps.get(key), "kind", "run") in ("run", "send_event")}
    group_of = {key: index for index, (_, keys, _) in enumerate(groups) for key in keys}
    pool = [a for a in run.attempts if a.step not in targeted]
    failures = sorted((a for a in pool if a.error is not None and not isinstance(a.error, WorkerCrashed)
                       and not _final(sim, a.error)), key=lambda a: a.end_ns)  # fmt: skip
    requests: dict[Any, list[Attempt]] = {}  # one retry request: an attempt, or the group attempts it planned
    for a in pool:
        group = group_of.get(a.step or "")
        requests.setdefault(id(a) if group is None else (group, a.start_ns, a.number), []).append(a)
    late_ok = _waited(sim, run)

    def options(failed: Attempt, fitting: bool) -> list[tuple[Any, Attempt]]:
        """The requests that could be ``failed``'s retry, earliest (then of its own step) first."""
        low, high = _bounds(sim, run, failed, failed.number + 1)
        high = sys.maxsize if late_ok else high  # queues (concurrency, throttle) may start a retry later
        found = []
        for key, members in requests.items():
            start, number = members[0].start_ns, members[0].number
            if number == failed.number + 1 and start >= failed.end_ns and (
                    not fitting or low <= start - failed.end_ns <= high):  # fmt: skip
                pick = next((m for m in members if m.step == failed.step), members[0])
                found.append(((start, pick.step != failed.step), key, pick))
        return [(key, pick) for _, key, pick in sorted(found, key=lambda item: item[0])]

    paired = _pair([options(failed, True) for failed in failures])
    taken = {id(failures[i]): pick for i, (_, pick) in paired.items()}
    claimed = {key for key, _ in paired.values()}
    for i, failed in enumerate(failures):  # the rest: the earliest request left, whatever its delay
        if i not in paired:
            key, pick = next(((k, p) for k, p in options(failed, False) if k not in claimed), (None, None))
            if pick is not None:
                taken[id(failed)] = pick
                claimed.add(key)
    return taken


def _pair(options: list[list[tuple[Any, Attempt]]]) -> dict[int, tuple[Any, Attempt]]:
    """A maximum matching of failures (by index) to the retry requests that fit them.

    ``options[i]``: failure i's candidates as ``(request key, attempt)``, preferred first.
    Failures are placed in order, each along the shortest augmenting path (breadth-first,
    so no recursion however many failures a run has): one whose candidates are all taken
    may move an earlier failure to another candidate of its own.
    """
    owner: dict[Any, int] = {}  # request key -> the failure it is paired with
    choice: dict[int, tuple[Any, Attempt]] = {}
    for i in range(len(options)):
        reached: dict[Any, tuple[int, Attempt]] = {}  # request key -> (the failure that reached it, attempt)
        queue, free = [i], None
        for failure in queue:  # grows as taken requests lead to their owners
            for key, pick in options[failure]:
                if key in reached:
                    continue
                reached[key] = (failure, pick)
                if key not in owner:
                    free = key
                    break
                queue.append(owner[key])
            if free is not None:
                break
        key = free
        while key is not None:  # augment: each failure on the path moves to the request that reached it
            failure, pick = reached[key]
            before = choice.get(failure)
            owner[key], choice[failure] = failure, (key, pick)
            key = None if failure == i else before[0]  # type: ignore[index]
    return choice


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


def parallel_steps(sim: Any) -> dict[str, list[tuple[int, list[str], str]]]:
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
    since = f"failed at {iso(failed.end_ns)}"
    if getattr(sim.engine.policy(run.function), "from_scheduled", False) and not _retry_after(failed.error, sim):
        # Quirrel: the delay counts from when the failed attempt was due; one already past runs at once
        scheduled = _scheduled(sim, run, failed)
        gap = after.start_ns - scheduled
        if failed.end_ns - scheduled >= low and after.start_ns == failed.end_ns:
            return []
        since = f"was due at {iso(scheduled)} (Quirrel counts the offsets from then)"
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
            f"{failed.number} {since}; the policy allows {allowed}"]  # fmt: skip


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
        body = None  # the body's retry planned it when that attempt first reached the step (after a crash)
        for record in trace.of("retry"):
            data = record.data
            if data["run"] != run.id or data["attempt"] != failed.number:
                continue
            if data.get("step") == failed.step:
                return min(int(data.get("planned", data["at"])), failed.start_ns)  # planned: Quirrel's, past
            if data.get("step") is None and body is None:
                body = min(int(data.get("planned", data["at"])), failed.start_ns)
        if body is not None:
            return body
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
