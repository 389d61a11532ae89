"""The signal log of the live tests' Huey apps (``huey_live_app``, ``huey_live_outage``).

Every signal the app's Huey sends is logged with the wall-clock time it was sent: pushed to a Redis list by a
real consumer, appended to ``sink`` in the simulation (where ``time.time()`` is virtual), so the test compares
the two logs entry by entry.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any


class SignalLog:
    def __init__(self, huey: Any, url: str, key: str, tag: Callable[[Any], Any] = lambda first: first) -> None:
        self.url, self.key, self.tag = url, key, tag
        self.sink: list[dict] | None = None  # set by the test for the simulation
        self._client: Any = None
        huey.signal()(self.log)

    def log(self, signal: str, task: Any, *args: Any) -> None:
        entry = {"t": time.time(), "signal": signal, "task": task.name,
                 "tag": self.tag(task.args[0]) if task.args else None}  # fmt: skip
        if self.sink is not None:
            self.sink.append(entry)
            return
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(self.url)
        self._client.rpush(self.key, json.dumps(entry))

    def close(self) -> None:
        """Close the Redis connection the test process opened (its enqueues on the real side send signals too)."""
        if self._client is not None:
            self._client.close()
            self._client = None
