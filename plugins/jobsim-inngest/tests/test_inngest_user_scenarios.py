"""The mission's scenarios with inngest-py, written from README.md as an Inngest user would write them."""

from __future__ import annotations

import datetime as dt
import itertools

import httpx
import inngest

import jobsim


def test_daily_report_at_9_new_york_time_crosses_the_march_dst_change(client):
    @client.create_function(fn_id="daily-report", trigger=inngest.TriggerCron(cron="TZ=America/New_York 0 9 * * *"))
    def daily_report(ctx: inngest.ContextSync) -> str:
        return ctx.event.data["scheduledAt"]

    with jobsim.Simulation(daily_report, client, start="2025-03-07T00:00:00Z") as sim:
        sim.advance_to("2025-03-11T00:00:00Z")
    # 09:00 EST = 14:00Z; from Sunday 2025-03-09, 09:00 EDT = 13:00Z
    assert [run.output for run in sim.runs(daily_report)] == [
        "2025-03-07T14:00:00Z", "2025-03-08T14:00:00Z", "2025-03-09T13:00:00Z", "2025-03-10T13:00:00Z"]


def test_abandoned_cart_reminder_cancelled_by_a_checkout(client):
    @client.create_function(
        fn_id="cart-reminder", trigger=inngest.TriggerEvent(event="cart/abandoned"),
        cancel=[inngest.Cancel(event="cart/checked_out", if_exp="event.data.cartId == async.data.cartId")],
    )
    def cart_reminder(ctx: inngest.ContextSync) -> str:
        ctx.step.sleep("wait-a-day", dt.timedelta(hours=24))
        return ctx.step.run("remind", lambda: f"reminded {ctx.event.data['cartId']}")

    with jobsim.Simulation(cart_reminder, client, start="2025-03-01T09:00:00Z") as sim:
        client.send_sync([inngest.Event(name="cart/abandoned", data={"cartId": c}) for c in ("c1", "c2")])
        sim.advance("23h")
        client.send_sync(inngest.Event(name="cart/checked_out", data={"cartId": "c2"}))
        sim.run_until_idle()
    c1, c2 = sim.runs(cart_reminder)
    assert (c1.status, c1.output, c1.finished_at.isoformat()) == (
        "completed", "reminded c1", "2025-03-02T09:00:00+00:00")
    assert c2.status == "cancelled"


def test_batched_notifications(client):
    @client.create_function(
        fn_id="digest", trigger=inngest.TriggerEvent(event="notification/send"),
        batch_events=inngest.Batch(max_size=3, timeout=dt.timedelta(seconds=30), key="event.data.userId"),
    )
    def digest(ctx: inngest.ContextSync) -> list:
        return [e.data["text"] for e in ctx.events]

    with jobsim.Simulation(digest, client, start="2025-03-01T09:00:00Z") as sim:
        client.send_sync([inngest.Event(name="notification/send", data={"userId": "u1", "text": t})
                          for t in ("a", "b", "c", "d")])
        sim.run_until_idle()
    full, rest = sim.runs(digest)
    assert (full.output, full.started_at.strftime("%H:%M:%S")) == (["a", "b", "c"], "09:00:00")
    assert (rest.output, rest.started_at.strftime("%H:%M:%S")) == (["d"], "09:00:30")


def test_webhook_step_retried_on_inngests_backoff_table(client):
    @client.create_function(fn_id="deliver-webhook", trigger=inngest.TriggerEvent(event="webhook/queued"),
                            retries=3)
    def deliver(ctx: inngest.ContextSync) -> int:
        return ctx.step.run("post", lambda: httpx.post("https://partner.example.com/hooks")
                            .raise_for_status().status_code)

    with jobsim.Simulation(deliver, client, start="2025-03-01T09:00:00Z", seed=4) as sim:
        sim.http.post("https://partner.example.com/hooks").mock(
            side_effect=[httpx.Response(500), httpx.Response(500), httpx.Response(200)])
        client.send_sync(inngest.Event(name="webhook/queued"))
        sim.run_until_idle()
    run = sim.runs(deliver)[0]
    starts = [a.started_at for a in run.steps["post"].attempts]
    waits = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    # Inngest's table: 15 s then 30 s, each + U[0, 30 s) in whole milliseconds
    assert run.output == 200 and 15 <= waits[0] < 45 and 30 <= waits[1] < 60
    assert all(round(w * 1000) == w * 1000 for w in waits)


def test_a_misspelt_keyword_of_inngest_pys_own_step_api_stays_its_type_error(client):
    """jobsim-inngest defines no test-facing call of its own (no ``sim.inngest``): ``ctx.step.*`` is inngest-py's
    API, whose misspelt keyword is Python's ``TypeError`` in the SDK too -- an error of the function's code, retried
    as Inngest retries it, not a jobsim ``InvalidArgument``."""
    @client.create_function(fn_id="nap", trigger=inngest.TriggerEvent(event="nap/start"), retries=0)
    def nap(ctx: inngest.ContextSync) -> None:
        ctx.step.sleep("nap", duraton=dt.timedelta(minutes=5))

    with jobsim.Simulation(nap, client, start="2025-03-01T09:00:00Z") as sim:
        client.send_sync(inngest.Event(name="nap/start"))
        sim.run_until_idle()
    [run] = sim.runs(nap)
    assert run.status == "failed" and type(run.error) is TypeError and "duraton" in str(run.error)
