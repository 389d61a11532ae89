"""Tasks on a simulated Huey consumer: when workers take them, what they return, pipelines, priorities,
expiry, revocation, signals -- each at the exact virtual instant Huey's own loop code gives."""

from __future__ import annotations

import time

import pytest
from huey import PriorityRedisHuey
from huey.exceptions import ResultTimeout
from huey_support import START, T0_NS, polls, secs

import jobsim
from jobsim._time import SECOND
from jobsim.errors import InvalidArgument


def spans(runs):
    return [(secs(a.start_ns), secs(a.end_ns)) for run in runs for a in run.attempts]


def test_a_blocking_storage_hands_each_task_to_the_idle_worker_at_once(redis_huey):
    h = redis_huey

    @h.task()
    def work(n, seconds):
        time.sleep(seconds)
        return n * 10

    with jobsim.Simulation(h, start=START) as sim:
        first, second = work(1, 5), work(2, 3)
        sim.advance("2s")
        third = work(3, 1)  # the one worker is busy until 5 s
        sim.run_until_idle()
        assert spans(sim.runs(work)) == [(0, 5), (5, 8), (8, 9)]
        assert [first.get(), second.get(), third.get()] == [10, 20, 30]
        assert [run.status for run in sim.runs(work)] == ["completed"] * 3
        assert sim.runs(work)[0].id == first.id
        assert sim.huey.run_of_task(first) is sim.runs(work)[0] is sim.huey.run_of_task(first.id)
        with pytest.raises(jobsim.InvalidArgument, match="enqueued in this simulation"):
            sim.huey.run_of_task("no-such-id")
        assert sim.now_ns() == T0_NS + 9 * SECOND


def test_a_misspelt_keyword_of_run_of_task_names_the_one_meant(memory_huey):
    with jobsim.Simulation(memory_huey, start=START) as sim, pytest.raises(InvalidArgument) as info:
        sim.huey.run_of_task(tsk="some-id")
    assert str(info.value).startswith("sim.huey.run_of_task() got an unknown keyword argument tsk='some-id'")
    assert "(did you mean task=?); accepted: task" in str(info.value)


def test_a_polled_storage_is_read_at_hueys_backoff_instants(memory_huey):
    h = memory_huey

    @h.task()
    def work():
        time.sleep(2)

    with jobsim.Simulation(h, start=START) as sim:
        sim.advance("1s")  # the worker found the queue empty at 0 s and polls at 0.1, 0.215, 0.34725, ...
        work()
        sim.run_until_idle()
        taken = next(p for p in polls(40) if p >= SECOND)
        # 0.1 + 0.115 + 0.13225 + ... + 0.2313 s: the first poll at or after 1 s
        assert sim.runs(work)[0].attempts[0].start_ns == T0_NS + taken == T0_NS + 1_106_679_921
        ended = T0_NS + taken + 2 * SECOND
        sim.advance_to("2025-03-01T00:10:00Z")  # idle since the end: polls at 0.1 s, ... growing to 10 s apart
        work()
        sim.run_until_idle()
        after = next(p for p in polls(200) if ended + p >= T0_NS + 600 * SECOND)
        assert sim.runs(work)[1].attempts[0].start_ns == ended + after
        assert after > 0 and (ended + after - T0_NS - 600 * SECOND) <= 10 * SECOND


def test_a_task_waiting_before_the_start_is_taken_at_the_start_and_the_next_one_after_it(memory_huey):
    h = memory_huey

    @h.task()
    def work():
        time.sleep(1)

    with jobsim.Simulation(h, start=START) as sim:
        work()
        work()
        sim.run_until_idle()
        assert spans(sim.runs(work)) == [(0, 1), (1, 2)]  # a worker dequeues again right after a task


def test_workers_of_a_consumer_run_tasks_side_by_side(redis_huey):
    h = redis_huey

    @h.task()
    def work(seconds):
        time.sleep(seconds)

    with jobsim.Simulation(h.create_consumer(workers=2), start=START) as sim:
        for seconds in (10, 4, 3, 1):
            work(seconds)
        sim.run_until_idle()
        assert spans(sim.runs(work)) == [(0, 10), (0, 4), (4, 7), (7, 8)]
        assert len(sim.huey.consumers) == 1 and len(sim.huey.consumers[0].workers) == 2


