"""delay/apply_async in virtual time: countdown, eta, expires, the request, results, sinks, revoke, limits."""

from __future__ import annotations

import datetime as dt
import fractions
import random
import re
import smtplib
import time
import uuid
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import httpx
import jobsim_celery
import pytest
from celery.exceptions import TaskRevokedError

import jobsim
from jobsim.errors import JobsimError

START = "2025-03-01T00:00:00Z"

T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def starts(sim, name):
    return [a.started_at for r in sim.runs(name) for a in r.attempts]


def test_delay_runs_at_once_and_countdown_waits_in_virtual_time(app):
    @app.task(name="add")
    def add(x, y):
        return x + y

    with jobsim.Simulation(app, start=START) as sim:
        now = add.delay(2, 3)
        later = add.apply_async((10, 20), countdown=90)
        sim.advance("89s")
        assert now.get() == 5 and later.state == "PENDING"
        assert sim.runs("add")[1].status == "queued"
        sim.advance("1s")
        assert later.get() == 30
        assert starts(sim, "add") == [at(0), at(90)]
        assert [r.id for r in sim.runs("add")] == [now.id, later.id]
        assert sim.runs("add")[1].output == 30


def test_eta_aware_in_any_zone_and_naive_as_utc_like_the_worker(app):
    """A naive ETA is UTC to the worker (``maybe_make_aware(eta, naive_as_utc=True)``), whatever the timezone."""
    app.conf.timezone = "America/New_York"
    # ETAs 9 and 14 hours ahead: above Redis's visibility timeout, each would also come back every hour or so
    # (test_celery_visibility_timeout.py); this test is about the zones only
    app.conf.broker_transport_options = {"visibility_timeout": 86400}

    @app.task(name="remind")
    def remind():
        return dt.datetime.now(dt.timezone.utc).isoformat()  # the wall clock is virtual inside tasks

    with jobsim.Simulation(app, start=START) as sim:
        remind.apply_async(eta=dt.datetime(2025, 3, 1, 9, 0))
        remind.apply_async(eta=dt.datetime(2025, 3, 1, 9, 0, tzinfo=ZoneInfo("America/New_York")))
        sim.run_until_idle()
        assert sorted(starts(sim, "remind")) == [at(9 * 3600), at(14 * 3600)]
        outputs = sorted(r.output for r in sim.runs("remind"))
        assert outputs == ["2025-03-01T09:00:00+00:00", "2025-03-01T14:00:00+00:00"]


def test_expires_discards_at_the_worker_as_revoked(app):
    @app.task(name="flash")
    def flash():
        return "ran"

    with jobsim.Simulation(app, start=START) as sim:
        late = flash.apply_async(countdown=60, expires=30)
        timely = flash.apply_async(countdown=10, expires=at(30))
        sim.run_until_idle()
        assert late.state == "REVOKED" and timely.get() == "ran"
        run = sim.runs("flash")[0]
        assert run.status == "cancelled" and run.attempts == []
        assert isinstance(run.error, TaskRevokedError) and str(run.error) == "expired"
        assert run.finished_at == at(60)
        assert "flash#1 expired: discarded by the worker (REVOKED)" in sim.timeline()


def test_a_negative_expires_is_already_expired_at_the_worker(app):
    # send_task clamps only the broker's TTL (options["expiration"]) at 0; the message's
    # expires header is now + expires, in the past, so the worker discards it.
    @app.task(name="flash")
    def flash():
        return "ran"

    with jobsim.Simulation(app, start=START) as sim:
        stale = flash.apply_async(expires=-5)
        sim.run_until_idle()
        assert stale.state == "REVOKED"
        run = sim.runs("flash")[0]
        assert run.status == "cancelled" and run.attempts == [] and str(run.error) == "expired"


def test_the_request_is_a_workers_request(app):
    seen = {}

    @app.task(bind=True, name="parent")
    def parent(self):
        seen["parent"] = dict(id=self.request.id, retries=self.request.retries, eager=self.request.is_eager,
                              hostname=self.request.hostname, delivery=self.request.delivery_info)
        child.apply_async(countdown=5)

    @app.task(bind=True, name="child")
    def child(self):
        seen["child"] = dict(root=self.request.root_id, parent=self.request.parent_id, eta=self.request.eta)

    with jobsim.Simulation(app, start=START) as sim:
        result = parent.delay()
        sim.run_until_idle()
    assert seen["parent"]["id"] == result.id and seen["parent"]["retries"] == 0
    assert seen["parent"]["eager"] is False and seen["parent"]["hostname"] == "celery@jobsim"
    delivery = {"exchange": "", "routing_key": "celery", "priority": None, "redelivered": False}
    assert seen["parent"]["delivery"] == delivery
    assert seen["child"]["root"] == result.id and seen["child"]["parent"] == result.id
    assert seen["child"]["eta"] == "2025-03-01T00:00:05+00:00"
    assert "child#1 started by parent#1" in sim.timeline()


def test_get_before_the_result_exists_says_to_advance(app):
    @app.task(name="slow")
    def slow():
        return 1

    with jobsim.Simulation(app, start=START) as sim:
        result = slow.apply_async(countdown=10)
        with pytest.raises(JobsimError, match=r"not ready at virtual time 2025-03-01T00:00:00.*sim.run_until_idle\(\)"):
            result.get()
        sim.run_until_idle()
        assert result.get() == 1


