"""throttle= (GCRA, excess delayed FIFO), rate_limit= (GCRA, excess skipped) and idempotency=."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jobsim
from jobsim import Event, RateLimit, Throttle
from jobsim._time import MS, SECOND, instant_ns, to_datetime

START = "2025-03-01T00:00:00Z"
T0 = instant_ns(START)
MINUTE = 60 * SECOND


def app_with(name="job", **options):
    app = jobsim.App("a")

    @app.function(name, on="job/go", **options)
    def job(ctx):
        return ctx.event.data.get("i")

    return app


def send_at(sim, plan):
    for ms, data in plan:
        sim.advance_to(to_datetime(T0 + ms * MS))
        sim.send("job/go", data)


def starts(runs):
    return [(r.start_ns - T0) // SECOND for r in runs]


def within_gcra(times_ns, limit, period_ns, capacity):
    """Every closed window [a, b] of starts holds at most capacity + floor((b - a)·limit/period)."""
    times = sorted(times_ns)
    for i, first in enumerate(times):
        for j in range(i, len(times)):
            allowed = capacity + (times[j] - first) * limit // period_ns
            if j - i + 1 > allowed:
                return False
    return True


# -- throttle -------------------------------------------------------------------------------


def test_throttle_delays_the_excess_fifo_and_drops_nothing():
    app = app_with(throttle=Throttle(limit=2, period="1m"))
    with jobsim.Simulation(app, start=START) as sim:
        for i in range(5):
            sim.send("job/go", {"i": i})
        sim.advance(0)
        assert [r.status for r in sim.runs("job")] == ["completed"] * 2 + ["queued"] * 3
        sim.run_until_idle()
    runs = sim.runs("job")
    assert [r.output for r in runs] == [0, 1, 2, 3, 4]
    assert starts(runs) == [0, 0, 30, 60, 90]  # 2 at once from rest, then one every 60s/2
    assert [r.data["reason"] for r in sim.trace.of("run.queued")] == ["throttle"] * 3


def test_throttle_burst_adds_to_the_capacity_at_rest():
    app = app_with(throttle=Throttle(limit=1, period="10s", burst=2))
    with jobsim.Simulation(app, start=START) as sim:
        for i in range(5):
            sim.send("job/go", {"i": i})
        sim.run_until_idle()
    assert starts(sim.runs("job")) == [0, 0, 0, 10, 20]


def test_a_throttled_run_starts_on_a_whole_millisecond():
    """Inngest's throttle reads a millisecond clock: constraintapi/acquire.go passes ``now.UnixMilli()`` and
    lua.go the period ``* 1000`` to helper/gcra.lua ``throttle``, whose check is ``floor((dvt - ttl) / e) >= 1``
    with ``e = period / limit``. limit 3 per 1 s: three at once, then e = 333.33 ms: the 4th is allowed at the
    first whole ms with 3t >= 1000, 334 ms (not 333.333334 ms), then 667, 1000 and 1334 ms."""
    app = app_with(throttle=Throttle(limit=3, period="1s"))
    with jobsim.Simulation(app, start=START) as sim:
        for i in range(7):
            sim.send("job/go", {"i": i})
        sim.run_until_idle()
    assert [r.start_ns - T0 for r in sim.runs("job")] == [0, 0, 0, 334 * MS, 667 * MS, 1000 * MS, 1334 * MS]


def test_a_throttle_floors_the_send_instant_to_the_millisecond():
    """UnixMilli floors: two runs at 0.4 ms, limit 1 per 1 s: the first takes the slot at 0 ms, so the TAT is
    1000 ms and the second starts at 1000 ms, not 1000.4 ms."""
    app = app_with(throttle=Throttle(limit=1, period="1s"))
    with jobsim.Simulation(app, start=START) as sim:
        sim.advance_to(to_datetime(T0 + 400_000))
        sim.send("job/go", {"i": 0})
        sim.send("job/go", {"i": 1})
        sim.run_until_idle()
    assert [r.start_ns - T0 for r in sim.runs("job")] == [400_000, 1000 * MS]


def test_throttle_is_per_key():
    app = app_with(throttle=Throttle(limit=1, period="1m", key="event.data.user"))
    with jobsim.Simulation(app, start=START) as sim:
        for i, user in enumerate(["a", "a", "b", "a", "b"]):
            sim.send("job/go", {"i": i, "user": user})
        sim.run_until_idle()
    assert [(r.event.data["user"], (r.start_ns - T0) // SECOND) for r in sim.runs("job")] == [
        ("a", 0), ("a", 60), ("b", 0), ("a", 120), ("b", 60),
    ]  # fmt: skip


def test_priority_moves_a_throttled_run_ahead_in_the_queue():
    app = app_with(throttle=Throttle(limit=1, period="1m"), priority="int(event.data.priority)")
    with jobsim.Simulation(app, start=START) as sim:
        for i, priority in enumerate([0, 0, 0, 120]):
            sim.send("job/go", {"i": i, "priority": priority})
        sim.run_until_idle()
    assert sorted((r.start_ns - T0) // SECOND for r in sim.runs("job")) == [0, 60, 120, 180]
    assert {r.output: (r.start_ns - T0) // SECOND for r in sim.runs("job")} == {0: 0, 3: 60, 1: 120, 2: 180}


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.integers(0, 30_000), min_size=1, max_size=40),
    limit=st.integers(1, 5),
    period_s=st.integers(1, 120),
    burst=st.integers(0, 3),
)
def test_a_throttle_never_exceeds_its_rate_over_any_window(gaps, limit, period_s, burst):
    plan, ms = [], 0
    for i, gap in enumerate(gaps):
        ms += gap
        plan.append((ms, {"i": i}))
    app = app_with(throttle=Throttle(limit=limit, period=period_s, burst=burst))
    with jobsim.Simulation(app, start=START) as sim:
        send_at(sim, plan)
        sim.run_until_idle(max_time="30d")
    runs = sim.runs("job")
    assert [r.status for r in runs] == ["completed"] * len(plan)  # delayed, never dropped
    assert [r.output for r in runs] == list(range(len(plan)))
    begun = [r.start_ns for r in runs]
    assert begun == sorted(begun)  # FIFO
    assert all(r.start_ns >= T0 + ms * MS for r, (ms, _) in zip(runs, plan, strict=True))
    assert within_gcra(begun, limit, period_s * SECOND, limit + burst)


# -- rate limit -----------------------------------------------------------------------------


def test_rate_limit_10_per_hour_lets_2_through_at_once_then_one_every_6_minutes():
    app = app_with(rate_limit=RateLimit(limit=10, period="1h"))
    with jobsim.Simulation(app, start=START) as sim:
        for i in range(5):  # a burst at 00:00
            sim.send("job/go", {"i": i})
        for minute in range(1, 31):  # then one event a minute
            sim.advance("1m")
            sim.send("job/go", {"i": 4 + minute})
        sim.run_until_idle()
    runs = sim.runs("job")
    ran = [(r.start_ns - T0) // MINUTE for r in runs if r.status == "completed"]
    assert ran == [0, 0, 6, 12, 18, 24, 30]
    skipped = [r for r in runs if r.status == "skipped"]
    assert len(skipped) == 35 - 7
    records = sim.trace.of("run.skipped")
    assert [r.data["run"] for r in records] == [r.id for r in skipped]
    assert {r.data["reason"] for r in records} == {"rate_limit"}
    assert all(r.attempts == [] and r.finished_at == r.started_at for r in skipped)
    assert "skipped   job#3: over its rate limit" in sim.timeline()


def test_rate_limit_is_per_key_and_a_false_key_is_not_limited():
    app = app_with(rate_limit=RateLimit(limit=1, period="1h", key="event.data.user"))
    with jobsim.Simulation(app, start=START) as sim:
        for user in ["a", "a", "b", False, False]:
            sim.send("job/go", {"user": user})
        sim.run_until_idle()
    assert [r.status for r in sim.runs("job")] == ["completed", "skipped", "completed", "completed", "completed"]


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.integers(0, 20_000), min_size=1, max_size=50),
    limit=st.integers(1, 30),
    period_s=st.integers(1, 300),
)
def test_a_dropped_rate_limited_run_is_always_reported(gaps, limit, period_s):
    plan, ms = [], 0
    for i, gap in enumerate(gaps):
        ms += gap
        plan.append((ms, {"i": i}))
    app = app_with(rate_limit=RateLimit(limit=limit, period=period_s))
    with jobsim.Simulation(app, start=START) as sim:
        send_at(sim, plan)
        sim.run_until_idle()
    runs = sim.runs("job")
    assert len(runs) == len(plan)  # every event gives a run: completed or skipped
    assert {r.status for r in runs} <= {"completed", "skipped"}
    skipped = {r.id for r in runs if r.status == "skipped"}
    assert {r.data["run"] for r in sim.trace.of("run.skipped")} == skipped
    ran = [r.start_ns for r in runs if r.status == "completed"]
    assert ran  # the first event always runs
    assert within_gcra(ran, limit, period_s * SECOND, limit // 10 + 1)


# -- idempotency ----------------------------------------------------------------------------


def test_idempotency_key_allows_one_run_per_key_per_24h():
    app = app_with(idempotency="event.data.orderId")
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("job/go", {"orderId": "o1", "i": 0})
        sim.send("job/go", {"orderId": "o2", "i": 1})
        sim.advance("23h59m59s")
        sim.send("job/go", {"orderId": "o1", "i": 2})
        sim.advance("1s")
        sim.send("job/go", {"orderId": "o1", "i": 3})  # 24h after the first: a new window
        sim.run_until_idle()
    assert [(r.output, r.status) for r in sim.runs("job")] == [
        (0, "completed"), (1, "completed"), (None, "skipped"), (3, "completed"),
    ]  # fmt: skip
    (record,) = sim.trace.of("run.skipped")
    assert record.data["reason"] == "idempotency" and record.data["key"] == "o1"
    assert "idempotency key 'o1' already ran in the last 24h" in sim.timeline()


def test_a_skipped_invoked_function_fails_the_invoke_step():
    app = jobsim.App("a")

    @app.function("child", on="child/run", idempotency="event.data.k")
    def child(ctx):
        return "ran"

    @app.function("parent", on="go")
    def parent(ctx):
        first = ctx.step.invoke("one", function=child, data={"k": 1})
        try:
            ctx.step.invoke("two", function=child, data={"k": 1})
        except jobsim.StepError as exc:
            return [first, str(exc.error)]
        return [first, None]

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    (run,) = sim.runs("parent")
    assert run.status == "completed"
    assert run.output[0] == "ran" and "was skipped" in run.output[1]


@pytest.mark.parametrize("limit, at_once", [(1, 1), (9, 1), (10, 2), (25, 3), (100, 11)])
def test_rate_limit_burst_is_a_tenth_of_the_limit(limit, at_once):
    app = app_with(rate_limit=RateLimit(limit=limit, period="1h"))
    with jobsim.Simulation(app, start=START) as sim:
        for i in range(at_once + 5):
            sim.send("job/go", {"i": i})
        sim.run_until_idle()
    assert sum(r.status == "completed" for r in sim.runs("job")) == at_once


# -- keys are compared as Inngest's string form --------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    ("1", "1"), (1, "1"), (1.0, "1"), (-2.5, "-2.5"), (123456, "123456"), (1_000_000, "1e+06"),
    (1234567.0, "1.234567e+06"), (0.0001, "0.0001"), (0.00001, "1e-05"), (2**53 + 1, "9.007199254740992e+15"),
    (0, "0"), (True, "true"), (False, "false"), (None, "NULL_VALUE"),
    ({"b": 1.0, "a": ["x", None, False]}, "map[a:[x <nil> false] b:1]"), ([1, {"k": "v"}], "[1 map[k:v]]"),
])  # fmt: skip
def test_a_key_is_the_go_string_form_of_the_cel_result(value, text):
    read = jobsim._expr.compile_key("event.data.k")
    assert read({"data": {"k": value}}) == text


def test_a_missing_key_field_evaluates_to_false_as_on_inngest():
    read = jobsim._expr.compile_key("event.data.user.id")
    assert read({"data": {}}) == read({"data": {"user": "u1"}}) == read({"data": {"user": {"id": False}}}) == "false"


@pytest.mark.parametrize("path", ["event.data.tags.count", "event.data.name.upper", "event.data.n.real"])
def test_a_key_path_reads_fields_not_python_attributes_of_json_values(path):
    """Inside the event, a path reads JSON object fields only: ``list.count`` is a missing field, not a
    bound method whose text (with its memory address) would key the limit differently in every process."""
    event = Event("go", {"tags": ["a"], "name": "n", "n": 1})
    assert jobsim._expr.compile_key(path)(event) == "false"
    assert jobsim._expr.compile_path(path)(event) is None


def test_rate_limit_keys_1_and_1_0_and_the_string_1_share_one_limit():
    app = app_with(rate_limit=RateLimit(limit=1, period="1h", key="event.data.user"))
    with jobsim.Simulation(app, start=START) as sim:
        for user in [1, "1", 1.0, 2, "2"]:
            sim.send("job/go", {"user": user})
        sim.run_until_idle()
    assert [r.status for r in sim.runs("job")] == ["completed", "skipped", "skipped", "completed", "skipped"]
    assert [r.data["key"] for r in sim.trace.of("run.skipped")] == ["1", "1", "2"]


def test_idempotency_a_missing_key_is_never_limited_but_null_is_a_key():
    # Inngest: a missing field makes the CEL result unknown -> `false` -> "not rate limited";
    # an explicit null is CEL null, a key like any other.
    app = app_with(idempotency="event.data.orderId")
    with jobsim.Simulation(app, start=START) as sim:
        for data in [{}, {}, {"orderId": None}, {"orderId": None}, {"orderId": "o1"}]:
            sim.send("job/go", data)
        sim.run_until_idle()
    assert [r.status for r in sim.runs("job")] == ["completed", "completed", "completed", "skipped", "completed"]


def test_throttle_keys_1_and_the_string_1_share_one_limit():
    app = app_with(throttle=Throttle(limit=1, period="1m", key="event.data.user"))
    with jobsim.Simulation(app, start=START) as sim:
        for i, user in enumerate([1, "1", 1.0]):
            sim.send("job/go", {"user": user, "i": i})
        sim.run_until_idle()
    assert starts(sim.runs("job")) == [0, 60, 120]


def test_a_throttle_period_beyond_the_last_datetime_is_reported_as_never_due():
    # the queued run's due time is past 9999-12-31: run_until_idle's report raised OverflowError on it
    app = app_with(throttle=Throttle(limit=1, period="7d"))
    with jobsim.Simulation(app, start="9999-12-28T00:00:00Z") as sim:
        sim.send("job/go", {"i": 1})
        sim.send("job/go", {"i": 2})
        with pytest.raises(jobsim.BudgetExceeded, match=r"job \(throttle\): next at never \(past 9999-12-31T23:59"):
            sim.run_until_idle()


@pytest.mark.parametrize("key", [
    "event.data.user + '-' + event.data.org", "event.data.n + 1", "event.data.tags[0]", 'event.data["the-region"]',
    "event.data.email.lower()", "event.data.a == 1 ? 'x' : 'y'", "event.data.a ",
])  # fmt: skip
def test_a_key_that_is_an_expression_is_refused_not_read_as_a_missing_field(key):
    # it was split on '.' and read as the field "user + '-' + event" -- missing on every event, so every event
    # shared the key "false": one limit for all, with no error (only a KeyWarning at the close)
    with pytest.raises(jobsim.InvalidArgument, match=r"key=.* a core key is a dotted path of field names.*callable"):
        jobsim.Concurrency(limit=1, key=key)
