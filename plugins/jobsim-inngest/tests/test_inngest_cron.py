"""TriggerCron: TZ=/CRON_TZ= zones across DST, the timer event, jitter, mixed triggers."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import inngest
import pytest
from inngest_support import simulate

import jobsim
from jobsim._time import SECOND

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


def test_cron_jitter_delays_every_tick_by_one_offset_within_range(client):
    @client.create_function(fn_id="poll", trigger=inngest.TriggerCron(cron="0 * * * *", jitter="5m"))
    def poll(ctx: inngest.ContextSync) -> None:
        return None

    def offsets(seed):
        with simulate(poll, client, seed=seed) as sim:
            sim.advance("5h")
        return {(r.start_ns // SECOND) % 3600 for r in sim.runs("shop-poll")}, len(sim.runs("shop-poll"))

    (offset,), count = offsets(1)
    assert 1 <= offset < 300 and count == 5
    with simulate(poll, client, seed=1) as sim:
        sim.advance("2h")
    # Inngest's handleCron: scheduledAt is the expression's tick, fireAt the tick moved by the jitter, when
    # the run is due; the event id (Inngest's idempotency key) names the tick
    first = sim.runs("shop-poll")[0]
    fire_at = f"2025-03-01T00:{offset // 60:02d}:{offset % 60:02d}"  # the 00:00 tick, due after the start
    # both as Go's time.RFC3339 writes them: whole seconds, the jitter's milliseconds cut off
    assert (first.event.data["scheduledAt"], first.event.data["fireAt"]) == ("2025-03-01T00:00:00Z", f"{fire_at}Z")
    assert first.event.id == "shop-poll:2025-03-01T00:00:00Z" and first.started_at.isoformat()[:19] == fire_at
    assert offsets(1) == ({offset}, 5)  # the same seed, the same offset
    assert len({next(iter(offsets(seed)[0])) for seed in range(2, 8)}) > 1  # it depends on the seed


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
