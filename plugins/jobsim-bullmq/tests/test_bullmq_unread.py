"""A job on a queue no simulated worker reads warns when the simulation closes (``jobsim.UnreadQueueWarning``):
``Queue("emials").add(...)`` beside a worker of ``emails`` passes no test silently."""

from __future__ import annotations

import asyncio
import warnings

import pytest
from bullmq import Queue
from bullmq_support import NOWHERE, START, run

import jobsim


async def done(job, token):
    return "ok"


async def minute(job, token):
    await asyncio.sleep(60)


@pytest.fixture
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("error", jobsim.PendingWorkWarning)
        yield


def test_jobs_on_a_queue_no_worker_reads_warn_with_the_fix(worker_for, queue):
    with pytest.warns(jobsim.UnreadQueueWarning) as caught, jobsim.Simulation(worker_for(done), start=START) as sim:
        emails = Queue("emails", {"connection": NOWHERE})
        first, second = run(emails.add("send", {})), run(emails.add("send", {}))
        run(queue.add("x", {}))
        sim.run_until_idle()
        assert [(u.queue, u.name, u.id) for u in sim.bullmq.unconsumed] == [
            ("emails", "send", first.id), ("emails", "send", second.id)]
    assert [str(w.message) for w in caught] == [
        "jobsim-bullmq: 2 job(s) (2 of job name 'send') wait on queue 'emails', which no simulated worker reads (the "
        "workers read 'q'), so they never ran, as on a broker with no worker on that queue. Route the work to a "
        "queue a worker reads, or add a worker for 'emails' (a Worker('emails', processor) passed to the "
        "Simulation); sim.bullmq.unconsumed lists them. A queue this test leaves unread on purpose: "
        "sim.leave_unread('emails')"
    ]
    assert caught[0].filename == __file__


def test_read_queues_a_paused_queue_and_a_crashed_workers_queue_do_not_warn(worker_for, queue, quiet):
    with jobsim.Simulation(worker_for(minute), start=START) as sim:
        paused = Queue("paused", {"connection": NOWHERE})
        run(paused.pause())  # the test's own doing
        run(paused.add("p", {}))
        run(queue.add("x", {}))
        run(queue.add("y", {}))
        sim.bullmq.crash_worker(at="2025-03-01T00:00:01Z", queue="q", restart=None)
        sim.advance("10m")
        assert sim.bullmq.state("2") == "waiting" and sim.bullmq.unconsumed == []


def test_error_filter_turns_it_into_a_failure(worker_for, quiet):
    with (
        pytest.raises(jobsim.PendingWorkWarning, match="queue 'emails'"),
        jobsim.Simulation(worker_for(done), start=START) as sim,
    ):
        run(Queue("emails", {"connection": NOWHERE}).add("send", {}))
        sim.run_until_idle()


def test_a_delayed_job_warns_only_once_due(worker_for, quiet):
    with jobsim.Simulation(worker_for(done), start=START) as sim:
        run(Queue("emails", {"connection": NOWHERE}).add("send", {}, {"delay": 60_000}))
        sim.advance("59s")
    with (
        pytest.warns(jobsim.UnreadQueueWarning, match=r"1 job\(s\) \(1 of job name 'send'\) wait on queue 'emails'"),
        jobsim.Simulation(worker_for(done), start=START) as sim,
    ):
        run(Queue("emails", {"connection": NOWHERE}).add("send", {}, {"delay": 60_000}))
        sim.advance("60s")


def test_leave_unread_takes_the_queue(worker_for, quiet):
    with jobsim.Simulation(worker_for(done), start=START) as sim:
        emails = Queue("emails", {"connection": NOWHERE})
        sim.leave_unread(emails)
        run(emails.add("send", {}))
        sim.run_until_idle()


def test_leave_unread_takes_a_queue_under_another_prefix(worker_for, quiet):
    """Its jobs warn as 'app:emails' (another queue than 'emails' under bull's prefix): the Queue object left unread
    names that one, not the 'emails' of the default prefix."""
    with jobsim.Simulation(worker_for(done), start=START) as sim:
        emails = Queue("emails", {"connection": NOWHERE, "prefix": "app"})
        sim.leave_unread(emails)
        run(emails.add("send", {}))
        sim.run_until_idle()
        assert [u.queue for u in sim.bullmq.unconsumed] == ["app:emails"]
    with (
        pytest.warns(jobsim.UnreadQueueWarning, match=r"wait on queue 'emails'.*sim.leave_unread\('emails'\)"),
        jobsim.Simulation(worker_for(done), start=START) as sim,
    ):
        sim.leave_unread(Queue("emails", {"connection": NOWHERE, "prefix": "app"}))  # not bull:emails
        run(Queue("emails", {"connection": NOWHERE}).add("send", {}))
        sim.run_until_idle()


