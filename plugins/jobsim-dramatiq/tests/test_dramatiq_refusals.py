"""What jobsim-dramatiq refuses, each with the thing named and the fix: never a hang, never lost work."""

from __future__ import annotations

import logging
import sys
import time

import dramatiq
import pytest
from dramatiq.middleware import Middleware
from dramatiq_support import START, START_NS

import jobsim
from jobsim.errors import InvalidArgument, JobsimError, UnsupportedFeature


@pytest.fixture(autouse=True)
def _quiet():
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


def test_a_middleware_that_needs_worker_threads_is_refused_by_name(broker):
    class DbConnections(Middleware):
        def after_worker_thread_boot(self, broker, thread):
            pass

        def before_worker_thread_shutdown(self, broker, thread):
            pass

    broker.add_middleware(DbConnections())
    message = (r"middleware test_dramatiq_refusals\..*DbConnections needs worker processes or threads "
               r"\(after_worker_thread_boot, before_worker_thread_shutdown\): .* Build the broker under test "
               r"without it")  # fmt: skip
    with pytest.raises(UnsupportedFeature, match=message):
        jobsim.Simulation(broker)


def test_a_middleware_with_forks_is_refused(broker):
    class Exporter(Middleware):
        @property
        def forks(self):
            return [lambda: 0]

    broker.add_middleware(Exporter())
    with pytest.raises(UnsupportedFeature, match=r"Exporter needs worker processes or threads \(forks\)"):
        jobsim.Simulation(broker)


def test_a_middleware_with_message_hooks_only_runs_at_virtual_instants(broker):
    seen = []

    class Audit(Middleware):
        def after_enqueue(self, broker, message, delay):
            seen.append(("enqueue", message.actor_name, delay, int(time.time())))

        def after_ack(self, broker, message):
            seen.append(("ack", message.actor_name, None, int(time.time())))

    broker.add_middleware(Audit())

    @dramatiq.actor
    def job():
        time.sleep(7)

    with jobsim.Simulation(broker, start=START) as sim:
        job.send_with_options(delay=3_000)
        sim.run_until_idle()
    t0 = 1_740_787_200  # START
    # the delayed message is enqueued twice: on the delay queue, then on its queue at its eta, before the delay
    # queue's copy is acked (handle_delayed_messages, worker.py:356-362)
    assert seen == [("enqueue", "job", 3_000, t0), ("enqueue", "job", None, t0 + 3), ("ack", "job", None, t0 + 3),
                    ("ack", "job", None, t0 + 10)]  # fmt: skip


def test_gevent_is_refused(broker, monkeypatch):
    import dramatiq.threading

    monkeypatch.setattr(dramatiq.threading, "is_gevent_active", lambda: True)
    with pytest.raises(UnsupportedFeature, match=r"^gevent's monkey patching is active"):
        jobsim.Simulation(broker)


def test_a_running_worker_is_refused_and_starting_one_in_a_simulation_too(broker):
    @dramatiq.actor
    def job():
        pass

    worker = dramatiq.Worker(broker, worker_timeout=50)
    worker.start()
    try:
        with pytest.raises(UnsupportedFeature, match=r"a dramatiq Worker is running on this broker \(\d+ live thread"):
            jobsim.Simulation(broker)
        with pytest.raises(InvalidArgument, match=r"dramatiq.Worker passed to jobsim.Simulation was started"):
            jobsim.Simulation(worker)
    finally:
        worker.stop()
    with jobsim.Simulation(broker, start=START) as sim:  # a stopped worker's middleware is set aside
        with pytest.raises(UnsupportedFeature, match=r"Worker\(...\).start\(\) was called for a broker this simul"):
            dramatiq.Worker(broker).start()
        job.send()
        sim.run_until_idle()
        assert sim.runs(job)[0].status == "completed"
    assert any(type(m).__name__ == "_WorkerMiddleware" for m in broker.middleware)  # given back


def test_a_broker_of_another_kind_is_refused():
    from dramatiq.broker import Broker

    class SqsBroker(Broker):
        def declare_queue(self, queue_name):
            self.queues[queue_name] = None

    with pytest.raises(UnsupportedFeature, match=r"simulates StubBroker, RedisBroker and RabbitmqBroker .* got a "
                                                 r"\S*SqsBroker, whose enqueue"):  # fmt: skip
        jobsim.Simulation(SqsBroker())


