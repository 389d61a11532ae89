"""Bad input and what jobsim-huey does not simulate: each is a clear jobsim error naming the problem and the fix."""

from __future__ import annotations

import sys

import pytest
from huey import BlackHoleHuey, FileHuey, MemoryHuey, RedisHuey, crontab
from huey_support import START

import jobsim
from jobsim.errors import InvalidArgument, JobsimError, UnsupportedFeature


def test_an_immediate_mode_huey_is_refused():
    h = MemoryHuey("immediate", immediate=True)
    with pytest.raises(InvalidArgument, match=r"immediate mode \(immediate=True\).*immediate=False"):
        jobsim.Simulation(h, start=START)


@pytest.mark.parametrize("value", [True, 1])
def test_switching_a_simulated_huey_to_immediate_mode_is_refused(redis_huey, value):
    """``huey.immediate = True`` (``api.py:159-166``) swapped the simulated storage for a real MemoryStorage: the
    task then ran inline, was refused by the simulated consumer and stored as a TaskException, and after the
    simulation the Huey stayed immediate over its Redis storage (the next test's ``immediate = True`` changed
    nothing, and its tasks reached Redis). Refused at the assignment; the Huey is untouched."""

    @redis_huey.task()
    def add(a, b):
        return a + b

    storage = redis_huey.storage
    with jobsim.Simulation(redis_huey, start=START) as sim:
        with pytest.raises(InvalidArgument, match=r"huey.immediate = .* which this simulation runs.*outside the"):
            redis_huey.immediate = value
        redis_huey.immediate = False  # no change: allowed
        result = add(1, 2)
        sim.run_until_idle()
        assert result.get() == 3
    assert redis_huey.storage is storage and not redis_huey.immediate
    redis_huey.immediate = True  # outside the simulation: Huey's own setter, an in-memory inline Huey
    try:
        assert add(2, 2).get() == 4
    finally:
        redis_huey.immediate = False


@pytest.mark.parametrize("make", [lambda: BlackHoleHuey("bh"), lambda tmp="/tmp/jobsim-huey-file": FileHuey(
    "file", path=tmp)])  # fmt: skip
def test_storages_whose_semantics_are_not_simulated_are_refused_by_name(make):
    with pytest.raises(UnsupportedFeature, match=r"MemoryHuey, RedisHuey or SqliteHuey") as caught:
        jobsim.Simulation(make(), start=START)
    assert caught.value.feature in ("BlackHoleStorage", "FileStorage")


def test_a_task_of_another_huey_enqueued_here_is_refused(redis_huey):
    other = RedisHuey("other", host="127.0.0.1", port=1)

    @other.task()
    def stranger():
        pass

    @redis_huey.task()
    def local():
        pass

    with jobsim.Simulation(redis_huey, start=START) as sim:
        with pytest.raises(InvalidArgument, match=r"'stranger' .* is not registered on Huey 'test-redis'"):
            redis_huey.enqueue(stranger.s())
        with pytest.raises(InvalidArgument, match=r"'stranger' .* is not registered"):
            redis_huey.enqueue(local.s().then(stranger))  # a pipeline's later task too
        assert sim.runs(local) == []


def test_naming_a_task_of_a_huey_the_simulation_does_not_run_says_to_pass_that_huey(redis_huey):
    """``sim.runs(task)`` of a task declared on another Huey said only that Huey functions "are only known once
    user code has used them; do that first" -- but enqueueing it would be refused too: it is that Huey which is
    missing, and the message says so."""
    other = RedisHuey("other", host="127.0.0.1", port=1)

    @other.task()
    def stranger():
        pass

    @redis_huey.task()
    def local():
        pass

    with jobsim.Simulation(redis_huey, start=START) as sim:
        for call in (lambda: sim.runs(stranger), lambda: sim.fail(stranger)):
            with pytest.raises(InvalidArgument, match=r"or, if it is declared on a broker, app or queue this "
                               r"simulation was not given \(its functions are known from the start\), pass that "
                               r"to jobsim.Simulation\(...\) too"):
                call()
        with pytest.raises(InvalidArgument, match=r"do that first, then name it$"):
            sim.runs("stranger")  # a name: nothing to add


def test_enqueueing_on_a_huey_the_simulation_does_not_run_is_refused(redis_huey):
    other = RedisHuey("elsewhere", host="127.0.0.1", port=1)

    @other.task()
    def elsewhere():
        pass

    with (
        jobsim.Simulation(redis_huey, start=START),
        pytest.raises(UnsupportedFeature, match=r"Huey 'elsewhere' .* does not run.*pass that Huey"),
    ):
        elsewhere()