def test_get_after_the_result_expired_says_it_expired_not_to_advance(app):
    """``result_expires`` (a day by default) removes the result as Redis does: PENDING again. The error said
    "not ready ... advance the simulation first", which more advancing never fixes."""
    @app.task(name="quick")
    def quick():
        return 1

    with jobsim.Simulation(app, start=START) as sim:
        kept, lost = quick.delay(), quick.delay()
        sim.advance("23h59m59s")
        assert kept.get() == 1
        sim.advance("1s")
        with pytest.raises(JobsimError, match=r"^the result of task \S+ expired at 2025-03-02T00:00:00.000Z "
                           r"\(result_expires: 86400 s after it was stored\), .* raise app\.conf\.result_expires$"):
            lost.get()
        assert lost.state == "PENDING"


def test_waiting_on_a_result_inside_a_task_fails_as_on_a_worker(app):
    @app.task(name="inner")
    def inner():
        return 1

    @app.task(name="outer")
    def outer():
        return inner.delay().get()

    with jobsim.Simulation(app, start=START) as sim:
        sim_result = outer.delay()
        sim.run_until_idle()
        assert sim_result.state == "FAILURE"
        assert "Never call result.get() within a task" in str(sim.runs("outer")[0].error)


def test_sleep_mail_and_http_inside_tasks_are_virtual_and_captured(app):
    @app.task(name="notify")
    def notify(email):
        time.sleep(120)  # virtual
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "shop@example.com", email, "Welcome"
        msg.set_content("hi")
        with smtplib.SMTP("smtp.example.com") as smtp:
            smtp.send_message(msg)
        return httpx.post("https://hooks.example.com/sent", json={"to": email}).status_code

    with jobsim.Simulation(app, start=START) as sim:
        sim.http.post("https://hooks.example.com/sent").respond(202)
        notify.apply_async(("ada@example.com",), countdown=60)
        sim.run_until_idle()
        assert [(e.to, e.subject, e.sent_at) for e in sim.mail.outbox] == [(["ada@example.com"], "Welcome", at(180))]
        assert [(c.request.url.path, c.at) for c in sim.http.calls] == [("/sent", at(180))]
        run = sim.runs("notify")[0]
        assert run.output == 202 and run.finished_at == at(180)


def test_sim_fail_raises_inside_the_body_so_autoretry_sees_it(app):
    @app.task(name="sync", autoretry_for=(Exception,), retry_backoff=True, retry_jitter=False)
    def sync():
        return "synced"

    with jobsim.Simulation(app, start=START) as sim:
        sim.fail("sync", times=2)
        sync.delay()
        sim.run_until_idle()
        run = sim.runs("sync")[0]
        assert [a.started_at for a in run.attempts] == [at(0), at(1), at(3)]
        assert [type(a.error).__name__ for a in run.attempts] == ["InjectedFault", "InjectedFault", "NoneType"]
        assert run.output == "synced"


def test_revoke_discards_a_waiting_task(app):
    @app.task(name="later")
    def later():
        return 1

    with jobsim.Simulation(app, start=START) as sim:
        result = later.apply_async(countdown=60)
        sim.advance("10s")
        result.revoke()
        sim.run_until_idle()
        assert result.state == "REVOKED"
        assert sim.runs("later")[0].status == "cancelled" and sim.runs("later")[0].attempts == []


def test_rate_limit_spaces_executions_like_the_token_bucket(app):
    @app.task(name="ping", rate_limit="6/m")
    def ping(i):
        return i

    with jobsim.Simulation(app, start=START) as sim:
        for i in range(4):
            ping.delay(i)
        sim.run_until_idle()
        assert starts(sim, "ping") == [at(0), at(10), at(20), at(30)]


def test_concurrency_limits_overlapping_executions(app):
    @app.task(name="work")
    def work():
        time.sleep(30)

    with jobsim.Simulation(jobsim_celery_target(app, concurrency=2), start=START) as sim:
        for _ in range(5):
            work.delay()
        sim.run_until_idle()
        assert starts(sim, "work") == [at(0), at(0), at(30), at(30), at(60)]


def test_a_queue_no_worker_consumes_keeps_its_messages(app):
    app.conf.task_routes = {"report": {"queue": "reports"}}

    @app.task(name="report")
    def report():
        return 1

    with (
        pytest.warns(jobsim.UnreadQueueWarning, match=r"1 message\(s\) \(1 of task 'report'\) wait on queue "
            r"'reports', which no simulated worker reads \(the workers read 'celery'\)"),
        jobsim.Simulation(jobsim_celery_target(app, queues=["celery"]), start=START) as sim,
    ):
        report.delay()
        sim.run_until_idle()
        assert sim.runs("report")[0].status == "queued" and sim.runs("report")[0].attempts == []
        assert [h.queue for h in sim.celery.unconsumed] == ["reports"]


