"""A plugin that misbehaves as its simulation closes (user trial R): an uninstall that raises (``Adapted.uninstall``
or a ``jobsim_uninstall`` hook), or a ``ProcessPatches`` pushed at install and never popped. The close still releases
everything, jobsim's own parts always, ends closed, and raises one ``PluginError`` naming each plugin."""

from __future__ import annotations

import pathlib

import pytest

import jobsim
from jobsim import _httpclient, _plugins
from jobsim.hooks import Adapted, ProcessPatches, hookimpl, note_test_turn

pytest_plugins = ["pytester"]


class Queue:
    """A pretend backend library's queue: ``enqueue`` is what its plugin patches."""

    def enqueue(self, name: str) -> str:
        return f"real {name}"


PATCHES: ProcessPatches[World] = ProcessPatches("trial queues", "the trial plugin replaces Queue.enqueue")


class World:
    def __init__(self, sim: jobsim.Simulation) -> None:
        self.sim = sim


class _Backend:
    """Adapts a ``Queue``; ``broken`` makes its ``Adapted.uninstall`` raise, ``leak`` leaves its patches pushed."""

    def __init__(self) -> None:
        self.broken = self.leak = False
        self.uninstalled = 0

    @hookimpl
    def jobsim_adapt(self, sim, target):
        if not isinstance(target, Queue):
            return None
        app = jobsim.App("trial-queue")
        app.function("job", on="trial/job")(lambda ctx: "done")
        return Adapted(backend="trial", functions=list(app.functions.values()), install=self.install,
                       uninstall=self.uninstall)  # fmt: skip

    def install(self, sim):
        self.world = World(sim)
        PATCHES.push(self.world, lambda world: PATCHES.set(Queue, "enqueue", lambda queue, name: f"sim {name}"))

    def uninstall(self, sim):
        self.uninstalled += 1
        if self.broken:
            raise RuntimeError("boom in uninstall")
        if not self.leak:
            PATCHES.pop(self.world)


class _Hook:
    """A ``jobsim_uninstall`` implementation that raises when ``broken``, and counts its calls."""

    def __init__(self, broken: bool) -> None:
        self.broken, self.calls = broken, 0

    @hookimpl
    def jobsim_uninstall(self, sim):
        self.calls += 1
        if self.broken:
            raise ValueError(f"boom in hook {self.calls}")


@pytest.fixture
def backend():
    plugin = _Backend()
    _plugins.register(plugin, name="trial")
    try:
        yield plugin
    finally:
        _plugins.unregister(plugin)
        PATCHES.pop(PATCHES.current)  # a failing test must not leave the next one refused


@pytest.fixture
def hooks():
    """Two ``jobsim_uninstall`` plugins, the raising one registered (so called) first."""
    made = [_Hook(broken=True), _Hook(broken=False)]
    _plugins.register(made[0], name="trial-hook")
    _plugins.register(made[1], name="trial-after")
    try:
        yield made
    finally:
        for plugin in made:
            _plugins.unregister(plugin)


def _released(sim: jobsim.Simulation) -> bool:
    """Closed, and jobsim's HTTP sink no longer takes the process's ``http.client`` requests."""
    return sim._state == "closed" and not sim.http.installed and sim.http not in _httpclient._PATCHES.sinks()


def _next_simulation_runs(queue: Queue) -> None:
    with jobsim.Simulation(queue) as sim:
        assert queue.enqueue("x") == "sim x"
        sim.send("trial/job")
        sim.run_until_idle()
    assert [run.status for run in sim.runs("job")] == ["completed"]


def test_an_adapted_uninstall_that_raises_still_closes_everything(backend, monkeypatch):
    backend.broken = True
    queue = Queue()
    sim = jobsim.Simulation(queue)
    walls = []
    monkeypatch.setattr(sim.wallclock, "close", lambda: walls.append(1))
    with pytest.raises(jobsim.errors.PluginError) as raised, sim:
        pass
    assert str(raised.value) == (
        "uninstall failed as the simulation closed: the jobsim plugin 'trial' (test_plugin_close_trial40): its "
        "Adapted.uninstall raised RuntimeError: boom in uninstall. The simulation is closed and everything else "
        "released (the other plugins, jobsim's HTTP and mail sinks, wall clock and loop), but what that plugin "
        "patched may still be patched; report it to the plugin's authors (Adapted.uninstall and the "
        "jobsim_uninstall hook must not raise: undo what install did, and let nothing escape)"
    )
    assert isinstance(raised.value.__cause__, RuntimeError) and str(raised.value.__cause__) == "boom in uninstall"
    assert _released(sim) and walls == [1] and repr(sim).endswith(" closed>")
    assert PATCHES.current is None and queue.enqueue("a") == "real a"  # it raised before its pop: jobsim popped
    backend.broken = False
    _next_simulation_runs(queue)


def test_a_jobsim_uninstall_hook_that_raises_lets_the_later_ones_and_the_warnings_run(hooks, monkeypatch):
    app = jobsim.App("trial-app")
    app.function("f", on="go")(lambda ctx: None)
    sim = jobsim.Simulation(app)
    walls = []
    monkeypatch.setattr(sim.wallclock, "close", lambda: walls.append(1))
    with pytest.warns(jobsim.PendingWorkWarning), pytest.raises(jobsim.errors.PluginError) as raised, sim:
        sim.send("go")  # never driven: the close warns, as it does when the plugins behave
    assert str(raised.value).startswith(
        "uninstall failed as the simulation closed: the jobsim plugin 'trial-hook' (test_plugin_close_trial40): its "
        "jobsim_uninstall hook raised ValueError: boom in hook 1. The simulation is closed"
    )
    assert isinstance(raised.value.__cause__, ValueError)
    assert [hook.calls for hook in hooks] == [1, 1] and walls == [1] and _released(sim)
    hooks[0].broken = False
    with jobsim.Simulation(app):  # the app is free again
        pass


