"""The worker's own rules, as arq's Worker code applies them: retries, timeouts, max_tries, aborts, results kept,
hooks, concurrency -- each at its exact virtual instant."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import textwrap

import pytest
from arq import create_pool
from arq.jobs import JobStatus
from arq.worker import func
from arq_jobs import LOG, NOWHERE, START, add, always_retry, boom, clock, retried, slow

import jobsim


def run(coro):
    return asyncio.run(coro)


def settings(*functions, **options):
    return {"functions": list(functions), "redis_settings": NOWHERE, **options}


def secs(sim, ns):
    return round((ns - sim.start_ns) / 1e9, 3)


def test_retry_defer_reruns_the_job_that_much_later_with_job_try_counting_up():
    with jobsim.Simulation(settings(retried), start=START) as sim:
        run(run_pool_enqueue("retried", 5))
        sim.run_until_idle()
    assert LOG == [("retried", "09:00:00.000", 1), ("retried", "09:00:05.000", 2), ("retried", "09:00:10.000", 3)]
    [r] = sim.runs(retried)
    assert r.status == "completed" and r.output == "third time" and len(r.attempts) == 3
    retries = [(secs(sim, x.at), secs(sim, x.data["at"]), x.data["delay"]) for x in sim.trace.of("retry")]
    assert retries == [(0.0, 5.0, 5_000_000_000), (5.0, 10.0, 5_000_000_000)]


def test_a_retry_record_names_the_attempt_it_plans():
    """A ``retry`` record's ``attempt`` is the attempt it schedules, as the core's and the other plugins' records
    say it (the timeline's "retry charge#1 attempt 1 at ..."; ``jobsim.invariants`` finds the retry that planned
    attempt N by it): jobsim-arq wrote the number of the try that had just failed, one less."""
    with jobsim.Simulation(settings(retried), start=START) as sim:
        run(run_pool_enqueue("retried", 5))
        sim.run_until_idle()
        timeline = sim.timeline()
    [r] = sim.runs(retried)
    planned = [(x.data["attempt"], x.data["at"]) for x in sim.trace.of("retry")]
    assert planned == [(a.number, a.start_ns) for a in r.attempts[1:]] == [(1, sim.start_ns + 5 * 10**9),
                                                                          (2, sim.start_ns + 10 * 10**9)]  # fmt: skip
    assert "retried#1 attempt 1 at 09:00:05 (+5s)" in timeline


def test_retry_without_defer_runs_again_at_the_next_poll():
    with jobsim.Simulation(settings(retried, poll_delay=2), start=START) as sim:
        run(run_pool_enqueue("retried", None))
        sim.run_until_idle()
    assert [t for _, t, _ in LOG] == ["09:00:00.000", "09:00:02.000", "09:00:04.000"]


def test_max_tries_fails_the_job_on_the_try_after_the_last():
    with jobsim.Simulation(settings(always_retry, func(retried, max_tries=2)), start=START) as sim:
        pool = run(create_pool(NOWHERE))
        a = run(pool.enqueue_job("always_retry"))
        b = run(pool.enqueue_job("retried", 3))
        sim.run_until_idle()
        with pytest.raises(Exception, match="max 5 retries exceeded"):
            run(a.result())
        with pytest.raises(Exception, match="max 2 retries exceeded"):
            run(b.result())
    ra, rb = sim.runs(always_retry)[0], sim.runs("retried")[0]
    assert [secs(sim, x.start_ns) for x in ra.attempts] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert ra.status == "failed" and secs(sim, ra.end_ns) == 5.0  # the 6th try is refused before it runs
    assert len(rb.attempts) == 2 and secs(sim, rb.end_ns) == 6.0


def test_retry_jobs_false_makes_retry_a_failure():
    with jobsim.Simulation(settings(retried, retry_jobs=False), start=START) as sim:
        run(run_pool_enqueue("retried", 5))
        sim.run_until_idle()
    [r] = sim.runs(retried)
    assert r.status == "failed" and type(r.error).__name__ == "Retry" and len(r.attempts) == 1


def test_job_timeout_and_a_functions_own_timeout_cut_the_job_short():
    with jobsim.Simulation(settings(slow, func(add, name="quick_slow", timeout=0.75), job_timeout=3),
                           start=START) as sim:  # fmt: skip
        pool = run(create_pool(NOWHERE))
        long = run(pool.enqueue_job("slow", 10))
        sim.run_until_idle()
        with pytest.raises(asyncio.TimeoutError):
            run(long.result())
    [r] = sim.runs(slow)
    assert r.status == "failed" and isinstance(r.error, asyncio.TimeoutError)
    assert [(secs(sim, a.start_ns), secs(sim, a.end_ns)) for a in r.attempts] == [(0.0, 3.0)]
    assert [("slow start", "09:00:00.000", long.job_id)] == LOG  # never reached its end


def test_keep_result_zero_keeps_no_result_and_keep_result_forever_keeps_it():
    with jobsim.Simulation(settings(func(add, keep_result=0), func(slow, keep_result_forever=True)),
                           start=START) as sim:  # fmt: skip
        pool = run(create_pool(NOWHERE))
        a = run(pool.enqueue_job("add", 1, 2))
        s = run(pool.enqueue_job("slow", 1))
        sim.advance("30d")
        assert run(a.status()) == JobStatus.not_found and run(a.result_info()) is None
        assert run(s.result_info()).result == "slept 1"
        assert sim.arq.store.ttl_ms(b"arq:result:" + s.job_id.encode()) is None
    assert sim.runs(add)[0].output == 3  # the run keeps its output all the same


def test_a_misspelt_keyword_of_sim_arq_store_ttl_ms_names_the_one_meant():
    with jobsim.Simulation(settings(add), start=START) as sim, pytest.raises(jobsim.InvalidArgument) as info:
        sim.arq.store.ttl_ms(kye=b"arq:result:x")
    assert str(info.value).startswith("sim.arq.store.ttl_ms() got an unknown keyword argument kye=")
    assert "(did you mean key=?); accepted: key" in str(info.value)


def test_max_jobs_limits_concurrency_and_the_rest_wait_for_a_poll():
    with jobsim.Simulation(settings(slow, max_jobs=2), start=START) as sim:
        pool = run(create_pool(NOWHERE))
        for job_id, seconds in zip("abcd", (3, 1, 3, 1), strict=True):
            run(pool.enqueue_job("slow", seconds, _job_id=job_id))  # one score: ZRANGEBYSCORE orders them by id
        sim.run_until_idle()
    spans = [(r.id, secs(sim, r.attempts[0].start_ns), secs(sim, r.end_ns)) for r in sim.runs(slow)]
    # b ends at 1.0, just after that poll (polls come first at an instant, as on a real worker): c starts at 1.5
    assert spans == [("a", 0.0, 3.0), ("b", 0.0, 1.0), ("c", 1.5, 4.5), ("d", 3.5, 4.5)]


def test_queue_read_limit_caps_how_many_ids_one_poll_reads():
    with jobsim.Simulation(settings(add, queue_read_limit=2, poll_delay=1), start=START) as sim:
        pool = run(create_pool(NOWHERE))
        for i in range(5):
            run(pool.enqueue_job("add", i, i, _job_id=f"j{i}"))
        sim.run_until_idle()
    assert [secs(sim, r.attempts[0].start_ns) for r in sim.runs(add)] == [0.0, 0.0, 1.0, 1.0, 2.0]


def test_hooks_run_in_arqs_order_with_ctx():
    seen = []

    async def startup(ctx):
        seen.append(("startup", clock(), sorted(ctx)))
        ctx["db"] = "connected"

    async def job_start(ctx):
        seen.append(("job_start", clock(), ctx["job_try"], ctx["db"]))

    async def job_end(ctx):
        seen.append(("job_end", clock()))

    async def after(ctx):
        seen.append(("after_job_end", clock(), sorted(ctx)))

    async def shutdown(ctx):
        seen.append(("shutdown", clock()))

    options = dict(on_startup=startup, on_job_start=job_start, on_job_end=job_end, after_job_end=after,
                   on_shutdown=shutdown)  # fmt: skip
    with jobsim.Simulation(settings(slow, **options), start=START) as sim:
        job = run(run_pool_enqueue("slow", 2, _defer_by=1))
        sim.advance("1m")
    assert seen == [
        ("startup", "09:00:00.000", ["redis"]),
        ("job_start", "09:00:01.000", 1, "connected"),
        ("job_end", "09:00:03.000"),
        ("after_job_end", "09:00:03.000", ["db", "enqueue_time", "job_id", "job_try", "redis", "score"]),
        ("shutdown", "09:01:00.000"),
    ]
    assert sim.runs(slow)[0].id == job.job_id


def test_ctx_holds_arqs_job_fields():
    got = {}

    async def peek(ctx):
        got.update({k: ctx[k] for k in ("job_id", "job_try", "enqueue_time", "score")})
        got["redis"] = type(ctx["redis"]).__name__

    with jobsim.Simulation(settings(func(peek, name="peek")), start=START) as sim:
        sim.advance("2s")
        run(run_pool_enqueue("peek", _job_id="p", _defer_by=3))
        sim.run_until_idle()
    enqueued = dt.datetime(2025, 3, 1, 9, 0, 2, tzinfo=dt.timezone.utc)
    assert got == {"job_id": "p", "job_try": 1, "enqueue_time": enqueued, "score": 1740819605000, "redis": "ArqRedis"}


def test_abort_cancels_a_running_job_when_allowed():
    with jobsim.Simulation(settings(slow, allow_abort_jobs=True), start=START) as sim:
        pool = run(create_pool(NOWHERE))
        job = run(pool.enqueue_job("slow", 60))
        sim.advance("10s")
        assert run(job.abort(timeout=5)) is True
        assert secs(sim, sim.now_ns()) == 10.5
    [r] = sim.runs(slow)
    assert r.status == "failed" and isinstance(r.error, asyncio.CancelledError)
    # abort() at 10.0 came after that instant's poll: the poll at 10.5 cancels the task (worker.py:408-430)
    assert [(secs(sim, a.start_ns), secs(sim, a.end_ns)) for a in r.attempts] == [(0.0, 10.5)]


def test_abort_of_a_deferred_job_fails_it_before_it_starts():
    with jobsim.Simulation(settings(add, allow_abort_jobs=True), start=START) as sim:
        pool = run(create_pool(NOWHERE))
        job = run(pool.enqueue_job("add", 1, 1, _defer_by=3600))
        assert run(job.abort(timeout=2)) is True
    [r] = sim.runs(add)
    assert r.status == "failed" and r.attempts == [] and LOG == []


def test_abort_is_ignored_without_allow_abort_jobs():
    with jobsim.Simulation(settings(slow), start=START) as sim:
        pool = run(create_pool(NOWHERE))
        job = run(pool.enqueue_job("slow", 5))
        with pytest.raises(asyncio.TimeoutError):
            run(job.abort(timeout=1))
        sim.run_until_idle()
    assert sim.runs(slow)[0].status == "completed"


def test_a_failed_job_with_sim_fail_fault_fails_like_an_exception():
    with jobsim.Simulation(settings(add), start=START) as sim:
        sim.fail("add", error=ConnectionError("db down"))
        job = run(run_pool_enqueue("add", 1, 1))
        sim.run_until_idle()
        with pytest.raises(ConnectionError):
            run(job.result())
    assert LOG == []


def test_burst_worker_stops_when_its_queue_is_empty():
    done = []

    async def shutdown(ctx):
        done.append(clock())

    with jobsim.Simulation(settings(add, burst=True, on_shutdown=shutdown), start=START) as sim:
        run(run_pool_enqueue("add", 1, 1))
        sim.advance("1h")
    assert done == ["09:00:00.500"] and sim.runs(add)[0].status == "completed"


def test_an_unknown_function_fails_the_job():
    with jobsim.Simulation(settings(add), start=START) as sim:
        job = run(run_pool_enqueue("nope"))
        sim.run_until_idle()
        with pytest.raises(Exception, match="function 'nope' not found"):
            run(job.result())
    assert sim.runs("nope")[0].status == "failed"


def test_a_job_on_a_queue_no_worker_reads_stays_queued():
    with (
        pytest.warns(jobsim.UnreadQueueWarning, match=r"1 job\(s\) \(1 of function 'add'\) wait on queue "
            r"'elsewhere', which no simulated worker reads \(the workers read 'arq:queue'\)"),
        jobsim.Simulation(settings(add), start=START) as sim,
    ):
        job = run(run_pool_enqueue("add", 1, 1, _queue_name="elsewhere"))
        sim.run_until_idle()  # a queue no simulated worker reads keeps nothing busy
        assert run(job.status()) == JobStatus.queued
        assert [(u.queue, u.name, u.id) for u in sim.arq.unconsumed] == [("elsewhere", "add", job.job_id)]
    assert sim.runs(add)[0].status == "queued"


def test_a_queue_no_worker_reads_is_named_once_on_the_timeline_with_the_read_queues_and_a_close_match():
    """Faithful to Redis (the jobs wait), but a typo in ``_queue_name`` shows: once per queue, naming the queues
    the workers read and the one it looks like."""
    with pytest.warns(jobsim.UnreadQueueWarning) as caught, jobsim.Simulation(settings(add), start=START) as sim:
        jobs = [run(run_pool_enqueue("add", i, 1, _queue_name="arq:queeu")) for i in range(3)]
        run(run_pool_enqueue("add", 1, 1, _queue_name="reports"))
        run(run_pool_enqueue("add", 2, 2))  # the queue the worker reads: nothing to say
        sim.run_until_idle()
        assert [run(job.status()) for job in jobs] == [JobStatus.queued] * 3
        lines = [line for line in sim.timeline().splitlines() if "has no simulated worker" in line]
    assert [str(w.message).split(", so")[0] for w in caught if w.category is jobsim.UnreadQueueWarning] == [
        "jobsim-arq: 3 job(s) (3 of function 'add') wait on queue 'arq:queeu', which no simulated worker reads (the "
        "workers read 'arq:queue'; did you mean 'arq:queue'?)",
        "jobsim-arq: 1 job(s) (1 of function 'add') wait on queue 'reports', which no simulated worker reads (the "
        "workers read 'arq:queue')"]
    assert len(lines) == 2
    assert ("queue 'arq:queeu' has no simulated worker (the workers read 'arq:queue'; did you mean "
            "'arq:queue'?)") in lines[0]
    assert "queue 'reports' has no simulated worker (the workers read 'arq:queue'): its jobs stay queued" in lines[1]


def test_a_function_no_worker_of_its_queue_has_is_named_once_on_the_timeline_with_the_fix():
    """A job for a function the worker was not given (a name the test forgot in ``WorkerSettings.functions``, or
    misspelled) fails as arq fails it, ``function 'x' not found`` -- at the poll, far from the cause. The timeline
    says so once per name and queue, at the enqueue, with the worker's functions, a close match and the fix."""
    from arq.cron import cron

    with jobsim.Simulation(settings(add, slow, cron_jobs=[cron(boom, hour=3)]), start=START) as sim:
        sim.leave_unread("reports")
        for _ in range(2):
            run(run_pool_enqueue("ad", 1, 1))
        run(run_pool_enqueue("send_mail"))
        run(run_pool_enqueue("add", 1, 1))  # a function the worker has: nothing to say
        run(run_pool_enqueue("ad", 1, 1, _queue_name="reports"))  # no worker reads it: said by arq.unread
        sim.run_until_idle()
        lines = [line for line in sim.timeline().splitlines() if "not found" in line and "arq  " in line]
    assert [r.status for r in sim.runs("ad")] == ["failed", "failed", "queued"]
    assert len(lines) == 2
    assert ("arq       no simulated worker of queue 'arq:queue' has a function 'ad' (did you mean 'add'?): arq "
            "fails its jobs with \"function 'ad' not found\"; add it to the worker's functions (it has 'add', "
            "'cron:boom', 'slow')") in lines[0]
    assert "has a function 'send_mail': arq fails its jobs" in lines[1]


