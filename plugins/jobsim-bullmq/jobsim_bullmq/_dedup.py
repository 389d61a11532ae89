"""``opts["deduplication"]``: what bullmq 3.4.4's Lua does with a queue's ``de:<id>`` and ``dn:<id>`` keys.

A job added with ``{"deduplication": {"id": ...}}`` (encoded ``de``) claims the key
``bull:<queue>:de:<id>``, whose value is the id of the job that holds it. While the key
exists, another add with that deduplication id adds nothing: it returns the holder's id and
the queue's stream gets a ``deduplicated`` event. The modes bullmq documents are options of
that one rule (``deduplicateJob``, ``addStandardJob-9.lua:257-306``, the same function in
``addDelayedJob-6.lua`` and ``addPrioritizedJob-9.lua``; flows' parents use the ``:178-237``
half only, ``addParentJob-6.lua:455-463``):

* **simple** (no ``ttl``): ``SET NX`` without expiry (``:220``); the key goes when the holder
  completes or fails (``removeDeduplicationKeyIfNeededOnFinalization``,
  ``moveToFinished-14.lua:501-516, 947``) -- not when it is retried.
* **throttle** (``ttl``): ``SET NX PX ttl`` (``:216``); the key lives ``ttl`` ms from the first
  add whatever the job does (finalization only deletes keys without expiry).
* **extend** (``ttl`` + ``extend``): each duplicate resets the key's ``ttl`` (``:184-211``).
* **replace** (``replace``, usually with ``delay`` + ``ttl``: debounce): the holder, if it is still
  *delayed*, is removed (a ``removed`` event, ``prev: delayed``) and the new job takes the key
  (``:261-281``: ``KEEPTTL`` unless ``extend``); a holder no longer delayed is kept and the add
  returns its id, with no event (``:283-290``).
* **keepLastIfActive**: while the holder is *active*, the last duplicate is kept in
  ``dn:<id>`` (``storeDeduplicatedNextJob``, ``:135-177``, which also ``PERSIST``s the key) and
  added as a new job when the holder finishes (``requeueDeduplicatedJob``,
  ``moveToFinished-14.lua:823-868, 949-953``), with the id it was given at its add.

A key without expiry whose holder's hash is gone is stale and is replaced by the incoming job
(``recoverStaleDeduplicationKey``, ``:101-117``). ``job.remove``/``removeJob`` is not
simulated, so a simulated key only goes stale if bullmq's own keep-jobs removal ran first.
Expiry is lazy, as Redis reports it: a key is absent from its ``PX`` instant on (Redis keeps it through that
millisecond, but a real command lands a round trip later; see README: "Keys that expire").
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._store import QueueState, Store


def get(q: QueueState, dedup_id: str, now: int) -> str | None:
    """``GET de:<id>`` at ``now`` (ms): the holder's id, or None once the key's ``PX`` has run out."""
    entry = q.dedup.get(dedup_id)
    if entry is None:
        return None
    if entry[1] is not None and entry[1] <= now:
        del q.dedup[dedup_id]
        return None
    return entry[0]


def pttl(q: QueueState, dedup_id: str, now: int) -> int:
    """``PTTL``: -2 (no key), -1 (no expiry) or the milliseconds left (always > 0 here: expiry is lazy)."""
    if get(q, dedup_id, now) is None:
        return -2
    expiry = q.dedup[dedup_id][1]
    return -1 if expiry is None else expiry - now


def _ttl(de: dict[str, Any]) -> Any:
    ttl = de.get("ttl")
    return ttl if isinstance(ttl, (int, float)) and not isinstance(ttl, bool) and ttl > 0 else None


def set_key(q: QueueState, dedup_id: str, job_id: str, de: dict[str, Any] | None, now: int) -> None:
    """``setDeduplicationKey`` (``addStandardJob-9.lua:93-100``): ``SET`` with ``PX ttl`` when the options have one."""
    ttl = _ttl(de or {})
    q.dedup[dedup_id] = (job_id, None if ttl is None else now + int(ttl))


def _set_plain(q: QueueState, dedup_id: str, job_id: str) -> None:
    q.dedup[dedup_id] = (job_id, None)


class Deduplication:
    """One add's deduplication, on the store's queue state (``deduplicateJob`` and its helpers)."""

    def __init__(self, store: Store, q: QueueState, job_id: str, name: str, data: str, opts: dict[str, Any],
                 parent: tuple[Any, Any, Any], repeat_key: Any) -> None:  # fmt: skip
        self.store, self.q, self.job_id = store, q, job_id
        self.name, self.data, self.opts = name, data, opts
        self.parent = parent  # (parentKey, parentData, parentDependenciesKey)
        self.repeat_key = repeat_key
        self.de: dict[str, Any] = opts.get("de") or {}
        self.dedup_id = str(self.de["id"])
        self.now = store.now()

    # -- the two halves of deduplicateJob ---------------------------------------------------------
    def run(self, *, replace_allowed: bool = True) -> str | None:
        """The holder's id when this add is deduplicated (nothing is added), else None (the add goes on)."""
        if replace_allowed and self.de.get("replace"):
            return self._replace()
        return self._without_replace()

    def _replace(self) -> str | None:
        """``addStandardJob-9.lua:261-299``."""
        q, did, de = self.q, self.dedup_id, self.de
        current = get(q, did, self.now)
        if current is None:
            self._claim(self.job_id)
            return None
        if current in q.delayed:  # removeDelayedJob (:245-256)
            self.store.remove_deduplicated(q, current)
            self.store.xadd(q, "removed", jobId=current, prev="delayed")
            self._event(deduplicated=current, holder=self.job_id)
            q.dedup_next.pop(did, None)
            if de.get("keepLastIfActive"):
                _set_plain(q, did, self.job_id)
            elif not de.get("extend") and _ttl(de) is not None:
                q.dedup[did] = (self.job_id, q.dedup[did][1])  # SET ... KEEPTTL
            else:
                set_key(q, did, self.job_id, de, self.now)
            return None
        if self._recover_stale(current):
            return None
        self._store_next(current)
        return current

    def _without_replace(self) -> str | None:
        """``deduplicateJobWithoutReplace`` (``addStandardJob-9.lua:178-237``)."""
        q, did, de = self.q, self.dedup_id, self.de
        ttl = _ttl(de)
        if ttl is not None and de.get("extend"):
            current = get(q, did, self.now)
            if current is None:
                self._claim(self.job_id)
                return None
            if self._recover_stale(current):
                return None
            if self._store_next(current):
                return current
            self._claim(current)  # the window restarts: extend
            self._event(deduplicated=self.job_id, holder=current)
            return current
        if get(q, did, self.now) is None:  # SET NX (PX ttl unless keepLastIfActive)
            if ttl is not None and not de.get("keepLastIfActive"):
                set_key(q, did, self.job_id, de, self.now)
            else:
                _set_plain(q, did, self.job_id)
            return None
        current = get(q, did, self.now)
        assert current is not None
        if self._recover_stale(current):
            return None
        if self._store_next(current):
            return current
        self._event(deduplicated=self.job_id, holder=current)
        return current

    # -- helpers ----------------------------------------------------------------------------------
    def _claim(self, job_id: str) -> None:
        if self.de.get("keepLastIfActive"):
            _set_plain(self.q, self.dedup_id, job_id)
        else:
            set_key(self.q, self.dedup_id, job_id, self.de, self.now)

    def _event(self, *, deduplicated: str, holder: str) -> None:
        """``XADD ... deduplicated jobId <holder> deduplicationId <id> deduplicatedJobId <the other>``."""
        self.store.xadd(self.q, "deduplicated", jobId=holder, deduplicationId=self.dedup_id,
                        deduplicatedJobId=deduplicated)  # fmt: skip
        self.store.world.on_deduplicated(self.q, self.dedup_id, holder, deduplicated)

    def _recover_stale(self, current: str) -> bool:
        """``recoverStaleDeduplicationKey`` (``addStandardJob-9.lua:101-117``): a key without expiry whose holder
        is gone is dropped (with its ``dn``) and this job takes it."""
        q, did = self.q, self.dedup_id
        if pttl(q, did, self.now) != -1 or current in q.jobs:
            return False
        del q.dedup[did]
        q.dedup_next.pop(did, None)
        self._claim(self.job_id)
        return True

    def _store_next(self, current: str) -> bool:
        """``storeDeduplicatedNextJob`` (``addStandardJob-9.lua:135-177``): with ``keepLastIfActive`` and the holder
        active, this add is kept (the last one wins) to be added when the holder finishes."""
        q, did = self.q, self.dedup_id
        if not self.de.get("keepLastIfActive") or current not in q.active:
            return False
        parent_key, parent_data, parent_deps = self.parent
        q.dedup_next[did] = {"name": self.name, "data": self.data, "opts": json.loads(json.dumps(self.opts)),
                             "jid": self.job_id, "pk": parent_key, "pd": parent_data, "pdk": parent_deps,
                             "rjk": self.repeat_key}  # fmt: skip
        q.dedup[did] = (q.dedup[did][0], None)  # PERSIST
        self._event(deduplicated=self.job_id, holder=current)
        return True


def on_finalized(store: Store, q: QueueState, dedup_id: str | None, job_id: str, timestamp: int) -> None:
    """``moveToFinished-14.lua:947-953``: a finished holder frees a key without expiry
    (``removeDeduplicationKeyIfNeededOnFinalization``, ``:501-516``), then the kept next job is added
    (``requeueDeduplicatedJob``, ``:823-868``)."""
    if dedup_id is None:
        return
    now = store.now()
    if pttl(q, dedup_id, now) == -1 and get(q, dedup_id, now) == job_id:
        del q.dedup[dedup_id]
    nxt = q.dedup_next.get(dedup_id)
    if nxt is None:
        return
    q.counter += 1  # INCR id, "to keep it monotonic"
    new_id = str(nxt["jid"]) if nxt.get("jid") else str(q.counter)
    opts = nxt["opts"]
    de = opts.get("de") or {}
    if de.get("keepLastIfActive"):
        _set_plain(q, dedup_id, new_id)
    else:
        set_key(q, dedup_id, new_id, de, now)
    store.store_and_enqueue_next(q, new_id, nxt, timestamp)
    del q.dedup_next[dedup_id]
