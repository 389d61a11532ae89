"""TimeLimit, AgeLimit, SkipMessage and Shutdown at their virtual instants."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import dramatiq
import pytest
from dramatiq.middleware import Middleware, Shutdown, SkipMessage, TimeLimitExceeded
from dramatiq_support import START, ms, now_ms, starts
from hypothesis import given, settings
from hypothesis import strategies as st

import jobsim


@pytest.fixture(autouse=True)
def _quiet():
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


def test_the_time_limit_raises_in_the_actor_at_the_virtual_deadline(broker):
    seen = []

    @dramatiq.actor(time_limit=10_000, max_retries=1, min_backoff=1_000)
    def export():
        start = now_ms()
        try:
            time.sleep(30)  # one call across the deadline: it stops there
        except TimeLimitExceeded:
            seen.append((start, now_ms()))
            raise

    with jobsim.Simulation(broker, start=START, seed=1) as sim:
        export.send()
        sim.run_until_idle()
        run = sim.runs(export)[0]
        first_retry = starts(run)[1]
        assert seen == [(0, 10_000), (first_retry, first_retry + 10_000)]
        assert [ms(a.end_ns) - ms(a.start_ns) for a in run.attempts] == [10_000, 10_000]
        assert all(isinstance(a.error, TimeLimitExceeded) for a in run.attempts)  # an ordinary, retried failure
        assert 1_000 <= first_retry - 10_000 < 2_000  # the retry's backoff counts from the end of the attempt
        assert run.status == "failed"


def test_the_default_time_limit_is_ten_minutes(broker):
    @dramatiq.actor(max_retries=0)
    def report():
        for _ in range(20):
            time.sleep(60)

    with jobsim.Simulation(broker, start=START) as sim:
        report.send()
        sim.run_until_idle()
        attempt = sim.runs(report)[0].attempts[0]
        assert ms(attempt.end_ns) == 600_000 and isinstance(attempt.error, TimeLimitExceeded)


def test_the_message_option_wins_and_inf_means_no_limit(broker):
    @dramatiq.actor(time_limit=1_000, max_retries=0)
    def job(seconds):
        time.sleep(seconds)
        return "done"

    with jobsim.Simulation(broker, start=START) as sim:
        job.send_with_options(args=(5,), time_limit=10_000)
        job.send_with_options(args=(3600,), time_limit=float("inf"))
        job.send(2)
        sim.run_until_idle()
        assert [(r.status, ms(r.end_ns)) for r in sim.runs(job)] == [
            ("completed", 5_000), ("completed", 3_600_000), ("failed", 1_000)]


def test_a_caught_time_limit_fires_once_then_the_actor_runs_on(broker):
    @dramatiq.actor(time_limit=1_000)
    def stubborn():
        with contextlib.suppress(TimeLimitExceeded):
            time.sleep(5)
        time.sleep(10)  # no second interrupt: the manager forgot the deadline (time_limit.py:118)
        return now_ms()

    with jobsim.Simulation(broker, start=START) as sim:
        stubborn.send()
        sim.run_until_idle()
        assert sim.runs(stubborn)[0].output == 11_000


def test_an_async_actor_is_interrupted_at_its_deadline_and_its_finally_runs(broker):
    from dramatiq.middleware import AsyncIO

    broker.add_middleware(AsyncIO())
    cleaned = []

    @dramatiq.actor(time_limit=2_500, max_retries=0)
    async def crawl():
        try:
            for _ in range(10):
                await asyncio.sleep(1)
        finally:
            cleaned.append(now_ms())

    with jobsim.Simulation(broker, start=START) as sim:
        crawl.send()
        sim.run_until_idle()
        attempt = sim.runs(crawl)[0].attempts[0]
        assert cleaned == [2_500] and ms(attempt.end_ns) == 2_500
        assert isinstance(attempt.error, TimeLimitExceeded)


def test_an_async_actor_without_the_asyncio_middleware_fails_as_on_dramatiq(broker):
    @dramatiq.actor(max_retries=0)
    async def nap():
        await asyncio.sleep(1)

    with jobsim.Simulation(broker, start=START) as sim:
        nap.send()
        sim.run_until_idle()
        error = sim.runs(nap)[0].error
        assert isinstance(error, RuntimeError) and "AsyncIO middleware" in str(error)  # asyncio.py:64-68


def test_a_message_older_than_max_age_is_skipped_and_dead_lettered(broker):
    from dramatiq.results import Results
    from dramatiq.results.backends import StubBackend

    broker.add_middleware(Results(backend=StubBackend()))

    @dramatiq.actor(max_age=60_000, store_results=True)
    def notify(user):
        return user

    with jobsim.Simulation(broker, start=START) as sim:
        late = notify.send_with_options(args=("u1",), delay=60_000)  # exactly max_age old: too old (>=)
        fresh = notify.send_with_options(args=("u2",), delay=59_999)
        sim.run_until_idle()
        too_old, young = sim.dramatiq.run(late), sim.dramatiq.run(fresh)
        assert (too_old.status, too_old.attempts, ms(too_old.end_ns)) == ("skipped", [], 60_000)
        assert isinstance(too_old.error, SkipMessage) and str(too_old.error) == "Message age limit exceeded"
        assert (young.status, young.output) == ("completed", "u2")
        assert [d.run_id for d in sim.dramatiq.dead_letters] == [too_old.id]
        with pytest.raises(Exception, match="actor raised SkipMessage: Message age limit exceeded"):
            late.get_result()  # Results.after_nack stored it (results/middleware.py:113-117)


def test_the_age_of_a_retry_counts_from_the_first_send(broker):
    @dramatiq.actor(max_age=10_000, max_retries=10, min_backoff=2_000, max_backoff=2_000)
    def stale():
        raise ValueError("again")

    with jobsim.Simulation(broker, start=START, seed=3) as sim:
        stale.send()
        sim.run_until_idle()
        run = sim.runs(stale)[0]
        assert run.status == "skipped" and all(s < 10_000 for s in starts(run))
        assert ms(run.end_ns) >= 10_000 and len(run.attempts) >= 5  # each wait is 1-2 s (max_backoff x U[.5, 1))


def test_a_middleware_skipping_a_message_without_failing_it_acks_it(broker):
    class Maintenance(Middleware):
        def before_process_message(self, broker, message):
            raise SkipMessage("in maintenance")

    broker.add_middleware(Maintenance())

    @dramatiq.actor
    def work():
        raise AssertionError("never called")

    with jobsim.Simulation(broker, start=START) as sim:
        work.send()
        sim.run_until_idle()
        run = sim.runs(work)[0]
        assert (run.status, run.attempts, broker.dead_letters) == ("skipped", [], [])


def test_stopping_the_worker_interrupts_notified_actors_and_requeues_the_rest():
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(host="127.0.0.1", port=1)
    log = []

    @dramatiq.actor(broker=broker, notify_shutdown=True, min_backoff=1_000, max_backoff=1_000)
    def migrate():
        log.append(("migrate", now_ms()))
        try:
            time.sleep(60)
        except Shutdown:
            log.append(("shutdown", now_ms()))
            raise

    @dramatiq.actor(broker=broker)
    def resize():
        log.append(("resize", now_ms()))
        time.sleep(20)

    @dramatiq.actor(broker=broker)
    def later():
        log.append(("later", now_ms()))

    worker = dramatiq.Worker(broker, worker_threads=2)
    with jobsim.Simulation(worker, start=START, seed=1) as sim:
        migrate.send()
        resize.send()
        later.send()  # prefetched, waiting for a thread
        sim.dramatiq.stop_worker(at="2025-03-01T00:00:05Z")
        sim.advance("1m")
        # a body runs in one go when it starts: the log is in execution order, its instants are virtual
        assert sorted(log, key=lambda entry: entry[1]) == [("migrate", 0), ("resize", 0), ("shutdown", 5_000)]
        assert sim.runs(migrate)[0].status == "retrying"  # Shutdown is a failure Retries retries
        assert sim.runs(later)[0].status == "queued"
        sim.dramatiq.start_worker()
        sim.run_until_idle()
        assert log[3:] == [("later", 60_000), ("migrate", 60_000)]  # requeued first, then the retry (due at 6 s)
        assert [r.status for r in sim.runs()] == ["completed", "completed", "completed"]
        assert "worker-1 stopped: 1 fetched message(s) given back to the broker" in sim.timeline()


def test_a_stub_brokers_stopped_worker_loses_its_prefetched_messages(broker):
    @dramatiq.actor
    def busy():
        time.sleep(10)

    with jobsim.Simulation(dramatiq.Worker(broker, worker_threads=1), start=START) as sim:
        busy.send()
        waiting = busy.send()
        sim.dramatiq.stop_worker(at="2025-03-01T00:00:01Z")
        sim.run_until_idle()
        lost = sim.dramatiq.run(waiting)
        assert [r.status for r in sim.runs(busy)] == ["completed", "lost"]  # _StubConsumer cannot requeue
        assert ms(lost.end_ns) == 10_000


@pytest.mark.parametrize("start", [START, "2030-01-01T00:00:00Z"])  # before and after the real clock's now
def test_a_message_built_before_the_simulation_ages_from_the_simulations_start(broker, start):
    """A message built before the simulation (a module-level or fixture ``actor.message(...)``, a pipeline built
    in a fixture) carries a real-clock ``message_timestamp`` (``message.py:84``). AgeLimit compared it with the
    virtual clock: with the simulation set in the past the message never aged, set in the future it was skipped
    at once. Like the messages a ``StubBroker`` holds at the start, it moves with the real clock to the
    simulation's start: it is as old as it was when the simulation began."""

    @dramatiq.actor(max_age=60_000)
    def notify(user):
        return user

    built_before = [notify.message("u1"), notify.message("u2"), notify.message("u3")]
    with jobsim.Simulation(broker, start=start) as sim:
        begin = sim.now_ns()
        broker.enqueue(built_before[0])  # the real time the simulation took to start old: runs
        sim.advance("30s")
        broker.enqueue(built_before[1])  # 30 s (and that time) old: under max_age, runs
        sim.advance("30s")
        broker.enqueue(built_before[2])  # 60 s old: skipped
        sim.run_until_idle()
        one, two, three = (sim.dramatiq.run(m) for m in built_before)
        # 30 s of room for that real time: at 59 s (1 s of room) a start slower than 1 s on loaded CI cores skipped it
        assert [(r.status, (r.start_ns - begin) // 1_000_000_000) for r in (one, two, three)] == [
            ("completed", 0), ("completed", 30), ("skipped", 60)]
        assert str(three.error) == "Message age limit exceeded"
        fresh = notify.send("u4")  # built in the simulation: virtual, untouched
        assert fresh.message_timestamp == sim.now_ns() // 1_000_000
        sim.advance(0)  # it runs (a send left unrun warns: PendingWorkWarning)


def test_a_rate_limiter_on_a_redis_backend_works_in_virtual_time(broker):
    """Dramatiq's rate limiters (``ConcurrentRateLimiter``, ``WindowRateLimiter``) in actor code on a Redis
    rate-limiter backend -- its documented way to make a mutex -- went to a real Redis server (a
    ``ConnectionError`` on every attempt). While the simulation runs, each Redis or Memcached rate-limiter backend
    object answers from its own in-memory ``StubBackend`` (Dramatiq's, ``rate_limits/backends/stub.py``), on the
    virtual clock; a blocking ``wait`` (``Barrier.wait``) from the test runs the simulation (``_blocking``)."""
    from dramatiq.rate_limits import ConcurrentRateLimiter, WindowRateLimiter
    from dramatiq.rate_limits.backends import RedisBackend
    from dramatiq.rate_limits.barrier import Barrier
    from dramatiq_support import backoffs, stream

    backend = RedisBackend(host="127.0.0.1", port=1)
    mutex = ConcurrentRateLimiter(backend, "invoices", limit=1)
    window = WindowRateLimiter(backend, "emails", limit=2, window=10)

    @dramatiq.actor(max_retries=3, min_backoff=1_000)
    def invoice(n):
        with mutex.acquire():
            time.sleep(2)

    @dramatiq.actor(max_retries=0)
    def email(n):
        with window.acquire():
            pass

    with jobsim.Simulation(dramatiq.Worker(broker, worker_threads=3), start=START, seed=2) as sim:
        invoice.send(1)
        invoice.send(2)
        for n in range(3):
            email.send(n)
        sim.run_until_idle()
        first, second = sim.runs(invoice)
        b1, b2 = backoffs(stream(2, "invoice"), 1_000, 7 * 86_400_000, 2)  # only 2 fails; the lock frees at 2 s
        assert b1 < 2_000 <= b1 + b2
        assert (first.status, starts(first)) == ("completed", [0])
        assert (second.status, starts(second)) == ("completed", [0, b1, b1 + b2])
        assert [type(a.error).__name__ for a in second.attempts] == ["RateLimitExceeded", "RateLimitExceeded",
                                                                     "NoneType"]  # fmt: skip
        assert [r.status for r in sim.runs(email)] == ["completed", "completed", "failed"]  # 2 per 10 s window
        barrier = Barrier(backend, "reports")
        assert barrier.create(parties=2)
        before = sim.now_ns()
        assert barrier.wait(timeout=1_000) is False  # from the test: the simulation runs 1 s, nothing clears it
        assert sim.now_ns() - before == 1_000_000_000
        assert barrier.wait(block=False) is True  # the second party clears it


def test_a_rate_limiter_on_dramatiqs_stub_backend_holds_across_virtual_time(broker):
    """The in-memory ``StubBackend`` (Dramatiq's rate limiter backend for tests) is what a test suite on a
    ``StubBroker`` builds its mutex on. An actor's body runs in one go when it starts, so a mutex taken at 0 s
    and released after ``time.sleep(2)`` was already released, in the backend's dict, when the second message
    starting at 0 s ran: both held the "mutex" at once, where a real worker's second thread gets
    ``RateLimitExceeded``. While the simulation runs, a ``StubBackend`` keeps each write at its virtual instant
    (as the stand-ins for Redis do); after it, the backend holds the latest state."""
    from dramatiq.rate_limits import ConcurrentRateLimiter
    from dramatiq.rate_limits.backends import StubBackend
    from dramatiq_support import backoffs, stream

    backend = StubBackend()
    backend.db["mutex:left-over"] = (1, time.monotonic() + 3_600)  # a key written before the simulation
    mutex = ConcurrentRateLimiter(backend, "invoices", limit=1)
    held = []

    @dramatiq.actor(max_retries=3, min_backoff=1_000)
    def invoice(n):
        with mutex.acquire():
            held.append((n, now_ms()))
            time.sleep(2)

    with jobsim.Simulation(dramatiq.Worker(broker, worker_threads=2), start=START, seed=2) as sim:
        invoice.send(1)
        invoice.send(2)
        sim.run_until_idle()
        first, second = sim.runs(invoice)
        b1, b2 = backoffs(stream(2, "invoice"), 1_000, 7 * 86_400_000, 2)
        assert b1 < 2_000 <= b1 + b2
        assert (first.status, starts(first)) == ("completed", [0])
        assert (second.status, starts(second)) == ("completed", [0, b1, b1 + b2])
        assert [type(a.error).__name__ for a in second.attempts] == ["RateLimitExceeded", "RateLimitExceeded",
                                                                     "NoneType"]  # fmt: skip
        assert held == [(1, 0), (2, b1 + b2)]
        assert backend._get("mutex:left-over") == 1  # what the backend held before the simulation still reads
    assert backend._get("mutex:left-over") == 1
    assert backend._get("invoices") in (None, 0)  # released: the last write, at b1 + b2 + 2 s


@pytest.mark.parametrize("server", [False, True])
def test_a_concurrent_rate_limiter_counts_holders_at_each_instant(broker, server):
    """``ConcurrentRateLimiter(limit=2)``: a release planned by an actor that started earlier (its body ran in one
    go) was stored as the count *it* read then, so a holder arriving in between was forgotten from that release on
    and a third message got in while two held. ``incr``/``decr``/``add`` are kept as the operations they are and
    counted in instant order: at 11 s B (2-12 s) and D hold, and E is refused, as on a real worker."""
    from dramatiq.rate_limits import ConcurrentRateLimiter
    from dramatiq.rate_limits.backends import RedisBackend, StubBackend

    backend = RedisBackend(host="127.0.0.1", port=1) if server else StubBackend()
    limiter = ConcurrentRateLimiter(backend, "crm-calls", limit=2)
    held = []

    @dramatiq.actor(max_retries=0)
    def call(name, seconds):
        with limiter.acquire():
            held.append((name, now_ms()))
            time.sleep(seconds)

    with jobsim.Simulation(dramatiq.Worker(broker, worker_threads=4), start=START) as sim:
        for name, at, seconds in (("A", 0, 10), ("B", 2_000, 10), ("C", 5_000, 1), ("D", 11_000, 5),
                                  ("E", 11_500, 1), ("F", 12_500, 1)):  # fmt: skip
            call.send_with_options(args=(name, seconds), delay=at)
        sim.run_until_idle()
        assert held == [("A", 0), ("B", 2_000), ("D", 11_000), ("F", 12_500)]  # B has left at 12 s
        assert [r.status for r in sim.runs(call)] == ["completed", "completed", "failed", "completed", "failed",
                                                      "completed"]  # fmt: skip


def _fold(ops, at):
    """Dramatiq's ``StubBackend`` rules (``rate_limits/backends/stub.py:35-91``) applied to ``ops`` (instant, op,
    amount, bound, expires) in instant order up to ``at``, from scratch: the reference for ``Versions``."""
    value, expires = None, 0
    for when, op, amount, bound, until in sorted(ops, key=lambda o: o[0]):
        if when > at:
            break
        current = value if when < expires else None
        if op == "set" or (op == "add" and current is None):
            value, expires = amount, until
        elif op == "incr" and (current or 0) + amount <= bound:
            value, expires = (current or 0) + amount, until
        elif op == "decr" and (current or 0) - amount >= bound:
            value, expires = (current or 0) - amount, until
    return value if at < expires else None


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.sampled_from(["add", "incr", "decr", "set"]), st.integers(1, 3),
                          st.integers(0, 4), st.integers(1, 15)), max_size=25),
       st.lists(st.integers(0, 40), max_size=10))  # fmt: skip
def test_versions_read_what_a_fold_from_scratch_reads(writes, reads):
    """``Versions`` keeps the state after each write and refolds only after a write inserted before later ones:
    whatever the order the writes arrive in, every read is what applying every write up to that instant, in
    instant order, gives (ties in arrival order). Instants and ttls in ms."""
    from jobsim_dramatiq._limiters import Versions

    class Backend:
        def __init__(self):
            self.db = {}

    now = [0]
    versions = Versions(Backend(), lambda: now[0] * 1_000_000, 0)
    applied = []
    for at, op, amount, bound, ttl in writes:
        now[0] = at
        if op == "set":
            versions.put("k", amount, ttl)
            applied.append((at, op, amount, None, at + ttl))
        elif versions.apply("k", op, amount, bound, ttl):
            applied.append((at, op, amount, bound, at + ttl))
        for at_read in reads:
            now[0] = at_read
            assert versions.get("k", None) == _fold(applied, at_read)
