"""What a send is refused for before it reaches the broker: option values Dramatiq's middleware would fail on
only as the message is processed, where a real worker logs the error and acks the message (``_world.enqueue``)."""

from __future__ import annotations

import functools
import math
import types
import typing
from typing import Any

from jobsim.errors import InvalidArgument

_NUMBERS = {
    "max_retries": "a number of retries, or None (retry forever)",
    "min_backoff": "a number of milliseconds",
    "max_backoff": "a number of milliseconds",
    "time_limit": "a number of milliseconds",
    "max_age": "a number of milliseconds, or None (no limit)",
}
"""Options Retries, TimeLimit and AgeLimit compute with (``middleware/*.py``), the message's and the actor's."""

_NONE_IS_FINE = ("max_retries", "max_age")
"""Retries skips the count for a None ``max_retries``, AgeLimit returns on a falsy ``max_age``; Retries' backoffs
(``min(None, ...)``) and TimeLimit (``None / 1000``) raise ``TypeError`` on a None."""

_OR = ("time_limit", "max_age")
"""Read ``message.options.get(o) or actor.options.get(o, default)``; the Retries options are read
``message.options.get(o, actor.options.get(o, default))``: a message's value, even None, hides the actor's."""

_UNSET = object()


def _effective(option: str, message: Any, actor: Any) -> Any:
    """The value the middleware computes with, as it picks it; ``_UNSET``: the middleware's own default."""
    actor_value = actor.options.get(option, _UNSET) if actor is not None else _UNSET
    if option in _OR:
        return message.options.get(option) or actor_value
    return message.options.get(option, actor_value)


_MIDDLEWARE = {"max_retries": "Retries", "min_backoff": "Retries", "max_backoff": "Retries",
               "time_limit": "TimeLimit", "max_age": "AgeLimit"}  # fmt: skip
"""The middleware that reads each option: on a broker without it, nothing does (nothing to refuse)."""


def check_send_options(message: Any, actor: Any, middleware: list[Any]) -> None:
    """What the middleware would fail on only when the message is processed: a real worker logs a ``TypeError`` or
    ``ValueError`` from a hook and acks the message (no retry) or fails it before the actor runs. Refused at the
    send, naming the option: the value the middleware would use, so an actor's bad default a message overrides is
    not refused (Dramatiq never reads it), nor one no middleware of the broker reads."""
    import dramatiq.middleware

    for option, accepted in _NUMBERS.items():
        reader = getattr(dramatiq.middleware, _MIDDLEWARE[option])
        if not any(isinstance(m, reader) for m in middleware):
            continue
        value = _effective(option, message, actor)
        if value is _UNSET or (value is None and option in _NONE_IS_FINE):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise InvalidArgument.build(option, value, f"{accepted} (Dramatiq's middleware computes with it when "
                                        "the message is processed)")  # fmt: skip
    _check_throws(message, actor)
    _check_spelling(message, middleware)


def _check_throws(message: Any, actor: Any) -> None:
    """``throws`` (the message's, else the actor's) goes to ``isinstance(error, throws)`` when the actor fails
    (``worker.py``, ``middleware/retries.py``): anything but a class, a tuple of them (nested too) or a union
    ``X | Y`` raises ``TypeError`` there (a class that is not an exception is refused too: it never matches),
    and a worker then acks the failed message without a retry. Refused at the send."""
    throws = message.options.get("throws") or (actor.options.get("throws") if actor is not None else None)
    if not throws:
        return
    if not all(isinstance(cls, type) and issubclass(cls, BaseException) for cls in _classes(throws)):
        raise InvalidArgument.build("throws", throws, "an exception class or a tuple of them, e.g. throws=(ValueError,)"
                                    ", or a union (ValueError | KeyError): Dramatiq checks isinstance(error, throws) "
                                    "when the actor fails")  # fmt: skip


def _classes(throws: Any) -> list[Any]:
    """What ``isinstance(error, throws)`` tests against: a class, a tuple (nested too) or a union ``X | Y``."""
    if isinstance(throws, tuple):
        return [cls for item in throws for cls in _classes(item)]
    if isinstance(throws, types.UnionType) or typing.get_origin(throws) is typing.Union:
        return _classes(typing.get_args(throws))
    return [throws]


_CARRIED = frozenset({
    "eta", "retries", "traceback", "requeue_timestamp", "redis_message_id", "broker_priority", "pipe_target",
    "group_completion_callbacks", "group_completion_uuid", "store_results", "result_ttl", "dead_message_ttl",
})
"""Message options Dramatiq's own code writes or reads besides the middleware's ``actor_options`` (``broker.py``,
``brokers/*.py``, ``composition.py``, ``middleware/retries.py``, ``results/middleware.py``)."""


@functools.cache
def _dramatiqs_options() -> frozenset[str]:
    """The options Dramatiq's own middleware classes declare as class attributes (a broker without TimeLimit still
    knows the word ``time_limit``), and those Dramatiq's code carries."""
    import dramatiq.middleware
    from dramatiq.results import Results

    classes = [c for c in vars(dramatiq.middleware).values() if isinstance(c, type)] + [Results]
    declared = [getattr(cls, "actor_options", ()) for cls in classes]
    return frozenset(o for options in declared if isinstance(options, set | frozenset | tuple | list)
                     for o in options if isinstance(o, str)) | _CARRIED  # fmt: skip


def _known_options(middleware: list[Any]) -> set[str]:
    """Every option a middleware of the broker declares, and those of ``_dramatiqs_options``."""
    return {o for m in middleware for o in getattr(m, "actor_options", ())} | _dramatiqs_options()


def _check_spelling(message: Any, middleware: list[Any]) -> None:
    """Dramatiq carries any message option (``Actor.message_with_options``: "arbitrary options"), so a misspelt one
    (``max_retry=0``) is never read and the message runs as if it were not given, in production too. An option
    nothing knows that is spelt like one a middleware reads is refused, naming it; any other is the app's own."""
    from jobsim._checks import closest_keyword

    known = _known_options(middleware)
    for option, value in message.options.items():
        if option in known:
            continue
        meant = closest_keyword(option, sorted(known))
        if meant is not None:
            raise InvalidArgument(
                f"send_with_options() got the option {option}={value!r}, which no middleware reads (did you mean "
                f"{meant}=?): Dramatiq carries an option it does not know unread, so the message would run as if it "
                "were not given; an option of your own middleware reads is declared in that middleware's "
                "actor_options"
            )  # fmt: skip
