"""Work a backend plugin holds on queues no simulated worker reads warns when the simulation closes
(``jobsim.UnreadQueueWarning``, a ``PendingWorkWarning``), through the ``jobsim_unread`` hook: one warning per
queue, at the test's ``with`` line, opted out per queue with ``sim.leave_unread``."""

from __future__ import annotations

import warnings

import pytest

import jobsim
from jobsim import _plugins
from jobsim.hooks import Adapted, Unread, hookimpl

pytest_plugins = ["pytester"]


class Broker:
    """A pretend backend: messages sent to a queue the worker does not read stay in ``held``."""

    def __init__(self) -> None:
        self.held: list[tuple[str, str]] = []  # (queue, task)


class _BrokerPlugin:
    broken = False
    answer = None  # what to answer instead of the broker's held work

    @hookimpl
    def jobsim_adapt(self, sim, target):
        if not isinstance(target, Broker):
            return None
        sim.broker = target
        return Adapted(backend="broker", functions=[], own_worker=True, dynamic=True)

    @hookimpl
    def jobsim_unread(self, sim):
        if self.broken:
            raise RuntimeError("a plugin's bug")
        if self.answer is not None:
            return self.answer
        broker = getattr(sim, "broker", None)
        return None if broker is None else [
            Unread(backend="broker", queue=q, name=t, read=["default"], listing="sim.broker.held",
                   worker="Worker(queues=['default', " + repr(q) + "])")
            for q, t in broker.held
        ]  # fmt: skip


@pytest.fixture(autouse=True)
def plugin():
    plugin = _BrokerPlugin()
    _plugins.register(plugin, name="unread-test")
    yield plugin
    _plugins.unregister(plugin)


def test_work_on_an_unread_queue_warns_per_queue_at_the_with_line():
    broker = Broker()
    with pytest.warns(jobsim.UnreadQueueWarning) as caught, jobsim.Simulation(broker) as sim:  # the line warned at
        broker.held += [("emails", "send"), ("emails", "send"), ("emails", "digest"), ("audit", "log")]
        sim.run_until_idle()
    messages = [str(w.message) for w in caught]
    assert messages[0] == (
        "jobsim-broker: 3 message(s) (2 of task 'send', 1 of task 'digest') wait on queue 'emails', which no "
        "simulated worker reads (the workers read 'default'), so they never ran, as on a broker with no worker on "
        "that queue. Route the work to a queue a worker reads, or add a worker for 'emails' (Worker(queues="
        "['default', 'emails'])); sim.broker.held lists them. A queue this test leaves unread on purpose: "
        "sim.leave_unread('emails')"
    )
    assert "1 message(s) (1 of task 'log') wait on queue 'audit'" in messages[1] and len(messages) == 2
    assert {w.filename for w in caught} == {__file__}
    assert caught[0].lineno == test_work_on_an_unread_queue_warns_per_queue_at_the_with_line.__code__.co_firstlineno + 2


def test_no_warning_without_unread_work():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with jobsim.Simulation(Broker()) as sim:
            sim.run_until_idle()


def test_error_filter_of_pending_work_fails_the_with():
    broker = Broker()
    with warnings.catch_warnings():
        warnings.simplefilter("error", jobsim.PendingWorkWarning)  # -W error::jobsim.PendingWorkWarning
        with pytest.raises(jobsim.UnreadQueueWarning, match="queue 'emails'"), jobsim.Simulation(broker) as sim:
            broker.held.append(("emails", "send"))
    assert sim._state == "closed"  # closed before it warned


def test_leave_unread_declares_a_queue_left_unread_on_purpose():
    broker = Broker()

    class Named:
        name = "audit"

    with pytest.warns(jobsim.UnreadQueueWarning) as caught, jobsim.Simulation(broker) as sim:
        sim.leave_unread("emails", Named())
        broker.held += [("emails", "send"), ("audit", "log"), ("other", "x")]
    assert ["other" in str(w.message) for w in caught] == [True]


def test_a_misspelt_leave_unread_is_named_in_the_warning_it_did_not_silence():
    """``sim.leave_unread('emials')`` was accepted and declared nothing: the warning went on without a word on why."""
    broker = Broker()
    with pytest.warns(jobsim.UnreadQueueWarning) as caught, jobsim.Simulation(broker) as sim:
        sim.leave_unread("emials", "audti-log-archive")
        broker.held += [("emails", "send"), ("audit", "log")]
    emails, audit = (str(w.message) for w in caught)
    assert emails.endswith("sim.leave_unread('emails') (sim.leave_unread('emials') names no broker queue holding "
                           "work: did you mean 'emails'?)")  # fmt: skip
    assert audit.endswith("sim.leave_unread('audit')")  # nothing declared is near it


