"""Every flow-control option of create_function, with Inngest's semantics, at exact virtual times."""

from __future__ import annotations

import datetime as dt
import time

import inngest
import pytest
from inngest_support import T0, now_s, secs, simulate

import jobsim
from jobsim._time import SECOND, to_datetime

MIN = 60


def on(name: str = "job/go", expression: str | None = None) -> inngest.TriggerEvent:
    return inngest.TriggerEvent(event=name, expression=expression)


def send_at(sim, plan, name="job/go"):
    """plan: [(seconds after start, data), ...] sent in order at those virtual times."""
    for at, data in plan:
        sim.advance_to(to_datetime(T0 + round(at * SECOND)))
        sim.send(name, data)


def starts(sim, fn_id):
    return [secs(r.start_ns) for r in sim.runs(fn_id) if r.status != "skipped"]


# -- triggers ---------------------------------------------------------------------------------------
def test_trigger_expressions_filter_events_and_triggers_are_ored(client):
    @client.create_function(
        fn_id="vip",
        trigger=[
            on("order/paid", "event.data.total >= 1000"),
            on("order/paid", "event.data.customer.tier == 'gold'"),
            on("order/refunded"),  # no expression: every event
        ],
    )
    def vip(ctx: inngest.ContextSync) -> str:
        return ctx.event.data.get("id")

    with simulate(vip) as sim:
        for i, (total, tier) in enumerate([(50, "basic"), (1500, "basic"), (20, "gold"), (999, None)]):
            sim.send("order/paid", {"id": f"p{i}", "total": total, "customer": {"tier": tier}})
        sim.send("order/refunded", {"id": "r0"})
        sim.run_until_idle()
    assert [r.output for r in sim.runs("shop-vip")] == ["p1", "p2", "r0"]


def test_wildcard_triggers_match_by_prefix_with_their_own_expressions(client):
    @client.create_function(
        fn_id="etl",
        trigger=[on("app/user.*", "event.data.plan == 'pro'"), on("app/blog.*")],
    )
    def etl(ctx: inngest.ContextSync) -> str:
        return ctx.event.name

    with simulate(etl) as sim:
        for name, plan in [("app/user.created", "pro"), ("app/user.updated", "free"),
                           ("app/blog.post.published", "free"), ("app/billing.paid", "pro")]:  # fmt: skip
            sim.send(name, {"plan": plan})
        sim.run_until_idle()
    assert [r.output for r in sim.runs("shop-etl")] == ["app/user.created", "app/blog.post.published"]


# -- batch_events -----------------------------------------------------------------------------------
def test_batch_events_by_size_timeout_key_and_if(client):
    batches = []

    @client.create_function(
        fn_id="digest",
        trigger=on(),
        batch_events=inngest.Batch(
            max_size=3, timeout=dt.timedelta(seconds=30), key="event.data.user", if_exp="event.data.kind != 'urgent'"
        ),
    )
    def digest(ctx: inngest.ContextSync) -> None:
        batches.append((now_s(), [e.data["n"] for e in ctx.events]))

    with simulate(digest) as sim:
        send_at(sim, [(0, {"user": "a", "n": 1}), (1, {"user": "b", "n": 2}), (2, {"user": "a", "n": 3}),
                      (3, {"user": "a", "n": 4}), (4, {"user": "a", "n": 5}),
                      (5, {"user": "a", "n": 6, "kind": "urgent"})])  # fmt: skip
        sim.run_until_idle()
    # a: 1,3,4 full at 3 s; b: 2 alone after its 30 s timeout (31 s); a: 5 alone at 4 + 30 s;
    # the urgent event fails the batch's `if` and runs at once, unbatched
    assert sorted(batches) == [(3, [1, 3, 4]), (5, [6]), (31, [2]), (34, [5])]


