"""A job function the simulation refuses to declare (``Simulation.add_function``: its name is a ``jobsim.App``
function's id) is registered nowhere: jobsim-arq's own tables did not keep it, so enqueueing it again is refused
again rather than run; and the refused job is not left in Redis, where the worker would pick it up and log
"function 'greet' not found"."""

from __future__ import annotations

import asyncio

import pytest
from arq import create_pool
from arq_jobs import NOWHERE, START, add

import jobsim


async def _enqueue(name, *args, **kwargs):
    pool = await create_pool(NOWHERE)
    return await pool.enqueue_job(name, *args, **kwargs)


def test_a_function_no_worker_has_under_a_jobsim_function_id_is_refused_at_every_enqueue():
    shop = jobsim.App("shop")
    shop.function("greet", on="shop/greet")(lambda ctx: None)
    settings = {"functions": [add], "redis_settings": NOWHERE}
    with jobsim.Simulation(shop, settings, start=START) as sim:
        for _ in range(2):  # the second enqueue found it in the plugin's table and ran it
            refused = "function id 'greet' is declared in app 'shop' and in app"
            with pytest.raises(jobsim.InvalidArgument, match=refused):
                asyncio.run(_enqueue("greet"))
            assert sim.arq.store.c_ZCARD("arq:queue") == 0  # refused before it was written to Redis
            sim.run_until_idle()
        assert "greet" not in sim.arq.functions and "greet" not in sim.arq.app.functions
        asyncio.run(_enqueue("add", 1, 2))  # the worker goes on
        sim.run_until_idle()
        assert [r.status for r in sim.runs("add")] == ["completed"]
    assert sim.runs("greet") == []
