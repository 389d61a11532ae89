"""sim.fail on an arq function: the injected error is the job's failure, as any exception the job raised."""

from __future__ import annotations

import asyncio

import pytest
from arq import create_pool
from arq_jobs import LOG, NOWHERE, START, add

import jobsim


def run(coro):
    return asyncio.run(coro)


async def enqueue(name, *args):
    pool = await create_pool(NOWHERE)
    return await pool.enqueue_job(name, *args)


@pytest.fixture(autouse=True)
def _clear_log():
    LOG.clear()


def test_sim_fail_with_its_default_error_fails_the_job_instead_of_stopping_the_test():
    """``jobsim.InjectedFault`` is a ``JobsimError``, like the errors that must stop a test; the one
    ``sim.fail`` injected is the job's own failure: arq logs it and stores it as the result."""
    with jobsim.Simulation({"functions": [add], "redis_settings": NOWHERE}, start=START) as sim:
        sim.fail("add", times=1)
        first = run(enqueue("add", 1, 1))
        second = run(enqueue("add", 2, 2))
        sim.run_until_idle()
        with pytest.raises(jobsim.InjectedFault, match=r"injected by sim\.fail"):
            run(first.result())
        assert run(second.result()) == 4
    assert [r.status for r in sim.runs(add)] == ["failed", "completed"]
    assert [entry[0] for entry in LOG] == ["add"]  # the faulted try ran no code of the job


def test_the_profiles_fault_kinds_are_those_a_simulation_of_arq_jobs_accepts():
    """The profile declared no fault kinds, so ``js.faults(profile="arq")`` drew crashes, downtimes and duplicate
    deliveries, which a simulation of arq jobs refuses: a property over "any fault" failed on the refusal."""
    from jobsim.testing import accepted_fault_kinds, check_fault_kinds

    def simulate():
        return jobsim.Simulation({"functions": [add], "redis_settings": NOWHERE}, start=START)

    check_fault_kinds(simulate, "add")
    assert accepted_fault_kinds(simulate, "add") == ("fail",)
