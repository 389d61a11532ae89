"""Timeline lines for the records jobsim-rq adds to the trace."""

from __future__ import annotations

import datetime as dt
from typing import Any

from jobsim._time import to_datetime


def _at(ns: int, tz: dt.tzinfo) -> str:
    return to_datetime(ns, tz).strftime("%Y-%m-%d %H:%M:%S")


def _name(d: dict[str, Any], names: dict[str, str]) -> str:
    return names.get(d.get("run") or "", d.get("function") or "?")


def _enqueue(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    where = "front of" if d.get("at_front") else ""
    unread = "" if d.get("listened", True) else " (no simulated worker reads it: stays queued)"
    return f"rq        {_name(d, names)} enqueued on {where + ' ' if where else ''}queue {d['queue']!r}{unread}"


def _schedule(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    unread = "" if d.get("listened", True) else " (no simulated worker reads it, so no scheduler: stays scheduled)"
    return f"rq        {_name(d, names)} scheduled on queue {d['queue']!r} for {_at(d['due'], tz)}{unread}"


def _defer(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    waiting = ", ".join(names.get(i, i) for i in d["waiting_for"])
    return f"rq        {_name(d, names)} deferred on queue {d['queue']!r} until {waiting} finishes"


def _expire(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    why, ttl, name = d.get("why"), d.get("ttl"), _name(d, names)
    if why == "ttl":
        return (f"rq        {name} expired on queue {d['queue']!r} ({d.get('status')}): not started within "
                f"ttl={ttl} s of being queued; RQ drops it")  # fmt: skip
    if ttl == 0:
        return f"rq        {name} deleted at once ({why}=0)"
    status = str(d.get("status"))
    ended = "finished" if why == "result_ttl" else "was stopped" if status == "stopped" else "failed"
    if status in ("queued", "scheduled", "deferred"):  # requeued from a registry: the earlier EXPIRE still stands
        return (f"rq        {name} expired on queue {d['queue']!r} ({status}): {why}={ttl} s after it {ended}, "
                "before it ran again; RQ drops it")  # fmt: skip
    return f"rq        {name} expired: {why}={ttl} s after it {ended}"


def _stop(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    if d.get("outcome") == "killed":
        return f"rq        {_name(d, names)} stopped: stop-job killed its work horse"
    return f"rq        stop-job for {_name(d, names)} ignored: the worker is not running it"


def _dequeue(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return f"rq        {_name(d, names)} taken by worker {d['worker']!r} from queue {d['queue']!r}"


def _crash(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    worker = repr(d["worker"])
    if d.get("how") == "horse":
        if d.get("outcome") == "no horse":
            return f"rq        kill of worker {worker}'s work horse ignored: it is not running a job"
        return (f"rq        work horse of worker {worker} killed (SIGKILL) running {_name(d, names)}: the worker "
                "fails it, or retries it, at once")  # fmt: skip
    doing = f"running {_name(d, names)} (it stays started until a maintenance run finds it abandoned)" if d.get(
        "run") else "while idle"  # fmt: skip
    then = f"; a new worker {d['restart']!r} takes its place" if d.get("restart") else "; no worker replaces it"
    return f"rq        worker {worker} died with its work horse and scheduler {doing}{then}"


def _worker(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    queues = ", ".join(map(repr, d["queues"]))
    return f"rq        worker {d['worker']!r} started (in place of {d['replaces']!r}), reading {queues}"


def _abandon(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return (f"rq        {_name(d, names)} abandoned (worker {d['died']!r} died): its StartedJobRegistry entry "
            f"expired at {_at(d['expired'], tz)}; worker {d['worker']!r} found it at maintenance "
            "(AbandonedJobError)")  # fmt: skip


def _scheduler(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    if d["event"] == "lapsed":
        return (f"rq        scheduler lock of queue {d['queue']!r} lapsed (its worker died): its scheduled jobs wait "
                "for another worker's scheduler")  # fmt: skip
    return f"rq        worker {d['worker']!r} took the scheduler lock of queue {d['queue']!r}: due jobs move to it"


def _repeat(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    when = "queued again at once" if not d.get("delay") else f"scheduled again for {_at(d['due'], tz)}"
    return f"rq        {_name(d, names)} repeats (Repeat): {when}, {d['repeats_left']} repeat(s) left after it"


def _requeue(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return f"rq        {_name(d, names)} requeued from the {d['registry']} registry of queue {d['queue']!r}"


def _delete(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    how = "by queue.empty()" if d.get("how") == "empty" else "by job.delete()"
    return f"rq        {_name(d, names)} deleted ({d.get('status')}) {how}: its key and results are gone"


KINDS = {"rq.repeat": _repeat, "rq.requeue": _requeue, "rq.delete": _delete,
         "rq.enqueue": _enqueue, "rq.schedule": _schedule, "rq.defer": _defer, "rq.expire": _expire, "rq.stop": _stop,
         "rq.dequeue": _dequeue, "rq.crash": _crash, "rq.worker": _worker, "rq.abandon": _abandon,
         "rq.scheduler": _scheduler}  # fmt: skip
