"""Replaying an import: a shop's signups and orders, at two sizes, per event.

Workload (the issue's shop, on ``jobsim.App``): ``N`` events over one virtual day, read
with ``jobsim.traces.import_events`` (not timed). User ``u`` signs up in the first half
of the day and orders in the second, so about half the signups are waiting when an
order comes in.

- ``signup`` (``user/created``): a welcome email through Resend's HTTP API, a 1 h sleep,
  then ``wait_for_event("order/created", match="data.userId", timeout="3d")`` (``--wait if_exp``:
  ``if_exp="event.data.userId == async.data.userId"``, as inngest-py apps write it);
- ``order`` (``order/created``): a charge over HTTP (a route the replay's ``setup``
  mocks), ``send_event("order/paid")``, a receipt email;
- ``fulfil`` (``order/paid``): a 2 h sleep, then a step.

Each round replays both sizes (the order rotates); the script prints the median time
per event at each size and the ratio large/small, which is 1.0 for a linear replay.
It also counts, untimed, the comparisons the wait matching made per event (the
``_compare`` calls of ``match=`` and ``if_exp``), which does not depend on the machine's load.

    python benchmarks/bench_replay.py                   # 1,000 and 4,000 events
    python benchmarks/bench_replay.py --quick           # 250 and 1,000 events
    python benchmarks/bench_replay.py --sizes 2000,8000
    python benchmarks/bench_replay.py --wait if_exp
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import _common

sys.path.insert(1, str(_common.REPO_ROOT))  # time this checkout's jobsim, not an installed one

import httpx

import jobsim
from jobsim import _expr, traces

DAY_MS = 86_400_000
T0_MS = 1_764_460_800_000  # 2025-11-30T00:00:00Z
CHARGE = "https://pay.example.test/charge"


WAITS = {"match": {"match": "data.userId"},
         "if_exp": {"if_exp": "event.data.userId == async.data.userId"}}  # as inngest-py's apps write it
WAIT = dict(WAITS["match"])


def build() -> jobsim.App:
    app = jobsim.App("shop")
    http = httpx.Client()

    def email(to: str, subject: str) -> int:
        mail = {"from": "shop@acme.test", "to": [to], "subject": subject, "text": "Thank you"}
        return http.post("https://api.resend.com/emails", json=mail).status_code

    @app.function("signup", on="user/created")
    def signup(ctx: Any) -> bool:
        user = ctx.event.data
        ctx.step.run("welcome", email, user["email"], "Welcome")
        ctx.step.sleep("settle", "1h")
        order = ctx.step.wait_for_event("first-order", event="order/created", timeout="3d", **WAIT)
        return order is not None

    @app.function("order", on="order/created")
    def order(ctx: Any) -> None:
        data = ctx.event.data
        ctx.step.run("charge", lambda: http.post(CHARGE, json={"amount": data["amount"]}).json())
        ctx.step.send_event("paid", jobsim.Event("order/paid", {"userId": data["userId"], "orderId": data["orderId"]}))
        ctx.step.run("receipt", email, data["email"], "Your receipt")

    @app.function("fulfil", on="order/paid")
    def fulfil(ctx: Any) -> str:
        ctx.step.sleep("pack", "2h")
        return str(ctx.step.run("ship", lambda: ctx.event.data["orderId"]))

    return app


def setup(sim: jobsim.Simulation) -> None:
    sim.http.post(CHARGE).respond(200, json={"ok": True})


def write_events(n: int, path: Path) -> None:
    """``n`` Inngest events over a day: signups of users 0..n/2 in the first half, their orders in the second."""
    users = n // 2
    with path.open("w") as f:
        for i in range(2 * users):
            u = i % users
            ts = T0_MS + i * DAY_MS // (2 * users)
            email = f"user{u}@example.com"
            if i < users:
                event = {"name": "user/created", "data": {"userId": f"u{u}", "email": email}}
            else:
                event = {"name": "order/created",
                         "data": {"userId": f"u{u}", "orderId": f"o{u}", "amount": 10 + u % 50, "email": email}}
            f.write(json.dumps({**event, "id": f"e{i}", "ts": ts}) + "\n")


def replay(trace: Any) -> Any:
    return jobsim.Simulation.replay(trace, build(), setup=setup)


def check(trace: Any, n: int) -> int:
    """Every user's wait ends with their order; returns the comparisons the wait matching made."""
    calls = [0]
    compare = _expr._compare

    def counted(*args: Any) -> bool:
        calls[0] += 1
        return compare(*args)

    _expr._compare = counted
    try:
        result = replay(trace)
    finally:
        _expr._compare = compare
    sim = result.simulation
    signups = sim.runs("signup")
    assert len(signups) == n // 2 and all(run.output is True for run in signups), "a wait missed its order"
    assert [run.status for run in sim.runs()] == ["completed"] * (2 * (n // 2) + n // 2)
    return calls[0]


def main() -> None:
    cli = _common.parser("replay an import of N shop events at two sizes: time per event and the ratio")
    cli.add_argument("--sizes", default="1000,4000", help="two event counts, small,large (default 1000,4000)")
    cli.add_argument("--wait", choices=sorted(WAITS), default="match",
                     help="how signup's wait names its order: match='data.userId' (default) or the same as if_exp")
    args = _common.parse(cli)
    WAIT.clear()
    WAIT.update(WAITS[args.wait])
    small, large = (250, 1000) if args.quick else (int(x) for x in args.sizes.split(","))
    _common.banner("httpx")
    with tempfile.TemporaryDirectory() as tmp:
        loaded = {}
        for n in (small, large):
            path = Path(tmp) / f"events-{n}.jsonl"
            write_events(n, path)
            loaded[n] = traces.import_events(path)
        compares = {n: check(loaded[n], n) for n in (small, large)}
        variants = {f"{n} events": _common.timed(lambda n=n: replay(loaded[n])) for n in (small, large)}
        samples = _common.interleaved(variants, repeat=args.repeat, warmup=0)
    per_event = {n: _common.median(samples[f"{n} events"]) / n for n in (small, large)}
    rows = [[f"{n:,}", _common.fmt_time(per_event[n]), f"{compares[n] / n:.1f}"] for n in (small, large)]
    _common.print_table(["events", "replay per event", "wait comparisons per event"], rows)
    time_ratio = per_event[large] / per_event[small]
    compare_ratio = (compares[large] / large) / max(compares[small] / small, 1e-9)
    print(f"\nper event, {large:,} / {small:,} events: time {_common.fmt_ratio(time_ratio)}, "
          f"wait comparisons {_common.fmt_ratio(compare_ratio)} (1.00x: linear)")


if __name__ == "__main__":
    main()