def test_an_unknown_results_backend_is_refused(broker):
    from dramatiq.results import ResultBackend, Results

    class S3Backend(ResultBackend):
        pass

    broker.add_middleware(Results(backend=S3Backend()))
    with pytest.raises(UnsupportedFeature, match=r"backend is a .*S3Backend: jobsim-dramatiq keeps results"):
        jobsim.Simulation(broker).start()


def test_reading_a_result_from_a_backend_the_simulation_does_not_run_is_refused():
    """``Message.get_result()`` without ``backend=`` reads the *global* broker's Results backend
    (``message.py:130-175``). With the simulated broker not the global one, that backend is a real
    ``RedisBackend``: the read went to a real server (a ``ConnectionError`` -- or, with a Redis running on
    the machine, a real-time wait and a wrong answer). It is refused, naming the backend and the fix."""
    import dramatiq.broker
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.results import Results
    from dramatiq.results.backends import RedisBackend

    def redis_broker() -> RedisBroker:
        made = RedisBroker(host="127.0.0.1", port=1)
        made.add_middleware(Results(backend=RedisBackend(host="127.0.0.1", port=1)))
        return made

    saved = dramatiq.broker.global_broker
    global_one, simulated = redis_broker(), redis_broker()
    dramatiq.set_broker(global_one)
    try:

        @dramatiq.actor(broker=simulated, store_results=True)
        def total():
            return 42

        @dramatiq.actor(broker=simulated, max_retries=0)
        def reads_it(message_data):
            return dramatiq.Message(**message_data).get_result()

        with jobsim.Simulation(simulated, start=START) as sim:
            message = total.send()
            for block in (False, True):
                with pytest.raises(UnsupportedFeature, match=r"RedisBackend of a broker this simulation does not run"
                                   r".*backend=.*set_broker"):  # fmt: skip
                    message.get_result(block=block)
            sim.run_until_idle()
            assert message.get_result(backend=simulated.get_results_backend()) == 42  # the simulated one answers
            reads_it.send(message.asdict())  # from actor code too (a jobsim error ends the driving call)
            with pytest.raises(UnsupportedFeature, match=r"global broker is not the one under test"):
                sim.run_until_idle()
    finally:
        dramatiq.broker.global_broker = saved


def test_enqueue_on_a_redis_broker_the_simulation_does_not_run_is_refused(broker):
    from dramatiq.brokers.redis import RedisBroker

    other = RedisBroker(host="127.0.0.1", port=1)

    @dramatiq.actor(broker=other)
    def elsewhere():
        pass

    with jobsim.Simulation(broker, start=START), pytest.raises(UnsupportedFeature, match=r"message 'elsewhere' was "
                                                                "enqueued on a RedisBroker that this simulation does "
                                                                "not run"):  # fmt: skip
        elsewhere.send()



def test_a_stub_broker_the_simulation_does_not_run_refuses_send_and_joins_naming_it(broker):
    """A second ``StubBroker`` the test forgot to pass: ``send`` was accepted into that broker's own queue (no run in
    the simulation) and ``other.join("default", timeout=100)`` waited in real time -- for ever without ``timeout=``.
    Refused, naming the broker and the fix; so is ``join()`` of a ``Worker`` on it that was never started."""
    from dramatiq.brokers.stub import StubBroker

    other = StubBroker()

    @dramatiq.actor(broker=other)
    def elsewhere():
        pass

    named = f"StubBroker at {id(other):#x}, actors 'elsewhere'"
    with jobsim.Simulation(broker, start=START):
        with pytest.raises(UnsupportedFeature) as sent:
            elsewhere.send()
        assert str(sent.value) == (
            f"message 'elsewhere' was enqueued on a StubBroker that this simulation does not run ({named}): no "
            "simulated worker takes it, so it would wait in that broker's own queue, unseen by sim.runs(...), and "
            "broker.join() would wait for it in real time. Pass that broker (or its actors) to jobsim.Simulation "
            "too, e.g. jobsim.Simulation(broker, other_broker)")  # fmt: skip
        began = time.monotonic()
        with pytest.raises(UnsupportedFeature) as joined:
            other.join("default", timeout=100)
        assert time.monotonic() - began < 0.05  # refused at once: no real-time wait
        assert str(joined.value) == (
            f"broker.join('default') on a StubBroker that this simulation does not run ({named}): no simulated worker "
            "takes its messages, so it would wait in real time -- for ever without timeout= (or, with a real Worker "
            "on it, for delays and retries due on the simulation's clock, which stands still while the test waits). "
            "Pass that broker (or its actors) to jobsim.Simulation too, e.g. jobsim.Simulation(broker, "
            "other_broker), and join it there")  # fmt: skip
        with pytest.raises(UnsupportedFeature) as worker_joined:
            dramatiq.Worker(other).join()
        assert str(worker_joined.value) == (
            "dramatiq.Worker(...).join() of a Worker this simulation does not run, on a broker it does not run "
            f"either ({named}): not started, it would return at once, having waited for nothing. Pass that Worker "
            "(or its broker) to jobsim.Simulation too, and join it there")  # fmt: skip
    assert other.queues["default"].qsize() == 0  # nothing reached its queue
    elsewhere.send()  # after the simulation: Dramatiq's own again
    assert other.queues["default"].qsize() == 1


