"""``--jobsim-trace-dir``: every failing test's trace on disk, named in its report section."""

from __future__ import annotations

import importlib.util

import pytest

import jobsim

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


@pytest.fixture(autouse=True)
def _quiet_inner_runs(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    options = ["-p", "no:benchmark"]
    if importlib.util.find_spec("pytest_asyncio") is not None:
        options += ["-o", "asyncio_default_fixture_loop_scope=function"]
    monkeypatch.setenv("PYTEST_ADDOPTS", " ".join(options))


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
        f"    replay it: jobsim replay traces/{name} --app MODULE:APP",
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
    (pytester.path / "blocked").write_text("a file, not a folder")
    result = pytester.runpytest("--jobsim-trace-dir=blocked")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["trace not saved to blocked/test_x.py--test_fails-ada-corp.io-*.jobsim.jsonl: *"])


def test_long_test_names_are_shortened_with_a_digest() -> None:
    from jobsim.pytest_plugin import _trace_name

    name = _trace_name("tests/test_x.py::test_y[" + "a" * 300 + "]")
    assert len(name) == 100 + 1 + 12 + len(".jobsim.jsonl") and name.endswith(".jobsim.jsonl")
    assert _trace_name("tests/test_x.py::TestA::test_b") == "tests-test_x.py--TestA--test_b.jobsim.jsonl"
    assert _trace_name("tests/test_x.py::TestA::test_b[1-x/y]").startswith("tests-test_x.py--TestA--test_b-1-x-y-")


def test_ids_that_clean_up_alike_get_different_files() -> None:
    from jobsim.pytest_plugin import _trace_name

    assert _trace_name("t.py::test_fails[a/b]") != _trace_name("t.py::test_fails[a-b]")


def test_folders_with_dashes_never_share_a_file_with_flattened_paths() -> None:
    """``a/test_b/test_c.py`` and ``a/test_b-test_c.py`` both flatten to ``a-test_b-test_c.py``."""
    from jobsim.pytest_plugin import _trace_name

    assert _trace_name("a/test_b/test_c.py::test_d") == "a-test_b-test_c.py--test_d.jobsim.jsonl"
    assert _trace_name("a/test_b-test_c.py::test_d").startswith("a-test_b-test_c.py--test_d-")


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
