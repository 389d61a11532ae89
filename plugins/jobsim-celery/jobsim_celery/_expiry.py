"""``expires`` in virtual time: a message is expired once the virtual clock reaches its ``expires``.

A real worker discards a message as expired when ``now > expires`` (``worker/request.py:
Request.maybe_expire``), checked on receipt (``worker/strategy.py``) and again before the pool runs it
(``execute_using_pool``), at its ETA for a delayed one. Real time always passes between the instant a
message is stamped and those checks: ``apply_async(expires=0)`` (``expires`` is the send instant, to the
microsecond), ``expires=datetime.now(timezone.utc)``, a negative ``expires`` under a microsecond, or
``countdown=60, expires=60`` (``expires`` equal to the ETA) are all past when the worker looks, and the task
never runs. In virtual time the worker receives a message at the instant it was sent and takes it up at the
instant of its ETA, so the strict ``>`` would run them all: here the instant of ``expires`` itself counts
as past.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery.worker import state as worker_state

from jobsim._time import US


def virtual_expiry(base: Any) -> Any:
    """The task's request class (``create_request_cls``) with ``maybe_expire`` reading ``now >= expires``."""

    class Request(base):  # type: ignore[misc]
        __slots__ = ()

        def maybe_expire(self) -> bool | None:
            """Celery's ``Request.maybe_expire``, the instant of ``expires`` included (see the module)."""
            expires = self.expires
            if expires:
                now = dt.datetime.now(dt.timezone.utc if expires.tzinfo else None)
                if now >= expires:
                    worker_state.revoked.add(self.id)
                    return True
            return None

    Request.__name__ = Request.__qualname__ = base.__name__
    Request.__module__ = base.__module__
    return Request


def expired_at(due: int, expires: int | None) -> bool:
    """Whether a message taken up at ``due`` (ns) is expired: ``expires`` (ns) reached, to the microsecond."""
    return expires is not None and due // US * US >= expires