def test_starting_a_real_consumer_for_a_simulated_huey_is_refused(redis_huey):
    consumer = redis_huey.create_consumer()
    with (
        jobsim.Simulation(redis_huey, start=START),
        pytest.raises(UnsupportedFeature, match=r"pass the unstarted consumer"),
    ):
        consumer.start()



def test_starting_a_real_consumer_for_another_huey_in_a_simulation_is_refused(redis_huey):
    """Only a simulated Huey's consumer was refused: another's started its real threads on its real storage."""
    other = RedisHuey("elsewhere", host="127.0.0.1", port=1)
    consumer = other.create_consumer()
    with (
        jobsim.Simulation(redis_huey, start=START),
        pytest.raises(UnsupportedFeature, match=r"^a huey Consumer was started for Huey 'elsewhere', which this "
                                                r"simulation does not run: its threads would consume its real "
                                                r"storage in real time"),  # fmt: skip
    ):
        consumer.start()
    assert not consumer.scheduler.is_alive()  # nothing was started

@pytest.mark.parametrize(("options", "error", "match"), [
    ({"worker_type": "greenlet"}, UnsupportedFeature, r"greenlet \(gevent\) workers are not simulated"),
    ({"max_tasks": 10}, UnsupportedFeature, r"max_tasks=10 .* not simulated"),
    ({"workers": 0}, InvalidArgument, r"workers=0"),
    ({"initial_delay": 0}, InvalidArgument, r"busy loop"),
])  # fmt: skip
def test_consumer_settings_that_cannot_be_simulated_are_refused(options, error, match):
    h = RedisHuey("settings", host="127.0.0.1", port=1)
    greenlet = options.pop("worker_type", None)
    consumer = h.create_consumer(**options)
    if greenlet:  # building a greenlet consumer needs gevent installed; what it records is what matters
        consumer.worker_type = greenlet
    with pytest.raises(error, match=match):
        jobsim.Simulation(consumer, start=START)


def test_process_workers_on_a_memory_huey_are_refused(memory_huey):
    with pytest.raises(InvalidArgument, match=r"MemoryHuey\) and its consumer uses worker_type='process'"):
        jobsim.Simulation(memory_huey.create_consumer(worker_type="process"), start=START)


def test_a_memory_huey_holding_tasks_from_before_the_simulation_is_refused(memory_huey):
    @memory_huey.task()
    def early():
        pass

    early()  # enqueued on the real MemoryStorage
    with (
        pytest.raises(InvalidArgument, match=r"already holds 1 queued .* huey.flush\(\)"),
        jobsim.Simulation(memory_huey, start=START),
    ):
        pass
    memory_huey.flush()
    with jobsim.Simulation(memory_huey, start=START) as sim:
        early()
        sim.run_until_idle()
        assert sim.runs(early)[0].status == "completed"


def test_a_blocking_result_wait_inside_a_task_is_refused(redis_huey):
    @redis_huey.task()
    def child():
        return 1

    @redis_huey.task()
    def parent():
        return child().get(blocking=True)

    with (
        jobsim.Simulation(redis_huey, start=START) as sim,
        pytest.raises(UnsupportedFeature, match=r"inside a Huey task.*\.then\(\)"),
    ):
        parent()
        sim.run_until_idle()


def test_a_blocking_result_wait_that_nothing_can_end_is_an_error_not_a_hang(redis_huey):
    with jobsim.Simulation(redis_huey, start=START), pytest.raises(JobsimError, match=r"would wait forever"):
        redis_huey.result("no-such-task", blocking=True)


def test_crashing_a_huey_workers_task_is_refused(redis_huey):
    @redis_huey.task()
    def job():
        pass

    with (
        jobsim.Simulation(redis_huey, start=START) as sim,
        pytest.raises(UnsupportedFeature, match=r"not simulated for Huey tasks"),
    ):
        sim.crash_worker(function="job")


def test_crash_worker_without_a_function_is_refused_when_only_huey_tasks_could_be_hit(redis_huey):
    """It was armed on jobsim's engine, which runs no Huey task: accepted, never fired, no warning."""
    @redis_huey.task()
    def job():
        pass

    with (
        jobsim.Simulation(redis_huey, start=START) as sim,
        pytest.raises(UnsupportedFeature, match=r"^sim.crash_worker\(\) without function= kills an attempt of a "
                      r"function jobsim's engine runs, and this simulation has none: its functions are run by "
                      r"the own worker of huey, .*; play a consumer outage with sim.huey.stop_consumer"),
    ):
        sim.crash_worker()


