"""User trial (session 28): an operations team's APScheduler jobs, tested with jobsim from the READMEs alone.

Daily reports at 09:00 New York and 08:30 London, interval jobs, misfire_grace_time, coalesce,
max_instances, next_run_time, paused and resumed jobs, a job that raises, date triggers; DST days,
a scheduler that was down, a week of virtual time in milliseconds, emails through the mail sink.
Expected instants are computed independently (zoneinfo wall times, APScheduler's own triggers).
"""

from __future__ import annotations

import datetime as dt
import smtplib
import time
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

import jobsim

# 3.11.2 and older wait by wall-clock difference (test_aps_clock_wait.py): an hour too long at spring forward
CLOCK_WAIT = tuple(int(part) for part in __import__("apscheduler").__version__.split(".")[:3]) < (3, 11, 3)

UTC = dt.timezone.utc
NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def _send_report(to: str, subject: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "ops@acme.test", to, subject
    message.set_content(f"report at {dt.datetime.now(UTC).isoformat()}")
    with smtplib.SMTP("smtp.acme.test", 587, timeout=30) as smtp:
        smtp.send_message(message)


def ny_report():
    _send_report("us-ops@acme.test", f"NY daily {dt.datetime.now(NY):%Y-%m-%d %H:%M %Z}")


def london_report():
    _send_report("uk-ops@acme.test", f"London daily {dt.datetime.now(LONDON):%Y-%m-%d %H:%M %Z}")


def ops_scheduler() -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(ny_report, "cron", hour=9, minute=0, timezone="America/New_York", id="ny-report")
    scheduler.add_job(london_report, "cron", hour=8, minute=30, timezone="Europe/London", id="london-report")
    return scheduler


def _utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def _wall(day: dt.date, hour: int, minute: int, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(UTC)


def test_daily_reports_follow_each_zones_own_dst_change_and_email_the_team():
    """2025-03-05 .. 04-02 covers New York's change (03-09) and London's (03-30): three weeks in which
    the two reports are 4.5 h apart (EST/GMT), 3.5 h (EDT/GMT), then 4.5 h again (EDT/BST)."""
    with jobsim.Simulation(ops_scheduler(), start="2025-03-05T00:00:00Z") as sim:
        sim.advance_to("2025-04-02T00:00:00Z")
        days = [dt.date(2025, 3, 5) + dt.timedelta(days=n) for n in range(28)]
        ny = [r.started_at for r in sim.runs("ny-report")]
        london = [r.started_at for r in sim.runs("london-report")]
        assert ny == [_wall(d, 9, 0, NY) for d in days]
        assert london == [_wall(d, 8, 30, LONDON) for d in days]
        assert ny[3] == _utc(2025, 3, 8, 14) and ny[4] == _utc(2025, 3, 9, 13)
        assert london[24] == _utc(2025, 3, 29, 8, 30) and london[25] == _utc(2025, 3, 30, 7, 30)
        assert all(r.status == "completed" for r in sim.runs("ny-report") + sim.runs("london-report"))
        # the mail sink: one email per report, sent at the run's instant, job code saw virtual time
        ny_mail = sim.mail.assert_sent(to="us-ops@acme.test", count=28)
        assert [e.sent_at for e in ny_mail] == ny
        assert ny_mail[4].subject == "NY daily 2025-03-09 09:00 EDT"
        assert "report at 2025-03-09T13:00:00+00:00" in ny_mail[4].text
        sim.mail.assert_sent(subject="London daily 2025-03-30 08:30 BST")
        sim.mail.assert_not_sent(to="ceo@acme.test")


def test_the_spring_forward_gap_runs_once_an_hour_later_and_the_fall_back_hour_runs_twice():
    scheduler = BackgroundScheduler(timezone="America/New_York")
    scheduler.add_job(lambda: None, "cron", hour=2, minute=30, id="gap")
    scheduler.add_job(lambda: None, "cron", hour=1, minute=30, id="repeat")
    scheduler.add_job(lambda: None, "cron", hour="1,2", minute=30, id="gap-by-hour")
    with jobsim.Simulation(scheduler, start="2025-03-08T12:00:00Z") as sim:
        sim.advance_to("2025-03-10T12:00:00Z")
        gap = sim.runs("gap")
        assert [r.started_at for r in gap] == [_utc(2025, 3, 9, 7, 30), _utc(2025, 3, 10, 6, 30)]
        assert gap[0].event.data["run_time"] == "2025-03-09T02:30:00-05:00"  # an ISO string; fold=0: EST's offset
        # hour="1,2": the search steps from 01:30 EST by an hour in UTC, lands on 03:00 EDT: no 02:30 that night
        assert [r.started_at for r in sim.runs("gap-by-hour")] == [
            _utc(2025, 3, 9, 6, 30), _utc(2025, 3, 10, 5, 30), _utc(2025, 3, 10, 6, 30)]
        assert "started by run time 2025-03-09T02:30:00-05:00" in sim.timeline()
        sim.advance_to("2025-11-01T12:00:00Z")
        sim.advance_to("2025-11-03T12:00:00Z")
        fall = [r.started_at for r in sim.runs("repeat") if r.started_at >= _utc(2025, 11, 2)]
        assert fall == [_utc(2025, 11, 2, 5, 30), _utc(2025, 11, 2, 6, 30), _utc(2025, 11, 3, 6, 30)]


def test_every_run_matches_apschedulers_own_trigger_for_a_year_of_london_and_new_york():
    triggers = {
        "ny": CronTrigger(hour="0-23/3", minute=15, timezone="America/New_York"),
        "ldn": CronTrigger(day_of_week="mon-fri", hour=1, minute=30, timezone="Europe/London"),
    }
    scheduler = BackgroundScheduler(timezone="UTC")
    for job_id, trigger in triggers.items():
        scheduler.add_job(lambda: None, trigger, id=job_id)
    start = _utc(2025, 1, 1)
    end = _utc(2026, 1, 1)
    with jobsim.Simulation(scheduler, start=start) as sim:
        sim.advance_to(end)
        for job_id, trigger in triggers.items():
            expected = []
            fire = trigger.get_next_fire_time(None, start)
            while fire and fire < end:
                expected.append(fire.astimezone(UTC))
                fire = trigger.get_next_fire_time(fire, fire)
            assert [r.started_at for r in sim.runs(job_id)] == expected, job_id


def test_an_interval_job_counts_elapsed_time_not_wall_time_across_dst():
    """interval hours=24 from 09:00 EST: 24 real hours later is 10:00 EDT (triggers/interval.py adds seconds)."""
    scheduler = BackgroundScheduler(timezone="America/New_York")
    scheduler.add_job(lambda: None, "interval", hours=24, start_date="2025-03-07 09:00:00", id="daily-ish")
    with jobsim.Simulation(scheduler, start="2025-03-07T00:00:00Z") as sim:
        sim.advance("4d")
        walls = [r.started_at.astimezone(NY).strftime("%d %H:%M %Z") for r in sim.runs("daily-ish")]
        if CLOCK_WAIT:  # the wait from 08 09:00 EST is 25 h of clock: an hour late, past misfire_grace_time
            assert [r.status for r in sim.runs("daily-ish")] == ["completed", "completed", "skipped", "completed"]
            assert walls == ["07 09:00 EST", "08 09:00 EST", "09 11:00 EDT", "10 10:00 EDT"]
        else:
            assert walls == ["07 09:00 EST", "08 09:00 EST", "09 10:00 EDT", "10 10:00 EDT"]


def _events(scheduler, mask=EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR):
    seen = []
    names = {EVENT_JOB_EXECUTED: "ran", EVENT_JOB_MISSED: "missed", EVENT_JOB_ERROR: "error"}
    scheduler.add_listener(
        lambda e: seen.append((e.job_id, names[e.code], e.scheduled_run_time.astimezone(UTC).strftime("%H:%M"))),
        mask,
    )
    return seen


def test_a_scheduler_that_was_down_catches_up_per_misfire_grace_time_and_coalesce():
    """The scheduler is paused 01:00-04:10 (the machine is down; a persistent store keeps next_run_time):
    on resume APScheduler computes every run time since (``Job._get_run_times``) and each job applies
    coalesce and misfire_grace_time to them at 04:10."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(lambda: None, "cron", minute=0, id="hourly-coalesced")  # coalesce=True, grace 1 s
    scheduler.add_job(lambda: None, "cron", minute=0, id="hourly-grace", misfire_grace_time=3600)
    scheduler.add_job(lambda: None, "cron", minute=0, id="hourly-all", coalesce=False, misfire_grace_time=None)
    scheduler.add_job(lambda: None, "cron", minute=0, id="hourly-late", coalesce=False, misfire_grace_time=7200)
    seen = _events(scheduler)
    with jobsim.Simulation(scheduler, start="2025-06-01T00:30:00Z") as sim:
        sim.advance_to("2025-06-01T01:00:30Z")
        scheduler.pause()
        sim.advance_to("2025-06-01T04:10:00Z")
        assert sim.runs("hourly-all")[-1].started_at == _utc(2025, 6, 1, 1)
        scheduler.resume()
        sim.advance("1s")
        at_resume = [s for s in seen if s[2] != "01:00"]
        assert at_resume == [
            ("hourly-coalesced", "missed", "04:00"),  # the last run time only, 600 s late > 1 s
            ("hourly-grace", "ran", "04:00"),  # the last run time, within its hour
            ("hourly-all", "ran", "02:00"), ("hourly-all", "ran", "03:00"), ("hourly-all", "ran", "04:00"),
            ("hourly-late", "missed", "02:00"), ("hourly-late", "ran", "03:00"), ("hourly-late", "ran", "04:00"),
        ]  # fmt: skip
        late = [r for r in sim.runs("hourly-late") if r.status == "skipped"]
        assert late[0].event.data["reason"] == (
            "missed: started 7800 s after its run time 2025-06-01T02:00:00.000Z, past misfire_grace_time=7200 s")
        sim.advance_to("2025-06-01T05:00:00Z")
        assert [r.started_at for r in sim.runs("hourly-coalesced")][-1] == _utc(2025, 6, 1, 5)


def test_paused_and_resumed_jobs_and_next_run_time():
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(lambda: "ok", "interval", minutes=30, id="poll", start_date="2025-06-01T00:00:00Z")
    with jobsim.Simulation(scheduler, start="2025-06-01T00:00:00Z") as sim:
        # a job added paused (next_run_time=None) and one added to run right now
        scheduler.add_job(lambda: "later", "cron", minute=15, id="later", next_run_time=None)
        scheduler.add_job(lambda: "now", "interval", hours=6, id="kickoff", next_run_time=sim.now)
        sim.advance_to("2025-06-01T01:00:00Z")
        scheduler.pause_job("poll")
        sim.advance_to("2025-06-01T02:40:00Z")
        scheduler.resume_job("poll")  # next fire from now: 03:00 -- the paused fires are not made up
        scheduler.resume_job("later")
        sim.advance_to("2025-06-01T04:00:00Z")
        hhmm = lambda job_id: [r.started_at.strftime("%H:%M") for r in sim.runs(job_id)]  # noqa: E731
        assert hhmm("poll") == ["00:00", "00:30", "01:00", "03:00", "03:30", "04:00"]
        assert hhmm("later") == ["03:15"]
        assert hhmm("kickoff") == ["00:00"]
        assert sim.runs("kickoff")[0].output == "now"
        assert sim.apscheduler.job("kickoff").next_run_time == _utc(2025, 6, 1, 6)


def test_a_job_that_raises_reaches_the_error_listener_and_the_trigger_fires_again():
    calls = []

    def flaky_export():
        calls.append(dt.datetime.now(UTC))
        if len(calls) == 2:
            raise ConnectionError("warehouse unreachable")
        return len(calls)

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(flaky_export, "interval", hours=1, id="export", start_date="2025-06-01T01:00:00Z")
    errors = []
    scheduler.add_listener(lambda e: errors.append((e.job_id, repr(e.exception), e.scheduled_run_time)),
                           EVENT_JOB_ERROR)
    with jobsim.Simulation(scheduler, start="2025-06-01T00:00:00Z") as sim:
        sim.advance_to("2025-06-01T03:30:00Z")
        runs = sim.runs("export")
        assert [r.status for r in runs] == ["completed", "failed", "completed"]
        assert isinstance(runs[1].error, ConnectionError) and runs[2].output == 3
        assert errors == [("export", "ConnectionError('warehouse unreachable')", _utc(2025, 6, 1, 2))]
        assert len(runs[1].attempts) == 1  # APScheduler has no retries


def test_date_triggers_and_max_instances_on_a_small_pool():
    scheduler = BackgroundScheduler(timezone="UTC", executors={"default": ThreadPoolExecutor(max_workers=1)})
    scheduler.add_job(lambda: time.sleep(3600), "date", run_date="2025-06-01T10:00:00Z", id="migrate")
    scheduler.add_job(lambda: "done", "date", run_date="2025-06-01T10:30:00Z", id="announce",
                      misfire_grace_time=1800)
    scheduler.add_job(lambda: "done", "date", run_date="2025-06-01T10:20:00Z", id="too-late",
                      misfire_grace_time=60)
    with jobsim.Simulation(scheduler, start="2025-06-01T09:00:00Z") as sim:
        sim.advance_to("2025-06-01T12:00:00Z")
        assert sim.runs("announce")[0].attempts[0].started_at == _utc(2025, 6, 1, 11)  # waited for the thread
        assert sim.runs("announce")[0].status == "completed"
        assert sim.runs("too-late")[0].status == "skipped"
        assert sim.runs("too-late")[0].event.data["skipped"] == "missed"
        assert scheduler.get_jobs() == []  # date jobs are removed once fired
        with pytest.raises(jobsim.InvalidArgument, match="no longer in its scheduler"):
            sim.apscheduler.job("migrate")


def test_a_week_of_busy_schedules_runs_in_milliseconds_and_the_timeline_tells_it():
    scheduler = ops_scheduler()
    scheduler.add_job(lambda: None, "interval", minutes=5, id="heartbeat", start_date="2025-03-03T00:00:00Z")
    scheduler.add_job(lambda: time.sleep(400), "interval", minutes=5, id="sync",
                      start_date="2025-03-03T00:00:00Z")
    sim = jobsim.Simulation(scheduler, start="2025-03-03T00:00:00Z", tz="America/New_York")
    began = time.process_time()
    with sim:
        sim.advance("7d")
        elapsed = time.process_time() - began
        heartbeats = sim.runs("heartbeat")
        assert len(heartbeats) == 7 * 24 * 12 + 1
        sync = sim.runs("sync")
        assert {r.status for r in sync[:-1:2]} == {"completed"} and {r.status for r in sync[1:-1:2]} == {"skipped"}
        timeline = sim.timeline()
    assert elapsed < 20, elapsed
    assert timeline.splitlines()[0].startswith("jobsim timeline · America/New_York")
    assert "2025-03-09 09:00:00.000 EDT" in timeline and "2025-03-08 09:00:00.000 EST" in timeline
    assert "max_instances=1 still running (EVENT_JOB_MAX_INSTANCES)" in timeline


def test_the_readme_outage_snippet_as_written():
    """plugins/jobsim-apscheduler/README.md, 'A machine that was down'."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(lambda: None, "cron", minute=0, id="hourly", coalesce=False, misfire_grace_time=7200)
    with jobsim.Simulation(scheduler, start="2025-06-01T00:30:00Z") as sim:
        sim.advance_to("2025-06-01T01:00:30Z")
        scheduler.pause()
        sim.advance_to("2025-06-01T04:10:00Z")
        scheduler.resume()
        sim.advance(0)
        assert [r.status for r in sim.runs("hourly")] == ["completed", "skipped", "completed", "completed"]
        assert [r.started_at.strftime("%H:%M") for r in sim.runs("hourly")] == ["01:00", "04:10", "04:10", "04:10"]


def test_an_error_listener_emails_on_call_at_the_instant_the_failing_job_ends():
    def rotate_logs():
        time.sleep(30)
        raise OSError("disk full")

    def alert(event):
        _send_report("oncall@acme.test", f"{event.job_id} failed: {event.exception!r} "
                                         f"at {dt.datetime.now(UTC):%H:%M:%S}")

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(rotate_logs, "cron", minute="*/10", id="rotate")
    scheduler.add_listener(alert, EVENT_JOB_ERROR)
    with jobsim.Simulation(scheduler, start="2025-06-01T00:00:00Z") as sim:
        sim.advance("25m")
        alerts = sim.mail.assert_sent(to="oncall@acme.test", count=3)
        assert [e.subject for e in alerts] == [
            f"rotate failed: OSError('disk full') at 00:{m}0:30" for m in range(3)]
        assert [e.sent_at for e in alerts] == [r.finished_at for r in sim.runs("rotate")]
        assert "2025-06-01 00:00:30.000 UTC  email     smtp to oncall@acme.test" in sim.timeline()


def test_job_defaults_and_londons_repeated_hour():
    """job_defaults apply to every job (``schedulers/base.py`` ``_configure``); 01:30 is shown twice in London on
    2025-10-26 (BST then GMT), and the cron trigger runs at both."""
    scheduler = BackgroundScheduler(timezone="Europe/London",
                                    job_defaults={"coalesce": False, "misfire_grace_time": 300, "max_instances": 2})
    scheduler.add_job(lambda: time.sleep(9000), "cron", minute=30, id="settle")  # 2.5 h
    with jobsim.Simulation(scheduler, start="2025-10-25T23:00:00Z") as sim:
        sim.advance_to("2025-10-26T03:00:00Z")
        job = sim.apscheduler.job("settle")
        assert (job.coalesce, job.misfire_grace_time, job.max_instances) == (False, 300, 2)
        runs = sim.runs("settle")
        assert [(r.started_at.strftime("%H:%M"), r.status) for r in runs] == [
            ("23:30", "completed"), ("00:30", "completed"), ("01:30", "skipped"), ("02:30", "running")]
        walls = [r.event.data["run_time"] for r in runs]
        assert walls[:2] == ["2025-10-26T00:30:00+01:00", "2025-10-26T01:30:00+01:00"]
        assert walls[2:] == ["2025-10-26T01:30:00+00:00", "2025-10-26T02:30:00+00:00"]
        assert runs[2].event.data["reason"] == "skipped: maximum number of running instances reached (2)"
