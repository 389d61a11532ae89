"""Live conformance of a chord whose header task spends time: a real worker and Redis against the simulation.

The header is ``live.nap`` (sleeps 2 s) and ``live.ping``, run side by side (a
threads pool of 2; the simulation sets no pool limit); Redis's chord counter reaches
the header's size when the last of them returns, and the body (``live.gather``) runs
then, 2 s in. Before jobsim counted part returns in virtual-time order, the simulated
body never ran: the nap's body ran first, to its end, and counted 1; the ping, at 0 s,
did not see that later increment and counted 1 too.
"""

from __future__ import annotations

import json
import time

import celery_live_app
import pytest
from celery import chord

import jobsim

pytestmark = pytest.mark.live


def launch(app):
    t = app.tasks
    return chord([t["live.nap"].s("slow", 2), t["live.ping"].s("quick")], t["live.gather"].s()).apply_async()


LATE = 1.0  # seconds a real event may come after its predicted instant: Redis round trips and a loaded machine
EARLY = 0.25  # and before it (the first event, the origin, may itself come late)


def summary(log: list[dict]) -> list[tuple[int, str, str]]:
    start = min(e["t"] for e in log)
    return sorted((round(e["t"] - start), e["task"], e["label"]) for e in log)


def check_timeline(log: list[dict], predicted: list[tuple[int, str, str]]) -> None:
    """The real log has the predicted events, each within ``EARLY``/``LATE`` of its predicted second (rounding a
    real instant, as ``summary`` does, failed once a body came 0.5 s late), and the body after the slow task's end."""
    start = min(e["t"] for e in log)
    real = sorted(((e["task"], e["label"]), e["t"] - start) for e in log)
    assert [event for event, _ in real] == sorted((task, label) for _, task, label in predicted), real
    at = dict(real)
    for second, task, label in predicted:
        assert -EARLY <= at[task, label] - second <= LATE, (task, label, second, real)
    assert at["live.gather", "slow+quick"] >= at["live.nap", "slow:end"], real


def test_a_chord_body_runs_when_its_slow_header_task_ends_on_a_real_worker(redis_url, celery_threads_worker):
    import redis

    log: list[dict] = []
    app = celery_live_app.make_app("redis://127.0.0.1:1/0", sink=log.append)
    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        result = launch(app)
        sim.run_until_idle()
        assert result.get() == ["slow", "quick"]
    predicted = summary(log)
    assert predicted == [(0, "live.nap", "slow:start"), (0, "live.ping", "quick"), (2, "live.gather", "slow+quick"),
                         (2, "live.nap", "slow:end")]  # fmt: skip

    client = redis.Redis.from_url(redis_url)
    real = launch(celery_live_app.make_app(redis_url))
    deadline = time.monotonic() + 20
    while not real.ready() and time.monotonic() < deadline:
        celery_threads_worker.check()
        time.sleep(0.05)
    assert real.get(timeout=1) == ["slow", "quick"]
    observed = [json.loads(raw) for raw in client.lrange(celery_live_app.LOG_KEY, 0, -1)]
    print("observed", observed)
    check_timeline(observed, predicted)


def test_a_header_task_that_ignores_its_result_still_gives_it_to_the_body(redis_url, celery_threads_worker):
    """Redis's part return stashes each header result in the chord's own list (``backends/redis.py``), so the
    body gets the result of a header task with ``ignore_result=True``, which is never stored as its own."""
    import redis

    def launch_quiet(app):
        t = app.tasks
        return chord([t["live.quiet"].s("hushed"), t["live.ping"].s("loud")], t["live.gather"].s()).apply_async()

    app = celery_live_app.make_app("redis://127.0.0.1:1/0", sink=[].append)
    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        result = launch_quiet(app)
        sim.run_until_idle()
        predicted = (result.state, result.result)
    assert predicted == ("SUCCESS", ["hushed", "loud"])

    real = launch_quiet(celery_live_app.make_app(redis_url))
    deadline = time.monotonic() + 20
    while not real.ready() and time.monotonic() < deadline:
        celery_threads_worker.check()
        time.sleep(0.05)
    assert (real.state, real.result) == predicted
    assert redis.Redis.from_url(redis_url).llen(celery_live_app.LOG_KEY) == 3