# -- debounce ---------------------------------------------------------------------------------------
def test_debounce_fires_a_period_after_the_last_event_capped_by_the_timeout(client):
    @client.create_function(
        fn_id="reindex",
        trigger=on(),
        debounce=inngest.Debounce(
            period=dt.timedelta(minutes=5), key="event.data.doc", timeout=dt.timedelta(minutes=12)
        ),
    )
    def reindex(ctx: inngest.ContextSync) -> int:
        return ctx.event.data["v"]

    with simulate(reindex) as sim:
        send_at(sim, [(0, {"doc": "x", "v": 1}), (4 * MIN, {"doc": "x", "v": 2}), (6 * MIN, {"doc": "y", "v": 1}),
                      (8 * MIN, {"doc": "x", "v": 3}), (11 * MIN, {"doc": "x", "v": 4})])  # fmt: skip
        sim.run_until_idle()
    runs = sim.runs("shop-reindex")
    # x keeps moving (4 -> 9 -> 13 -> 16 min) but its timeout caps it at 12 min, with the last event;
    # y's period ends 5 min after its only event. Each run starts 1.05 s after that instant: Inngest
    # enqueues the job that starts it at ttl + 50 ms + 1 s (debounce.go), and the ttls cut by the
    # timeout here are whole minutes (4 min at 8 min, 1 min at 11 min)
    assert [(r.start_ns - T0 - m * MIN * SECOND, r.event.data) for r, m in zip(runs, (11, 12), strict=True)] == [
        (1_050_000_000, {"doc": "y", "v": 1}),
        (1_050_000_000, {"doc": "x", "v": 4}),
    ]


# -- throttle ---------------------------------------------------------------------------------------
def test_throttle_queues_the_excess_and_inngest_pys_default_burst_is_one(client):
    @client.create_function(
        fn_id="sync", trigger=on(), throttle=inngest.Throttle(limit=2, period=dt.timedelta(minutes=1))
    )
    def sync(ctx: inngest.ContextSync) -> int:
        return ctx.event.data["i"]

    @client.create_function(fn_id="strict", trigger=on(), throttle=inngest.Throttle(limit=2, period=60_000, burst=None))
    def strict(ctx: inngest.ContextSync) -> int:
        return ctx.event.data["i"]

    with simulate([sync, strict]) as sim:
        for i in range(6):
            sim.send("job/go", {"i": i})
        sim.run_until_idle()
    # capacity limit + burst = 3 at rest, then one every 60 s / 2; nothing dropped, FIFO
    assert starts(sim, "shop-sync") == [0, 0, 0, 30, 60, 90]
    assert [r.output for r in sim.runs("shop-sync")] == [0, 1, 2, 3, 4, 5]
    assert starts(sim, "shop-strict") == [0, 0, 30, 60, 90, 120]  # burst=None: the limit alone


def test_throttle_key_throttles_each_key_alone(client):
    @client.create_function(
        fn_id="sync", trigger=on(), throttle=inngest.Throttle(limit=1, period=60_000, burst=0, key="event.data.org")
    )
    def sync(ctx: inngest.ContextSync) -> None:
        return None

    with simulate(sync) as sim:
        for org in ("a", "a", "b", "a"):
            sim.send("job/go", {"org": org})
        sim.run_until_idle()
    assert [(r.event.data["org"], secs(r.start_ns)) for r in sim.runs("shop-sync")] == [
        ("a", 0), ("a", 60), ("b", 0), ("a", 120)
    ]  # fmt: skip


