"""``python rq_live_worker.py REDIS_URL QUEUE [fork]``: a real RQ worker running its scheduler.

``SimpleWorker`` (jobs in the worker process) unless ``fork`` is given: then RQ's default
``Worker``, which runs each job in a work horse process it can kill (``stop-job``).
"""

from __future__ import annotations

import sys

import redis
from rq import Queue, SimpleWorker, Worker

if __name__ == "__main__":
    connection = redis.Redis.from_url(sys.argv[1])
    worker_class = Worker if sys.argv[3:] == ["fork"] else SimpleWorker
    worker = worker_class([Queue(sys.argv[2], connection=connection)], connection=connection)
    print("worker ready", flush=True)
    worker.work(with_scheduler=True, logging_level="INFO")
