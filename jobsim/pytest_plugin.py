"""jobsim's pytest plugin: the ``jobsim`` fixture, the ``jobsim`` marker, ``--jobsim-*`` options.

Registered by the ``pytest11`` entry point, so every pytest run in an environment
with jobsim installed loads this module. It holds hooks and fixtures only; the work
is done by :class:`jobsim.Simulation`. jobsim's own modules are imported inside the
hooks and fixtures that need them (as Hypothesis's plugin does), so loading the
plugin costs no more than what ``jobsim/__init__.py`` itself imports.
What needs no pytest is kept apart: the options it accepts (``_testoptions``), what it
writes for people (``_testreport``) and what it undoes between tests (``_testisolation``).

A test that used the ``jobsim`` fixture and failed gets a report section named
``jobsim``: the seed, one command line that reproduces the run, and the timeline
of what happened in virtual time. With ``--jobsim-trace-dir=DIR`` its trace is
also saved there, and the section names the file; so are the traces of the
simulations a failing test started itself, fixture or not (``jobsim/_started.py``).
A simulation a test started and left running is closed when the test ends, with a
warning: it would hold its apps, and fail every later test that simulates them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from jobsim import Simulation
    from jobsim._started import Started



@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Settings:
    """The session's jobsim options, read and validated once in ``pytest_configure``."""

    seed: int | None
    timeline: bool
    defaults: dict[str, str]
    trace_dir: str | None = None
    """``--jobsim-trace-dir``: where failing tests' traces are saved."""
    """Simulation keyword arguments from the ini file: ``start``, ``tz``, ``profile``."""


@dataclasses.dataclass(slots=True, kw_only=True)
class _Run:
    """What the plugin remembers about one test's simulation (in ``item.stash``)."""

    sim: Simulation
    allow_unmatched_http: bool
    failed: bool = False


_SETTINGS = pytest.StashKey[_Settings]()
_RUN = pytest.StashKey[_Run]()
_STARTED: pytest.StashKey[Started] = pytest.StashKey()
"""Notes the simulations each test starts itself: to close those left running, and for ``--jobsim-trace-dir``."""
_OUTER = pytest.StashKey[contextlib.ExitStack]()
"""The watchers of the sessions this one runs inside, set aside until it ends."""
_SAVED = pytest.StashKey[bool]()
"""The test's own simulations were saved (at its first failing phase)."""
_MARKED = pytest.StashKey[bool]()
"""The test has its own ``jobsim`` marker but does not name the fixture; True once the fixture ran anyway."""
_SHADOWED = pytest.StashKey[str]()
"""The test has its own ``jobsim`` marker and gets a ``jobsim`` fixture of the project's that never asks for
the plugin's: where that fixture is defined (the marker configures nothing)."""


ENTRY_POINT = "jobsim"
"""The plugin's name as its ``pytest11`` entry point registers it (``-p no:jobsim``)."""


# -- hooks ------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    from jobsim._testoptions import seed_option

    # Loaded by its entry point (as "jobsim"), the module listed again in a conftest's `pytest_plugins` was a
    # second registration of the same module, which pytest refused with pluggy's ValueError and a dump of every
    # plugin: the name is blocked, so that line finds it loaded already.
    # Loaded first by its module's name (`-p jobsim.pytest_plugin`, which pytest reads before it loads the entry
    # points), the entry point then registered it a second time: its name is blocked instead.
    module = sys.modules[__name__]
    name = pluginmanager.get_name(module)
    if name != __name__ and not pluginmanager.is_blocked(__name__):
        pluginmanager.set_blocked(__name__)
    elif name == __name__ and pluginmanager.get_plugin(ENTRY_POINT) is None and not pluginmanager.is_blocked(
        ENTRY_POINT
    ):
        pluginmanager.set_blocked(ENTRY_POINT)

    group = parser.getgroup("jobsim", "jobsim: background jobs in virtual time")
    group.addoption(
        "--jobsim-seed", type=seed_option, metavar="N", default=None,
        help="seed every simulation of the `jobsim` fixture with N, overriding markers "
             "(default: the marker's seed, else 0); a failing test prints the line to rerun it",
    )  # fmt: skip
    group.addoption(
        "--jobsim-timeline", action="store_true", default=False,
        help="print the virtual-time timeline of passing tests too (failing tests always show it)",
    )  # fmt: skip
    group.addoption(
        "--jobsim-trace-dir", metavar="DIR", default=None,
        help="save the traces of every failing test's simulations (the `jobsim` fixture's, and those the "
             "test started itself) as DIR/<test>.jobsim.jsonl, the second as DIR/<test>.2.jobsim.jsonl, ... "
             "(redacted; replay them with `jobsim replay`)",
    )  # fmt: skip
    parser.addini("jobsim_start", "start instant of `jobsim` simulations (ISO 8601)")
    parser.addini("jobsim_tz", "time zone of `jobsim` simulations: naive times, timelines")
    parser.addini("jobsim_profile", "semantics profile of `jobsim` simulations (default: inngest)")