def test_leave_unread_refuses_what_is_not_a_queue():
    with (
        jobsim.Simulation(Broker()) as sim,
        pytest.raises(jobsim.InvalidArgument, match=r"queues=3 is not valid: .*sim.leave_unread\('emails'\)"),
    ):
        sim.leave_unread(3)


def test_leave_unread_after_the_close_is_refused_as_it_could_do_nothing():
    with jobsim.Simulation(Broker()) as sim:
        pass
    with pytest.raises(jobsim.JobsimError, match=r"^sim.leave_unread\(\) needs a simulation that is not closed"):
        sim.leave_unread("emails")


def test_a_with_block_that_raised_does_not_warn():
    broker = Broker()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ZeroDivisionError), jobsim.Simulation(broker):
            broker.held.append(("emails", "send"))
            1 / 0  # noqa: B018


class _Other:
    """A second plugin answering for another backend: a broken plugin must not hide its lost work."""

    @hookimpl
    def jobsim_unread(self, sim):
        return [Unread(backend="other", queue="audit", name="log", read=[], listing="sim.other.held")]


@pytest.fixture
def other():
    other = _Other()
    _plugins.register(other, name="unread-other")
    yield other
    _plugins.unregister(other)


class _Released:
    """Records that the close reached ``jobsim_uninstall`` (the backends given back)."""

    def __init__(self):
        self.released = 0

    @hookimpl
    def jobsim_uninstall(self, sim):
        self.released += 1


@pytest.fixture
def released():
    watcher = _Released()
    _plugins.register(watcher, name="unread-released")
    yield watcher
    _plugins.unregister(watcher)


def test_a_plugin_that_fails_to_answer_is_named_after_the_close_released_everything(plugin, other, released):
    plugin.broken = True
    broker = Broker()
    with (
        pytest.warns(jobsim.UnreadQueueWarning, match="jobsim-other: .* queue 'audit'"),
        pytest.raises(jobsim.errors.PluginError) as raised,
        jobsim.Simulation(broker) as sim,
    ):
        broker.held.append(("emails", "send"))
    assert sim._state == "closed" and released.released == 1  # released first, then the error
    assert str(raised.value).startswith(
        "jobsim_unread failed as the simulation closed: the jobsim plugin 'unread-test' (test_unread_queues) raised "
        "RuntimeError: a plugin's bug. The simulation is closed and its backends released"
    )
    assert "report it to the plugin's authors" in str(raised.value)


@pytest.mark.parametrize("answer", [["emails"], [Unread(backend="b", queue="q", name="t", read=None, listing="l")]])
def test_an_answer_that_is_not_unread_items_is_a_plugin_error_after_the_release(plugin, released, answer):
    plugin.answer = answer
    with (
        pytest.raises(jobsim.errors.PluginError, match="jobsim_unread failed") as raised,
        jobsim.Simulation(Broker()) as sim,
    ):
        pass
    assert sim._state == "closed" and released.released == 1
    wrong_item = "answered 'emails' among its items, not a jobsim.hooks.Unread" in str(raised.value)
    assert wrong_item == (answer == ["emails"])


def test_not_inside_a_hypothesis_test():
    hypothesis = pytest.importorskip("hypothesis")

    @hypothesis.settings(max_examples=2, database=None)
    @hypothesis.given(hypothesis.strategies.integers())
    def check(n):
        broker = Broker()
        with jobsim.Simulation(broker):
            broker.held.append(("emails", "send"))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check()


