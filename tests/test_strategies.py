"""jobsim.strategies: what each strategy draws, how it shrinks, how it prints, how it checks its arguments."""

from __future__ import annotations

import datetime as dt
import pathlib
import re
import subprocess
import sys

import hypothesis.errors
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import jobsim
from jobsim import strategies as js
from jobsim._cron import CronSchedule
from jobsim._drawcode import Build
from jobsim._faults import METHODS
from jobsim._time import MS, duration_ns, instant_ns

pytest_plugins = ["pytester"]

UTC = dt.timezone.utc
APP = jobsim.App("strategies")


async def build_app_async() -> jobsim.App:  # a factory simulations() must refuse: its coroutine is no app
    return APP


@APP.function("f", on="a/b")
def f(ctx):
    return None


# -- import layers -------------------------------------------------------------------------------------------
def test_strategies_is_the_only_module_that_imports_hypothesis():
    package = pathlib.Path(jobsim.__file__).parent
    pattern = re.compile(r"^\s*(from|import) hypothesis", re.M)
    importers = sorted(p.name for p in package.glob("*.py") if pattern.search(p.read_text()))
    assert importers == ["strategies.py"]


def test_import_jobsim_and_its_invariants_and_histories_does_not_import_hypothesis():
    code = (
        "import sys, jobsim, jobsim.invariants, jobsim._history, jobsim._faults\n"
        "assert 'hypothesis' not in sys.modules, 'hypothesis was imported'\n"
        "assert 'faker' not in sys.modules, 'faker was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=pathlib.Path(jobsim.__file__).parent.parent)


# -- reprs: the call that built the strategy -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("strategy", "text"),
    [
        (js.durations(), "durations()"),
        (js.durations("1s", "30h", near=["24h"]), "durations(max_value='30h', min_value='1s', near=['24h'])"),
        (js.instants(resolution="1s"), "instants(resolution='1s')"),
        (js.seeds(), "seeds()"),
        (js.failure_patterns({"f": ["s", None]}, max_faults=2), "failure_patterns({'f': ['s', None]}, max_faults=2)"),
        (js.faults(functions=["f"], kinds="fail", within="1d"), "faults(functions=['f'], kinds='fail', within='1d')"),
        (js.event_streams({"a/b": None}, max_size=3), "event_streams({'a/b': None}, max_size=3)"),
        (js.fake_payloads({"email": "email"}), "fake_payloads({'email': 'email'})"),
        (js.retry_policies(attempts=3, profile_backoff=False), "retry_policies(attempts=3, profile_backoff=False)"),
        (js.cron_expressions(zones=["Europe/Paris"]), "cron_expressions(zones=['Europe/Paris'])"),
        (js.simulations(APP, seed=3), "simulations(App('strategies', functions=['f']), seed=3)"),
        (js.injected_errors(), "injected_errors()"),
        (
            js.histories(events=js.event_streams(["a/b"]), failures=js.failure_patterns(["f"])),
            "histories(events=event_streams(['a/b']), failures=failure_patterns(['f']))",
        ),
        (st.lists(js.durations(max_value="1m"), max_size=2), "lists(durations(max_value='1m'), max_size=2)"),
    ],
)
def test_repr_is_the_call_that_built_it(strategy, text):
    assert repr(strategy) == text


