"""Failure hooks that are callbacks, not bus events: Trigger.dev's ``onFailure``, called once after the last
attempt, and the listeners that hear every failed attempt: BullMQ's worker ``'failed'``, Agenda's ``'fail'``
and node-cron's ``'execution:failed'``.

Inngest announces a run's *final* failure (``inngest/function.failed``) and Trigger.dev
calls ``onFailure`` once, after the last attempt. BullMQ and Agenda have no such
hook. What their users attach a failure handler to is an event emitter that fires on
*every* failed attempt, whether or not a retry follows:

* BullMQ (reference §2.2; taskforcesh/bullmq ``src/classes/worker.ts`` ``handleFailed``):
  ``worker.on('failed', (job, err, prev))`` is emitted right after ``job.moveToFailed``,
  which decides the retry (``shouldRetryJob``: ``attemptsMade + 1 < attempts`` and not an
  ``UnrecoverableError``), moves the job to ``delayed`` (a backoff), back to ``wait`` (no
  backoff) or to ``failed``, sets ``finishedOn`` only in the last case, and then does
  ``attemptsMade += 1``. So the listener sees ``job.attemptsMade`` counting this attempt
  and can tell a final failure by ``finishedOn`` or ``await job.getState() === 'failed'``.
  The stalled-job limit is a *deferred* failure (``moveStalledJobsToWait-9.lua`` sets
  ``defa``): the next worker to take the job fails it with ``UnrecoverableError("job stalled
  more than allowable limit")`` through the same ``handleFailed``, so the listener hears it
  too. A stall that is re-run emits ``'stalled'``, not ``'failed'``. (``QueueEvents``'
  ``'failed'``, ``{jobId, failedReason, prev}``, is the Redis stream's, written by
  ``moveToFinished-14.lua`` for the final failure only: the same instant as the worker's
  final ``'failed'``, with less in it — jobsim models the worker's.)
* Agenda 6.2.2 (reference §5.2; agenda/agenda ``packages/agenda/src/Job.ts`` ``run``): a
  throwing job calls ``fail()`` (``failCount++``, ``failReason``, ``failedAt``), then emits
  ``'fail'`` and ``'fail:<name>'`` with ``(err, job)``, and only *then* ``handleRetry``
  decides about a retry — so nothing on the job tells the listener whether one follows. A
  crashed job whose lock expires is re-run without ``fail()``: no event.
* node-cron 4 (reference §6; node-cron/node-cron ``src/scheduler/runner.ts`` ``runTask``): a task
  that throws emits ``execution:failed`` on the task's own emitter; there is no retry, so it is
  once per failed execution, and no bus.

``Profile.failure_hook`` names ``trigger_dev_failure``, which the engine calls once the run has failed for
good. ``Profile.attempt_failure_hook`` names one of the other builders here; the runtime
(``_runtimefail.py``) calls it as each plain-call attempt fails, with an ``AttemptFailure``,
and the ``on_failure`` handler runs with the event it returns. Nothing is published
on the bus. The engine's end-of-run announcement is then skipped (``_engineends.py``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

from ._events import Event
from ._safe import message
from ._time import MS, instant_ns, iso
from .errors import NonRetriableError, WorkerCrashed

if TYPE_CHECKING:
    from ._records import Run

BULLMQ_FAILED = "bullmq/worker.failed"
"""The name of the event a BullMQ ``on_failure`` handler gets: ``worker.on('failed', (job, err, prev))``."""

AGENDA_FAIL = "agenda/fail"
"""The name of the event an Agenda ``on_failure`` handler gets: ``agenda.on('fail:<name>', (err, job))``."""

NODE_CRON_FAILED = "node-cron/execution:failed"
"""The name of the event a node-cron ``on_failure`` handler gets: ``task.on('execution:failed', (context))``."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AttemptFailure:
    """One failed attempt, as the system knows it when its failure listener fires."""

    run: Run
    error: BaseException
    at: int
    """When the attempt failed (ns)."""
    started: int
    """When the failed attempt started (ns)."""
    attempt: int
    """The failed attempt's number, 0 for the first (``ctx.attempt``); re-runs after a stall keep it."""
    fail_count: int
    """The system's count of failures including this one (Agenda's ``failCount``: per job document)."""
    attempts: int
    """The attempts the retry policy allows, the first included (BullMQ's ``opts.attempts``)."""
    retry_at: int | None
    """When the retry runs (ns), or ``None``: this failure is final."""


def _payload(run: Run) -> object:
    return run.event.to_dict()["data"]