def test_queues_as_a_string_are_split_like_the_worker_option(app):
    """``CeleryTarget(app, queues="celery,reports")`` is ``celery worker -Q celery,reports``: it read one queue
    named "celery,reports", and every message stayed unconsumed."""
    app.conf.task_routes = {"report": {"queue": "reports"}, "mail": {"queue": "emails"}}

    @app.task(name="report")
    def report():
        return 1

    @app.task(name="mail")
    def mail():
        return 2

    with jobsim.Simulation(jobsim_celery_target(app, queues="celery, reports"), start=START) as sim:
        ping, first, second = app.send_task("report"), report.delay(), mail.delay()
        sim.leave_unread("emails")
        sim.run_until_idle()
        assert [ping.get(), first.get(), second.state] == [1, 1, "PENDING"]
        assert [h.queue for h in sim.celery.unconsumed] == ["emails"]
        assert repr(sim.celery.unconsumed) == f"[<celery message mail[{second.id}] on queue 'emails'>]"
    with pytest.raises(jobsim.InvalidArgument, match=r"queues=' , ' is not valid: queue names"):
        jobsim.Simulation(jobsim_celery_target(app, queues=" , "))


def test_the_app_is_restored_after_the_simulation(app):
    @app.task(name="t")
    def t():
        return 1

    app.conf.task_always_eager = True
    before = (t.run, app.send_task)
    with jobsim.Simulation(app, start=START) as sim:
        assert app.conf.task_always_eager is False
        t.delay()
        sim.run_until_idle()
    assert t.run == before[0] and app.conf.task_always_eager is True
    assert t.delay().get() == 1  # eager again, outside (an eager task sends nothing)
    assert app.send_task != before[1]  # sending refuses until released (test_celery_after_close.py)
    jobsim_celery.release(app)
    assert (t.run, app.send_task) == before


def test_bad_options_are_named(app):
    @app.task(name="t")
    def t():
        return 1

    with pytest.raises(jobsim.InvalidArgument, match=r"concurrency=0 is not valid: an int >= 1"):
        jobsim.Simulation(jobsim_celery_target(app, concurrency=0))


@pytest.mark.parametrize(("setting", "expected"), [("2", [0, 0, 30]), (0, [0, 0, 0]), ("auto", [0, 0, 0])])
def test_worker_concurrency_is_read_as_the_worker_reads_it(app, setting, expected):
    """``WorkController.setup_instance``: a digit string (from an environment variable) is that number; unset, 0
    and ``"auto"`` mean the CPU count on a real worker, no limit here."""
    app.conf.worker_concurrency = setting

    @app.task(name="work")
    def work():
        time.sleep(30)

    with jobsim.Simulation(app, start=START) as sim:
        for _ in range(3):
            work.delay()
        sim.run_until_idle()
        assert starts(sim, "work") == [at(s) for s in expected]


@pytest.mark.parametrize("setting", ["four", -1, 2.5])
def test_a_worker_concurrency_celery_cannot_use_is_named_with_the_fix(app, setting):
    app.conf.worker_concurrency = setting
    with pytest.raises(jobsim.InvalidArgument, match=r"^app\.conf\.worker_concurrency=.* is not valid: .*"
                       r"CeleryTarget\(app, concurrency=N\)"):
        jobsim.Simulation(app)


def jobsim_celery_target(app, **options):
    from jobsim_celery import CeleryTarget

    return CeleryTarget(app, **options)


def test_the_same_seed_gives_the_same_trace(app):
    from celery import chord

    @app.task(name="part", autoretry_for=(ValueError,), retry_backoff=True, max_retries=4)
    def part(i):
        if random_failure(i):
            raise ValueError(i)
        return i

    @app.task(name="gather")
    def gather(xs):
        return sorted(xs)

    def history(seed):
        with jobsim.Simulation(app, start=START, seed=seed) as sim:
            result = chord([part.s(i) for i in range(4)], gather.s()).apply_async(countdown=5)
            sim.run_until_idle()
            assert result.get() == [0, 1, 2, 3]
            assert sim.celery.result(sim.runs("gather")[0]).get() == [0, 1, 2, 3]
            return [(r.at, r.kind, r.data) for r in sim.trace], sim.timeline()

    calls.clear()
    first = history(3)
    calls.clear()
    assert history(3) == first
    assert any(r[1] == "retry" for r in first[0])


calls: dict[int, int] = {}


def random_failure(i):
    calls[i] = calls.get(i, 0) + 1
    return calls[i] <= i % 3


