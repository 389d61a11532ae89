"""A message on a queue no simulated worker reads warns when the simulation closes (``jobsim.UnreadQueueWarning``):
``Worker(queues={"default"})`` while the actor's ``queue_name`` is ``"emails"`` passes no test silently."""

from __future__ import annotations

import time
import warnings

import dramatiq
import pytest

import jobsim

START = "2025-03-01T00:00:00Z"


@pytest.fixture
def actors(broker):
    @dramatiq.actor(queue_name="emails", broker=broker)
    def send_email(to):
        return to

    @dramatiq.actor(broker=broker)
    def ping():
        return "pong"

    return send_email, ping


@pytest.fixture
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("error", jobsim.PendingWorkWarning)
        yield


def test_a_message_on_a_queue_no_worker_reads_warns_with_the_fix(broker, actors):
    send_email, ping = actors
    with (
        pytest.warns(jobsim.UnreadQueueWarning) as caught,
        jobsim.Simulation(dramatiq.Worker(broker, queues={"default"}), start=START) as sim,
    ):
        first, second = send_email.send("a@x"), send_email.send("b@x")
        ping.send()
        sim.run_until_idle()
        assert [m.message_id for m in sim.dramatiq.unconsumed] == [first.message_id, second.message_id]
    assert [str(w.message) for w in caught] == [
        "jobsim-dramatiq: 2 message(s) (2 of actor 'send_email') wait on queue 'emails', which no simulated worker "
        "reads (the workers read 'default'), so they never ran, as on a broker with no worker on that queue. Route "
        "the work to a queue a worker reads, or add a worker for 'emails' (dramatiq.Worker(broker, queues="
        "{'default', 'emails'})); sim.dramatiq.unconsumed lists them. A queue this test leaves unread on "
        "purpose: sim.leave_unread('emails')"
    ]
    assert caught[0].filename == __file__


def test_work_on_read_queues_does_not_warn(broker, actors, quiet):
    send_email, ping = actors
    with jobsim.Simulation(broker, start=START) as sim:  # the default worker reads every declared queue
        send_email.send("a@x")
        send_email.send_with_options(args=("b@x",), delay=60_000)
        ping.send()
        sim.run_until_idle()
        assert sim.dramatiq.unconsumed == []


def test_error_filter_turns_it_into_a_failure(broker, actors, quiet):
    send_email, _ = actors
    with (
        pytest.raises(jobsim.PendingWorkWarning, match="queue 'emails'"),
        jobsim.Simulation(dramatiq.Worker(broker, queues={"default"}), start=START) as sim,
    ):
        send_email.send("a@x")
        sim.run_until_idle()


def test_a_delayed_message_warns_only_once_due(broker, actors, quiet):
    send_email, _ = actors
    with jobsim.Simulation(dramatiq.Worker(broker, queues={"default"}), start=START) as sim:
        send_email.send_with_options(args=("a@x",), delay=60_000)
        sim.advance("59s")
    with (
        pytest.warns(jobsim.UnreadQueueWarning, match=r"1 message\(s\) \(1 of actor 'send_email'\) wait on queue "
            r"'emails'"),
        jobsim.Simulation(dramatiq.Worker(broker, queues={"default"}), start=START) as sim,
    ):
        send_email.send_with_options(args=("a@x",), delay=60_000)
        sim.advance("60s")
        assert len(sim.dramatiq.unconsumed) == 1


def test_leave_unread_silences_the_queue(broker, actors, quiet):
    send_email, _ = actors
    with jobsim.Simulation(dramatiq.Worker(broker, queues={"default"}), start=START) as sim:
        sim.leave_unread("emails")
        send_email.send("a@x")
        sim.run_until_idle()


def test_a_queue_whose_worker_crashed_for_good_or_stopped_does_not_warn(quiet):
    """The crash or the stop is the test's own doing (the timeline says the messages wait), not a routing slip."""
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(host="127.0.0.1", port=1)

    @dramatiq.actor(broker=broker)
    def note(n):
        time.sleep(5)

    with jobsim.Simulation(broker, start=START) as sim:
        note.send(1)
        sim.dramatiq.crash_worker(at="2025-03-01T00:00:01Z", function=note, restart=None)
        sim.advance("2s")
        assert sim.dramatiq.workers == []
        note.send(2)
        sim.run_until_idle()
        assert [r.status for r in sim.runs(note)] == ["queued", "queued"] and sim.dramatiq.unconsumed == []