# -- argument checks ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: js.durations("1h", "1m"), "max_value='1m' is not valid: a duration >= min_value='1h'"),
        (lambda: js.durations(resolution="1ns"), "resolution='1ns' is not valid: a whole number of microseconds"),
        (lambda: js.durations("1s", "1500ms", resolution="1m"), "resolution='1m' is not valid: a step that fits"),
        (lambda: js.durations(-1), "min_value=-1 is not valid: expected a duration"),
        (lambda: js.durations(0, "1h", near=["24h"]), "near=['24h'] is not valid: landmarks within spread of the "
                                                      "range 0s..1h; '24h' is not"),
        (lambda: js.instants("2025-01-02T00:00:00Z", "2025-01-01T00:00:00Z"), "an instant at or after min_value="),
        (lambda: js.failure_patterns("f"), "where='f' is not valid: a mapping of function id to step ids"),
        (lambda: js.failure_patterns({"f": []}), "where={'f': []} is not valid: function 'f' has no steps"),
        (lambda: js.failure_patterns([("f", "")]), "step id '' is not a non-empty string or None"),
        (lambda: js.failure_patterns(["f"], errors=[3]), "errors=[3] is not valid: 3 is not an exception"),
        (lambda: js.failure_patterns(["f"], max_times=0), "max_times=0 is not valid: an int >= 1"),
        (lambda: js.faults(functions=["f"], kinds=["boom"]), "kinds=['boom'] is not valid: some of 'fail', 'crash',"),
        (lambda: js.faults(functions=["f"], within=0), "within=0 is not valid"),
        (lambda: js.event_streams({}), "events={} is not valid: at least one event name"),
        (lambda: js.event_streams({"a/b": 3}), "events['a/b']=3 is not valid: a Hypothesis strategy"),
        (lambda: js.event_streams(["a/b"], min_size=3, max_size=2), "max_size=2 is not valid: an int >= min_size=3"),
        (lambda: js.event_streams(["a/b"], gaps=[1]), "gaps=[1] is not valid: a Hypothesis strategy"),
        (lambda: js.fake_payloads({"x": "not_a_provider"}), "fields['x']='not_a_provider' is not valid: the name of a"),
        (lambda: js.fake_payloads({"x": "pyint"}, locale="xx_XX"), "locale='xx_XX' is not valid: a Faker locale"),
        (lambda: js.retry_policies(backoffs=["x"]), "backoffs=['x'] is not valid: some of 'exponential'"),
        (lambda: js.retry_policies(attempts=0), "attempts=0 is not valid: expected an int from 1 to 1000"),
        (lambda: js.cron_expressions(zones=["Mars/Base"]), "zones='Mars/Base' is not valid: no such IANA time zone"),
        (lambda: js.simulations(), "simulations() needs the targets to simulate"),
        (lambda: js.simulations(APP, seed="7"), "seed='7' is not valid: an int, or a strategy of ints"),
        (lambda: js.simulations("app"), "targets='app' is not valid: a jobsim.App (or a backend's app, queue or "
                                        "broker), or a function of no arguments building one; not its name"),
        (lambda: js.simulations(APP, None), "targets=None is not valid: a jobsim.App; None is what a jobsim_app "
                                            "fixture or a factory without `return app` gives"),
        (lambda: js.simulations(APP, start="yesterday"), "start='yesterday' is not valid: expected an aware datetime"),
        # was called for each example and refused by Simulation, its coroutine left never awaited
        (lambda: js.simulations(build_app_async), "is not valid: an App, or a function of no arguments building one, a "
                                                  "plain function: jobsim calls it without awaiting"),
        (lambda: js.histories(events=js.failure_patterns(["f"]).example), "events=<bound method"),
        # these suggested st.just(["a/b"]), which draws a list of names where a history needs an EventStream
        (lambda: js.histories(events=["a/b"]), "events=['a/b'] is not valid: a Hypothesis strategy; to draw them, "
                                               "js.event_streams(['a/b'])"),
        (lambda: js.histories(failures={"f": ["s"]}), "failures={'f': ['s']} is not valid: a Hypothesis strategy; "
                                                      "to draw them, js.failure_patterns({'f': ['s']})"),
        (lambda: js.histories(events=js.event_streams), "a Hypothesis strategy; call it: js.event_streams(...)"),
        (lambda: js.histories(faults=[js.Fail(function="f")]), "a Hypothesis strategy; e.g. js.faults(...)"),
        (lambda: js.histories(faults=js.Fail(function="f")), "for this one value every time, "
                                                             "st.just(Fail(function='f'))"),
        # these raised TypeError ('NoneType' / 'int' object is not iterable) from inside the strategy
        (lambda: js.durations(near=None), "near=None is not valid: a duration or a list of durations"),
        (lambda: js.durations(max_value=10**30), "max_value=1000000000000000000000000000000 is not valid: a duration "
                                                 "a timedelta can hold (at most 999999999 days)"),
        (lambda: js.faults(functions=["f"], kinds=3), "kinds=3 is not valid: some of 'fail', 'crash',"),
        (lambda: js.cron_expressions(zones=3), "zones=3 is not valid: IANA time zone names"),
        # these raised TypeError ('int' object is not iterable, 'NoneType' ...) or took a dict's keys as steps
        (lambda: js.failure_patterns({"f": 2}), "where={'f': 2} is not valid: function 'f' maps to 2, not a step id, "
                                                "None or a list of them"),
        (lambda: js.faults(functions={"f": {"s": 1}}), "functions={'f': {'s': 1}} is not valid: function 'f' maps to "
                                                       "{'s': 1}"),
        (lambda: js.retry_policies(backoffs=None), "backoffs=None is not valid: some of 'exponential', 'linear'"),
        (lambda: js.retry_policies(backoffs=[["linear"]]), "backoffs=[['linear']] is not valid"),
        (lambda: js.failure_patterns(["f"], errors=[KeyboardInterrupt]),
         "errors=[<class 'KeyboardInterrupt'>] is not valid: an exception instance or class (an Exception, or "
         "SystemExit, GeneratorExit, asyncio.CancelledError); a KeyboardInterrupt raised in job code is not a "
         "failed attempt"),
    ],
)
def test_bad_arguments_raise_invalid_argument_naming_them(build, message):
    with pytest.raises(js.InvalidArgument) as caught:
        build()
    assert message in str(caught.value)
    assert isinstance(caught.value, jobsim.InvalidArgument)
    assert isinstance(caught.value, hypothesis.errors.InvalidArgument)


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        # these raised TypeError: 'int' object is not iterable, from the strategy's insides
        (js.event_streams({"a/b": st.integers(0, 0)}, min_size=1),
         "events['a/b']=integers(min_value=0, max_value=0) drew 0, which is not valid: event data is a mapping; a "
         "payload strategy draws the event's data, a dict: st.fixed_dictionaries({...})"),
        (js.event_streams({"a/b": st.just({"x": {1}})}, min_size=1),
         "events['a/b']=just({'x': {1}}) drew {'x': {1}}, which is not valid: event data must be JSON"),
        # these named an argument the test never gave (after=-1, id=0, attempts=0, min_delay='x') and no strategy
        (js.event_streams(["a/b"], min_size=1, gaps=st.just(-1)),
         "gaps=just(-1) drew -1, which is not valid: expected a duration such as '500ms'"),
        (js.event_streams(["a/b"], min_size=1, ids=st.just(0)),
         "ids=just(0) drew 0, which is not valid: an event id is a non-empty string (or None: the bus assigns one)"),
        (js.retry_policies(attempts=st.just(0)),
         "attempts=just(0) drew 0, which is not valid: expected an int from 1 to 1000"),
        (js.retry_policies(min_delay=st.just("x"), profile_backoff=False),
         "min_delay=just('x') drew 'x', which is not valid: expected a duration"),
        (js.simulations(APP, seed=st.just("7")), "seed=just('7') drew '7', which is not valid: an int within 64 bits; "
                                                 "draw them with js.seeds()"),
        (js.simulations(APP, start=st.just("yesterday")),
         "start=just('yesterday') drew 'yesterday', which is not valid: expected an aware datetime"),
        # this one drew 'TZ=Mars/Base ...' expressions, refused only where a function declared one
        (js.cron_expressions(zones=st.just("Mars/Base")),
         "zones=just('Mars/Base') drew 'Mars/Base', which is not valid: no such IANA time zone"),
    ],
)
def test_a_bad_value_a_given_strategy_draws_raises_invalid_argument_naming_the_argument(strategy, message):
    @settings(database=None, max_examples=3, phases=[hypothesis.Phase.generate])
    @given(strategy)
    def draws(value):
        pass

    with pytest.raises(js.InvalidArgument) as caught:
        draws()
    assert message in str(caught.value)