def test_storage_internals_are_refused_by_name(redis_huey):
    with (
        jobsim.Simulation(redis_huey, start=START),
        pytest.raises(UnsupportedFeature, match=r"huey.storage.conn is not simulated"),
    ):
        redis_huey.storage.conn  # noqa: B018


def test_two_tasks_with_one_name_on_two_hueys_are_refused():
    a, b = RedisHuey("a", host="127.0.0.1", port=1), RedisHuey("b", host="127.0.0.1", port=1)

    @a.task(name="send")
    def send_a():
        pass

    @b.task(name="send")
    def send_b():
        pass

    with pytest.raises(InvalidArgument, match=r"two Huey tasks of this simulation are named 'send'.*name="):
        jobsim.Simulation(a, b, start=START)


def test_a_huey_passed_twice_and_two_simulations_at_once_are_refused(redis_huey):
    with pytest.raises(InvalidArgument, match=r"passed to this Simulation twice"):
        jobsim.Simulation(redis_huey, redis_huey, start=START)
    other = RedisHuey("second", host="127.0.0.1", port=1)
    with (
        jobsim.Simulation(redis_huey, start=START),
        pytest.raises(JobsimError, match=r"another simulation with Huey instances is running"),
        jobsim.Simulation(other, start=START),
    ):
        pass


def test_the_real_storage_is_back_after_the_simulation(redis_huey):
    real = redis_huey.storage
    with jobsim.Simulation(redis_huey, start=START):
        assert redis_huey.storage is not real
    assert redis_huey.storage is real
    assert "enqueue" not in vars(redis_huey) and "execute" not in vars(redis_huey)


def test_downtime_and_duplicate_delivery_are_refused_for_huey_tasks(redis_huey):
    @redis_huey.task()
    def job():
        pass

    with jobsim.Simulation(redis_huey, start=START) as sim:
        with pytest.raises(UnsupportedFeature, match=r"duplicate_delivery\(\) is not simulated for huey functions"):
            sim.duplicate_delivery(function=job)
        with pytest.raises(UnsupportedFeature, match=r"downtime\(\) is not simulated for huey functions \(their worker "
                           r"is the plugin's own\); play a consumer outage with "
                           r"sim.huey.stop_consumer\(at=..., graceful=...\)"):
            sim.downtime("2025-03-01T00:00:01Z", "2025-03-01T00:00:05Z")


def test_the_same_huey_in_a_second_simulation_at_once_names_the_running_simulation(redis_huey):
    """A fixture's simulation still open when the test builds its own over the same Huey: that Huey's storage is
    the first simulation's stand-in, which must not be mistaken for an unknown storage class (it once was)."""
    with jobsim.Simulation(redis_huey, start=START):
        with pytest.raises(JobsimError, match=r"another simulation with Huey instances is running.*close it") as caught:
            jobsim.Simulation(redis_huey, start=START)
        assert not isinstance(caught.value, UnsupportedFeature)
        with pytest.raises(JobsimError, match=r"another simulation with Huey instances is running"):
            jobsim.Simulation(redis_huey.create_consumer(workers=2), start=START)


def _an_app():
    app = jobsim.App("other")

    @app.function("noop", on="noop")
    def noop(ctx):
        return None

    return app


def test_a_huey_the_simulation_was_not_given_is_refused_when_none_is(tmp_path):
    # a test that forgot jobsim.Simulation(huey): its task calls reached the real storage (Redis, a SQLite file)
    from huey import SqliteHuey

    sqlite = SqliteHuey("forgot", filename=str(tmp_path / "huey.db"))

    @sqlite.task()
    def charge(order_id):
        return order_id

    with jobsim.Simulation(_an_app()):
        with pytest.raises(JobsimError, match=r"Huey 'forgot' \(SqliteHuey\) is not part of this simulation: "
                                              r"enqueueing task '.*charge' .*jobsim.Simulation\(huey\)"):  # fmt: skip
            charge("o-1")
        with pytest.raises(JobsimError, match=r"huey Consumer was started .*jobsim.Simulation\(huey.create_consumer"):
            sqlite.create_consumer().start()
        locked = r"huey.put_if_empty\(\) \(a result read or stored, a revocation, a lock_task lock\) would reach"
        with pytest.raises(JobsimError, match=locked), sqlite.lock_task("nightly"):  # in another backend's job code
            pass
        immediate = MemoryHuey("inline", immediate=True)  # in memory, run inline: nothing real to reach
        assert immediate.task()(lambda: 7)().get() == 7
    assert sqlite.pending_count() == 0 and not sqlite.is_locked("nightly")
    assert charge("o-2").id and sqlite.pending_count() == 1  # with no simulation running, Huey's own enqueue
    sqlite.storage.close()  # its SQLite connection (Python 3.13 warns of one left to the collector)