def test_the_fixture_warns_at_the_test_unless_the_test_failed(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        import pytest
        from test_unread_queues import Broker

        @pytest.fixture
        def jobsim_app():
            return Broker()
    """)
    pytester.makepyfile(test_broker="""
        def test_routed_astray(jobsim):
            jobsim.broker.held.append(("emails", "send"))

        def test_failing(jobsim):
            jobsim.broker.held.append(("emails", "send"))
            assert False
    """)
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1, warnings=1)
    result.stdout.fnmatch_lines(["*test_broker.py:1: UnreadQueueWarning: jobsim-broker: 1 message(s)*"])
    erred = pytester.runpytest("-p", "no:randomly", "-W", "error::jobsim.PendingWorkWarning")
    erred.assert_outcomes(passed=1, failed=1, errors=1)  # the test passed; its teardown failed


def test_a_replay_does_not_warn_for_what_the_recording_left_unread(tmp_path):
    """A replay stops where the recording stopped: the recording's own close warned for what it left unread."""
    broker = Broker()
    with pytest.warns(jobsim.UnreadQueueWarning), jobsim.Simulation(broker) as sim:
        broker.held.append(("emails", "send"))
        sim.advance("1m")
    trace = jobsim.Trace.load(sim.trace.save(tmp_path / "unread.jobsim.jsonl"))
    again = Broker()
    with warnings.catch_warnings():
        warnings.simplefilter("error", jobsim.PendingWorkWarning)
        replayed = jobsim.Simulation.replay(trace, again, setup=lambda sim: again.held.append(("emails", "send")))
    assert replayed.simulation._state == "closed" and again.held == [("emails", "send")]


def test_a_simulation_the_test_left_running_is_closed_without_it(pytester: pytest.Pytester) -> None:
    """Closed by the plugin after the test, the "never closed" warning is the news, not the work it left."""
    pytester.makeconftest("from test_unread_queues import Broker")
    pytester.makepyfile(test_leak="""
        import jobsim
        from conftest import Broker

        def test_leaks():
            broker = Broker()
            jobsim.Simulation(broker).start()
            broker.held.append(("emails", "send"))
    """)
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*PytestWarning: jobsim: test_leaks never closed the simulation it started*"])
    result.stdout.no_fnmatch_line("*UnreadQueueWarning*")


class _SameName:
    """Another backend with a queue named as the broker's: a Celery and an RQ queue both called 'emails'."""

    sources = ("",)

    @hookimpl
    def jobsim_unread(self, sim):
        return [Unread(backend="other", queue="emails", name="log", read=["default"], listing="sim.other.held",
                       worker="OtherWorker(['default', 'emails'])", source=source)
                for source in self.sources]  # fmt: skip


@pytest.fixture
def same_name():
    other = _SameName()
    _plugins.register(other, name="unread-same-name")
    yield other
    _plugins.unregister(other)


def test_queues_of_one_name_in_two_backends_warn_apart_each_with_its_fix(same_name):
    broker = Broker()
    with pytest.warns(jobsim.UnreadQueueWarning) as caught, jobsim.Simulation(broker):
        broker.held.append(("emails", "send"))
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    assert messages[0].startswith("jobsim-broker: 1 message(s) (1 of task 'send') wait on queue 'emails'")
    assert "(Worker(queues=['default', 'emails']))" in messages[0] and "OtherWorker" not in messages[0]
    assert messages[0].endswith("sim.leave_unread('emails', backend='broker')")
    assert messages[1].startswith("jobsim-other: 1 message(s) (1 of task 'log') wait on queue 'emails'")
    assert "OtherWorker(['default', 'emails'])" in messages[1]
    assert messages[1].endswith("sim.leave_unread('emails', backend='other')")


def test_leave_unread_with_a_backend_declares_only_that_backends_queue(same_name):
    broker = Broker()
    with pytest.warns(jobsim.UnreadQueueWarning) as caught, jobsim.Simulation(broker) as sim:
        sim.leave_unread("emails", backend="other")
        broker.held.append(("emails", "send"))
    assert [str(w.message)[:14] for w in caught] == ["jobsim-broker:"]
    assert str(caught[0].message).endswith("sim.leave_unread('emails')")  # alone now: no backend needed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with jobsim.Simulation(broker) as sim:
            sim.leave_unread("emails")  # every backend's


@pytest.mark.parametrize("backend", ["", 3])
def test_leave_unread_refuses_a_backend_that_is_not_a_name(backend):
    with (
        jobsim.Simulation(Broker()) as sim,
        pytest.raises(jobsim.InvalidArgument, match=r"backend=.* is not valid: .*backend='celery'"),
    ):
        sim.leave_unread("emails", backend=backend)


def test_two_apps_of_one_backend_with_a_queue_of_one_name_warn_apart_naming_each(same_name):
    same_name.sources = ("app 'billing'", "app 'shop'")
    with pytest.warns(jobsim.UnreadQueueWarning) as caught, jobsim.Simulation(Broker()):
        pass
    assert sorted(str(w.message).split(" wait ")[0] for w in caught) == [
        "jobsim-other (app 'billing'): 1 message(s) (1 of task 'log')",
        "jobsim-other (app 'shop'): 1 message(s) (1 of task 'log')",
    ]


def test_jobs_waiting_on_the_unread_work_are_counted_once_each(plugin):
    """A dependent waiting on two of the queue's jobs counts once, and one of the queue's own jobs is not also counted
    as a dependent (an RQ job deferred on another that then went to the same queue cannot be both, but a plugin's
    walk may meet it)."""
    plugin.answer = [
        Unread(backend="b", queue="emails", name="send", read=["default"], listing="sim.b.held", id="1",
               dependents=[("3", "report"), ("2", "send")], dependents_how="depends_on"),
        Unread(backend="b", queue="emails", name="send", read=["default"], listing="sim.b.held", id="2",
               dependents=[("3", "report"), ("4", "audit")], dependents_how="depends_on"),
    ]  # fmt: skip
    with pytest.warns(jobsim.UnreadQueueWarning) as caught, jobsim.Simulation(Broker()):
        pass
    assert ("on that queue; and 2 more message(s) (1 of task 'report', 1 of task 'audit') wait on them (depends_on), "
            "so they never ran either. Route the work") in str(caught[0].message)


def test_a_failing_fixture_test_reports_the_unread_queues_in_its_jobsim_section(pytester: pytest.Pytester) -> None:
    """The close does not warn once the test failed (the failure is the news), but the work no worker read is
    often why it failed: the failure's jobsim section lists it, before the timeline."""
    pytester.makeconftest("""
        import pytest
        from test_unread_queues import Broker

        @pytest.fixture
        def jobsim_app():
            return Broker()
    """)
    pytester.makepyfile(test_broker="""
        def test_failing(jobsim):
            jobsim.broker.held.append(("emails", "send"))
            jobsim.broker.held.append(("audit", "log"))
            assert False, "no email was sent"

        def test_failing_without_unread_work(jobsim):
            assert False
    """)
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*- jobsim -*",
        "seed 0 * reproduce with:",
        "work on 2 queue(s) no simulated worker reads (never run: often why the test failed; no UnreadQueueWarning "
        "once a test failed):",
        "  - jobsim-broker: 1 message(s) (1 of task 'send') wait on queue 'emails', which no simulated worker reads*",
        "  - jobsim-broker: 1 message(s) (1 of task 'log') wait on queue 'audit', *",
        "",
        "jobsim timeline *",
    ])  # fmt: skip
    assert result.stdout.str().count("no simulated worker reads (never run") == 1  # not for the second test


