"""User trial R: a plugin's hook that raises, a misspelt hook, a profile name that clashes, a plugin registered twice.

Each plugin here is registered in-process and unregistered when its test ends.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import jobsim
from jobsim import _plugins, hooks
from jobsim._cli import main
from jobsim._profiles import INNGEST
from jobsim.errors import PluginError
from jobsim.hooks import Adapted, hookimpl


class Box:
    """A pretend backend's target: one task, run by jobsim's engine."""


def _adapted(target: Any) -> Adapted | None:
    if not isinstance(target, Box):
        return None
    app = jobsim.App("box")
    app.function("task", on="box/task")(lambda ctx: "done")
    return Adapted(backend="box", functions=list(app.functions.values()))


class Raising:
    """A plugin whose hook ``hook`` raises a ``RuntimeError`` (or ``error``)."""

    def __init__(self, hook: str, error: BaseException | None = None) -> None:
        self.hook, self.error = hook, error or RuntimeError(f"boom in {hook}")

    def _maybe_raise(self, hook: str) -> None:
        if hook == self.hook:
            raise self.error

    @hookimpl
    def jobsim_adapt(self, sim, target):
        self._maybe_raise("jobsim_adapt")
        return _adapted(target)

    @hookimpl
    def jobsim_profiles(self):
        self._maybe_raise("jobsim_profiles")
        return []

    @hookimpl
    def jobsim_record_kinds(self):
        self._maybe_raise("jobsim_record_kinds")
        return {}

    @hookimpl
    def jobsim_install(self, sim):
        self._maybe_raise("jobsim_install")


@pytest.fixture
def registered() -> Iterator[Any]:
    plugins: list[Any] = []

    def register(plugin: Any, name: str | None = None) -> Any:
        hooks.register(plugin, name=name)
        plugins.append(plugin)
        return plugin

    yield register
    for plugin in plugins:
        hooks.unregister(plugin)


def _box_scenario(path: Path) -> Path:
    path.write_text(
        "import jobsim\n"
        f"from {__name__} import Box\n"
        "def play(sim):\n"
        "    sim.send('box/task', {})\n"
        "    sim.run_until_idle()\n"
        "scenario = jobsim.Scenario(name='box', description='one task', build=Box, play=play)\n"
    )
    return path


WHO = f"jobsim plugin 'raising' ({__name__}.Raising)"


@pytest.mark.parametrize("hook", ["jobsim_adapt", "jobsim_profiles", "jobsim_install"])
def test_a_hook_that_raises_is_a_plugin_error_naming_the_plugin_and_chained(registered, hook):
    registered(Raising(hook), name="raising")
    with pytest.raises(PluginError) as info, jobsim.Simulation(Box()):
        pass
    assert str(info.value) == (
        f"{WHO}: {hook} raised RuntimeError: boom in {hook}; fix the plugin or report it "
        "to its authors (the original error, with its traceback, is chained to this one)"
    )
    assert isinstance(info.value.__cause__, RuntimeError)


def test_a_record_kinds_hook_that_raises_is_named_by_the_timeline(registered):
    registered(Raising("jobsim_record_kinds"), name="raising")
    expected = "^" + re.escape(f"{WHO}: jobsim_record_kinds raised RuntimeError: boom in")
    with jobsim.Simulation(Box()) as sim, pytest.raises(PluginError, match=expected):
        sim.timeline()


def test_a_jobsim_error_a_hook_raises_passes_as_raised(registered):
    error = jobsim.InvalidArgument("the box is malformed: give it a lid")
    registered(Raising("jobsim_adapt", error), name="raising")
    with pytest.raises(jobsim.InvalidArgument) as info:
        jobsim.Simulation(Box())
    assert info.value is error


def test_the_cli_says_a_hook_that_raises_in_one_line_with_exit_2(registered, tmp_path, capsys, monkeypatch):
    registered(Raising("jobsim_adapt"), name="raising")
    assert main(["compare", str(_box_scenario(tmp_path / "box_scenario.py")), "--profiles", "inngest"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"jobsim: error: {WHO}: jobsim_adapt raised RuntimeError: boom in jobsim_adapt;")
    assert err.count("\n") == 1 and "Traceback" not in err


class Misspelt:
    @hookimpl
    def jobsim_instal(self, sim):
        pass


def test_a_misspelt_hook_is_refused_at_registration_with_the_hook_meant():
    plugin = Misspelt()
    with pytest.raises(PluginError) as info:
        hooks.register(plugin, name="misspelt")
    assert str(info.value) == (
        f"jobsim plugin 'misspelt' ({__name__}.Misspelt) implements jobsim_instal (did you mean "
        "jobsim_install?), which jobsim has no hook for: rename it (jobsim.hooks.JobsimSpec lists the hooks)"
    )
    assert not _plugins.manager().is_registered(plugin)  # nothing of it stays


def test_a_hook_with_arguments_the_spec_lacks_is_one_line_naming_the_plugin():
    class BadArgs:
        @hookimpl
        def jobsim_crash_worker(self, sim, when, function):
            return None

    with pytest.raises(PluginError) as info:
        hooks.register(BadArgs(), name="bad-args")
    message = str(info.value)
    assert message.startswith("jobsim plugin 'bad-args' (") and "\n" not in message
    assert "{'when'}" in message and message.endswith("; fix the plugin")


def test_every_installed_plugin_registers_and_simulates():
    app = jobsim.App("a")
    app.function("f", on="go")(lambda ctx: None)
    with jobsim.Simulation(app) as sim:
        sim.send("go")
        sim.run_until_idle()
    installed = {ep.name for ep in importlib.metadata.entry_points(group="jobsim")}
    assert installed <= set(_plugins.plugin_names()) | {n for n, _ in _plugins.manager().list_name_plugin()}


class Profiled:
    def __init__(self, *profiles: Any) -> None:
        self.profiles = list(profiles)

    @hookimpl
    def jobsim_profiles(self):
        return self.profiles


def test_a_plugin_profile_named_as_a_builtin_is_refused_naming_the_plugin(registered):
    registered(Profiled(dataclasses.replace(INNGEST, description="mine")), name="clash")
    with pytest.raises(PluginError) as info:
        jobsim.profile("inngest")
    assert str(info.value) == (
        f"jobsim plugin 'clash' ({__name__}.Profiled) gives a profile named 'inngest', the name "
        "of a built-in jobsim profile, which a plugin's profile cannot replace: give it a name of its own "
        "(Profile(name=...)), and name that in Adapted(profile=...)"
    )


def test_two_plugins_giving_one_profile_name_are_refused_naming_both(registered):
    registered(Profiled(dataclasses.replace(INNGEST, name="acme")), name="one")
    registered(Profiled(dataclasses.replace(INNGEST, name="acme")), name="two")
    with pytest.raises(PluginError) as info:
        jobsim.Simulation(Box())
    assert str(info.value) == (
        f"jobsim plugin 'two' ({__name__}.Profiled) and jobsim plugin 'one' "
        f"({__name__}.Profiled) both give a profile named 'acme'; a profile name must be one "
        "plugin's: rename the profile of one of them, or uninstall one of the plugins"
    )


def test_a_plugin_may_give_a_builtin_profile_object_itself(registered):
    registered(Profiled(INNGEST), name="same")
    assert jobsim.profile("inngest") is INNGEST


def test_registering_a_plugin_twice_says_it_is_registered(registered):
    plugin = registered(Raising("none"), name="once")
    with pytest.raises(PluginError) as info:
        hooks.register(plugin, name="again")
    assert str(info.value) == (
        f"jobsim plugin 'once' ({__name__}.Raising) is already registered by hand: do not "
        "register it again (as 'again'); register it once, and unregister it when done (jobsim.hooks.unregister, "
        "in a finally or a fixture's teardown)"
    )
    other = Raising("none")
    with pytest.raises(PluginError, match=r"^a jobsim plugin named 'once' is already registered by hand"):
        hooks.register(other, name="once")
    assert not _plugins.manager().is_registered(other)


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """``installed(name, entry)``: a distribution ``name`` whose ``jobsim`` entry point is ``entry``, found on
    ``sys.path`` (``tmp_path``) by a fresh plugin manager; all undone after the test."""

    def install(name: str, entry: str) -> Path:
        dist = tmp_path / f"{name.replace('-', '_')}-1.0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (dist / "entry_points.txt").write_text(f"[jobsim]\n{entry}\n")
        return tmp_path

    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    monkeypatch.setattr(_plugins, "_manager", None)
    yield install
    monkeypatch.setattr(_plugins, "_manager", None)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    sys.modules.pop("jobsim_trial40_box", None)
    importlib.invalidate_caches()


def test_registering_an_installed_plugin_by_hand_says_it_is_loaded_from_its_entry_point(installed):
    folder = installed("jobsim-trial40-box", "trial40box = jobsim_trial40_box")
    (folder / "jobsim_trial40_box.py").write_text(
        "from jobsim.hooks import hookimpl\n@hookimpl\ndef jobsim_record_kinds():\n    return {}\n"
    )
    import jobsim_trial40_box

    with pytest.raises(PluginError) as info:
        hooks.register(jobsim_trial40_box, name="trial40box")
    assert str(info.value) == (
        "jobsim plugin 'trial40box' (jobsim_trial40_box) is already registered from its entry point "
        "(jobsim-trial40-box is installed): do not register it again; jobsim loads installed plugins itself, "
        "and jobsim.hooks.register is for one that is not"
    )


def test_a_third_party_plugin_that_fails_to_import_is_not_sent_to_a_jobsim_checkout(installed):
    installed("jobsim-trial40-gone", "trial40gone = jobsim_trial40_gone_missing.plugin")
    with pytest.raises(PluginError) as info:
        _plugins.manager()
    assert str(info.value).endswith(
        "Fix its installation (reinstall jobsim-trial40-gone from where it came) or pip uninstall "
        "jobsim-trial40-gone."
    )


def test_a_bundled_plugin_that_fails_to_import_is_sent_to_a_jobsim_checkout():
    assert _plugins._checkout_hint("celery", "jobsim-celery") == (
        ", e.g. pip install -e plugins/jobsim-celery in a jobsim checkout"
    )
    assert _plugins._checkout_hint("tinyq", "jobsim-tinyq") == ""


class Wrong:
    def __init__(self, adapted: Any = None, profiles: Any = None) -> None:
        self.adapted, self.profiles = adapted, profiles

    @hookimpl
    def jobsim_adapt(self, sim, target):
        return self.adapted if isinstance(target, Box) else None

    @hookimpl
    def jobsim_profiles(self):
        return self.profiles


WRONG = f"jobsim plugin 'wrong' ({__name__}.Wrong)"


@pytest.mark.parametrize(("answers", "message"), [
    ({"adapted": {"backend": "box"}}, f"{WRONG} answered jobsim_adapt with {{'backend': 'box'}}; it must return "
                                      "jobsim.hooks.Adapted for a target it takes, else None"),
    ({"profiles": INNGEST}, f"{WRONG}: jobsim_profiles gave the jobsim.Profile 'inngest' itself; it must give a list "
                            "of jobsim.Profile objects ([INNGEST], not INNGEST)"),
    ({"profiles": 3}, f"{WRONG}: jobsim_profiles gave 3; it must give a list of jobsim.Profile objects"),
    ({"profiles": [INNGEST, None]}, f"{WRONG}: jobsim_profiles gave None among its profiles; it must give a list of "
                                    "jobsim.Profile objects"),
])  # fmt: skip
def test_a_wrong_answer_names_the_plugin(registered, answers, message):
    registered(Wrong(**answers), name="wrong")
    with pytest.raises(PluginError) as info:
        jobsim.Simulation(Box())
    assert str(info.value) == message


def test_a_wrong_answer_with_a_long_repr_is_clipped(registered):
    registered(Wrong(adapted={"backend": "x" * 2000}), name="wrong")
    with pytest.raises(PluginError) as info:
        jobsim.Simulation(Box())
    assert len(str(info.value)) < 400 and "(2,015 characters)" in str(info.value)


@pytest.mark.parametrize("backend", [None, "", 3])
def test_adapted_needs_a_backend_name(backend):
    with pytest.raises(TypeError, match=r"^Adapted\(backend=.*\): backend must be a non-empty str"):
        Adapted(backend=backend, functions=[])


def test_adapted_without_a_backend_name_is_named_by_plugin(registered):
    class NoBackend:
        @hookimpl
        def jobsim_adapt(self, sim, target):
            return Adapted(backend=None, functions=[]) if isinstance(target, Box) else None

    registered(NoBackend(), name="no-backend")
    with pytest.raises(PluginError, match=r"^jobsim plugin 'no-backend' \(.*\): jobsim_adapt raised TypeError: "
                                          r"Adapted\(backend=None\)"):  # fmt: skip
        jobsim.Simulation(Box())


def test_the_guarded_hook_keeps_what_jobsim_reads_on_the_function(registered):
    def install(sim):
        pass

    install._jobsim_hold = "kept"  # type: ignore[attr-defined]  # guard_hooks's hold, read on the hookimpl
    plugin = type("HoldPlugin", (), {"jobsim_install": staticmethod(hookimpl(install))})()
    registered(plugin, name="hold")
    impl = next(i for i in _plugins.manager().hook.jobsim_install.get_hookimpls() if i.plugin is plugin)
    assert impl.function is not install and impl.function._jobsim_hold == "kept"