def test_an_eta_or_expires_no_worker_could_read_is_refused_at_the_call(app):
    """A real worker rejects such a message (``InvalidTaskError``) and the task never runs; say so at once."""

    @app.task(name="t")
    def t():
        return 1

    with jobsim.Simulation(app, start=START) as sim:
        with pytest.raises(jobsim.InvalidArgument, match=r"eta='tomorrow' is not valid: .*ISO 8601.*InvalidTaskError"):
            t.apply_async(eta="tomorrow")
        with pytest.raises(jobsim.InvalidArgument, match=r"expires='soon' is not valid: .*seconds"):
            t.apply_async(expires="soon")
        with pytest.raises(jobsim.InvalidArgument, match=r"countdown='10' is not valid: a number of seconds"):
            t.apply_async(countdown="10")
        five = dt.timedelta(minutes=5)  # a common slip: the message says what to pass instead
        with pytest.raises(jobsim.InvalidArgument, match=r"countdown=.* for a timedelta, countdown=delta\.total_sec"):
            t.apply_async(countdown=five)
        with pytest.raises(jobsim.InvalidArgument, match=r"eta=.* for a timedelta from now, countdown=delta\.total"):
            t.apply_async(eta=five)
        with pytest.raises(jobsim.InvalidArgument, match=r"expires=.* for a timedelta, expires=delta\.total_second"):
            t.apply_async(expires=five)
        for bad in (float("inf"), float("nan")):  # Celery's timedelta(seconds=...): a bare OverflowError/ValueError
            with pytest.raises(jobsim.InvalidArgument, match=r"countdown=(inf|nan) is not valid: a finite number"):
                t.apply_async(countdown=bad)
            with pytest.raises(jobsim.InvalidArgument, match=r"expires=(inf|nan) is not valid: a finite number"):
                t.apply_async(expires=bad)
        ok = t.apply_async(eta="2025-03-01T00:00:30+00:00", expires="2025-03-01T01:00:00+00:00")
        sim.run_until_idle()
        assert ok.get() == 1
        assert [r.attempts[0].started_at.isoformat() for r in sim.runs("t")] == ["2025-03-01T00:00:30+00:00"]


def test_a_countdown_or_expires_no_date_can_hold_is_refused_at_the_call(app):
    """Finite, but past the year 9999 (Celery's now + timedelta: a bare OverflowError from create_task_message),
    or below Celery's INT_MIN (its _verify_seconds: a bare ValueError). A task's own expires= too."""

    @app.task(name="t")
    def t():
        return 1

    @app.task(name="stale", expires=1e12)
    def stale():
        return 1

    with jobsim.Simulation(app, start=START) as sim:
        for name in ("countdown", "expires"):
            for bad in (1e12, 10**20, -3e9):
                with pytest.raises(jobsim.InvalidArgument, match=rf"{name}={bad!r} is not valid: a number of seconds "
                                                                 r"from -2147483648 that ends by 9999-12-31"):
                    t.apply_async(**{name: bad})
        with pytest.raises(jobsim.InvalidArgument, match=r"expires=1000000000000.0 is not valid"):
            stale.delay()
        for name in ("countdown", "expires"):  # a numbers.Real that timedelta() refuses: a bare TypeError
            with pytest.raises(jobsim.InvalidArgument, match=rf"{name}=Fraction\(1, 3\) is not valid: a number of "
                                                             r"seconds \(int or float\)"):
                t.apply_async(**{name: fractions.Fraction(1, 3)})
        far = t.apply_async(countdown=3600 * 24 * 365 * 100, expires=-2**31)  # a century; Celery's least expires
        sim.run_until_idle()
        assert far.state == "REVOKED"  # expired long before it was due
    assert [r.status for r in sim.runs("t")] == ["cancelled"]


def test_a_task_of_an_app_the_simulation_does_not_run_is_refused_not_sent_to_a_broker(app):
    """Without the guard, ``delay()`` tries the real broker: 19 s of reconnecting, then a RuntimeError."""
    import celery

    other = celery.Celery("billing", broker="redis://:s3cret@127.0.0.1:1/0", backend="redis://127.0.0.1:1/1",
                          set_as_current=False)  # fmt: skip

    @other.task(name="charge", shared=False)
    def charge():
        return 1

    @app.task(name="t")
    def t():
        return charge.delay().id

    with jobsim.Simulation(app, start=START) as sim:
        with pytest.raises(jobsim.JobsimError, match=r"Celery app 'billing' is not part of this simulation.*'charge'"):
            charge.delay()
        t.delay()
        sim.run_until_idle()
        assert "is not part of this simulation" in str(sim.runs("t")[0].error)
        assert "redis://:**@127.0.0.1:1/0" in str(sim.runs("t")[0].error)  # the password never reaches the trace
    other.conf.task_always_eager = True
    assert charge.delay().get() == 1  # outside a simulation the app is the user's again


def test_a_simulation_without_the_app_refuses_its_tasks_instead_of_using_the_broker(app):
    """The test forgot to pass the app: ``delay()`` went to the app's real broker (a local Redis would take it)."""
    from celery import Celery

    original = Celery.__dict__["send_task"]

    @app.task(name="charge")
    def charge():
        return 1

    billing = jobsim.App("billing")

    @billing.function(id="bill", on="order/paid")
    def bill(ctx):
        return charge.delay().id

    message = (r"^Celery app 'tests' is not part of this simulation: sending task 'charge' would go to its real "
               r"broker \(redis://127.0.0.1:1/0\)\. This simulation runs no Celery app: pass it, e\.g\. "
               r"jobsim\.Simulation\(app\)")  # fmt: skip
    with jobsim.Simulation(billing, start=START) as sim:
        with pytest.raises(jobsim.JobsimError, match=message):
            charge.delay()
        sim.send("order/paid", {})
        sim.run_until_idle()
        assert re.match(message, str(sim.runs("bill")[0].error))  # the function's own failure, retried
    assert Celery.__dict__["send_task"] is original  # restored as the simulation closes
    with jobsim.Simulation(app, start=START) as sim:  # and a Celery simulation after it works as before
        assert charge.delay().get is not None
        sim.run_until_idle()
        assert sim.runs("charge")[0].status == "completed"
    assert Celery.__dict__["send_task"] is original



