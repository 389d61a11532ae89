"""Bad inngest-py configuration fails when the simulation is built, naming the function and option."""

from __future__ import annotations

import datetime as dt

import inngest
import pytest
from inngest_support import simulate

import jobsim

GO = inngest.TriggerEvent(event="go")
SECONDS = "is not valid: inngest-py requires a whole number of seconds, at least 1 s (ints are milliseconds)"
CEL_KEY = (
    "is not valid: a CEL key: a path such as 'event.data.user_id', a literal such as '\"openai\"', "
    "'+ - * / %' between them, 'cond ? a : b', int(x), lowercase(x), size(x), x.contains(s) and CEL's other string "
    "functions, has(x.f) or 'x in [...]'"
)
CEL_IF = "is not valid: expected a CEL-like expression over 'event' and 'async'"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": -1},
         "retries: retries=-1 is not valid: an int >= 0 (the number of retries after the first attempt)"),
        ({"batch_events": inngest.Batch(max_size=1, timeout=5000)},
         "batch_events: max_size=1 is not valid: expected an int >= 2 (Inngest rejects a batch smaller than 2)"),
        ({"batch_events": inngest.Batch(max_size=5)},
         "batch_events: timeout=None is not valid: Inngest needs a batch timeout, e.g. timedelta(seconds=30)"),
        ({"batch_events": inngest.Batch(max_size=5, timeout=500)}, f"batch_events: timeout=500 {SECONDS}"),
        ({"batch_events": inngest.Batch(max_size=5, timeout=5000, key="data.user")},
         "batch_events: key='data.user': unknown name 'data'; paths start with 'event.'"),
        ({"debounce": inngest.Debounce(period=dt.timedelta(milliseconds=1500))},
         f"debounce: period=datetime.timedelta(seconds=1, microseconds=500000) {SECONDS}"),
        ({"debounce": inngest.Debounce(period=dt.timedelta(days=8))},
         "debounce: period=datetime.timedelta(days=8) is not valid: expected a duration between 1s and 7d"),
        ({"throttle": inngest.Throttle(limit=0, period=60_000)},
         "throttle: limit=0 is not valid: expected an int >= 1"),
        ({"throttle": inngest.Throttle(limit=1, period=60_000, key="lower(event.data.a)")},
         "throttle: key='lower(event.data.a)' is not valid: unknown function lower() with 1 argument(s); functions: "),
        ({"rate_limit": inngest.RateLimit(limit=1, period=dt.timedelta(days=2))},
         "rate_limit: period=datetime.timedelta(days=2) is not valid: expected a duration between 1s and 24h "
         "(Inngest's rate limit period range)"),
        ({"concurrency": [inngest.Concurrency(limit=1), inngest.Concurrency(limit=2, key="event.data.a"),
                          inngest.Concurrency(limit=3)]},
         "concurrency: concurrency has 3 limits; Inngest allows at most 2 (consts.MaxConcurrencyLimits)"),
        ({"concurrency": [inngest.Concurrency(limit=1, scope="env")]},
         "concurrency: Concurrency(scope='env') needs key=: a limit shared across functions is named by its key's "
         "value"),
        ({"concurrency": [inngest.Concurrency(limit=-1)]},
         "concurrency: limit=-1 is not valid: an int >= 0 (0 means no limit)"),
        ({"cancel": [inngest.Cancel(event="stop", timeout=100)]}, f"cancel: timeout=100 {SECONDS}"),
        ({"cancel": [inngest.Cancel(event="stop", if_exp="event.data.a ==")]},
         f"cancel: if_exp='event.data.a ==' {CEL_IF}"),
        ({"idempotency": "data.user"}, "idempotency: idempotency='data.user': unknown name 'data'"),
        ({"priority": inngest.Priority(run="event.data.a ** 2")}, f"priority: run='event.data.a ** 2' {CEL_KEY}"),
        ({"timeouts": inngest.Timeouts(finish=0)}, f"timeouts: finish=0 {SECONDS}"),
        ({"singleton": inngest.Singleton.model_construct(mode="drop")},
         "singleton: mode='drop' is not valid: 'skip' (a run due while another holds its key is skipped) or "
         "'cancel'"),
        ({"singleton": inngest.Singleton(mode="skip", key="event.data.a ** 2")},
         f"singleton: key='event.data.a ** 2' {CEL_KEY}"),
        ({"singleton": inngest.Singleton(mode="skip"), "batch_events": inngest.Batch(max_size=5, timeout=5000)},
         "batch= and singleton= cannot be combined (Inngest rejects it: \"Batching and singletons are mutually "
         "exclusive\")"),
        ({"batch_events": inngest.Batch(max_size=5, timeout=5000), "debounce": inngest.Debounce(period=5000)},
         "batch= and debounce= cannot be combined (Inngest rejects it too)"),
        ({"idempotency": "event.data.a", "rate_limit": inngest.RateLimit(limit=1, period=60_000)},
         "idempotency= and rate_limit= cannot be combined"),
    ],
)  # fmt: skip
def test_bad_options_name_the_function_the_option_and_the_value(client, options, message):
    fn = client.create_function(fn_id="job", trigger=GO, **options)(lambda ctx: None)
    with pytest.raises(jobsim.InvalidArgument) as info:
        simulate(fn)
    assert str(info.value).startswith(f"inngest function 'shop-job': {message}")


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        (inngest.TriggerEvent(event="go", expression="event.data.total ** 2 > 2"),
         f"TriggerEvent(event='go', expression=...): expression='event.data.total ** 2 > 2' {CEL_IF}"),
        (inngest.TriggerEvent(event=" "), "TriggerEvent(event=' '): an event name is a non-empty string"),
        (inngest.TriggerCron(cron="61 * * * *"),
         "TriggerCron(cron='61 * * * *'): cron expression '61 * * * *': minute field '61' is not valid; "
         "accepted: 0-59"),
        (inngest.TriggerCron(cron="0 0 * * * *"),
         "TriggerCron(cron='0 0 * * * *'): cron expression '0 0 * * * *': has 6 field(s)"),
        (inngest.TriggerCron(cron="TZ=Mars/Olympus 0 9 * * *"),
         "TriggerCron(cron='TZ=Mars/Olympus 0 9 * * *'): cron 'TZ=Mars/Olympus 0 9 * * *' time zone='Mars/Olympus' "
         "is not valid: no such IANA time zone"),
        (inngest.TriggerCron(cron="0 9 * * *", jitter="10m"),
         "TriggerCron(cron='0 9 * * *'): jitter='10m' is not valid: Inngest accepts 1s to 5m"),
    ],
)  # fmt: skip
def test_bad_triggers_are_named(client, trigger, message):
    fn = client.create_function(fn_id="job", trigger=trigger)(lambda ctx: None)
    with pytest.raises(jobsim.InvalidArgument) as info:
        simulate(fn)
    assert str(info.value).startswith(f"inngest function 'shop-job': {message}")