def test_a_second_stub_broker_passed_to_the_simulation_is_sent_to_and_joined(broker):
    """The fix the refusals above name: both stub brokers given, each one's messages run and its join returns."""
    from dramatiq.brokers.stub import StubBroker

    other = StubBroker()

    @dramatiq.actor
    def here():
        pass

    @dramatiq.actor(broker=other)
    def elsewhere():
        time.sleep(5)

    with jobsim.Simulation(broker, other, start=START) as sim:
        here.send()
        elsewhere.send()
        other.join("default")  # in virtual time: the 5 s the actor sleeps
        assert sim.now_ns() - START_NS == 5_000_000_000
        assert [run.status for run in sim.runs(elsewhere)] == ["completed"]
        broker.join("default")
        assert [run.status for run in sim.runs(here)] == ["completed"]


def test_flush_join_and_counts_of_a_broker_the_simulation_does_not_run_are_refused_not_sent_to_the_server(broker):
    """Only ``enqueue`` was guarded: ``flush_all()`` of a Redis broker the simulation was not given (or of any, in a
    simulation that runs none: a test that forgot its broker) emptied the real server's queues, and ``join()``
    waited on them."""
    from dramatiq.brokers.redis import RedisBroker

    other = RedisBroker(host="127.0.0.1", port=1)
    simulated = RedisBroker(host="127.0.0.1", port=1)
    calls = (lambda: other.flush("default"), lambda: other.flush_all(), lambda: other.join("default", timeout=100))
    refused = r"^broker\.{}\(\) on a RedisBroker that this simulation does not run would reach the real server"
    with jobsim.Simulation(broker, simulated, start=START):
        for name, call in zip(("flush", "flush_all", "join"), calls, strict=True):
            with pytest.raises(UnsupportedFeature, match=refused.format(name)):
                call()
        simulated.flush_all()  # the simulated broker's own
        simulated.join("default")
    app = jobsim.App("other")

    @app.function("noop", on="noop")
    def noop(ctx):
        return None

    with jobsim.Simulation(app):
        for name, call in zip(("flush", "flush_all", "join"), calls, strict=True):
            with pytest.raises(JobsimError, match=rf"^broker\.{name}\(\) on a RedisBroker that is not part of this "
                                                  r"simulation would reach the real server"):  # fmt: skip
                call()


def test_starting_a_real_worker_on_a_redis_broker_the_simulation_does_not_run_is_refused(broker):
    """Only a worker on a simulated broker was refused: one on another Redis broker started its real threads."""
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.brokers.stub import StubBroker

    other = RedisBroker(host="127.0.0.1", port=1)
    worker = dramatiq.Worker(other, worker_threads=1)
    with jobsim.Simulation(broker, start=START):
        with pytest.raises(UnsupportedFeature, match=r"^dramatiq\.Worker\(\.\.\.\)\.start\(\) was called for a "
                                                     r"RedisBroker that this simulation does not run"):  # fmt: skip
            worker.start()
        stub_worker = dramatiq.Worker(StubBroker(), worker_threads=1)
        stub_worker.start()  # in memory: Dramatiq's own testing pattern passes
        stub_worker.stop()
    assert not worker.workers and not worker.consumers  # nothing was started

def test_no_global_broker_is_refused_instead_of_making_a_rabbitmq_broker(broker):
    import dramatiq.broker

    @dramatiq.actor
    def step():
        pass

    with jobsim.Simulation(broker, start=START):
        dramatiq.broker.global_broker = None
        with pytest.raises(UnsupportedFeature, match=r"no global broker set .* Call dramatiq.set_broker\(broker\)"):
            dramatiq.pipeline([step.message(), step.message()])


