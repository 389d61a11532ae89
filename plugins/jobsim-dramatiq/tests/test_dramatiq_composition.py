"""Pipelines, groups and their completion callbacks, on_success/on_failure, and the Results middleware."""

from __future__ import annotations

import itertools
import logging
import time

import dramatiq
import pytest
from dramatiq.results import ResultFailure, ResultMissing, Results, ResultTimeout
from dramatiq_support import START, backoffs, ms, starts

import jobsim
from jobsim.errors import JobsimError, UnsupportedFeature


@pytest.fixture(autouse=True)
def _quiet():
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


@pytest.fixture
def results(broker):
    from dramatiq.results.backends import StubBackend

    backend = StubBackend()
    broker.add_middleware(Results(backend=backend))
    return backend


def test_a_pipeline_passes_each_result_to_the_next_actor_when_it_finishes(broker, results):
    @dramatiq.actor(store_results=True)
    def add(x, y):
        time.sleep(2)
        return x + y

    with jobsim.Simulation(broker, start=START) as sim:
        pipe = (add.message(1, 2) | add.message(10) | add.message_with_options(args=(100, 0), pipe_ignore=True)).run()
        sim.run_until_idle()
        assert [(r.output, starts(r)) for r in sim.runs(add)] == [(3, [0]), (13, [2_000]), (100, [4_000])]
        assert pipe.get_result() == 100 and list(pipe.get_results()) == [3, 13, 100]
        assert "run       add#2 started by add#1" in sim.timeline()


def test_a_pipeline_run_with_a_delay_starts_late(broker):
    @dramatiq.actor
    def step(*args):
        return len(args)

    with jobsim.Simulation(broker, start=START) as sim:
        dramatiq.pipeline([step.message(), step.message()]).run(delay=30_000)
        sim.run_until_idle()
        assert [starts(r) for r in sim.runs(step)] == [[30_000], [30_000]]


def test_a_failing_stage_stops_the_pipeline(broker):
    @dramatiq.actor(max_retries=0)
    def first():
        raise ValueError("bad input")

    @dramatiq.actor
    def second(value):
        raise AssertionError("never called")

    with jobsim.Simulation(broker, start=START) as sim:
        (first.message() | second.message()).run()
        sim.run_until_idle()
        assert [r.status for r in sim.runs()] == ["failed"] and sim.runs(second) == []


def test_a_group_completion_callback_runs_once_when_the_last_member_finishes(broker):
    from dramatiq.middleware import GroupCallbacks
    from dramatiq.rate_limits.backends import StubBackend

    broker.add_middleware(GroupCallbacks(StubBackend()))

    @dramatiq.actor
    def resize(size):
        time.sleep(size)

    @dramatiq.actor
    def publish(tag):
        return tag

    with jobsim.Simulation(broker, start=START) as sim:
        group = dramatiq.group([resize.message(3), resize.message(1), resize.message(2)])
        group.add_completion_callback(publish.message("album"))
        group.run()
        sim.run_until_idle()
        assert [(r.output, starts(r)) for r in sim.runs(publish)] == [("album", [3_000])]
        assert "run       publish#1 started by resize#1" in sim.timeline()


def test_a_group_callback_waits_for_pipelines_and_retries(broker):
    from dramatiq.middleware import GroupCallbacks
    from dramatiq.rate_limits.backends import RedisBackend

    broker.add_middleware(GroupCallbacks(RedisBackend(host="127.0.0.1", port=1)))  # swapped for the stub in a sim

    @dramatiq.actor(max_retries=1, min_backoff=10_000, max_backoff=10_000)
    def fetch(n):
        if n == 2 and len(sim.runs(fetch)[1].attempts) == 0:
            raise ConnectionError("flaky")
        return n

    @dramatiq.actor
    def store(n):
        return n

    @dramatiq.actor
    def done():
        pass

    with jobsim.Simulation(broker, start=START, seed=2) as sim:
        group = dramatiq.group([fetch.message(1) | store.message(), fetch.message(2)])
        group.add_completion_callback(done.message())
        group.run()
        sim.run_until_idle()
        retried = starts(sim.runs(fetch)[1])
        assert 5_000 <= retried[1] < 10_000  # capped: max_backoff x U[0.5, 1)
        assert starts(sim.runs(done)[0]) == [retried[1]]


def test_a_group_barrier_expires_in_virtual_time(broker):
    from dramatiq.middleware import GroupCallbacks
    from dramatiq.rate_limits.backends import StubBackend

    broker.add_middleware(GroupCallbacks(StubBackend(), barrier_ttl=60_000))

    @dramatiq.actor
    def slow(seconds):
        time.sleep(seconds)

    @dramatiq.actor
    def done():
        pass

    with jobsim.Simulation(broker, start=START) as sim:
        group = dramatiq.group([slow.message(30), slow.message(90), slow.message(120)])
        group.add_completion_callback(done.message())
        group.run()
        sim.run_until_idle()
        # the barrier key is gone after 60 s, so the next member to finish clears it (barrier.py:86-89: a
        # decrement of a missing key fails, which reads as "cleared"), and so does the one after
        assert [starts(r) for r in sim.runs(done)] == [[90_000], [120_000]]


