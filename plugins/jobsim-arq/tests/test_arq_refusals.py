"""What jobsim-arq refuses, by name, and the settings it rejects before anything runs."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import textwrap

import pytest
from arq import create_pool
from arq.cron import cron
from arq.worker import Worker, func
from arq_jobs import NOWHERE, START, add, slow

import jobsim
from jobsim.errors import InvalidArgument, JobsimError, UnsupportedFeature


def settings(*functions, **options):
    return {"functions": list(functions), "redis_settings": NOWHERE, **options}


def test_a_redis_command_arq_does_not_send_is_refused_by_name():
    async def hashes(ctx):
        await ctx["redis"].hset("h", "k", "v")

    with jobsim.Simulation(settings(func(hashes, name="hashes")), start=START) as sim:
        asyncio.run(_enqueue("hashes"))
        with pytest.raises(UnsupportedFeature, match="the Redis command HSET is not simulated by jobsim-arq"):
            sim.run_until_idle()


def test_crashing_an_arq_worker_is_refused():
    with jobsim.Simulation(settings(add), start=START) as sim:
        with pytest.raises(UnsupportedFeature, match=r"crash_worker\(function='add'\) is not simulated for arq"):
            sim.crash_worker(function="add")
        with pytest.raises(UnsupportedFeature, match="not simulated for arq"):
            sim.crash_worker()


def test_downtime_and_duplicate_delivery_are_refused_for_arq_functions():
    with jobsim.Simulation(settings(add), start=START) as sim, pytest.raises(
            UnsupportedFeature, match=r"sim.downtime\(\) is not simulated for arq functions"):
            sim.downtime("2025-03-01T10:00:00Z", "2025-03-01T11:00:00Z")


@pytest.mark.parametrize("name", ["run_check", "async_run", "main"])
def test_running_another_worker_inside_the_simulation_is_refused(name):
    async def run_another():
        outer = Worker(functions=[add], redis_settings=NOWHERE, burst=True, handle_signals=False)
        await getattr(outer, name)()

    with jobsim.Simulation(settings(add), start=START), pytest.raises(
            UnsupportedFeature, match=f"Worker.{name}\\(\\) inside a simulation"):
            asyncio.run(run_another())


def test_awaiting_the_simulated_workers_own_main_from_the_test_is_refused():
    """``await worker.main()`` -- what arq's own tests do with a ``burst=True`` worker -- on the Worker the
    simulation runs started a second copy of its loop on the test's event loop against the simulated Redis,
    whose polls wait for a virtual clock nothing moves: the test hung (and another Worker's burst ``main()`` ran
    unrefused, outside virtual time). Refused like ``run_check``; the simulation's own ``main()`` is untouched."""
    with jobsim.Simulation(settings(add), start=START) as sim:
        worker = sim.arq.worker

        async def enqueue_then_main():
            from arq import create_pool

            pool = await create_pool(NOWHERE)
            job = await pool.enqueue_job("add", 1, 2)
            with pytest.raises(UnsupportedFeature, match=r"Worker.main\(\) inside a simulation"):
                await worker.main()
            return job

        job = asyncio.run(enqueue_then_main())
        sim.run_until_idle()
        assert asyncio.run(job.result()) == 3
    assert [r.status for r in sim.runs(add)] == ["completed"]


def test_a_function_that_is_not_a_coroutine_function_is_rejected_at_simulation():
    def plain(ctx):
        return 1

    with pytest.raises(InvalidArgument, match=r"WorkerSettings\.functions"):
        jobsim.Simulation(settings(add, func(slow), plain), start=START)

    class WorkerSettings:  # plain functions only, one of them not `async def`: still arq's settings, the slip named
        functions = (add, plain)

    class OnlyPlain:
        functions = (plain,)
        redis_settings = NOWHERE

    for target in (WorkerSettings, OnlyPlain, {"functions": [plain, slow]}):
        with pytest.raises(InvalidArgument, match=r"^WorkerSettings\.functions=<function .*plain.* is not valid: arq "
                                                  r"job functions: async def functions .* is not a coroutine function"):
            jobsim.Simulation(target, start=START)