# -- rate_limit -------------------------------------------------------------------------------------
def test_rate_limit_skips_the_excess_with_a_burst_of_a_tenth(client):
    @client.create_function(
        fn_id="sms",
        trigger=on(),
        rate_limit=inngest.RateLimit(limit=10, period=dt.timedelta(hours=1), key="event.data.to"),
    )
    def sms(ctx: inngest.ContextSync) -> None:
        return None

    with simulate(sms) as sim:
        send_at(
            sim, [(0, {"to": "ada"})] * 5 + [(0, {"to": "bob"}), (5 * MIN, {"to": "ada"}), (6 * MIN, {"to": "ada"})]
        )
        sim.run_until_idle()
    runs = sim.runs("shop-sms")
    assert [(r.event.data["to"], secs(r.start_ns) / MIN, r.status) for r in runs] == [
        ("ada", 0, "completed"), ("ada", 0, "completed"),  # floor(10/10) + 1 at once
        ("ada", 0, "skipped"), ("ada", 0, "skipped"), ("ada", 0, "skipped"),
        ("bob", 0, "completed"),  # another key
        ("ada", 5, "skipped"), ("ada", 6, "completed"),  # then one every 60 min / 10
    ]  # fmt: skip


# -- concurrency ------------------------------------------------------------------------------------
def test_concurrency_limits_steps_per_key_and_zero_means_no_limit(client):
    def slow(ctx: inngest.ContextSync) -> None:
        ctx.step.run("work", lambda: time.sleep(10))

    keyed = client.create_function(
        fn_id="keyed", trigger=on(), concurrency=[inngest.Concurrency(limit=1, key="event.data.account")]
    )(slow)
    free = client.create_function(fn_id="free", trigger=on(), concurrency=[inngest.Concurrency(limit=0)])(slow)

    with simulate([keyed, free]) as sim:
        for account in ("a", "a", "b", "a"):
            sim.send("job/go", {"account": account})
        sim.run_until_idle()
    runs = sim.runs("shop-keyed")
    work = {r.event.data["account"] + str(i): secs(r.steps["work"].end_ns) for i, r in enumerate(runs)}
    assert work == {"a0": 10, "a1": 20, "b2": 10, "a3": 30}  # one step of account a at a time
    # every request takes a slot, the final one too, FIFO: a0 and a1 return after a3's step
    assert [secs(r.end_ns) for r in runs] == [30, 30, 10, 30]
    assert [secs(r.end_ns) for r in sim.runs("shop-free")] == [10, 10, 10, 10]


def test_an_account_scoped_limit_is_shared_across_functions_and_two_limits_both_apply(client):
    def slow(ctx: inngest.ContextSync) -> None:
        ctx.step.run("llm", lambda: time.sleep(10))

    openai = inngest.Concurrency(limit=1, key='"openai"', scope="account")
    chat = client.create_function(fn_id="chat", trigger=on(), concurrency=[inngest.Concurrency(limit=2), openai])(slow)
    embed = client.create_function(fn_id="embed", trigger=on(), concurrency=[openai])(slow)

    with simulate([chat, embed]) as sim:
        sim.send("job/go")
        sim.run_until_idle()
    # one "openai" slot for both functions: chat's step 0-10, embed's (queued at 0) 10-20
    assert secs(sim.runs("shop-chat")[0].steps["llm"].end_ns) == 10
    assert secs(sim.runs("shop-embed")[0].steps["llm"].end_ns) == 20


# -- cancel -----------------------------------------------------------------------------------------
def test_cancel_on_a_matching_event_within_its_timeout(client):
    @client.create_function(
        fn_id="remind",
        trigger=on("cart/abandoned"),
        cancel=[inngest.Cancel(event="cart/bought", if_exp="event.data.cart == async.data.cart",
                               timeout=dt.timedelta(hours=1))],
    )  # fmt: skip
    def remind(ctx: inngest.ContextSync) -> str:
        ctx.step.sleep("wait", dt.timedelta(hours=2))
        return "reminded"

    with simulate(remind) as sim:
        for cart in ("c1", "c2", "c3"):
            sim.send("cart/abandoned", {"cart": cart})
        sim.advance("30m")
        sim.send("cart/bought", {"cart": "c1"})  # cancels c1 only
        sim.advance("40m")
        sim.send("cart/bought", {"cart": "c2"})  # 70 min: past the cancellation's 1 h timeout
        sim.run_until_idle()
    runs = sim.runs("shop-remind")
    assert [(r.event.data["cart"], r.status, secs(r.end_ns) / MIN) for r in runs] == [
        ("c1", "cancelled", 30), ("c2", "completed", 120), ("c3", "completed", 120)
    ]  # fmt: skip


