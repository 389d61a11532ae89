"""A message on a queue no simulated worker reads warns when the simulation closes (``jobsim.UnreadQueueWarning``):
a routing slip passes no test silently, even one that never waits on the result."""

from __future__ import annotations

import warnings

import pytest

import jobsim

START = "2025-03-01T00:00:00Z"


@pytest.fixture
def tasks(app):
    @app.task(name="send_email")
    def send_email(to):
        return to

    @app.task(name="ping")
    def ping():
        return "pong"

    return send_email, ping


def test_a_task_routed_to_a_queue_no_worker_reads_warns_with_the_fix(app, tasks):
    send_email, ping = tasks
    with pytest.warns(jobsim.UnreadQueueWarning) as caught, jobsim.Simulation(app, start=START) as sim:
        send_email.apply_async(("a@x",), queue="emails")  # a typo'd or unrouted queue
        send_email.apply_async(("b@x",), queue="emails")
        ping.delay()
        sim.run_until_idle()
    assert [str(w.message) for w in caught] == [
        "jobsim-celery: 2 message(s) (2 of task 'send_email') wait on queue 'emails', which no simulated worker "
        "reads (the workers read 'celery'), so they never ran, as on a broker with no worker on that queue. Route "
        "the work to a queue a worker reads, or add a worker for 'emails' (jobsim_celery.CeleryTarget(app, "
        "queues=['celery', 'emails']), as `celery worker -Q celery,emails` would); sim.celery.unconsumed lists "
        "them. A queue this test leaves unread on purpose: sim.leave_unread('emails')"
    ]
    assert caught[0].filename == __file__


def test_correctly_routed_work_and_a_read_queue_do_not_warn(app, tasks):
    send_email, ping = tasks
    app.conf.task_routes = {"send_email": {"queue": "emails"}}
    with warnings.catch_warnings():
        warnings.simplefilter("error", jobsim.PendingWorkWarning)
        with jobsim.Simulation(jobsim_celery_target(app, queues=["celery", "emails"]), start=START) as sim:
            send_email.delay("a@x")
            ping.delay()
            sim.run_until_idle()
        assert sim.celery.unconsumed == []


def test_error_filter_turns_it_into_a_failure(app, tasks):
    send_email, _ = tasks
    with warnings.catch_warnings():
        warnings.simplefilter("error", jobsim.PendingWorkWarning)  # -W error::jobsim.PendingWorkWarning
        with (
            pytest.raises(jobsim.PendingWorkWarning, match="queue 'emails'"),
            jobsim.Simulation(app, start=START) as sim,
        ):
            send_email.apply_async(("a@x",), queue="emails")
            sim.run_until_idle()


def test_a_message_due_later_or_revoked_does_not_warn(app, tasks):
    """An ETA still ahead is the test's business (as a delayed sim.send); a revoked message would never run."""
    send_email, _ = tasks
    with warnings.catch_warnings():
        warnings.simplefilter("error", jobsim.PendingWorkWarning)
        with jobsim.Simulation(app, start=START) as sim:
            send_email.apply_async(("a@x",), queue="emails", countdown=3600)
            revoked = send_email.apply_async(("b@x",), queue="emails")
            app.control.revoke(revoked.id)
            sim.advance("59m")
        assert len(sim.celery.unconsumed) == 2
    with (
        pytest.warns(jobsim.UnreadQueueWarning, match=r"1 message\(s\) \(1 of task 'send_email'\)"),
        jobsim.Simulation(app, start=START) as sim,
    ):
        send_email.apply_async(("a@x",), queue="emails", countdown=3600)
        sim.advance("1h")  # due now, and still unread


def test_a_message_that_expires_before_it_is_due_does_not_warn(app, tasks):
    """A worker reading the queue would not run it either: Celery's ``Request.revoked`` finds it expired at its
    ETA (``expires`` before ``eta``, or at it: the worker's ``now`` is always later), or on receipt (``expires``
    already past when sent, or the send instant itself: ``expires=0``)."""
    send_email, _ = tasks
    with warnings.catch_warnings():
        warnings.simplefilter("error", jobsim.PendingWorkWarning)
        with jobsim.Simulation(app, start=START) as sim:
            send_email.apply_async(("a@x",), queue="emails", countdown=60, expires=30)
            send_email.apply_async(("b@x",), queue="emails", expires=-1)
            send_email.apply_async(("c@x",), queue="emails", countdown=60, expires=60)
            send_email.apply_async(("d@x",), queue="emails", expires=0)
            sim.advance("2m")
        assert len(sim.celery.unconsumed) == 4
    with (
        pytest.warns(jobsim.UnreadQueueWarning, match=r"1 message\(s\) \(1 of task 'send_email'\)"),
        jobsim.Simulation(app, start=START) as sim,
    ):
        send_email.apply_async(("a@x",), queue="emails", countdown=60, expires=60.000001)  # 1 us after its ETA
        sim.advance("2m")


