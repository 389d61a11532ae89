"""The simulated worker: threads, priorities, prefetch, queues, delays, the clock in actors, join, dead letters."""

from __future__ import annotations

import datetime as dt
import logging
import time

import dramatiq
import pytest
from dramatiq_support import START, START_NS, ms, starts

import jobsim
from jobsim._time import MS, SECOND
from jobsim.errors import JobsimError


@pytest.fixture(autouse=True)
def _quiet():
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


def test_actor_code_reads_and_spends_virtual_time(broker):
    seen = {}

    @dramatiq.actor
    def stamp():
        seen["now"] = dt.datetime.now(dt.timezone.utc)
        seen["time"] = time.time()
        time.sleep(90)
        seen["after"] = dt.datetime.now(dt.timezone.utc)

    with jobsim.Simulation(broker, start=START) as sim:
        message = stamp.send_with_options(delay=dt.timedelta(minutes=5))
        assert message.message_timestamp == START_NS // MS  # built in the test, on the virtual clock
        assert message.options["eta"] == START_NS // MS + 300_000
        sim.run_until_idle()
        assert seen["now"] == dt.datetime(2025, 3, 1, 0, 5, tzinfo=dt.timezone.utc)
        assert seen["time"] == START_NS / SECOND + 300
        assert seen["after"] == dt.datetime(2025, 3, 1, 0, 6, 30, tzinfo=dt.timezone.utc)
        run = sim.runs(stamp)[0]
        assert (ms(run.start_ns), starts(run), ms(run.end_ns)) == (0, [300_000], 390_000)


def test_a_running_message_shows_running_until_its_virtual_end(broker):
    @dramatiq.actor
    def slow():
        time.sleep(10)

    with jobsim.Simulation(broker, start=START) as sim:
        slow.send()
        sim.advance("9.999s")
        assert sim.runs(slow)[0].status == "running"
        sim.advance("0.001s")
        assert sim.runs(slow)[0].status == "completed"


def test_eight_threads_by_default_then_the_next_message_waits_for_one(broker):
    @dramatiq.actor
    def encode(n):
        time.sleep(60)

    with jobsim.Simulation(broker, start=START) as sim:
        for n in range(10):
            encode.send(n)
        sim.run_until_idle()
        assert [starts(r)[0] for r in sim.runs(encode)] == [0] * 8 + [60_000] * 2  # Worker(worker_threads=8)


def test_a_free_thread_takes_the_highest_priority_message_it_has_fetched(broker):
    @dramatiq.actor(priority=10)
    def low(n):
        time.sleep(1)

    @dramatiq.actor(priority=0)
    def high(n):
        time.sleep(1)

    worker = dramatiq.Worker(broker, worker_threads=1)  # prefetch 2 (worker.py:95): 2 unacked messages at most
    with jobsim.Simulation(worker, start=START) as sim:
        low.send(1)
        low.send(2)
        high.send(3)  # not fetched yet: the consumer holds low 1 (running) and low 2
        sim.run_until_idle()
        order = sorted(sim.runs(), key=lambda r: r.attempts[0].start_ns)
        # low 1 acked at 1 s frees a slot: high 3 is fetched, and beats low 2 (lower priority number first)
        assert [(r.function_id, r.event.data["args"], starts(r)[0]) for r in order] == [
            ("low", "(1,)", 0), ("high", "(3,)", 1_000), ("low", "(2,)", 2_000)]


def test_a_worker_reads_only_its_queues(broker):
    @dramatiq.actor(queue_name="emails")
    def email():
        pass

    @dramatiq.actor(queue_name="reports")
    def report():
        pass

    with jobsim.Simulation(dramatiq.Worker(broker, queues={"emails"}), start=START) as sim:
        sim.leave_unread("reports")  # unread on purpose (no UnreadQueueWarning)
        email.send()
        report.send()
        sim.run_until_idle()
        assert [r.status for r in sim.runs()] == ["completed", "queued"]
        assert "report#1 waits on queue 'reports': no running simulated worker consumes it" in sim.timeline()
        with pytest.raises(JobsimError, match=r"broker.join\('reports'\) would wait forever: 1 message"):
            broker.join("reports")


