"""The Retries middleware in virtual time: Dramatiq's own code decides, jobsim's seeded generator jitters."""

from __future__ import annotations

import logging

import dramatiq
import pytest
from dramatiq_support import START, WEEK_MS, backoffs, gaps, ms, starts, stream
from hypothesis import given
from hypothesis import strategies as st

import jobsim
from jobsim.errors import InjectedFault

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(autouse=True)
def _quiet():
    logging.disable(logging.CRITICAL)  # Dramatiq logs every failure with its traceback, as a worker does
    yield
    logging.disable(logging.NOTSET)


def test_a_failing_actor_is_retried_20_times_on_dramatiqs_default_backoff(broker):
    @dramatiq.actor
    def charge(order_id):
        raise ConnectionError("gateway down")

    with jobsim.Simulation(broker, start=START, seed=3) as sim:
        message = charge.send("o-1")
        sim.run_until_idle(max_time="60d")
        run = sim.runs(charge)[0]
        assert run.id == message.message_id and run.status == "failed"
        assert len(run.attempts) == 21  # max_retries=20 (middleware/retries.py:75)
        # min_backoff 15 s, max_backoff 7 days (retries.py:30-34), drawn from charge's own stream
        expected = backoffs(stream(3, "charge"), 15_000, WEEK_MS, 20)
        assert gaps(starts(run)) == expected
        assert expected[:2] == [19_231, 58_869]  # seed 3: 15 s x U[1,2), then 30 s x U[1,2)
        assert all(WEEK_MS // 2 <= d <= WEEK_MS for d in expected[15:])  # 15 s x 2^15 x 2 > 7 days: capped
        assert [a.number for a in run.attempts] == list(range(21))
        assert isinstance(run.error, ConnectionError) and run.finished_at == run.attempts[-1].finished_at
        retries = sim.trace.of("retry")
        assert [r.data["delay"] // 1_000_000 for r in retries] == expected
        assert [r.data["retries"] for r in retries] == list(range(1, 21))
        letter = broker.dead_letters[0]  # the stub broker keeps the MessageProxy (brokers/stub.py:213-216)
        assert letter.message_id == message.message_id and letter.options["retries"] == 21
        assert isinstance(letter._exception, ConnectionError)
        assert [d.run_id for d in sim.dramatiq.dead_letters] == [run.id]


def test_the_first_retries_land_at_exact_virtual_instants_for_a_seed(broker):
    @dramatiq.actor(max_retries=3, min_backoff=1000, max_backoff=100_000)
    def flaky():
        if len(sim.runs(flaky)[0].attempts) < 2:  # the attempts before this one
            raise RuntimeError("not yet")
        return "ok"

    with jobsim.Simulation(broker, start=START, seed=7) as sim:
        flaky.send()
        sim.run_until_idle()
        run = sim.runs(flaky)[0]
        assert starts(run) == [0, 1947, 5569]  # 1000 x 1.947..., then 2000 x 1.811...
        assert (run.status, run.output) == ("completed", "ok")
        assert "retry     flaky#1 attempt 1 at 00:00:01.947 (+1s947ms)" in sim.timeline()


@given(seed=st.integers(0, 2**32), min_backoff=st.integers(1, 60_000), cap=st.integers(1, 200),
       retries=st.integers(1, 8))  # fmt: skip
def test_every_delay_is_compute_backoffs_and_within_its_bounds(seed, min_backoff, cap, retries):
    from dramatiq.brokers.stub import StubBroker

    max_backoff = min_backoff * cap
    broker = StubBroker()

    @dramatiq.actor(broker=broker, max_retries=retries, min_backoff=min_backoff, max_backoff=max_backoff)
    def fails():
        raise ValueError("no")

    with jobsim.Simulation(broker, start=START, seed=seed) as sim:
        fails.send()
        sim.run_until_idle(max_time="3650d")
        delays = gaps(starts(sim.runs(fails)[0]))
    assert delays == backoffs(stream(seed, "fails"), min_backoff, max_backoff, retries)
    for k, delay in enumerate(delays):
        base = min_backoff * 2**k
        # common.py:62-67: within [base, 2 base) when that fits under the cap, else within [max/2, max]
        assert delay <= max_backoff and (base <= delay < 2 * base or max_backoff // 2 <= delay)


def test_retry_when_decides_instead_of_max_retries(broker):
    calls = []

    def retry_when(retries, exc):  # retries.py:115-122: takes precedence over max_retries
        calls.append((retries, type(exc).__name__))
        return isinstance(exc, ConnectionError) and retries < 2

    @dramatiq.actor(retry_when=retry_when, max_retries=0, min_backoff=100)
    def sync():
        raise ConnectionError("later")

    with jobsim.Simulation(broker, start=START, seed=1) as sim:
        sync.send()
        sim.run_until_idle()
        assert len(sim.runs(sync)[0].attempts) == 3
        assert calls == [(0, "ConnectionError"), (1, "ConnectionError"), (2, "ConnectionError")]


def test_throws_fails_at_once_without_a_retry(broker):
    @dramatiq.actor(throws=(KeyError,))
    def lookup(key):
        raise KeyError(key)

    with jobsim.Simulation(broker, start=START) as sim:
        lookup.send("x")
        sim.run_until_idle()
        run = sim.runs(lookup)[0]
        assert (run.status, len(run.attempts), sim.trace.of("retry")) == ("failed", 1, [])
        assert len(broker.dead_letters) == 1  # Retries.after_process_message: message.fail() (retries.py:102-106)


def test_raising_retry_with_a_delay_sets_the_next_attempt_exactly(broker):
    @dramatiq.actor(max_retries=5)
    def poll(n):
        if len(sim.runs(poll)[0].attempts) < 2:  # the attempts before this one
            raise dramatiq.Retry("not ready", delay=5_000)

    with jobsim.Simulation(broker, start=START, seed=2) as sim:
        poll.send(1)
        sim.run_until_idle()
        assert starts(sim.runs(poll)[0]) == [0, 5_000, 10_000]  # retries.py:139-140: Retry.delay, no backoff


def test_options_of_the_message_win_over_the_actors(broker):
    @dramatiq.actor(max_retries=10, min_backoff=1_000)
    def send_mail():
        raise OSError("smtp down")

    with jobsim.Simulation(broker, start=START, seed=5) as sim:
        send_mail.send_with_options(max_retries=1, min_backoff=60_000, max_backoff=60_000)
        sim.run_until_idle()
        run = sim.runs(send_mail)[0]
        assert len(run.attempts) == 2
        assert 30_000 <= gaps(starts(run))[0] <= 60_000  # capped by the message's max_backoff: max x U[0.5, 1)


def test_on_retry_exhausted_sends_the_message_and_its_counts(broker):
    exhausted = []

    @dramatiq.actor
    def give_up(message, counts):
        exhausted.append((message["actor_name"], counts, ms(sim.now_ns())))

    @dramatiq.actor(max_retries=2, min_backoff=1_000, on_retry_exhausted="give_up")
    def fragile():
        raise RuntimeError("broken")

    with jobsim.Simulation(broker, start=START, seed=9) as sim:
        fragile.send()
        sim.run_until_idle()
        end = ms(sim.runs(fragile)[0].end_ns)
        assert exhausted == [("fragile", {"retries": 2, "max_retries": 2}, end)]
        assert sim.runs(give_up)[0].status == "completed"


def test_without_the_retries_middleware_a_failure_is_acked_not_dead_lettered():
    from dramatiq.brokers.stub import StubBroker
    from dramatiq.middleware import Callbacks

    broker = StubBroker(middleware=[Callbacks()])

    @dramatiq.actor(broker=broker)
    def once():
        raise ValueError("only once")

    with jobsim.Simulation(broker, start=START) as sim:
        once.send()
        sim.run_until_idle()
        run = sim.runs(once)[0]
        assert (run.status, len(run.attempts), broker.dead_letters) == ("failed", 1, [])


def test_sim_fail_makes_the_next_attempts_raise_and_retries_follow(broker):
    @dramatiq.actor(max_retries=3, min_backoff=500)
    def ship():
        return "shipped"

    with jobsim.Simulation(broker, start=START, seed=4) as sim:
        sim.fail(ship, times=2)
        ship.send()
        sim.run_until_idle()
        run = sim.runs("ship")[0]
        assert [type(a.error) for a in run.attempts] == [InjectedFault, InjectedFault, type(None)]
        assert (run.status, run.output) == ("completed", "shipped")
