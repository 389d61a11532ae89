"""``python dramatiq_live_worker.py``: a real Dramatiq worker for ``dramatiq_live_actors``, on ``JOBSIM_LIVE_REDIS``.

Two worker threads, idle consumers polling at most every ``WORKER_TIMEOUT`` ms; logging at INFO
on stdout, where the Retries middleware says each delay it chose ("Retrying message ... in N
milliseconds", ``dramatiq/middleware/retries.py:147``). Stops gracefully on SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

import dramatiq_live_actors as actors
from dramatiq import Worker

if __name__ == "__main__":
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    actors.broker.emit_after("process_boot")
    worker = Worker(actors.broker, worker_threads=2, worker_timeout=actors.WORKER_TIMEOUT)
    worker.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("worker ready", flush=True)
    stop.wait()
    worker.stop(timeout=5000)