def test_remote_control_other_than_revoke_is_refused_not_broadcast_through_the_real_broker(app):
    """``app.control.rate_limit``/``ping``/``inspect()``/``purge`` went to the app's real broker (6 s of
    reconnecting to a closed port, then kombu's ``OperationalError``; a developer's local Redis would get the
    command, and ``purge`` would empty its queues), from the test and from task code, in a simulation of the
    app or of something else."""
    from celery.app.control import Control

    originals = {name: Control.__dict__[name] for name in ("broadcast", "purge", "discard_all")}

    @app.task(name="t")
    def t():
        app.control.rate_limit("t", "1/m")

    broadcast = (r"^app\.control's {!r} command \(Celery remote control\) is not simulated by jobsim-celery, which "
                 r"simulates revoke only: it would be broadcast through the real broker \(redis://127\.0\.0\.1:1/0\) "
                 r"to the workers listening there\. ")  # fmt: skip
    purge = (r"^app\.control\.(purge|discard_all)\(\) is not simulated by jobsim-celery: it would delete the "
             r"messages waiting in the real broker's queues \(redis://127\.0\.0\.1:1/0\)\. ")  # fmt: skip
    with jobsim.Simulation(app, start=START) as sim:
        with pytest.raises(jobsim.UnsupportedFeature, match=broadcast.format("rate_limit")):
            app.control.rate_limit("t", "1/m")
        with pytest.raises(jobsim.UnsupportedFeature, match=broadcast.format("ping")):
            app.control.ping(timeout=0.1)
        with pytest.raises(jobsim.UnsupportedFeature, match=broadcast.format("active")):
            app.control.inspect(timeout=0.1).active()
        for call in (app.control.purge, app.control.discard_all):
            with pytest.raises(jobsim.UnsupportedFeature, match=purge):
                call()
        t.delay()
        sim.run_until_idle()
        assert re.match(broadcast.format("rate_limit"), str(sim.runs("t")[0].error))  # the task's failure
        t.apply_async(countdown=60).revoke()  # revoke is simulated
        sim.run_until_idle()
        assert sim.runs("t")[1].status == "cancelled"
    jobsim_celery.release(app)  # else its remote control names the closed simulation (test_celery_after_close.py)
    other = jobsim.App("other")

    @other.function(id="f", on="e")
    def f(ctx):
        return None

    with jobsim.Simulation(other, start=START), pytest.raises(jobsim.UnsupportedFeature, match=purge):
        app.control.purge()  # a test that forgot the app
    assert {name: Control.__dict__[name] for name in originals} == originals  # restored as the simulation closes


def test_a_broker_connection_opened_in_a_simulation_is_refused_not_made_to_the_real_broker(app):
    """User code that talks to the broker itself -- a queue's length through ``app.connection_or_acquire()``, a
    consumer on ``app.connection()`` -- reached the app's real broker (a local Redis would answer) while sending,
    results and revoke were simulated."""
    from celery import Celery

    original = Celery.__dict__["_connection"]

    @app.task(name="backlog")
    def backlog():
        with app.connection_or_acquire() as conn:
            return conn.default_channel.client.llen("celery")

    message = (r"^a connection to the real broker of Celery app 'tests' \(redis://127\.0\.0\.1:1/0\) was opened "
               r"while a simulation runs \(app\.connection\(\), connection_for_read/_write or "
               r"connection_or_acquire\): jobsim-celery simulates the broker for sending tasks and revoke "
               r"only")  # fmt: skip
    with jobsim.Simulation(app, start=START) as sim:
        for call in (app.connection, app.connection_for_write, app.connection_for_read,
                     app.connection_or_acquire().__enter__):  # fmt: skip
            with pytest.raises(jobsim.UnsupportedFeature, match=message):
                call()
        backlog.delay()
        sim.run_until_idle()
        assert re.match(message, str(sim.runs("backlog")[0].error))
    assert Celery.__dict__["_connection"] is original
    app.pool  # noqa: B018 (a pool made before a simulation: its connections are handed out by _acquire_connection)
    with jobsim.Simulation(app, start=START), pytest.raises(jobsim.UnsupportedFeature, match=message):
        app.connection_or_acquire().__enter__()
    assert app.connection_for_write().as_uri().endswith("@127.0.0.1:1/0")  # outside a simulation: the app's own

def test_runs_and_fail_take_the_task_itself(app):
    """``sim.runs(sync_invoice)``, ``sim.fail(sync_invoice)``: the task object (even as Celery's lazy proxy) works."""

    @app.task(name="t", autoretry_for=(jobsim.InjectedFault,), max_retries=1, default_retry_delay=5)
    def t():
        return 1

    with jobsim.Simulation(app, start=START) as sim:
        sim.fail(t, times=1)
        t.delay()
        sim.run_until_idle()
        assert sim.runs(t) == sim.runs("t")
        attempts = sim.runs(t)[0].attempts
        assert [(a.number, (a.started_at - T0).total_seconds(), type(a.error).__name__) for a in attempts] == [
            (0, 0, "InjectedFault"), (1, 5, "NoneType")]  # fmt: skip