def test_bad_settings_are_rejected_naming_the_setting():
    with pytest.raises(InvalidArgument, match=r"WorkerSettings.max_jobs=0 .*an int >= 1"):
        jobsim.Simulation(settings(add, max_jobs=0), start=START)
    with pytest.raises(InvalidArgument, match=r"WorkerSettings.poll_delay=-1 .*seconds"):
        jobsim.Simulation(settings(add, poll_delay=-1), start=START)
    with pytest.raises(InvalidArgument, match=r"WorkerSettings.max_tries='3' .*an int"):
        jobsim.Simulation(settings(add, max_tries="3"), start=START)
    with pytest.raises(InvalidArgument, match=r"func\('add'\).max_tries='2' .*None or an int"):
        jobsim.Simulation(settings(func(add, max_tries="2")), start=START)
    with pytest.raises(InvalidArgument, match=r"func\('add'\).keep_result='x' .*seconds"):
        jobsim.Simulation(settings(func(add, keep_result="x")), start=START)
    with pytest.raises(InvalidArgument, match=r"func\('add'\).timeout=-1 .*seconds"):
        jobsim.Simulation(settings(func(add, timeout=-1)), start=START)
    with pytest.raises(InvalidArgument, match="at least one function or cron job"):
        jobsim.Simulation({"functions": [], "cron_jobs": []}, start=START)


@pytest.mark.parametrize(("options", "message"), [
    # inf: a bare OverflowError from the simulation (poll_delay, health_check_interval) or the worker crashing on
    # int(inf * 1000) mid-simulation, naming no setting (job_timeout, keep_result, func timeout/keep_result)
    ({"poll_delay": float("inf")}, r"WorkerSettings\.poll_delay=inf is not valid: seconds \(a finite int or float"),
    ({"health_check_interval": float("inf")}, r"WorkerSettings\.health_check_interval=inf is not valid"),
    ({"job_timeout": float("inf")}, r"WorkerSettings\.job_timeout=inf is not valid"),
    ({"keep_result": float("inf")}, r"WorkerSettings\.keep_result=inf is not valid"),
    ({"functions": [func(add, timeout=float("nan"))]}, r"func\('add'\)\.timeout=nan is not valid: None, seconds "
                                                       r"\(a finite int or float >= 0\)"),
    ({"functions": [func(add, keep_result=float("inf"))]}, r"func\('add'\)\.keep_result=inf is not valid"),
    # int() of it in the worker's poll: the worker crashed
    ({"queue_read_limit": float("nan")}, r"WorkerSettings\.queue_read_limit=nan is not valid: None or an int"),
    # redis-py sends a float as '10.0': Redis refuses the LIMIT count ('value is not an integer')
    ({"queue_read_limit": 10.0}, r"WorkerSettings\.queue_read_limit=10\.0 is not valid"),
])  # fmt: skip
def test_settings_that_are_not_finite_are_rejected_naming_the_setting(options, message):
    target = {"functions": [add], "redis_settings": NOWHERE, **options}
    with pytest.raises(InvalidArgument, match=message):
        jobsim.Simulation(target, start=START)


def test_poll_delay_zero_is_rejected_not_a_hang():
    """arq with poll_delay=0 polls back to back (utils.py:101-109): in virtual time the clock would never move."""
    with pytest.raises(InvalidArgument, match=r"WorkerSettings.poll_delay=0 .*seconds > 0"):
        jobsim.Simulation(settings(add, poll_delay=0), start=START)
    with pytest.raises(InvalidArgument, match=r"WorkerSettings.poll_delay=0.0 .*seconds > 0"):
        jobsim.Simulation(settings(add, poll_delay=dt.timedelta(0)), start=START)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        worker = Worker(functions=[add], redis_settings=NOWHERE, handle_signals=False, poll_delay=0)
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    with pytest.raises(InvalidArgument, match=r"Worker.poll_delay=0 .*seconds > 0"):
        jobsim.Simulation(worker, start=START)


@pytest.mark.parametrize(("options", "field"), [
    ({"minute": 60}, "minute"), ({"hour": {1, 24}}, "hour"), ({"second": set()}, "second"),
    ({"weekday": "funday"}, "weekday"), ({"weekday": 7}, "weekday"), ({"month": 0}, "month"),
    ({"day": 31, "month": {2, 4}}, "day"), ({"day": 30, "month": 2}, "day"), ({"minute": "5"}, "minute"),
    ({"microsecond": 1_000_000}, "microsecond"),
])  # fmt: skip
def test_a_cron_job_no_instant_matches_is_rejected_not_a_hang(options, field):
    """arq's next_cron (cron.py:43-48) would search forever in the worker's first heartbeat."""
    with pytest.raises(InvalidArgument, match=rf"cron\('cron:add'\)\.{field}="):
        jobsim.Simulation({"cron_jobs": [cron(add, **options)], "redis_settings": NOWHERE}, start=START)


