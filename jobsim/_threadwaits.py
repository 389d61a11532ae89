"""Job code waiting on a threading primitive that nothing in the simulation can set, notify or fill.

A job's code runs to its end before another job's starts (a thread job of APScheduler or RQ, an Inngest-style
sync handler, an async one's blocking call): ``threading.Event().wait()``, ``queue.Queue().get()`` or a
``Condition.wait()`` for what another job would set, put or notify never returns, and the test hung with nothing
said; a polling loop of timed waits (``while time.monotonic() < deadline: if stop.wait(0.5): ...``) spent real
time and none virtual, so its deadline never came. Every one of them waits in ``threading.Condition.wait``
(``Event.wait``, ``Queue.get``/``put``/``join``, ``Semaphore.acquire``, ``Barrier.wait``,
``concurrent.futures.Future.result`` and ``wait``); for the length of each driving call it is wrapped, and job
code's wait on the driving thread:

- a timed wait waits in real time as it would (a thread may end it; the standard library's loops around it,
  ``Queue.get(timeout=...)``'s, count its deadline on the real clock), and one that times out then spends its
  timeout of virtual time too, as ``time.sleep`` does: a loop polling a deadline on job code's clock ends;
- one with no timeout, with no other Python thread in the process, can never end: it is refused at once
  (``UnsupportedFeature``, which the driving call raises); with another thread (a pool the job submitted work
  to, ``Thread.start()`` waiting for its new thread, an application's or a library's own), which may end it,
  it waits as it would, and is refused after ``JOBSIM_REAL_WAIT`` of real time (10 s; ``inf``: no limit).

Code outside any job (the test's own, other threads) is untouched. The wrapper is installed once for every
simulation driving at the moment, and the original put back when the last one's driving call ends.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from ._time import SECOND, duration_ns
from .errors import InvalidArgument, UnsupportedFeature

if TYPE_CHECKING:
    from ._simulation import Simulation

REAL_WAIT_ENV = "JOBSIM_REAL_WAIT"
REAL_WAIT_S = 10.0
"""Seconds of real time job code's wait with no timeout may last while another thread could end it (``inf``: no
limit)."""

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
    __tracebackhide__ = True  # pytest: the refusal points at the job's call, not at this wrapper
    original = _original or vars(threading.Condition)["wait"]
    if timeout is not None and not 0 < timeout < math.inf:  # no wait at all (0, negative, NaN): as it is
        if timeout != math.inf:
            return bool(original(self, timeout))
        timeout = None
    sim = next((sim for sim in list(_driving) if sim.in_job_code()), None)
    if sim is None:
        return bool(original(self, timeout))
    others = threading.active_count() > 1  # read once: the other thread may end while this waits
    if timeout is None:
        limit = _limit
        if others and original(self, None if limit == math.inf else limit):
            return True
        raise _refusal(sim, limit, others)
    if original(self, timeout):
        return True
    sim.wallclock.spend(timeout)  # timed out: as long as a time.sleep of it, in virtual time too
    return False


def real_wait() -> float:
    """``REAL_WAIT_S``, or the environment's ``JOBSIM_REAL_WAIT``: seconds (``10``, ``2.5``), a duration
    (``10s``, ``2min``), or ``inf`` for no limit."""
    given = os.environ.get(REAL_WAIT_ENV, "").strip()
    if not given:
        return REAL_WAIT_S
    if given.lower() in ("inf", "infinity"):
        return math.inf
    try:
        seconds = float(given)
    except ValueError:
        try:
            seconds = duration_ns(given) / SECOND
        except InvalidArgument:
            seconds = -1.0
    if not 0 < seconds < 1e9:
        raise InvalidArgument.build(REAL_WAIT_ENV, given, "how long job code's wait with no timeout may last in real "
                                    "time while another thread could end it: seconds (10), a duration ('10s', "
                                    "'2min'), or inf for no limit; more than 0 (unset: 10)")  # fmt: skip
    return seconds


def _refusal(sim: Simulation, limit: float, others: bool) -> UnsupportedFeature:
    x = sim.engine.x
    who = f"job code of function {x.run_.function.id!r}" if x is not None else "job code"
    refusal = _refusal_of(who, _waiting_call(), limit, others)
    return refusal if x is None else x.refused(refusal)  # raised by the driving call though job code catches it


def _refusal_of(who: str, what: str, limit: float, others: bool) -> UnsupportedFeature:
    if others:
        return UnsupportedFeature(
            f"{who} waits with no timeout in {what}, and nothing ended it in {limit:g} s of real time: if a thread "
            f"of the job's own (a pool's worker) is still at work, let it have longer ({REAL_WAIT_ENV}=60, or inf for "
            "no limit); if it waits for what another job sets, puts or notifies, that never comes: in a simulation "
            "a job's code runs to its end before another job's starts. Set or fill it before the job runs, "
            "coordinate the jobs through the backend (one job triggering the other, a scheduler's max_instances), or "
            "give the wait a timeout (one that times out spends its timeout of virtual time too)"
        )
    return UnsupportedFeature(
        f"{who} waits with no timeout in {what}, and no other thread exists to end it: in a simulation a job's code "
        "runs to its end before another job's starts, so a wait for what another job sets, puts or notifies would "
        "never end. Set or fill it before the job runs, coordinate the jobs through the backend (one job "
        "triggering the other, a scheduler's max_instances), or give the wait a timeout (one that times out spends "
        "its timeout of virtual time too)"
    )


def _waiting_call() -> str:
    """The call job code made that waits here (the outermost frame of ``threading``, ``queue`` or
    ``concurrent.futures`` above ``_wait``), by its public name: ``threading.Event.wait()``,
    ``queue.LifoQueue.get()``, ``concurrent.futures.Future.result()``..."""
    frame: Any = sys._getframe(3)  # 0 this, 1 _refusal, 2 _wait, 3 its caller
    found = "threading.Condition.wait()"
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module not in ("threading", "queue") and not module.startswith("concurrent.futures"):
            break
        owner = frame.f_locals.get("self")
        name = frame.f_code.co_name
        if owner is not None:
            module, name = type(owner).__module__, f"{type(owner).__qualname__}.{name}"
        found = f"{_public(module)}.{name}()"
        frame = frame.f_back
    return found


def _public(module: str) -> str:
    """``concurrent.futures._base`` as ``concurrent.futures``: the package that exports it."""
    parts = module.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and i:
            return ".".join(parts[:i])
    return module
