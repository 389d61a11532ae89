"""Blocking barriers and window rate limiters in actor code, in virtual time (``_blocking``, ``_limiters``)."""

from __future__ import annotations

import logging
import time

import dramatiq
import pytest
from dramatiq.middleware import TimeLimitExceeded
from dramatiq.rate_limits import Barrier, WindowRateLimiter
from dramatiq.rate_limits.backends import RedisBackend, StubBackend
from dramatiq_support import START, START_NS, ms, now_ms, starts
from hypothesis import example, given, settings
from hypothesis import strategies as st

import jobsim
from jobsim.errors import BudgetExceeded, JobsimError


@pytest.fixture(autouse=True)
def _quiet():
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


def backend_for(server: bool):
    return RedisBackend(host="127.0.0.1", port=1) if server else StubBackend()


# -- Barrier.wait(block=True) ------------------------------------------------------------------------------


@pytest.mark.parametrize("server", [False, True])
def test_a_blocking_barrier_returns_when_the_last_party_arrives_in_virtual_time(broker, server):
    """A blocking ``Barrier.wait`` on a ``StubBackend`` waited on a real ``threading.Condition`` for ``timeout``
    real seconds (nothing else could run meanwhile) and returned False. Each party now waits in virtual time: A
    (which slept 10 s, its body run first) and B (at 2 s) are released at 12 s by C, the last party, and every
    ``wait`` returns True then; the actors end at 12 s, with no real time spent waiting."""
    backend = backend_for(server)
    released = []

    @dramatiq.actor(max_retries=0)
    def party(name, seconds):
        time.sleep(seconds)
        released.append((name, Barrier(backend, "report-7", ttl=600_000).wait(timeout=300_000), now_ms()))

    with jobsim.Simulation(dramatiq.Worker(broker, worker_threads=3), start=START) as sim:
        assert Barrier(backend, "report-7", ttl=600_000).create(parties=3)
        party.send("A", 10)
        party.send_with_options(args=("B", 0), delay=2_000)
        party.send_with_options(args=("C", 0), delay=12_000)
        began = time.monotonic()
        sim.run_until_idle()
        assert time.monotonic() - began < 60  # a real wait would take 300 s; room for a loaded machine
        assert sorted(released) == [("A", True, 12_000), ("B", True, 12_000), ("C", True, 12_000)]
        assert [(starts(r), ms(r.attempts[0].end_ns)) for r in sim.runs(party)] == [
            ([0], 12_000), ([2_000], 12_000), ([12_000], 12_000)]


@pytest.mark.parametrize("server", [False, True])
def test_a_blocking_barrier_times_out_after_its_virtual_timeout(broker, server):
    """Two of three parties arrive: each ``wait`` returns False ``timeout`` after it began (the Redis backend
    counts whole seconds, ``(timeout or 0) // 1000``, so 90.5 s is 90 s there), and the virtual clock moved by
    that, not the real one."""
    backend = backend_for(server)
    released = []

    @dramatiq.actor(max_retries=0)
    def party(name):
        released.append((name, Barrier(backend, "nightly").wait(timeout=90_500), now_ms()))

    with jobsim.Simulation(dramatiq.Worker(broker, worker_threads=2), start=START) as sim:
        assert Barrier(backend, "nightly").create(parties=3)
        party.send("A")
        party.send_with_options(args=("B",), delay=1_000)
        began = time.monotonic()
        sim.run_until_idle()
        assert time.monotonic() - began < 60  # a real wait would take 90.5 s
        timeout = 90_000 if server else 90_500
        assert released == [("A", False, timeout), ("B", False, 1_000 + timeout)]
        assert sim.now_ns() - START_NS == (1_000 + timeout) * 1_000_000


