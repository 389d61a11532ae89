"""Hypothesis strategies for background jobs: failures, events, faults, policies, crons, simulations.

One property test explores thousands of virtual histories — which attempts fail and
how, which events arrive when, which faults strike — and a failure shrinks to the
smallest history, printed as a regular test to paste::

    from hypothesis import given
    from jobsim import invariants, strategies as js

    @given(sim=js.simulations(app),
           history=js.histories(events=js.event_streams({"order/placed": orders}),
                                failures=js.failure_patterns({"process-order": ["charge", "ship"]})))
    def test_one_confirmation_per_order(sim, history):
        with sim:
            history.apply(sim)              # faults, each event at its time, then until idle
            invariants.exactly_once(sim.mail.outbox, key="subject", what="confirmation")

This is the only jobsim module that imports Hypothesis (``import jobsim`` does not).
Every random choice is a Hypothesis draw — the simulation's seed (which feeds every
jitter), Faker's seed for fake payloads, every time and every fault — so nothing
random escapes it: a failing example replays exactly, shrinks, and prints its seed.

Strategies check their arguments when called and raise ``InvalidArgument`` (both a
``jobsim.InvalidArgument`` and Hypothesis's own), and their ``repr`` is the call that
built them. Drawn values print as code too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

try:
    from hypothesis import strategies as st
except ModuleNotFoundError as exc:  # pragma: no cover - exercised in a subprocess test
    from .errors import JobsimError

    raise JobsimError(
        "jobsim.strategies needs Hypothesis, which is not installed: pip install 'hypothesis>=6.100.1' (what "
        "jobsim's [hypothesis] extra brings; not pip install 'jobsim[hypothesis]': PyPI's jobsim is another project)"
    ) from exc
from hypothesis.errors import InvalidArgument as _HypothesisInvalidArgument
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from hypothesis.strategies import SearchStrategy

try:  # Hypothesis's own reader of a lambda's source: internal, so a release without it prints <lambda>() again
    from hypothesis.internal.reflection import get_pretty_function_description
except ImportError:  # pragma: no cover - every Hypothesis jobsim supports has it
    get_pretty_function_description = None  # type: ignore[assignment]

from . import _drawspec as spec
from ._checks import caller_frame, keywords_checked
from ._cronsyntax import DESCRIPTORS
from ._drawcode import Build, InstantAt, IsoStart, refuse_unrunnable, retries_of, send_of, target_code
from ._drawframes import drawing
from ._drawmachine import MachineRun, custom_rule, send_rule
from ._events import Event
from ._fakedata import FakeData
from ._faults import FAULT_KINDS, Crash, Downtime, Duplicate, Fail, Fault, downtimes_disjoint
from ._history import EventStream, FailurePattern, History, Send, Then, apply
from ._retries import Retries
from ._safe import shown as _shown
from ._simulation import Simulation
from ._time import Duration, Instant, duration_ns, format_duration, instant_ns, zone, zone_name
from .errors import InvalidArgument as _JobsimInvalidArgument
from .errors import NonRetriableError, RetryAfterError, UnsupportedFeature

__all__ = [
    "FAULT_KINDS", "Crash", "Downtime", "Duplicate", "EventStream", "Fail", "FailurePattern", "Fault", "History",
    "InvalidArgument", "Send", "apply", "cron_expressions", "durations", "event_streams", "failure_patterns",
    "fake_payloads", "faults", "histories", "injected_errors", "instants", "machine", "retry_policies", "seeds",
    "simulations",
]  # fmt: skip

T = TypeVar("T")
SEED_MAX = 2**32 - 1


class InvalidArgument(_JobsimInvalidArgument, _HypothesisInvalidArgument):
    """A strategy was called with a bad argument: the message names it, its value and what is accepted."""


@contextlib.contextmanager
def _checking() -> Iterator[None]:
    try:
        yield
    except InvalidArgument:
        raise
    except _JobsimInvalidArgument as exc:
        raise InvalidArgument(str(exc)) from None


def _labelled(name: str, inner: SearchStrategy[T], *args: Any, **kwargs: Any) -> SearchStrategy[T]:
    """``inner``, whose repr is the call that built it: ``failure_patterns({...}, max_faults=2)``. It draws
    through a frame Hypothesis trims from a failure's traceback (``_drawframes``)."""
    labelled: SearchStrategy[T] = st.composite(drawing(name, inner))(*args, **kwargs)
    return labelled


def _changed(**pairs: tuple[Any, Any]) -> dict[str, Any]:
    """The keyword arguments given with a value other than their default (for reprs)."""
    return {key: value for key, (value, default) in pairs.items() if value is not default and value != default}


