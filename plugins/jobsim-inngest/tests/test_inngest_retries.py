"""Retries as on Inngest: per-step counters, the backoff table with seeded jitter, and the errors."""

from __future__ import annotations

import datetime as dt
import json
import math
import random

import inngest
import pytest
from inngest_support import Flaky, now_s, secs, simulate

import jobsim
from jobsim._time import MS, SECOND

TABLE = [15, 30, 60, 120, 300, 600, 1200, 2400, 3600, 7200]  # seconds: pkg/backoff/backoff.go BackoffTable


def expected_delays(seed: int, function: str, retries: int | list[int]) -> list[float]:
    """Inngest's TableBackoff: T[min(k, 9)] + U[0, 30 s) in whole ms, drawn from ``function``'s own stream of
    the simulation's seed (``Simulation.rng_for``).

    ``retries`` is a count (k = 0, 1, ...) or the table index of each retry, in the order they happen.
    """
    rng = random.Random(f"jobsim:{seed}:{function}")
    indexes = range(retries) if isinstance(retries, int) else retries
    return [(TABLE[min(k, 9)] * SECOND + rng.randrange(30_000) * MS) / SECOND for k in indexes]


def go() -> inngest.TriggerEvent:
    return inngest.TriggerEvent(event="go")


def retry_delays(sim, step):
    return [r.data["delay"] / SECOND for r in sim.trace.of("retry") if r.data["step"] == step]


def test_default_retries_follow_the_backoff_table_with_seeded_jitter(client):
    flaky = Flaky(4)  # fails 4 times: the 5th and last default attempt succeeds

    @client.create_function(fn_id="sync", trigger=go())
    def sync(ctx: inngest.ContextSync) -> str:
        return ctx.step.run("push", flaky)

    with simulate(sync, seed=7) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("shop-sync")[0]
    assert run.status == "completed" and run.output == "ok"
    assert retry_delays(sim, "push") == expected_delays(7, "shop-sync", 4) == [15.126, 58.025, 61.956, 131.696]
    calls = [0.0]
    for delay in expected_delays(7, "shop-sync", 4):
        calls.append(round(calls[-1] + delay, 3))
    assert flaky.calls == calls  # each retry starts exactly when the table says
    assert [a.number for a in run.steps["push"].attempts] == [0, 1, 2, 3, 4]


def test_each_step_has_its_own_retry_counter(client):
    first, second = Flaky(3), Flaky(3)

    @client.create_function(fn_id="two", trigger=go())
    def two(ctx: inngest.ContextSync) -> list:
        return [ctx.step.run("a", first), ctx.step.run("b", second)]

    with simulate(two, seed=1) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("shop-two")[0]
    assert run.status == "completed"  # 8 attempts in all, but never 5 on one step
    assert [a.number for a in run.steps["a"].attempts] == [0, 1, 2, 3]
    assert [a.number for a in run.steps["b"].attempts] == [0, 1, 2, 3]
    # b starts again at T[0] (15 s + jitter); the jitter draws continue after a's three
    assert retry_delays(sim, "a") + retry_delays(sim, "b") == expected_delays(1, "shop-two", [0, 1, 2, 0, 1, 2])


def test_retries_option_counts_retries_and_is_clamped_to_20(client):
    never = Flaky(100)

    @client.create_function(fn_id="none", trigger=go(), retries=0)
    def none(ctx: inngest.ContextSync) -> None:
        ctx.step.run("x", never)

    @client.create_function(fn_id="many", trigger=go(), retries=25)
    def many(ctx: inngest.ContextSync) -> None:
        ctx.step.run("x", never)

    with simulate([none, many], seed=2) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert [len(r.steps["x"].attempts) for r in sim.runs()] == [1, 21]
    assert max(retry_delays(sim, "x")) < 7200 + 30  # the table stops growing at 2 h


def test_a_failure_outside_steps_retries_the_request_on_the_table(client):
    body = []

    @client.create_function(fn_id="outside", trigger=go(), retries=2)
    def outside(ctx: inngest.ContextSync) -> None:
        ctx.step.run("a", lambda: None)
        body.append((ctx.attempt, now_s()))
        raise RuntimeError("between steps")

    with simulate(outside, seed=3) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("shop-outside")[0]
    delays = expected_delays(3, "shop-outside", 2)
    assert body == [(0, 0), (1, delays[0]), (2, round(delays[0] + delays[1], 3))]
    assert run.status == "failed" and str(run.error) == "between steps"


