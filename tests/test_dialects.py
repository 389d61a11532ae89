"""Cron dialects per system: syntax each accepts, and each scheduler's rule across DST."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim
from hypothesis import example, given, settings
from hypothesis import strategies as st

import jobsim
from jobsim import UnsupportedFeature
from jobsim._cron import CronSchedule
from jobsim._time import MINUTE, SECOND, instant_ns, iso

NY = "America/New_York"
UTC = dt.timezone.utc


def fires(expr, tz, start, count, rule, dom_and=False):
    schedule = CronSchedule.parse(expr, tz, seconds=True).bound(rule, dom_and=dom_and)
    out, t = [], instant_ns(start)
    for _ in range(count):
        t = schedule.next_after(t)
        out.append(iso(t))
    return out


def sim_fires(profile, days=3, start="2025-03-07T00:00:00Z", **function):
    app = jobsim.App("c")

    @app.function("job", **function)
    def job(ctx):
        return ctx.event.data["scheduledAt"]

    with jobsim.Simulation(app, start=start, profile=profile) as sim:
        sim.advance(f"{days}d")
    return [iso(r.start_ns) for r in sim.runs("job")]


# -- robfig/cron v3 (Inngest): a stepped '*' clears the star bit (parser.go: if step > 1 { extra = 0 }) ------


@pytest.mark.parametrize(
    ("cron", "days"),
    [
        # day-of-month */2 is restricted: odd days OR Mondays (it ran only on odd Mondays)
        ("0 9 */2 * 1", ["01", "02", "03", "05", "07", "09", "11", "13", "15", "16", "17", "19", "21", "23", "25",
                         "27", "29", "30", "31"]),
        ("0 9 15 * */2", ["01", "03", "05", "07", "08", "10", "12", "14", "15", "17", "19", "21", "22", "24", "26",
                          "28", "29", "31"]),  # the 15th OR Sun/Tue/Thu/Sat
        ("0 9 */1 * 1", ["02", "09", "16", "23", "30"]),  # a step of 1 keeps the star bit: Mondays only
        ("0 9 */2 * *", ["01", "03", "05", "07", "09", "11", "13", "15", "17", "19", "21", "23", "25", "27", "29",
                         "31"]),  # day-of-week '*': AND, as ever
    ],
)  # fmt: skip
def test_robfig_reads_a_stepped_star_day_field_as_restricted(cron, days):
    fired = sim_fires("inngest", days=31, start="2026-03-01T00:00:00Z", cron=cron)
    assert [at[8:10] for at in fired] == days


@pytest.mark.parametrize(
    ("cron", "weekdays"),
    [
        ("0 9 * * 1/2", ["Mon", "Wed", "Fri"]),  # 1-6/2: robfig's day-of-week ends at 6 (it fired on Sundays too)
        ("0 9 * * 5/1", ["Fri", "Sat"]),
        ("0 9 * * MON/2", ["Mon", "Wed", "Fri"]),  # a name is its number
        ("0 9 * * 6/2", ["Sat"]),
        ("0 9 * * 0/3,5", ["Sun", "Wed", "Fri", "Sat"]),  # each item of a list
        ("0 9 * * */2", ["Sun", "Tue", "Thu", "Sat"]),  # a stepped '*' covers 0-6 as before
        ("0 9 * * 1-5/2", ["Mon", "Wed", "Fri"]),  # a range keeps its own end
    ],
)  # fmt: skip
def test_robfig_reads_a_stepped_single_day_of_week_up_to_saturday(cron, weekdays):
    fired = sim_fires("inngest", days=7, start="2026-03-01T00:00:00Z", cron=cron)  # Sunday the 1st to the 7th
    days = {dt.datetime.fromisoformat(at.replace("Z", "+00:00")).strftime("%a") for at in fired}
    assert sorted(days) == sorted(weekdays)


def test_cron_parser_reads_a_stepped_day_of_week_up_to_7_sunday_again():
    """BullMQ's cron-parser bounds day-of-week at 0-7 (7 is Sunday): '1/2' is 1,3,5,7 there, Sunday included."""
    fired = sim_fires("bullmq", days=7, start="2026-03-01T00:00:00Z", cron="0 9 * * 1/2")
    days = {dt.datetime.fromisoformat(at.replace("Z", "+00:00")).strftime("%a") for at in fired}
    assert sorted(days) == sorted(["Mon", "Wed", "Fri", "Sun"])


@pytest.mark.parametrize("cron", ["0 9 l * *", "0 9 lw * *", "0 9 * * 5l"])
def test_robfig_refuses_a_lower_case_l_as_it_refuses_l(cron):
    with pytest.raises(UnsupportedFeature, match=r"uses 'l'; robfig/cron v3 takes numbers, names"):
        sim_fires("inngest", cron=cron)


# -- robfig/cron v3 (Inngest): spec_test.go's DST cases -------------------------------------------


@pytest.mark.parametrize(
    ("expr", "start", "expected"),
    [
        # "2am nightly job (skipped)"
        ("0 0 2 * * *", "2012-03-11T00:00:00-05:00", ["2012-03-12T06:00:00.000Z"]),
        # hourly job across the gap: 01:00 EST then 03:00 EDT
        ("0 0 * * * *", "2012-03-11T01:00:00-05:00", ["2012-03-11T07:00:00.000Z"]),
        # "1am nightly job (runs twice)"
        ("0 0 1 * * *", "2012-11-04T00:00:00-04:00",
         ["2012-11-04T05:00:00.000Z", "2012-11-04T06:00:00.000Z", "2012-11-05T06:00:00.000Z"]),
        # after 01:45 EDT, the repeated 01:30 (EST) still fires
        ("0 30 1 4 11 *", "2012-11-04T01:45:00-04:00", ["2012-11-04T06:30:00.000Z"]),
        ("0 0 * * * *", "2012-11-04T01:00:00-04:00", ["2012-11-04T06:00:00.000Z", "2012-11-04T07:00:00.000Z"]),
        ("0 30 2 4 11 *", "2012-11-04T00:00:00-04:00", ["2012-11-04T07:30:00.000Z"]),
    ],
)  # fmt: skip
def test_robfig_instant_rule_matches_its_own_tests(expr, start, expected):
    assert fires(expr, NY, start, len(expected), "instant") == expected


