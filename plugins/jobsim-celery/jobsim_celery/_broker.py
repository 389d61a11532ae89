"""Publishing without a broker: ``app.send_task`` as Celery does it, delivered in virtual time.

``Task.apply_async``, ``delay``, ``self.retry``, canvas (chain, group, chord), beat
and the tracer's callbacks all end in ``Celery.send_task``. The replacement below
follows ``celery/app/base.py: send_task`` step by step — task exec options, the
router, ``expires`` clamped at 0, parent and root ids from the running task — and
builds the message with Celery's own ``app.amqp.create_task_message`` (protocol 2
headers, body ``(args, kwargs, embed)``), passing the *virtual* ``now`` so that
``countdown`` and numeric ``expires`` become ETAs in simulated time. The body is
serialized with the task's serializer, as on the wire, so arguments that Celery
could not send fail here the same way. ``before_task_publish`` and
``after_task_publish`` fire. Then, instead of a producer, the message goes to the
simulated worker, which receives it at the same virtual instant.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import numbers
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from celery import signals
from celery.app.base import _OMITTED
from celery.utils.functional import maybe_list
from celery.utils.time import maybe_iso8601
from kombu import serialization
from kombu.message import Message

from jobsim._time import SECOND, to_datetime
from jobsim.errors import InvalidArgument

if TYPE_CHECKING:
    from ._world import AppRuntime, CeleryWorld


class NoBroker:
    """The producer handed to code that asks for one (``group.apply_async`` does); it never publishes."""

    connection = None
    serializer = None

    def publish(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - guarded by send_task
        raise RuntimeError("jobsim: nothing is published to a broker inside a simulation")


NO_BROKER = NoBroker()


@contextlib.contextmanager
def producer_or_acquire(producer: Any = None) -> Iterator[Any]:
    yield producer or NO_BROKER


class Publisher:
    """The app's ``send_task`` while a simulation runs (``app.send_task = publisher.send_task``)."""

    def __init__(self, world: CeleryWorld, rt: AppRuntime) -> None:
        self.world = world
        self.rt = rt
        self.app = rt.app
        self._tag = 0

    def send_task(
        self, name: str, args: Any = None, kwargs: Any = None, countdown: Any = None, eta: Any = None,
        task_id: str | None = None, producer: Any = None, connection: Any = None, router: Any = None,
        result_cls: Any = None, expires: Any = _OMITTED, publisher: Any = None, link: Any = None,
        link_error: Any = None, add_to_parent: bool = True, group_id: Any = None, group_index: Any = None,
        retries: int = 0, chord: Any = None, reply_to: Any = None, time_limit: Any = _OMITTED,
        soft_time_limit: Any = _OMITTED, root_id: Any = None, parent_id: Any = None, route_name: Any = None,
        shadow: Any = None, chain: Any = None, task_type: Any = None, replaced_task_nesting: int = 0,
        **options: Any,
    ) -> Any:  # fmt: skip
        app = self.app
        amqp = app.amqp
        _check_timing(countdown, eta, None if expires is _OMITTED else expires)
        task_id = task_id or self.world.new_id(name)
        if task_type is None:
            task_type = app._tasks.get(name)
            if task_type is not None:
                defaults = {k: v for k, v in task_type._get_exec_options().items() if v is not None}
                options = dict(defaults, **options)
        time_limit = options.pop("time_limit", None) if time_limit is _OMITTED else time_limit
        soft_time_limit = options.pop("soft_time_limit", None) if soft_time_limit is _OMITTED else soft_time_limit
        expires = options.pop("expires", None) if expires is _OMITTED else expires
        for key in ("time_limit", "soft_time_limit", "expires"):
            options.pop(key, None)
        ignore_result = options.pop("ignore_result", None)
        options = (router or amqp.router).route(options, route_name or name, args, kwargs, task_type)
        now = self.world.sim.now_ns()
        now_dt = to_datetime(now).astimezone(app.timezone)
        if isinstance(expires, (int, float)) and not isinstance(expires, bool) and expires < 0:
            expires = 0  # send_task: "we have set the expiration date to 0 instead"
        parent = app.current_worker_task
        if parent is not None and (not root_id or not parent_id):
            root_id = root_id or parent.request.root_id or parent.request.id
            parent_id = parent_id or parent.request.id
            if app.conf.task_inherit_parent_priority:
                options.setdefault("priority", parent.request.delivery_info.get("priority"))
        headers, properties, body, _ = amqp.create_task_message(
            task_id, name, args, kwargs, countdown, eta, group_id, group_index, expires, retries, chord,
            maybe_list(link), maybe_list(link_error), reply_to or app.thread_oid, time_limit, soft_time_limit,
            False, root_id, parent_id, shadow, chain,
            ignore_result=ignore_result, replaced_task_nesting=replaced_task_nesting,
            now=now_dt, timezone=app.timezone, **options,
        )  # fmt: skip
        for stamp in options.pop("stamped_headers", None) or []:
            options.pop(stamp, None)
        message, queue = self._message(name, headers, properties, body, options)
        result = (result_cls or app.AsyncResult)(task_id)
        result.ignored = ignore_result
        self.world.published(self.rt, message, queue, parent)
        if add_to_parent and parent is not None:
            parent.add_trail(result)
        return result

    def _message(self, name: str, headers: dict[str, Any], properties: dict[str, Any], body: Any,
                 options: dict[str, Any]) -> tuple[Message, str]:  # fmt: skip
        """``amqp.send_task_message``: merge headers and properties, resolve the queue, serialize, signal."""
        app, amqp = self.app, self.app.amqp
        extra_headers = options.pop("headers", None)
        if extra_headers:
            headers.update(extra_headers)
        queue = options.pop("queue", None)
        exchange = options.pop("exchange", None)
        routing_key = options.pop("routing_key", None)
        serializer = options.pop("serializer", None) or app.conf.task_serializer
        for key in ("exchange_type", "retry", "retry_policy", "declare", "delivery_mode", "compression",
                    "event_dispatcher", "timeout", "confirm_timeout", "producer", "connection"):  # fmt: skip
            options.pop(key, None)
        properties.update(options)
        if queue is None and exchange is None:
            queue = amqp.default_queue
        qname = queue if isinstance(queue, str) else getattr(queue, "name", None) or app.conf.task_default_queue
        if not exchange or not routing_key:
            exchange, routing_key = "", qname
        signals.before_task_publish.send(
            sender=name, body=body, exchange=exchange, routing_key=routing_key, declare=[],
            headers=headers, properties=properties, retry_policy=dict(app.conf.task_publish_retry_policy),
        )  # fmt: skip
        content_type, content_encoding, data = serialization.dumps(body, serializer)  # type: ignore[no-untyped-call]
        self._tag += 1
        message = Message(  # type: ignore[no-untyped-call]
            body=data, delivery_tag=self._tag, content_type=content_type, content_encoding=content_encoding,
            delivery_info={"exchange": exchange, "routing_key": routing_key, "redelivered": False},
            properties=properties, headers=headers,
        )  # fmt: skip
        signals.after_task_publish.send(sender=name, body=body, exchange=exchange, routing_key=routing_key)
        return message, qname