def test_on_success_and_on_failure_callbacks_get_dramatiqs_arguments(broker):
    got = []

    @dramatiq.actor
    def succeeded(message, result):
        got.append(("ok", message["args"], result, ms(sim.now_ns())))

    @dramatiq.actor
    def failed(message, exception):
        got.append(("failed", message["options"]["retries"], exception, ms(sim.now_ns())))

    # an actor option names the callback (only message options turn an Actor into its name, actor.py:124-130)
    @dramatiq.actor(max_retries=1, min_backoff=1_000, max_backoff=1_000, on_failure="failed")
    def charge(amount):
        if amount < 0:
            raise ValueError(f"negative amount {amount}")
        time.sleep(1)
        return amount * 100

    with jobsim.Simulation(broker, start=START, seed=1) as sim:
        charge.send_with_options(args=(5,), on_success=succeeded)
        charge.send(-1)
        sim.run_until_idle()
        retry = starts(sim.runs(charge)[1])[1]
        # Callbacks.after_process_message runs after every failed attempt, the retried one too (callbacks.py:41-59)
        assert 500 <= retry < 1_000
        assert sorted(got, key=lambda entry: entry[-1]) == [
            ("failed", 1, {"type": "ValueError", "message": "negative amount -1"}, 0),
            ("failed", 2, {"type": "ValueError", "message": "negative amount -1"}, retry),
            ("ok", [5], 500, 1_000),
        ]


def test_results_are_stored_when_the_actor_ends_and_expire_after_result_ttl(broker):
    from dramatiq.results.backends import RedisBackend

    backend = RedisBackend(host="127.0.0.1", port=1)
    broker.add_middleware(Results(backend=backend, result_ttl=60_000))

    @dramatiq.actor(store_results=True)
    def total(n):
        time.sleep(10)
        return n * 2

    with jobsim.Simulation(broker, start=START) as sim:
        message = total.send(21)
        sim.advance("9s")
        with pytest.raises(ResultMissing):
            message.get_result(backend=backend)
        sim.advance("1s")
        assert message.get_result(backend=backend) == 42
        sim.advance("59.999s")
        assert message.get_result() == 42  # the broker's backend: the same store
        sim.advance("0.001s")  # PEXPIRE 60000: gone 60 s after it was stored
        with pytest.raises(ResultMissing):
            message.get_result()


def test_the_stub_backend_keeps_a_result_for_whole_seconds_only(broker, results):
    @dramatiq.actor(store_results=True, result_ttl=1_999)
    def quick():
        return "x"

    @dramatiq.actor(store_results=True, result_ttl=999)
    def quicker():
        return "y"

    with jobsim.Simulation(broker, start=START) as sim:
        one, zero = quick.send(), quicker.send()
        sim.run_until_idle()
        with pytest.raises(ResultMissing):
            zero.get_result()  # int(999 / 1000) = 0 s (results/backends/stub.py:50): never readable
        assert one.get_result() == "x"
        sim.advance("1s")
        with pytest.raises(ResultMissing):
            one.get_result()


def test_every_stub_backend_reads_the_results_any_other_stored():
    # StubBackend.results is a class attribute (results/backends/stub.py:39): one dict for every instance
    from dramatiq.brokers.stub import StubBroker
    from dramatiq.results.backends import StubBackend

    first, second = StubBroker(), StubBroker()
    first.add_middleware(Results(backend=StubBackend()))
    second.add_middleware(Results(backend=StubBackend()))

    @dramatiq.actor(broker=first, store_results=True)
    def double(n):
        return 2 * n

    with jobsim.Simulation([first, second], start=START) as sim:
        message = double.send(21)
        sim.run_until_idle()
        assert message.get_result(backend=second.get_results_backend()) == 42
        assert message.get_result(backend=StubBackend()) == 42  # one no broker uses
        sim.advance("10min")  # result_ttl: gone for all of them
        with pytest.raises(ResultMissing):
            message.get_result(backend=StubBackend())
    outside = StubBackend()  # what the simulation mirrors: Dramatiq's own StubBackend, outside it
    key = outside.build_message_key(message)
    try:
        outside._store(key, 1, 60_000)
        assert StubBackend()._get(key) == 1
    finally:
        StubBackend.results.pop(key, None)


def test_a_message_that_failed_for_good_stores_its_exception(broker, results):
    @dramatiq.actor(store_results=True, max_retries=0)
    def parse(text):
        raise ValueError(f"cannot parse {text!r}")

    with jobsim.Simulation(broker, start=START) as sim:
        message = parse.send("x")
        sim.run_until_idle()
        with pytest.raises(ResultFailure, match=r"actor raised ValueError: cannot parse 'x'") as info:
            message.get_result()
        assert info.value.orig_exc_type == "ValueError"


