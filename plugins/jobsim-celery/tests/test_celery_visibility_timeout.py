"""A long ``countdown``/``eta`` on Redis (or SQS) comes back after the broker's visibility timeout.

The worker holds an ETA message unacknowledged until it is due. kombu's Redis transport scans its
unacknowledged index at worker start and then every ``unacked_restore_interval`` x
``unacked_restore_throttle`` (10 x 10 s) and restores every message fetched ``visibility_timeout``
(3600 s) or more ago; the worker receives the copy, holds it too, and every copy runs at the ETA.
Fetched at 0, a message is restored at the first scan strictly after 3600 s (3700 s), fetched again
there, restored at 7400 s, ... : a 24 h countdown runs 24 times. RabbitMQ holds it once.
"""

from __future__ import annotations

import datetime as dt

import pytest

import jobsim
from jobsim.errors import InvalidArgument

START = "2025-03-01T00:00:00Z"
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
DAY = 86400


def offsets(run):
    return [(a.started_at - T0).total_seconds() for a in run.attempts]


def redeliveries(sim):
    return [(r.at - sim.trace.records[0].at) / 1e9 for r in sim.trace.records if r.kind == "celery.redeliver"]


@pytest.fixture
def remind(app):
    sent = []

    @app.task(name="remind", bind=True)
    def remind(self, who):
        sent.append((who, self.request.delivery_info["redelivered"]))
        return who

    remind.sent = sent
    return remind


def reminded(app, remind, countdown=DAY, **options):
    with jobsim.Simulation(app, start=START) as sim:
        result = remind.apply_async(("ann",), countdown=countdown, **options)
        sim.run_until_idle()
        return sim, sim.runs("remind")[0], result


def test_a_24h_countdown_on_redis_runs_24_times_at_its_eta(app, remind):
    sim, run, result = reminded(app, remind)
    # copies fetched at 0, 3700, 7400, ..., 85100 s (23 x 3700): each held until the ETA, each run there
    assert redeliveries(sim) == [3700.0 * k for k in range(1, 24)]
    assert offsets(run) == [DAY] * 24
    assert remind.sent == [("ann", False)] + [("ann", True)] * 23
    assert run.status == "completed" and result.get() == "ann"
    records = [r for r in sim.trace.records if r.kind == "celery.redeliver"]
    assert {r.data["why"] for r in records} == {"visibility_timeout"}
    assert sum(1 for r in sim.trace.records if r.kind == "attempt" and r.data.get("redelivered")) == 23
    assert "held unacknowledged past the broker's visibility_timeout" in sim.timeline()


def test_the_same_with_acks_late(app, remind):
    remind.acks_late = True
    _, run, _ = reminded(app, remind)
    assert offsets(run) == [DAY] * 24


def test_a_visibility_timeout_above_the_countdown_runs_it_once(app, remind):
    app.conf.broker_transport_options = {"visibility_timeout": DAY + 1}
    sim, run, _ = reminded(app, remind)
    assert offsets(run) == [DAY] and redeliveries(sim) == []


def test_a_countdown_within_the_visibility_timeout_runs_once(app, remind):
    _, run, _ = reminded(app, remind, countdown=3700)  # due at the first scan that would restore it
    assert offsets(run) == [3700] and remind.sent == [("ann", False)]


@pytest.mark.parametrize("broker", ["amqp://guest@127.0.0.1:1//", "pyamqp://127.0.0.1:1//", "memory://"])
def test_rabbitmq_and_memory_brokers_hold_it_once(app, remind, broker):
    app.conf.broker_url = broker
    app.conf.broker_transport_options = {"visibility_timeout": "ignored by these transports"}
    sim, run, _ = reminded(app, remind)
    assert offsets(run) == [DAY] and redeliveries(sim) == []