def test_a_bad_drawn_value_reports_from_the_check_not_through_hypothesis_frames(pytester):
    # the traceback ran through a dozen of Hypothesis's drawing frames, and pytest parsed each one's file for every
    # failing example Hypothesis shrank and explained: 35-87 s before a one-line mistake was reported
    pytester.makepyfile(
        """
        from hypothesis import Phase, given, settings, strategies as st
        from jobsim import strategies as js

        @settings(database=None, phases=[Phase.generate, Phase.shrink])
        @given(js.event_streams(["a/b"], min_size=1, gaps=st.just(-1)))
        def test_gaps(stream):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E   *InvalidArgument: gaps=just(-1) drew -1, which is not valid: *"])
    result.stdout.no_fnmatch_line("*hypothesis*: in *")
    result.stdout.no_fnmatch_line("*jobsim*: in *")


def test_an_unknown_profile_is_refused_with_the_registered_names():
    with pytest.raises(js.InvalidArgument, match=r"profile='nope' is not valid: one of .*'inngest'"):
        js.faults(functions=["f"], profile="nope")


# -- durations and instants ---------------------------------------------------------------------------------
@given(js.durations("1s", "2h", resolution="250ms"))
def test_durations_stay_in_bounds_on_their_resolution(value):
    ns = duration_ns(value)
    assert 1_000_000_000 <= ns <= 7_200_000_000_000
    assert ns % (250 * MS) == 0


def test_durations_shrink_to_the_edge_of_what_fails():
    minimal = find(js.durations("1s", "1h"), lambda d: d > dt.timedelta(seconds=90))
    assert minimal == dt.timedelta(seconds=90, milliseconds=1)


@settings(max_examples=300)
@given(js.durations(0, "30h", near=["24h"], spread="1m"))
def test_durations_near_a_landmark_stay_in_bounds(value):
    assert dt.timedelta(0) <= value <= dt.timedelta(hours=30)


def test_half_the_draws_land_near_the_landmarks():
    window = (dt.timedelta(hours=24) - dt.timedelta(minutes=1), dt.timedelta(hours=24) + dt.timedelta(minutes=1))
    near = []

    @settings(max_examples=400, database=None, derandomize=True)
    @given(js.durations(0, "30h", near=["24h"]))
    def draw(value):
        near.append(window[0] <= value <= window[1])

    draw()
    assert 0.3 < sum(near) / len(near) < 0.7  # a uniform draw lands there 0.1 % of the time


@given(js.instants("2025-03-09T00:00:00Z", "2025-03-10T00:00:00Z"))
def test_instants_are_aware_utc_in_bounds_at_whole_milliseconds(value):
    assert value.tzinfo is dt.timezone.utc
    assert instant_ns("2025-03-09T00:00:00Z") <= instant_ns(value) <= instant_ns("2025-03-10T00:00:00Z")
    assert value.microsecond % 1000 == 0


def test_a_falsifying_instant_prints_as_a_datetime_that_can_be_pasted():
    @settings(database=None, max_examples=5)
    @given(at=js.instants("2025-03-09T00:00:00Z", "2025-03-10T00:00:00Z"))
    def fails(at):
        raise AssertionError("always")

    with pytest.raises(AssertionError) as info:
        fails()
    report = "\n".join(getattr(info.value, "__notes__", []))
    # it printed the mapping lambda's body, "at=to_datetime(low_ns + 0 * step)"
    assert "at=datetime.datetime(2025, 3, 9, 0, 0, tzinfo=datetime.timezone.utc)" in report


# -- simulations ---------------------------------------------------------------------------------------
@given(js.simulations(APP, start=js.instants("2025-01-01T00:00:00Z", "2025-12-31T00:00:00Z"), tz="Europe/Paris"))
def test_simulations_are_new_with_a_drawn_seed_and_start(sim):
    assert repr(sim).endswith(" new>")
    assert 0 <= sim.seed <= 2**32 - 1
    assert dt.datetime(2025, 1, 1, tzinfo=UTC) <= sim.now <= dt.datetime(2025, 12, 31, tzinfo=UTC)
    assert getattr(sim.tz, "key", None) == "Europe/Paris"


def test_simulations_shrink_to_seed_0_and_the_earliest_start():
    sim = find(js.simulations(APP), lambda s: True)
    assert (sim.seed, sim.now) == (0, dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))


def test_a_target_factory_is_called_for_every_example():
    built = []

    def fresh_app():
        app = jobsim.App(f"fresh-{len(built)}")
        app.function("g", on="x/y")(lambda ctx: None)
        built.append(app)
        return app

    @settings(max_examples=5, database=None)
    @given(js.simulations(fresh_app, seed=1))
    def draw(sim):
        assert sim.apps == [built[-1]]
        assert sim.seed == 1

    draw()
    assert len({app.id for app in built}) == len(built) >= 5


def printed_simulation(test) -> str:
    """The ``sim=`` argument of the falsifying example ``test`` prints, on one line."""
    with pytest.raises(AssertionError) as info:
        test()
    example = "\n".join(getattr(info.value, "__notes__", []))
    printed = example.split("sim=", 1)[1].rsplit(",\n)", 1)[0]
    return " ".join(line.strip() for line in printed.splitlines()).replace("( ", "(").replace(", )", ")")


def test_a_drawn_simulation_prints_as_code_that_builds_it():
    # it printed "sim=simulation(seed=0, start=...)": Hypothesis's @example patch then failed with a NameError
    @settings(database=None, derandomize=True, phases=[hypothesis.Phase.generate, hypothesis.Phase.shrink])
    @given(sim=js.simulations(APP, start="2025-03-01T09:00:00Z", profile="bullmq", tz="Europe/Paris"))
    def fails(sim):
        raise AssertionError("boom")

    printed = printed_simulation(fails)
    assert printed == ("jobsim.Simulation(APP, start='2025-03-01T09:00:00Z', seed=0, profile='bullmq', "
                       "tz='Europe/Paris')")  # fmt: skip
    sim = eval(printed, {"jobsim": jobsim, "APP": APP})  # runs as printed: an @example of the test
    assert (sim.seed, sim.profile.name, sim.tz.key, sim.now) == (0, "bullmq", "Europe/Paris",
                                                                  dt.datetime(2025, 3, 1, 9, tzinfo=UTC))


def test_a_drawn_start_prints_as_iso_text_the_example_can_run_without_importing_datetime():
    # it printed start=datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc): Hypothesis's @example
    # patch, pasted into a test module that does not import datetime, failed with a NameError
    @settings(database=None, derandomize=True, phases=[hypothesis.Phase.generate, hypothesis.Phase.shrink])
    @given(sim=js.simulations(APP), other=js.simulations(APP, start=js.instants("2025-06-01T12:00:00Z"),
                                                          tz="Europe/Paris"))
    def fails(sim, other):
        raise AssertionError("boom")

    printed = printed_simulation(fails)
    assert printed.startswith("jobsim.Simulation(APP, start='2024-01-01T00:00:00.000Z', seed=0), other=jobsim.")
    assert "other=jobsim.Simulation(APP, start='2025-06-01T12:00:00.000Z', seed=0, tz='Europe/Paris')" in printed
    sim = eval(printed.split("), other=")[0] + ")", {"jobsim": jobsim, "APP": APP})
    assert sim.now == dt.datetime(2024, 1, 1, tzinfo=UTC)


def test_a_printed_simulation_names_a_factory_as_a_call():
    def make_shop():
        return APP

    @settings(database=None, derandomize=True, phases=[hypothesis.Phase.generate])
    @given(sim=js.simulations(make_shop, seed=3, start="2025-03-01T00:00:00Z"))
    def fails(sim):
        raise AssertionError("boom")

    printed = printed_simulation(fails)
    assert printed == "jobsim.Simulation(make_shop(), start='2025-03-01T00:00:00Z', seed=3)"
    assert eval(printed, {"jobsim": jobsim, "make_shop": make_shop}).apps == [APP]


def draw_once(strategy):
    @settings(max_examples=1, database=None)
    @given(strategy)
    def draw(sim):
        pass

    draw()


@pytest.mark.parametrize(("factory", "returned", "accepted"), [
    (lambda: 5, "returned 5 (int), which is", "a jobsim.App or a target a backend plugin adapts ("),  # installed or not
    (lambda: None, "returned None (NoneType), which is", "a jobsim.App; None is what a jobsim_app fixture or a factory "
                                                         "without `return app` gives"),
    (lambda: [APP, "shop"], "returned [App('strategies', functions=['f']), 'shop'], whose 'shop' (str) is",
     "a jobsim.App itself, not its name or import path"),
])  # fmt: skip
def test_a_factory_that_returns_no_target_is_named_with_what_it_returned(factory, returned, accepted):
    """It read ``targets=5 is not valid: a jobsim.App or ...``: a value the test never passed, the factory unnamed."""
    line = factory.__code__.co_firstlineno
    with pytest.raises(jobsim.InvalidArgument) as info:
        draw_once(js.simulations(factory))
    assert str(info.value).startswith(
        f"js.simulations(): a factory among the targets, <lambda> (test_strategies.py, line {line}), {returned} not "
        f"a target to simulate; a factory must return what Simulation takes, or a list or tuple of such: {accepted}")


def test_a_refused_target_that_no_factory_built_keeps_simulation_s_words():
    with pytest.raises(jobsim.InvalidArgument, match=r"^targets=<object object at 0x\w+> is not valid: a jobsim"):
        Build((APP, object()), None, None, {})(start="2024-01-01T00:00:00Z", seed=0)


def test_an_app_the_profile_cannot_run_is_refused_when_the_strategy_is_built():
    # it failed in every example instead, and Hypothesis shrank and explained it for 20 s
    with pytest.raises(js.InvalidArgument, match=r"Quirrel cannot run function 'f': retries=Retries\(attempts=4\)"):
        js.simulations(RETRIED, profile="quirrel")
    assert js.simulations(RETRIED, profile="bullmq") is not None


def test_simulations_select_functions_as_simulation_does():
    # simulations() had no functions=: an app with one function a profile cannot run could not be drawn at all
    mixed = jobsim.App("strategies-mixed")
    mixed.function("plain", on="a/b")(lambda ctx: None)
    once = mixed.function("once", on="a/b", idempotency="event.data.id")(lambda ctx: None)
    with pytest.raises(js.InvalidArgument, match="Agenda cannot run function 'once'"):
        js.simulations(mixed, profile="agenda")
    with pytest.raises(js.InvalidArgument, match="'nope' is not among the targets' functions"):
        js.simulations(mixed, functions=["nope"])

    @settings(database=None, derandomize=True, phases=[hypothesis.Phase.generate])
    @given(sim=js.simulations(mixed, profile="agenda", exclude_functions=[once], start="2025-03-01T00:00:00Z"))
    def fails(sim):
        assert list(sim.functions) == ["plain"]
        raise AssertionError("boom")

    printed = printed_simulation(fails)
    assert printed == ("jobsim.Simulation(mixed, start='2025-03-01T00:00:00Z', seed=0, profile='agenda', "
                       "exclude_functions=['once'])")  # fmt: skip
    assert list(eval(printed, {"jobsim": jobsim, "mixed": mixed}).functions) == ["plain"]


def test_simulations_take_max_chain_and_random_streams_as_simulation_does():
    # simulations() had neither: a property of a long legitimate chain, or of a shared-stream replay, could not be
    # drawn, and the pytest plugin's advice to use simulations() dropped the marker's max_chain=/random_streams=
    @settings(database=None, derandomize=True, phases=[hypothesis.Phase.generate])
    @given(sim=js.simulations(APP, start="2025-03-01T00:00:00Z", max_chain=50, random_streams="shared"))
    def fails(sim):
        assert (sim.max_chain, sim.random_streams) == (50, "shared")
        raise AssertionError("boom")

    printed = printed_simulation(fails)
    assert printed == ("jobsim.Simulation(APP, start='2025-03-01T00:00:00Z', seed=0, max_chain=50, "
                       "random_streams='shared')")  # fmt: skip
    sim = eval(printed, {"jobsim": jobsim, "APP": APP})
    assert (sim.max_chain, sim.random_streams) == (50, "shared")
    assert repr(js.simulations(APP, max_chain=50)) == "simulations(App('strategies', functions=['f']), max_chain=50)"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_chain": 0}, "max_chain=0 is not valid: an int >= 1"),
        ({"random_streams": "per-function"}, "random_streams='per-function' is not valid: 'function'"),
    ],
)
def test_simulations_check_max_chain_and_random_streams_when_built(kwargs, message):
    with pytest.raises(js.InvalidArgument, match=re.escape(message)):
        js.simulations(APP, **kwargs)


RETRIED = jobsim.App("strategies-retried")
RETRIED.function("f", on="a/b", retries=3)(lambda ctx: None)


# -- failure patterns, faults, errors ----------------------------------------------------------------------------
PLACES = {"process-order": ["validate-order", "reserve-inventory", None], "send-email": ["send"]}


@given(js.failure_patterns(PLACES, max_faults=3, max_times=2))
def test_failure_patterns_only_strike_the_given_places(pattern):
    assert len(pattern) <= 3
    for fail in pattern:
        assert fail.step in PLACES[fail.function]
        assert 1 <= fail.times <= 2


def test_failure_patterns_shrink_to_one_injected_fault_on_the_first_place():
    minimal = find(js.failure_patterns(PLACES), lambda p: len(p) > 0)
    assert repr(minimal) == "FailurePattern((Fail(function='process-order', step='validate-order'),))"


def test_injected_errors_cover_retried_final_and_retry_after_errors():
    kinds = set()

    @settings(max_examples=200, database=None, derandomize=True)
    @given(js.injected_errors())
    def draw(error):
        kinds.add(type(error).__name__)
        if isinstance(error, jobsim.RetryAfterError):
            assert 1 <= duration_ns(error.after) // 1_000_000_000 <= 600

    draw()
    assert kinds == {"NoneType", "ConnectionError", "NonRetriableError", "RetryAfterError"}


def test_failure_patterns_take_a_list_of_errors():
    errors = [TimeoutError, jobsim.NonRetriableError("card declined")]
    pattern = find(js.failure_patterns(["f"], errors=errors), lambda p: any(f.final for f in p))
    assert repr(pattern) == "FailurePattern((Fail(function='f', error=jobsim.NonRetriableError('card declined')),))"


@given(js.faults(functions={"f": ["s"], "g": [None]}, within="10m"))
def test_faults_draw_only_what_this_simulation_can_inject_by_default(fault):
    assert hasattr(jobsim.Simulation, METHODS[fault.kind])


@given(js.faults(functions=["f", "g"], kinds=["crash", "downtime", "duplicate"], within="10m", max_times=2))
def test_timed_faults_fall_within_the_window(fault):
    limit = 10 * 60 * 1_000_000_000
    if isinstance(fault, js.Downtime):
        assert 0 <= duration_ns(fault.start) < duration_ns(fault.end) <= 2 * limit
    else:
        assert fault.at is None or 0 <= duration_ns(fault.at) <= limit
        assert fault.function in (None, "f", "g")
    if isinstance(fault, js.Duplicate):
        assert 1 <= fault.times <= 2


def test_a_profile_without_redelivery_never_draws_duplicates():
    node_cron = jobsim.Profile(name="node-cron", description="in-process timers", default_retries=jobsim.Retries(1))
    kinds = set()

    @settings(max_examples=150, database=None, derandomize=True)
    @given(js.faults(functions=["f"], kinds=["fail", "crash", "downtime"], profile=node_cron))
    def draw(fault):
        kinds.add(fault.kind)

    draw()
    assert kinds == {"fail", "crash", "downtime"}
    with pytest.raises(js.InvalidArgument, match=r"profile 'node-cron' cannot suffer 'duplicate'; it supports 'fail', "
                                                 r"'crash', 'downtime'"):  # fmt: skip
        js.faults(functions=["f"], kinds=["fail", "duplicate"], profile=node_cron)


def test_a_profile_may_declare_its_own_fault_kinds():
    import dataclasses

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Declaring(jobsim.Profile):
        fault_kinds: tuple[str, ...] = ("crash",)

    only_crashes = Declaring(name="bullmq", description="declares", default_retries=jobsim.Retries(1))
    with pytest.raises(js.InvalidArgument, match="profile 'bullmq' cannot suffer 'fail'"):
        js.faults(functions=["f"], kinds="fail", profile=only_crashes)
    assert repr(find(js.faults(functions=["f"], kinds="crash", profile=only_crashes), lambda f: True)) == "Crash()"


# -- events --------------------------------------------------------------------------------------------------
@given(js.event_streams({"order/placed": st.fixed_dictionaries({"orderId": st.sampled_from(["o1", "o2"])}),
                         "cart/completed": None}, min_size=1, max_size=4, gaps=js.durations(0, "5m")))  # fmt: skip
def test_event_streams_draw_named_events_with_payloads_and_gaps(stream):
    assert 1 <= len(stream) <= 4
    for send in stream:
        assert send.name in ("order/placed", "cart/completed")
        assert 0 <= send.after_ns <= 5 * 60 * 1_000_000_000
        if send.name == "order/placed":
            assert send.data in ({"orderId": "o1"}, {"orderId": "o2"})
        else:
            assert set(send.data) == {"id", "userId", "email", "name"}


def test_event_streams_take_a_strategy_of_events_and_ids():
    events = st.builds(lambda n: jobsim.Event("n/x", {"n": n}), st.integers(0, 3))
    stream = find(js.event_streams(events, ids=st.just("same")), lambda s: len(s) >= 2)
    assert repr(stream) == (
        "EventStream((Send(after='0s', name='n/x', data={'n': 0}, id='same'), "
        "Send(after='0s', name='n/x', data={'n': 0}, id='same')))"
    )


def test_events_with_their_own_ids_keep_them():
    events = st.sampled_from([jobsim.Event("pay/x", {"n": 1}, id="pay-1"), jobsim.Event("pay/x", {"n": 2})])
    stream = find(js.event_streams(events, ids=st.just("drawn")), lambda s: {x.data["n"] for x in s} == {1, 2})
    assert sorted((s.data["n"], s.id) for s in stream) == [(1, "pay-1"), (2, "drawn")]


def test_fake_payloads_are_a_pure_function_of_the_drawn_seed():
    payloads = js.fake_payloads({"email": "email", "city": "city", "when": "date_time"})
    first = find(payloads, lambda p: True)
    again = find(payloads, lambda p: True)
    assert first == again
    assert set(first) == {"email", "city", "when"}
    assert dt.datetime.fromisoformat(first["when"])  # dates become ISO text


def test_event_stream_at_sorts_offsets_into_gaps():
    stream = js.EventStream.at([("90s", "b", {}), (0, "a", {}), ("90s", "c", {"k": 1})])
    assert [(s.after, s.name) for s in stream] == [("0s", "a"), ("1m30s", "b"), ("0s", "c")]


# -- policies and crons -------------------------------------------------------------------------------------
@given(js.retry_policies())
def test_retry_policies_are_valid_and_capped_above_their_minimum(policy):
    assert isinstance(policy, jobsim.Retries)
    assert 1 <= policy.attempts <= 10
    if policy.min is not None:
        assert duration_ns(policy.min) >= 100 * MS
        assert policy.max is None or duration_ns(policy.max) >= duration_ns(policy.min)
    assert eval(repr(policy), {"Retries": jobsim.Retries}) == policy


@given(js.retry_policies(attempts=st.integers(2, 3), backoffs="linear", profile_backoff=False))
def test_retry_policies_honour_fixed_choices(policy):
    assert policy.backoff == "linear" and policy.attempts in (2, 3)


@settings(max_examples=300)
@given(js.cron_expressions(zones=["America/New_York", "Europe/Paris"]))
def test_cron_expressions_parse_and_fire(expr):
    schedule = CronSchedule.parse(expr)
    assert expr.startswith(("TZ=America/New_York ", "TZ=Europe/Paris "))
    start = instant_ns("2025-01-01T00:00:00Z")
    # the Gregorian weekdays repeat every 28 years: what has not fired by then never does
    assert start < schedule.next_after(start) <= start + 28 * 366 * 86_400 * 1_000_000_000


@settings(max_examples=300)
@given(js.cron_expressions(descriptors=False, both_days=False))
def test_cron_expressions_without_descriptors_or_both_day_fields(expr):
    _, _, dom, _, dow = expr.split()
    assert dom == "*" or dow == "*"
    CronSchedule.parse(expr)


@pytest.mark.parametrize("profile", ["inngest", "bullmq", "trigger.dev", "quirrel", "agenda", "node-cron",
                                     "vercel-cron"])
def test_cron_expressions_of_a_profile_are_all_accepted_by_it(profile):
    """Drawn with no profile, 70 of 300 expressions were refused by Vercel and 'TZ=Europe/Paris @annually' by
    every profile: the TZ= prefix is Inngest's, whose registration refuses @descriptors."""
    app = jobsim.App("crons")

    @settings(max_examples=60, deadline=None, database=None)
    @given(js.cron_expressions(profile=profile))
    def accepted(expr):
        app.functions.clear()
        app.function("f", cron=expr)(lambda ctx: None)
        with jobsim.Simulation(app, profile=profile):
            pass

    accepted()


def test_cron_expressions_never_put_a_descriptor_behind_tz_and_refuse_zones_for_a_profile_without_tz():
    @settings(max_examples=200, deadline=None, database=None)
    @given(js.cron_expressions(zones=["Europe/Paris"]))
    def no_descriptor(expr):
        assert "@" not in expr

    no_descriptor()
    assert repr(js.cron_expressions(zones=["UTC"], profile="inngest")) == (
        "cron_expressions(profile='inngest', zones=['UTC'])")
    with pytest.raises(js.InvalidArgument, match=r"zones= writes Inngest's TZ= prefix, which BullMQ refuses"):
        js.cron_expressions(zones=["UTC"], profile="bullmq")
    with pytest.raises(js.InvalidArgument, match=r"^profile='nope' is not valid"):
        js.cron_expressions(profile="nope")


# -- drawn values print as code ------------------------------------------------------------------------------
NAMESPACE = {"jobsim": jobsim, "ConnectionError": ConnectionError, **{n: getattr(js, n) for n in js.__all__}}


@given(js.histories(events=js.event_streams(["a/b"], max_size=3),
                    failures=js.failure_patterns({"f": ["s", None]}),
                    faults=js.faults(functions=["f"], kinds=["crash", "downtime", "duplicate"])))  # fmt: skip
def test_a_drawn_history_repr_is_code_that_rebuilds_it(history):
    rebuilt = eval(repr(history), NAMESPACE)
    assert rebuilt == history
    assert repr(rebuilt) == repr(history)


def test_without_hypothesis_the_import_error_says_what_to_install(tmp_path):
    import subprocess
    import sys

    blocker = tmp_path / "hypothesis.py"
    blocker.write_text("raise ModuleNotFoundError(\"No module named 'hypothesis'\", name='hypothesis')\n")
    code = "import jobsim.strategies"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)})  # fmt: skip
    assert proc.returncode == 1
    assert "jobsim.errors.JobsimError: jobsim.strategies needs Hypothesis" in proc.stderr
    # it said pip install 'jobsim[hypothesis]', which installs PyPI's jobsim, an unrelated project, over this one
    assert "not installed: pip install 'hypothesis>=6.100.1' (what jobsim's [hypothesis] extra brings; " in proc.stderr


