import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

import jobsim
from jobsim import InvalidArgument
from jobsim._time import DAY, HOUR, MINUTE, MS, SECOND, duration_ns, format_duration, instant_ns, iso, zone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", 500 * MS),
        ("30s", 30 * SECOND),
        ("5m", 5 * MINUTE),
        ("1h30m", 90 * MINUTE),
        ("7d", 7 * DAY),
        ("1.5s", 1500 * MS),
        (dt.timedelta(hours=2, microseconds=3), 2 * HOUR + 3000),
        (90, 90 * SECOND),
        (0.25, 250 * MS),
    ],
)
def test_durations(text, expected):
    assert duration_ns(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 days", 2 * DAY), ("5min", 5 * MINUTE), ("5 minutes", 5 * MINUTE), ("1 hour", HOUR),
        ("1.5 hrs", 90 * MINUTE),
        ("30 seconds", 30 * SECOND), ("10 secs", 10 * SECOND), ("250 msecs", 250 * MS), ("1 week", 7 * DAY),
        ("3 hrs 20 mins", 200 * MINUTE), ("1 year", 365 * DAY + 6 * HOUR), ("1y", 365 * DAY + 6 * HOUR),
    ],
)  # fmt: skip
def test_the_long_unit_names_of_vercel_ms_as_inngest_typescript_writes_durations(text, expected):
    assert duration_ns(text) == expected


@pytest.mark.parametrize("bad", ["5 minutess", "2 Days", "1 fortnight", "m5", "5 mo"])
def test_misspelt_or_capitalised_long_units_are_refused(bad):
    with pytest.raises(InvalidArgument, match="2 weeks"):
        duration_ns(bad, "timeout")


@pytest.mark.parametrize("bad", ["-5s", "5 parsecs", "", "h", "5", True, None, float("nan"), -1, "1h-"])
def test_bad_durations_name_the_argument(bad):
    with pytest.raises(InvalidArgument) as info:
        duration_ns(bad, "timeout")
    assert str(info.value).startswith(f"timeout={bad!r} is not valid: expected a duration such as '500ms'")


@pytest.mark.parametrize("bad", ["90", "0.5", " 30 "])
def test_a_bare_number_in_a_string_says_why_it_is_refused(bad):
    # '90' was refused with "expected ... or a number of seconds", which it looks like; vercel/ms (Inngest's
    # TypeScript SDK) reads it as 90 milliseconds, so jobsim will not guess: say so, and how to write each
    with pytest.raises(InvalidArgument, match=rf"^duration={bad!r} is not valid: expected a duration such as .*, not "
                                              rf"negative; a number in a string is ambiguous \(Inngest's TypeScript "
                                              rf"SDK reads '90' as 90 ms\): give the number itself for seconds "
                                              rf"\({bad.strip()}\) or a unit \('{bad.strip()}s', "
                                              rf"'{bad.strip()}ms'\)$"):
        duration_ns(bad)


@given(st.integers(min_value=0, max_value=400 * DAY).map(lambda n: n - n % MS))
def test_format_duration_round_trips(ns):
    assert duration_ns(format_duration(ns)) == ns


def test_instants():
    assert instant_ns("2025-03-01T00:00:00Z") == 1740787200 * SECOND
    assert instant_ns("2025-03-01T00:00:00-05:00") == (1740787200 + 5 * 3600) * SECOND
    assert iso(instant_ns(dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc))) == "2025-03-01T00:00:00.000Z"
    with pytest.raises(InvalidArgument, match=r"naive|offset"):
        instant_ns("2025-03-01T00:00:00")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e30, -1e30, 10**12])
def test_instants_outside_what_a_datetime_can_show_are_refused(bad):
    with pytest.raises(InvalidArgument, match=r"between the years 1 and 9999"):
        instant_ns(bad, "at")


@pytest.mark.parametrize("bad", [1e300, -1e300, "1" + "0" * 400 + "s", "1" + "0" * 400 + ".5d"])
def test_durations_too_large_for_a_float_are_refused_not_an_overflow(bad):
    # 1e300 s is a finite float, but in nanoseconds it is inf: round() raised OverflowError
    with pytest.raises(InvalidArgument) as info:
        duration_ns(bad, "timeout")
    assert str(info.value).startswith(f"timeout={bad!r} is not valid: expected a duration such as '500ms'")


@pytest.mark.parametrize("bad", ["1" * 400, "Nowhere/Zone", "../../etc/passwd", "a\x00b"])
def test_unknown_zones_are_invalid_arguments_even_when_no_file_could_have_that_name(bad):
    # a 400-character name made zoneinfo's file lookup raise OSError (File name too long)
    with pytest.raises(InvalidArgument, match=r"^tz=.* is not valid: no such IANA time zone"):
        zone(bad)