# -- node-cron 4: src/time/dst.test.ts ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "expr", "start", "expected"),
    [
        ("SF-1", "45 2 * * *", "2025-03-07T12:00:00Z",
         ["2025-03-08T07:45:00.000Z", "2025-03-10T06:45:00.000Z", "2025-03-11T06:45:00.000Z"]),
        ("SF-2", "0 * * * *", "2025-03-09T05:30:00Z", ["2025-03-09T06:00:00.000Z", "2025-03-09T07:00:00.000Z"]),
        ("SF-9", "0 2 * * *", "2025-03-08T12:00:00Z", ["2025-03-10T06:00:00.000Z"]),
        ("SF-10", "0 3 * * *", "2025-03-08T12:00:00Z", ["2025-03-09T07:00:00.000Z"]),
        ("FB-1", "15 1 * * *", "2025-11-01T12:00:00Z", ["2025-11-02T05:15:00.000Z"]),
        ("FB-2", "0 * * * *", "2025-11-02T04:30:00Z", ["2025-11-02T05:00:00.000Z", "2025-11-02T07:00:00.000Z"]),
        ("FB-9", "0 2 * * *", "2025-11-02T05:00:00Z", ["2025-11-02T07:00:00.000Z"]),
        ("FB-10", "15 1 * * *", "2025-11-02T06:20:00Z", ["2025-11-03T06:15:00.000Z"]),
    ],
)  # fmt: skip
def test_node_cron_wall_rule_matches_its_dst_spec(case, expr, start, expected):
    assert fires(expr, NY, start, len(expected), "wall") == expected


def test_node_cron_havana_midnight_gap_skips_the_day():
    # SF-7: 00:30 does not exist on 2025-03-09 in Havana
    assert fires("30 0 * * *", "America/Havana", "2025-03-07T12:00:00Z", 2, "wall") == [
        "2025-03-08T05:30:00.000Z", "2025-03-10T04:30:00.000Z",
    ]  # fmt: skip


def test_node_cron_day_of_month_and_day_of_week():
    # Friday the 13th: both must match (node-cron); Vixie's OR fires on every 13th and every Friday
    assert fires("0 9 13 * 5", "UTC", "2025-01-01T00:00:00Z", 2, "wall", dom_and=True) == [
        "2025-06-13T09:00:00.000Z", "2026-02-13T09:00:00.000Z",
    ]  # fmt: skip
    assert fires("0 9 13 * 5", "UTC", "2025-01-01T00:00:00Z", 3, "isc") == [
        "2025-01-03T09:00:00.000Z", "2025-01-10T09:00:00.000Z", "2025-01-13T09:00:00.000Z",
    ]  # fmt: skip


def test_cron_parser_systems_follow_isc_in_athens():
    # cron-parser tests/timezone.test.ts (Europe/Athens, DST start 2016-03-27 03:00 -> 04:00)
    assert fires("0 3 * * *", "Europe/Athens", "2016-03-27T02:00:01+02:00", 2, "isc") == [
        "2016-03-27T01:00:00.000Z",  # 04:00 EEST: moved after the gap
        "2016-03-28T00:00:00.000Z",  # 03:00 EEST
    ]
    # DST end 2016-10-30 04:00 -> 03:00: the hourly schedule fires at both 03:00s
    assert fires("0 * * * *", "Europe/Athens", "2016-10-30T02:00:01+03:00", 3, "isc") == [
        "2016-10-30T00:00:00.000Z", "2016-10-30T01:00:00.000Z", "2016-10-30T02:00:00.000Z",
    ]  # fmt: skip


# -- properties of the rules --------------------------------------------------------------------------


def _matches(schedule, wall):
    minute_before = wall - dt.timedelta(minutes=1)
    return next(CronSim(schedule.fields, minute_before)) == wall


@settings(max_examples=40, deadline=None)
@given(
    zone=st.sampled_from([NY, "Europe/London", "Australia/Lord_Howe", "America/Havana"]),
    minute=st.sampled_from([0, 15, 30, 45]),
    hour=st.integers(0, 3),
    day=st.integers(0, 365),
)
@example(zone="Australia/Lord_Howe", minute=0, hour=3, day=276)  # 2025-10-05 03:00 passed over (a CI draw)
def test_instant_rule_fires_exactly_where_the_local_wall_time_matches(zone, minute, hour, day):
    """robfig's rule, checked by brute force: every minute between two fires is not a match, but for the
    matches robfig passes over on a day whose offset changes by part of an hour (Lord Howe's 30 minutes: the
    minutes before :30 of the first matching hour after the change, pinned by hand in
    ``test_robfig_across_lord_howes_half_hour_change``)."""
    expr = f"{minute} {hour} * * *"
    schedule = CronSchedule.parse(expr, zone).bound("instant")
    tz = ZoneInfo(zone)
    start = instant_ns(dt.datetime(2025, 1, 1, tzinfo=UTC) + dt.timedelta(days=day))
    fire = schedule.next_after(start)
    assert _matches(schedule, dt.datetime.fromtimestamp(fire / SECOND, tz).replace(tzinfo=None))
    t = start - start % MINUTE + MINUTE
    while t < fire:
        local = dt.datetime.fromtimestamp(t / SECOND, tz)
        if _matches(schedule, local.replace(tzinfo=None)):
            midnight = dt.datetime.combine(local.date(), dt.time(), tz)
            change = (midnight + dt.timedelta(days=1)).utcoffset() - midnight.utcoffset()
            assert change % dt.timedelta(hours=1) and local.minute < 30, local  # robfig's half-hour skip only
        t += MINUTE


def _node_cron_resolves(wall, tz):
    """localTimeToTimestamp (node-cron 4 src/time/localized-time.ts), restated: the wall time read as UTC,
    minus the offset at that instant; if the offset there differs, the candidate that reads back, else the later."""
    guess = wall.replace(tzinfo=UTC)
    first = guess - guess.astimezone(tz).utcoffset()
    second = guess - first.astimezone(tz).utcoffset()
    if first == second:
        return first
    for candidate in (first, second):
        if candidate.astimezone(tz).replace(tzinfo=None) == wall:
            return candidate
    return max(first, second)


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from([NY, "Europe/London", "Europe/Berlin", "Australia/Lord_Howe", "America/Havana"]),
    minute=st.sampled_from([0, 15, 30, 45]),
    hour=st.sampled_from([0, 1, 2, 3, "*"]),
    fold_day=st.booleans(),
    day=st.integers(0, 365),
    offset=st.integers(-600, 180),
)
def test_wall_rule_fires_where_node_cron_resolves_each_matching_wall_time(zone, minute, hour, fold_day, day, offset):
    """node-cron's walk (matcher-walker.ts firstTimeOnDay), by brute force over minutes: the first later matching
    wall time whose resolved instant is after the start and whose own wall time matches. Starts are drawn near the
    zone's 2025 transitions half the time."""
    schedule = CronSchedule.parse(f"{minute} {hour} * * *", zone).bound("wall")
    tz = ZoneInfo(zone)
    if fold_day:
        changes = [t for t in (dt.datetime(2025, 1, 1, tzinfo=UTC) + dt.timedelta(hours=h) for h in range(8760))
                   if t.astimezone(tz).utcoffset() != (t - dt.timedelta(hours=1)).astimezone(tz).utcoffset()]
        base = changes[day % len(changes)] + dt.timedelta(minutes=offset)
    else:
        base = dt.datetime(2025, 1, 1, tzinfo=UTC) + dt.timedelta(days=day, minutes=13)
    start = instant_ns(base)
    wall = base.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)
    while True:
        wall += dt.timedelta(minutes=1)
        if not _matches(schedule, wall):
            continue
        at = _node_cron_resolves(wall, tz)
        if instant_ns(at) > start and _matches(schedule, at.astimezone(tz).replace(tzinfo=None)):
            break
    assert schedule.next_after(start) == instant_ns(at)