def test_cron_fields_arq_accepts_are_accepted():
    jobs = [cron(add, weekday="SUN", hour={0, 23}, minute=[0, 59], second=(0,)), cron(slow, day=29, month=2),
            cron(add, name="last", day=31, month={2, 3}, microsecond=0)]  # fmt: skip
    with jobsim.Simulation({"cron_jobs": jobs, "redis_settings": NOWHERE}, start=START) as sim:
        sim.advance(1)


@pytest.mark.filterwarnings("ignore::jobsim.PendingWorkWarning")  # closes with jobs it added unrun, on purpose
def test_a_pool_or_job_passed_as_the_target_is_rejected_with_what_to_pass():
    with jobsim.Simulation(settings(add), start=START):
        pool = asyncio.run(create_pool(NOWHERE))
        job = asyncio.run(pool.enqueue_job("add", 1, 1))
    with pytest.raises(InvalidArgument, match="arq WorkerSettings"):
        jobsim.Simulation(pool, start=START)
    with pytest.raises(InvalidArgument, match="arq WorkerSettings"):
        jobsim.Simulation(job, start=START)


def test_two_simulations_with_arq_workers_cannot_run_at_once():
    with jobsim.Simulation(settings(add), start=START):
        other = jobsim.Simulation(settings(slow), start=START)
        with pytest.raises(JobsimError, match="another simulation with arq workers is running"):
            other.start()


def test_a_hook_that_raises_stops_the_simulation_saying_the_worker_crashed():
    async def bad_start(ctx):
        raise RuntimeError("db unreachable")

    with jobsim.Simulation(settings(add, on_job_start=bad_start), start=START) as sim:
        asyncio.run(_enqueue("add", 1, 1))
        crashed = r"the arq worker of queue 'arq:queue' crashed: .*RuntimeError: db unreachable"
        with pytest.raises(JobsimError, match=crashed):
            sim.run_until_idle()


def test_a_worker_instance_is_accepted_too():
    loop = asyncio.new_event_loop()  # Worker() takes the current event loop (worker.py:270-274)
    asyncio.set_event_loop(loop)
    try:
        worker = Worker(functions=[add], redis_settings=NOWHERE, handle_signals=False, poll_delay=2)
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    with jobsim.Simulation(worker, start=START) as sim:
        asyncio.run(_enqueue("add", 1, 1, _defer_by=1))
        sim.run_until_idle()
        assert sim.arq.worker is worker
    assert sim.runs(add)[0].attempts[0].start_ns - sim.start_ns == 2_000_000_000
    assert worker.loop is loop and worker.functions["add"].coroutine is add and "run_job" not in vars(worker)


def test_the_same_seed_gives_the_same_trace():
    def trace(seed):
        with jobsim.Simulation(settings(add, slow, max_jobs=2), start=START, seed=seed) as sim:
            for i in range(4):
                asyncio.run(_enqueue("slow", 0.3 * i))
                asyncio.run(_enqueue("add", i, i, _defer_by=i))
            sim.run_until_idle()
        return [(r.at, r.kind, sorted(r.data.items())) for r in sim.trace]

    assert trace(3) == trace(3)


async def _enqueue(name, *args, **kwargs):
    pool = await create_pool(NOWHERE)
    return await pool.enqueue_job(name, *args, **kwargs)