def test_two_workers_share_a_queue_and_the_first_fills_its_prefetch_first(broker):
    @dramatiq.actor
    def job(n):
        time.sleep(10)

    one, two = dramatiq.Worker(broker, worker_threads=1), dramatiq.Worker(broker, worker_threads=1)
    with jobsim.Simulation(one, two, start=START) as sim:
        for n in range(4):
            job.send(n)
        sim.run_until_idle()
        # worker-1 fetches 2 (its prefetch), worker-2 the next 2: each runs one now and one at 10 s
        assert [starts(r)[0] for r in sim.runs(job)] == [0, 10_000, 0, 10_000]
        assert [w.name for w in sim.dramatiq.workers] == ["worker-1", "worker-2"]


def test_an_actor_sending_after_it_slept_sends_at_that_instant(broker):
    @dramatiq.actor
    def child():
        pass

    @dramatiq.actor
    def parent():
        time.sleep(42)
        child.send()

    with jobsim.Simulation(broker, start=START) as sim:
        parent.send()
        sim.run_until_idle()
        run = sim.runs(child)[0]
        assert (ms(run.start_ns), starts(run)) == (42_000, [42_000])
        assert "run       child#1 started by parent#1" in sim.timeline()


def test_the_same_seed_gives_the_same_message_ids_and_trace(broker):
    @dramatiq.actor(max_retries=2, min_backoff=100)
    def flaky(n):
        raise ValueError(n)

    def story(seed: int) -> tuple[list[str], list[tuple]]:
        with jobsim.Simulation(broker, start=START, seed=seed) as sim:
            for n in range(3):
                flaky.send(n)
            sim.run_until_idle()
            return [r.id for r in sim.runs()], [(r.at, r.kind, str(sorted(r.data.items()))) for r in sim.trace]

    assert story(5) == story(5)
    assert story(5)[0] != story(6)[0]


def test_join_runs_the_simulation_until_the_queue_is_done_and_raises_a_dead_letters_error(broker):
    from dramatiq.errors import QueueNotFound

    @dramatiq.actor(max_retries=1, min_backoff=5_000, max_backoff=5_000)
    def fragile(n):
        if n:
            raise LookupError(f"no row {n}")
        time.sleep(3)

    with jobsim.Simulation(broker, start=START, seed=1) as sim:
        fragile.send(0)
        broker.join("default")  # StubBroker.join (brokers/stub.py:146-196), in virtual time
        assert ms(sim.now_ns()) == 3_000
        fragile.send(7)
        with pytest.raises(LookupError, match="no row 7"):  # fail_fast: the dead letter's exception
            broker.join("default")
        assert 5_500 <= ms(sim.now_ns()) < 6_000 + 3_000
        broker.join("default", fail_fast=False)
        with pytest.raises(QueueNotFound):
            broker.join("nowhere")


def test_join_times_out_in_virtual_time(broker):
    from dramatiq.errors import QueueJoinTimeout

    @dramatiq.actor
    def slow():
        time.sleep(600)

    with jobsim.Simulation(broker, start=START) as sim:
        slow.send()
        with pytest.raises(QueueJoinTimeout):
            broker.join("default", timeout=60_000)
        assert ms(sim.now_ns()) == 60_000 and sim.runs(slow)[0].status == "running"
        for timeout in ("5s", dt.timedelta(seconds=5)):  # was a bare TypeError from the division by 1000
            with pytest.raises(jobsim.InvalidArgument, match=r"timeout=.* is not valid: a number of milliseconds"):
                sim.dramatiq.join("default", timeout=timeout)
        assert ms(sim.now_ns()) == 60_000