def test_a_barrier_party_after_a_sleep_counts_in_virtual_order(broker):
    """Parties that sleep before they reach the barrier arrive in virtual-time order, whatever order their bodies
    ran in: A's body runs first and reaches the barrier at 9 s, after B (3 s) and C (5 s); C is not the last
    party, A is, and nobody waits for a timeout."""
    backend = StubBackend()
    seen = []

    @dramatiq.actor(max_retries=0)
    def party(name, seconds):
        time.sleep(seconds)
        seen.append((name, Barrier(backend, "b").wait(timeout=60_000), now_ms()))

    with jobsim.Simulation(dramatiq.Worker(broker, worker_threads=3), start=START) as sim:
        assert Barrier(backend, "b").create(parties=3)
        party.send("A", 9)
        party.send("B", 3)
        party.send("C", 5)
        sim.run_until_idle()
        assert seen == [("A", True, 9_000), ("B", True, 9_000), ("C", True, 9_000)]


@pytest.mark.parametrize("released", [False, True])
def test_a_time_limit_lands_when_a_blocking_wait_returns(broker, released):
    """TimeLimit interrupts an actor with an async exception, which a thread blocked in ``Condition.wait`` (or in
    ``BRPOPLPUSH``'s socket read) only sees once that C call returns: a 20 s limit on a wait of 60 s raises
    ``TimeLimitExceeded`` at 60 s, or at 30 s when the other party releases the barrier then."""
    backend = StubBackend()

    @dramatiq.actor(max_retries=0, time_limit=20_000)
    def party():
        Barrier(backend, "slow").wait(timeout=60_000)

    @dramatiq.actor(max_retries=0)
    def other():
        Barrier(backend, "slow").wait(block=False)

    with jobsim.Simulation(dramatiq.Worker(broker, worker_threads=2), start=START) as sim:
        assert Barrier(backend, "slow").create(parties=2)
        party.send()
        if released:
            other.send_with_options(delay=30_000)
        sim.run_until_idle()
        attempt = sim.runs(party)[0].attempts[0]
        assert isinstance(attempt.error, TimeLimitExceeded) and ms(attempt.end_ns) == (30_000 if released else 60_000)


@pytest.mark.parametrize("how", ["crash", "stop timeout"])
def test_a_worker_process_dying_during_a_blocking_wait_ends_it_there(how):
    """A worker process that dies while an actor waits at a barrier -- a crash planned before the message started,
    or a stop whose 2 s ``timeout`` runs out (the process exits with the message) -- ends the wait at that
    instant: the attempt ends with ``WorkerCrashed`` then, and the actor's ``finally`` runs then (as after any
    simulated death), not when the wait would have timed out."""
    from dramatiq.brokers.redis import RedisBroker

    redis_broker = RedisBroker(url="redis://127.0.0.1:1/0")
    backend = RedisBackend(host="127.0.0.1", port=1)
    ended = []

    @dramatiq.actor(broker=redis_broker, max_retries=0)
    def party():
        try:
            Barrier(backend, "b").wait(timeout=60_000)
        finally:
            ended.append(now_ms())

    with jobsim.Simulation(dramatiq.Worker(redis_broker, worker_threads=1), start=START) as sim:
        assert Barrier(backend, "b").create(parties=2)
        party.send()
        if how == "crash":
            sim.dramatiq.crash_worker(at="2025-03-01T00:00:05Z", restart=None)
        else:
            sim.dramatiq.stop_worker(at="2025-03-01T00:00:05Z", timeout=2_000)
        sim.run_until_idle()
        died = 5_000 if how == "crash" else 7_000
        attempt = sim.runs(party)[0].attempts[0]
        assert isinstance(attempt.error, jobsim.WorkerCrashed) and ms(attempt.end_ns) == died
        assert ended == [died]


