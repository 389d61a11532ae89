"""Enqueueing, results and job state: arq's enqueue_job/Job API answered from the simulated Redis."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from arq import create_pool
from arq.jobs import JobStatus, ResultNotFound
from arq_jobs import LOG, NOWHERE, START, add, boom, slow, spawn

import jobsim
from jobsim.errors import JobsimError


class Settings:
    functions = (add, slow, boom, spawn)
    redis_settings = NOWHERE


def run(coro):
    return asyncio.run(coro)


def test_a_job_runs_at_the_first_poll_and_its_result_is_seen_at_the_next_client_poll():
    with jobsim.Simulation(Settings, start=START) as sim:
        pool = run(create_pool(NOWHERE))  # port 1: a real create_pool would fail to connect
        sim.advance("0.2s")
        job = run(pool.enqueue_job("slow", 1.2))
        assert run(job.status()) == JobStatus.queued
        assert run(job.result(timeout=5)) == "slept 1.2"
        # the worker polls at .0, .5, 1.0 from its start: the job starts at 09:00:00.5 and ends at 1.7;
        # Job.result() polls every 0.5 s from 0.2: it sees the result at 09:00:01.7
        assert [("slow start", "09:00:00.500", job.job_id), ("slow end", "09:00:01.700", job.job_id)] == LOG
        assert sim.now == dt.datetime(2025, 3, 1, 9, 0, 1, 700000, tzinfo=dt.timezone.utc)
        assert run(job.status()) == JobStatus.complete
        info = run(job.result_info())
        assert (info.success, info.result, info.job_try, info.function) == (True, "slept 1.2", 1, "slow")
        assert info.start_time == dt.datetime(2025, 3, 1, 9, 0, 0, 500000, tzinfo=dt.timezone.utc)
    [r] = sim.runs(slow)
    assert r.id == job.job_id and r.status == "completed" and r.output == "slept 1.2"
    assert [(a.start_ns - sim.start_ns, a.end_ns - sim.start_ns) for a in r.attempts] == [(500_000_000, 1_700_000_000)]


def test_status_moves_deferred_queued_in_progress_complete_at_arqs_instants():
    with jobsim.Simulation(Settings, start=START) as sim:
        pool = run(create_pool(NOWHERE))
        job = run(pool.enqueue_job("slow", 3, _defer_by=dt.timedelta(seconds=10)))
        seen = []
        for _ in range(30):
            seen.append((round((sim.now_ns() - sim.start_ns) / 1e9, 1), run(job.status())))
            sim.advance("0.5s")
    changes = [s for i, s in enumerate(seen) if i == 0 or s[1] != seen[i - 1][1]]
    print(changes)
    assert changes == [(0.0, JobStatus.deferred), (10.0, JobStatus.in_progress), (13.0, JobStatus.complete)]


def test_deferred_jobs_start_at_the_first_poll_at_or_after_their_score():
    with jobsim.Simulation(Settings, start=START) as sim:
        pool = run(create_pool(NOWHERE))
        run(pool.enqueue_job("add", 1, 1, _defer_by=7.3))
        at = dt.datetime(2025, 3, 1, 10, 0, 0, 250000, tzinfo=dt.timezone.utc)
        run(pool.enqueue_job("add", 2, 2, _defer_until=at))
        sim.run_until_idle()
    assert [t for _, t, _ in LOG] == ["09:00:07.500", "10:00:00.500"]


def test_a_duplicate_job_id_is_refused_while_the_job_or_its_result_exists():
    with jobsim.Simulation(Settings, start=START) as sim:
        pool = run(create_pool(NOWHERE))
        assert run(pool.enqueue_job("add", 1, 2, _job_id="once")) is not None
        assert run(pool.enqueue_job("add", 1, 2, _job_id="once")) is None  # queued
        sim.advance("1s")
        assert run(pool.enqueue_job("add", 1, 2, _job_id="once")) is None  # its result, kept 3600 s
        sim.advance_to("2025-03-01T10:00:00.000Z")
        assert run(pool.enqueue_job("add", 1, 2, _job_id="once")) is None  # 09:00:00.0 + 3600 s: not yet gone
        sim.advance("0.002s")
        assert run(pool.enqueue_job("add", 5, 5, _job_id="once")) is not None  # the result expired
        sim.run_until_idle()
    first, second = sim.runs(add)
    assert (first.id, second.id, first.output, second.output) == ("once", "once", 3, 10)
    assert [r.data["job_id"] for r in sim.trace.of("arq.duplicate")] == ["once"] * 3


def test_a_failed_job_raises_from_result_and_is_a_failed_run():
    with jobsim.Simulation(Settings, start=START) as sim:
        pool = run(create_pool(NOWHERE))
        job = run(pool.enqueue_job("boom"))
        with pytest.raises(ValueError, match="boom"):
            run(job.result())
    [r] = sim.runs(boom)
    assert r.status == "failed" and isinstance(r.error, ValueError) and len(r.attempts) == 1  # no retry: arq's rule


def test_an_expired_job_fails_without_running():
    with jobsim.Simulation(Settings, start=START) as sim:
        pool = run(create_pool(NOWHERE))
        job = run(pool.enqueue_job("add", 1, 2, _defer_by=20, _expires=10))
        sim.run_until_idle()
        with pytest.raises(Exception, match="job expired"):
            run(job.result())
    [r] = sim.runs(add)
    assert r.status == "failed" and r.attempts == [] and LOG == []
    assert r.end_ns - sim.start_ns == 20_000_000_000


def test_result_without_a_job_or_kept_result_is_result_not_found():
    with jobsim.Simulation(Settings, start=START):
        pool = run(create_pool(NOWHERE))
        from arq.jobs import Job

        with pytest.raises(ResultNotFound):
            run(Job("nope", pool).result())


def test_result_timeout_counts_virtual_seconds():
    with jobsim.Simulation(Settings, start=START) as sim:
        pool = run(create_pool(NOWHERE))
        job = run(pool.enqueue_job("slow", 60))
        with pytest.raises(asyncio.TimeoutError):
            run(job.result(timeout=3))
        assert sim.now_ns() - sim.start_ns == 3_500_000_000  # the first poll past 3 s (jobs.py:124-125)


@pytest.mark.parametrize("timeout", [None, 86_460.2, 86_400.1])
def test_awaiting_a_job_deferred_by_a_day_skips_the_polls_that_read_nothing_new(timeout):
    """The result is seen at the very poll stepping 0.5 s at a time would see it (or the timeout hits at the same
    poll), in a few dozen advances instead of 172,800."""
    with jobsim.Simulation(Settings, start=START) as sim:
        pool = run(create_pool(NOWHERE))
        sim.advance("0.2s")
        job = run(pool.enqueue_job("slow", 1.2, _defer_by=dt.timedelta(days=1)))
        if timeout == 86_400.1:  # the first poll past it, 86,400.5 s after the await began, is before the result
            with pytest.raises(asyncio.TimeoutError):
                run(job.result(timeout=timeout))
            assert sim.now_ns() - sim.start_ns == 86_400_700_000_000
            return
        assert run(job.result(timeout=timeout)) == "slept 1.2"
        # due 1 day + 0.2 s after the start: the worker's first poll at or after it is 1 day + 0.5 s; the job
        # ends 1.2 s later, at 1 day + 1.7 s, which is a poll of the client (every 0.5 s from 0.2 s)
        assert sim.now_ns() - sim.start_ns == 86_401_700_000_000
        assert LOG[-1] == ("slow end", "09:00:01.700", job.job_id)
        # the worker's health check (every 3,600 s) and its polls around it are the kernel items in between
        assert len(sim.trace.of("advance")) < 100


def test_a_job_enqueued_by_a_job_is_caused_by_it_and_goes_through_the_same_redis():
    with jobsim.Simulation(Settings, start=START) as sim:
        pool = run(create_pool(NOWHERE))
        parent = run(pool.enqueue_job("spawn"))
        sim.run_until_idle()
        child_id = run(parent.result())
    [child] = sim.runs(add)
    assert child.id == child_id and child.output == 3
    assert child.attempts[0].start_ns - sim.start_ns == 10_000_000_000  # enqueued at 0.0 with _defer_by=10
    starts = {r.data["run"]: r.data["event"] for r in sim.trace.of("run.start")}
    assert starts[child_id] == "spawn#1"


def test_job_info_and_queued_jobs_come_from_the_simulated_redis():
    with jobsim.Simulation(Settings, start=START) as sim:
        pool = run(create_pool(NOWHERE))
        job = run(pool.enqueue_job("add", 2, b=3, _job_id="x", _defer_by=5))
        info = run(job.info())
        assert (info.function, info.args, info.kwargs, info.job_try, info.score) == ("add", (2,), {"b": 3}, None,
                                                                                       1740819605000)
        [queued] = run(pool.queued_jobs())
        assert queued.job_id == "x"
        sim.run_until_idle()
        [result] = run(pool.all_job_results())
        assert result.result == 5 and result.job_id == "x"


@pytest.mark.filterwarnings("ignore::jobsim.PendingWorkWarning")  # closes with jobs it added unrun, on purpose
def test_job_ids_come_from_the_seed():
    def ids(seed):
        with jobsim.Simulation(Settings, start=START, seed=seed):
            pool = run(create_pool(NOWHERE))
            return [run(pool.enqueue_job("add", 1, 1)).job_id for _ in range(3)]

    assert ids(1) == ids(1) != ids(2)


def test_result_without_timeout_on_a_job_no_worker_reads_is_refused_instead_of_hanging():
    with jobsim.Simulation(Settings, start=START) as sim:
        sim.leave_unread("nobody-reads-this")  # the error below is this test's news (no UnreadQueueWarning)
        pool = run(create_pool(NOWHERE))
        job = run(pool.enqueue_job("add", 1, 1, _queue_name="nobody-reads-this"))
        with pytest.raises(JobsimError, match=r"Job.result\(\) with no timeout would wait forever"):
            run(job.result())
        with pytest.raises(asyncio.TimeoutError):  # with a timeout it is arq's TimeoutError, in virtual time
            run(job.result(timeout=2))


@pytest.mark.asyncio
async def test_an_async_test_awaits_enqueue_and_result_directly():
    with jobsim.Simulation(Settings, start=START) as sim:
        pool = await create_pool(NOWHERE)
        job = await pool.enqueue_job("slow", 3, _defer_by=1)
        assert await job.result(timeout=10) == "slept 3"
        assert sim.now_ns() - sim.start_ns == 4_000_000_000


def test_ties_enqueue_order_for_jobs_enqueued_at_one_instant_job_id_order_for_one_chosen_instant():
    at = dt.datetime(2025, 3, 1, 9, 0, 5, tzinfo=dt.timezone.utc)
    with jobsim.Simulation({**vars_of(Settings), "max_jobs": 1}, start=START) as sim:
        pool = run(create_pool(NOWHERE))
        for job_id in ("now-b", "now-a"):  # a real client's two enqueues are a round trip apart: b scores first
            run(pool.enqueue_job("add", 1, 1, _job_id=job_id))
        for job_id in ("at-b", "at-a"):  # one _defer_until: one score on a real Redis too, ordered by member
            run(pool.enqueue_job("add", 1, 1, _job_id=job_id, _defer_until=at))
        sim.run_until_idle()
    order = sorted(sim.runs(add), key=lambda r: r.attempts[0].start_ns)
    assert [(r.id, round((r.attempts[0].start_ns - sim.start_ns) / 1e9, 1)) for r in order] == [
        ("now-b", 0.0), ("now-a", 0.5), ("at-a", 5.0), ("at-b", 5.5)]


def vars_of(settings):
    return {k: v for k, v in vars(settings).items() if not k.startswith("_")}


@pytest.mark.parametrize(("options", "message"), [
    ({"_defer_by": 1e20}, "value is not an integer or out of range"),  # PSETEX's ms past 64 bits
    ({"_expires": 9.2233719e15}, "invalid expire time in 'psetex' command"),  # now + ms overflows
    ({"_expires": -5}, "invalid expire time in 'psetex' command"),
    ({"_defer_until": dt.datetime(2025, 2, 1, tzinfo=dt.timezone.utc)}, "invalid expire time"),  # a month ago: < 0
])  # fmt: skip
def test_an_expiry_redis_rejects_fails_the_enqueue_as_redis_fails_it(options, message):
    """enqueue_job's ``PSETEX`` (``connections.py:166-170``) with an expiry Redis rejects raises redis-py's
    ResponseError (measured on Redis 7 for each); a 1e20 s defer (1e23 ms) was accepted here and the job queued.
    As in Redis, the transaction's ``ZADD`` still ran: the id is queued with no job, which the worker fails as
    expired (``worker.py:514-516``) when it is due."""
    from redis.exceptions import ResponseError

    with jobsim.Simulation(Settings, start=START) as sim:
        pool = run(create_pool(NOWHERE))
        with pytest.raises(ResponseError, match=message):
            run(pool.enqueue_job("add", 1, 2, **options))
        sim.advance("1s")
    assert sim.runs(add) == []


def test_retries_respect_policy_checks_the_engines_runs_and_leaves_out_arqs_own(monkeypatch):
    # arq's worker decides its jobs' retries (Retry, max_tries): checked against jobsim's one-attempt default every
    # arq retry would be a violation; the jobsim.App function beside it is still checked by its own policy
    from arq_jobs import always_retry

    from jobsim import invariants

    app = jobsim.App("shop")
    calls = []

    @app.function(id="sync", on="shop/x", retries=2)
    def sync(ctx):
        calls.append(ctx)
        if len(calls) < 2:
            raise RuntimeError("flaky")

    settings = {"functions": [always_retry, add], "redis_settings": NOWHERE}
    with jobsim.Simulation(app, settings, start=START) as sim:
        run(run_pool_enqueue("always_retry"))
        sim.send("shop/x", {})
        sim.advance("1m")
        with pytest.raises(jobsim.UnsupportedFeature, match=r"the runs of 'add' are run by a backend plugin's own "
                                                            r"worker.*; function='add'"):
            invariants.retries_respect_policy(sim, "add")  # refused before it has runs: a check of nothing
    assert sorted((r.function.id, len(r.attempts)) for r in sim.runs()) == [("always_retry", 5), ("sync", 2)]
    invariants.retries_respect_policy(sim)  # arq's 4 retries of always_retry left out
    invariants.retries_respect_policy(sim, "sync")
    with pytest.raises(jobsim.UnsupportedFeature, match="the runs of 'always_retry' are run by"):
        invariants.retries_respect_policy(sim, always_retry)
    checked = []  # the engine's runs are still checked, arq's are not
    monkeypatch.setattr(invariants, "run_retries", lambda sim, run, *_: checked.append(run.function.id) or [])
    invariants.retries_respect_policy(sim)
    assert checked == ["sync"]


async def run_pool_enqueue(name, *args, **kwargs):
    pool = await create_pool(NOWHERE)
    return await pool.enqueue_job(name, *args, **kwargs)