def test_several_plugins_failing_are_all_named_in_one_error(backend, hooks):
    backend.broken = True
    with pytest.raises(jobsim.errors.PluginError) as raised, jobsim.Simulation(Queue()) as sim:
        pass
    message = str(raised.value)
    assert ("the jobsim plugin 'trial' (test_plugin_close_trial40): its Adapted.uninstall raised RuntimeError: boom "
            "in uninstall; the jobsim plugin 'trial-hook' (test_plugin_close_trial40): its jobsim_uninstall hook "
            "raised ValueError: boom in hook 1. The simulation is closed") in message  # fmt: skip
    assert str(raised.value.__cause__) == "boom in uninstall" and hooks[1].calls == 1 and _released(sim)


class _Unreadable:
    @hookimpl
    def jobsim_unread(self, sim):
        raise KeyError("queues")


def test_an_unread_check_that_failed_too_is_told_in_the_same_error(backend):
    backend.broken = True
    unreadable = _Unreadable()
    _plugins.register(unreadable, name="trial-unread")
    try:
        with pytest.raises(jobsim.errors.PluginError) as raised, jobsim.Simulation(Queue()) as sim:
            pass
    finally:
        _plugins.unregister(unreadable)
    message = str(raised.value)
    assert message.startswith("uninstall failed as the simulation closed: the jobsim plugin 'trial' ")
    assert " Also: jobsim_unread failed as the simulation closed: the jobsim plugin 'trial-unread' " in message
    assert str(raised.value.__cause__) == "boom in uninstall" and _released(sim)


def test_process_patches_left_pushed_are_named_and_popped(backend):
    backend.leak = True
    queue = Queue()
    with pytest.raises(jobsim.errors.PluginError) as raised, jobsim.Simulation(queue) as sim:
        assert queue.enqueue("a") == "sim a"
    assert str(raised.value) == (
        "uninstall failed as the simulation closed: the jobsim plugin 'trial' (test_plugin_close_trial40) left "
        "ProcessPatches('trial queues') pushed: its uninstall did not call pop(world). The simulation is closed and "
        "everything else released (the other plugins, jobsim's HTTP and mail sinks, wall clock and loop); report it "
        "to the plugin's authors (what a plugin pushes on a jobsim.hooks.ProcessPatches at install, its uninstall "
        "must pop: PATCHES.pop(world); jobsim popped it now, restoring what it set)"
    )
    assert PATCHES.current is None and queue.enqueue("b") == "real b" and _released(sim)
    backend.leak = False
    _next_simulation_runs(queue)  # was refused: "another simulation with trial queues is running (<... closed>)"


def _raises() -> str:
    raise RuntimeError("boom in describe")


def test_a_turn_whose_describe_raises_still_lets_the_close_release_everything(backend):
    queue = Queue()
    with pytest.raises(RuntimeError, match="boom in describe"), jobsim.Simulation(queue) as sim:
        timer = sim.kernel.schedule(sim.kernel.now, lambda: None, owner="trial turn")
        note_test_turn(sim, timer, _raises)
    assert _released(sim) and backend.uninstalled == 1 and PATCHES.current is None
    _next_simulation_runs(queue)


def test_a_plugin_that_behaves_closes_without_error(backend):
    queue = Queue()
    _next_simulation_runs(queue)
    assert backend.uninstalled == 1 and PATCHES.current is None and queue.enqueue("c") == "real c"


CONFTEST = """
import pytest
import jobsim
from jobsim import _plugins
from jobsim.hooks import Adapted, hookimpl


class Queue:
    uninstalls = 0

    def uninstall(self, sim):
        Queue.uninstalls += 1
        if Queue.uninstalls == 1:  # the first test's close
            raise RuntimeError("boom in uninstall")


class Backend:
    @hookimpl
    def jobsim_adapt(self, sim, target):
        if isinstance(target, Queue):
            app = jobsim.App("queue-app")
            app.function("f", on="go")(lambda ctx: None)
            return Adapted(backend="queue", functions=list(app.functions.values()), uninstall=target.uninstall)


_plugins.register(Backend(), name="broken-uninstall")
queue = Queue()


@pytest.fixture
def jobsim_app():
    return queue
"""


def test_the_fixture_reports_the_failed_close_and_blames_no_test(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(pathlib.Path(jobsim.__file__).parent.parent))  # this jobsim, not another
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
        import jobsim
        from conftest import queue

        def test_a(jobsim):
            jobsim.advance("1s")

        def test_b():  # the HTTP sink is gone, and the app free
            from jobsim import _httpclient
            assert _httpclient._PATCHES.sinks() == []
            with jobsim.Simulation(queue):
                pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    assert "never closed" not in result.stdout.str()  # said test_a never closed what the fixture started
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*PluginError: uninstall failed as the simulation closed: the jobsim plugin "
                                 "'broken-uninstall' (conftest): its Adapted.uninstall raised RuntimeError: boom "
                                 "in uninstall. The simulation is closed*"])  # fmt: skip