@pytest.mark.parametrize(
    ("expr", "zone", "start", "expected"),
    [
        # New York: the wall time read as UTC lands before the change (06:00 UTC): the first, EDT occurrence
        ("30 1 * * *", NY, "2025-11-01T12:00:00Z", ["2025-11-02T05:30:00.000Z", "2025-11-03T06:30:00.000Z"]),
        # London: 01:30 read as UTC lands after the change (01:00 UTC): GMT, the second occurrence
        ("30 1 * * *", "Europe/London", "2025-10-25T12:00:00Z",
         ["2025-10-26T01:30:00.000Z", "2025-10-27T01:30:00.000Z"]),
        ("30 2 * * *", "Europe/Berlin", "2025-10-25T12:00:00Z",
         ["2025-10-26T01:30:00.000Z", "2025-10-27T01:30:00.000Z"]),
        ("30 3 * * *", "Europe/Athens", "2025-10-25T12:00:00Z",
         ["2025-10-26T01:30:00.000Z", "2025-10-27T01:30:00.000Z"]),
        # hourly in Berlin: 02:00 CEST (00:00 UTC) resolves to 02:00 CET, so 01:00 CEST is followed by 02:00 CET
        ("0 * * * *", "Europe/Berlin", "2025-10-25T23:30:00Z",
         ["2025-10-26T01:00:00.000Z", "2025-10-26T02:00:00.000Z", "2025-10-26T03:00:00.000Z"]),
        ("*/20 2 * * *", "Europe/Berlin", "2025-10-25T23:30:00Z",
         ["2025-10-26T01:00:00.000Z", "2025-10-26T01:20:00.000Z", "2025-10-26T01:40:00.000Z",
          "2025-10-27T01:00:00.000Z"]),
    ],
)  # fmt: skip
def test_node_cron_fires_the_occurrence_of_a_repeated_time_its_conversion_lands_on(expr, zone, start, expected):
    """node-cron 4.5 src/time/localized-time.ts localTimeToTimestamp, walked by matcher-walker.ts matchNext; the
    instants are what node-cron 4.6.0's TimeMatcher.getNextMatch returns (run under Node 20)."""
    assert fires(expr, zone, start, len(expected), "wall") == expected


def test_node_cron_profile_runs_londons_repeated_hour_in_gmt():
    """The profile end to end: under node-cron, 01:30 Europe/London on 2025-10-26 runs at 01:30 GMT (01:30 UTC),
    the second time the clocks read 01:30 (localTimeToTimestamp); the other cron-parser systems run the first."""
    start = "2025-10-25T00:00:00Z"
    runs = {p: sim_fires(p, days=2, start=start, cron="30 1 * * *", tz="Europe/London")
            for p in ("node-cron", "bullmq")}
    assert runs["node-cron"] == ["2025-10-25T00:30:00.000Z", "2025-10-26T01:30:00.000Z"]
    assert runs["bullmq"] == ["2025-10-25T00:30:00.000Z", "2025-10-26T00:30:00.000Z"]


@settings(max_examples=40, deadline=None)
@given(
    zone=st.sampled_from([NY, "Europe/Berlin", "Australia/Sydney"]),
    minute=st.integers(0, 59),
    hour=st.integers(4, 23),  # away from every transition hour of these zones
    day=st.integers(0, 730),
)
def test_every_rule_agrees_away_from_transitions(zone, minute, hour, day):
    expr = f"{minute} {hour} * * *"
    start = instant_ns(dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(days=day, minutes=7 * day))
    schedule = CronSchedule.parse(expr, zone)
    results = {rule: schedule.bound(rule).next_after(start) for rule in ("isc", "instant", "wall")}
    assert len(set(results.values())) == 1, results


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from([NY, "Europe/London", "Europe/Berlin", "Australia/Sydney", "Pacific/Chatham",
                          "Australia/Lord_Howe", "America/Havana"]),
    expr=st.sampled_from(["0,30 0-23 * * *", "30 1 * * *", "*/15 3 * * *", "0 * * * *", "*/20 1-3 * * *",
                          "15,45 2 * * *", "0 0-4 * * *", "* 1 * * *"]),
    rule=st.sampled_from(["isc", "shift", "instant", "wall"]),
    index=st.integers(0, 1),
    minutes=st.integers(-180, 180),
)
def test_every_rule_moves_forward_from_any_instant_near_a_transition(zone, expr, rule, index, minutes):
    """Asked from inside a repeated hour, CronSim compared wall times and gave a time of the first pass, before the
    instant asked about (01:30 EDT asked at 01:00 EST): a cron-parser profile ran '0,30 0-23 * * *' in New York
    into a run-away simulation on 2025-11-02, and '*/15 3 * * *' in Chatham looped."""
    tz = ZoneInfo(zone)
    changes = [t for t in (dt.datetime(2025, 1, 1, tzinfo=UTC) + dt.timedelta(hours=h) for h in range(8760))
               if t.astimezone(tz).utcoffset() != (t - dt.timedelta(hours=1)).astimezone(tz).utcoffset()]
    t = instant_ns(changes[index] + dt.timedelta(minutes=minutes))
    schedule = CronSchedule.parse(expr, zone).bound(rule)
    for _ in range(8):
        fire = schedule.next_after(t)
        assert fire > t
        t = fire


def test_cron_parser_profiles_run_half_hourly_through_new_yorks_fall_back():
    """cron-parser 5.10 (CronExpressionParser.parse('0,30 0-23 * * *', {tz: 'America/New_York'}), run under Node 20):
    the hour field holds all 24 hours, so the repeated hour runs twice; 05:00, 05:30, 06:00, 06:30, 07:00 UTC."""
    runs = sim_fires("agenda", days=1, start="2025-11-02T04:50:00Z", cron="0,30 0-23 * * *", tz=NY)
    assert runs[:5] == ["2025-11-02T05:00:00.000Z", "2025-11-02T05:30:00.000Z", "2025-11-02T06:00:00.000Z",
                        "2025-11-02T06:30:00.000Z", "2025-11-02T07:00:00.000Z"]  # fmt: skip
    assert fires("30 1 * * *", NY, "2025-11-02T06:00:00Z", 2, "shift") == [
        "2025-11-02T06:30:00.000Z", "2025-11-03T06:30:00.000Z"]  # cron-parser asked from 01:00 EST


