"""A job on a queue no simulated worker reads warns when the simulation closes (``jobsim.UnreadQueueWarning``):
RQ keeps it ``queued`` (or ``scheduled``) for good, and a test that never reads its result would pass."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest
import redis
from jobsim_rq import Worker
from rq import Queue

import jobsim

START = "2025-03-01T00:00:00Z"


def greet(name: str) -> str:
    return f"hi {name}"


def emails() -> Queue:
    return Queue("emails", connection=redis.Redis(host="127.0.0.1", port=1))


@pytest.fixture
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("error", jobsim.PendingWorkWarning)
        yield


def test_a_job_enqueued_on_a_queue_no_worker_reads_warns_with_the_fix(queue):
    with pytest.warns(jobsim.UnreadQueueWarning) as caught, jobsim.Simulation(queue, start=START) as sim:
        first, second = emails().enqueue(greet, "a"), emails().enqueue(greet, "b")
        queue.enqueue(greet, "c")
        sim.run_until_idle()
        assert sim.rq.unconsumed == [first, second]
    assert [str(w.message) for w in caught] == [
        "jobsim-rq: 2 job(s) (2 of function 'test_rq_unread.greet') wait on queue 'emails', which no simulated "
        "worker reads (the workers read 'default'), so they never ran, as on a broker with no worker on that queue. "
        "Route the work to a queue a worker reads, or add a worker for 'emails' (jobsim_rq.Worker(['default', "
        "'emails']), as `rq worker default emails` would); sim.rq.unconsumed lists them. A queue this test leaves "
        "unread on purpose: sim.leave_unread('emails')"
    ]
    assert caught[0].filename == __file__


def test_work_on_read_queues_does_not_warn(queue, quiet):
    with jobsim.Simulation(Worker([queue, "emails"]), start=START) as sim:
        emails().enqueue(greet, "a")
        queue.enqueue_in(dt.timedelta(minutes=5), greet, "b")
        sim.run_until_idle()
        assert sim.rq.unconsumed == []


def test_error_filter_turns_it_into_a_failure(queue, quiet):
    with (
        pytest.raises(jobsim.PendingWorkWarning, match="queue 'emails'"),
        jobsim.Simulation(queue, start=START) as sim,
    ):
        emails().enqueue(greet, "a")
        sim.run_until_idle()


def test_a_job_scheduled_ahead_does_not_warn_until_due(queue, quiet):
    """No worker reads 'emails', so no scheduler moves its due jobs: due, it is lost work; ahead, the test's."""
    with jobsim.Simulation(queue, start=START) as sim:
        emails().enqueue_in(dt.timedelta(hours=1), greet, "later")
        sim.advance("59m")
    with (
        pytest.warns(jobsim.UnreadQueueWarning, match=r"1 job\(s\) .* queue 'emails'"),
        jobsim.Simulation(queue, start=START) as sim,
    ):
        job = emails().enqueue_in(dt.timedelta(hours=1), greet, "later")
        sim.advance("1h")
        assert sim.rq.unconsumed == [job]


def test_a_job_removed_from_the_queue_or_on_a_crashed_workers_queue_does_not_warn(queue, quiet):
    """A queue whose only worker crashed (and no supervisor restarts it) is still a read queue: the crash is
    the test's own doing, and its jobs show in the crash's timeline, not as a routing slip."""
    with jobsim.Simulation(queue, start=START) as sim:
        emails().enqueue(greet, "a").cancel()
        sim.rq.crash_worker(at=START, restart=None)
        sim.advance("1s")
        queue.enqueue(greet, "b")
        sim.run_until_idle()
        assert sim.rq.unconsumed == []


def test_leave_unread_takes_the_queue_object(queue, quiet):
    with jobsim.Simulation(queue, start=START) as sim:
        other = emails()
        sim.leave_unread(other)
        other.enqueue(greet, "a")
        sim.run_until_idle()


def test_a_job_deleted_but_left_in_the_list_does_not_warn(quiet):
    """``job.delete(remove_from_queue=False)`` drops the job's key and leaves its id in the queue's list: a worker
    would pop the id, find no job and skip it. Removed work, not lost work."""
    with jobsim.Simulation(Queue("default", connection=redis.Redis(host="127.0.0.1", port=1)), start=START) as sim:
        job = emails().enqueue(greet, "a")
        job.delete(remove_from_queue=False)
        sim.run_until_idle()
        assert emails().job_ids == [job.id] and sim.rq.unconsumed == []