def test_bad_arguments_to_enqueue_are_named(broker):
    @dramatiq.actor
    def job():
        pass

    with jobsim.Simulation(broker, start=START):
        with pytest.raises(InvalidArgument, match=r"^delay='5s' is not valid: a finite number of milliseconds"):
            broker.enqueue(job.message(), delay="5s")
        with pytest.raises(InvalidArgument, match=r"^message='job' is not valid: a dramatiq Message"):
            broker.enqueue("job")


def test_an_unencodable_argument_fails_in_send_as_on_dramatiq(broker):
    @dramatiq.actor
    def job(value):
        pass

    with jobsim.Simulation(broker, start=START) as sim:
        with pytest.raises(TypeError, match="not JSON serializable"):
            job.send(object())
        assert sim.runs(job) == []


def test_a_crash_of_a_stub_brokers_worker_is_refused(broker):
    @dramatiq.actor
    def job():
        pass

    @dramatiq.actor
    def slow():
        time.sleep(10)

    refused = r"crash_worker\(\.\.\.\) of a Dramatiq worker on a StubBroker \(worker-1\): a StubBroker's queues live"
    with jobsim.Simulation(broker, start=START) as sim, pytest.raises(UnsupportedFeature, match=refused):
        sim.crash_worker(function=job)
    with jobsim.Simulation(broker, start=START) as sim:
        # no function: only the stub broker's actors could be hit (it was armed for nothing, and the message
        # running across the instant ran on, uncrashed)
        with pytest.raises(UnsupportedFeature, match=refused):
            sim.crash_worker(at="2025-03-01T00:00:01Z")
        slow.send()
        sim.run_until_idle()
        assert [r.status for r in sim.runs(slow)] == ["completed"]
    other = jobsim.App("other")

    @other.function("beat", cron="* * * * *")
    def beat(ctx):
        time.sleep(5)

    with jobsim.Simulation([broker, other], start=START) as sim:
        sim.crash_worker(at="2025-03-01T00:01:01Z")  # for jobsim's own functions: nothing of a stub broker's
        slow.send()
        sim.advance("2m")
        assert [r.status for r in sim.runs(slow)] == ["completed"]
        assert isinstance(sim.runs(beat)[0].attempts[0].error, jobsim.WorkerCrashed)  # the crash hit it instead


def test_a_stop_that_comes_after_the_body_already_ran_past_it_is_refused(broker):
    @dramatiq.actor(notify_shutdown=True)
    def long():
        time.sleep(60)

    with jobsim.Simulation(broker, start=START) as sim:
        long.send()
        sim.advance("1s")
        with pytest.raises(UnsupportedFeature, match=r"stop_worker\(at=2025-03-01T00:00:30.000Z\) would interrupt "
                                                     r"actor 'long'.*plan the stop before that message starts"):
            sim.dramatiq.stop_worker(at="2025-03-01T00:00:30Z")


def test_a_message_outliving_the_stop_timeout_is_refused_not_lost(broker):
    @dramatiq.actor
    def long():
        time.sleep(120)

    with jobsim.Simulation(broker, start=START) as sim:
        sim.dramatiq.stop_worker(at="2025-03-01T00:00:10Z", timeout=60_000)
        long.send()
        with pytest.raises(UnsupportedFeature, match=r"more than the stop timeout \(1m\) after worker-1 began to stop"):
            sim.run_until_idle()


def test_consuming_the_broker_in_a_simulation_is_refused(broker):
    with jobsim.Simulation(broker, start=START), pytest.raises(UnsupportedFeature, match=r"broker.consume\('default'"):
        broker.consume("default")



def test_rabbitmq_queue_counts_in_a_simulation_are_refused_not_read_from_the_server():
    """``RabbitmqBroker.get_queue_message_counts`` (a queue's depth, a common health check) opened a connection to
    the real server: an AMQPConnectionError here, a developer's local RabbitMQ's counts elsewhere."""
    pytest.importorskip("pika")
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(host="127.0.0.1", port=1)

    @dramatiq.actor(broker=broker)
    def ping():
        return None

    message = (r"^broker\.get_queue_message_counts\('default'\) while a simulation runs this broker: it would ask the "
               r"real RabbitMQ server")  # fmt: skip
    with jobsim.Simulation(broker, start=START), pytest.raises(UnsupportedFeature, match=message):
        ping.send_with_options(delay=1000)
        broker.get_queue_message_counts("default")
    assert "get_queue_message_counts" not in vars(broker)  # the broker's own method again

def test_one_simulation_with_dramatiq_at_a_time(broker):
    with jobsim.Simulation(broker, start=START), pytest.raises(JobsimError, match="another simulation with Dramatiq"):
        jobsim.Simulation(broker).start()


