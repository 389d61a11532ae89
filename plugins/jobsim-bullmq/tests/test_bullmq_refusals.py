"""What jobsim-bullmq refuses, with messages that name the thing and the fix."""

from __future__ import annotations

import pytest
from bullmq_support import START, run

import jobsim
from jobsim.errors import InvalidArgument, UnsupportedFeature


async def noop(job, token):
    return None


def test_an_autorun_worker_is_refused():
    from bullmq import Worker

    worker = Worker.__new__(Worker)  # what Worker(name, processor) builds, without scheduling run() on a loop
    worker.name, worker.processor, worker.running, worker.opts = "q", noop, False, {"concurrency": 1}
    with pytest.raises(InvalidArgument, match=r"built with autorun .*\{'autorun': False"):
        jobsim.Simulation(worker)


@pytest.mark.parametrize(("opts", "message"), [
    ({"concurrency": 0}, r"Worker opts\['concurrency'\]=0 is not valid: a finite number >= 1"),
    ({"limiter": {"max": 1}}, r"Worker opts\['limiter'\].*'duration': milliseconds"),
    # bullmq-python calls backoffStrategy without await (backoffs.py): an async def's coroutine reached
    # moveToDelayed as the delay, the worker emitted only 'error' and the job sat active until it stalled
    ({"settings": {"backoffStrategy": noop}}, r"backoffStrategy'\].*a plain \(not async\) def"),
    ({"settings": {"backoffStrategy": 1000}}, r"backoffStrategy'\]=1000 is not valid"),
    # NaN passed `value < 1`: with lockDuration=nan every job stayed 'queued', silently
    ({"lockDuration": float("nan")}, r"Worker opts\['lockDuration'\]=nan is not valid: a finite number >= 1"),
    ({"drainDelay": float("inf")}, r"Worker opts\['drainDelay'\]=inf is not valid: a finite number >= 1"),
    ({"stalledInterval": float("nan")}, r"Worker opts\['stalledInterval'\]=nan is not valid"),
])  # fmt: skip
def test_bad_worker_options_are_refused(worker_for, opts, message):
    with pytest.raises(InvalidArgument, match=message):
        jobsim.Simulation(worker_for(noop, **opts))


def test_the_same_worker_twice_is_refused(worker_for):
    worker = worker_for(noop)
    with pytest.raises(InvalidArgument, match="passed to this Simulation twice"):
        jobsim.Simulation(worker, worker)


def test_what_is_not_simulated_raises_and_reaches_no_redis(worker_for, queue):
    with jobsim.Simulation(worker_for(noop), start=START):
        with pytest.raises(UnsupportedFeature, match=r"queue.get_workers\(\) is not simulated by jobsim-bullmq"):
            run(queue.get_workers())
        with pytest.raises(InvalidArgument, match=r"opts\['deduplication'\]='a' is not valid: a dict \{'id'"):
            run(queue.add("x", {}, {"deduplication": "a"}))
        with pytest.raises(InvalidArgument, match=r"opts\['deduplication'\]\['ttl'\]='5s' is not valid: milliseconds"):
            run(queue.add("x", {}, {"deduplication": {"id": "a", "ttl": "5s"}}))