def test_a_result_read_after_its_simulation_closed_says_so(redis_huey):
    # the result lived in the simulated store; Huey would read the real Redis (port 1 here: ConnectionError)
    @redis_huey.task()
    def total(a, b):
        return a + b

    with jobsim.Simulation(redis_huey, start=START) as sim:
        read, unread = total(1, 2), total(3, 4)
        later = redis_huey.enqueue(total.s(5, 6).then(total, 7))
        sim.run_until_idle()
        assert read.get() == 3
    assert read.get() == 3  # read inside the simulation: cached in the Result, as Huey caches it
    for result in (unread, list(later)[1]):  # (later[1] itself blocks: ResultGroup.__getitem__ is get(True))
        with pytest.raises(JobsimError, match=r"huey task .* belongs to a simulation that has closed, and Huey would "
                                              r"read it from the real storage of Huey 'test-redis' \(huey.get_raw\): "
                                              r"read the result inside the `with` block"):  # fmt: skip
            result.get()
    with pytest.raises(JobsimError, match=r"has closed.*\(huey.revoke\)"):
        unread.revoke()


def test_a_task_result_or_storage_passed_as_the_target_is_named(redis_huey):
    @redis_huey.task()
    def charge(order_id):
        return order_id

    for target, what in [(charge.s("o-1"), r"a huey Task \(what task.s\(\) returns\)"),
                         (redis_huey.storage, "a huey storage")]:  # fmt: skip
        with pytest.raises(InvalidArgument, match=what + r"; jobsim-huey simulates a Huey: pass the Huey"):
            jobsim.Simulation(target, start=START)


_LOOK = "a look at its queue, schedule, results, revocations or locks"


_STORAGE_CALLS = [
    (lambda huey, task: huey.pending(), f"huey.pending() ({_LOOK})"),
    (lambda huey, task: huey.pending_count(), f"huey.pending_count() ({_LOOK})"),
    (lambda huey, task: len(huey), f"huey.pending_count() ({_LOOK})"),
    (lambda huey, task: huey.scheduled(), f"huey.scheduled() ({_LOOK})"),
    (lambda huey, task: huey.scheduled_count(), f"huey.scheduled_count() ({_LOOK})"),
    (lambda huey, task: huey.all_results(), f"huey.all_results() ({_LOOK})"),
    (lambda huey, task: huey.result_count(), f"huey.result_count() ({_LOOK})"),
    (lambda huey, task: task.is_revoked(), f"huey.is_revoked() ({_LOOK})"),
    (lambda huey, task: huey.is_locked("nightly"), f"huey.is_locked() ({_LOOK})"),
    (lambda huey, task: huey.lock_task("nightly").is_locked(), "huey.lock_task(...).is_locked() (a lock_task lock)"),
    (lambda huey, task: huey.lock_task("nightly").locked(), "huey.lock_task(...).locked() (a lock_task lock)"),
    (lambda huey, task: huey.rate_limit("api", 5, 60).current_usage(),
     "huey.rate_limit(...).current_usage() (a rate limit)"),
    (lambda huey, task: huey.flush(), "huey.flush() (emptying it)"),
    (lambda huey, task: huey.dequeue(), "huey.dequeue() (a consumer's own work)"),
    (lambda huey, task: huey.read_schedule(), "huey.read_schedule() (a consumer's own work)"),
    (lambda huey, task: huey.add_schedule(task.s(1)), "huey.add_schedule() (a consumer's own work)"),
    (lambda huey, task: huey.put("k", 1), "huey.put() (a result read or stored, a revocation, a lock_task lock)"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "refused"), _STORAGE_CALLS)