def pytest_configure(config: pytest.Config) -> None:
    _check_pytest(pytest.__version__)
    from jobsim._testoptions import MARKER

    config.addinivalue_line("markers", MARKER)
    config.stash[_SETTINGS] = _Settings(
        seed=config.getoption("jobsim_seed"),
        timeline=config.getoption("jobsim_timeline"),
        defaults=_ini_defaults(config),
        trace_dir=_trace_dir(config),
    )
    _watch_simulations(config)


def _check_pytest(version: str) -> None:
    """Refuse a pytest before 8 up front (pytest 7 lacked ``Config.get_verbosity``: a failing test's report
    section was an INTERNALERROR), naming the upgrade and how to run without the plugin."""
    major = version.split(".", 1)[0]
    if major.isdigit() and int(major) < 8:
        raise pytest.UsageError(f"jobsim's pytest plugin needs pytest 8 or later, and this is pytest {version}: "
                                "pip install -U 'pytest>=8' (or run without the plugin: pytest -p no:jobsim)")


def pytest_unconfigure(config: pytest.Config) -> None:
    started = config.stash.get(_STARTED, None)
    if started is not None:
        from jobsim import _plugins

        _plugins.unregister(started)
        del config.stash[_STARTED]
        config.stash[_OUTER].close()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Note a ``jobsim`` marker on a test that does not name the fixture: it may configure nothing.

    Only markers given on the test itself (or its ``pytest.param``): one on a class or
    module rightly covers tests of it that build no simulation. The warning waits for
    the teardown (:func:`_warn_unused_marker`): a test may still get the fixture with
    ``request.getfixturevalue("jobsim")``, and then the marker does configure it.
    """
    if not any(mark.name == "jobsim" for mark in item.own_markers):
        return
    if "jobsim" not in getattr(item, "fixturenames", ("jobsim",)):
        item.stash[_MARKED] = False
        return
    shadowing = _shadowing_fixture(item)
    if shadowing:
        item.stash[_SHADOWED] = shadowing


def _shadowing_fixture(item: pytest.Item) -> str:
    """Where the ``jobsim`` fixture the test gets is defined, when it is the project's own and never reaches
    the plugin's (a fixture overriding it that does not request it); else ``""``."""
    import inspect

    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {}).get("jobsim") or ()
    for definition in reversed(definitions):
        func = getattr(definition, "func", None)
        if getattr(func, "__module__", None) == __name__:
            return ""  # the chain reaches the plugin's own fixture
        if "jobsim" not in getattr(definition, "argnames", ()):
            try:
                file, line = inspect.getsourcefile(func) or "?", inspect.getsourcelines(func)[1]  # type: ignore[arg-type]
            except (OSError, TypeError):
                return "a fixture of your own"
            from ._testreport import shown_path

            return f"{shown_path(file, item.config.invocation_params.dir)}:{line}"
    return ""