# -- NonRetriableError --------------------------------------------------------------------------------
def test_non_retriable_error_in_a_step_fails_the_run_at_once_and_keeps_its_type(client):
    class CardDeclined(inngest.NonRetriableError):
        pass

    @client.create_function(fn_id="charge", trigger=go())
    def charge(ctx: inngest.ContextSync) -> None:
        ctx.step.run("charge", lambda: (_ for _ in ()).throw(CardDeclined("card declined")))

    with simulate(charge) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("shop-charge")[0]
    assert run.status == "failed" and len(run.attempts) == 1 and sim.trace.of("retry") == []
    assert isinstance(run.error, CardDeclined) and isinstance(run.error, jobsim.NonRetriableError)
    assert str(run.error) == "card declined"


def test_non_retriable_error_leaves_step_run_as_itself_not_as_a_step_error(client):
    caught = []

    @client.create_function(fn_id="charge", trigger=go())
    def charge(ctx: inngest.ContextSync) -> str:
        try:
            ctx.step.run("charge", lambda: (_ for _ in ()).throw(inngest.NonRetriableError("nope")))
        except inngest.NonRetriableError as exc:  # inngest-py re-raises it from step.run
            caught.append(type(exc))
        return ctx.step.run("fallback", lambda: "fallback")

    with simulate(charge) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("shop-charge")[0]
    assert run.output == "fallback" and caught[0] is inngest.NonRetriableError
    assert "charge" not in run.steps  # not memoized: it was no step failure


def test_non_retriable_error_outside_steps_fails_the_run_at_once(client):
    @client.create_function(fn_id="check", trigger=go())
    async def check(ctx: inngest.Context) -> None:
        raise inngest.NonRetriableError("bad input")

    with simulate(check) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("shop-check")[0]
    assert run.status == "failed" and len(run.attempts) == 1
    assert isinstance(run.error, inngest.NonRetriableError) and str(run.error) == "bad input"


# -- RetryAfterError ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("retry_after", "delay"),
    [
        (90_000, 90.0),  # int: milliseconds
        (dt.timedelta(minutes=7), 420.0),
        (dt.datetime(2025, 3, 1, 3, 0, tzinfo=dt.timezone.utc), 10800.0),  # a moment: 3 h after start
        (100, 1.0),  # the server clamps to at least 1 s
        (dt.timedelta(hours=48), 86400.0),  # and at most 24 h
    ],
)
def test_retry_after_error_sets_the_next_attempt_and_is_clamped(client, retry_after, delay):
    flaky = Flaky(1, error=lambda message: inngest.RetryAfterError(message, retry_after))

    @client.create_function(fn_id="api", trigger=go())
    def api(ctx: inngest.ContextSync) -> str:
        return ctx.step.run("call", flaky)

    with simulate(api) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert flaky.calls == [0, delay]
    assert sim.runs("shop-api")[0].output == "ok"


def test_retry_after_error_still_consumes_an_attempt(client):
    calls = []

    @client.create_function(fn_id="api", trigger=go(), retries=1)
    def api(ctx: inngest.ContextSync) -> None:
        calls.append(ctx.attempt)
        raise inngest.RetryAfterError("slow down", dt.timedelta(seconds=5))

    with simulate(api) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("shop-api")[0]
    assert calls == [0, 1] and run.status == "failed" and isinstance(run.error, inngest.RetryAfterError)
    assert secs(run.end_ns) == 5


# -- StepError --------------------------------------------------------------------------------
def test_a_step_that_failed_for_good_raises_step_error_which_the_handler_may_catch(client):
    seen = []

    @client.create_function(fn_id="sync", trigger=go(), retries=1)
    def sync(ctx: inngest.ContextSync) -> str:
        try:
            ctx.step.run("push", lambda: (_ for _ in ()).throw(ConnectionError("crm down")))
        except inngest.StepError as exc:
            seen.append((exc.name, exc.message, "ConnectionError: crm down" in (exc.stack or "")))
            return "degraded"
        return "ok"

    with simulate(sync) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert sim.runs("shop-sync")[0].output == "degraded"
    assert seen == [("ConnectionError", "crm down", True)]


def test_an_uncaught_step_error_fails_the_run_with_the_steps_own_error(client):
    @client.create_function(fn_id="sync", trigger=go(), retries=1)
    async def sync(ctx: inngest.Context) -> None:
        await ctx.step.run("push", lambda: (_ for _ in ()).throw(ConnectionError("crm down")))
        await ctx.step.run("never", lambda: None)

    with simulate(sync) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("shop-sync")[0]
    assert run.status == "failed" and isinstance(run.error, ConnectionError) and "never" not in run.steps
    assert len(run.attempts) == 3  # push twice (retries=1), then the request that met the StepError