def test_a_broker_given_twice_and_an_actor_name_on_two_brokers_are_refused(broker):
    from dramatiq.brokers.stub import StubBroker

    with pytest.raises(InvalidArgument, match=r"the Dramatiq broker StubBroker at 0x[0-9a-f]+ is passed to this "
                                              r"Simulation twice"):  # fmt: skip
        jobsim.Simulation(broker, broker)
    other = StubBroker()

    @dramatiq.actor(broker=broker, actor_name="job")
    def job_a():
        pass

    @dramatiq.actor(broker=other, actor_name="job")
    def job_b():
        pass

    with pytest.raises(InvalidArgument, match=r"actor name 'job' is declared on two Dramatiq brokers"):
        jobsim.Simulation(job_a, job_b)


def test_the_simulation_gives_every_patch_back_when_it_closes(broker):
    import dramatiq.common
    from dramatiq.middleware import TimeLimit

    millis, uniform, enqueue = dramatiq.common.current_millis, dramatiq.common.uniform, broker.enqueue
    manager = next(m for m in broker.middleware if isinstance(m, TimeLimit)).manager
    with jobsim.Simulation(broker, start=START):
        assert dramatiq.common.current_millis is not millis
    assert (dramatiq.common.current_millis, dramatiq.common.uniform) == (millis, uniform)
    assert broker.enqueue == enqueue and "enqueue" not in vars(broker)
    assert next(m for m in broker.middleware if isinstance(m, TimeLimit)).manager is manager
    assert abs(dramatiq.common.current_millis() - time.time() * 1000) < 5_000  # the real clock again


@pytest.mark.parametrize("threads", [0, -2])
def test_a_worker_with_no_threads_is_refused_instead_of_leaving_every_message_queued(broker, threads):
    """``Worker(broker, worker_threads=0)`` starts no thread to run messages (``worker.py:113``): on Dramatiq
    every message waits for ever. The simulation took it, and run_until_idle returned with each run ``queued``."""

    @dramatiq.actor
    def job():
        pass

    with pytest.raises(InvalidArgument, match=rf"worker_threads={threads} is not valid: at least 1"):
        jobsim.Simulation(dramatiq.Worker(broker, worker_threads=threads), start=START)


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), "1s"])
def test_a_worker_timeout_that_is_not_a_finite_number_is_refused_naming_it(broker, timeout):
    """Was a bare ValueError/OverflowError from int() in the simulated worker (TypeError for a string)."""

    @dramatiq.actor
    def job():
        pass

    with pytest.raises(InvalidArgument, match=rf"^worker_timeout={timeout!r} is not valid: milliseconds"):
        jobsim.Simulation(dramatiq.Worker(broker, worker_timeout=timeout), start=START)


def test_a_redis_broker_the_simulation_was_not_given_is_refused_when_none_is():
    # a test that forgot jobsim.Simulation(broker): actor.send reached the real Redis
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.brokers.stub import StubBroker

    app = jobsim.App("other")

    @app.function("noop", on="noop")
    def noop(ctx):
        return None

    redis_broker = RedisBroker(url="redis://127.0.0.1:1/0")  # nothing listens there
    charge = dramatiq.actor(lambda order_id: None, actor_name="charge", broker=redis_broker)
    stub = StubBroker()
    stub.emit_after("process_boot")
    audit = dramatiq.actor(lambda: None, actor_name="audit", broker=stub)
    with jobsim.Simulation(app):
        with pytest.raises(JobsimError, match=r"message 'charge' was enqueued on a RedisBroker that is not part of "
                                              r"this simulation.*jobsim.Simulation\(broker\)"):  # fmt: skip
            charge.send("o-1")
        audit.send()  # a StubBroker is in memory: nothing real to reach
        from dramatiq.rate_limits import ConcurrentRateLimiter
        from dramatiq.rate_limits.backends import RedisBackend, StubBackend
        from dramatiq.results.backends import RedisBackend as ResultsBackend

        mutex = ConcurrentRateLimiter(RedisBackend(url="redis://127.0.0.1:1/0"), "export", limit=1)
        refused = r"add\(\) on a rate-limiter RedisBackend would reach the real server.*jobsim.Simulation\(broker\)"
        with pytest.raises(JobsimError, match=refused), mutex.acquire():
            pass
        with pytest.raises(JobsimError, match=r"get_result\(\) on a results RedisBackend would reach the real"):
            charge.message("o-1").get_result(backend=ResultsBackend(url="redis://127.0.0.1:1/0"))
        with ConcurrentRateLimiter(StubBackend(), "export", limit=1).acquire():  # in memory: passes
            pass
        with pytest.raises(JobsimError, match=r"a dramatiq.Worker was started on a RedisBroker while a simulation "
                                              r"that runs no Dramatiq broker is running"):  # fmt: skip
            dramatiq.Worker(redis_broker, worker_threads=1).start()
    assert stub.queues["default"].qsize() == 1