def test_the_same_function_twice_is_refused(client):
    fn = client.create_function(fn_id="job", trigger=GO)(lambda ctx: None)
    with pytest.raises(jobsim.InvalidArgument, match="inngest function 'shop-job' was passed to the simulation twice"):
        simulate([fn, fn])


def test_two_functions_sharing_one_fn_id_are_named_both(client):
    def charge(ctx):
        return "charge"

    def refund(ctx):
        return "refund"

    first = client.create_function(fn_id="charge", trigger=GO)(charge)
    second = client.create_function(fn_id="charge", trigger=GO)(refund)
    where = f"{__name__}:test_two_functions_sharing_one_fn_id_are_named_both.<locals>"
    with pytest.raises(jobsim.InvalidArgument) as info:
        simulate([first, second])
    assert str(info.value) == (
        f"inngest functions {where}.charge and {where}.refund both have the id 'shop-charge' (fn_id='charge'): "
        "inngest's serve() keeps one function per id, the last one given, and the other would never run. Give each "
        "its own fn_id")  # fmt: skip


def test_a_priority_converts_an_event_number_with_int_as_cel_does(client):
    """pkg/inngest/function.go : RunPriorityFactor takes int results only, and an event's numbers are float64
    (pkg/event/event.go, encoding/json): int(event.data.boost) truncates toward zero, parses "45", and errs
    (priority 0) on "high"; a ternary's condition is truthy (unknown.go : evalTruthyCondition)."""
    @client.create_function(fn_id="job", trigger=GO, priority=inngest.Priority(
        run="event.data.vip ? 600 : int(event.data.boost)"))
    def job(ctx: inngest.ContextSync) -> None:
        return None

    with simulate([job]) as sim:
        flow = sim.engine.flowrt.of(sim.functions["shop-job"])
        seconds = [flow.priority_ns(jobsim.Event("go", data)) // 10**9 for data in (
            {"boost": 30.9}, {"boost": -2.5}, {"boost": "45"}, {"boost": "high"}, {}, {"vip": "yes"}, {"vip": ""})]
        assert seconds == [30, -2, 45, 0, 0, 600, 0]


