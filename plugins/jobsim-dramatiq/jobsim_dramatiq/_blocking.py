"""Worker threads that can block: each actor's processing runs in a greenlet, and rate-limiter calls wait there.

An actor's body runs in one go when its message starts (``_worker``), and spends virtual time with
``time.sleep`` ahead of the simulation. That is fine for code that only reads its own clock, but not for a
thread that *blocks on another one*: ``Barrier.wait(block=True, timeout=ms)`` returns when the last party's
``wait`` clears the barrier, and that party may be a message that starts later. So each message's processing
(``SimWorker._begin`` to the actor's return, and on to its ack when that is at once) runs in a greenlet of its
own, with the thread's ``contextvars`` context, and:

* **catch-up**: a rate-limiter backend call (``add``, ``incr``, ``decr``, ``incr_and_sum``, ``wait``,
  ``wait_notify``) made by a body that has spent time first hands control back until the simulation reaches
  that instant, as jobsim-huey's workers do at the storage: the calls of every thread reach the backend in
  virtual-time order, so a ``WindowRateLimiter`` or ``ConcurrentRateLimiter`` admits exactly whom a real
  worker's threads would, and a barrier counts its parties in the order they arrive;
* **a blocking wait** (``StubBackend.wait``, ``stub.py:73-76``: ``Condition.wait(timeout / 1000)``) parks the
  greenlet until a ``wait_notify`` on the key (``True``, at that instant) or ``timeout`` ms (``False``). A
  ``RedisBackend``'s (``backends/redis.py:105-114``) reads the event list ``wait_notify`` pushed (``RPUSH`` +
  ``PEXPIRE ttl``): ``True`` at once while it lives, else at the next push, else ``False`` after
  ``timeout // 1000`` whole seconds; ``timeout=None`` blocks until a push, which here gives up with
  ``BudgetExceeded`` after ``_waits.WAIT_HORIZON`` of virtual time instead of hanging the test.

A time limit or shutdown that falls due during a wait is raised when the wait returns (a real worker's async
exception reaches a thread blocked in a C call only then); a process death ends the wait at that instant.
From the test, a blocking wait runs the simulation until it returns (``_waits.wait_until``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from greenlet import GreenletExit, getcurrent, greenlet

from jobsim._kernel import LAST
from jobsim._time import MS, SECOND, format_duration, iso
from jobsim.errors import BudgetExceeded, JobsimError, UnsupportedFeature

from ._waits import WAIT_HORIZON, instant, wait_until

if TYPE_CHECKING:
    from ._worker import Item
    from ._world import DramatiqWorld

_PARKED = object()  # what a parking greenlet hands its driver
_DONE = object()  # what a greenlet hands its driver when the message's step returned


def _runner(job: tuple[Callable[[Item], None], Item]) -> None:
    """A worker thread's greenlet: runs one message's step, then waits, idle, for the next one (``Threads.idle``)."""
    while True:
        step, item = job
        step(item)
        job = getcurrent().parent.switch(_DONE)


class Threads:
    """The greenlets of the simulated worker threads, and the waits parked in them."""

    def __init__(self, world: DramatiqWorld) -> None:
        self.world = world
        self.waiters: dict[tuple[int, str], list[Waiter]] = {}  # (id(StubBackend), key) -> its waits
        self.events: dict[tuple[int, str], tuple[Any, int]] = {}  # Redis event lists: -> (backend, expires)
        self.idle: list[Any] = []  # greenlets whose message's step returned, for the next ones
        self.parked: dict[int, Item] = {}  # id(item) -> a message whose greenlet is parked

    # -- the greenlets ---------------------------------------------------------------------------
    def start(self, item: Item, step: Callable[[Item], None]) -> None:
        """Run ``step(item)`` (the message's processing) in a greenlet with the thread's context: an idle one
        kept from a message that ended (a new greenlet costs ~10x a switch into a waiting one)."""
        glet = self.idle.pop() if self.idle else greenlet(_runner)
        glet.gr_context = item.context
        item.glet = glet
        self.drive(item, (step, item))

    def drive(self, item: Item, value: Any) -> None:
        """Switch into ``item``'s greenlet (``value``: what its park returns) until it ends or parks again. The
        execution state (``engine.x``, the running message) is the greenlet's while it runs, the caller's after."""
        glet = item.glet
        if glet is None:
            return
        world = self.world
        outside = world.thread_state()
        if item.inside is not None:
            world.set_thread_state(item.inside)
            if item.x is not None:
                world.sim.engine.move_clock(item.x.now)
        glet.parent = getcurrent()
        self.parked.pop(id(item), None)
        done = False
        try:
            done = glet.switch(value) is _DONE
        finally:
            item.inside = None if done or glet.dead else world.thread_state()
            world.set_thread_state(outside)
            if done or glet.dead:
                item.glet = None
            else:
                self.parked[id(item)] = item
            if done:
                glet.gr_context = None
                self.idle.append(glet)

    def close(self) -> None:
        """The simulation ends: greenlets still parked (a wait the test did not run the simulation through) are
        unwound now, not whenever the garbage collector reaches them -- maybe inside a later simulation."""
        for item in list(self.parked.values()):
            self.abandon(item)
        self.parked.clear()
        self.idle.clear()

    def parked_in(self) -> Item | None:
        """The message whose greenlet is running this code, if it can park (not the test, not a kernel step)."""
        item = self.world.current
        if item is None or item.glet is None or getcurrent() is not item.glet or item.x is None:
            return None
        try:  # an ``async def`` actor: its event loop is the thread's, not the greenlet's, so no other one could
            asyncio.get_running_loop()  # run while it is parked (its calls are replayed instead)
        except RuntimeError:
            return item
        return None

    def park(self, item: Item) -> Any:
        """From inside ``item``'s greenlet: hand control back to the simulation; returns what resumes it."""
        assert item.glet is not None
        return item.glet.parent.switch(_PARKED)

    def catch_up(self) -> None:
        """A body that has spent time waits until the simulation reaches its instant (see the module)."""
        item = self.parked_in()
        if item is not None:
            assert item.x is not None
            self.sleep_until(item, item.x.now)

    def sleep_until(self, item: Item, at: int) -> bool:
        """If this code runs in ``item``'s greenlet: hand control back until the simulation reaches ``at``."""
        if item.glet is None or getcurrent() is not item.glet:
            return False
        kernel = self.world.sim.kernel
        if at > kernel.now:
            kernel.schedule(at, self._resume, item, None, owner=f"{item.proxy.actor_name} (dramatiq worker thread)")
            self.park(item)
        return True

    def _resume(self, item: Item, value: Any) -> None:
        if item.crashed:  # its process died while it waited (``abandon``): no more of its code runs
            self.abandon(item)
            return
        self.drive(item, value)

    def abandon(self, item: Item) -> None:
        """``item``'s process died now (``SimWorker._cut_short``) while its greenlet was parked: the greenlet is
        unwound at this instant (its ``finally`` blocks run, as after ``ProcessDied``), and never resumed."""
        glet = item.glet
        if glet is None or glet.dead or glet is getcurrent():  # its own code found out it died: it ends itself
            return
        item.glet = None
        self.parked.pop(id(item), None)
        world, x = self.world, item.x
        outside = world.thread_state()
        if item.inside is not None:
            world.set_thread_state(item.inside)
        if x is not None:
            x.stop_at = None  # the process is gone: nothing more is interrupted
            x.now = max(x.now, world.sim.kernel.now)
            world.sim.engine.move_clock(x.now)
        glet.parent = getcurrent()
        try:
            glet.throw(GreenletExit)
        finally:
            world.set_thread_state(outside)

    # -- blocking waits --------------------------------------------------------------------------
    def wait(self, stub: Any, key: str, timeout: Any, *, redis: bool) -> bool:
        """``wait(key, timeout)`` of ``stub`` (a ``StubBackend``, or a ``RedisBackend``'s stand-in if ``redis``)."""
        if redis:
            assert timeout is None or timeout >= 1000, "wait timeouts must be >= 1000"  # redis.py:106
            seconds = (timeout or 0) // 1000
            within = None if seconds == 0 else int(seconds) * SECOND
        else:
            within = math.ceil(timeout / 1000 * SECOND)  # None / 1000: the TypeError Dramatiq raises
        self.catch_up()
        sim, slot = self.world.sim, (id(stub), key)
        now = sim.now_ns()
        if redis and self._event_lives(slot, now):
            return True  # BRPOPLPUSH on a non-empty list returns at once
        if within is not None and within <= 0:
            return False  # Condition.wait(0)
        item = self.parked_in()
        if item is None and self.world.sim.engine.x is not None:
            raise UnsupportedFeature(
                f"a blocking Barrier.wait on {key!r} in an async def actor (it would block the event loop) or in a "
                "middleware hook the simulated worker runs after the actor spent time: only a worker thread can wait "
                "for other messages here. Wait in a regular actor, or call wait(block=False)",
                system="dramatiq", feature="blocking Barrier.wait outside a worker thread",
            )  # fmt: skip
        waiter = Waiter(item)
        self.waiters.setdefault(slot, []).append(waiter)
        try:
            if item is None:
                return self._wait_outside(waiter, key, within)
            return self._wait_parked(item, waiter, key, within)
        finally:
            self.waiters[slot].remove(waiter)
            if not self.waiters[slot]:
                del self.waiters[slot]

    def _wait_parked(self, item: Item, waiter: Waiter, key: str, within: int | None) -> bool:
        """The wait of a worker thread: its greenlet parks until a notification or the timeout. A time limit or a
        shutdown that falls due meanwhile is raised when the wait returns, as on a worker, where the interrupt is
        an async exception the blocked thread only sees when the C call (``Condition.wait``'s lock, the
        ``BRPOPLPUSH`` socket read) returns; a process death ends the wait then and there."""
        x, kernel, engine = item.x, self.world.sim.kernel, self.world.sim.engine
        assert x is not None
        start = x.now
        deadline = start + (WAIT_HORIZON if within is None else within)
        kill_at = getattr(x, "kill_at", None)
        wake = deadline if kill_at is None else max(start, min(deadline, kill_at))
        owner = f"{item.proxy.actor_name} (dramatiq Barrier.wait)"
        waiter.timer = kernel.schedule(wake, self._resume, item, False, owner=owner, priority=LAST)
        notified = bool(self.park(item))
        if not notified and within is None and kernel.now >= deadline:
            raise BudgetExceeded(
                f"actor {item.proxy.actor_name!r} (message {item.proxy.message_id}) was still blocked in a "
                f"Barrier.wait on {key!r} with no timeout after {format_duration(WAIT_HORIZON)} of virtual time (since "
                f"{iso(start)}): no other party cleared the barrier. A real worker thread would hang there; pass "
                "timeout= (ms), or check the barrier's parties"
            )
        returned = kernel.now if notified else wake
        if kill_at is not None and kill_at <= returned:
            try:
                x.now = returned + 1  # the process died at kill_at: raised there (the clock at the death)
            finally:
                engine.move_clock(x.now)
        stop, x.stop_at = x.stop_at, None
        x.now = returned
        x.stop_at = stop
        engine.move_clock(returned)
        if stop is not None and stop < returned:
            raise x.stopped(returned)
        return notified

    def _wait_outside(self, waiter: Waiter, key: str, within: int | None) -> bool:
        """From the test: run the simulation until the wait returns (``_waits.wait_until``)."""
        sim = self.world.sim
        start = sim.kernel.now
        if wait_until(sim, lambda: waiter.notified, within, f"Barrier.wait on {key!r}"):
            return True
        if within is None:
            raise JobsimError(
                f"Barrier.wait on {key!r} with no timeout would wait forever: nothing pending in the simulation can "
                "clear the barrier (a real wait would hang). Pass timeout= (ms), or send the other parties first"
            )
        if sim.kernel.now < start + within:  # nothing left to run: the wait times out, as the real one would
            sim.advance_to(instant(start + within))
        return waiter.notified

    def notify(self, stub: Any, key: str, ttl: Any, *, redis: bool = False) -> None:
        """``wait_notify(key, ttl)``: every wait parked on the key returns True now (``notify_all``); on Redis the
        event list also lives for ``ttl`` ms more (``RPUSH`` + ``PEXPIRE``), for waits that start later."""
        self.catch_up()
        sim, slot = self.world.sim, (id(stub), key)
        now = sim.now_ns()
        if redis:
            self.events[slot] = (stub, now + int(ttl * MS))
        for waiter in self.waiters.get(slot, ()):
            if waiter.notified or (waiter.timer is not None and waiter.timer.due < now):
                continue  # (a notification from code that could not catch up, after this wait's timeout)
            waiter.notified = True
            if waiter.item is not None and waiter.timer is not None:
                sim.kernel.cancel(waiter.timer)
                sim.kernel.schedule(now, self._resume, waiter.item, True,
                                    owner=f"{waiter.item.proxy.actor_name} (dramatiq Barrier.wait)")  # fmt: skip

    def _event_lives(self, slot: tuple[int, str], now: int) -> bool:
        entry = self.events.get(slot)
        return entry is not None and now < entry[1]


class Waiter:
    """One blocked ``wait``: the message parked in it (None: the test), its timeout's timer, whether notified."""

    __slots__ = ("item", "notified", "timer")

    def __init__(self, item: Item | None) -> None:
        self.item = item
        self.timer: Any = None
        self.notified = False
