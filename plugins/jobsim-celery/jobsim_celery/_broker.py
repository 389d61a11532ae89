"""Publishing without a broker: ``app.send_task`` as Celery does it, delivered in virtual time.

``Task.apply_async``, ``delay``, ``self.retry``, canvas (chain, group, chord), beat
and the tracer's callbacks all end in ``Celery.send_task``. The replacement below
follows ``celery/app/base.py: send_task`` step by step — task exec options, the
router, parent and root ids from the running task — and
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
import math
import numbers
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from celery import signals
from celery.app.amqp import INT_MIN
from celery.app.base import _OMITTED
from celery.utils.functional import maybe_list
from celery.utils.time import add_seconds_to_datetime, maybe_iso8601
from kombu import serialization
from kombu.exceptions import ContentDisallowed
from kombu.message import Message
from kombu.transport.virtual.exchange import STANDARD_EXCHANGE_TYPES

from jobsim._time import SECOND, to_datetime
from jobsim.errors import InvalidArgument, UnsupportedFeature

from ._canvas import declare_options

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
        declare_options(self.world, self.rt, name, {"link": link, "link_error": link_error, "chain": chain,
                                                    "chord": chord})  # fmt: skip
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
        _check_reach(now_dt, countdown, expires)  # expires: the task's own too
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
        exchange = getattr(exchange, "name", exchange)  # a route may give a kombu Exchange
        if queue is None and exchange is None:
            queue = amqp.default_queue
        qname = queue if isinstance(queue, str) else getattr(queue, "name", None) or app.conf.task_default_queue
        queue_exchange = getattr(queue, "exchange", None)
        if (not exchange or not routing_key) and getattr(queue_exchange, "type", "direct") == "direct":
            exchange, routing_key = "", qname  # amqp.send_task_message: the anonymous exchange, to the queue
        elif exchange is None:
            exchange = getattr(queue_exchange, "name", "") or amqp.default_exchange.name
            routing_key = routing_key or queue.routing_key or app.conf.task_default_routing_key
        if exchange:  # the broker delivers by the exchange's bindings, whatever queue the route named
            qname = _bound_queue(app, name, exchange, routing_key)
        signals.before_task_publish.send(
            sender=name, body=body, exchange=exchange, routing_key=routing_key, declare=[],
            headers=headers, properties=properties, retry_policy=dict(app.conf.task_publish_retry_policy),
        )  # fmt: skip
        content_type, content_encoding, data = serialization.dumps(body, serializer)  # type: ignore[no-untyped-call]
        accept = _accepted(app, name, serializer, content_type, content_encoding, data)
        self._tag += 1
        message = Message(  # type: ignore[no-untyped-call]
            body=data, delivery_tag=self._tag, content_type=content_type, content_encoding=content_encoding,
            delivery_info={"exchange": exchange, "routing_key": routing_key, "redelivered": False},
            properties=properties, headers=headers, accept=accept,
        )  # fmt: skip
        signals.after_task_publish.send(sender=name, body=body, exchange=exchange, routing_key=routing_key)
        return message, qname


_UNREADABLE = (
    "a real worker could not read it: it would reject the message (InvalidTaskError, "
    "celery/worker/request.py) and the task would never run"
)


def _bound_queue(app: Any, name: str, exchange: str, routing_key: str) -> str:
    """The queue the broker delivers a message published to ``exchange`` with ``routing_key``: the one of the
    app's queues (``task_queues``, as the worker declares them) whose binding matches, by kombu's own exchange
    types. None or several (a fanout or topic exchange copying it to each) are refused: a real broker would
    deliver it to no queue a worker reads, or a worker on each queue would run the task."""
    bound: list[tuple[str, str, str]] = []  # (exchange type, binding key, queue)
    for queue in app.amqp.queues.values():
        bindings = [(queue.exchange, queue.routing_key)] + [(b.exchange, b.routing_key) for b in queue.bindings]
        bound += [(ex.type, key or "", queue.name) for ex, key in bindings if ex is not None and ex.name == exchange]
    kind = bound[0][0] if bound else "direct"
    if kind not in STANDARD_EXCHANGE_TYPES:
        raise UnsupportedFeature(
            f"task {name!r} was sent to the {kind!r} exchange {exchange!r}: jobsim-celery routes through direct, topic "
            "and fanout exchanges only; route the task to its queue instead (task_routes {'queue': ...} or "
            "apply_async(queue=...))", system="Celery", feature="exchange type",
        )  # fmt: skip
    rules = STANDARD_EXCHANGE_TYPES[kind](None)  # type: ignore[no-untyped-call]
    table = [rules.prepare_bind(queue, exchange, key, None) for _, key, queue in bound]  # type: ignore[no-untyped-call]
    queues = sorted(rules.lookup(table, exchange, routing_key, None))  # type: ignore[no-untyped-call]
    where = f"task {name!r} was sent to exchange {exchange!r} with routing key {routing_key!r}"
    if not queues:
        raise InvalidArgument(
            f"{where}, and no queue of the app is bound to them (app.conf.task_queues: "
            f"{sorted(app.amqp.queues)}): the broker would deliver it to no queue a worker reads (RabbitMQ drops it, "
            "kombu's Redis transport parks it in 'ae.undeliver') and the task would never run. Bind a queue to it in "
            "task_queues (Queue(name, Exchange(...), routing_key=...)) or route the task with a queue"
        )
    if len(queues) > 1:
        raise UnsupportedFeature(
            f"{where}, which the broker copies to {len(queues)} queues ({queues}): a worker on each would run the "
            "task, with one id; jobsim-celery delivers a message to one queue. Route the task to one queue "
            "(task_routes {'queue': ...} or apply_async(queue=...))", system="Celery", feature="exchange fan-out",
        )  # fmt: skip
    return str(queues[0])


def _accepted(app: Any, name: str, serializer: str, content_type: str, content_encoding: str, data: Any) -> Any:
    """The content types the worker's consumer accepts (``amqp.TaskConsumer``: ``accept_content``), which the
    message decodes with; a message it would not decode is refused here, at the call."""
    accept = serialization.prepare_accept_content(app.conf.accept_content)  # type: ignore[no-untyped-call]
    try:
        serialization.loads(data, content_type, content_encoding, accept=accept)  # type: ignore[no-untyped-call]
    except ContentDisallowed:
        raise InvalidArgument(
            f"task {name!r} is serialized with {serializer!r} ({content_type}), which the worker's "
            f"app.conf.accept_content {list(app.conf.accept_content or [])!r} does not accept: a real worker would "
            "refuse to decode the message (kombu's ContentDisallowed) and the task would never run. Add "
            f"{serializer!r} to accept_content, or send it with a serializer accept_content lists (task_serializer, "
            "the task's serializer=, or apply_async(serializer=...))"
        ) from None
    return accept


def _check_timing(countdown: Any, eta: Any, expires: Any) -> None:
    """Refuse at the call what Celery would only fail on later, or deep inside ``create_task_message``.

    A ``countdown`` that is not a number fails in ``amqp.as_task_v2`` with a bare
    ``TypeError``; an ``eta``/``expires`` string that is not ISO 8601 is sent as is,
    and the worker's ``Request`` refuses the message: work silently lost.
    """
    if countdown is not None and (isinstance(countdown, bool) or not isinstance(countdown, numbers.Real)):
        hint = "; for a timedelta, countdown=delta.total_seconds()" if isinstance(countdown, dt.timedelta) else ""
        raise InvalidArgument.build("countdown", countdown, f"a number of seconds (int or float), or None{hint}")
    if countdown is not None and not math.isfinite(countdown):  # Celery's timedelta(seconds=...) overflows
        raise InvalidArgument.build("countdown", countdown, "a finite number of seconds, or None (no delay)")
    for name, value in (("eta", eta), ("expires", expires)):
        if value is None or isinstance(value, dt.datetime):
            continue
        if name == "expires" and isinstance(value, numbers.Real) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise InvalidArgument.build(name, value, "a finite number of seconds, or None (never expires)")
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


def _check_reach(now: dt.datetime, countdown: Any, expires: Any) -> None:
    """A number of seconds no instant can be: ``as_task_v2`` checks it against ``INT_MIN`` (``_verify_seconds``,
    a bare ``ValueError``) and adds it to now (``add_seconds_to_datetime``: an ``OverflowError`` past the year
    9999), both from deep inside ``create_task_message``."""
    for name, value in (("countdown", countdown), ("expires", expires)):
        if not value or isinstance(value, bool) or not isinstance(value, numbers.Real):  # `if countdown:`, as Celery
            continue
        try:
            if value < INT_MIN:
                raise OverflowError
            add_seconds_to_datetime(now, value)
        except (OverflowError, ValueError):
            raise InvalidArgument.build(name, value, f"a number of seconds from {INT_MIN} that ends by 9999-12-31 "
                                        f"(Celery adds it to now, {now.isoformat()})") from None
        except TypeError:  # a Real that timedelta() refuses: Fraction(1, 3)
            raise InvalidArgument.build(name, value, "a number of seconds (int or float), or None") from None


def seconds_ns(value: float) -> int:
    return round(value * SECOND)