def test_a_pipeline_passes_each_result_on_when_the_task_before_ends(redis_huey):
    h = redis_huey

    @h.task()
    def fetch(n):
        time.sleep(3)
        return n + 1

    @h.task()
    def double(n):
        time.sleep(2)
        return n * 2

    with jobsim.Simulation(h, start=START) as sim:
        results = h.enqueue(fetch.s(1).then(double).then(double))
        sim.run_until_idle()
        assert results.get() == [2, 4, 8]
        assert spans(sim.runs(fetch)) == [(0, 3)]
        assert spans(sim.runs(double)) == [(3, 5), (5, 7)]
        assert [secs(run.start_ns) for run in sim.runs(double)] == [3, 5]  # enqueued when the task before ended
        timeline = sim.timeline()  # a run ends at its signal, before Huey enqueues the next task
        assert timeline.index("fetch#1 completed") < timeline.index("double#1 started by fetch#1")
        assert timeline.index("double#1 completed") < timeline.index("double#2 started by double#1")


def test_priorities_order_the_queue_on_a_storage_that_has_them():
    h = PriorityRedisHuey("test-priority", host="127.0.0.1", port=1)
    order = []

    @h.task()
    def work(name):
        order.append(name)
        time.sleep(1)

    with jobsim.Simulation(h, start=START) as sim:
        work("first")
        sim.advance("0.5s")  # the consumer started and took it; the others wait on the queue
        h.enqueue(work.s("low"))
        h.enqueue(work.s("high", priority=10))
        h.enqueue(work.s("mid", priority=5))
        sim.run_until_idle()
        assert order == ["first", "high", "mid", "low"]


def test_a_plain_redis_storage_refuses_a_priority_as_huey_does(redis_huey):
    h = redis_huey

    @h.task(priority=3)
    def work():
        pass

    with jobsim.Simulation(h, start=START), pytest.raises(NotImplementedError, match="priorities are not supported"):
        work()


def test_a_task_that_expires_before_a_worker_takes_it_is_skipped(redis_huey):
    h = redis_huey
    seen = []

    @h.signal()
    def note(signal, task, *args):
        seen.append((signal, task.name, secs(time.time_ns())))

    @h.task()
    def busy():
        time.sleep(10)

    @h.task(expires=5)
    def report():
        return "sent"

    with jobsim.Simulation(h, start=START) as sim:
        busy()
        late = report()
        fresh = report.s()
        fresh.expires = 60
        fresh_result = h.enqueue(fresh)
        sim.run_until_idle()
        runs = sim.runs(report)
        assert [run.status for run in runs] == ["skipped", "completed"]
        assert secs(runs[0].end_ns) == 10 and not runs[0].attempts
        assert late.get() is None and fresh_result.get() == "sent"
        assert ("expired", "report", 10.0) in seen


def test_a_revoked_task_is_not_executed(redis_huey):
    h = redis_huey

    @h.task()
    def busy():
        time.sleep(10)

    @h.task()
    def send():
        return "sent"

    with jobsim.Simulation(h, start=START) as sim:
        busy()
        result = send()
        sim.advance("1s")
        result.revoke()
        sim.run_until_idle()
        run = sim.runs(send)[0]
        assert run.status == "cancelled" and secs(run.end_ns) == 10 and not run.attempts
        assert "send#1 was revoked: not executed" in sim.timeline()


