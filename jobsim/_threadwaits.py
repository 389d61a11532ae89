"""Job code waiting, with no timeout, on a threading primitive that nothing in the simulation can set.

A job's code runs to its end before another job's starts (a thread job of APScheduler or RQ, an Inngest-style
sync handler, an async one's blocking call): ``threading.Event().wait()``, ``queue.Queue().get()`` or a
``Condition.wait()`` for what another job would set, put or notify never returns, and the test hung with nothing
said. Every one of them waits in ``threading.Condition.wait`` (``Event.wait``, ``Queue.get``/``put``,
``Semaphore.acquire``, ``Barrier.wait``, ``concurrent.futures.Future.result``); for the length of each driving
call it is wrapped, and job code's wait with no timeout on the driving thread:

- with no other Python thread in the process, could only end by a notification that never comes: it is refused
  at once (``UnsupportedFeature``, which the driving call raises);
- with another thread (a pool the job submitted work to, ``Thread.start()`` waiting for its new thread, pytest-xdist's
  own), may be notified by it: it waits as it would, and is refused after ``REAL_WAIT_S`` seconds of real time.

A wait with a timeout waits that much real time, as before (none virtual: what could end it early is a real
thread); code outside any job (the test's own, other threads) is untouched. The wrapper is installed once for
every simulation driving at the moment, and the original put back when the last one's driving call ends.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from .errors import InvalidArgument, UnsupportedFeature

if TYPE_CHECKING:
    from ._simulation import Simulation

REAL_WAIT_ENV = "JOBSIM_REAL_WAIT"
REAL_WAIT_S = 10.0
"""Seconds of real time job code's wait with no timeout may last while another thread could end it."""

_lock = threading.Lock()
_driving: list[Simulation] = []
_original: Any = None  # ``threading.Condition.wait`` while wrapped
_limit = REAL_WAIT_S  # ``real_wait()`` as the last driving call began


def guard(sim: Simulation, limit: float) -> None:
    """``sim`` starts a driving call: job code's waits with no timeout are watched until ``unguard(sim)``, each
    for ``limit`` seconds of real time at most while another thread could end it (``real_wait()``, read by the
    caller before it does anything: a bad ``JOBSIM_REAL_WAIT`` is refused there)."""
    global _original, _limit
    with _lock:
        _limit = limit
        _driving.append(sim)
        if len(_driving) == 1:
            _original = vars(threading.Condition)["wait"]
            threading.Condition.wait = _wait  # type: ignore[method-assign]


def unguard(sim: Simulation) -> None:
    global _original
    with _lock:
        if sim in _driving:
            _driving.remove(sim)
        if not _driving and _original is not None:
            if vars(threading.Condition).get("wait") is _wait:
                threading.Condition.wait = _original  # type: ignore[method-assign]
            _original = None


def _wait(self: threading.Condition, timeout: float | None = None) -> bool:
    original = _original or vars(threading.Condition)["wait"]
    if timeout is not None:
        return bool(original(self, timeout))
    sim = next((sim for sim in list(_driving) if sim.in_job_code()), None)
    if sim is None:
        return bool(original(self, None))
    limit = _limit
    if threading.active_count() > 1 and original(self, limit):
        return True
    raise _refusal(sim, limit, threading.active_count() > 1)


def real_wait() -> float:
    """``REAL_WAIT_S``, or the environment's ``JOBSIM_REAL_WAIT`` (seconds, more than 0)."""
    given = os.environ.get(REAL_WAIT_ENV, "").strip()
    if not given:
        return REAL_WAIT_S
    try:
        seconds = float(given)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 1e9:
        raise InvalidArgument.build(REAL_WAIT_ENV, given, "seconds of real time job code's wait with no timeout may "
                                    "last while another thread could end it, more than 0 (unset: 10)")  # fmt: skip
    return seconds


def _refusal(sim: Simulation, limit: float, others: bool) -> UnsupportedFeature:
    x = sim.engine.x
    who = f"job code of function {x.run_.function.id!r}" if x is not None else "job code"
    what = _waiting_call()
    why = (f"nothing ended it in {limit:g} s of real time ({REAL_WAIT_ENV} sets how long)" if others
           else "no other thread exists to end it")  # fmt: skip
    return UnsupportedFeature(
        f"{who} waits with no timeout in {what}, and {why}: in a simulation a job's code runs to its end before "
        "another job's starts, so a wait for what another job sets, puts or notifies would never end. Set or fill "
        "it before the job runs, coordinate the jobs through the backend (APScheduler's max_instances, one job "
        "invoking the other, ctx.step.wait_for_event), or give the wait a timeout (it then waits that much real time)"
    )


def _waiting_call() -> str:
    """The call job code made that waits here (the outermost frame of ``threading``, ``queue`` or
    ``concurrent.futures`` above ``_wait``): ``threading.Event.wait()``, ``queue.Queue.get()``..."""
    frame: Any = sys._getframe(3)  # 0 this, 1 _refusal, 2 _wait, 3 its caller
    found = "threading.Condition.wait()"
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module not in ("threading", "queue") and not module.startswith("concurrent.futures"):
            break
        code = frame.f_code
        name = getattr(code, "co_qualname", None)  # 3.11+
        if name is None:
            owner = frame.f_locals.get("self")
            name = code.co_name if owner is None else f"{type(owner).__name__}.{code.co_name}"
        found = f"{module}.{name}()"
        frame = frame.f_back
    return found