def test_a_worker_naming_queues_no_actor_declared_yet_is_still_a_worker_reading_them(broker, actors):
    """``Worker(broker, queues={"emials"})`` (a typo) reads 'emials': the warning names it, as the misspelling of the
    actor's queue it is, not "the simulation has no worker"."""
    send_email, _ = actors
    with (
        pytest.warns(jobsim.UnreadQueueWarning) as caught,
        jobsim.Simulation(dramatiq.Worker(broker, queues={"emials"}), start=START) as sim,
    ):
        send_email.send("a@x")
        sim.run_until_idle()
    message = str(caught[0].message)
    assert "(the workers read 'emials'; 'emials', which no actor declares, looks like a misspelling of 'emails')" \
        in message
    assert "Fix the worker's queues (dramatiq.Worker(broker, queues={'emails'}))" in message


@pytest.mark.parametrize("max_age", [30_000, 60_000])
def test_a_delayed_message_too_old_when_due_does_not_warn(broker, actors, quiet, max_age):
    """``delay=60 s, max_age=30 s``: a worker reading 'emails' would take it at its eta, 60 s old, and AgeLimit would
    drop it unrun; so it would at exactly 60 s too (``age >= max_age``). Not lost for want of a worker, so no
    warning (an actor's own ``max_age`` the same)."""
    send_email, _ = actors
    with jobsim.Simulation(dramatiq.Worker(broker, queues={"default"}), start=START) as sim:
        send_email.send_with_options(args=("a@x",), delay=60_000, max_age=max_age)
        send_email.options["max_age"] = max_age
        send_email.send_with_options(args=("b@x",), delay=60_000)
        sim.advance("10m")
        assert sim.dramatiq.unconsumed == []


@pytest.mark.parametrize("options", [{"max_age": 30_000}, {"delay": 60_000, "max_age": 120_000}])
def test_a_message_that_grew_too_old_while_it_waited_unread_still_warns(broker, actors, options):
    """Taken when due, it was young enough: a worker reading the queue would have run it."""
    send_email, _ = actors
    with (
        pytest.warns(jobsim.UnreadQueueWarning, match="queue 'emails'"),
        jobsim.Simulation(dramatiq.Worker(broker, queues={"default"}), start=START) as sim,
    ):
        message = send_email.send_with_options(args=("a@x",), **options)
        sim.advance("10m")
        assert [m.message_id for m in sim.dramatiq.unconsumed] == [message.message_id]


@pytest.mark.parametrize(("max_age", "ran"), [(30_000, False), (60_000, False), (120_000, True)])
def test_what_the_age_rule_leans_on_a_worker_reading_the_queue(broker, actors, max_age, ran):
    send_email, _ = actors
    with jobsim.Simulation(dramatiq.Worker(broker), start=START) as sim:
        send_email.send_with_options(args=("a@x",), delay=60_000, max_age=max_age)
        sim.advance("10m")
        assert bool([r for r in sim.runs() if r.status == "completed"]) is ran


def test_two_brokers_with_an_unread_queue_of_one_name_warn_apart_each_with_its_own_workers(broker, actors):
    """Two brokers (two Redis servers) in one simulation: their 'emails' queues are two queues, each warning names
    its broker and the queues that broker's workers read; before, one warning took both, with the first's workers."""
    from dramatiq.brokers.stub import StubBroker

    send_email, _ = actors
    other = StubBroker()

    @dramatiq.actor(queue_name="emails", broker=other)
    def receipt():
        pass

    with (
        pytest.warns(jobsim.UnreadQueueWarning) as caught,
        jobsim.Simulation(dramatiq.Worker(broker, queues={"default"}), dramatiq.Worker(other, queues={"shop"}),
                          start=START) as sim,
    ):  # fmt: skip
        send_email.send("a@x")
        receipt.send()
        sim.run_until_idle()
    messages = [str(w.message) for w in caught]
    assert [m.split(" wait ")[0] for m in messages] == [
        "jobsim-dramatiq (broker 1, a StubBroker): 1 message(s) (1 of actor 'send_email')",
        "jobsim-dramatiq (broker 2, a StubBroker): 1 message(s) (1 of actor 'receipt')",
    ]
    assert "(the workers read 'default')" in messages[0] and "(the workers read 'shop')" in messages[1]