def test_transport_options_set_the_timeout_and_the_scans(app, remind):
    app.conf.broker_transport_options = {"visibility_timeout": 45, "unacked_restore_interval": 2,
                                         "unacked_restore_throttle": 1}  # fmt: skip
    sim, run, _ = reminded(app, remind, countdown=200)
    # scans every 2 s from 0: fetched 0 -> 46 -> 92 -> 138 -> 184 (230 is past the ETA)
    assert redeliveries(sim) == [46, 92, 138, 184]
    assert offsets(run) == [200] * 5


def test_an_interval_of_zero_is_kombus_default_and_a_throttle_of_zero_scans_every_call(app, remind):
    app.conf.broker_transport_options = {"visibility_timeout": 30, "unacked_restore_interval": 0,
                                         "unacked_restore_throttle": 0}  # fmt: skip
    sim, _, _ = reminded(app, remind, countdown=100)
    assert redeliveries(sim) == [40, 80]  # scans every 10 s


def test_unacked_restore_limit_restores_the_newest_first(app, remind):
    app.conf.broker_transport_options = {"visibility_timeout": 10, "unacked_restore_interval": 1,
                                         "unacked_restore_throttle": 1, "unacked_restore_limit": 1}  # fmt: skip
    with jobsim.Simulation(app, start=START) as sim:
        first = remind.apply_async(("a",), countdown=25)
        sim.advance("0.5s")
        second = remind.apply_async(("b",), countdown=25)
        sim.run_until_idle()
    order = [(r.at - sim.trace.records[0].at) / 1e9 for r in sim.trace.records if r.kind == "celery.redeliver"]
    ids = [r.data["id"] for r in sim.trace.records if r.kind == "celery.redeliver"]
    # both overdue at the scan of 11 s; one a scan: the newest (b, fetched at 0.5 s) first, a at 12 s
    assert list(zip(order, ids, strict=True)) == [(11, second.id), (12, first.id), (22, second.id), (23, first.id)]


def test_sqs_shows_it_again_every_visibility_timeout_without_a_redelivered_flag(app, remind):
    app.conf.broker_url = "sqs://"
    sim, run, _ = reminded(app, remind, countdown=7200)
    assert redeliveries(sim) == [1800, 3600, 5400]  # kombu's SQS default: 1800 s
    assert offsets(run) == [7200] * 4
    assert remind.sent == [("ann", False)] * 4


def test_revoking_it_revokes_every_copy(app, remind):
    with jobsim.Simulation(app, start=START) as sim:
        result = remind.apply_async(("ann",), countdown=DAY)
        sim.advance("3h")  # copies fetched at 0, 3700 and 7400 s are held
        result.revoke()
        sim.run_until_idle()
        run = sim.runs("remind")[0]
    # the copy restored at 11100 s is discarded (and acknowledged) on receipt: no more after it
    assert redeliveries(sim) == [3700, 7400, 11100]
    assert remind.sent == [] and result.state == "REVOKED" and run.status == "cancelled"
    revoked = [(r.at - sim.trace.records[0].at) / 1e9 for r in sim.trace.records if r.kind == "celery.revoked"]
    assert revoked == [11100, DAY, DAY, DAY]  # the held copies at their ETA


def test_expires_ends_the_copies(app, remind):
    sim, run, _ = reminded(app, remind, expires=7200)
    assert redeliveries(sim) == [3700, 7400]  # the copy of 7400 s is expired on receipt and acknowledged
    expired = [r for r in sim.trace.records if r.kind == "celery.revoked"]
    assert [r.data["reason"] for r in expired] == ["expired"] * 3 and remind.sent == []
    assert run.status == "cancelled"


def test_a_worker_crash_returns_one_copy_of_the_message(app, remind):
    with jobsim.Simulation(app, start=START) as sim:
        remind.apply_async(("ann",), countdown=DAY)
        sim.celery.crash_worker(at="2025-03-01T02:00:00Z")  # holding the copies of 0 and 3700 s
        sim.run_until_idle()
        run = sim.runs("remind")[0]
    # one unacked entry, the copy of 3700 s: due 7300 s; the restarted worker scans at 7200, 7300, 7400 ...
    # strictly after 7300 s: 7400 (the crash's record, at 7200, says so); then every 3700 s. The two copies
    # the dead worker held never run: 22 runs, from the copies fetched at 7400 ... 85100 s
    assert redeliveries(sim) == [3700, 7200] + [7400 + 3700.0 * k for k in range(1, 22)]
    dues = [r.data["due"] - sim.trace.records[0].at for r in sim.trace.records if r.kind == "celery.redeliver"]
    assert dues[1] == 7400 * 10**9
    assert offsets(run) == [DAY] * 22


