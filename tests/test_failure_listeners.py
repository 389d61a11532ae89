"""BullMQ's worker 'failed' and Agenda's 'fail' fire on every failed attempt (jobsim/_failhooks.py).

* BullMQ (worker.ts handleFailed): ``(job, err, prev)`` after ``moveToFailed`` has retried or
  failed the job and counted the attempt in ``attemptsMade``; ``finishedOn`` only when failed
  for good. The stalled-job limit is a deferred ``UnrecoverableError`` the next worker applies.
* Agenda 6.2.2 (Job.ts run): ``(err, job)`` after ``fail()``, before ``handleRetry``;
  ``failCount`` per job document.

Neither publishes ``inngest/function.failed``; Inngest and Trigger.dev are unchanged
(tests/test_profile_fidelity.py, tests/test_flow_cancel.py, tests/test_engine.py).
"""

import time

import pytest
from _readme import run_block

import jobsim
from jobsim._time import instant_ns, iso

START = "2026-03-02T00:00:00Z"
T0 = instant_ns(START) // 1_000_000  # ms


def hms(ns):
    return iso(ns)[11:23]


def app_failing(seen, retries, error=None, spend=2, fails=99):
    app = jobsim.App("pay")
    error = RuntimeError("card declined") if error is None else error
    left = [fails]

    def listen(ctx):
        seen.append((hms(ctx.event.ts * 1_000_000), ctx.event.name, ctx.event.data))

    @app.function("charge", on="order/paid", retries=retries, on_failure=listen)
    def charge(ctx):
        time.sleep(spend)
        if left[0] > 0:
            left[0] -= 1
            raise error
        return "ok"

    @app.function("audit", on="inngest/function.failed")
    def audit(ctx):
        return ctx.event.data["function_id"]

    return app


def simulate(app, profile, crashes=()):
    with jobsim.Simulation(app, start=START, profile=profile, seed=1) as sim:
        sim.send("order/paid", {"orderId": "o1"})
        for at in crashes:
            sim.crash_worker(at=at, function="charge")
        sim.run_until_idle()
    return sim


def bullmq_job(run_id, made, processed, finished=None, attempts=3, reason="card declined"):
    return {"id": run_id, "name": "charge", "data": {"orderId": "o1"}, "attemptsMade": made,
            "opts": {"attempts": attempts}, "failedReason": reason, "processedOn": T0 + processed,
            "finishedOn": None if finished is None else T0 + finished}  # fmt: skip


# -- BullMQ ----------------------------------------------------------------------------------------------


def test_bullmq_failed_fires_on_every_attempt_with_attempts_made_and_the_state_it_left():
    seen = []
    sim = simulate(app_failing(seen, jobsim.BullMQBackoff(3, "exponential", "1s")), "bullmq")
    (run,) = sim.runs("charge")
    err = {"name": "RuntimeError", "message": "card declined"}
    # attempts 0-2 s, 3-5 s (after 1 s), 7-9 s (after 2 s): the listener hears each as it fails
    assert seen == [
        ("00:00:02.000", "bullmq/worker.failed",
         {"job": bullmq_job(run.id, 1, 0), "err": err, "prev": "active", "state": "delayed"}),
        ("00:00:05.000", "bullmq/worker.failed",
         {"job": bullmq_job(run.id, 2, 3_000), "err": err, "prev": "active", "state": "delayed"}),
        ("00:00:09.000", "bullmq/worker.failed",
         {"job": bullmq_job(run.id, 3, 7_000, finished=9_000), "err": err, "prev": "active", "state": "failed"}),
    ]  # fmt: skip
    assert [hms(r.start_ns) for r in sim.runs("charge-failure")] == ["00:00:02.000", "00:00:05.000", "00:00:09.000"]
    assert all(r.status == "completed" for r in sim.runs("charge-failure"))
    # BullMQ has no inngest/function.failed: nothing is published, nothing triggered by it runs
    assert [e.name for e in sim.events] == ["order/paid"] and sim.runs("audit") == []


