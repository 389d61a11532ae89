"""§3.2 ``daily-report``: cron ``0 9 * * *`` in America/New_York, 2 attempts.

09:00 in New York is 14:00 UTC until Sunday 2025-03-09, when clocks go forward at
02:00, and 13:00 UTC from that day on.
"""

from __future__ import annotations

import datetime as dt

import jobsim
from examples.shop import Shop
from examples.support import mail, only, step_times

UTC = dt.timezone.utc


def utc(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, second, tzinfo=UTC)


def add_admins(shop: Shop) -> None:
    shop.db.add_user("admin_1", "ops@acme.com", "Ops", role="ADMIN", created_at=utc(1, 0))
    shop.db.add_user("admin_2", "ceo@acme.com", "CEO", role="ADMIN", created_at=utc(1, 0))
    shop.db.add_user(
        "admin_3",
        "new@acme.com",
        "Unverified",
        role="ADMIN",
        created_at=utc(1, 0),
        email_verified=False,
    )


def completed_order(
    shop: Shop, order_id: str, created_at: dt.datetime, items: list[tuple[str, int, float]]
) -> None:
    order = {
        "orderId": order_id,
        "userId": "user_1",
        "amount": sum(q * p for _, q, p in items),
        "items": [
            {"productId": p, "variantId": f"var_{p}", "quantity": q, "price": price}
            for p, q, price in items
        ],
    }
    shop.db.add_order(order, created_at=created_at, status="COMPLETED")


def test_fires_at_0900_new_york_across_the_dst_change(sim: jobsim.Simulation) -> None:
    sim.advance_to("2025-03-12T00:00:00Z")

    starts = [r.started_at for r in sim.runs("daily-report")]
    assert starts == [
        utc(3, 14),
        utc(4, 14),
        utc(5, 14),
        utc(6, 14),
        utc(7, 14),
        utc(8, 14),
        utc(9, 13),
        utc(10, 13),
        utc(11, 13),
    ]
    assert {r.status for r in sim.runs("daily-report")} == {"completed"}
    assert [r.output["reportDate"] for r in sim.runs("daily-report")][5:8] == [
        "2025-03-07",
        "2025-03-08",
        "2025-03-09",
    ]


def test_report_covers_yesterday_in_new_york_and_goes_to_verified_admins(
    shop: Shop, sim: jobsim.Simulation
) -> None:
    add_admins(shop)
    completed_order(shop, "ord_1", utc(2, 5), [("tee", 2, 24.0), ("mug", 1, 18.5)])
    completed_order(
        shop, "ord_2", utc(3, 4, 59), [("tee", 1, 24.0)]
    )  # 23:59 on the 2nd in New York
    completed_order(
        shop, "ord_3", utc(3, 5, 0), [("cap", 5, 21.0)]
    )  # 00:00 on the 3rd: tomorrow's report
    completed_order(shop, "ord_4", utc(2, 4, 59), [("cap", 9, 21.0)])  # 23:59 on the 1st
    shop.db.add_user("user_1", "bo@example.com", "Bo", created_at=utc(2, 12))
    sim.advance_to(utc(3, 15))

    run = only(sim.runs("daily-report"))
    assert (run.status, run.started_at, run.finished_at) == ("completed", utc(3, 14), utc(3, 14))
    assert list(run.steps) == [
        "fetch-report-data",
        "get-admin-emails",
        "send-report-email",
        "store-report",
    ]
    assert run.output == {
        "success": True,
        "reportDate": "2025-03-02",
        "metrics": {"orders": 2, "revenue": 90.5, "newCustomers": 1},
        "recipients": 2,
    }
    email = only(mail(sim, "Daily Sales Report"))
    assert email.subject == "Daily Sales Report - 2025-03-02"
    assert (email.sender, email.to, email.sent_at) == (
        "reports@acme.com",
        ["ops@acme.com", "ceo@acme.com"],
        utc(3, 14),
    )
    assert email.text == (
        "Daily Sales Report for 2025-03-02\n\n"
        "Total Orders: 2\nTotal Revenue: $90.50\nNew Customers: 1"
    )
    assert "<tr><td>tee</td><td>3</td></tr><tr><td>mug</td><td>1</td></tr>" in email.html
    assert "Report generated at 2025-03-03T14:00:00.000Z" in email.html
    assert [r["data"]["date"] for r in shop.db.reports] == ["2025-03-02"]


def test_without_admins_no_email_but_the_report_is_stored(
    shop: Shop, sim: jobsim.Simulation
) -> None:
    sim.advance_to(utc(3, 15))

    run = only(sim.runs("daily-report"))
    assert list(run.steps) == ["fetch-report-data", "get-admin-emails", "store-report"]
    assert run.output["recipients"] == 0
    assert mail(sim, "Daily Sales Report") == []
    assert len(shop.db.reports) == 1


def test_a_failed_send_is_retried_once_after_1s(shop: Shop, sim: jobsim.Simulation) -> None:
    add_admins(shop)
    sim.fail("daily-report", step="send-report-email", times=1)
    sim.advance_to(utc(3, 15))

    run = only(sim.runs("daily-report"))
    assert step_times(run, "send-report-email") == [utc(3, 14), utc(3, 14, 0, 1)]
    assert (run.status, run.finished_at) == ("completed", utc(3, 14, 0, 1))
    assert only(mail(sim, "Daily Sales Report")).sent_at == utc(3, 14, 0, 1)


def test_two_failures_fail_the_run_and_tomorrow_still_fires(
    shop: Shop, sim: jobsim.Simulation
) -> None:
    add_admins(shop)
    sim.fail("daily-report", step="send-report-email", times=2)
    sim.advance_to(utc(4, 15))

    first, second = sim.runs("daily-report")
    assert step_times(first, "send-report-email") == [utc(3, 14), utc(3, 14, 0, 1)]
    assert (first.status, first.finished_at) == ("failed", utc(3, 14, 0, 1))
    assert isinstance(first.error, jobsim.InjectedFault)
    assert "store-report" not in first.steps
    assert (second.status, second.started_at) == ("completed", utc(4, 14))
    assert [m.subject for m in mail(sim, "Daily Sales Report")] == [
        "Daily Sales Report - 2025-03-03"
    ]
    assert [r["data"]["date"] for r in shop.db.reports] == ["2025-03-03"]