def test_a_job_whose_ttl_ran_out_while_it_waited_unread_still_warns(queue):
    """RQ's ``ttl`` expires the job's key ``ttl`` s after it is queued; a worker reading 'emails' would have taken
    it at once, well before: it was lost for want of a worker, not by its ttl (the rule Celery's ``expires``, arq's
    ``_expires`` and Dramatiq's ``max_age`` follow: expired before it was due does not count, expired after does)."""
    with pytest.warns(jobsim.UnreadQueueWarning, match=r"1 job\(s\) .* queue 'emails'"), jobsim.Simulation(
        queue, start=START
    ) as sim:
        job = emails().enqueue(greet, "a", ttl=30)
        sim.advance("10m")
        assert sim.rq.unconsumed == [job]


def test_a_scheduled_job_whose_ttl_ran_out_before_it_was_due_does_not_warn(queue, quiet):
    """``enqueue_in(60 s, ttl=30)``: the key expires before the scheduler's turn, which drops a job it cannot fetch;
    a worker reading the queue would not have run it either. With ``ttl=60`` the scheduler still finds it."""
    with jobsim.Simulation(queue, start=START) as sim:
        emails().enqueue_in(dt.timedelta(seconds=60), greet, "a", ttl=30)
        sim.advance("10m")
        assert sim.rq.unconsumed == []
    with pytest.warns(jobsim.UnreadQueueWarning, match="queue 'emails'"), jobsim.Simulation(queue, start=START) as sim:
        job = emails().enqueue_in(dt.timedelta(seconds=60), greet, "a", ttl=60)
        sim.advance("10m")
        assert sim.rq.unconsumed == [job]


@pytest.mark.parametrize(("ttl", "ran"), [(30, False), (60, True)])
def test_what_the_ttl_rule_leans_on_a_worker_reading_the_queue(queue, ttl, ran):
    """The ground truth of the two tests above: a worker that reads 'emails' runs a queued job with any ttl, and a
    scheduled one only if its key outlives its instant."""
    with jobsim.Simulation(Worker([queue, "emails"]), start=START) as sim:
        now = emails().enqueue(greet, "a", ttl=1)
        later = emails().enqueue_in(dt.timedelta(seconds=60), greet, "b", ttl=ttl)
        sim.advance("10m")
        assert now.id in [r.id for r in sim.runs() if r.status == "completed"]
        assert (later.id in [r.id for r in sim.runs() if r.status == "completed"]) is ran


def test_jobs_deferred_on_an_unread_queues_job_are_counted_with_it(queue):
    """``depends_on`` a job no worker reads: RQ queues a dependent only once its dependencies finish, so the two
    deferred on it (one of them through the other) never run either, even on a queue a worker reads."""
    with pytest.warns(jobsim.UnreadQueueWarning) as caught, jobsim.Simulation(queue, start=START) as sim:
        first = emails().enqueue(greet, "a")
        emails().enqueue(greet, "b")
        then = queue.enqueue(greet, "c", depends_on=first)
        queue.enqueue("os.path.basename", "d", depends_on=then)
        queue.enqueue(greet, "e", depends_on=[first, then]).cancel()  # canceled: not waiting
        sim.run_until_idle()
    (message,) = [str(w.message) for w in caught]
    assert message.startswith("jobsim-rq: 2 job(s) (2 of function 'test_rq_unread.greet') wait on queue 'emails'")
    assert ("on that queue; and 2 more job(s) (1 of function 'test_rq_unread.greet', 1 of function 'os.path.basename') "
            "wait on them (depends_on: deferred), so they never ran either. Route the work") in message


