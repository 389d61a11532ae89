"""The mission's scenarios on Dramatiq, written from README.md as a Dramatiq user would write them."""

from __future__ import annotations

import itertools

import dramatiq
import httpx
import pytest
from dramatiq.middleware import CurrentMessage

import jobsim


def _waits_ms(run):
    starts = [a.started_at for a in run.attempts]
    return [round((b - a).total_seconds() * 1000) for a, b in itertools.pairwise(starts)]


@pytest.mark.parametrize("seed", range(8))
def test_jittered_backoff_stays_within_dramatiqs_bounds(broker, seed):
    @dramatiq.actor(max_retries=6, min_backoff=1_000, max_backoff=10_000)
    def flaky():
        raise ConnectionError("down")

    with jobsim.Simulation(broker, start="2025-03-01T09:00:00Z", seed=seed) as sim:
        flaky.send()
        sim.run_until_idle()
    waits = _waits_ms(sim.runs(flaky)[0])
    assert len(waits) == 6
    for n, wait in enumerate(waits):
        # compute_backoff: int(1000 * 2**n * U[1, 2)); past max_backoff, int(10000 * U[0.5, 1))
        low, high = 1_000 * 2**n, 2 * 1_000 * 2**n
        if high <= 10_000:
            assert low <= wait < high, (n, waits)
        else:  # from the 4th wait on, max_backoff holds it (8 s, 16 s, 32 s, ... without it)
            assert 5_000 <= wait <= 10_000, (n, waits)


def test_webhook_retried_with_backoff_against_the_http_sink(broker):
    @dramatiq.actor(max_retries=3, min_backoff=10_000, max_backoff=60_000)
    def deliver_webhook(url):
        httpx.post(url, json={"id": 1}, timeout=5).raise_for_status()

    with jobsim.Simulation(broker, start="2025-03-01T09:00:00Z", seed=3) as sim:
        route = sim.http.post("https://partner.example.com/hooks").mock(
            side_effect=[httpx.Response(502), httpx.Response(503), httpx.Response(200)])
        deliver_webhook.send("https://partner.example.com/hooks")
        sim.run_until_idle()
    run = sim.runs(deliver_webhook)[0]
    assert run.status == "completed" and route.call_count == 3
    first, second = _waits_ms(run)
    assert 10_000 <= first < 20_000 and 20_000 <= second < 40_000


def test_reminder_delayed_24_hours(broker):
    @dramatiq.actor
    def remind(cart_id):
        return cart_id

    with jobsim.Simulation(broker, start="2025-03-01T09:00:00Z") as sim:
        remind.send_with_options(args=("c1",), delay=24 * 3600 * 1000)
        sim.run_until_idle()
    assert sim.runs(remind)[0].attempts[0].started_at.isoformat() == "2025-03-02T09:00:00+00:00"


def test_order_processing_as_a_pipeline(broker):
    done = []

    @dramatiq.actor
    def reserve(order_id):
        return {"order": order_id}

    @dramatiq.actor
    def charge(order):
        return {**order, "charged": True}

    @dramatiq.actor
    def confirm(order):
        done.append(order)

    with jobsim.Simulation(broker, start="2025-03-01T09:00:00Z") as sim:
        dramatiq.pipeline([reserve.message("o1"), charge.message(), confirm.message()]).run()
        sim.run_until_idle()
    assert done == [{"order": "o1", "charged": True}]


def test_retries_exhausted_go_to_the_dead_letters_and_on_retry_exhausted(broker):
    broker.add_middleware(CurrentMessage())
    exhausted = []

    @dramatiq.actor
    def give_up(message, retry_info):
        exhausted.append((message["args"], retry_info["retries"], retry_info["max_retries"]))

    @dramatiq.actor(max_retries=2, min_backoff=100, on_retry_exhausted="give_up")
    def charge(order_id):
        raise ConnectionError("gateway down")

    with jobsim.Simulation(broker, start="2025-03-01T09:00:00Z") as sim:
        charge.send("o1")
        sim.run_until_idle()
        assert len(sim.dramatiq.dead_letters) == 1
    assert exhausted == [(["o1"], 2, 2)]
    assert len(sim.runs(charge)[0].attempts) == 3


@pytest.mark.parametrize(("call", "meant"), [
    (lambda sim: sim.dramatiq.stop_worker(att="2025-03-01T10:00:00Z"), "at"),
    (lambda sim: sim.dramatiq.crash_worker(functon="flaky"), "function"),
    (lambda sim: sim.dramatiq.start_worker(wrker="worker-1"), "worker"),
])
def test_a_misspelt_keyword_names_the_one_meant(broker, call, meant):
    with jobsim.Simulation(broker, start="2025-03-01T09:00:00Z") as sim, pytest.raises(jobsim.InvalidArgument) as info:
        call(sim)
    assert f"(did you mean {meant}=?)" in str(info.value)


def test_a_replay_counts_the_messages_sent_before_the_simulation_among_the_test_s_calls(broker):
    @dramatiq.actor
    def charge(order_id):
        return order_id

    charge.send("o1")  # waits in the StubBroker: the simulation takes it at its start
    with jobsim.Simulation(broker, start="2025-03-01T09:00:00Z") as sim:
        charge.send("o2")
        sim.run_until_idle()
    assert len(sim.runs(charge)) == 2
    notes = jobsim.Simulation.replay(sim.trace, broker).notes
    # both runs are missing from the replay, and both came from the test's calls into Dramatiq
    assert any("2 runs of 'charge' started by send" in note for note in notes), notes
    # jobsim_setup's sends make them again: the same, and no note
    again = jobsim.Simulation.replay(sim.trace, broker, setup=lambda sim: (charge.send("o1"), charge.send("o2")))
    assert not any("jobsim_setup" in note for note in again.notes), again.notes
