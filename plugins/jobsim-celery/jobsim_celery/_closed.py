"""A Celery app a simulation ran refuses to send after the simulation closed, until ``release``.

While the simulation runs, the app's own ``send_task`` (an instance attribute) publishes to the simulated
worker; at the close Celery's is back, and the same ``charge.delay(2)`` -- a helper called after the ``with``
block -- would reach the app's real broker: a developer's local Redis (where a worker may run it), or 19 s of
reconnecting then a ``RuntimeError``. So the close leaves a refusal in its place (``closed_send_task``), a
``JobsimError`` naming the simulation and where it was started. A new simulation of the app replaces it while it
runs; ``release(app)`` (``jobsim_celery.release``) removes it for real use.
"""

from __future__ import annotations

from typing import Any

from jobsim.errors import InvalidArgument, JobsimError
from jobsim.hooks import HeldBy


def closed_send_task(app: Any, sim: Any) -> Any:
    """The ``send_task`` an app keeps after ``sim`` closed: it refuses, naming ``sim``."""
    holder = HeldBy(sim)

    def send_task(name: str, *args: Any, **kwargs: Any) -> Any:
        from kombu.utils.url import maybe_sanitize_url  # a password in the URL would reach the error

        broker = maybe_sanitize_url(app.conf.broker_url) or "amqp://localhost"
        raise JobsimError(
            f"Celery app {app.main or 'default'!r} was run by a simulation that has closed ({holder}): sending task "
            f"{name!r} would reach its real broker ({broker}). Send it inside the `with` block; to use this app with "
            "its real broker after the simulation, call jobsim_celery.release(app) first"
        )  # fmt: skip

    send_task._jobsim_closed = True  # type: ignore[attr-defined]
    return send_task


def is_closed(send_task: Any) -> bool:
    return bool(getattr(send_task, "_jobsim_closed", False))


def release(app: Any) -> None:
    """Let a Celery app a closed simulation ran send to its real broker again."""
    from celery import Celery

    if not isinstance(app, Celery):
        raise InvalidArgument.build("app", app, "a Celery app (a task's is task.app)")
    if is_closed(app.__dict__.get("send_task")):
        del app.__dict__["send_task"]