# -- syntax each system accepts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "cron", "message"),
    [
        # node-cron 4.5 src/pattern/conversion/range-conversion.ts expands only '*' (made '0-59') and 'a-b/n';
        # pattern-validation.ts then refuses '5/15' ("5/15 is a invalid expression for minute")
        ("node-cron", "5/15 * * * *", "node-cron cannot run function 'job': cron '5/15 * * * *': minute '5/15' steps "
                                      "from a single value, which node-cron refuses"),
        ("node-cron", "0 9 * * FRI/2", "day-of-week 'FRI/2' steps from a single value"),
        # cron-parser has no W: src/CronExpressionParser.ts "Invalid characters, got value: LW" (4.9 and 5.10)
        ("bullmq", "0 9 LW * *", "BullMQ cannot run function 'job': cron '0 9 LW * *': day-of-month 'LW' uses 'W'"),
        ("agenda", "0 9 LW * *", "which cron-parser does not have"),
        ("quirrel", "0 9 LW * *", "which cron-parser 4 does not have"),
        ("trigger.dev", "0 9 LW * *", "day-of-month 'LW' uses 'W'"),
        # cron-parser #parseNthDay: "'#' and ',' special characters are incompatible"
        ("bullmq", "0 9 * * 1#1,5#3", "day-of-week '1#1,5#3' combines '#' with a list, range or step"),
        ("trigger.dev", "0 9 * * MON#1,FRI", "combines '#' with a list, range or step"),
        # cron-parser 5 PredefinedExpressions has no @midnight; cron-parser 4 has neither it nor @annually
        ("bullmq", "@midnight", "cron '@midnight': cron-parser knows only @yearly, @annually, @monthly, @weekly, "
                                "@daily, @hourly; write '0 0 * * *'"),
        ("quirrel", "@annually", "cron '@annually': cron-parser 4 knows only @yearly, @monthly, @weekly, @daily, "
                                 "@hourly; write '0 0 1 1 *'"),
        ("trigger.dev", "@midnight", "knows only @yearly, @monthly, @weekly, @daily, @hourly"),
    ],
)  # fmt: skip
def test_syntax_the_parser_refuses_is_refused_naming_the_system(profile, cron, message):
    """Each of these throws in the real parser (checked against node-cron 4.6.0, cron-parser 4.6.0/4.9.0/5.10.6);
    jobsim used to run them (5/15 from minute 5, LW on the last weekday, both '#' days)."""
    with pytest.raises(UnsupportedFeature, match=re.escape(message)):
        sim_fires(profile, cron=cron)


@pytest.mark.parametrize(
    ("profile", "cron", "first"),
    [
        ("node-cron", "5-59/15 * * * *", "2025-03-07T00:05:00.000Z"),
        ("node-cron", "0 9 LW * *", "2025-03-31T09:00:00.000Z"),  # node-cron's day-of-month.ts has LW
        ("bullmq", "5/15 * * * *", "2025-03-07T00:05:00.000Z"),  # cron-parser reads 5/15 as 5-59/15
        ("bullmq", "@annually", None),
        ("quirrel", "0 9 * * 5#2", "2025-03-14T09:00:00.000Z"),
        ("quirrel", "@weekly", "2025-03-09T00:00:00.000Z"),
        ("trigger.dev", "0 9 L * *", "2025-03-31T09:00:00.000Z"),
    ],
)  # fmt: skip
def test_syntax_the_parser_accepts_still_runs(profile, cron, first):
    runs = sim_fires(profile, days=30, cron=cron)
    assert (runs[0] if runs else None) == first



def test_seconds_field_on_the_systems_that_have_it():
    assert sim_fires("bullmq", days=1, cron="30 0 9 * * *") == ["2025-03-07T09:00:30.000Z"]
    assert sim_fires("node-cron", days=1, cron="15 0 9 * * *") == ["2025-03-07T09:00:15.000Z"]
    assert sim_fires("agenda", days=1, cron="5 0 9 * * *") == ["2025-03-07T09:00:05.000Z"]


@pytest.mark.parametrize(
    ("profile", "function", "message"),
    [
        ("inngest", {"cron": "0 0 9 * * *"},
         "Inngest cannot run function 'job': cron '0 0 9 * * *' has a seconds field; robfig/cron v3 takes 5 fields"),
        ("trigger.dev", {"cron": "0 0 9 * * *"}, "Trigger.dev cannot run function 'job': cron '0 0 9 * * *' has a "
                                                  "seconds field"),
        ("vercel-cron", {"cron": "0 9 * * MON"}, "Vercel Cron (Pro) cannot run function 'job': cron '0 9 * * MON' "
                                                 "uses names; Vercel Cron takes numbers only"),
        ("vercel-cron", {"cron": "0 9 1 * 1"}, "cron '0 9 1 * 1' restricts both day-of-month and day-of-week; "
                                               "Vercel Cron requires one of them to be '*'"),
        ("vercel-cron", {"cron": "@daily"}, "cron '@daily': Vercel Cron has no @descriptors; write the 5 fields "
                                            "('0 0 * * *')"),
        ("vercel-cron", {"cron": "0 9 * * *", "tz": NY},
         "Vercel Cron (Pro) cannot run function 'job': tz='America/New_York': schedules are always UTC"),
        ("vercel-cron", {"cron": "TZ=Europe/Paris 0 9 * * *"}, "has no TZ= prefix; its schedules are always UTC"),
        ("vercel-cron-hobby", {"cron": "0 9,21 * * *"},
         "Vercel Cron (Hobby) cannot run function 'job': cron '0 9,21 * * *' fires more than once a day; "
         "Vercel Cron on the Hobby plan allows at most one run a day"),
        ("bullmq", {"cron": "TZ=Europe/Paris 0 9 * * *"},
         "cron 'TZ=Europe/Paris 0 9 * * *': cron-parser has no TZ= prefix; give the zone as tz= (jobsim: tz=)"),
        ("node-cron", {"cron": "TZ=Europe/Paris 0 9 * * *"}, "give the zone as timezone= (jobsim: tz=)"),
        # agenda.every(interval, name, data, {timezone}); Quirrel's CronJob(route, [schedule, timezone], ...)
        ("agenda", {"cron": "TZ=Europe/Paris 0 9 * * *"}, "give the zone as timezone= (jobsim: tz=)"),
        ("quirrel", {"cron": "TZ=Europe/Paris 0 9 * * *"},
         "give the zone as the second item of CronJob's [schedule, timezone] (jobsim: tz=)"),
    ],
)  # fmt: skip
def test_syntax_a_system_refuses_names_the_system(profile, function, message):
    with pytest.raises(UnsupportedFeature) as info:
        sim_fires(profile, **function)
    assert message in str(info.value)
    assert info.value.feature.startswith("cron.")