def bullmq_failed(failure: AttemptFailure) -> Event:
    """``worker.on('failed', (job, err, prev))`` as data: ``{"job", "err", "prev", "state"}``.

    ``job`` holds the fields a listener reads — ``id`` (jobsim's run id), ``name`` (the
    function), ``data``, ``attemptsMade`` (this attempt included), ``opts.attempts``,
    ``failedReason``, ``processedOn`` (the attempt's start, ms) and ``finishedOn`` (ms, only
    when the job is now failed for good, else ``None``); ``state`` is what ``job.getState()``
    answers in the listener: ``"delayed"`` (a retry after a backoff), ``"waiting"`` (a retry
    at once) or ``"failed"``. ``NonRetriableError`` and the stalled-job limit are BullMQ's
    ``UnrecoverableError``.
    """
    run, error = failure.run, failure.error
    name = "UnrecoverableError" if isinstance(error, (NonRetriableError, WorkerCrashed)) else type(error).__name__
    final = failure.retry_at is None
    state = "failed" if final else "waiting" if failure.retry_at == failure.at else "delayed"
    job = {
        "id": run.id,
        "name": run.function.id,
        "data": _payload(run),
        "attemptsMade": failure.attempt + 1,
        "opts": {"attempts": failure.attempts},
        "failedReason": message(error),
        "processedOn": failure.started // MS,
        "finishedOn": failure.at // MS if final else None,
    }
    data = {"job": job, "err": {"name": name, "message": message(error)}, "prev": "active", "state": state}
    return Event(BULLMQ_FAILED, data, ts=failure.at // MS)


def agenda_fail(failure: AttemptFailure) -> Event:
    """``agenda.on('fail:<name>', (err, job))`` as data: ``{"err", "job": {"attrs": {...}}}``.

    ``attrs`` as ``fail()`` left them: ``_id`` (jobsim's run id), ``name``, ``data``,
    ``failCount`` (per job document: a recurring job's count goes on over its runs, and
    6.2.2 never resets it), ``failReason``, ``failedAt`` and ``lastRunAt`` (ISO 8601, as
    ``Date.toJSON``). Nothing says whether a retry follows: Agenda emits ``'fail'`` before
    ``handleRetry`` decides.
    """
    run, error = failure.run, failure.error
    attrs = {
        "_id": run.id,
        "name": run.function.id,
        "data": _payload(run),
        "failCount": failure.fail_count,
        "failReason": message(error),
        "failedAt": iso(failure.at),
        "lastRunAt": iso(failure.started),
    }
    data = {"err": {"name": type(error).__name__, "message": message(error)}, "job": {"attrs": attrs}}
    return Event(AGENDA_FAIL, data, ts=failure.at // MS)


def node_cron_failed(failure: AttemptFailure) -> Event:
    """``task.on('execution:failed', (context))`` as data: the ``TaskContext`` node-cron 4 emits.

    ``runner.ts`` ``runTask`` catches the task's error, sets ``execution.finishedAt`` and
    ``execution.error``, and calls ``onError``, which emits ``execution:failed`` with
    ``createContext(date, execution)`` (``inline-scheduled-task.ts``): ``date`` (the tick the
    execution is for, ISO 8601), ``dateLocalIso`` (the same instant as wall time in the task's
    ``timezone``, with its offset: ``LocalizedTime.toISO``), ``triggeredAt`` (when the event is
    emitted), ``task`` (``{"id", "name"}``: the function id) and ``execution`` (``id``, jobsim's
    run id for the ``randomUUID()``; ``reason`` ``"scheduled"``; ``startedAt``, ``finishedAt``;
    ``error`` as ``{"name", "message"}``). A process that dies emits nothing.
    """
    run, error = failure.run, failure.error
    scheduled = run.event.data.get("scheduledAt") if isinstance(run.event.data, dict) else None
    # the timer event's whole seconds (Inngest's RFC3339) as node-cron's Date.toISOString() writes them
    date = iso(instant_ns(scheduled)) if isinstance(scheduled, str) else iso(failure.started)
    schedule = run.function.crons[0] if run.function.crons else None
    tz = schedule.tz if schedule is not None else dt.timezone.utc
    moment = dt.datetime.fromisoformat(date.replace("Z", "+00:00")).astimezone(tz)
    offset = moment.strftime("%z")
    local = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}" + (
        "Z" if offset in ("", "+0000") else f"{offset[:3]}:{offset[3:]}")  # fmt: skip
    execution = {"id": run.id, "reason": "scheduled", "startedAt": iso(failure.started), "finishedAt": iso(failure.at),
                 "error": {"name": type(error).__name__, "message": message(error)}}  # fmt: skip
    data = {"date": date, "dateLocalIso": local, "triggeredAt": iso(failure.at),
            "task": {"id": run.function.id, "name": run.function.id}, "execution": execution}  # fmt: skip
    return Event(NODE_CRON_FAILED, data, ts=failure.at // MS)


TRIGGER_FAILURE = "trigger.dev/onFailure"
"""The name of the event a Trigger.dev ``on_failure`` handler gets: the hook's arguments, not a bus event."""


def trigger_dev_failure(run: Run, error: BaseException | None, now: int) -> Event | None:
    """``onFailure({payload, error, ctx, task})`` (lifecycleHooks/types.ts TaskFailureHookParams), called by
    the task's own process after its last attempt failed (taskExecutor.ts: only when the error handler's
    status is not "retry"). A process that died (a crash, a stall) calls nothing."""
    if isinstance(error, WorkerCrashed):
        return None
    fn = run.function
    number = run.attempts[-1].number + 1 if run.attempts else 1
    data = {
        "task": fn.id,
        "payload": run.event.to_dict()["data"],
        "error": {"name": type(error).__name__, "message": message(error)},
        "ctx": {"run": {"id": run.id}, "task": {"id": fn.id}, "attempt": {"number": number}},
    }
    return Event(TRIGGER_FAILURE, data, ts=now // MS)


__all__ = ["AGENDA_FAIL", "BULLMQ_FAILED", "NODE_CRON_FAILED", "TRIGGER_FAILURE", "AttemptFailure", "agenda_fail",
           "bullmq_failed", "node_cron_failed", "trigger_dev_failure"]
