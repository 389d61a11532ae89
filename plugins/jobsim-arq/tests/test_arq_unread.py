"""A job on a queue no simulated worker reads warns when the simulation closes (``jobsim.UnreadQueueWarning``):
``enqueue_job(..., _queue_name="emails")`` beside a worker of ``arq:queue`` passes no test silently."""

from __future__ import annotations

import asyncio
import warnings

import pytest
from arq import create_pool
from arq_jobs import NOWHERE, START, add

import jobsim


def run(coro):
    return asyncio.run(coro)


async def enqueue(name, *args, **kwargs):
    pool = await create_pool(NOWHERE)
    return await pool.enqueue_job(name, *args, **kwargs)


def settings(*functions, **options):
    return {"functions": list(functions), "redis_settings": NOWHERE, **options}


@pytest.fixture
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("error", jobsim.PendingWorkWarning)
        yield


def test_jobs_on_a_queue_no_worker_reads_warn_with_the_fix():
    with pytest.warns(jobsim.UnreadQueueWarning) as caught, jobsim.Simulation(settings(add), start=START) as sim:
        first = run(enqueue("add", 1, 1, _queue_name="emails"))
        second = run(enqueue("add", 2, 2, _queue_name="emails"))
        run(enqueue("add", 3, 3))
        sim.run_until_idle()
        assert [(u.queue, u.name, u.id) for u in sim.arq.unconsumed] == [
            ("emails", "add", first.job_id), ("emails", "add", second.job_id)]
    assert [str(w.message) for w in caught if w.category is jobsim.UnreadQueueWarning] == [
        "jobsim-arq: 2 job(s) (2 of function 'add') wait on queue 'emails', which no simulated worker reads (the "
        "workers read 'arq:queue'), so they never ran, as on a broker with no worker on that queue. Route the work "
        "to a queue a worker reads, or add a worker for 'emails' (a WorkerSettings with queue_name='emails' passed "
        "to the Simulation); sim.arq.unconsumed lists them. A queue this test leaves unread on purpose: "
        "sim.leave_unread('emails')"
    ]


def test_work_on_read_queues_does_not_warn(quiet):
    with jobsim.Simulation(settings(add), settings(add, queue_name="emails"), start=START) as sim:
        run(enqueue("add", 1, 1, _queue_name="emails"))
        run(enqueue("add", 2, 2))
        sim.run_until_idle()
        assert sim.arq.unconsumed == []


def test_error_filter_turns_it_into_a_failure(quiet):
    with (
        pytest.raises(jobsim.PendingWorkWarning, match="queue 'emails'"),
        jobsim.Simulation(settings(add), start=START) as sim,
    ):
        run(enqueue("add", 1, 1, _queue_name="emails"))
        sim.run_until_idle()


def test_a_deferred_job_warns_only_once_due(quiet):
    with jobsim.Simulation(settings(add), start=START) as sim:
        run(enqueue("add", 1, 1, _queue_name="emails", _defer_by=60))
        sim.advance("59s")
    with (
        pytest.warns(jobsim.UnreadQueueWarning, match=r"1 job\(s\) \(1 of function 'add'\) wait on queue 'emails'"),
        jobsim.Simulation(settings(add), start=START) as sim,
    ):
        run(enqueue("add", 1, 1, _queue_name="emails", _defer_by=60))
        sim.advance("60s")


def test_leave_unread_silences_the_queue(quiet):
    with jobsim.Simulation(settings(add), start=START) as sim:
        sim.leave_unread("emails")
        run(enqueue("add", 1, 1, _queue_name="emails"))
        sim.run_until_idle()


def test_a_job_the_test_aborted_does_not_warn(quiet):
    """``job.abort()`` puts the job in ``arq:abort``: a worker taking it ends it "aborted before start", never running
    it, so it is cancelled work, not lost work. The others on the queue still warn."""

    async def enqueue_and_abort():
        pool = await create_pool(NOWHERE)
        job = await pool.enqueue_job("add", 1, 1, _queue_name="emails")
        # no worker answers the abort within the timeout; the abort stays asked (asyncio's: the builtin only from 3.11)
        with pytest.raises(asyncio.TimeoutError):
            await job.abort(timeout=0)
        return job

    with jobsim.Simulation(settings(add, allow_abort_jobs=True), start=START) as sim:
        run(enqueue_and_abort())
        sim.run_until_idle()
        assert sim.arq.unconsumed == []
    with (
        pytest.warns(jobsim.UnreadQueueWarning, match=r"1 job\(s\) \(1 of function 'add'\) wait on queue 'emails'"),
        jobsim.Simulation(settings(add, allow_abort_jobs=True), start=START) as sim,
    ):
        run(enqueue_and_abort())
        kept = run(enqueue("add", 2, 2, _queue_name="emails"))
        sim.run_until_idle()
        assert [u.id for u in sim.arq.unconsumed] == [kept.job_id]


