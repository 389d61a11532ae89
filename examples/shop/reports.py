"""§3.2 SCHEDULED/CRON JOB: ``daily-report``, every day at 09:00 in New York.

09:00 America/New_York is 14:00 UTC in winter (EST) and 13:00 UTC from the second
Sunday of March (EDT). The report covers "yesterday" in that zone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import jobsim

from .core import REPORT_TZ, Shop, utcnow
from .db import iso
from .mailer import tags


def register(shop: Shop) -> None:
    app, db = shop.app, shop.db
    zone = ZoneInfo(REPORT_TZ)

    @app.function(
        "daily-report",
        cron="0 9 * * *",
        tz=REPORT_TZ,
        # The seed gives no minTimeout; 1 s as in the welcome email (examples/README.md).
        retries=jobsim.Retries(attempts=2, backoff="exponential", min="1s", max="1h"),
    )
    def daily_report(ctx: Any) -> dict[str, Any]:
        # Outside any step: re-runs on every request, as in the seed. New York day boundaries,
        # where the seed uses the host's zone (examples/README.md explains why).
        yesterday = (utcnow().astimezone(zone) - dt.timedelta(days=1)).date()
        start = dt.datetime.combine(yesterday, dt.time.min, zone)
        end = dt.datetime.combine(yesterday, dt.time.max, zone)

        def fetch_report_data() -> dict[str, Any]:
            return {"date": yesterday.isoformat(), **db.sales_between(start, end)}

        report = ctx.step.run("fetch-report-data", fetch_report_data)
        html = _report_html(report)
        admin_emails = ctx.step.run("get-admin-emails", db.admin_emails)

        def send_report_email() -> dict[str, Any]:
            data, error = shop.resend.send(
                from_="Acme Reports <reports@acme.com>",
                to=admin_emails,
                subject=f"Daily Sales Report - {report['date']}",
                html=html,
                text=(
                    f"Daily Sales Report for {report['date']}\n\n"
                    f"Total Orders: {report['orders']}\n"
                    f"Total Revenue: ${report['revenue']:.2f}\n"
                    f"New Customers: {report['newCustomers']}"
                ),
                tags=tags(category="daily_report", report_date=report["date"]),
            )
            if error:
                raise RuntimeError(f"Report email failed: {error['message']}")
            # The seed's `data?.map(...)` throws on Resend's single object (examples/README.md).
            return {"messageIds": [(data or {}).get("id")]}

        if admin_emails:
            ctx.step.run("send-report-email", send_report_email)

        def store_report() -> None:
            db.reports.append(
                {"type": "DAILY_SALES", "date": start, "data": report, "generatedAt": utcnow()}
            )

        ctx.step.run("store-report", store_report)
        return {
            "success": True,
            "reportDate": report["date"],
            "metrics": {k: report[k] for k in ("orders", "revenue", "newCustomers")},
            "recipients": len(admin_emails),
        }


def _report_html(report: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{p['productId']}</td><td>{p['_sum']['quantity']}</td></tr>"
        for p in report["topProducts"]
    )
    top = (
        '<h2>Top Products</h2><table border="1" cellpadding="10" cellspacing="0">'
        f"<tr><th>Product ID</th><th>Quantity Sold</th></tr>{rows}</table>"
        if report["topProducts"]
        else ""
    )
    return (
        f"<h1>Daily Sales Report - {report['date']}</h1><h2>Summary</h2>"
        '<table border="1" cellpadding="10" cellspacing="0"><tr><th>Metric</th><th>Value</th></tr>'
        f"<tr><td>Total Orders</td><td>{report['orders']}</td></tr>"
        f"<tr><td>Total Revenue</td><td>${report['revenue']:.2f}</td></tr>"
        f"<tr><td>New Customers</td><td>{report['newCustomers']}</td></tr></table>"
        f"{top}<p><em>Report generated at {iso(utcnow())}</em></p>"
    )