def test_join_with_timeout_0_waits_with_no_deadline_as_dramatiq_does(broker):
    """``deadline = timeout and ...`` (brokers/stub.py:178, redis.py:226): ``timeout=0`` is no timeout."""

    @dramatiq.actor
    def later():
        pass

    with jobsim.Simulation(broker, start=START) as sim:
        later.send_with_options(delay=10_000)
        broker.join("default", timeout=0)
        assert ms(sim.now_ns()) == 10_000 and sim.runs(later)[0].status == "completed"


def test_join_takes_the_arguments_of_the_brokers_own_join():
    """Each broker's ``join`` has its own signature: ``fail_fast`` is the stub broker's only, ``interval`` the Redis
    broker's, ``min_successes``/``idle_time`` RabbitMQ's. One the broker does not take raises its TypeError."""
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.errors import QueueJoinTimeout

    broker = RedisBroker(host="127.0.0.1", port=1)

    @dramatiq.actor(broker=broker)
    def later():
        pass

    with jobsim.Simulation(broker, start=START) as sim:
        later.send_with_options(delay=5_000)
        with pytest.raises(TypeError, match=r"RedisBroker.join\(\) got an unexpected keyword argument 'fail_fast'"):
            broker.join("default", fail_fast=False)
        with pytest.raises(QueueJoinTimeout):
            broker.join("default", interval=50, timeout=1_000)
        assert ms(sim.now_ns()) == 1_000
        broker.join("default", timeout=0)
        assert ms(sim.now_ns()) == 5_000 and sim.runs(later)[0].status == "completed"


def test_a_stub_brokers_queues_read_as_a_real_worker_leaves_them():
    """``stub_broker.queues[name]`` during the simulation: what no consumer has fetched (``qsize``, ``queue``), and
    that plus what is fetched and not acked (``unfinished_tasks``) -- the same numbers as a real ``Worker`` on a
    real ``StubBroker`` leaves (in memory: checked here on one, in real time). Taking messages is refused."""
    from dramatiq.brokers.stub import StubBroker

    def scenario(broker):
        @dramatiq.actor(broker=broker)
        def hold():
            time.sleep(0.5)

        @dramatiq.actor(broker=broker, queue_name="emails")
        def mail():
            pass

        for _ in range(4):
            hold.send()
        mail.send()
        mail.send_with_options(delay=60_000)

    def read(broker):
        return {name: (q.qsize(), q.empty(), len(q.queue), q.unfinished_tasks) for name, q in broker.queues.items()}

    # one thread, so a prefetch of 2: one message running, one waiting for the thread, two still on the queue;
    # no worker reads "emails": its messages stay where they were sent
    expected = {"default": (2, False, 2, 4), "default.DQ": (0, True, 0, 0), "emails": (1, False, 1, 1),
                "emails.DQ": (1, False, 1, 1)}  # fmt: skip
    real = StubBroker()
    worker = dramatiq.Worker(real, worker_threads=1, queues={"default"}, worker_timeout=50)
    worker.start()
    try:
        scenario(real)
        time.sleep(0.2)
        assert read(real) == expected
    finally:
        worker.stop()
    stub = StubBroker()
    with jobsim.Simulation(dramatiq.Worker(stub, worker_threads=1, queues={"default"}), start=START) as sim:
        sim.leave_unread("emails")
        scenario(stub)
        sim.advance("200ms")
        assert read(stub) == expected
        refused = r"broker.queues\['default'\].get_nowait\(\) on a StubBroker"
        with pytest.raises(jobsim.UnsupportedFeature, match=refused):
            stub.queues["default"].get_nowait()
        sim.run_until_idle()
        assert read(stub)["default"] == (0, True, 0, 0)
    assert type(stub.queues["default"]).__name__ == "Queue"  # the broker's own again