# -- work the test sent and never let run (``jobsim.PendingWorkWarning``) ------------------------------------------
def test_a_message_the_test_sent_with_no_driving_call_after_it_warns(broker, actors):
    """``actor.send`` only queues, as ``sim.send`` does: closed with no driving call after it, the actor never ran and
    ``sim.mail.outbox == []`` would pass for that reason. It warned for ``sim.send`` and not for ``actor.send``."""
    _send_email, ping = actors
    with pytest.warns(jobsim.PendingWorkWarning) as caught, jobsim.Simulation(broker, start=START) as sim:
        ping.send()
        assert sim.runs(ping)[0].status == "queued"
    assert [type(w.message) for w in caught] == [jobsim.PendingWorkWarning]
    assert str(caught[0].message) == (
        f"the simulation closed at 2025-03-01T00:00:00.000Z with 1 item(s) of work due that never ran (ping (run "
        f"{sim.runs(ping)[0].id})), queued by the test (sim.send, or a backend's enqueue: actor.send, "
        "queue.enqueue, scheduler.add_job, ...) after the last driving call: sending only queues, and runs start at "
        "the next sim.advance(...) or sim.run_until_idle(); call one before asserting (advance(0) runs what is due "
        "now)"
    )
    assert caught[0].filename == __file__


def test_messages_sent_by_actors_or_driven_or_delayed_do_not_warn(broker, actors, quiet):
    _send_email, ping = actors

    @dramatiq.actor(broker=broker)
    def chain():
        time.sleep(5)
        ping.send()  # actor code's send, in a driving call: it ran

    with jobsim.Simulation(broker, start=START) as sim:
        chain.send()
        sim.run_until_idle()
        ping.send_with_options(delay=60_000)  # due later: the test's business, as for a delayed sim.send
        assert [run.status for run in sim.runs(ping)] == ["completed", "queued"]
    with jobsim.Simulation(broker, start=START) as sim:
        ping.send()
        sim.advance(0)
    with jobsim.Simulation(broker, start=START) as sim:
        ping.send()
        broker.flush("default")  # dropped by the test: lost, not left to run
        assert [run.status for run in sim.runs(ping)] == ["lost"]


def test_a_worker_queue_misspelt_is_named_as_the_typo(broker, actors):
    """``Worker(queues={"default", "emials"})`` beside an actor's ``queue_name="emails"``: the warning said "the workers
    read 'default', 'emials'; did you mean 'emials'?" -- pointing the user at renaming the actor's queue to the typo --
    and proposed ``queues={'default', 'emails', 'emials'}``. No actor declares 'emials': the worker's is the typo."""
    send_email, _ping = actors
    with (
        pytest.warns(jobsim.UnreadQueueWarning) as caught,
        jobsim.Simulation(dramatiq.Worker(broker, queues={"default", "emials"}), start=START) as sim,
    ):
        send_email.send("a@x")
        sim.run_until_idle()
    assert [str(w.message) for w in caught] == [
        "jobsim-dramatiq: 1 message(s) (1 of actor 'send_email') wait on queue 'emails', which no simulated worker "
        "reads (the workers read 'default', 'emials'; 'emials', which no actor declares, looks like a misspelling of "
        "'emails'), so they never ran, as on a broker with no worker on that queue. Fix the worker's queues "
        "(dramatiq.Worker(broker, queues={'default', 'emails'})), or route the work to a queue a worker reads; "
        "sim.dramatiq.unconsumed lists them. A queue this test leaves unread on purpose: sim.leave_unread('emails')"
    ]