def test_a_job_created_with_ttl_minus_one_is_kept_and_warns_and_one_with_ttl_zero_is_dropped_unrun(queue):
    """``Job.create(ttl=-1)`` (``enqueue`` refuses a ttl <= 0, ``Job.create`` does not): RQ's ``cleanup(-1)`` sets no
    expiry, so the job waits on, readable (before, its key expired a second before it was queued); ``ttl=0``
    deletes the key before its id is pushed, so no worker would run it: no warning for that one, and a worker
    reading its queue skips it."""
    from rq.job import Job

    connection = emails().connection
    with pytest.warns(jobsim.UnreadQueueWarning, match=r"1 job\(s\) .* queue 'emails'"), jobsim.Simulation(
        queue, start=START
    ) as sim:
        kept = emails().enqueue_job(Job.create(greet, args=("a",), ttl=-1, connection=connection))
        emails().enqueue_job(Job.create(greet, args=("b",), ttl=0, connection=connection))
        ran = queue.enqueue_job(Job.create(greet, args=("c",), ttl=-1, connection=connection))
        skipped = queue.enqueue_job(Job.create(greet, args=("d",), ttl=0, connection=connection))
        sim.advance("10m")
        assert sim.rq.unconsumed == [kept] and kept.get_status() == "queued"
        assert [r.status for r in sim.runs() if r.id == ran.id] == ["completed"]
        assert [r.status for r in sim.runs() if r.id == skipped.id] == ["lost"]


def test_a_dependent_whose_ttl_ran_out_as_it_waited_on_unread_work_is_counted_by_the_same_expiry_rule(queue):
    """A dependent's ``ttl`` runs from its deferral. Deferred on a queued job no worker reads, it expired only for want
    of that worker (one would have run the job at once and released it): it counts. Deferred on a job scheduled for
    a minute later, a 30 s ttl runs out before that job is due, so no worker would have released it in time: not."""
    with pytest.warns(jobsim.UnreadQueueWarning) as caught, jobsim.Simulation(queue, start=START) as sim:
        now = emails().enqueue(greet, "a")
        queue.enqueue(greet, "b", depends_on=now, ttl=30)
        later = emails().enqueue_in(dt.timedelta(seconds=60), greet, "c")
        queue.enqueue("os.path.basename", "d", depends_on=later, ttl=30)
        sim.advance("10m")
    (message,) = [str(w.message) for w in caught]
    assert message.startswith("jobsim-rq: 2 job(s) (2 of function 'test_rq_unread.greet') wait on queue 'emails'")
    assert "and 1 more job(s) (1 of function 'test_rq_unread.greet') wait on them" in message


@pytest.mark.parametrize(("delay", "ran"), [(0, True), (60, False)])
def test_what_the_dependents_ttl_rule_leans_on_a_worker_reading_the_queue(queue, delay, ran):
    with jobsim.Simulation(Worker([queue, "emails"]), start=START) as sim:
        first = (emails().enqueue_in(dt.timedelta(seconds=delay), greet, "a") if delay
                 else emails().enqueue(greet, "a"))  # fmt: skip
        then = queue.enqueue(greet, "b", depends_on=first, ttl=30)
        sim.advance("10m")
        assert ([r.status for r in sim.runs() if r.id == then.id] == ["completed"]) is ran


# -- work the test enqueued and never let run (``jobsim.PendingWorkWarning``) --------------------------------------
def test_a_job_the_test_enqueued_with_no_driving_call_after_it_warns(queue):
    """``queue.enqueue`` only queues, as ``sim.send`` does: closed with no driving call after it, the job never ran.
    It warned for ``sim.send`` and not for ``queue.enqueue``."""
    with pytest.warns(jobsim.PendingWorkWarning) as caught, jobsim.Simulation(queue, start=START):
        job = queue.enqueue(greet, "a")
        assert job.get_status() == "queued"
    assert [type(w.message) for w in caught] == [jobsim.PendingWorkWarning]
    assert str(caught[0].message).startswith(
        f"the simulation closed at 2025-03-01T00:00:00.000Z with 1 item(s) of work due that never ran "
        f"(test_rq_unread.greet (run {job.id})), queued by the test (sim.send, or a backend's enqueue: actor.send, "
        "queue.enqueue, scheduler.add_job, ...) after the last driving call")
    assert caught[0].filename == __file__


def test_jobs_enqueued_then_driven_or_scheduled_later_do_not_warn(queue, quiet):
    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(greet, "a")
        sim.run_until_idle()
        queue.enqueue_in(dt.timedelta(minutes=5), greet, "b")  # due later: the test's business
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(greet, "c")
        job.delete()  # dropped by the test: cancelled, not left to run
