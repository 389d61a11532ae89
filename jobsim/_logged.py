"""A backend's logger that notices the jobsim errors the backend catches and only logs (``jobsim.hooks.LogWatch``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


class LogWatch:
    """Stands in for a backend's logger while a simulation runs, forwarding every call to it.

    A backend calls user code -- a signal receiver, a listener, a middleware hook -- inside ``try: ...
    except Exception: logger.exception(...)`` and goes on. A jobsim error raised there (``time.sleep`` outside
    job code, a call the simulation refuses, ``sim.advance`` from the hook) must stop the test instead: when
    the backend logs the exception it is handling (``exception()``, or any level with ``exc_info``), ``keep``
    is given it if ``jobsim.hooks.escapes`` says so, and the plugin raises it at the driving call. The log
    line is written as before, whatever the logging configuration (the check comes first)."""

    __slots__ = ("_keep", "_logger")

    def __init__(self, logger: Any, keep: Callable[[BaseException], None]) -> None:
        self._logger = logger
        self._keep = keep

    def _seen(self, exc_info: Any = True) -> None:
        from .hooks import escapes

        if isinstance(exc_info, BaseException):
            error: BaseException | None = exc_info
        elif isinstance(exc_info, tuple):
            error = exc_info[1] if len(exc_info) > 1 else None
        else:
            error = sys.exc_info()[1] if exc_info else None
        if error is not None and escapes(error):
            self._keep(error)

    def exception(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._seen(kwargs.get("exc_info", True))
        self._logger.exception(msg, *args, **kwargs)

    def _level(self, name: str) -> Callable[..., None]:
        method = getattr(self._logger, name)

        def log(msg: Any, *args: Any, **kwargs: Any) -> None:
            self._seen(kwargs.get("exc_info", False))
            method(msg, *args, **kwargs)

        return log

    def __getattr__(self, name: str) -> Any:
        if name in ("debug", "info", "warning", "warn", "error", "critical", "fatal"):
            return self._level(name)
        if name == "log":
            def log(level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
                self._seen(kwargs.get("exc_info", False))
                self._logger.log(level, msg, *args, **kwargs)

            return log
        return getattr(self._logger, name)