def test_a_worker_crash_on_sqs_flags_no_copy_redelivered(app, remind):
    """SQS receives the stored body again under a new receipt handle: kombu sets no ``redelivered`` on any copy,
    the one a crash returns included (it used to be flagged, and every later copy made from it too)."""
    app.conf.broker_url = "sqs://"
    with jobsim.Simulation(app, start=START) as sim:
        remind.apply_async(("ann",), countdown=7200)
        sim.celery.crash_worker(at="2025-03-01T00:45:00Z")  # holding the copies received at 0 and 1800 s
        sim.run_until_idle()
    # the copy of 1800 s is visible again at 3600 s, received then, and again at 5400 s: two runs at the ETA
    assert redeliveries(sim) == [1800, 2700, 5400]
    assert remind.sent == [("ann", False)] * 2


def test_the_copies_are_the_same_in_every_run(app, remind):
    def trace():
        with jobsim.Simulation(app, start=START, seed=7) as sim:
            remind.apply_async(("ann",), countdown=DAY, task_id="fixed")
            sim.run_until_idle()
            return [(r.at, r.kind, sorted(map(str, r.data.items()))) for r in sim.trace.records]

    assert trace() == trace()


@pytest.mark.parametrize(("options", "named"), [
    ({"visibility_timeout": "3600"}, "visibility_timeout"),
    ({"visibility_timeout": 0}, "visibility_timeout"),
    ({"visibility_timeout": -1}, "visibility_timeout"),
    ({"visibility_timeout": float("inf")}, "visibility_timeout"),
    ({"unacked_restore_interval": None}, "unacked_restore_interval"),
    ({"unacked_restore_throttle": 2.5}, "unacked_restore_throttle"),
    ({"unacked_restore_throttle": -1}, "unacked_restore_throttle"),
    ({"unacked_restore_limit": 0}, "unacked_restore_limit"),
    ({"unacked_restore_limit": "10"}, "unacked_restore_limit"),
])  # fmt: skip
def test_bad_transport_options_are_refused_when_the_simulation_is_built(app, remind, options, named):
    app.conf.broker_transport_options = options
    with pytest.raises(InvalidArgument, match=f"broker_transport_options\\['{named}'\\]"):
        jobsim.Simulation(app, start=START)


def test_worker_deduplicate_successful_tasks_runs_the_body_once(app, remind):
    """Celery's own guard (``worker_deduplicate_successful_tasks``, with ``acks_late`` and a persistent
    result backend): a redelivered copy of a task already SUCCESS is acknowledged without running."""
    app.conf.worker_deduplicate_successful_tasks = True
    remind.acks_late = True
    sim, run, _ = reminded(app, remind)
    assert remind.sent == [("ann", False)] and offsets(run) == [DAY] and run.status == "completed"
    assert len(redeliveries(sim)) == 23
    assert sum(1 for r in sim.trace.records if r.kind == "celery.deduplicated") == 23
    assert "not run (worker_deduplicate_successful_tasks)" in sim.timeline()


def test_the_guard_needs_acks_late(app, remind):
    app.conf.worker_deduplicate_successful_tasks = True
    reminded(app, remind)
    assert len(remind.sent) == 24


def test_a_trace_with_the_copies_saves_and_reads_back(app, remind, tmp_path):
    from jobsim import traces

    sim, _, _ = reminded(app, remind, countdown=7200)
    path = sim.trace.save(tmp_path / "vt.jobsim.jsonl")
    (record,) = [r for r in traces.iter_records(path) if r.kind == "celery.redeliver"]
    assert record.data["why"] == "visibility_timeout"
