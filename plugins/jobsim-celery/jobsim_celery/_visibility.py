"""The broker's visibility timeout: when a message a worker holds unacknowledged is delivered again.

Redis (kombu 5.7 ``transport/redis.py``) emulates acknowledgements: ``QoS.append`` scores each delivered
message's tag in the ``unacked_index`` sorted set with the time the worker fetched it (a ``ZADD``: a message
delivered again under the same tag gets the new time), ``ack``/``reject`` remove it, and ``QoS.restore_visible``
pushes back on its queue every entry scored ``visibility_timeout`` (3600 s) or more ago, marked
``redelivered``, with the delivery tag it had (it is in the stored payload). A worker scans once when it starts
polling (``on_poll_init``) and then on every ``unacked_restore_throttle``-th (10) call of a timer firing every
``unacked_restore_interval`` (10) seconds; ``unacked_restore_limit`` caps the entries one scan restores (the
newest first). Nothing in kombu or the worker drops a second copy of a message the worker already holds: a
``countdown``/``eta`` task waits on the worker's timer unacknowledged, so one due more than a visibility timeout
after it was fetched comes back, again and again, and every copy runs at its ETA.

SQS does it on the server: a received message is invisible for ``visibility_timeout`` (kombu's default 1800 s),
then visible again, and the polling worker receives it at once under a new receipt handle. A message rejected
with ``requeue=True`` is not sent again either: kombu's ``Channel._put`` sees the ``redelivered`` mark
``_restore`` puts on it and calls ``change_message_visibility`` with ``VisibilityTimeout=wait_time_seconds``
(the transport option, default 10), so the stored body, unflagged, comes back that long after the reject.

``Visibility`` reads an app's broker and transport options (refusing values kombu could not use);
``Redelivery`` is the part of ``CeleryWorld`` that holds the unacknowledged index and sends the copies.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import TYPE_CHECKING, Any

from jobsim._time import SECOND
from jobsim.errors import InvalidArgument

if TYPE_CHECKING:
    from jobsim import Simulation

    from ._worker import Held
    from ._world import AppRuntime

REDIS_SCHEMES = ("redis", "rediss", "sentinel", "redis+socket", "valkey", "valkeys")
WHY = "visibility_timeout"


@dataclasses.dataclass(slots=True)
class Visibility:
    """How one app's broker gives unacknowledged messages back: ``kind`` is ``"redis"``, ``"sqs"`` or ``None``
    (AMQP, memory, ...: only when the connection drops). Instants in ns."""

    kind: str | None
    timeout: int = 0
    period: int = 0  # between two restore_visible scans (Redis)
    limit: int | None = None  # unacked_restore_limit
    origin: int = 0  # the instant the worker started polling: its first scan
    requeue: int = 0  # how long a message rejected with requeue=True stays hidden (SQS: wait_time_seconds)

    def sweep_after(self, due: int) -> int:
        """The first scan strictly after ``due`` (or the worker's start, if ``due`` is before it)."""
        if due < self.origin:
            return self.origin
        return self.origin + ((due - self.origin) // self.period + 1) * self.period

    def restored_at(self, fetched: int) -> int:
        """When a message fetched at ``fetched`` and never acknowledged is delivered again."""
        due = fetched + self.timeout
        return self.sweep_after(due) if self.kind == "redis" else due

    def restart(self, at: int) -> None:
        """The worker died at ``at`` and a new one starts there: on Redis it scans then, and every period after."""
        if self.kind == "redis":
            self.origin = at

    def after_crash(self, fetched: int, crashed: int) -> int:
        """When the broker gives a message a worker that died at ``crashed`` held to the restarted worker."""
        if self.kind == "redis":
            return self.restored_at(fetched)
        if self.kind == "sqs":
            return max(crashed, fetched + self.timeout)
        return crashed  # AMQP: requeued when the connection drops


def visibility(app: Any, now: int) -> Visibility:
    """The app's broker, read from ``broker_url`` and ``broker_transport_options`` as kombu reads them."""
    scheme = (app.conf.broker_url or "amqp://").split("://", 1)[0].split("+", 1)[0].lower()
    kind = "redis" if scheme in REDIS_SCHEMES else "sqs" if scheme == "sqs" else None
    if kind is None:
        return Visibility(None)
    options = app.conf.broker_transport_options or {}
    if not isinstance(options, dict):
        raise InvalidArgument.build("app.conf.broker_transport_options", options, "a dict of kombu transport options")
    timeout = _seconds(options, "visibility_timeout", 3600 if kind == "redis" else 1800)
    if timeout <= 0:
        raise InvalidArgument.build(
            "broker_transport_options['visibility_timeout']", options["visibility_timeout"],
            "a number of seconds > 0, above the longest countdown/ETA and task run time: with 0 or less the broker "
            "hands every unacknowledged message out again at each scan, so each would run without end",
        )  # fmt: skip
    if kind == "sqs":
        return Visibility(kind, timeout=timeout, origin=now, requeue=_wait_time(options))
    interval = _seconds(options, "unacked_restore_interval", 10)
    if interval <= 0:  # kombu's Transport.register_with_event_loop falls back to the default
        interval = 10 * SECOND
    throttle = _count(options, "unacked_restore_throttle", 10, "0 or 1 scans at every call")
    limit = _count(options, "unacked_restore_limit", None, "None restores every overdue message")
    if limit == 0:
        raise InvalidArgument.build(
            "broker_transport_options['unacked_restore_limit']", 0, "None (no limit) or an int >= 1: with 0 kombu's "
            "restore_visible asks Redis for no entries (ZRANGE ... LIMIT 0 0), so unacknowledged messages would "
            "never come back",
        )  # fmt: skip
    return Visibility(kind, timeout=timeout, period=interval * (throttle or 1), limit=limit, origin=now)


def _seconds(options: dict[str, Any], key: str, default: float) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InvalidArgument.build(
            f"broker_transport_options[{key!r}]", value,
            f"a number of seconds (default {default}); kombu compares it with time() and would fail",
        )  # fmt: skip
    return round(float(value) * SECOND)


def _wait_time(options: dict[str, Any]) -> int:
    """SQS's ``wait_time_seconds`` (kombu's default 10): the ``WaitTimeSeconds`` of each ``ReceiveMessage``, which
    SQS takes from 0 to 20, and the ``VisibilityTimeout`` of a requeued message, which boto3 takes as an int.
    kombu (``Channel.wait_time_seconds``) checks neither: what is refused here fails on AWS, not in kombu."""
    value = options.get("wait_time_seconds", 10)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 20:
        raise InvalidArgument.build(
            "broker_transport_options['wait_time_seconds']", value,
            "an int from 0 to 20 (default 10). kombu 5.7 passes it on unchecked, so a real worker fails only at the "
            "AWS call: it is the WaitTimeSeconds of each SQS ReceiveMessage, which SQS refuses unless it is an "
            "integer from 0 to 20 (the worker's first poll fails), and the VisibilityTimeout of a message rejected "
            "with requeue=True, which boto3 refuses unless it is an int",
        )  # fmt: skip
    return value * SECOND


def _count(options: dict[str, Any], key: str, default: int | None, zero: str) -> int | None:
    value = options.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument.build(f"broker_transport_options[{key!r}]", value,
                                    f"an int >= 0 (default {default}; {zero})")  # fmt: skip
    return value


class Redelivery:
    """Part of ``CeleryWorld``: the broker's index of unacknowledged ETA messages, and the copies it sends."""

    sim: Simulation
    pending: dict[str, Held]

    if TYPE_CHECKING:  # CeleryWorld's own (``_world.py``)

        def _receive(self, rt: AppRuntime, held: Held) -> None: ...

    def holding_eta(self, held: Held, eta: int) -> None:
        """The worker put ``held`` on its timer until ``eta``: its broker may hand it out again before then."""
        rt = held.rt
        vis = rt.visibility
        if vis.kind is None:
            return
        rt.unacked[held.message.delivery_tag] = (held.fetched, held)
        self._watch(rt, held.message.delivery_tag, vis.restored_at(held.fetched), eta)

    def settled(self, held: Held) -> None:
        """A copy of ``held``'s message was acknowledged or rejected: the broker forgets its tag."""
        held.rt.unacked.pop(held.message.delivery_tag, None)

    def forget_unacked(self, rt: AppRuntime, tags: set[Any]) -> None:
        """The worker died: its messages come back by the crash's rules (``_crashes``), not these scans."""
        for tag in tags:
            rt.unacked.pop(tag, None)

    def _watch(self, rt: AppRuntime, tag: Any, at: int, eta: int) -> None:
        if at >= eta:  # due (and acknowledged as it starts) before the broker would restore it
            return
        tags = rt.scans.get(at)
        if tags is None:
            tags = rt.scans[at] = {}
            self.sim.kernel.schedule(at, self._scan, rt, at, owner="celery visibility timeout", priority=0)
        tags[tag] = eta

    def _scan(self, rt: AppRuntime, at: int) -> None:
        """``QoS.restore_visible`` at ``at`` (Redis), or the instant SQS shows the message again."""
        vis = rt.visibility
        watched = rt.scans.pop(at)
        overdue = [(rt.unacked[tag][0], tag) for tag in watched
                   if tag in rt.unacked and rt.unacked[tag][0] + vis.timeout <= at]  # fmt: skip
        overdue.sort(key=lambda entry: entry[0], reverse=True)  # ZRANGE ... BYSCORE REV: the newest first
        keep = overdue if vis.limit is None else overdue[: vis.limit]
        for _, tag in overdue[len(keep):]:  # over the limit: still overdue at the next scan
            self._watch(rt, tag, at + vis.period, watched[tag])
        for _, tag in keep:
            self._hand_out(rt, rt.unacked[tag][1], at, watched[tag])

    def _hand_out(self, rt: AppRuntime, held: Held, at: int, eta: int) -> None:
        from ._crashes import redelivered
        from ._worker import Held

        message = redelivered(held.message, flag=rt.visibility.kind == "redis")  # SQS sets no flag
        again = Held(rt, message, held.queue, held.run, at)
        rt.unacked[message.delivery_tag] = (at, again)  # so a copy is never sent twice at one scan
        self.pending[again.task_id] = again
        self.sim.trace.add(at, "celery.redeliver", {
            "task": message.headers["task"], "id": again.task_id, "due": at,
            "run": again.task_id if held.run is not None else None, "why": WHY,
        })  # fmt: skip
        self.sim.kernel.schedule(at, self._receive, rt, again, owner=message.headers["task"])
