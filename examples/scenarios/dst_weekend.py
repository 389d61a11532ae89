"""Nightly jobs across the DST weekends, in New York: 01:30 (fall back) and 02:30 (spring forward).

On 2025-11-02 01:30 happens twice; on 2026-03-08 02:30 does not happen. Inngest's
scheduler (robfig/cron) matches wall time instant by instant: billing runs twice
on the fall-back Sunday and the backup is skipped on the spring-forward Sunday.
The cron-parser systems (BullMQ, Trigger.dev, Quirrel, Agenda) run 01:30 once, the
first, as ISC cron does, and the missing 02:30 at 03:30, shifted by the gap (ISC cron
at 03:00). node-cron fires a repeated time once and skips a missing one. Vercel
Cron has no time zones at all. Run it: ``jobsim compare examples/scenarios/dst_weekend.py``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import jobsim

ZONE = "America/New_York"
FIRST_DAY, LAST_DAY = dt.date(2025, 10, 31), dt.date(2026, 3, 9)


def build() -> jobsim.App:
    app = jobsim.App("nightly")

    @app.function("nightly-billing", cron="30 1 * * *", tz=ZONE)
    def nightly_billing(ctx: Any) -> str:
        return str(ctx.event.data["scheduledAt"])

    @app.function("nightly-backup", cron="30 2 * * *", tz=ZONE)
    def nightly_backup(ctx: Any) -> str:
        return str(ctx.event.data["scheduledAt"])

    return app


def play(sim: jobsim.Simulation) -> None:
    sim.advance_to(dt.datetime.combine(LAST_DAY + dt.timedelta(days=1), dt.time(), sim.tz))


def _days(sim: jobsim.Simulation, function: str) -> Counter[dt.date]:
    return Counter(r.started_at.astimezone(sim.tz).date() for r in sim.runs(function))


def missed_days(sim: jobsim.Simulation, function: str) -> int:
    days = _days(sim, function)
    span = (LAST_DAY - FIRST_DAY).days + 1
    return sum(1 for i in range(span) if days[FIRST_DAY + dt.timedelta(days=i)] == 0)


def doubled_days(sim: jobsim.Simulation, function: str) -> int:
    return sum(1 for count in _days(sim, function).values() if count > 1)


scenario = jobsim.Scenario(
    name="dst-weekends",
    description="01:30 and 02:30 New York, 2025-10-31 to 2026-03-09 (fall back 11-02, spring forward 03-08)",
    build=build, play=play, start="2025-10-31T00:00:00-04:00", tz=ZONE,
    metrics={"skipped": missed_days, "doubled": doubled_days},  # days with no run, days with two
)  # fmt: skip