def test_worker_join_waits_for_what_the_worker_holds_as_a_started_worker_does():
    """``Worker.join()`` (worker.py:190-209): it returns once the worker's work and delay queues are empty -- here
    the simulation runs until then (it used to return at once, whatever the worker held). Checked against a real
    Worker on a real StubBroker (in memory): 100 ms after the send the worker runs the message, busy until 300 ms,
    and join waits for it."""
    from dramatiq.brokers.stub import StubBroker

    def scenario(broker):
        done = []

        @dramatiq.actor(broker=broker)
        def record(x):
            time.sleep(0.3)
            done.append(x)

        record.send(1)
        return done

    real = StubBroker()
    worker = dramatiq.Worker(real, worker_threads=1, worker_timeout=20)
    worker.start()
    try:
        began = time.monotonic()
        done = scenario(real)
        time.sleep(0.1)
        assert done == []
        worker.join()
        assert done == [1] and time.monotonic() - began >= 0.29
    finally:
        worker.stop()
    stub = StubBroker()
    worker = dramatiq.Worker(stub, worker_threads=1)
    with jobsim.Simulation(worker, start=START) as sim:
        done = scenario(stub)
        sim.advance("100ms")
        assert done == [1] and sim.runs("record")[0].status == "running"  # the body ran in one go; ends at 300 ms
        worker.join()
        assert ms(sim.now_ns()) == 300 and sim.runs("record")[0].status == "completed"


def test_joining_stopping_or_pausing_a_worker_the_simulation_does_not_drive_says_so(broker):
    @dramatiq.actor
    def record(x):
        pass

    other = dramatiq.Worker(broker)  # never started, not given to the simulation
    simulated = dramatiq.Worker(broker, worker_threads=1)
    with jobsim.Simulation([broker, simulated], start=START) as sim:
        record.send(1)
        with pytest.raises(jobsim.UnsupportedFeature, match=r"join\(\) of a Worker this simulation does not run: "
                                                            r"never started, it would return at once"):  # fmt: skip
            other.join()
        with pytest.raises(jobsim.UnsupportedFeature, match=r"stop\(\) of a Worker this simulation runs: .* plan it "
                                                            r"with sim.dramatiq.stop_worker"):  # fmt: skip
            simulated.stop()
        for name in ("pause", "resume"):
            with pytest.raises(jobsim.UnsupportedFeature, match=rf"{name}\(\) of a Worker this simulation runs"):
                getattr(simulated, name)()
        other.stop()  # Dramatiq's own on a worker never started: nothing to stop
        sim.dramatiq.stop_worker(worker="worker-1")  # what to do instead; a worker by its name too
        sim.run_until_idle()
        assert "worker-1 stopped" in sim.timeline()


def test_joining_a_queue_retried_for_ever_stops_after_a_year_of_virtual_time(broker):
    from jobsim.errors import BudgetExceeded

    @dramatiq.actor(max_retries=None, min_backoff=86_400_000)
    def forever():
        raise ValueError("never")

    with jobsim.Simulation(broker, start=START) as sim:
        forever.send()
        with pytest.raises(BudgetExceeded, match=r"broker.join\('default'\) was still waiting after 366d of virtual"):
            broker.join("default")
        assert sim.runs(forever)[0].status == "retrying"


def test_a_redis_dead_letter_is_kept_for_dead_message_ttl():
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(host="127.0.0.1", port=1, dead_message_ttl=3_600_000)

    @dramatiq.actor(broker=broker, max_retries=0)
    def broken():
        raise RuntimeError("always")

    with jobsim.Simulation(broker, start=START) as sim:
        message = broken.send()
        sim.run_until_idle()
        [letter] = sim.dramatiq.dead_letters
        assert (letter.message_id, letter.queue, ms(letter.at), ms(letter.expires_at)) == (
            message.message_id, "default", 0, 3_600_000)
        assert "redis_message_id" in letter.message.options  # what the broker stored: the enqueued message
        sim.advance("1h")
        assert sim.dramatiq.dead_letters == []
        assert "dead letter of broken#1 dropped from default.XQ (dead message ttl)" in sim.timeline()


