"""A flaky email provider: the 09:00 digest's provider answers 503 to the first two requests each day.

Nothing is configured: each system answers with its defaults. Inngest retries
every step 4 times on its backoff table (15 s, 30 s, … + U[0, 30 s)), so the third
attempt gets through. BullMQ, Trigger.dev, Quirrel and Agenda retry only when
configured (the seed's table says "Auto" for Trigger.dev: its SDK leaves retries
off unless ``retry`` or ``retries.default`` is set); node-cron and Vercel Cron
never retry. Run it: ``jobsim compare examples/scenarios/flaky_email.py``.
"""

from __future__ import annotations

from typing import Any

import httpx

import jobsim

from ._mail import RESEND, send_email


def build() -> jobsim.App:
    app = jobsim.App("digest")

    @app.function("daily-digest", cron="0 9 * * *")
    def daily_digest(ctx: Any) -> str:
        day = ctx.event.data["scheduledAt"][:10]
        return ctx.step.run("send-digest", send_email, "team@acme.test", f"Digest {day}", "3 new orders")

    return app


def play(sim: jobsim.Simulation) -> None:
    answered: dict[str, int] = {}

    def flaky(request: httpx.Request) -> httpx.Response | None:
        day = sim.now.date().isoformat()
        answered[day] = answered.get(day, 0) + 1
        return httpx.Response(503, json={"message": "try later"}) if answered[day] <= 2 else None

    sim.http.post(RESEND).mock(side_effect=flaky)  # None: the provider (sim.mail) answers
    sim.advance_to("2025-03-06T00:00:00Z")


scenario = jobsim.Scenario(
    name="flaky-email",
    description="the digest's email provider answers 503 twice each morning (3 days, no retry settings)",
    build=build, play=play, start="2025-03-03T00:00:00Z",
)  # fmt: skip