# -- singleton ----------------------------------------------------------------------------------------
def test_singleton_skip_and_cancel_per_key(client):
    """pkg/execution/executor/executor.go : schedule: ``skip`` skips a run while another of its key runs,
    ``cancel`` cancels that run and starts the new one; a key held is free again when its run ends."""
    made = {}
    for mode in ("skip", "cancel"):

        @client.create_function(fn_id=f"sync-{mode}", trigger=on(f"{mode}/go"),
                                singleton=inngest.Singleton(key="event.data.user", mode=mode))  # fmt: skip
        def sync(ctx: inngest.ContextSync) -> str:
            ctx.step.sleep("settle", dt.timedelta(minutes=30))
            return ctx.event.data["n"]

        made[mode] = sync

    with simulate(made["skip"], made["cancel"]) as sim:
        for mode in ("skip", "cancel"):
            send_at(sim, [(0, {"user": "u1", "n": "a"}), (0, {"user": "u2", "n": "b"})], f"{mode}/go")
        for mode in ("skip", "cancel"):
            send_at(sim, [(10 * MIN, {"user": "u1", "n": "c"})], f"{mode}/go")
        for mode in ("skip", "cancel"):
            send_at(sim, [(60 * MIN, {"user": "u1", "n": "d"})], f"{mode}/go")  # u1's run ended: free
        sim.run_until_idle()
    ends = {mode: [(r.output, r.status, secs(r.end_ns) / MIN) for r in sim.runs(f"shop-sync-{mode}")]
            for mode in ("skip", "cancel")}  # fmt: skip
    assert ends["skip"] == [("a", "completed", 30), ("b", "completed", 30), (None, "skipped", 10),
                            ("d", "completed", 90)]  # fmt: skip
    assert ends["cancel"] == [(None, "cancelled", 10), ("b", "completed", 30), ("c", "completed", 40),
                              ("d", "completed", 90)]  # fmt: skip


# -- idempotency and priority -----------------------------------------------------------------------
def test_idempotency_allows_one_run_per_key_per_24h(client):
    @client.create_function(fn_id="charge", trigger=on(), idempotency="event.data.order")
    def charge(ctx: inngest.ContextSync) -> None:
        return None

    with simulate(charge) as sim:
        send_at(sim, [(0, {"order": 1}), (60, {"order": 1}), (60, {"order": 2}), (24 * 3600, {"order": 1})])
        sim.run_until_idle()
    assert [(r.event.data["order"], r.status) for r in sim.runs("shop-charge")] == [
        (1, "completed"), (1, "skipped"), (2, "completed"), (1, "completed")
    ]  # fmt: skip


@pytest.mark.filterwarnings("ignore::jobsim.KeyWarning")  # tags.count is missing on every event on purpose
def test_keys_follow_inngests_string_rule_for_paths_and_expressions(client):
    """As in jobsim's core: 1, 1.0 and "1" are one key; a missing field is false (never limited);
    a list's fields are not Python's (``tags.count`` is missing, not the bound method)."""

    @client.create_function(fn_id="charge", trigger=on(), idempotency="event.data.order")
    def charge(ctx: inngest.ContextSync) -> None:
        return None

    @client.create_function(fn_id="tagged", trigger=on(), idempotency="event.data.tags.count")
    def tagged(ctx: inngest.ContextSync) -> None:
        return None

    @client.create_function(fn_id="sum", trigger=on(), idempotency="event.data.a + event.data.b")
    def total(ctx: inngest.ContextSync) -> None:
        return None

    with simulate([charge, tagged, total]) as sim:
        send_at(sim, [(0, {"order": 1, "tags": ["x"], "a": 1, "b": 1}),
                      (1, {"order": "1", "tags": ["y"], "a": 2, "b": 0}),
                      (2, {"order": 1.0, "tags": [], "a": "2"}), (3, {}), (4, {})])  # fmt: skip
        sim.run_until_idle()
    assert [r.status for r in sim.runs("shop-charge")] == ["completed", "skipped", "skipped", "completed", "completed"]
    assert [r.status for r in sim.runs("shop-tagged")] == ["completed"] * 5
    # 1 + 1 and 2 + 0 share the key "2"; "2" + missing is "2" too (unknown.go: + drops an unknown operand);
    # missing + missing is false: never limited
    assert [r.status for r in sim.runs("shop-sum")] == ["completed", "skipped", "skipped", "completed", "completed"]


