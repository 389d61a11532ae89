"""Flows in the simulated Redis: a parent stored in ``waiting-children`` (``addParentJob-6.lua``), a child's end
reaching it (``moveToFinished-14.lua``), ``job.moveToWaitingChildren`` (``moveToWaitingChildren-7.lua``): the
``Store``'s methods for them (``_store`` has the rest; paths as there)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

import msgpack

from jobsim.errors import UnsupportedFeature

from . import _dedup
from ._adding import Adding
from ._state import SCORE, JobHash, QueueState

if TYPE_CHECKING:
    from ._store import Store


class Flows(Adding):
    """The ``Store``'s flow methods (a base class of ``_store.Store``; ``Adding``'s too)."""

    def _to_parent(self, rec: JobHash, target: str, value: str, timestamp: int) -> None:
        """A child's end reaches its parent (``moveToFinished-14.lua:971-985``): a completed child's return value
        goes to the parent's ``processed`` and, with no dependency left, the parent moves to wait; a failed one
        counts only with ``failParentOnFailure``/``ignoreDependencyOnFailure``/``removeDependencyOnFailure``/
        ``continueParentOnFailure`` (``moveChildFromDependenciesIfNeeded``, ``:459-492``)."""
        parent_key = rec.fields.get("parentKey")
        parent = self.job_by_key(parent_key) if parent_key else None
        if parent is None:
            return
        pq, prec = parent
        child_key = self._key_of(rec)
        if target == "completed":
            if child_key in prec.dependencies:
                prec.dependencies.discard(child_key)
                prec.processed[child_key] = value
                if not prec.dependencies:
                    self._parent_to_wait(pq, prec, timestamp)
            return
        flags = json.loads(rec.fields.get("parent") or "{}")
        if child_key not in prec.dependencies:
            return
        if flags.get("fpof"):
            prec.dependencies.discard(child_key)
            prec.unsuccessful[child_key] = timestamp
            prec.fields["defa"] = f"child {child_key} failed"
            if prec.id in pq.waiting_children:
                self._parent_to_wait(pq, prec, timestamp)
        elif flags.get("cpof"):
            prec.dependencies.discard(child_key)
            prec.failed_children[child_key] = value
            self._parent_to_wait(pq, prec, timestamp)
        elif flags.get("idof") or flags.get("rdof"):
            prec.dependencies.discard(child_key)
            if flags.get("idof"):
                prec.failed_children[child_key] = value
            if not prec.dependencies:
                self._parent_to_wait(pq, prec, timestamp)

    def _parent_to_wait(self, pq: QueueState, prec: JobHash, timestamp: int) -> None:
        """``moveParentToWait`` (``moveToFinished-14.lua:392-421``): from waiting-children to delayed (its own
        delay, from now), prioritized, or the tail of wait (``RPUSH``: it runs next)."""
        if prec.id not in pq.waiting_children:
            return
        del pq.waiting_children[prec.id]
        delay = prec.int("delay")
        if delay > 0:
            pq.delayed[prec.id] = (timestamp + delay) * SCORE
            self.xadd(pq, "delayed", jobId=prec.id, delay=timestamp + delay)  # :416-417
            self.delay_marker(pq)
            self.world.on_queued(pq, prec, "delayed", timestamp + delay)
            return
        if prec.int("priority"):
            self.add_prioritized(pq, prec.id, prec.int("priority"))
        else:
            self.push_wait(pq, prec.id, lifo=True)
        self.xadd(pq, "waiting", jobId=prec.id, prev="waiting-children")  # :429-430
        self.world.on_queued(pq, prec, "waiting", None)

    # -- flows, pause --------------------------------------------------------------------------------
    def add_parent_job(self, backend: Any, job: Any) -> str:
        """``addParentJob-6.lua``: a flow's parent is stored in ``waiting-children`` until its children finish."""
        packed_args, data, packed_opts = backend.scripts.addJobArgs(job)
        args = msgpack.unpackb(packed_args, raw=False)
        opts = msgpack.unpackb(packed_opts, raw=False)
        q = self.queue(backend)
        self._check_options(q, job, opts)
        q.counter += 1
        job_id = self._custom_id(q, job, args[1]) or str(q.counter)
        if job_id in q.jobs:
            self.world.on_duplicated(q, job_id)
            self.xadd(q, "duplicated", jobId=job_id)
            return job_id
        parent_data = json.dumps(args[6], separators=(",", ":")) if args[4] is not None else None
        if (opts.get("de") or {}).get("id"):  # addParentJob-6.lua:455-463: no replace for a flow's parent
            store = cast("Store", self)  # this class is one of the Store's bases
            holder = _dedup.Deduplication(store, q, job_id, args[2], data, opts, (args[4], parent_data, args[5]),
                                          args[7]).run(replace_allowed=False)  # fmt: skip
            if holder is not None:
                return holder
        rec = self._store(q, job_id, args[2], data, opts, int(args[3]), args[7])
        if args[4] is not None:
            rec.fields["parentKey"] = args[4]
            rec.fields["parent"] = parent_data
            grand = self.job_by_key(args[4])
            if grand is not None:
                grand[1].dependencies.add(q.key(job_id))
        q.waiting_children[job_id] = int(args[3])
        self.xadd(q, "waiting-children", jobId=job_id)  # addParentJob-6.lua:469-470
        self.world.on_added(q, rec, job)
        self.world.on_queued(q, rec, "waiting-children", None)
        return job_id

    def move_to_waiting_children(self, backend: Any, job_id: str, token: str, opts: dict[str, Any]) -> bool:
        """``moveToWaitingChildren-7.lua``: an active job with pending children waits for them (True); one with
        none stays active (False)."""
        if opts and opts.get("child"):
            raise UnsupportedFeature("job.moveToWaitingChildren(token, {'child': ...}) is not simulated by "
                                     "jobsim-bullmq; call it without a child", system="BullMQ",
                                     feature="moveToWaitingChildren child")  # fmt: skip
        q = self.queue(backend)
        rec = q.jobs.get(job_id)
        if rec is None:
            self._error(backend, -1, job_id, "moveToWaitingChildren")
            raise AssertionError("unreachable")
        if not rec.dependencies:
            return False
        code = self.remove_lock(q, rec, token)
        if code < 0:
            self._error(backend, code, job_id, "moveToWaitingChildren")
        if job_id not in q.active:
            self._error(backend, -3, job_id, "moveToWaitingChildren")
        q.active.remove(job_id)
        q.waiting_children[job_id] = self.now()
        self.xadd(q, "waiting-children", jobId=job_id, prev="active")  # moveToWaitingChildren-7.lua:75
        self.world.on_waiting_children(q, rec)
        return True