def test_a_result_is_seen_only_once_its_task_has_finished_in_virtual_time(app):
    """A task's body runs in one go, but its result is written at the virtual instant it finished.

    On a worker, a task that sleeps 30 s is PENDING for those 30 s; the result must not
    be readable from the test (or another task) before then.
    """
    seen = []

    @app.task(name="slow", bind=True, autoretry_for=(OSError,), max_retries=1, default_retry_delay=60)
    def slow(self):
        time.sleep(30)
        if self.request.retries == 0:
            raise OSError("first try")
        return "done"

    @app.task(name="peek")
    def peek(task_id):
        seen.append(app.AsyncResult(task_id).state)

    with jobsim.Simulation(app, start=START) as sim:
        result = slow.delay()
        peek.apply_async((result.id,), countdown=10)
        peek.apply_async((result.id,), countdown=50)
        sim.advance("10s")
        assert (result.state, result.ready()) == ("PENDING", False)
        sim.advance("25s")
        assert result.state == "RETRY"
        sim.advance("60s")  # the retry runs 90 s..120 s
        assert result.state == "RETRY"
        sim.run_until_idle()
        assert (result.state, result.get()) == ("SUCCESS", "done")
        assert seen == ["PENDING", "RETRY"]



def test_the_request_and_started_state_name_the_worker_not_the_machine(app):
    """``celery worker -n w1@box`` runs tasks with ``fast_trace_task``, whose hostname is the node name
    (``app/trace.py: setup_worker_optimizations``), in ``self.request.hostname`` and the STARTED meta:
    jobsim used ``trace_task_ret``, which reads ``socket.gethostname()`` — the machine running the test."""
    from jobsim_celery import CeleryTarget

    app.conf.task_track_started = True
    seen = []

    @app.task(bind=True, name="where")
    def where(self):
        seen.append(self.request.hostname)
        time.sleep(10)

    with jobsim.Simulation(CeleryTarget(app, hostname="w1@box"), start=START) as sim:
        result = where.delay()
        sim.advance("5s")
        assert result.info["hostname"] == "w1@box"
    assert seen == ["w1@box"]


def test_a_pickled_message_runs_when_accept_content_lists_pickle_as_on_a_worker(app):
    """A worker's consumer decodes with ``accept_content`` (``amqp.TaskConsumer``); jobsim's messages had no
    ``accept``, so kombu refused pickle (disabled by default) with ``ContentDisallowed`` from inside the worker."""
    app.conf.update(task_serializer="pickle", result_serializer="pickle", accept_content=["pickle", "json"])

    @app.task(name="next_day")
    def next_day(when):
        return when + dt.timedelta(days=1)

    with jobsim.Simulation(app, start=START) as sim:
        result = next_day.delay(T0)
        sim.run_until_idle()
        assert result.get() == at(86400)


def test_a_serializer_the_worker_does_not_accept_is_refused_at_the_call(app):
    """``task_serializer='pickle'`` with the default ``accept_content=['json']``: a real worker cannot decode the
    message ("Can't decode message body", ContentDisallowed) and discards it; the task never runs."""
    app.conf.task_serializer = "pickle"

    @app.task(name="noop")
    def noop():
        return None

    expected = (
        "task 'noop' is serialized with 'pickle' (application/x-python-serialize), which the worker's "
        "app.conf.accept_content ['json'] does not accept: a real worker would refuse to decode the message "
        "(kombu's ContentDisallowed) and the task would never run. Add 'pickle' to accept_content, or send it with "
        "a serializer accept_content lists (task_serializer, the task's serializer=, or apply_async(serializer=...))"
    )
    with jobsim.Simulation(app, start=START) as sim, pytest.raises(jobsim.InvalidArgument, match=re.escape(expected)):
        noop.delay()
    assert sim.runs("noop") == []


@pytest.mark.parametrize("limit", ["10/x", "ten/m", [10]])
def test_a_rate_limit_celery_cannot_read_is_named_when_the_worker_starts(app, limit):
    """A real worker reads every task's rate_limit as it starts and fails on one Celery's ``rate`` cannot read;
    jobsim raised Celery's bare ``KeyError: 'x'`` from deep inside its worker at the first message."""

    @app.task(name="ping", rate_limit=limit)
    def ping():
        return None

    with pytest.raises(jobsim.InvalidArgument, match=r"^rate_limit of task 'ping'=.* is not valid: tasks per second"):
        jobsim.Simulation(app, start=START).start()


@pytest.mark.parametrize("option", ["time_limit", "soft_time_limit"])
def test_a_time_limit_that_is_not_a_number_is_named(app, option):
    """``time_limit="30s"`` reached the pool's timer arithmetic: a ``TypeError`` from inside jobsim's worker."""

    @app.task(name="work")
    def work():
        return None

    with jobsim.Simulation(app, start=START) as sim:
        work.apply_async(**{option: "30s"})
        with pytest.raises(jobsim.InvalidArgument, match=rf"^{option} of task 'work'='30s' is not valid: a number of "
                           rf"seconds \(the task's {option}=, apply_async\({option}=...\) or app.conf.task_{option}\)"):
            sim.run_until_idle()