def test_an_async_actor_limits_by_replay_and_cannot_block_at_a_barrier(broker):
    """An ``async def`` actor runs on an event loop its greenlet cannot leave (the loop belongs to the thread):
    its window acquires are kept and replayed in instant order instead of waiting, and a blocking
    ``Barrier.wait`` there is refused by name (on a worker it would block the event loop)."""
    import asyncio

    from dramatiq.middleware import AsyncIO

    broker.add_middleware(AsyncIO())
    backend = StubBackend()
    window = WindowRateLimiter(backend, "hooks", limit=1, window=60)
    admitted = []

    @dramatiq.actor(max_retries=0)
    async def hook(name, seconds):
        await asyncio.sleep(seconds)
        with window.acquire(raise_on_failure=False) as acquired:
            admitted.append((name, now_ms(), acquired))

    @dramatiq.actor(max_retries=0)
    async def gather():
        Barrier(backend, "g").wait(timeout=10_000)

    with jobsim.Simulation(broker, start=START) as sim:
        hook.send("A", 1)
        hook.send_with_options(args=("B", 0), delay=2_000)
        sim.run_until_idle()
        assert admitted == [("A", 1_000, True), ("B", 2_000, False)]
        assert Barrier(backend, "g").create(parties=2)
        gather.send()
        with pytest.raises(jobsim.errors.UnsupportedFeature, match=r"Barrier.wait on 'g@events' in an async def"):
            sim.run_until_idle()


def test_a_blocking_wait_from_the_test_runs_the_simulation(broker):
    """From the test, ``Barrier.wait(block=True)`` runs the simulation until the actors clear the barrier (True,
    at that instant), or for its timeout (False)."""
    backend = StubBackend()

    @dramatiq.actor
    def party():
        Barrier(backend, "export").wait(block=False)

    with jobsim.Simulation(broker, start=START) as sim:
        barrier = Barrier(backend, "export")
        assert barrier.create(parties=3)
        party.send_with_options(delay=4_000)
        party.send_with_options(delay=7_000)
        assert barrier.wait(timeout=60_000) is True
        assert ms(sim.now_ns()) == 7_000
        assert barrier.create(parties=2) is False  # still there: Barrier.create is an add
        lone = Barrier(backend, "lone")
        assert lone.create(parties=2)
        assert lone.wait(timeout=30_000) is False
        assert ms(sim.now_ns()) == 37_000


def test_a_wait_that_nothing_can_release_ends_with_a_jobsim_error(broker):
    """No timeout: on a Redis backend ``BRPOPLPUSH`` with timeout 0 blocks for ever, so an actor's wait no party
    clears gives up with ``BudgetExceeded`` after 366 days of virtual time, and the test's with ``JobsimError`` at
    once; on a ``StubBackend`` ``timeout=None`` is Dramatiq's own ``TypeError`` (``None / 1000``), and a Redis
    ``timeout`` under 1 s its ``AssertionError``."""
    backend = RedisBackend(host="127.0.0.1", port=1)

    @dramatiq.actor(max_retries=0)  # the default 10-minute time limit cannot reach a blocked thread (above)
    def party():
        Barrier(backend, "never").wait()

    with jobsim.Simulation(broker, start=START) as sim:
        assert Barrier(backend, "never").create(parties=2)
        party.send()
        with pytest.raises(BudgetExceeded, match=r"Barrier.wait on 'never@events' with no timeout after 366d"):
            sim.run_until_idle()
    with jobsim.Simulation(broker, start=START):
        barrier = Barrier(backend, "alone")
        assert barrier.create(parties=2)
        with pytest.raises(JobsimError, match=r"with no timeout would wait forever"):
            barrier.wait()
        other = Barrier(backend, "other")
        assert other.create(parties=2)
        with pytest.raises(AssertionError, match="wait timeouts must be >= 1000"):
            other.wait(timeout=500)
        stub_barrier = Barrier(StubBackend(), "stub")
        assert stub_barrier.create(parties=2)
        with pytest.raises(TypeError):
            stub_barrier.wait()