def test_fake_relative_dates_do_not_depend_on_the_real_clock():
    import time_machine

    from jobsim._fakedata import FakeData

    fake = FakeData({"when": "date_time", "day": "past_date"})
    today = fake.payload(5)
    with time_machine.travel("2031-06-01T12:00:00Z"):
        assert fake.payload(5) == today


def test_event_stream_at_and_apply_check_their_arguments():
    # EventStream.at(None) raised TypeError; apply(send=3) armed the faults, then raised TypeError at the first event
    with pytest.raises(jobsim.InvalidArgument, match=r"^timed=None is not valid: a list of \(offset, name, data\)"):
        js.EventStream.at(None)
    with pytest.raises(jobsim.InvalidArgument, match=r"^timed=\[\('1m', 'a/b'\)\] is not valid: a list of"):
        js.EventStream.at([("1m", "a/b")])
    with jobsim.Simulation(APP) as sim:
        stream = js.EventStream.at([("1m", "a/b", {})])
        with pytest.raises(jobsim.InvalidArgument, match=r"^send=3 is not valid: a function \(sim, event\)"):
            js.apply(sim, stream, send=3)
        with pytest.raises(jobsim.InvalidArgument, match=r"^send=<function .* is not valid: a function \(sim, "):
            js.apply(sim, stream, send=lambda event: None)
        assert sim.events == []


