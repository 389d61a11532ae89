"""The send path's shortcuts (``_events.sent_data``, ``_flat_copy``, ``plain_event``) against what they skip.

``sim.send("name", {...})`` copies flat data with ``dict()`` instead of orjson's round trip, and a run's
own copy of its event (``for_run``) checks and copies it in one pass, sorted for JCS: each must give
exactly what the JSON copy (and ``canonical``) give, types and float signs included, or refuse the same way.
"""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jobsim
from jobsim._events import Event, _stamped, as_sent, canonical, for_run, json_copy, sent_data
from jobsim.errors import InvalidArgument

START = "2025-01-01T00:00:00Z"


def simulation():
    app = jobsim.App("a")

    @app.function("f", on="x/y")
    def f(ctx):
        return ctx.event.data

    return jobsim.Simulation(app, start=START)

_EDGES = [0, 1, -1, 2**53 - 1, 2**53, 2**53 + 1, -(2**53), -(2**53) - 1, 2**63 - 1, 2**63, 2**64, 2**64 + 1,
          -(2**63), -(2**63) - 1, 10**20 + 1, 10**21, 10**30, 10**400]  # fmt: skip
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(_EDGES),
    st.floats(), st.sampled_from([-0.0, 0.0, 1e21, 1e20, 2.0**53, 5e-324, float("nan"), float("inf")]),
    st.text(max_size=4), st.sampled_from(["é", "\ud800", "a\x00", "\U0001f600"]),
)  # fmt: skip
keys = st.one_of(st.text(max_size=3), st.sampled_from(["é", "\U0001f600", "\ud800", "b", "B"]), st.integers(-3, 3))
values = st.one_of(scalars, st.lists(scalars, max_size=2), st.dictionaries(st.text(max_size=2), scalars, max_size=2))
flat = st.dictionaries(keys, scalars, max_size=6)
data = st.one_of(flat, st.dictionaries(keys, values, max_size=4))


def typed(value):
    """``value`` with every type and float spelled out: ``1 == 1.0 == True`` and ``0.0 == -0.0`` tell nothing."""
    if isinstance(value, dict):
        return ("dict", [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value.hex())
    return (type(value).__name__, value)


def outcome(make, *args):
    try:
        return "ok", typed(make(*args))
    except InvalidArgument as exc:
        return "refused", str(exc)


@settings(max_examples=400, deadline=None)
@given(data)
def test_sent_data_is_the_json_copy(value):
    if not value:
        return  # an empty dict is not copied: send makes a fresh {}
    assert outcome(sent_data, value) == outcome(json_copy, "data", value)
    made = sent_data(value) if outcome(sent_data, value)[0] == "ok" else None
    assert made is not value


def _reference_for_run(event, jcs):
    """What a run's own copy is: the JSON copy the bus made, then JCS's order and numbers (``canonical``)."""
    own = as_sent(event)
    if jcs:
        object.__setattr__(own, "data", canonical(own.data))
        if own.user is not None:
            object.__setattr__(own, "user", canonical(own.user))
    return own


@settings(max_examples=400, deadline=None)
@given(data, st.one_of(st.none(), flat), st.booleans())
def test_a_runs_own_copy_is_the_json_copy_then_canonical(value, user, jcs):
    event = _stamped(Event("x/y", {}), "01", 5)
    object.__setattr__(event, "data", value)
    object.__setattr__(event, "user", user)
    try:
        expected = _reference_for_run(event, jcs)
    except InvalidArgument:
        assert for_run(event, jcs) is event  # not JSON (a plugin's own event): shared
        return
    own = for_run(event, jcs)
    assert own is not event and (own.data is not value or not value)
    assert typed(own.data) == typed(expected.data) and typed(own.user) == typed(expected.user)
    assert (own.name, own.id, own.ts, own.v) == (event.name, event.id, event.ts, event.v)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(keys, scalars, min_size=1, max_size=4))
def test_sim_send_keeps_what_the_json_copy_makes_and_refuses_what_it_refuses(value):
    with simulation() as sim:
        expected = outcome(json_copy, "data", value)
        try:
            sim.send("x/y", value)
        except InvalidArgument as exc:
            assert expected == ("refused", str(exc))
            assert sim.events == []
            return
        (event,) = sim.events
        assert ("ok", typed(event.data)) == expected and event.data is not value


@pytest.mark.parametrize("name", ["", "   ", "\n"])
def test_sim_send_refuses_a_bad_name_as_event_does(name):
    with pytest.raises(InvalidArgument) as made:
        Event(name, {"a": 1})
    with simulation() as sim:
        with pytest.raises(InvalidArgument) as sent:
            sim.send(name, {"a": 1})
        assert str(sent.value) == str(made.value) and sim.events == []


def test_a_sent_events_fields_are_the_ones_event_makes():
    with simulation() as sim:
        payload = {"n": 1}
        sim.send("x/y", payload)
        sim.send("x/y")
        payload["n"] = 2
        first, second = sim.events
        assert type(first) is Event and first.data == {"n": 1} and second.data == {}
        assert (first.user, first.v, second.user, second.v) == (None, None, None, None)
        assert first.ts == second.ts == sim.now_ns() // 1_000_000 and first.id != second.id
        assert first == Event("x/y", {"n": 1}, id=first.id, ts=first.ts)
        sim.run_until_idle()