def test_vercel_accepts_explicit_utc_and_hobby_accepts_one_run_a_day():
    assert len(sim_fires("vercel-cron", days=1, cron="0 9 * * *", tz="UTC")) == 1
    runs = sim_fires("vercel-cron-hobby", days=4, cron="30 9 * * 1-5")  # Friday, then Monday
    assert [r[:10] for r in runs] == ["2025-03-07", "2025-03-10"]
    assert all("09:30:00" <= r[11:19] < "10:30:00" for r in runs)


def test_question_mark_means_any_day():
    assert sim_fires("inngest", days=1, cron="0 9 ? * *") == ["2025-03-07T09:00:00.000Z"]


def test_a_node_cron_schedule_that_never_matches_is_refused():
    from importlib.metadata import version

    # cronsim 2.7 (the newest for Python 3.10) refuses Feb 30 before node-cron's rule is applied
    old_cronsim = tuple(int(p) for p in version("cronsim").split(".")[:2]) < (2, 8)
    expected = (r"day-of-month '30' never falls in month '2'.*Python 3.11\+" if old_cronsim
                else r"never fires under node-cron: no date matches both")  # fmt: skip
    with pytest.raises(jobsim.InvalidArgument, match=expected):
        sim_fires("node-cron", cron="0 9 30 2 1")


def test_six_fields_are_refused_at_declaration_only_if_malformed():
    app = jobsim.App("a")
    with pytest.raises(jobsim.InvalidArgument, match=r"second field '61' is not valid; accepted: 0-59"):
        app.function("x", cron="61 0 9 * * *")(lambda ctx: None)
    with pytest.raises(jobsim.InvalidArgument, match=r"has 7 field\(s\)"):
        app.function("y", cron="0 0 0 9 * * *")(lambda ctx: None)


# -- the same schedule, four schedulers, one DST weekend ------------------------------------------------


def test_two_thirty_on_the_spring_forward_sunday_per_system():
    start = "2025-03-08T00:00:00-05:00"
    runs = {p: sim_fires(p, start=start, cron="30 2 * * *", tz=NY) for p in ("inngest", "bullmq", "node-cron")}
    assert runs["inngest"] == ["2025-03-08T07:30:00.000Z", "2025-03-10T06:30:00.000Z"]  # skipped
    # cron-parser 5.10 shifts the skipped time by the gap (tests/CronExpression.test.ts "DST gap")
    assert runs["bullmq"] == ["2025-03-08T07:30:00.000Z", "2025-03-09T07:30:00.000Z",  # 03:30 EDT
                              "2025-03-10T06:30:00.000Z"]  # fmt: skip
    assert runs["node-cron"] == runs["inngest"]


def test_one_thirty_on_the_fall_back_sunday_per_system():
    start = "2025-11-01T12:00:00-04:00"
    runs = {p: sim_fires(p, days=1, start=start, cron="30 1 * * *", tz=NY) for p in ("inngest", "agenda", "node-cron")}
    assert runs["inngest"] == ["2025-11-02T05:30:00.000Z", "2025-11-02T06:30:00.000Z"]  # twice
    assert runs["agenda"] == ["2025-11-02T05:30:00.000Z"]
    assert runs["node-cron"] == ["2025-11-02T05:30:00.000Z"]


def _fall_back_hour(expr, rule, tz=NY):
    """The fires from 00:00 to 03:00 local on New York's 2025 fall-back night, as UTC hh:mm:ss."""
    start, end = instant_ns("2025-11-02T04:00:00Z"), instant_ns("2025-11-02T08:00:00Z")
    schedule = CronSchedule.parse(expr, tz, seconds=True).bound(rule)
    return [iso(t)[11:19] for t in schedule.fires_between(start, end)]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # a fixed hour: the repeated 01:xx (06:00-07:00Z) is skipped, whatever the minute field
        ("*/20 1 * * *", ["05:00:00", "05:20:00", "05:40:00"]),
        ("*/30 0-2 * * *", ["04:30:00", "05:00:00", "05:30:00", "07:00:00", "07:30:00"]),
        ("0 */20 1 * * *", ["05:00:00", "05:20:00", "05:40:00"]),
        ("0 30 1 * * *", ["05:30:00"]),
        ("30 1 * * *", ["05:30:00"]),
        # all 24 hours: both 01:xx, however the hour field is spelled
        ("0 * * * *", ["05:00:00", "06:00:00", "07:00:00", "08:00:00"]),
        ("0 0-23 * * *", ["05:00:00", "06:00:00", "07:00:00", "08:00:00"]),
        ("30 */1 * * *", ["04:30:00", "05:30:00", "06:30:00", "07:30:00"]),
    ],
)
def test_cron_parser_runs_the_repeated_hour_again_only_when_the_hour_field_has_all_24(expr, expected):
    # cron-parser 5.10 marks the repeated hour dstEnd unless hoursLength === 24 (src/CronDate.ts:583-585) and
    # #matchHour steps over it (src/CronExpression.ts:451-455); tests/CronExpressionParser.test.ts:1442 runs
    # "*/20 3" in Athens at 03:00, 03:20, 03:40 once. jobsim ran "*/20 1" in both 01:xx hours (ISC's rule)
    assert _fall_back_hour(expr, "shift") == expected


@pytest.mark.parametrize(
    ("expr", "start", "expected"),
    [
        # the rest of the second pass fires: nothing marked the hour dstEnd, as no step landed on it
        ("*/20 1 * * *", "06:30:00", "2025-11-02T06:40:00"),  # 01:40 EST
        ("45 1 * * *", "06:30:00", "2025-11-02T06:45:00"),  # 01:45 EST
        ("*/20 1 * * *", "06:00:00", "2025-11-02T06:20:00"),  # from 01:00 EST itself: strictly after
        # no match left in the pass: on from its end, as ever
        ("*/20 1 * * *", "06:50:00", "2025-11-03T06:00:00"),
        ("30 1 * * *", "06:30:00", "2025-11-03T06:30:00"),
        ("0 2 * * *", "06:59:59", "2025-11-02T07:00:00"),
        ("0 0-23 * * *", "06:30:00", "2025-11-02T07:00:00"),
    ],
)
def test_cron_parser_searching_from_inside_the_repeated_hour_fires_the_rest_of_it(expr, start, expected):
    # cron-parser 5.10: a new CronDate starts with dstEnd null; #matchHour skips the repeated hour only when
    # applyDateOperation landed on it (same wall hour, :00:00, src/CronDate.ts), so a search that starts at
    # 01:30 EST (BullMQ's next() after a restart, Agenda's computeNextRunAt) walks 01:40 EST. jobsim walked on
    # to the next day ("*/20 1"), and for "45 1" named 01:45 EDT, before the instant it was asked about
    schedule = CronSchedule.parse(expr, NY).bound("shift")
    assert iso(schedule.next_after(instant_ns(f"2025-11-02T{start}Z")))[:19] == expected


