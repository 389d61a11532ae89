"""A queue the simulation refuses to declare as a function (``Simulation.add_function``: no worker reads it and
its name is a ``jobsim.App`` function's id) is registered nowhere: jobsim-bullmq's own tables did not keep it, so
adding to it again is refused again rather than recorded as a run of it; and the refused add stores no job."""

from __future__ import annotations

import pytest
from bullmq import FlowProducer, Queue
from bullmq_support import NOWHERE, START, run

import jobsim

COUNTED = ("active", "completed", "delayed", "failed", "prioritized", "waiting", "waiting-children")


async def _work(job, token):
    return "done"


def test_a_queue_no_worker_reads_under_a_jobsim_function_id_is_refused_at_every_add(worker_for):
    shop = jobsim.App("shop")
    shop.function("greet", on="shop/greet")(lambda ctx: None)
    with jobsim.Simulation(shop, worker_for(_work, queue="emails"), start=START) as sim:
        greet = Queue("greet", {"connection": NOWHERE})
        for _ in range(2):  # the second add found it in the plugin's table and recorded a run of it
            refused = "function id 'greet' is declared in app 'shop' and in app"
            with pytest.raises(jobsim.InvalidArgument, match=refused):
                run(greet.add("hi", {}))
            assert run(greet.getJobCounts()) == dict.fromkeys(COUNTED, 0) and run(greet.getJob("1")) is None
        sim.run_until_idle()
        assert "greet" not in sim.bullmq.functions and "greet" not in sim.bullmq.app.functions
        run(Queue("emails", {"connection": NOWHERE}).add("send", {}))  # the worker goes on
        sim.run_until_idle()
        assert [r.status for r in sim.runs("emails")] == ["completed"]
    assert sim.runs("greet") == []


def test_a_flow_with_a_refused_queue_anywhere_in_its_tree_stores_none_of_its_jobs(worker_for):
    # bullmq commits a flow in one MULTI/EXEC: the refused child's queue must not leave its parent stored
    shop = jobsim.App("shop")
    shop.function("greet", on="shop/greet")(lambda ctx: None)
    with jobsim.Simulation(shop, worker_for(_work, queue="emails"), start=START) as sim:
        producer = FlowProducer({"connection": NOWHERE})
        flow = {"name": "report", "queueName": "emails", "data": {},
                "children": [{"name": "hi", "queueName": "greet", "data": {}}]}  # fmt: skip
        with pytest.raises(jobsim.InvalidArgument, match="function id 'greet' is declared in app 'shop' and in app"):
            run(producer.add(flow))
        emails = Queue("emails", {"connection": NOWHERE})
        assert run(emails.getJobCounts()) == dict.fromkeys(COUNTED, 0)
        sim.run_until_idle()
    assert sim.runs("emails") == [] and sim.runs("greet") == []


def test_a_job_scheduler_on_a_refused_queue_stores_no_scheduler_and_no_job(worker_for):
    shop = jobsim.App("shop")
    shop.function("greet", on="shop/greet")(lambda ctx: None)
    with jobsim.Simulation(shop, worker_for(_work, queue="emails"), start=START) as sim:
        greet = Queue("greet", {"connection": NOWHERE})
        for _ in range(2):
            with pytest.raises(jobsim.InvalidArgument, match="function id 'greet' is declared in app 'shop' and in"):
                run(greet.upsertJobScheduler("every-minute", {"every": 60_000}, "hi", {}))
            assert run(greet.getJobSchedulersCount()) == 0
            assert run(greet.getJobCounts()) == dict.fromkeys(COUNTED, 0)
        sim.advance("5m")
    assert sim.runs("greet") == []