def _strategy(name: str, value: Any, drawn_by: str = "", drawn: type | tuple[type, ...] = (),
              takes_list: bool = False) -> SearchStrategy[Any]:  # fmt: skip
    """``value``, a strategy. ``drawn_by``: the strategy of this module that draws what ``name`` takes (values
    of type ``drawn``; from a list or dict of places or names when ``takes_list``), named in the error for
    anything else: ``histories(events=["a/b"])`` means ``event_streams(["a/b"])``, not ``st.just(["a/b"])``."""
    if not isinstance(value, SearchStrategy):
        hint = spec.strategy_hint(value, drawn_by, drawn, takes_list)
        raise InvalidArgument.build(name, value, f"a Hypothesis strategy{hint}")
    return value


class _Drawn:
    """Checks each value a strategy the user gave for ``argument`` draws, and returns it as drawn. A bad one
    raises ``InvalidArgument`` naming the argument, its strategy, the value and the way out: the check the value
    would meet later named another argument (``after=-1`` for a gap) or none (``TypeError`` for a payload that
    is no mapping), and Hypothesis shrank and explained it as if it were the property's failure. An object, not
    a lambda, so that a falsifying example prints the value rather than the lambda's body."""

    __slots__ = ("argument", "check", "hint", "strategy")

    def __init__(self, argument: str, strategy: SearchStrategy[Any], check: Callable[[Any], Any], hint: str) -> None:
        self.argument, self.strategy, self.check, self.hint = argument, strategy, check, hint

    def __call__(self, value: Any) -> Any:
        try:
            self.check(value)
        except (_JobsimInvalidArgument, TypeError, ValueError) as exc:
            reason = str(exc).split(" is not valid: ", 1)[-1]
            raise InvalidArgument(f"{self.argument}={self.strategy!r} drew {_shown(value)}, which is not valid: "
                                  f"{reason}; {self.hint}") from None  # fmt: skip
        return value


def _checked(argument: str, strategy: SearchStrategy[T], check: Callable[[Any], Any], hint: str) -> SearchStrategy[T]:
    """``strategy``, each of its values checked as it is drawn (``_Drawn``)."""
    return strategy.map(_Drawn(argument, strategy, check, hint))


def _fixed_or_drawn(name: str, value: Any, check: Callable[[Any], Any], hint: str = "",
                    drawn_check: Callable[[Any], Any] | None = None) -> SearchStrategy[Any]:  # fmt: skip
    """A strategy as given (each value checked as it is drawn, by ``drawn_check`` or ``check``, when ``hint``
    says how to draw good ones), or one fixed value (checked now) as ``st.just``."""
    if isinstance(value, SearchStrategy):
        return _checked(name, value, drawn_check or check, hint) if hint else value
    with _checking():
        check(value)
    return st.just(value)


