"""What stands in for a worker thread's interruptions: ``TimeLimit`` and ``ShutdownNotifications``.

Both middlewares interrupt an actor by raising an exception in its worker thread
(``PyThreadState_SetAsyncExc``, ``dramatiq/threading.py:62-90``) from a helper: TimeLimit's
``_CtypesTimeoutManager`` thread checks deadlines every ``interval`` ms
(``middleware/time_limit.py:100-139``), ShutdownNotifications' manager raises ``Shutdown`` when
the worker stops (``middleware/shutdown.py:115-133``). Here the middlewares' own code still
decides *whether* and *when* (``TimeLimit.before_process_message`` computes the limit from the
message's, the actor's or its own ``time_limit``, ``middleware/time_limit.py:89-92``); only their
``manager`` is replaced, by one that arms the actor's virtual clock: the call that would spend
virtual time across the deadline (``time.sleep``, ``asyncio.sleep``, a slow HTTP answer) raises
``TimeLimitExceeded`` with the clock at the deadline (``jobsim.hooks.StoppableExecution``).
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

from jobsim._time import MS, iso
from jobsim.errors import _init_or_name_keyword
from jobsim.hooks import StoppableExecution

if TYPE_CHECKING:
    from ._world import DramatiqWorld


class DramatiqExecution(StoppableExecution):
    """An actor's execution on a simulated worker thread: its clock stops at its time limit or at a shutdown.

    Each interruption fires once, as ``raise_thread_exception`` sets one async exception
    (the manager forgets the deadline when it fires, ``middleware/time_limit.py:118``): code
    that catches ``TimeLimitExceeded`` runs on with no limit.
    """

    __slots__ = ("kill_at", "killed", "limit_at", "notify", "shutdown_at")

    def __init__(self, engine: Any, run: Any, attempt: int, start: int) -> None:
        self.limit_at: int | None = None
        self.shutdown_at: int | None = None
        self.kill_at: int | None = None  # the worker process dies then (``_crash``): the code stops for good
        self.killed = False
        self.notify = False
        super().__init__(engine, run, attempt, start)

    def rearm(self) -> None:
        stops = [self.limit_at, self.kill_at]
        if self.notify:
            stops.append(self.shutdown_at)
        armed = [t for t in stops if t is not None]
        self.stop_at = min(armed) if armed else None

    def kill(self, at: int) -> None:
        """The process running this execution dies at ``at`` (the earliest death planned wins)."""
        if self.kill_at is None or at < self.kill_at:
            self.kill_at = at
            self.rearm()

    def stopped(self, at: int) -> BaseException:
        from dramatiq.middleware import Shutdown, TimeLimitExceeded

        self.engine.move_clock(at)  # a handler of the interrupt reads this instant
        if self.kill_at is not None and at >= self.kill_at:
            self.killed = True  # stop_at stays armed: a dead process runs no further code
            return ProcessDied(f"the worker process died at {iso(at)}")
        if self.notify and self.shutdown_at is not None and at >= self.shutdown_at:
            self.shutdown_at = None
            self.rearm()
            return Shutdown()  # type: ignore[no-any-return]
        self.limit_at = None
        self.rearm()
        return TimeLimitExceeded()  # type: ignore[no-any-return]


class ProcessDied(BaseException):
    """Raised where a killed worker's actor would spend virtual time past the instant its process died.

    A ``BaseException`` (not an ``Exception``) so ordinary ``except Exception`` handlers in actor code let it
    through; whatever the code does after catching it, the simulated worker ignores (``killed``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _init_or_name_keyword(self, super().__init__, args, kwargs)  # a keyword is named, not a bare TypeError


class VirtualTimeouts:
    """``TimeLimit.manager`` while a simulation runs: ``add_timeout(thread_id, ttl)`` arms the executing actor."""

    def __init__(self, world: DramatiqWorld, replaces: Any) -> None:
        self.world = world
        self.replaces = replaces

    def start(self) -> None:
        """``after_process_boot`` starts the checking thread; there is none here."""

    def add_timeout(self, thread_id: int, ttl: float) -> None:
        x = self.world.execution()
        if x is None:
            return
        # ``monotonic() + ttl / 1000`` (time_limit.py:135); ``float("inf")`` never fires
        x.limit_at = None if math.isinf(ttl) else x.now + math.ceil(ttl * MS)
        x.rearm()

    def remove_timeout(self, thread_id: int) -> None:
        x = self.world.execution()
        if x is not None:
            x.limit_at = None
            x.rearm()


class VirtualShutdown:
    """``ShutdownNotifications.manager``: remembers which executing actors asked to be notified of a shutdown."""

    def __init__(self, world: DramatiqWorld, replaces: Any) -> None:
        self.world = world
        self.replaces = replaces

    def add_notification(self) -> None:
        x = self.world.execution()
        if x is not None:
            x.notify = True
            x.rearm()

    def remove_notification(self) -> None:
        x = self.world.execution()
        if x is not None:
            x.notify = False
            x.rearm()

    def shutdown(self) -> None:
        """The worker stopping raises ``Shutdown`` in notified actors: ``SimWorker.stop`` arms them at its instant."""


class LoopThread:
    """``get_event_loop_thread()`` for an ``async def`` actor of a broker with the ``AsyncIO`` middleware.

    Dramatiq runs the coroutine on its event-loop thread and waits for it (``asyncio.py:120-189``);
    an interrupt cancels the coroutine and re-raises once its clean-up ran. Here it runs with
    ``asyncio.run`` inside the driving call, where jobsim's wall-clock bridge makes every new
    loop a virtual one: ``asyncio.sleep`` spends the actor's virtual time, the time limit
    interrupts the loop's wait at the deadline, and ``asyncio.run`` cancels the task (its
    ``finally`` blocks run) before the ``TimeLimitExceeded`` leaves, as on a worker.
    """

    def run_coroutine(self, coro: Any) -> Any:
        return asyncio.run(coro)

    def is_alive(self) -> bool:
        return True
