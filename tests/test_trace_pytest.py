"""``--jobsim-trace-dir``: every failing test's trace on disk, named in its report section."""

from __future__ import annotations

import pytest
from _reportsection import section

import jobsim
from jobsim import _plugins
from jobsim._started import Started  # imported here: pytester's in-process runs drop modules they imported

pytest_plugins = ["pytester"]

APP = """
import pytest
import jobsim

app = jobsim.App("t")

@app.function("hello", on="hello")
def hello(ctx):
    return ctx.step.run("greet", lambda: "hi " + ctx.event.data.get("who", "you"))

@pytest.fixture
def jobsim_app():
    return app
"""

TESTS = """
import pytest

def test_passes(jobsim):
    jobsim.send("hello")
    jobsim.advance("1s")

@pytest.mark.parametrize("who", ["ada@corp.io"])
def test_fails(jobsim, who):
    jobsim.send("hello", {"who": who})
    jobsim.advance("1s")
    assert jobsim.runs("hello")[0].output == "bye"
"""



def test_a_failing_test_saves_its_trace_and_the_section_names_it(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(test_x=TESTS)
    result = pytester.runpytest("--jobsim-trace-dir=traces")
    result.assert_outcomes(passed=1, failed=1)
    name = "test_x.py--test_fails-ada-corp.io-75fffa51e0d7.jobsim.jsonl"  # changed to fit: the id's hash added
    result.stdout.fnmatch_lines([
        "*- jobsim -*",
        "seed 0 · reproduce with:",
        "    pytest 'test_x.py::test_fails[ada@corp.io]' --jobsim-seed=0",
        f"trace saved to traces/{name}",
        f"    replay it: jobsim replay traces/{name} --app conftest.py:app",
        "",
        "jobsim timeline · UTC · seed 0 · profile inngest",
    ])  # fmt: skip
    saved = sorted(p.name for p in (pytester.path / "traces").iterdir())
    assert saved == [name]  # the passing test saved nothing
    trace = jobsim.Trace.load(pytester.path / "traces" / name)
    assert [r.kind for r in trace.of("event", "run.start", "run.end")] == ["event", "run.start", "run.end"]
    assert trace.records[0].data["data"]["who"] != "ada@corp.io"  # redacted, as every saved trace
    assert trace.header["seed"] == 0 and trace.complete


def test_without_the_option_nothing_is_saved(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(test_x=TESTS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.no_fnmatch_line("trace saved to*")
    assert not (pytester.path / "traces").exists()


def test_a_trace_that_cannot_be_saved_is_reported_not_raised(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(test_x=TESTS)
    name = "test_x.py--test_fails-ada-corp.io-75fffa51e0d7.jobsim.jsonl"
    (pytester.path / "traces" / name).mkdir(parents=True)  # a folder where the trace file goes
    result = pytester.runpytest("--jobsim-trace-dir=traces")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([f"trace not saved to traces/{name}: TraceError: *: cannot write it: Is a directory"])


def test_long_test_names_are_shortened_with_a_digest() -> None:
    from jobsim._testreport import trace_name

    name = trace_name("tests/test_x.py::test_y[" + "a" * 300 + "]")
    assert len(name) == 100 + 1 + 12 + len(".jobsim.jsonl") and name.endswith(".jobsim.jsonl")
    assert trace_name("tests/test_x.py::TestA::test_b") == "tests-test_x.py--TestA--test_b.jobsim.jsonl"
    assert trace_name("tests/test_x.py::TestA::test_b[1-x/y]").startswith("tests-test_x.py--TestA--test_b-1-x-y-")


def test_ids_that_clean_up_alike_get_different_files() -> None:
    from jobsim._testreport import trace_name

    assert trace_name("t.py::test_fails[a/b]") != trace_name("t.py::test_fails[a-b]")


def test_ids_differing_only_in_case_get_different_files_on_case_blind_file_systems() -> None:
    from jobsim._testreport import trace_name

    ids = ("t.py::test_y", "t.py::test_Y", "t.py::TestA::test_Y", "t.py::testa::test_y")
    names = [trace_name(nodeid) for nodeid in ids]
    assert len({name.lower() for name in names}) == 4, names
    assert names[0] == "t.py--test_y.jobsim.jsonl"  # all lower case: no digest needed


def test_folders_with_dashes_never_share_a_file_with_flattened_paths() -> None:
    """``a/test_b/test_c.py`` and ``a/test_b-test_c.py`` both flatten to ``a-test_b-test_c.py``."""
    from jobsim._testreport import trace_name

    assert trace_name("a/test_b/test_c.py::test_d") == "a-test_b-test_c.py--test_d.jobsim.jsonl"
    assert trace_name("a/test_b-test_c.py::test_d").startswith("a-test_b-test_c.py--test_d-")


def test_a_test_that_changes_folder_saves_into_the_folder_given_on_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(
        test_x="""
        def test_fails_elsewhere(jobsim, monkeypatch, tmp_path):
            monkeypatch.chdir(tmp_path)
            jobsim.send("hello")
            assert False
    """
    )
    result = pytester.runpytest("--jobsim-trace-dir=traces")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["trace saved to traces/test_x.py--test_fails_elsewhere.jobsim.jsonl"])
    assert [p.name for p in (pytester.path / "traces").iterdir()] == ["test_x.py--test_fails_elsewhere.jobsim.jsonl"]


# -- simulations a test started itself, without the `jobsim` fixture ---------------------------
OWN = """
import gc
import weakref

import pytest
import jobsim
from conftest import app

def scenario(seed, who):
    with jobsim.Simulation(app, seed=seed) as sim:
        sim.send("hello", {"who": who})
        sim.advance("1s")
    return [r.output for r in sim.runs()]

def test_helper_drops_it():
    assert scenario(3, "ada@corp.io") == ["hi bob"]

def test_several():
    first = jobsim.Simulation(app, seed=1)
    with first:
        first.send("hello", {"who": "one"})
        first.advance("1s")
    scenario(9, "dropped")  # let go, and not the last one started: not saved
    second = jobsim.Simulation(app, seed=2).start()
    second.send("hello", {"who": "two"})
    second.advance("2s")
    second.close()
    assert False

def test_passes():
    assert scenario(4, "bob") == ["hi bob"]
"""

OWN_SECTION_HELPER = [
    "trace saved to traces/test_own.py--test_helper_drops_it.jobsim.jsonl",
    "    replay it: jobsim replay traces/test_own.py--test_helper_drops_it.jobsim.jsonl --app conftest.py:app",
    "    simulation: <Simulation at 2025-01-01T00:00:01.000Z seed=3 profile='inngest' functions=['hello'] closed>",
]
OWN_SECTION_SEVERAL = [
    "trace saved to traces/test_own.py--test_several.jobsim.jsonl",
    "    replay it: jobsim replay traces/test_own.py--test_several.jobsim.jsonl --app conftest.py:app",
    "    simulation: <Simulation at 2025-01-01T00:00:01.000Z seed=1 profile='inngest' functions=['hello'] closed>",
    "trace saved to traces/test_own.py--test_several.2.jobsim.jsonl",
    "    replay it: jobsim replay traces/test_own.py--test_several.2.jobsim.jsonl --app conftest.py:app",
    "    simulation: <Simulation at 2025-01-01T00:00:02.000Z seed=2 profile='inngest' functions=['hello'] closed>",
]


def test_a_failing_test_saves_the_simulations_it_started_itself(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(test_own=OWN)
    result = pytester.runpytest("--jobsim-trace-dir=traces")
    result.assert_outcomes(passed=1, failed=2)
    assert section(result, "test_helper_drops_it") == OWN_SECTION_HELPER
    assert section(result, "test_several") == OWN_SECTION_SEVERAL
    assert result.stdout.str().count("- jobsim -") == 2  # one section per failing test
    traces = pytester.path / "traces"
    assert sorted(p.name for p in traces.iterdir()) == [
        "test_own.py--test_helper_drops_it.jobsim.jsonl",
        "test_own.py--test_several.2.jobsim.jsonl",
        "test_own.py--test_several.jobsim.jsonl",
    ]
    helper = jobsim.Trace.load(traces / "test_own.py--test_helper_drops_it.jobsim.jsonl")
    assert (helper.header["seed"], helper.complete) == (3, True)
    assert [r.kind for r in helper.of("event", "run.start", "run.end")] == ["event", "run.start", "run.end"]
    assert helper.of("event")[0].data["data"]["who"] != "ada@corp.io"  # redacted, as every saved trace
    first, second = (jobsim.Trace.load(traces / f"test_own.py--test_several{n}.jobsim.jsonl") for n in ("", ".2"))
    assert (first.header["seed"], second.header["seed"]) == (1, 2)
    assert [r.at for r in second.of("advance")] == [1_735_689_600_000_000_000]
    assert second.of("advance")[0].data["until"] == 1_735_689_602_000_000_000  # second.advance("2s")


def test_without_the_option_a_test_s_own_simulations_are_not_watched(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(test_own=OWN)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    assert "- jobsim -" not in result.stdout.str()
    assert not (pytester.path / "traces").exists()


def test_the_fixtures_simulation_keeps_the_plain_name_and_the_tests_own_are_numbered(
        pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP + """
other = jobsim.App("other")

@other.function("bye", on="bye")
def bye(ctx):
    return "bye"

@pytest.fixture
def own_sim():
    with jobsim.Simulation(other, seed=8) as sim:  # started in the test's setup, by a fixture of its own
        yield sim
""")
    pytester.makepyfile(
        test_both="""
        def test_both(jobsim, own_sim):
            own_sim.send("bye")
            own_sim.advance("1s")
            jobsim.send("hello")
            assert False
        """
    )
    result = pytester.runpytest("--jobsim-trace-dir=traces")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- jobsim -*",
            "seed 0 · reproduce with:",
            "    pytest 'test_both.py::test_both' --jobsim-seed=0",
            "trace saved to traces/test_both.py--test_both.jobsim.jsonl",
            "    replay it: jobsim replay traces/test_both.py--test_both.jobsim.jsonl --app conftest.py:app",
            "trace saved to traces/test_both.py--test_both.2.jobsim.jsonl",
            "    replay it: jobsim replay traces/test_both.py--test_both.2.jobsim.jsonl --app conftest.py:other",
            "    simulation: <Simulation at 2025-01-01T00:00:01.000Z seed=8 profile='inngest' functions=['bye'] "
            "running>",
            "",
            "jobsim timeline · UTC · seed 0 · profile inngest",
        ],
        consecutive=True,
    )
    traces = pytester.path / "traces"
    fixture, own = (jobsim.Trace.load(traces / f"test_both.py--test_both{n}.jobsim.jsonl") for n in ("", ".2"))
    assert (fixture.header["functions"], own.header["functions"]) == (["hello"], ["bye"])
    assert [r.data["name"] for r in own.of("event")] == ["bye"]


def test_nothing_is_kept_alive_and_the_watcher_leaves_with_the_session(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(
        test_alive="""
        import gc
        import weakref
        import jobsim
        from conftest import app

        refs = []

        def test_starts_one():
            with jobsim.Simulation(app) as sim:
                refs.append(weakref.ref(sim))

        def test_then_it_is_gone():
            gc.collect()
            assert [ref() for ref in refs] == [None]
        """
    )
    watchers = _plugins.registered(Started)  # this session's own
    result = pytester.runpytest("--jobsim-trace-dir=traces", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    assert _plugins.registered(Started) == watchers


def test_a_test_failing_at_teardown_saves_its_own_simulations_once(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(
        test_teardown="""
        import pytest
        import jobsim
        from conftest import app

        @pytest.fixture
        def breaks_at_teardown():
            yield
            raise RuntimeError("teardown broke")

        def test_x(breaks_at_teardown):
            with jobsim.Simulation(app, seed=6) as sim:
                sim.send("hello")
            assert False
        """
    )
    result = pytester.runpytest("--jobsim-trace-dir=traces")
    result.assert_outcomes(failed=1, errors=1)
    assert result.stdout.str().count("trace saved to traces/test_teardown.py--test_x.jobsim.jsonl") == 1
    assert [p.name for p in (pytester.path / "traces").iterdir()] == ["test_teardown.py--test_x.jobsim.jsonl"]


def test_the_watcher_lets_go_of_the_last_simulation_when_the_test_ends() -> None:
    import gc
    import weakref

    started = Started()
    started.begin()
    app = jobsim.App("w")
    app.function("f", on="f")(lambda ctx: None)
    sim = jobsim.Simulation(app)  # not started: the hook is called by hand
    ref = weakref.ref(sim)
    started.jobsim_install(sim)
    del sim
    gc.collect()
    assert started.simulations() == [ref()] and ref() is not None  # the last one started is kept while the test runs
    started.end()
    gc.collect()
    assert ref() is None and started.simulations() == []


def test_a_failing_hypothesis_test_saves_the_simulation_of_the_example_it_reports(pytester: pytest.Pytester) -> None:
    pytest.importorskip("hypothesis")
    pytester.makeconftest(APP)
    pytester.makepyfile(
        test_prop="""
        import jobsim
        from hypothesis import given, settings, strategies as st
        from conftest import app

        @settings(derandomize=True, database=None)
        @given(st.integers(0, 1000))
        def test_prop(n):
            with jobsim.Simulation(app, seed=n) as sim:
                sim.send("hello", {"who": "x" * n})
                sim.advance("1s")
            assert len(sim.runs("hello")[0].output) < 53  # 'hi ' and 50 x: the minimal failing example
        """
    )
    result = pytester.runpytest("--jobsim-trace-dir=traces")
    result.assert_outcomes(failed=1)
    assert section(result, "test_prop") == [
        "trace saved to traces/test_prop.py--test_prop.jobsim.jsonl",
        "    replay it: jobsim replay traces/test_prop.py--test_prop.jobsim.jsonl --app conftest.py:app",
        "    simulation: <Simulation at 2025-01-01T00:00:01.000Z seed=50 profile='inngest' functions=['hello'] closed>",
    ]
    assert [p.name for p in (pytester.path / "traces").iterdir()] == ["test_prop.py--test_prop.jobsim.jsonl"]
    assert jobsim.Trace.load(pytester.path / "traces" / "test_prop.py--test_prop.jobsim.jsonl").header["seed"] == 50


def test_the_replay_app_of_a_factory_built_app_is_found_without_running_or_trusting_other_modules(
        tmp_path, monkeypatch) -> None:
    """The search of the loaded modules for an app a factory built reads each plain module's own namespace: a lazily
    imported module is not run by it (it was: ``getattr(module, '__file__')`` loads one), and a module-like object
    that raises on any attribute does not break the failing test's report."""
    import importlib.util
    import sys

    from jobsim._testreport import app_spec

    (tmp_path / "r28e_factory.py").write_text(
        "import jobsim\n\ndef make():\n    app = jobsim.App('hooks')\n\n"
        "    @app.function('deliver', on='go')\n    def deliver(ctx):\n        return 1\n\n    return app\n")
    (tmp_path / "r28e_jobs.py").write_text("from r28e_factory import make\n\napp = make()\n")
    (tmp_path / "r28e_lazy.py").write_text("import sys\n\nsys.modules['r28e_jobs'].lazy_ran = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("r28e_factory", "r28e_jobs", "r28e_lazy", "r28e_boom"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import r28e_jobs

    spec = importlib.util.find_spec("r28e_lazy")
    assert spec is not None and spec.loader is not None
    spec.loader = importlib.util.LazyLoader(spec.loader)
    lazy = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "r28e_lazy", lazy)
    spec.loader.exec_module(lazy)

    class Boom:
        def __getattr__(self, name):
            raise RuntimeError(f"no {name} here")

    monkeypatch.setitem(sys.modules, "r28e_boom", Boom())
    sim = jobsim.Simulation(r28e_jobs.app, start="2025-03-01T09:00:00Z")
    try:
        assert app_spec(sim, tmp_path) == "r28e_jobs.py:app"  # not the factory's module, which holds no app
    finally:
        sim.close()
    assert not hasattr(r28e_jobs, "lazy_ran")  # the lazy module was not run by the search
