"""The live conformance scenario of deduplication and QueueEvents, shared by the simulation and the real worker.

``produce`` adds (ids in brackets): a simple-mode job [1] and its duplicate (-> 1), a throttled job [3] (ttl 1.5 s),
a debounced job delayed 1.8 s [4] replaced by a second one [5] (``replace`` + ``extend``), a ``keepLastIfActive``
job [6] and a job delayed 4.1 s [7]. The processors add more while they run: a duplicate of the active simple job
(-> 1), two duplicates of the active ``keep`` job (the last one [10] is added when it finishes), then, from the
late job, a simple job (its key was freed when job 1 completed) [12] and a throttled one (the ttl has run out)
[13]. A processing takes 0.4 s, the first throttled job's and the last keep job's 1.5 s; a QueueEvents reading
the stream from its start ("0") records every event.

Timing on a loaded machine. The worker fetches -- and promotes the delayed jobs due by then, with a ``waiting``
event -- as it starts and as each processing ends: at 0, 0.4, 1.9, 2.3, 2.7, 4.2, ... s in the simulation, later
on a real worker, which starts after the adds and spends Redis round trips on each processing. A delayed job is
due just before the fetch that takes it (the debounced one at 1.8 s, the late one at 4.1 s), so a worker behind
the simulation still finds it due there, and 1.4 s after the fetch before (0.4 s, 2.7 s: the two long
processings), so a worker up to 1.4 s behind does not find it due a fetch early, which would change the order of
the events (with 0.6 s and 1.7 s, 0.2 s and 0.1 s after the fetch before, a loaded machine did). Delays are whole
tenths of a second, which ``record_events`` rounds them to. The live run (``bullmq_live_worker.py ... settled``)
lasts until no job is left to run and the QueueEvents has emitted every entry of ``EVENT_NAMES`` in the stream,
not for a fixed time, which left the last job or the last events out on a loaded machine.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bullmq_events import record_events

QUEUE = "jobsim-live-dedup"
JOB_IDS = [str(n) for n in range(1, 14)]
WORK = 0.4
LONG = {("throttle", 1): 1.5, ("keep", 3): 1.5}  # (job name, data["n"]) -> its processing time, if not WORK
SIMPLE = {"deduplication": {"id": "simple"}}
THROTTLE = {"deduplication": {"id": "throttle", "ttl": 1500}}
DEBOUNCE = {"delay": 1800, "deduplication": {"id": "debounce", "ttl": 1800, "extend": True, "replace": True}}
KEEP = {"deduplication": {"id": "keep", "keepLastIfActive": True}}

EVENT_NAMES = ("added", "waiting", "delayed", "active", "completed", "deduplicated", "removed", "duplicated", "drained",
               "progress", "failed")  # fmt: skip
LOG: list[Any] = []  # [job name, data] per processing
ADDS: list[Any] = []  # [label, what the add (or getDeduplicationJobId) returned]
EVENTS: list[Any] = []  # [event, payload] as QueueEvents emits them
QUEUES: list[Any] = []


def reset() -> None:
    for store in (LOG, ADDS, EVENTS, QUEUES):
        store.clear()


async def _add(label: str, name: str, data: dict[str, Any], opts: dict[str, Any]) -> None:
    job = await QUEUES[0].add(name, data, opts)
    ADDS.append([label, job.id])


async def process(job: Any, token: str) -> Any:
    LOG.append([job.name, job.data])
    if job.name == "simple" and job.data["n"] == 1:
        await _add("simple while active", "simple", {"n": 2}, SIMPLE)
    if job.name == "keep" and job.data["n"] == 1:
        await _add("keep while active", "keep", {"n": 2}, KEEP)
        await _add("keep while active, last", "keep", {"n": 3}, KEEP)
    if job.name == "late":
        ADDS.append(["throttle key after its ttl", await QUEUES[0].getDeduplicationJobId("throttle")])
        await _add("simple after it completed", "simple", {"n": 4}, SIMPLE)
        await _add("throttle after its ttl", "throttle", {"n": 2}, THROTTLE)
    await asyncio.sleep(LONG.get((job.name, job.data.get("n")), WORK))
    return {"done": job.name}


def listen(events: Any) -> None:
    """Record what a QueueEvents emits (``bullmq_events.record_events``)."""
    record_events(events, EVENT_NAMES, EVENTS)


async def produce(queue: Any) -> None:
    QUEUES.append(queue)
    await _add("simple", "simple", {"n": 1}, SIMPLE)
    await _add("simple duplicate", "simple", {"n": 0}, SIMPLE)
    await _add("throttle", "throttle", {"n": 1}, THROTTLE)
    await _add("debounce", "debounce", {"n": 1}, DEBOUNCE)
    await _add("debounce again", "debounce", {"n": 2}, DEBOUNCE)
    ADDS.append(["throttle key", await queue.getDeduplicationJobId("throttle")])
    await _add("keep", "keep", {"n": 1}, KEEP)
    await _add("late", "late", {}, {"delay": 4100})
