"""A 2-hour outage across the 09:00 cron: the system is down from 08:00 to 10:00 UTC.

``daily-report`` (09:00) and ``sync-inventory`` (every 30 min) are due while the
system is down. A persistent system runs what it owes at 10:00 — all missed ticks
(Inngest self-hosted, Quirrel: the next tick is computed from the scheduled one),
or the first (BullMQ's job scheduler and Trigger.dev's schedule keep one pending job;
Agenda runs an overdue job once). Those three compute the next tick from the instant
the catch-up runs: on BullMQ and Agenda the 10:00 sync is that catch-up (the 08:00
tick, late), not a second run beside it; Trigger.dev's next is the latest tick not yet
passed, so its 10:00 tick runs too. node-cron and Vercel Cron keep nothing: the ticks
are lost.
Run it: ``jobsim compare examples/scenarios/outage.py``.
"""

from __future__ import annotations

from typing import Any

import jobsim

from ._mail import send_email


def build() -> jobsim.App:
    app = jobsim.App("ops")

    @app.function("daily-report", cron="0 9 * * *")
    def daily_report(ctx: Any) -> str:
        return send_email("ceo@acme.test", "Daily report", f"for {ctx.event.data['scheduledAt'][:10]}")

    @app.function("sync-inventory", cron="*/30 * * * *")
    def sync_inventory(ctx: Any) -> str:
        return str(ctx.event.data["scheduledAt"])

    return app


def play(sim: jobsim.Simulation) -> None:
    sim.downtime("2025-03-03T08:00:00Z", "2025-03-03T10:00:00Z")
    sim.advance_to("2025-03-04T00:00:00Z")


scenario = jobsim.Scenario(
    name="outage-0900",
    description="the system is down 08:00-10:00 UTC, across the 09:00 report and four 30-minute syncs",
    build=build, play=play, start="2025-03-03T00:00:00Z",
)  # fmt: skip