def test_joining_a_stub_broker_nothing_consumes_is_refused_when_the_simulation_runs_none():
    """A test that forgot ``jobsim.Simulation(broker)`` (it simulated another backend): ``actor.send`` on its
    ``StubBroker`` is in memory and passes, but ``broker.join(queue)`` then blocked for ever -- no worker takes the
    message. Refused, naming the broker and the fix; ``join()`` of a ``Worker`` never started too. A real ``Worker``
    started on the stub (Dramatiq's own testing pattern, on the real clock here) is joined as without jobsim."""
    from dramatiq.brokers.stub import StubBroker

    app = jobsim.App("other")

    @app.function("noop", on="noop")
    def noop(ctx):
        return None

    stub = StubBroker()
    stub.emit_after("process_boot")
    ran = []
    charge = dramatiq.actor(lambda order_id: ran.append(order_id), actor_name="charge", broker=stub)
    named = f"StubBroker at {id(stub):#x}, actors 'charge'"
    fix = ("This simulation runs no Dramatiq broker: pass the broker (or its actors), e.g. jobsim.Simulation(broker) "
           "or jobsim.Simulation(broker, other_target)")  # fmt: skip
    with jobsim.Simulation(app):
        charge.send("o-1")  # in memory: passes
        with pytest.raises(JobsimError) as joined:
            stub.join(charge.queue_name)
        assert str(joined.value) == (
            f"broker.join('default') on a StubBroker that is not part of this simulation ({named}), and that no "
            "started dramatiq.Worker consumes: nothing takes its messages, so it would wait in real time, for ever "
            f"without timeout=. {fix}")  # fmt: skip
        worker = dramatiq.Worker(stub, worker_threads=1, worker_timeout=20)
        with pytest.raises(JobsimError) as worker_joined:
            worker.join()
        assert str(worker_joined.value) == (
            "dramatiq.Worker(...).join() of a Worker that is not part of this simulation and not started, on "
            f"{named}: it would return at once, having waited for nothing. {fix}")  # fmt: skip
        worker.start()
        try:
            stub.join(charge.queue_name, timeout=5_000)
            worker.join()
        finally:
            worker.stop()
        assert ran == ["o-1"]


def test_a_message_passed_as_the_target_is_named(broker):
    @dramatiq.actor
    def charge(order_id):
        return None

    with pytest.raises(InvalidArgument, match=r"a Dramatiq message \(of actor 'charge'\); jobsim-dramatiq simulates "
                                              r"a broker: pass the broker"):  # fmt: skip
        jobsim.Simulation(charge.message("o-1"))


def test_naming_an_actor_of_a_broker_the_simulation_does_not_run_says_to_pass_that_broker(broker):
    """``sim.runs(actor)`` of an actor on another broker said only that Dramatiq functions "are only known once
    user code has used them; do that first" -- the actors of a simulated broker are known from the start, so it
    is the other broker that is missing, and the message says so."""
    from dramatiq.brokers.redis import RedisBroker

    other = RedisBroker(url="redis://127.0.0.1:1/0")

    @dramatiq.actor(broker=other)
    def elsewhere():
        pass

    @dramatiq.actor
    def here():
        pass

    with jobsim.Simulation(broker, start=START) as sim:
        assert sim.runs(here) == []  # known before it is used
        with pytest.raises(jobsim.errors.InvalidArgument, match=r"or, if it is declared on a broker, app or queue "
                           r"this simulation was not given .*, pass that to jobsim.Simulation\(...\) too"):
            sim.runs(elsewhere)


def test_a_nan_or_infinite_delay_is_refused_before_a_run_is_made(broker):
    """Was a bare ValueError/OverflowError from int() of the eta, after the run had been made: a run left 'queued'."""
    @dramatiq.actor
    def job():
        pass

    with jobsim.Simulation(broker, start=START) as sim:
        for delay in (float("nan"), float("inf"), -float("inf")):
            with pytest.raises(InvalidArgument, match=rf"^delay={delay!r} is not valid: a finite number of "
                                                      "milliseconds"):
                job.send_with_options(delay=delay)
        sim.run_until_idle()
        assert sim.runs(job) == []


