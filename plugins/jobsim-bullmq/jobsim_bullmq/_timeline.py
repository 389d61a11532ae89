"""Timeline lines for the records jobsim-bullmq adds to the trace."""

from __future__ import annotations

import datetime as dt
import difflib
from typing import Any

from jobsim._time import to_datetime


def _at(ns: int, tz: dt.tzinfo) -> str:
    return to_datetime(ns, tz).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _name(d: dict[str, Any], names: dict[str, str]) -> str:
    return names.get(d.get("run") or "", d.get("function") or "?")


def _queued(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    where = {"delayed": f"delayed until {_at(d['due'], tz)}" if "due" in d else "delayed",
             "waiting-children": "waiting for its children"}.get(d["state"], "waiting")  # fmt: skip
    if d.get("priority"):
        where += f" (priority {d['priority']})"
    unread = "" if d.get("listened", True) else " (no simulated worker reads this queue: it stays there)"
    return f"bullmq    {_name(d, names)} {where} on queue {d['queue']!r}{unread}"


def _shown(qualified: str) -> str:
    """A queue as the test names it: ``emails`` under the default ``bull`` prefix, else ``prefix:emails``."""
    return qualified.removeprefix("bull:")


def _unread(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    read = [_shown(q) for q in d.get("read") or []]
    queue = _shown(d["queue"])
    close = difflib.get_close_matches(queue, read, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    workers = f"the workers read {', '.join(map(repr, read))}" if read else "the simulation has no worker"
    return (f"bullmq    queue {queue!r} has no simulated worker ({workers}{hint}): its jobs stay there, as in "
            "Redis with no worker on it")  # fmt: skip


def _moved(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    if d.get("state") == "delayed":
        return f"bullmq    {_name(d, names)} moved itself to delayed until {_at(d['due'], tz)} (DelayedError)"
    return f"bullmq    {_name(d, names)} waits for its children (WaitingChildrenError)"


def _stalled(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    then = f"; deferred failure: {d['deferred']}" if d.get("deferred") else ""
    return f"bullmq    {_name(d, names)} stalled (lock expired, stall #{d['count']}): back to wait{then}"


def _unfinished(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    if d["code"] == -6:
        why = "Lock mismatch: another worker holds its lock"
    else:
        why = "Missing lock" + (f": it expired at {_at(d['lapsed'], tz)}" if d.get("lapsed") else "")
    return (f"bullmq    {_name(d, names)} not moved to {d['target']} ({why}): moveToFinished raised, the job stays "
            "active until a stalled check")


def _progress(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return f"bullmq    {_name(d, names)} progress {d['progress']!r}"


def _log(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return f"bullmq    {_name(d, names)} log: {d['row']}"


def _removed(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    why = d.get("why", "removeOnComplete/removeOnFail")
    return f"bullmq    {_name(d, names)} removed from queue {d['queue']!r} ({why})"


def _reprocessed(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    verb = "promoted" if d["prev"] == "delayed" else "retried"
    return (f"bullmq    {_name(d, names)} {verb} from {d['prev']} ({d.get('how', 'job.retry')}): back to wait on "
            f"queue {d['queue']!r}")


def _priority(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    how = " (lifo)" if d["lifo"] else ""
    then = ": re-queued" if d["moved"] else " (applies when it is next queued)"
    return f"bullmq    {_name(d, names)} priority changed to {d['priority']}{how}{then} on queue {d['queue']!r}"


def _obliterated(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return f"bullmq    queue {d['queue']!r} obliterated: its jobs and keys deleted"


def _duplicated(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return f"bullmq    add of job id {d['run']!r} on queue {d['queue']!r} ignored: that job id exists (duplicated)"


def _deduplicated(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return (f"bullmq    job {d['other']!r} deduplicated in favour of {d['run']!r} (deduplication id {d['dedup']!r}, "
            f"queue {d['queue']!r})")


def _crash(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    jobs = ", ".join(d["jobs"]) if d.get("jobs") else "no job"
    then = (f"; a new worker starts at {_at(d['restart'], tz)}" if d.get("restart") is not None
            else "; no worker is restarted")  # fmt: skip
    return f"bullmq    the worker of queue {d['queue']!r} is killed (running {jobs}){then}"


def _paused(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return f"bullmq    queue {d['queue']!r} paused"


def _resumed(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return f"bullmq    queue {d['queue']!r} resumed"


def _cron_local(d: dict[str, Any], names: dict[str, str], tz: dt.tzinfo) -> str:
    return (f"bullmq    job scheduler {d['scheduler']!r} of queue {d['queue']!r}: next job due at {d['local']}, a "
            f"local time {d['pattern']!r} does not match in {d['tz']} (bullmq-python's croniter 2.0.7 across a DST "
            "change; a real worker runs it there too)")


KINDS = {"bullmq.queued": _queued, "bullmq.unread": _unread, "bullmq.moved": _moved, "bullmq.stalled": _stalled,
         "bullmq.unfinished": _unfinished,
         "bullmq.progress": _progress, "bullmq.log": _log, "bullmq.removed": _removed,
         "bullmq.duplicated": _duplicated, "bullmq.paused": _paused, "bullmq.resumed": _resumed,
         "bullmq.deduplicated": _deduplicated, "bullmq.crash": _crash, "bullmq.reprocessed": _reprocessed,
         "bullmq.priority": _priority, "bullmq.obliterated": _obliterated,
         "bullmq.cron_local": _cron_local}  # fmt: skip
