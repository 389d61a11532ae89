"""A generated week of traffic, replayed through the whole shop: invariants, determinism."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter
from collections.abc import Iterator

import jobsim
from examples.shop import Shop, build_shop
from examples.shop.orders import is_digital
from examples.support import START, T0, at, mail
from examples.traffic import DAY, generate_week, play_week

NAMES = {
    "user/created",
    "trial/started",
    "subscription/activated",
    "cart/abandoned",
    "cart/completed",
    "order/placed",
    "notification/send",
}


def test_the_same_seed_gives_the_same_week() -> None:
    assert generate_week(3, START) == generate_week(3, START)
    assert generate_week(3, START) != generate_week(4, START)


def test_a_week_has_every_kind_of_traffic_in_order() -> None:
    week = generate_week(3, START)
    offsets = [offset for offset, _, _ in week]
    assert offsets == sorted(offsets)
    assert all(isinstance(o, int) and 0 <= o < 7 * DAY for o in offsets)
    counts = Counter(name for _, name, _ in week)
    assert set(counts) <= NAMES
    assert all(counts[name] for name in NAMES - {"subscription/activated"}), counts
    assert all(
        any(n == "subscription/activated" for _, n, _ in generate_week(s, START))
        for s in range(3, 6)
    )
    assert counts["order/placed"] >= counts["cart/abandoned"] > 0
    signed_up: set[str] = set()
    for _, name, data in week:
        if name == "user/created":
            signed_up.add(data["userId"])
        else:
            assert data["userId"] in signed_up, (name, data)


@contextlib.contextmanager
def replayed(seed: int) -> Iterator[tuple[Shop, jobsim.Simulation]]:
    """A shop that lived through the week of ``seed``, and until its last reminder."""
    shop = build_shop()
    with jobsim.Simulation(shop.app, start=START, seed=seed) as sim:
        play_week(sim, shop, seed=seed)
        assert sim.now < at(days=7)
        sim.advance_to(at(days=7))
        sim.run_until_idle(max_time="30d")
        yield shop, sim


def test_a_replayed_week_keeps_the_shops_promises() -> None:
    with replayed(11) as (shop, sim):
        week = generate_week(11, START)
        assert [r for r in sim.runs() if r.status != "completed"] == []

        orders = [d["orderId"] for _, n, d in week if n == "order/placed"]
        assert Counter(m.subject for m in mail(sim, "Order Confirmation")) == Counter(
            f"Order Confirmation #{o}" for o in orders
        )  # exactly one per order
        # Physical orders ship (COMPLETED); all-digital ones stay PROCESSING, as in the seed.
        assert {o: shop.db.orders[o]["status"] for o in orders} == {
            o: "PROCESSING" if all(map(is_digital, shop.db.orders[o]["items"])) else "COMPLETED"
            for o in orders
        }

        completed = {
            d["cartId"]: T0 + dt.timedelta(seconds=t) for t, n, d in week if n == "cart/completed"
        }
        reminders = {
            m.text.splitlines()[-1].rsplit("/", 1)[1]: m.sent_at
            for m in mail(sim, "Did you forget")
        }
        for offset, name, data in week:
            if name != "cart/abandoned":
                continue
            due = T0 + dt.timedelta(seconds=offset, hours=24)
            if data["cartId"] in completed and completed[data["cartId"]] < due:
                assert data["cartId"] not in reminders
            else:
                assert reminders.pop(data["cartId"]) == due
        assert reminders == {}

        reports = [r.started_at for r in sim.runs("daily-report") if r.started_at < at(days=7)]
        assert [t.hour for t in reports] == [14, 14, 14, 14, 14, 14, 13]
        assert len(mail(sim, "Daily Sales Report")) == len(sim.runs("daily-report"))


def test_a_replayed_week_is_the_same_story_every_time() -> None:
    stories = []
    for _ in range(2):
        with replayed(5) as (_, sim):
            stories.append(sim.timeline())
    assert stories[0] == stories[1]
    assert len(stories[0].splitlines()) > 500
