"""``python rq_live_worker.py REDIS_URL QUEUE``: a real RQ ``SimpleWorker`` running its scheduler."""

from __future__ import annotations

import sys

import redis
from rq import Queue, SimpleWorker

if __name__ == "__main__":
    connection = redis.Redis.from_url(sys.argv[1])
    worker = SimpleWorker([Queue(sys.argv[2], connection=connection)], connection=connection)
    print("worker ready", flush=True)
    worker.work(with_scheduler=True, logging_level="INFO")