def test_key_expressions_concatenate_read_brackets_and_share_literal_keys(client):
    @client.create_function(
        fn_id="keyed", trigger=GO,
        concurrency=[inngest.Concurrency(limit=1, key='event.data.org + "/" + event.data["the-region"]')],
        priority=inngest.Priority(run="event.data.plan == 'pro' ? 600 : event.data.boost"),
    )  # fmt: skip
    def keyed(ctx: inngest.ContextSync) -> None:
        return None

    @client.create_function(fn_id="shared", trigger=GO, throttle=inngest.Throttle(limit=1, period=60_000, burst=0,
                                                                                   key='"openai"'))  # fmt: skip
    def shared(ctx: inngest.ContextSync) -> None:
        return None

    with simulate([keyed, shared]) as sim:
        flow = sim.engine.flowrt.of(sim.functions["shop-keyed"])
        event = jobsim.Event("go", {"org": "acme", "the-region": "eu", "plan": "free", "boost": 30})
        assert sim.functions["shop-keyed"].flow.concurrency[0].key_fn(event) == "acme/eu"
        # event.data.boost is a JSON double on Inngest: RunPriorityFactor's "returned non-int", priority 0
        assert flow.priority_ns(event) == 0
        assert flow.priority_ns(jobsim.Event("go", {"plan": "pro"})) == 600 * 10**9
        assert flow.priority_ns(jobsim.Event("go", {"boost": "high"})) == 0  # not a number: no priority
        assert sim.functions["shop-shared"].flow.throttle.key_fn(event) == "openai"


@pytest.mark.parametrize(("expression", "value"), [
    ("event.data.n * 2.0", 10.0), ("event.data.n * 2", False),  # an event's 5 is a JSON double: no int overload
    ("int(event.data.n) * 2", 10), ("7 / 2", 3), ("-7 % 3", -1), ("event.data.n / 0.0", float("inf")),
    ("event.data.missing * 2", False), ("[1] + [2]", [1, 2]), ("9223372036854775807 + 1", False),
])  # fmt: skip
def test_a_key_reads_cel_arithmetic(expression, value):
    """``* / %`` in keys, as jobsim._celarith evaluates them (Inngest's runtimeUnknownCall, cel-go's int64 rules);
    an error is the option's error value (``False`` here)."""
    from jobsim_inngest._cel import compile_value

    assert compile_value(expression, "key")(jobsim.Event("e", {"n": 5})) == value


def test_a_keys_literal_arithmetic_type_error_is_refused():
    from jobsim_inngest._cel import compile_value

    with pytest.raises(jobsim.InvalidArgument, match="no overload of '\\*' for \\(string, int\\)"):
        compile_value("'a' * 2", "key")