def test_bullmq_a_retry_without_backoff_leaves_the_job_waiting_and_a_recovery_ends_the_calls():
    seen = []
    sim = simulate(app_failing(seen, jobsim.Retries(attempts=3), fails=1), "bullmq")
    (run,) = sim.runs("charge")
    assert run.status == "completed" and hms(run.end_ns) == "00:00:04.000"
    ((at, _, data),) = seen  # the failed first attempt only; the successful second calls nothing
    assert at == "00:00:02.000" and data["state"] == "waiting" and data["job"]["attemptsMade"] == 1
    assert data["job"]["finishedOn"] is None


def test_bullmq_non_retriable_is_an_unrecoverable_error_failed_at_once():
    seen = []
    error = jobsim.NonRetriableError("card stolen")
    simulate(app_failing(seen, jobsim.BullMQBackoff(3, "fixed", "1s"), error=error), "bullmq")
    ((at, _, data),) = seen
    assert at == "00:00:02.000" and data["state"] == "failed"
    assert data["err"] == {"name": "UnrecoverableError", "message": "card stolen"}
    assert data["job"]["attemptsMade"] == 1 and data["job"]["finishedOn"] == T0 + 2_000


def test_bullmq_default_no_retries_one_call():
    seen = []
    sim = simulate(app_failing(seen, None), "bullmq")
    ((at, _, data),) = seen
    assert at == "00:00:02.000" and data["state"] == "failed" and data["job"]["opts"] == {"attempts": 1}
    assert len(sim.runs("charge-failure")) == 1


def test_bullmq_a_stall_is_not_a_failure_but_the_stall_limit_is_an_unrecoverable_one():
    """Crash at 10 s: re-run at the 30 s scan ('stalled', no 'failed'). Crash at 50 s (lock renewed at
    45 s, gone at 75 s): the 90 s scan sets the deferred failure, which the next worker applies then."""
    seen = []
    sim = simulate(app_failing(seen, jobsim.BullMQBackoff(3, "fixed", "1s"), spend=60), "bullmq",
                   crashes=["2026-03-02T00:00:10Z", "2026-03-02T00:00:50Z"])  # fmt: skip
    (run,) = sim.runs("charge")
    assert run.status == "failed" and hms(run.end_ns) == "00:01:30.000"
    reason = "job stalled more than allowable limit"
    assert seen == [
        (
            "00:01:30.000",
            "bullmq/worker.failed",
            {
                "job": bullmq_job(run.id, 1, 90_000, finished=90_000, reason=reason),
                "err": {"name": "UnrecoverableError", "message": reason},
                "prev": "active",
                "state": "failed",
            },
        )
    ]


# -- Agenda ----------------------------------------------------------------------------------------------


def test_agenda_fail_fires_on_every_failure_with_fail_count():
    seen = []
    sim = simulate(app_failing(seen, jobsim.AgendaBackoff(delay="1s", max_retries=2), spend=0.5), "agenda")
    (run,) = sim.runs("charge")
    assert run.status == "failed"

    def job(count, failed, ran):
        return {"attrs": {"_id": run.id, "name": "charge", "data": {"orderId": "o1"}, "failCount": count,
                          "failReason": "card declined", "failedAt": f"2026-03-02T{failed}Z",
                          "lastRunAt": f"2026-03-02T{ran}Z"}}  # fmt: skip

    err = {"name": "RuntimeError", "message": "card declined"}
    # exponential from 1 s, 0.5 s per attempt: the retries are due 1 s after the first failure (1.5) and 2 s
    # after the second, but Agenda finds each at its next 5 s poll (processEvery; jobsim/_polling.py), which
    # comes later: runs at 0, 5 and 10
    assert seen == [
        ("00:00:00.500", "agenda/fail", {"err": err, "job": job(1, "00:00:00.500", "00:00:00.000")}),
        ("00:00:05.500", "agenda/fail", {"err": err, "job": job(2, "00:00:05.500", "00:00:05.000")}),
        ("00:00:10.500", "agenda/fail", {"err": err, "job": job(3, "00:00:10.500", "00:00:10.000")}),
    ]
    assert [e.name for e in sim.events] == ["order/paid"] and sim.runs("audit") == []


