"""KeyWarning: a flow-control key path that read nothing on any event (a typo) is named when the simulation closes.

Every such event shares one key, as on Inngest (a missing field is CEL ``false``), and the results stay so;
only the warning is new.
"""

import warnings

import pytest
from _readme import section
from hypothesis import given, settings
from hypothesis import strategies as st

import jobsim
from jobsim import Batch, Concurrency, Debounce, Throttle


def key_warnings(app, sends):
    """The KeyWarning messages closing a simulation of ``sends`` (event data) gives, and the runs."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
            for data in sends:
                sim.send("user/acted", data)
            sim.run_until_idle()
    runs = {fn: [(run.status, run.output) for run in sim.runs(fn)] for fn in app.functions}
    return [str(w.message) for w in caught if w.category is jobsim.KeyWarning], runs


def debounced(key):
    app = jobsim.App("a")

    @app.function("sync", on="user/acted", debounce=Debounce(period="5m", key=key))
    def sync(ctx):
        return ctx.event.data["userId"]

    return app


def batched(key):
    app = jobsim.App("a")

    @app.function("digest", on="user/acted", batch=Batch(max_size=10, timeout="30s", key=key))
    def digest(ctx):
        return [event.data["userId"] for event in ctx.events]

    return app


USERS = [{"userId": "u1", "email": "a@x"}, {"userId": "u2", "email": "b@x"}, {"userId": "u1", "email": "c@x"}]


def test_a_misspelt_debounce_key_warns_naming_the_fields_and_the_close_match():
    messages, runs = key_warnings(debounced("event.data.userID"), USERS)
    assert messages == [
        "function 'sync': its debounce key 'event.data.userID' read nothing on all 3 events it was evaluated on "
        "(missing or null on each), so they all shared one key; a typo? event.data has the fields 'email', "
        "'userId' (did you mean event.data.userId?)"
    ]
    assert runs == {"sync": [("completed", "u1")]}  # one debounce swallowed every user's events, as on Inngest


def test_a_misspelt_batch_key_warns_likewise_and_the_batch_still_merges_users():
    messages, runs = key_warnings(batched("event.data.user_id"), USERS)
    assert len(messages) == 1
    assert messages[0].startswith("function 'digest': its batch key 'event.data.user_id' read nothing on all 3 ")
    assert messages[0].endswith("(did you mean event.data.userId?)")
    assert runs == {"digest": [("completed", ["u1", "u2", "u1"])]}


def test_the_correct_key_does_not_warn():
    messages, runs = key_warnings(debounced("event.data.userId"), USERS)
    assert messages == []
    assert sorted(output for _, output in runs["sync"]) == ["u1", "u2"]
    assert key_warnings(batched("event.data.userId"), USERS)[0] == []


def test_a_key_missing_on_some_events_but_not_all_does_not_warn():
    sends = [{"email": "a@x", "userId": None}, {"email": "b@x"}, {"userId": "u2", "email": "c@x"}]
    assert key_warnings(batched("event.data.userId"), sends)[0] == []


def test_one_event_is_no_evidence():
    assert key_warnings(debounced("event.data.userID"), USERS[:1])[0] == []


def test_a_key_null_on_every_event_warns_so():
    messages, _ = key_warnings(batched("event.data.userId"), [{"userId": None}, {"userId": None}])
    assert messages == [
        "function 'digest': its batch key 'event.data.userId' read nothing on all 2 events it was evaluated on "
        "(missing or null on each), so they all shared one key; the field is null on every one"
    ]


def test_a_false_key_is_a_value():
    """A boolean ``false`` field is CEL ``false`` too, but the path read it: no typo."""
    assert key_warnings(batched("event.data.vip"), [{"vip": False}, {"vip": False}])[0] == []


def test_other_options_warn_too_and_constants_and_callables_never_do():
    app = jobsim.App("a")

    @app.function("render", on="user/acted", idempotency="event.dta.userId",
                  concurrency=[Concurrency(1, key="event.data.userid"), Concurrency(5, key='"api"', scope="env")],
                  throttle=Throttle(limit=10, period="1m", key=lambda event: None))  # fmt: skip
    def render(ctx):
        return ctx.event.data["userId"]

    messages, _ = key_warnings(app, USERS)
    assert [message.split(" read ")[0] for message in messages] == [
        "function 'render': its idempotency key 'event.dta.userId'",
        "function 'render': its concurrency key 'event.data.userid'",
    ]
    fields = "event has the fields 'data', 'id', 'name', 'ts', 'user', 'v' (did you mean event.data.userId?)"
    assert fields in messages[0]


def test_idempotency_rate_limit_and_singleton_say_nothing_was_keyed():
    """A missing key is CEL ``false``, which these options skip: no run was deduplicated, limited or a
    singleton (the warning said "they all shared one key", which would have skipped the repeats)."""
    app = jobsim.App("a")
    options = {"ide": {"idempotency": "event.data.userID"},
               "rl": {"rate_limit": jobsim.RateLimit(limit=1, period="1h", key="event.data.userID")},
               "one": {"singleton": jobsim.Singleton(key="event.data.userID", mode="skip")}}
    for name, option in options.items():
        app.function(name, on="user/acted", **option)(lambda ctx: ctx.event.data["userId"])

    messages, runs = key_warnings(app, USERS)
    assert {fn: [status for status, _ in done] for fn, done in runs.items()} == {
        fn: ["completed"] * 3 for fn in options}  # the same user twice: neither skipped
    ends = sorted(message.split("(missing or null on each), ")[1].split(";")[0] for message in messages)
    assert ends == ["so none ran as a singleton (a missing key is CEL false: no singleton)",
                    "so none was deduplicated (a missing key is CEL false, which no run is skipped by)",
                    "so none was rate-limited (a missing key is CEL false, which the limit lets through)"]


def test_the_warning_points_at_the_with_line():
    with pytest.warns(jobsim.KeyWarning) as caught, jobsim.Simulation(debounced("event.data.userID")) as sim:
        sim.send("user/acted", USERS[0])
        sim.send("user/acted", USERS[1])
        sim.run_until_idle()
    assert caught[0].filename == __file__


@settings(max_examples=5, deadline=None)
@given(st.integers(2, 4))
def test_not_inside_a_hypothesis_test(n):
    """Drawn events may all lack an optional field: a search is not told about it each example."""
    assert key_warnings(debounced("event.data.userID"), USERS[:1] * n)[0] == []


def test_the_readme_quotes_the_warning_as_it_is():
    text = " ".join(section("### Flow control").split())
    (message,) = key_warnings(debounced("event.data.userID"), USERS)[0]
    head, tail = text.split("`function 'sync': ", 1)[1].split("`", 1)[0].split(" ... ")
    assert message.startswith("function 'sync': " + head) and message.endswith(tail)


def test_a_short_field_in_another_case_is_still_the_match():
    """difflib finds no likeness between ``ID`` and ``id``; a case-insensitive match is the suggestion then."""
    (message,) = key_warnings(batched("event.data.ID"), [{"id": 1, "userId": "u1"}, {"id": 2, "userId": "u2"}])[0]
    assert message.endswith("event.data has the fields 'id', 'userId' (did you mean event.data.id?)")
