"""``python huey_live_consumer.py``: a real Huey consumer for ``huey_live_app``, on ``JOBSIM_LIVE_REDIS``.

Two thread workers, the scheduler every second with periodic tasks on (``huey_consumer -w 2 -s 1``).
Prints the wall-clock time its scheduler started from (``Scheduler.__init__`` reads ``monotonic()``
when the consumer is built, ``consumer.py:163-170``), then runs until SIGTERM.
"""

from __future__ import annotations

import logging
import sys
import time

import huey_live_app as app

if __name__ == "__main__":
    logging.basicConfig(stream=sys.stdout, level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    consumer = app.huey.create_consumer(workers=2, scheduler_interval=1, periodic=True)
    started = time.time()
    print(f"consumer ready {started!r}", flush=True)
    consumer.run()