@pytest.mark.parametrize("rule", ["isc", "shift", "instant", "wall"])
def test_every_rule_fires_after_an_instant_in_the_repeated_hour(rule):
    # cronsim read 01:30 EST's wall time and named 01:45 EDT (05:45Z), an hour before the instant asked about
    ns = instant_ns("2025-11-02T06:30:00Z")
    assert CronSchedule.parse("45 1 * * *", NY).bound(rule).next_after(ns) > ns


def test_isc_still_runs_a_wildcard_minute_in_both_repeated_hours():
    # Debian cron's wildcard jobs (minute or hour starting with '*') run by the clock: cronsim's rule
    assert _fall_back_hour("*/20 1 * * *", "isc") == ["05:00:00", "05:20:00", "05:40:00", "06:00:00", "06:20:00",
                                                     "06:40:00"]  # fmt: skip
    assert _fall_back_hour("0 0-23 * * *", "isc") == ["05:00:00", "07:00:00", "08:00:00"]


def test_a_fixed_hour_every_20_minutes_on_the_fall_back_night_per_system():
    start = "2025-11-01T12:00:00-04:00"
    for profile in ("bullmq", "agenda", "trigger.dev", "quirrel"):
        runs = [t for t in sim_fires(profile, days=1, start=start, cron="*/20 1 * * *", tz=NY) if "11-02" in t]
        assert runs == ["2025-11-02T05:00:00.000Z", "2025-11-02T05:20:00.000Z", "2025-11-02T05:40:00.000Z"], profile


# node-cron 4.6.0 (``npm i node-cron@4.6.0``), run once with ``createTask(expr).timeMatcher.getNextMatch`` from
# 2025-03-07T00:00:00Z in UTC, gave these fire times; jobsim's node-cron dialect gives the same.
@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        # month-names-conversion.ts / week-day-names-conversion.ts: full and short names, any case
        ("0 9 1 september,January *", ["2025-09-01T09", "2026-01-01T09", "2026-09-01T09"]),
        ("0 9 * * MONDAY", ["2025-03-10T09", "2025-03-17T09", "2025-03-24T09"]),
        # range-conversion.ts wraps a reversed range round the field (4.5.0 swapped it: 6-1 was Monday-Saturday)
        ("0 9 * * saturday-monday", ["2025-03-08T09", "2025-03-09T09", "2025-03-10T09", "2025-03-15T09"]),
        ("0 9 * * 6-1", ["2025-03-08T09", "2025-03-09T09", "2025-03-10T09", "2025-03-15T09"]),
        ("0 9 * * 7-1", ["2025-03-09T09", "2025-03-10T09", "2025-03-16T09"]),
        ("0 22-1 * * *", ["2025-03-07T01", "2025-03-07T22", "2025-03-07T23", "2025-03-08T00"]),
        ("50-10/5 9 * * *", ["2025-03-07T09:00", "2025-03-07T09:05", "2025-03-07T09:10", "2025-03-07T09:50"]),
        ("0 9 * 11-2 *", ["2025-11-01T09", "2025-11-02T09"]),
        # time/day-of-month.ts: L-n is n days before the last; nW the nearest weekday, not leaving the month
        ("0 9 L-3 * *", ["2025-03-28T09", "2025-04-27T09", "2025-05-28T09", "2025-06-27T09"]),
        ("0 9 l-3 * *", ["2025-03-28T09", "2025-04-27T09"]),
        ("0 9 15W * *", ["2025-03-14T09", "2025-04-15T09", "2025-05-15T09", "2025-06-16T09"]),  # Sat 15th: Fri
        ("0 9 1W * *", ["2025-04-01T09", "2025-05-01T09", "2025-06-02T09", "2025-07-01T09"]),  # Sun 1st: Mon
        ("0 9 31W * *", ["2025-03-31T09", "2025-05-30T09", "2025-07-31T09", "2025-08-29T09"]),  # no 31st: none
        ("0 9 L-3,1 * 1", ["2025-07-28T09", "2025-09-01T09", "2025-12-01T09", "2026-04-27T09"]),  # AND Monday
    ],
)  # fmt: skip
def test_node_cron_reads_names_reversed_ranges_and_its_day_of_month_forms(cron, expected):
    schedule = jobsim._dialects.NODE_CRON.bind(CronSchedule.parse(cron, seconds=True), system="node-cron",
                                                function="job")  # fmt: skip
    out, t = [], instant_ns("2025-03-07T00:00:00Z")
    for _ in expected:
        t = schedule.next_after(t)
        out.append(iso(t))
    assert [got[: len(want)] for got, want in zip(out, expected, strict=True)] == expected


def test_node_cron_day_of_month_forms_in_new_york_and_in_the_profile():
    assert fires("0 9 15W * *", NY, "2025-03-07T00:00:00Z", 2, "wall", dom_and=True) == [
        "2025-03-14T13:00:00.000Z", "2025-04-15T13:00:00.000Z",
    ]  # fmt: skip
    assert sim_fires("node-cron", days=60, cron="0 9 L-3 * *") == ["2025-03-28T09:00:00.000Z",
                                                                   "2025-04-27T09:00:00.000Z"]  # fmt: skip


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 9 * * monday", "cron '0 9 * * monday': day-of-week 'monday' uses the full name 'monday', which only "
                           "node-cron reads; write 'MON' (cron-parser refuses it)"),
        ("0 9 * January *", "month 'January' uses the full name 'January', which only node-cron reads; write 'JAN'"),
        ("0 9 * * 6-1", "day-of-week '6-1' is a reversed range, which node-cron wraps round the field and the "
                        "others refuse; write the list '6,0,1'"),
        ("0 22-1 * * *", "write the list '22,23,0,1'"),
        ("0 9 L-3 * *", "day-of-month 'L-3' uses 'nW' (the weekday nearest day n) or 'L-n' (n days before the last "
                        "day), which only node-cron reads; name the days, or use 'L' or 'LW'"),
        ("0 9 15W * *", "day-of-month '15W' uses 'nW'"),
    ],
)  # fmt: skip
def test_what_only_node_cron_reads_is_refused_elsewhere(cron, message):
    """cron-parser 4.9.0 and 5.10.6 throw on each ("cannot resolve alias", "Invalid range: 6-1", "Constraint
    error, got range NaN-3", "Invalid characters, got value: 15W"); robfig/cron has none of them either."""
    with pytest.raises(UnsupportedFeature, match=re.escape(message)):
        sim_fires("bullmq", cron=cron)
    for profile in ("inngest", "quirrel"):
        with pytest.raises(UnsupportedFeature, match=r"which only node-cron reads|node-cron wraps"):
            sim_fires(profile, cron=cron)


@pytest.mark.parametrize("cron", ["0 9 1-15W * *", "0 9 L-31 * *", "0 9 32W * *", "0 9 * * thurs", "0 9 15W * 1W"])
def test_node_cron_forms_node_cron_refuses_stay_invalid(cron):
    """node-cron 4.6.0: "1-15W is a invalid expression for day of month", likewise L-31, 32W, "thurs ... for week
    day"."""
    with pytest.raises(jobsim.InvalidArgument, match="is not valid"):
        CronSchedule.parse(cron, seconds=True)