@pytest.mark.parametrize("where", ["message", "actor"])
def test_throws_that_is_not_an_exception_class_is_refused_at_the_send(broker, where):
    """Dramatiq checks isinstance(error, throws) when the actor fails: a string there raised TypeError out of
    sim.run_until_idle() and left the run 'running' (a real worker logs it and acks the message: no retry)."""
    @dramatiq.actor(max_retries=1, **({"throws": "ValueError"} if where == "actor" else {}))
    def job():
        raise ValueError("boom")

    options = {"throws": "ValueError"} if where == "message" else {}
    with jobsim.Simulation(broker, start=START) as sim:
        with pytest.raises(InvalidArgument, match=r"throws='ValueError' is not valid: an exception class or a "
                                                  r"tuple of them, e\.g\. throws=\(ValueError,\)"):
            job.send_with_options(**options)
        assert sim.runs(job) == []


def test_a_stop_planned_after_the_simulation_closed_is_refused(broker):
    @dramatiq.actor
    def job():
        pass

    with jobsim.Simulation(broker, start=START) as sim:
        job.send()
        sim.run_until_idle()
    with pytest.raises(JobsimError, match=r"sim\.dramatiq\.stop_worker\(\) needs a running simulation"):
        sim.dramatiq.stop_worker(at="2025-03-01T01:00:00Z")


@pytest.mark.parametrize(("option", "value"), [
    ("max_retries", "3"),  # Retries compares retries >= '3': TypeError in after_process_message
    ("min_backoff", float("nan")),  # int(nan) in compute_backoff
    ("max_backoff", "1s"),
    ("time_limit", "5"),  # TimeLimit divides it by 1000 before the actor runs
    ("max_age", float("nan")),
])  # fmt: skip
def test_a_retry_or_limit_option_dramatiq_cannot_compute_with_is_refused_at_the_send(broker, option, value):
    """A real worker logs the middleware's TypeError/ValueError and acks the message (no retry, nothing failed) or
    fails it before the actor runs; the simulation had failed it once, or run it with no limit."""
    @dramatiq.actor
    def job():
        pass

    with jobsim.Simulation(broker, start=START) as sim:
        with pytest.raises(InvalidArgument, match=rf"^{option}={value!r} is not valid: a number of "):
            job.send_with_options(**{option: value})
        refused = dramatiq.actor(actor_name="limited", **{option: value})(lambda: None)
        with pytest.raises(InvalidArgument, match=rf"^{option}={value!r} is not valid"):
            refused.send()
        assert sim.runs(job) == []


@pytest.mark.parametrize(("actor_options", "send_options", "named"), [
    ({"time_limit": None}, {}, "time_limit"),  # TimeLimit: None / 1000 before the actor runs (ran with no limit)
    ({}, {"min_backoff": None}, "min_backoff"),  # Retries: compute_backoff(factor=None) (had failed it at once)
    ({"max_retries": 2}, {"max_backoff": None}, "max_backoff"),  # Retries: min(None, ...)
])  # fmt: skip
def test_a_none_the_middleware_cannot_compute_with_is_refused(broker, actor_options, send_options, named):
    @dramatiq.actor(**actor_options)
    def job():
        raise ValueError("boom")

    with jobsim.Simulation(broker, start=START) as sim:
        with pytest.raises(InvalidArgument, match=rf"^{named}=None is not valid: a number of milliseconds"):
            job.send_with_options(**send_options)
        assert sim.runs(job) == []


def test_an_actor_option_the_message_overrides_is_not_checked(broker):
    """Retries reads message.options.get('max_retries', actor's): the actor's '3' is never read; TimeLimit and
    AgeLimit take the actor's only when the message's is falsy (None: the actor's or the default)."""
    @dramatiq.actor(max_retries="3", min_backoff="x")
    def job():
        raise ValueError("boom")

    with jobsim.Simulation(broker, start=START) as sim:
        job.send_with_options(max_retries=1, min_backoff=10, time_limit=None, max_age=None)
        sim.run_until_idle()
        assert [(r.status, len(r.attempts)) for r in sim.runs(job)] == [("failed", 2)]
        with pytest.raises(InvalidArgument, match=r"^max_retries='3' is not valid"):
            job.send()


