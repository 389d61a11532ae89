"""invariants.retries_respect_policy on quirrel after a stale-checker recovery (user trial 37, finding 1).

Quirrel counts a retry's offset from the job's original runAt (semantics.md §4.2: attempt k+1 at
``runAt + retry[k-1]``; one already past runs at once). A crash the stale checker fails an hour later,
then a failure of the step, made the invariant measure from that failure and report the on-time
retry as "started 0s after ...; the policy allows 50s". The check must accept that and still catch a
retry that starts before its offset on the same path.
"""

from __future__ import annotations

import time

import pytest

import jobsim
from jobsim import invariants

S = 1_000_000_000


def crashed_then_failed(offsets: list[str]) -> jobsim.Simulation:
    """The trial's run: attempt 0 crashes, the stale checker fails it at +1 h, the step fails once, then passes."""
    app = jobsim.App("shop")

    @app.function("charge", on="order/placed", retries=jobsim.QuirrelRetry(offsets))
    def charge(ctx):
        ctx.step.run("call", time.sleep, 3)

    with jobsim.Simulation(app, start="2024-01-01T00:00:00.000Z", seed=0, profile="quirrel") as sim:
        sim.fail("charge", step="call")
        sim.crash_worker()
        sim.send("order/placed", {"orderId": "o1"})
        sim.advance("6h")
    return sim


def starts(sim: jobsim.Simulation) -> list[int]:
    return [(a.start_ns - sim.start_ns) // S for a in sim.runs("charge")[0].attempts]


def test_a_retry_whose_offset_is_already_past_after_the_stale_checker_is_on_time():
    sim = crashed_then_failed(["10s", "1m"])
    assert starts(sim) == [0, 3600, 3600]  # attempt 2 due at runAt + 1m: long past, so at once
    invariants.retries_respect_policy(sim)


def test_a_retry_due_later_than_the_stale_checker_waits_for_its_offset_from_run_at():
    sim = crashed_then_failed(["10s", "2h"])
    assert starts(sim) == [0, 3600, 7200]  # runAt + 2h, not the failure + (2h - 10s)
    invariants.retries_respect_policy(sim)


def test_a_retry_that_starts_before_its_offset_on_that_path_is_still_a_violation():
    """Attempt 2 is due at runAt + 2h (02:00); moved to 01:10 it is early, and the message says what it was
    measured from: when attempt 1 was due (runAt + 10s), not when it failed."""
    sim = crashed_then_failed(["10s", "2h"])
    early = sim.runs("charge")[0].attempts[2]
    early.start_ns -= 50 * 60 * S
    early.end_ns -= 50 * 60 * S
    with pytest.raises(invariants.Violation) as caught:
        invariants.retries_respect_policy(sim)
    assert ("step 'call' attempt 2 started 1h9m50s after attempt 1 was due at 2024-01-01T00:00:10.000Z (Quirrel "
            "counts the offsets from then); the policy allows 1h59m50s") in str(caught.value)


def slow_retry_after(offsets: list[str]) -> jobsim.Simulation:
    app = jobsim.App("shop")

    @app.function("charge", on="order/placed", retries=jobsim.QuirrelRetry(offsets))
    def charge(ctx):
        time.sleep(3)
        if ctx.attempt == 0:
            raise jobsim.RetryAfterError("1h")

    with jobsim.Simulation(app, start="2024-01-01T00:00:00.000Z", seed=0, profile="quirrel") as sim:
        sim.send("order/placed", {"orderId": "o1"})
        sim.advance("6h")
    return sim


def test_a_retry_after_error_on_quirrel_is_a_plain_failure_retried_at_its_offset_from_run_at():
    """Quirrel has no RetryAfterError (``profile.retry_after`` is false): the engine retries it at runAt + offset,
    the invariant measured it from the failure as for other errors (a property with a drawn RetryAfterError and a
    1 ms downtime found it: 'started 999ms after attempt 0 failed ...; the policy allows 1s')."""
    sim = slow_retry_after(["1s"])
    assert starts(sim) == [0, 3]  # runAt + 1s is past when attempt 0 fails at 3 s: at once, not in 1 h
    invariants.retries_respect_policy(sim)
    late = slow_retry_after(["10s"])
    assert starts(late) == [0, 10]
    invariants.retries_respect_policy(late)
    late.runs("charge")[0].attempts[1].start_ns -= 2 * S  # at 8 s, before runAt + 10s
    with pytest.raises(invariants.Violation, match=r"the function body attempt 1 started 8s after attempt 0 was due "
                                                   r"at 2024-01-01T00:00:00.000Z \(Quirrel counts"):
        invariants.retries_respect_policy(late)