def test_priority_moves_runs_ahead_in_the_concurrency_queue(client):
    @client.create_function(
        # int(): an event number is a JSON double on Inngest, and a priority that is not an int counts as 0
        fn_id="render", trigger=on(), concurrency=[inngest.Concurrency(limit=1)],
        priority=inngest.Priority(run="int(event.data.boost)"),
    )  # fmt: skip
    def render(ctx: inngest.ContextSync) -> str:
        ctx.step.run("work", lambda: time.sleep(60))
        return ctx.event.data["name"]

    with simulate(render) as sim:
        send_at(sim, [(0, {"name": "first", "boost": 0}), (1, {"name": "normal", "boost": 0}),
                      (2, {"name": "vip", "boost": 600})])  # fmt: skip
        sim.run_until_idle()
    work = sorted(sim.runs("shop-render"), key=lambda r: r.steps["work"].end_ns)
    assert [(r.event.data["name"], secs(r.steps["work"].end_ns)) for r in work] == [
        ("first", 60), ("vip", 120), ("normal", 180)  # vip sent last, queued 10 min "earlier"
    ]  # fmt: skip


# -- timeouts ---------------------------------------------------------------------------------------
def test_timeouts_finish_and_start_cancel_runs(client):
    @client.create_function(fn_id="long", trigger=on(), timeouts=inngest.Timeouts(finish=dt.timedelta(minutes=10)))
    def long(ctx: inngest.ContextSync) -> None:
        ctx.step.sleep("nap", dt.timedelta(hours=1))

    @client.create_function(
        fn_id="queued", trigger=on(), concurrency=[inngest.Concurrency(limit=1)],
        timeouts=inngest.Timeouts(start=dt.timedelta(minutes=2)),
    )  # fmt: skip
    def queued(ctx: inngest.ContextSync) -> None:
        ctx.step.run("work", lambda: time.sleep(300))

    with simulate([long, queued]) as sim:
        sim.send("job/go")
        sim.send("job/go")
        sim.run_until_idle()
    assert [(r.status, secs(r.end_ns)) for r in sim.runs("shop-long")] == [("cancelled", 600)] * 2
    first, second = sim.runs("shop-queued")
    assert first.status == "completed" and second.status == "cancelled" and secs(second.end_ns) == 120


def test_a_plain_function_keeps_jobsims_fast_path(client):
    @client.create_function(fn_id="plain", trigger=on(), retries=2)
    def plain(ctx: inngest.ContextSync) -> None:
        return None

    with simulate(plain) as sim:
        assert sim.functions["shop-plain"].flow is None  # no flow control: no flow runtime per request
        assert isinstance(sim.functions["shop-plain"], jobsim.Function)


