"""A worker crash mid-step: the nightly billing run's worker dies 10 s into sending receipts.

``charge-cards`` calls the payment API; ``send-receipts`` emails the receipts, then
spends 20 s rendering PDFs; the worker dies at 09:00:10, inside that step. Inngest
retries the step (the charge is memoized: one charge, but the receipt goes out
again). BullMQ's stalled-job checker re-queues the job at 09:00:30 and it runs
from the start (two charges, two receipts); Agenda does the same once the
10-minute lock expires. Trigger.dev notices 5 minutes later (no heartbeat) and
Quirrel after 60 minutes (stale), and with no retries configured both fail the
run. node-cron and Vercel Cron never notice: the run is lost. Run it:
``jobsim compare examples/scenarios/crash_mid_step.py``.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

import jobsim

from ._mail import send_email

PAYMENTS = "https://payments.example.com/charge"


def build() -> jobsim.App:
    app = jobsim.App("billing")

    @app.function("nightly-billing", cron="0 9 * * *")
    def nightly_billing(ctx: Any) -> str:
        ctx.step.run("charge-cards", charge)
        ctx.step.run("send-receipts", send_receipts)
        return "billed"

    return app


def charge() -> int:
    return int(httpx.post(PAYMENTS, json={"batch": "nightly"}).raise_for_status().json()["charged"])


def send_receipts() -> None:
    send_email("billing@acme.test", "Your receipts", "attached")
    time.sleep(20)  # rendering the PDFs: 20 s of virtual time


def play(sim: jobsim.Simulation) -> None:
    sim.http.post(PAYMENTS).respond(200, json={"charged": 42})
    sim.crash_worker(at="2025-03-03T09:00:10Z", function="nightly-billing")
    sim.advance_to("2025-03-03T12:00:00Z")


def charges(sim: jobsim.Simulation, function: str) -> int:
    return sum(1 for call in sim.http.calls if str(call.request.url) == PAYMENTS)


scenario = jobsim.Scenario(
    name="crash-mid-step",
    description="the billing worker dies at 09:00:10, 10 s into 'send-receipts' (after 'charge-cards')",
    build=build, play=play, start="2025-03-03T00:00:00Z", metrics={"charges": charges},
)  # fmt: skip