def test_a_redis_event_list_outlives_the_notification_for_its_ttl(broker):
    """On Redis ``wait_notify`` pushes to a list that lives ``ttl`` ms (``RPUSH`` + ``PEXPIRE``): a ``wait`` on
    it within that returns True at once, after it blocks; on a ``StubBackend`` a notification no one was waiting
    for is gone (``Condition.notify_all``)."""
    redis_backend, stub = RedisBackend(host="127.0.0.1", port=1), StubBackend()
    with jobsim.Simulation(broker, start=START) as sim:
        redis_backend.wait_notify("job@events", 10_000)
        stub.wait_notify("job@events", 10_000)
        sim.advance(5)
        assert redis_backend.wait("job@events", 2_000) is True and ms(sim.now_ns()) == 5_000
        assert stub.wait("job@events", 2_000) is False and ms(sim.now_ns()) == 7_000
        sim.advance(3)
        assert redis_backend.wait("job@events", 2_000) is False and ms(sim.now_ns()) == 12_000


# -- WindowRateLimiter -------------------------------------------------------------------------------------


@pytest.mark.parametrize("server", [False, True])
def test_a_window_limiter_admits_limit_per_window_and_rolls_over_on_the_virtual_second(broker, server):
    """``WindowRateLimiter(limit=2, window=10)`` counts one bucket per ``int(time.time())`` second and sums the
    last 10: at 0 s and 1 s two get in, 5 s and 9.999 s are refused, at 10.000 s the 0 s bucket has left the
    window (one gets in), at 10.5 s the window is full again and at 11 s the 1 s bucket leaves it."""
    backend = backend_for(server)
    window = WindowRateLimiter(backend, "sms", limit=2, window=10)
    admitted = []

    @dramatiq.actor(max_retries=0)
    def sms(at):
        with window.acquire(raise_on_failure=False) as acquired:
            admitted.append((at, acquired))

    with jobsim.Simulation(dramatiq.Worker(broker, worker_threads=8), start=START) as sim:
        for at in (0, 1_000, 5_000, 9_999, 10_000, 10_500, 11_000):
            sms.send_with_options(args=(at,), delay=at)
        sim.run_until_idle()
    assert admitted == [(0, True), (1_000, True), (5_000, False), (9_999, False), (10_000, True), (10_500, False),
                        (11_000, True)]  # fmt: skip


def test_a_window_acquire_after_a_sleep_counts_the_acquires_before_it(broker):
    """A ``WindowRateLimiter`` acquire made after ``time.sleep`` by a body that ran first was checked against a
    store that did not hold the acquires other messages made earlier in virtual time, and its bucket value was
    written as a plain number: at 5.5 s A got in although B (4.2 s) and C (5 s) had filled the window. Acquires
    now reach the backend in virtual order: B and C get in, A is refused."""
    backend = StubBackend()
    window = WindowRateLimiter(backend, "calls", limit=2, window=3)
    admitted = []

    @dramatiq.actor(max_retries=0)
    def call(name, seconds):
        time.sleep(seconds)
        with window.acquire(raise_on_failure=False) as acquired:
            admitted.append((name, now_ms(), acquired))

    with jobsim.Simulation(dramatiq.Worker(broker, worker_threads=3), start=START) as sim:
        call.send("A", 5.5)
        call.send_with_options(args=("B", 0), delay=4_200)
        call.send_with_options(args=("C", 0), delay=5_000)
        sim.run_until_idle()
    assert admitted == [("B", 4_200, True), ("C", 5_000, True), ("A", 5_500, False)]


def test_a_window_acquired_from_the_test_follows_the_virtual_clock(broker):
    """From the test, between driving calls, the window's buckets are virtual seconds too: ``window.py`` read the
    real ``time.time()`` there, so every acquire of a test fell in one real-second bucket, which only its ttl
    (virtual) let go. With ``window=2`` the 0 s bucket leaves the window at 2.000 s, while its key lives until
    2.5 s (``ttl`` = the window, from the acquire at 0.5 s)."""
    backend = StubBackend()
    window = WindowRateLimiter(backend, "api", limit=1, window=2)

    def acquire() -> bool:
        with window.acquire(raise_on_failure=False) as acquired:
            return acquired

    with jobsim.Simulation(broker, start=START) as sim:
        admitted = []
        for at in ("00:00:00.500", "00:00:01.999", "00:00:02.000", "00:00:02.100"):
            sim.advance_to(f"2025-03-01T{at}Z")
            admitted.append(acquire())
        assert admitted == [True, False, True, False]