@pytest.mark.parametrize(("profile", "cron"), [("bullmq", "0 9 l * *"), ("trigger.dev", "0 9 * * 5l")])
def test_cron_parser_refuses_a_lower_case_l(profile, cron):
    """cron-parser 4.9.0 and 5.10.6: "Invalid characters, got value: l" (node-cron and cronsim read 'l' as 'L')."""
    with pytest.raises(UnsupportedFeature, match=r"uses a lower-case 'l', which .*cron-parser.* refuses .*; write 'L'"):
        sim_fires(profile, cron=cron)
    assert sim_fires("node-cron", days=30, cron=cron)


@pytest.mark.parametrize("profile", ["bullmq", "quirrel", "node-cron", "inngest"])
def test_a_range_from_a_value_to_itself_is_that_value_even_with_a_step(profile):
    """cron-parser 4.9.0/5.10.6 and node-cron 4.6.0 fire '7-7/4 7 * * *' at 07:07 only (robfig's getRange
    likewise); cronsim read it as '7/4' (07:07, 07:11, ...). Found comparing 600 random expressions."""
    assert sim_fires(profile, days=2, cron="7-7/4 7 * * *") == ["2025-03-07T07:07:00.000Z",
                                                                "2025-03-08T07:07:00.000Z"]  # fmt: skip


def _days(runs):
    return [run[:10] for run in runs]


@pytest.mark.parametrize("profile", ["bullmq", "agenda", "quirrel", "trigger.dev"])
def test_cron_parser_counts_a_stepped_star_day_field_as_a_restriction(profile):
    """cron-parser's day fields are unrestricted only as the raw '*' (5.10 ``CronField.#isWildcardValue``;
    4.x counts the values): '*/2' restricts, so with the day-of-month set either one fires. cronsim (Vixie)
    reads any '*...' as unrestricted and fired '15 * */2' on the 15th only. Fire dates from cron-parser 4.9.0
    and 5.10.6 from 2025-03-07."""
    assert _days(sim_fires(profile, days=7, cron="0 9 15 * */2")) == [
        "2025-03-08", "2025-03-09", "2025-03-11", "2025-03-13"]  # fmt: skip
    assert _days(sim_fires(profile, days=15, cron="0 9 */10 * 1")) == [
        "2025-03-10", "2025-03-11", "2025-03-17", "2025-03-21"]  # fmt: skip


@pytest.mark.parametrize(
    ("cron", "days", "cron_parser_4", "cron_parser_5"),
    [
        # 4.9.0 lib/expression.js: a day-of-week of all 8 values 0-7 is '*' (0-6 is not), so is a full month
        ("0 9 15 * 0-7", 11, ["2025-03-15"], None),
        ("0 9 1-31 * 1", 11, ["2025-03-10", "2025-03-17"], None),
        ("0 9 */1 * 1", 11, ["2025-03-10", "2025-03-17"], None),
        # lib/expression.js parseRange: a day-of-week range to 7 also holds 0, so 1-7 lists 8 values: '*'
        ("0 9 */7 * 1-7", 11, ["2025-03-08", "2025-03-15"], None),
        # 4.9.0 keeps only the days that are a weekday's n-th, the day-of-month's too; 5.10.6 ORs them
        ("0 9 25 * 4#5", 85, ["2025-05-29"], ["2025-03-25", "2025-04-25", "2025-05-25", "2025-05-29"]),
        ("0 9 1,25 * 4#4", 35, ["2025-03-25", "2025-03-27"], ["2025-03-25", "2025-03-27", "2025-04-01"]),
    ],
)  # fmt: skip
def test_cron_parser_4_day_fields(cron, days, cron_parser_4, cron_parser_5):
    """Quirrel and Trigger.dev run cron-parser 4, BullMQ 5: dates measured with both from 2025-03-07."""
    assert _days(sim_fires("quirrel", days=days, cron=cron)) == cron_parser_4
    assert _days(sim_fires("trigger.dev", days=days, cron=cron)) == cron_parser_4
    if cron_parser_5 is not None:
        assert _days(sim_fires("bullmq", days=days, cron=cron)) == cron_parser_5
    else:
        assert len(sim_fires("bullmq", days=days, cron=cron)) == days  # every day (5.10.6 ORs them)


def test_cron_parser_4_month_dependent_day_of_month_is_refused():
    """cron-parser 4.9.0 fires '0 9 1-30 * 1' every day in March (31 days: restricted, OR) and only on
    Mondays in April (30 days: '*'); jobsim refuses that rather than run one reading."""
    with pytest.raises(UnsupportedFeature, match=r"day-of-month '1-30' holds 30 days, which cron-parser 4 counts"):
        sim_fires("quirrel", cron="0 9 1-30 * 1")


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("10 12-17,14 * * *", "hour '12-17,14' lists 14 more than once"),
        ("27 20 */5,6 * *", "day-of-month '*/5,6' lists 6 more than once"),
        ("9 * * 2-3/1,*/2 *", "month '2-3/1,*/2' lists 3 more than once"),
    ],
)
def test_cron_parser_5_refuses_a_value_listed_twice(cron, message):
    """cron-parser 5.10.6 ``CronField`` validation: "CronHour Validation error, duplicate values found: 14" (and
    likewise); cron-parser 4.9.0 runs them, so Quirrel and Trigger.dev still do."""
    for profile in ("bullmq", "agenda"):
        with pytest.raises(UnsupportedFeature, match=re.escape(message + ", which cron-parser refuses")):
            sim_fires(profile, cron=cron)
    assert sim_fires("quirrel", days=40, cron=cron)


@pytest.mark.parametrize(
    ("cron", "twice"),
    [("0 0 * * 0,7", 0), ("0 0 * * SUN,7", 0), ("0 0 * * 5-7,0", 0), ("0 0 * * */2,0", 0), ("0 0 * * 1/2,7", 0),
     ("0 0 * * MON,1", 1), ("0 0 * * 1-3,3", 3), ("0 0 * * 5L,5L", "5L")],
)  # fmt: skip
def test_cron_parser_5_refuses_a_day_of_week_listed_twice(cron, twice):
    """cron-parser 5.10.6 lists a single 7 as 0 and a range to 7 with 0 first ('5-7': 0, 5, 6, 7; '1/2': 0, 1, 3,
    5, 7), and refuses a repeat: "CronDayOfWeek Validation error, duplicate values found: 0"; cron-parser 4.9.0
    runs them, so Quirrel still does."""
    for profile in ("bullmq", "agenda"):
        with pytest.raises(UnsupportedFeature, match=re.escape(f"lists {twice} more than once")) as caught:
            sim_fires(profile, cron=cron)
        assert f'"duplicate values found: {twice}"' in str(caught.value)
    assert sim_fires("quirrel", days=40, cron=cron)


