"""Helpers shared by the example tests: the start instant, offsets, mail filters."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import respx

import jobsim

from .shop import Shop
from .shop.mailer import RESEND_EMAILS
from .traffic import third_parties

START = "2025-03-03T00:00:00Z"
T0 = dt.datetime(2025, 3, 3, tzinfo=dt.timezone.utc)
SEED = 7


def at(seconds: float = 0, **delta: float) -> dt.datetime:
    """``T0`` plus an offset: ``at(3)``, ``at(hours=24)``."""
    return T0 + dt.timedelta(seconds=seconds, **delta)


@contextlib.contextmanager
def simulate(shop: Shop, *, seed: int = SEED, start: str = START) -> Iterator[jobsim.Simulation]:
    """A started simulation of ``shop``, its third-party APIs up."""
    with jobsim.Simulation(shop.app, start=start, seed=seed) as sim:
        third_parties(sim)
        yield sim


def resend_outage(
    sim: jobsim.Simulation, *, failures: int, subject: str | None = None, status: int = 500
) -> respx.Route:
    """Resend answers ``status`` to the next ``failures`` sends (with that subject, if given).

    Every other send falls through to jobsim's own Resend (the route's side effect
    returns ``None``), which delivers the email to ``sim.mail.outbox``.
    """
    remaining = failures

    def side_effect(request: httpx.Request) -> httpx.Response | None:
        nonlocal remaining
        if remaining and (subject is None or json.loads(request.content).get("subject") == subject):
            remaining -= 1
            return httpx.Response(
                status,
                json={
                    "statusCode": status,
                    "name": "internal_server_error",
                    "message": "An unexpected error occurred.",
                },
            )
        return None

    return sim.http.post(RESEND_EMAILS).mock(side_effect=side_effect)


def mail(sim: jobsim.Simulation, subject: str) -> list[Any]:
    """Emails in the outbox whose subject starts with ``subject``."""
    return [m for m in sim.mail.outbox if m.subject.startswith(subject)]


def step_times(run: jobsim.Run, step: str) -> list[dt.datetime]:
    """When each attempt of ``step`` started."""
    return [a.started_at for a in run.attempts if a.step == step]


def events(sim: jobsim.Simulation, name: str) -> list[jobsim.Event]:
    return [e for e in sim.events if e.name == name]


def only(items: list[Any]) -> Any:
    """The single item of ``items``; fails with the list otherwise."""
    __tracebackhide__ = True
    assert len(items) == 1, items
    return items[0]


class Storefront:
    """The web app around the jobs, for drawn histories: ``Storefront(shop).send`` is an ``apply(send=...)`` hook.

    For each event it writes the row the web app writes (once: a retried webhook
    delivers the event again but does not create the order or cart a second time),
    then sends the event.
    """

    CREATES: ClassVar[dict[str, tuple[str, str]]] = {
        "order/placed": ("orders", "orderId"),
        "cart/abandoned": ("carts", "cartId"),
    }

    def __init__(self, shop: Shop) -> None:
        self.shop = shop

    def send(self, sim: jobsim.Simulation, event: jobsim.Event) -> None:
        table, key = self.CREATES.get(event.name, (None, None))
        if table is None or event.data[key] not in getattr(self.shop.db, table):
            self.shop.db.apply(event.name, dict(event.data), sim.now)
        sim.send(event)
