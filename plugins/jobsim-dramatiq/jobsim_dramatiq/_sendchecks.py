"""What a send is refused for before it reaches the broker: option values Dramatiq's middleware would fail on
only as the message is processed, where a real worker logs the error and acks the message (``_world.enqueue``)."""

from __future__ import annotations

import math
from typing import Any

from jobsim.errors import InvalidArgument

_NUMBERS = {
    "max_retries": "a number of retries, or None (retry forever)",
    "min_backoff": "a number of milliseconds",
    "max_backoff": "a number of milliseconds",
    "time_limit": "a number of milliseconds",
    "max_age": "a number of milliseconds",
}
"""Options Retries, TimeLimit and AgeLimit compute with (``middleware/*.py``), the message's and the actor's."""


def check_send_options(message: Any, actor: Any) -> None:
    """What the middleware would fail on only when the message is processed: a real worker logs a ``TypeError`` or
    ``ValueError`` from a hook and acks the message (no retry) or fails it before the actor runs. Refused at the
    send, naming the option."""
    for option, accepted in _NUMBERS.items():
        for value in (message.options.get(option), actor.options.get(option) if actor is not None else None):
            number = value is None or (isinstance(value, int | float) and not isinstance(value, bool)
                                       and not math.isnan(value))  # fmt: skip
            if not number:
                raise InvalidArgument.build(option, value, f"{accepted} (Dramatiq's middleware computes with it when "
                                            "the message is processed)")  # fmt: skip
    _check_throws(message, actor)


def _check_throws(message: Any, actor: Any) -> None:
    """``throws`` (the message's, else the actor's) goes to ``isinstance(error, throws)`` when the actor fails
    (``worker.py``, ``middleware/retries.py``): anything but an exception class or a tuple of them raises
    ``TypeError`` there, and a worker then acks the failed message without a retry. Refused at the send."""
    throws = message.options.get("throws") or (actor.options.get("throws") if actor is not None else None)
    if not throws:
        return
    classes = throws if isinstance(throws, tuple) else (throws,)
    if not all(isinstance(cls, type) and issubclass(cls, BaseException) for cls in classes):
        raise InvalidArgument.build("throws", throws, "an exception class or a tuple of them, e.g. throws=(ValueError,)"
                                    ": Dramatiq checks isinstance(error, throws) when the actor fails")  # fmt: skip