@pytest.mark.parametrize("cron", ["0 0 * * 7", "0 0 * * 0-7", "0 0 * * */7", "0 0 * * 5-7,1", "0 0 * * 5,5L",
                                  "0 0 * * 0L,7L", "0 0 * * 2-7/2,0"])  # fmt: skip
def test_cron_parser_5_runs_days_of_week_it_lists_once(cron):
    """What cron-parser 5.10.6 parses: '*/7' is 0, 7 (no repeat), '2-7/2' is 2, 4, 6 (its step misses 7, so no 0)."""
    assert sim_fires("bullmq", days=40, cron=cron)


def test_cron_parser_shifts_a_gap_only_for_a_search_that_starts_before_it():
    """cron-parser 5.10.6 and 4.9.0, parsed afresh from each run as BullMQ and Agenda do: '*/20 2 * * *' fires
    at 03:00 EDT (02:00 shifted) and then the next day, not at 03:20 and 03:40; asked at 03:00 EDT,
    '30 2 * * *' answers 02:30 the next day, not 03:30 (``tests/data/cron_dst_golden.json`` has more zones)."""
    assert fires("*/20 2 * * *", NY, dt.datetime(2025, 3, 9, 6, 30, tzinfo=UTC), 2, "shift") == [
        "2025-03-09T07:00:00.000Z", "2025-03-10T06:00:00.000Z"]  # fmt: skip
    assert fires("30 2 * * *", NY, dt.datetime(2025, 3, 9, 7, tzinfo=UTC), 1, "shift") == ["2025-03-10T06:30:00.000Z"]
    assert fires("30 2 * * *", NY, dt.datetime(2025, 3, 9, 6, 59, tzinfo=UTC), 1, "shift") == [
        "2025-03-09T07:30:00.000Z"]  # fmt: skip


@pytest.mark.parametrize(
    ("profile", "zone", "start", "expected"),
    [  # cron-parser 4.9.0 skips Santiago's missing midnight (2025-09-07 starts at 01:00), 5.10.6 shifts it to 01:00
        ("trigger.dev", "America/Santiago", "2025-09-06T12:00:00Z", "2025-09-08T03:00:00.000Z"),
        ("quirrel", "America/Santiago", "2025-09-06T12:00:00Z", "2025-09-08T03:00:00.000Z"),
        ("bullmq", "America/Santiago", "2025-09-06T12:00:00Z", "2025-09-07T04:00:00.000Z"),
        # Havana goes back from 01:00 CDT to 00:00 CST on 2025-11-02: 5.10.6 runs the second midnight, 4.9.0 the first
        ("bullmq", "America/Havana", "2025-11-02T02:00:00Z", "2025-11-02T05:00:00.000Z"),
        ("agenda", "America/Havana", "2025-11-02T02:00:00Z", "2025-11-02T05:00:00.000Z"),
        ("trigger.dev", "America/Havana", "2025-11-02T02:00:00Z", "2025-11-02T04:00:00.000Z"),
    ],
)
def test_cron_parser_midnight_changes(profile, zone, start, expected):
    """Measured with cron-parser 4.9.0 and 5.10.6 (``tests/data/cron_dst_golden.json``): '0 0 * * *' where the
    clocks change at midnight, asked from the day before."""
    dialect = jobsim.profile(profile).cron
    bound = dialect.bind(CronSchedule.parse("0 0 * * *", zone), system=profile, function="f")
    assert iso(bound.next_after(instant_ns(dt.datetime.fromisoformat(start.replace("Z", "+00:00"))))) == expected


LORD_HOWE = "Australia/Lord_Howe"


@pytest.mark.parametrize(
    ("expr", "start", "expected"),
    [  # 2025-04-06: 02:00 +11 back to 01:30 +10:30 (15:00Z); 2025-10-05: 02:00 +10:30 on to 02:30 +11 (15:30Z)
        ("0 3 * * *", "2025-04-04T12:00:00Z", ["2025-04-04T16:00:00.000Z", "2025-04-06T16:30:00.000Z"]),  # not 04-06
        ("0 3 * * *", "2025-10-03T12:00:00Z", ["2025-10-03T16:30:00.000Z", "2025-10-05T16:00:00.000Z"]),  # not 10-05
        ("30 3 * * *", "2025-04-04T12:00:00Z", ["2025-04-04T16:30:00.000Z", "2025-04-05T17:00:00.000Z"]),
        ("0 0 * * *", "2025-04-05T00:00:00Z", ["2025-04-05T13:00:00.000Z", "2025-04-07T13:30:00.000Z"]),  # not 04-07
        ("45 1 * * *", "2025-10-04T00:00:00Z", ["2025-10-04T15:15:00.000Z", "2025-10-04T15:45:00.000Z"]),  # 02:45 +11
        ("0 0 * * 0", "2025-04-05T00:00:00Z", ["2025-04-05T13:00:00.000Z", "2025-04-19T13:30:00.000Z"]),  # not 04-13
    ],
)
def test_robfig_across_lord_howes_half_hour_change(expr, start, expected):
    """Go's robfig/cron v3 ``SpecSchedule.Next`` traced by hand with Go's time semantics (``t.Add(time.Hour)`` is
    absolute): hours added across the 30-minute change land on :30, so '0 3' reaches 03:30 and its minutes run
    on to 04:00 (skipped that day); a ':00' schedule stays on :30 until its minute field wraps ('0 0' skips
    04-07; days are added with the :30 kept, so '0 0 * * 0' skips Sunday 04-13); and minutes that jump
    from 01:59 to 02:30 never wrap, so '45 1' also runs at 02:45 +11."""
    assert fires(expr, LORD_HOWE, dt.datetime.fromisoformat(start.replace("Z", "+00:00")), 2, "instant") == expected


def test_vercel_refuses_a_stepped_star_beside_a_restricted_day_and_takes_utc_by_any_name():
    """semantics.md §7: "cannot set both DOM and DOW (one must be `*`)": '*/2' is no '*' (it was read as one, and
    the two fields ANDed); tz='Etc/UTC' is UTC as tz='UTC' is (it was refused as a zone)."""
    for cron in ("0 9 15 * */2", "0 9 */2 * 1"):
        with pytest.raises(UnsupportedFeature, match=r"restricts both day-of-month and day-of-week; Vercel Cron "
                                                     r"requires one of them to be '\*'"):  # fmt: skip
            sim_fires("vercel-cron", cron=cron)
    fired = sim_fires("vercel-cron", days=30, cron="0 9 15 * *", tz="Etc/UTC")  # within the tick's minute
    assert [at[:16] for at in fired] == ["2025-03-15T09:00"]
    with pytest.raises(UnsupportedFeature, match=r"tz='Europe/Paris': schedules are always UTC"):
        sim_fires("vercel-cron", cron="0 9 15 * *", tz="Europe/Paris")