def _warn_unused_marker(item: pytest.Item) -> None:
    """At teardown: the marker noted at setup configured nothing if the fixture never ran.

    Warned in the test's teardown rather than at collection: under ``-W error`` the
    warning is then this test's error, where at collection it would stop the whole
    session (INTERNALERROR).
    """
    __tracebackhide__ = True  # under -W error: the message, not this hook's code
    shadowing = item.stash.get(_SHADOWED, "")
    if shadowing:
        del item.stash[_SHADOWED]
        item.warn(pytest.PytestWarning(
            f"jobsim: @pytest.mark.jobsim on {item.name} does nothing: the `jobsim` fixture this test gets is the "
            f"one defined at {shadowing}, which does not request jobsim's own, and the marker only configures "
            "jobsim's. Rename that fixture, or build it on jobsim's: `def jobsim(jobsim): ...` receives the "
            "plugin's simulation, marker applied"
        ))  # fmt: skip
    if item.stash.get(_MARKED, True):
        return
    del item.stash[_MARKED]
    from jobsim._safe import shown
    from jobsim._testoptions import SIMULATION_OPTIONS

    marked: dict[str, Any] = {}
    for mark in item.own_markers:  # unchecked: a marker that configures nothing fails nothing either
        if mark.name == "jobsim":
            for key, value in mark.kwargs.items():
                marked.setdefault(key, value)
    options = "".join(f", {key}={shown(marked[key])}" for key in SIMULATION_OPTIONS if key in marked)
    options = options or ", seed=3"
    if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):  # it draws its simulations, per example
        builds = f"the simulations a @given test draws take them as arguments: js.simulations(app{options})"
    else:
        builds = f"a Simulation the test builds itself takes its options as arguments: jobsim.Simulation(app{options})"
    item.warn(pytest.PytestWarning(
        f"jobsim: @pytest.mark.jobsim on {item.name} does nothing: the test does not use the `jobsim` "
        f"fixture, and the marker only configures that fixture's simulation ({builds})"
    ))  # fmt: skip


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    """Note the simulations started from the test's setup to its teardown; close those it left running."""
    started = item.config.stash.get(_STARTED, None)
    if started is None:
        return (yield)
    started.begin()
    try:
        return (yield)
    finally:
        started.end()
        if _SAVED in item.stash:  # a rerun of the item (pytest-rerunfailures) saves again
            del item.stash[_SAVED]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    """After the test's fixtures are torn down: close the simulations it left running, and warn.

    Here, not at the end of the protocol: under ``-W error`` the warning is this test's
    teardown error instead of an INTERNALERROR that stops the session.
    """
    __tracebackhide__ = True
    started = item.config.stash.get(_STARTED, None)
    try:
        return (yield)
    finally:
        from ._testisolation import keep_jobsim_modules, release_unstarted

        keep_jobsim_modules(getattr(item, "fixturenames", ()))
        release_unstarted()
        try:
            if started is not None:
                _close_left_running(item, started.left_running())
        finally:
            _warn_unused_marker(item)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    """A simulation a module- or session-scoped fixture starts outlives the test: not the test's own."""
    started = request.config.stash.get(_STARTED, None)
    if started is None or fixturedef.scope == "function":
        return (yield)
    with started.outside():
        return (yield)


def _hide_jobsim_frames() -> None:
    """Give jobsim's modules (and its plugins') ``__tracebackhide__ = jobsim.errors.hide_jobsim_frames``, so that the
    traceback of a jobsim error ends at the line of the test or of job code that caused it (the message names the
    problem and the fix), while any other exception passing through keeps jobsim's frames. Set before pytest
    formats a failure, for the modules imported by then; ``--full-trace`` shows every frame."""
    import sys

    from jobsim.errors import hide_jobsim_frames

    for name, module in list(sys.modules.items()):
        if (name == "jobsim" or name in _CLIENTS or name.startswith(_HIDDEN)) and module is not None:
            names = vars(module)
            if "__tracebackhide__" not in names:
                names["__tracebackhide__"] = hide_jobsim_frames