def test_settings_whose_module_never_imports_arq_are_still_arq_settings():
    """``arq worker jobs.WorkerSettings`` runs a class of plain coroutine functions; so does the simulation,
    even when nothing has imported arq yet (the plugin imports it to look)."""
    code = textwrap.dedent("""
        import sys
        import jobsim

        async def ping(ctx):
            return "pong"

        class WorkerSettings:
            functions = [ping]

        assert "arq" not in sys.modules
        with jobsim.Simulation(WorkerSettings, start="2025-03-01T09:00:00Z") as sim:
            sim.advance(1)
        print(type(sim.arq).__name__, sim.arq.worker.queue_name)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ArqWorld", "arq:queue"]


def test_a_simulation_without_an_arq_worker_refuses_arq_pools_instead_of_reaching_redis(connects):
    """A test that forgot to pass its WorkerSettings: create_pool would connect to the real Redis of its
    RedisSettings (five retries a second apart) and enqueue_job would write there -- a local Redis would take
    the job. Refused at the first command, naming the fix; a simulation given the settings runs as before."""
    import re

    from arq.connections import ArqRedis

    originals = dict(vars(ArqRedis))
    app = jobsim.App("shop")

    @app.function(id="checkout", on="order/placed")
    async def checkout(ctx):
        pool = await create_pool(NOWHERE)
        return (await pool.enqueue_job("add", 1, 2)).job_id

    message = (r"^an arq Redis pool is not part of this simulation: arq would send the command PING to its real "
               r"Redis \(127\.0\.0\.1:1/0\)\. This simulation runs no arq worker: pass the worker settings, e\.g\. "
               r"jobsim\.Simulation\(WorkerSettings\)")  # fmt: skip
    with jobsim.Simulation(app, start=START) as sim:
        with pytest.raises(JobsimError, match=message):
            asyncio.run(_enqueue("add", 1, 2))
        assert connects == []  # no connection attempt, no retry
        sim.send("order/placed", {})
        sim.run_until_idle()
        assert re.match(message, str(sim.runs("checkout")[0].error))  # the function's own failure
    assert dict(vars(ArqRedis)) == originals
    with jobsim.Simulation(app, settings(add), start=START) as sim:  # passed: both run
        sim.send("order/placed", {})
        sim.run_until_idle()
        assert [r.output for r in sim.runs(add)] == [3]
    assert dict(vars(ArqRedis)) == originals


def test_reading_a_job_after_its_simulation_closed_says_so_instead_of_reaching_redis(connects):
    """The pool (and its jobs) made inside the simulation hold no keys once it closes: arq would read them from
    the Redis of the pool's settings (connection errors after redis-py's retries, or a real Redis that never had
    the job). Refused naming what to do; closing the pool afterwards is fine."""

    async def enqueue():
        pool = await create_pool(NOWHERE)
        return pool, await pool.enqueue_job("add", 1, 2)

    with jobsim.Simulation(settings(add), start=START) as sim:
        pool, job = asyncio.run(enqueue())
        sim.run_until_idle()
        assert asyncio.run(job.result(timeout=5)) == 3
    message = (r"^this arq pool was used inside a simulation that has closed, and arq would now send a command to its "
               r"real Redis \(127\.0\.0\.1:1/0\), which never had the simulation's jobs: read jobs inside the `with` "
               r"block")  # fmt: skip
    with pytest.raises(JobsimError, match=message):
        asyncio.run(job.status())
    with pytest.raises(JobsimError, match=message):
        asyncio.run(job.result(timeout=1))
    with pytest.raises(JobsimError, match=message):
        asyncio.run(pool.enqueue_job("add", 3, 4))
    assert connects == []  # no connection attempt
    asyncio.run(pool.aclose())
    with jobsim.Simulation(settings(add), start=START) as sim:  # a later simulation's pools are its own
        pool, job = asyncio.run(enqueue())
        assert asyncio.run(job.result(timeout=5)) == 3


def test_enqueueing_the_function_object_instead_of_its_name_is_refused_naming_the_name():
    """arq's enqueue_job takes the name; given the function it pickles it and the worker fails the job with
    "function <function add at 0x...> not found" (a run named by that repr)."""
    with jobsim.Simulation(settings(add), start=START) as sim:
        with pytest.raises(InvalidArgument, match=r"^enqueue_job\(function\)=<function add at .*> is not valid: the "
                                                  r"job function's name, a string: enqueue_job\('add', \.\.\.\)"):
            asyncio.run(_enqueue(add, 1, 2))
        asyncio.run(_enqueue("add", 1, 2))
        sim.run_until_idle()
    assert [r.output for r in sim.runs(add)] == [3]


@pytest.mark.parametrize("job_try", ["2", float("nan"), True])
def test_a_job_try_that_is_not_a_number_is_refused_at_the_enqueue(job_try):
    """arq compares it with the worker's count (worker.py): '2' raised TypeError there and crashed the worker
    (a JobsimError about a crash, naming no argument), the job left queued; NaN compares false (ignored)."""
    with jobsim.Simulation(settings(add), start=START) as sim:
        with pytest.raises(InvalidArgument, match=rf"^enqueue_job\(_job_try=\.\.\.\)={job_try!r} is not valid: "
                                                  r"the try to count this job as"):
            asyncio.run(_enqueue("add", 1, 2, _job_try=job_try))
        asyncio.run(_enqueue("add", 1, 2, _job_try=2))
        sim.run_until_idle()
    assert [r.output for r in sim.runs(add)] == [3]


def test_worker_close_awaited_by_the_test_is_refused_before_it_cancels_anything():
    """arq's Worker.close awaited on the test's loop cancelled the running job (handle_sig), then failed with a bare
    'got Future attached to a different loop' and left the run 'retrying' for good."""
    loop = asyncio.new_event_loop()  # Worker() takes the current event loop (worker.py:270-274)
    asyncio.set_event_loop(loop)
    try:
        worker = Worker(functions=[slow], redis_settings=NOWHERE, handle_signals=False)
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    with jobsim.Simulation(worker, start=START) as sim:
        asyncio.run(_enqueue("slow", 10))
        sim.advance("1s")
        with pytest.raises(UnsupportedFeature, match=r"^worker\.close\(\) was awaited by the test for an arq worker "
                                                     r"this simulation runs: the simulation closes it itself"):
            asyncio.run(worker.close())
        sim.run_until_idle()
    assert [(r.status, len(r.attempts)) for r in sim.runs(slow)] == [("completed", 1)]


@pytest.mark.parametrize("limit", [0, -1])
def test_a_queue_read_limit_arq_reads_as_its_default_or_as_no_limit_runs(limit):
    """arq takes ``queue_read_limit or max(max_jobs * 5, 100)`` (``worker.py:252``): 0 is the default; a negative
    count in ``ZRANGEBYSCORE ... LIMIT`` is every due job, in Redis as in the simulated one. Both run jobs."""
    with jobsim.Simulation(settings(add, queue_read_limit=limit), start=START) as sim:
        pool = asyncio.run(create_pool(NOWHERE))
        jobs = [asyncio.run(pool.enqueue_job("add", n, 1)) for n in range(3)]
        sim.run_until_idle()
        assert [asyncio.run(job.result(timeout=5)) for job in jobs] == [1, 2, 3]


def test_a_settings_subclass_that_inherits_its_functions_is_refused_saying_why():
    # arq's get_kwargs reads settings_cls.__dict__ (worker.py:887-890): a subclass inherits no setting
    from arq_jobs import add

    class Base:
        functions = (add,)
        redis_settings = NOWHERE

    class NoCron(Base):
        cron_jobs = ()

    with pytest.raises(InvalidArgument, match=r"NoCron inherits functions from a base class.*worker.py:887-890.*"
                                              r"functions = Base.functions"):
        jobsim.Simulation(NoCron)


def test_the_inherited_settings_hint_names_the_class_that_defines_each_and_every_one_missing():
    # with a mixin first in the MRO the fix is Base.functions, not Mixin.functions (which does not exist); both
    # functions and cron_jobs inherited: both named, or the fixed class would silently lose its cron jobs
    from arq_jobs import add

    class Base:
        functions = (add,)
        cron_jobs = (cron(add, minute=0),)

    class Mixin:
        job_timeout = 5

    class Both(Mixin, Base):
        redis_settings = NOWHERE

    with pytest.raises(InvalidArgument, match=r"Both inherits functions and cron_jobs from a base class.*class body "
                                              r"\(functions = Base.functions; cron_jobs = Base.cron_jobs\)"):
        jobsim.Simulation(Both)


def test_a_second_arq_simulation_names_where_the_running_one_was_started():
    with jobsim.Simulation(settings(add), start=START):
        started = _started_here()
        with pytest.raises(JobsimError) as caught:
            jobsim.Simulation(settings(slow), start=START).start()
    message = str(caught.value)
    assert message.startswith("another simulation with arq workers is running in this process (<Simulation at ")
    assert f"running>, {started}); close it before starting this one" in message


@pytest.mark.parametrize(("given", "meant"), [("max_retries", "max_tries"), ("job_timout", "job_timeout"),
                                              ("max_job", "max_jobs"), ("concurrency", "max_jobs"),
                                              ("keep_results", "keep_result")])
def test_a_worker_setting_arq_would_drop_as_misspelt_is_refused_naming_the_one_meant(given, meant):
    """arq's get_kwargs drops names no Worker parameter has: ``max_retries = 2`` left max_tries at 5, silently."""
    settings_class = type("WorkerSettings", (), {"functions": [add], "redis_settings": NOWHERE, given: 2})
    with pytest.raises(InvalidArgument) as caught:
        jobsim.Simulation(settings_class, start=START)
    assert str(caught.value) == (
        f"WorkerSettings.{given} = 2 is no arq Worker setting (did you mean {meant}?): arq's get_kwargs passes only "
        "the Worker's parameters and drops any other name silently (worker.py:887-890), so the worker would run as "
        f"if it were not set, under `arq worker` too. Rename it: {meant} = 2")
    with pytest.raises(InvalidArgument, match=rf"^WorkerSettings.{given} = 2 is no arq Worker setting"):
        jobsim.Simulation(settings(add, **{given: 2}), start=START)  # a dict of settings too


