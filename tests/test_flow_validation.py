"""Every flow-control option rejects bad arguments with a message that names them."""

import re

import pytest

import jobsim
from jobsim import Batch, Cancel, Concurrency, Debounce, InvalidArgument, RateLimit, Throttle, Timeouts

DURATION_HELP = (
    "expected a duration such as '500ms', '30s', '5m', '1h30m', '7d', '2 weeks', a timedelta, or a number of "
    "seconds, not negative and greater than zero"
)


def negative(value: str) -> str:
    """The message for a negative duration ``value`` where a positive one is expected."""
    return (f"{value!r} is not valid: {DURATION_HELP}; a length of time is never negative: {value[1:]!r}, if that "
            "length was meant")


KEY_HELP = (
    "expected a dotted path rooted at 'event', such as 'event.data.userId', a quoted constant such as "
    "'\"openai\"', or a callable taking the event"
)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Batch(max_size=0, timeout="30s"),
         "max_size=0 is not valid: expected an int >= 2 (Inngest rejects a batch smaller than 2)"),
        (lambda: Batch(max_size=1, timeout="30s"),
         "max_size=1 is not valid: expected an int >= 2 (Inngest rejects a batch smaller than 2)"),
        (lambda: Batch(max_size=10, timeout="-5s"), "timeout=" + negative('-5s')),
        (lambda: Batch(max_size=10, timeout="500ms"),
         "timeout='500ms' is not valid: expected a duration of at least 1s (Inngest's minimum batch timeout)"),
        (lambda: Batch(max_size=100),
         "timeout=None is not valid: a batch needs a timeout of at least 1s, after which it runs even if not "
         "full, e.g. Batch(max_size=100, timeout='5s')"),
        (lambda: Batch(max_size=100, timeout=None),
         "timeout=None is not valid: a batch needs a timeout of at least 1s, after which it runs even if not "
         "full, e.g. Batch(max_size=100, timeout='5s')"),
        (lambda: Batch(max_size=10, timeout="30s", key="data.userId"), f"key='data.userId' is not valid: {KEY_HELP}"),
        (lambda: Debounce(period="-5s"), "period=" + negative('-5s')),
        (lambda: Debounce(period="500ms"),
         "period='500ms' is not valid: expected a duration between 1s and 7d (Inngest's debounce period range)"),
        (lambda: Debounce(period="8d"),
         "period='8d' is not valid: expected a duration between 1s and 7d (Inngest's debounce period range)"),
        (lambda: Debounce(period="1m", key="user.id"), f"key='user.id' is not valid: {KEY_HELP}"),
        (lambda: Throttle(limit=0, period="1m"), "limit=0 is not valid: expected an int >= 1"),
        (lambda: Throttle(limit=1, period="-5s"), "period=" + negative('-5s')),
        (lambda: Throttle(limit=1, period="1m", burst=-1), "burst=-1 is not valid: expected an int >= 0"),
        (lambda: Throttle(limit=10, period="1.5s"),
         "period='1.5s' is not valid: expected a whole number of seconds (Inngest drops the fraction, "
         "so this period would throttle as 1s)"),
        (lambda: Throttle(limit=10, period=90.25),
         "period=90.25 is not valid: expected a whole number of seconds (Inngest drops the fraction, "
         "so this period would throttle as 1m30s)"),
        (lambda: RateLimit(limit=10, period="25h"),
         "period='25h' is not valid: expected a duration between 1s and 24h (Inngest's rate limit period range)"),
        (lambda: RateLimit(limit=10, period="500ms"),
         "period='500ms' is not valid: expected a duration between 1s and 24h (Inngest's rate limit period range)"),
        (lambda: RateLimit(limit=10, period=1.5),
         "period=1.5 is not valid: expected a whole number of seconds (Inngest drops the fraction, "
         "so this period would rate limit as 1s)"),
        (lambda: Throttle(limit=1, period="500ms"),
         "period='500ms' is not valid: expected a duration between 1s and 7d (Inngest's throttle period range)"),
        (lambda: Throttle(limit=1, period="8d"),
         "period='8d' is not valid: expected a duration between 1s and 7d (Inngest's throttle period range)"),
        (lambda: RateLimit(limit=True, period="1h"), "limit=True is not valid: expected an int >= 1"),
        (lambda: Concurrency(0), "limit=0 is not valid: expected an int >= 1"),
        (lambda: Concurrency(2, key="event.data.account", scope="acount"),
         "scope='acount' is not valid: 'fn', 'env' or 'account' (Inngest's scopes)"),
        (lambda: Concurrency(2, scope="account"),
         "Concurrency(scope='account') needs key=: a limit shared across functions is named by its key's value, "
         "as on Inngest (\"A concurrency key must be specified for account scoped limits\"); e.g. key='\"openai\"' "
         "or key='event.data.accountId'"),
        (lambda: Cancel(""), "event='' is not valid: the name of the event that cancels the run"),
        # no event can be named '  ' (Event refuses it): the run was never cancelled, silently
        (lambda: Cancel("  "), "event='  ' is not valid: the name of the event that cancels the run"),
        (lambda: Cancel("stop", timeout="-1m"), "timeout=" + negative('-1m')),
        (lambda: Timeouts(), "Timeouts() needs start= and/or finish=, e.g. Timeouts(finish='10m')"),
        (lambda: Timeouts(start="-5s"), "start=" + negative('-5s')),
    ],
)  # fmt: skip
def test_option_classes_reject_bad_arguments(make, message):
    with pytest.raises(InvalidArgument, match=f"^{re.escape(message)}$"):
        make()


