"""bullmq-python jobs in virtual time: retries and backoff, delays, priorities, lifo, concurrency, results."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
from bullmq import DelayedError, Queue, UnrecoverableError
from bullmq_support import NOWHERE, START, T0, run

import jobsim

SECOND = 1_000_000_000


def starts(sim, queue="q"):
    """(job name, attempt number, seconds after START) of every attempt, in the order the trace has them."""
    names = {r.id: r.event.data["name"] for r in sim.runs(queue)}
    return [(names[rec.data["run"]], rec.data["attempt"], (rec.at - sim.start_ns) / SECOND)
            for rec in sorted((r for r in sim.trace.records if r.kind == "attempt"), key=lambda r: (r.at, r.seq))]


async def flaky(job, token):
    if job.attemptsMade < job.data.get("fail", 0):
        raise ValueError(f"attempt {job.attemptsMade + 1} failed")
    return {"name": job.name, "attempts": job.attemptsMade}


def test_exponential_backoff_retries_at_bullmq_pythons_wake_ups(worker_for, queue):
    """Due 1 s, 2 s, 4 s after each failure (job.py:219-237, backoffs.py: round(2^(n-1) * delay)); an idle worker
    blocks ceil(due - now) whole seconds (worker.py:355-361), which lands exactly on whole-second delays."""
    with jobsim.Simulation(worker_for(flaky), start=START) as sim:
        job = run(queue.add("charge", {"fail": 3}, {"attempts": 4, "backoff": {"type": "exponential", "delay": 1000}}))
        sim.run_until_idle()
    assert job.id == "1"
    (r,) = sim.runs("q")
    assert r.id == "1" and r.status == "completed" and r.output == {"name": "charge", "attempts": 3}
    assert [(a.number, (a.start_ns - sim.start_ns) / SECOND, str(a.error)) for a in r.attempts] == [
        (0, 0.0, "attempt 1 failed"), (1, 1.0, "attempt 2 failed"), (2, 3.0, "attempt 3 failed"), (3, 7.0, "None")]
    retries = [(rec.data["attempt"], rec.data["delay"] / SECOND) for rec in sim.trace.records if rec.kind == "retry"]
    assert retries == [(0, 1.0), (1, 2.0), (2, 4.0)]


def test_a_sub_second_backoff_waits_for_the_next_whole_second_wake_up(worker_for, queue):
    """200 ms of fixed backoff: the idle worker blocks ceil(0.2) = 1 s, so each retry starts 1 s after the failure."""
    with jobsim.Simulation(worker_for(flaky), start=START) as sim:
        run(queue.add("ping", {"fail": 2}, {"attempts": 3, "backoff": 200}))  # a number: {type: fixed, delay}
        sim.run_until_idle()
    assert starts(sim) == [("ping", 0, 0.0), ("ping", 1, 1.0), ("ping", 2, 2.0)]
    assert [rec.data["delay"] for rec in sim.trace.records if rec.kind == "retry"] == [200_000_000] * 2


def test_without_a_backoff_a_retry_goes_to_the_back_of_the_wait_list(worker_for, queue):
    """retryJob-11.lua: LPUSH, so the jobs already waiting run first."""
    with jobsim.Simulation(worker_for(flaky), start=START) as sim:
        run(queue.add("a", {"fail": 1}, {"attempts": 2}))
        run(queue.add("b", {}))
        sim.run_until_idle()
    assert [(name, n) for name, n, _ in starts(sim)] == [("a", 0), ("b", 0), ("a", 1)]


def test_attempts_exhausted_fails_the_run_with_the_last_error(worker_for, queue):
    failed = []
    worker = worker_for(flaky)
    worker.on("failed", lambda job, err: failed.append((job.id, job.attemptsMade, str(err))))
    with jobsim.Simulation(worker, start=START) as sim:
        run(queue.add("x", {"fail": 9}, {"attempts": 2, "backoff": {"type": "fixed", "delay": 3000}}))
        sim.run_until_idle()
        assert sim.bullmq.state("1") == "failed"
        assert sim.bullmq.job("1").failedReason == "attempt 2 failed"
    (r,) = sim.runs("q")
    assert r.status == "failed" and isinstance(r.error, ValueError) and str(r.error) == "attempt 2 failed"
    assert [(a.start_ns - sim.start_ns) // SECOND for a in r.attempts] == [0, 3]
    assert failed == [("1", 1, "attempt 1 failed"), ("1", 2, "attempt 2 failed")]  # the worker's own 'failed' event


def test_unrecoverable_error_fails_at_once(worker_for, queue):
    async def fatal(job, token):
        raise UnrecoverableError("card declined")

    with jobsim.Simulation(worker_for(fatal), start=START) as sim:
        run(queue.add("x", {}, {"attempts": 5, "backoff": 1000}))
        sim.run_until_idle()
    (r,) = sim.runs("q")
    assert r.status == "failed" and len(r.attempts) == 1 and isinstance(r.error, UnrecoverableError)


def test_a_custom_backoff_strategy_from_the_worker_settings(worker_for, queue):
    """job.py:220-223: the strategy is the worker's settings.backoffStrategy; -1 fails the job at once."""
    seen = []

    def strategy(attempts_made, kind, err, job):
        seen.append((attempts_made, kind))
        return 5000 if attempts_made < 2 else -1

    worker = worker_for(flaky, settings={"backoffStrategy": strategy})
    with jobsim.Simulation(worker, start=START) as sim:
        run(queue.add("x", {"fail": 9}, {"attempts": 9, "backoff": {"type": "mine"}}))
        sim.run_until_idle()
    assert seen == [(1, "mine"), (2, "mine")]
    assert starts(sim) == [("x", 0, 0.0), ("x", 1, 5.0)]
    assert sim.runs("q")[0].status == "failed"