@pytest.mark.parametrize(("backend", "hint"), [
    ("jobsim-rq", "the warning's 'jobsim-' is not part of it, give 'rq'; "),
    ("RQ", "did you mean 'rq'\\? "),
    ("celey", "did you mean 'celery'\\? "),
])
def test_leave_unread_refuses_a_backend_that_would_declare_nothing_naming_the_fix(backend, hint):
    """The warning prints 'jobsim-rq: ...', and a near miss declares no queue: the warning would go on, with nothing
    saying why. A name unlike every backend plugin's is taken (a plugin may name its Unread items otherwise)."""
    known = {impl.plugin_name for impl in _plugins.manager().hook.jobsim_unread.get_hookimpls()}
    if not {"rq", "celery"} <= known:
        pytest.skip("needs jobsim-rq and jobsim-celery installed")
    with (
        jobsim.Simulation(Broker()) as sim,
        pytest.raises(jobsim.InvalidArgument, match=rf"backend={backend!r} is not valid: {hint}a backend's name"),
    ):
        sim.leave_unread("emails", backend=backend)
    with jobsim.Simulation(Broker()) as sim:
        sim.leave_unread("emails", backend="rq")
        sim.leave_unread("emails", backend="broker")  # no plugin of that name: a plugin's own backend name


def test_a_passing_test_shows_no_unread_section_and_warns_instead(pytester: pytest.Pytester) -> None:
    """``--jobsim-timeline`` prints a passing test's jobsim section: the unread work is not in it (the close warns
    about it, as for any passing test), nor after an error in teardown once the simulation closed."""
    pytester.makeconftest("""
        import pytest
        from test_unread_queues import Broker

        @pytest.fixture
        def jobsim_app():
            return Broker()

        @pytest.fixture
        def breaks_in_teardown():
            yield
            raise RuntimeError("teardown broke")
    """)
    pytester.makepyfile(test_broker="""
        def test_passing(jobsim):
            jobsim.broker.held.append(("emails", "send"))

        def test_teardown_fails(breaks_in_teardown, jobsim):
            jobsim.broker.held.append(("emails", "send"))
    """)
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", "--jobsim-timeline", "-rP")
    result.assert_outcomes(passed=2, errors=1)
    out = result.stdout.str()
    assert "jobsim timeline" in out and "RuntimeError: teardown broke" in out
    assert "no simulated worker reads (never run" not in out
    assert out.count("UnreadQueueWarning: jobsim-broker: 1 message(s)") == 2