def test_a_processor_blocking_the_loop_past_its_lock_loses_it(worker_for, queue):
    """time.sleep blocks the worker's event loop (all its jobs and lock renewals); past lockDuration (30 s) the
    lock is gone, bullmq's moveToFinished fails with 'Missing lock', the stalled checker moves the job back to wait,
    and after maxStalledCount (1) stalls the next fetch fails it (moveStalledJobsToWait-9.lua, worker.py:444-447).
    The lock renewal, overdue when the call returns, runs while moveToFinished is answered (the job is still
    tracked, lock_manager.py:185-198): its extendLocks fails first ('could not renew lock')."""
    import time

    async def blocking(job, token):
        time.sleep(40)
        return "done"

    errors = []
    worker = worker_for(blocking)
    worker.on("error", lambda err, *job: errors.append(str(err)))
    with jobsim.Simulation(worker, start=START) as sim:
        run(queue.add("x", {}))
        sim.advance("5m")
    assert errors == ["could not renew lock for job 1", "Missing lock for job 1. moveToFinished"] * 2
    stalls = [((rec.at - sim.start_ns) // 10**9, rec.data["count"]) for rec in sim.trace.records
              if rec.kind == "bullmq.stalled"]  # fmt: skip
    assert stalls == [(70, 1), (140, 2)]  # the stalled checker (every 30 s) marks it, then finds its lock gone
    (r,) = sim.runs("q")
    assert r.status == "failed" and str(r.error) == "job stalled more than allowable limit" and len(r.attempts) == 3


def test_after_close_nothing_is_patched(worker_for):
    from bullmq import Queue
    from bullmq.backends.redis_backend import RedisBackend

    original = RedisBackend.__dict__["addJob"]
    with jobsim.Simulation(worker_for(noop), start=START):
        assert RedisBackend.__dict__["addJob"] is not original
    assert RedisBackend.__dict__["addJob"] is original
    assert Queue.__dict__["setGlobalConcurrency"].__module__ == "bullmq.queue"


def test_calling_run_of_a_worker_from_the_test_is_refused_instead_of_hanging(worker_for):
    """An app's own start-up code awaits ``worker.run()``; called from the test while the simulation runs the
    loop itself, that second loop blocked for ever in the simulated ``BZPOPMIN`` (the test hung). A worker the
    simulation was not given would consume the simulated Redis in real time: refused as well."""
    import asyncio

    from bullmq import Queue

    worker, stranger = worker_for(noop), worker_for(noop)
    with jobsim.Simulation(worker, start=START) as sim:
        with pytest.raises(UnsupportedFeature, match=r"worker\.run\(\) .*queue 'q'.*this simulation runs its loop"):
            run(worker.run())
        with pytest.raises(UnsupportedFeature, match=r"worker\.run\(\) .*not given to this simulation.*"
                                                     r"pass it to jobsim\.Simulation"):  # fmt: skip
            run(stranger.run())

        async def app_start_up():
            return asyncio.ensure_future(worker.run())

        with pytest.raises(UnsupportedFeature, match=r"worker\.run\(\)"):
            run(app_start_up())
        job = run(Queue("q", {"connection": "redis://127.0.0.1:1/0"}).add("j", {}))
        sim.run_until_idle()  # the simulation's own loop still runs the worker
        assert sim.bullmq.state(job.id) == "completed"


def test_a_jobsim_error_in_a_processor_stops_the_test_instead_of_failing_the_job(worker_for, queue):
    """jobsim's own errors (a refused call, a driving call from job code) leave the worker and stop the test
    (``jobsim.hooks.escapes``), as with every other plugin: bullmq-python's worker caught them as the job's
    error, so the job was failed -- and retried for its ``attempts`` -- while the test ran on."""
    from jobsim.errors import JobsimError

    box = []

    async def drives_time(job, token):
        box[0].run_until_idle()

    async def lists_workers(job, token):
        await queue.get_workers()

    with jobsim.Simulation(worker_for(drives_time), start=START) as sim:
        box.append(sim)
        run(queue.add("x", {}, {"attempts": 3}))
        with pytest.raises(JobsimError, match=r"sim\.run_until_idle\(\) was called from job code"):
            sim.run_until_idle()
        assert [len(r.attempts) for r in sim.runs("q")] == [1]
    with jobsim.Simulation(worker_for(lists_workers), start=START) as sim:
        run(queue.add("x", {}, {"attempts": 3}))
        with pytest.raises(UnsupportedFeature, match=r"queue\.get_workers\(\) is not simulated"):
            sim.run_until_idle()
        assert [len(r.attempts) for r in sim.runs("q")] == [1]


def test_a_simulation_without_a_bullmq_worker_refuses_bullmq_calls_instead_of_reaching_redis(worker_for, queue,
                                                                                               connects):
    """A test that forgot to pass its worker: queue.add (and every other call of a Queue, Job, JobScheduler or
    FlowProducer) would go to the queue's real Redis -- a local one would take the job. Refused, naming the fix."""
    import re

    from bullmq import FlowProducer, Queue
    from bullmq.backends.redis_backend import RedisBackend
    from bullmq_support import NOWHERE

    from jobsim.errors import JobsimError

    originals = dict(vars(RedisBackend)), dict(vars(Queue))
    app = jobsim.App("shop")

    @app.function(id="checkout", on="order/placed")
    async def checkout(ctx):
        return (await queue.add("receipt", {})).id

    message = (r"^BullMQ queue 'q' is not part of this simulation: bullmq would send (addJob|addFlow|addJobScheduler) "
               r"to its real Redis \(127\.0\.0\.1:1/0\)\. This simulation runs no BullMQ worker: pass the worker\(s\), "
               r"built with \{'autorun': False\}, e\.g\. jobsim\.Simulation\(worker\)")  # fmt: skip
    with jobsim.Simulation(app, start=START) as sim:
        with pytest.raises(JobsimError, match=message):
            run(queue.add("x", {}))
        with pytest.raises(JobsimError, match=message):
            run(FlowProducer({"connection": NOWHERE}).add({"name": "p", "queueName": "q"}))
        with pytest.raises(JobsimError, match=message):
            run(queue.upsertJobScheduler("daily", {"every": 1000}))
        with pytest.raises(JobsimError, match="bullmq would send setGlobalConcurrency"):
            run(queue.setGlobalConcurrency(2))
        assert connects == []  # no connection attempt
        sim.send("order/placed", {})
        sim.run_until_idle()
        assert re.match(message, str(sim.runs("checkout")[0].error))  # the function's own failure
    assert (dict(vars(RedisBackend)), dict(vars(Queue))) == originals
    with jobsim.Simulation(app, worker_for(noop), start=START) as sim:  # passed: both run
        sim.send("order/placed", {})
        sim.run_until_idle()
        assert [r.status for r in sim.runs("q")] == ["completed"]
    assert (dict(vars(RedisBackend)), dict(vars(Queue))) == originals


@pytest.mark.filterwarnings("ignore::jobsim.PendingWorkWarning")  # closes with jobs it added unrun, on purpose
def test_reading_a_job_after_its_simulation_closed_says_so_instead_of_reaching_redis(worker_for, queue, connects):
    """A Job made inside the simulation has no Redis once it closes: bullmq would read it from the queue's (connection
    errors after redis-py's retries, or a real Redis that never had it). Refused naming what to read instead."""

    from jobsim.errors import JobsimError

    async def double(job, token):
        return job.data["n"] * 2

    with jobsim.Simulation(worker_for(double), start=START) as sim:
        job = run(queue.add("x", {"n": 21}))
        sim.run_until_idle()
        assert run(job.getState()) == "completed"
    message = (r"^BullMQ job 1 of queue 'q' belongs to a simulation that has closed, and bullmq would read it from "
               r"Redis \((getState|isJobInState)\): read it inside the `with` block")  # fmt: skip
    with pytest.raises(JobsimError, match=message):
        run(job.getState())
    with pytest.raises(JobsimError, match=message):
        run(job.isCompleted())
    assert connects == []  # no connection attempt
    assert sim.bullmq.state(job.id) == "completed" and sim.runs("q")[0].output == 42
    read = sim.bullmq.job(job.id)  # the simulated Redis read after the close: its fields, but no Redis behind it
    assert read.returnvalue == 42
    with pytest.raises(JobsimError, match=message):
        run(read.getState())
    with jobsim.Simulation(worker_for(double), start=START) as sim:  # the queue itself serves the next simulation
        assert run(run(queue.add("x", {"n": 1})).getState()) == "waiting"


@pytest.mark.parametrize(("opts", "message"), [
    ({"attempts": "3"}, r"opts\['attempts'\]='3' is not valid: a number of attempts"),
    ({"attempts": 3, "backoff": 2000.0}, r"opts\['backoff'\]=2000\.0 is not valid: an int of milliseconds"),
    ({"attempts": 3, "backoff": {"type": "exponential"}}, r"opts\['backoff'\]\['delay'\]=None is not valid"),
    ({"attempts": 3, "backoff": {"type": "linear", "delay": 100}},
     r"opts\['backoff'\]\['type'\]='linear' is not valid: 'fixed' or 'exponential'; a custom type needs "
     r"settings=\{'backoffStrategy': fn\} in the options of the worker of queue 'q'"),
    ({"repeat": {"every": 1000}}, r"opts\['repeat'\]=\{'every': 1000\} is not valid: no 'repeat': bullmq-python "
                                  r"3\.4's queue\.add ignores it .* queue\.upsertJobScheduler"),
    # attemptsMade + 1 < inf is always true: retried at once, forever, at one virtual instant (a hang); NaN compares
    # false but the simulated scripts could not store it: the run sat 'running' with no attempt
    ({"attempts": float("inf")}, r"opts\['attempts'\]=inf is not valid: a number of attempts"),
    ({"attempts": float("nan")}, r"opts\['attempts'\]=nan is not valid: a number of attempts"),
    # moveToDelayed with a NaN or infinite delay: the job sat active (run 'running', no attempt), silently
    ({"attempts": 3, "backoff": {"type": "fixed", "delay": float("nan")}},
     r"opts\['backoff'\]\['delay'\]=nan is not valid: milliseconds \(a finite number\)"),
    ({"attempts": 3, "backoff": {"type": "exponential", "delay": float("inf")}},
     r"opts\['backoff'\]\['delay'\]=inf is not valid: milliseconds \(a finite number\)"),
])  # fmt: skip
def test_retry_options_the_worker_would_choke_on_are_refused_at_the_add(worker_for, queue, opts, message):
    """bullmq reads attempts/backoff only when the job fails, in Job.moveToFailed: these raise there, the worker
    emits only 'error', and the job sat active (run 'running', no attempt) until the stalled check -- silently."""
    async def failing(job, token):
        raise ValueError("down")

    with jobsim.Simulation(worker_for(failing), start=START) as sim:
        with pytest.raises(InvalidArgument, match=r"^job 'x' on BullMQ queue 'q': " + message):
            run(queue.add("x", {}, opts))
        assert sim.runs("q") == []


@pytest.mark.parametrize(("opts", "message"), [
    # addDelayedJob: due at the timestamp, through the delayed set (a 'delayed' event, promoted at the next fetch)
    ({"delay": -1000}, r"opts\['delay'\]=-1000 is not valid: milliseconds >= 0"),
    # addJobWithPriority: scored ahead of every prioritized job / past a double's 53 bits
    ({"priority": -1}, r"opts\['priority'\]=-1 is not valid: 0 \(none\) or 1"),
    ({"priority": 2_097_153}, r"opts\['priority'\]=2097153 is not valid"),
    ({"priority": "high"}, r"opts\['priority'\]='high' is not valid"),
    ({"timestamp": "now"}, r"opts\['timestamp'\]='now' is not valid: epoch milliseconds"),
    # were an OverflowError / ValueError from int() in the simulated scripts
    ({"delay": float("inf")}, r"opts\['delay'\]=inf is not valid: milliseconds >= 0"),
    ({"timestamp": float("nan")}, r"opts\['timestamp'\]=nan is not valid: epoch milliseconds"),
])  # fmt: skip
def test_placement_options_bullmq_python_sends_unchecked_are_refused_at_the_add(worker_for, queue, opts, message):
    """bullmq-python checks none of them (``Scripts.addJob`` picks the script by truthiness); a real Redis took each
    (measured), with the effects above -- the simulation had queued the first two as plain waiting jobs and failed
    on the last with a ValueError from int()."""
    with jobsim.Simulation(worker_for(noop), start=START) as sim:
        with pytest.raises(InvalidArgument, match=message):
            run(queue.add("x", {}, opts))
        run(queue.add("y", {}, {"delay": "500", "priority": 2_097_152}))  # as Lua's tonumber reads it: accepted
        assert sim.bullmq.counts("q")["delayed"] == 1


def test_a_custom_backoff_type_served_by_the_worker_is_accepted(worker_for, queue):
    async def failing(job, token):
        raise ValueError("down")

    def strategy(attempts_made, kind, err, job):
        return attempts_made * 10_000

    with jobsim.Simulation(worker_for(failing, settings={"backoffStrategy": strategy}), start=START) as sim:
        run(queue.add("x", {}, {"attempts": 3, "backoff": {"type": "linear"}}))
        sim.run_until_idle()
    # failures at 0 s, then 10 s and 20 s later (bullmq passes attemptsMade + 1 = 1, 2)
    assert [a.started_at.strftime("%M:%S") for a in sim.runs("q")[0].attempts] == ["00:00", "00:10", "00:30"]


def test_a_node_style_job_template_given_to_upsert_job_scheduler_is_refused_naming_the_arguments(worker_for, queue):
    """Node's upsertJobScheduler(id, repeat, {name, data, opts}) ported as is: bullmq-python's third argument is the
    jobs' name (the Lua script would fail on the table; here it was a redis-py DataError from the stream)."""
    with jobsim.Simulation(worker_for(noop), start=START) as sim:
        with pytest.raises(InvalidArgument, match=r"^queue\.upsertJobScheduler\('daily', repeat_opts, job_name\)="
                                                  r"\{'name': 'report', 'data': \{\}\} is not valid: the jobs' name, a "
                                                  r"string: bullmq-python takes \(job_scheduler_id, repeat_opts, "
                                                  r"job_name, job_data, opts\)"):  # fmt: skip
            run(queue.upsertJobScheduler("daily", {"pattern": "0 8 * * *"}, {"name": "report", "data": {}}))
        run(queue.upsertJobScheduler("daily", {"pattern": "0 8 * * *"}, "report", {}))
        sim.advance("1d")
        assert [r.event.data["name"] for r in sim.runs("q")][:1] == ["report"]


@pytest.mark.parametrize("every", [float("nan"), float("inf"), "5s", 0.5, -5000, True, "1000.5", "1e-3", 1500.5])
def test_an_every_a_scheduler_cannot_step_by_is_refused_naming_it(worker_for, queue, every):
    """NaN, inf, '5s' and '1000.5' were a bare ValueError/OverflowError from int() in the simulated script (the last
    past audit5's float() check); a negative every made each next job due before the last one; 0.5, '1e-3' and
    1500.5 are fractions of a millisecond the script steps by and the simulation would round. ('1e3', which Lua
    reads as 1000, runs: test_bullmq_fidelity.py.)"""
    with jobsim.Simulation(worker_for(noop), start=START) as sim:
        with pytest.raises(InvalidArgument, match=r"^queue\.upsertJobScheduler\('tick', repeat_opts\)\['every'\]="
                                                  r".* is not valid: milliseconds between jobs, a whole number >= 1"):
            run(queue.upsertJobScheduler("tick", {"every": every}, "tick", {}))
        run(queue.upsertJobScheduler("tick", {"every": "1000"}, "tick", {}))  # as Lua's tonumber reads it
        run(queue.upsertJobScheduler("tock", {"every": 1000.0}, "tock", {}))
        sim.advance("3.5s")
        assert [r.status for r in sim.runs("q")].count("completed") == 8  # 0, 1, 2, 3 s, each


@pytest.mark.parametrize(("call", "message"), [
    # 0: the queue is always maxed (isQueueMaxed: active >= 0), every job stays waiting, silently
    (lambda q: q.setGlobalConcurrency(0), r"queue\.setGlobalConcurrency\(concurrency\)=0 is not valid: an int >= 1"),
    (lambda q: q.setGlobalConcurrency(float("nan")), r"queue\.setGlobalConcurrency\(concurrency\)=nan is not valid"),
    # getRateLimitTTL lets the first job of each window through, INCR then limits: a max of 0 acts as 1
    (lambda q: q.setGlobalRateLimit(0, 1000), r"queue\.setGlobalRateLimit\(max_jobs\)=0 is not valid: an int >= 1: "
                                               r"jobs per window \(moveToActive lets one job per window through for a "
                                               r"max under 1, as for 1: say 1\)"),
    # Redis keeps '2.5', tonumber compares 2.5; the simulation kept int(2.5)
    (lambda q: q.setGlobalConcurrency(2.5), r"queue\.setGlobalConcurrency\(concurrency\)=2\.5 is not valid"),
    (lambda q: q.setGlobalRateLimit(1.5, 1000), r"queue\.setGlobalRateLimit\(max_jobs\)=1\.5 is not valid"),
    (lambda q: q.setGlobalRateLimit(1, float("inf")), r"queue\.setGlobalRateLimit\(duration_ms\)=inf is not valid"),
    # Redis refuses SET ... PX with a time <= 0 ('invalid expire time'); NaN was a bare ValueError from int()
    (lambda q: q.rateLimit(-1), r"queue\.rateLimit\(expire_time_ms\)=-1 is not valid: an int of milliseconds > 0"),
    (lambda q: q.rateLimit(float("nan")), r"queue\.rateLimit\(expire_time_ms\)=nan is not valid"),
])  # fmt: skip
def test_queue_limits_that_would_stop_the_queue_or_that_redis_refuses_are_named(worker_for, queue, call, message):
    with jobsim.Simulation(worker_for(noop), start=START) as sim:
        with pytest.raises(InvalidArgument, match=message):
            run(call(queue))
        run(queue.add("x", {}))
        sim.advance("1s")
        assert [r.status for r in sim.runs("q")] == ["completed"]


def test_a_queue_or_flow_producer_passed_instead_of_the_worker_is_refused_naming_the_worker(queue):
    from bullmq import FlowProducer
    from bullmq_support import NOWHERE

    accepted = (r" is not valid: jobsim-bullmq runs bullmq Worker objects, and while it runs one, every Queue, "
                r"FlowProducer and QueueEvents talks to the simulated Redis by itself: pass the worker\(s\) of the "
                r"queue, built with \{'autorun': False\}, e\.g\. jobsim\.Simulation\(worker\)$")  # fmt: skip
    with pytest.raises(InvalidArgument, match=r"^targets=Queue\('q'\)" + accepted):
        jobsim.Simulation(queue)
    with pytest.raises(InvalidArgument, match=r"^targets=FlowProducer\(\.\.\.\)" + accepted):
        jobsim.Simulation(FlowProducer({"connection": NOWHERE}))


def test_worker_close_pause_and_resume_from_the_test_run_in_virtual_time(worker_for, queue):
    """worker.close() and worker.pause() wait for the jobs in flight -- tasks only virtual time finishes: awaited by
    the test they waited for ever, in real time. They return once the job is done, the simulation advanced to it;
    resume() wakes the worker at once; a closed worker given to a new simulation is refused."""
    import asyncio

    async def export(job, token):
        await asyncio.sleep(10)
        return job.name

    worker = worker_for(export)
    with jobsim.Simulation(worker, start=START) as sim:
        run(queue.add("a", {}))
        sim.advance("1s")
        run(asyncio.wait_for(worker.pause(), 10))  # returns when 'a' is done (a real-time bound: it hung)
        assert sim.now.strftime("%M:%S") == "00:10"
        run(queue.add("b", {}))
        sim.advance("50s")
        assert [r.status for r in sim.runs("q")] == ["completed", "queued"]
        worker.resume()  # at 01:00
        sim.advance("1s")
        run(queue.add("c", {}))
        run(asyncio.wait_for(worker.close(), 10))  # waits for 'b' (01:00 - 01:10); 'c' is left waiting
        assert sim.now.strftime("%M:%S") == "01:10" and worker.closed
    assert [(r.attempts[0].started_at.strftime("%M:%S") if r.attempts else None, r.status)
            for r in sim.runs("q")] == [("00:00", "completed"), ("01:00", "completed"), (None, "queued")]
    with pytest.raises(InvalidArgument, match=r"^the BullMQ worker for queue 'q' was closed \(worker\.close\(\)\).*"
                                              r"build a new Worker"):  # fmt: skip
        jobsim.Simulation(worker, start=START)


@pytest.mark.parametrize("expire", [2000, "timedelta"])
def test_rate_limit_takes_what_redis_py_sends_as_px(worker_for, queue, expire):
    """redis-py's SET ... px= takes an int or a timedelta (int(total_seconds() * 1000), redis/utils.py): both rate
    limit the queue until it expires (a worker with a limiter reads it: getRateLimitTtl)."""
    import datetime as dt

    expire = dt.timedelta(seconds=2) if expire == "timedelta" else expire
    with jobsim.Simulation(worker_for(noop, limiter={"max": 10, "duration": 1000}), start=START) as sim:
        run(queue.rateLimit(expire))
        run(queue.add("x", {}))
        sim.advance("1s")
        assert [r.status for r in sim.runs("q")] != ["completed"]
        sim.advance("10s")
        assert [r.status for r in sim.runs("q")] == ["completed"]


@pytest.mark.parametrize("expire", [2000.0, 0.5, "2000"])
def test_rate_limit_refuses_what_redis_py_refuses_as_px(worker_for, queue, expire):
    """redis-py raises DataError('px must be datetime.timedelta or int') for a float: the simulation had rounded
    it down (0.5: no limit at all)."""
    refused = r"^queue\.rateLimit\(expire_time_ms\)=.* is not valid: an int of milliseconds > 0 or a timedelta"
    with jobsim.Simulation(worker_for(noop), start=START), pytest.raises(InvalidArgument, match=refused):
        run(queue.rateLimit(expire))


def test_whole_float_limits_and_a_fractional_window_are_taken(worker_for, queue):
    """Redis keeps 3.0 as '3.0' and tonumber reads 3; a window is floored (math.floor(math.abs(duration)))."""
    with jobsim.Simulation(worker_for(noop), start=START) as sim:
        run(queue.setGlobalConcurrency(3.0))
        run(queue.setGlobalRateLimit(2.0, 1000.5))
        for n in range(3):
            run(queue.add("x", {"n": n}))
        sim.advance("10s")
        assert [r.status for r in sim.runs("q")] == ["completed"] * 3


def plain_processor(job, token):  # the bug: no async
    CALLS.append(job.id)
    return "charged"


CALLS: list[str] = []


def test_a_plain_def_processor_fails_every_attempt_as_on_a_real_worker_and_warns_at_its_def(worker_for, queue):
    """bullmq-python's processJob runs ``await self.processor(job, token)``: the body runs, then the await fails
    with TypeError and the job is retried as a failure. The simulation does the same and says why, once."""
    from jobsim_bullmq import BullMQProcessorWarning

    CALLS.clear()
    warned = pytest.warns(BullMQProcessorWarning,
                          match=r"queue 'q' returned 'str', not an awaitable: .*async def processor\(job, token\)")
    with warned as caught, jobsim.Simulation(worker_for(plain_processor), start=START) as sim:
        run(queue.add("x", {}, {"attempts": 3, "backoff": {"type": "fixed", "delay": 1000}}))
        sim.run_until_idle()
    (run_,) = sim.runs("q")
    assert run_.status == "failed" and len(run_.attempts) == 3 and CALLS == ["1", "1", "1"]
    assert str(run_.attempts[-1].error) == "object str can't be used in 'await' expression"
    assert [(w.filename, w.lineno) for w in caught] == [(__file__, plain_processor.__code__.co_firstlineno)]


def test_a_plain_def_returning_a_coroutine_is_a_processor_and_gets_no_warning(worker_for, queue):
    import warnings

    async def charge(job):
        return "charged"

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with jobsim.Simulation(worker_for(lambda job, token: charge(job)), start=START) as sim:
            run(queue.add("x", {}))
            sim.run_until_idle()
    assert [r.status for r in sim.runs("q")] == ["completed"]
