"""The Huey app of the live conformance test: one ``RedisHuey`` and its tasks, and a signal log.

Imported by the real consumer (``huey_live_consumer.py``) and by the test, which enqueues on the real
Redis first and then runs the same tasks in a simulation. Every signal Huey sends is logged with the
wall-clock time it was sent: pushed to a Redis list on the real side, appended to ``LOG.sink`` in the
simulation (where ``time.time()`` is virtual).
"""

from __future__ import annotations

import os
import time

from huey import RedisHuey, crontab
from huey_live_log import SignalLog

URL = os.environ.get("JOBSIM_LIVE_REDIS", "redis://127.0.0.1:1/0")
LOG_KEY = "jobsim:huey:log"
huey = RedisHuey("jobsim-live", url=URL)
LOG = SignalLog(huey, URL, LOG_KEY, tag=repr)


@huey.task()
def add(a, b):
    return a + b


# retry_delay 1.4, not 1: the second attempt runs just after a scheduler tick, so a 1 s delay made its retry due a
# hair after the next tick -- taken by that tick when a loaded machine woke the scheduler thread a few ms late
# (1 run in 4 under load), by the one after otherwise. 1.4 s keeps both retries 0.3 s or more from a tick.
@huey.task(retries=2, retry_delay=1.4, context=True)
def flaky(tag, task=None):
    if task.retries:  # fails while it has retries left: twice, then succeeds
        raise ValueError(f"{tag}: not yet")
    return tag


@huey.task(retries=1)
def doomed(tag):
    raise RuntimeError(f"{tag}: always")


@huey.task()
def slow(tag, seconds):
    time.sleep(seconds)
    return 7


@huey.task()
def later(tag):
    return tag


@huey.periodic_task(crontab())
def heartbeat():
    return "beat"


def scenario() -> dict:
    """What the test enqueues, on the real Redis or in the simulation."""
    return {
        "add": add(1, 2),
        "flaky": flaky("f"),
        "doomed": doomed("d"),
        "pipeline": huey.enqueue(slow.s("p", 0.5).then(add, 100)),
        "later": later.schedule(("s",), delay=2),
    }