def test_apply_names_then_when_it_would_run_past_the_last_datetime():
    # then=10**30 s was refused by sim.advance, naming by= (an argument the test never wrote)
    message = r"^then=1000000000000000000000000000000 is not valid: a duration that ends by 9999-12-31"
    with jobsim.Simulation(APP) as sim, pytest.raises(jobsim.InvalidArgument, match=message):
        js.apply(sim, then=10**30)


def test_a_property_failing_inside_a_driving_call_shows_the_tests_line_not_jobsims_frames(pytester):
    # the traceback of an assert in a route's side effect ran through eight of jobsim's frames (apply, play, the
    # recorder, run_until_idle, _drive ...); Hypothesis has pytest format it for each failing example it shrinks and
    # explains, and parsing those files for every one took 30 of the property's 46 s
    pytester.makepyfile(
        """
        import httpx
        import jobsim
        from hypothesis import Phase, given, settings, strategies as st
        from jobsim import strategies as js

        app = jobsim.App("frames")

        @app.function("post", on="a/b")
        def post(ctx):
            httpx.post("https://hooks.example.com/in", json=ctx.event.data)

        def check(request):
            assert b"3" not in request.content, "3 is never posted"
            return httpx.Response(200)

        @settings(database=None, derandomize=True, phases=[Phase.generate, Phase.shrink])
        @given(sim=js.simulations(app), history=js.histories(
            events=js.event_streams({"a/b": st.fixed_dictionaries({"n": st.integers(0, 5)})}, min_size=1)))
        def test_property(sim, history):
            with sim:
                sim.http.post("https://hooks.example.com/in").mock(side_effect=check)
                history.apply(sim)

        def test_runaway():
            loop = jobsim.App("loop")
            loop.function("again", on="x/y")(lambda ctx: loop.send("x/y", {}))
            with jobsim.Simulation(loop, max_chain=3) as sim:
                sim.send("x/y")
                sim.run_until_idle()
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "test_a_property_failing_inside_a_driving_call_shows_the_tests_line_not_jobsims_frames.py:*: in test_property",
        "    history.apply(sim)",
        '>       assert b"3" not in request.content, "3 is never posted"',
        "E       AssertionError: 3 is never posted",
    ])  # fmt: skip
    result.stdout.fnmatch_lines(["E  * jobsim.errors.BudgetExceeded: run-away simulation: a chain of 3 items*",
                                 "*.py:29: BudgetExceeded"])  # the test's line, where Kernel._runaway's was
    result.stdout.no_fnmatch_line("*jobsim/*.py:*")


def test_a_strategy_given_for_another_histories_argument_is_named_as_it_is_built():
    """histories(failures=js.faults(...)) died in generation with a bare TypeError ('Value after * must be an
    iterable, not Fail')."""
    from jobsim import strategies as js

    with pytest.raises(js.InvalidArgument, match=r"^js.histories\(failures=faults\(functions=\['checkout'\]\)\): "
                                                 r"faults\(\) draws what faults= takes; pass it as faults=, and give "
                                                 r"failures= js.failure_patterns\(...\)$"):  # fmt: skip
        js.histories(failures=js.faults(functions=["checkout"]))
    with pytest.raises(js.InvalidArgument, match=r"^js.histories\(faults=failure_patterns"):
        js.histories(faults=js.failure_patterns({"checkout": ["charge"]}))