def test_delayed_jobs_and_fifo_within_the_same_millisecond(worker_for, queue):
    with jobsim.Simulation(worker_for(flaky), start=START) as sim:
        run(queue.add("late", {}, {"delay": 5000}))
        run(queue.add("early", {}, {"delay": 2000}))
        run(queue.add("also-early", {}, {"delay": 2000}))
        sim.run_until_idle()
    assert starts(sim) == [("early", 0, 2.0), ("also-early", 0, 2.0), ("late", 0, 5.0)]


def test_priorities_and_lifo_order_the_wait_list(worker_for, queue):
    """Plain jobs (wait list) before prioritized ones; lower priority numbers first (getPriorityScore); a lifo job
    is pushed where the worker takes from (RPUSH)."""

    async def busy(job, token):
        await asyncio.sleep(1)

    with jobsim.Simulation(worker_for(busy), start=START) as sim:
        run(queue.add("p9", {}, {"priority": 9}))
        run(queue.add("p1", {}, {"priority": 1}))
        run(queue.add("plain1", {}))
        run(queue.add("plain2", {}))
        run(queue.add("lifo", {}, {"lifo": True}))
        sim.run_until_idle()
    assert starts(sim) == [("lifo", 0, 0.0), ("plain1", 0, 1.0), ("plain2", 0, 2.0), ("p1", 0, 3.0), ("p9", 0, 4.0)]


def test_concurrency_interleaves_processors_at_their_awaits(worker_for, queue):
    events = []

    async def step(job, token):
        events.append((job.name, "start", time.time() - T0))
        await asyncio.sleep(job.data["s"])
        events.append((job.name, "end", time.time() - T0))
        return job.data["s"]

    with jobsim.Simulation(worker_for(step, concurrency=2), start=START) as sim:
        for name, s in (("a", 3), ("b", 1), ("c", 1)):
            run(queue.add(name, {"s": s}))
        sim.run_until_idle()
    assert events == [("a", "start", 0), ("b", "start", 0), ("b", "end", 1), ("c", "start", 1), ("c", "end", 2),
                      ("a", "end", 3)]  # fmt: skip
    assert [r.output for r in sim.runs("q")] == [3, 1, 1]