def test_a_worker_reading_the_queue_revokes_those_messages_too(app, tasks):
    """What the test above leans on: the simulated worker runs neither message; it revokes both as expired."""
    send_email, _ = tasks
    with jobsim.Simulation(jobsim_celery_target(app, queues=["celery", "emails"]), start=START) as sim:
        late = send_email.apply_async(("a@x",), queue="emails", countdown=60, expires=30)
        past = send_email.apply_async(("b@x",), queue="emails", expires=-1)
        at_eta = send_email.apply_async(("c@x",), queue="emails", countdown=60, expires=60)
        on_time = send_email.apply_async(("d@x",), queue="emails", countdown=60, expires=60.000001)
        sim.advance("2m")
        states = (late.state, past.state, at_eta.state, on_time.state)
        assert states == ("REVOKED", "REVOKED", "REVOKED", "SUCCESS")


def test_leave_unread_silences_a_queue_read_elsewhere(app, tasks):
    send_email, _ = tasks
    with warnings.catch_warnings():
        warnings.simplefilter("error", jobsim.PendingWorkWarning)
        with jobsim.Simulation(app, start=START) as sim:
            sim.leave_unread("emails")  # another service's workers read it, not this test's
            send_email.apply_async(("a@x",), queue="emails")
            sim.run_until_idle()


def jobsim_celery_target(app, **options):
    from jobsim_celery import CeleryTarget

    return CeleryTarget(app, **options)


def test_the_fix_names_the_queues_to_pass_not_the_direct_queue_the_worker_adds(app, tasks):
    """With ``worker_direct`` the worker reads ``<node>.dq2`` too, which ``-Q`` never names: the fix leaves it out."""
    send_email, _ = tasks
    app.conf.worker_direct = True
    with pytest.warns(jobsim.UnreadQueueWarning) as caught, jobsim.Simulation(app, start=START) as sim:
        send_email.apply_async(("a@x",), queue="emails")
        sim.run_until_idle()
    assert [str(w.message).split(" (jobsim_celery.")[1].split(";")[0] for w in caught] == [
        "CeleryTarget(app, queues=['celery', 'emails']), as `celery worker -Q celery,emails` would)"]
    assert "(the workers read 'celery', 'celery@jobsim.dq2')" in str(caught[0].message)


# -- the test's own delay() only queues, as sim.send does (jobsim.PendingWorkWarning) -------------------------


def test_a_delay_the_test_never_drove_warns_that_it_never_ran(app, tasks):
    """``send_email.delay(...)`` and then asserting ``sim.mail.outbox == []`` passed for the wrong reason: nothing
    had run, and nothing said so (RQ's and Dramatiq's enqueues warned; Celery's did not)."""
    send_email, _ = tasks
    warned = pytest.warns(jobsim.PendingWorkWarning, match=r"1 item\(s\) of work due that never ran \(send_email ")
    with warned, jobsim.Simulation(app, start=START):
        send_email.delay("a@x")


@pytest.mark.parametrize("how", ["driven", "eta ahead", "revoked and driven"])
def test_work_the_test_drove_or_that_is_not_due_does_not_warn(app, tasks, how):
    send_email, _ = tasks
    with warnings.catch_warnings():
        warnings.simplefilter("error", jobsim.PendingWorkWarning)
        with jobsim.Simulation(app, start=START) as sim:
            if how == "driven":
                send_email.delay("a@x")
                sim.advance(0)
            elif how == "eta ahead":  # due later: the test's business, as a delayed sim.send
                send_email.apply_async(("a@x",), countdown=60)
            else:  # a revoke is the worker's filter (the message stays on the broker): it discards it on receipt
                send_email.delay("a@x").revoke()
                sim.advance(0)
    if how != "eta ahead":
        assert [run.status for run in sim.runs("send_email")] != ["queued"]


def test_a_revoked_message_no_driving_call_let_the_worker_discard_still_warns(app, tasks):
    """Celery's revoke does not take the message off the broker: the worker drops it when it arrives. Closed before
    that, the test asserted on a world where the revoke was never applied to the message."""
    send_email, _ = tasks
    with pytest.warns(jobsim.PendingWorkWarning, match=r"send_email \(run "), jobsim.Simulation(app, start=START):
        send_email.delay("a@x").revoke()