_UNREADABLE = (
    "a real worker could not read it: it would reject the message (InvalidTaskError, "
    "celery/worker/request.py) and the task would never run"
)


def _check_timing(countdown: Any, eta: Any, expires: Any) -> None:
    """Refuse at the call what Celery would only fail on later, or deep inside ``create_task_message``.

    A ``countdown`` that is not a number fails in ``amqp.as_task_v2`` with a bare
    ``TypeError``; an ``eta``/``expires`` string that is not ISO 8601 is sent as is,
    and the worker's ``Request`` refuses the message: work silently lost.
    """
    if countdown is not None and (isinstance(countdown, bool) or not isinstance(countdown, numbers.Real)):
        hint = "; for a timedelta, countdown=delta.total_seconds()" if isinstance(countdown, dt.timedelta) else ""
        raise InvalidArgument.build("countdown", countdown, f"a number of seconds (int or float), or None{hint}")
    for name, value in (("eta", eta), ("expires", expires)):
        if value is None or isinstance(value, dt.datetime):
            continue
        if name == "expires" and isinstance(value, numbers.Real) and not isinstance(value, bool):
            continue
        accepted = ("seconds (int or float), " if name == "expires" else "") + (
            "a datetime (naive = UTC), or an ISO 8601 string such as '2025-03-01T12:00:00+00:00'"
        )
        if isinstance(value, str):
            try:
                maybe_iso8601(value)
                continue
            except (ValueError, TypeError, OverflowError):
                accepted += "; " + _UNREADABLE
        elif isinstance(value, dt.timedelta):
            accepted += ("; for a timedelta, expires=delta.total_seconds()" if name == "expires"
                         else "; for a timedelta from now, countdown=delta.total_seconds()")  # fmt: skip
        raise InvalidArgument.build(name, value, accepted)


def seconds_ns(value: float) -> int:
    return round(value * SECOND)