def test_signals_arrive_in_hueys_order_at_their_instants(redis_huey):
    h = redis_huey
    seen = []

    @h.signal()
    def note(signal, task, *args):
        seen.append((secs(time.time_ns()), signal, task.name))

    @h.task(retries=1, retry_delay=2)
    def flaky():
        time.sleep(1)
        if len([s for s in seen if s[1] == "executing"]) < 2:
            raise ValueError("first time")
        return "ok"

    with jobsim.Simulation(h, start=START) as sim:
        flaky()
        sim.run_until_idle()
    assert seen == [
        (0, "enqueued", "flaky"),
        (0, "executing", "flaky"),
        (1, "error", "flaky"),
        (1, "retrying", "flaky"),
        (1, "scheduled", "flaky"),  # eta 3 s (+1 us, see HueyWorld.hop): the scheduler's 4 s tick moves it
        (4, "enqueued", "flaky"),
        (4, "executing", "flaky"),
        (5, "complete", "flaky"),
    ]


def test_the_result_store_is_read_in_virtual_time(redis_huey):
    h = redis_huey

    @h.task()
    def slow():
        time.sleep(30)
        return "done"

    with jobsim.Simulation(h, start=START) as sim:
        result = slow()
        assert result.get() is None  # not yet: nothing ran
        with pytest.raises(ResultTimeout):
            result.get(blocking=True, timeout=10)  # the test waits 10 virtual seconds: its first look past them
        assert sim.now_ns() == first_look(T0_NS, T0_NS + 10 * SECOND) == T0_NS + 10_881_581_899
        waited_from = sim.now_ns()
        assert result.get(blocking=True) == "done"  # stored at 30 s, seen at the next look
        assert sim.now_ns() == first_look(waited_from, T0_NS + 30 * SECOND) == T0_NS + 30_763_163_798
        assert h.result_count() == 0  # get() popped it, as on the real storage


def first_look(start_ns, at_ns, backoff=1.15, max_delay=1.0):
    """When ``BaseStorage.wait_result`` (``storage.py:198-216``) started at ``start_ns`` first looks at or after
    ``at_ns``: at once, then after sleeps of min(0.05 x backoff^n, max_delay) seconds."""
    look, delay = start_ns, 0.05
    while look < at_ns:
        look += round(min(delay, max_delay) * SECOND)
        delay *= backoff
    return look


def test_a_blocking_get_sees_the_result_at_hueys_next_look_and_a_notifying_redis_at_once():
    """The test that waits on a result regains control when Huey's wait would: at its first look after the store
    (polled with backoff); with ``RedisHuey(notify_result=True)`` the instant it is stored (``BLPOP``). It returned
    at the store instant in both, up to max_delay earlier than a real test -- a task it then schedules with a delay
    could land on an earlier scheduler tick."""
    from huey import RedisHuey

    for notify in (False, True):
        h = RedisHuey("wait", host="127.0.0.1", port=1, notify_result=notify)

        @h.task()
        def slow(seconds):
            time.sleep(seconds)
            return seconds

        with jobsim.Simulation(h, start=START) as sim:
            assert slow(86_400.5).get(blocking=True) == 86_400.5  # a day: the 1 s looks are skipped in one advance
            day = sim.now_ns()
            assert slow(2.5).get(blocking=True, backoff=2, max_delay=0.3) == 2.5
            custom = sim.now_ns()
            with pytest.raises(ResultTimeout):
                slow(9).get(blocking=True, timeout=4)
            timed_out = sim.now_ns()
            with pytest.raises(InvalidArgument, match=r"backoff=...\)=0.5 is not valid: a number >= 1.0"):
                slow(1).get(blocking=True, backoff=0.5)
        if notify:
            assert (day, custom, timed_out) == (T0_NS + 86_400_500_000_000, day + 2_500_000_000, custom + 4 * SECOND)
        else:
            assert day == first_look(T0_NS, T0_NS + 86_400_500_000_000)
            assert custom == first_look(day, day + 2_500_000_000, backoff=2, max_delay=0.3)
            assert timed_out == first_look(custom, custom + 4 * SECOND)


def test_the_same_seed_gives_the_same_task_ids(redis_huey):
    h = redis_huey

    @h.task()
    def work():
        pass

    def ids(seed):
        with jobsim.Simulation(h, start=START, seed=seed) as sim:
            work()
            h.enqueue(work.s().then(work))
            sim.run_until_idle()
            return [run.id for run in sim.runs(work)]

    assert ids(7) == ids(7)
    assert ids(7) != ids(8)
    assert len(set(ids(7))) == 3


