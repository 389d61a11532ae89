"""A worker process dying with unacknowledged messages, and each broker's redelivery of them (``_crash``)."""

from __future__ import annotations

import logging
import time

import dramatiq
import pytest
from dramatiq.middleware import CurrentMessage
from dramatiq_support import START, START_NS, ms, starts

import jobsim
from jobsim._time import MS
from jobsim.errors import InvalidArgument, UnsupportedFeature, WorkerCrashed


@pytest.fixture(autouse=True)
def _quiet():
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


def _redis(**options):
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(host="127.0.0.1", port=1, **options)  # never reached in a simulation
    broker.add_middleware(CurrentMessage())
    return broker


def _rabbitmq(**options):
    pytest.importorskip("pika")
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(host="127.0.0.1", port=1, **options)
    broker.add_middleware(CurrentMessage())
    return broker


def _actors(broker, log):
    """``charge`` (10 s) and ``note`` (instant), each logging (name, arg, ms after START, Retries' count)."""

    def seen(name, arg):
        options = CurrentMessage.get_current_message().options
        log.append((name, arg, (time.time_ns() - START_NS) // MS, options.get("retries", 0)))

    @dramatiq.actor(broker=broker, max_retries=3, min_backoff=1_000)
    def charge(n):
        seen("charge", n)
        time.sleep(10)

    @dramatiq.actor(broker=broker)
    def note(n):
        seen("note", n)

    return charge, note


def test_redis_requeues_a_dead_workers_messages_at_the_first_poll_after_its_heartbeat_expires():
    broker = _redis(maintenance_chance=1_000_000)  # every command runs maintenance: no draw
    log = []
    charge, _note = _actors(broker, log)
    with jobsim.Simulation(dramatiq.Worker(broker, worker_threads=1), start=START, seed=3) as sim:
        first = charge.send(1)
        second = charge.send(2)  # prefetched, waiting for the thread: unacked too
        sim.crash_worker(at="2025-03-01T00:00:04Z", function=charge)
        sim.advance("63.999s")
        run = sim.dramatiq.run(first)
        assert (run.status, len(run.attempts)) == ("queued", 1)  # in the dead worker's acks set
        assert [w.name for w in sim.dramatiq.workers] == ["worker-1-r1"]  # restarted at the crash, idle
        sim.run_until_idle()
        assert log == [("charge", 1, 0, 0), ("charge", 1, 64_000, 0), ("charge", 2, 74_000, 0)]
        crashed = run.attempts[0]
        assert isinstance(crashed.error, WorkerCrashed) and (ms(crashed.start_ns), ms(crashed.end_ns)) == (0, 4_000)
        assert "worker-1 died at 2025-03-01T00:00:04.000Z (crash)" in str(crashed.error)
        assert (starts(run), run.attempts[1].error, run.status, ms(run.end_ns)) == ([0, 64_000], None, "completed",
                                                                                      74_000)  # fmt: skip
        assert starts(sim.dramatiq.run(second)) == [74_000]  # no attempt before: it never reached a thread
        redelivered = [r for r in sim.trace if r.kind == "dramatiq.redeliver"]
        assert [(ms(r.at), r.data["run"], r.data["worker"]) for r in redelivered] == [
            (64_000, first.message_id, "worker-1"),
            (64_000, second.message_id, "worker-1"),
        ]
        assert [r.data.get("retries") for r in sim.trace if r.kind == "retry"] == []  # a crash is not a failure
        timeline = sim.timeline()
        assert "dramatiq  worker-1 crashed with 2 unacknowledged message(s); worker-1-r1 replaces it" in timeline
        assert "its heartbeat expires 2025-03-01 00:01:04.000" in timeline
        assert "requeued by Redis maintenance (a poll by worker-1-r1), from dead worker-1" in timeline


def test_redis_maintenance_is_drawn_from_the_seed_at_each_poll_of_a_live_worker():
    def redelivered_at(seed, chance=1_000):
        broker = _redis(maintenance_chance=chance)
        log = []
        charge, _note = _actors(broker, log)
        worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=1_000)
        with jobsim.Simulation(worker, start=START, seed=seed) as sim:
            message = charge.send(1)
            sim.crash_worker(at="2025-03-01T00:00:01Z", function=charge)
            sim.run_until_idle()
            assert [entry[3] for entry in log] == [0, 0]
            return starts(sim.dramatiq.run(message))[1]

    first = redelivered_at(1)
    assert first == redelivered_at(1)  # the same seed, the same instant
    instants = {redelivered_at(seed) for seed in range(2, 6)}
    # polls every worker_timeout (1 s) from the heartbeat expiry (61 s); 0.1 % each: about 1000 polls on average
    assert all(at >= 61_000 and (at - 61_000) % 1_000 == 0 for at in instants | {first})
    assert len(instants) == 4 and max(instants) > 100_000
    assert redelivered_at(1, chance=1_000_000) == 61_000


def test_redis_never_requeues_with_maintenance_chance_zero():
    broker = _redis(maintenance_chance=0)
    charge, _note = _actors(broker, [])
    with jobsim.Simulation(broker, start=START) as sim:
        message = charge.send(1)
        sim.crash_worker(at="2025-03-01T00:00:01Z", function=charge)
        sim.run_until_idle()
        run = sim.dramatiq.run(message)
        assert (run.status, len(run.attempts), run.done) == ("queued", 1, False)
        assert "no maintenance ever requeues them (maintenance_chance=0)" in sim.timeline()


def test_redis_an_enqueue_on_the_queue_runs_maintenance_too():
    """No worker consumes the queue after the crash (restart=None): the next enqueue's maintenance requeues it."""
    broker = _redis(maintenance_chance=1_000_000, heartbeat_timeout=30_000)
    log = []
    charge, _note = _actors(broker, log)
    worker = dramatiq.Worker(broker, worker_threads=1)
    with jobsim.Simulation(worker, start=START) as sim:
        message = charge.send(1)
        sim.dramatiq.crash_worker(at="2025-03-01T00:00:02Z", function=charge, restart=None)
        sim.advance("1m")
        assert sim.dramatiq.workers == [] and sim.dramatiq.run(message).status == "queued"
        charge.send(2)  # 60 s: the heartbeat expired at 32 s; this enqueue's maintenance RPUSHes message 1 first
        sim.advance("1s")
        kinds = [(r.kind, ms(r.at)) for r in sim.trace if r.kind in ("dramatiq.redeliver", "dramatiq.enqueue")]
        assert kinds[-2:] == [("dramatiq.enqueue", 60_000), ("dramatiq.redeliver", 60_000)]
        redeliver = next(r for r in sim.trace if r.kind == "dramatiq.redeliver")
        assert redeliver.data["how"] == "Redis maintenance (an enqueue) requeued it"


def test_rabbitmq_requeues_the_prefetched_messages_at_once_in_front():
    broker = _rabbitmq()
    log = []
    charge, _note = _actors(broker, log)
    worker = dramatiq.Worker(broker, worker_threads=1)  # prefetch: 2 per thread
    with jobsim.Simulation(worker, start=START) as sim:
        sent = [charge.send(n) for n in (1, 2, 3)]  # 1 runs, 2 prefetched, 3 waits on the queue (prefetch 2)
        sim.crash_worker(at="2025-03-01T00:00:04Z", function=charge)
        sim.run_until_idle()
        # 1 and 2 go back in front of 3, at the crash; the new worker takes them at once
        assert log == [("charge", 1, 0, 0), ("charge", 1, 4_000, 0), ("charge", 2, 14_000, 0), ("charge", 3, 24_000, 0)]
        assert [r.status for r in sim.runs(charge)] == ["completed"] * 3
        run = sim.dramatiq.run(sent[0])
        assert [type(a.error) for a in run.attempts] == [WorkerCrashed, type(None)]
        redelivered = [(ms(r.at), r.data["run"]) for r in sim.trace if r.kind == "dramatiq.redeliver"]
        assert redelivered == [(4_000, sent[0].message_id), (4_000, sent[1].message_id)]
        assert "requeued by RabbitMQ (connection closed, redelivered), from dead worker-1" in sim.timeline()


def test_a_crash_planned_by_worker_kills_every_thread_and_its_delayed_messages():
    broker = _rabbitmq()
    log = []
    charge, note = _actors(broker, log)
    with jobsim.Simulation(dramatiq.Worker(broker, worker_threads=2), start=START) as sim:
        worker = sim.dramatiq.workers[0]
        charge.send(1)
        charge.send(2)
        note.send_with_options(args=(3,), delay=30_000)  # held by the .DQ consumer until its eta
        sim.dramatiq.crash_worker(at="2025-03-01T00:00:05Z", worker=worker, restart="20s")
        sim.run_until_idle()
        assert log == [
            ("charge", 1, 0, 0),
            ("charge", 2, 0, 0),
            ("charge", 1, 25_000, 0),
            ("charge", 2, 25_000, 0),
            ("note", 3, 35_000, 0),
        ]  # note: due at 30 s, but both threads are busy until 35 s
        assert [[type(a.error).__name__ for a in r.attempts] for r in sim.runs(charge)] == [
            ["WorkerCrashed", "NoneType"],
            ["WorkerCrashed", "NoneType"],
        ]
        assert [w.name for w in sim.dramatiq.workers] == ["worker-1-r1"]


def test_a_crash_before_the_actor_starts_kills_it_before_its_code_runs():
    broker = _rabbitmq()
    log = []
    _charge, note = _actors(broker, log)
    with jobsim.Simulation(broker, start=START) as sim:
        sim.crash_worker(at="2025-03-01T00:00:05Z", function=note)
        note.send(1)  # at 0 s: done before the crash
        sim.advance("10s")
        note.send(2)  # the first note to start at or after 5 s: its worker dies as it takes it
        sim.run_until_idle()
        assert log == [("note", 1, 0, 0), ("note", 2, 10_000, 0)]
        run = sim.runs(note)[1]
        assert [(ms(a.start_ns), ms(a.end_ns), type(a.error).__name__) for a in run.attempts] == [
            (10_000, 10_000, "WorkerCrashed"),
            (10_000, 10_000, "NoneType"),
        ]


def test_code_catching_the_death_does_not_run_on():
    broker = _rabbitmq()
    after = []

    @dramatiq.actor(broker=broker)
    def stubborn():
        try:
            time.sleep(60)
        except BaseException:
            after.append("caught")
            time.sleep(1)  # a dead process spends no time: raises again
            after.append("never")

    with jobsim.Simulation(broker, start=START) as sim:
        stubborn.send()
        sim.crash_worker(at="2025-03-01T00:00:30Z", function=stubborn)
        sim.advance("31s")
        assert after == ["caught"]
        assert [ms(a.end_ns) for a in sim.runs(stubborn)[0].attempts] == [30_000]


def test_a_stop_whose_timeout_a_message_outlives_kills_the_worker_and_redelivers_it():
    broker = _redis(maintenance_chance=1_000_000)
    log = []
    charge, _note = _actors(broker, log)
    with jobsim.Simulation(dramatiq.Worker(broker, worker_threads=1), start=START) as sim:
        first = charge.send(1)
        second = charge.send(2)  # waiting for the thread: requeued by the stop, as a graceful one does
        sim.dramatiq.stop_worker(at="2025-03-01T00:00:02Z", timeout=5_000)
        sim.advance("8s")  # the process exits at 7 s, message 1 unacked
        assert [r.status for r in sim.runs(charge)] == ["queued", "queued"]
        assert [type(a.error) for a in sim.dramatiq.run(first).attempts] == [WorkerCrashed]
        sim.dramatiq.start_worker(at="2025-03-01T00:01:00Z")
        sim.run_until_idle()
        # the worker is back at 60 s and takes the requeued message 2; message 1 comes back when its heartbeat
        # (expired at 67 s) is found by a poll: the worker is busy with 2 until 70 s but its consumer polls
        assert log == [("charge", 1, 0, 0), ("charge", 2, 60_000, 0), ("charge", 1, 70_000, 0)]
        assert starts(sim.dramatiq.run(second)) == [60_000]
        assert "worker-1 stopped: 1 fetched message(s) given back to the broker" in sim.timeline()


def test_refusals_and_bad_arguments():
    redis = _redis()

    @dramatiq.actor(broker=redis)
    def slow():
        time.sleep(60)

    with jobsim.Simulation(redis, start=START) as sim:
        slow.send()
        sim.advance("1s")
        with pytest.raises(UnsupportedFeature, match=r"would hit actor 'slow' .* Plan the crash before that message"):
            sim.crash_worker(at="2025-03-01T00:00:30Z", function=slow)
        with pytest.raises(InvalidArgument, match=r"at=.* is in the past"):
            sim.dramatiq.crash_worker(at="2025-03-01T00:00:00Z")
        with pytest.raises(InvalidArgument, match=r"worker='worker-9'.*one of sim.dramatiq.workers .* or its name: "
                                                  r"'worker-1'"):  # fmt: skip
            sim.dramatiq.crash_worker(worker="worker-9")
        with pytest.raises(UnsupportedFeature, match=r"would hit actor 'slow'"):  # by name, as RQ's crash_worker
            sim.dramatiq.crash_worker(worker="worker-1")
        with pytest.raises(InvalidArgument, match=r"restart"):
            sim.dramatiq.crash_worker(worker=sim.dramatiq.workers[0], restart=-1)


def test_crash_worker_without_a_function_hits_any_actors_message_and_survives_a_stop_and_start():
    broker = _rabbitmq()
    log = []
    charge, note = _actors(broker, log)
    with jobsim.Simulation(broker, start=START) as sim:
        sim.crash_worker(at="2025-03-01T00:00:03Z")  # any actor: the message of charge running then
        charge.send(1)
        sim.run_until_idle()
        assert log == [("charge", 1, 0, 0), ("charge", 1, 3_000, 0)]
        worker = sim.dramatiq.workers[0]
        sim.dramatiq.crash_worker(at="2025-03-01T00:01:40Z", worker=worker, restart=None)
        sim.dramatiq.stop_worker(at="2025-03-01T00:00:50Z")
        sim.dramatiq.start_worker(at="2025-03-01T00:01:00Z")
        sim.advance("2m")
        assert sim.dramatiq.workers == []  # the crash planned for 100 s still came, after the restart at 60 s
        note.send(2)
        sim.run_until_idle()
        assert [r.status for r in sim.runs(note)] == ["queued"]
        assert "dramatiq  note#1 waits on queue 'default': no running simulated worker consumes it" in sim.timeline()


def test_rabbitmq_a_stop_timeout_redelivers_the_running_message_when_the_process_exits():
    broker = _rabbitmq()
    log = []
    charge, _note = _actors(broker, log)
    with jobsim.Simulation(dramatiq.Worker(broker, worker_threads=1), start=START) as sim:
        first = charge.send(1)
        sim.dramatiq.stop_worker(at="2025-03-01T00:00:01Z", timeout=3_000)
        sim.run_until_idle()
        assert log == [("charge", 1, 0, 0)]  # nobody reads the queue after the stop
        run = sim.dramatiq.run(first)
        assert (run.status, [ms(a.end_ns) for a in run.attempts]) == ("queued", [4_000])
        crash = next(r for r in sim.trace if r.kind == "dramatiq.crash")
        assert (ms(crash.at), crash.data["what"], crash.data["restart"]) == (4_000, "stop timeout", None)
        assert "worker-1 exited (Worker.stop's timeout ran out) with 1 unacknowledged message(s)" in sim.timeline()
        sim.dramatiq.start_worker(at="2025-03-01T00:00:10Z")
        sim.run_until_idle()
        assert log[1:] == [("charge", 1, 10_000, 0)] and run.status == "completed"


def test_redis_a_flush_while_a_dead_worker_holds_messages_loses_them():
    broker = _redis(maintenance_chance=1_000_000)
    charge, _note = _actors(broker, [])
    with jobsim.Simulation(broker, start=START) as sim:
        message = charge.send(1)
        sim.crash_worker(at="2025-03-01T00:00:01Z", function=charge)
        sim.advance("30s")
        broker.flush("default")
        sim.run_until_idle()
        run = sim.dramatiq.run(message)
        assert (run.status, ms(run.end_ns), len(run.attempts)) == ("lost", 30_000, 1)
        assert not [r for r in sim.trace if r.kind == "dramatiq.redeliver"]


def test_a_retried_message_keeps_its_retry_count_across_the_crash():
    broker = _redis(maintenance_chance=1_000_000, heartbeat_timeout=10_000)
    seen = []

    @dramatiq.actor(broker=broker, max_retries=5, min_backoff=1_000, max_backoff=1_000)
    def flaky():
        retries = CurrentMessage.get_current_message().options.get("retries", 0)
        seen.append(((time.time_ns() - START_NS) // MS, retries))
        if retries == 0:
            raise ConnectionError("first attempt fails")
        time.sleep(5)

    with jobsim.Simulation(broker, start=START, seed=1) as sim:
        message = flaky.send()
        sim.crash_worker(at="2025-03-01T00:00:03Z", function=flaky)  # the first attempt fails at once: not it
        sim.run_until_idle()
        retry_at = seen[1][0]
        assert 500 <= retry_at < 1_000  # max_backoff * U[0.5, 1): the retry runs across the crash
        assert seen == [(0, 0), (retry_at, 1), (13_000, 1)]  # redelivered 10 s after the crash, retries still 1
        run = sim.dramatiq.run(message)
        assert [type(a.error).__name__ for a in run.attempts] == ["ConnectionError", "WorkerCrashed", "NoneType"]
        assert [r.data["retries"] for r in sim.trace if r.kind == "retry"] == [1]  # Retries ran once: the failure


def test_a_stop_whose_messages_finish_in_time_keeps_no_timer_pending():
    broker = _redis()
    charge, _note = _actors(broker, [])
    with jobsim.Simulation(broker, start=START) as sim:
        charge.send(1)
        sim.dramatiq.stop_worker(at="2025-03-01T00:00:01Z", timeout=60_000)
        sim.run_until_idle()
        assert ms(sim.now_ns()) == 10_000  # not the stop timeout's 61 s
        assert [r.status for r in sim.runs(charge)] == ["completed"]


def test_a_crash_of_a_function_that_is_no_actor_lists_20_actors_and_counts_the_rest():
    """The actors are listed through ``listed_ids``: 20, then how many more (a big app has dozens)."""
    redis = _redis()
    for n in range(22):
        dramatiq.actor(lambda: None, actor_name=f"a{n:02}", broker=redis)
    shop = jobsim.App("shop")
    shop.function("greet", on="shop/greet")(lambda ctx: None)
    with jobsim.Simulation(redis, shop, start=START) as sim, pytest.raises(InvalidArgument) as info:
        sim.dramatiq.crash_worker(function="greet")
    listed = ", ".join(repr(f"a{n:02}") for n in range(20))
    said = f"function='greet' is not valid: a Dramatiq actor of this simulation: {listed}, ... and 2 more"
    assert str(info.value) == said