# -- times -------------------------------------------------------------------------------------------
@keywords_checked("js.durations()", InvalidArgument)
def durations(min_value: Duration = 0, max_value: Duration = "1h", *, resolution: Duration = "1ms",
              near: Sequence[Duration] = (), spread: Duration = "1m") -> SearchStrategy[dt.timedelta]:  # fmt: skip
    """``timedelta`` values from ``min_value`` to ``max_value``, in steps of ``resolution``; shrink to ``min_value``.

    Bounds take any jobsim duration (``"500ms"``, ``"1h30m"``, seconds, a timedelta).
    The default millisecond step keeps every drawn time exactly printable.

    ``near`` lists landmarks — a timeout, a sleep, a batch window — and half the draws
    then land within ``spread`` of one of them. Races live at such edges (a cart
    completed seconds after the 24 h reminder fired), and a uniform draw over days
    almost never hits a one-minute window. Half on average: one search of Hypothesis 6.100
    lands a third to two thirds there. Hypothesis runs a value once, so a window of few values
    (``spread="2s"`` at ``resolution="1s"`` holds 5) has each drawn and the rest go elsewhere.
    """
    with _checking():
        low, high, step = spec.span(min_value, max_value, resolution)
        width = duration_ns(spread, "spread") // step
        windows = spec.windows(near, width, low, high, step)
    inner: SearchStrategy[int] = st.integers(low, high)
    if windows:
        inner = st.one_of(inner, st.sampled_from(windows).flatmap(lambda window: st.integers(*window)))
    shown = _changed(min_value=(min_value, 0), max_value=(max_value, "1h"), resolution=(resolution, "1ms"),
                     near=(near, ()), spread=(spread, "1m"))  # fmt: skip
    return _labelled("durations", inner.map(lambda k: dt.timedelta(microseconds=k * step // 1000)), **shown)


@keywords_checked("js.instants()", InvalidArgument)
def instants(min_value: Instant = "2024-01-01T00:00:00Z", max_value: Instant = "2026-12-31T23:59:59Z", *,
             resolution: Duration = "1ms") -> SearchStrategy[dt.datetime]:  # fmt: skip
    """Aware UTC datetimes between the bounds (inclusive), shrinking to ``min_value``.

    The default range spans three years of DST changes, leap day 2024 and year ends.
    """
    with _checking():
        low_ns, high_ns = instant_ns(min_value, "min_value"), instant_ns(max_value, "max_value")
        if high_ns < low_ns:
            raise InvalidArgument.build("max_value", max_value, f"an instant at or after min_value={min_value!r}")
        low, high, step = spec.span(0, format_duration(high_ns - low_ns), resolution)
    inner = st.integers(low, high).map(InstantAt(low_ns, step))
    shown = _changed(min_value=(min_value, "2024-01-01T00:00:00Z"), max_value=(max_value, "2026-12-31T23:59:59Z"),
                     resolution=(resolution, "1ms"))  # fmt: skip
    return _labelled("instants", inner, **shown)


def seeds() -> SearchStrategy[int]:
    """Simulation seeds, ``0 .. 2**32 - 1``; they shrink to 0. Every jitter follows from the seed."""
    return _labelled("seeds", st.integers(0, SEED_MAX))


# -- simulations ---------------------------------------------------------------------------------
@keywords_checked("js.simulations()", InvalidArgument)
def simulations(*targets: Any, seed: int | SearchStrategy[int] | None = None,
                start: Instant | SearchStrategy[Any] | None = None, profile: Any = None,
                tz: str | dt.tzinfo | None = None, functions: Any = None, exclude_functions: Any = None,
                max_chain: int | None = None,
                random_streams: str | None = None) -> SearchStrategy[Simulation]:  # fmt: skip
    """New (not yet started) ``jobsim.Simulation`` of ``targets``, with a drawn seed and start time.

    ``seed`` and ``start`` are fixed values or strategies; by default ``seeds()`` and
    ``instants()``. A target that is a function of no arguments is called for each
    example, so state it builds (a database, an app) is fresh every time. Start the
    drawn simulation with ``with sim:``. ``functions=``/``exclude_functions=`` select functions as
    ``Simulation``'s do; ``max_chain=`` and ``random_streams=`` are ``Simulation``'s too (fixed, not
    drawn). An app the profile cannot run is refused here.
    A drawn simulation prints as the code that builds it, ``jobsim.Simulation(app,
    start=..., seed=...)``, naming each target as the calling module does.
    """
    if not targets:
        raise InvalidArgument("simulations() needs the targets to simulate, e.g. simulations(app)")
    with _checking():
        spec.check_targets(targets)
        chosen = spec.profile(profile) if profile is not None else None
        local = zone(tz)  # naive start times are read in it, as Simulation does
        selection = {key: value for key, value in (("functions", functions),
                                                   ("exclude_functions", exclude_functions)) if value is not None}
        named = refuse_unrunnable(targets, chosen, selection)
        kept = {key: value for key, value in (("max_chain", max_chain), ("random_streams", random_streams))
                if value is not None}  # fmt: skip
        spec.check_simulation_keywords(kept)  # Simulation's own checks, at the test's line rather than per example
    seed_st = seeds() if seed is None else _fixed_or_drawn("seed", seed, spec.check_seed, "draw them with js.seeds()",
                                                           drawn_check=spec.check_drawn_seed)  # fmt: skip
    check_start: Callable[[Any], Any] = lambda value: instant_ns(value, "start", tz=local)  # noqa: E731
    start_st = instants() if start is None else _fixed_or_drawn("start", start, check_start,
                                                                "draw them with js.instants(...)")  # fmt: skip
    if start is None or isinstance(start, SearchStrategy):  # a fixed start prints as it was given
        start_st = start_st.map(IsoStart(local))

    frame = caller_frame(sys._getframe(1))  # past keywords_checked's wrapper
    caller = {**frame.f_globals, **frame.f_locals}  # a local app (a test's own) is what the example names
    del frame
    names = [st.just(target_code(target, caller, get_pretty_function_description)) for target in targets]
    shown: dict[str, SearchStrategy[Any]] = {}
    if chosen is not None:
        shown["profile"] = st.just(chosen.name)
    if tz is not None:
        shown["tz"] = st.just(zone_name(local))
    for key, value in selection.items():  # the ids, as the reproduction prints them (objects print as no code)
        shown[key] = st.just(named if named is not None else value)
    for key, value in kept.items():
        shown[key] = st.just(value)
    inner = st.builds(Build(targets, profile, tz, {**selection, **kept}), *names, start=start_st, seed=seed_st,
                      **shown)  # fmt: skip
    described = _changed(seed=(seed, None), start=(start, None), profile=(profile, None), tz=(tz, None),
                         functions=(functions, None), exclude_functions=(exclude_functions, None),
                         max_chain=(max_chain, None), random_streams=(random_streams, None))  # fmt: skip
    return _labelled("simulations", inner, *targets, **described)


# -- failures and faults ------------------------------------------------------------------------------
def injected_errors() -> SearchStrategy[Any]:
    """What an injected failure raises: ``None`` (``jobsim.InjectedFault``, retried), a
    ``ConnectionError`` (retried), ``jobsim.NonRetriableError`` (fails the step at once) or
    ``jobsim.RetryAfterError`` (retried after 1 s to 10 min instead of the backoff).
    Shrinks towards ``None``."""
    inner = st.one_of(
        st.none(),
        st.just(ConnectionError("injected: connection reset")),
        st.just(NonRetriableError("injected: permanent failure")),
        st.integers(1, 600).map(lambda s: RetryAfterError(format_duration(s * 1_000_000_000))),
    )
    return _labelled("injected_errors", inner)


def _error_strategy(errors: Any) -> SearchStrategy[Any]:
    if errors is None:
        return injected_errors()
    if isinstance(errors, SearchStrategy):
        return errors
    with _checking():
        return st.sampled_from(spec.errors(errors))


@keywords_checked("js.failure_patterns()", InvalidArgument, needs={"where": spec.WHERE_HELP})
def failure_patterns(where: Any, *, errors: Any = None, max_faults: int = 4, max_times: int = 3) -> SearchStrategy[FailurePattern]:  # noqa: E501
    """Which attempts of which functions and steps fail, and with which errors.

    ``where`` names the places that may fail: ``{"process-order": ["validate-order",
    "reserve-inventory", None]}`` (``None`` is the function body, between steps), a list
    of function ids or ``(function, step)`` pairs, or a ``jobsim.App``. A pattern is up
    to ``max_faults`` ``Fail`` values, each failing the next 1..``max_times`` attempts of
    its place; faults on one place queue up in order. ``errors`` is a strategy of
    exceptions or a list of them (default ``injected_errors()``). Shrinks towards no
    failure at all.
    """
    with _checking():
        pairs = spec.targets(where)
        spec.size("max_faults", max_faults)
        spec.size("max_times", max_times, 1)
    fail = st.builds(
        lambda place, times, error: Fail(function=place[0], step=place[1], times=times, error=error),
        st.sampled_from(pairs), st.integers(1, max_times), _error_strategy(errors),
    )  # fmt: skip
    inner = st.lists(fail, max_size=max_faults).map(lambda fails: FailurePattern(tuple(fails)))
    shown = _changed(errors=(errors, None), max_faults=(max_faults, 4), max_times=(max_times, 3))
    return _labelled("failure_patterns", inner, spec.as_ids(where), **shown)


def _offsets(within_ns: int) -> SearchStrategy[str]:
    return st.integers(0, within_ns // 1_000_000).map(lambda ms: format_duration(ms * 1_000_000))


@keywords_checked("js.faults()", InvalidArgument, needs={"functions": "the functions faults strike, as "
                  "failure_patterns' where: " + spec.WHERE_HELP})
def faults(*, functions: Any, kinds: Any = None, profile: Any = None, within: Duration = "1h",
           errors: Any = None, max_times: int = 3) -> SearchStrategy[Fault]:  # fmt: skip
    """One fault: ``Fail``, ``Crash``, ``Downtime`` or ``Duplicate``, drawn in that order of simplicity.

    ``functions`` names where faults strike (as ``failure_patterns``' ``where``).
    ``kinds`` picks among ``"fail"``, ``"crash"``, ``"downtime"``, ``"duplicate"``; given a
    ``profile`` (a name, ``jobsim.Profile`` or simulation), only what that system can
    suffer is drawn and asking for more is an error. By default every kind the profile
    supports that this jobsim's ``Simulation`` can inject. Times are offsets within
    ``within`` of the moment the fault is applied.
    """
    with _checking():
        pairs = spec.targets(functions, "functions")
        chosen = spec.profile(profile)
        wanted = spec.kinds(kinds, chosen)
        within_ns = spec.within(within)
        spec.size("max_times", max_times, 1)
    names = spec.functions_of(pairs)
    maybe_function = st.one_of(st.none(), st.sampled_from(names))
    maybe_at = st.one_of(st.none(), _offsets(within_ns))
    by_kind: dict[str, SearchStrategy[Fault]] = {
        "fail": st.builds(lambda place, times, error: Fail(function=place[0], step=place[1], times=times, error=error),
                          st.sampled_from(pairs), st.integers(1, max_times), _error_strategy(errors)),
        "crash": st.builds(lambda at, function: Crash(at=at, function=function), maybe_at, maybe_function),
        "downtime": st.builds(
            lambda start, length: Downtime(start=start, end=format_duration(duration_ns(start) + duration_ns(length))),
            _offsets(within_ns), _offsets(within_ns).filter(lambda length: duration_ns(length) > 0),
        ),
        "duplicate": st.builds(lambda function, at, times: Duplicate(function=function, at=at, times=times),
                               maybe_function, maybe_at, st.integers(1, max_times)),
    }  # fmt: skip
    inner = st.one_of([by_kind[kind] for kind in FAULT_KINDS if kind in wanted])
    shown = _changed(functions=(spec.as_ids(functions), None), kinds=(kinds, None), profile=(profile, None),
                     within=(within, "1h"), errors=(errors, None), max_times=(max_times, 3))  # fmt: skip
    return _labelled("faults", inner, **shown)


# -- events ------------------------------------------------------------------------------------------
@keywords_checked("js.fake_payloads()", InvalidArgument)
def fake_payloads(fields: Mapping[str, str] | None = None, *, locale: str = "en_US") -> SearchStrategy[dict[str, Any]]:
    """Event data from Faker: ``fake_payloads({"userId": "uuid4", "email": "email"})``.

    Each value comes from the named Faker provider (dates become ISO text). The
    default fields are ``id``, ``userId`` (uuid4), ``email`` and ``name``. Faker is
    reseeded per payload from a drawn seed, so payloads replay exactly and shrink
    (to the payload of seed 0).
    """
    if fields is not None and not isinstance(fields, Mapping):
        raise InvalidArgument.build("fields", fields, "a mapping of field name to Faker provider name")
    with _checking():
        data = FakeData(fields, locale=locale)
    inner = st.integers(0, SEED_MAX).map(data.payload)
    shown = _changed(locale=(locale, "en_US"))
    return _labelled("fake_payloads", inner, *(() if fields is None else (fields,)), **shown)


def _named_payloads(events: Any) -> SearchStrategy[tuple[str, Mapping[str, Any]]]:
    """``(name, data)`` pairs from ``{name: payload strategy or None}`` or a list of names."""
    choices = []
    for name, payload in spec.event_items(events):
        if not isinstance(name, str) or not name.strip():
            raise InvalidArgument.build("events", events, f"event name {name!r} is not a non-empty string")
        argument = f"events[{name!r}]"
        payload_st = fake_payloads() if payload is None else _checked(
            argument, _strategy(argument, payload), spec.check_payload,
            "a payload strategy draws the event's data, a dict: st.fixed_dictionaries({...}), st.builds(dict, ...)")
        choices.append(st.tuples(st.just(name), payload_st))
    return st.one_of(choices)


def _as_pair(value: Any) -> tuple[Any, ...]:
    """A drawn event as ``(name, data)``, or ``(name, data, id)`` when it carries its own id."""
    if isinstance(value, Event):
        return (value.name, value.data) if value.id is None else (value.name, value.data, value.id)
    if isinstance(value, tuple) and len(value) in (2, 3):
        return value
    raise InvalidArgument.build("events", value, "a strategy of jobsim.Event or (name, data) pairs drew this")


@keywords_checked("js.event_streams()", InvalidArgument)
def event_streams(events: Any, *, min_size: int = 0, max_size: int = 10, gaps: SearchStrategy[Any] | None = None,
                  ids: SearchStrategy[str | None] | None = None) -> SearchStrategy[EventStream]:  # fmt: skip
    """Sequences of events with inter-arrival times.

    ``events``: ``{"order/placed": orders(), "cart/completed": None}`` (payload strategies;
    ``None`` draws ``fake_payloads()``), a list of names (all faker-backed), or a strategy
    of ``jobsim.Event``. ``gaps`` draws the time before each event (default
    ``durations(0, "1h")``: 0 puts events at the same instant). ``ids`` draws explicit
    event ids (a repeated id within 24 h starts no run of a function that ran for it, or a queue's profile
    drops it); by default the bus assigns them.
    """
    with _checking():
        low, high = spec.sizes(min_size, max_size)
        pairs = events.map(_as_pair) if isinstance(events, SearchStrategy) else _named_payloads(events)
        gap_st = durations(0, "1h") if gaps is None else _checked(
            "gaps", _strategy("gaps", gaps), lambda gap: duration_ns(gap, "gaps"), "draw them with js.durations(...)")
        id_st = st.none() if ids is None else _checked("ids", _strategy("ids", ids), spec.check_event_id,
                                                       "e.g. st.text(min_size=1) or st.sampled_from(['e1', 'e2'])")
    send = st.builds(send_of, gap_st, pairs, id_st)
    inner = st.lists(send, min_size=low, max_size=high).map(lambda sends: EventStream(tuple(sends)))
    shown = _changed(min_size=(min_size, 0), max_size=(max_size, 10), gaps=(gaps, None), ids=(ids, None))
    return _labelled("event_streams", inner, events, **shown)


@keywords_checked("js.histories()", InvalidArgument)
def histories(
    *,
    events: SearchStrategy[EventStream] | None = None,
    failures: SearchStrategy[FailurePattern] | None = None,
    faults: SearchStrategy[Fault] | None = None,
    max_faults: int = 3,
) -> SearchStrategy[History]:
    """A whole story to ``apply``: an event stream, a failure pattern and up to ``max_faults`` faults."""
    with _checking():
        event_st = st.just(EventStream()) if events is None else _strategy(
            "events", events, "event_streams", EventStream, takes_list=True)
        failure_st = st.just(FailurePattern()) if failures is None else _strategy(
            "failures", failures, "failure_patterns", FailurePattern, takes_list=True)
        fault_st = st.just([]) if faults is None else st.lists(
            _strategy("faults", faults, "faults", (Fail, Crash, Downtime, Duplicate)), max_size=max_faults
        ).filter(downtimes_disjoint)  # sim.downtime() refuses overlapping windows
        spec.size("max_faults", max_faults)
        _not_swapped(events=events, failures=failures, faults=faults)
    inner = st.builds(lambda stream, pattern, more: History(faults=(*pattern, *more), events=tuple(stream)),
                      event_st, failure_st, fault_st)  # fmt: skip
    shown = _changed(events=(events, None), failures=(failures, None), faults=(faults, None),
                     max_faults=(max_faults, 3))  # fmt: skip
    return _labelled("histories", inner, **shown)


_MEANT = {"events": "event_streams", "failures": "failure_patterns", "faults": "faults"}
"""``histories``' arguments and the strategy of this module that draws what each takes."""


def _not_swapped(**given: Any) -> None:
    """``histories(failures=js.faults(...))``: a strategy of this module given for another argument is named
    with the argument it is for, as it is built (it died in generation with a bare ``TypeError``)."""
    for argument, value in given.items():
        if value is None:
            continue
        maker = repr(value).split("(", 1)[0]
        meant = next((name for name, strategy in _MEANT.items() if strategy == maker), None)
        if meant is not None and meant != argument:
            raise InvalidArgument(f"js.histories({argument}={value!r}): {maker}() draws what {meant}= takes; pass it "
                                  f"as {meant}=, and give {argument}= js.{_MEANT[argument]}(...)")


# -- policies and schedules ---------------------------------------------------------------------------
BACKOFFS = ("exponential", "linear", "constant")


@keywords_checked("js.retry_policies()", InvalidArgument)
def retry_policies(
    *,
    attempts: int | SearchStrategy[int] | None = None,
    backoffs: Sequence[str] = BACKOFFS,
    min_delay: SearchStrategy[Any] | None = None,
    max_delay: SearchStrategy[Any] | None = None,
    jitter: SearchStrategy[Any] | None = None,
    profile_backoff: bool = True,
) -> SearchStrategy[Retries]:
    """``jobsim.Retries`` values: attempts (default 1..10), a backoff, ``min`` (default 100 ms..1 min),
    an optional cap ``max >= min`` (drawn as ``min`` plus ``max_delay``; by default at most 1 h in all) and
    an optional ``jitter`` (default up to 30 s). With ``profile_backoff``, some policies
    give only ``attempts`` and keep the profile's own backoff."""
    with _checking():
        if attempts is None:
            attempts_st = st.integers(1, 10)
        else:
            attempts_st = _fixed_or_drawn("attempts", attempts, lambda n: Retries(n), "e.g. st.integers(1, 10)")
        chosen = [backoffs] if isinstance(backoffs, str) else list(backoffs) if isinstance(backoffs, Sequence) else []
        if not chosen or any(not isinstance(b, str) or b not in BACKOFFS for b in chosen):
            raise InvalidArgument.build("backoffs", backoffs, "some of " + ", ".join(map(repr, BACKOFFS)))
        def delays(name: str, given: Any, default: SearchStrategy[dt.timedelta]) -> SearchStrategy[Any]:
            if given is None:
                return default
            return _checked(name, _strategy(name, given), lambda value: duration_ns(value, name),
                            "draw them with js.durations(...)")  # fmt: skip

        min_st = delays("min_delay", min_delay, durations("100ms", "1m"))
        cap_st = st.one_of(st.none(), delays("max_delay", max_delay, durations(0, "1h")))
        jitter_st = st.one_of(st.none(), delays("jitter", jitter, durations("1ms", "30s")))
        if not isinstance(profile_backoff, bool):
            raise InvalidArgument.build("profile_backoff", profile_backoff, "True or False")

    build = retries_of if max_delay is not None else _within_an_hour  # the default cap: 1 h at most, min included
    explicit = st.builds(build, attempts_st, st.sampled_from(chosen), min_st, cap_st, jitter_st)
    inner = st.one_of(attempts_st.map(Retries), explicit) if profile_backoff else explicit
    shown = _changed(attempts=(attempts, None), backoffs=(backoffs, BACKOFFS), min_delay=(min_delay, None),
                     max_delay=(max_delay, None), jitter=(jitter, None),
                     profile_backoff=(profile_backoff, True))  # fmt: skip
    return _labelled("retry_policies", inner, **shown)


_HOUR = dt.timedelta(hours=1)


def _within_an_hour(n: int, backoff: str, low: Any, extra: dt.timedelta | None, spread: Any) -> Retries:
    """``retries_of`` with the default ``max_delay``: the cap, ``min`` plus up to 1 h, held to 1 h (or ``min``, when
    a ``min_delay=`` strategy drew more). It reached 1 h 1 min: a policy past the bound the docs give. Held rather
    than drawn below ``1h - min`` so that the draws, and how they shrink, stay as they were."""
    if extra is not None:
        room = max(_HOUR - dt.timedelta(microseconds=duration_ns(low, "min_delay") // 1000), dt.timedelta(0))
        extra = min(extra, room)
    return retries_of(n, backoff, low, extra, spread)


def _cron_field(low: int, high: int) -> SearchStrategy[str]:
    """One cron field: ``*``, ``n``, ``*/s``, ``a-b``, ``a-b/s`` or a list; shrinks to ``*``."""
    value = st.integers(low, high)
    ranged = st.tuples(value, value).filter(lambda ab: ab[0] < ab[1])
    step = st.integers(2, max(2, high - low))
    return st.one_of(
        st.just("*"),
        value.map(str),
        step.map(lambda s: f"*/{s}"),
        ranged.map(lambda ab: f"{ab[0]}-{ab[1]}"),
        st.tuples(ranged, step).map(lambda r: f"{r[0][0]}-{r[0][1]}/{r[1]}"),
        st.lists(value, min_size=2, max_size=4, unique=True).map(lambda xs: ",".join(map(str, sorted(xs)))),
    )


@keywords_checked("js.cron_expressions()", InvalidArgument)
def cron_expressions(*, zones: Sequence[str] | SearchStrategy[str] | None = None, descriptors: bool = True,
                     both_days: bool = True, profile: Any = None) -> SearchStrategy[str]:  # fmt: skip
    """Valid 5-field cron expressions that fire (jobsim's dialect, robfig/Inngest's fields).

    Fields are ``*``, values, steps, ranges and lists; a restricted month keeps the
    day of month at 1-28 so every expression fires. ``descriptors`` adds the seven of
    ``@yearly @annually @monthly @weekly @daily @midnight @hourly``; ``zones`` (names or a
    strategy) puts Inngest's ``TZ=Zone`` prefix before the fields, never before a descriptor
    (no system takes that, so with ``zones`` no descriptor is drawn); ``both_days=False`` never
    restricts day-of-month and day-of-week together.

    ``profile`` (a name, ``jobsim.Profile`` or simulation, as ``simulations()`` and ``faults()``
    take it): only what that profile's cron accepts, built to its dialect (no descriptors for
    Inngest and Vercel, only those its parser knows, one minute and hour on Vercel Hobby, not both
    days on Vercel) and each draw checked as ``app.function(cron=...)`` and the profile's build
    check are. ``zones`` with a profile that takes ``tz=`` instead of ``TZ=`` is refused. Without
    ``profile`` the draws are not all accepted by any one system: Inngest refuses the descriptors,
    cron-parser (BullMQ, Agenda) ``@midnight``, cron-parser 4 (Trigger.dev, Quirrel) ``@annually``
    and ``@midnight``, Vercel descriptors, ``TZ=`` and both days.
    """
    with _checking():
        if zones is not None and not isinstance(zones, SearchStrategy):
            names = spec.zone_names(zones)
        for name, flag in (("descriptors", descriptors), ("both_days", both_days)):
            if not isinstance(flag, bool):
                raise InvalidArgument.build(name, flag, "True or False")
        chosen = spec.profile(profile)
        accepts = None if chosen is None else _cron_accepted_by(chosen, profile, zones is not None)
    dialect = getattr(chosen, "cron", None)
    one_day_field = not both_days or getattr(dialect, "dom_dow", "or") == "exclusive"  # Vercel: one of them is '*'
    daily = bool(getattr(dialect, "once_a_day", False))  # Vercel Hobby: a single minute and hour

    def build(minute: str, hour: str, month: str, dom_any: str, dom_short: str, dow: str) -> str:
        dom = dom_any if month == "*" else dom_short
        if one_day_field and dom != "*" and dow != "*":
            dow = "*"
        return f"{minute} {hour} {dom} {month} {dow}"

    minute_st, hour_st = (st.integers(0, 59).map(str), st.integers(0, 23).map(str)) if daily else \
        (_cron_field(0, 59), _cron_field(0, 23))
    fields = st.builds(build, minute_st, hour_st, _cron_field(1, 12),
                       _cron_field(1, 31), _cron_field(1, 28), _cron_field(0, 6))  # fmt: skip
    if zones is not None:  # Inngest's TZ= takes fields only: 'TZ=Europe/Paris @annually' no system accepts
        zone_st = _checked("zones", zones, spec.check_zone_name, "e.g. st.sampled_from(['UTC', 'America/New_York'])") \
            if isinstance(zones, SearchStrategy) else st.sampled_from(names)
        expr = st.builds(lambda z, e: f"TZ={z} {e}", zone_st, fields)
    else:  # the descriptors the profile's parser knows, asked once here
        known = [d for d in sorted(DESCRIPTORS) if accepts is None or accepts(d)] if descriptors else []
        expr = st.one_of(fields, st.sampled_from(known)) if known else fields
        if accepts is not None and not known and not accepts("0 0 1 1 *"):  # the filter would refuse every draw
            raise InvalidArgument.build("profile", profile, "a profile whose cron schedules functions")
    if accepts is not None:  # what construction cannot see (a plugin's dialect, DOM AND DOW never firing)
        expr = expr.filter(accepts)
    shown = _changed(zones=(zones, None), descriptors=(descriptors, True), both_days=(both_days, True),
                     profile=(profile, None))  # fmt: skip
    return _labelled("cron_expressions", expr, **shown)


def _cron_accepted_by(chosen: Any, name: Any, zoned: bool) -> Callable[[str], bool]:
    """Whether profile ``chosen``'s cron (``name``: as given) takes an expression, asked as ``app.function(cron=...)``
    and the profile's build-time check do (``resolve_function``). ``zoned``: the ``TZ=`` prefix ``zones=`` writes,
    which only Inngest reads, is refused at once for another profile."""
    from ._app import App
    from ._profiles import resolve_function

    def accepts(expr: str) -> bool:
        app = App("cron-check")
        try:
            app.function("f", cron=expr)(lambda ctx: None)
            resolve_function(chosen, app.functions["f"])
        except (_JobsimInvalidArgument, UnsupportedFeature):
            return False
        return True

    if zoned and not accepts("TZ=UTC 0 9 * * *"):
        raise InvalidArgument(f"js.cron_expressions(zones=..., profile={name!r}): zones= writes Inngest's TZ= "
                              f"prefix, which {chosen.label} refuses; draw the zone apart and give it as the "
                              "function's tz= (st.sampled_from([...]) draws it)")
    return accepts


# -- rule-based state machines -----------------------------------------------------------------------
class _JobMachine(MachineRun, RuleBasedStateMachine):
    """A ``MachineRun`` (the world, its simulation, the script) as a Hypothesis state machine: ``machine()``'s base."""


@keywords_checked("js.machine()", InvalidArgument)
def machine(setup: Callable[[], Any], *, events: Any, targets: Any = None, send: Callable[..., Any] | None = None,
            advance: SearchStrategy[Any] | None = None, faults: SearchStrategy[Fault] | None = None,
            invariants: Sequence[spec.Check] = (), at_end: Sequence[spec.Check] = (),
            on_start: spec.Check | None = None, rules: Mapping[str, Callable[..., Any]] | None = None,
            seed: Any = None, start: Any = None, profile: Any = None, tz: str | None = None, then: Then = "idle",
            name: str = "JobMachine", settings: Any = None) -> type[RuleBasedStateMachine]:  # fmt: skip
    """A Hypothesis rule-based state machine over a simulation, from plain functions.

    Each example calls ``setup()`` for a fresh *world* (an App, or an object holding one
    — ``targets="app"`` says where), starts a simulation of it with a drawn seed and
    start, calls ``on_start(sim, world)`` (HTTP routes, say), then runs a random
    program of these rules:

    * ``send_event``: an event from ``events`` (as ``event_streams``' ``events``), sent
      with ``sim.send`` or with ``send(sim, world, event)``;
    * ``advance_time``: ``sim.advance`` by a drawn duration (``advance``, default 1 s..1 h);
    * ``inject_fault``: a drawn fault, if ``faults`` is given;
    * one rule per item of ``rules``: ``fn(sim, world, draw)``, drawing with ``draw(strategy)``.

    After every rule each ``invariants`` check runs as ``check(sim, world)``; at the end
    the simulation runs until idle (``then``) and the ``at_end`` checks run. A failing
    program prints the plain jobsim test that replays it. Use the result's ``TestCase``
    as a test: ``TestShop = machine(...).TestCase``; ``settings`` applies to it.
    """
    with _checking():
        checked = spec.machine_arguments(setup, name=name, targets=targets, send=send, invariants=invariants,
                                         at_end=at_end, on_start=on_start, rules=rules, then=then)  # fmt: skip
        event_st = events.map(_as_pair) if isinstance(events, SearchStrategy) else _named_payloads(events)
        advance_st = durations("1s", "1h") if advance is None else _strategy("advance", advance)
        fault_st = None if faults is None else _strategy("faults", faults)
        seed_st = seeds() if seed is None else _fixed_or_drawn("seed", seed, spec.check_seed)
        start_st = instants() if start is None else _fixed_or_drawn("start", start, lambda v: instant_ns(v, "start"))
        if profile is not None:
            spec.profile(profile)
        zone(tz)
    namespace: dict[str, Any] = {
        "_setup": staticmethod(setup), "_then": then, "_invariants": checked["invariants"],
        "_at_end": checked["at_end"], "_on_start": None if on_start is None else staticmethod(on_start),
        "_options": {"targets": checked["targets"], "profile": profile, "tz": tz},
        "open_world": initialize(seed=seed_st, start=start_st)(_JobMachine._open),
        "send_event": rule(event=event_st)(send_rule(send)),
        "advance_time": rule(by=advance_st)(_JobMachine._advance_rule),
        "invariants_hold": invariant()(_JobMachine._check),
    }  # fmt: skip
    if fault_st is not None:
        namespace["inject_fault"] = rule(fault=fault_st)(_JobMachine._fault_rule)
    for rule_name, fn in checked["rules"].items():
        namespace[rule_name] = rule(data=st.data())(custom_rule(rule_name, fn))
    cls: type[RuleBasedStateMachine] = type(name, (_JobMachine,), namespace)
    if settings is not None:
        cls.TestCase.settings = settings
    return cls