def test_runs_take_the_task_or_its_name_and_sim_fail_injects_into_an_attempt(redis_huey):
    h = redis_huey

    @h.task(retries=1)
    def charge():
        return "charged"

    with jobsim.Simulation(h, start=START) as sim:
        sim.fail(charge, error=ConnectionError("gateway down"))
        result = charge()
        sim.run_until_idle()
        assert sim.runs(charge) == sim.runs("charge")
        run = sim.runs(charge)[0]
        assert run.status == "completed" and len(run.attempts) == 2
        assert isinstance(run.attempts[0].error, ConnectionError)
        assert result.get() == "charged" and run.output == "charged"


def test_a_worker_idle_for_days_is_caught_up_at_once_even_without_backoff(memory_huey, monkeypatch):
    from huey.consumer import Worker

    h = memory_huey
    calls = []  # huey's own Worker.loop and Worker.sleep, each call of either (what a looped catch-up repeats)
    for name in ("loop", "sleep"):
        original = getattr(Worker, name)
        monkeypatch.setattr(Worker, name, lambda self, *a, _original=original, **k: calls.append(1) or
                            _original(self, *a, **k))  # fmt: skip

    @h.task()
    def work():
        pass

    with jobsim.Simulation(h.create_consumer(initial_delay=0.5, backoff=1), start=START) as sim:
        sim.advance("3d")
        sim.advance("0.2s")
        work()  # polls every 0.5 s from the start: the next one after 3 d + 0.2 s is at 3 d + 0.5 s
        sim.run_until_idle()
        assert sim.runs(work)[0].attempts[0].start_ns == T0_NS + 3 * 86_400 * SECOND + 500_000_000
    # 518,400 empty polls counted, not looped (a bound on the real time taken said so only on a calm machine)
    assert 0 < len(calls) < 100


@pytest.mark.parametrize("flush", ["flush", "flush_queue", "flush_schedule"])
def test_tasks_a_flush_removes_end_lost_instead_of_staying_queued(redis_huey, flush):
    """``huey.flush()`` (``storage.flush_all``) and the storage's ``flush_queue``/``flush_schedule`` delete the
    tasks waiting there (``storage.py``): they never run. Their runs stayed ``queued`` for ever (run_until_idle
    returning as if they were still to come); they end ``lost``, saying why, as a flushed Dramatiq message does."""

    @redis_huey.task()
    def report(n):
        return n

    with jobsim.Simulation(redis_huey.create_consumer(workers=1), start=START) as sim:
        report(0)
        sim.run_until_idle()  # ran
        report.schedule((1,), delay=60)  # in the queue with its eta until a worker moves it to the schedule
        sim.advance("1s")  # moved to the schedule now
        report(2)  # in the queue: the test enqueues it and flushes before the worker runs
        getattr(redis_huey, flush)() if flush == "flush" else getattr(redis_huey.storage, flush)()
        sim.run_until_idle()
        statuses = [r.status for r in sim.runs(report)]
        expected = {"flush": ["completed", "lost", "lost"], "flush_queue": ["completed", "completed", "lost"],
                    "flush_schedule": ["completed", "lost", "completed"]}[flush]  # fmt: skip
        assert statuses == expected
        lost = [rec for rec in sim.trace.records if rec.kind == "run.end" and rec.data.get("status") == "lost"]
        assert all(f"huey.{'flush_all' if flush == 'flush' else flush}()" in rec.data["why"] for rec in lost)
        assert len(lost) == expected.count("lost")