def test_a_look_at_the_storage_of_a_huey_the_simulation_was_not_given_is_refused_when_none_is(tmp_path, call, refused):
    # a test that forgot jobsim.Simulation(huey) read (or flushed, or dequeued from) the real storage
    from huey import SqliteHuey

    sqlite = SqliteHuey("forgot", filename=str(tmp_path / "huey.db"))

    @sqlite.task()
    def charge(order_id):
        return order_id

    charge("o-1")  # before the simulation: Huey's own enqueue, into the file
    with jobsim.Simulation(_an_app()):
        with pytest.raises(JobsimError) as caught:
            call(sqlite, charge)
        assert str(caught.value) == (f"Huey 'forgot' (SqliteHuey) is not part of this simulation: {refused} would "
                                     "reach its real storage. This simulation runs no Huey: pass it, e.g. "
                                     "jobsim.Simulation(huey) or jobsim.Simulation(huey, other_target)")  # fmt: skip
        assert MemoryHuey("inline", immediate=True).pending() == []  # in memory, inline: nothing real to read
    assert len(sqlite) == 1 and sqlite.scheduled_count() == 0  # nothing was flushed, dequeued or scheduled
    call(sqlite, charge)  # with no simulation running: Huey's own method, on the real storage
    sqlite.storage.close()


@pytest.mark.parametrize(("call", "refused"), _STORAGE_CALLS)
def test_the_storage_of_another_huey_than_the_simulated_ones_is_refused(tmp_path, redis_huey, call, refused):
    """Only its enqueue was refused: in a simulation of one Huey, another's ``flush()``, ``pending()``, ``put()``...
    reached that Huey's real storage (a developer's local Redis, a SqliteHuey's file)."""
    from huey import SqliteHuey

    sqlite = SqliteHuey("other", filename=str(tmp_path / "huey.db"))

    @sqlite.task()
    def charge(order_id):
        return order_id

    @redis_huey.task()
    def refund(order_id):
        return order_id

    charge("o-1")  # before the simulation: Huey's own enqueue, into the file
    with jobsim.Simulation(redis_huey, start=START):
        with pytest.raises(UnsupportedFeature) as caught:
            call(sqlite, charge)
        assert str(caught.value).startswith(f"{refused} on Huey 'other' (SqliteHuey), which this simulation does not "
                                            "run, would reach its real storage: pass that Huey")  # fmt: skip
        call(redis_huey, refund)  # the simulated Huey's storage: the simulation's own
        assert MemoryHuey("inline", immediate=True).pending() == []
    assert len(sqlite) == 1 and sqlite.scheduled_count() == 0  # nothing was flushed, dequeued or scheduled
    sqlite.storage.close()


@pytest.mark.parametrize("priority", ["high", [1], {"p": 1}])
def test_a_priority_that_is_not_a_number_is_refused_naming_it(priority):
    """Huey sends ``priority`` to the storage unchecked: MemoryStorage fails on ``-priority`` with a TypeError,
    PriorityRedisStorage on the ZADD score; the stand-in raised a bare ValueError/TypeError from ``float()``."""
    h = MemoryHuey("prio")

    @h.task()
    def work():
        return 1

    with jobsim.Simulation(h, start=START) as sim:
        with pytest.raises(InvalidArgument, match=r"priority of task 'work'=.* is not valid: a number \(higher"):
            h.enqueue(work.s(priority=priority))
        with pytest.raises(InvalidArgument, match=r"priority of task 'work'=.* is not valid"):  # a pipeline's, too
            h.enqueue(work.s().then(work, priority=priority))
        assert work(priority=2.5).get(blocking=True) == 1  # a number, any number: as Huey's storages take it
    assert [r.status for r in sim.runs(work)] == ["completed"]


@pytest.mark.parametrize(("options", "match"), [
    ({"retries": -1}, r"retries of task 'flaky'=-1 is not valid: a whole number >= 0 .* retries forever"),
    ({"retries": 1.5}, r"retries of task 'flaky'=1.5 is not valid: a whole number >= 0"),
])  # fmt: skip
def test_a_retries_count_that_never_reaches_0_is_refused_at_the_call(options, match):
    """Huey retries while ``task.retries`` is truthy, counting down by 1 (``_requeue_task``): -1 or 1.5 retried
    for ever, and run_until_idle spun through 366 virtual days of retries (minutes of real time)."""
    h = MemoryHuey("retrying")

    @h.task(**options)
    def flaky():
        raise ConnectionError("down")

    with jobsim.Simulation(h, start=START) as sim:
        with pytest.raises(InvalidArgument, match=match):
            flaky()
        with pytest.raises(InvalidArgument, match=match):  # a signature enqueued by hand, too
            h.enqueue(flaky.s())
        sim.run_until_idle()
    assert sim.runs(flaky) == []