def declare(**options):
    app = jobsim.App("a")
    return app.function("f", on="go", **options)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"concurrency": 0},
         "concurrency=0 is not valid: expected an int >= 1, jobsim.Concurrency(limit, key=...) or a list of two "
         "of them"),
        ({"batch": 100}, "batch=100 is not valid: a jobsim.Batch(...)"),
        ({"concurrency": [Concurrency(1), Concurrency(2), Concurrency(3)]},
         "concurrency= got 3 limits; Inngest allows at most 2 per function (consts.MaxConcurrencyLimits): keep two"),
        ({"concurrency": "2"},
         "concurrency='2' is not valid: expected an int >= 1, jobsim.Concurrency(limit, key=...) or a list of two "
         "of them"),
        ({"idempotency": "data.orderId"}, f"idempotency='data.orderId' is not valid: {KEY_HELP}"),
        ({"timeout": "-5s"}, "timeout=" + negative('-5s')),
        ({"idempotency": "event.data.id", "rate_limit": RateLimit(1, "1h")},
         "function 'f': idempotency= and rate_limit= cannot be combined; on Inngest idempotency= *is* a rate "
         "limit (1 run per key per 24h) and silently replaces rate_limit="),
        ({"batch": Batch(2, "1s"), "debounce": Debounce("1s")},
         "function 'f': batch= and debounce= cannot be combined (Inngest rejects it too)"),
        # inngest/inngest pkg/inngest/function.go : Function.Validate refuses both combinations at registration
        ({"batch": Batch(2, "1s"), "cancel_on": [Cancel("stop")]},
         "function 'f': batch= and cancel_on= cannot be combined (Inngest rejects it: \"Batching and cancellation "
         "are mutually exclusive\"); drop cancel_on=, or check for a cancellation inside the batch's run "
         "(ctx.step.wait_for_event)"),
        ({"batch": Batch(2, "1s"), "priority": 5},
         "function 'f': batch= and priority= cannot be combined (Inngest rejects it: \"A function cannot specify "
         "Priority.Run and Batch together\"); drop one of them"),
        ({"timeout": "1m", "timeouts": Timeouts(finish="1m")},
         "function 'f': timeout= and timeouts=Timeouts(finish=...) say the same thing; give one"),
        ({"cancel_on": [Cancel("stop")] * 6}, "cancel_on has 6 cancellations; Inngest allows at most 5 per function"),
        ({"cancel_on": "stop"}, "cancel_on='stop' is not valid: a list of jobsim.Cancel(event=..., match=...)"),
        ({"bogus": 1},
         "app.function('f') got an unknown option bogus=...; accepted: on, cron, tz, every, retries, timeout, "
         "on_failure, batch, debounce, throttle, rate_limit, concurrency, timeouts, singleton, priority, cancel_on, "
         "idempotency"),
    ],
)  # fmt: skip
def test_app_function_rejects_bad_flow_options(options, message):
    with pytest.raises(InvalidArgument, match=f"^{re.escape(message)}$"):
        declare(**options)


ACCEPTED = ("on, cron, tz, every, retries, timeout, on_failure, batch, debounce, throttle, rate_limit, concurrency, "
            "timeouts, singleton, priority, cancel_on, idempotency")


@pytest.mark.parametrize(
    ("name", "hint"),
    [("trigger", " (did you mean on=?)"), ("event", " (did you mean on=?)"), ("retry", " (did you mean retries=?)"),
     ("concurency", " (did you mean concurrency=?)"), ("rateLimit", " (did you mean rate_limit=?)"), ("xyz", ""),
     ("interval", " (did you mean every=?)"), ("repeat", " (did you mean every=?)")],
)  # fmt: skip
def test_an_unknown_option_is_named_before_the_missing_trigger_it_caused(name, hint):
    # `trigger="user/created"` used to say "function 'f' has no trigger": the misspelt on= was never named
    message = f"unknown option {name}=...{hint}; accepted: {ACCEPTED}"
    with pytest.raises(InvalidArgument, match=re.escape(message) + "$"):
        jobsim.App("a").function("f", **{name: "user/created"})


