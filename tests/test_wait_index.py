"""Waits filed under their match value: an event checks only the waits it can match, with the same outcome."""

import random

import pytest

import jobsim
from jobsim import _expr
from jobsim._expr import compile_expression, compile_match

START = "2025-03-01T00:00:00Z"

KEYED = [
    {"match": "data.userId"},
    {"if_exp": "event.data.userId == async.data.userId"},
    {"if_exp": "async.data.userId == event.data.userId && async.data.amount > 0"},
]


@pytest.mark.parametrize("wait", KEYED, ids=["match", "if_exp", "if_exp-and"])
def test_each_order_checks_only_the_wait_of_its_own_user_not_every_pending_wait(monkeypatch, wait):
    # 300 users wait for their own order: checking every pending wait for each order made ~45,000 comparisons
    # (quadratic: a replay of 4,000 imported events spent 30 of its 42 s there); now one or two per order
    users = 300
    app = jobsim.App("shop")

    @app.function("signup", on="user/created")
    def signup(ctx):
        return ctx.step.wait_for_event("first-order", event="order/created", timeout="3d", **wait) is not None

    calls = []
    compare = _expr._compare
    monkeypatch.setattr(_expr, "_compare", lambda *args: calls.append(1) or compare(*args))
    with jobsim.Simulation(app, start=START) as sim:
        for u in range(users):
            sim.send("user/created", {"userId": f"u{u}"})
        sim.advance("1s")
        for u in reversed(range(users)):
            sim.send("order/created", {"userId": f"u{u}", "amount": 5})
        sim.run_until_idle()
    assert [run.output for run in sim.runs("signup")] == [True] * users
    assert len(calls) <= 2 * users


# run-side value, candidate value (absent: the field is missing)
ABSENT = object()
VALUES = [ABSENT, None, "u1", "u2", 1, 1.0, 2, True, ["u1"], {"id": "u1"}, ""]


def _data(value):
    return {} if value is ABSENT else {"userId": value}


def _expected(waits, candidates, checks):
    """Brute force, as the engine did before filing: each candidate, every pending wait in start order."""
    pending, ends = list(range(len(waits))), []
    for c, candidate in enumerate(candidates):
        for w in list(pending):
            if all(check(jobsim.Event("w", _data(waits[w][0])), jobsim.Event("c", _data(candidate)))
                   for check in checks[waits[w][1]]):
                pending.remove(w)
                ends.append((w, c))
    return ends


@pytest.mark.parametrize("seed", range(6))
def test_filed_and_unfiled_waits_resolve_as_a_scan_of_every_wait_would(seed):
    # values that only look alike (1 and 1.0, null and a missing field, lists and maps that cannot be filed)
    # and waits that cannot be filed (a callable, an expression with no equality) among filed ones
    rnd = random.Random(seed)
    kinds = [
        {"match": "data.userId"},
        {"if_exp": "event.data.userId == async.data.userId"},
        {"if_exp": "async.data.userId == event.data.userId && async.data.userId != 2"},
        {"if_exp": lambda event, candidate: candidate.data.get("userId") in ("u1", 1)},
        {"if_exp": "event.data.userId == async.data.userId || async.data.userId == 'u2'"},
    ]
    checks = [[compile_match(kind["match"])] if "match" in kind else [compile_expression(kind["if_exp"])]
              for kind in kinds]
    waits = [(rnd.choice(VALUES), rnd.randrange(len(kinds))) for _ in range(40)]
    candidates = [rnd.choice(VALUES) for _ in range(25)]
    app = jobsim.App("a")

    @app.function("waiter", on="start", retries=0)
    def waiter(ctx):
        got = ctx.step.wait_for_event("w", event="candidate", timeout="1h", **kinds[ctx.event.data["kind"]])
        return None if got is None else got.data["n"]

    with jobsim.Simulation(app, start=START) as sim:
        for w, (value, kind) in enumerate(waits):
            sim.send("start", {"w": w, "kind": kind, **_data(value)})
        sim.advance("1s")
        for c, value in enumerate(candidates):
            sim.send("candidate", {"n": c, **_data(value)})
        sim.run_until_idle()
    by_wait = {run.event.data["w"]: run for run in sim.runs("waiter")}
    ends = [(by_wait[w], c) for w, c in _expected(waits, candidates, checks)]
    assert ends, "the seed gives no match: pick another"
    assert {by_wait[w].output for w in range(len(waits))} - {None} == {c for _, c in ends}
    for run, c in ends:
        assert run.output == c
    # the waits one candidate ends, in the order they started waiting, each with that candidate
    ids = {event.data["n"]: event.id for event in sim.events if event.name == "candidate"}
    ended = [(record.data["run"], record.data["event"]) for record in sim.trace.of("wait.end")
             if record.data["event"] is not None]
    assert ended == [(run.id, ids[c]) for run, c in ends]