def test_a_task_cut_short_by_the_close_is_ended_there_not_at_a_later_garbage_collection(redis_huey, capfd):
    """The close dropped each worker's greenlet; a task body in the middle of its virtual time (a lock to release
    after ``time.sleep``) got its ``GreenletExit`` whenever the collector freed the greenlet -- in some later test,
    with Huey's real storage back (its ``finally`` code ran outside the simulation), recording a failed attempt on
    the closed simulation, and greenlet printed "GreenletExit did not kill" as the worker waited again."""
    import gc

    cleaned = []

    @redis_huey.task()
    @redis_huey.lock_task("import")
    def slow_import():
        try:
            time.sleep(90)
            redis_huey.put("progress", 1)  # the storage, 90 s in: the worker waits for the simulation there
        finally:
            cleaned.append(redis_huey.storage)

    real = redis_huey.storage
    with jobsim.Simulation(redis_huey, start=START) as sim:
        slow_import()
        sim.advance("30s")
        simulated = redis_huey.storage
        (run,) = sim.runs(slow_import)
        during = (run.status, list(run.attempts))
    assert cleaned == [simulated]  # ended at the close, inside the simulation, not with the real storage
    gc.collect()
    assert (run.status, run.attempts) == during == ("running", [])  # cut short: no attempt ended, not failed
    assert redis_huey.storage is real
    assert "did not kill" not in capfd.readouterr().err


def test_a_task_that_catches_the_closes_greenlet_exit_is_cut_short_all_the_same(redis_huey, caplog):
    """A bare ``except:`` caught the close's ``GreenletExit``: Huey finished the task (run completed, no attempt),
    the worker dequeued the next tasks during the close (each failed: 'executed outside a simulated worker') and its
    greenlet was left suspended, for a later garbage collection to end."""
    caught = []

    @redis_huey.task()
    def careless(i):
        try:
            time.sleep(90)
            redis_huey.put("progress", i)  # the storage, 90 s in: the worker waits for the simulation there
        except:  # noqa: E722 -- the task under test swallows everything
            caught.append(i)

    with jobsim.Simulation(redis_huey.create_consumer(workers=1), start=START) as sim:
        careless(1), careless(2), careless(3)
        sim.advance("30s")
        (worker,) = [w for hs in sim.huey.hueys for c in hs.simulated for w in c.workers]
        glet = worker.glet
    assert caught == [1]
    assert [(r.status, len(r.attempts)) for r in sim.runs(careless)] == [("running", 0), ("queued", 0), ("queued", 0)]
    assert glet.dead
    assert "outside a simulated worker" not in caplog.text


# -- the test's own call only queues, as sim.send does (jobsim.PendingWorkWarning) ----------------------------


def test_a_task_the_test_called_and_never_drove_warns_that_it_never_ran(memory_huey):
    """``send(...)`` and then ``assert sim.mail.outbox == []`` passed for the wrong reason: nothing had run, and
    nothing said so (RQ's and Dramatiq's enqueues warned; Huey's did not). A group's tasks count one by one."""
    h = memory_huey

    @h.task()
    def send(to):
        return to

    from huey.api import group

    warned = pytest.warns(jobsim.PendingWorkWarning, match=r"3 item\(s\) of work due that never ran \(send \(run ")
    with warned, jobsim.Simulation(h, start=START):
        send("a@x")
        h.enqueue(send.s("b@x").then(send))  # a pipeline: its first task is due, the next is job code's
        h.enqueue(group([send.s("c@x")]))


@pytest.mark.parametrize("how", ["driven", "eta ahead", "job code's"])
def test_work_the_test_drove_or_that_is_not_due_does_not_warn(memory_huey, how):
    import warnings

    h = memory_huey

    @h.task()
    def send(to):
        return to

    @h.task()
    def fan_out():
        send.schedule(("child@x",), delay=0)

    with warnings.catch_warnings():
        warnings.simplefilter("error", jobsim.PendingWorkWarning)
        with jobsim.Simulation(h, start=START) as sim:
            if how == "driven":
                send("a@x")
                sim.advance(0)
            elif how == "eta ahead":  # due later: the test's business, as a delayed sim.send
                send.schedule(("a@x",), delay=60)
            else:
                fan_out()
                sim.advance("150ms")  # a worker's first poll takes fan_out; its child waits for the next poll
                assert [run.status for run in sim.runs(fan_out)] == ["completed"]
                assert [run.status for run in sim.runs(send)] == ["queued"]  # due, unrun: job code's, not the test's