def test_boom_is_one_attempt():
    with jobsim.Simulation(settings(boom), start=START) as sim:
        run(run_pool_enqueue("boom"))
        sim.run_until_idle()
    assert LOG == [("boom", "09:00:00.000", 1)]


async def run_pool_enqueue(name, *args, **kwargs):
    pool = await create_pool(NOWHERE)
    return await pool.enqueue_job(name, *args, **kwargs)


def test_job_try_given_at_enqueue_counts_toward_max_tries():
    with jobsim.Simulation(settings(func(retried, max_tries=3)), start=START) as sim:
        run(run_pool_enqueue("retried", 1, _job_try=3))  # re-enqueued by hand as its third try
        sim.run_until_idle()
    assert LOG == [("retried", "09:00:00.000", 3)]  # job_try 3 < 3 is false: it succeeds at once
    assert sim.runs("retried")[0].output == "third time"
    assert [a.number for a in sim.runs("retried")[0].attempts] == [0]  # jobsim counts its own calls (README)


def test_the_health_check_key_is_written_at_arqs_interval():
    from arq.worker import check_health

    with jobsim.Simulation(settings(add, health_check_interval=60), start=START) as sim:
        sim.advance("10s")
        key = b"arq:queue:health-check"
        assert sim.arq.store.ttl_ms(key) == 51_000  # written at 09:00:00 for interval + 1 s (worker.py:784-786)
        assert check_health(settings(add)) == 0
        sim.advance("2m")
        assert sim.arq.store.ttl_ms(key) == 61_000 - 10_000  # rewritten at 09:02:00, one poll at the interval