@pytest.mark.parametrize(("text", "ns"), [
    ("2025-03-01T00:00:01.5Z", 500_000_000),  # one digit: fromisoformat refuses it on Python 3.10
    ("2025-03-01T00:00:01.1234+00:00", 123_400_000),
    ("2025-03-01 00:00:01,25+00:00", 250_000_000),  # ISO 8601's decimal comma
    ("2025-03-01T00:00:01.123456789Z", 123_456_789),  # to the nanosecond (3.11+ cut it to microseconds)
    ("2025-03-01T05:30:01.000000001+05:30", 1),
])  # fmt: skip
def test_iso_fractions_of_any_length_parse_to_the_nanosecond_on_every_python(text, ns):
    assert instant_ns(text) - instant_ns("2025-03-01T00:00:01Z") == ns


@pytest.mark.parametrize("bad", [
    dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5))),  # 0000-12-31 19:00 in UTC
    "9999-12-31T23:00:00-05:00",  # 10000-01-01 04:00 in UTC
    "9999-12-31T23:59:59.999999999Z",  # past the last microsecond a datetime shows
])  # fmt: skip
def test_instants_whose_utc_time_leaves_the_years_1_to_9999_are_refused(bad):
    # they were accepted, then sim.now, the timeline or the next advance raised OverflowError
    with pytest.raises(InvalidArgument) as info:
        instant_ns(bad, "start")
    assert str(info.value) == (f"start={bad!r} is not valid: expected an aware datetime, an ISO 8601 string with an "
                               "offset or 'Z' (e.g. '2025-03-01T09:00:00-05:00'), or seconds since the epoch "
                               "(between the years 1 and 9999, in UTC)")


def test_a_refused_string_is_named_as_written_not_as_what_it_was_parsed_into():
    with pytest.raises(InvalidArgument, match=r"^at='2025-03-01T09:00:00' is not valid: expected an aware datetime"):
        instant_ns("2025-03-01T09:00:00", "at")  # said at=datetime.datetime(2025, 3, 1, 9, 0)


def test_a_lowercase_z_is_utc_as_rfc_3339_allows():
    assert instant_ns("2025-03-01T09:00:00z") == instant_ns("2025-03-01T09:00:00Z") == 1_740_819_600 * 10**9


def test_a_naive_wall_time_the_clocks_skip_is_refused_with_the_instant_they_show_instead():
    ny = zone("America/New_York")
    with pytest.raises(InvalidArgument, match=re.escape(
            "start='2025-03-09T02:30:00' does not exist in America/New_York: the clocks skip it that day, going from "
            "UTC-05:00 to UTC-04:00; give the instant with its offset, e.g. '2025-03-09T03:30:00-04:00'")):
        instant_ns("2025-03-09T02:30:00", "start", tz=ny)
    with pytest.raises(InvalidArgument, match="does not exist in America/New_York"):
        instant_ns(dt.datetime(2025, 3, 9, 2, 0), "at", tz=ny)  # the first instant skipped
    assert instant_ns("2025-03-09T03:00:00", tz=ny) == instant_ns("2025-03-09T03:00:00-04:00")  # the next is fine


def test_a_naive_wall_time_the_clocks_show_twice_is_refused_naming_both():
    ny = zone("America/New_York")
    with pytest.raises(InvalidArgument, match=re.escape(
            "at='2025-11-02T01:30:00' happens twice in America/New_York (the clocks go back that day): give the "
            "instant with its offset, '2025-11-02T01:30:00-04:00' for the first or '2025-11-02T01:30:00-05:00' for "
            "the second")):
        instant_ns("2025-11-02T01:30:00", "at", tz=ny)
    assert instant_ns("2025-11-02T02:00:00", tz=ny) == instant_ns("2025-11-02T02:00:00-05:00")  # after: one reading
    assert instant_ns("2025-11-02T01:30:00", tz=zone("UTC")) == instant_ns("2025-11-02T01:30:00Z")


def test_a_simulation_started_at_a_skipped_wall_time_says_so():
    app = jobsim.App("t")
    app.function("f", on="go")(lambda ctx: None)
    with pytest.raises(InvalidArgument, match=r"start='2026-03-08T02:15:00' does not exist in America/New_York"):
        jobsim.Simulation(app, start="2026-03-08T02:15:00", tz="America/New_York")


def test_a_machine_without_a_time_zone_database_is_told_to_install_tzdata(monkeypatch):
    # a slim image without /usr/share/zoneinfo nor the tzdata package said "'America/New_York' ... no such IANA
    # time zone", a name that is valid
    from zoneinfo import ZoneInfoNotFoundError

    from jobsim import _time

    def missing(name):
        raise ZoneInfoNotFoundError(f"No time zone found with key {name}")

    monkeypatch.setattr(_time, "ZoneInfo", missing)
    monkeypatch.setattr(_time, "available_timezones", set)
    with pytest.raises(InvalidArgument) as info:
        zone("America/New_York")
    assert str(info.value) == ("tz='America/New_York' is not valid: this Python finds no time zone database at all "
                               "(no system zoneinfo, no tzdata package): pip install tzdata")
    monkeypatch.undo()
    with pytest.raises(InvalidArgument, match=r"^tz='Mars/Base' is not valid: no such IANA time zone; expected e\.g\."):
        zone("Mars/Base")
