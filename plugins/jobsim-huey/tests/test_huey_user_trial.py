"""User trial (session 28): an operations team's Huey tasks (Redis), tested with jobsim from the READMEs alone.

Periodic reports (``crontab``), retried tasks (``retries=3, retry_delay=60``), ``schedule(delay=...)``,
``revoke``, ``huey.lock_task``, pipelines; DST days in UTC and with ``utc=False``, a week of virtual time in
milliseconds, emails through the mail sink, timelines. Expected instants are derived from huey 3.5.4's source:
the scheduler ticks every second and checks periodic tasks every 60 s from the consumer's start (the first at
the start, ``consumer.py:170-197``); ``crontab`` matches the check's timestamp, ``utcnow()`` or naive local
time (``api.py:409-411``); a retry's eta is that timestamp + ``retry_delay`` (``api.py:572-585``).
"""

from __future__ import annotations

import datetime as dt
import smtplib
import time
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from huey import RedisHuey, crontab
from huey.exceptions import TaskException, TaskLockedException

import jobsim

UTC = dt.timezone.utc
NY = ZoneInfo("America/New_York")


def _utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def _mail(to: str, subject: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "ops@acme.test", to, subject
    message.set_content("see attached numbers")
    with smtplib.SMTP("smtp.acme.test", 587, timeout=30) as smtp:
        smtp.send_message(message)


def _ops_huey(utc: bool = True) -> RedisHuey:
    return RedisHuey("ops-trial", host="127.0.0.1", port=1, utc=utc)  # never connects inside a simulation


def test_periodic_reports_retries_and_a_pipeline_over_a_week_in_utc():
    huey = _ops_huey()
    calls = []

    @huey.periodic_task(crontab(minute="0", hour="9"))
    def morning_report():
        _mail("ops@acme.test", f"morning {dt.datetime.now(UTC):%a %H:%M}")

    @huey.periodic_task(crontab(minute="*/30", hour="8-17", day_of_week="1-5"))
    def business_sweep():
        return "swept"

    @huey.task(retries=3, retry_delay=60)
    def export(batch):
        calls.append(dt.datetime.now(UTC))
        if len(calls) < 3:
            raise ConnectionError("warehouse unreachable")
        return f"exported {batch}"

    @huey.task()
    def render(name):
        time.sleep(120)
        return f"{name}.pdf"

    @huey.task()
    def deliver(to, path):
        _mail(to, f"your file {path}")
        return path

    began = time.process_time()
    with jobsim.Simulation(huey, start="2025-03-03T00:00:00Z") as sim:  # a Monday
        result = export("b-1")
        piped = huey.enqueue(render.s("q1").then(deliver, "cfo@acme.test"))
        sim.advance("7d")
        elapsed = time.process_time() - began
        # a week of morning reports, at the check of 09:00 UTC each day, each with its email
        mornings = [r.started_at for r in sim.runs(morning_report)]
        assert mornings == [_utc(2025, 3, 3 + n, 9) for n in range(7)]
        assert [e.subject for e in sim.mail.find(subject="morning Mon 09:00")] == ["morning Mon 09:00"]
        sim.mail.assert_sent(to="ops@acme.test", count=7)
        # Monday to Friday (crontab day_of_week 1-5: Sunday is 0), 08:00 .. 17:30 every 30 min: 20 a day
        sweeps = [r.started_at for r in sim.runs(business_sweep)]
        assert len(sweeps) == 5 * 20
        assert sweeps[0] == _utc(2025, 3, 3, 8) and sweeps[-1] == _utc(2025, 3, 7, 17, 30)
        # retries=3, retry_delay=60: the eta is the failure's instant + 60 s, moved to the queue at the next 1 s
        # tick (00:01:01), where it waits for the one worker (-w 1) that render holds until 00:02:00
        (run,) = sim.runs(export)
        assert [a.started_at for a in run.attempts] == [_utc(2025, 3, 3), _utc(2025, 3, 3, 0, 2),
                                                        _utc(2025, 3, 3, 0, 3, 1)]  # fmt: skip
        assert run.status == "completed" and result.get() == "exported b-1"
        # the pipeline: deliver starts when render ends, 120 s in
        assert piped.get() == ["q1.pdf", "q1.pdf"]
        assert sim.runs(deliver)[0].started_at == _utc(2025, 3, 3, 0, 2)
        sim.mail.assert_sent(to="cfo@acme.test", subject="your file q1.pdf")
    assert elapsed < 10, elapsed


def test_a_task_that_keeps_failing_surfaces_its_error_after_three_retries():
    huey = _ops_huey()

    @huey.task(retries=3, retry_delay=60)
    def flaky():
        raise TimeoutError("upstream timed out")

    with jobsim.Simulation(huey, start="2025-06-01T12:00:00Z") as sim:
        result = flaky()
        sim.run_until_idle()
        (run,) = sim.runs(flaky)
        assert run.status == "failed" and len(run.attempts) == 4
        pairs = zip(run.attempts, run.attempts[1:], strict=False)
        gaps = [(b.started_at - a.finished_at).total_seconds() for a, b in pairs]
        assert gaps == [61, 61, 61]  # 60 s, then the tick after the eta (the eta is 1 µs past its second)
        with pytest.raises(TaskException, match="upstream timed out"):
            result.get()
        assert "retry" in sim.timeline()


def test_schedule_with_delay_revoke_and_restore():
    huey = _ops_huey()

    @huey.task()
    def remind(who):
        _mail(who, "reminder")

    with jobsim.Simulation(huey, start="2025-06-01T12:00:00Z") as sim:
        kept = remind.schedule(("ada@acme.test",), delay=3600)
        dropped = remind.schedule(("bob@acme.test",), delay=600)
        dropped.revoke()
        sim.run_until_idle()
        sim.mail.assert_sent(to="ada@acme.test")
        sim.mail.assert_not_sent(to="bob@acme.test")
        assert [r.status for r in sim.runs(remind)] == ["completed", "cancelled"]
        assert sim.huey.run_of_task(kept).attempts[0].started_at == _utc(2025, 6, 1, 13)
        assert "revoked" in sim.timeline()


def test_a_lock_keeps_two_imports_from_overlapping():
    huey = _ops_huey()

    @huey.task(retries=1, retry_delay=300)
    @huey.lock_task("nightly-import")
    def nightly_import(part):
        time.sleep(600)
        return part

    with jobsim.Simulation(huey.create_consumer(workers=2), start="2025-06-01T02:00:00Z") as sim:
        first, second = nightly_import("a"), nightly_import("b")
        sim.run_until_idle()
        a, b = sim.huey.run_of_task(first), sim.huey.run_of_task(second)
        assert a.status == "completed" and a.finished_at == _utc(2025, 6, 1, 2, 10)
        # b found the lock at 02:00, was retried 300 s later (the 02:05:01 tick): still locked -> failed
        assert b.status == "failed" and len(b.attempts) == 2
        assert b.attempts[1].started_at == _utc(2025, 6, 1, 2, 5, 1)
        assert isinstance(b.error, TaskLockedException) and str(b.error) == "unable to acquire lock nightly-import"
        assert "nightly_import#2 could not take its lock (TaskLockedException)" in sim.timeline()


def test_local_time_periodic_tasks_skip_the_spring_forward_gap_and_repeat_the_fall_back_hour():
    """utc=False: crontab matches naive local time (the simulation's tz). 02:30 does not exist on 2025-03-09 in
    New York, so a 02:30 task does not run that day; 01:30 is shown twice on 2025-11-02, so it runs twice."""
    huey = _ops_huey(utc=False)

    @huey.periodic_task(crontab(minute="30", hour="2"))
    def gap():
        pass

    @huey.periodic_task(crontab(minute="30", hour="1"))
    def repeat():
        pass

    @huey.periodic_task(crontab(minute="0", hour="9"))
    def nine():
        pass

    with jobsim.Simulation(huey, start="2025-03-07T00:00:00Z", tz="America/New_York") as sim:
        sim.advance_to("2025-03-11T00:00:00Z")
        assert [r.started_at for r in sim.runs(gap)] == [
            _utc(2025, 3, 7, 7, 30), _utc(2025, 3, 8, 7, 30), _utc(2025, 3, 10, 6, 30)]
        assert [r.started_at.astimezone(NY).strftime("%d %H:%M") for r in sim.runs(nine)] == [
            "07 09:00", "08 09:00", "09 09:00", "10 09:00"]
    with jobsim.Simulation(huey, start="2025-11-01T12:00:00Z", tz="America/New_York") as sim:
        sim.advance_to("2025-11-03T12:00:00Z")
        assert [r.started_at for r in sim.runs(repeat)] == [
            _utc(2025, 11, 2, 5, 30), _utc(2025, 11, 2, 6, 30), _utc(2025, 11, 3, 6, 30)]


def test_a_local_time_retry_across_fall_back_waits_for_the_wall_clock_to_come_round_again():
    """utc=False: the eta is naive local time + retry_delay and the scheduler compares naive local times
    (``api.py:580-581``, ``ready_to_run``). Failing at 01:59:30 EDT on 2025-11-02 gives eta 02:00:30 naive; the
    wall clock goes back from 02:00 EDT to 01:00 EST and shows 02:00:30 only at 07:00:30Z (the 07:00:31 tick):
    the retry comes an hour late, as on a real consumer with TZ=America/New_York. utc=True: a minute later."""
    for utc, expected in ((False, _utc(2025, 11, 2, 7, 0, 31)), (True, _utc(2025, 11, 2, 6, 0, 31))):
        huey, calls = _ops_huey(utc=utc), []

        @huey.task(retries=1, retry_delay=60)
        def once_failing(calls=calls):
            calls.append(1)
            if len(calls) == 1:
                raise ConnectionError("down")

        with jobsim.Simulation(huey, start="2025-11-02T05:59:30Z", tz="America/New_York") as sim:
            once_failing()
            sim.run_until_idle()
            (run,) = sim.runs(once_failing)
            assert run.status == "completed"
            assert run.attempts[1].started_at == expected, utc


def test_a_periodic_report_retries_a_pipeline_waits_for_retries_and_a_vacation_revoke():
    huey = _ops_huey()
    failures = {"report": 1, "extract": 1}

    @huey.periodic_task(crontab(minute="0", hour="9"), retries=2, retry_delay=120)
    def report():
        if failures["report"]:
            failures["report"] -= 1
            raise ConnectionError("smtp down")
        _mail("ops@acme.test", f"report {dt.datetime.now(UTC):%d %H:%M:%S}")

    @huey.task(retries=2, retry_delay=30)
    def extract(x):
        if failures["extract"]:
            failures["extract"] -= 1
            raise ValueError("flaky source")
        return x * 2

    @huey.task()
    def load(a, b):
        return a + b

    with jobsim.Simulation(huey, start="2025-06-02T08:59:00Z") as sim:
        piped = huey.enqueue(extract.s(3).then(load, 1))
        sim.advance("2h")
        # the periodic run failed at 09:00 and was retried at the first tick after 09:02:00
        (first,) = sim.runs(report)
        assert [a.started_at for a in first.attempts] == [_utc(2025, 6, 2, 9), _utc(2025, 6, 2, 9, 2, 1)]
        sim.mail.assert_sent(subject="report 02 09:02:01")
        # load waited for extract's retry (08:59:31) and got its result appended
        assert piped.get() == [6, 7]
        assert sim.runs(load)[0].started_at == _utc(2025, 6, 2, 8, 59, 31)
        # vacation: every report revoked until the 4th at noon (revoke_all by the task's class)
        report.revoke(revoke_until=dt.datetime(2025, 6, 4, 12, tzinfo=UTC))
        sim.advance_to("2025-06-06T00:00:00Z")
        assert [(r.status, r.started_at.day) for r in sim.runs(report)[1:]] == [
            ("cancelled", 3), ("cancelled", 4), ("completed", 5)]
        assert "report#2 was revoked: not executed" in sim.timeline()
        sim.mail.assert_sent(subject="report 05 09:00:00")