def test_agenda_a_recurring_jobs_fail_count_goes_on_over_its_runs():
    """Agenda 6.2.2 never resets failCount on success: the listener sees 1, 2, 3, 4 over three runs."""
    seen = []
    app = jobsim.App("erp")
    outcomes = iter(["down", "ok", "down", "ok", "down", "down", "ok"])

    @app.function(
        "sync",
        cron="0 * * * *",
        retries=jobsim.AgendaBackoff(delay="1s", max_retries=3),
        on_failure=lambda ctx: seen.append(
            (hms(ctx.event.ts * 1_000_000), ctx.event.data["job"]["attrs"]["failCount"])
        ),
    )
    def sync(ctx):
        if next(outcomes) == "down":
            raise ConnectionError("ERP is down")

    with jobsim.Simulation(app, start=START, profile="agenda") as sim:
        sim.advance("4h30m")
    # the third run's retry (failCount 3: 4 s) is due 03:00:04; the poll at 03:00:00 looked before the failure,
    # so the 03:00:05 poll starts it, and it fails then
    assert seen == [("01:00:00.000", 1), ("02:00:00.000", 2), ("03:00:00.000", 3), ("03:00:05.000", 4)]


def test_agenda_a_crash_re_run_calls_no_fail_listener():
    seen = []
    sim = simulate(app_failing(seen, None, spend=60, fails=0), "agenda", crashes=["2026-03-02T00:00:10Z"])
    (run,) = sim.runs("charge")
    assert run.status == "completed" and len(run.attempts) == 2
    assert seen == [] and "charge-failure" not in sim.functions


@pytest.mark.parametrize("profile", ["bullmq", "agenda"])
def test_a_run_that_never_fails_calls_no_listener(profile):
    seen = []
    sim = simulate(app_failing(seen, None, fails=0), profile)
    assert seen == [] and "charge-failure" not in sim.functions


def test_inngest_still_announces_only_the_final_failure():
    seen = []
    sim = simulate(app_failing(seen, 2, spend=0), "inngest")
    ((_, name, data),) = seen
    assert name == "inngest/function.failed" and data["function_id"] == "charge"
    assert [e.name for e in sim.events] == ["order/paid", "inngest/function.failed"]
    assert [r.output for r in sim.runs("audit")] == ["charge"]


def test_the_readme_block_runs_as_written():
    run_block("bullmq/worker.failed")


def test_node_cron_execution_failed_carries_the_task_context_and_publishes_nothing():
    """node-cron 4 runner.ts runTask -> onError -> emit('execution:failed', createContext(date, execution))."""
    app = jobsim.App("n")
    seen = []

    @app.function("report", cron="0 9 * * *", tz="America/New_York",
                  on_failure=lambda ctx: seen.append((ctx.event.name, ctx.event.data)))  # fmt: skip
    def report(ctx):
        time.sleep(3)
        raise RuntimeError("db down")

    with jobsim.Simulation(app, start="2025-03-08T00:00:00Z", profile="node-cron") as sim:
        sim.crash_worker(at="2025-03-10T13:00:01Z")  # the process dies mid-run on the 10th: nothing is emitted
        sim.advance("3d")
    assert [run.status for run in sim.runs("report")] == ["failed", "failed", "lost"]
    assert [name for name, _ in seen] == ["node-cron/execution:failed"] * 2
    first, second = (data for _, data in seen)
    assert first == {
        "date": "2025-03-08T14:00:00.000Z", "dateLocalIso": "2025-03-08T09:00:00.000-05:00",
        "triggeredAt": "2025-03-08T14:00:03.000Z", "task": {"id": "report", "name": "report"},
        "execution": {"id": sim.runs("report")[0].id, "reason": "scheduled",
                      "startedAt": "2025-03-08T14:00:00.000Z", "finishedAt": "2025-03-08T14:00:03.000Z",
                      "error": {"name": "RuntimeError", "message": "db down"}},
    }  # fmt: skip
    assert second["dateLocalIso"] == "2025-03-09T09:00:00.000-04:00"  # across the DST change, in the task's zone
    assert [e.name for e in sim.events] == []  # a task's own emitter: no bus
