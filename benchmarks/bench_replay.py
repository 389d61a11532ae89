"""Replaying an import: a shop's signups and orders, at two sizes, per event.

Workload (the issue's shop, on ``jobsim.App``): ``N`` events over one virtual day, read
with ``jobsim.traces.import_events`` (not timed). User ``u`` signs up in the first half
of the day and orders 12 h later, in the second, so about half the signups are waiting
when an order comes in. ``--days D`` spreads the signups over ``D`` days less 12 h (each
order still 12 h after its signup): a longer replay at the same size.

- ``signup`` (``user/created``): a welcome email through Resend's HTTP API, a 1 h sleep,
  then ``wait_for_event("order/created", match="data.userId", timeout="3d")`` (``--wait if_exp``:
  ``if_exp="event.data.userId == async.data.userId"``, as inngest-py apps write it);
- ``order`` (``order/created``): a charge over HTTP (a route the replay's ``setup``
  mocks), ``send_event("order/paid")``, a receipt email;
- ``fulfil`` (``order/paid``): a 2 h sleep, then a step.

``--cancel`` adds ``cancel_on=[Cancel("user/deleted", ...)]`` to ``signup`` (named as its wait
is: ``match`` or ``if_exp``), and every tenth user deletes their account instead of ordering.

Each round replays both sizes (the order rotates); the script prints the median time
per event at each size and the ratio large/small, which is 1.0 for a linear replay.
It also counts, untimed, the comparisons the wait and cancel matching made per event (the
``_compare`` calls of ``match=`` and ``if_exp``), which does not depend on the machine's load,
the most ``cancel_on`` registrations the engine held after an event, those it still holds at
the end (every run has ended), and the event ids it keeps to skip repeated ones
(``Engine.run_ids``). ``--memory`` adds the peak traced memory per event (tracemalloc, an
untimed replay per size).

    python benchmarks/bench_replay.py                   # 1,000 and 4,000 events
    python benchmarks/bench_replay.py --quick           # 250 and 1,000 events
    python benchmarks/bench_replay.py --sizes 2000,8000
    python benchmarks/bench_replay.py --wait if_exp
    python benchmarks/bench_replay.py --cancel --days 7 --memory
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
HALF_DAY_MS = DAY_MS // 2
T0_MS = 1_764_460_800_000  # 2025-11-30T00:00:00Z
CHARGE = "https://pay.example.test/charge"


WAITS = {"match": {"match": "data.userId"},
         "if_exp": {"if_exp": "event.data.userId == async.data.userId"}}  # as inngest-py's apps write it
WAIT = dict(WAITS["match"])
CANCELS = {"match": {"match": "data.userId"}, "if_exp": {"if_exp": "event.data.userId == async.data.userId"}}
CANCEL_ON: list[jobsim.Cancel] = []  # --cancel: signup's
DELETES = 10  # --cancel: every tenth user deletes their account instead of ordering


def build() -> jobsim.App:
    app = jobsim.App("shop")
    http = httpx.Client()

    def email(to: str, subject: str) -> int:
        mail = {"from": "shop@acme.test", "to": [to], "subject": subject, "text": "Thank you"}
        return http.post("https://api.resend.com/emails", json=mail).status_code

    @app.function("signup", on="user/created", cancel_on=CANCEL_ON)
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


def deletes(u: int) -> bool:
    return bool(CANCEL_ON) and u % DELETES == DELETES - 1


def write_events(n: int, path: Path, days: int) -> None:
    """``n`` Inngest events over ``days`` days: signups of users 0..n/2 over all but the last 12 h, each user's
    order (or, with ``--cancel``, one in ten, their account's deletion) 12 h after their signup."""
    users = n // 2
    span = days * DAY_MS - HALF_DAY_MS
    timed = []
    for u in range(users):
        ts = T0_MS + u * span // users
        email = f"user{u}@example.com"
        timed.append((ts, 0, u, {"name": "user/created", "data": {"userId": f"u{u}", "email": email}}))
        if deletes(u):
            later = {"name": "user/deleted", "data": {"userId": f"u{u}"}}
        else:
            later = {"name": "order/created",
                     "data": {"userId": f"u{u}", "orderId": f"o{u}", "amount": 10 + u % 50, "email": email}}
        timed.append((ts + HALF_DAY_MS, 1, u, later))
    with path.open("w") as f:
        for i, (ts, _, _, event) in enumerate(sorted(timed, key=lambda item: item[:3])):
            f.write(json.dumps({**event, "id": f"e{i}", "ts": ts}) + "\n")


def replay(trace: Any, prepare: Any = setup) -> Any:
    return jobsim.Simulation.replay(trace, build(), setup=prepare)


def listening(engine: Any) -> int:
    """The cancel_on registrations the engine holds (a list or an index per event name)."""
    return sum(len(cancellers) for cancellers in engine.cancellers.values())


def check(trace: Any, n: int) -> tuple[int, int, int, int]:
    """Every user's wait ends with their order (or their signup is cancelled by the deletion); returns the
    comparisons the wait and cancel matching made, the most cancel_on registrations held after an event, those
    left at the end and the run ids kept."""
    calls, most = [0], [0]
    compare = _expr._compare

    def counted(*args: Any) -> bool:
        calls[0] += 1
        return compare(*args)

    def watched(sim: jobsim.Simulation) -> None:
        setup(sim)
        engine = sim.engine
        publish = engine.publish

        def counted_publish(event: jobsim.Event) -> None:
            publish(event)
            most[0] = max(most[0], listening(engine))

        engine.publish = counted_publish  # type: ignore[method-assign]

    _expr._compare = counted
    try:
        result = replay(trace, watched)
    finally:
        _expr._compare = compare
    sim = result.simulation
    signups = sim.runs("signup")
    assert len(signups) == n // 2, "a signup made no run"
    for u, run in enumerate(signups):
        assert run.status == "cancelled" if deletes(u) else run.output is True, f"user {u}'s signup: {run.status}"
    deleted = sum(map(deletes, range(len(signups))))
    completed = len(signups) - deleted + 2 * (len(signups) - deleted)  # signups; orders and their fulfils
    assert sorted(run.status for run in sim.runs()) == ["cancelled"] * deleted + ["completed"] * completed
    engine = sim.engine
    return calls[0], most[0], listening(engine), len(engine.run_ids or ())


def peak_per_event(trace: Any, n: int) -> float:
    """Peak traced memory of one replay, its result alive, per event (untimed)."""
    return _common.peak_bytes(lambda _: replay(trace), n) / n


def main() -> None:
    cli = _common.parser("replay an import of N shop events at two sizes: time per event and the ratio")
    cli.add_argument("--sizes", default="1000,4000", help="two event counts, small,large (default 1000,4000)")
    cli.add_argument("--wait", choices=sorted(WAITS), default="match",
                     help="how signup's wait names its order: match='data.userId' (default) or the same as if_exp")
    cli.add_argument("--cancel", action="store_true",
                     help="signup has cancel_on user/deleted (as --wait names it); one user in ten deletes, no order")
    cli.add_argument("--days", type=int, default=1, help="the virtual days the events span (default 1)")
    cli.add_argument("--memory", action="store_true", help="also report peak traced memory per event")
    args = _common.parse(cli)
    if args.days < 1:
        cli.error(f"--days {args.days!r}: at least 1")
    WAIT.clear()
    WAIT.update(WAITS[args.wait])
    if args.cancel:
        CANCEL_ON.append(jobsim.Cancel("user/deleted", **CANCELS[args.wait]))
    small, large = (250, 1000) if args.quick else (int(x) for x in args.sizes.split(","))
    _common.banner("httpx")
    with tempfile.TemporaryDirectory() as tmp:
        loaded = {}
        for n in (small, large):
            path = Path(tmp) / f"events-{n}.jsonl"
            write_events(n, path, args.days)
            loaded[n] = traces.import_events(path)
        checked = {n: check(loaded[n], n) for n in (small, large)}
        memory = {n: peak_per_event(loaded[n], n) for n in (small, large)} if args.memory else {}
        variants = {f"{n} events": _common.timed(lambda n=n: replay(loaded[n])) for n in (small, large)}
        samples = _common.interleaved(variants, repeat=args.repeat, warmup=0)
    per_event = {n: _common.median(samples[f"{n} events"]) / n for n in (small, large)}
    compares = {n: checked[n][0] for n in (small, large)}
    rows = [[f"{n:,}", _common.fmt_time(per_event[n]), f"{compares[n] / n:.1f}",
             *(f"{count:,}" for count in checked[n][1:]), *([f"{memory[n] / 1024:,.1f} KB"] if memory else [])]
            for n in (small, large)]  # fmt: skip
    _common.print_table(["events", "replay per event", "comparisons per event", "most cancel_on held",
                         "cancel_on left", "run ids kept", *(["peak memory per event"] if memory else [])], rows)
    time_ratio = per_event[large] / per_event[small]
    compare_ratio = (compares[large] / large) / max(compares[small] / small, 1e-9)
    memory_ratio = f", memory {_common.fmt_ratio(memory[large] / memory[small])}" if memory else ""
    print(f"\nper event, {large:,} / {small:,} events: time {_common.fmt_ratio(time_ratio)}, "
          f"comparisons {_common.fmt_ratio(compare_ratio)}{memory_ratio} (1.00x: linear)")


if __name__ == "__main__":
    main()