def test_progress_logs_and_data_are_recorded(worker_for, queue):
    async def report(job, token):
        await job.updateProgress(40)
        await job.log("half way")
        await asyncio.sleep(2)
        await job.updateData({**job.data, "seen": True})
        await job.updateProgress({"pct": 100})
        return "ok"

    with jobsim.Simulation(worker_for(report), start=START) as sim:
        run(queue.add("r", {"x": 1}))
        sim.run_until_idle()
        snapshot = sim.bullmq.job("1")
        assert snapshot.progress == {"pct": 100} and snapshot.data == {"x": 1, "seen": True}
        assert snapshot.returnvalue == "ok" and snapshot.attemptsMade == 1
        assert sim.bullmq.logs("1") == ["half way"]
        assert run(queue.getJobLogs("1")) == {"logs": ["half way"], "count": 1}
    progress = [(rec.at - sim.start_ns, rec.data["progress"]) for rec in sim.trace.records
                if rec.kind == "bullmq.progress"]  # fmt: skip
    assert progress == [(0, 40), (2 * SECOND, {"pct": 100})]
    assert "q#1 log: half way" in sim.timeline()


def test_a_return_value_that_is_not_json_fails_the_attempt(worker_for, queue):
    """moveToCompleted json.dumps the value (scripts.py moveToFinishedArgs): the TypeError fails the job."""

    async def odd(job, token):
        return object()

    with jobsim.Simulation(worker_for(odd), start=START) as sim:
        run(queue.add("x", {}))
        sim.run_until_idle()
    (r,) = sim.runs("q")
    assert r.status == "failed" and isinstance(r.error, TypeError)