def test_a_setting_of_the_apps_own_not_spelt_like_a_worker_parameter_is_left_alone():
    class WorkerSettings:
        functions = (add,)
        redis_settings = NOWHERE
        sentry_dsn = "https://example.invalid/1"  # the app's own, read by its startup hook

    with jobsim.Simulation(WorkerSettings, start=START) as sim:
        pool = asyncio.run(create_pool(NOWHERE))
        asyncio.run(pool.enqueue_job("add", 1, 2))
        sim.run_until_idle()
        assert [run.output for run in sim.runs("add")] == [3]


def test_two_job_functions_of_one_name_are_refused():
    """arq keeps one function per name: the second func(..., name="charge") replaced the first, silently."""
    with pytest.raises(InvalidArgument) as caught:
        jobsim.Simulation(settings(func(add, name="charge"), func(slow, name="charge")), start=START)
    assert str(caught.value).startswith(
        "two job functions of WorkerSettings are named 'charge' (functions: 'add' and functions: 'slow'): arq keeps "
        "one function per name (Worker.__init__ builds a dict by name), so the second would replace the first and "
        "enqueue_job('charge') run only it; give each its own name=")
    with pytest.raises(InvalidArgument, match=r"named 'add' \(functions: 'add' and cron_jobs: 'slow'\)"):
        jobsim.Simulation(settings(add, cron_jobs=[cron(slow, name="add", minute=0)]), start=START)