def test_a_prioritized_job_counts_too(worker_for):
    """A job with a priority waits in the queue's prioritized set, not its wait list: no worker takes it either."""
    with (
        pytest.warns(jobsim.UnreadQueueWarning, match=r"2 job\(s\) \(1 of job name 'send', 1 of job name 'urgent'\)"),
        jobsim.Simulation(worker_for(done), start=START) as sim,
    ):
        emails = Queue("emails", {"connection": NOWHERE})
        plain, urgent = run(emails.add("send", {})), run(emails.add("urgent", {}, {"priority": 1}))
        sim.run_until_idle()
        assert [u.id for u in sim.bullmq.unconsumed] == [plain.id, urgent.id]


def test_flow_parents_waiting_on_a_child_no_worker_reads_are_counted_with_it(worker_for):
    """A flow whose child sits on 'emails' (no worker): the parent stays in waiting-children, and its own parent
    above it, though worker reads their queue 'q'; a child that completes releases nobody still waiting."""
    from bullmq import FlowProducer

    flow = {"name": "report", "queueName": "q", "children": [
        {"name": "digest", "queueName": "q", "children": [
            {"name": "send", "queueName": "emails", "data": {}}, {"name": "fetch", "queueName": "q", "data": {}}]}]}
    with pytest.warns(jobsim.UnreadQueueWarning) as caught, jobsim.Simulation(worker_for(done), start=START) as sim:
        tree = run(FlowProducer({"connection": NOWHERE}).add(flow))
        sim.run_until_idle()
        assert run(tree["job"].getState()) == "waiting-children"
    (message,) = [str(w.message) for w in caught]
    assert message.startswith("jobsim-bullmq: 1 job(s) (1 of job name 'send') wait on queue 'emails'")
    assert ("on that queue; and 2 more job(s) (1 of job name 'digest', 1 of job name 'report') wait on them (flow "
            "parents, in waiting-children), so they never ran either. Route the work") in message


async def boom_or_done(job, token):
    if job.name == "boom":
        raise RuntimeError("boom")
    return "ok"


def test_a_flow_parent_a_failed_sibling_released_is_not_counted(worker_for):
    """``continueParentOnFailure``: the failing sibling moves the parent out of waiting-children to run, though the
    child on 'emails' is still among its dependencies; the parent ran (and failed: BullMQ refuses to complete a parent
    with a pending child), so the warning counts the child alone."""
    from bullmq import FlowProducer

    flow = {"name": "report", "queueName": "q", "children": [
        {"name": "send", "queueName": "emails", "data": {}},
        {"name": "boom", "queueName": "q", "data": {}, "opts": {"continueParentOnFailure": True}}]}
    with pytest.warns(jobsim.UnreadQueueWarning) as caught, jobsim.Simulation(
        worker_for(boom_or_done), start=START
    ) as sim:
        tree = run(FlowProducer({"connection": NOWHERE}).add(flow))
        sim.run_until_idle()
        assert run(tree["job"].getState()) == "failed"  # it ran: completing with a pending child fails it
    (message,) = [str(w.message) for w in caught]
    assert message.startswith("jobsim-bullmq: 1 job(s) (1 of job name 'send') wait on queue 'emails'")
    assert "wait on them" not in message


# -- the test's own add only queues, as sim.send does (jobsim.PendingWorkWarning) -----------------------------


def test_an_add_the_test_never_drove_warns_that_it_never_ran(worker_for, queue):
    """``queue.add(...)`` and then ``assert sim.mail.outbox == []`` passed for the wrong reason: nothing had run,
    and nothing said so (RQ's and Dramatiq's enqueues warned; BullMQ's did not)."""
    warned = pytest.warns(jobsim.PendingWorkWarning, match=r"2 item\(s\) of work due that never ran \(q \(run 1\), q ")
    with warned, jobsim.Simulation(worker_for(done), start=START):
        run(queue.add("send", {}))
        run(queue.add("send", {}, {"priority": 3}))


@pytest.mark.parametrize("how", ["driven", "delayed", "removed"])
def test_an_add_the_test_drove_or_that_is_not_due_does_not_warn(worker_for, queue, quiet, how):
    with jobsim.Simulation(worker_for(done), start=START) as sim:
        if how == "driven":
            run(queue.add("send", {}))
            sim.advance(0)
        elif how == "delayed":  # due later: the test's business, as a delayed sim.send
            run(queue.add("send", {}, {"delay": 60_000}))
        else:
            job = run(queue.add("send", {}))
            run(job.remove())