_CLIENTS = ("httpx", "httpcore", "respx", "requests", "urllib3", "aiohttp", "aiosmtplib")
_HIDDEN = ("jobsim.", "jobsim_", *(f"{library}." for library in _CLIENTS))
"""The modules whose frames a jobsim error leaves out: jobsim's and its plugins', and those of the clients its sinks
take calls from, which the call passes through before jobsim answers it (the test's own ``httpx.get`` of a host
without a route showed some 40 lines of httpx and respx before ``UnmatchedRequest``). Other exceptions keep them."""


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, pytest.CollectReport,
                                                                          pytest.CollectReport]:
    _hide_jobsim_frames()  # a decorator at import time (a cron pattern jobsim refuses) fails the collection
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    if call.excinfo is not None:
        _hide_jobsim_frames()
    report = yield
    run = item.stash.get(_RUN, None)
    own = _save_own(item, None if run is None else run.sim) if report.failed else []
    if run is None:
        if own:  # a test without the fixture that started simulations itself
            report.sections.append(("jobsim", "\n".join(own)))
        return report
    if report.when == "teardown":
        del item.stash[_RUN]  # items live as long as the session: do not keep the simulation
    if report.failed and not run.failed:
        run.failed = True
        report.sections.append(("jobsim", _section(item, run, http=report.when != "teardown", own=own)))
    elif report.when == "call" and report.passed and item.config.stash[_SETTINGS].timeline:
        report.sections.append(("jobsim", _section(item, run)))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """With ``--jobsim-timeline``, print the passing tests' timelines (``-rP`` already does)."""
    if not config.stash[_SETTINGS].timeline or terminalreporter.hasopt("P"):
        return
    shown = [
        (report, content)
        for report in terminalreporter.stats.get("passed", ())
        if getattr(report, "when", None) == "call"
        for name, content in report.sections
        if name == "jobsim"
    ]
    if shown:
        terminalreporter.write_sep("=", "jobsim timelines")
    for report, content in shown:
        terminalreporter.write_sep("_", report.head_line or report.nodeid)
        terminalreporter.write_line(content)


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture
def jobsim_app(request: pytest.FixtureRequest) -> Any:
    """What the ``jobsim`` fixture simulates: override it in your ``conftest.py``.

    Return a ``jobsim.App``, or a list of targets::

        @pytest.fixture
        def jobsim_app():
            from myproject.jobs import app
            return app
    """
    from ._markers import APP_NAMES
    from ._testreport import NO_APP

    given = sorted({key for mark in request.node.iter_markers("jobsim") for key in mark.kwargs if key in APP_NAMES})
    if given:  # @pytest.mark.jobsim(app=app): say that the marker is not where the app goes
        pytest.fail(f"jobsim: @pytest.mark.jobsim({given[0]}=...) does not choose what to simulate (the marker "
                    f"takes Simulation's options only); instead, {NO_APP.removeprefix('jobsim: ')}", pytrace=False)
    pytest.fail(NO_APP, pytrace=False)


@pytest.fixture
def jobsim(request: pytest.FixtureRequest, jobsim_app: Any) -> Iterator[Simulation]:
    """A started :class:`jobsim.Simulation` of ``jobsim_app``, closed after the test.

    Options come from ``@pytest.mark.jobsim(start=..., tz=..., seed=..., profile=...,
    functions=[...] or exclude_functions=[...])`` (closest marker wins), then the
    ``jobsim_*`` ini options; ``--jobsim-seed`` overrides the seed. At teardown, HTTP
    requests that matched no route fail the test unless the marker says
    ``allow_unmatched_http=True``. Example::

        def test_welcome(jobsim):
            jobsim.send("user/created", {"email": "ada@example.com"})
            jobsim.advance("1h")
            assert [r.status for r in jobsim.runs("send-welcome-email")] == ["completed"]
    """
    if _MARKED in request.node.stash:  # requested with request.getfixturevalue("jobsim"): the marker is used
        request.node.stash[_MARKED] = True
    _refuse_sharing_across_examples(request.node)
    options = _marker_options(request.node)
    allow_unmatched_http = options.pop("allow_unmatched_http", False)
    if not isinstance(allow_unmatched_http, bool):
        pytest.fail(f"jobsim: @pytest.mark.jobsim(allow_unmatched_http={allow_unmatched_http!r}): "
                    "expected True or False", pytrace=False)  # fmt: skip
    sim = _start(jobsim_app, options, request.config.stash[_SETTINGS])
    sim._warn_at = _test_line(request.node)  # closed in teardown, where the caller is pytest's own code
    run = request.node.stash[_RUN] = _Run(sim=sim, allow_unmatched_http=allow_unmatched_http)
    try:
        yield sim
        if not run.failed and not allow_unmatched_http:
            _check_unmatched_http(sim)
    finally:
        if run.failed:  # the failure is the news (UnreadQueueWarning)
            sim._unread_quiet = sim._block_failed = True
        _close_at_test(sim, request.node)