def test_a_list_of_one_concurrency_limit_is_that_limit():
    fn = declare(concurrency=[Concurrency(2, key="event.data.account")])(lambda ctx: None)
    assert fn.flow.concurrency == (Concurrency(2, key="event.data.account"),)


def test_a_whole_second_throttle_period_is_accepted_in_any_form():
    assert Throttle(limit=1, period=2.0).period_ns == 2_000_000_000
    assert Throttle(limit=1, period="1m").period_ns == 60_000_000_000


def test_a_function_without_flow_control_keeps_the_fast_path():
    app = jobsim.App("a")

    @app.function("plain", on="go", batch=None)
    def plain(ctx): ...

    @app.function("timed", on="go", timeout="1m")
    def timed(ctx): ...

    assert plain.flow is None
    assert timed.flow is not None  # a timeout needs the flow-control hooks


async def _async_key(event):
    return event.data["userId"]


@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda: Batch(max_size=2, timeout="1s", key=lambda: 1), "key"),
        (lambda: Batch(max_size=2, timeout="1s", if_=lambda: True), "if_"),  # takes event -> bool, or two arguments
        (lambda: Debounce(period="1s", key=_async_key), "key"),
        (lambda: Throttle(limit=1, period="1s", key=lambda a, b: a), "key"),
        (lambda: RateLimit(limit=1, period="1s", key=lambda: 1), "key"),
        (lambda: Concurrency(limit=1, key=lambda: 1), "key"),
        (lambda: Cancel("stop", if_exp=lambda event: True), "if_exp"),
        (lambda: declare(idempotency=lambda: 1), "idempotency"),
        (lambda: declare(priority=lambda: 1), "priority"),
        (lambda: declare(priority=_async_key), "priority"),
    ],
)  # fmt: skip
def test_key_expression_and_priority_callables_are_checked_where_they_are_given(make, argument):
    # they used to fail with a TypeError out of sim.advance() at the first event (or, async, key
    # every run by a fresh coroutine's repr: a limit that never limits)
    with pytest.raises(InvalidArgument, match=f"^{argument}=<function .* is not valid: "):
        make()


@pytest.mark.filterwarnings("ignore::jobsim.PendingWorkWarning")  # the send that raised is the point
@pytest.mark.parametrize("option", ["batch", "concurrency", "throttle", "idempotency"])
def test_a_key_callable_that_raises_is_named_with_its_option(option):
    # a key callable that raised (a missing field: KeyError) escaped sim.send/advance as the bare KeyError,
    # from deep inside the flow runtime, without saying which option's key it was
    def user(event):
        return event.data["userId"]

    options = {"batch": {"batch": jobsim.Batch(max_size=2, timeout="1s", key=user)},
               "concurrency": {"concurrency": jobsim.Concurrency(1, key=user)},
               "throttle": {"throttle": jobsim.Throttle(limit=1, period="1s", key=user)},
               "idempotency": {"idempotency": user}}[option]  # fmt: skip
    app = jobsim.App("a")
    app.function("job", on="go", **options)(lambda ctx: None)
    argument = "idempotency" if option == "idempotency" else "key"
    message = (rf"^{argument}=key\(.*user\) raised KeyError: 'userId' for event 'go'; a callable given as "
               rf"{argument}= must give a key for every event it sees \(e\.g\. event\.data\.get\('userId'\) for "
               r"a field some events lack\)$")
    with jobsim.Simulation(app) as sim:
        sim.send("go", {"userId": "u1"})
        with pytest.raises(jobsim.JobsimError, match=message) as caught:
            sim.send("go", {})
            sim.run_until_idle()
        assert isinstance(caught.value.__cause__, KeyError)  # the user's own frame is in the chain


@pytest.mark.filterwarnings("ignore::jobsim.PendingWorkWarning")  # the send that raised is the point
def test_priority_and_condition_callables_that_raise_are_named_too():
    # each escaped the test's own sim.send as the bare KeyError (a wait's condition too: the candidate's send)
    def level(event):
        return event.data["level"]

    def paid(event, candidate):
        return candidate.data["orderId"] == event.data["orderId"]

    app = jobsim.App("a")
    app.function("prioritized", on="go", concurrency=1, priority=level)(lambda ctx: None)
    app.function("batched", on="go", batch=jobsim.Batch(max_size=2, timeout="1s", if_=paid))(lambda ctx: None)
    app.function("waiting", on="order", retries=0)(
        lambda ctx: ctx.step.wait_for_event("paid", event="paid", timeout="1h", if_exp=paid))
    for send, argument, name, must in [
        (lambda sim: sim.send("go", {}), "priority", ".*level", "give seconds"),
        (lambda sim: sim.send("go", {"level": 1}), "if_", ".*paid", "answer"),
        (lambda sim: (sim.send("order", {"orderId": "o1"}), sim.advance("1s"), sim.send("paid", {})), "if_exp",
         ".*paid", "answer"),
    ]:  # fmt: skip
        with jobsim.Simulation(app) as sim, pytest.raises(jobsim.JobsimError, match=rf"^{argument}={name} raised "
                                                          rf"KeyError: '\w+' for event '\w+'; a callable given as "
                                                          rf"{argument}= must {must} for every event it sees"):
            send(sim)