def test_a_json_serializer_is_used_by_pool_and_worker_alike():
    import json

    dumps, loads = (lambda d: json.dumps(d).encode()), json.loads
    with jobsim.Simulation(settings(add, job_serializer=dumps, job_deserializer=loads), start=START) as sim:
        pool = run(create_pool(NOWHERE, job_serializer=dumps, job_deserializer=loads))
        job = run(pool.enqueue_job("add", 2, 3))
        assert json.loads(sim.arq.store.data[b"arq:job:" + job.job_id.encode()])["f"] == "add"
        assert run(job.result()) == 5


def test_two_workers_on_two_queues_each_take_their_own_jobs():
    fast = settings(add, queue_name="fast", poll_delay=0.1)
    bulk = settings(add, queue_name="bulk", poll_delay=5)
    with jobsim.Simulation(fast, bulk, start=START) as sim:
        sim.advance("1s")
        run(run_pool_enqueue("add", 1, 1, _queue_name="fast", _job_id="f"))
        run(run_pool_enqueue("add", 2, 2, _queue_name="bulk", _job_id="b"))
        sim.run_until_idle()
        assert [w.queue_name for w in sim.arq.workers] == ["fast", "bulk"]
    starts = {r.id: secs(sim, r.attempts[0].start_ns) for r in sim.runs(add)}
    assert starts == {"f": 1.1, "b": 5.0}