# -- on_failure -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_on_failure_runs_once_with_the_failure_event(client, kind):
    failures = []
    if kind == "sync":

        def on_failure(ctx: inngest.ContextSync) -> None:
            failures.append((ctx.event.name, dict(ctx.event.data), ctx.attempt, now_s()))
            raise RuntimeError("the failure handler fails too")  # Python registers it with retries=0

        @client.create_function(fn_id="import", trigger=go(), retries=1, on_failure=on_failure)
        def run_import(ctx: inngest.ContextSync) -> None:
            ctx.step.run("load", lambda: (_ for _ in ()).throw(ValueError("bad csv")))

    else:

        async def on_failure(ctx: inngest.Context) -> None:
            failures.append((ctx.event.name, dict(ctx.event.data), ctx.attempt, now_s()))
            raise RuntimeError("the failure handler fails too")

        @client.create_function(fn_id="import", trigger=go(), retries=1, on_failure=on_failure)
        async def run_import(ctx: inngest.Context) -> None:
            await ctx.step.run("load", lambda: (_ for _ in ()).throw(ValueError("bad csv")))

    with simulate(run_import, seed=4) as sim:
        sim.send("go", {"file": "a.csv"})
        sim.run_until_idle()
    run = sim.runs("shop-import")[0]
    ((name, data, attempt, at),) = failures
    assert name == "inngest/function.failed" and attempt == 0 and at == secs(run.end_ns)
    assert data["function_id"] == "shop-import" and data["run_id"] == run.id
    # as the server builds it (executor.go : setResponse) from inngest-py's answer to the request that
    # failed: the StepError the handler let through (ErrorData, x-inngest-no-retry: Err "NonRetriableError");
    # `error` is StandardError() of that answer, `result` the answer itself
    stack = data["error"].pop("stack")
    assert data["error"] == {"error": "NonRetriableError", "name": "ValueError", "message": "bad csv"}
    assert stack.startswith("Traceback (most recent call last):") and stack.endswith("ValueError: bad csv\n")
    assert data["result"] == {"code": "step_errored", "message": "bad csv", "name": "ValueError", "stack": stack}
    assert data["event"]["name"] == "go" and data["event"]["data"] == {"file": "a.csv"}
    # functionFinishedData: `event` as Event.Map() writes it (a `user` always), `events` the run's input events
    assert data["event"]["user"] == {} and data["events"] == [{k: v for k, v in data["event"].items() if k != "user"}]
    assert data["_inngest"] == {"status": "Failed"}  # finalize.go: the run's enums.StepStatus
    assert [r.status for r in sim.runs("shop-import-failure")] == ["failed"]  # one attempt, not retried


# -- outputs json.dumps refuses -------------------------------------------------------------------
def test_an_output_json_cannot_store_fails_the_request_and_is_retried_like_any_error(client):
    """inngest-py checks outputs with json.dumps when it answers the server (a datetime is refused);
    its 500 carries no no-retry header, so the step's code runs again on every attempt."""
    calls, caught = [], []

    @client.create_function(fn_id="stamp", trigger=go(), retries=2)
    def stamp(ctx: inngest.ContextSync) -> None:
        try:
            ctx.step.run("when", lambda: calls.append(ctx.attempt) or dt.datetime(2025, 3, 1))
        except Exception as exc:  # job code never sees the serialization error
            caught.append(exc)

    @client.create_function(fn_id="tags", trigger=go(), retries=0)
    def tags(ctx: inngest.ContextSync) -> set:
        return {"a", "b"}

    with simulate([stamp, tags], seed=6) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("shop-stamp")[0]
    assert calls == [0, 1, 2] and caught == [] and run.status == "failed"
    assert type(run.error).__name__ == "OutputUnserializableError"
    assert str(run.error) == '"when" returned unserializable data' and "when" not in run.steps
    assert retry_delays(sim, None) == expected_delays(6, "shop-stamp", 2)
    (tags_run,) = sim.runs("shop-tags")
    assert tags_run.status == "failed" and str(tags_run.error) == "returned unserializable data"


@pytest.mark.parametrize(
    ("value", "token", "go_error"),
    [
        ({"ratio": 0.5, "score": math.nan}, "NaN", "invalid character 'N' looking for beginning of value"),
        ([1, math.inf], "Infinity", "invalid character 'I' looking for beginning of value"),
        (-math.inf, "-Infinity", "invalid character 'I' in numeric literal"),
    ],
)
def test_a_nan_or_infinite_step_output_fails_the_request_as_the_server_cannot_read_it(client, value, token, go_error):
    """inngest-py's json.dumps writes NaN as a bare token; the server's json.Unmarshal of the step's answer
    (httpdriver/parse.go : parseGenerator) refuses it, and the request is retried like any error."""
    calls, caught = [], []

    @client.create_function(fn_id="score", trigger=go(), retries=1)
    def score(ctx: inngest.ContextSync) -> None:
        try:
            ctx.step.run("score", lambda: calls.append(ctx.attempt) or value)
        except Exception as exc:  # the answer fails after the request: job code never sees it
            caught.append(exc)

    with simulate(score, seed=6) as sim:
        sim.send("go")
        sim.run_until_idle()
    (run,) = sim.runs("shop-score")
    assert calls == [0, 1] and caught == [] and run.status == "failed" and "score" not in run.steps
    assert type(run.error).__name__ == "UnreadableResponse"
    assert str(run.error).startswith(f'step "score" returned {token}: inngest-py writes it as the bare token {token} '
                                     f"(json.dumps), which Inngest's server cannot read (\"error reading generator "
                                     f"opcode response: {go_error}\")")  # fmt: skip