def test_flush_drops_what_each_broker_drops():
    """``broker.flush(queue)``: a StubBroker drains that queue alone -- not its ``.DQ``, not its dead letters
    (brokers/stub.py:128-135) -- and a message sent at this very instant is on it already; RabbitMQ purges the
    queue, its ``.DQ`` and its ``.XQ`` (brokers/rabbitmq.py:457-471), so its dead letters go too."""
    from dramatiq.brokers.stub import StubBroker

    stub = StubBroker()

    @dramatiq.actor(broker=stub)
    def record(x):
        pass

    with jobsim.Simulation(dramatiq.Worker(stub, queues={"elsewhere"}), start=START) as sim:
        record.send(1)
        record.send_with_options(args=(2,), delay=1_000)
        stub.flush("default")  # at once: message 1 was sent now, and is dropped
        assert [r.status for r in sim.runs(record)] == ["lost", "queued"]
        assert (stub.queues["default"].qsize(), stub.queues["default.DQ"].qsize()) == (0, 1)
        with pytest.raises(KeyError):
            stub.flush("nowhere")  # as the stub broker's own
        stub.flush_all()
        assert [r.status for r in sim.runs(record)] == ["lost", "lost"]

    pytest.importorskip("pika", reason="RabbitmqBroker needs pika: pip install -e 'plugins/jobsim-dramatiq[rabbitmq]'")
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    rabbit = RabbitmqBroker(host="127.0.0.1", port=1)

    @dramatiq.actor(broker=rabbit, max_retries=0)
    def broken():
        raise RuntimeError("always")

    with jobsim.Simulation(rabbit, start=START) as sim:
        broken.send()
        sim.run_until_idle()
        assert len(sim.dramatiq.dead_letters) == 1
        rabbit.flush("default")
        assert sim.dramatiq.dead_letters == []


def test_a_rabbitmq_queue_hands_out_higher_broker_priority_first():
    pytest.importorskip("pika", reason="RabbitmqBroker needs pika: pip install -e 'plugins/jobsim-dramatiq[rabbitmq]'")
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(host="127.0.0.1", port=1, max_priority=5)

    @dramatiq.actor(broker=broker)
    def job(n):
        time.sleep(1)

    with jobsim.Simulation(dramatiq.Worker(broker, worker_threads=1), start=START) as sim:
        for n, priority in enumerate([0, 0, 0, 9, 3]):
            job.send_with_options(args=(n,), broker_priority=priority)
        sim.run_until_idle()
        order = sorted(sim.runs(job), key=lambda r: r.attempts[0].start_ns)
        # two fetched at once (prefetch 2) in arrival order; then the broker's priority queue: 9 (capped at 5), 3, 0
        assert [r.event.data["args"] for r in order] == ["(0,)", "(1,)", "(3,)", "(4,)", "(2,)"]


def test_sim_dramatiq_finds_the_run_of_a_message(broker):
    @dramatiq.actor
    def ping():
        return "pong"

    with jobsim.Simulation(broker, start=START) as sim:
        message = ping.send()
        sim.run_until_idle()
        assert sim.dramatiq.run(message) is sim.runs(ping)[0] is sim.dramatiq.run(message.message_id)
        broker.enqueue(message)  # the same message again: a second delivery, a second run
        sim.run_until_idle()
        assert [r.id for r in sim.dramatiq.runs_of(message)] == [message.message_id, message.message_id + "#2"]


def test_a_callback_naming_an_actor_the_broker_does_not_know_is_on_the_timeline(broker):
    # Callbacks' get_actor raises ActorNotFound, which emit_after logs and drops (broker.py:123-129): the alert
    # vanished without a trace -- typically its module was never imported by the test, as a worker would import it
    @dramatiq.actor(on_success="audit", on_failure="alert")
    def charge(fail):
        if fail:
            raise ValueError("declined")

    with jobsim.Simulation(broker, start=START) as sim:
        charge.send(False)
        charge.send_with_options(args=(True,), max_retries=0)
        sim.run_until_idle()
        assert [r.status for r in sim.runs(charge)] == ["completed", "failed"]  # as on Dramatiq: not the run's error
        timeline = sim.timeline()
        for name in ("audit", "alert"):
            assert timeline.count(f"no actor {name!r} on the broker (ActorNotFound): a callback naming it is "
                                  "dropped") == 1  # fmt: skip
