"""The built-in profiles checked claim by claim against ``reference/semantics.md`` (session 23 audit).

Each test names the claim (reference section) and the upstream source that settles it. Most pin behaviour
that already agreed; ``test_inngest_refuses_more_than_ten_triggers`` pins a divergence the audit fixed.
"""

import random
import time

import pytest

import jobsim

START = "2026-03-02T00:00:00Z"


def _app(**options):
    app = jobsim.App("conform")

    @app.function("f", **options)
    def f(ctx):
        return None

    return app


# §1.1: "up to 10 triggers per function (pkg/consts/consts.go : MaxTriggers = 10)"; the server refuses more
# (pkg/inngest/trigger.go MultipleTriggers.Validate: "This function exceeds the max number of triggers: 10").
@pytest.mark.parametrize(
    "triggers",
    [
        {"on": [f"e/{i}" for i in range(11)]},
        {"on": ["e/0"], "cron": [f"{i} * * * *" for i in range(10)]},
        {"cron": [f"{i} * * * *" for i in range(11)]},
    ],
)
def test_inngest_refuses_more_than_ten_triggers(triggers):
    with pytest.raises(jobsim.errors.UnsupportedFeature, match=r"11 triggers.*at most 10") as caught:
        jobsim.Simulation(_app(**triggers), start=START)
    assert caught.value.feature == "triggers"


@pytest.mark.parametrize(
    "triggers", [{"on": [f"e/{i}" for i in range(10)]}, {"on": ["e/0"], "cron": [f"{i} * * * *" for i in range(9)]}]
)
def test_inngest_takes_ten_triggers(triggers):
    with jobsim.Simulation(_app(**triggers), start=START) as sim:
        sim.advance("1m")


def test_the_trigger_limit_is_inngests_only():
    with jobsim.Simulation(_app(on=[f"e/{i}" for i in range(11)]), start=START, profile="bullmq") as sim:
        sim.send("e/10")
        sim.advance("1s")
    assert [r.status for r in sim.runs("f")] == ["completed"]