def test_a_function_returning_nan_completes_with_the_sdks_text_as_its_output(client):
    """A function's answer (status 200) the server cannot read as JSON is kept as its text
    (httpdriver/parse.go : ParseResponse; fastjson's validator refuses NaN too)."""

    @client.create_function(fn_id="ratio", trigger=go())
    def ratio(ctx: inngest.ContextSync) -> dict[str, float]:
        return {"ratio": math.nan, "max": math.inf}

    with simulate(ratio) as sim:
        sim.send("go")
        sim.run_until_idle()
    (run,) = sim.runs("shop-ratio")
    assert run.status == "completed" and run.output == '{"ratio": NaN, "max": Infinity}'


def test_function_finished_of_a_failed_run_holds_inngest_py_s_error_answer_and_the_server_s_reading(client):
    """inngest-py answers a failed request with ErrorData (comm_lib/models.py): `code`, `message`, `name`,
    `stack`; from_error's body, without `stack`, for an output json.dumps refuses. The server keeps that
    answer as `result` and StandardError() of it as `error` (executor.go : setResponse), whose `error` is the
    driver's Err: "invalid status code: 500", or "NonRetriableError" after x-inngest-no-retry."""
    heard: dict[str, dict] = {}

    @client.create_function(fn_id="flaky", trigger=go(), retries=1)
    def flaky(ctx: inngest.ContextSync) -> None:
        raise KeyError("sku")

    @client.create_function(fn_id="refuse", trigger=go(), retries=0)
    def refuse(ctx: inngest.ContextSync) -> None:
        raise inngest.NonRetriableError("card declined")

    @client.create_function(fn_id="stamp", trigger=go(), retries=0)
    def stamp(ctx: inngest.ContextSync) -> dt.datetime:
        return dt.datetime(2025, 3, 1)

    @client.create_function(fn_id="ratio", trigger=go(), retries=0)
    def ratio(ctx: inngest.ContextSync) -> None:
        ctx.step.run("divide", lambda: math.nan)

    @client.create_function(fn_id="watch", trigger=inngest.TriggerEvent(event="inngest/function.finished"))
    def watch(ctx: inngest.ContextSync) -> None:
        heard[ctx.event.data["function_id"]] = dict(ctx.event.data)

    with simulate([flaky, refuse, stamp, ratio, watch], seed=3) as sim:
        sim.send("go")
        sim.run_until_idle()
    flaky_, refuse_ = heard["shop-flaky"], heard["shop-refuse"]
    assert flaky_["result"].pop("stack").endswith("KeyError: 'sku'\n")
    assert flaky_["result"] == {"code": "unknown", "message": "'sku'", "name": "KeyError"}
    assert flaky_["error"].pop("stack").endswith("KeyError: 'sku'\n")
    assert flaky_["error"] == {"error": "invalid status code: 500", "name": "KeyError", "message": "'sku'"}
    assert refuse_["result"].pop("stack").endswith("NonRetriableError: card declined\n")
    assert refuse_["result"] == {"code": "non_retriable_error", "message": "card declined", "name": "NonRetriableError"}
    assert refuse_["error"].pop("stack").endswith("NonRetriableError: card declined\n")
    assert refuse_["error"] == {"error": "NonRetriableError", "name": "NonRetriableError", "message": "card declined"}
    # from_error: a plain 500 (retried), no stack
    assert heard["shop-stamp"]["result"] == {
        "code": "output_unserializable", "message": "returned unserializable data", "name": "OutputUnserializableError",
    }  # fmt: skip
    assert heard["shop-stamp"]["error"] == {
        "error": "invalid status code: 500", "name": "OutputUnserializableError",
        "message": "returned unserializable data",
    }  # fmt: skip
    # the server could not read the step's answer: executeDriverV1 keeps its own error, serialized, as the output
    read = "error reading generator opcode response: invalid character 'N' looking for beginning of value"
    serialized = json.dumps({"error": {"error": read, "name": "Error", "message": read}}, separators=(",", ":"))
    assert heard["shop-ratio"]["result"] == serialized
    assert heard["shop-ratio"]["error"] == {"error": read, "name": "Error", "message": serialized}
