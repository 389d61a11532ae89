"""The Huey app of the live outage test (``test_huey_outage.py``): a task holding a ``lock_task`` lock, a plain
task, and a signal log -- pushed to a Redis list by a real consumer, appended to ``LOG.sink`` in the simulation.

``python -c "import huey_live_outage as app; app.main()"`` runs a real consumer (``huey_consumer -w 1``,
``-f`` when ``JOBSIM_LIVE_FLUSH_LOCKS`` is set) until it gets a signal.
"""

from __future__ import annotations

import os
import time

from huey import RedisHuey
from huey_live_log import SignalLog

URL = os.environ.get("JOBSIM_LIVE_REDIS", "redis://127.0.0.1:1/0")
LOG_KEY = "jobsim:huey:outage-log"
huey = RedisHuey("jobsim-live-outage", url=URL)
LOG = SignalLog(huey, URL, LOG_KEY)


@huey.task()
@huey.lock_task("report")
def report(tag, seconds):
    time.sleep(seconds)
    return tag


@huey.task()
def echo(tag):
    return tag


def main() -> None:
    import logging
    import sys

    logging.basicConfig(stream=sys.stdout, level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    consumer = huey.create_consumer(workers=1, flush_locks=bool(os.environ.get("JOBSIM_LIVE_FLUSH_LOCKS")))
    print(f"consumer ready {time.time()!r}", flush=True)
    consumer.run()
