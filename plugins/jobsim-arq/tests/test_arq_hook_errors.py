"""A driving call from an arq hook stops the test, naming where it was made.

arq's hooks run on the workers' event loop: ``on_startup`` and ``on_shutdown`` while no job runs. A
``sim.advance`` there stopped the test (arq's crash path lets jobsim's errors through), but its message named
the first registered function as the job code that made it -- a job that had not even been enqueued.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from arq import create_pool
from arq_jobs import NOWHERE, START, add

import jobsim
from jobsim.errors import JobsimError

OWN_CODE = "sim.advance() was called from a worker's own code while no job of it runs (a hook or listener"


def test_a_driving_call_from_on_startup_names_the_workers_own_code():
    sims = []

    async def wait_for_db(ctx):
        sims[0].advance("5s")  # "give the database time to come up": the test drives time, not the hook

    with jobsim.Simulation({"functions": [add], "redis_settings": NOWHERE, "on_startup": wait_for_db},
                           start=START) as sim:  # fmt: skip
        sims.append(sim)
        with pytest.raises(JobsimError, match="^" + re.escape(OWN_CODE)):
            sim.advance("1s")


def test_a_driving_call_from_on_job_start_names_the_job():
    sims = []

    async def throttle(ctx):
        sims[0].advance("1s")

    async def enqueue():
        pool = await create_pool(NOWHERE)
        await pool.enqueue_job("add", 1, 2)

    with jobsim.Simulation({"functions": [add], "redis_settings": NOWHERE, "on_job_start": throttle},
                           start=START) as sim:  # fmt: skip
        sims.append(sim)
        asyncio.run(enqueue())
        with pytest.raises(JobsimError, match=re.escape("sim.advance() was called from job code (function 'add')")):
            sim.run_until_idle()