def test_message_protocol_1_is_refused_naming_the_setting(app):
    """``task_protocol = 1`` (a Celery 3 era setting) ended in ``TypeError: AMQP.as_task_v1() got multiple values
    for argument 'now'`` at the first ``delay()``."""
    app.conf.task_protocol = 1
    with pytest.raises(jobsim.UnsupportedFeature, match=r"^app.conf.task_protocol=1 is not simulated .* set "
                       r"app.conf.task_protocol = 2 for the simulation$"):
        jobsim.Simulation(app, start=START).start()


def test_a_node_name_without_its_prefix_is_read_as_celery_worker_n_reads_it(app):
    from jobsim_celery import CeleryTarget

    @app.task(bind=True, name="where")
    def where(self):
        return self.request.hostname

    with jobsim.Simulation(CeleryTarget(app, hostname="w1"), start=START) as sim:
        result = where.delay()
        sim.run_until_idle()
        assert result.get() == "celery@w1"


@pytest.mark.parametrize(("option", "value", "accepted"), [
    ("queues", 5, "queue names (or kombu Queues), e.g. ['celery', 'emails']"),
    ("hostname", 5, "the worker's node name, as `celery worker -n` takes it: 'w1@box', or 'w1' (read as 'celery@w1')"),
    ("hostname", "w1@", "the worker's node name, as `celery worker -n` takes it"),
    ("beat", "no", "True (run app.conf.beat_schedule) or False"),
])  # fmt: skip
def test_celery_target_options_of_the_wrong_kind_are_named(app, option, value, accepted):
    """``queues=5`` was a bare ``TypeError: 'int' object is not iterable``; ``hostname=5`` and ``beat="no"`` were
    taken as they were (the hostname ended in ``self.request.hostname``; ``"w1@"`` would read the machine's name)."""
    from jobsim_celery import CeleryTarget

    with pytest.raises(jobsim.InvalidArgument, match=re.escape(f"{option}={value!r} is not valid: {accepted}")):
        jobsim.Simulation(CeleryTarget(app, **{option: value}), start=START).start()


def test_task_track_started_shows_started_from_the_body_s_virtual_start_until_it_ends(app):
    """With ``task_track_started`` Celery's tracer stores STARTED (with the worker's pid and hostname) as
    the body starts: the test and other tasks see it for the body's virtual 30 s, then SUCCESS. The README
    listed these states among what is not simulated."""
    app.conf.task_track_started = True
    seen = []

    @app.task(name="slow")
    def slow():
        time.sleep(30)
        return "done"

    @app.task(name="peek")
    def peek(task_id):
        seen.append(app.AsyncResult(task_id).state)

    with jobsim.Simulation(app, start=START) as sim:
        result = slow.apply_async(countdown=5)
        peek.apply_async((result.id,), countdown=10)
        sim.advance("4s")
        assert result.state == "PENDING"
        sim.advance("2s")
        assert result.state == "STARTED" and set(result.info) == {"pid", "hostname"}
        sim.advance("28s")
        assert result.state == "STARTED"
        sim.advance("1s")
        assert (result.state, result.get()) == ("SUCCESS", "done")
        assert seen == ["STARTED"]

def test_a_task_passed_as_the_target_is_refused_naming_its_app(app):
    """``Simulation(send_invoice)`` instead of ``Simulation(app)`` said only "a jobsim.App or a target a
    backend plugin adapts", with the install line of every plugin, though jobsim-celery is installed."""

    @app.task(name="send_invoice")
    def send_invoice():
        return None

    with pytest.raises(jobsim.InvalidArgument, match=r"targets=<@task: send_invoice of tests.*> is not valid: a "
                       r"Celery task; jobsim-celery simulates a whole app: pass its app, "
                       r"jobsim.Simulation\(send_invoice.app\)"):
        jobsim.Simulation(send_invoice)



def _parts_and_total(app):
    """``app`` with a ``part`` task (returns its argument) and a ``total`` one (sums a chord's results)."""

    @app.task(name="part", shared=False)
    def part(i):
        return i

    @app.task(name="total", shared=False)
    def total(parts):
        return sum(parts)

    return app, part, total

def test_an_app_without_a_result_backend_reads_no_results_as_in_production():
    """Celery's ``DisabledBackend``: ``get()`` raises ``NotImplementedError`` and a chord (or a group chained to a
    task) is refused at its call. The simulation's own backend answered both, so a test passed that production
    fails. ``sim.celery.result(run)`` still reads what the simulation kept."""
    import celery
    from celery import chain, chord, group

    app, part, total = _parts_and_total(
        celery.Celery("nobackend", broker="redis://127.0.0.1:1/0", set_as_current=False))
    with jobsim.Simulation(app, start=START) as sim:
        result = part.delay(3)
        sim.run_until_idle()
        assert sim.runs("part")[0].status == "completed"
        for read in (result.get, lambda: result.state, lambda: group([part.s(1)]).apply_async().join()):
            with pytest.raises(NotImplementedError, match=r"^No result backend is configured\."):
                read()
        for canvas in (chord([part.s(1), part.s(2)], total.s()), chain(group(part.s(1), part.s(2)), total.s())):
            with pytest.raises(NotImplementedError, match=r"^Starting chords requires a result backend"):
                canvas.apply_async()
        assert sim.celery.result(sim.runs("part")[0]).get() == 3
        sim.run_until_idle()
        assert len(sim.runs("total")) == 0