# -- helpers of the hooks and fixtures ------------------------------------------------------
def redis_url_fixture(what: str) -> Any:
    """A session-scoped fixture named ``redis_url`` for a backend plugin's live tests: the URL of a
    ``jobsim.testing.redis_server`` for the whole session, or each test using it skipped, naming
    ``what`` and why, where Debian's redis-server cannot run::

        redis_url = redis_url_fixture("live RQ tests")  # in the plugin's tests/conftest.py
    """
    from .testing import ServerUnavailable, redis_server

    def redis_url() -> Iterator[str]:
        """A throwaway ``redis-server`` on 127.0.0.1 and a free port, stopped by pid afterwards."""
        try:
            with redis_server() as url:
                yield url
        except ServerUnavailable as exc:
            pytest.skip(f"{what} need Debian's redis-server: {exc}")

    return pytest.fixture(scope="session", name="redis_url")(redis_url)


def _watch_simulations(config: pytest.Config) -> None:
    """Register the note-taker of started simulations in jobsim's plugin manager (``jobsim/_started.py``)."""
    from jobsim import _plugins
    from jobsim._started import Started

    started = Started()
    outer = _plugins.registered(Started)
    _plugins.register(started, when_built=True)  # a run that never simulates loads no backend plugin
    config.stash[_STARTED] = started
    # A session run inside a test (pytester's in-process runs): its simulations are its own tests', not that test's.
    config.stash[_OUTER] = stack = contextlib.ExitStack()
    for watcher in outer:
        stack.enter_context(watcher.outside())


def _refuse_sharing_across_examples(item: pytest.Item) -> None:
    """A Hypothesis ``@given`` test would share the fixture's one simulation across its examples.

    Hypothesis's ``function_scoped_fixture`` health check catches it too, but only after
    setup and without saying what to use instead; a test that suppressed that check
    has chosen to share, and gets the fixture.
    """
    test = getattr(item, "obj", None)
    if not getattr(test, "is_hypothesis_test", False):
        return
    settings = getattr(test, "_hypothesis_internal_use_settings", None)  # what Hypothesis's own plugin reads
    if any(getattr(check, "name", "") == "function_scoped_fixture"
           for check in getattr(settings, "suppress_health_check", ())):  # fmt: skip
        return
    from jobsim._safe import shown
    from jobsim._testoptions import SIMULATION_OPTIONS

    marked = _marker_options(item)  # the marker's options carry over to the strategy, those it takes
    options = "".join(f", {key}={shown(marked[key])}" for key in SIMULATION_OPTIONS if key in marked)
    from ._testreport import PER_EXAMPLE

    pytest.fail(PER_EXAMPLE.format(test=item.name, options=options), pytrace=False)


def _close_left_running(item: pytest.Item, sims: list[Simulation]) -> None:
    """Close the simulations the test started and never closed, and say so: they would hold their apps for good.

    All are closed before the first warning, which ``-W error`` turns into an exception.
    """
    __tracebackhide__ = True
    notes = []
    for sim in sims:
        shown = repr(sim)
        # the warning below is the news; PendingWorkWarning would be a second one
        sim._undriven, sim._undriven_runs = None, []
        sim._unread_quiet = sim._block_failed = True
        try:
            sim.close()
        except Exception as error:  # closing must not break the session; the warning says what happened
            notes.append((shown, f"closing it failed ({type(error).__name__}: {error})"))
        else:
            notes.append((shown, "jobsim closed it after the test"))
    for shown, outcome in notes:
        item.warn(pytest.PytestWarning(
            f"jobsim: {item.name} never closed the simulation it started, {shown}; {outcome}. A running one keeps "
            "its apps, so every later test simulating them would fail with 'already running in another "
            "simulation'. Close it in the test: `with jobsim.Simulation(app) as sim:` or `sim.close()`."
        ))  # fmt: skip


