"""A small app whose story has every kind of trace record, and knobs that change 'today's code'.

``build(**changes)`` returns a fresh app; ``record(app)`` runs the recorded
scenario on it: two signups (one a duplicate sent twice), a CRM that answers 500
once, mail through Resend, a sleep, an emitted event, a cron tick, a fault armed
with ``sim.fail``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

import jobsim

START = "2025-03-03T09:00:00Z"
CRM = "https://crm.example.com/contacts?api_key=k3y-in-the-url&source=web"
RESEND = "https://api.resend.com/emails"
RESEND_KEY = "re_live_123456789_abcdefghijklmnop"
CRM_TOKEN = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"


@dataclasses.dataclass(frozen=True)
class Code:
    """What 'today's code' does; the defaults are the recorded code."""

    subject: str = "Welcome, {name}!"
    plan: str = "free"
    pause: str = "1h"
    retry_min: str = "10s"
    emitted: str = "user/welcomed"
    output_extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    fails: bool = False


def build(**changes: Any) -> jobsim.App:
    code = Code(**changes)
    app = jobsim.App("traced")

    @app.function("welcome", on="user/created",
                  retries=jobsim.Retries(attempts=3, backoff="constant", min=code.retry_min))  # fmt: skip
    def welcome(ctx: Any) -> dict[str, Any]:
        user = ctx.event.data

        def crm() -> int:
            response = httpx.post(CRM, json={"email": user["email"], "name": user["name"], "plan": code.plan},
                                  headers={"Authorization": f"Bearer {CRM_TOKEN}", "X-Request-Source": "jobs"})
            response.raise_for_status()
            return response.json()["contact"]

        contact = ctx.step.run("crm", crm)

        def mail() -> str:
            if code.fails:
                raise RuntimeError("mail is broken today")
            payload = {"from": "Acme <hello@acme.test>", "to": [user["email"]],
                       "subject": code.subject.format(name=user["name"]),
                       "text": f"Hi {user['name']}, your contact id is {contact}."}  # fmt: skip
            return httpx.post(RESEND, json=payload, headers={"Authorization": f"Bearer {RESEND_KEY}"}).json()["id"]

        ctx.step.run("mail", mail)
        ctx.step.sleep("pause", code.pause)
        ctx.step.send_event("announce", {"name": code.emitted, "data": {"email": user["email"]}})
        return {"contact": contact, "email": user["email"], "plan": code.plan, **code.output_extra}

    @app.function("digest", cron="0 12 * * *")
    def digest(ctx: Any) -> str:
        return ctx.step.run("build", lambda: "digest built")

    @app.function("audit", on="user/welcomed")
    def audit(ctx: Any) -> str:
        return ctx.step.run("log", lambda: f"audited {ctx.event.data['email']}")

    return app


def routes(sim: jobsim.Simulation) -> None:
    """The CRM: down once (500), then up. Resend is jobsim's own."""
    counter = iter(range(1, 100))

    def crm(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"contact": next(counter)}, headers={"Set-Cookie": "session=abc123secret"})

    sim.http.post(url__startswith="https://crm.example.com/contacts").mock(
        side_effect=[httpx.Response(500, json={"error": "down"}), crm, crm, crm, crm]
    )


def record(app: jobsim.App, *, seed: int = 7, **options: Any) -> jobsim.Simulation:
    """The recorded scenario (the simulation is closed when it returns); ``options`` go to the Simulation."""
    with jobsim.Simulation(app, start=START, seed=seed, tz="Europe/Berlin", **options) as sim:
        routes(sim)
        ada = {"email": "ada.lovelace@gmail.com", "name": "Ada Lovelace", "phone": "+44 20 7946 0018"}
        sim.send("user/created", ada, id="signup-ada")
        sim.advance("30m")
        sim.send("user/created", {"email": "ada.lovelace@gmail.com", "name": "Ada Lovelace"}, id="signup-ada")
        sim.send("user/created", {"email": "grace@navy.mil", "name": "Grace Hopper"}, id="signup-grace")
        sim.advance(0)
        sim.fail("audit", step="log", times=1, error=TimeoutError("audit log slow"))
        sim.run_until_idle()
        sim.advance("6h")
    return sim