@pytest.mark.parametrize("throws", [(KeyError, ValueError), ValueError | KeyError, ((KeyError,), ValueError)])
def test_throws_isinstance_takes_is_accepted(broker, throws):
    """Dramatiq runs isinstance(error, throws): a tuple, a union (X | Y) and nested tuples work there, as on a real
    worker."""
    @dramatiq.actor(max_retries=3, throws=throws)
    def job():
        raise ValueError("boom")

    with jobsim.Simulation(broker, start=START) as sim:
        job.send()
        sim.run_until_idle()
        assert [(r.status, len(r.attempts)) for r in sim.runs(job)] == [("failed", 1)]  # thrown: no retry


def test_an_option_no_middleware_of_the_broker_reads_is_not_checked(broker):
    """Without TimeLimit nothing reads time_limit (nor max_age without AgeLimit): a real worker runs the message.
    (``broker``: the fixture puts the global broker back afterwards.)"""
    from dramatiq.brokers.stub import StubBroker
    from dramatiq.middleware import Retries

    bare = StubBroker(middleware=[Retries()])
    dramatiq.set_broker(bare)

    @dramatiq.actor(broker=bare)
    def job():
        pass

    with jobsim.Simulation(bare, start=START) as sim:
        job.send_with_options(time_limit="5", max_age=float("nan"))
        with pytest.raises(InvalidArgument, match=r"^max_retries='3' is not valid"):
            job.send_with_options(max_retries="3")  # Retries is there
        sim.run_until_idle()
        assert [r.status for r in sim.runs(job)] == ["completed"]


def test_an_actor_the_simulation_refuses_to_declare_is_registered_nowhere(broker):
    """An actor declared inside the ``with`` whose name a jobsim function has: ``sim.add_function`` refused it,
    but jobsim-dramatiq had kept it, so its next message ran as though it had been declared."""
    shop = jobsim.App("shop")
    shop.function("greet", on="shop/greet")(lambda ctx: None)

    @dramatiq.actor
    def first() -> None:
        pass

    with jobsim.Simulation(shop, broker, start=START) as sim:

        @dramatiq.actor
        def greet() -> None:
            pass

        for _ in range(2):  # the second send found it in the plugin's table and ran it
            with pytest.raises(InvalidArgument, match="function id 'greet' is declared in app 'shop' and in app"):
                greet.send()
                sim.run_until_idle()
        assert "greet" not in sim.dramatiq.functions and "greet" not in sim.dramatiq.app.functions
    assert sim.runs("greet") == []


def test_a_misspelt_message_option_is_named_with_the_one_meant(broker):
    """Dramatiq carries any message option, read or not: ``send_with_options(max_retry=0)`` (meant: no retry) was
    retried on the actor's ``max_retries`` in silence, in production as in the simulation (the trial32 user trial's
    typo). An option no middleware reads that is spelt like one a middleware does is refused, naming it; an option of
    the application's own (``tenant``) is carried as before."""

    @dramatiq.actor(max_retries=2, min_backoff=10)
    def job():
        raise ConnectionError("down")

    with jobsim.Simulation(broker, start=START) as sim:
        for option, meant in (("max_retry", "max_retries"), ("timelimit", "time_limit"), ("on_fail", "on_failure")):
            with pytest.raises(InvalidArgument) as info:
                job.send_with_options(**{option: 0})
            assert str(info.value) == (
                f"send_with_options() got the option {option}=0, which no middleware reads (did you mean {meant}=?): "
                "Dramatiq carries an option it does not know unread, so the message would run as if it were not "
                "given; an option of your own middleware reads is declared in that middleware's actor_options")
        job.send_with_options(tenant="acme")
        sim.run_until_idle()
        assert [len(run.attempts) for run in sim.runs(job)] == [3]  # retried: Retries re-enqueues it, unrefused


def test_a_second_dramatiq_simulation_names_where_the_running_one_was_started(broker):
    with jobsim.Simulation(broker, start=START):
        started = _started_here()
        with pytest.raises(JobsimError) as caught:
            jobsim.Simulation(broker).start()
    message = str(caught.value)
    assert message.startswith("another simulation with Dramatiq brokers is running in this process (<Simulation at ")
    assert f"running>, {started}); close it before starting this one" in message


def _started_here(back: int = 1) -> str:
    """``started at FILE:LINE in FUNCTION`` of the caller's line ``back`` lines up (where it started a simulation)."""
    frame = sys._getframe(1)
    return f"started at {frame.f_code.co_filename}:{frame.f_lineno - back} in {frame.f_code.co_name}"
