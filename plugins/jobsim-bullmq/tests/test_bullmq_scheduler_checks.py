"""A job scheduler's ``tz`` and ``pattern`` that bullmq-python's repeat strategy cannot read are refused naming
the option (with the zone meant), not with zoneinfo's or croniter's error from deep in bullmq."""

from __future__ import annotations

import re

import pytest
from bullmq_support import START, run

import jobsim
from jobsim.errors import InvalidArgument

WHERE = "queue.upsertJobScheduler('daily', repeat_opts)"


async def _ok(job, token):
    return 1


@pytest.mark.parametrize(("repeat", "message"), [
    ({"pattern": "0 9 * * *", "tz": "Europe/Berlinn"},
     f"{WHERE}['tz']='Europe/Berlinn' is not valid: an IANA time zone name (did you mean 'Europe/Berlin'?): "
     "bullmq-python reads it with zoneinfo, which knows no such zone"),
    ({"pattern": "0 9 * * *", "tz": "Nowhere/Atall"},
     f"{WHERE}['tz']='Nowhere/Atall' is not valid: an IANA time zone name such as 'Europe/Berlin': bullmq-python "
     "reads it with zoneinfo, which knows no such zone"),
    ({"pattern": "61 * * * *"},
     f"{WHERE}['pattern']='61 * * * *' is not valid: a cron expression of 5 fields (or 6, seconds first) that "
     "croniter reads (croniter: [61 * * * *] is not acceptable, out of range)"),
])  # fmt: skip
def test_a_bad_tz_or_pattern_is_refused_naming_the_option(worker_for, queue, repeat, message):
    with jobsim.Simulation(worker_for(_ok), start=START) as sim:
        with pytest.raises(InvalidArgument, match=f"^{re.escape(message)}$"):
            run(queue.upsertJobScheduler("daily", repeat, "daily", {}))
        assert sim.runs() == []


def test_a_good_scheduler_still_runs(worker_for, queue):
    with jobsim.Simulation(worker_for(_ok), start=START) as sim:
        run(queue.upsertJobScheduler("daily", {"pattern": "0 9 * * *", "tz": "Europe/Berlin"}, "daily", {}))
        sim.advance("1d")
        assert [run_.status for run_ in sim.runs("q")] == ["completed", "delayed"]  # and the next day's
