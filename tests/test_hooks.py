"""The pluggy contract: targets adapted by plugins, install order, profiles, record kinds, load errors."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import sys
import types
from pathlib import Path

import pytest

import jobsim
from jobsim import _plugins
from jobsim._profiles import INNGEST
from jobsim.errors import PluginError
from jobsim.hooks import Adapted, hookimpl


class Legacy:
    """A pretend backend: a queue object with tasks that are plain callables."""

    def __init__(self, **tasks):
        self.tasks = tasks
        self.log: list[str] = []


class LegacyPlugin:
    def __init__(self):
        self.calls: list[str] = []

    @hookimpl
    def jobsim_adapt(self, sim, target):
        if not isinstance(target, Legacy):
            return None
        app = jobsim.App("legacy")
        for name, task in target.tasks.items():
            app.function(name, on=f"legacy/{name}")(lambda ctx, task=task: task(**ctx.event.data))
        return Adapted(
            backend="legacy", functions=list(app.functions.values()),
            install=lambda sim: target.log.append("install"), uninstall=lambda sim: target.log.append("uninstall"),
            profile="slow-inngest",
        )  # fmt: skip

    @hookimpl
    def jobsim_profiles(self):
        return [dataclasses.replace(INNGEST, name="slow-inngest", description="test")]

    @hookimpl
    def jobsim_install(self, sim):
        self.calls.append("install")

    @hookimpl
    def jobsim_uninstall(self, sim):
        self.calls.append("uninstall")

    @hookimpl
    def jobsim_record_kinds(self):
        return {"legacy.note": lambda data, names, tz: f"legacy    {data['text']}"}


@pytest.fixture
def plugin():
    p = LegacyPlugin()
    _plugins.register(p, name="legacy-test")
    yield p
    _plugins.unregister(p)


def test_a_plugin_adapts_its_target_and_its_functions_run(plugin):
    legacy = Legacy(greet=lambda who: f"hello {who}")
    with jobsim.Simulation(legacy) as sim:
        assert sim.profile.name == "slow-inngest", "the adapted target's profile is the default"
        sim.send("legacy/greet", {"who": "ada"})
        sim.run_until_idle()
        sim.record("legacy.note", text="custom record")
        assert [r.output for r in sim.runs("greet")] == ["hello ada"]
        assert "legacy    custom record" in sim.timeline()
    assert legacy.log == ["install", "uninstall"]
    assert plugin.calls == ["install", "uninstall"]


def test_an_explicit_profile_beats_the_targets(plugin):
    with jobsim.Simulation(Legacy(t=lambda: 1), profile="inngest") as sim:
        assert sim.profile.name == "inngest"


def test_an_unclaimed_target_names_the_installed_plugins(plugin):
    with pytest.raises(jobsim.InvalidArgument, match=r"targets=.*installed plugins: .*legacy-test"):
        jobsim.Simulation(object())


def test_an_unnamed_helper_plugin_is_not_listed_as_installed(plugin):
    class Helper:  # like the pytest plugin's note-taker, registered with no name
        pass

    helper = Helper()
    _plugins.register(helper)
    try:
        with pytest.raises(jobsim.InvalidArgument) as excinfo:
            jobsim.Simulation(object())
    finally:
        _plugins.unregister(helper)
    assert str(id(helper)) not in str(excinfo.value) and "legacy-test" in str(excinfo.value)


def test_a_plugin_returning_the_wrong_type_is_named(plugin):
    class Bad:
        @hookimpl
        def jobsim_adapt(self, sim, target):
            return ["not", "adapted"] if target == "bad" else None

    bad = Bad()
    _plugins.register(bad, name="bad")
    try:
        with pytest.raises(PluginError, match=r"must return jobsim\.hooks\.Adapted"):
            jobsim.Simulation("bad")
    finally:
        _plugins.unregister(bad)


def test_a_failing_install_closes_what_was_installed(plugin):
    def boom(sim):
        raise RuntimeError("cannot patch")

    app = jobsim.App("a")
    app.function("f", on="x")(lambda ctx: None)
    sim = jobsim.Simulation(app)
    sim.adapted.append(Adapted(backend="broken", functions=[], install=boom))
    with pytest.raises(RuntimeError, match="cannot patch"):
        sim.start()
    assert not sim.mail.installed and "uninstall" in plugin.calls


def test_builtins_register_through_the_hooks():
    pm = _plugins.manager()
    assert pm.get_plugin("jobsim.builtins") is not None
    names = {p.name for group in pm.hook.jobsim_profiles() for p in group}
    assert "inngest" in names


def test_a_plugin_that_fails_to_import_is_named(tmp_path: Path, monkeypatch):
    dist = tmp_path / "jobsim_broken-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: jobsim-broken\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[jobsim]\nbroken = jobsim_broken_missing.plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    monkeypatch.setattr(_plugins, "_manager", None)
    with pytest.raises(PluginError) as info:
        _plugins.manager()
    message = str(info.value)
    assert "'broken'" in message and "jobsim_broken_missing.plugin" in message
    assert "ModuleNotFoundError" in message and "jobsim-broken" in message
    monkeypatch.setattr(_plugins, "_manager", None)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])


def test_import_jobsim_imports_no_backend_and_no_http_stack():
    import subprocess

    code = (
        "import sys, jobsim; "
        "print(sorted(m for m in ('httpx', 'respx', 'celery', 'inngest', 'hypothesis') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert jobsim.delayed is not None  # the lazy names still resolve


def test_the_readme_plugin_example_runs(readme_files):
    source = readme_files("### Writing a backend plugin")["plugin_demo.py"]
    namespace: dict = {}
    try:
        exec(compile(source, "plugin_demo.py", "exec"), namespace)
    finally:
        plugin = _plugins.manager().get_plugin("queue")
        if plugin is not None:
            _plugins.unregister(plugin)


class Misbehaving:
    """A plugin whose hooks answer with the wrong shapes (set per test)."""

    def __init__(self, adapted=None, profiles=None, kinds=None):
        self._adapted, self._profiles, self._kinds = adapted, profiles, kinds

    @hookimpl
    def jobsim_adapt(self, sim, target):
        return self._adapted if target == "mine" else None

    @hookimpl
    def jobsim_profiles(self):
        return self._profiles

    @hookimpl
    def jobsim_record_kinds(self):
        return self._kinds


@pytest.fixture
def misbehaving():
    registered = []

    def register(**answers):
        plugin = Misbehaving(**answers)
        _plugins.register(plugin, name=f"misbehaving-{len(registered)}")
        registered.append(plugin)

    yield register
    for plugin in registered:
        _plugins.unregister(plugin)


def _app():
    app = jobsim.App("a")
    app.function("f", on="go")(lambda ctx: None)
    return app


@pytest.mark.parametrize(("answers", "message"), [
    ({"adapted": Adapted(backend="legacy", functions=["greet"])},
     "the jobsim plugin for 'legacy' adapted 'mine' into Adapted(functions=['greet']); functions must be "
     "jobsim.Function objects"),  # AttributeError: 'str' object has no attribute 'app'
    ({"adapted": Adapted(backend="legacy", functions=None)},
     "the jobsim plugin for 'legacy' adapted 'mine' into Adapted(functions=None); functions must be "
     "jobsim.Function objects"),  # TypeError: 'NoneType' object is not iterable
    ({"profiles": 3}, "jobsim plugin 'misbehaving-0' (test_hooks.Misbehaving): jobsim_profiles gave 3; it must "
                      "give a list of jobsim.Profile objects"),  # named: which of the installed plugins it is
    ({"profiles": [INNGEST, "bullmq"]}, "jobsim plugin 'misbehaving-0' (test_hooks.Misbehaving): jobsim_profiles "
                                        "gave 'bullmq' among its profiles; it must give a list of jobsim.Profile "
                                        "objects"),  # taken as a profile, failing when looked up
])  # fmt: skip
def test_a_plugin_breaking_the_hook_contract_is_named_where_its_answer_is_taken(misbehaving, answers, message):
    misbehaving(**answers)
    with pytest.raises(PluginError) as info:
        jobsim.Simulation("mine" if "adapted" in answers else _app())
    assert str(info.value).replace("(tests.test_hooks.", "(test_hooks.") == message  # as the test module is imported


@pytest.mark.parametrize(("kinds", "message"), [
    ([("legacy.note", str)], r"^a jobsim plugin's jobsim_record_kinds hook gave \[\('legacy\.note', <class 'str'>\)\]; "
                             r"it must give a mapping of record kind to a renderer \(data, names, tz\) -> str$"),
    ({"legacy.note": "{text}"}, r"^a jobsim plugin's jobsim_record_kinds hook gave \{'legacy\.note': '\{text\}'\}"),
    ({"legacy.note": lambda data, names, tz: data["missing"]},
     r"^the timeline renderer of record kind 'legacy\.note' \(<function .*>\) raised KeyError: 'missing' on record 0 "
     r"\(\{\"text\":\"hi\"\}\)$"),
])  # fmt: skip
def test_a_plugin_record_kind_that_cannot_draw_is_named_by_the_timeline(misbehaving, kinds, message):
    # they raised TypeError / KeyError out of sim.timeline() (and so out of the pytest report section)
    misbehaving(kinds=kinds)
    with jobsim.Simulation(_app()) as sim:
        sim.record("legacy.note", text="hi")
        with pytest.raises(PluginError, match=message):
            sim.timeline()


class Dynamic:
    """A pretend backend whose job functions are only known once used (as RQ's: any callable can be enqueued)."""


class DynamicPlugin:
    @hookimpl
    def jobsim_adapt(self, sim, target):
        if not isinstance(target, Dynamic):
            return None
        return Adapted(backend="dynamic", functions=[], own_worker=True, dynamic=True)


def test_a_dynamic_target_declares_its_functions_while_the_simulation_runs():
    p = DynamicPlugin()
    _plugins.register(p, name="dynamic-test")
    try:
        with pytest.raises(jobsim.InvalidArgument, match="got no functions"):
            jobsim.Simulation(jobsim.App("empty"))  # without a dynamic target, no functions is still refused
        with jobsim.Simulation(Dynamic()) as sim:
            app = jobsim.App("dynamic")
            fn = jobsim.Function(id="later", handler=lambda ctx: None, app=app, options={"native": len})
            sim.add_function(fn, own_worker=True)
            assert sim.functions["later"] is fn and "later" in sim._own_worker and app in sim.apps
            assert sim.runs(len) == [] and sim.runs("later") == []
            with pytest.raises(jobsim.InvalidArgument, match="declared twice"):
                sim.add_function(fn)
    finally:
        _plugins.unregister(p)


class _Library:
    """A stand-in for a backend module: a function of its own, and one its base class gives it."""

    def own(self) -> str:
        return "real"


class _Sub(_Library):
    pass


def test_process_patches_set_restore_and_refuse_a_second_world():
    from jobsim.errors import JobsimError
    from jobsim.hooks import ProcessPatches

    patches: ProcessPatches[str] = ProcessPatches("Acme queues", "jobsim-acme replaces Acme's clock")

    def patch(world: str) -> None:
        patches.set(_Library, "own", lambda self: world)
        patches.set(_Sub, "own", lambda self: world + "!")  # inherited: deleted again, not left as a copy

    patches.push("w1", patch)
    assert (patches.current, _Library().own(), _Sub().own()) == ("w1", "w1", "w1!")
    assert patches in ProcessPatches.pushed and patches.module == __name__  # where a close looks for leaks
    with pytest.raises(JobsimError, match=r"another simulation with Acme queues is running in this process; close "
                                          r"it before starting this one \(jobsim-acme replaces Acme's clock "
                                          r"process-wide while a simulation runs; one a module- or session-scoped "
                                          r"fixture keeps holds them until its scope ends: use that simulation in "
                                          r"the test, or build it per test\)"):  # fmt: skip
        patches.push("w2", patch)
    patches.pop("w2")  # not the current world: nothing happens
    assert _Library().own() == "w1"
    patches.pop("w1")
    assert (patches.current, _Library().own(), _Sub().own(), "own" in vars(_Sub)) == (None, "real", "real", False)
    assert patches not in ProcessPatches.pushed


def test_process_patches_undo_a_patch_that_fails_halfway():
    from jobsim.hooks import ProcessPatches

    patches: ProcessPatches[str] = ProcessPatches("Acme queues", "why")

    def patch(world: str) -> None:
        patches.set(_Library, "own", lambda self: "patched")
        raise RuntimeError("the library moved")

    with pytest.raises(RuntimeError, match="the library moved"):
        patches.push("w1", patch)
    assert (patches.current, _Library().own()) == (None, "real")
    patches.push("w2")  # free again
    patches.pop("w2")


def test_process_patches_left_pushed_by_a_closed_simulation_name_the_missing_pop():
    """It said another simulation was running, naming one shown as closed, and advised closing it (user trial R)."""
    import types

    from jobsim.errors import JobsimError
    from jobsim.hooks import ProcessPatches

    app = jobsim.App("p")
    app.function("f", on="go")(lambda ctx: None)
    with jobsim.Simulation(app) as sim:
        pass
    patches: ProcessPatches[types.SimpleNamespace] = ProcessPatches("Acme queues", "why")
    left = types.SimpleNamespace(sim=sim)
    patches.push(left)  # and never popped
    with pytest.raises(JobsimError, match=r"^ProcessPatches\('Acme queues'\) is still pushed by a simulation that "
                                          r"has closed \(<Simulation .*closed.*\): the plugin that pushed it did not "
                                          r"call pop\(world\) as it uninstalled"):  # fmt: skip
        patches.push(types.SimpleNamespace(sim=None))
    patches.pop(left)


def test_planned_instant_is_now_by_default_read_in_the_zone_and_never_past():
    from jobsim.errors import InvalidArgument
    from jobsim.hooks import planned_instant

    app = jobsim.App("p")
    app.function("f", on="go")(lambda ctx: None)
    with jobsim.Simulation(app, start="2026-03-02T12:00:00Z", tz="Europe/Paris") as sim:
        sim.advance("1h")
        assert planned_instant(sim, None, "a crash") == sim.now_ns()
        assert planned_instant(sim, "2026-03-02T14:30:00", "a crash") == sim.now_ns() + 30 * 60 * 10**9  # Paris
        with pytest.raises(InvalidArgument, match=r"^at='2026-03-02T12:59:59Z' is in the past: the simulation is "
                                                  r"at 2026-03-02T13:00:00.000Z; a crash can only be planned now or "
                                                  r"ahead$"):  # fmt: skip
            planned_instant(sim, "2026-03-02T12:59:59Z", "a crash")


def test_end_run_writes_the_run_end_record_as_the_engine_does():
    from jobsim.hooks import end_run, output_bytes

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    app = jobsim.App("p")
    app.function("f", on="go")(lambda ctx: None)
    with jobsim.Simulation(app, start="2026-03-02T12:00:00Z") as sim:
        sim.send("go")
        sim.send("go")
        sim.run_until_idle()
        first, second = sim.runs("f")
        first._payload = output_bytes({"n": 1})
        end_run(sim, first, "completed", sim.now_ns() + 5, why="the worker said so")
        end_run(sim, second, "failed", sim.now_ns() + 7, Unprintable())
    ends = sim.trace.of("run.end")[-2:]
    assert [(r.at - sim.start_ns, r.data) for r in ends] == [
        (5, {"function": "f", "run": first.id, "status": "completed", "output": b'{"n":1}',
             "why": "the worker said so"}),
        (7, {"function": "f", "run": second.id, "status": "failed", "error": "Unprintable: <exception str() failed>"}),
    ]
    assert (first.status, first.end_ns - sim.start_ns, second.status) == ("completed", 5, "failed")


class _AcmeWorld:
    """What a plugin's ``jobsim_adapt`` keeps on ``sim.acme`` for a simulation that runs Acme."""


class _Guarded:
    """Records what a ``ClassGuard`` would be asked to do."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def add(self, sim: object) -> None:
        self.calls.append(("add", sim))

    def remove(self, sim: object) -> None:
        self.calls.append(("remove", sim))

    def started(self, sim: object) -> None:
        self.calls.append(("started", sim))

    def stopped(self, sim: object) -> None:
        self.calls.append(("stopped", sim))


@pytest.fixture
def acme(monkeypatch):
    """Modules named as a plugin names them to ``guard_hooks``: the guard's and the world's (set per test)."""
    guard_module, world_module = types.ModuleType("acme_guard"), types.ModuleType("acme_world")
    guard_module.GUARD = _Guarded()  # type: ignore[attr-defined]
    world_module.AcmeWorld = _AcmeWorld  # type: ignore[attr-defined]
    monkeypatch.delitem(sys.modules, "acme", raising=False)

    def imported(*modules: types.ModuleType) -> None:
        for module in modules:
            monkeypatch.setitem(sys.modules, module.__name__, module)

    return guard_module.GUARD, imported, guard_module, world_module


def test_guard_hooks_guard_a_simulation_that_does_not_run_the_backend(acme):
    from jobsim.hooks import guard_hooks

    guard, imported, guard_module, world_module = acme
    install, uninstall = guard_hooks("acme", "acme_guard:GUARD", world="acme_world:AcmeWorld")
    plain, running = types.SimpleNamespace(), types.SimpleNamespace(acme=_AcmeWorld())
    install(plain)  # the library is not imported: nothing of it can exist, the guard's module is not imported
    uninstall(plain)
    assert "acme_guard" not in sys.modules
    imported(types.ModuleType("acme"), guard_module)
    install(plain)
    install(running)  # the world's module is not imported yet: no simulation runs Acme, this one is guarded too
    imported(world_module)
    acme_sim = types.SimpleNamespace(acme=_AcmeWorld())
    install(acme_sim)  # not added: it runs Acme (only noted as started, which lets an unstarted one's hold step aside)
    uninstall(plain)
    assert guard.calls == [("started", plain), ("add", plain), ("started", running), ("add", running),
                           ("started", acme_sim), ("remove", plain), ("stopped", plain)]  # fmt: skip


def test_guard_hooks_ask_runs_and_guard_every_simulation_without_a_world(acme):
    from jobsim.hooks import guard_hooks

    guard, imported, guard_module, _ = acme
    imported(types.ModuleType("acme"), guard_module)
    mine: list[object] = []
    every, _ = guard_hooks("acme", "acme_guard:GUARD")
    some, _ = guard_hooks("acme", "acme_guard:GUARD", runs=lambda sim: sim in mine)
    a, b = object(), object()
    mine.append(b)
    every(a), every(b), some(a), some(b)
    assert [call for call in guard.calls if call[0] == "add"] == [("add", a), ("add", b), ("add", a)]
    assert [call for call in guard.calls if call[0] == "started"] == [("started", a), ("started", b)] * 2


@pytest.mark.parametrize(("guard", "world", "message"), [
    ("acme_guard.GUARD", None, r"^guard='acme_guard.GUARD' is not valid: name a module and an attribute, e\.g\. "
                               r"'jobsim_acme\._guard:GUARD'$"),
    ("acme_guard:GUARD", "AcmeWorld", r"^world='AcmeWorld' is not valid: name a module and an attribute, e\.g\. "
                                      r"'jobsim_acme\._world:AcmeWorld'$"),
])  # fmt: skip
def test_guard_hooks_refuse_a_reference_without_its_module(guard, world, message):
    from jobsim.hooks import guard_hooks

    with pytest.raises(jobsim.InvalidArgument, match=message):
        guard_hooks("acme", guard, world=world)


def test_a_plugin_module_using_guard_hooks_registers_and_guards_simulations(acme, monkeypatch):
    from jobsim.hooks import ClassGuard

    _, imported, guard_module, _ = acme
    installs: list[str] = []
    guard_module.GUARD = ClassGuard(lambda guard: installs.append("install"))  # type: ignore[attr-defined]
    plugin = types.ModuleType("acme_plugin")
    exec("from jobsim.hooks import guard_hooks\n"
         "jobsim_install, jobsim_uninstall = guard_hooks('acme', 'acme_guard:GUARD', world='acme_world:AcmeWorld')\n",
         plugin.__dict__)  # fmt: skip
    imported(types.ModuleType("acme"), guard_module)
    _plugins.register(plugin, name="acme-test")
    try:
        pm = _plugins.manager()
        assert plugin in [impl.plugin for impl in pm.hook.jobsim_install.get_hookimpls()]
        assert plugin in [impl.plugin for impl in pm.hook.jobsim_uninstall.get_hookimpls()]
        assert "does not run acme" in (plugin.jobsim_install.__doc__ or "")
        with jobsim.Simulation(_app()):
            assert installs == ["install"] and guard_module.GUARD.active
        assert not guard_module.GUARD.active
    finally:
        _plugins.unregister(plugin)


def test_warn_outside_names_the_line_outside_jobsim_asyncio_and_the_given_packages(tmp_path: Path, monkeypatch):
    """A plugin warning while the simulation drives its library's worker (library -> asyncio -> plugin code) points
    pytest's summary at the test's line, not at the plugin's or the library's."""
    import inspect
    import sys
    import warnings

    package = tmp_path / "acme_queue"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import asyncio\n"
        "from jobsim.hooks import warn_outside\n"
        "import acme_queue\n"
        "async def _job():\n"
        "    warn_outside('acme: croniter put the job at 08:00', UserWarning, acme_queue)\n"
        "def drive():\n"
        "    asyncio.run(_job())\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "acme_queue", raising=False)
    import acme_queue  # type: ignore[import-not-found]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        acme_queue.drive()
    assert [(str(w.message), w.filename, w.lineno) for w in caught] == [
        ("acme: croniter put the job at 08:00", __file__, line)]


def test_escaped_raises_the_first_kept_error_from_the_next_driving_call():
    """``hooks.Escaped``: what a backend's own code caught and logged (a signal receiver's jobsim error) reaches the
    test from a timer due at once, ahead of work due then; later errors are dropped until it is raised."""
    from jobsim.hooks import Escaped

    app = jobsim.App("escapes")
    ran = []
    app.function("work", on="go")(lambda ctx: ran.append(ctx.event.name))
    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        escaped = Escaped(sim, "test: a receiver's error")
        first, second = jobsim.JobsimError("first"), jobsim.JobsimError("second")
        sim.send("go")
        escaped.keep(first)
        escaped.keep(second)  # dropped: the first is the news
        assert escaped.error is first
        with pytest.raises(jobsim.JobsimError) as caught:
            sim.advance(0)
        assert caught.value is first and escaped.error is None
        assert ran == []  # raised ahead of the run due at the same instant
        sim.advance(0)
        assert ran == ["go"]
        escaped.keep(second)  # a new one after the first was raised
        with pytest.raises(jobsim.JobsimError, match=r"^second$"):
            sim.run_until_idle()


@pytest.mark.parametrize("case", ["due", "driven", "nothing left", "cancelled", "later", "job code"])
def test_note_test_turn_warns_only_for_a_pending_turn_that_still_has_work(case):
    """``hooks.note_test_turn``: a backend's loop turn the test made due now (APScheduler's wakeup after the test's
    ``add_job``) warns at close while its timer is pending and due and ``describe()`` still names work; it is asked
    as the close begins (before the backends uninstall), and nothing is noted from inside a driving call."""
    import warnings

    from jobsim.hooks import note_test_turn

    app = jobsim.App("turns")
    app.function("idle", on="never")(lambda ctx: None)
    turns: list[str] = []
    work: list[str | None] = ["report (pretend job)"]
    asked: list[bool] = []

    def describe() -> str | None:
        asked.append(True)
        return work[0]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
            kernel = sim.kernel
            at = kernel.now + (60 * 10**9 if case == "later" else 0)
            if case == "job code":  # noted from a timer the kernel runs: job code's, not the test's
                kernel.schedule(kernel.now, lambda: note_test_turn(sim, kernel.schedule(kernel.now + 10**9,
                                                                                  turns.append, "x"), describe))
                sim.advance(0)
            else:
                timer = kernel.schedule(at, turns.append, "turn", owner="pretend loop", recurring=True)
                note_test_turn(sim, timer, describe)
            if case == "driven":
                sim.advance(0)
            elif case == "nothing left":
                work[0] = None
            elif case == "cancelled":
                kernel.cancel(timer)
    pending = [w for w in caught if issubclass(w.category, jobsim.PendingWorkWarning)]
    if case == "due":
        assert [str(w.message).split(", queued by")[0] for w in pending] == [
            "the simulation closed at 2025-03-01T00:00:00.000Z with 1 item(s) of work due that never ran "
            "(report (pretend job))"
        ]
        assert asked == [True]  # once, at the close
    else:
        assert pending == []


def test_near_miss_names_an_option_meant_and_leaves_the_apps_own_names_alone():
    from jobsim.hooks import near_miss

    options = ("retries", "retry_delay", "priority", "expires")
    assert near_miss("retry_dealy", options) == "retry_delay"  # a typo
    assert near_miss("retryDelay", options) == "retry_delay"  # case and underscores
    assert near_miss("max_retries", options, {"max_retries": "retries"}) == "retries"  # another system's word
    assert near_miss("owner", options) is None and near_miss("retry_on", options) is None  # the app's own


def test_held_by_names_a_simulation_while_it_lives_and_what_it_was_after():
    from jobsim.hooks import HeldBy, held_by

    app = jobsim.App("held")
    app.function("f", on="go")(lambda ctx: None)
    sim = jobsim.Simulation(app).start()
    told = HeldBy(sim)
    assert str(told) == held_by(sim) and "started at " in str(told) and "test_hooks.py" in str(told)
    sim.close()
    assert str(told).endswith(f" closed>, started {sim._where}")  # still alive: as it is now
    told._sim = lambda: None  # gone: what it was when the refusal was made
    assert str(told) == f"started {sim._where}"
