"""Scenarios that tell the seven systems apart: ``jobsim compare examples/scenarios``.

Each module defines ``scenario`` (a ``jobsim.Scenario``); ``scenarios`` lists them
all, in the order ``jobsim compare`` prints them.
"""

from __future__ import annotations

from . import crash_mid_step, dst_weekend, duplicate_tick, flaky_email, outage

scenarios = [
    flaky_email.scenario,
    outage.scenario,
    crash_mid_step.scenario,
    dst_weekend.scenario,
    duplicate_tick.scenario,
]