def test_a_job_whose_key_expired_before_it_was_due_does_not_warn(quiet):
    """``_defer_by=60, _expires=30``: the job key (``PSETEX``) is gone when the job is due, and a worker reading the
    queue would end it "job expired" without running it. Not lost for want of a worker, so no warning."""
    with jobsim.Simulation(settings(add), start=START) as sim:
        run(enqueue("add", 1, 1, _queue_name="emails", _defer_by=60, _expires=30))
        sim.advance("10m")
        assert sim.arq.unconsumed == []


@pytest.mark.parametrize("options", [{"_expires": 30}, {"_defer_by": 60, "_expires": 60}])
def test_a_job_whose_key_expired_while_it_waited_unread_still_warns(options):
    """Due before its key expired (at the very millisecond too: Redis expires a key once ``now > when``), a worker
    reading the queue would have run it: its expiry later, unread, is the lost work the warning is about."""
    with pytest.warns(jobsim.UnreadQueueWarning, match="queue 'emails'"), jobsim.Simulation(
        settings(add), start=START
    ) as sim:
        job = run(enqueue("add", 1, 1, _queue_name="emails", **options))
        sim.advance("10m")
        assert [u.id for u in sim.arq.unconsumed] == [job.job_id]


@pytest.mark.parametrize(("expires", "ran"), [(30, False), (60, True)])
def test_what_the_expiry_rule_leans_on_a_worker_reading_the_queue(expires, ran):
    with jobsim.Simulation(settings(add), settings(add, queue_name="emails"), start=START) as sim:
        job = run(enqueue("add", 1, 1, _queue_name="emails", _defer_by=60, _expires=expires))
        sim.advance("10m")
        assert [r.status for r in sim.runs() if r.id == job.job_id] == (["completed"] if ran else ["failed"])


def test_a_job_whose_expired_key_was_read_since_still_warns():
    """Reading the job after its key expired (``job.status()``: Redis drops the key as it is read) does not change
    when it expired: due before, it still counts as lost for want of a worker."""
    with pytest.warns(jobsim.UnreadQueueWarning, match="queue 'emails'"), jobsim.Simulation(
        settings(add), start=START
    ) as sim:
        job = run(enqueue("add", 1, 1, _queue_name="emails", _expires=30))
        sim.advance("10m")
        run(job.status())
        run(job.info())
        assert [u.id for u in sim.arq.unconsumed] == [job.job_id]


# -- the test's own enqueue_job only queues, as sim.send does (jobsim.PendingWorkWarning) ---------------------


def test_an_enqueue_the_test_never_drove_warns_that_it_never_ran():
    """``enqueue_job(...)`` and then ``assert sim.mail.outbox == []`` passed for the wrong reason: nothing had run,
    and nothing said so (RQ's and Dramatiq's enqueues warned; arq's did not)."""
    warned = pytest.warns(jobsim.PendingWorkWarning, match=r"1 item\(s\) of work due that never ran \(add \(run ")
    with warned, jobsim.Simulation(settings(add), start=START):
        run(enqueue("add", 1, 1))


@pytest.mark.parametrize("how", ["driven", "deferred", "aborted"])  # abort() waits for the worker: it drives
def test_an_enqueue_the_test_drove_or_that_is_not_due_does_not_warn(quiet, how):
    with jobsim.Simulation(settings(add, allow_abort_jobs=True), start=START) as sim:
        if how == "driven":
            run(enqueue("add", 1, 1))
            sim.advance(0)
        elif how == "deferred":  # due later: the test's business, as a delayed sim.send
            run(enqueue("add", 1, 1, _defer_by=60))
        else:
            job = run(enqueue("add", 1, 1))
            run(job.abort(timeout=0))