def _ini_defaults(config: pytest.Config) -> dict[str, str]:
    """The ``jobsim_*`` ini values that are set, validated now rather than in every test."""
    from jobsim._testoptions import INI_OPTIONS

    values = {key: str(config.getini(f"jobsim_{key}") or "").strip() for key in INI_OPTIONS}
    values = {key: value for key, value in values.items() if value}
    if not values:
        return values
    from jobsim._testoptions import check_ini
    from jobsim.errors import InvalidArgument

    try:
        check_ini(values)
    except InvalidArgument as error:
        raise pytest.UsageError(f"jobsim: ini option {error}") from None
    return values


def _trace_dir(config: pytest.Config) -> str | None:
    """``--jobsim-trace-dir`` made absolute now: a test that chdirs must not move where its trace lands.

    The folder is made when the first test fails (a green run leaves none), so whether
    it can be is checked here: a path that names a file, or a folder nobody can write
    in, would otherwise show up only as a "trace not saved" line under every failure.
    """
    directory = config.getoption("jobsim_trace_dir")
    if directory is None:
        return None
    given = f"--jobsim-trace-dir={directory!r}"
    if not directory.strip():
        raise pytest.UsageError(f"jobsim: {given} is empty; give the folder to save failing tests' traces in")
    path = os.path.normpath(os.path.join(config.invocation_params.dir, os.path.expanduser(directory)))
    existing = path
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise pytest.UsageError(f"jobsim: {given}: {existing} is a file, not a folder; give a folder "
                                "(made when the first test fails)")  # fmt: skip
    try:  # tried, not asked (os.access): root may "write" in /proc or on a read-only mount, until it tries
        os.rmdir(tempfile.mkdtemp(prefix=".jobsim-check-", dir=existing))
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise pytest.UsageError(f"jobsim: {given}: cannot make a folder in {existing} ({reason}); "
                                "give a folder you can write in") from None  # fmt: skip
    return path


def _marker_options(node: pytest.Item) -> dict[str, Any]:
    """Merge the keyword arguments of every ``jobsim`` marker; the closest one wins (``jobsim/_markers.py``)."""
    from jobsim._markers import merged_options
    from jobsim._testoptions import MARKER, MARKER_OPTIONS, SELECTION_OPTIONS
    from jobsim.errors import InvalidArgument

    try:
        usage = MARKER.split(":")[0]
        return merged_options(node, usage=usage, accepted=MARKER_OPTIONS, one_choice=SELECTION_OPTIONS)
    except InvalidArgument as error:
        problem = str(error)  # failing outside the except clause: no chained traceback
    pytest.fail(problem, pytrace=False)


def _start(targets: Any, options: dict[str, Any], settings: _Settings) -> Simulation:
    """``Simulation(targets, **ini defaults | marker options | --jobsim-seed).start()``. The ini's
    ``jobsim_profile`` is left out for targets it cannot apply to (a Celery app alone runs on Celery's rules,
    ``Simulation`` refuses another profile named for it): it is the project's default for its jobsim.App
    functions, while a marker's ``profile=`` is the test's own, refused so."""
    from jobsim import JobsimError, Simulation, UnsupportedFeature

    kwargs = {**settings.defaults, **options}
    if settings.seed is not None:
        kwargs["seed"] = settings.seed
    try:
        try:
            sim = Simulation(targets, **kwargs)
        except UnsupportedFeature as refused:  # the ini's profile, for jobsim.App functions, where there are none
            if refused.feature != "profile" or "profile" in options or "profile" not in settings.defaults:
                raise
            sim = Simulation(targets, **{key: value for key, value in kwargs.items() if key != "profile"})
        sim._role = "the `jobsim` fixture's simulation"  # named when a test builds another of the same apps
        return sim.start()
    except JobsimError as error:
        problem = str(error)  # failing outside the except clause: no chained traceback
    from jobsim._safe import shown

    given = "".join(f", {key}={shown(value)}" for key, value in kwargs.items())  # a marker value's repr may raise
    pytest.fail(f"jobsim: Simulation(jobsim_app{given}) failed: {problem}", pytrace=False)


