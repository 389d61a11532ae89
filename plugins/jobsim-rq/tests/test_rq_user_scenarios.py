"""The mission's scenarios on RQ, written from README.md as an RQ user would write them."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from jobsim_rq import Worker
from rq import Retry
from rq_log import LOG
from rq_user_jobs import charge, deliver_webhook, gateway_down, remind_cart, reserve

import jobsim


def _times(run):
    return [a.started_at.strftime("%d %H:%M:%S") for a in run.attempts]


def test_abandoned_cart_reminder_enqueued_in_24_hours(queue):
    with jobsim.Simulation(queue, start="2025-03-01T09:00:00Z") as sim:
        job = queue.enqueue_in(timedelta(hours=24), remind_cart, "c1")
        sim.advance("23h59m59s")
        assert job.get_status() == "scheduled" and LOG == []
        sim.advance("1s")
        assert job.get_status() == "finished" and job.return_value() == "reminded c1"
        assert _times(sim.runs(remind_cart)[0]) == ["02 09:00:00"]


def test_a_reminder_cancelled_before_it_is_due_never_runs(queue):
    with jobsim.Simulation(queue, start="2025-03-01T09:00:00Z") as sim:
        job = queue.enqueue_in(timedelta(hours=24), remind_cart, "c1")
        sim.advance("3h")
        job.cancel()  # the cart was checked out
        sim.run_until_idle()
        assert job.get_status() == "canceled" and LOG == []


def test_retry_intervals_10_30_60_are_waited_in_order(queue):
    with jobsim.Simulation(queue, start="2025-03-01T09:00:00Z") as sim:
        job = queue.enqueue(gateway_down, "o1", retry=Retry(max=3, interval=[10, 30, 60]))
        sim.run_until_idle()
        # index = max(len(intervals) - retries_left, 0): retries_left 3, 2, 1 -> 10, 30, 60 s
        assert _times(sim.runs(gateway_down)[0]) == ["01 09:00:00", "01 09:00:10", "01 09:00:40", "01 09:01:40"]
        assert job.get_status() == "failed"


def test_webhook_retried_against_the_http_sink(queue):
    with jobsim.Simulation(queue, start="2025-03-01T09:00:00Z") as sim:
        route = sim.http.post("https://partner.example.com/hooks").mock(
            side_effect=[httpx.Response(502), jobsim.timeout(), httpx.Response(200)])
        job = queue.enqueue(deliver_webhook, "https://partner.example.com/hooks", {"id": 1},
                            retry=Retry(max=3, interval=[10, 30, 60]))
        sim.run_until_idle()
        assert job.return_value() == 200 and route.call_count == 3
        # waits 10 s after the 502; the timed-out call took httpx's 5 s, then 30 s
        assert _times(sim.runs(deliver_webhook)[0]) == ["01 09:00:00", "01 09:00:10", "01 09:00:45"]


def test_order_processing_with_depends_on(queue):
    with jobsim.Simulation(queue, start="2025-03-01T09:00:00Z") as sim:
        reserved = queue.enqueue(reserve, "o1")
        charged = queue.enqueue(charge, "o1", depends_on=reserved)
        assert charged.get_status() == "deferred"
        sim.run_until_idle()
        assert (reserved.return_value(), charged.return_value()) == ("reserved o1", "charged o1")


@pytest.mark.parametrize(("call", "meant"), [
    (lambda queue, sim: Worker([queue], cnt=3), "count"),
    (lambda queue, sim: sim.rq.stop("some-id", att="2025-03-01T10:00:00Z"), "at"),
    (lambda queue, sim: sim.rq.crash_worker(knd="horse"), "kind"),
    (lambda queue, sim: sim.rq.job(jobid="some-id"), "job_id"),
])
def test_a_misspelt_keyword_names_the_one_meant(queue, call, meant):
    with jobsim.Simulation(queue, start="2025-03-01T09:00:00Z") as sim, pytest.raises(jobsim.InvalidArgument) as info:
        call(queue, sim)
    assert f"(did you mean {meant}=?)" in str(info.value)


def test_a_job_on_a_queue_no_worker_reads_stays_queued_as_the_readme_says(queue):
    from rq import Queue

    emails = Queue("emails", connection=queue.connection)
    with jobsim.Simulation(queue, start="2025-03-01T09:00:00Z") as sim:
        job = emails.enqueue(remind_cart, "c1")
        sim.leave_unread("emails")
        sim.run_until_idle()
        assert job.get_status() == "queued" and LOG == []
    with jobsim.Simulation([queue, emails], start="2025-03-01T09:00:00Z") as sim:
        job = emails.enqueue(remind_cart, "c1")
        sim.run_until_idle()
        assert job.get_status() == "finished" and LOG == ["c1"]
