"""Job option keys bullmq-python never reads (typos, Node-only keys) are refused with the closest one it reads;
``backoff.jitter`` warns that bullmq-python has none."""

from __future__ import annotations

import re
import warnings

import pytest
from bullmq_support import START, run
from jobsim_bullmq import BullMQJobOptionWarning

import jobsim
from jobsim.errors import InvalidArgument

ACCEPTED = ("'attempts', 'backoff', 'continueParentOnFailure', 'deduplication', 'delay', 'failParentOnFailure', "
            "'ignoreDependencyOnFailure', 'jobId', 'keepLogs', 'lifo', 'parent', 'priority', "
            "'removeDependencyOnFailure', 'removeOnComplete', 'removeOnFail', 'stackTraceLimit', 'timestamp'")


async def _ok(job, token):
    return 1


@pytest.mark.parametrize(("opts", "key", "hint"), [
    ({"attemps": 3, "backoff": 1000}, "attemps", "did you mean 'attempts'? "),
    ({"attempts": 3, "backof": {"type": "fixed", "delay": 60000}}, "backof", "did you mean 'backoff'? "),
    ({"removeOnCompleted": True}, "removeOnCompleted", "did you mean 'removeOnComplete'? "),
    ({"sizeLimit": 10}, "sizeLimit", ""),
])  # fmt: skip
def test_a_key_bullmq_python_never_reads_is_refused_with_the_closest(worker_for, queue, opts, key, hint):
    with jobsim.Simulation(worker_for(_ok), start=START) as sim:
        message = (f"job 'j' on BullMQ queue 'q': opts has the key {key!r}, which bullmq-python never reads (the "
                   f"option would be ignored): {hint}bullmq-python's job options are {ACCEPTED}")  # fmt: skip
        with pytest.raises(InvalidArgument, match=f"^{re.escape(message)}$"):
            run(queue.add("j", {}, opts))
        with pytest.raises(InvalidArgument, match=re.escape(f"the key {key!r}")):
            run(queue.addBulk([{"name": "j", "data": {}, "opts": opts}]))
        assert sim.bullmq.counts(queue)["waiting"] == 0


def test_keys_bullmq_python_reads_are_accepted(worker_for, queue):
    opts = {"attempts": 2, "backoff": 10, "delay": 5, "priority": 3, "lifo": True, "keepLogs": 2, "jobId": "a",
            "removeOnComplete": 5, "removeOnFail": False, "stackTraceLimit": 3, "timestamp": 1740787200000}
    with jobsim.Simulation(worker_for(_ok), start=START) as sim:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            run(queue.add("j", {}, opts))
        sim.run_until_idle()
        assert sim.bullmq.state("a") == "completed"


def test_backoff_jitter_warns_that_bullmq_python_has_none(worker_for, queue):
    with jobsim.Simulation(worker_for(_ok), start=START) as sim:
        with pytest.warns(BullMQJobOptionWarning) as caught:
            run(queue.add("j", {}, {"attempts": 3, "backoff": {"type": "exponential", "delay": 1000, "jitter": 0.5}}))
        sim.run_until_idle()
    assert str(caught[0].message) == (
        "job 'j' on BullMQ queue 'q': opts['backoff']['jitter']=0.5 is ignored: bullmq-python's backoff has no "
        "jitter (Node's BullMQ has), so every retry waits the full computed delay, in the simulation as on a real "
        "worker; drop 'jitter' to silence this")  # fmt: skip
    assert caught[0].filename.endswith(("test_bullmq_option_keys.py", "bullmq_support.py"))