def test_the_rpc_result_backend_refuses_chords_as_in_production():
    """Celery's ``RPCBackend`` (``result_backend = "rpc://"``, common with RabbitMQ) raises ``NotImplementedError``
    for a chord; the simulation's backend ran it, so a test passed that production fails."""
    import celery
    from celery import chain, chord, group

    app, part, total = _parts_and_total(
        celery.Celery("rpc", broker="amqp://127.0.0.1:1//", backend="rpc://", set_as_current=False))
    with jobsim.Simulation(app, start=START) as sim:
        for canvas in (chord([part.s(1), part.s(2)], total.s()), chain(group(part.s(1), part.s(2)), total.s())):
            with pytest.raises(NotImplementedError, match=r'^The "rpc" result backend does not support chords!'):
                canvas.apply_async()
        result = group(part.s(1), part.s(2)).apply_async()
        sim.run_until_idle()
        assert result.get() == [1, 2] and sim.runs("total") == []


def test_a_shared_task_bound_to_celerys_default_app_says_how_to_make_yours_current(app):
    """With the user's app not current, a ``@shared_task`` sends through Celery's fallback app, named "default":
    the hint for that case never showed (it checked for an app with no name), and the fix said to pass that app."""
    from celery import _state, shared_task

    finalizers, current = set(_state._on_app_finalizers), _state._tls.current_app
    _state._set_current_app(None)  # no app of the user's is current (the fixture's is not set_as_current)
    try:
        @shared_task(name="shared.ping")
        def ping():
            return "pong"

        message = (r"^task 'shared\.ping' was sent through Celery's default app, not yours: it would go to its "
                   r"real broker \(amqp://.*app\.set_current\(\)")
        with jobsim.Simulation(app, start=START), pytest.raises(JobsimError, match=message):
            ping.delay()
    finally:  # a shared task joins every app finalized later in the process: keep it to this test
        _state._on_app_finalizers.clear()
        _state._on_app_finalizers.update(finalizers)
        _state._set_current_app(current)


def _ids_of_b(app, extra_a):
    @app.task(name="a", shared=False)  # app2 below is a plain Celery app: a shared task would join every later one
    def a():
        return None

    @app.task(name="b", shared=False)
    def b():
        return None

    with jobsim.Simulation(app, start=START, seed=3) as sim:
        for _ in range(extra_a):
            a.delay()
        sent = b.delay().id
        frozen = b.s().freeze().id  # canvas draws its id with kombu's uuid(): the signature's task's stream too
        chained = (b.si() | b.si()).apply_async().id
        sim.run_until_idle()
    return sent, frozen, chained, [run.id for run in sim.runs("b")]


def test_a_task_sending_more_moves_no_other_tasks_ids(app):
    # every id came from one generator of the plugin: one more a.delay() renamed every b after it
    alone = _ids_of_b(app, 0)
    app2 = type(app)("again", broker="redis://127.0.0.1:1/0", set_as_current=False)
    assert _ids_of_b(app2, 3) == alone
    rng = random.Random("jobsim:3:b")  # b's own stream of seed 3 (sim.rng_for)
    assert alone[0] == str(uuid.UUID(int=rng.getrandbits(128), version=4))


def test_a_task_sent_before_its_simulation_starts_is_refused_not_sent_to_the_real_broker(app):
    # an unstarted simulation guarded nothing: delay() reached the app's broker (a connection error here, a real
    # message with a developer's Redis running)
    @app.task(name="add")
    def add(x, y):
        return x + y

    sim = jobsim.Simulation(app, start=START)
    with pytest.raises(JobsimError, match=r"^Celery.send_task\(\) was called while a jobsim.Simulation that runs this "
                                          r"celery code \(built at .*test_celery_tasks.py:\d+ in test_a_task_sent_.*\) "
                                          r"has not started: .* Start the simulation first"):  # fmt: skip
        add.delay(1, 2)
    with sim:
        result = add.delay(1, 2)
        sim.run_until_idle()
        assert result.get() == 3
    unused = jobsim.Simulation(app, start=START)
    assert getattr(type(app).send_task, "_jobsim_guard", False)  # held (ClassGuard marks its wrappers)
    unused.close()  # built and closed, never started: the app is the test's again, Celery's own send_task
    assert not getattr(type(app).send_task, "_jobsim_guard", False)


def test_a_second_simulation_of_a_running_app_is_refused_and_leaves_the_first_running(app):
    """The refusal is the error (not a KeyError from undoing patches never made), and closing the refused simulation
    undoes nothing of the running one: its sends, its world and eager mode kept off stay in place."""

    @app.task(name="double")
    def double(x):
        return 2 * x

    with jobsim.Simulation(app, start=START) as sim:
        with pytest.raises(JobsimError, match="Celery app 'tests' is already running in another simulation"):
            jobsim.Simulation(app, start=START).__enter__()
        app.conf.task_always_eager = True
        result = double.delay(21)
        assert not result.ready()
        sim.run_until_idle()
        assert result.get() == 42