@pytest.mark.parametrize(("options", "match"), [
    ({"retries": -1}, r"retries of periodic task 'tick'=-1 is not valid: a whole number >= 0"),
    ({"priority": "high"}, r"priority of periodic task 'tick'='high' is not valid: a number"),
])  # fmt: skip
def test_a_periodic_task_huey_could_not_enqueue_is_refused_when_the_simulation_is_built(options, match):
    """No call of the test's enqueues a periodic task: the consumer's scheduler does, and Huey logs what its enqueue
    raises ("Error enqueueing periodic task") and goes on. The refusal above only reached the log, and the task
    never ran, without a word to the test."""
    h = MemoryHuey("periodic")

    @h.periodic_task(crontab(minute="*"), **options)
    def tick():
        return 1

    with pytest.raises(InvalidArgument, match=match):
        jobsim.Simulation(h, start=START)


def test_a_periodic_task_declared_after_the_simulation_is_built_is_refused_at_its_check_not_lost():
    """The check when the simulation is built sees the periodic tasks declared by then; one declared inside the
    ``with`` block reached only the consumer's enqueue, whose refusal Huey logs and drops: it never ran, without a
    word to the test."""
    h = MemoryHuey("periodic-late")
    with jobsim.Simulation(h, start=START) as sim:

        @h.periodic_task(crontab(minute="*"), retries=-1)
        def late():
            return 1

        with pytest.raises(InvalidArgument, match=r"retries of task 'late'=-1 is not valid: a whole number >= 0"):
            sim.advance("2m")


@pytest.mark.parametrize("options", [{}, {"priority": None, "retries": 0}, {"priority": 0, "retries": 2},
                                     {"priority": -1.5}])  # fmt: skip
def test_a_periodic_task_with_options_huey_takes_runs(options):
    h = MemoryHuey("periodic-ok")

    @h.periodic_task(crontab(minute="*"), **options)
    def tick():
        return 1

    with jobsim.Simulation(h, start=START) as sim:
        sim.advance("3m")
    assert len(sim.runs(tick)) >= 2


def test_a_second_huey_simulation_names_where_the_running_one_was_started(redis_huey):
    other = RedisHuey("second", host="127.0.0.1", port=1)
    with jobsim.Simulation(redis_huey, start=START):
        started = _started_here()
        with pytest.raises(JobsimError) as other_huey:
            jobsim.Simulation(other, start=START).start()
        with pytest.raises(JobsimError) as same_huey:
            jobsim.Simulation(redis_huey, start=START)
    message = str(other_huey.value)
    assert message.startswith("another simulation with Huey instances is running in this process (<Simulation at ")
    assert f"running>, {started}); close it before starting this one" in message
    assert f"running>, {started}), and Huey 'test-redis' is one of its targets" in str(same_huey.value)


@pytest.mark.parametrize(("given", "meant"), [("retry", "retries"), ("retry_dealy", "retry_delay"),
                                              ("retires", "retries"), ("max_retries", "retries"),
                                              ("priorty", "priority"), ("retryBackoff", "retry_backoff")])
def test_a_misspelt_task_option_is_refused_naming_the_one_meant(given, meant):
    """Huey keeps an unknown keyword as an unread class attribute: ``retry_dealy=30`` retried at once, silently."""
    huey = MemoryHuey("shop")

    @huey.task(**{given: 3})
    def charge(order_id):
        raise ConnectionError("gateway down")

    with pytest.raises(InvalidArgument) as caught:
        jobsim.Simulation(huey, start=START)
    assert str(caught.value).startswith(
        f"Huey task 'charge' got the option {given}=3 (did you mean {meant}=?): Huey keeps a keyword it does not "
        "know as an attribute of the task class, read by nobody")


def test_a_custom_task_setting_not_spelt_like_a_huey_option_is_left_alone():
    huey = MemoryHuey("shop")

    @huey.task(retries=1, owner="billing", retry_on="timeouts")
    def charge(order_id):
        return order_id

    with jobsim.Simulation(huey, start=START) as sim:
        charge("o-1")
        sim.run_until_idle()
        assert [run.status for run in sim.runs(charge)] == ["completed"]
    assert (charge.task_class.owner, charge.task_class.retry_on) == ("billing", "timeouts")


def _started_here(back: int = 1) -> str:
    """``started at FILE:LINE in FUNCTION`` of the caller's line ``back`` lines up (where it started a simulation)."""
    frame = sys._getframe(1)
    return f"started at {frame.f_code.co_filename}:{frame.f_lineno - back} in {frame.f_code.co_name}"
