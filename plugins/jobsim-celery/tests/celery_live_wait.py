"""Polling helpers for the live tests: wait for a condition rather than a fixed time."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest


def process_gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie has: it can run nothing more)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def wait_until(what: str, check: Callable[[], bool], worker: Any, seconds: float = 15) -> None:
    """Poll ``check`` every 20 ms; fail naming ``what`` after ``seconds`` or if the worker exits."""
    deadline = time.monotonic() + seconds
    while not check():
        worker.check()
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds} s for {what}")
        time.sleep(0.02)