def test_a_blocking_get_result_from_the_test_runs_the_simulation_until_it_is_there(broker):
    from dramatiq.results.backends import RedisBackend

    broker.add_middleware(Results(backend=RedisBackend(host="127.0.0.1", port=1)))

    @dramatiq.actor(store_results=True)
    def render(seconds):
        time.sleep(seconds)
        return seconds

    with jobsim.Simulation(broker, start=START) as sim:
        fast, slow = render.send(4.25), render.send(30)
        assert fast.get_result(block=True) == 4.25 and ms(sim.now_ns()) == 4_250  # BRPOPLPUSH wakes at the store
        with pytest.raises(ResultTimeout):
            slow.get_result(block=True, timeout=20_999)  # waits int(20999 / 1000) = 20 whole seconds
        assert ms(sim.now_ns()) == 24_250
        assert slow.get_result(block=True, timeout=10_000) == 30 and ms(sim.now_ns()) == 30_000


def test_a_blocking_get_result_polls_a_stub_backend_with_dramatiqs_backoff(broker, results):
    @dramatiq.actor(store_results=True)
    def render():
        time.sleep(1)
        return "png"

    with jobsim.Simulation(broker, start=START, seed=11) as sim:
        message = render.send()
        assert message.get_result(block=True) == "png"
        # it polls after compute_backoff(attempts, factor=100) ms (results/backend.py:109-119; max_backoff 2 s):
        # the first poll at or after 1 s, when the result was stored, finds it
        polls = list(itertools.accumulate(backoffs(11, 100, 2_000, 10)))
        assert ms(sim.now_ns()) == next(t for t in polls if t >= 1_000)


def test_a_group_waits_for_every_result(broker, results):
    @dramatiq.actor(store_results=True)
    def square(n):
        time.sleep(n)
        return n * n

    with jobsim.Simulation(broker, start=START, seed=1) as sim:
        group = dramatiq.group([square.message(n) for n in (1, 2, 3)]).run()
        assert list(group.get_results(block=True, timeout=10_000)) == [1, 4, 9]
        assert 3_000 <= ms(sim.now_ns()) <= 5_000  # found by a poll at most 2 s (the poll backoff's cap) late


def test_a_blocking_get_result_in_an_actor_is_refused_while_the_result_is_missing(broker, results):
    @dramatiq.actor(store_results=True)
    def child():
        time.sleep(5)
        return 1

    @dramatiq.actor
    def parent():
        return child.send().get_result(block=True)

    with jobsim.Simulation(broker, start=START) as sim:
        parent.send()
        refused = r"get_result\(block=True\) was called from actor code \('parent'\)"
        with pytest.raises(UnsupportedFeature, match=refused):
            sim.run_until_idle()


def test_a_result_read_after_its_simulation_closed_says_so(broker):
    # the result was stored in the simulation; RedisBackend.get_result would read the real Redis (port 1 here)
    from dramatiq.results.backends import RedisBackend

    backend = RedisBackend(host="127.0.0.1", port=1)
    broker.add_middleware(Results(backend=backend))

    @dramatiq.actor(store_results=True)
    def double(n):
        return 2 * n

    with jobsim.Simulation(broker, start=START) as sim:
        message = double.send(21)
        sim.run_until_idle()
        assert message.get_result() == 42
    refused = (r"message .* \('double'\) was run by a simulation that has closed, and RedisBackend.get_result would "
               r"read it from the real backend.*inside the `with` block")  # fmt: skip
    with pytest.raises(JobsimError, match=refused):
        message.get_result()
    with pytest.raises(JobsimError, match=refused):
        list(dramatiq.group([message]).get_results())
    with jobsim.Simulation(broker, start=START) as sim:  # a later simulation reads its own store again
        again = double.send(1)
        assert again.get_result(block=True) == 2


def test_a_return_value_the_results_encoder_cannot_hold_is_on_the_timeline(broker):
    # Results.after_process_message raises in the encoder; emit_after logs it (broker.py:123-129): the message is
    # done and get_result raises ResultMissing for ever, with nothing in the simulation to say why
    import datetime as dt

    from dramatiq.results.backends import StubBackend

    broker.add_middleware(Results(backend=StubBackend()))

    @dramatiq.actor(store_results=True)
    def stamp():
        return dt.datetime(2026, 1, 1)

    with jobsim.Simulation(broker, start=START) as sim:
        message = stamp.send()
        sim.run_until_idle()
        assert sim.runs(stamp)[0].status == "completed"  # as on Dramatiq: the actor did return
        with pytest.raises(ResultMissing):
            message.get_result()
        assert ("stamp#1's result was not stored: TypeError: Object of type datetime is not JSON serializable "
                "(the results backend's encoder; Dramatiq logs it, and get_result raises ResultMissing)"
                ) in sim.timeline()  # fmt: skip