def test_delayed_error_moves_the_job_without_using_an_attempt(worker_for, queue):
    async def later(job, token):
        if not job.data.get("moved"):
            await job.updateData({"moved": True})
            await job.moveToDelayed(round(time.time() * 1000) + 30_000, token)
            raise DelayedError()
        return job.attemptsMade

    with jobsim.Simulation(worker_for(later), start=START) as sim:
        run(queue.add("x", {}))
        sim.run_until_idle()
    (r,) = sim.runs("q")
    assert r.status == "completed" and r.output == 0  # skipAttempt: attemptsMade did not move
    assert [((a.start_ns - sim.start_ns) // SECOND, a.error) for a in r.attempts] == [(0, None), (30, None)]


def test_remove_on_complete_keeps_the_last_n(worker_for, queue):
    with jobsim.Simulation(worker_for(flaky, removeOnComplete=2), start=START) as sim:
        for n in range(4):
            run(queue.add(f"j{n}", {}))
        sim.run_until_idle()
        assert sim.bullmq.counts("q")["completed"] == 2
        assert run(queue.getJob("1")) is None and run(queue.getJob("4")).name == "j3"
    assert [r.status for r in sim.runs("q")] == ["completed"] * 4  # the runs stay, BullMQ's keys are gone
    assert sum(1 for rec in sim.trace.records if rec.kind == "bullmq.removed") == 2


@pytest.mark.parametrize(("option", "data", "status"), [("removeOnComplete", {}, "completed"),
                                                      ("removeOnFail", {"fail": 1}, "failed")])
def test_remove_on_finish_true_ends_the_run_once_as_it_finished(worker_for, queue, option, data, status):
    """``removeOnComplete: True`` (keepJobs count 0, moveToFinished-14.lua:980-990) deletes the job as it finishes:
    its run is completed (failed) in one attempt -- it was ended as cancelled ("the job was removed") first, and then
    given a second attempt."""
    with jobsim.Simulation(worker_for(flaky), start=START) as sim:
        job = run(queue.add("x", data, {option: True}))
        sim.run_until_idle()
        assert sim.bullmq.state(job.id) == "unknown"
    (r,) = sim.runs("q")
    assert r.status == status and len(r.attempts) == 1
    ends = [rec.data["status"] for rec in sim.trace.records if rec.kind == "run.end"]
    assert ends == [status]
    assert [rec.kind for rec in sim.trace.records if rec.kind in ("run.end", "bullmq.removed")] == [
        "run.end", "bullmq.removed"]


def test_the_state_of_a_removed_job_is_unknown_as_job_get_state_answers(worker_for, queue):
    """``sim.bullmq.state(id)`` is ``job.getState()`` now: for a job removeOnComplete deleted, bullmq's
    ``getStateV2-8.lua`` finds it in no set and answers ``"unknown"`` -- the simulation raised InvalidArgument
    ("not valid: the id of a job BullMQ still keeps"), as for an id that never existed, which still raises."""
    from bullmq import Job

    with jobsim.Simulation(worker_for(flaky, removeOnComplete=1), start=START) as sim:
        first = run(queue.add("j0", {}))
        run(queue.add("j1", {}))
        sim.run_until_idle()
        assert run(Job(queue, "x", {}, {}, first.id).getState()) == "unknown"  # bullmq's own answer
        assert sim.bullmq.state(first.id) == "unknown"
        assert sim.bullmq.state("2") == "completed"
        with pytest.raises(jobsim.InvalidArgument, match=r"job_id='9' is not valid"):
            sim.bullmq.state("9")


def test_an_int_job_id_is_the_same_job_as_its_string(worker_for, queue):
    """``prefix .. jobId`` keys ``jobId: 42`` as ``"42"`` (addStandardJob-9.lua:531-532): one job. The first add
    returns the Lua number (an int), a duplicate ``jobId .. ""`` (a str) -- measured on Redis 7 with bullmq 3.4.4.
    The simulation made two jobs, 42 and "42"."""
    async def processor(job, token):
        return job.id

    with jobsim.Simulation(worker_for(processor), start=START) as sim:
        ids = [run(queue.add("x", {}, {"jobId": j})).id for j in (42, 42, "42")]
        sim.run_until_idle()
    assert ids == [42, "42", "42"]
    assert [(r.id, r.output) for r in sim.runs("q")] == [("42", "42")]


@pytest.mark.parametrize("job_id", [True, 1.5, 123_456_789_012_345, {"id": 1}])
def test_a_job_id_bullmqs_lua_cannot_key_is_refused(worker_for, queue, job_id):
    """A bool or a dict fails the script ("attempt to concatenate"), a float or an int of 15 digits is keyed as
    Lua's %.14g writes it ('1.2345678901234e+14', another job's key): refused, naming the option."""
    with jobsim.Simulation(worker_for(flaky), start=START), pytest.raises(
            jobsim.InvalidArgument, match=r"opts\['jobId'\].*a str"):
        run(queue.add("x", {}, {"jobId": job_id}))


def test_a_custom_job_id_is_added_once(worker_for, queue):
    with jobsim.Simulation(worker_for(flaky), start=START) as sim:
        first = run(queue.add("x", {"n": 1}, {"jobId": "order-1"}))
        second = run(queue.add("x", {"n": 2}, {"jobId": "order-1"}))
        third = run(queue.add("y", {}))
        sim.run_until_idle()
    assert (first.id, second.id, third.id) == ("order-1", "order-1", "3")  # the counter moves for custom ids too
    assert [r.event.data["data"] for r in sim.runs("q")] == [{"n": 1}, {}]


def test_sim_fail_fails_the_next_attempts(worker_for, queue):
    worker = worker_for(flaky)
    with jobsim.Simulation(worker, start=START) as sim:
        sim.fail(worker, times=1, error=RuntimeError("injected"))
        run(queue.add("x", {}, {"attempts": 2, "backoff": 1000}))
        sim.run_until_idle()
    (r,) = sim.runs(worker)
    assert [str(a.error) for a in r.attempts] == ["injected", "None"] and r.status == "completed"


def test_add_bulk_and_a_job_adding_jobs(worker_for, queue):
    async def fan_out(job, token):
        if job.name == "parent":
            await job.queue_for_children.addBulk([{"name": "child", "data": {"i": i}} for i in range(2)])
        return job.name

    from bullmq import Queue

    children = Queue("q", {"connection": "redis://127.0.0.1:1/0"})

    async def processor(job, token):
        if job.name == "parent":
            added = await children.addBulk([{"name": "child", "data": {"i": i}} for i in range(2)])
            return [j.id for j in added]
        return job.data["i"]

    with jobsim.Simulation(worker_for(processor), start=START) as sim:
        run(queue.addBulk([{"name": "parent", "data": {}}]))
        sim.run_until_idle()
    runs = sim.runs("q")
    assert [r.output for r in runs] == [["2", "3"], 0, 1]
    assert "q#2 started by q#1" in sim.timeline()


def test_global_concurrency_and_a_worker_rate_limiter(worker_for, queue):
    """setGlobalConcurrency caps active jobs (getQueueMetadata); the limiter counts jobs per window from the
    first one (prepareJobForProcessing PEXPIRE). bullmq-python's worker ignores limitUntil: a rate-limited worker
    blocks for its drainDelay (5 s, worker.py:394-415) unless a new job wakes it."""

    async def quick(job, token):
        return job.name

    worker = worker_for(quick, limiter={"max": 2, "duration": 1000})
    with jobsim.Simulation(worker, start=START) as sim:
        for n in range(5):
            run(queue.add(f"j{n}", {}))
        sim.run_until_idle()
    assert [t for _, _, t in starts(sim)] == [0.0, 0.0, 5.0, 5.0, 10.0]


def test_every_job_scheduler_with_a_limit(worker_for, queue):
    with jobsim.Simulation(worker_for(flaky), start=START) as sim:
        created = run(queue.upsertJobScheduler("report", {"every": 60_000, "limit": 3}, "report", {"kind": "daily"}))
        sim.advance("10m")
        assert run(queue.getJobScheduler("report"))["iterationCount"] == 3
    assert created.id == "repeat:report:1740787200000"
    assert starts(sim) == [("report", 0, 0.0), ("report", 0, 60.0), ("report", 0, 120.0)]
    assert [r.event.data["data"] for r in sim.runs("q")] == [{"kind": "daily"}] * 3


def test_pattern_job_scheduler_in_a_time_zone(worker_for, queue):
    """default_repeat_strategy (job_scheduler.py:64-111): croniter in tz, the first match after now."""
    with jobsim.Simulation(worker_for(flaky), start=START) as sim:
        run(queue.upsertJobScheduler("nine", {"pattern": "0 9 * * *", "tz": "America/New_York"}, "nine"))
        sim.advance("3d")
        run(queue.removeJobScheduler("nine"))
        sim.advance("3d")
    nine_am_new_york = [f"2025-03-0{day}T14:00:00+00:00" for day in (1, 2, 3)]  # EST, UTC-5
    assert [jobsim.Simulation.__module__ and r.attempts[0].start_ns for r in sim.runs("q")[:3]] == [
        int(dt.datetime.fromisoformat(t).timestamp()) * SECOND for t in nine_am_new_york]
    # the fourth iteration was pending (delayed) when the scheduler was removed: removeJobScheduler-3.lua deletes it
    assert len(sim.runs("q")) == 4
    assert sim.runs("q")[3].status == "cancelled"


@pytest.mark.parametrize("fail", [False, True])
def test_a_flow_runs_the_parent_after_its_children(worker_for, queue, fail):
    from bullmq import FlowProducer

    async def processor(job, token):
        if job.name == "parent":
            return sorted((await job.getChildrenValues()).values())
        await asyncio.sleep(job.data["s"])
        if fail and job.name == "b":
            raise ValueError("b broke")
        return job.name

    child_opts = {"failParentOnFailure": True}
    with jobsim.Simulation(worker_for(processor, concurrency=3), start=START) as sim:
        tree = run(FlowProducer({"connection": "redis://127.0.0.1:1/0"}).add({
            "name": "parent", "queueName": "q",
            "children": [{"name": "a", "queueName": "q", "data": {"s": 1}, "opts": child_opts},
                         {"name": "b", "queueName": "q", "data": {"s": 2}, "opts": child_opts}]}))  # fmt: skip
        sim.run_until_idle()
    parent = sim.runs("q")[0]
    assert parent.id == tree["job"].id and parent.event.data["name"] == "parent"
    if fail:
        assert parent.status == "failed" and "child bull:q:" in str(parent.error)
    else:
        assert parent.status == "completed" and parent.output == ["a", "b"]
        assert (parent.attempts[0].start_ns - sim.start_ns) / SECOND == 2.0


def test_the_same_seed_gives_the_same_trace(worker_for, queue):
    from bullmq import FlowProducer

    async def processor(job, token):
        return job.name

    def once():
        with jobsim.Simulation(worker_for(processor), start=START, seed=3) as sim:
            run(FlowProducer({"connection": "redis://127.0.0.1:1/0"}).add(
                {"name": "p", "queueName": "q", "children": [{"name": "c", "queueName": "q", "data": {}}]}))
            run(queue.add("x", {"a": 1}, {"attempts": 2, "delay": 1500}))
            sim.run_until_idle()
        return [(r.kind, r.at, r.data) for r in sim.trace.records]

    assert once() == once()


def test_idle_workers_are_woken_when_their_next_job_is_due_as_if_every_poll_ran(worker_for, queue):
    """The fast path (``BullMQWorld.idle_until``) gives the trace every poll of the idle worker gives."""
    import bullmq_scenario as scenario

    def once(fast):
        scenario.LOG.clear()
        with jobsim.Simulation(worker_for(scenario.process, queue=scenario.QUEUE), start=START) as sim:
            sim.bullmq.fast_forward = fast
            from bullmq import Queue

            live = Queue(scenario.QUEUE, {"connection": "redis://127.0.0.1:1/0"})
            run(scenario.produce(live))
            run(live.add("much-later", {}, {"delay": 47_300}))
            run(live.upsertJobScheduler("slow", {"every": 13_500, "limit": 4}, "slow"))
            sim.advance("2m")
            polls = len(sim.bullmq.polls)
        return [(r.kind, r.at, r.data) for r in sim.trace.records], list(scenario.LOG), polls

    fast, slow = once(True), once(False)
    assert fast[:2] == slow[:2]
    assert fast[2] < slow[2] / 3  # most idle polls were skipped


@pytest.mark.parametrize("setup", ["limiter", "global-concurrency", "global-rate-limit"])
def test_an_idle_worker_with_a_limiter_is_fast_forwarded_once_its_window_lapses(worker_for, setup):
    """A worker's ``limiter`` (or the queue's global rate limit or concurrency) changes nothing while no job is
    fetched; only an open rate-limit window, a pause or a queue at its concurrency make ``moveToActive`` answer
    before it reads the next delayed job's time. The fast path skipped no poll of a worker with a limiter or a queue
    with a global setting (a day of an idle rate-limited worker took 17,000 loop turns; 3 virtual hours next to a
    nightly scheduler 47 s), and gives the same trace now that it does."""
    import bullmq_scenario as scenario

    def once(fast):
        scenario.LOG.clear()
        opts = {"limiter": {"max": 2, "duration": 3000}} if setup == "limiter" else {}
        worker = worker_for(scenario.process, queue=scenario.QUEUE, **opts)
        with jobsim.Simulation(worker, start=START) as sim:
            sim.bullmq.fast_forward = fast
            from bullmq import Queue

            live = Queue(scenario.QUEUE, {"connection": "redis://127.0.0.1:1/0"})
            if setup == "global-concurrency":
                run(live.setGlobalConcurrency(1))
            elif setup == "global-rate-limit":
                run(live.setGlobalRateLimit(2, 3000))
            run(scenario.produce(live))
            run(live.add("much-later", {}, {"delay": 3 * 3600_000 + 300}))
            sim.advance("4h")
            polls = len(sim.bullmq.polls)
        return [(r.kind, r.at, r.data) for r in sim.trace.records], list(scenario.LOG), polls

    fast, slow = once(True), once(False)
    assert fast[:2] == slow[:2]
    assert slow[1][-1]["name"] == "much-later"
    assert fast[2] < 60 < 1000 < slow[2]  # 4 h of 5 s and 10 s polls


def test_a_paused_queue_is_polled_as_bullmq_polls_it(worker_for, queue):
    """Paused, ``moveToActive`` promotes the due delayed jobs and answers before ``getNextDelayedTimestamp``: the
    idle worker blocks ``drainDelay`` (5 s), so the promotion lands on that grid -- the fast path must not skip it."""
    from bullmq import QueueEvents

    def once(fast):
        heard = []
        with jobsim.Simulation(worker_for(flaky), start=START) as sim:
            sim.bullmq.fast_forward = fast
            events = QueueEvents("q", {"connection": "redis://127.0.0.1:1/0"})
            events.on("waiting", lambda args, entry_id: heard.append((args.get("prev"), sim.now_ns() - sim.start_ns)))
            run(queue.add("later", {}, {"delay": 7_300}))
            run(queue.pause())
            sim.advance("30s")
            run(queue.resume())
            sim.advance("30s")
        return [(r.kind, r.at, r.data) for r in sim.trace.records], heard

    fast = once(True)
    assert fast == once(False)
    # blocked 5 s at 0 and at 5 (paused: no delayed time comes back); the 10 s wake-up promotes it
    assert fast[1] == [("delayed", 10 * SECOND)]
    assert [(rec[1] - T0 * SECOND) / SECOND for rec in fast[0] if rec[0] == "attempt"] == [30.0]


@pytest.mark.parametrize("offset_ns", [0, 1, 499_999, 500_000, 999_999])
def test_the_first_wake_up_is_the_worker_s_own_step_by_step_arithmetic(offset_ns):
    """``_first_wake`` takes its 10 s blocks at once; what it answers is still the loop of blocks bullmq's worker
    would make (ceil of min(due - now, 10 s), ``worker.py:355-361, 394-415``)."""
    import math

    from jobsim_bullmq._world import _first_wake

    def stepwise(wake, due_ms):
        while round(wake / 1_000_000) < due_ms:
            delay_ms = due_ms - int(wake / 1_000_000)
            wake += math.ceil(0.001 if delay_ms < 1 else min(delay_ms / 1000, 10)) * SECOND
        return wake

    start = T0 * SECOND + offset_ns
    for ahead_ms in (0, 1, 999, 1000, 9_999, 10_000, 10_001, 19_999, 20_000, 123_456, 86_400_000):
        due = T0 * 1000 + ahead_ms
        assert _first_wake(start, due) == stepwise(start, due), ahead_ms
    assert _first_wake(T0 * SECOND, T0 * 1000 + 10 * 365 * 86_400_000) == T0 * SECOND + 10 * 365 * 86_400 * SECOND


def test_a_queue_no_worker_reads_is_named_once_on_the_timeline_with_the_read_queues_and_a_close_match(worker_for):
    """Faithful to Redis (the jobs wait), but a typo in a Queue name shows: once per queue, naming the queues
    the workers read and the one it looks like; another prefix shows as ``prefix:name``."""
    with (
        pytest.warns(jobsim.UnreadQueueWarning) as caught,
        jobsim.Simulation(worker_for(flaky, queue="emails"), start=START) as sim,
    ):
        typo = Queue("emials", {"connection": NOWHERE})
        jobs = [run(typo.add("send", {})) for _ in range(3)]
        run(Queue("emails", {"connection": NOWHERE, "prefix": "app"}).add("send", {}))
        run(Queue("emails", {"connection": NOWHERE}).add("send", {}))  # the queue the worker reads: nothing to say
        sim.run_until_idle()
        assert [run(typo.getJobState(job.id)) for job in jobs] == ["waiting"] * 3
        lines = [line for line in sim.timeline().splitlines() if "has no simulated worker" in line]
    assert [str(w.message).split(", so")[0] for w in caught if w.category is jobsim.UnreadQueueWarning] == [
        "jobsim-bullmq: 3 job(s) (3 of job name 'send') wait on queue 'emials', which no simulated worker reads (the "
        "workers read 'emails'; did you mean 'emails'?)",
        "jobsim-bullmq: 1 job(s) (1 of job name 'send') wait on queue 'app:emails', which no simulated worker reads "
        "(the workers read 'emails'; did you mean 'emails'?)"]
    assert len(lines) == 2
    assert ("queue 'emials' has no simulated worker (the workers read 'emails'; did you mean 'emails'?): its jobs "
            "stay there") in lines[0]
    assert "queue 'app:emails' has no simulated worker (the workers read 'emails'; did you mean 'emails'?)" in lines[1]