def test_key_expressions_evaluate_as_inngests_cel_and_an_error_is_each_options_own(client):
    """unknown.go : runtimeUnknownCall: + of two CEL types joins their %v ("a" + 1.0 is "a1", an event's
    double 5 + the int 1 is "51"); - of a string is a CEL error. On an error a concurrency or throttle key
    is "false", a singleton none, a debounce key "<invalid>" (debounce.go : debounceKey), and a rate limit's,
    idempotency's or batch's key makes no run (ratelimit.go : RateLimitKey, batch/redis.go : batchKey)."""

    @client.create_function(fn_id="once", trigger=on(), idempotency="event.data.n + 1")
    def once(ctx: inngest.ContextSync) -> None:
        return None

    @client.create_function(fn_id="limited", trigger=on(), rate_limit=inngest.RateLimit(
        limit=100, period=dt.timedelta(hours=1), key="event.data.n - 1.0"))
    def limited(ctx: inngest.ContextSync) -> None:
        return None

    @client.create_function(fn_id="batched", trigger=on(), batch_events=inngest.Batch(
        max_size=2, timeout=dt.timedelta(seconds=10), key="-event.data.name"))
    def batched(ctx: inngest.ContextSync) -> None:
        return None

    @client.create_function(fn_id="single", trigger=on(), singleton=inngest.Singleton(
        key="event.data.name - 1.0", mode="skip"))
    def single(ctx: inngest.ContextSync) -> None:
        ctx.step.sleep("hold", dt.timedelta(seconds=30))

    @client.create_function(fn_id="slow", trigger=on(), debounce=inngest.Debounce(
        period=dt.timedelta(seconds=5), key="event.data.name - 1.0"))
    def slow(ctx: inngest.ContextSync) -> None:
        return None

    with simulate([once, limited, batched, single, slow]) as sim:
        send_at(sim, [(0, {"n": 5, "name": "x"}), (1, {"n": "5", "name": "y"}), (2, {"n": 51, "name": 1}),
                      (3, {"n": 52})])  # fmt: skip
        sim.run_until_idle()
    # "51", "51" (a string 5 + the int 1), 52
    assert [r.status for r in sim.runs("shop-once")] == ["completed", "skipped", "completed", "completed"]
    # 5 - 1.0 is 4; "5" - 1.0 is an error: no run (a skipped one, reason key_error); 51 - 1.0 is 50
    assert [r.status for r in sim.runs("shop-limited")] == ["completed", "skipped", "completed", "completed"]
    assert [r.status for r in sim.runs("shop-single")] == ["completed"] * 4  # no singleton at all
    # -"x", -"y": errors, no run; -1.0 and -missing (false) are keys of their own: a batch of one each
    assert [(r.status, len(r.events)) for r in sim.runs("shop-batched")] == [
        ("skipped", 1), ("skipped", 1), ("completed", 1), ("completed", 1)]  # fmt: skip
    skipped = [r for r in sim.trace if r.kind == "run.skipped" and r.data["reason"] == "key_error"]
    assert sorted(r.data["option"] for r in skipped) == ["batch", "batch", "rate_limit"]
    assert "shop-batched#1: its batch key failed to evaluate (Inngest makes no run)" in sim.timeline()
    # "x" - 1.0, "y" - 1.0: both "<invalid>", one debounce; 1.0 - 1.0 is 0 and missing - 1.0 false, keys of their own
    fired = sorted((r.data["key"], r.data["size"]) for r in sim.trace if r.kind == "debounce")
    assert fired == [("0", 1), ("<invalid>", 2), ("false", 1)]


def test_a_cel_int_key_is_written_in_full_as_go_writes_an_int64(client):
    """int() gives a CEL int, an int64, which fmt.Sprintf("%v") writes digit for digit; only an event's own
    numbers are doubles (1.2345678e+07 as a bare path key)."""

    @client.create_function(fn_id="once", trigger=on(), idempotency="int(event.data.id)")
    def once(ctx: inngest.ContextSync) -> None:
        return None

    with simulate(once) as sim:
        send_at(sim, [(0, {"id": 12345678}), (1, {"id": "12345678"})])
        sim.run_until_idle()
    skipped = [r.data["key"] for r in sim.trace if r.kind == "run.skipped"]
    assert [r.status for r in sim.runs("shop-once")] == ["completed", "skipped"] and skipped == ["12345678"]