def test_versions_replay_window_acquires_in_instant_order():
    """``Versions.incr_and_sum`` kept as a conditional operation: acquires recorded out of instant order (code the
    simulation runs outside a worker thread's greenlet) are replayed with the sums of their own instants, and
    each bucket reads what applying every acquire in instant order gives."""
    from jobsim_dramatiq._limiters import Versions

    class Backend:
        def __init__(self):
            self.db = {}

    now = [0]
    versions = Versions(Backend(), lambda: now[0] * 1_000_000, 0)

    def acquire(at_ms: int) -> bool:
        now[0] = at_ms
        second = at_ms // 1000
        names = [f"k@{second - i}" for i in range(3)]
        return versions.incr_and_sum(names[0], lambda: names, 1, 2, 3_000)

    assert acquire(5_500) is True  # recorded first, as the only one
    assert acquire(4_200) is True
    assert acquire(5_000) is True
    now[0] = 5_600
    assert [versions.get(f"k@{s}", 0) for s in (4, 5)] == [1, 1]  # the 5.5 s acquire does not count on replay
    assert acquire(5_700) is False
    now[0] = 7_000
    assert acquire(7_000) is True  # the 4 s bucket has left the window


def _window_fold(acquires, at_ms, limit, window):
    """``WindowRateLimiter`` on Dramatiq's ``StubBackend`` (``window.py:53-67``, ``stub.py:59-91``) applied to
    ``acquires`` (instants in ms) in instant order, from scratch, up to ``at_ms``: each bucket's value (None once
    its ttl has passed) -- the reference for ``Versions.incr_and_sum``."""
    buckets = {}  # second -> (value, expires ms)

    def value(second, now):
        count, expires = buckets.get(second, (None, 0))
        return count if now < expires else None

    for when in sorted(acquires):
        if when > at_ms:
            break
        second = when // 1000
        current = value(second, when) or 0
        total = 1 + sum(value(second - i, when) or 0 for i in range(window))
        if current + 1 <= limit and total <= limit:
            buckets[second] = (current + 1, when + window * 1000)
    return {second: value(second, at_ms) for second in buckets}


@settings(max_examples=150, deadline=None)
@example([1000, 2000, 0], 1, 2, [2000])  # 2 s was refused against 1 s until 0 s refused 1 s: then 2 s passes
@given(st.lists(st.integers(0, 9_000), max_size=20), st.integers(1, 3), st.integers(1, 4),
       st.lists(st.integers(0, 14_000), min_size=1, max_size=5))  # fmt: skip
def test_versions_window_acquires_read_what_a_fold_from_scratch_reads(acquires, limit, window, reads):
    """Window acquires arriving in any order (code outside a worker thread) are replayed with the sums of their own
    instants: every bucket reads what applying the acquires in instant order gives, also after an acquire is
    inserted before later ones whose sums read its bucket."""
    from jobsim_dramatiq._limiters import Versions

    class Backend:
        def __init__(self):
            self.db = {}

    now = [0]
    versions = Versions(Backend(), lambda: now[0] * 1_000_000, 0)
    for when in acquires:
        now[0] = when
        names = [f"k@{when // 1000 - i}" for i in range(window)]
        versions.incr_and_sum(names[0], lambda names=names: names, 1, limit, window * 1000)
    for at in reads:
        expected = _window_fold(acquires, at, limit, window)
        now[0] = at
        touched = sorted({when // 1000 for when in acquires})  # a refused acquire's bucket too: it must read empty
        assert [versions.get(f"k@{second}", None) or None for second in touched] == [
            expected.get(second) for second in touched]