def test_a_priority_path_to_a_value_that_is_not_a_number_counts_as_zero():
    app = jobsim.App("a")
    app.function("job", on="go", concurrency=1, priority="int(event.data.priority)")(lambda ctx: None)
    with jobsim.Simulation(app) as sim:
        for priority in ["high", None, float("nan"), "30"]:
            sim.send("go", {"priority": priority} if priority == priority else {"priority": "nan"})
        sim.run_until_idle()  # int('high') used to raise ValueError out of the engine
        assert [run.status for run in sim.runs("job")] == ["completed"] * 4


def test_a_priority_callable_returning_no_number_names_itself():
    app = jobsim.App("a")

    def level(event):
        return event.data["level"]

    app.function("job", on="go", concurrency=1, priority=level)(lambda ctx: None)
    message = r"^priority .*level\(event\)='high' is not valid: a number of seconds"
    with jobsim.Simulation(app) as sim, pytest.raises(InvalidArgument, match=message):
        sim.send("go", {"level": "high"})  # the run is created (and prioritized) at the send


def test_a_bare_priority_path_is_refused_with_the_int_conversion_it_needs():
    # pkg/inngest/function.go : RunPriorityFactor accepts int results only; event data numbers are float64
    # (pkg/event/event.go : Event.Map, encoding/json), so 'event.data.priority' gives every run priority 0
    message = ("priority='event.data.priority' is not valid: an event's numbers are JSON doubles on Inngest and "
               "Priority.run must give an int (pkg/inngest/function.go : RunPriorityFactor, \"returned non-int\"), "
               "so every run would get priority 0; convert it as in CEL: priority='int(event.data.priority)'")
    with pytest.raises(InvalidArgument, match=f"^{re.escape(message)}$"):
        declare(priority="event.data.priority")
    bad = ("priority='int(data.p)' is not valid: int() of a dotted path rooted at 'event', "
           "e.g. 'int(event.data.priority)'")
    with pytest.raises(InvalidArgument, match=f"^{re.escape(bad)}$"):
        declare(priority="int(data.p)")


def test_a_priority_callable_returning_a_float_is_refused():
    app = jobsim.App("a")
    app.function("job", on="go", concurrency=1, priority=lambda event: 2.5)(lambda ctx: None)
    message = r"^priority .*<lambda>\(event\)=2\.5 is not valid: a number of seconds as an int \(Inngest runs"
    with jobsim.Simulation(app) as sim, pytest.raises(InvalidArgument, match=message):
        sim.send("go")


@pytest.mark.parametrize("key", ['"openai"', "'openai'"])
def test_a_quoted_constant_key_gives_every_event_the_same_key(key):
    limit = Concurrency(1, key=key)
    assert {limit.key_fn(jobsim.Event("go", data)) for data in ({}, {"openai": "x"}, {"a": 1})} == {"openai"}


@pytest.mark.parametrize(
    ("make", "message"),
    [(lambda: RateLimit(limit=1, period="1h", kye="a"),
      "RateLimit() got an unknown keyword argument kye='a' (did you mean key=?); accepted: limit, period, key"),
     (lambda: Concurrency(1, kye="a"),
      "Concurrency() got an unknown keyword argument kye='a' (did you mean key=?); accepted: limit, key, scope"),
     (lambda: jobsim.App("a").function("f", no="user/created"),
      f"app.function('f') got an unknown option no=... (did you mean on=?); accepted: {ACCEPTED}")],
    ids=["RateLimit", "Concurrency", "app.function"],
)  # fmt: skip
def test_two_letters_swapped_are_named_as_the_keyword_meant(make, message):
    # `kye` and `no` are too short for difflib's ratio (0.67, 0.5): a swap of two neighbours is the typo
    with pytest.raises(InvalidArgument, match=f"^{re.escape(message)}$"):
        make()


def test_a_batch_if_callable_of_one_event_is_typed_as_accepted():
    # the README's `event -> bool`: annotated (event, candidate) -> bool only, mypy --strict refused `if_=is_vip`
    import typing
    from collections.abc import Callable

    accepted = typing.get_args(typing.get_type_hints(Batch)["if_"])
    assert Callable[[typing.Any], bool] in accepted and Callable[[typing.Any, typing.Any], bool] in accepted
    assert Batch(2, "1s", if_=lambda event: event.data.get("vip")).if_fn is not None