def test_a_job_outliving_its_in_progress_key_runs_again_and_the_simulation_still_closes():
    """``job_timeout=None``: arq's in-progress key lasts ``0 + 10`` s (``worker.py:276-277``), so a job still running
    then is taken again by the next poll, its new task replacing the old in ``worker.tasks``; the 6th take fails it
    (``max 5 retries exceeded``). ``Worker.close`` cancels only ``worker.tasks``: the first runs go on until the
    process exits, and closing the simulation must not wait for them (it used to loop for ever). In a subprocess,
    so a regression fails on the timeout instead of hanging the suite."""
    code = textwrap.dedent("""
        import asyncio, datetime as dt, logging
        import jobsim
        from arq import create_pool

        logging.disable(logging.CRITICAL)
        STARTS = []

        async def forever(ctx):
            STARTS.append((ctx["job_try"], dt.datetime.now(dt.timezone.utc).timestamp()))
            while True:
                await asyncio.sleep(1)

        async def main():
            pool = await create_pool()
            await pool.enqueue_job("forever")

        with jobsim.Simulation({"functions": [forever], "job_timeout": None}, start="2025-03-01T09:00:00Z") as sim:
            asyncio.run(main())
            sim.run_until_idle(max_time="1h")
        [run] = sim.runs(forever)
        start = sim.start_ns / 1e9
        print([(t, at - start) for t, at in STARTS], run.status, run.error, sim.now_ns() / 1e9 - start)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("[(1, 0.0), (2, 10.5), (3, 21.0), (4, 31.5), (5, 42.0)] failed max 5 retries "
                                   "exceeded 52.5")  # fmt: skip


def test_a_job_raising_cancelled_error_itself_is_run_again_not_a_timeout():
    """arq: a ``CancelledError`` that is neither the timeout nor an abort means "cancelled, will be run again"
    (``worker.py:625-627``), at the next poll; the attempt says ``CancelledError``, not ``TimeoutError``."""
    async def flaky(ctx):
        if ctx["job_try"] == 1:
            await asyncio.sleep(0.2)
            raise asyncio.CancelledError()
        return "second"

    with jobsim.Simulation(settings(func(flaky, name="flaky")), start=START) as sim:
        job = run(run_pool_enqueue("flaky"))
        assert run(job.result(timeout=5)) == "second"
    [r] = sim.runs(flaky)
    assert [(secs(sim, a.start_ns), secs(sim, a.end_ns), type(a.error).__name__) for a in r.attempts] == [
        (0.0, 0.2, "CancelledError"), (0.5, 0.5, "NoneType")]
    [retry] = [x for x in sim.trace if x.kind == "retry"]
    assert retry.data["error"] == "CancelledError: " and retry.data["at"] == sim.start_ns + 200_000_000


def test_to_thread_and_run_in_executor_in_job_code_return_their_result():
    """Sync library calls in a thread (``asyncio.to_thread``, ``loop.run_in_executor``) run as blocking calls on the
    worker's clock: their ``time.sleep`` takes virtual time. (A real thread used to go unnoticed until the job's
    300 s timeout, which then failed the job.)"""
    import concurrent.futures
    import time

    def fetch(x):
        time.sleep(0.25)
        return x * 2

    def broken():
        raise ValueError("sync lib failed")

    async def uses_threads(ctx, x):
        doubled = await asyncio.to_thread(fetch, x)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            again = await asyncio.get_running_loop().run_in_executor(pool, fetch, doubled)
        try:
            await asyncio.get_running_loop().run_in_executor(None, broken)
        except ValueError as exc:
            return again, str(exc), clock()

    with jobsim.Simulation(settings(func(uses_threads, name="uses_threads")), start=START) as sim:
        job = run(run_pool_enqueue("uses_threads", 5))
        assert run(job.result(timeout=5)) == (20, "sync lib failed", "09:00:00.500")
    [r] = sim.runs(uses_threads)
    assert [(secs(sim, a.start_ns), secs(sim, a.end_ns)) for a in r.attempts] == [(0.0, 0.5)]


async def threaded_pdf(ctx, seconds):
    import time

    await asyncio.to_thread(time.sleep, seconds)
    return clock()


def test_a_threaded_call_and_a_blocking_call_hold_every_worker_of_the_simulation_until_they_return():
    # where the README says this differs from arq: arq's loop goes on while a to_thread call runs (add would start at
    # 09:00:05), and a second `arq worker` is a process of its own; here both wait for the call's end, 09:01:40
    threaded = settings(func(threaded_pdf, timeout=10), add)
    other = settings(add, queue_name="other")
    with jobsim.Simulation(threaded, other, start=START) as sim:
        pdf = run(run_pool_enqueue("threaded_pdf", 100))
        run(run_pool_enqueue("add", 1, 1, _defer_by=5, _job_id="same"))
        run(run_pool_enqueue("add", 2, 2, _defer_by=5, _job_id="elsewhere", _queue_name="other"))
        assert run(pdf.result()) == "09:01:40.000"  # not cut at its 10 s timeout either
        sim.run_until_idle()
    starts = {r.id: secs(sim, r.attempts[0].start_ns) for r in sim.runs(add)}
    assert starts == {"same": 100.0, "elsewhere": 100.0}