def _close_at_test(sim: Simulation, item: pytest.Item) -> None:
    """Close the fixture's simulation. A jobsim warning that ``-W error::...`` made an error raises in pytest's
    teardown, with no frame of the test's (jobsim's are hidden: "All traceback entries are hidden"): its message
    then starts with the test's place, as the warning's own line shows it."""
    from .errors import _WARNINGS

    try:
        sim.close()
    except _WARNINGS as error:
        where = sim._warn_at
        place = f"{_shown_path(where[0])}:{where[1]} ({item.name})" if where is not None else item.nodeid
        raise type(error)(f"{place}: {error}") from None


def _shown_path(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path


def _test_line(item: pytest.Item) -> tuple[str, int] | None:
    """Where a warning about the test's fixture points: the test's ``def`` (as ``item.warn`` does)."""
    path, line, _ = item.reportinfo()
    return (os.fspath(path), line + 1) if line is not None else None


def _check_unmatched_http(sim: Simulation) -> None:
    from ._testreport import unmatched_http

    listing = unmatched_http(sim)
    if listing:
        opt_out = "@pytest.mark.jobsim(allow_unmatched_http=True)"
        pytest.fail(f"{listing}\nIf the test expects them, mark it {opt_out}.", pytrace=False)


def _section(item: pytest.Item, run: _Run, *, http: bool = True, own: list[str] | None = None) -> str:
    """The ``jobsim`` report section: seed, the line that reruns the test, timeline.

    ``own``: the lines naming the traces of the simulations the test started itself.
    """
    from ._testreport import reproduce_line, shorten, unmatched_http, unread_lines

    sim = run.sim
    doctest = type(item).__name__ == "DoctestItem"
    rerun = reproduce_line(item.nodeid, item.path, item.config.invocation_params.dir, sim.seed, doctest)
    lines = [f"seed {sim.seed} · reproduce with:", f"    {rerun}", ""]
    saved = _save_trace(item, sim) if run.failed else None
    if saved:
        lines[2:2] = [saved, *(own or ())]
    listing = unmatched_http(sim) if http else ""
    if listing:
        lines += [listing, ""]
    lines += unread_lines(sim) if run.failed else []
    lines += shorten(sim.timeline().splitlines(), item.config.get_verbosity() >= 2)
    if run.failed:
        from ._joberrors import failed_run_tracebacks

        errors = failed_run_tracebacks(sim)
        lines += ["", *errors] if errors else []
    return "\n".join(lines)


def _save_own(item: pytest.Item, fixture: Simulation | None) -> list[str]:
    """With ``--jobsim-trace-dir``, at the test's first failure: save the simulations it started itself.

    The fixture's simulation keeps the test's plain file name; the others are numbered
    in the order they started (the first without a number when there is no fixture).
    """
    started = item.config.stash.get(_STARTED, None)
    if started is None or not item.config.stash[_SETTINGS].trace_dir or item.stash.get(_SAVED, False):
        return []
    item.stash[_SAVED] = True
    sims = [sim for sim in started.simulations() if sim is not fixture]
    if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
        # each failing example Hypothesis keeps holds its simulation; the last to start ran the one it reports
        sims = sims[-1:]
    first = 1 if fixture is None else 2
    lines: list[str] = []
    for number, sim in enumerate(sims, first):
        lines += [str(_save_trace(item, sim, number)), f"    simulation: {sim!r}"]
    return lines


def _save_trace(item: pytest.Item, sim: Simulation, number: int = 1) -> str | None:
    """With ``--jobsim-trace-dir``: save the failing test's trace; the line that says where."""
    directory = item.config.stash[_SETTINGS].trace_dir
    if not directory:
        return None
    from ._testreport import app_spec, shown_path, trace_name

    invoked = item.config.invocation_params.dir
    path = os.path.join(directory, trace_name(item.nodeid, number))
    shown = shown_path(path, invoked)
    try:
        os.makedirs(directory, exist_ok=True)
        sim.trace.save(path)
    except Exception as error:  # the report must still be written
        return f"trace not saved to {shown}: {type(error).__name__}: {error}"
    return f"trace saved to {shown}\n    replay it: jobsim replay {shown} --app {app_spec(sim, invoked)}"
