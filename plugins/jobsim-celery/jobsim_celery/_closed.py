"""A Celery app a simulation ran refuses to reach its broker after the simulation closed, until ``release``.

While the simulation runs, the app's own ``send_task`` (an instance attribute) publishes to the simulated
worker; at the close Celery's is back, and the same ``charge.delay(2)`` -- a helper called after the ``with``
block -- would reach the app's real broker: a developer's local Redis (where a worker may run it), or 19 s of
reconnecting then a ``RuntimeError``. So the close leaves a refusal in its place (``closed_send_task``), a
``JobsimError`` naming the simulation and where it was started. So it does for what else opens a broker
connection (``app.connection()``, ``connection_for_read/_write``, ``connection_or_acquire``: Celery's
``_connection`` and ``_acquire_connection``) and for remote control (``app.control.broadcast``, which
``inspect()`` and every command use, ``purge``): refused while the simulation ran, they reached the real broker
after it (``refuse_after``). A new simulation of the app replaces them while it runs (``reopen``);
``release(app)`` (``jobsim_celery.release``) removes them for real use.
"""

from __future__ import annotations

from typing import Any

from jobsim.errors import InvalidArgument, JobsimError
from jobsim.hooks import HeldBy


def closed_send_task(app: Any, sim: Any) -> Any:
    """The ``send_task`` an app keeps after ``sim`` closed: it refuses, naming ``sim``."""
    holder = HeldBy(sim)

    def send_task(name: str, *args: Any, **kwargs: Any) -> Any:
        raise _closed_error(app, holder, f"sending task {name!r}", "Send it")

    send_task._jobsim_closed = True  # type: ignore[attr-defined]
    return send_task


def _closed_error(app: Any, holder: HeldBy, what: str, do: str) -> JobsimError:
    from kombu.utils.url import maybe_sanitize_url  # a password in the URL would reach the error

    broker = maybe_sanitize_url(app.conf.broker_url) or "amqp://localhost"
    return JobsimError(
        f"Celery app {app.main or 'default'!r} was run by a simulation that has closed ({holder}): {what} would "
        f"reach its real broker ({broker}). {do} inside the `with` block; to use this app with its real broker "
        "after the simulation, call jobsim_celery.release(app) first"
    )  # fmt: skip


_CONNECTING = ("_connection", "_acquire_connection")
"""``Celery`` methods every broker connection an app opens goes through (``_patches._refuse_sending``)."""
_CONTROL = ("broadcast", "purge", "discard_all")


def refuse_after(app: Any, sim: Any) -> None:
    """``sim`` closed: ``app``'s broker connections and remote control refuse, naming it (an instance attribute of
    the app's own is left alone). A connection is refused as it connects, not as it is made: an eager app's
    ``delay()`` acquires a producer, whose connection never connects, and must still run."""
    holder = HeldBy(sim)
    connecting = ("connecting to its broker (app.connection(), connection_for_read/_write, connection_or_acquire, "
                  "app.pool)")  # fmt: skip
    for name in _CONNECTING:
        if name not in vars(app):
            app.__dict__[name] = _lazy_refusal(app, getattr(type(app), name), holder, connecting)
    for name in _CONTROL:
        if name not in vars(app.control):
            app.control.__dict__[name] = _refusal(app, holder, "remote control (app.control)")


def _lazy_refusal(app: Any, make: Any, holder: HeldBy, what: str) -> Any:
    """Celery's ``_connection``/``_acquire_connection``, whose kombu ``Connection`` refuses to connect while ``app``
    holds the refusals (a pooled one connects as usual once ``release`` took them away)."""
    refusal = _refusal(app, holder, what)

    def connection(*args: Any, **kwargs: Any) -> Any:
        conn = make(app, *args, **kwargs)

        def establish() -> Any:
            if is_closed(app.__dict__.get("_connection")):
                refusal()
            del conn.__dict__["_establish_connection"]
            return conn._establish_connection()

        conn._establish_connection = establish
        return conn

    connection._jobsim_closed = True  # type: ignore[attr-defined]
    return connection


def _refusal(app: Any, holder: HeldBy, what: str) -> Any:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise _closed_error(app, holder, what, "Do it")

    refused._jobsim_closed = True  # type: ignore[attr-defined]
    return refused


def reopen(app: Any) -> None:
    """A new simulation of ``app`` starts, or ``release``: the refusals ``refuse_after`` left are taken away."""
    for owner in (app, app.control):
        for name, value in list(vars(owner).items()):
            if name != "send_task" and is_closed(value):
                del owner.__dict__[name]


def is_closed(send_task: Any) -> bool:
    return bool(getattr(send_task, "_jobsim_closed", False))


def release(app: Any) -> None:
    """Let a Celery app a closed simulation ran send to its real broker again."""
    from celery import Celery

    if not isinstance(app, Celery):
        raise InvalidArgument.build("app", app, "a Celery app (a task's is task.app)")
    if is_closed(app.__dict__.get("send_task")):
        del app.__dict__["send_task"]
    reopen(app)
