"""A duplicated cron delivery: the 09:00 digest's tick arrives twice.

Vercel Cron documents that it "can occasionally invoke the same scheduled run more
than once": the digest goes out twice. Every other system creates one run per
tick (Inngest keys the run by the scheduled time, BullMQ by the scheduler job id,
Agenda locks the job, ...) and drops the copy. Run it:
``jobsim compare examples/scenarios/duplicate_tick.py``.
"""

from __future__ import annotations

from typing import Any

import jobsim

from ._mail import send_email


def build() -> jobsim.App:
    app = jobsim.App("digest")

    @app.function("daily-digest", cron="0 9 * * *")
    def daily_digest(ctx: Any) -> str:
        return send_email("team@acme.test", "Digest", f"for {ctx.event.data['scheduledAt'][:10]}")

    return app


def play(sim: jobsim.Simulation) -> None:
    sim.duplicate_delivery("daily-digest", times=1)  # the first tick, 2025-03-03 09:00
    sim.advance_to("2025-03-05T00:00:00Z")


scenario = jobsim.Scenario(
    name="duplicate-tick",
    description="the 03-03 09:00 tick of the daily digest is delivered twice (2 days)",
    build=build, play=play, start="2025-03-03T00:00:00Z",
)  # fmt: skip