@pytest.mark.parametrize(("option", "value"), [("_defer_by", "10"), ("_defer_by", float("nan")), ("_expires", "60"),
                                               ("_defer_by", True)])
def test_a_defer_or_expiry_arq_cannot_take_is_refused_naming_it(option, value):
    """``_defer_by="10"`` failed in arq with a bare "type str doesn't define __round__ method"."""
    with jobsim.Simulation(settings(add), start=START):
        pool = asyncio.run(create_pool(NOWHERE))
        with pytest.raises(InvalidArgument) as caught:
            asyncio.run(pool.enqueue_job("add", 1, 2, **{option: value}))
    assert str(caught.value) == (
        f"enqueue_job({option}=...)={value!r} is not valid: seconds (an int or float) or a datetime.timedelta, or "
        "None (arq multiplies it by 1000 and rounds it)")


def test_a_defer_until_that_is_no_datetime_is_refused():
    with jobsim.Simulation(settings(add), start=START):
        pool = asyncio.run(create_pool(NOWHERE))
        with pytest.raises(InvalidArgument, match=r"^enqueue_job\(_defer_until=...\)='2025-03-01T10:00:00Z' is not "
                                                  r"valid: a datetime.datetime \(aware; a naive one is read in the "
                                                  r"machine's local zone, as arq does\), or None$"):
            asyncio.run(pool.enqueue_job("add", 1, 2, _defer_until="2025-03-01T10:00:00Z"))


def test_accepted_defers_still_enqueue():
    with jobsim.Simulation(settings(add), start=START) as sim:
        pool = asyncio.run(create_pool(NOWHERE))
        asyncio.run(pool.enqueue_job("add", 1, 2, _defer_by=dt.timedelta(seconds=5)))
        asyncio.run(pool.enqueue_job("add", 2, 2, _defer_by=2.5, _expires=60))
        sim.run_until_idle()
        assert sorted(run.output for run in sim.runs("add")) == [3, 4]


def _started_here(back: int = 1) -> str:
    """``started at FILE:LINE in FUNCTION`` of the caller's line ``back`` lines up (where it started a simulation)."""
    frame = sys._getframe(1)
    return f"started at {frame.f_code.co_filename}:{frame.f_lineno - back} in {frame.f_code.co_name}"
