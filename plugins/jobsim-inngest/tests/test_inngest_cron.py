"""TriggerCron: TZ=/CRON_TZ= zones across DST, the timer event, jitter, mixed triggers."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import inngest
import pytest
from inngest_support import T0, simulate

import jobsim
from jobsim._time import MS, SECOND

NEW_YORK = ZoneInfo("America/New_York")


def fired(sim, fn_id, tz=NEW_YORK):
    return [r.started_at.astimezone(tz).strftime("%m-%d %H:%M %Z") for r in sim.runs(fn_id)]


def test_tz_prefix_across_spring_forward(client):
    @client.create_function(fn_id="report", trigger=inngest.TriggerCron(cron="TZ=America/New_York 30 2 * * *"))
    def report(ctx: inngest.ContextSync) -> dict:
        return dict(ctx.event.data)

    with simulate(report, start="2025-03-07T12:00:00Z") as sim:
        sim.advance("4d")
    # 02:30 does not exist on 03-09 in New York. Inngest's scheduler is robfig/cron, which
    # skips it ("2am nightly job (skipped)" in robfig's spec_test.go); see the inngest profile.
    assert fired(sim, "shop-report") == ["03-08 02:30 EST", "03-10 02:30 EDT", "03-11 02:30 EDT"]
    first = sim.runs("shop-report")[0]
    assert first.event.name == "inngest/scheduled.timer"
    assert first.output == {"cron": "TZ=America/New_York 30 2 * * *", "scheduledAt": "2025-03-08T07:30:00Z",
                            "fireAt": "2025-03-08T07:30:00Z"}  # fmt: skip


def test_tz_prefix_across_fall_back_fires_at_both_0130s(client):
    @client.create_function(fn_id="report", trigger=inngest.TriggerCron(cron="TZ=America/New_York 30 1 * * *"))
    def report(ctx: inngest.ContextSync) -> None:
        return None

    with simulate(report, start="2025-10-31T12:00:00Z") as sim:
        sim.advance("3d")
    # 01:30 happens twice on 11-02; robfig/cron fires at both ("1am nightly job (runs twice)")
    assert fired(sim, "shop-report") == ["11-01 01:30 EDT", "11-02 01:30 EDT", "11-02 01:30 EST", "11-03 01:30 EST"]


def test_cron_tz_prefix_and_weekday_ranges(client):
    @client.create_function(fn_id="standup", trigger=inngest.TriggerCron(cron="CRON_TZ=Europe/Paris 0 9 * * 1-5"))
    def standup(ctx: inngest.ContextSync) -> None:
        return None

    with simulate(standup, start="2025-03-28T00:00:00Z") as sim:  # a Friday; Paris moves to CEST on Sunday 30th
        sim.advance("4d")
    assert fired(sim, "shop-standup", ZoneInfo("Europe/Paris")) == ["03-28 09:00 CET", "03-31 09:00 CEST"]
    assert [r.started_at.hour for r in sim.runs("shop-standup")] == [8, 7]  # in UTC


def test_without_a_zone_cron_runs_in_utc_and_mixes_with_event_triggers(client):
    @client.create_function(
        fn_id="sync", trigger=[inngest.TriggerCron(cron="0 */6 * * *"), inngest.TriggerEvent(event="sync/now")]
    )
    def sync(ctx: inngest.ContextSync) -> str:
        return ctx.event.name

    with simulate(sync) as sim:
        sim.advance("7h")
        sim.send("sync/now")
        sim.advance("6h")
    assert [(r.started_at.strftime("%H:%M"), r.output) for r in sim.runs("shop-sync")] == [
        ("06:00", "inngest/scheduled.timer"), ("07:00", "sync/now"), ("12:00", "inngest/scheduled.timer")
    ]  # fmt: skip


def test_cron_jitter_gives_each_tick_its_own_offset_and_the_run_waits_for_it_from_the_tick(client):
    """executor/service.go : handleCron schedules the tick's run at the tick with At: fireAt, fireAt being the
    tick plus DeterministicJitter(the tick's job id) in [1 s, jitter), in nanoseconds: one offset per tick."""

    @client.create_function(fn_id="poll", trigger=inngest.TriggerCron(cron="0 * * * *", jitter="5m"))
    def poll(ctx: inngest.ContextSync) -> None:
        return None

    def offsets(seed):
        with simulate(poll, client, seed=seed) as sim:
            sim.advance("6h")
        return [r.start_ns - int(r.event.data["scheduledAt"][11:13]) * 3600 * SECOND - T0
                for r in sim.runs("shop-poll") if r.status == "completed"]  # fmt: skip

    first = offsets(1)
    assert len(first) == 5 and all(SECOND <= offset < 300 * SECOND for offset in first)  # 06:00's is due later
    assert len(set(first)) == 5  # a different offset for every tick
    assert offsets(1) == first and offsets(2) != first  # fixed by the seed
    with simulate(poll, client, seed=1) as sim:
        sim.advance("1h")
        (run,) = sim.runs("shop-poll")
        assert run.status == "queued"  # made at the 01:00 tick, due at its fireAt
        sim.advance("5m")
    fire = T0 + 3600 * SECOND + first[0]
    # fireAt is the event's ts (milliseconds) and, as Go's time.RFC3339 writes it, whole seconds
    assert run.event.ts == fire // MS and run.start_ns == fire // MS * MS
    fire_at = dt.datetime.fromtimestamp(fire // SECOND, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (run.event.data["scheduledAt"], run.event.data["fireAt"]) == ("2025-03-01T01:00:00Z", fire_at)
    assert run.event.id == "shop-poll:2025-03-01T01:00:00Z"
    queued = [(r.at, r.data["reason"]) for r in sim.trace if r.kind == "run.queued"]
    assert queued == [(T0 + 3600 * SECOND, "ts")]


def test_timer_event_ids_follow_the_schedule(client):
    @client.create_function(fn_id="tick", trigger=inngest.TriggerCron(cron="0 0 * * *"))
    def tick(ctx: inngest.ContextSync) -> str:
        return ctx.event.id

    with simulate(tick) as sim:
        sim.advance(dt.timedelta(days=2))
    assert [r.output for r in sim.runs("shop-tick")] == [
        "shop-tick:2025-03-02T00:00:00Z", "shop-tick:2025-03-03T00:00:00Z"
    ]  # fmt: skip


def test_a_descriptor_is_refused_as_inngest_registration_refuses_it(client):
    # pkg/inngest/trigger.go CronTrigger.Validate parses without robfig's Descriptor option: "@daily" never registers
    @client.create_function(fn_id="tick", trigger=inngest.TriggerCron(cron="@daily"))
    def tick(ctx: inngest.ContextSync) -> None:
        pass

    with pytest.raises(jobsim.UnsupportedFeature, match=r"cron '@daily': Inngest refuses @descriptors .* "
                                                         r"write the 5 fields \('0 0 \* \* \*'\)"):
        simulate(tick).close()


def refusal(client, cron):
    """The message a function whose only trigger is ``cron`` is refused with."""
    @client.create_function(fn_id="tick", trigger=inngest.TriggerCron(cron=cron))
    def tick(ctx: inngest.ContextSync) -> None:
        pass

    with pytest.raises(jobsim.InvalidArgument) as info:
        simulate(tick).close()
    return str(info.value)


@pytest.mark.parametrize(("cron", "said"), [
    ("0 30 9 * * *", "has 6 field(s); expected 5 fields 'minute hour day-of-month month day-of-week' (seconds are "
                     "not supported)"),
    ("* * * *", "has 4 field(s); expected 5 fields 'minute hour day-of-month month day-of-week'"),
    ("@dialy", "'@dialy' is not a cron schedule; write the 5 fields 'minute hour day-of-month month day-of-week'"),
])  # fmt: skip
def test_a_malformed_cron_is_told_the_5_fields_not_the_descriptors_inngest_refuses(client, cron, said):
    """The hint listed @yearly, @daily ... as what to write: each is then refused (the test above)."""
    where = f"inngest function 'shop-tick': TriggerCron(cron={cron!r})"
    assert refusal(client, cron) == f"{where}: cron expression {cron!r}: {said}"


@pytest.mark.parametrize(("cron", "said"), [
    ("0 0 32 * *", "day-of-month field '32' is not valid; accepted: 1-31, '*', lists 'a,b', ranges 'a-b' and steps "
                   "'*/n'"),
    ("0 0 * * 9", "day-of-week field '9' is not valid; accepted: 0-6 or SUN-SAT, '*', lists 'a,b', ranges 'a-b' and "
                  "steps '*/n'"),
])  # fmt: skip
def test_a_field_out_of_range_is_told_the_values_robfig_takes_not_l_w_or_hash(client, cron, said):
    """The hint offered 'L', 'LW', 'FRI#2', '5L' and day-of-week 7, which robfig/cron refuses (spec.go bounds
    day-of-week to 0-6 and getRange reads no L, W or #): following it gave a second error."""
    where = f"inngest function 'shop-tick': TriggerCron(cron={cron!r})"
    assert refusal(client, cron) == f"{where}: cron expression {cron!r}: {said}"
